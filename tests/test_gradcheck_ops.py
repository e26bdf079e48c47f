"""Gradient checks of every differentiable op in tinygen.functional, and forward values against
NumPy/SciPy written out here (never against tinygen's own output).

`gradcheck` compares backward with central differences of sum(f(x) * v) for every element of
every input, in float64. The strategies in tests/strategies.py keep the values where each op is
smooth (away from the kinks of abs/relu/clip, no ties for max, positive for log/sqrt).
"""

import numpy as np
import pytest
import scipy.special
from hypothesis import assume, given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import functional as F
from tinygen.gradcheck import gradcheck
from strategies import (
    leaf,
    away_from_bounds,
    away_from_zero,
    broadcast_pairs,
    cheap,
    conv_out,
    conv_problems,
    conv_transpose_out,
    costly,
    distinct_arrays,
    floats_arrays,
    medium,
    normal_arrays,
    positive_arrays,
    probabilities,
    reduce_dims,
    shape_and_reduced,
    shapes,
)


def check(f, *arrays, **tolerances):
    """gradcheck f at the given arrays; returns the leaves (for a look at forward values)."""
    leaves = [leaf(a) for a in arrays]
    assert gradcheck(f, leaves, **tolerances)
    return leaves


REDUCTIONS = ["mean", "sum", "none"]


def reduce_np(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](loss)


# =============================================================================================
# Elementwise arithmetic


@cheap
@given(st.data(), broadcast_pairs(), st.sampled_from(["add", "sub", "mul"]))
def test_binary_ops_with_broadcasting(data, shapes_ab, op):
    a = data.draw(floats_arrays(shapes_ab[0]))
    b = data.draw(floats_arrays(shapes_ab[1]))
    ta, tb = check(getattr(F, op), a, b)
    expected = {"add": np.add, "sub": np.subtract, "mul": np.multiply}[op](a, b)
    np.testing.assert_allclose(getattr(F, op)(ta, tb).numpy(), expected, rtol=1e-12, atol=1e-12)


@cheap
@given(st.data(), broadcast_pairs())
def test_div_with_broadcasting(data, shapes_ab):
    a = data.draw(floats_arrays(shapes_ab[0]))
    b = data.draw(
        positive_arrays(shapes_ab[1]) if data.draw(st.booleans()) else positive_arrays(shapes_ab[1]).map(np.negative)
    )
    ta, tb = check(F.div, a, b)
    np.testing.assert_allclose(F.div(ta, tb).numpy(), a / b, rtol=1e-12)


@cheap
@given(st.data(), shapes(), st.floats(-3, 3, allow_subnormal=False))
def test_ops_with_python_numbers(data, shape, c):
    """A Python number on either side: it is a constant, and the float64 tensor stays float64."""
    a = data.draw(floats_arrays(shape))
    p = data.draw(positive_arrays(shape))
    check(lambda x: x + c, a)
    check(lambda x: c + x, a)
    check(lambda x: x - c, a)
    check(lambda x: c - x, a)
    check(lambda x: x * c, a)
    check(lambda x: c * x, a)
    check(lambda x: x / 2.5, a)
    check(lambda x: c / x, p)
    check(lambda x: 3 * x + 1, a)  # Python ints too
    x = leaf(p)
    for y, expected in [(x + c, p + c), (c - x, c - p), (c * x, c * p), (c / x, c / p), (x / 2.5, p / 2.5)]:
        assert y.dtype == np.float64
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


@cheap
@given(st.data(), shapes())
def test_neg(data, shape):
    a = data.draw(floats_arrays(shape))
    (x,) = check(F.neg, a)
    np.testing.assert_array_equal(F.neg(x).numpy(), -a)
    check(lambda x: -x, a)


@cheap
@given(st.data(), shapes(), st.sampled_from([1, 2, 3, -1, -2]))
def test_pow_integer_exponent(data, shape, c):
    a = data.draw(away_from_zero(shape, margin=0.3) if c < 0 else floats_arrays(shape))
    (x,) = check(lambda x: x**c, a)
    np.testing.assert_allclose(F.pow(x, c).numpy(), a**c, rtol=1e-12)


@cheap
@given(st.data(), shapes(), st.sampled_from([0.5, 1.5, -0.5, 2.7, -1.3]))
def test_pow_real_exponent(data, shape, c):
    a = data.draw(positive_arrays(shape, lo=0.3))
    (x,) = check(lambda x: F.pow(x, c), a)
    np.testing.assert_allclose((x**c).numpy(), a**c, rtol=1e-12)


def test_pow_zero_exponent_has_zero_gradient_everywhere():
    """d/dx x^0 = 0, also at x = 0 (where c x^(c-1) would be 0 * inf), as torch.pow."""
    a = np.array([0.0, -1.5, 2.0, 0.0])
    check(lambda x: x**0, a)
    x = leaf(a)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(4))


def test_pow_rejects_tensor_exponent():
    with pytest.raises(TypeError):
        F.pow(leaf([1.0]), leaf([2.0]))


@cheap
@given(st.data(), shapes())
def test_exp(data, shape):
    a = data.draw(floats_arrays(shape))
    (x,) = check(F.exp, a)
    np.testing.assert_allclose(F.exp(x).numpy(), np.exp(a), rtol=1e-12)


@cheap
@given(st.data(), shapes())
def test_log(data, shape):
    a = data.draw(positive_arrays(shape))
    (x,) = check(F.log, a)
    np.testing.assert_allclose(F.log(x).numpy(), np.log(a), rtol=1e-12, atol=1e-15)


@cheap
@given(st.data(), shapes())
def test_sqrt(data, shape):
    a = data.draw(positive_arrays(shape))
    (x,) = check(F.sqrt, a)
    np.testing.assert_allclose(F.sqrt(x).numpy(), np.sqrt(a), rtol=1e-12)


