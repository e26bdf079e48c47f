"""Train a DCGAN on MNIST digits: the GAN game played by convolutional networks.

    python examples/dcgan_mnist.py --data-dir ../shared/data/mnist

The generator grows noise into an image with transposed convolutions (1x1 -> 7x7 -> 14x14 ->
28x28), the discriminator shrinks an image with strided convolutions, and BatchNorm steadies
both (Radford et al. 2015); the convolutions before a BatchNorm have no bias, whose work the
BatchNorm's shift does. See tinygen/models/dcgan.py.

Only the networks differ from the vanilla GAN: the losses and the two-phase step are the same,
so this file hands its networks to `train_gan` in examples/vanilla_gan_mnist.py, where the step
is written out, and from where it takes --experience-replay and --minibatch-discrimination.

Writes to --out: a sample grid per epoch, training curves, samples.npy, checkpoint.npz, metrics.json,
and class_histograms.png (the digits in 1000 of G's samples, epoch by epoch).
"""
import tinygen
from tinygen.models.dcgan import DCGANDiscriminator, DCGANGenerator

import common
from vanilla_gan_mnist import add_mode_collapse_options, parse_args, train_gan


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=5, batch_size=64, lr=2e-4, out="runs/dcgan")
    add_mode_collapse_options(parser)
    args = parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too
    G = DCGANGenerator(latent_dim=100)  # G first, then D: their initial weights come in that order
    D = DCGANDiscriminator(minibatch_discrimination=args.minibatch_discrimination)
    train_gan(G, D, args, title="DCGAN", image_shape=(1, 28, 28))


if __name__ == "__main__":
    common.run(main)
