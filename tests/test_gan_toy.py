"""On a 1-D toy with known densities, a trained discriminator approaches the optimum its loss defines.

The generator is held fixed: its images are draws from p_g = N(-1, 1), the real data draws from
p_d = N(1, 1). For a fixed G, D's expected loss is minimised point by point (Goodfellow et al.
2014, prop. 1; Mao et al. 2017, prop. 1):

    vanilla GAN  -E_d log D(x) - E_g log(1 - D(x))         ->  D*(x) = p_d / (p_d + p_g)
    LSGAN        1/2 E_d (D(x) - b)^2 + 1/2 E_g (D(x) - a)^2  ->  D*(x) = (b p_d + a p_g) / (p_d + p_g)

Here log p_d(x) - log p_g(x) = 2x, so p_d / (p_d + p_g) = sigmoid(2x) and the LSGAN optimum is
a + (b - a) sigmoid(2x). A small MLP D is trained on fresh draws each step and compared with D*
on x in [-2, 2], where both densities are at least 0.004 (beyond it one of them is tiny, and
so is the data that would pin D there). D is trained by the examples' own steps
(vanilla_gan_mnist.gan_step, lsgan_mnist.lsgan_step), not by losses written here: a wrong target
or loss in a step moves D away from the optimum, and the test fails. G is fixed, G(z) = z - 1,
its optimiser's learning rate 0: each step's G phase runs but leaves p_g as it is.

Tolerance: the largest error on the grid must be below 0.05. Over seeds 0-2 the trained D's
largest error was 0.006-0.025 (the draws' noise, with Adam's steps shrunk for the last third);
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

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import lsgan_mnist  # noqa: E402  (examples/lsgan_mnist.py: its step and its targets A, B, C)
from vanilla_gan_mnist import gan_step  # noqa: E402

GRID = np.linspace(-2, 2, 41, dtype=np.float32).reshape(-1, 1)
TOLERANCE = 0.05
STEPS, BATCH, LR = 400, 256, 3e-3  # under 1 s a test


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def vanilla_optimum(x):
    return sigmoid(2 * x)  # p_d / (p_d + p_g) for N(1, 1) against N(-1, 1)


def lsgan_optimum(x, a, b):
    return a + (b - a) * sigmoid(2 * x)  # (b p_d + a p_g) / (p_d + p_g)


def vanilla_step(G, D, opt_G, opt_D, real, z):
    return gan_step(G, D, opt_G, opt_D, real, z)


def lsgan_step(a, b):
    def step(G, D, opt_G, opt_D, real, z):
        return lsgan_mnist.lsgan_step(G, D, opt_G, opt_D, real, z, targets=(a, b, b))
    return step


def train_discriminator(step, last_layer, seed=0):
    """A 1 -> 32 -> 32 -> 1 MLP D (then last_layer: a Sigmoid for the vanilla GAN, none for the
    LSGAN) trained by the example's own step against a G that does not move: G(z) = z - 1 with
    z ~ N(0, 1), so its images are draws from p_g = N(-1, 1), and its optimiser's learning rate is
    0. Returns D's output on GRID."""
    tinygen.manual_seed(seed)
    rng = np.random.default_rng(seed)
    D = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1), *last_layer)
    G = nn.Linear(1, 1)
    G.weight.data[...], G.bias.data[...] = 1.0, -1.0
    opt_G, opt_D = optim.SGD(G.parameters(), lr=0.0), optim.Adam(D.parameters(), lr=LR)
    for i in range(STEPS):
        if i == 2 * STEPS // 3:
            opt_D.lr = LR / 10  # smaller steps at the end average out the draws' noise
        real = tinygen.Tensor(rng.normal(1, 1, (BATCH, 1)).astype(np.float32))  # x ~ p_d
        z = tinygen.Tensor(rng.normal(0, 1, (BATCH, 1)).astype(np.float32))  # G(z) = z - 1 ~ p_g
        step(G, D, opt_G, opt_D, real, z)
    assert G.weight.item() == 1.0 and G.bias.item() == -1.0  # G held fixed: D alone learned
    with tinygen.no_grad():
        return D(tinygen.Tensor(GRID)).numpy()


def largest_error(found, expected):
    return float(np.abs(found - expected).max())


def test_the_vanilla_discriminator_approaches_pd_over_pd_plus_pg():
    d = train_discriminator(vanilla_step, [nn.Sigmoid()])
    assert largest_error(d, vanilla_optimum(GRID)) < TOLERANCE
    assert largest_error(d, lsgan_optimum(GRID, -1, 1)) > 0.3  # the other loss's optimum is far


@pytest.mark.parametrize("a,b", [(lsgan_mnist.A, lsgan_mnist.B), (-1.0, 1.0)], ids=["example-targets", "a=-1,b=1"])
def test_the_least_squares_discriminator_approaches_b_pd_plus_a_pg_over_pd_plus_pg(a, b):
    d = train_discriminator(lsgan_step(a, b), [])
    assert largest_error(d, lsgan_optimum(GRID, a, b)) < TOLERANCE
    if (a, b) != (0, 1):  # with (0, 1) the optima coincide
        assert largest_error(d, vanilla_optimum(GRID)) > 0.3
