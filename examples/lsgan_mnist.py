"""Train a least-squares GAN (LSGAN, Mao et al. 2017) on MNIST digits.

    python examples/lsgan_mnist.py --data-dir ../shared/data/mnist

The vanilla GAN's networks and two-phase step, with another pair of losses. D ends without its
sigmoid: it gives a raw score, which least squares pull towards a target, a for fakes and b for
real digits, while G pulls the score of its fakes towards c:

    D minimises  1/2 E_x (D(x) - b)^2 + 1/2 E_z (D(G(z)) - a)^2
    G minimises  1/2 E_z (D(G(z)) - c)^2

with (a, b, c) = (0, 1, 1), the paper's 0-1 coding: the vanilla GAN's labels as targets (fake 0,
real 1) and c = b, G wants its fakes scored as real; so the two examples differ in the loss
alone. (The paper's other choice, a = -1, b = 1, c = 0, makes G minimise the Pearson chi^2
divergence between p_d + p_g and 2 p_g.) For a fixed G the best D is
(b p_d + a p_g) / (p_d + p_g), here p_d / (p_d + p_g), the vanilla D's optimum too
(tests/test_gan_toy.py trains both on a toy with known densities). Why squares: the sigmoid's
log loss saturates for fakes that D scores far on the real side of its decision boundary, while
the square still pulls them towards the boundary, so G's gradient does not vanish there.

Beware a look-alike: PyTorch-GAN's "cgan" trains with exactly this loss (MSE on a D without a
sigmoid), so it is a conditional LSGAN, not Mirza and Osindero's conditional GAN.

`lsgan_step` below is the step (tests/test_lsgan_step.py pins it by hand); the loop around it is
examples/gans.py.

Writes to --out: a sample grid per epoch, training curves (D's mean score of real and fake
images beside the 0.5 that D* gives where it cannot tell them apart), samples.npy,
checkpoint.npz, metrics.json.
"""
import tinygen
from tinygen import nn, optim
from tinygen.models.vanilla_gan import Discriminator, Generator
import tinygen.nn.functional as F

import common
import gans

A, B, C = 0.0, 1.0, 1.0  # D's target for fakes, D's target for real images, G's target for its fakes


class LSGANDiscriminator(Discriminator):
    """The vanilla GAN's D without its last sigmoid: image (784) -> 512 -> 256 -> a raw score."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(*self.net[:-1])  # every layer but the Sigmoid


def filled_like(scores, value):
    """A target for every score: a tensor of scores' shape, dtype and device, filled with value."""
    return tinygen.full(scores.shape, value, dtype=scores.dtype, device=scores.device)


def lsgan_step(G, D, opt_G, opt_D, real, z, targets=(A, B, C)):
    """One LSGAN step on a batch of real images and a batch of noise z; returns its numbers.

    With targets (a, b, c) and D's raw score D(.):
    1. D's phase: minimise  1/2 mean (D(x) - b)^2 + 1/2 mean (D(G(z)) - a)^2  over D's parameters
       only (the fakes are detached, so nothing reaches G).
    2. G's phase: minimise  1/2 mean (D(G(z)) - c)^2  through the D just updated, over G's
       parameters only (D is frozen). (F.mse_loss is the batch's mean square; the 1/2 is the paper's.)
    tests/test_lsgan_step.py pins it on a network small enough to work by hand.
    """
    a, b, c = targets
    fake = G(z)

    # 1. Train D: least squares pull the scores of real images to b and of fakes to a.
    d_real, d_fake = D(real), D(fake.detach())
    d_loss = 0.5 * F.mse_loss(d_real, filled_like(d_real, b)) + 0.5 * F.mse_loss(d_fake, filled_like(d_fake, a))
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()

    # 2. Train G through a frozen D: pull the updated D's scores of the fakes to c.
    D.requires_grad_(False)
    g_score = D(fake)
    g_loss = 0.5 * F.mse_loss(g_score, filled_like(g_score, c))
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    D.requires_grad_(True)
    return {"d_loss": d_loss, "g_loss": g_loss, "d_real": d_real.mean(), "d_fake": d_fake.mean()}


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=20, batch_size=64, lr=2e-4, out="runs/lsgan")
    args = common.parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too
    G, D = Generator(latent_dim=100).to(args.device), LSGANDiscriminator().to(args.device)
    data = gans.load_data(args)
    opt_G = optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    print(G, D, sep="\n")

    def train_step(real):
        z = tinygen.randn(args.batch_size, G.latent_dim, device=args.device)
        return lsgan_step(G, D, opt_G, opt_D, real, z)

    history = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}  # d_real, d_fake: the batch's mean score
    fixed_z = gans.sample_noise(100, G.latent_dim, args, offset=0)  # the same 100 digits in every epoch's grid
    folder = gans.train(args, data.images, train_step, {"G": G, "D": D}, {"G": opt_G, "D": opt_D}, history,
                        end_of_epoch=gans.epoch_grid(G, (fixed_z,), "LSGAN"))
    gans.finish(args, folder, history, gans.generate(G, gans.sample_noise(1000, G.latent_dim, args)), "LSGAN")


if __name__ == "__main__":
    common.run(main)
