"""The variational autoencoder (Kingma & Welling 2013): an MLP one, as in pytorch/examples, and a
convolutional one, as in the keras-io convolutional VAE.

The encoder gives the mean and log-variance of a Gaussian q(z|x); a sample of it,
z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) (the reparameterisation: the randomness is
in eps, so gradients reach mu and logvar), is decoded to pixel probabilities p(x|z).
Trained by maximising the ELBO = E_q[log p(x|z)] - KL(q(z|x) || N(0, I)); the beta-VAE
(Higgins et al. 2017) weights the KL by beta (`vae_loss(..., beta=)`).

    VAE       x (N, 1, 28, 28) -> (N, 784)
              Linear(784, 400), ReLU                      -> (N, 400)
              Linear(400, k) twice                        -> mu, logvar (N, k)
              z -> Linear(k, 400), ReLU, Linear(400, 784), Sigmoid   -> (N, 784)

    ConvVAE   x (N, 1, 28, 28)
              Conv2d(1, 32, 3, stride=2, padding=1), ReLU     -> (N, 32, 14, 14)
              Conv2d(32, 64, 3, stride=2, padding=1), ReLU    -> (N, 64, 7, 7)
              Flatten, Linear(3136, k) twice                  -> mu, logvar (N, k)
              z -> Linear(k, 3136), ReLU, Unflatten           -> (N, 64, 7, 7)
              ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), ReLU  -> (N, 32, 14, 14)
              ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1)         -> (N, 1, 28, 28)
              Sigmoid                                                                  -> pixels in [0, 1]

A stride-2 convolution with padding 1 halves the size ((28 + 2 - 3) // 2 + 1 = 14); the
transposed one doubles it, (H - 1) 2 - 2 + 3 + output_padding 1 = 2H. The keras-io model has a
16-unit layer before its heads and a latent of 2; here the heads read the 7x7x64 map directly
and the latent is 20 by default, as the MLP's, so the two compare.
"""
import math
import numbers

import tinygen
from tinygen import nn
import tinygen.nn.functional as F
from tinygen.functional.checks import IMAGES, check_int, check_shape

IMAGE_SIZE = 28 * 28


def reparameterize(mu, logvar):
    """z = mu + sigma * eps, eps ~ N(0, I), sigma = exp(logvar / 2): the standard deviation, not the variance.

    The noise is an input of the graph, not a node in it: dz/dmu = 1, dz/dlogvar = sigma * eps / 2."""
    eps = tinygen.randn(*mu.shape, device=mu.device, dtype=mu.dtype)
    return mu + (logvar * 0.5).exp() * eps


class VariationalAutoencoder(nn.Module):
    """What both VAEs below share: z drawn from q(z|x) by the reparameterisation, then decoded.

    A subclass gives encode(x) -> (mu, logvar) and decode(z) -> pixel probabilities, and sets latent_dim."""

    def reparameterize(self, mu, logvar):
        return reparameterize(mu, logvar)

    def forward(self, x):
        """Returns the reconstruction probabilities (decode's shape), mu and logvar."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


class VAE(VariationalAutoencoder):
    """784 -> 400 -> (mu, logvar) of size latent_dim;   z -> 400 -> 784 (sigmoid)."""

    def __init__(self, latent_dim=20, hidden=400):
        super().__init__()
        self.latent_dim = check_int("VAE", "latent_dim", latent_dim, minimum=1)
        self.encoder = nn.Sequential(nn.Linear(IMAGE_SIZE, hidden), nn.ReLU())
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, IMAGE_SIZE), nn.Sigmoid())

    def encode(self, x):
        check_shape("VAE.encode", "images", x, *IMAGES)
        h = self.encoder(x.reshape(x.shape[0], IMAGE_SIZE))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z):
        """z (N, latent_dim) -> pixel probabilities (N, 784)."""
        check_shape("VAE.decode", "z", z, (None, self.latent_dim))
        return self.decoder(z)


class ConvVAE(VariationalAutoencoder):
    """Strided convolutions down to 7x7, heads for (mu, logvar); transposed convolutions back up.

    channels: the two convolutions' widths (keras-io's (32, 64); tests use small ones)."""

    def __init__(self, latent_dim=20, channels=(32, 64)):
        super().__init__()
        self.latent_dim = check_int("ConvVAE", "latent_dim", latent_dim, minimum=1)
        c1, c2 = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.ReLU(),     # 28 -> 14
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),    # 14 -> 7
            nn.Flatten(),
        )
        self.to_mu = nn.Linear(c2 * 7 * 7, latent_dim)
        self.to_logvar = nn.Linear(c2 * 7 * 7, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, c2 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # 7 -> 14
            nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1),              # 14 -> 28
            nn.Sigmoid(),
        )

    def encode(self, x):
        check_shape("ConvVAE.encode", "images", x, *IMAGES)
        h = self.encoder(x.reshape(x.shape[0], 1, 28, 28))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z):
        """z (N, latent_dim) -> pixel probabilities (N, 1, 28, 28)."""
        check_shape("ConvVAE.decode", "z", z, (None, self.latent_dim))
        return self.decoder(z)


def vae_loss(reconstruction, x, mu, logvar, beta=1.0):
    """The negative ELBO of a batch, summed over pixels and samples (as the VAE paper and
    pytorch/examples): BCE(reconstruction, x) + beta * KL(q(z|x) || N(0, I)). Returns (total, bce, kl).

    beta = 1 is the VAE's loss; other values give the beta-VAE's. Both terms are sums, so beta is the
    paper's beta: with a mean over the 784 pixels the reconstruction would shrink 784-fold against
    the KL, and a beta of 1 there would be a much stronger prior than the paper's beta = 1.
    reconstruction may be (N, 784) or (N, 1, 28, 28); x is the batch of images, of either shape.
    """
    if not (isinstance(beta, numbers.Real) and math.isfinite(beta) and beta >= 0):
        raise ValueError(f"vae_loss: beta must be a finite number >= 0, got {beta!r}")
    n = x.shape[0]
    bce = F.binary_cross_entropy(reconstruction.reshape(n, IMAGE_SIZE), x.reshape(n, IMAGE_SIZE), reduction="sum")
    kl = F.gaussian_kl(mu, logvar, reduction="sum")
    return bce + beta * kl, bce, kl
