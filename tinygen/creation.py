"""Making tensors: zeros, ones, full, randn, rand, arange, as in PyTorch (float32 by default)."""
from tinygen import backend
from tinygen.autograd import Tensor
from tinygen.functional.checks import check_int


def _shape(size, op):
    """Accept zeros(2, 3) and zeros((2, 3)); every size a whole number >= 0 (as PyTorch)."""
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
    return tuple(check_int(op, "size", n, minimum=0) for n in shape)


def tensor(data, dtype=None, device="cpu", requires_grad=False):
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


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
    return Tensor(backend.module_for(device).arange(*args, dtype=dtype))
