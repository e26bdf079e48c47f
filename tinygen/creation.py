"""Making tensors: zeros, ones, full, randn, rand, arange, as in PyTorch (float32 by default)."""
import math
import numbers

from tinygen import backend
from tinygen.autograd import Tensor
from tinygen.functional.checks import check_int


def _shape(size, op):
    """Accept zeros(2, 3) and zeros((2, 3)); every size a whole number >= 0 (as PyTorch)."""
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
    return tuple(check_int(op, "size", n, minimum=0) for n in shape)


def tensor(data, dtype=None, device="cpu", requires_grad=False):
    """A new tensor holding a copy of `data` (a number, a list, an array or a tensor), as torch.tensor:
    a later change of the array does not reach the tensor. (`from_numpy` shares instead.)"""
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_array(data):
        data = data.copy()
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor that shares the NumPy array's memory, as torch.from_numpy: a write into either is
    seen by the other. Writes into the array are not counted as in-place changes (as in PyTorch),
    so do not change it while a graph that used the tensor still needs its backward."""
    if not isinstance(array, backend.host.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    return Tensor(array)


def zeros(*size, dtype="float32", device="cpu", requires_grad=False):
    return Tensor(backend.module_for(device).zeros(_shape(size, "zeros"), dtype=dtype), requires_grad=requires_grad)


def ones(*size, dtype="float32", device="cpu", requires_grad=False):
    return Tensor(backend.module_for(device).ones(_shape(size, "ones"), dtype=dtype), requires_grad=requires_grad)


def full(size, value, dtype="float32", device="cpu", requires_grad=False):
    data = backend.module_for(device).full(_shape((size,), "full"), value, dtype=dtype)
    return Tensor(data, requires_grad=requires_grad)


def zeros_like(t):
    return zeros(t.shape, dtype=t.dtype, device=t.device)


def ones_like(t):
    return ones(t.shape, dtype=t.dtype, device=t.device)


def randn(*size, dtype="float32", device="cpu", requires_grad=False):
    """Samples of the standard normal N(0, 1)."""
    data = backend.generator(device).standard_normal(_shape(size, "randn"), dtype=dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*size, dtype="float32", device="cpu", requires_grad=False):
    """Samples of the uniform distribution on [0, 1)."""
    data = backend.generator(device).random(_shape(size, "rand"), dtype=dtype)
    return Tensor(data, requires_grad=requires_grad)


def randint(low, high, size, device="cpu"):
    return Tensor(backend.generator(device).integers(low, high, size=_shape((size,), "randint")))


def arange(*args, dtype=None, device="cpu"):
    """arange(end), arange(start, end) or arange(start, end, step): start, start + step, ... up to,
    not including, end. As PyTorch: int64 for whole numbers, float32 when any is a float."""
    if not 1 <= len(args) <= 3:
        raise TypeError(f"arange: expected end, (start, end) or (start, end, step), got {len(args)} arguments")
    start, end, step = (0, args[0], 1) if len(args) == 1 else (args + (1,))[:3]
    for name, value in (("start", start), ("end", end), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"arange: {name} must be a number, got {type(value).__name__} {value!r}")
    if not all(math.isfinite(v) for v in (start, end, step)):
        raise RuntimeError(f"arange: unsupported range: {start} -> {end} (step {step}); give finite numbers")
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"arange: upper bound and lower bound inconsistent with step sign (start {start}, "
                           f"end {end}, step {step})")
    if dtype is None:
        dtype = "int64" if all(isinstance(v, numbers.Integral) for v in (start, end, step)) else "float32"
    values = backend.module_for(device).arange(start, end, step)  # in float64 (or int64), then cast: as PyTorch
    return Tensor(values.astype(dtype, copy=False))
