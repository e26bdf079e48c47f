"""Hypothesis strategies shared by the tests (in the style of minitorch's tests/strategies.py).

Shapes are small (1-4 dimensions of size 1-4) so that a gradient check can nudge *every* element
of every input, not one random index. Values come in the flavours the ops need:

  floats_arrays        any values in a safe range (no overflow of exp, no huge products)
  away_from_zero       |x| >= 0.1: abs, relu and leaky_relu are smooth there
  away_from_bounds     at least 0.05 from the clip bounds
  distinct_arrays      values on a grid with spacing > 0, all different: max has no ties
  positive_arrays      x >= 0.2: log, sqrt and denominators of div
  normal_arrays        standard normal from a drawn seed: well spread (batch statistics)
  conv_configs         a valid convolution (or transposed convolution) with a non-empty output
  conv_problems        a conv config with its input, weight and bias arrays

Every test here runs with `deadline=None` (a gradient check's time depends on the sizes drawn)
and a small `max_examples`; the settings objects below (cheap, medium, costly) are what the test
files use. Nothing here loads a global profile, so importing this module does not change other
tests' settings.
"""

import os

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygen as tg

# --- settings --------------------------------------------------------------------------------
# TINYGEN_EXAMPLES_SCALE=10 multiplies every max_examples for a deeper (slower) search.
_scale = float(os.environ.get("TINYGEN_EXAMPLES_SCALE", "1"))
_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _examples(n):
    return settings(max_examples=max(1, int(n * _scale)), **_common)


cheap = _examples(60)  # elementwise ops: a check takes milliseconds
medium = _examples(40)  # reductions, matmul, losses, small layers
costly = _examples(25)  # convolutions, second derivatives

SAFE = 2.0  # |x| <= SAFE: e^x, x^3, products of a few values all stay of order 1-10


