"""DCGAN (Radford et al. 2015) for 28x28 images: transposed convolutions up, strided convolutions down.

Spatial sizes:  G: z (100, 1x1) -> 7x7 -> 14x14 -> 28x28;   D: 28x28 -> 14x14 -> 7x7 -> 1x1.

A convolution followed by a BatchNorm has no bias (bias=False), as in PyTorch's DCGAN tutorial:
BatchNorm subtracts each channel's batch mean, which removes any constant the convolution adds,
and then adds its own learned shift, so a bias there would be a parameter that does nothing.
"""
from tinygen import nn
from tinygen.functional.checks import IMAGES, check_shape
from tinygen.models.vanilla_gan import MBD_DIMS, MBD_KERNELS
from tinygen.nn import init


def dcgan_init_(model):
    """The DCGAN paper's initialisation: conv weights ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), shift 0."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init.normal_(module.weight, 1.0, 0.02)
            init.zeros_(module.bias)
    return model


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim=100):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(  # bias=False before a BatchNorm: its shift does a bias's work (see above)
            nn.ConvTranspose2d(latent_dim, 128, 7, bias=False), nn.BatchNorm2d(128), nn.ReLU(),               # 1 -> 7
            nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),  # 7 -> 14
            nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1), nn.Tanh(),                                     # 14 -> 28
        )
        dcgan_init_(self)

    def forward(self, z):
        """z: (N, latent_dim) or (N, latent_dim, 1, 1) -> images (N, 1, 28, 28) in [-1, 1]."""
        check_shape("DCGANGenerator", "z", z, (None, self.latent_dim), (None, self.latent_dim, 1, 1))
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """minibatch_discrimination=True replaces the last convolution (a 7x7 window over the whole
    map, i.e. a linear layer) by Flatten -> nn.MinibatchDiscrimination(6272, 100, 5) -> Linear
    6372 -> 1, so that D sees how close each image's features are to the other images' of its
    batch (against mode collapse)."""

    def __init__(self, minibatch_discrimination=False):
        super().__init__()
        if minibatch_discrimination:
            features = 128 * 7 * 7
            head = [nn.Flatten(), nn.MinibatchDiscrimination(features, MBD_KERNELS, MBD_DIMS),
                    nn.Linear(features + MBD_KERNELS, 1)]
        else:
            head = [nn.Conv2d(128, 1, 7)]                                                               # 7 -> 1
        self.net = nn.Sequential(  # bias=False before a BatchNorm: its shift does a bias's work (see above)
            nn.Conv2d(1, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),                                 # 28 -> 14
            nn.Conv2d(64, 128, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),  # 14 -> 7
            *head, nn.Sigmoid(),
        )
        dcgan_init_(self)

    def forward(self, images):
        """images: (N, 1, 28, 28) or (N, 784) -> P(real) of shape (N, 1)."""
        check_shape("DCGANDiscriminator", "images", images, *IMAGES)
        return self.net(images.reshape(images.shape[0], 1, 28, 28)).reshape(images.shape[0], 1)
