"""ProGAN's step (examples/progressive_gan_mnist.py `progan_step`), pinned on networks small enough
to work by hand.

Stand-ins with the networks' call signature, at stage 1 (8x8), in float64, with plain SGD:

    G(z, stage, alpha) = (1 + alpha) (A z + c)                     an 8x8 image per z
    D(x, stage, alpha) = (1 + alpha) (v . tanh(U x) + b),          grad_x D = (1 + alpha) U^T (v * (1 - tanh^2(U x)))

(alpha enters both, so a call at another alpha gives other numbers). The step must do, with x the
real 32x32 images average-pooled to 8x8 and, in a fade (alpha < 1), blended with their 4x4
pooling upsampled, (1 - alpha) up(x_4) + alpha x_8 (Karras et al. 2018, appendix A.1):

  D's phase:  f = G(z);  x_hat_n = epsilon_n x_n + (1 - epsilon_n) f_n
              L_D = mean D(f) - mean D(x) + 10 mean_n (||grad D(x_hat_n)|| - 1)^2 + 0.001 mean D(x)^2
              U, v, b -= lr * grad;  A, c untouched
  G's phase:  L_G = -mean D'(G(z_g)) through the updated D';  A, c -= lr * grad;  D' untouched
  G_ema:      decay G_ema + (1 - decay) G

lambda = 10 and epsilon_drift = 0.001 are the paper's (section A.1). The expected numbers are
computed here in PyTorch from these formulas (grad_x D written out by hand above, so the
penalty's gradient w.r.t. U and v needs only a first-order backward), not from tinygen.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim

from step_spies import (RecordingSGD, check_d_holds_its_own_phase_gradient,
                        check_each_phase_leaves_the_other_network)

torch = pytest.importorskip("torch")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from progressive_gan_mnist import progan_step  # noqa: E402

LR, DECAY, N, LATENT, HIDDEN = 0.05, 0.9, 4, 2, 3
STAGE, SIZE = 1, 8
PAPER_LAMBDA, PAPER_DRIFT = 10.0, 0.001


class TinyG(nn.Module):
    def __init__(self, A, c):
        super().__init__()
        self.latent_dim = A.shape[1]
        self.net = nn.Linear(A.shape[1], A.shape[0]).double()
        self.net.weight.data[...], self.net.bias.data[...] = A, c
        self.calls = []

    def forward(self, z, stage=3, alpha=1.0):
        self.calls.append((stage, alpha))
        if stage != STAGE:
            raise ValueError(f"TinyG draws stage {STAGE} only, got {stage}")
        return (self.net(z) * (1 + alpha)).reshape(len(z), 1, SIZE, SIZE)


class TinyD(nn.Module):
    def __init__(self, U, v, b):
        super().__init__()
        self.hidden = nn.Linear(U.shape[1], U.shape[0], bias=False).double()
        self.out = nn.Linear(U.shape[0], 1).double()
        self.hidden.weight.data[...], self.out.weight.data[...], self.out.bias.data[...] = U, v[None], b
        self.act = nn.Tanh()
        self.calls = []

    def forward(self, x, stage=3, alpha=1.0):
        self.calls.append((stage, alpha, x.shape[-1]))
        if stage != STAGE or x.shape[1:] != (1, SIZE, SIZE):
            raise ValueError(f"TinyD scores stage {STAGE} (8x8) only, got stage {stage}, {x.shape}")
        return self.out(self.act(self.hidden(x.reshape(len(x), -1)))) * (1 + alpha)


def numbers(seed=0):
    rng = np.random.default_rng(seed)
    return dict(A=rng.normal(size=(SIZE * SIZE, LATENT)) / 2, c=rng.normal(size=SIZE * SIZE) / 4,
                U=rng.normal(size=(HIDDEN, SIZE * SIZE)) / 4, v=rng.normal(size=HIDDEN), b=rng.normal(),
                real=rng.uniform(-1, 1, (N, 1, 32, 32)), z=rng.normal(size=(N, LATENT)),
                epsilon=rng.uniform(0, 1, (N, 1, 1, 1)), z_g=rng.normal(size=(N, LATENT)))


def pool(x, k):
    """k x k average pooling of (N, 1, H, W), written out."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5))


