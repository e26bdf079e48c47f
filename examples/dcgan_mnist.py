"""Train a DCGAN on MNIST digits: the GAN game played by convolutional networks.

    python examples/dcgan_mnist.py --data-dir ../shared/data/mnist --split test

The generator grows noise into an image with transposed convolutions (1x1 -> 7x7 -> 14x14 ->
28x28), the discriminator shrinks an image with strided convolutions, and BatchNorm steadies
both (Radford et al. 2015); the convolutions before a BatchNorm have no bias, whose work the
BatchNorm's shift does. See tinygen/models/dcgan.py.

Only the networks differ from the vanilla GAN: the losses and the two-phase step are the same,
so this file hands its networks to `train_gan` in examples/vanilla_gan_mnist.py, where the step
is written out.

Writes to --out: a sample grid per epoch, training curves, samples.npy, checkpoint.npz, metrics.json.
"""
import tinygen
from tinygen.models.dcgan import DCGANDiscriminator, DCGANGenerator

import common
from vanilla_gan_mnist import train_gan


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=10, batch_size=64, lr=2e-4, out="runs/dcgan")
    args = common.parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too
    train_gan(DCGANGenerator(latent_dim=100), DCGANDiscriminator(), args, title="DCGAN")


if __name__ == "__main__":
    common.run(main)
