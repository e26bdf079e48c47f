"""Matrix products: matmul, tensordot, and the affine map of a Linear layer.

Each multiplies through `threads.matmul` or `threads.tensordot`: on the CPU a large product is cut
into blocks (of rows or columns) computed at once on the free cores, one BLAS thread each (see threads.py).
"""

from tinygen import threads
from tinygen.autograd import Function, Tensor
from tinygen.functional.checks import check_same_dtype, normalize_dim, not_a_tensor
from tinygen.functional.reduction import sum
from tinygen.functional.shape import reshape, sum_to, swapaxes, transpose


class MatMul(Function):
    """Y = A @ B (batched over leading axes, which broadcast).

    gA = gY @ B^T,   gB = A^T @ gY   (summed over broadcast batch axes)
    """

    reads_inputs = {0: (1,), 1: (0,)}

    def forward(self, a, b):
        return threads.matmul(a, b)

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(matmul(gy, swapaxes(b, -1, -2)), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(matmul(swapaxes(a, -1, -2), gy), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def _check_operands(op, a, b):
    """Both operands Tensors of one dtype: PyTorch refuses float32 @ float64 (NumPy would quietly
    compute in float64, and send float64 gradients to float32 weights)."""
    if not isinstance(a, Tensor):
        raise not_a_tensor(op, "input", a)
    if not isinstance(b, Tensor):
        raise not_a_tensor(op, "other", b)
    if a.data.dtype != b.data.dtype:
        raise RuntimeError(f"{op}: operands have different dtypes, {a.dtype} and {b.dtype}; convert one with "
                           f".float() or .double()")


def matmul(a, b):
    _check_operands("matmul", a, b)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"matmul: both operands need at least 2 dimensions, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not fit ({a.shape[-1]} != {b.shape[-2]})")
    return MatMul()(a, b)


class Tensordot(Function):
    """y = sum over paired axes of a(free_a, k) * b(k, free_b): y has axes free_a + free_b.

    Each gradient is again a tensordot, over the axes the other input kept:
      ga = gy contracted with b over free_b, then axes put back in a's order
      gb = a contracted with gy over free_a, then axes put back in b's order
    """

    reads_inputs = {0: (1,), 1: (0,)}

    def __init__(self, axes_a, axes_b):
        self.axes_a, self.axes_b = axes_a, axes_b

    def forward(self, a, b):
        return threads.tensordot(a, b, self.axes_a, self.axes_b)

    def backward(self, gy):
        a, b = self.inputs
        free_a = [i for i in range(a.ndim) if i not in self.axes_a]
        free_b = [i for i in range(b.ndim) if i not in self.axes_b]
        # tensordot keeps the free axes of its second operand in ascending order; these are
        # the axes of a (of b) that pair with b's (a's) contracted axes taken in that order.
        pair_of_b = dict(zip(self.axes_b, self.axes_a))
        pair_of_a = dict(zip(self.axes_a, self.axes_b))
        ga = gb = None
        if self.needs_input_grad[0]:
            gy_axes_of_b = list(range(len(free_a), gy.ndim))
            ga = tensordot(gy, b, (gy_axes_of_b, free_b))
            ga = transpose(ga, _inverse(free_a + [pair_of_b[j] for j in sorted(self.axes_b)]))
        if self.needs_input_grad[1]:
            gy_axes_of_a = list(range(len(free_a)))
            gb = tensordot(a, gy, (free_a, gy_axes_of_a))
            gb = transpose(gb, _inverse([pair_of_a[i] for i in sorted(self.axes_a)] + free_b))
        return ga, gb


def _inverse(permutation):
    """The permutation that undoes `permutation`."""
    return sorted(range(len(permutation)), key=lambda i: permutation[i])


def tensordot(a, b, axes):
    """As numpy.tensordot: `axes` is an int n (last n of a with first n of b) or two lists."""
    _check_operands("tensordot", a, b)
    if isinstance(axes, int):
        if not 0 <= axes <= min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: cannot pair {axes} axes of shapes {a.shape} and {b.shape}")
        axes_a, axes_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        axes_a = [normalize_dim(i, a.ndim, "tensordot") for i in axes[0]]
        axes_b = [normalize_dim(i, b.ndim, "tensordot") for i in axes[1]]
        if len(axes_a) != len(axes_b) or len(set(axes_a)) != len(axes_a) or len(set(axes_b)) != len(axes_b):
            raise ValueError(f"tensordot: axes {tuple(axes[0])} and {tuple(axes[1])} must pair distinct axes one "
                             f"to one")
    for i, j in zip(axes_a, axes_b):
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"tensordot: axis {i} of {a.shape} does not match axis {j} of {b.shape}")
    return Tensordot(tuple(axes_a), tuple(axes_b))(a, b)


class Linear(Function):
    """y = x W^T + b for x of shape (N, in) and W of shape (out, in).

    gx = gy W,   gW = gy^T x,   gb = sum of gy over the batch

    The same as matmul(x, W^T) + b, in one op: gW comes out in W's own layout, so the optimiser
    reads it row by row like W.
    """

    reads_inputs = {0: (1,), 1: (0,), 2: ()}  # gx reads W, gW reads x, gb neither

    def forward(self, x, weight, bias=None):
        y = threads.matmul(x, weight.T)
        if bias is not None:
            y += bias
        return y

    def backward(self, gy):
        x, weight = self.inputs[:2]
        gx = matmul(gy, weight) if self.needs_input_grad[0] else None
        gw = matmul(transpose(gy, (1, 0)), x) if self.needs_input_grad[1] else None
        gb = sum(gy, 0) if len(self.inputs) == 3 and self.needs_input_grad[2] else None
        return gx, gw, gb


def linear(x, weight, bias=None):
    """y = x W^T + b, with W of shape (out_features, in_features), as torch.nn.functional.linear.

    x may have any number of leading axes, (..., in_features) -> (..., out_features).
    """
    if not isinstance(x, Tensor) or not isinstance(weight, Tensor) or bias is not None and not isinstance(bias, Tensor):
        name, value = ("input", x) if not isinstance(x, Tensor) else \
            ("weight", weight) if not isinstance(weight, Tensor) else ("bias", bias)
        raise not_a_tensor("linear", name, value)
    if x.data.dtype != weight.data.dtype or bias is not None and bias.data.dtype != weight.data.dtype:
        check_same_dtype("linear", x, weight, bias)
    if x.data.ndim == 0 or weight.data.ndim != 2:
        raise ValueError(f"linear: expected an input of shape (..., in_features) and a weight (out_features, "
                         f"in_features), got {x.shape} and {weight.shape}")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input has {x.shape[-1]} features (shape {x.shape}) but the weight "
            f"{weight.shape} expects {weight.shape[1]}"
        )
    if x.ndim != 2:  # flatten the leading axes into one batch axis, and back
        y = linear(reshape(x, (-1, x.shape[-1])), weight, bias)
        return reshape(y, x.shape[:-1] + (weight.shape[0],))
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Linear()(*inputs)
