"""On a 1-D toy with known densities, a trained discriminator approaches the optimum its loss defines.

The generator is held fixed: its images are draws from p_g = N(-1, 1), the real data draws from
p_d = N(1, 1). For a fixed G, D's expected loss is minimised point by point (Goodfellow et al.
2014, prop. 1; Mao et al. 2017, prop. 1):

    vanilla GAN  -E_d log D(x) - E_g log(1 - D(x))         ->  D*(x) = p_d / (p_d + p_g)
    LSGAN        1/2 E_d (D(x) - b)^2 + 1/2 E_g (D(x) - a)^2  ->  D*(x) = (b p_d + a p_g) / (p_d + p_g)

Here log p_d(x) - log p_g(x) = 2x, so p_d / (p_d + p_g) = sigmoid(2x) and the LSGAN optimum is
a + (b - a) sigmoid(2x). A small MLP D is trained on fresh draws each step and compared with D*
on x in [-2, 2], where both densities are at least 0.004 (beyond it one of them is tiny, and
so is the data that would pin D there).

Tolerance: the largest error on the grid must be below 0.05. Over seeds 0-2 the trained D's
largest error was 0.008-0.03 (the draws' noise, with Adam's steps shrunk for the last third);
the two optima tested against each other differ by 0.5 at x = 0, ten times the tolerance, and
each test also checks that its D is NOT within it of the other loss's optimum. With the
example's targets (a, b) = (0, 1) the two optima coincide, so the (-1, 1) targets tell the
losses apart.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim
import tinygen.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import lsgan_mnist  # noqa: E402  (examples/lsgan_mnist.py: its targets A, B)

GRID = np.linspace(-2, 2, 41, dtype=np.float32).reshape(-1, 1)
TOLERANCE = 0.05
STEPS, BATCH, LR = 600, 256, 3e-3  # about 0.3 s a test


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def vanilla_optimum(x):
    return sigmoid(2 * x)  # p_d / (p_d + p_g) for N(1, 1) against N(-1, 1)


def lsgan_optimum(x, a, b):
    return a + (b - a) * sigmoid(2 * x)  # (b p_d + a p_g) / (p_d + p_g)


def vanilla_loss(score_real, score_fake):
    """The vanilla D's loss on raw scores (D = sigmoid(score)): BCE with targets 1 and 0."""
    return (F.binary_cross_entropy_with_logits(score_real, tinygen.ones(*score_real.shape)) +
            F.binary_cross_entropy_with_logits(score_fake, tinygen.zeros(*score_fake.shape)))


def lsgan_loss(a, b):
    def loss(score_real, score_fake):
        return 0.5 * F.mse_loss(score_real, tinygen.full(score_real.shape, b)) + \
               0.5 * F.mse_loss(score_fake, tinygen.full(score_fake.shape, a))
    return loss


def train_discriminator(loss, seed=0):
    """A 1 -> 32 -> 32 -> 1 MLP trained against a fixed G; returns its raw score on GRID."""
    tinygen.manual_seed(seed)
    rng = np.random.default_rng(seed)
    D = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    opt = optim.Adam(D.parameters(), lr=LR)
    for step in range(STEPS):
        if step == 2 * STEPS // 3:
            opt.lr = LR / 10  # smaller steps at the end average out the draws' noise
        real = tinygen.Tensor(rng.normal(1, 1, (BATCH, 1)).astype(np.float32))  # x ~ p_d
        fake = tinygen.Tensor(rng.normal(-1, 1, (BATCH, 1)).astype(np.float32))  # G(z) ~ p_g, G fixed
        d_loss = loss(D(real), D(fake))
        opt.zero_grad()
        d_loss.backward()
        opt.step()
    with tinygen.no_grad():
        return D(tinygen.Tensor(GRID)).numpy()


def largest_error(found, expected):
    return float(np.abs(found - expected).max())


def test_the_vanilla_discriminator_approaches_pd_over_pd_plus_pg():
    d = sigmoid(train_discriminator(vanilla_loss))
    assert largest_error(d, vanilla_optimum(GRID)) < TOLERANCE
    assert largest_error(d, lsgan_optimum(GRID, -1, 1)) > 0.3  # the other loss's optimum is far


@pytest.mark.parametrize("a,b", [(lsgan_mnist.A, lsgan_mnist.B), (-1.0, 1.0)], ids=["example-targets", "a=-1,b=1"])
def test_the_least_squares_discriminator_approaches_b_pd_plus_a_pg_over_pd_plus_pg(a, b):
    d = train_discriminator(lsgan_loss(a, b))
    assert largest_error(d, lsgan_optimum(GRID, a, b)) < TOLERANCE
    if (a, b) != (0, 1):  # with (0, 1) the optima coincide
        assert largest_error(d, vanilla_optimum(GRID)) > 0.3