@cheap
@given(st.data(), shapes())
def test_abs(data, shape):
    a = data.draw(away_from_zero(shape))
    (x,) = check(F.abs, a)
    np.testing.assert_array_equal(F.abs(x).numpy(), np.abs(a))


@cheap
@given(st.data(), shapes(), st.sampled_from([(-0.5, 0.5), (None, 0.3), (-0.2, None), (0.1, 1.2)]))
def test_clip(data, shape, bounds):
    lo, hi = bounds
    a = data.draw(away_from_bounds(shape, lo, hi))
    (x,) = check(lambda x: F.clip(x, lo, hi), a)
    np.testing.assert_array_equal(F.clip(x, lo, hi).numpy(), np.clip(a, lo, hi))
    # Outside the bounds the output is constant: its gradient is exactly zero there.
    y = F.clip(x, lo, hi)
    y.backward(np.ones(a.shape))
    inside = np.ones(a.shape, bool)
    if lo is not None:
        inside &= a >= lo
    if hi is not None:
        inside &= a <= hi
    np.testing.assert_array_equal(x.grad.numpy(), inside.astype(np.float64))


@cheap
@given(st.data(), shapes())
def test_astype_round_trip(data, shape):
    """float64 -> float32 -> float64 is the identity up to float32 rounding; its gradient is 1.

    The difference quotient sees float32 rounding (~6e-8 relative), so the step is large; the
    map is linear, so a large step costs nothing in truncation error.
    """
    a = data.draw(floats_arrays(shape))
    check(lambda x: F.astype(F.astype(x, "float32") * 3.0, "float64"), a, eps=1e-2, atol=1e-4)
    x = leaf(a)
    y = F.astype(x, "float32")
    assert y.dtype == np.float32
    y.backward(np.ones(shape, np.float32))
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(shape))
    assert F.astype(x, "float64") is x  # no-op for the same dtype


# =============================================================================================
# Shapes


@cheap
@given(st.data(), shapes())
def test_reshape(data, shape):
    a = data.draw(floats_arrays(shape))
    target = tuple(reversed(shape)) + (1,)
    (x,) = check(lambda x: F.reshape(x, target), a)
    np.testing.assert_array_equal(F.reshape(x, target).numpy(), a.reshape(target))
    check(lambda x: x.reshape(-1, 1), a)
    check(lambda x: x.view(shape[0], -1), a)


@cheap
@given(st.data(), shapes(min_dims=2))
def test_flatten(data, shape):
    a = data.draw(floats_arrays(shape))
    start = data.draw(st.integers(0, len(shape) - 1))
    end = data.draw(st.integers(start, len(shape) - 1))
    (x,) = check(lambda x: F.flatten(x, start, end), a)
    expected = a.reshape(shape[:start] + (-1,) + shape[end + 1 :])
    np.testing.assert_array_equal(F.flatten(x, start, end).numpy(), expected)
    check(lambda x: x.flatten(), a)
    check(lambda x: F.flatten(x, 1, -1), a)


@cheap
@given(st.data(), shapes(max_dims=3))
def test_unsqueeze(data, shape):
    a = data.draw(floats_arrays(shape))
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    (x,) = check(lambda x: F.unsqueeze(x, dim), a)
    assert F.unsqueeze(x, dim).shape == np.expand_dims(a, dim).shape


@cheap
@given(st.data(), shapes(min_dims=2))
def test_transpose(data, shape):
    a = data.draw(floats_arrays(shape))
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    (x,) = check(lambda x: F.transpose(x, perm), a)
    np.testing.assert_array_equal(F.transpose(x, perm).numpy(), a.transpose(perm))
    check(lambda x: x.permute(*perm), a)
    check(lambda x: x.T, a)


@cheap
@given(st.data(), shapes(min_dims=2))
def test_swapaxes(data, shape):
    a = data.draw(floats_arrays(shape))
    d0 = data.draw(st.integers(-len(shape), len(shape) - 1))
    d1 = data.draw(st.integers(-len(shape), len(shape) - 1))
    (x,) = check(lambda x: F.swapaxes(x, d0, d1), a)
    np.testing.assert_array_equal(F.swapaxes(x, d0, d1).numpy(), np.swapaxes(a, d0, d1))
    check(lambda x: x.transpose(d0, d1), a)


@cheap
@given(st.data(), shape_and_reduced())
def test_broadcast_to(data, big_small):
    big, small = big_small
    a = data.draw(floats_arrays(small))
    (x,) = check(lambda x: F.broadcast_to(x, big), a)
    np.testing.assert_array_equal(F.broadcast_to(x, big).numpy(), np.broadcast_to(a, big))


@cheap
@given(st.data(), shape_and_reduced())
def test_sum_to(data, big_small):
    big, small = big_small
    a = data.draw(floats_arrays(big))
    (x,) = check(lambda x: F.sum_to(x, small), a)
    lead = len(big) - len(small)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(small) if n == 1 and big[lead + i] != 1)
    np.testing.assert_allclose(F.sum_to(x, small).numpy(), a.sum(axis=axes).reshape(small), rtol=1e-12, atol=1e-12)


@st.composite
def basic_indices(draw, shape):
    """A tuple of slices (with steps, negative bounds) and integers, possibly with Ellipsis/None."""
    index = []
    for n in shape[: draw(st.integers(1, len(shape)))]:
        if draw(st.booleans()):
            index.append(draw(st.integers(-n, n - 1)))
        else:
            start = draw(st.none() | st.integers(-n, n))
            stop = draw(st.none() | st.integers(-n, n))
            step = draw(st.none() | st.sampled_from([1, 2, 3, -1, -2]))
            index.append(slice(start, stop, step))
    if draw(st.booleans()):
        index.insert(draw(st.integers(0, len(index))), None)
    return tuple(index)


