"""Convolution layers: Conv2d and its adjoint ConvTranspose2d (PyTorch's weight layouts)."""
from tinygen import functional as F
from tinygen.creation import zeros
from tinygen.functional.checks import check_int, check_layer_input
from tinygen.nn.linear import default_init_
from tinygen.nn.module import Module, Parameter


def _kernel_pair(where, kernel_size):
    """kernel_size as (kh, kw): an int k is (k, k); each side an int >= 1."""
    pair = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
    if len(pair) != 2:
        raise ValueError(f"{where}: kernel_size must be an int or a pair of ints, got {kernel_size!r}")
    return tuple(check_int(where, "kernel_size", k, minimum=1) for k in pair)


def _check_conv_args(where, in_channels, out_channels, kernel_size, stride, padding):
    """The arguments of a convolution layer, checked where the layer is made (PyTorch waits until
    the first forward; the mistake is easier to see here)."""
    in_channels = check_int(where, "in_channels", in_channels, minimum=1)
    out_channels = check_int(where, "out_channels", out_channels, minimum=1)
    kernel_size = _kernel_pair(where, kernel_size)
    stride = check_int(where, "stride", stride, minimum=1, pair=True)
    padding = check_int(where, "padding", padding, minimum=0, pair=True)
    return in_channels, out_channels, kernel_size, stride, padding


class Conv2d(Module):
    """Cross-correlation of an (N, in_channels, H, W) input with out_channels kernels.

    weight: (out_channels, in_channels, kh, kw); output size floor((H + 2p - kh) / s) + 1.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        where = f"Conv2d({in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}, padding={padding})"
        in_channels, out_channels, kernel_size, stride, padding = _check_conv_args(
            where, in_channels, out_channels, kernel_size, stride, padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        kh, kw = self.kernel_size
        self.weight = Parameter(zeros(out_channels, in_channels, kh, kw))
        self.bias = Parameter(zeros(out_channels)) if bias else None
        default_init_(self.weight, self.bias, fan_in=in_channels * kh * kw)

    def forward(self, x):
        check_layer_input(self, x, self.weight, self.bias)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self}: expected input of shape (N, {self.in_channels}, H, W), got {x.shape}")
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class ConvTranspose2d(Module):
    """The transpose (adjoint) of Conv2d: upsamples by `stride`.

    weight: (in_channels, out_channels, kh, kw); output size (H - 1) s - 2p + kh + output_padding.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, bias=True):
        super().__init__()
        where = (f"ConvTranspose2d({in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}, "
                 f"padding={padding}, output_padding={output_padding})")
        in_channels, out_channels, kernel_size, stride, padding = _check_conv_args(
            where, in_channels, out_channels, kernel_size, stride, padding)
        output_padding = check_int(where, "output_padding", output_padding, pair=True)
        if not 0 <= output_padding < stride:
            raise ValueError(f"{where}: output_padding must be in [0, stride={stride}), got {output_padding}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.output_padding = output_padding
        kh, kw = self.kernel_size
        self.weight = Parameter(zeros(in_channels, out_channels, kh, kw))
        self.bias = Parameter(zeros(out_channels)) if bias else None
        # PyTorch reads the fan-in of this weight from its dimension 1: out_channels * kh * kw.
        default_init_(self.weight, self.bias, fan_in=out_channels * kh * kw)

    def forward(self, x):
        check_layer_input(self, x, self.weight, self.bias)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self}: expected input of shape (N, {self.in_channels}, H, W), got {x.shape}")
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, output_padding={self.output_padding}")
