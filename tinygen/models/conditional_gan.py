"""GANs told the class: the conditional GAN (Mirza & Osindero 2014) and the auxiliary-classifier
GAN (Odena et al. 2017), as MLPs in PyTorch-GAN's `cgan` shapes.

    labels c (N,) integers in [0, 10) -> nn.Embedding(10, 10) -> (N, 10)
    ConditionalGenerator        [z, emb(c)] (N, 100 + 10) -> 128 -> 256 -> 512 -> 1024 -> 784, tanh
                                -> images (N, 1, 28, 28) in [-1, 1]  (LeakyReLU(0.2), BatchNorm from 256 on)
    ConditionalDiscriminator    [x, emb(c)] (N, 784 + 10) -> 512 -> 512 -> 512 -> 1: a logit (N, 1)
                                (LeakyReLU(0.2), Dropout(0.4) on the last two hidden layers)
    ACGANGenerator              z * emb(c) (N, 100), emb: nn.Embedding(10, 100) -> the same MLP from 100
    ACGANDiscriminator          x (N, 784) -> 512 -> 256 (LeakyReLU(0.2)), the shared body, then two heads:
                                adversarial  256 -> 1    a logit (N, 1): real or generated?
                                auxiliary    256 -> 10   class logits (N, 10): which digit?

cGAN: the label joins G's noise AND D's input, so D judges the pair (image, label): a good "7"
labelled 3 is fake to it, and G must draw the digit it was asked for. Both players keep the log
loss of the vanilla GAN, on D's logit: `binary_cross_entropy_with_logits` (PyTorch-GAN's `cgan`
uses MSE on an output without sigmoid, which makes it a least-squares GAN: the catalogue's pitfall).

ACGAN: D is NOT told the label; it must say it. Its auxiliary head is a classifier, trained with
the cross-entropy on real images (their true labels) and on generated ones (the labels G was
asked for); G is trained to fool the adversarial head and to be classified as its label:
    L_D = BCE(adv(x), 1) + BCE(adv(G(z, c)), 0) + CE(aux(x), y) + CE(aux(G(z, c)), c)
    L_G = BCE(adv(G(z, c)), 1) + CE(aux(G(z, c)), c)
The auxiliary head returns LOGITS: `cross_entropy` takes the log-softmax inside, so a softmax
before it would be applied twice (PyTorch-GAN's `acgan` does that: the catalogue's pitfall).

ACGAN's generator MULTIPLIES the noise by the label's embedding (as PyTorch-GAN's `acgan` does)
where the cGAN's joins them side by side. With the label beside the noise, the ACGAN's G met its
class term by drawing one image per digit whatever z was: the mean distance between two of its
images of one digit (pixels in [0, 1]) fell to about 2 within the first epoch, where two real
images of one digit are 9 apart, and stayed there (class accuracy 0.69 after 50 epochs). With the
label multiplying the noise the same distance grows with training as it does without a class
term at all (5 after one epoch, 6.6 after ten, 8.2 after the example's 50), and G draws every
digit (class accuracy 0.98; see ACGANGenerator).

MLPs, not convolutions, for the CPU: about 1.5M multiply-adds per image in G and 0.5M-0.9M in D,
where the DCGAN pair costs about 14M. A step of batch 64 (D on real and fake, then G) costs 1 to 2
vanilla GAN steps (measured side by side on 2 busy cores: ACGAN 1.2x, cGAN 1.9x, its D the wider).
"""
from tinygen import backend, nn
import tinygen.nn.functional as F
from tinygen.autograd import Tensor

IMAGE_SIZE = 28 * 28
NUM_CLASSES = 10


def check_labels(where, labels, n, num_classes=NUM_CLASSES):
    """Class labels for a batch of n: integers of shape (n,) in [0, num_classes). Raises naming `where`."""
    array = labels.data if isinstance(labels, Tensor) else labels
    if not backend.is_array(array):
        raise TypeError(f"{where}: labels must be a Tensor of integers, got {type(labels).__name__}; "
                        f"make one with tinygen.tensor(...)")
    if array.dtype.kind not in "iu":
        raise ValueError(f"{where}: labels must be integers, got dtype {array.dtype}")
    if array.shape != (n,):
        raise ValueError(f"{where}: expected labels of shape ({n},), one per row of the batch, got {array.shape}")
    if n and (array.min() < 0 or array.max() >= num_classes):  # n integers: a cheap scan
        raise ValueError(f"{where}: labels must be in [0, {num_classes}), got range [{array.min()}, {array.max()}]")
    return labels