@cheap
@given(st.data(), shapes())
def test_getitem_basic(data, shape):
    a = data.draw(floats_arrays(shape))
    index = data.draw(basic_indices(shape))
    assume(a[index].size > 0)
    (x,) = check(lambda x: x[index], a)
    np.testing.assert_array_equal(x[index].numpy(), a[index])
    check(lambda x: x[..., -1], a)


@cheap
@given(st.data(), shapes())
def test_getitem_integer_array_with_repeats(data, shape):
    """An index picked twice gets its gradient twice (added, not overwritten)."""
    a = data.draw(floats_arrays(shape))
    idx = np.array(data.draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=7)))
    (x,) = check(lambda x: x[idx], a)
    check(lambda x: F.getitem(x, tg.Tensor(idx)), a)  # an integer tensor as the index
    check(lambda x: x[idx.tolist()], a)  # a Python list
    np.testing.assert_array_equal(x[idx].numpy(), a[idx])
    if len(shape) >= 2:
        idx2 = np.array(data.draw(st.lists(st.integers(0, shape[1] - 1), min_size=1, max_size=5)))
        check(lambda x: x[:, idx2], a)
        check(lambda x: x[idx[:1], idx2[:1]], a)
    # The count of each index is its gradient when the output gradient is one.
    x = leaf(a)
    x[idx].backward(np.ones((len(idx),) + shape[1:]))
    counts = np.bincount(idx % shape[0], minlength=shape[0]).astype(np.float64)
    np.testing.assert_array_equal(
        x.grad.numpy(), np.broadcast_to(counts.reshape((-1,) + (1,) * (len(shape) - 1)), shape)
    )


@cheap
@given(st.data(), shapes())
def test_getitem_boolean_mask(data, shape):
    a = data.draw(floats_arrays(shape))
    mask = data.draw(
        st.lists(st.booleans(), min_size=a.size, max_size=a.size).map(lambda m: np.array(m).reshape(shape))
    )
    (x,) = check(lambda x: x[mask], a)
    np.testing.assert_array_equal(x[mask].numpy(), a[mask])
    check(lambda x: x[tg.Tensor(mask)], a)
    row_mask = mask.reshape(shape[0], -1)[:, 0]
    check(lambda x: x[row_mask], a)


@cheap
@given(st.data(), shapes(), st.integers(1, 3))
def test_cat(data, shape, count):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    arrays = []
    for _ in range(count):
        s = list(shape)
        s[axis] = data.draw(st.integers(1, 3))
        arrays.append(data.draw(floats_arrays(tuple(s))))
    leaves = check(lambda *xs: tg.cat(xs, dim=axis), *arrays)
    np.testing.assert_array_equal(tg.cat(leaves, dim=axis).numpy(), np.concatenate(arrays, axis=axis))


@cheap
@given(st.data(), shapes(max_dims=3), st.integers(1, 3))
def test_stack(data, shape, count):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    arrays = [data.draw(floats_arrays(shape)) for _ in range(count)]
    leaves = check(lambda *xs: tg.stack(xs, dim=axis), *arrays)
    np.testing.assert_array_equal(tg.stack(leaves, dim=axis).numpy(), np.stack(arrays, axis=axis))


# =============================================================================================
# Reductions


def _count(shape, dim):
    if dim is None:
        return int(np.prod(shape))
    axes = (dim,) if isinstance(dim, int) else dim
    return int(np.prod([shape[a] for a in axes]))


@medium
@given(st.data(), shapes(), st.booleans())
def test_sum_and_mean(data, shape, keepdim):
    a = data.draw(floats_arrays(shape))
    dim = data.draw(reduce_dims(len(shape)))
    (x,) = check(lambda x: F.sum(x, dim, keepdim), a)
    check(lambda x: F.mean(x, dim, keepdim), a)
    check(lambda x: x.sum(), a)
    check(lambda x: x.mean(), a)
    np.testing.assert_allclose(
        F.sum(x, dim, keepdim).numpy(), a.sum(axis=dim, keepdims=keepdim), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        F.mean(x, dim, keepdim).numpy(), a.mean(axis=dim, keepdims=keepdim), rtol=1e-12, atol=1e-12
    )


@medium
@given(st.data(), shapes(), st.booleans(), st.booleans())
def test_var(data, shape, keepdim, unbiased):
    a = data.draw(floats_arrays(shape))
    dim = data.draw(reduce_dims(len(shape)))
    assume(not unbiased or _count(shape, dim) > 1)
    (x,) = check(lambda x: F.var(x, dim, keepdim, unbiased), a)
    expected = a.var(axis=dim, keepdims=keepdim, ddof=1 if unbiased else 0)
    np.testing.assert_allclose(F.var(x, dim, keepdim, unbiased).numpy(), expected, rtol=1e-10, atol=1e-12)


@medium
@pytest.mark.parametrize("name", ["max", "min"])
@given(data=st.data(), shape=shapes(), keepdim=st.booleans())
def test_max_and_min(name, data, shape, keepdim):
    a = data.draw(distinct_arrays(shape))
    dim = data.draw(reduce_dims(len(shape)))
    op = getattr(F, name)
    (x,) = check(lambda x: op(x, dim, keepdim), a)
    check(lambda x: getattr(x, name)(), a)
    np.testing.assert_array_equal(op(x, dim, keepdim).numpy(), getattr(a, name)(axis=dim, keepdims=keepdim))


def test_max_ties_share_the_gradient():
    """With ties the gradient is split equally among the maxima (as torch.amax)."""
    x = leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    F.max(x, 1).backward(np.array([1.0, 3.0]))
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1, 1, 1]])


