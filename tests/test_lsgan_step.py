"""The LSGAN's step (examples/lsgan_mnist.py `lsgan_step`), pinned on a network small enough to work by hand.

D(x) = w.x + b (a raw score: no sigmoid) and G(z) = A z + c, plain SGD, float64. With targets
(a, b, c) (the example's: (0, 1, 1)), for a batch of n real x and n noise z (fakes f = A z + c):

  D's phase:  L_D = 1/2 mean (D(x) - b)^2 + 1/2 mean (D(f) - a)^2
              dL_D/dw = mean((D(x) - b) x) + mean((D(f) - a) f),   dL_D/db = mean(D(x) - b) + mean(D(f) - a)
              w, b -= lr * grad;  A, c untouched (the fakes are detached)
  G's phase:  through the updated D (w', b'), L_G = 1/2 mean (D'(f) - c)^2
              dL_G/df_i = (D'(f_i) - c) w' / n,   dL_G/dA = sum_i dL_G/df_i z_i^T,   dL_G/dc = sum_i dL_G/df_i
              A, c -= lr * grad;  w', b' untouched (D is frozen)

Written from these formulas, not from the example's code. Targets (0, 1, 1) cannot tell b from c
(both 1), so the step is also checked with the paper's other coding (-1, 1, 0), where every
target differs: a swapped target, the vanilla log loss, a missing 1/2, G's phase through the old
D, or undetached fakes each give other numbers.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim

from test_gan_step import TinyG, numbers

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import lsgan_mnist  # noqa: E402
from lsgan_mnist import LSGANDiscriminator, lsgan_step  # noqa: E402

LR = 0.1


class TinyScore(nn.Module):
    """D(x) = w.x + b: a raw score, as the LSGAN's D gives."""

    def __init__(self, w, b):
        super().__init__()
        self.net = nn.Linear(len(w), 1).double()
        self.net.weight.data[...] = w[None, :]
        self.net.bias.data[...] = b

    def forward(self, x):
        return self.net(x)


def by_hand(A, c, w, b, x, z, targets):
    ta, tb, tc = targets
    n = len(x)
    f = z @ A.T + c
    s_real, s_fake = x @ w + b, f @ w + b
    d_loss = 0.5 * np.mean((s_real - tb) ** 2) + 0.5 * np.mean((s_fake - ta) ** 2)
    grad_w = np.mean((s_real - tb)[:, None] * x, axis=0) + np.mean((s_fake - ta)[:, None] * f, axis=0)
    grad_b = np.mean(s_real - tb) + np.mean(s_fake - ta)
    w2, b2 = w - LR * grad_w, b - LR * grad_b
    s_fake2 = f @ w2 + b2
    g_loss = 0.5 * np.mean((s_fake2 - tc) ** 2)
    grad_f = (s_fake2 - tc)[:, None] * w2[None, :] / n
    A2, c2 = A - LR * grad_f.T @ z, c - LR * grad_f.sum(axis=0)
    return dict(w=w2, b=b2, A=A2, c=c2, d_loss=d_loss, g_loss=g_loss, d_real=s_real.mean(), d_fake=s_fake.mean(),
                grad_w=grad_w, grad_b=grad_b)


def run_step(A, c, w, b, x, z, targets=None):
    G, D = TinyG(A, c), TinyScore(w, b)
    opt_G, opt_D = optim.SGD(G.parameters(), lr=LR), optim.SGD(D.parameters(), lr=LR)
    extra = {} if targets is None else {"targets": targets}
    out = lsgan_step(G, D, opt_G, opt_D, tinygen.tensor(x), tinygen.tensor(z), **extra)
    after = dict(w=D.net.weight.numpy()[0], b=D.net.bias.numpy()[0], A=G.net.weight.numpy(), c=G.net.bias.numpy())
    return after, {key: float(value.item()) for key, value in out.items()}, G, D


def check(after, losses, expected):
    for name in ("w", "b", "A", "c"):
        np.testing.assert_allclose(after[name], expected[name], rtol=1e-10, atol=1e-12, err_msg=name)
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert losses[name] == pytest.approx(expected[name], rel=1e-10, abs=1e-12), name


