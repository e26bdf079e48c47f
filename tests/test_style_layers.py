"""The style layers (tinygen/nn/style.py): gradients, PyTorch parity, and what defines each."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn
from tinygen.gradcheck import gradcheck

from strategies import leaf, medium, normal_arrays
from test_gradcheck_layers import to_float64

rng = np.random.default_rng(0)


# ---------------------------------------------------------------------------------------------
# Gradients


@medium
@given(st.data(), st.booleans())
def test_pixel_norm_gradcheck(data, images):
    x = leaf(data.draw(normal_arrays((2, 3, 2, 2) if images else (3, 4))))
    assert gradcheck(lambda *_: nn.PixelNorm()(x), [x])


@medium
@given(st.data(), st.integers(1, 3), st.integers(1, 3))
def test_instance_norm_gradcheck(data, n, c):
    x = leaf(data.draw(normal_arrays((n, c, 2, 3))))
    assert gradcheck(lambda *_: nn.InstanceNorm2d(c)(x), [x])


@medium
@given(st.data(), st.integers(1, 3), st.integers(1, 3), st.integers(1, 4))
def test_adain_gradcheck(data, n, c, style_dim):
    tg.manual_seed(data.draw(st.integers(0, 1000)))
    layer = to_float64(nn.AdaIN(c, style_dim))
    x = leaf(data.draw(normal_arrays((n, c, 2, 2))))
    w = leaf(data.draw(normal_arrays((n, style_dim))))
    assert gradcheck(lambda *_: layer(x, w), [x, w, layer.affine.weight, layer.affine.bias])


@medium
@given(st.data(), st.integers(1, 3), st.integers(1, 3))
def test_noise_injection_gradcheck(data, n, c):
    layer = to_float64(nn.NoiseInjection(c))
    layer.weight.data[...] = data.draw(normal_arrays((c,)))
    x = leaf(data.draw(normal_arrays((n, c, 2, 3))))
    noise = tg.tensor(data.draw(normal_arrays((n, 1, 2, 3))))
    assert gradcheck(lambda *_: layer(x, noise), [x, layer.weight])


# ---------------------------------------------------------------------------------------------
# PyTorch


def test_pixel_norm_matches_the_torch_formula():
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 5, 4, 4))
    tx = torch.tensor(x)
    expected = tx * torch.rsqrt(tx.pow(2).mean(dim=1, keepdim=True) + 1e-8)
    np.testing.assert_allclose(nn.PixelNorm()(tg.tensor(x)).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


def test_instance_norm_matches_torch_in_float32_with_the_gradient():
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    upstream = rng.standard_normal(x.shape).astype(np.float32)
    ours_x = tg.tensor(x, requires_grad=True)
    ours = nn.InstanceNorm2d(4)(ours_x)
    (ours * tg.tensor(upstream)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    theirs = torch.nn.InstanceNorm2d(4)(tx)
    (theirs * torch.tensor(upstream)).sum().backward()
    assert ours.dtype == "float32"
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours_x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# What defines them


def test_pixel_norm_gives_unit_mean_square_over_channels_at_every_pixel():
    for shape in [(4, 6, 3, 5), (7, 9)]:
        y = nn.PixelNorm()(tg.tensor(3 * rng.standard_normal(shape))).numpy()
        np.testing.assert_allclose((y ** 2).mean(axis=1), 1.0, atol=1e-5)


def test_adain_output_has_the_style_mean_and_std_per_channel():
    tg.manual_seed(3)
    layer = to_float64(nn.AdaIN(4, 6))
    layer.affine.weight.data *= 5  # scales far from 1, some negative: |y_s| is what the std must be
    x, w = tg.tensor(2 + 3 * rng.standard_normal((5, 4, 6, 6))), tg.tensor(rng.standard_normal((5, 6)))
    scale, bias = layer.style(w)
    assert (scale.numpy() < 0).any()
    y = layer(x, w).numpy()
    np.testing.assert_allclose(y.mean(axis=(2, 3)), bias.numpy(), atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(2, 3)), np.abs(scale.numpy()), atol=1e-4)


def test_adain_starts_with_scale_one_and_bias_zero_from_the_linear_bias():
    layer = nn.AdaIN(3, 5)
    np.testing.assert_array_equal(layer.affine.bias.numpy(), [1, 1, 1, 0, 0, 0])
    scale, bias = layer.style(tg.zeros(2, 5))
    np.testing.assert_array_equal(scale.numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(bias.numpy(), np.zeros((2, 3)))


def test_noise_injection_starts_as_the_identity():
    x = tg.randn(2, 3, 4, 4)
    np.testing.assert_array_equal(nn.NoiseInjection(3)(x).numpy(), x.numpy())


def test_noise_injection_with_passed_noise_adds_the_channel_scaled_map():
    layer = nn.NoiseInjection(3)
    layer.weight.data[...] = np.array([0.5, -2.0, 3.0], dtype=np.float32)
    x, noise = tg.randn(2, 3, 4, 4), tg.randn(2, 1, 4, 4)
    expected = x.numpy() + layer.weight.numpy().reshape(1, 3, 1, 1) * noise.numpy()
    np.testing.assert_array_equal(layer(x, noise).numpy(), expected)


def test_noise_injection_shares_one_noise_map_across_channels_and_seeding_repeats_it():
    layer = nn.NoiseInjection(3)
    layer.weight.data[...] = np.array([1.0, 2.0, -4.0], dtype=np.float32)
    x = tg.zeros(2, 3, 5, 5)
    tg.manual_seed(7)
    first = layer(x).numpy()
    per_channel = first / layer.weight.numpy().reshape(1, 3, 1, 1)
    np.testing.assert_allclose(per_channel[:, 1], per_channel[:, 0], rtol=1e-6)
    np.testing.assert_allclose(per_channel[:, 2], per_channel[:, 0], rtol=1e-6)
    assert not np.allclose(per_channel[0, 0], per_channel[1, 0])  # each sample its own map
    tg.manual_seed(7)
    np.testing.assert_array_equal(layer(x).numpy(), first)


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("make, message", [
    (lambda: nn.PixelNorm(eps=0), r"PixelNorm\(eps=0\): eps must be > 0, got 0"),
    (lambda: nn.PixelNorm(eps=-1), r"PixelNorm\(eps=-1\): eps must be > 0, got -1"),
    (lambda: nn.InstanceNorm2d(3, eps=0.0), r"InstanceNorm2d\(3, eps=0.0\): eps must be > 0, got 0.0"),
])
def test_an_eps_that_is_not_positive_is_refused(make, message):
    """As BatchNorm's: eps = 0 would divide a constant map by 0 (a NaN), a negative eps worse."""
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_input_is_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"PixelNorm\(eps=1e-08\): expected input of shape \(N, F\) or \(N, C, H, W\), got \(2, 3, 4\)"):
        nn.PixelNorm()(tg.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"InstanceNorm2d\(3, eps=1e-05\): expected input of shape \(N, 3, H, W\), got \(2, 3, 4\)"):
        nn.InstanceNorm2d(3)(tg.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"InstanceNorm2d\(3, eps=1e-05\): expected input of shape \(N, 3, H, W\), got \(2, 4, 5, 5\)"):
        nn.InstanceNorm2d(3)(tg.zeros(2, 4, 5, 5))
    adain = nn.AdaIN(3, 5)
    with pytest.raises(ValueError, match=r"AdaIN\(3, style_dim=5\): input and style w must have the same batch size, got 2 and 4"):
        adain(tg.zeros(2, 3, 4, 4), tg.zeros(4, 5))
    with pytest.raises(ValueError, match=r"AdaIN\(3, style_dim=5\): expected input of shape \(N, 3, H, W\), got \(2, 2, 4, 4\)"):
        adain(tg.zeros(2, 2, 4, 4), tg.zeros(2, 5))
    with pytest.raises(ValueError, match=r"AdaIN\(3, style_dim=5\): expected style w of shape \(N, 5\), got \(2, 6\)"):
        adain(tg.zeros(2, 3, 4, 4), tg.zeros(2, 6))
    with pytest.raises(ValueError, match=r"NoiseInjection\(3\): expected input of shape \(N, 3, H, W\), got \(2, 4, 4, 4\)"):
        nn.NoiseInjection(3)(tg.zeros(2, 4, 4, 4))
    with pytest.raises(ValueError, match=r"NoiseInjection\(3\): expected noise of shape \(2, 1, 4, 4\), got \(2, 3, 4, 4\)"):
        nn.NoiseInjection(3)(tg.zeros(2, 3, 4, 4), tg.zeros(2, 3, 4, 4))


def test_bad_arguments_are_refused_when_the_layer_is_made():
    with pytest.raises((TypeError, ValueError), match="InstanceNorm2d"):
        nn.InstanceNorm2d(0)
    with pytest.raises((TypeError, ValueError), match="AdaIN"):
        nn.AdaIN(3, 2.5)
    with pytest.raises((TypeError, ValueError), match="NoiseInjection"):
        nn.NoiseInjection("3")
    with pytest.raises(TypeError, match="PixelNorm"):
        nn.PixelNorm(eps="small")
