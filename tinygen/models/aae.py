"""The adversarial autoencoder (Makhzani et al. 2015): an autoencoder whose codes a discriminator
pushes towards a chosen prior, here p(z) = N(0, I).

    Encoder        x (N, 1, 28, 28) -> flatten (N, 784) -> Linear 512 -> ReLU -> Linear 512 -> ReLU
                   -> Linear -> code z (N, latent_dim)   (no activation: a code may take any real value)
    Decoder        z (N, latent_dim) -> Linear 512 -> ReLU -> Linear 512 -> ReLU -> Linear 784 -> Sigmoid
                   -> (N, 1, 28, 28) in [0, 1]
    CodeDiscriminator
                   z (N, latent_dim) -> Linear 512 -> LeakyReLU(0.2) -> Linear 256 -> LeakyReLU(0.2)
                   -> Linear 1 -> logit (N, 1): > 0 says "a draw from the prior", < 0 "a code of an image"

The sizes are PyTorch-GAN's `aae` (latent 10, D 10-512-256-1); the ReLUs are the paper's. The
discriminator judges CODES, never images: that is what makes this an AAE and not a GAN with a
reconstruction term. Trained adversarially, E plays the generator: its aggregate posterior
q(z) = E_x[q(z|x)], the distribution of the codes of all images, is matched to p(z), so that the
decoder turns any draw z ~ N(0, I) into a digit.

The encoder is deterministic, z = E(x), the paper's choice for its experiments (of its three,
deterministic, Gaussian and universal-approximator posteriors) and the simplest: every bit of
Gaussian shape in the codes then comes from the adversary, not from noise added by a
reparameterised sampler, so the held-out codes' mean and covariance measure what the
regularisation achieved.
"""
from tinygen import nn
from tinygen.functional.checks import IMAGES, check_int, check_shape

IMAGE_PIXELS = 28 * 28


class Encoder(nn.Module):
    """(N, 1, 28, 28) -> codes (N, latent_dim)."""

    def __init__(self, latent_dim=10, hidden=512):
        super().__init__()
        self.latent_dim = check_int("Encoder", "latent_dim", latent_dim, minimum=1)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(IMAGE_PIXELS, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, latent_dim),
        )

    def forward(self, x):
        check_shape("Encoder", "images", x, *IMAGES)
        return self.net(x)


class Decoder(nn.Module):
    """codes (N, latent_dim) -> images (N, 1, 28, 28), pixel probabilities in [0, 1]."""

    def __init__(self, latent_dim=10, hidden=512):
        super().__init__()
        self.latent_dim = check_int("Decoder", "latent_dim", latent_dim, minimum=1)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, IMAGE_PIXELS), nn.Sigmoid(),
            nn.Unflatten(1, (1, 28, 28)),
        )

    def forward(self, z):
        check_shape("Decoder", "codes", z, (None, self.latent_dim))
        return self.net(z)


class CodeDiscriminator(nn.Module):
    """codes (N, latent_dim) -> logits (N, 1): is z a draw from the prior (real) or a code E(x) (fake)?"""

    def __init__(self, latent_dim=10):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 1),  # a logit: binary_cross_entropy_with_logits applies the sigmoid, stably
        )

    def forward(self, z):
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"CodeDiscriminator: expected codes of shape (N, {self.latent_dim}), got {z.shape}; "
                             f"it judges codes E(x) against prior draws, not images")
        return self.net(z)