def test_the_example_uses_the_papers_zero_one_coding():
    """(a, b, c) = (0, 1, 1) (Mao et al. 2017, eq. 9's 0-1 coding), and the step's default is it."""
    assert (lsgan_mnist.A, lsgan_mnist.B, lsgan_mnist.C) == (0.0, 1.0, 1.0)
    start = numbers(5)
    after, losses, _, _ = run_step(**start)  # no targets given: the example's
    check(after, losses, by_hand(**start, targets=(0.0, 1.0, 1.0)))


@pytest.mark.parametrize("targets", [(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0)], ids=["a,b,c=0,1,1", "a,b,c=-1,1,0"])
@pytest.mark.parametrize("seed", range(3))
def test_one_step_moves_each_network_as_the_formulas_say(seed, targets):
    start = numbers(seed)
    check(*run_step(**start, targets=targets)[:2], by_hand(**start, targets=targets))


def test_g_pulls_the_score_of_its_fakes_towards_c():
    """After G's step the updated D scores the same fakes closer to c than before it: G moved
    towards c (the sign of G's gradient), and by the amount the formulas say."""
    start = numbers(1)
    for c_target in (3.0, -3.0):
        expected = by_hand(**start, targets=(0.0, 1.0, c_target))
        after, _, _, _ = run_step(**start, targets=(0.0, 1.0, c_target))
        w2, b2 = after["w"], after["b"]
        before = (start["z"] @ start["A"].T + start["c"]) @ w2 + b2
        moved = (start["z"] @ after["A"].T + after["c"]) @ w2 + b2
        assert np.abs(moved - c_target).mean() < np.abs(before - c_target).mean()
        np.testing.assert_allclose(after["c"], expected["c"], rtol=1e-10)


def test_d_keeps_its_own_phase_gradient_and_is_unfrozen_after_the_step():
    start = numbers(3)
    expected = by_hand(**start, targets=(-1.0, 1.0, 0.0))
    _, _, G, D = run_step(**start, targets=(-1.0, 1.0, 0.0))
    np.testing.assert_allclose(D.net.weight.grad.numpy()[0], expected["grad_w"], rtol=1e-10)
    np.testing.assert_allclose(D.net.bias.grad.numpy()[0], expected["grad_b"], rtol=1e-10)
    assert all(p.requires_grad for p in D.parameters()) and all(p.requires_grad for p in G.parameters())


def test_two_steps_are_two_steps_from_where_the_first_left_off():
    start, targets = numbers(4), (-1.0, 1.0, 0.0)
    first = by_hand(**start, targets=targets)
    second = by_hand(A=first["A"], c=first["c"], w=first["w"], b=first["b"], x=start["x"][::-1], z=start["z"][::-1],
                     targets=targets)
    G, D = TinyG(start["A"], start["c"]), TinyScore(start["w"], start["b"])
    opt_G, opt_D = optim.SGD(G.parameters(), lr=LR), optim.SGD(D.parameters(), lr=LR)
    lsgan_step(G, D, opt_G, opt_D, tinygen.tensor(start["x"]), tinygen.tensor(start["z"]), targets)
    lsgan_step(G, D, opt_G, opt_D, tinygen.tensor(start["x"][::-1].copy()), tinygen.tensor(start["z"][::-1].copy()),
               targets)
    np.testing.assert_allclose(G.net.weight.numpy(), second["A"], rtol=1e-10)
    np.testing.assert_allclose(D.net.weight.numpy()[0], second["w"], rtol=1e-10)


def test_the_examples_discriminator_gives_a_raw_score_far_outside_zero_one():
    """No sigmoid at the end: scores of large inputs leave [0, 1], where least squares act on them."""
    tinygen.manual_seed(0)
    D = LSGANDiscriminator()
    scores = D(tinygen.randn(64, 784) * 50).numpy()
    assert scores.min() < -1 or scores.max() > 2
