"""The variational autoencoder (Kingma & Welling 2013), as in pytorch/examples.

The encoder gives the mean and log-variance of a Gaussian q(z|x); a sample of it,
z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) (the reparameterisation: the randomness is
in eps, so gradients reach mu and logvar), is decoded to pixel probabilities p(x|z).
Trained by maximising the ELBO = E_q[log p(x|z)] - KL(q(z|x) || N(0, I)).
"""
import tinygen
from tinygen import nn
import tinygen.nn.functional as F

IMAGE_SIZE = 28 * 28


class VAE(nn.Module):
    """784 -> 400 -> (mu, logvar) of size latent_dim;   z -> 400 -> 784 (sigmoid)."""

    def __init__(self, latent_dim=20, hidden=400):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Linear(IMAGE_SIZE, hidden), nn.ReLU())
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, IMAGE_SIZE), nn.Sigmoid())

    def encode(self, x):
        h = self.encoder(x.reshape(x.shape[0], IMAGE_SIZE))
        return self.to_mu(h), self.to_logvar(h)

    def reparameterize(self, mu, logvar):
        """z = mu + sigma * eps, sigma = exp(logvar / 2): the standard deviation, not the variance."""
        eps = tinygen.randn(*mu.shape, device=mu.device, dtype=mu.dtype)
        return mu + (logvar * 0.5).exp() * eps

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        """Returns the reconstruction probabilities (N, 784), mu and logvar."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def vae_loss(reconstruction, x, mu, logvar):
    """The negative ELBO of a batch, summed over pixels and samples (as the VAE paper and
    pytorch/examples): BCE(reconstruction, x) + KL(q(z|x) || N(0, I)). Returns (total, bce, kl)."""
    bce = F.binary_cross_entropy(reconstruction, x.reshape(x.shape[0], IMAGE_SIZE), reduction="sum")
    kl = F.gaussian_kl(mu, logvar, reduction="sum")
    return bce + kl, bce, kl
