"""Pooling and upsampling layers: MaxPool2d, AvgPool2d, Upsample (PyTorch's names and arguments).

They have no parameters; the arguments are checked when the layer is made, and the input's shape
at each forward, with messages that name the layer.
"""
from tinygen import functional as F
from tinygen.autograd import Tensor
from tinygen.functional.pooling import check_pooling_args, check_pooling_input, check_upsampling
from tinygen.nn.module import Module


def _check_image_batch(layer, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: expected a Tensor input, got {type(x).__name__}; make one with tinygen.tensor(...)")
    if x.ndim != 4:
        raise ValueError(f"{layer}: expected input of shape (N, C, H, W), got {x.shape}")


class _Pool2d(Module):
    def _check_input(self, x):
        """The input's shape against the windows, in a message that names this layer (the layer is
        given as `where`: its repr is only made when a message is)."""
        _check_image_batch(self, x)
        windows = check_pooling_args(self, self.kernel_size, self.stride, self.padding, self.ceil_mode)
        check_pooling_input(self, x, *windows, self.ceil_mode)


class MaxPool2d(_Pool2d):
    """The largest value of each kernel_size window, moved by stride (default: kernel_size).

    (N, C, H, W) -> (N, C, OH, OW), OH = floor((H + 2 padding - kh) / stride) + 1 (ceil with ceil_mode).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        where = f"MaxPool2d(kernel_size={kernel_size}, stride={stride}, padding={padding})"
        check_pooling_args(where, kernel_size, stride, padding, ceil_mode)
        self.kernel_size, self.padding = kernel_size, padding  # as given, as PyTorch keeps them
        self.stride = kernel_size if stride is None else stride
        self.ceil_mode = ceil_mode

    def forward(self, x):
        self._check_input(x)
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    """The mean of each kernel_size window, moved by stride (default: kernel_size); sizes as MaxPool2d.

    count_include_pad=True divides every window by kh*kw, padding included (PyTorch's default).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        where = f"AvgPool2d(kernel_size={kernel_size}, stride={stride}, padding={padding})"
        check_pooling_args(where, kernel_size, stride, padding, ceil_mode)
        self.kernel_size, self.padding = kernel_size, padding  # as given, as PyTorch keeps them
        self.stride = kernel_size if stride is None else stride
        if not isinstance(count_include_pad, bool):
            raise TypeError(f"{where}: count_include_pad must be True or False, got {count_include_pad!r}")
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        self._check_input(x)
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}")


class Upsample(Module):
    """Nearest-neighbour upsampling by a whole scale_factor: each pixel becomes an s x s block.

    (N, C, H, W) -> (N, C, s H, s W). Only mode='nearest' and whole factors (2, 2.0, (2, 3)).
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest"):
        super().__init__()
        check_upsampling("Upsample", size, scale_factor, mode)
        self.scale_factor, self.mode = scale_factor, mode  # as given, as PyTorch keeps them

    def forward(self, x):
        _check_image_batch(self, x)
        return F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode)

    def extra_repr(self):
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}"
