"""Each plain autoencoder is what its name says (CATALOG.md, the property column).

- tied weights: half the weight parameters, and the shared W's gradient is the sum of its two uses;
- undercomplete (code 32): its held-out error on real digits is below PCA's with 32 components;
- overcomplete and unregularised (code 1000): it learns to copy, digits and non-digits alike.
The linear autoencoder spanning PCA's subspace is tests/test_pca_autoencoder.py; greedy training
leaving the first layer bit-identical is in tests/test_autoencoder_examples.py (it runs the example).
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import optim
import tinygen.nn.functional as F
from tinygen.data import MNIST, DataLoader
from tinygen.models.autoencoder import Autoencoder
from tinygen.models.stacked_autoencoder import StackedAutoencoder, TiedLinear

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import autoencoders  # noqa: E402  (examples/autoencoders.py: reconstruct, pca_mse)
from autoencoder_mnist import autoencoder_step  # noqa: E402


def count(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# Tied weights


def test_tied_weights_halve_the_weight_count():
    """Geron's 784-100-30: 163,814 parameters untied, 82,414 tied (the weights once, every bias)."""
    assert count(StackedAutoencoder((784, 100, 30))) == 163_814
    assert count(StackedAutoencoder((784, 100, 30), tied=True)) == 82_414
    tied = StackedAutoencoder((784, 100, 30), tied=True)
    for i in range(2):
        assert tied.decoders[i][0].weight is tied.encoders[i][0].weight
    assert len(tied.layer_parameters(0)) == 3  # W, the encoder's bias, the decoder's bias


def test_the_shared_weights_gradient_sums_both_uses():
    """d loss / d W for the tied W equals (d loss / d W_enc) + (d loss / d W_dec)^T of an untied copy
    with W_dec = W_enc^T: one tensor read by two ops gets both gradients."""
    tinygen.manual_seed(0)
    tied = StackedAutoencoder((784, 20, 5), tied=True)
    untied = StackedAutoencoder((784, 20, 5))
    for i in range(2):
        untied.encoders[i][0].weight.data[...] = tied.encoders[i][0].weight.data
        untied.encoders[i][0].bias.data[...] = tied.encoders[i][0].bias.data
        untied.decoders[i][0].weight.data[...] = tied.encoders[i][0].weight.data.T
        untied.decoders[i][0].bias.data[...] = tied.decoders[i][0].bias.data
    x = tinygen.rand(8, 1, 28, 28)
    for model in (tied, untied):
        F.binary_cross_entropy(model(x), x).backward()
    for i in range(2):
        np.testing.assert_allclose(tied.encoders[i][0].weight.grad.numpy(),
                                   untied.encoders[i][0].weight.grad.numpy() + untied.decoders[i][0].weight.grad.numpy().T,
                                   rtol=1e-5, atol=1e-7)
        # and each use alone is not the whole gradient
        assert not np.allclose(tied.encoders[i][0].weight.grad.numpy(), untied.encoders[i][0].weight.grad.numpy())


def test_a_tied_model_stays_tied_when_loaded():
    a, b = StackedAutoencoder((784, 30, 10), tied=True), StackedAutoencoder((784, 30, 10), tied=True)
    b.load_state_dict(a.state_dict())
    assert b.decoders[0][0].weight is b.encoders[0][0].weight
    np.testing.assert_array_equal(b.decoders[0][0].weight.numpy(), a.encoders[0][0].weight.numpy())


def test_tied_linear_names_the_shape_it_expects():
    layer = TiedLinear(tinygen.nn.Linear(784, 30))
    with pytest.raises(ValueError, match=r"TiedLinear\(in_features=30, out_features=784, tied to an encoder's weight\): "
                                         r"expected input of shape \(N, 30\), got \(4, 784\)"):
        layer(tinygen.rand(4, 784))


def test_a_stack_starts_with_the_image():
    with pytest.raises(ValueError, match=r"StackedAutoencoder: sizes must start with 784 and name at least one code, "
                                         r"got \(100, 30\)"):
        StackedAutoencoder((100, 30))


# ---------------------------------------------------------------------------------------------
# On real digits (slow: about a minute each on 2 idle cores; run with -m slow)


OVERCOMPLETE_EPOCHS = 15  # held-out MSE 0.0026 here (PCA with 32 components: 0.0175, with 128: 0.0045)


def train_on_digits(model, images, epochs, lr=1e-3):
    """The example's training (examples/autoencoder_mnist.py): Adam, batches of 128, cross-entropy."""
    tinygen.manual_seed(0)
    opt = optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(images, 128, shuffle=True, seed=0, drop_last=True)
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x in loader:
            autoencoder_step(model, opt, x, "bce")
    return model


@pytest.fixture(scope="module")
def digits(mnist_dir):
    images, _ = MNIST(mnist_dir, split="test").arrays(scale="unit")
    return images[:-1000], images[-1000:]  # as the examples: the last 1,000 held out


def held_out_mse(model, images):
    return float(np.mean((autoencoders.reconstruct(model, images, "cpu") - images[:, 0]) ** 2))


@pytest.mark.slow
def test_the_undercomplete_autoencoder_beats_pca_at_its_code_size(digits):
    """784-256-32-256-784 with ReLUs and a sigmoid, 30 epochs: below PCA's 32 components on held-out digits."""
    train, held_out = digits
    tinygen.manual_seed(0)
    model = train_on_digits(Autoencoder(32, hidden=(256,)), train, epochs=30)
    mse, pca = held_out_mse(model, held_out), autoencoders.pca_mse(train, held_out, 32)
    print(f"\nundercomplete, code 32: held-out MSE {mse:.5f}, PCA {pca:.5f}")
    assert mse < 0.9 * pca


@pytest.mark.slow
def test_the_unregularised_overcomplete_autoencoder_learns_to_copy(digits):
    """Code 1000 > 784 pixels, nothing else in the loss: on digits it never saw, its error falls
    towards zero, far below the best 32-number code's (and below PCA's 128 components). It copies
    digits, not everything: uniform noise comes back digit-like (measured: MSE ~0.31 after 15
    epochs, more than the noise's own variance), so showing its low loss proves nothing about
    what it learned, the pitfall CATALOG.md names."""
    train, held_out = digits
    tinygen.manual_seed(0)
    model = train_on_digits(Autoencoder(1000), train, epochs=OVERCOMPLETE_EPOCHS)
    mse, pca = held_out_mse(model, held_out), autoencoders.pca_mse(train, held_out, 32)
    noise = np.random.default_rng(0).random((200, 1, 28, 28)).astype(np.float32)
    noise_mse = held_out_mse(model, noise)
    print(f"\novercomplete, code 1000: held-out MSE {mse:.5f} (PCA with 32 components {pca:.5f}), "
          f"on uniform noise {noise_mse:.5f} (its variance {1 / 12:.5f})")
    assert mse < 0.2 * pca
    assert mse < autoencoders.pca_mse(train, held_out, 128)
