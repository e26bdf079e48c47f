"""BEGAN (Berthelot, Schumm & Metz 2017): the discriminator is an autoencoder, and a controller
keeps the two players in balance.

D does not say "real or fake"; it reconstructs its input, and its loss on an image v is how badly:

    L(v) = mean over pixels |v - D(v)|            (per image; a batch's L is the mean over its images)

D learns to reconstruct real digits well and generated ones badly; G learns to draw images that
D reconstructs well. With k_t in [0, 1] weighing the second term of D's loss,

    L_D = L(x) - k_t L(G(z_D))          L_G = L(G(z_G))
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z_G))), 0, 1),      k_0 = 0   (`update_k`)

k_t is a proportional controller: it holds E L(G(z)) = gamma E L(x), the equilibrium the paper
asks for. gamma ("diversity ratio") is how much worse D may reconstruct the fakes than the reals:
a small gamma lets D spend its capacity on the reals (sharper, less varied images), a large one
asks for more variety. When the fakes are reconstructed too well (L(G(z)) < gamma L(x)), k grows
and D works harder at reconstructing them badly; when too badly, k shrinks.
The paper's convergence measure (`convergence_measure`), which falls as the images improve,

    M = L(x) + |gamma L(x) - L(G(z))|

is the reals' reconstruction error plus how far the game is from the equilibrium.

The networks (the paper's shape at MNIST size and CPU cost: one 3x3 convolution per resolution
where the paper has two; w channels, code size h; 32 and 32 by default):

    Decoder   h -> Linear w x 7 x 7 -> Conv 3x3, act (7x7) -> Upsample 2 (nearest) -> Conv 3x3, act (14x14)
              -> Upsample 2 -> Conv 3x3 to 1 channel (28x28)
    Encoder   28x28, 1 channel -> Conv 3x3 stride 2, act -> 14x14, w -> Conv 3x3 stride 2, act -> 7x7, 2w
              -> + minibatch stddev map -> Conv 3x3, act -> Linear h   (channels grow as the image shrinks)
    Generator                 z (h) -> Decoder -> tanh  (its own weights: G has D's decoder's shape)
    AutoencoderDiscriminator  image -> Encoder -> h -> Decoder -> image (no tanh: a reconstruction)

The paper uses ELU; tinygen has none, so `act` is LeakyReLU(0.2) (also non-zero for negative
inputs, as ELU is). No BatchNorm (as in the paper); the one place where a batch's images meet is
the minibatch standard deviation in D's encoder (`Encoder`, which says why).
"""
import math

from tinygen import nn
from tinygen.autograd import Tensor

IMAGE_SHAPE = (1, 28, 28)
LAMBDA_K = 0.001  # the paper's proportional gain for k (examples/began_mnist.py uses 0.01: see there)
SLOPE = 0.2  # LeakyReLU's negative slope, standing in for the paper's ELU


def conv_block(in_channels, out_channels, stride=1):
    """Conv 3x3 (padding 1: same size, or halved with stride 2) then LeakyReLU(0.2)."""
    return [nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1), nn.LeakyReLU(SLOPE)]


class Decoder(nn.Module):
    """code (N, h) -> image (N, 1, 28, 28): a linear layer to w maps of 7x7, then a 3x3 convolution
    at 7x7 and at 14x14, each size doubled by nearest-neighbour upsampling, and a last linear 3x3
    convolution to one channel at 28x28 (no tanh)."""

    def __init__(self, code_dim, width):
        super().__init__()
        self.code_dim, self.width = code_dim, width
        self.fc = nn.Linear(code_dim, width * 7 * 7)
        self.net = nn.Sequential(
            *conv_block(width, width),                               # 7x7
            nn.Upsample(scale_factor=2), *conv_block(width, width),  # 14x14
            nn.Upsample(scale_factor=2), nn.Conv2d(width, 1, 3, padding=1),  # 28x28, one channel
        )

    def forward(self, code):
        if not isinstance(code, Tensor) or code.ndim != 2 or code.shape[1] != self.code_dim:
            shape = code.shape if isinstance(code, Tensor) else type(code).__name__
            raise ValueError(f"{type(self).__name__}: expected codes of shape (N, {self.code_dim}), got {shape}")
        return self.net(self.fc(code).reshape(code.shape[0], self.width, 7, 7))


