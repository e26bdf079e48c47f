"""Weight initialisation, in place, as torch.nn.init.

The scale of the initial weights decides whether signals and gradients keep their size through
many layers. With fan_in = inputs per output unit (in_features, or in_channels * kh * kw):
  xavier (Glorot):  Var(w) = gain^2 * 2 / (fan_in + fan_out)
  kaiming (He):     Var(w) = gain^2 / fan        with gain = sqrt(2 / (1 + a^2)) for leaky ReLU
A uniform distribution on [-b, b] has variance b^2 / 3, which gives the bounds below.

Each fills the tensor through its in-place methods (`uniform_`, `normal_`, `fill_`) under
no_grad, as PyTorch does: the change is counted in the tensor's version (see autograd.py), so a
graph that saved the old weights refuses its backward.
"""
import math

from tinygen.autograd import no_grad


def calculate_gain(nonlinearity, param=None):
    """The factor that keeps the variance of activations: sqrt(2) for ReLU, 5/3 for tanh, ..."""
    if nonlinearity in ("linear", "conv2d", "conv_transpose2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(tensor):
    """For a weight of shape (out, in, *kernel): fan_in = in * kernel size, fan_out = out * kernel size.

    (For ConvTranspose2d, whose weight is (in, out, kh, kw), this reads dims 0 and 1 the same
    way, as PyTorch does.)
    """
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a weight of 2 or more dimensions, got shape {tensor.shape}")
    receptive_field = 1
    for n in tensor.shape[2:]:
        receptive_field *= n
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with samples of U(a, b)."""
    with no_grad():
        return tensor.uniform_(a, b)


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with samples of N(mean, std^2)."""
    with no_grad():
        return tensor.normal_(mean, std)


def constant_(tensor, value):
    with no_grad():
        return tensor.fill_(value)


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))