@medium
@given(st.data(), shapes(), st.booleans(), st.sampled_from(["max", "min"]))
def test_max_and_min_along_a_dim(data, shape, keepdim, name):
    """t.max(dim) / t.min(dim): (values, indices); the values' gradient goes to the chosen element."""
    a = data.draw(distinct_arrays(shape))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    (x,) = check(lambda x: getattr(x, name)(dim, keepdim).values, a)
    values, indices = getattr(x, name)(dim=dim, keepdim=keepdim)
    np.testing.assert_array_equal(values.numpy(), getattr(a, name)(axis=dim, keepdims=keepdim))
    np.testing.assert_array_equal(indices.numpy(), getattr(a, "arg" + name)(axis=dim, keepdims=keepdim))


def test_max_along_a_dim_sends_a_tie_gradient_to_the_first():
    """Unlike t.max() (ties share), t.max(dim) picks one index, the first, and it alone gets gy."""
    x = leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    values, indices = x.max(dim=1)
    values.backward(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [3, 0, 0]])


@cheap
@given(st.data(), shapes(), st.sampled_from([0.5, 2, 2.7, np.e]))
def test_a_number_to_a_tensor_power(data, shape, c):
    """c ** x.   d/dx c^x = c^x ln c"""
    a = data.draw(floats_arrays(shape))
    (x,) = check(lambda x: c**x, a)
    np.testing.assert_allclose((c**x).numpy(), np.power(c, a), rtol=1e-12)


def test_zero_to_a_tensor_power_has_zero_gradient():
    """0^x: 1 at x = 0, 0 above; its gradient is 0 everywhere (c^x ln c would be 0 * -inf), as torch."""
    x = leaf([0.0, 1.0, 2.0])
    y = 0.0**x
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


@cheap
@given(st.data(), shapes(min_dims=1))
def test_iterating_gives_rows_in_the_graph(data, shape):
    a = data.draw(floats_arrays(shape))
    check(lambda x: tg.stack(list(x)) * tg.stack([row for row in x]), a)
    check(lambda x: abs(x), data.draw(away_from_zero(shape)))


@medium
@given(st.data(), shapes(), st.booleans())
def test_reductions_of_float64_stay_float64(data, shape, keepdim):
    """Reducing every axis gives a 0-d result: it must keep float64 (NumPy returns a scalar there)."""
    x = leaf(data.draw(floats_arrays(shape)))
    for y in (x.sum(), x.mean(), x.max(), F.var(x, None, keepdim, unbiased=False), F.sum(x, None, keepdim)):
        assert y.dtype == np.float64
    y = x.sum()
    assert (y * 2.0).dtype == np.float64 and F.exp(y).dtype == np.float64


# =============================================================================================
# Matrix products


@medium
@given(st.data(), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4))
def test_matmul_2d(data, m, k, n):
    a = data.draw(floats_arrays((m, k)))
    b = data.draw(floats_arrays((k, n)))
    ta, tb = check(F.matmul, a, b)
    np.testing.assert_allclose((ta @ tb).numpy(), np.einsum("ik,kn->in", a, b), rtol=1e-12, atol=1e-12)


@medium
@given(st.data(), broadcast_pairs(max_dims=2, max_side=3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))
def test_matmul_batched_with_broadcast_batch_dims(data, batch_shapes, m, k, n):
    a = data.draw(floats_arrays(batch_shapes[0] + (m, k)))
    b = data.draw(floats_arrays(batch_shapes[1] + (k, n)))
    ta, tb = check(F.matmul, a, b)
    np.testing.assert_allclose((ta @ tb).numpy(), np.matmul(a, b), rtol=1e-12, atol=1e-12)


@medium
@given(st.data(), st.integers(0, 2))
def test_tensordot_int_axes(data, n_axes):
    free_a = data.draw(shapes(min_dims=0, max_dims=2, max_side=3))
    free_b = data.draw(shapes(min_dims=0, max_dims=2, max_side=3))
    common = data.draw(shapes(min_dims=n_axes, max_dims=n_axes, max_side=3))
    a = data.draw(floats_arrays(free_a + common))
    b = data.draw(floats_arrays(common + free_b))
    assume(a.ndim > 0 and b.ndim > 0)
    ta, tb = check(lambda a, b: F.tensordot(a, b, n_axes), a, b)
    np.testing.assert_allclose(F.tensordot(ta, tb, n_axes).numpy(), np.tensordot(a, b, n_axes), rtol=1e-12, atol=1e-12)


@medium
@given(st.data(), st.integers(1, 3))
def test_tensordot_explicit_unsorted_axes(data, n_common):
    """Contracted axes listed in any order, at any positions, negative or not."""
    common = [data.draw(st.integers(1, 3)) for _ in range(n_common)]
    free_a = data.draw(shapes(min_dims=0, max_dims=2, max_side=3))
    free_b = data.draw(shapes(min_dims=0, max_dims=2, max_side=3))
    # Place the common axes at random positions of a and of b, in independent orders.
    order_a = data.draw(st.permutations(range(n_common + len(free_a))))
    order_b = data.draw(st.permutations(range(n_common + len(free_b))))
    shape_a, shape_b = [None] * len(order_a), [None] * len(order_b)
    axes_a = list(order_a[:n_common])
    axes_b = list(order_b[:n_common])
    for j, n in enumerate(common):
        shape_a[axes_a[j]] = n
        shape_b[axes_b[j]] = n
    for pos, n in zip(order_a[n_common:], free_a):
        shape_a[pos] = n
    for pos, n in zip(order_b[n_common:], free_b):
        shape_b[pos] = n
    if data.draw(st.booleans()):
        axes_a = [i - len(shape_a) for i in axes_a]
    a = data.draw(floats_arrays(tuple(shape_a)))
    b = data.draw(floats_arrays(tuple(shape_b)))
    ta, tb = check(lambda a, b: F.tensordot(a, b, (axes_a, axes_b)), a, b)
    expected = np.tensordot(a, b, (axes_a, axes_b))
    np.testing.assert_allclose(F.tensordot(ta, tb, (axes_a, axes_b)).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_tensordot_fixed_unsorted_case():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 2, 5))
    check(lambda a, b: F.tensordot(a, b, ([2, 0], [0, 1])), a, b)
    a, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((2, 5, 3))
    check(lambda a, b: F.tensordot(a, b, ([1, 0], [0, 2])), a, b)
    check(lambda a, b: F.tensordot(a, b, ([0, 1], [2, 0])), a, b)


