"""Ops that move values around without changing them: reshape, transpose, broadcast, index, join.

Their gradients move the incoming gradient back the same way: reshape it back, transpose it back,
add up what a broadcast copied, scatter what an index picked.
"""
from tinygen.autograd import Function, Tensor
from tinygen.backend import get_array_module
from tinygen.functional.checks import normalize_dim, normalize_dims, not_a_tensor


class Reshape(Function):
    """y = x with a new shape (same values in the same order).   gx = reshape(gy, x.shape)"""

    reads_inputs, makes_view = {}, True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.input_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.input_shape)


def reshape(x, shape):
    if not isinstance(x, Tensor):
        raise not_a_tensor("reshape", "input", x)
    if tuple(x.shape) == tuple(shape):
        return x
    try:
        return Reshape(tuple(shape))(x)
    except ValueError as error:  # NumPy's "cannot reshape array of size 6 into shape (4,)"; PyTorch's type
        raise RuntimeError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.numel()} elements) into "
                           f"{tuple(shape)}: {error}") from None


def flatten(x, start_dim=0, end_dim=-1):
    """Merge the dimensions start_dim..end_dim into one (a 0-d tensor becomes shape (1,))."""
    if not isinstance(x, Tensor):
        raise not_a_tensor("flatten", "input", x)
    start, end = normalize_dim(start_dim, x.ndim, "flatten"), normalize_dim(end_dim, x.ndim, "flatten")
    if start > end:
        raise RuntimeError(f"flatten: start_dim cannot come after end_dim, got start_dim={start_dim} and "
                           f"end_dim={end_dim} for shape {x.shape}")
    if x.ndim == 0:
        return reshape(x, (1,))
    shape = x.shape[:start] + (-1,) + x.shape[end + 1 :]
    return reshape(x, shape)


