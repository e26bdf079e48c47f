"""The denoising autoencoder: its corruptions, and on real digits (slow tier) the property that
defines it: fed corrupted held-out digits, it gives back images nearer the clean ones than a plain
autoencoder of the same shape trained on clean digits, and far nearer than the corrupted input (a
copier's answer)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen
from tinygen.models.autoencoder import Autoencoder
from tinygen.models.denoising_autoencoder import corrupt, gaussian_noise, masking_noise

from autoencoder_training import digits, mse, outputs, train_with_step
from autoencoder_mnist import autoencoder_step
from denoising_autoencoder_mnist import denoising_step
from strategies import cheap

CODE = 1000  # the size of the overcomplete plain autoencoder, which learns to copy
STEPS = 400  # batches of 32
LEVELS = {"gaussian": 0.5, "masking": 0.3}  # the Keras blog's sigma, Vincent's p
# Measured after 400 steps: gaussian 0.023 against the plain one's 0.086; masking 0.0155 against
# 0.0165 (a plain autoencoder this briefly trained still fills in missing pixels a little).
BEATS_BY = {"gaussian": 0.5, "masking": 0.97}


@cheap
@given(st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_masking_zeroes_a_fraction_p_and_keeps_the_rest_unscaled(p, seed):
    x = tinygen.tensor(np.random.default_rng(seed).uniform(0.1, 1, size=(50, 40)).astype(np.float32))
    y = masking_noise(x, p, generator=np.random.default_rng(seed)).numpy()
    zeroed = y == 0
    assert abs(zeroed.mean() - p) < 0.05  # 2000 draws: 0.05 is over four standard deviations
    np.testing.assert_array_equal(y[~zeroed], x.numpy()[~zeroed])  # no 1 / (1 - p), unlike dropout


@cheap
@given(st.floats(0, 2), st.integers(0, 2**32 - 1))
def test_gaussian_noise_adds_sigma_eps_and_clips_to_0_1(sigma, seed):
    x = tinygen.tensor(np.random.default_rng(seed).uniform(0, 1, size=(50, 40)).astype(np.float32))
    y = gaussian_noise(x, sigma, generator=np.random.default_rng(seed + 1)).numpy()
    eps = np.random.default_rng(seed + 1).standard_normal((50, 40), dtype=np.float32)
    np.testing.assert_allclose(y, np.clip(x.numpy() + np.float32(sigma) * eps, 0, 1), rtol=1e-6)


def test_a_seeded_draw_repeats_and_the_training_draw_follows_manual_seed():
    x = tinygen.rand(8, 1, 28, 28)
    for noise, level in LEVELS.items():
        a = corrupt(x, noise, level, np.random.default_rng(5)).numpy()
        np.testing.assert_array_equal(a, corrupt(x, noise, level, np.random.default_rng(5)).numpy())
        tinygen.manual_seed(3)
        b = corrupt(x, noise, level).numpy()
        tinygen.manual_seed(3)
        np.testing.assert_array_equal(b, corrupt(x, noise, level).numpy())
        assert not corrupt(x, noise, level).requires_grad


def test_corruptions_refuse_bad_arguments():
    x = tinygen.rand(2, 3)
    with pytest.raises(ValueError, match=r"masking_noise: p must be in \[0, 1\], got 1.5"):
        masking_noise(x, 1.5)
    with pytest.raises(ValueError, match=r"gaussian_noise: sigma must be in \[0, inf\], got -0.1"):
        gaussian_noise(x, -0.1)
    with pytest.raises(TypeError, match="gaussian_noise: sigma must be a real number, got NoneType None"):
        gaussian_noise(x, None)
    with pytest.raises(TypeError, match=r"masking_noise\(\): argument 'input' must be Tensor, not ndarray"):
        masking_noise(x.numpy(), 0.3)
    with pytest.raises(ValueError, match="corrupt: noise must be one of gaussian, masking, got 'salt'"):
        corrupt(x, "salt", 0.1)


# --- on real digits (slow tier: python -m pytest -m slow): three trainings of 400 steps, 10 s on one
# core. The default tier pins the step itself (tests/test_denoising_step.py).


def trained(images, noise=None, seed=0):
    """The plain overcomplete autoencoder, fed corrupt(x) (the denoiser) or x (plain), BCE against x."""
    tinygen.manual_seed(seed)
    model = Autoencoder(CODE)
    if noise is None:
        return train_with_step(model, images, STEPS, lambda m, opt, x: autoencoder_step(m, opt, x, "bce"))
    return train_with_step(model, images, STEPS, lambda m, opt, x: denoising_step(m, opt, x, noise, LEVELS[noise]))


@pytest.fixture(scope="module")
def models(mnist_dir):
    train_images, held_out, _, _ = digits(mnist_dir)
    return held_out, {kind: trained(train_images, kind) for kind in (None, "gaussian", "masking")}


@pytest.mark.slow
@pytest.mark.parametrize("noise", ["gaussian", "masking"])
def test_the_denoiser_beats_a_plain_autoencoder_of_its_shape_on_the_same_corrupted_digits(models, noise):
    held_out, trained_models = models
    noisy = corrupt(tinygen.tensor(held_out), noise, LEVELS[noise], np.random.default_rng(1))
    denoised, plain = outputs(trained_models[noise], noisy), outputs(trained_models[None], noisy)
    errors = {"corrupted input": mse(noisy.numpy(), held_out), "plain": mse(plain, held_out),
              "denoiser": mse(denoised, held_out)}
    print(f"\n{noise}: MSE to the clean held-out digits {errors}; "
          f"denoiser's output to its input {mse(denoised, noisy.numpy()):.4f}")
    assert errors["denoiser"] < BEATS_BY[noise] * errors["plain"]
    assert errors["denoiser"] < 0.5 * errors["corrupted input"]  # a copier's error is the input's