# --- shapes ----------------------------------------------------------------------------------
def shapes(min_dims=1, max_dims=4, min_side=1, max_side=4):
    """A small array shape."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


@st.composite
def broadcast_pairs(draw, max_dims=4, max_side=4):
    """Two shapes that broadcast together, e.g. (3, 1, 4) and (2, 4), or (2, 3) and (): returned as (a, b)."""
    a, b = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims, max_side=max_side)
    ).input_shapes
    return a, b


@st.composite
def shape_and_reduced(draw, max_dims=4, max_side=4):
    """(big, small): `small` is what sum_to reduces `big` to (leading axes dropped, some axes set to 1)."""
    big = draw(shapes(max_dims=max_dims, max_side=max_side))
    drop = draw(st.integers(0, len(big)))
    small = tuple(1 if draw(st.booleans()) else n for n in big[drop:])
    return big, small


@st.composite
def reduce_dims(draw, ndim):
    """A `dim` argument for a reduction over an array of `ndim` dimensions: None, an axis
    (possibly negative) or a tuple of distinct axes."""
    kind = draw(st.sampled_from(["all", "one", "several"]))
    if kind == "all":
        return None
    if kind == "one":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(axes)


# --- values ----------------------------------------------------------------------------------
def _finite(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def floats_arrays(shape, lo=-SAFE, hi=SAFE):
    """float64 arrays of `shape` with values in [lo, hi]."""
    return hnp.arrays(np.float64, shape, elements=_finite(lo, hi))


def away_from_zero(shape, margin=0.1, hi=SAFE):
    """float64 arrays with margin <= |x| <= hi (both signs)."""
    return hnp.arrays(np.float64, shape, elements=st.one_of(_finite(-hi, -margin), _finite(margin, hi)))


def away_from_bounds(shape, lo, hi, margin=0.05, reach=SAFE):
    """float64 arrays with every value at least `margin` away from the clip bounds lo and hi
    (either may be None: no bound on that side), and within `reach` of them."""
    low = min(lo if lo is not None else 0.0, 0.0) - reach
    high = max(hi if hi is not None else 0.0, 0.0) + reach
    bounds = [b for b in (lo, hi) if b is not None]
    edges = [low] + bounds + [high]
    parts = [
        _finite(a + (margin if a in bounds else 0.0), b - (margin if b in bounds else 0.0))
        for a, b in zip(edges, edges[1:])
    ]
    return hnp.arrays(np.float64, shape, elements=st.one_of(*parts))


def positive_arrays(shape, lo=0.2, hi=3.0):
    """float64 arrays with values in [lo, hi] (log, sqrt, a denominator)."""
    return hnp.arrays(np.float64, shape, elements=_finite(lo, hi))


def distinct_arrays(shape, spacing=0.01, span=300):
    """float64 arrays whose values all differ by at least `spacing` (no ties for max)."""
    size = int(np.prod(shape))
    span = max(span, size)
    ints = hnp.arrays(np.int64, shape, elements=st.integers(-span, span), unique=True)
    return ints.map(lambda a: a * spacing)


def normal_arrays(shape, scale=1.0):
    """Standard normal float64 arrays from a drawn seed: spread-out values whatever the shape."""
    return st.integers(0, 2**32 - 1).map(lambda seed: scale * np.random.default_rng(seed).standard_normal(shape))


def probabilities(shape, lo=0.05, hi=0.95):
    """Values in [lo, hi]: probabilities away from the clamped ends of BCE."""
    return hnp.arrays(np.float64, shape, elements=_finite(lo, hi))


@st.composite
def arrays_of_shape(draw, values=floats_arrays, **shape_kwargs):
    """An array of a drawn shape; `values(shape)` picks the flavour of the values."""
    return draw(values(draw(shapes(**shape_kwargs))))


# --- convolutions ------------------------------------------------------------------------------
def conv_out(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def conv_transpose_out(size, kernel, stride, padding, output_padding):
    return (size - 1) * stride - 2 * padding + kernel + output_padding


@st.composite
def conv_configs(draw, transposed=False, max_batch=2, max_channels=3, max_kernel=5, max_stride=3, max_padding=2):
    """A dict describing a convolution with a valid, non-empty output and H != W:

    n, c_in, c_out, h, w, kh, kw, stride, padding, output_padding (0 unless transposed), bias.
    For conv2d, H + 2 padding >= kh (a window fits); for conv_transpose2d the output size
    (H - 1) stride - 2 padding + kh + output_padding is at least 1.
    """
    cfg = dict(
        n=draw(st.integers(1, max_batch)),
        c_in=draw(st.integers(1, max_channels)),
        c_out=draw(st.integers(1, max_channels)),
        kh=draw(st.integers(1, max_kernel)),
        kw=draw(st.integers(1, max_kernel)),
        stride=draw(st.integers(1, max_stride)),
        padding=draw(st.integers(0, max_padding)),
        bias=draw(st.booleans()),
    )
    s, p = cfg["stride"], cfg["padding"]
    cfg["output_padding"] = draw(st.integers(0, s - 1)) if transposed else 0

    def smallest(k):
        size = 1
        if transposed:
            while conv_transpose_out(size, k, s, p, cfg["output_padding"]) < 1:
                size += 1
        else:
            while conv_out(size, k, s, p) < 1:
                size += 1
        return size

    h0, w0 = smallest(cfg["kh"]), smallest(cfg["kw"])
    # Transposed convolutions grow the image by `stride`: keep their inputs smaller.
    extra = 2 if transposed else 4
    cfg["h"] = draw(st.integers(h0, h0 + extra))
    w = draw(st.integers(w0, w0 + extra))
    cfg["w"] = w + 1 if w == cfg["h"] else w  # non-square
    return cfg


def conv_weight_shape(cfg, transposed=False):
    """(out, in, kh, kw) for conv2d; (in, out, kh, kw) for conv_transpose2d, as PyTorch."""
    if transposed:
        return (cfg["c_in"], cfg["c_out"], cfg["kh"], cfg["kw"])
    return (cfg["c_out"], cfg["c_in"], cfg["kh"], cfg["kw"])


@st.composite
def conv_problems(draw, transposed=False, **kwargs):
    """A conv config with input x, weight and bias (None when cfg['bias'] is False) as float64 arrays."""
    cfg = draw(conv_configs(transposed=transposed, **kwargs))
    x = draw(normal_arrays((cfg["n"], cfg["c_in"], cfg["h"], cfg["w"])))
    weight = draw(normal_arrays(conv_weight_shape(cfg, transposed), scale=0.5))
    bias = draw(normal_arrays((cfg["c_out"],))) if cfg["bias"] else None
    return cfg, x, weight, bias


def leaf(values, dtype=np.float64):
    """A leaf tensor that requires a gradient, float64 by default (a copy: gradcheck nudges it in place)."""
    return tg.Tensor(np.array(values, dtype=dtype), requires_grad=True)
