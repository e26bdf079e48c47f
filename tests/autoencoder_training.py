"""A short training of the shallow autoencoder on real digits, for the property tests.

The digits: the first 9000 images of the MNIST test split train, the last 1000 are held out.
"""
import numpy as np

import tinygen
from tinygen import optim
from tinygen.data import MNIST
from tinygen.models.denoising_autoencoder import corrupt
from tinygen.models.shallow_autoencoder import ShallowAutoencoder
from tinygen.nn import functional as F

HELD_OUT = 1000


def digits(mnist_dir):
    """(train images, held-out images, train labels, held-out labels); images (N, 1, 28, 28) in [0, 1]."""
    images, labels = MNIST(mnist_dir, split="test", download=False).arrays(scale="unit")
    return images[:-HELD_OUT], images[-HELD_OUT:], labels[:-HELD_OUT], labels[-HELD_OUT:]


def train_shallow(images, code_size, steps, penalty=None, noise=None, batch_size=64, lr=1e-3, seed=0):
    """Adam on BCE per image (+ penalty(code)), fed corrupt(x, *noise) when noise is given."""
    tinygen.manual_seed(seed)
    model = ShallowAutoencoder(code_size)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    batches = np.random.default_rng(seed)
    for _ in range(steps):
        x = tinygen.tensor(images[batches.integers(0, len(images), batch_size)])
        reconstruction, code = model(x if noise is None else corrupt(x, *noise))
        loss = F.binary_cross_entropy(reconstruction, x, reduction="sum") / batch_size
        if penalty is not None:
            loss = loss + penalty(code)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def reconstruct(model, images):
    """The reconstructions and codes of `images` (NumPy arrays), in eval mode, without a graph."""
    model.eval()
    with tinygen.no_grad():
        reconstruction, code = model(tinygen.tensor(images))
    return reconstruction.numpy(), code.numpy()


def mse(a, b):
    return float(np.mean((np.asarray(a, dtype=np.float64) - b) ** 2))
