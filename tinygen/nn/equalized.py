"""The equalised learning rate (Karras et al. 2018, section 4.1): layers whose weights are stored
as N(0, 1) draws and scaled at run time, rather than scaled once at initialisation.

    EqualizedLinear   y = x (c W)^T + m b,   c = m sqrt(2 / in_features)
    EqualizedConv2d   y = conv2d(x, c W) + b, c = sqrt(2 / (in_channels kh kw))

Why at run time: Adam's step is about the same size for every weight, whatever its scale. If a
layer's weights were stored already scaled by its small c, the same step would change them
relatively far more than a layer with a large c. Stored at scale 1 and multiplied by c in the
forward pass, the gradient reaching the stored W is c times the gradient of the scaled weight,
so every layer learns at the same relative speed. The gradient follows from the ops (a scalar
multiply, then linear or conv2d): no backward of its own.

lr_multiplier m (StyleGAN's mapping network uses 0.01): W is drawn from N(0, 1 / m^2) and both
W and b are multiplied by m at run time, so the effective weights start as for m = 1 and the
layer learns m times slower.
"""
import math

from tinygen import functional as F
from tinygen.creation import zeros
from tinygen.functional.checks import check_int, check_layer_input, check_real
from tinygen.nn import init
from tinygen.nn.conv import _check_conv_args
from tinygen.nn.module import Module, Parameter


class EqualizedLinear(Module):
    """y = x (c W)^T + m b with W ~ N(0, 1 / m^2) stored, c = m sqrt(2 / in_features), b from 0."""

    def __init__(self, in_features, out_features, bias=True, lr_multiplier=1.0):
        super().__init__()
        where = (f"EqualizedLinear(in_features={in_features}, out_features={out_features}, "
                 f"lr_multiplier={lr_multiplier})")
        self.in_features = check_int(where, "in_features", in_features, minimum=1)
        self.out_features = check_int(where, "out_features", out_features, minimum=1)
        self.lr_multiplier = check_real(where, "lr_multiplier", lr_multiplier)
        if not self.lr_multiplier > 0:
            raise ValueError(f"{where}: lr_multiplier must be > 0, got {lr_multiplier}")
        self.weight = Parameter(zeros(out_features, in_features))
        init.normal_(self.weight, 0.0, 1.0 / self.lr_multiplier)
        self.bias = Parameter(zeros(out_features)) if bias else None
        self.weight_scale = self.lr_multiplier * math.sqrt(2.0 / self.in_features)  # c

    def forward(self, x):
        check_layer_input(self, x, self.weight, self.bias)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self}: expected input of shape (..., {self.in_features}), got {x.shape}")
        bias = self.bias * self.lr_multiplier if self.bias is not None else None
        return F.linear(x, self.weight * self.weight_scale, bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"lr_multiplier={self.lr_multiplier}")


class EqualizedConv2d(Module):
    """y = conv2d(x, c W) + b with W ~ N(0, 1) stored, c = sqrt(2 / (in_channels kh kw)), b from 0."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        where = (f"EqualizedConv2d({in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}, "
                 f"padding={padding})")
        in_channels, out_channels, kernel_size, stride, padding = _check_conv_args(
            where, in_channels, out_channels, kernel_size, stride, padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        kh, kw = kernel_size
        self.weight = Parameter(zeros(out_channels, in_channels, kh, kw))
        init.normal_(self.weight, 0.0, 1.0)
        self.bias = Parameter(zeros(out_channels)) if bias else None
        self.weight_scale = math.sqrt(2.0 / (in_channels * kh * kw))  # c

    def forward(self, x):
        check_layer_input(self, x, self.weight, self.bias)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self}: expected input of shape (N, {self.in_channels}, H, W), got {x.shape}")
        return F.conv2d(x, self.weight * self.weight_scale, self.bias, self.stride, self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")
