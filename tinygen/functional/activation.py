"""Activations, softmax and dropout."""
from tinygen import backend
from tinygen.autograd import Function, Tensor
from tinygen.backend import get_array_module
from tinygen.functional.arithmetic import exp, log
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
    return LeakyReLU(negative_slope)(x)


def relu(x):
    return LeakyReLU(0.0)(x)


def sigmoid(x):
    return Sigmoid()(x)


def tanh(x):
    return Tanh()(x)


def logsumexp(x, dim, keepdim=False):
    """log sum_i e^{x_i} = m + log sum_i e^{x_i - m}, with m = max x (a constant: no overflow)."""
    m = max(x, dim, keepdim=True).detach()
    out = log(sum(exp(x - m), dim, keepdim=True)) + m
    return out if keepdim else out.reshape(tuple(n for i, n in enumerate(out.shape) if i != dim % x.ndim))


def log_softmax(x, dim=-1):
    """log softmax(x)_i = x_i - logsumexp(x)."""
    return x - logsumexp(x, dim, keepdim=True)


def softmax(x, dim=-1):
    """softmax(x)_i = e^{x_i} / sum_j e^{x_j}."""
    return exp(log_softmax(x, dim))


def dropout(x, p=0.5, training=True):
    """In training, zero each element with probability p and scale the rest by 1/(1-p), so the
    expected value is unchanged; in evaluation, y = x.   gx = gy * the same mask / (1-p)"""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    keep = backend.generator(x.device).random(x.shape, dtype=x.dtype) >= p
    return x * Tensor(keep.astype(x.dtype) / x.dtype.type(1 - p))
