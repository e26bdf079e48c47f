"""(slow) The vanilla GAN on MNIST: D's outputs on real and generated digits stay near the 1/2 of the
equilibrium (D*(x) = 1/2 where p_g = p_d), trained by the example's own `gan_step`
(examples/vanilla_gan_mnist.py). A G that fails to learn leaves D free to win: D(x) towards 1 and
D(G(z)) towards 0."""
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
    """Ten epochs on the test split (1,560 steps). In every epoch D's mean output on real digits and
    on G's lies within 0.15 of 1/2, and D(x) - D(G(z)) stays under 0.15. Measured (seed 0, one BLAS
    thread): D(x) 0.56-0.63 per epoch, D(G(z)) 0.47-0.54, the gap 0.06-0.11."""
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
    assert (np.abs(d_real - 0.5) < 0.15).all() and (np.abs(d_fake - 0.5) < 0.15).all()
    assert (gap < 0.15).all()