@medium
@given(st.data(), st.booleans(), shapes(min_dims=0, max_dims=2, max_side=3), st.integers(1, 4), st.integers(1, 4))
def test_linear(data, with_bias, batch, fin, fout):
    x = data.draw(floats_arrays(batch + (fin,)))
    w = data.draw(floats_arrays((fout, fin)))
    b = data.draw(floats_arrays((fout,)))
    if with_bias:
        tx, tw, tb = check(F.linear, x, w, b)
        expected = np.einsum("...i,oi->...o", x, w) + b
        np.testing.assert_allclose(F.linear(tx, tw, tb).numpy(), expected, rtol=1e-12, atol=1e-12)
    else:
        tx, tw = check(F.linear, x, w)
        np.testing.assert_allclose(F.linear(tx, tw).numpy(), np.einsum("...i,oi->...o", x, w), rtol=1e-12, atol=1e-12)
    assert F.linear(tx, tw).shape == batch + (fout,)


# =============================================================================================
# Convolutions: references written out window by window


def conv2d_reference(x, w, b, stride, padding):
    """y[n,o,i,j] = b[o] + sum_{c,u,v} w[o,c,u,v] x_pad[n,c,s i+u, s j+v], one window at a time."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = conv_out(h, kh, stride, padding), conv_out(wd, kw, stride, padding)
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, stride * i : stride * i + kh, stride * j : stride * j + kw]
            y[:, :, i, j] = np.einsum("ncuv,ocuv->no", window, w)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def conv_transpose2d_reference(x, w, b, stride, padding, output_padding):
    """Each input pixel scatters a w-weighted copy of the kernel onto the (padded) output."""
    n, c, h, wd = x.shape
    _, o, kh, kw = w.shape
    oh = conv_transpose_out(h, kh, stride, padding, output_padding)
    ow = conv_transpose_out(wd, kw, stride, padding, output_padding)
    full = np.zeros((n, o, oh + 2 * padding, ow + 2 * padding))
    for i in range(h):
        for j in range(wd):
            full[:, :, stride * i : stride * i + kh, stride * j : stride * j + kw] += np.einsum(
                "nc,couv->nouv", x[:, :, i, j], w
            )
    y = full[:, :, padding : padding + oh, padding : padding + ow]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


@costly
@given(conv_problems())
def test_conv2d(problem):
    cfg, x, w, b = problem
    s, p = cfg["stride"], cfg["padding"]
    arrays = (x, w) if b is None else (x, w, b)
    leaves = check(
        lambda *t: F.conv2d(*t, stride=s, padding=p) if len(t) == 3 else F.conv2d(t[0], t[1], None, s, p), *arrays
    )
    y = F.conv2d(leaves[0], leaves[1], leaves[2] if b is not None else None, s, p)
    np.testing.assert_allclose(y.numpy(), conv2d_reference(x, w, b, s, p), rtol=1e-10, atol=1e-12)


@costly
@given(conv_problems(transposed=True))
def test_conv_transpose2d(problem):
    cfg, x, w, b = problem
    s, p, op = cfg["stride"], cfg["padding"], cfg["output_padding"]

    def f(*t):
        return F.conv_transpose2d(t[0], t[1], t[2] if len(t) == 3 else None, s, p, op)

    leaves = check(f, *((x, w) if b is None else (x, w, b)))
    np.testing.assert_allclose(
        f(*leaves).numpy(), conv_transpose2d_reference(x, w, b, s, p, op), rtol=1e-10, atol=1e-12
    )


@costly
@given(conv_problems(), st.data())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(problem, data):
    """<conv2d(x, W), y> = <x, conv_transpose2d(y, W)> for the output_padding that restores x's size."""
    cfg, x, w, _ = problem
    s, p = cfg["stride"], cfg["padding"]
    y_shape = (cfg["n"], cfg["c_out"], conv_out(cfg["h"], cfg["kh"], s, p), conv_out(cfg["w"], cfg["kw"], s, p))
    y = data.draw(normal_arrays(y_shape))
    op_h = cfg["h"] - conv_transpose_out(y_shape[2], cfg["kh"], s, p, 0)
    op_w = cfg["w"] - conv_transpose_out(y_shape[3], cfg["kw"], s, p, 0)
    assume(op_h == op_w)  # one output_padding for both axes, as in PyTorch's int argument
    lhs = float((F.conv2d(tg.Tensor(x), tg.Tensor(w), None, s, p).numpy() * y).sum())
    back = F.conv_transpose2d(tg.Tensor(y), tg.Tensor(w), None, s, p, op_h).numpy()
    assert back.shape == x.shape
    np.testing.assert_allclose(lhs, float((x * back).sum()), rtol=1e-10, atol=1e-10)


# Fixed corners, checked whatever hypothesis draws: (n, c_in, c_out, h, w, kh, kw, stride, padding, output_padding)
CONV_CORNERS = [
    (2, 3, 2, 4, 7, 5, 1, 3, 2, 2),
    (1, 2, 3, 6, 5, 2, 4, 2, 1, 1),
    (2, 1, 1, 4, 6, 3, 3, 1, 2, 0),
    (1, 3, 3, 5, 3, 1, 1, 3, 0, 2),
    (2, 2, 1, 7, 4, 4, 2, 2, 0, 1),
    # one window covers the whole (padded) image; the transposed conv starts from 1x1 (DCGAN's ends)
    (2, 3, 2, 7, 7, 7, 7, 1, 0, 0),
    (2, 3, 2, 4, 5, 4, 5, 1, 0, 0),
    (2, 3, 2, 1, 1, 3, 3, 2, 1, 1),
]


