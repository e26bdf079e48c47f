"""Train a conditional GAN (cGAN, Mirza & Osindero 2014) on MNIST digits: ask it for a digit, get that digit.

    python examples/cgan_mnist.py --data-dir ../shared/data/mnist

The vanilla GAN's game with the label told to both players. G gets the noise z and a label c
(an embedding of c joins z); D gets an image and a label (an embedding of the label joins the
pixels) and judges the PAIR: is this a real image of digit c? A well-drawn 7 labelled 3 is fake
to D, so G can only win by drawing the digit it was asked for. The losses are the vanilla GAN's
log loss, on D's logit (binary_cross_entropy_with_logits: the sigmoid inside, stably):

    D minimises  -E_(x,y) log D(x, y) - E_(z,c) log(1 - D(G(z, c), c))
    G minimises  -E_(z,c) log D(G(z, c), c)        (non-saturating, as the vanilla GAN)

Real images come with their own labels y; G's labels c are drawn uniformly from 0-9, and D sees
the fakes with the labels G was asked for. (PyTorch-GAN's `cgan` uses the mean square on D's
raw output instead: a conditional LSGAN, not this; see examples/lsgan_mnist.py.) The networks
are tinygen/models/conditional_gan.py's MLPs.

`cgan_step` below is the step (tests/test_cgan_step.py pins it by hand); the loop around it is
examples/gans.py.

Writes to --out: a sample grid per epoch (a row per digit), training curves, samples.npy
(100 of each digit, in order), samples_by_class.npy/.png (row k asked for digit k, the same noise
in every row), checkpoint.npz and metrics.json (with the class accuracy per digit: how often
tinygen's classifier reads G(z, k) as k).
"""
import tinygen
from tinygen import optim
from tinygen.models.conditional_gan import ConditionalDiscriminator, ConditionalGenerator
import tinygen.nn.functional as F

import common
import gans


def cgan_step(G, D, opt_G, opt_D, real, labels, z, asked):
    """One cGAN step on real images with their labels, noise z and the labels G is asked for; returns its numbers.

    D(x, y) is a logit; sigma(.) the sigmoid; BCE on logits (binary_cross_entropy_with_logits).
    1. D's phase: minimise  -log sigma(D(x, y)) - log(1 - sigma(D(G(z, c), c)))  (batch means),
       each real image with ITS label y, each fake with the label c G was asked for; over D's
       parameters only (the fakes are detached).
    2. G's phase: minimise  -log sigma(D(G(z, c), c))  (non-saturating), through the D just
       updated, the fakes again with the labels G was asked for; over G's parameters only.
    tests/test_cgan_step.py pins it on a network small enough to work by hand.
    """
    real_target = tinygen.ones(len(real), 1, device=real.device)
    fake_target = tinygen.zeros(len(z), 1, device=z.device)
    fake = G(z, asked)

    # 1. Train D on pairs: (real image, its label) towards 1, (fake, the label asked for) towards 0.
    d_real, d_fake = D(real, labels), D(fake.detach(), asked)  # logits
    d_loss = (F.binary_cross_entropy_with_logits(d_real, real_target)
              + F.binary_cross_entropy_with_logits(d_fake, fake_target))
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()

    # 2. Train G through a frozen D: make the updated D call (fake, asked label) real.
    D.requires_grad_(False)
    g_loss = F.binary_cross_entropy_with_logits(D(fake, asked), real_target)
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    D.requires_grad_(True)
    return {"d_loss": d_loss, "g_loss": g_loss,
            "d_real": d_real.sigmoid().mean(), "d_fake": d_fake.sigmoid().mean()}  # D's probabilities


def make_train_step(G, D, opt_G, opt_D, args):
    """The loop's step on one batch (real images, their labels): draws z and the labels G must draw."""

    def train_step(batch):
        real, labels = batch
        z = tinygen.randn(args.batch_size, G.latent_dim, device=args.device)
        asked = tinygen.randint(0, 10, args.batch_size, device=args.device)  # the digits G must draw
        return cgan_step(G, D, opt_G, opt_D, real, labels, z, asked)

    return train_step


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=20, batch_size=64, lr=2e-4, out="runs/cgan")
    args = common.parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too
    G, D = ConditionalGenerator(latent_dim=100).to(args.device), ConditionalDiscriminator().to(args.device)
    data = gans.load_data(args)
    opt_G = optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    print(G, D, sep="\n")
    train_step = make_train_step(G, D, opt_G, opt_D, args)

    history = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}  # d_real, d_fake: the batch's mean D(x, y), D(G(z, c), c)
    fixed = (gans.sample_noise(100, G.latent_dim, args, offset=0), gans.digits(10, args.device))  # row k: digit k
    folder = gans.train(args, (data.images, data.labels), train_step, {"G": G, "D": D}, {"G": opt_G, "D": opt_D},
                        history, end_of_epoch=gans.epoch_grid(G, fixed, "cGAN"))
    by_class = gans.by_class(G, G.latent_dim, args)  # (10, 100, 28, 28): row k asked for digit k
    gans.finish(args, folder, history, by_class.reshape(1000, 28, 28), "cGAN", samples_by_class=by_class)


if __name__ == "__main__":
    common.run(main)
