"""Reductions: sum, mean, var, max, min over some axes (all axes when `dim` is None).

As in PyTorch, the mean of no elements is nan (with a warning: no NaN passes silently), so is an
unbiased variance of one element; the max (or min) of no elements is an error.
"""
import warnings

from tinygen.autograd import Function, Tensor
from tinygen.functional.checks import normalize_dim, normalize_dims, not_a_tensor
from tinygen.functional.shape import broadcast_to, reshape


def _axes(x, dim, op):
    """`dim` as a sorted tuple of non-negative axes of x (None, or an empty tuple, means all)."""
    if not isinstance(x, Tensor):
        raise not_a_tensor(op, "input", x)
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        return tuple(range(x.ndim))
    if isinstance(dim, (tuple, list)):
        return tuple(sorted(normalize_dims(dim, x.ndim, op)))
    if x.ndim == 0:  # dim 0 (or -1) of a 0-d tensor: nothing to reduce
        normalize_dim(dim, 0, op)
        return ()
    return (normalize_dim(dim, x.ndim, op),)


def _count(shape, axes):
    """How many elements each result of a reduction over `axes` gathers."""
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _scale(n, op, what):
    """1 / n as the factor of a mean; nan, with a warning, when n <= 0 (PyTorch's nan, made loud)."""
    if n > 0:
        return 1.0 / n
    warnings.warn(f"{op}: {what}; the result is nan", RuntimeWarning, stacklevel=3)
    return float("nan")


def _kept_shape(shape, axes):
    """The shape of the reduction with keepdim=True: reduced axes become 1."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """y = sum of x over `axes`.   gx = gy broadcast back over those axes (every x_i adds once)"""

    reads_inputs = {}

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.input_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        gy = reshape(gy, _kept_shape(self.input_shape, self.axes))
        return broadcast_to(gy, self.input_shape)


class Max(Function):
    """y = max of x over `axes`.

    gx = gy at the elements equal to the max, 0 elsewhere; ties share gy equally (as torch.amax).
    """

    reads_output = True  # and x (the default)

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        return x.max(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0].data
        kept = _kept_shape(x.shape, self.axes)
        is_max = x == self.output.data.reshape(kept)
        share = is_max / is_max.sum(axis=self.axes, keepdims=True)
        return broadcast_to(reshape(gy, kept), x.shape) * Tensor(share.astype(x.dtype))


class Min(Max):
    """y = min of x over `axes`.

    gx = gy at the elements equal to the min, 0 elsewhere; ties share gy equally (as torch.amin).
    """

    def forward(self, x):
        return x.min(axis=self.axes, keepdims=self.keepdims)


def sum(x, dim=None, keepdim=False):
    axes = _axes(x, dim, "sum")
    return Sum(axes, keepdim)(x)


def mean(x, dim=None, keepdim=False):
    """mean = sum / n, where n is the number of elements reduced (nan for n = 0, as PyTorch)."""
    axes = _axes(x, dim, "mean")
    n = _count(x.shape, axes)
    scale = 1.0 / n if n > 0 else _scale(n, "mean", f"mean of 0 elements (shape {x.shape}, dims {axes})")
    return Sum(axes, keepdim)(x) * scale


def var(x, dim=None, keepdim=False, unbiased=True):
    """var = sum (x - mean)^2 / (n - 1), or / n when unbiased=False (nan when that is / 0)."""
    axes = _axes(x, dim, "var")
    n = _count(x.shape, axes)
    centered = x - Sum(axes, True)(x) * (1.0 / n if n else float("nan"))
    divisor = n - 1 if unbiased else n
    return Sum(axes, keepdim)(centered * centered) * _scale(
        divisor, "var", f"variance of {n} element(s) (shape {x.shape}, dims {axes}) divides by {divisor}")


def max(x, dim=None, keepdim=False):
    """The largest value over `dim` (all dims when None), as torch.amax: a tensor, no indices."""
    return _extreme(Max, "max", x, dim, keepdim)


def min(x, dim=None, keepdim=False):
    """The smallest value over `dim` (all dims when None), as torch.amin: a tensor, no indices."""
    return _extreme(Min, "min", x, dim, keepdim)


def _extreme(function, op, x, dim, keepdim):
    axes = _axes(x, dim, op)
    if x.data.size == 0:
        if dim is None:
            raise RuntimeError(f"{op}: the tensor is empty (shape {x.shape}); give a dim to reduce over")
        empty = next((a for a in axes if x.shape[a] == 0), None)
        if empty is not None:
            raise IndexError(f"{op}: cannot reduce over dim {empty} of size 0 (shape {x.shape})")
    return function(axes, keepdim)(x)
