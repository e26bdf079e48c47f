"""BEGAN's model file (tinygen/models/began.py): the controller k_t, the convergence measure M and
the reconstruction loss are the paper's formulas (worked by hand on made-up numbers), k stays in
[0, 1] whatever the losses, and the networks' shapes and refusals."""
import math

import numpy as np
import pytest

import tinygen
from tinygen import nn
from tinygen.models.began import (LAMBDA_K, AutoencoderDiscriminator, Decoder, Generator, convergence_measure,
                                  reconstruction_loss, update_k)


def test_update_k_is_the_papers_proportional_step():
    """k_{t+1} = k_t + lambda_k (gamma L(x) - L(G(z))), by hand: 0.3 + 0.001 (0.5 * 0.2 - 0.05) = 0.30005,
    and downwards 0.3 + 0.001 (0.5 * 0.2 - 0.4) = 0.2997. gamma weighs L(x), not L(G(z))."""
    assert LAMBDA_K == 0.001
    assert update_k(0.3, 0.2, 0.05, gamma=0.5) == pytest.approx(0.30005, abs=1e-15)
    assert update_k(0.3, 0.2, 0.4, gamma=0.5) == pytest.approx(0.2997, abs=1e-15)
    assert update_k(0.3, 0.2, 0.05, gamma=0.5, lambda_k=0.1) == pytest.approx(0.305, abs=1e-15)
    assert update_k(0.0, 0.2, 0.1, gamma=0.5) == 0.0  # at equilibrium (0.5 * 0.2 = 0.1) k does not move


@pytest.mark.parametrize("k, loss_real, loss_fake, gamma, lambda_k, expected", [
    (0.9995, 1.0, 0.0, 1.0, 0.001, 1.0),   # 0.9995 + 0.001 = 1.0005: clipped to 1
    (0.0005, 0.0, 1.0, 0.5, 0.001, 0.0),   # 0.0005 - 0.001 = -0.0005: clipped to 0
    (0.5, 100.0, 0.0, 1.0, 1.0, 1.0),      # pushed far past 1
    (0.5, 0.0, 100.0, 1.0, 1.0, 0.0),      # pushed far past 0
    (1.0, 0.1, 0.01, 0.5, 0.001, 1.0),     # at 1 and pushed up: stays
    (0.0, 0.1, 0.2, 0.5, 0.001, 0.0),      # at 0 and pushed down: stays (k_0 = 0 with a good D)
])
def test_update_k_clips_to_the_unit_interval(k, loss_real, loss_fake, gamma, lambda_k, expected):
    assert update_k(k, loss_real, loss_fake, gamma, lambda_k) == expected


def test_k_stays_in_the_unit_interval_over_many_random_pushes():
    """10,000 steps of the controller on random losses with a large gain: k is in [0, 1] after every step,
    and reaches both ends (the clip is exercised, not avoided)."""
    rng = np.random.default_rng(0)
    k, seen = 0.0, []
    for loss_real, loss_fake in rng.uniform(0, 2, (10_000, 2)):
        k = update_k(k, float(loss_real), float(loss_fake), gamma=0.5, lambda_k=0.5)
        seen.append(k)
    assert 0.0 <= min(seen) and max(seen) <= 1.0
    assert seen.count(0.0) > 0 and seen.count(1.0) > 0


def test_convergence_measure_is_the_papers_m():
    """M = L(x) + |gamma L(x) - L(G(z))|: 0.2 + |0.1 - 0.05| = 0.25, 0.2 + |0.1 - 0.15| = 0.25 (both
    sides of the equilibrium count as far from it), and 0.2 at equilibrium."""
    assert convergence_measure(0.2, 0.05, gamma=0.5) == pytest.approx(0.25, abs=1e-15)
    assert convergence_measure(0.2, 0.15, gamma=0.5) == pytest.approx(0.25, abs=1e-15)
    assert convergence_measure(0.2, 0.1, gamma=0.5) == pytest.approx(0.2, abs=1e-15)
    assert convergence_measure(0.2, 0.1, gamma=0.7) == pytest.approx(0.24, abs=1e-15)


@pytest.mark.parametrize("bad", ["k", "loss_real", "loss_fake"])
def test_a_nan_never_enters_the_controller(bad):
    numbers = {"k": 0.5, "loss_real": 0.2, "loss_fake": 0.1, bad: math.nan}
    with pytest.raises(FloatingPointError, match=f"update_k: {bad} is nan"):
        update_k(numbers["k"], numbers["loss_real"], numbers["loss_fake"], gamma=0.5)


class Halve(nn.Module):
    """A stand-in D with a known reconstruction: D(v) = v / 2."""

    def forward(self, images):
        return images * 0.5


def test_reconstruction_loss_is_the_mean_absolute_error_per_image_then_over_the_batch():
    """L(v) = mean |v - D(v)| per image, averaged over images: with D(v) = v / 2, mean |v| / 2."""
    rng = np.random.default_rng(0)
    v = rng.uniform(-1, 1, (5, 1, 28, 28)).astype(np.float32)
    expected = np.mean([np.abs(image - image / 2).mean() for image in v])
    loss = reconstruction_loss(Halve(), tinygen.tensor(v))
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)


def test_the_networks_shapes():
    tinygen.manual_seed(0)
    G, D = Generator(latent_dim=8, width=4), AutoencoderDiscriminator(code_dim=8, width=4)
    images = G(tinygen.randn(3, 8))
    assert images.shape == (3, 1, 28, 28)
    assert -1 <= images.numpy().min() and images.numpy().max() <= 1  # tanh
    assert D(images).shape == (3, 1, 28, 28)
    assert D.encoder(images).shape == (3, 8)
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in [*G.modules(), *D.modules()])
    assert type(G.decoder) is type(D.decoder) is Decoder  # G has D's decoder's architecture, its own weights
    assert [p.shape for p in G.decoder.parameters()] == [p.shape for p in D.decoder.parameters()]


def test_bad_inputs_name_the_layer_and_the_shapes():
    D = AutoencoderDiscriminator(code_dim=8, width=4)
    with pytest.raises(ValueError, match=r"AutoencoderDiscriminator: expected images of shape \(N, 1, 28, 28\), got "
                                         r"\(3, 784\)"):
        D(tinygen.zeros(3, 784))
    with pytest.raises(TypeError, match="AutoencoderDiscriminator: expected images as a Tensor"):
        D(np.zeros((3, 1, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match=r"Decoder: expected codes of shape \(N, 8\), got \(3, 9\)"):
        Generator(latent_dim=8, width=4)(tinygen.zeros(3, 9))
    with pytest.raises(ValueError, match=r"reconstruction_loss: expected images of shape \(N, 1, 28, 28\)"):
        reconstruction_loss(D, tinygen.zeros(3, 1, 32, 32))