def by_hand(A, c, U, v, b, real, z, epsilon, z_g, alpha, gp_weight=PAPER_LAMBDA, drift=PAPER_DRIFT):
    """The step from the module docstring's formulas: the weights after it, the numbers, D's gradient."""
    x8, x4 = pool(real, 4), pool(real, 8)
    x = (1 - alpha) * x4.repeat(2, axis=2).repeat(2, axis=3) + alpha * x8 if alpha < 1 else x8
    x = torch.tensor(x.reshape(N, -1))
    t = {name: torch.tensor(np.asarray(value, dtype=np.float64)) for name, value in dict(A=A, c=c, U=U, v=v, b=b).items()}
    for p in t.values():
        p.requires_grad_()

    def G(A, c, z):
        return (1 + alpha) * (torch.tensor(z) @ A.T + c)

    def D(U, v, b, x):
        return (1 + alpha) * (torch.tanh(x @ U.T) @ v + b)

    def grad_x_D(U, v, x):
        return (1 + alpha) * ((v * (1 - torch.tanh(x @ U.T) ** 2)) @ U)

    f = G(t["A"], t["c"], z).detach()
    d_real, d_fake = D(t["U"], t["v"], t["b"], x), D(t["U"], t["v"], t["b"], f)
    e = torch.tensor(epsilon.reshape(N, 1))
    x_hat = e * x + (1 - e) * f
    norms = torch.sqrt((grad_x_D(t["U"], t["v"], x_hat) ** 2).sum(dim=1) + 1e-12)
    wasserstein = d_real.mean() - d_fake.mean()
    d_loss = -wasserstein + gp_weight * ((norms - 1) ** 2).mean() + drift * (d_real ** 2).mean()
    d_loss.backward()
    after = {name: (t[name] - LR * t[name].grad).detach() for name in "Uvb"}
    d_grad = {name: t[name].grad.numpy().copy() for name in "Uvb"}
    g_loss = -D(after["U"], after["v"], after["b"], G(t["A"], t["c"], z_g)).mean()
    g_loss.backward()
    for name in "Ac":
        after[name] = (t[name] - LR * t[name].grad).detach()
    after = {name: value.numpy() for name, value in after.items()}
    ema = {name: DECAY * np.asarray(start) + (1 - DECAY) * after[name] for name, start in (("A", A), ("c", c))}
    found = dict(d_loss=d_loss.item(), g_loss=g_loss.item(), wasserstein=wasserstein.item(),
                 grad_norm=norms.mean().item())
    return after, ema, found, d_grad


def run_step(start, alpha, after_d_step=lambda *models: None, after_g_step=lambda *models: None):
    """One progan_step from `start`; after_d_step(G, D, G_ema) and after_g_step(...) run right after each SGD step."""
    G, D = TinyG(start["A"], start["c"]), TinyD(start["U"], start["v"], start["b"])
    G_ema = TinyG(start["A"], start["c"])
    opt_G = RecordingSGD(G.parameters(), lambda: after_g_step(G, D, G_ema), lr=LR)
    opt_D = RecordingSGD(D.parameters(), lambda: after_d_step(G, D, G_ema), lr=LR)
    out = progan_step(G, D, G_ema, opt_G, opt_D, tinygen.tensor(start["real"]), tinygen.tensor(start["z"]),
                      tinygen.tensor(start["epsilon"]), tinygen.tensor(start["z_g"]), STAGE, alpha, ema_decay=DECAY)
    after = dict(U=D.hidden.weight.numpy(), v=D.out.weight.numpy()[0], b=D.out.bias.numpy()[0],
                 A=G.net.weight.numpy(), c=G.net.bias.numpy())
    ema = dict(A=G_ema.net.weight.numpy(), c=G_ema.net.bias.numpy())
    return after, ema, out, (G, D, G_ema)


@pytest.mark.parametrize("alpha, seed", [(0.25, 0), (0.6, 1), (1.0, 2)])
def test_one_step_moves_each_network_as_the_formulas_say(alpha, seed):
    """In a fade-in (alpha 0.25, 0.6) and at alpha 1: D's and G's weights after the step, G_ema,
    and the step's numbers, against the formulas."""
    start = numbers(seed)
    expected, expected_ema, expected_numbers, _ = by_hand(**start, alpha=alpha)
    after, ema, out, _ = run_step(start, alpha)
    for name in "UvbAc":
        np.testing.assert_allclose(after[name], expected[name], rtol=1e-9, atol=1e-12, err_msg=name)
    for name in "Ac":
        np.testing.assert_allclose(ema[name], expected_ema[name], rtol=1e-9, atol=1e-12, err_msg=f"G_ema {name}")
    for name, value in expected_numbers.items():
        assert out[name].item() == pytest.approx(value, rel=1e-9), name
    assert out["stage"] == STAGE and out["alpha"] == alpha


