"""The denoising autoencoder's step (examples/denoising_autoencoder_mnist.py `denoising_step`),
pinned on a model small enough to work by hand.

The model is y = sigmoid(W x~ + b) on 6 "pixels", with plain SGD in float64. For a batch of n
clean images x and their corruption x~ (the step's own draw, reproduced here from the same seeded
generator), binary cross-entropy against the clean x, averaged over the n * 6 pixels, gives

    dL/d(logit) = (y - x) / (n * 6),   dL/dW = dL/d(logit)^T x~,   dL/db = sum over the batch of dL/d(logit)

Written from these formulas: a step that trains against the noisy input, feeds the clean image in,
or draws the same noise every step gives other numbers.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim
from tinygen.models.denoising_autoencoder import corrupt

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from denoising_autoencoder_mnist import denoising_step  # noqa: E402

LR = 0.5
PIXELS = 6


class Recording(nn.Module):
    """y = sigmoid(W x + b), keeping every input it was given."""

    def __init__(self, W, b):
        super().__init__()
        self.layer = nn.Linear(PIXELS, PIXELS).double()
        self.layer.weight.data[...] = W
        self.layer.bias.data[...] = b
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.numpy().copy())
        return self.layer(x).sigmoid()


def start(seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(PIXELS, PIXELS)) / 2, rng.normal(size=PIXELS) / 2, rng.random((5, PIXELS))


@pytest.mark.parametrize("noise,level", [("gaussian", 0.5), ("masking", 0.3)])
def test_one_step_trains_the_model_to_give_back_the_clean_image(noise, level):
    W, b, x = start(0)
    noisy = corrupt(tinygen.tensor(x), noise, level, np.random.default_rng(7)).numpy()  # the step's draw
    assert not np.allclose(noisy, x)
    y = 1 / (1 + np.exp(-(noisy @ W.T + b)))
    loss = -np.mean(x * np.log(y) + (1 - x) * np.log(1 - y))
    d_logit = (y - x) / x.size
    W_after, b_after = W - LR * d_logit.T @ noisy, b - LR * d_logit.sum(axis=0)

    model = Recording(W, b)
    numbers = denoising_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x), noise, level,
                             np.random.default_rng(7))
    np.testing.assert_array_equal(model.inputs[0], noisy)  # the model sees the corrupted image
    assert numbers["loss"].item() == pytest.approx(loss, rel=1e-12)  # scored against the clean one
    np.testing.assert_allclose(model.layer.weight.numpy(), W_after, rtol=1e-10)
    np.testing.assert_allclose(model.layer.bias.numpy(), b_after, rtol=1e-10)


def test_each_step_draws_new_noise_from_tinygens_generator():
    W, b, x = start(1)
    model = Recording(W, b)
    opt = optim.SGD(model.parameters(), lr=LR)
    tinygen.manual_seed(3)
    denoising_step(model, opt, tinygen.tensor(x), "masking", 0.5)
    denoising_step(model, opt, tinygen.tensor(x), "masking", 0.5)
    first, second = model.inputs
    assert not np.array_equal(first, second)
    tinygen.manual_seed(3)  # the same seed gives the same two draws: they come from tinygen's generator
    np.testing.assert_array_equal(corrupt(tinygen.tensor(x), "masking", 0.5).numpy(), first)
    np.testing.assert_array_equal(corrupt(tinygen.tensor(x), "masking", 0.5).numpy(), second)
