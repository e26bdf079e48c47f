"""(slow) The vanilla GAN on MNIST: D's outputs on real and generated digits move towards the 1/2 of
the equilibrium (D*(x) = 1/2 where p_g = p_d) after D's early lead, trained by the example's own
`gan_step` (examples/vanilla_gan_mnist.py)."""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import optim
from tinygen.models.vanilla_gan import Discriminator, Generator

from test_gan_loop import loop_args

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import gans  # noqa: E402
from vanilla_gan_mnist import gan_step  # noqa: E402


@pytest.mark.slow
def test_d_of_real_and_of_fake_approach_one_half(mnist_dir, tmp_path):
    """Ten epochs on the test split (1,560 steps). D leads early (its gap D(x) - D(G(z)) is widest
    in the first epochs); by the last epoch both of D's batch means lie within 0.2 of 1/2 and the
    gap has shrunk to under half its widest epoch's."""
    args = loop_args(tmp_path, data_dir=str(mnist_dir), batch_size=64, epochs=10, lr=2e-4)
    tinygen.manual_seed(0)
    G, D = Generator(latent_dim=100), Discriminator()
    opt_G = optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))

    def train_step(real):
        return gan_step(G, D, opt_G, opt_D, real, tinygen.randn(args.batch_size, G.latent_dim))

    history = {"d_real": [], "d_fake": []}
    gans.train(args, gans.load_data(args).images, train_step, {"G": G, "D": D}, {"G": opt_G, "D": opt_D}, history)
    per_epoch = len(history["d_real"]) // args.epochs
    d_real = np.array(history["d_real"]).reshape(args.epochs, per_epoch).mean(axis=1)
    d_fake = np.array(history["d_fake"]).reshape(args.epochs, per_epoch).mean(axis=1)
    gap = d_real - d_fake
    print("mean D(x) per epoch:", d_real.round(3), "mean D(G(z)):", d_fake.round(3))
    assert abs(d_real[-1] - 0.5) < 0.2 and abs(d_fake[-1] - 0.5) < 0.2
    assert gap[-1] < gap.max() / 2