def unsqueeze(x, dim):
    """A new axis of size 1 at `dim`; dim may be anything in [-(ndim + 1), ndim]."""
    if not isinstance(x, Tensor):
        raise not_a_tensor("unsqueeze", "input", x)
    dim = normalize_dim(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


class Transpose(Function):
    """y = x with its axes reordered: y.shape[i] = x.shape[axes[i]].

    gx = transpose(gy, inverse of axes)   (the inverse permutation puts every axis back)
    """

    reads_inputs, makes_view = {}, True

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        inverse = tuple(sorted(range(len(self.axes)), key=lambda i: self.axes[i]))
        return transpose(gy, inverse)


def transpose(x, axes):
    """Reorder the axes: PyTorch's x.permute(*axes). `axes` holds every dim once, in any order."""
    if not isinstance(x, Tensor):
        raise not_a_tensor("permute", "input", x)
    axes = tuple(axes)
    if sorted(axes) != list(range(x.ndim)):  # negative dims, or not a permutation: look closer
        if len(axes) != x.ndim:
            raise RuntimeError(f"permute: the tensor has {x.ndim} dimensions (shape {x.shape}) but {len(axes)} "
                               f"dims were given: {axes}")
        axes = normalize_dims(axes, x.ndim, "permute")
    if axes == tuple(range(x.ndim)):
        return x
    return Transpose(axes)(x)


def swapaxes(x, dim0, dim1):
    """Swap two axes: PyTorch's x.transpose(dim0, dim1)."""
    if not isinstance(x, Tensor):
        raise not_a_tensor("transpose", "input", x)
    dim0, dim1 = normalize_dim(dim0, x.ndim, "transpose"), normalize_dim(dim1, x.ndim, "transpose")
    if x.ndim == 0:
        return x
    axes = list(range(x.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return transpose(x, axes)


class BroadcastTo(Function):
    """y = x repeated along the broadcast axes.   gx = sum_to(gy, x.shape): copies add up."""

    reads_inputs, makes_view = {}, True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.input_shape = x.shape
        return get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.input_shape)


def broadcast_to(x, shape):
    if tuple(x.shape) == tuple(shape):
        return x
    return BroadcastTo(tuple(shape))(x)


class SumTo(Function):
    """y = x summed down to `shape` (the reverse of broadcasting).   gx = broadcast_to(gy, x.shape)"""

    reads_inputs = {}

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.input_shape = x.shape
        return sum_to_array(x, self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.input_shape)


def sum_to_array(x, shape):
    """Sum the array `x` over the axes that broadcasting added or stretched, leaving `shape`."""
    lead = x.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    y = x.sum(axis=tuple(range(lead)) + stretched, keepdims=True)
    return y.reshape(shape)


def sum_to(x, shape):
    """The gradient of a broadcast: used by every op whose inputs may broadcast."""
    if tuple(x.shape) == tuple(shape):
        return x
    return SumTo(tuple(shape))(x)


class GetItem(Function):
    """y = x[index] (slices, integers, integer arrays, masks).

    gx = zeros like x with gy added at x[index] (added, not set: an integer array may pick the
    same element twice, as an Embedding does for a repeated word).
    """

    reads_inputs, makes_view = {}, True  # a view for slices; integer-array indexing copies

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.input_shape = x.shape
        return x[self.index]

    def backward(self, gy):
        return ScatterAdd(self.index, self.input_shape)(gy)


class ScatterAdd(Function):
    """y = zeros(shape) with x added at y[index].   gx = gy[index] (the adjoint of GetItem)

    A basic index (ints, slices, None, ...) picks each element at most once, so adding is
    setting, which is many times faster than add.at (a recurrent layer slices its gates so at
    every time step).
    """

    reads_inputs = {}

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, x):
        xp = get_array_module(x)
        y = xp.zeros(self.shape, dtype=x.dtype)
        if _is_basic(self.index):
            y[self.index] = x
        else:
            xp.add.at(y, self.index, x)
        return y

    def backward(self, gy):
        return getitem(gy, self.index)


def _is_basic(index):
    """Whether `index` is basic indexing: Python ints, slices, None and Ellipsis only."""
    parts = index if type(index) is tuple else (index,)
    return all(type(i) in (int, slice) or i is None or i is Ellipsis for i in parts)


def getitem(x, index):
    if isinstance(index, Tensor):
        index = index.data
    if isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return GetItem(index)(x)


class Cat(Function):
    """y = the inputs joined along `axis`.   g_i = the slice of gy that came from input i."""

    reads_inputs = {}

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        grads, start = [], 0
        for size in self.sizes:
            index = (slice(None),) * self.axis + (slice(start, start + size),)
            grads.append(getitem(gy, index))
            start += size
        return tuple(grads)


def _tensor_list(tensors, op):
    """The tensors to join, as a list: a list or tuple holding at least one tensor, and only tensors."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected a list of tensors, got {type(t).__name__} at position {i}")
    return list(tensors)


def cat(tensors, dim=0):
    """Join tensors along an existing axis `dim`; their other axes must match."""
    tensors = _tensor_list(tensors, "cat")
    ndim = tensors[0].ndim
    for t in tensors:
        if t.ndim != ndim:
            raise ValueError(f"cat: all tensors need {ndim} dimensions, got shapes {[x.shape for x in tensors]}")
    if ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    axis = normalize_dim(dim, ndim, "cat")
    others = {t.shape[:axis] + t.shape[axis + 1 :] for t in tensors}
    if len(others) > 1:
        raise ValueError(f"cat: tensors must have the same shape except in dim {axis}, "
                         f"got shapes {[x.shape for x in tensors]}")
    return Cat(axis)(*tensors)


def stack(tensors, dim=0):
    """Join along a new axis: each input gets a size-1 axis at `dim`, then cat."""
    tensors = _tensor_list(tensors, "stack")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
    dim = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    return cat([unsqueeze(t, dim) for t in tensors], dim)
