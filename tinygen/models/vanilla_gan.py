"""The classic fully connected GAN (Goodfellow et al. 2014, in the form PyTorch-GAN trains).

G maps noise z ~ N(0, I) of size 100 to a flattened 28x28 image in [-1, 1] (tanh);
D maps an image to the probability that it is real (sigmoid).
"""
from tinygen import nn
from tinygen.functional.checks import IMAGES, check_shape
from tinygen.nn import MinibatchDiscrimination

IMAGE_SIZE = 28 * 28
MBD_KERNELS, MBD_DIMS = 100, 5  # minibatch discrimination: B kernels of C numbers (Salimans et al.)


class Generator(nn.Module):
    """z (100) -> 128 -> 256 -> 512 -> 1024 -> 784, LeakyReLU(0.2), BatchNorm from 256 on, tanh."""

    def __init__(self, latent_dim=100):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 128), nn.LeakyReLU(0.2),
            nn.Linear(128, 256), nn.BatchNorm1d(256), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.BatchNorm1d(512), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.2),
            nn.Linear(1024, IMAGE_SIZE), nn.Tanh(),
        )

    def forward(self, z):
        check_shape("Generator", "z", z, (None, self.latent_dim))
        return self.net(z)


class Discriminator(nn.Module):
    """image (784) -> 512 -> 256 -> 1, LeakyReLU(0.2), sigmoid: P(image is real).

    minibatch_discrimination=True puts nn.MinibatchDiscrimination(256, 100, 5) (Salimans et al.'s
    100 kernels of 5) before the last layer: 256 -> 356 -> 1, so that D sees how close each
    image's features are to the other images' of its batch (against mode collapse).
    """

    def __init__(self, minibatch_discrimination=False):
        super().__init__()
        batch_layer = [MinibatchDiscrimination(256, MBD_KERNELS, MBD_DIMS)] if minibatch_discrimination else []
        self.net = nn.Sequential(
            nn.Linear(IMAGE_SIZE, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 256), nn.LeakyReLU(0.2),
            *batch_layer,
            nn.Linear(256 + (MBD_KERNELS if minibatch_discrimination else 0), 1), nn.Sigmoid(),
        )

    def forward(self, images):
        check_shape("Discriminator", "images", images, *IMAGES)
        return self.net(images.reshape(images.shape[0], IMAGE_SIZE))
