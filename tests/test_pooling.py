"""MaxPool2d, AvgPool2d, Upsample and their functional forms: gradients, second gradients, parity
with PyTorch, ties and NaNs, and the refusals of bad arguments and inputs."""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from strategies import costly, distinct_arrays, leaf, medium, normal_arrays
from tinygen import nn
from tinygen.functional.pooling import pooled_size
from tinygen.gradcheck import gradcheck, gradgradcheck

esc = re.escape


@st.composite
def pool_configs(draw, max_side=7):
    """A pooling window with per-axis kernel, stride and padding (padding <= kernel // 2, as PyTorch
    requires), ceil_mode, count_include_pad, and an input shape in which at least one window fits."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    ceil_mode, count_include_pad = draw(st.booleans()), draw(st.booleans())
    h, w = (draw(st.integers(max(1, k - 2 * p), max_side)) for k, p in zip(kernel, padding))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w)
    return dict(kernel=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                count_include_pad=count_include_pad, shape=shape)


def max_pool(x, c):
    return F.max_pool2d(x, c["kernel"], c["stride"], c["padding"], c["ceil_mode"])


def avg_pool(x, c):
    return F.avg_pool2d(x, c["kernel"], c["stride"], c["padding"], c["ceil_mode"], c["count_include_pad"])


# ---------------------------------------------------------------------------------------------
# Shapes and values on small cases worked by hand


def test_max_and_avg_of_two_by_two_windows():
    x = tg.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(F.max_pool2d(x, 2).numpy(), [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(F.avg_pool2d(x, 2).numpy(), [[[[2.5, 4.5], [10.5, 12.5]]]])
    np.testing.assert_array_equal(F.interpolate(tg.tensor([[[[1.0, 2.0]]]]), scale_factor=2).numpy(),
                                  [[[[1, 1, 2, 2], [1, 1, 2, 2]]]])


def test_geron_conv_autoencoder_shapes():
    """28 -> 14 -> 7 -> 3 by 2x2 pools (floor), 28 -> 14 -> 7 -> 4 with ceil_mode; 7 -> 14 -> 28 up."""
    x = tg.zeros(2, 16, 28, 28)
    for ceil_mode, sizes in ((False, (14, 7, 3)), (True, (14, 7, 4))):
        y = x
        for size in sizes:
            y = nn.MaxPool2d(2, ceil_mode=ceil_mode)(y)
            assert y.shape == (2, 16, size, size)
    assert nn.Upsample(scale_factor=2)(nn.Upsample(scale_factor=2)(tg.zeros(2, 16, 7, 7))).shape == (2, 16, 28, 28)


@medium
@given(st.integers(1, 30), st.integers(1, 5), st.integers(1, 4), st.integers(0, 2), st.booleans())
def test_pooled_size_matches_the_windows_that_fit(size, kernel, stride, padding, ceil_mode):
    """Floor mode: the windows that fit inside the padded input. Ceil mode: one more when some input is
    left over, unless that window would start in the right padding (PyTorch's rule)."""
    padding = min(padding, kernel // 2)
    if size + 2 * padding < kernel:
        return
    starts = range(0, size + 2 * padding, stride)
    fitting = [s for s in starts if s + kernel <= size + 2 * padding]
    expected = len(fitting)
    if ceil_mode and fitting[-1] + kernel < size + 2 * padding and fitting[-1] + stride < size + padding:
        expected += 1
    assert pooled_size(size, kernel, stride, padding, ceil_mode) == expected


# ---------------------------------------------------------------------------------------------
# Gradients (float64, every element) and second gradients


@costly
@given(st.data(), pool_configs(max_side=6))
def test_max_pool2d_gradient(data, c):
    x = data.draw(distinct_arrays(c["shape"]))  # no ties: the max's gradient jumps at a tie
    assert gradcheck(lambda x: max_pool(x, c), [leaf(x)])


@costly
@given(st.data(), pool_configs(max_side=6))
def test_avg_pool2d_gradient(data, c):
    x = data.draw(normal_arrays(c["shape"]))
    assert gradcheck(lambda x: avg_pool(x, c), [leaf(x)])


@costly
@given(st.data(), st.integers(1, 3), st.integers(1, 3))
def test_interpolate_gradient(data, sh, sw):
    x = data.draw(normal_arrays((2, 2, 3, 2)))
    assert gradcheck(lambda x: F.interpolate(x, scale_factor=(sh, sw)), [leaf(x)])


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", [(2, 2, 0, False), (3, 2, 1, True), ((3, 2), 1, (1, 0), False)])
def test_second_derivatives(kernel, stride, padding, ceil_mode):
    """d/dx of a gradient built with create_graph=True: each pooling's adjoint is differentiated in turn."""
    x = np.random.default_rng(0).permutation(2 * 2 * 5 * 5).reshape(2, 2, 5, 5) / 10.0  # distinct values
    assert gradgradcheck(lambda x: F.tanh(F.max_pool2d(x, kernel, stride, padding, ceil_mode)), [leaf(x)])
    assert gradgradcheck(lambda x: F.max_pool2d(F.tanh(x), kernel, stride, padding, ceil_mode) ** 2, [leaf(x)])
    for include in (True, False):
        assert gradgradcheck(lambda x: F.tanh(F.avg_pool2d(x, kernel, stride, padding, ceil_mode, include)), [leaf(x)])
    assert gradgradcheck(lambda x: F.sigmoid(F.interpolate(x, scale_factor=(2, 3))), [leaf(x)])


def test_the_layers_gradients():
    x = np.random.default_rng(1).permutation(2 * 3 * 6 * 7).reshape(2, 3, 6, 7) / 20.0
    for layer in (nn.MaxPool2d(3, 2, 1), nn.AvgPool2d((2, 3), padding=(1, 1), count_include_pad=False),
                  nn.Upsample(scale_factor=2)):
        assert layer.parameters() == [] and layer.state_dict() == {}
        assert gradcheck(lambda x: layer(x), [leaf(x)])


def test_upsampling_gradient_adds_up_each_block():
    """interpolate's gradient is s*s times average pooling over the s x s blocks (its adjoint)."""
    x, g = leaf(np.zeros((2, 3, 4, 5))), np.random.default_rng(2).standard_normal((2, 3, 8, 15))
    F.interpolate(x, scale_factor=(2, 3)).backward(g)
    np.testing.assert_allclose(x.grad.numpy(), 6 * F.avg_pool2d(tg.tensor(g), (2, 3)).numpy(), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Parity with PyTorch


@costly
@given(pool_configs(), st.integers(0, 2**31), st.sampled_from(["max", "avg"]))
def test_parity_with_torch(c, seed, op):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(c["shape"])
    xt, xg = torch.tensor(x, requires_grad=True), leaf(x)
    if op == "max":
        yt = torch.nn.functional.max_pool2d(xt, c["kernel"], c["stride"], c["padding"], ceil_mode=c["ceil_mode"])
        yg = max_pool(xg, c)
    else:
        yt = torch.nn.functional.avg_pool2d(xt, c["kernel"], c["stride"], c["padding"], ceil_mode=c["ceil_mode"],
                                            count_include_pad=c["count_include_pad"])
        yg = avg_pool(xg, c)
    assert yg.shape == tuple(yt.shape)
    g = rng.standard_normal(yg.shape)
    yt.backward(torch.tensor(g))
    yg.backward(g)
    np.testing.assert_allclose(yg.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make", [lambda m: m.MaxPool2d(2), lambda m: m.MaxPool2d(3, stride=2, padding=1),
                                  lambda m: m.AvgPool2d(2), lambda m: m.AvgPool2d(3, 2, 1, ceil_mode=True),
                                  lambda m: m.Upsample(scale_factor=2), lambda m: m.Upsample(scale_factor=(1, 3))],
                         ids=["max2", "max3s2p1", "avg2", "avg3s2p1ceil", "up2", "up1x3"])
def test_layers_float32_parity_with_torch(make):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 7, 6)).astype(np.float32)
    xt, xg = torch.tensor(x, requires_grad=True), tg.Tensor(x.copy(), requires_grad=True)
    yt, yg = make(torch.nn)(xt), make(nn)(xg)
    g = rng.standard_normal(yg.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    yg.backward(g)
    assert yg.dtype == np.float32 and xg.grad.dtype == np.float32
    np.testing.assert_allclose(yg.numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_a_tie_sends_the_gradient_to_the_first_max_as_torch():
    """Windows of equal values (zeros after a ReLU): the whole gradient goes to the first of them,
    in row-major order, not shared out (PyTorch's max_pool2d does the same)."""
    torch = pytest.importorskip("torch")
    x = np.zeros((1, 1, 4, 6))
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = 1.0  # a tie at the top of the first window
    xt, xg = torch.tensor(x, requires_grad=True), leaf(x)
    torch.nn.functional.max_pool2d(xt, 2).sum().backward()
    F.max_pool2d(xg, 2).sum().backward()
    np.testing.assert_array_equal(xg.grad.numpy(), xt.grad.numpy())
    assert xg.grad.numpy()[0, 0, 0, 1] == 1 and xg.grad.numpy()[0, 0, 1, 1] == 0


def test_a_nan_in_a_window_is_the_max_as_torch():
    """No NaN passes silently: a window holding a NaN pools to NaN, and the gradient goes to it."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 2, 1] = np.nan
    xg = leaf(x)
    y = F.max_pool2d(xg, 2)
    assert np.isnan(y.numpy()[0, 0, 1, 0]) and np.isnan(y.numpy()).sum() == 1
    y.backward(np.ones(y.shape))
    assert xg.grad.numpy()[0, 0, 2, 1] == 1
    assert np.isnan(F.avg_pool2d(tg.tensor(x), 2).numpy()[0, 0, 1, 0])


def test_an_empty_batch_pools_to_an_empty_batch():
    assert F.max_pool2d(tg.zeros(0, 3, 4, 4), 2).shape == (0, 3, 2, 2)
    assert F.avg_pool2d(tg.zeros(0, 3, 4, 4), 2).shape == (0, 3, 2, 2)


def test_pooling_keeps_the_dtype_and_the_version_check():
    x = tg.Tensor(np.ones((1, 1, 4, 4), dtype=np.float32), requires_grad=True)
    assert F.max_pool2d(x, 2).dtype == np.float32 and F.avg_pool2d(x, 2).dtype == np.float32
    y = x * 1.0
    out = F.max_pool2d(y, 2).sum()
    with tg.no_grad():
        y.mul_(2.0)  # the argmax saved by the forward no longer describes y
    with pytest.raises(RuntimeError, match="MaxPool2d.backward: input 0 .* was changed in place after the forward"):
        out.backward()


# ---------------------------------------------------------------------------------------------
# Bad arguments and inputs: named, with what was expected and what came


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.MaxPool2d(0), ValueError, "MaxPool2d(kernel_size=0, stride=None, padding=0): kernel_size must be >= 1, got 0"),
    (lambda: nn.AvgPool2d(2, stride=0), ValueError, "AvgPool2d(kernel_size=2, stride=0, padding=0): stride must be >= 1, got 0"),
    (lambda: nn.MaxPool2d(2, padding=-1), ValueError, "MaxPool2d(kernel_size=2, stride=None, padding=-1): padding must be >= 0, got -1"),
    (lambda: nn.MaxPool2d(3, padding=2), ValueError,
     "MaxPool2d(kernel_size=3, stride=None, padding=2): padding must be at most half the kernel size, got padding=(2, 2) "
     "for kernel_size=(3, 3)"),
    (lambda: nn.AvgPool2d((2, 2, 2)), ValueError, "AvgPool2d(kernel_size=(2, 2, 2), stride=None, padding=0): kernel_size "
                                                  "must be an int or a pair of ints, got (2, 2, 2)"),
    (lambda: nn.MaxPool2d(2.5), TypeError, "MaxPool2d(kernel_size=2.5, stride=None, padding=0): kernel_size must be an "
                                           "int, got float 2.5"),
    (lambda: nn.MaxPool2d(2, ceil_mode="yes"), TypeError, "ceil_mode must be True or False, got 'yes'"),
    (lambda: nn.AvgPool2d(2, count_include_pad=None), TypeError, "count_include_pad must be True or False, got None"),
    (lambda: F.max_pool2d(tg.zeros(1, 1, 4, 4), 2, stride=(1, 0)), ValueError, "max_pool2d: stride must be >= 1, got 0"),
    (lambda: F.max_pool2d([[1.0]], 2), TypeError, "max_pool2d(): argument 'input' must be Tensor, not list"),
    (lambda: F.avg_pool2d(tg.zeros(3, 4, 4), 2), ValueError, "avg_pool2d: expected input of shape (N, C, H, W), got (3, 4, 4)"),
    (lambda: F.max_pool2d(tg.tensor(np.zeros((1, 1, 4, 4), dtype=np.uint8)), 2), TypeError,
     "max_pool2d: expected a floating-point tensor, got dtype uint8; convert it with x.float()"),
    (lambda: F.max_pool2d(tg.zeros(1, 1, 2, 5), 3), ValueError,
     "max_pool2d: input (1, 1, 2, 5) is smaller than the 3 x 3 window (with padding (0, 0)): the output would be 0 x 1"),
    (lambda: nn.MaxPool2d(2)(tg.zeros(8, 28, 28)), ValueError,
     "MaxPool2d(kernel_size=2, stride=2, padding=0, ceil_mode=False): expected input of shape (N, C, H, W), got (8, 28, 28)"),
    (lambda: nn.AvgPool2d(4)(tg.zeros(1, 1, 3, 3)), ValueError,
     "AvgPool2d(kernel_size=4, stride=4, padding=0, ceil_mode=False, count_include_pad=True): input (1, 1, 3, 3) is "
     "smaller than the 4 x 4 window"),
    (lambda: nn.MaxPool2d(2)(np.zeros((1, 1, 4, 4))), TypeError,
     "MaxPool2d(kernel_size=2, stride=2, padding=0, ceil_mode=False): expected a Tensor input, got ndarray"),
])
def test_pooling_refuses(call, error, message):
    with pytest.raises(error, match=esc(message)):
        call()


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(scale_factor=1.5), ValueError, "Upsample: scale_factor must be a whole number (nearest upsampling repeats "
                                         "each pixel), got 1.5"),
    (dict(scale_factor=0), ValueError, "Upsample: scale_factor must be >= 1, got 0"),
    (dict(scale_factor=(2, 2, 2)), ValueError, "Upsample: scale_factor must be a number or a pair, got (2, 2, 2)"),
    (dict(scale_factor="2"), TypeError, "Upsample: scale_factor must be an int, got str '2'"),
    (dict(), ValueError, "Upsample: give scale_factor (a whole number such as 2)"),
    (dict(size=(28, 28)), NotImplementedError, "Upsample: size= is not implemented; give a whole scale_factor instead"),
    (dict(scale_factor=2, mode="bilinear"), NotImplementedError,
     "Upsample: mode='bilinear' is not implemented; tinygen has mode='nearest'"),
    (dict(scale_factor=2, mode="nearst"), ValueError, "Upsample: unknown mode 'nearst'; tinygen has mode='nearest'"),
])
def test_upsample_refuses(kwargs, error, message):
    with pytest.raises(error, match=esc(message)):
        nn.Upsample(**kwargs)
    with pytest.raises(error, match=esc(message.replace("Upsample", "interpolate"))):
        F.interpolate(tg.zeros(1, 1, 2, 2), **kwargs)


def test_upsample_takes_what_pytorch_takes():
    assert nn.Upsample(scale_factor=2.0)(tg.zeros(1, 1, 2, 3)).shape == (1, 1, 4, 6)
    assert F.interpolate(tg.zeros(1, 1, 2, 3), scale_factor=[3, 1]).shape == (1, 1, 6, 3)
    assert F.interpolate(tg.tensor(np.ones((1, 1, 1, 1), dtype=np.uint8)), scale_factor=2).dtype == np.uint8
    assert repr(nn.Upsample(scale_factor=2.0)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, ceil_mode=False)"
    with pytest.raises(ValueError, match=esc("interpolate: expected input of shape (N, C, H, W), got (2, 2)")):
        F.interpolate(tg.zeros(2, 2), scale_factor=2)
