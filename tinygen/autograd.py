"""Reverse-mode automatic differentiation.

A `Tensor` holds an array (`.data`) and, when it was computed from tensors that require
gradients, the `Function` that made it (`.creator`). The functions and tensors form a graph
that runs from the leaves (parameters, inputs) to the result. `backward()` walks that graph from
the result back to the leaves, asking each function for the gradient of its inputs given the
gradient of its output (the chain rule), and adds up the gradients that meet at a tensor.

Each function's `backward` is written with tinygen ops, not raw arrays. With
`create_graph=True` those ops record a graph of their own, so a gradient can be differentiated
again: that is how gradient penalties (WGAN-GP, R1) train.

Two safety nets, as in PyTorch: a version counter on each tensor refuses a backward through
values that an in-place change (an optimiser step) altered after the forward, and the opt-in
anomaly mode (`detect_anomaly()`) names the op whose backward first made a NaN or inf.
"""
import collections
import contextlib
import heapq
import itertools
import numbers
import operator
import weakref

from tinygen import anomaly, backend
from tinygen.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly  # noqa: F401  (torch.autograd's names)

# ---------------------------------------------------------------------------------------------
# Grad mode: whether ops record the graph.


class _GradMode:
    enabled = True


def is_grad_enabled():
    return _GradMode.enabled


@contextlib.contextmanager
def set_grad_enabled(enabled):
    previous = _GradMode.enabled
    _GradMode.enabled = enabled
    try:
        yield
    finally:
        _GradMode.enabled = previous


def no_grad():
    """`with tinygen.no_grad():` runs ops without recording a graph (evaluation, sampling)."""
    return set_grad_enabled(False)


def enable_grad():
    return set_grad_enabled(True)


# ---------------------------------------------------------------------------------------------
# Tensor


class _InPlaceClock:
    now = 0  # the number of in-place changes of any tensor so far (see Tensor._bump_version)


