"""The vanilla GAN's step (examples/vanilla_gan_mnist.py `gan_step`, the DCGAN's too), pinned on a
network small enough to work by hand.

D(x) = sigmoid(w.x + b) and G(z) = A z + c, with plain SGD, in float64. With a = w.x + b and
s = sigmoid(a), the step must do, for a batch of n real x and n noise z (fakes f = A z + c):

  D's phase:  L_D = mean(-log s(x)) + mean(-log(1 - s(f)))
              dL_D/dw = mean(-(1 - s(x)) x) + mean(s(f) f),   dL_D/db = mean(-(1 - s(x))) + mean(s(f))
              w, b -= lr * grad;  A, c untouched (the fakes are detached)
  G's phase:  through the updated D (w', b'), L_G = mean(-log s'(f))   (the non-saturating loss)
              dL_G/df_i = -(1 - s'(f_i)) w' / n,   dL_G/dA = sum_i dL_G/df_i z_i^T,   dL_G/dc = sum_i dL_G/df_i
              A, c -= lr * grad;  w', b' untouched (D is frozen)

Written here from these formulas, not from the example's code: the saturating loss log(1 - D(G(z))),
swapped targets, G's phase through the old D, a D that keeps the G phase's gradient, or fakes that
are not detached each give other numbers, and the tests below say which.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim
from by_hand import sigmoid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from vanilla_gan_mnist import gan_step  # noqa: E402

LR = 0.1


class TinyG(nn.Module):
    def __init__(self, A, c):
        super().__init__()
        self.latent_dim = A.shape[1]
        self.net = nn.Linear(A.shape[1], A.shape[0]).double()
        self.net.weight.data[...] = A
        self.net.bias.data[...] = c

    def forward(self, z):
        return self.net(z)


class TinyD(nn.Module):
    def __init__(self, w, b):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(len(w), 1), nn.Sigmoid()).double()
        self.net[0].weight.data[...] = w[None, :]
        self.net[0].bias.data[...] = b

    def forward(self, x):
        return self.net(x)


def numbers(seed=0, n=5, features=3, latent=2):
    """Starting weights and a batch, small enough that every D(.) stays well inside (0, 1), where the
    clamps of binary_cross_entropy (PyTorch's: log >= -100, p (1 - p) >= 1e-12) do not act."""
    rng = np.random.default_rng(seed)
    return dict(A=rng.normal(size=(features, latent)) / 2, c=rng.normal(size=features) / 2,
                w=rng.normal(size=features) / 2, b=rng.normal() / 2, x=rng.normal(size=(n, features)),
                z=rng.normal(size=(n, latent)))


def by_hand(A, c, w, b, x, z, shown=None):
    """The step worked from the formulas in the module's docstring: (w, b, A, c) after it, and the
    losses. shown: the fakes D's phase sees, if not G's current ones (a replay buffer's)."""
    n = len(x)
    f = z @ A.T + c
    shown = f if shown is None else shown
    s_real, s_fake = sigmoid(x @ w + b), sigmoid(shown @ w + b)
    d_loss = np.mean(-np.log(s_real)) + np.mean(-np.log(1 - s_fake))
    grad_w = np.mean(-(1 - s_real)[:, None] * x, axis=0) + np.mean(s_fake[:, None] * shown, axis=0)
    grad_b = np.mean(-(1 - s_real)) + np.mean(s_fake)
    w2, b2 = w - LR * grad_w, b - LR * grad_b
    s_fake2 = sigmoid(f @ w2 + b2)
    g_loss = np.mean(-np.log(s_fake2))
    grad_f = -(1 - s_fake2)[:, None] * w2[None, :] / n
    A2, c2 = A - LR * grad_f.T @ z, c - LR * grad_f.sum(axis=0)
    return dict(w=w2, b=b2, A=A2, c=c2, d_loss=d_loss, g_loss=g_loss, d_real=s_real.mean(), d_fake=s_fake.mean(),
                grad_w=grad_w, grad_b=grad_b)


def run_step(A, c, w, b, x, z):
    G, D = TinyG(A, c), TinyD(w, b)
    opt_G, opt_D = optim.SGD(G.parameters(), lr=LR), optim.SGD(D.parameters(), lr=LR)
    out = gan_step(G, D, opt_G, opt_D, tinygen.tensor(x), tinygen.tensor(z))
    after = dict(w=D.net[0].weight.numpy()[0], b=D.net[0].bias.numpy()[0], A=G.net.weight.numpy(),
                 c=G.net.bias.numpy())
    return after, {key: float(value.item()) for key, value in out.items()}, G, D


@pytest.mark.parametrize("seed", range(6))
def test_one_step_moves_each_network_as_the_formulas_say(seed):
    start = numbers(seed)
    expected = by_hand(**start)
    after, losses, _, _ = run_step(**start)
    for name in ("w", "b", "A", "c"):
        np.testing.assert_allclose(after[name], expected[name], rtol=1e-10, atol=1e-12, err_msg=name)
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert losses[name] == pytest.approx(expected[name], rel=1e-10), name


def test_g_gets_the_non_saturating_gradient_not_the_minimax_one():
    """Where D rejects the fakes (D(G(z)) near 0), -log D(G(z)) still moves G strongly, and the
    minimax log(1 - D(G(z))) hardly: the step's G update is the first, and of the size it says."""
    start = numbers(1)
    start["b"] = -8.0  # D(anything) ~ 3e-4: the fakes are rejected, as early in training
    after, _, _, _ = run_step(**start)
    expected = by_hand(**start)
    moved = np.abs(after["c"] - start["c"]).sum()
    assert moved == pytest.approx(np.abs(expected["c"] - start["c"]).sum(), rel=1e-9)
    s = sigmoid((start["z"] @ start["A"].T + start["c"]) @ expected["w"] + expected["b"])
    minimax_move = LR * np.abs((s[:, None] * expected["w"][None, :]).mean(axis=0)).sum()  # |d log(1-s)/dc|
    assert moved > 1000 * minimax_move


def test_the_targets_are_one_for_real_and_zero_for_fake():
    """From an undecided D (w = 0, b = 0: D = 1/2 everywhere), with real digits near +2 and fakes
    near -2 in every feature, D's update raises D on the real batch and lowers it on the fakes."""
    start = numbers(2)
    start.update(w=np.zeros(3), b=0.0, x=start["x"] + 2, A=0.1 * start["A"], c=np.full(3, -2.0))
    after, _, _, _ = run_step(**start)
    fakes = start["z"] @ start["A"].T + start["c"]
    assert (start["x"] @ after["w"] + after["b"]).mean() > 0 > (fakes @ after["w"] + after["b"]).mean()


def test_d_keeps_its_own_phase_gradient_frozen_through_g_phase():
    """D's .grad after the step is the gradient of L_D alone: the G phase, through a frozen D, added
    nothing to it; and after the step D takes gradients again (the freeze lasts the G phase only)."""
    start = numbers(3)
    expected = by_hand(**start)
    _, _, G, D = run_step(**start)
    np.testing.assert_allclose(D.net[0].weight.grad.numpy()[0], expected["grad_w"], rtol=1e-10)
    np.testing.assert_allclose(D.net[0].bias.grad.numpy()[0], expected["grad_b"], rtol=1e-10)
    assert all(p.requires_grad for p in D.parameters()) and all(p.requires_grad for p in G.parameters())


def test_two_steps_are_two_steps_from_where_the_first_left_off():
    """Each phase starts from zero gradients: a second step equals the formulas applied twice."""
    start = numbers(4)
    first = by_hand(**start)
    second = by_hand(A=first["A"], c=first["c"], w=first["w"], b=first["b"], x=start["x"][::-1], z=start["z"][::-1])
    G, D = TinyG(start["A"], start["c"]), TinyD(start["w"], start["b"])
    opt_G, opt_D = optim.SGD(G.parameters(), lr=LR), optim.SGD(D.parameters(), lr=LR)
    gan_step(G, D, opt_G, opt_D, tinygen.tensor(start["x"]), tinygen.tensor(start["z"]))
    gan_step(G, D, opt_G, opt_D, tinygen.tensor(start["x"][::-1].copy()), tinygen.tensor(start["z"][::-1].copy()))
    np.testing.assert_allclose(G.net.weight.numpy(), second["A"], rtol=1e-10)
    np.testing.assert_allclose(D.net[0].weight.numpy()[0], second["w"], rtol=1e-10)


def test_with_replay_d_sees_the_buffers_fakes_and_g_learns_from_its_own():
    """A buffer of one slot holding an old fake, swap probability 1: every fake D sees is that old
    one (tinygen/models/experience_replay.py's rule), and the buffer then holds one of this
    batch's fakes. D's phase follows the formulas on the old fake; G's phase on G's own current
    fakes, through the updated D: no gradient reaches G through the stored image."""
    from tinygen.models.experience_replay import ReplayBuffer

    start = numbers(6)
    old = np.array([[0.3, -0.7, 1.1]])
    replay = ReplayBuffer(1, (3,), swap_probability=1.0).double()
    replay(tinygen.tensor(old))  # fills the buffer: D would see this batch unchanged
    expected = by_hand(**start, shown=np.repeat(old, 5, axis=0))
    G, D = TinyG(start["A"], start["c"]), TinyD(start["w"], start["b"])
    opt_G, opt_D = optim.SGD(G.parameters(), lr=LR), optim.SGD(D.parameters(), lr=LR)
    out = gan_step(G, D, opt_G, opt_D, tinygen.tensor(start["x"]), tinygen.tensor(start["z"]), replay)
    np.testing.assert_allclose(D.net[0].weight.numpy()[0], expected["w"], rtol=1e-10)
    np.testing.assert_allclose(G.net.weight.numpy(), expected["A"], rtol=1e-10)
    np.testing.assert_allclose(G.net.bias.numpy(), expected["c"], rtol=1e-10)
    assert out["d_fake"].item() == pytest.approx(expected["d_fake"], rel=1e-10)
    fakes = start["z"] @ start["A"].T + start["c"]
    assert np.isclose(fakes, replay.images.numpy()[0]).all(axis=1).any()  # a new fake took the old one's place
