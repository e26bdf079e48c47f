"""Second derivatives: gradients computed with create_graph=True, differentiated again.

`gradgradcheck(f, xs)` checks x -> d sum(f(x) * v)/dx (built with create_graph=True) against
central differences, for every element of every input: the mixed second derivatives that
gradient penalties (WGAN-GP, R1) train with. The end-to-end WGAN-GP check at the bottom does the
same through a small critic, with respect to its parameters.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn
from tinygen import functional as F
from tinygen.gradcheck import gradcheck, gradgradcheck
from strategies import (
    leaf,
    away_from_zero,
    broadcast_pairs,
    costly,
    distinct_arrays,
    floats_arrays,
    positive_arrays,
    reduce_dims,
    shapes,
)


def check2(f, *arrays, **tolerances):
    assert gradgradcheck(f, [leaf(a) for a in arrays], **tolerances)


small = shapes(max_dims=3, max_side=3)


def test_second_derivative_in_closed_form():
    """d/dx x^3 = 3x^2 and d^2/dx^2 x^3 = 6x, by two calls of tinygen.grad."""
    a = np.array([-1.5, 0.3, 2.0])
    x = leaf(a)
    (g,) = tg.grad((x**3).sum(), x, create_graph=True)
    assert g.requires_grad and g.creator is not None
    np.testing.assert_allclose(g.numpy(), 3 * a**2, rtol=1e-12)
    (gg,) = tg.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 6 * a, rtol=1e-12)
    # Mixed: d/dy d/dx (x^2 y) = 2x
    x, y = leaf(a), leaf([0.5, -1.0, 2.0])
    (gx,) = tg.grad((x * x * y).sum(), x, create_graph=True)
    (gxy,) = tg.grad(gx.sum(), y)
    np.testing.assert_allclose(gxy.numpy(), 2 * a, rtol=1e-12)


# =============================================================================================
# Elementwise


@costly
@given(st.data(), broadcast_pairs(max_dims=3, max_side=3), st.sampled_from(["add", "sub", "mul", "div"]))
def test_binary(data, shapes_ab, op):
    a = data.draw(floats_arrays(shapes_ab[0]))
    b = data.draw(positive_arrays(shapes_ab[1]) if op == "div" else floats_arrays(shapes_ab[1]))
    if op in ("add", "sub"):  # linear: compose with a product so the second derivative is not 0
        check2(lambda x, y: getattr(F, op)(x, y) * getattr(F, op)(x, y), a, b)
    check2(getattr(F, op), a, b)


@costly
@given(st.data(), small, st.sampled_from([2, 3, -1, 0.5, 2.5]))
def test_pow(data, shape, c):
    a = data.draw(positive_arrays(shape, lo=0.3))
    check2(lambda x: x**c, a)


@costly
@given(st.data(), small, st.sampled_from(["exp", "log", "sqrt", "sigmoid", "tanh", "neg", "abs"]))
def test_unary(data, shape, op):
    if op in ("log", "sqrt"):
        a = data.draw(positive_arrays(shape))
    elif op == "abs":
        a = data.draw(away_from_zero(shape))
    else:
        a = data.draw(floats_arrays(shape))
    fn = getattr(F, op)
    check2(fn, a)
    check2(lambda x: fn(x) * x, a)  # products make the mixed terms of the backward graph count


@costly
@given(st.data(), small, st.sampled_from([0.01, 0.2]))
def test_leaky_relu(data, shape, slope):
    """Away from 0 the slope is a constant mask: the second derivative is that of what surrounds it."""
    a = data.draw(away_from_zero(shape))
    check2(lambda x: F.leaky_relu(x, slope), a)
    check2(lambda x: F.leaky_relu(x, slope) * F.leaky_relu(x, slope), a)
    check2(lambda x: F.relu(x) * x, a)


@costly
@given(st.data(), small)
def test_softmax_family(data, shape):
    a = data.draw(floats_arrays(shape))
    check2(lambda x: F.softmax(x, -1), a)
    check2(lambda x: F.log_softmax(x, 0), a)
    check2(lambda x: F.logsumexp(x, -1), a)


# =============================================================================================
# Reductions


@costly
@given(st.data(), small, st.booleans())
def test_reductions(data, shape, keepdim):
    a = data.draw(floats_arrays(shape))
    dim = data.draw(reduce_dims(len(shape)))
    check2(lambda x: F.sum(x, dim, keepdim) * F.sum(x, dim, keepdim), a)
    check2(lambda x: F.mean(x * x, dim, keepdim), a)
    check2(lambda x: F.var(x, dim, keepdim, unbiased=False), a)
    n = (
        int(np.prod(shape))
        if dim is None
        else int(np.prod([shape[d] for d in ((dim,) if isinstance(dim, int) else dim)]))
    )
    if n > 1:
        check2(lambda x: F.var(x, dim, keepdim), a)


@costly
@given(st.data(), small, st.booleans())
def test_max(data, shape, keepdim):
    # Distinct and positive, so that x*x has no ties either.
    a = data.draw(distinct_arrays(shape, spacing=0.05).map(lambda a: a - a.min() + 0.1))
    dim = data.draw(reduce_dims(len(shape)))
    check2(lambda x: F.max(x * x, dim, keepdim), a)
    check2(lambda x: F.max(x, dim, keepdim), a)


# =============================================================================================
# Products, layers' functions


@costly
@given(st.data(), broadcast_pairs(max_dims=2, max_side=2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))
def test_matmul(data, batch, m, k, n):
    a = data.draw(floats_arrays(batch[0] + (m, k)))
    b = data.draw(floats_arrays(batch[1] + (k, n)))
    check2(F.matmul, a, b)
    check2(lambda x, y: F.matmul(x, y) * F.matmul(x, y), a, b)


@pytest.mark.parametrize(
    "shape_a, shape_b, axes",
    [((2, 3), (3, 2), 1), ((2, 3, 2), (3, 2, 2), 2), ((2, 3, 2), (2, 2, 3), ([2, 1], [0, 2])), ((3, 2), (2,), 0)],
)
def test_tensordot(shape_a, shape_b, axes):
    rng = np.random.default_rng(len(shape_a) + len(shape_b))
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    check2(lambda x, y: F.tensordot(x, y, axes), a, b)
    check2(lambda x, y: F.tensordot(x * x, y, axes), a, b)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch", [(3,), (2, 2)])
def test_linear(bias, batch):
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(batch + (4,)), rng.standard_normal((3, 4))] + (
        [rng.standard_normal(3)] if bias else []
    )
    check2(lambda *t: F.linear(*t), *arrays)
    check2(lambda *t: F.tanh(F.linear(*t)), *arrays)


CONV_CASES = [  # (n, c_in, c_out, h, w, kh, kw, stride, padding, output_padding)
    (1, 2, 2, 4, 5, 3, 2, 1, 0, 0),
    (2, 1, 2, 5, 4, 3, 3, 2, 1, 1),
    (1, 2, 1, 3, 4, 2, 3, 3, 2, 2),
    (1, 1, 2, 5, 3, 4, 1, 2, 2, 0),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d(case):
    n, c_in, c_out, h, w, kh, kw, s, p, _ = case
    rng = np.random.default_rng(sum(case))
    x, weight, b = (
        rng.standard_normal((n, c_in, h, w)),
        rng.standard_normal((c_out, c_in, kh, kw)),
        rng.standard_normal(c_out),
    )
    check2(lambda x, w, b: F.conv2d(x, w, b, s, p), x, weight, b)
    check2(lambda x, w: F.tanh(F.conv2d(x, w, None, s, p)), x, weight)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_transpose2d(case):
    n, c_in, c_out, h, w, kh, kw, s, p, op = case
    rng = np.random.default_rng(sum(case) + 1)
    x, weight, b = (
        rng.standard_normal((n, c_in, h, w)),
        rng.standard_normal((c_in, c_out, kh, kw)),
        rng.standard_normal(c_out),
    )
    check2(lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op), x, weight, b)
    check2(lambda x, w: F.sigmoid(F.conv_transpose2d(x, w, None, s, p, op)), x, weight)


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 2, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training(shape, affine):
    rng = np.random.default_rng(len(shape))
    c = shape[1]
    x = rng.standard_normal(shape) * 2 + rng.standard_normal((1, c) + (1,) * (len(shape) - 2))
    if affine:
        check2(
            lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
            x,
            rng.standard_normal(c),
            rng.standard_normal(c),
        )
    else:
        check2(lambda x: F.batch_norm(x, None, None, training=True), x)


# =============================================================================================
# Losses


@costly
@given(st.data(), small, st.sampled_from(["mean", "sum", "none"]))
def test_losses(data, shape, reduction):
    z = data.draw(floats_arrays(shape, -4, 4))
    y = data.draw(floats_arrays(shape, 1e-5, 1 - 1e-5))  # nudged by 1e-6, a target stays in [0, 1] (BCE checks it)
    check2(lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction), z, y)
    t = data.draw(floats_arrays(shape))
    check2(lambda a, b: F.mse_loss(a, b, reduction), z, t)
    p = data.draw(floats_arrays(shape, 0.1, 0.9))
    check2(lambda p, y: F.binary_cross_entropy(p, y, reduction), p, y)


@costly
@given(st.data(), st.integers(1, 3), st.integers(1, 3), st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_and_kl(data, n, c, reduction):
    z = data.draw(floats_arrays((n, c)))
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    check2(lambda z: F.cross_entropy(z, labels, reduction), z)
    mu, logvar = data.draw(floats_arrays((n, c))), data.draw(floats_arrays((n, c)))
    check2(lambda m, l: F.gaussian_kl(m, l, reduction), mu, logvar)


# =============================================================================================
# WGAN-GP end to end


def _critic(seed):
    tg.manual_seed(seed)
    critic = nn.Sequential(nn.Linear(3, 5), nn.LeakyReLU(0.2), nn.Linear(5, 1))
    for p in critic.parameters():
        p.data = p.data.astype(np.float64)
    return critic


def _gradient_penalty(critic, x):
    """mean over the batch of (||d D(x) / dx||_2 - 1)^2, the gradient built with create_graph=True."""
    (g,) = tg.grad(critic(x).sum(), x, create_graph=True)
    norm = F.sqrt(F.sum(g * g, dim=1))
    return F.mean((norm - 1) ** 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wgan_gp_penalty_gradient_matches_central_differences(seed):
    critic = _critic(seed)
    rng = np.random.default_rng(seed)
    x = tg.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    # The kink of LeakyReLU is at a pre-activation of 0: keep the nudges far from it.
    pre = x.numpy() @ critic[0].weight.numpy().T + critic[0].bias.numpy()
    assert np.abs(pre).min() > 1e-3

    penalty = _gradient_penalty(critic, x)
    assert penalty.requires_grad
    critic.zero_grad()
    penalty.backward()
    # With a piecewise-linear critic, d D/dx is piecewise constant in x: the penalty's gradient
    # w.r.t. x is 0 away from the kinks (no path, or zeros).
    assert x.grad is None or not np.any(x.grad.numpy())

    eps = 1e-6
    params = critic.parameters()
    first_weight, first_bias, last_weight, last_bias = params
    for p in params:
        numeric = np.zeros(p.shape)
        flat = p.data.reshape(-1)
        for i in range(flat.size):
            original = flat[i].item()
            flat[i] = original + eps
            plus = _gradient_penalty(critic, x).item()
            flat[i] = original - eps
            minus = _gradient_penalty(critic, x).item()
            flat[i] = original
            numeric.reshape(-1)[i] = (plus - minus) / (2 * eps)
        analytic = np.zeros(p.shape) if p.grad is None else p.grad.numpy()
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)
    # The penalty really depends on both weights (a check of the check): d/dW is not zero.
    assert np.abs(first_weight.grad.numpy()).max() > 1e-3
    assert np.abs(last_weight.grad.numpy()).max() > 1e-3


def test_wgan_gp_penalty_via_gradcheck_with_respect_to_parameters_and_input():
    critic = _critic(3)
    x = tg.Tensor(np.random.default_rng(3).standard_normal((3, 3)), requires_grad=True)
    assert gradcheck(lambda *_: _gradient_penalty(critic, x), [x] + critic.parameters())
