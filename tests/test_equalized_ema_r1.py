"""The equalised learning rate layers (tinygen/nn/equalized.py): gradients, parity with the plain
torch op on weight * c, and what defines them: the stored weight is N(0, 1), the scale c is applied
at run time, so an SGD step moves the stored weight by c times the scaled layer's gradient."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn, optim
from tinygen.gradcheck import gradcheck

from strategies import leaf, medium, normal_arrays
from test_gradcheck_layers import to_float64


def eq_linear(a=5, b=3, m=1.0, seed=0):
    tg.manual_seed(seed)
    layer = to_float64(nn.EqualizedLinear(a, b, lr_multiplier=m))
    layer.bias.data[...] = np.random.default_rng(seed).standard_normal(b)  # a nonzero bias, to be seen
    return layer


def eq_conv(cin=2, cout=3, k=3, stride=1, padding=1, seed=0):
    tg.manual_seed(seed)
    layer = to_float64(nn.EqualizedConv2d(cin, cout, k, stride=stride, padding=padding))
    layer.bias.data[...] = np.random.default_rng(seed).standard_normal(cout)
    return layer


@medium
@given(st.data(), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.sampled_from([1.0, 0.01]))
def test_equalized_linear_gradcheck(data, n, a, b, m):
    layer = eq_linear(a, b, m, seed=data.draw(st.integers(0, 1000)))
    x = leaf(data.draw(normal_arrays((n, a))))
    assert gradcheck(lambda *_: layer(x), [x, layer.weight, layer.bias])


@medium
@given(st.data(), st.integers(1, 2), st.integers(1, 2), st.integers(1, 3), st.sampled_from([(1, 0), (2, 1)]))
def test_equalized_conv2d_gradcheck(data, cin, cout, k, stride_padding):
    stride, padding = stride_padding
    layer = eq_conv(cin, cout, k, stride, padding, seed=data.draw(st.integers(0, 1000)))
    x = leaf(data.draw(normal_arrays((2, cin, 4, 4))))
    assert gradcheck(lambda *_: layer(x), [x, layer.weight, layer.bias])


def test_equalized_linear_matches_torch_linear_on_the_scaled_weight():
    torch = pytest.importorskip("torch")
    layer, x = eq_linear(6, 4, m=0.01), np.random.default_rng(1).standard_normal((5, 6))
    c = 0.01 * math.sqrt(2 / 6)
    expected = torch.nn.functional.linear(torch.tensor(x), torch.tensor(layer.weight.data) * c,
                                          torch.tensor(layer.bias.data) * 0.01)
    np.testing.assert_allclose(layer(tg.tensor(x)).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


def test_equalized_conv2d_matches_torch_conv2d_on_the_scaled_weight():
    torch = pytest.importorskip("torch")
    layer, x = eq_conv(3, 4, 3, stride=2, padding=1), np.random.default_rng(2).standard_normal((2, 3, 7, 7))
    c = math.sqrt(2 / (3 * 3 * 3))
    expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(layer.weight.data) * c,
                                          torch.tensor(layer.bias.data), stride=2, padding=1)
    np.testing.assert_allclose(layer(tg.tensor(x)).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


def test_the_stored_weight_is_unit_normal_and_the_bias_zero():
    """The scale is NOT folded into the stored weights: std near 1 (1 / m for the linear one)."""
    tg.manual_seed(3)
    conv = nn.EqualizedConv2d(64, 64, 3)  # 36864 draws: std within a few per cent of 1
    assert conv.weight.data.std() == pytest.approx(1, abs=0.03) and conv.weight_scale == pytest.approx(math.sqrt(2 / 576))
    np.testing.assert_array_equal(conv.bias.data, 0)
    linear = nn.EqualizedLinear(256, 128, lr_multiplier=0.01)
    assert linear.weight.data.std() == pytest.approx(100, rel=0.03)
    assert linear.weight_scale == pytest.approx(0.01 * math.sqrt(2 / 256))
    np.testing.assert_array_equal(linear.bias.data, 0)


@pytest.mark.parametrize("make, x_shape", [(lambda: eq_linear(6, 4, m=0.1), (5, 6)),
                                           (lambda: eq_conv(2, 3, 3), (2, 2, 5, 5))])
def test_an_sgd_step_moves_the_stored_weight_by_c_times_the_scaled_gradient(make, x_shape):
    """With W_eff = c W, dL/dW = c dL/dW_eff: the stored weight moves by lr * c * (gradient w.r.t. W_eff)."""
    torch = pytest.importorskip("torch")
    layer, x = make(), np.random.default_rng(4).standard_normal(x_shape)
    c, before = layer.weight_scale, layer.weight.data.copy()
    run_time_bias = layer.bias.data * getattr(layer, "lr_multiplier", 1.0)  # as the forward pass uses it
    opt = optim.SGD(layer.parameters(), lr=0.1)
    (layer(tg.tensor(x)) ** 2).sum().backward()
    opt.step()
    w_eff = torch.tensor(before * c, requires_grad=True)  # the plain layer with the scaled weight
    if len(x_shape) == 2:
        out = torch.nn.functional.linear(torch.tensor(x), w_eff, torch.tensor(run_time_bias))
    else:
        out = torch.nn.functional.conv2d(torch.tensor(x), w_eff, torch.tensor(run_time_bias), padding=1)
    (out ** 2).sum().backward()
    np.testing.assert_allclose(layer.weight.data - before, -0.1 * c * w_eff.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_equalized_bad_input_is_named():
    with pytest.raises(ValueError, match=r"EqualizedLinear\(in_features=5, out_features=3, bias=True, "
                                         r"lr_multiplier=1.0\): expected input of shape \(..., 5\), got \(2, 4\)"):
        eq_linear()(tg.zeros(2, 4, dtype="float64"))
    with pytest.raises(ValueError, match=r"lr_multiplier must be > 0, got 0"):
        nn.EqualizedLinear(3, 2, lr_multiplier=0)
    with pytest.raises(ValueError, match=r"EqualizedConv2d\(2, 3, kernel_size=\(3, 3\), stride=1, padding=1\): "
                                         r"expected input of shape \(N, 2, H, W\), got \(1, 3, 4, 4\)"):
        eq_conv()(tg.zeros(1, 3, 4, 4, dtype="float64"))
    with pytest.raises(ValueError, match=r"EqualizedConv2d\(0, 3, .*in_channels must be >= 1, got 0"):
        nn.EqualizedConv2d(0, 3, 3)