class Tensor:
    """An array with an optional gradient and a link to the function that computed it.

    `Tensor(data, requires_grad=False)`: `data` is a Python number or list, or a NumPy/CuPy array.
    Python floats become float32; arrays keep their dtype (gradient checks use float64). An array
    is taken as it is, not copied (`tinygen.tensor(array)` copies, as `torch.tensor` does).

    Python's operators follow PyTorch's (see "Python's protocols" below): `==` and `<` compare
    elementwise, `bool(t)` needs one element, `t[i] = v` and `t += v` change t in place.
    """

    # numpy_array + tensor, numpy_scalar * tensor, numpy_array == tensor: NumPy steps aside and
    # Python calls Tensor's reflected operator (__radd__, __rmul__, __eq__), which keeps the graph.
    # A NumPy function applied to a tensor (np.exp(t)) is a TypeError: use the tinygen op.
    __array_priority__ = 1000
    __array_ufunc__ = None

    # Version counting (see "Changing a tensor in place" below). Class defaults: a tensor that is
    # never changed in place, or is not a view, stores nothing of its own.
    _changes = 0  # in-place changes of this tensor's array so far: its version
    _changed_at = 0  # the in-place clock's time at the last of them (0: never changed)
    _base = None  # the tensor whose array this one's array views (it shares that one's count)

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        if dtype is None and device is None and backend.is_array(data):
            if data.dtype.kind not in "fiub":  # an array of objects or strings: not numbers
                backend.check_numeric(data.dtype, data)
            self.data = data  # an array stays as it is, where it is
        else:
            if device is None:
                device = backend.device_of(data)
            self.data = backend.as_array(data, dtype=dtype, device=device)
        if requires_grad and not backend.is_floating(self.data.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.data.dtype}")
        self.requires_grad = requires_grad
        self._grad = None
        self.creator = None  # the Function that made this tensor; None for a leaf

    @classmethod
    def _of_op(cls, array):
        """An op's result: the array its forward made, taken as it is. (`Tensor(...)` is where user
        data enters and is checked; an op's forward on numbers makes numbers, so this skips that.)"""
        if not backend.is_array(array):  # a reduction to one number gives a NumPy scalar: a 0-d array
            array = backend.as_array(array)
        tensor = cls.__new__(cls)
        tensor.data, tensor.requires_grad, tensor._grad, tensor.creator = array, False, None, None
        return tensor

    @property
    def grad(self):
        """The gradient that backward() added up here: a tensor of this tensor's shape, or None."""
        return self._grad

    @grad.setter
    def grad(self, value):
        # Checked as PyTorch does: an optimiser would broadcast a gradient of another shape
        # (a (2,) gradient into a (3, 2) weight) without a word.
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__}; wrap it with tinygen.tensor(...)")
            if value.shape != self.shape:
                raise RuntimeError(f"attempting to assign a gradient of shape {value.shape} to a tensor of shape "
                                   f"{self.shape}; the gradient and the tensor must have the same shape")
            if value.device != self.device:
                raise RuntimeError(f"attempting to assign a gradient on {value.device} to a tensor on {self.device}; "
                                   f"move it with .to({self.device!r})")
        self._grad = value

    # --- what it is -------------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_leaf(self):
        return self.creator is None

    def numel(self):
        return self.data.size

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[normalize_dim(dim, self.ndim, "size")]

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        device = ", device='cuda'" if self.device == "cuda" else ""
        return f"tensor({backend.to_numpy(self.data)!r}{grad}{device})"

    # --- leaving the graph, moving between devices --------------------------------------------
    def numpy(self):
        """A host NumPy copy of the values."""
        return backend.to_numpy(self.data).copy()

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return backend.to_numpy(self.data).tolist()

    def detach(self):
        """The same values, cut from the graph (no gradient flows through).

        The same array, too: an in-place change of one is seen by the other (and counted in both).
        """
        detached = Tensor(self.data)
        detached._base = self if self._base is None else self._base
        return detached

    def requires_grad_(self, requires_grad=True):
        if requires_grad and not backend.is_floating(self.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def to(self, device):
        """This tensor on `device` ('cpu', 'cuda' or 'cuda:0'); gradients flow back to the original device."""
        device = backend.check_device(device)
        if device == self.device:
            return self
        return functional.to_device(self, device)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return functional.astype(self, "float32")

    def double(self):
        return functional.astype(self, "float64")

    # --- the gradient ---------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Add d(self)/d(leaf) * gradient to the `.grad` of every leaf that requires a gradient.

        For a scalar `gradient` defaults to 1; otherwise give one of self's shape. With
        `create_graph=True` the gradients are themselves part of a graph and can be differentiated
        again. As in PyTorch, the values the graph saved for backward are freed afterwards unless
        `retain_graph=True` (the default is create_graph): a second backward through the same graph
        needs it.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no graph")
        gradient = _initial_grad(self, gradient, "backward()")
        run_backward([self], [gradient], create_graph=create_graph, retain_graph=retain_graph)

    def zero_grad(self):
        self.grad = None

    # --- changing a tensor in place ---------------------------------------------------------
    # A function's backward may read the values its inputs had at the forward (Mul's gradient of
    # a is gy * b). If b's array is changed in place in between (an optimiser step), that
    # gradient would silently come from the new values. So, as PyTorch, every tensor counts its
    # in-place changes (`_version`), and a backward refuses to run on an input it reads that has
    # changed since the forward (see Function.check_unchanged). A view (reshape, transpose,
    # detach...) shares the count of the tensor it views, since a change of either is a change
    # of both. Writes into `.data` directly are not counted, as in PyTorch: use these methods.
    #
    # To keep this nearly free, every change also ticks one global clock (_InPlaceClock) and the
    # tensor notes the time. A function notes the time of its forward; if the clock still shows
    # it at backward, nothing anywhere changed in between (the usual case: one int compare).
    # Otherwise an input changed after the forward iff its last change is later than that.
    @property
    def _version(self):
        """How many times this tensor's array was changed in place (PyTorch's name)."""
        return (self if self._base is None else self._base)._changes

    def _bump_version(self):
        """Record that this tensor's array was changed in place (optimisers call it after a step)."""
        owner = self if self._base is None else self._base
        _InPlaceClock.now += 1
        owner._changes += 1
        owner._changed_at = _InPlaceClock.now

    def _changed_since(self, time):
        """Was this tensor's array changed in place after the in-place clock showed `time`?"""
        return (self if self._base is None else self._base)._changed_at > time

    def _in_place(self, op_name, new_values, index=Ellipsis):
        """Write `new_values` (an array, or a number) into this tensor's array at `index` and count it."""
        if self.requires_grad and _GradMode.enabled:  # as PyTorch (for a leaf): the graph cannot record it
            what = "a leaf Variable" if self.creator is None else "a tensor computed in the graph"
            raise RuntimeError(
                f"{op_name}: {what} that requires grad is being used in an in-place operation (shape "
                f"{self.shape}); the graph records no in-place change: do it inside `with tinygen.no_grad():` "
                f"(as optimisers and nn.init do), or compute a new tensor out of place (t = t + 1, not t += 1)"
            )
        self.data[index] = new_values
        self._bump_version()
        return self

    def _check_in_place_value(self, op_name, value):
        """A value that requires grad cannot flow into an in-place write: its gradient would be lost."""
        if isinstance(value, Tensor) and value.requires_grad and _GradMode.enabled:
            raise RuntimeError(
                f"{op_name}: the value written in place requires grad, but tinygen's graph records no in-place "
                f"change, so no gradient would reach it; build the tensor out of place (tinygen.cat, "
                f"tinygen.stack, t * mask + value * (1 - mask)), or write value.detach()"
            )

    def __setitem__(self, index, value):
        """t[index] = value, in place (value: a number, or a tensor or array that broadcasts to t[index]).

        As PyTorch: refused for a tensor that requires grad outside no_grad; counted as an
        in-place change, so a graph that saved t refuses a later backward.
        """
        self._check_in_place_value("t[index] = value", value)
        value = _raw(value)
        if backend.is_array(value):
            value = backend.to_device(value, self.device)
        return self._in_place("t[index] = value", value, _index_arrays(index))

    def _in_place_operator(self, symbol, op, other):
        """t <op>= other: the result of op(t, other) written into t's own array (PyTorch's in-place
        operators: `p -= lr * p.grad` under no_grad moves the parameter itself)."""
        self._check_in_place_value(symbol, other)
        with set_grad_enabled(False):
            result = op(self, other)
        if result.shape != self.shape:
            raise RuntimeError(f"{symbol}: output with shape {self.shape} doesn't match the broadcast shape "
                               f"{result.shape}; an in-place operator cannot change the tensor's shape")
        if _KIND_RANK[result.dtype.kind] > _KIND_RANK[self.dtype.kind]:
            raise RuntimeError(f"{symbol}: result type {result.dtype} can't be cast to the desired output type "
                               f"{self.dtype}; convert first (t = t.float()) or write it out of place")
        return self._in_place(symbol, result.data)

    def __iadd__(self, other):
        return self._in_place_operator("+=", functional.add, other)

    def __isub__(self, other):
        return self._in_place_operator("-=", functional.sub, other)

    def __imul__(self, other):
        return self._in_place_operator("*=", functional.mul, other)

    def __itruediv__(self, other):
        return self._in_place_operator("/=", functional.div, other)

    def __ipow__(self, exponent):
        return self._in_place_operator("**=", functional.pow, exponent)

    def add_(self, other, alpha=1):
        """self += alpha * other, in place."""
        return self._in_place("add_", self.data + alpha * _raw(other))

    def sub_(self, other, alpha=1):
        """self -= alpha * other, in place."""
        return self._in_place("sub_", self.data - alpha * _raw(other))

    def mul_(self, other):
        """self *= other, in place."""
        return self._in_place("mul_", self.data * _raw(other))

    def zero_(self):
        return self._in_place("zero_", 0)

    def fill_(self, value):
        return self._in_place("fill_", value)

    def copy_(self, source):
        """Copy the values of `source` (a tensor or array of this shape, or one that broadcasts to
        it, on any device, of any dtype) into this tensor."""
        values = backend.to_device(_raw(source), self.device) if backend.is_array(_raw(source)) else _raw(source)
        return self._in_place("copy_", values)

    def uniform_(self, a=0.0, b=1.0):
        """Fill with samples of U(a, b)."""
        rng = backend.generator(self.device)
        return self._in_place("uniform_", a + (b - a) * rng.random(self.shape, dtype=self.dtype))

    def normal_(self, mean=0.0, std=1.0):
        """Fill with samples of N(mean, std^2)."""
        rng = backend.generator(self.device)
        return self._in_place("normal_", mean + std * rng.standard_normal(self.shape, dtype=self.dtype))

    # --- operators: each one is a tinygen op from tinygen.functional ---------------------------
    def __add__(self, other):
        return functional.add(self, other)

    def __radd__(self, other):
        return functional.add(other, self)

    def __sub__(self, other):
        return functional.sub(self, other)

    def __rsub__(self, other):
        return functional.sub(other, self)

    def __mul__(self, other):
        return functional.mul(self, other)

    def __rmul__(self, other):
        return functional.mul(other, self)

    def __truediv__(self, other):
        return functional.div(self, other)

    def __rtruediv__(self, other):
        return functional.div(other, self)

    def __matmul__(self, other):
        return functional.matmul(self, other)

    def __rmatmul__(self, other):
        return functional.matmul(other, self)

    def __pow__(self, exponent):
        return functional.pow(self, exponent)

    def __neg__(self):
        return functional.neg(self)

    def __rpow__(self, base):
        """base ** t for a number base: PyTorch's scalar ** tensor."""
        return functional.power_of(base, self)

    def __abs__(self):
        return functional.abs(self)

    def __invert__(self):
        """~t: logical not of a bool tensor, bitwise not of an integer one (outside the graph)."""
        if self.dtype.kind not in "biu":
            raise TypeError(f"~ (operator.invert) is only implemented on integer and Boolean-type tensors, got dtype "
                            f"{self.dtype}; for a mask use a comparison (t == 0) or 1 - t")
        return Tensor(~self.data)

    def __getitem__(self, index):
        return functional.getitem(self, index)

    # --- Python's protocols, as in PyTorch ----------------------------------------------------
    # Comparisons give bool tensors outside the graph (masks, accuracies: (pred == y).float().mean()).
    # Tensors stay hashable by identity, as in PyTorch: a tensor can be a dict key or in a set,
    # but `t in list_of_tensors` compares values (use `any(t is u for u in ...)` for identity).
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self._compare(other, operator.eq)

    def __ne__(self, other):
        return self._compare(other, operator.ne)

    def __lt__(self, other):
        return self._compare(other, operator.lt)

    def __le__(self, other):
        return self._compare(other, operator.le)

    def __gt__(self, other):
        return self._compare(other, operator.gt)

    def __ge__(self, other):
        return self._compare(other, operator.ge)

    def _compare(self, other, compare):
        """compare(self, other) elementwise, broadcast: a bool tensor that requires no grad.

        A tensor, a number or an array compares; anything else (None, a string, a list) is not
        comparable: `t == None` is then False, as in PyTorch, and `t < None` a TypeError.
        """
        if isinstance(other, Tensor):
            _check_one_device((self, other), "comparison")
            other = other.data
        elif not (isinstance(other, numbers.Number) or hasattr(other, "dtype")):
            return NotImplemented
        return Tensor(compare(self.data, other))

    def __bool__(self):
        """The truth of a one-element tensor (`if loss < best:`); more elements are ambiguous."""
        if self.data.size != 1:
            how_many = "no values" if self.data.size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {how_many} is ambiguous (shape {self.shape}); "
                               f"reduce it first with .any() or .all()")
        return bool(self.data.item())

    def __float__(self):
        return float(self._one_number())

    def __int__(self):
        """The value of a one-element tensor as a Python int (a float is truncated, as int(2.7))."""
        return int(self._one_number())

    def __index__(self):
        """A one-element integer tensor where Python wants an int: range(t), a_list[t]."""
        if self.dtype.kind not in "biu" or self.data.size != 1:
            raise TypeError(f"only integer tensors of a single element can be converted to an index, got dtype "
                            f"{self.dtype} and shape {self.shape}")
        return int(self.data.item())

    def _one_number(self):
        if self.data.size != 1:
            raise ValueError(f"only one element tensors can be converted to Python scalars, got shape {self.shape}; "
                             f"reduce it first (.sum(), .mean()) or take one element (t[0])")
        return self.data.item()

    def __len__(self):
        """The size of dim 0."""
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        """The rows along dim 0, each a tensor t[i] in the graph (as iterating a torch tensor)."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __contains__(self, element):
        """`element in t`: whether any element of t equals it (a number or a tensor that broadcasts)."""
        if not (isinstance(element, (Tensor, numbers.Number))):
            raise RuntimeError(f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a "
                               f"{type(element).__name__}")
        return bool((self == element).data.any())

    def __array__(self, dtype=None, copy=None):
        """np.asarray(t): the values as a NumPy array, as PyTorch allows it: for a tensor on the CPU
        (a GPU array is never copied to the host unasked) that is outside the graph."""
        if self.requires_grad:
            raise RuntimeError("np.asarray(t): can't convert a Tensor that requires grad to a NumPy array (as "
                               "PyTorch). Use tensor.detach().numpy() instead.")
        if self.device != "cpu":
            raise TypeError("can't convert cuda device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
                            "to host memory first.")
        array = self.data if dtype is None else self.data.astype(dtype, copy=False)
        return array.copy() if copy else array

    # --- methods, as in PyTorch -------------------------------------------------------------
    def reshape(self, *shape):
        return functional.reshape(self, _shape_args(shape))

    def view(self, *shape):
        return functional.reshape(self, _shape_args(shape))

    def flatten(self, start_dim=0, end_dim=-1):
        return functional.flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return functional.swapaxes(self, dim0, dim1)

    def permute(self, *dims):
        return functional.transpose(self, _shape_args(dims))

    @property
    def T(self):
        return functional.transpose(self, tuple(reversed(range(self.ndim))))

    def sum(self, dim=None, keepdim=False):
        return functional.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return functional.mean(self, dim, keepdim)

    def var(self, dim=None, keepdim=False, unbiased=True):
        return functional.var(self, dim, keepdim, unbiased)

    def max(self, dim=None, keepdim=False):
        """t.max(): the largest element (ties share the gradient). t.max(dim): as PyTorch, the pair
        (values, indices) of the largest element along dim; the gradient goes to that element."""
        if dim is None:
            return functional.max(self)
        return self._extreme_along("max", dim, keepdim)

    def min(self, dim=None, keepdim=False):
        """t.min(): the smallest element. t.min(dim): the pair (values, indices), as t.max(dim)."""
        if dim is None:
            return functional.min(self)
        return self._extreme_along("min", dim, keepdim)

    def _extreme_along(self, name, dim, keepdim):
        """(values, indices) of the max or min along dim: indices = argmax (the first one on a tie,
        a NaN counting as the extreme), values = t picked at those indices (so gy goes there)."""
        if isinstance(dim, Tensor):
            raise TypeError(f"{name}: dim must be an int, got a Tensor; tinygen has no elementwise {name} of two "
                            f"tensors (torch.maximum)")
        if isinstance(dim, (tuple, list)):
            raise TypeError(f"{name}: dim must be an int, got {type(dim).__name__} {tuple(dim)}; t.{name}(dim) gives "
                            f"(values, indices) along one dim, as PyTorch; for the {name} over several dims use "
                            f"tinygen.functional.{name}(t, dim) (torch.a{name})")
        x = self.reshape(1) if self.ndim == 0 else self
        axis = normalize_dim(dim, self.ndim, name)
        if x.shape[axis] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size (shape {self.shape})")
        xp = backend.get_array_module(x.data)
        indices = (xp.argmax if name == "max" else xp.argmin)(x.data, axis=axis, keepdims=True)
        # t[i0, i1, ..., indices, ...]: an arange along each other axis, shaped to broadcast
        pick = tuple(indices if a == axis else xp.arange(n).reshape([-1 if b == a else 1 for b in range(x.ndim)])
                     for a, n in enumerate(x.shape))
        values = x[pick]
        if not keepdim or self.ndim == 0:
            kept = tuple(n for a, n in enumerate(x.shape) if a != axis) if self.ndim else ()
            values, indices = values.reshape(kept), indices.reshape(kept)
        return MinMax(values, Tensor(indices))

    def any(self):
        """Whether any element is true (nonzero): a bool tensor."""
        return Tensor(self.data.any())

    def all(self):
        """Whether every element is true (nonzero): a bool tensor."""
        return Tensor(self.data.all())

    def exp(self):
        return functional.exp(self)

    def log(self):
        return functional.log(self)

    def sqrt(self):
        return functional.sqrt(self)

    def abs(self):
        return functional.abs(self)

    def clip(self, min=None, max=None):
        return functional.clip(self, min, max)

    clamp = clip

    def sigmoid(self):
        return functional.sigmoid(self)

    def tanh(self):
        return functional.tanh(self)

    def relu(self):
        return functional.relu(self)

    def unsqueeze(self, dim):
        return functional.unsqueeze(self, dim)

    def argmax(self, dim=None, keepdim=False):
        """The index of the largest value over `dim`, or in the flattened tensor (dim=None)."""
        return self._arg_extreme("argmax", dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        """The index of the smallest value over `dim`, or in the flattened tensor (dim=None)."""
        return self._arg_extreme("argmin", dim, keepdim)

    def _arg_extreme(self, name, dim, keepdim):
        if self.data.size == 0:
            raise RuntimeError(f"{name}: the tensor is empty (shape {self.shape})")
        find = getattr(self.data, name)
        if dim is None or self.ndim == 0:
            axis = None if dim is None else normalize_dim(dim, 0, name)
            return Tensor(find(axis=axis, keepdims=keepdim and dim is not None))
        return Tensor(find(axis=normalize_dim(dim, self.ndim, name), keepdims=keepdim))


# What t.max(dim) and t.min(dim) return, as PyTorch's torch.return_types.max: a pair
# `values, indices = t.max(dim=1)` that also has the names .values and .indices.
MinMax = collections.namedtuple("MinMax", ["values", "indices"])


def _shape_args(args):
    """Accept both x.reshape(2, 3) and x.reshape((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _raw(value):
    return value.data if isinstance(value, Tensor) else value


def _index_arrays(index):
    """An index with its tensors (masks, integer indices) as arrays, as NumPy indexing takes them."""
    if isinstance(index, tuple):
        return tuple(_raw(i) for i in index)
    return _raw(index)


_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}  # bool < integer < float: PyTorch's in-place casting rule


def _initial_grad(output, grad, where):
    """The gradient to start from: ones for a scalar, else the one given (checked)."""
    if grad is None:
        if output.data.size != 1:
            raise RuntimeError(
                f"{where}: the output has shape {output.shape}, not one element; "
                f"pass a gradient of that shape ({'gradient' if where == 'backward()' else 'grad_outputs'}=...)"
            )
        if not backend.get_array_module(output.data).isfinite(output.data).all():
            raise FloatingPointError(f"{where}: the output is {output.item()}; its gradient would be meaningless")
        return Tensor(backend.get_array_module(output.data).ones_like(output.data))
    grad = grad if isinstance(grad, Tensor) else Tensor(grad, dtype=output.dtype, device=output.device)
    if grad.shape != output.shape:
        raise ValueError(f"{where}: gradient of shape {grad.shape} given for an output of shape {output.shape}")
    if grad.dtype != output.dtype:  # as PyTorch: a float64 gradient of a float32 output becomes float32
        grad = functional.astype(grad, output.dtype)
    return grad


# ---------------------------------------------------------------------------------------------
# Function


class Function:
    """One differentiable operation.

    A subclass writes
      forward(*arrays) -> array     on raw NumPy/CuPy arrays (fast, no graph), and
      backward(grad_output) -> grad of each input, written with tinygen ops (so it can itself
                                     be differentiated); None for an input that needs none.
    Options of the op (an axis, a stride) are given to __init__. Calling the function on tensors
    runs forward and, when gradients are wanted, records it in the graph.

    Three class attributes tell the engine what backward reads, for the check that those values
    were not changed in place since the forward (see Tensor._version), and for views:
      reads_inputs   None: backward reads the values of every input (the safe default; arrays
                     that forward saved, derived from an input, count as reading it: LeakyReLU's
                     slope mask, BatchNorm's x_hat). Otherwise a dict: input i's gradient reads
                     the inputs reads_inputs[i] (Mul: {0: (1,), 1: (0,)}, since ga = gy * b);
                     {} for ops whose backward reads no input's values, only shapes (add, reshape,
                     sum...). Only the gradients that are needed count: as in PyTorch, a step
                     that changes W between a first layer's forward and its backward is harmless
                     when x needs no gradient, since gW = gy^T x does not read W.
      reads_output   True when backward reuses the output (exp, sqrt, sigmoid, tanh, max).
      makes_view     True when the output may be a view of input 0's array (reshape, transpose,
                     broadcast, indexing): it then shares that input's version count.
    """

    _sequence = itertools.count()  # creation order of recorded functions
    reads_inputs = None
    reads_output = False
    makes_view = False

    def __call__(self, *inputs):
        inputs = _as_tensors(inputs, type(self).__name__)
        output = Tensor._of_op(self.forward(*[x.data for x in inputs]))
        if self.makes_view and output.data.base is not None:  # (.base is None: certainly a copy)
            output._base = inputs[0] if inputs[0]._base is None else inputs[0]._base
        if _GradMode.enabled and any(x.requires_grad for x in inputs):
            self.inputs = inputs
            self.needs_input_grad = tuple(x.requires_grad for x in inputs)
            self.forward_time = _InPlaceClock.now  # see Tensor._bump_version
            self.sequence = next(Function._sequence)
            # A weak link back to the output: a strong one would make a cycle tensor <-> function.
            self._output = weakref.ref(output)
            output.requires_grad = True
            output.creator = self
            if anomaly.AnomalyMode.enabled:
                self.forward_call_site = anomaly.forward_call_site()
        return output

    @property
    def output(self):
        """The tensor this function made (ops like exp and sigmoid reuse it in backward)."""
        return self._output()

    def check_unchanged(self):
        """Refuse to run backward on values it reads that were changed in place after the forward.

        (run_backward calls it only when some tensor was changed in place since this forward.)
        """
        for i in sorted(self._inputs_read()):
            x = self.inputs[i]
            if x._changed_since(self.forward_time):
                self._refuse_stale(f"input {i} (shape {tuple(x.shape)})", x._version)
        if self.reads_output and self.output._changed_since(self.forward_time):
            self._refuse_stale(f"its output (shape {tuple(self.output.shape)})", self.output._version)

    def _inputs_read(self):
        """The positions of the inputs whose values this backward reads (see reads_inputs)."""
        if self.reads_inputs is None:
            return range(len(self.inputs))
        return {j for i, needed in enumerate(self.needs_input_grad) if needed for j in self.reads_inputs.get(i, ())}

    def _refuse_stale(self, what, version):
        site = ""
        if hasattr(self, "forward_call_site"):
            frame = self.forward_call_site[-1]
            site = f" (forward called at {frame.filename}:{frame.lineno})"
        raise RuntimeError(
            f"{type(self).__name__}.backward{site}: {what}, a value this backward needs, was changed in "
            f"place after the forward (it is now at version {version}), so the gradient would come from "
            f"the new values. Hint: an optimiser step or an in-place change between the forward and this "
            f"backward; recompute the forward after the step, or call backward before the step"
        )

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError

    def release(self):
        """Forget the inputs and whatever forward saved: after a backward (without retain_graph)
        the graph's memory is given back at once, not when the last tensor of it is dropped."""
        sequence = self.sequence
        vars(self).clear()
        self.sequence, self.released = sequence, True


def _as_tensors(values, op_name):
    """Inputs as tensors on one device; a Python number takes the dtype and device of the others.

    Besides tensors an op takes numbers (x * 2) and NumPy/CuPy arrays of numbers; anything else
    (a list, a string, None) is a TypeError.
    """
    if all(isinstance(v, Tensor) for v in values):
        if len(values) > 1 and backend.gpu_available():  # without a GPU every tensor is on the CPU
            _check_one_device(values, op_name)
        return values
    first = next((v for v in values if isinstance(v, Tensor)), None)
    tensors = []
    for value in values:
        if isinstance(value, Tensor):
            tensors.append(value)
            continue
        if type(value) not in _PLAIN_NUMBERS and not isinstance(value, numbers.Number) and not hasattr(value, "dtype"):
            raise TypeError(f"{op_name}: expected Tensors or numbers, got {type(value).__name__}; "
                            f"make a tensor with tinygen.tensor(...)")
        if first is None:
            first = Tensor(value)
        if backend.is_array(value):
            backend.check_numeric(value.dtype, value)
            tensors.append(Tensor(value))
        else:  # a Python number: it follows the tensor it meets (float32 stays float32), except that
            kind = first.data.dtype.kind  # a bool tensor meeting an int gives int64, as in PyTorch
            follows = kind == "f" or (isinstance(value, int) and (kind != "b" or isinstance(value, bool)))
            dtype = first.dtype if follows else None
            tensors.append(Tensor(value, dtype=dtype, device=first.device))
    _check_one_device(tensors, op_name)
    return tensors


_PLAIN_NUMBERS = (int, float)  # checked by type first: an isinstance of numbers.Number is slower


def _check_one_device(tensors, op_name):
    if len({x.device for x in tensors}) > 1:
        shapes = ", ".join(f"{x.shape} on {x.device}" for x in tensors)
        raise RuntimeError(f"{op_name}: inputs are on different devices ({shapes}); move them with .to(device)")


# ---------------------------------------------------------------------------------------------
# The backward pass


def run_backward(outputs, output_grads, create_graph=False, inputs=None, retain_graph=None):
    """The chain rule over the whole graph, iteratively (no recursion limit on deep graphs).

    Functions are visited newest first. A function's inputs were all made before it, so when we
    reach a function every function that used its output has already been visited: the gradient
    of its output is complete. A heap keyed on the creation number gives that order.

    With `inputs=None` gradients are added into each leaf's `.grad`. Otherwise the gradients of
    `inputs` are returned (in order, None where there is no path) and `.grad` is left alone.
    Each function visited is released afterwards unless `retain_graph` (default: create_graph).
    """
    if retain_graph is None:
        retain_graph = create_graph
    wanted = {}  # id of an input tensor -> its positions in `inputs` (it may be given twice)
    for i, x in enumerate(inputs or []):
        wanted.setdefault(id(x), []).append(i)
    found = [None] * (0 if inputs is None else len(inputs))
    pending = {}  # function -> sum of the gradients of its output seen so far
    heap = []
    visited = []

    def receive(tensor, grad):
        for i in wanted.get(id(tensor), ()):
            found[i] = grad if found[i] is None else found[i] + grad
        if tensor.creator is not None:
            fn = tensor.creator
            if fn in pending:
                pending[fn] = pending[fn] + grad
            else:
                pending[fn] = grad
                heapq.heappush(heap, (-fn.sequence, id(fn), fn))
        elif inputs is None:
            if not create_graph and not grad.data.flags.c_contiguous:
                # A leaf's .grad gets the leaf's own layout (a transposed or broadcast view would
                # make the optimiser's elementwise updates crawl through memory out of order).
                grad = Tensor(backend.get_array_module(grad.data).ascontiguousarray(grad.data))
            tensor.grad = grad if tensor.grad is None else tensor.grad + grad

    with set_grad_enabled(create_graph):
        for output, grad in zip(outputs, output_grads):
            receive(output, grad)
        while heap:
            fn = heapq.heappop(heap)[2]
            if getattr(fn, "released", False):
                raise RuntimeError(
                    f"backward through {type(fn).__name__} a second time: the first backward freed what it "
                    f"saved; pass retain_graph=True to the first one to go through the graph again"
                )
            if fn.forward_time != _InPlaceClock.now:  # something was changed in place since fn's forward
                fn.check_unchanged()
            input_grads = fn.backward(pending.pop(fn))
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if anomaly.AnomalyMode.enabled:
                anomaly.check_finite_gradients(fn, input_grads)
            for x, grad in zip(fn.inputs, input_grads):
                if x.requires_grad and grad is not None:
                    if grad.shape != x.shape:  # a bug in an op's backward, never the user's
                        raise RuntimeError(f"{type(fn).__name__}.backward gave shape {grad.shape} for input {x.shape}")
                    if grad.dtype != x.dtype:  # float32 x met a float64 tensor: its gradient is float32 too,
                        grad = functional.astype(grad, x.dtype)  # as in PyTorch
                    receive(x, grad)
            visited.append(fn)
    if not retain_graph:  # after the whole pass: a function's backward may use tensors others hold
        for fn in visited:
            fn.release()
    return found


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """The gradients of `outputs` with respect to `inputs`, as `torch.autograd.grad`.

    Returns a tuple with one gradient per input; `.grad` of the leaves is not touched. With
    `create_graph=True` the returned gradients can be differentiated again (gradient penalties);
    the graph is then kept, as it is with `retain_graph=True`.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = [inputs] if single_input else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError(f"grad(): an input of shape {x.shape} does not require grad")
    grads = [_initial_grad(y, g, "grad()") for y, g in zip(outputs, grad_outputs)]
    found = run_backward(outputs, grads, create_graph=create_graph, inputs=inputs, retain_graph=retain_graph)
    for x, g in zip(inputs, found):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad(): an input of shape {x.shape} was not used to compute the outputs")
    return tuple(found)


# The operators above call the ops; the ops need Tensor and Function: import them last.
from tinygen import functional  # noqa: E402
from tinygen.functional.checks import normalize_dim  # noqa: E402