def flat_images(where, images):
    """(N, 1, 28, 28), (N, 28, 28) or (N, 784) -> (N, 784)."""
    if not isinstance(images, Tensor):
        raise TypeError(f"{where}: expected images as a Tensor, got {type(images).__name__}")
    if images.ndim < 2 or images.numel() != images.shape[0] * IMAGE_SIZE:
        raise ValueError(f"{where}: expected images of 28x28 = 784 pixels, (N, 1, 28, 28) or (N, 784), "
                         f"got shape {images.shape}")
    return images.reshape(images.shape[0], IMAGE_SIZE)


def generator_mlp(in_features):
    """The conditional generators' MLP: in_features -> 128 -> 256 -> 512 -> 1024 -> 784 pixels in [-1, 1]."""
    return nn.Sequential(
        nn.Linear(in_features, 128), nn.LeakyReLU(0.2),
        nn.Linear(128, 256), nn.BatchNorm1d(256), nn.LeakyReLU(0.2),
        nn.Linear(256, 512), nn.BatchNorm1d(512), nn.LeakyReLU(0.2),
        nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.2),
        nn.Linear(1024, IMAGE_SIZE), nn.Tanh(),
    )


def check_noise(where, z, latent_dim):
    """Noise z of shape (N, latent_dim) as a Tensor. Raises naming `where`."""
    if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"{where}: expected noise z of shape (N, {latent_dim}), got "
                         f"{z.shape if isinstance(z, Tensor) else type(z).__name__}")
    return z


class ConditionalGenerator(nn.Module):
    """G(z, c): noise (N, latent_dim) and labels (N,) -> images of digit c, (N, 1, 28, 28) in [-1, 1]."""

    def __init__(self, latent_dim=100, num_classes=NUM_CLASSES):
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.label_embedding = nn.Embedding(num_classes, num_classes)
        self.net = generator_mlp(latent_dim + num_classes)

    def forward(self, z, labels):
        where = type(self).__name__
        z = check_noise(where, z, self.latent_dim)
        labels = check_labels(where, labels, z.shape[0], self.num_classes)
        joined = F.cat([z, self.label_embedding(labels)], dim=1)  # the label joins the noise
        return self.net(joined).reshape(z.shape[0], 1, 28, 28)


class ACGANGenerator(nn.Module):
    """G(z, c) for the ACGAN: the noise scaled by the label's embedding, z * emb(c), -> images (N, 1, 28, 28).

    The label's embedding has latent_dim numbers, one per coordinate of z, and multiplies z:
    G sees z * emb(c), zero-mean for every digit, so the label says which directions of z count
    and how much, but adds no offset that G could draw the digit from while ignoring z. (Joined
    beside z, as in ConditionalGenerator, the ACGAN's class term drove G to one image per digit.)
    """

    def __init__(self, latent_dim=100, num_classes=NUM_CLASSES):
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.label_embedding = nn.Embedding(num_classes, latent_dim)
        self.net = generator_mlp(latent_dim)

    def forward(self, z, labels):
        where = type(self).__name__
        z = check_noise(where, z, self.latent_dim)
        labels = check_labels(where, labels, z.shape[0], self.num_classes)
        return self.net(z * self.label_embedding(labels)).reshape(z.shape[0], 1, 28, 28)  # the label scales z


class ConditionalDiscriminator(nn.Module):
    """D(x, c): images and their labels -> the logit of "a real image of digit c", (N, 1)."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.num_classes = num_classes
        self.label_embedding = nn.Embedding(num_classes, num_classes)
        self.net = nn.Sequential(
            nn.Linear(IMAGE_SIZE + num_classes, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 512), nn.Dropout(0.4), nn.LeakyReLU(0.2),
            nn.Linear(512, 512), nn.Dropout(0.4), nn.LeakyReLU(0.2),
            nn.Linear(512, 1),  # a logit: binary_cross_entropy_with_logits applies the sigmoid, stably
        )

    def forward(self, images, labels):
        where = type(self).__name__
        x = flat_images(where, images)
        labels = check_labels(where, labels, x.shape[0], self.num_classes)
        return self.net(F.cat([x, self.label_embedding(labels)], dim=1))  # the label joins the image


class ACGANDiscriminator(nn.Module):
    """D(x) -> (adversarial logit (N, 1), class logits (N, num_classes)), two heads on one body."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.num_classes = num_classes
        self.body = nn.Sequential(
            nn.Linear(IMAGE_SIZE, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 256), nn.LeakyReLU(0.2),
        )
        self.adversarial = nn.Linear(256, 1)  # real or generated: a logit, no sigmoid
        self.auxiliary = nn.Linear(256, num_classes)  # which digit: logits, no softmax (cross_entropy has it)

    def forward(self, images):
        features = self.body(flat_images(type(self).__name__, images))
        return self.adversarial(features), self.auxiliary(features)
