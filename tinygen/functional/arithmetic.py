"""Elementwise arithmetic and the elementary functions.

Binary ops broadcast like NumPy; the gradient of an input that was broadcast is summed back to
that input's shape (`sum_to`). Gradients that need a mask (abs, clip) use it as a constant: the
derivative of a step is zero almost everywhere, so second derivatives stay right.

Result dtypes follow PyTorch: an integer tensor meeting a float tensor gives the float's dtype
(NumPy would make int64 with float32 float64, and a float32 model would get float64 gradients),
and integer / integer is float32.
"""
import math
import numbers

from tinygen import backend
from tinygen.autograd import Function, Tensor, is_grad_enabled
from tinygen.backend import get_array_module
from tinygen.functional.checks import not_a_tensor
from tinygen.functional.shape import sum_to


def _result_dtype(y, a, b):
    """y in PyTorch's dtype when a and b differ in dtype: the float one's when only one is a float."""
    if a.dtype.kind == "f" and b.dtype.kind != "f":
        return y.astype(a.dtype, copy=False)
    if b.dtype.kind == "f" and a.dtype.kind != "f":
        return y.astype(b.dtype, copy=False)
    return y  # two floats, or two integers: NumPy promotes as PyTorch does


class Add(Function):
    """y = a + b.   ga = gy, gb = gy (each summed to its input's shape)"""

    reads_inputs = {}

    def forward(self, a, b):
        y = a + b
        return y if a.dtype is b.dtype else _result_dtype(y, a, b)  # `is`: one pointer compare per op

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(gy, b.shape)


class Sub(Function):
    """y = a - b.   ga = gy, gb = -gy"""

    reads_inputs = {}

    def forward(self, a, b):
        y = a - b
        return y if a.dtype is b.dtype else _result_dtype(y, a, b)

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(-gy, b.shape)


