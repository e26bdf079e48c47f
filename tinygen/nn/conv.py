"""Convolution layers: Conv2d and its adjoint ConvTranspose2d (PyTorch's weight layouts)."""
from tinygen import functional as F
from tinygen.creation import zeros
from tinygen.nn.linear import default_init_
from tinygen.nn.module import Module, Parameter


def _pair(k):
    return (k, k) if isinstance(k, int) else tuple(k)


class Conv2d(Module):
    """Cross-correlation of an (N, in_channels, H, W) input with out_channels kernels.

    weight: (out_channels, in_channels, kh, kw); output size floor((H + 2p - kh) / s) + 1.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), stride, padding
        kh, kw = self.kernel_size
        self.weight = Parameter(zeros(out_channels, in_channels, kh, kw))
        self.bias = Parameter(zeros(out_channels)) if bias else None
        default_init_(self.weight, self.bias, fan_in=in_channels * kh * kw)

    def forward(self, x):
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
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), stride, padding
        self.output_padding = output_padding
        kh, kw = self.kernel_size
        self.weight = Parameter(zeros(in_channels, out_channels, kh, kw))
        self.bias = Parameter(zeros(out_channels)) if bias else None
        # PyTorch reads the fan-in of this weight from its dimension 1: out_channels * kh * kw.
        default_init_(self.weight, self.bias, fan_in=out_channels * kh * kw)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self}: expected input of shape (N, {self.in_channels}, H, W), got {x.shape}")
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, output_padding={self.output_padding}")