@pytest.mark.parametrize("corner", CONV_CORNERS)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv_fixed_corners(corner, with_bias):
    n, c_in, c_out, h, w, kh, kw, s, p, op = corner
    rng = np.random.default_rng(sum(corner))
    x = rng.standard_normal((n, c_in, h, w))
    b = rng.standard_normal(c_out) if with_bias else None
    weight = rng.standard_normal((c_out, c_in, kh, kw))
    arrays = (x, weight) if b is None else (x, weight, b)
    leaves = check(lambda *t: F.conv2d(t[0], t[1], t[2] if len(t) == 3 else None, s, p), *arrays)
    y = F.conv2d(leaves[0], leaves[1], leaves[2] if b is not None else None, s, p)
    np.testing.assert_allclose(y.numpy(), conv2d_reference(x, weight, b, s, p), rtol=1e-10, atol=1e-12)
    weight_t = rng.standard_normal((c_in, c_out, kh, kw))
    arrays = (x, weight_t) if b is None else (x, weight_t, b)

    def f(*t):
        return F.conv_transpose2d(t[0], t[1], t[2] if len(t) == 3 else None, s, p, op)

    leaves = check(f, *arrays)
    np.testing.assert_allclose(
        f(*leaves).numpy(), conv_transpose2d_reference(x, weight_t, b, s, p, op), rtol=1e-10, atol=1e-12
    )


def test_conv_rejects_bad_configurations():
    x = leaf(np.zeros((1, 2, 3, 3)))
    with pytest.raises(ValueError):
        F.conv2d(x, leaf(np.zeros((1, 3, 2, 2))))  # channels differ
    with pytest.raises(ValueError):
        F.conv2d(x, leaf(np.zeros((1, 2, 5, 1))))  # kernel larger than the padded input
    with pytest.raises(ValueError):
        F.conv_transpose2d(x, leaf(np.zeros((2, 1, 2, 2))), stride=2, output_padding=2)  # output_padding >= stride


def im2col_reference(x, kh, kw, stride, padding):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = conv_out(h, kh, stride, padding), conv_out(w, kw, stride, padding)
    cols = np.zeros((c, kh, kw, oh, ow, n))  # cols[c, u, v, i, j, n] = x_pad[n, c, s*i + u, s*j + v]
    for u in range(kh):
        for v in range(kw):
            for i in range(oh):
                for j in range(ow):
                    cols[:, u, v, i, j, :] = xp[:, :, stride * i + u, stride * j + v].T
    return cols


@costly
@given(conv_problems())
def test_im2col(problem):
    cfg, x, _, _ = problem
    k, s, p = (cfg["kh"], cfg["kw"]), cfg["stride"], cfg["padding"]
    (tx,) = check(lambda x: F.im2col(x, k, s, p), x)
    np.testing.assert_array_equal(F.im2col(tx, k, s, p).numpy(), im2col_reference(x, *k, s, p))


@costly
@given(conv_problems(), st.data())
def test_col2im(problem, data):
    cfg, _, _, _ = problem
    k, s, p = (cfg["kh"], cfg["kw"]), cfg["stride"], cfg["padding"]
    hw = (cfg["h"], cfg["w"])
    oh, ow = conv_out(hw[0], k[0], s, p), conv_out(hw[1], k[1], s, p)
    cols = data.draw(normal_arrays((cfg["c_in"],) + k + (oh, ow, cfg["n"])))
    (tc,) = check(lambda c: F.col2im(c, hw, s, p), cols)
    # col2im is the adjoint of im2col: <im2col(x), cols> = <x, col2im(cols)>.
    x = data.draw(normal_arrays((cfg["n"], cfg["c_in"]) + hw))
    lhs = float((im2col_reference(x, *k, s, p) * cols).sum())
    np.testing.assert_allclose(lhs, float((x * F.col2im(tc, hw, s, p).numpy()).sum()), rtol=1e-10, atol=1e-10)


# =============================================================================================
# Activations, softmax, dropout


@cheap
@given(st.data(), shapes(), st.sampled_from([0.01, 0.2, 0.0, 1.5]))
def test_leaky_relu(data, shape, slope):
    a = data.draw(away_from_zero(shape))
    (x,) = check(lambda x: F.leaky_relu(x, slope), a)
    np.testing.assert_array_equal(F.leaky_relu(x, slope).numpy(), np.where(a > 0, a, slope * a))


@cheap
@given(st.data(), shapes())
def test_relu(data, shape):
    a = data.draw(away_from_zero(shape))
    (x,) = check(F.relu, a)
    check(lambda x: x.relu(), a)
    np.testing.assert_array_equal(F.relu(x).numpy(), np.maximum(a, 0))


@cheap
@given(st.data(), shapes())
def test_sigmoid(data, shape):
    a = data.draw(floats_arrays(shape, -6, 6))
    (x,) = check(F.sigmoid, a)
    np.testing.assert_allclose(F.sigmoid(x).numpy(), scipy.special.expit(a), rtol=1e-12, atol=1e-15)


def test_sigmoid_is_stable_for_large_inputs():
    """No overflow (e^800 would be inf), and right to float64's absolute precision."""
    a = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    with np.errstate(all="raise"):
        y = F.sigmoid(leaf(a)).numpy()
    np.testing.assert_allclose(y, scipy.special.expit(a), rtol=1e-12, atol=1e-16)


@cheap
@given(st.data(), shapes())
def test_tanh(data, shape):
    a = data.draw(floats_arrays(shape, -3, 3))
    (x,) = check(F.tanh, a)
    np.testing.assert_allclose(F.tanh(x).numpy(), np.tanh(a), rtol=1e-12, atol=1e-15)