class Mul(Function):
    """y = a * b.   ga = gy * b, gb = gy * a"""

    reads_inputs = {0: (1,), 1: (0,)}  # ga reads b, gb reads a

    def forward(self, a, b):
        y = a * b
        return y if a.dtype is b.dtype else _result_dtype(y, a, b)

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b.   ga = gy / b, gb = -gy * a / b^2"""

    reads_inputs = {0: (1,), 1: (0, 1)}

    def forward(self, a, b):
        y = a / b
        if a.dtype.kind != "f" and b.dtype.kind != "f":  # integer / integer is float32, as in PyTorch
            return y.astype("float32")
        return y if a.dtype is b.dtype else _result_dtype(y, a, b)

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy / b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(-gy * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    """y = -x.   gx = -gy"""

    reads_inputs = {}

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Pow(Function):
    """y = x^c for a constant number c.   gx = gy * c * x^(c-1)

    For c = 0, y = 1 is a constant and gx = 0 everywhere (c x^(c-1) would be 0 * inf = NaN at x = 0).
    """

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x**self.c

    def backward(self, gy):
        (x,) = self.inputs
        if self.c == 0:
            return gy * 0
        return gy * self.c * x ** (self.c - 1)


class PowerOf(Function):
    """y = c^x for a constant number c >= 0 (Python's c ** t).   gx = gy * y * ln c

    For c = 0 (y = 1 at x = 0, 0 above, inf below) gx = 0 where x >= 0 and gy * -inf where x < 0,
    as PyTorch (y ln c would be 0 * -inf = NaN at x > 0).
    """

    reads_output = True  # and x, for c = 0

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return get_array_module(x).power(self.c, x)

    def backward(self, gy):
        if self.c == 0:
            x = self.inputs[0].data
            return gy * Tensor(get_array_module(x).where(x >= 0, 0.0, -math.inf).astype(x.dtype))
        return gy * self.output * math.log(self.c)


class Exp(Function):
    """y = e^x.   gx = gy * y"""

    reads_inputs, reads_output = {}, True

    def forward(self, x):
        return get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.output


class Log(Function):
    """y = ln x.   gx = gy / x"""

    def forward(self, x):
        return get_array_module(x).log(x)

    def backward(self, gy):
        (x,) = self.inputs
        return gy / x


class Sqrt(Function):
    """y = sqrt(x).   gx = gy / (2 y)"""

    reads_inputs, reads_output = {}, True

    def forward(self, x):
        return get_array_module(x).sqrt(x)

    def backward(self, gy):
        return gy / (2 * self.output)


class Abs(Function):
    """y = |x|.   gx = gy * sign(x)"""

    def forward(self, x):
        return get_array_module(x).abs(x)

    def backward(self, gy):
        (x,) = self.inputs
        return gy * Tensor(get_array_module(x.data).sign(x.data))


class Clip(Function):
    """y = min(max(x, lo), hi).   gx = gy where lo <= x <= hi, else 0"""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return get_array_module(x).clip(x, self.lo, self.hi)

    def backward(self, gy):
        x = self.inputs[0].data
        inside = (x >= self.lo if self.lo is not None else True) & (x <= self.hi if self.hi is not None else True)
        return gy * Tensor(inside.astype(x.dtype))


class AsType(Function):
    """y = x in another floating dtype.   gx = gy in x's dtype"""

    reads_inputs = {}

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.input_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return astype(gy, self.input_dtype)


class ToDevice(Function):
    """y = x copied to another device.   gx = gy copied back"""

    reads_inputs = {}

    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.input_device = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return to_device(gy, self.input_device)


def add(a, b):
    return Add()(a, b)


def sub(a, b):
    return Sub()(a, b)


def mul(a, b):
    return Mul()(a, b)


def div(a, b):
    return Div()(a, b)


def neg(x):
    return Neg()(x)


def pow(x, exponent):
    if isinstance(exponent, Tensor) or not isinstance(exponent, (int, float)):
        raise TypeError(f"pow: the exponent must be a Python number, got {type(exponent).__name__}; for a tensor "
                        f"exponent write number ** t, or tinygen.exp(t * tinygen.log(x)) for a positive x")
    if not isinstance(x, Tensor):
        raise not_a_tensor("pow", "input", x)
    if isinstance(exponent, float) and x.dtype.kind != "f":  # an integer to a float power: float32, as PyTorch
        x = astype(x, "float32")
    return Pow(exponent)(x)


def power_of(base, x):
    """base ** x for a number base and a tensor x. An integer x with a float base becomes float32 first."""
    if not isinstance(x, Tensor):
        raise not_a_tensor("power_of", "exponent", x)
    if not isinstance(base, numbers.Real):
        raise TypeError(f"{type(base).__name__} ** Tensor: the base must be a real number, got {base!r}")
    base = int(base) if isinstance(base, numbers.Integral) else float(base)  # a NumPy scalar keeps x's dtype
    if x.requires_grad and is_grad_enabled() and not base >= 0:  # NaN fails too
        raise ValueError(f"{base} ** t: no gradient for t with a base that is negative or NaN (d/dt c^t = c^t ln c); "
                         f"use a base >= 0, or t.detach() if no gradient is needed")
    if isinstance(base, float) and x.dtype.kind != "f":  # 2.5 ** int tensor is float32, as PyTorch
        x = astype(x, "float32")
    return PowerOf(base)(x)


def float_input(x, op):
    """The input of a function of real numbers (exp, log, sqrt, sigmoid, tanh): a Tensor, and an
    integer or bool one becomes float32 first, as in PyTorch (sigmoid of 1 is 0.73, not 0)."""
    if not isinstance(x, Tensor):
        raise not_a_tensor(op, "input", x)
    return x if x.dtype.kind == "f" else astype(x, "float32")


def exp(x):
    return Exp()(float_input(x, "exp"))


def log(x):
    return Log()(float_input(x, "log"))


def sqrt(x):
    return Sqrt()(float_input(x, "sqrt"))


def abs(x):
    return Abs()(x)


def clip(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clip: give min, max or both")
    return Clip(min, max)(x)


def astype(x, dtype):
    if x.dtype == dtype:
        return x
    return AsType(dtype)(x)


def to_device(x, device):
    if x.device == device:
        return x
    return ToDevice(device)(x)