def test_the_hand_worked_step_tells_each_term_apart():
    """Without the penalty, without the drift term, or with a penalty whose gradient stops at D's
    input (no create_graph: the penalty then moves no weight, as if lambda were 0) D's weights
    after the step differ from the full step's by far more than the tolerance above: so the test
    above fails for each."""
    start = numbers(0)
    full = by_hand(**start, alpha=0.25)[0]
    for changed in (dict(gp_weight=0.0), dict(drift=0.0), dict(gp_weight=PAPER_LAMBDA / 2)):
        other = by_hand(**start, alpha=0.25, **changed)[0]
        assert max(np.abs(full[k] - other[k]).max() for k in "Uvb") > 1e-6, changed


def test_d_s_phase_leaves_g_and_g_s_phase_leaves_d_bitwise():
    """Right after D's SGD step G and G_ema hold their starting weights, bit for bit; right after
    G's step D holds the weights D's step gave it; G_ema moves only after both."""
    start = numbers(3)
    check_each_phase_leaves_the_other_network(lambda after_d, after_g: run_step(start, 0.5, after_d, after_g)[3], TinyG(start["A"], start["c"]), TinyD(start["U"], start["v"], start["b"]))


def test_d_keeps_its_own_phase_gradient_and_takes_gradients_again_after():
    """D's .grad after the step is the gradient of L_D alone (frozen through G's phase), and every
    parameter of D and G takes gradients again after the step."""
    start = numbers(4)
    d_grad = by_hand(**start, alpha=0.25)[3]
    _, _, _, (G, D, _) = run_step(start, 0.25)
    check_d_holds_its_own_phase_gradient(G, D, d_grad)


def test_every_call_of_g_and_d_is_at_the_step_s_stage_and_fade_in_alpha():
    """G twice (the critic's fakes, G's fakes), D four times (reals, fakes, the penalty's x_hat,
    G's fakes): every one at (stage 1, alpha 0.3), never at the penalty's epsilon or the defaults."""
    start = numbers(5)
    start["epsilon"][...] = 0.9
    _, _, _, (G, D, _) = run_step(start, 0.3)
    assert G.calls == [(STAGE, 0.3)] * 2
    assert D.calls == [(STAGE, 0.3, SIZE)] * 4


def test_the_penalty_is_at_points_between_real_and_fake_per_sample():
    """With epsilon_n = 1 for every n, x_hat is the reals; with 0, the fakes: the grad_norm the step
    reports is then the mean norm of grad D at the reals, or at the fakes, worked out by hand."""
    start = numbers(6)
    for value in (0.0, 1.0):
        start["epsilon"][...] = value
        _, _, found, _ = by_hand(**start, alpha=1.0)
        _, _, out, _ = run_step(start, 1.0)
        assert out["grad_norm"].item() == pytest.approx(found["grad_norm"], rel=1e-9)
    x = pool(start["real"], 4).reshape(N, -1)
    grad = 2 * (start["v"] * (1 - np.tanh(x @ start["U"].T) ** 2)) @ start["U"]  # alpha = 1: the factor 2
    assert out["grad_norm"].item() == pytest.approx(np.linalg.norm(grad, axis=1).mean(), rel=1e-9)


def test_two_steps_are_two_steps_from_where_the_first_left_off():
    """Each phase starts from zero gradients: a second step (at the next alpha) equals the formulas
    applied twice, with G_ema averaging twice."""
    start = numbers(7)
    first, first_ema, _, _ = by_hand(**start, alpha=0.25)
    second_start = dict(start, A=first["A"], c=first["c"], U=first["U"], v=first["v"], b=first["b"],
                        real=start["real"][::-1].copy(), z=start["z"][::-1].copy(), z_g=start["z_g"][::-1].copy())
    second, second_ema, _, _ = by_hand(**second_start, alpha=0.5)
    G, D = TinyG(start["A"], start["c"]), TinyD(start["U"], start["v"], start["b"])
    G_ema = TinyG(start["A"], start["c"])
    opt_G, opt_D = optim.SGD(G.parameters(), lr=LR), optim.SGD(D.parameters(), lr=LR)
    for s, alpha in ((start, 0.25), (second_start, 0.5)):
        progan_step(G, D, G_ema, opt_G, opt_D, tinygen.tensor(s["real"]), tinygen.tensor(s["z"]),
                    tinygen.tensor(s["epsilon"]), tinygen.tensor(s["z_g"]), STAGE, alpha, ema_decay=DECAY)
    np.testing.assert_allclose(D.hidden.weight.numpy(), second["U"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(G.net.weight.numpy(), second["A"], rtol=1e-9, atol=1e-12)
    # G_ema: DECAY (DECAY A_0 + (1 - DECAY) A_1) + (1 - DECAY) A_2
    np.testing.assert_allclose(G_ema.net.weight.numpy(), DECAY * first_ema["A"] + (1 - DECAY) * second["A"],
                               rtol=1e-9, atol=1e-12)