@medium
@given(st.data(), shapes(), st.booleans())
def test_logsumexp(data, shape, keepdim):
    a = data.draw(floats_arrays(shape, -5, 5))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    (x,) = check(lambda x: F.logsumexp(x, dim, keepdim), a)
    expected = scipy.special.logsumexp(a, axis=dim, keepdims=keepdim)
    np.testing.assert_allclose(F.logsumexp(x, dim, keepdim).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_logsumexp_does_not_overflow():
    a = np.array([[1000.0, 1000.0, -1000.0], [-1e4, 3.0, 2.0]])
    with np.errstate(over="raise"):
        y = F.logsumexp(leaf(a), 1).numpy()
    np.testing.assert_allclose(y, scipy.special.logsumexp(a, axis=1), rtol=1e-12)


@medium
@given(st.data(), shapes())
def test_log_softmax_and_softmax(data, shape):
    a = data.draw(floats_arrays(shape, -5, 5))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    (x,) = check(lambda x: F.log_softmax(x, dim), a)
    check(lambda x: F.softmax(x, dim), a)
    np.testing.assert_allclose(
        F.log_softmax(x, dim).numpy(), scipy.special.log_softmax(a, axis=dim), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(F.softmax(x, dim).numpy(), scipy.special.softmax(a, axis=dim), rtol=1e-12, atol=1e-15)


@cheap
@given(st.data(), shapes(), st.sampled_from([0.2, 0.5, 0.9]), st.integers(0, 2**16))
def test_dropout(data, shape, p, seed):
    a = data.draw(floats_arrays(shape))

    def f(x):
        tg.manual_seed(seed)  # the same mask in every evaluation of the check
        return F.dropout(x, p, training=True)

    (x,) = check(f, a)
    y = f(x).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], a[kept] / (1 - p), rtol=1e-12)
    x.grad = None
    f(x).backward(np.ones(shape))
    g = x.grad.numpy()
    assert set(np.unique(g)) <= {0.0, 1 / (1 - p)}
    # The gradient's mask is the forward's mask (where a != 0 the forward shows it).
    np.testing.assert_array_equal((g != 0)[a != 0], kept[a != 0])
    check(lambda x: F.dropout(x, p, training=False), a)
    assert F.dropout(x, p, training=False) is x


def test_dropout_rate_and_scale():
    tg.manual_seed(0)
    x = tg.Tensor(np.ones((200, 200)), requires_grad=True)
    y = F.dropout(x, 0.3).numpy()
    assert abs((y == 0).mean() - 0.3) < 0.01
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7])
    check(lambda x: F.dropout(x, 1.0), np.ones(3))  # p = 1 zeroes everything; gradient 0
    with pytest.raises(ValueError):
        F.dropout(x, 1.5)


# =============================================================================================
# Batch normalisation


@st.composite
def batch_norm_problems(draw):
    image = draw(st.booleans())
    n = draw(st.integers(2, 4))
    c = draw(st.integers(1, 3))
    shape = (n, c, draw(st.integers(1, 3)), draw(st.integers(2, 3))) if image else (n, c)
    x = draw(normal_arrays(shape, scale=draw(st.sampled_from([0.5, 1.0, 3.0]))))
    x = x + draw(normal_arrays((1, c) + (1,) * (len(shape) - 2)))  # channels with their own means
    weight = draw(normal_arrays((c,))) if draw(st.booleans()) else None
    bias = draw(normal_arrays((c,))) if draw(st.booleans()) else None
    return x, weight, bias


def _bn_args(t, weight, bias):
    """Split the leaves back into x, weight, bias (the affine ones are present or not)."""
    t = list(t)
    x = t.pop(0)
    w = t.pop(0) if weight is not None else None
    b = t.pop(0) if bias is not None else None
    return x, w, b


