"""Activations, softmax and dropout."""
from tinygen import backend
from tinygen.autograd import Function, Tensor
from tinygen.backend import get_array_module
from tinygen.functional.arithmetic import exp, float_input, log
from tinygen.functional.checks import check_floating, check_real, normalize_dim, not_a_tensor
from tinygen.functional.reduction import max, sum


class LeakyReLU(Function):
    """y = x * slope,  slope = 1 where x > 0, else a.   gx = gy * slope

    The slope is a constant mask, so a second derivative is 0 (away from the kink at 0).
    ReLU is the case a = 0. (The mask is made with arithmetic, not xp.where, which is many
    times slower in NumPy.)
    """

    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, x):
        a = x.dtype.type(self.negative_slope)
        self.slope = (x > 0).astype(x.dtype) * (1 - a) + a  # 1 where x > 0, a elsewhere
        return x * self.slope

    def backward(self, gy):
        return gy * Tensor(self.slope)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x).   gx = gy * y (1 - y)

    Computed as (1 + tanh(x/2)) / 2, the same function with no overflow for large |x|.
    """

    reads_inputs, reads_output = {}, True

    def forward(self, x):
        xp = get_array_module(x)
        half = x.dtype.type(0.5)
        return half * (xp.tanh(half * x) + 1)

    def backward(self, gy):
        y = self.output
        return gy * y * (1 - y)


class Tanh(Function):
    """y = tanh x.   gx = gy * (1 - y^2)"""

    reads_inputs, reads_output = {}, True

    def forward(self, x):
        return get_array_module(x).tanh(x)

    def backward(self, gy):
        y = self.output
        return gy * (1 - y * y)


def leaky_relu(x, negative_slope=0.01):
    """Floating-point input only (as PyTorch): a slope of 0.2 has no integer form."""
    if not isinstance(x, Tensor):
        raise not_a_tensor("leaky_relu", "input", x)
    check_real("leaky_relu", "negative_slope", negative_slope)
    check_floating("leaky_relu", x)
    return LeakyReLU(negative_slope)(x)


def relu(x):
    """Integer tensors stay integers (as PyTorch); booleans are refused."""
    if not isinstance(x, Tensor):
        raise not_a_tensor("relu", "input", x)
    if x.dtype.kind == "b":
        raise TypeError("relu: boolean tensors are not supported; convert with x.float()")
    return LeakyReLU(0.0)(x)


def sigmoid(x):
    """An integer or bool tensor becomes float32 first, as in PyTorch."""
    return Sigmoid()(float_input(x, "sigmoid"))


def tanh(x):
    """An integer or bool tensor becomes float32 first, as in PyTorch."""
    return Tanh()(float_input(x, "tanh"))


def logsumexp(x, dim, keepdim=False):
    """log sum_i e^{x_i} = m + log sum_i e^{x_i - m}, with m = max x (a constant: no overflow).

    Over a dim of size 0 the sum has no terms: it is 0 and its log -inf (as PyTorch).
    """
    if not isinstance(x, Tensor):
        raise not_a_tensor("logsumexp", "input", x)
    check_floating("logsumexp", x)
    dim = normalize_dim(dim, x.ndim, "logsumexp")
    if x.ndim == 0:
        return x
    kept = x.shape[:dim] + (1,) + x.shape[dim + 1 :]
    if x.shape[dim] == 0:
        out = get_array_module(x.data).full(kept, -float("inf"), dtype=x.dtype)
        return Tensor(out if keepdim else out.reshape(x.shape[:dim] + x.shape[dim + 1 :]))
    m = max(x, dim, keepdim=True).detach()
    out = log(sum(exp(x - m), dim, keepdim=True)) + m
    return out if keepdim else out.reshape(x.shape[:dim] + x.shape[dim + 1 :])


def log_softmax(x, dim=-1):
    """log softmax(x)_i = x_i - logsumexp(x).   Floating-point input only, as in PyTorch."""
    if not isinstance(x, Tensor):
        raise not_a_tensor("log_softmax", "input", x)
    check_floating("log_softmax", x)
    normalize_dim(dim, x.ndim, "log_softmax")
    return x - logsumexp(x, dim, keepdim=True)


def softmax(x, dim=-1):
    """softmax(x)_i = e^{x_i} / sum_j e^{x_j}.   Floating-point input only, as in PyTorch."""
    if not isinstance(x, Tensor):
        raise not_a_tensor("softmax", "input", x)
    check_floating("softmax", x)
    normalize_dim(dim, x.ndim, "softmax")
    return exp(log_softmax(x, dim))


def dropout(x, p=0.5, training=True):
    """In training, zero each element with probability p and scale the rest by 1/(1-p), so the
    expected value is unchanged; in evaluation, y = x.   gx = gy * the same mask / (1-p)"""
    if not isinstance(x, Tensor):
        raise not_a_tensor("dropout", "input", x)
    check_real("dropout", "p", p)
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    keep = backend.generator(x.device).random(x.shape, dtype=x.dtype) >= p
    return x * Tensor(keep.astype(x.dtype) / x.dtype.type(1 - p))
