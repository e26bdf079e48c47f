"""The conditional VAE (Sohn et al. 2015; the generative side of Kingma et al. 2014's M2).

The VAE of vae.py with the digit's label y given to both halves, as a one-hot vector joined to
their input:

    x (N, 1, 28, 28) -> (N, 784);   y (N,) integers in [0, 10) -> s one_hot (N, 10)   (s = label_scale, 10)
    encoder q(z|x, y):  [x, s y] (N, 794) -> Linear 400, ReLU -> mu (N, L), logvar (N, L)   (L = latent_dim, 5)
    decoder p(x|z, y):  [z, s y] (N, L + 10) -> Linear 400, ReLU -> Linear 784, Sigmoid -> (N, 784)

Because the decoder is told the digit, the code z need not carry it: z keeps the style (slant,
width, stroke), and decode(z, y) draws digit y in the style of z. The loss is the VAE's,
`vae_loss(reconstruction, x, mu, logvar)`: the negative ELBO of log p(x|y) against the image x
alone. The label is an input, never part of the target (a target of [x, y] would score the
decoder on copying a label it was given).

Two choices make the decoder use the label rather than the code for the digit (docs/variational.md
measures them): the one-hot is joined at label_scale = 10, not 1, so that at initialisation it
moves the first layer's units at least as much as the code's L standard-normal units or the
image's 784 pixels (a norm of about 9) do, and is read from the first steps instead of after the code has already learnt
the digit; and the code is small (5 by default), so that every unit is needed for the style and
carrying the digit too costs reconstruction.
"""
from tinygen import nn
import tinygen.nn.functional as F
from tinygen.functional.checks import IMAGES, check_int, check_shape
from tinygen.models.vae import reparameterize

IMAGE_SIZE = 28 * 28


class CVAE(nn.Module):
    """[x, s one_hot(y)] 794 -> 400 -> (mu, logvar) of size latent_dim;   [z, s one_hot(y)] -> 400 -> 784 (sigmoid).

    label_scale s: the value of the label's one-hot entry where it is joined (10; see the module's docstring)."""

    def __init__(self, latent_dim=5, hidden=400, num_classes=10, label_scale=10.0):
        super().__init__()
        self.latent_dim = check_int("CVAE", "latent_dim", latent_dim, minimum=1)
        self.num_classes = num_classes
        self.label_scale = float(label_scale)
        self.encoder = nn.Sequential(nn.Linear(IMAGE_SIZE + num_classes, hidden), nn.ReLU())
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim + num_classes, hidden), nn.ReLU(),
                                     nn.Linear(hidden, IMAGE_SIZE), nn.Sigmoid())

    def joined(self, inputs, labels, where, row):
        """[inputs, s one_hot(labels)] (N, features + num_classes): each row's label beside it, s = label_scale."""
        y = F.one_hot(labels, self.num_classes) * self.label_scale
        if y.shape[0] != inputs.shape[0]:
            raise ValueError(f"CVAE.{where}: expected one label per {row}, got {y.shape[0]} labels for "
                             f"{inputs.shape[0]} {row}s")
        return F.cat([inputs, y], dim=1)

    def encode(self, x, labels):
        """mu and logvar of q(z|x, y), each (N, latent_dim)."""
        check_shape("CVAE.encode", "images", x, *IMAGES)
        h = self.encoder(self.joined(x.reshape(x.shape[0], IMAGE_SIZE), labels, "encode", "image"))
        return self.to_mu(h), self.to_logvar(h)

    def reparameterize(self, mu, logvar):
        """z = mu + sigma * eps, sigma = exp(logvar / 2), eps ~ N(0, I): the VAE's (vae.reparameterize)."""
        return reparameterize(mu, logvar)

    def decode(self, z, labels):
        """The pixel probabilities of p(x|z, y), (N, 784): digit `labels` in the style of z."""
        check_shape("CVAE.decode", "z", z, (None, self.latent_dim))
        return self.decoder(self.joined(z, labels, "decode", "code"))

    def forward(self, x, labels):
        """Returns the reconstruction probabilities (N, 784), mu and logvar."""
        mu, logvar = self.encode(x, labels)
        return self.decode(self.reparameterize(mu, logvar), labels), mu, logvar
