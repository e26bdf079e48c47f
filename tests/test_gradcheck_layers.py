"""Gradient checks of every layer in tinygen.nn, with respect to its input and its parameters.

A layer's parameters are made float64 first (gradchecks need it); the check then nudges every
element of the input and of every parameter and compares with backward.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import backend, nn
from tinygen.gradcheck import gradcheck
from strategies import (
    leaf,
    away_from_zero,
    conv_problems,
    conv_transpose_out,
    costly,
    floats_arrays,
    medium,
    normal_arrays,
    shapes,
)


def to_float64(module):
    """Make every floating parameter and buffer of `module` float64, in place."""
    for t in module.parameters() + module.buffers():
        if backend.is_floating(t.dtype):
            t.data = t.data.astype(np.float64)
    return module


def check_layer(layer, x, input_grad=True):
    """gradcheck `layer` w.r.t. its input (when float) and every parameter; returns the input tensor."""
    x = leaf(x) if input_grad else x
    params = layer.parameters()
    for p in params:
        assert p.dtype == np.float64 and p.requires_grad
    inputs = ([x] if input_grad else []) + params
    assert inputs, "nothing to check"
    # f ignores its arguments: gradcheck nudges these very tensors in place.
    assert gradcheck(lambda *_: layer(x), inputs)
    return x


# =============================================================================================
# Linear, convolutions


@medium
@given(st.data(), shapes(min_dims=0, max_dims=2, max_side=3), st.integers(1, 4), st.integers(1, 4), st.booleans())
def test_linear(data, batch, fin, fout, bias):
    tg.manual_seed(data.draw(st.integers(0, 1000)))
    layer = to_float64(nn.Linear(fin, fout, bias=bias))
    assert len(layer.parameters()) == (2 if bias else 1)
    x = data.draw(floats_arrays(batch + (fin,)))
    tx = check_layer(layer, x)
    expected = x @ layer.weight.numpy().T + (layer.bias.numpy() if bias else 0)
    np.testing.assert_allclose(layer(tx).numpy(), expected, rtol=1e-12, atol=1e-12)


@costly
@given(conv_problems(), st.integers(0, 1000))
def test_conv2d(problem, seed):
    cfg, x, _, _ = problem
    tg.manual_seed(seed)
    layer = nn.Conv2d(
        cfg["c_in"], cfg["c_out"], (cfg["kh"], cfg["kw"]), cfg["stride"], cfg["padding"], bias=cfg["bias"]
    )
    to_float64(layer)
    tx = check_layer(layer, x)
    oh = (cfg["h"] + 2 * cfg["padding"] - cfg["kh"]) // cfg["stride"] + 1
    ow = (cfg["w"] + 2 * cfg["padding"] - cfg["kw"]) // cfg["stride"] + 1
    assert layer(tx).shape == (cfg["n"], cfg["c_out"], oh, ow)


@costly
@given(conv_problems(transposed=True), st.integers(0, 1000))
def test_conv_transpose2d(problem, seed):
    cfg, x, _, _ = problem
    tg.manual_seed(seed)
    s, p, op = cfg["stride"], cfg["padding"], cfg["output_padding"]
    layer = nn.ConvTranspose2d(cfg["c_in"], cfg["c_out"], (cfg["kh"], cfg["kw"]), s, p, op, bias=cfg["bias"])
    to_float64(layer)
    assert layer.weight.shape == (cfg["c_in"], cfg["c_out"], cfg["kh"], cfg["kw"])
    tx = check_layer(layer, x)
    out = (conv_transpose_out(cfg["h"], cfg["kh"], s, p, op), conv_transpose_out(cfg["w"], cfg["kw"], s, p, op))
    assert layer(tx).shape == (cfg["n"], cfg["c_out"]) + out


# =============================================================================================
# Batch normalisation


def _randomise_affine_and_stats(layer, rng):
    c = layer.num_features
    if layer.weight is not None:
        layer.weight.data = rng.standard_normal(c)
        layer.bias.data = rng.standard_normal(c)
    layer.running_mean.data = rng.standard_normal(c)
    layer.running_var.data = rng.uniform(0.3, 2.0, c)


@medium
@given(st.data(), st.integers(2, 4), st.integers(1, 3), st.booleans(), st.booleans())
def test_batch_norm_1d(data, n, c, training, affine):
    layer = to_float64(nn.BatchNorm1d(c, affine=affine))
    _randomise_affine_and_stats(layer, np.random.default_rng(data.draw(st.integers(0, 1000))))
    layer.train(training)
    x = data.draw(normal_arrays((n, c), scale=2.0))
    running = layer.running_mean.numpy(), layer.running_var.numpy()
    tx = check_layer(layer, x)
    y = layer(tx).numpy()
    if training:
        expected = (x - x.mean(0)) / np.sqrt(x.var(0) + layer.eps)
    else:
        expected = (x - running[0]) / np.sqrt(running[1] + layer.eps)
        np.testing.assert_array_equal(layer.running_mean.numpy(), running[0])  # eval does not move them
    if affine:
        expected = expected * layer.weight.numpy() + layer.bias.numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)


@medium
@given(st.data(), st.integers(1, 3), st.integers(1, 3), st.booleans(), st.booleans())
def test_batch_norm_2d(data, n, c, training, affine):
    layer = to_float64(nn.BatchNorm2d(c, affine=affine))
    _randomise_affine_and_stats(layer, np.random.default_rng(data.draw(st.integers(0, 1000))))
    layer.train(training)
    h, w = data.draw(st.integers(1, 3)), data.draw(st.integers(2, 4))
    x = data.draw(normal_arrays((n, c, h, w), scale=2.0))
    tx = check_layer(layer, x)
    if training:
        mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    else:
        mean, var = layer.running_mean.numpy(), layer.running_var.numpy()
    expected = (x - mean.reshape(1, -1, 1, 1)) / np.sqrt(var.reshape(1, -1, 1, 1) + layer.eps)
    if affine:
        expected = expected * layer.weight.numpy().reshape(1, -1, 1, 1) + layer.bias.numpy().reshape(1, -1, 1, 1)
    np.testing.assert_allclose(layer(tx).numpy(), expected, rtol=1e-10, atol=1e-10)


# =============================================================================================
# Activations, dropout, shapes


@medium
@given(st.data(), shapes(), st.sampled_from(["relu", "leaky", "sigmoid", "tanh"]))
def test_activation_layers(data, shape, kind):
    layer = {"relu": nn.ReLU(), "leaky": nn.LeakyReLU(0.2), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh()}[kind]
    assert layer.parameters() == []
    x = data.draw(away_from_zero(shape) if kind in ("relu", "leaky") else floats_arrays(shape, -4, 4))
    tx = check_layer(layer, x)
    expected = {
        "relu": lambda a: np.maximum(a, 0),
        "leaky": lambda a: np.where(a > 0, a, 0.2 * a),
        "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
        "tanh": np.tanh,
    }[kind](x)
    np.testing.assert_allclose(layer(tx).numpy(), expected, rtol=1e-12, atol=1e-15)


def test_identity():
    x = check_layer(nn.Identity(), np.arange(6.0).reshape(2, 3))
    assert nn.Identity()(x) is x


def test_leaky_relu_default_slope_is_pytorchs():
    x = leaf([-2.0, 3.0])
    np.testing.assert_allclose(nn.LeakyReLU()(x).numpy(), [-0.02, 3.0])


@medium
@given(st.data(), shapes(), st.sampled_from([0.1, 0.5, 0.8]), st.integers(0, 2**16))
def test_dropout_layer(data, shape, p, seed):
    layer = nn.Dropout(p)
    x = leaf(data.draw(floats_arrays(shape)))

    def f(*_):
        tg.manual_seed(seed)  # the same mask in every evaluation
        return layer(x)

    assert gradcheck(f, [x])
    layer.eval()
    assert layer(x) is x  # evaluation: identity
    assert gradcheck(lambda *_: layer(x), [x])


@medium
@given(st.data(), shapes(min_dims=2))
def test_flatten_and_unflatten(data, shape):
    x = data.draw(floats_arrays(shape))
    flat = nn.Flatten()
    tx = check_layer(flat, x)
    assert flat(tx).shape == (shape[0], int(np.prod(shape[1:])))
    start = data.draw(st.integers(0, len(shape) - 1))
    check_layer(nn.Flatten(start, -1), x)
    unflat = nn.Unflatten(1, shape[1:])
    y = data.draw(floats_arrays((shape[0], int(np.prod(shape[1:])))))
    ty = check_layer(unflat, y)
    np.testing.assert_array_equal(unflat(ty).numpy(), y.reshape(shape))
    check_layer(nn.Unflatten(-1, (1,) + shape[1:]), y)


@medium
@given(st.data(), st.integers(1, 6), st.integers(1, 4))
def test_embedding_with_repeated_indices(data, num, dim):
    tg.manual_seed(data.draw(st.integers(0, 1000)))
    layer = to_float64(nn.Embedding(num, dim))
    idx_shape = data.draw(shapes(max_dims=2, max_side=5))
    indices = np.array(
        data.draw(st.lists(st.integers(0, num - 1), min_size=int(np.prod(idx_shape)), max_size=int(np.prod(idx_shape))))
    ).reshape(idx_shape)
    idx = tg.Tensor(indices)
    assert gradcheck(lambda *_: layer(idx), [layer.weight])
    np.testing.assert_array_equal(layer(idx).numpy(), layer.weight.numpy()[indices])
    # A row picked k times gets k times the gradient.
    layer.zero_grad()
    layer(idx).backward(np.ones(idx_shape + (dim,)))
    counts = np.bincount(indices.ravel(), minlength=num).astype(np.float64)
    np.testing.assert_array_equal(layer.weight.grad.numpy(), np.repeat(counts[:, None], dim, axis=1))


def test_embedding_fixed_repeats():
    tg.manual_seed(0)
    layer = to_float64(nn.Embedding(4, 3))
    idx = tg.Tensor(np.array([[0, 2, 2], [3, 0, 2]]))
    assert gradcheck(lambda *_: layer(idx) * layer(idx), [layer.weight])  # a nonlinear use


# =============================================================================================
# Sequential


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sequential_conv_stack(seed):
    """A small DCGAN-like stack: every layer's parameters and the input, checked together."""
    tg.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, stride=2, padding=1),
        nn.BatchNorm2d(3),
        nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(3, 2, (4, 3), stride=2, padding=1, output_padding=1),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(2 * 5 * 4, 3),  # (3, 4) -> conv (2, 2) -> transposed conv (5, 4)
        nn.Sigmoid(),
    )
    to_float64(model)
    assert len(model.parameters()) == 8
    x = np.random.default_rng(seed).standard_normal((2, 2, 3, 4))
    tx = check_layer(model, x)
    assert model(tx).shape == (2, 3)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("training", [True, False])
def test_sequential_mlp(seed, training):
    tg.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(4, 6),
        nn.BatchNorm1d(6),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(6, 5),
        nn.Unflatten(1, (5, 1)),
        nn.Flatten(),
        nn.Tanh(),
        nn.Linear(5, 2, bias=False),
    )
    to_float64(model)
    model.train(training)
    rng = np.random.default_rng(seed)
    _randomise_affine_and_stats(model[1], rng)
    x = leaf(rng.standard_normal((4, 4)))

    def f(*_):
        tg.manual_seed(seed + 100)  # one dropout mask for every evaluation
        return model(x)

    assert gradcheck(f, [x] + model.parameters())
