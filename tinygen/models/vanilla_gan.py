"""The classic fully connected GAN (Goodfellow et al. 2014, in the form PyTorch-GAN trains).

G maps noise z ~ N(0, I) of size 100 to a flattened 28x28 image in [-1, 1] (tanh);
D maps an image to the probability that it is real (sigmoid).
"""
from tinygen import nn

IMAGE_SIZE = 28 * 28


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
        return self.net(z)


class Discriminator(nn.Module):
    """image (784) -> 512 -> 256 -> 1, LeakyReLU(0.2), sigmoid: P(image is real)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(IMAGE_SIZE, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 1), nn.Sigmoid(),
        )

    def forward(self, images):
        return self.net(images.reshape(images.shape[0], IMAGE_SIZE))
