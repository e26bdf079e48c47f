"""InfoGAN (Chen et al. 2016): a GAN whose generator is made to put meaning into part of its input.

G gets, besides the noise z, a code it must keep readable in the image: a categorical c (one
of 10, uniform) and two continuous codes in U(-1, 1). A network Q, reading the image, must
recover them. Maximising (a lower bound of) the mutual information I(c; G(z, c)) this way, with no
labels at all, makes c pick the digit and the continuous codes pick style (slant, width).

The paper's MNIST architecture (its Table 1), at half its widths by default for the CPU
(channels 32 and 64, hidden 512; `width=64, hidden=1024` is the paper's):

    InfoGANGenerator     [z (62), one_hot(c) (10), cont (2)] = (N, 74) -> Linear hidden, BN, ReLU
                         -> Linear 2w x 7 x 7, BN, ReLU -> (N, 2w, 7, 7)
                         -> ConvTranspose 4, stride 2 -> (N, w, 14, 14), BN, ReLU
                         -> ConvTranspose 4, stride 2 -> (N, 1, 28, 28), tanh          (w = width)
                         (tanh, not the paper's sigmoid: tinygen's GAN images live in [-1, 1])
    InfoGANDiscriminator x (N, 1, 28, 28) -> trunk: Conv 4, stride 2 -> (N, w, 14, 14), LeakyReLU(0.1)
                         -> Conv 4, stride 2 -> (N, 2w, 7, 7), BN, LeakyReLU(0.1)
                         -> Linear hidden, BN, LeakyReLU(0.1) -> features (N, hidden), then two heads:
                         adversarial  Linear 1                                 -> logit (N, 1)
                         q            Linear 128, BN, LeakyReLU(0.1), Linear 10 + 2
                                      -> categorical logits (N, 10), continuous means (N, 2)

At half width a step of batch 64 costs about 5 vanilla GAN steps, at the paper's about 20 (measured
side by side on 2 busy cores): about 3.3M multiply-adds per image in each network against 13M.

D and Q share the trunk (the same Parameter objects): Q costs one small head, not a second network.
Q models each continuous code as a Gaussian of FIXED unit variance around its mean, so its
negative log-likelihood is half the squared error (see `info_loss`).

How it trains (the official code's recipe): the information term L_I = `info_loss(...)` on
generated images is ADDED to both players' losses,
    L_D = BCE(adv(x), 1) + BCE(adv(G(z, c)), 0) + L_I      (one optimiser: trunk, both heads)
    L_G = BCE(adv(G(z, c)), 1) + L_I                       (one optimiser: G)
(the paper: Adam with lr 2e-4 for D and 1e-3 for G, betas (0.5, 0.999))
so that L_I is minimised by G (draw images whose codes can be read), by Q's head and by the
trunk (read them). The catalogue's pitfall: L_I must reach G and Q; an info term stepped by an
optimiser that holds only D's adversarial head (or not G) never teaches G to encode c.
"""
import math

from tinygen import nn
import tinygen.nn.functional as F
from tinygen.autograd import Tensor
from tinygen.creation import rand, randint, randn
from tinygen.models.conditional_gan import check_labels, flat_images

LATENT_DIM = 62  # the paper's noise size for MNIST
NUM_CATEGORIES = 10  # one categorical code, Cat(K = 10)
NUM_CONTINUOUS = 2  # two continuous codes, U(-1, 1)
LAMBDA_CAT, LAMBDA_CONT = 1.0, 0.1  # the paper's weights of the two information terms


def sample_codes(n, device="cpu"):
    """The generator's input for n images: z ~ N(0, I) (n, 62), c ~ Cat(10) (n,), cont ~ U(-1, 1) (n, 2)."""
    z = randn(n, LATENT_DIM, device=device)
    c = randint(0, NUM_CATEGORIES, (n,), device=device)
    cont = rand(n, NUM_CONTINUOUS, device=device) * 2 - 1
    return z, c, cont


