"""A short training of an autoencoder on real digits, for the property tests of its variants
(with the example's own step: `train_with_step`).

The digits: the first 9000 images of the MNIST test split train, the last 1000 are held out.
"""
import pathlib
import sys

import numpy as np

import tinygen
from tinygen import optim
from tinygen.data import MNIST

HELD_OUT = 1000
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))  # the examples' steps


def digits(mnist_dir):
    """(train images, held-out images, train labels, held-out labels); images (N, 1, 28, 28) in [0, 1]."""
    images, labels = MNIST(mnist_dir, split="test", download=False).arrays(scale="unit")
    return images[:-HELD_OUT], images[-HELD_OUT:], labels[:-HELD_OUT], labels[-HELD_OUT:]


def train(model, images, steps, loss_of_batch, batch_size=32, lr=1e-3, seed=0):
    """Adam on loss_of_batch(x) for `steps` random batches of `images`; returns the model."""
    optimizer = optim.Adam(model.parameters(), lr=lr)
    batches = np.random.default_rng(seed)
    for _ in range(steps):
        loss = loss_of_batch(tinygen.tensor(images[batches.integers(0, len(images), batch_size)]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def train_with_step(model, images, steps, step, batch_size=32, lr=1e-3, seed=0):
    """The example's own step, step(model, optimizer, x), on `steps` random batches of `images`
    (Adam, as the examples); returns the model. The property is then the example's, not a copy's."""
    optimizer = optim.Adam(model.parameters(), lr=lr)
    batches = np.random.default_rng(seed)
    for _ in range(steps):
        step(model, optimizer, tinygen.tensor(images[batches.integers(0, len(images), batch_size)]))
    return model


def outputs(model, images):
    """model(images) in eval mode, without a graph, as NumPy arrays (a tuple if the model gives one)."""
    model.eval()
    with tinygen.no_grad():
        result = model(images if isinstance(images, tinygen.Tensor) else tinygen.tensor(images))
    return tuple(r.numpy() for r in result) if isinstance(result, tuple) else result.numpy()


def mse(a, b):
    return float(np.mean((np.asarray(a, dtype=np.float64) - b) ** 2))