def batch_norm_reference(x, mean, var, weight, bias, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


@medium
@given(batch_norm_problems(), st.sampled_from([1e-5, 0.1]))
def test_batch_norm_training(problem, eps):
    x, weight, bias = problem
    c = x.shape[1]
    arrays = [a for a in (x, weight, bias) if a is not None]

    def f(*t):
        xx, w, b = _bn_args(t, weight, bias)
        return F.batch_norm(xx, None, None, w, b, training=True, eps=eps)

    leaves = check(f, *arrays)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    expected = batch_norm_reference(x, x.mean(axis=axes), x.var(axis=axes), weight, bias, eps)
    np.testing.assert_allclose(f(*leaves).numpy(), expected, rtol=1e-10, atol=1e-10)
    # The running statistics move towards the batch's mean and unbiased variance (PyTorch's rule).
    rm, rv = tg.Tensor(np.zeros(c)), tg.Tensor(np.ones(c))
    F.batch_norm(leaf(x), rm, rv, None, None, training=True, momentum=0.25, eps=eps)
    n = x.size // c
    np.testing.assert_allclose(rm.numpy(), 0.25 * x.mean(axis=axes), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.75 + 0.25 * x.var(axis=axes) * n / (n - 1), rtol=1e-12)


@medium
@given(batch_norm_problems(), st.data())
def test_batch_norm_eval_with_running_stats(problem, data):
    x, weight, bias = problem
    c = x.shape[1]
    running_mean = data.draw(normal_arrays((c,)))
    running_var = data.draw(positive_arrays((c,), lo=0.3, hi=2.0))
    arrays = [a for a in (x, weight, bias) if a is not None]
    rm, rv = tg.Tensor(running_mean.copy()), tg.Tensor(running_var.copy())

    def f(*t):
        xx, w, b = _bn_args(t, weight, bias)
        return F.batch_norm(xx, rm, rv, w, b, training=False)

    leaves = check(f, *arrays)
    np.testing.assert_allclose(
        f(*leaves).numpy(),
        batch_norm_reference(x, running_mean, running_var, weight, bias, 1e-5),
        rtol=1e-10,
        atol=1e-12,
    )
    np.testing.assert_array_equal(rm.numpy(), running_mean)  # evaluation leaves them alone
    np.testing.assert_array_equal(rv.numpy(), running_var)


# =============================================================================================
# Losses, each for reduction 'mean', 'sum', 'none'


@medium
@given(st.data(), shapes(max_dims=3), st.sampled_from(REDUCTIONS))
def test_binary_cross_entropy(data, shape, reduction):
    p = data.draw(probabilities(shape))
    # The target's gradient is checked by nudging it 1e-6 either way: it must stay inside [0, 1],
    # which binary_cross_entropy checks (as PyTorch does).
    y = data.draw(probabilities(shape, 1e-5, 1 - 1e-5))
    tp, ty = check(lambda p, y: F.binary_cross_entropy(p, y, reduction), p, y)
    expected = reduce_np(-(y * np.log(p) + (1 - y) * np.log1p(-p)), reduction)
    np.testing.assert_allclose(F.binary_cross_entropy(tp, ty, reduction).numpy(), expected, rtol=1e-12, atol=1e-12)
    check(lambda p: F.binary_cross_entropy(p, (y > 0.5).astype(np.float64), reduction), p)  # hard labels


def test_binary_cross_entropy_clamps_log_at_minus_100():
    p = leaf([0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 1.0])
    loss = F.binary_cross_entropy(p, y, "none").numpy()
    np.testing.assert_allclose(loss, [100.0, 100.0, np.log(2)], rtol=1e-12)
    with pytest.raises(ValueError):
        F.binary_cross_entropy(leaf([1.5]), np.array([1.0]))


@medium
@given(st.data(), shapes(max_dims=3), st.sampled_from(REDUCTIONS))
def test_binary_cross_entropy_with_logits(data, shape, reduction):
    """Gradient w.r.t. the logits and the target; values against the formula in log-sigmoids."""
    z = data.draw(floats_arrays(shape, -6, 6))
    y = data.draw(probabilities(shape, 0.0, 1.0))
    tz, ty = check(lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction), z, y)
    log_s, log_1ms = -np.logaddexp(0, -z), -np.logaddexp(0, z)
    expected = reduce_np(-(y * log_s + (1 - y) * log_1ms), reduction)
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(tz, ty, reduction).numpy(), expected, rtol=1e-12, atol=1e-12
    )


def test_binary_cross_entropy_with_logits_is_stable():
    z = np.array([-500.0, -50.0, 50.0, 500.0])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    with np.errstate(over="raise"):
        loss = F.binary_cross_entropy_with_logits(leaf(z), y, "none").numpy()
    np.testing.assert_allclose(loss, [500.0, 0.0, 0.0, 500.0], atol=1e-20, rtol=1e-12)


@medium
@given(st.data(), shapes(max_dims=3), st.sampled_from(REDUCTIONS))
def test_mse_loss(data, shape, reduction):
    a = data.draw(floats_arrays(shape))
    b = data.draw(floats_arrays(shape))
    ta, tb = check(lambda a, b: F.mse_loss(a, b, reduction), a, b)
    np.testing.assert_allclose(
        F.mse_loss(ta, tb, reduction).numpy(), reduce_np((a - b) ** 2, reduction), rtol=1e-12, atol=1e-12
    )
    check(lambda a: F.mse_loss(a, b, reduction), a)  # a NumPy target


@medium
@given(st.data(), shapes(max_dims=3), st.sampled_from(REDUCTIONS))
def test_l1_loss(data, shape, reduction):
    b = data.draw(floats_arrays(shape))
    a = b + data.draw(away_from_zero(shape))  # |a - b| >= 0.1: away from the kink
    ta, tb = check(lambda a, b: F.l1_loss(a, b, reduction), a, b)
    np.testing.assert_allclose(
        F.l1_loss(ta, tb, reduction).numpy(), reduce_np(np.abs(a - b), reduction), rtol=1e-12, atol=1e-12
    )


@medium
@given(st.data(), st.integers(1, 4), st.integers(1, 5), st.sampled_from(REDUCTIONS))
def test_cross_entropy(data, n, classes, reduction):
    z = data.draw(floats_arrays((n, classes), -5, 5))
    labels = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
    (tz,) = check(lambda z: F.cross_entropy(z, labels, reduction), z)
    check(lambda z: F.cross_entropy(z, tg.Tensor(labels), reduction), z)
    expected = reduce_np(scipy.special.logsumexp(z, axis=1) - z[np.arange(n), labels], reduction)
    np.testing.assert_allclose(F.cross_entropy(tz, labels, reduction).numpy(), expected, rtol=1e-12, atol=1e-12)


@medium
@given(st.data(), st.integers(1, 4), st.integers(1, 4), st.sampled_from(REDUCTIONS))
def test_gaussian_kl(data, n, d, reduction):
    mu = data.draw(floats_arrays((n, d)))
    logvar = data.draw(floats_arrays((n, d)))
    tm, tl = check(lambda m, l: F.gaussian_kl(m, l, reduction), mu, logvar)
    # KL(N(mu, s^2) || N(0, 1)) per dimension = log(1/s) + (s^2 + mu^2)/2 - 1/2, summed over dims.
    s2 = np.exp(logvar)
    per_sample = (-0.5 * logvar + 0.5 * (s2 + mu**2) - 0.5).sum(axis=1)
    np.testing.assert_allclose(
        F.gaussian_kl(tm, tl, reduction).numpy(), reduce_np(per_sample, reduction), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize(
    "loss",
    [F.mse_loss, F.l1_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits, F.gaussian_kl],
)
def test_losses_reject_unknown_reduction(loss):
    x = leaf(np.full((2, 2), 0.5))
    with pytest.raises(ValueError):
        loss(x, leaf(np.full((2, 2), 0.5)), "average")