class InfoGANGenerator(nn.Module):
    """G(z, c, cont): noise (N, 62), categories (N,) and continuous codes (N, 2) -> images (N, 1, 28, 28)."""

    def __init__(self, width=32, hidden=512, latent_dim=LATENT_DIM, num_categories=NUM_CATEGORIES,
                 num_continuous=NUM_CONTINUOUS):
        super().__init__()
        self.width = width
        self.latent_dim, self.num_categories, self.num_continuous = latent_dim, num_categories, num_continuous
        self.fc = nn.Sequential(
            nn.Linear(latent_dim + num_categories + num_continuous, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, 2 * width * 7 * 7), nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU(),
        )
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),  # 7 -> 14
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1), nn.Tanh(),                              # 14 -> 28
        )

    def forward(self, z, c, cont):
        where, n = type(self).__name__, z.shape[0] if isinstance(z, Tensor) else None
        for name, value, size in (("z", z, self.latent_dim), ("cont", cont, self.num_continuous)):
            if not isinstance(value, Tensor) or value.ndim != 2 or value.shape != (n, size):
                got = value.shape if isinstance(value, Tensor) else type(value).__name__
                raise ValueError(f"{where}: expected {name} of shape (N, {size}) with N = {n} (the rows of z), got {got}")
        c = F.one_hot(check_labels(where, c, n, self.num_categories), self.num_categories)
        h = self.fc(F.cat([z, c.to(z.device), cont], dim=1))
        return self.conv(h.reshape(n, 2 * self.width, 7, 7))


class InfoGANDiscriminator(nn.Module):
    """D and Q on one trunk: images -> (adversarial logit (N, 1), category logits (N, 10), code means (N, 2))."""

    def __init__(self, width=32, hidden=512, num_categories=NUM_CATEGORIES, num_continuous=NUM_CONTINUOUS):
        super().__init__()
        self.num_categories, self.num_continuous = num_categories, num_continuous
        self.trunk = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.LeakyReLU(0.1),                                # 28 -> 14
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.1),  # -> 7
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.1),
        )
        self.adversarial = nn.Linear(hidden, 1)  # D's head: a logit, no sigmoid
        self.q = nn.Sequential(  # Q's head: logits of c (no softmax) and the means of the continuous codes
            nn.Linear(hidden, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.1),
            nn.Linear(128, num_categories + num_continuous),
        )

    def forward(self, images):
        n = flat_images(type(self).__name__, images).shape[0]
        features = self.trunk(images.reshape(n, 1, 28, 28))
        q = self.q(features)
        return self.adversarial(features), q[:, :self.num_categories], q[:, self.num_categories:]


def info_loss(q_logits, q_mean, c, cont, lambda_cat=LAMBDA_CAT, lambda_cont=LAMBDA_CONT):
    """L_I = lambda_cat * CE(q_logits, c) + lambda_cont * mean_n sum_j 1/2 (cont_nj - q_mean_nj)^2

    The first term is -E log Q(c | x), the categorical code's negative log-likelihood under Q
    (logits in, log-softmax inside). The second is the continuous codes' Gaussian negative
    log-likelihood with a fixed unit variance, -log N(cont; q_mean, 1), without its constant
    1/2 log 2 pi: half the squared error, summed over the codes, averaged over the batch. Minimising
    L_I maximises the lower bound of the mutual information, H(c) - L_I (see
    `categorical_information`). Q at its best (the codes read exactly) makes L_I 0.
    """
    if not isinstance(q_logits, Tensor) or not isinstance(q_mean, Tensor):
        raise TypeError("info_loss: q_logits and q_mean must be Tensors (the outputs of InfoGANDiscriminator)")
    n = q_logits.shape[0]
    if q_logits.ndim != 2 or q_mean.ndim != 2 or q_mean.shape[0] != n:
        raise ValueError(f"info_loss: expected q_logits (N, K) and q_mean (N, D), got {q_logits.shape} and {q_mean.shape}")
    c = check_labels("info_loss", c, n, q_logits.shape[1])
    cont_shape = cont.shape if isinstance(cont, Tensor) else getattr(cont, "shape", type(cont).__name__)
    if cont_shape != q_mean.shape:
        raise ValueError(f"info_loss: expected the continuous codes cont of q_mean's shape {q_mean.shape}, got {cont_shape}")
    cont = F.astype(cont if isinstance(cont, Tensor) else Tensor(cont), q_mean.dtype)  # a constant, in Q's dtype
    categorical = F.cross_entropy(q_logits, c)
    continuous = (0.5 * (q_mean - cont) ** 2).sum(dim=1).mean()
    return lambda_cat * categorical + lambda_cont * continuous


def categorical_information(q_logits, c):
    """The lower bound of I(c; G(z, c)) that Q reaches, in nats: H(c) - CE = log K - CE(q_logits, c).

    0 for a Q that guesses uniformly (below 0 for a worse one), log 10 = 2.30 nats when it reads c
    exactly: the curve to watch.
    """
    return math.log(q_logits.shape[1]) - F.cross_entropy(q_logits, check_labels("categorical_information", c,
                                                                                 q_logits.shape[0], q_logits.shape[1]))
