"""Reductions: sum, mean, var, max over some axes (all axes when `dim` is None)."""
from tinygen.autograd import Tensor
from tinygen.autograd import Function
from tinygen.functional.shape import broadcast_to, reshape


def _axes(dim, ndim):
    """`dim` as a sorted tuple of non-negative axes (None means all)."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    return tuple(sorted(d % ndim for d in dim))


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


def sum(x, dim=None, keepdim=False):
    return Sum(_axes(dim, x.ndim), keepdim)(x)


def mean(x, dim=None, keepdim=False):
    """mean = sum / n, where n is the number of elements reduced."""
    axes = _axes(dim, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    return sum(x, axes, keepdim) * (1.0 / n)


def var(x, dim=None, keepdim=False, unbiased=True):
    """var = sum (x - mean)^2 / (n - 1), or / n when unbiased=False."""
    axes = _axes(dim, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    centered = x - mean(x, axes, keepdim=True)
    return sum(centered * centered, axes, keepdim) * (1.0 / (n - 1 if unbiased else n))


def max(x, dim=None, keepdim=False):
    return Max(_axes(dim, x.ndim), keepdim)(x)