class Encoder(nn.Module):
    """image (N, 1, 28, 28) -> code (N, h): stride-2 3x3 convolutions 28x28 -> 14x14 (w channels)
    -> 7x7 (2w channels), the minibatch standard deviation as one more map (nn.MinibatchStdDev, groups
    of 4), one more 3x3 convolution at 7x7, then a linear layer to the code.

    The minibatch standard deviation is not the paper's (it is progressive growing's, Karras et al.
    2018). Without it, on MNIST, G drew ones: L1 rewards little ink, a one is the cheapest digit to
    reconstruct, and D, seeing one image at a time, could not tell a batch of ones from the reals.
    With it D sees how varied the batch it reconstructs is (see examples/began_mnist.py)."""

    def __init__(self, code_dim, width):
        super().__init__()
        self.net = nn.Sequential(
            *conv_block(1, width, stride=2),              # 28 -> 14
            *conv_block(width, 2 * width, stride=2),      # 14 -> 7
            nn.MinibatchStdDev(group_size=4),             # + 1 map: the batch's spread
            *conv_block(2 * width + 1, 2 * width),        # 7x7
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, code_dim),
        )

    def forward(self, images):
        return self.net(images)


def check_images(where, images):
    """A batch of MNIST images (N, 1, 28, 28) as a Tensor, or an error naming `where`."""
    if not isinstance(images, Tensor):
        raise TypeError(f"{where}: expected images as a Tensor (N, 1, 28, 28), got {type(images).__name__}")
    if images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"{where}: expected images of shape (N, 1, 28, 28), got {images.shape}")


class Generator(nn.Module):
    """z (N, h) ~ N(0, I) -> images (N, 1, 28, 28) in [-1, 1]: the decoder's architecture, then tanh."""

    def __init__(self, latent_dim=32, width=32):
        super().__init__()
        self.latent_dim = latent_dim
        self.decoder = Decoder(latent_dim, width)
        self.out = nn.Tanh()

    def forward(self, z):
        return self.out(self.decoder(z))


class AutoencoderDiscriminator(nn.Module):
    """D(v) = Decoder(Encoder(v)): images (N, 1, 28, 28) -> their reconstructions (N, 1, 28, 28)."""

    def __init__(self, code_dim=32, width=32):
        super().__init__()
        self.encoder = Encoder(code_dim, width)
        self.decoder = Decoder(code_dim, width)

    def forward(self, images):
        check_images(type(self).__name__, images)
        return self.decoder(self.encoder(images))


def reconstruction_loss(D, images):
    """L(v) = mean over pixels |v - D(v)| per image, averaged over the batch: a 0-d Tensor."""
    check_images("reconstruction_loss", images)
    n = images.shape[0]
    per_image = (images - D(images)).abs().reshape(n, -1).mean(dim=1)
    return per_image.mean()


def check_finite(where, **numbers):
    """Refuse a NaN or infinite number: the controller would carry it into every later step."""
    for name, value in numbers.items():
        if not math.isfinite(value):
            raise FloatingPointError(f"{where}: {name} is {value}")


def update_k(k, loss_real, loss_fake, gamma, lambda_k=LAMBDA_K):
    """The controller's step: k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1) (floats)."""
    check_finite("update_k", k=k, loss_real=loss_real, loss_fake=loss_fake)
    return min(max(k + lambda_k * (gamma * loss_real - loss_fake), 0.0), 1.0)


def convergence_measure(loss_real, loss_fake, gamma):
    """The paper's M = L(x) + |gamma L(x) - L(G(z))| (floats): falls as training converges."""
    return loss_real + abs(gamma * loss_real - loss_fake)
