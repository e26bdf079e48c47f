"""Pooling and upsampling: max_pool2d, avg_pool2d and nearest-neighbour interpolate.

A pooling op slides a kh x kw window over the padded input with step (sh, sw), as a convolution
does, and keeps one number per window: the largest (max) or the mean (avg). The window at output
position (i, j) covers the padded rows sh*i .. sh*i + kh - 1 and columns sw*j .. sw*j + kw - 1, so
for each window offset (u, v) the values x_pad[:, :, sh*i + u, sw*j + v] of every window at once
are one strided slice of the whole batch. The ops loop over the kh*kw offsets only (4 for a 2x2
window), never over pixels or batch items.

Each op and its gradient form an adjoint pair, like im2col and col2im:
    max_pool2d   picks the largest value of each window;  gradient: scatter gy back to where it was
    avg_pool2d   averages each window;                     gradient: spread gy / count over the window
    interpolate  copies each pixel onto an s x s block;    gradient: add up each s x s block
The gradient of each adjoint is the op again, so second derivatives come for free.

As in PyTorch: max pooling pads with -inf (a pad is never the max) and avg pooling with zeros;
`padding` is at most half the window; with ceil_mode=True the output size rounds up, with the
last window starting inside the input or its left padding.
"""
from collections import namedtuple

from tinygen.autograd import Function, Tensor
from tinygen.backend import get_array_module
from tinygen.functional.checks import check_floating, check_int, not_a_tensor

# Where the windows lie: each field a (height, width) pair.
Windows = namedtuple("Windows", "kernel stride padding input_hw output_hw")


def pooled_size(size, kernel, stride, padding, ceil_mode=False):
    """Window positions along one axis: floor((size + 2 padding - kernel) / stride) + 1, or the
    ceiling in ceil mode, dropping a last window that would start in the right padding."""
    span = size + 2 * padding - kernel
    if not ceil_mode:
        return span // stride + 1
    count = -(-span // stride) + 1
    if (count - 1) * stride >= size + padding:
        count -= 1
    return count


def _padded(x, windows, value):
    """x inside a border of `value`: `padding` on the top and left, and on the bottom and right
    as much as the last window reaches (ceil mode can reach further than `padding`)."""
    xp = get_array_module(x)
    (ph, pw), (h, w) = windows.padding, windows.input_hw
    rows, cols = _padded_hw(windows)
    if (rows, cols) == (h, w):  # no border needed (2x2 windows of stride 2 on 28x28): read x itself
        return x
    x_pad = xp.full(x.shape[:2] + (rows, cols), value, dtype=x.dtype)
    x_pad[:, :, ph : ph + h, pw : pw + w] = x
    return x_pad


def _padded_hw(windows):
    (kh, kw), (sh, sw), (ph, pw), (h, w), (oh, ow) = windows
    return max(h + 2 * ph, (oh - 1) * sh + kh), max(w + 2 * pw, (ow - 1) * sw + kw)


def _unpadded(x_pad, windows):
    (ph, pw), (h, w) = windows.padding, windows.input_hw
    return x_pad[:, :, ph : ph + h, pw : pw + w]


def _offsets(windows):
    """For each window offset (u, v): the slice that takes x_pad[:, :, sh*i + u, sw*j + v] for all i, j."""
    (kh, kw), (sh, sw), _, _, (oh, ow) = windows
    for u in range(kh):
        for v in range(kw):
            yield (slice(None), slice(None), slice(u, u + sh * (oh - 1) + 1, sh), slice(v, v + sw * (ow - 1) + 1, sw))


# ---------------------------------------------------------------------------------------------
# Max pooling


class MaxPool2d(Function):
    """y[n,c,i,j] = max_{u,v} x_pad[n, c, sh*i+u, sw*j+v]   (x_pad: x in a border of -inf)

    gx = gy sent back to the element that was the max, the first one on a tie (as PyTorch; a NaN
    counts as the max); an element that is the max of several overlapping windows gets the sum of
    their gy. (A running comparison over the kh*kw offsets finds the argmax: NumPy's argmax over
    a leading axis of stacked windows is several times slower.)
    """

    def __init__(self, windows):
        self.windows = windows

    def forward(self, x):
        xp = get_array_module(x)
        x_pad = _padded(x, self.windows, -xp.inf)
        offsets = _offsets(self.windows)
        largest = x_pad[next(offsets)].copy()  # offset 0 of every window, then each offset in turn:
        self.argmax = xp.zeros(largest.shape, dtype=xp.int32)  # which offset holds the largest so far
        for k, offset in enumerate(offsets, start=1):
            values = x_pad[offset]
            larger = (values > largest) | xp.isnan(values)  # strictly larger: a tie keeps the first; a NaN wins
            largest = xp.where(larger, values, largest)
            self.argmax = xp.where(larger, k, self.argmax)
        return largest

    def backward(self, gy):
        return ScatterToArgmax(self.windows, self.argmax)(gy)


class ScatterToArgmax(Function):
    """gx_pad[n, c, sh*i+u, sw*j+v] += gy[n,c,i,j] where (u, v) is window (i, j)'s argmax.

    Linear in gy; its adjoint (and so its gradient) picks each window's argmax element again.
    """

    reads_inputs = {}  # the positions are fixed; gy's values are not read by the backward

    def __init__(self, windows, argmax):
        self.windows, self.argmax = windows, argmax

    def forward(self, gy):
        xp = get_array_module(gy)
        g_pad = xp.zeros(gy.shape[:2] + _padded_hw(self.windows), dtype=gy.dtype)
        for k, offset in enumerate(_offsets(self.windows)):
            g_pad[offset] += gy * (self.argmax == k)
        return _unpadded(g_pad, self.windows)

    def backward(self, ggx):
        return PickArgmax(self.windows, self.argmax)(ggx)


class PickArgmax(Function):
    """y[n,c,i,j] = x_pad[n, c, sh*i+u, sw*j+v] with (u, v) window (i, j)'s argmax, fixed in advance:
    max pooling without the choosing.   gx = ScatterToArgmax(gy)"""

    reads_inputs = {}

    def __init__(self, windows, argmax):
        self.windows, self.argmax = windows, argmax

    def forward(self, x):
        xp = get_array_module(x)
        x_pad = _padded(x, self.windows, 0)
        stacked = xp.stack([x_pad[offset] for offset in _offsets(self.windows)])
        return xp.take_along_axis(stacked, self.argmax[None], axis=0)[0]

    def backward(self, gy):
        return ScatterToArgmax(self.windows, self.argmax)(gy)


def max_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """The largest value of each kh x kw window: (N, C, H, W) -> (N, C, OH, OW), with
    OH = floor((H + 2 padding - kh) / stride) + 1 (stride defaults to kernel_size)."""
    windows = _check_pooling("max_pool2d", input, kernel_size, stride, padding, ceil_mode)
    return MaxPool2d(windows)(input)


# ---------------------------------------------------------------------------------------------
# Average pooling


def inverse_window_counts(xp, windows, count_include_pad, dtype):
    """1 / (the number of cells each window's sum is divided by), an (OH, OW) array (PyTorch's rule).

    With count_include_pad every window counts its `padding` cells (but not the extra cells a
    ceil-mode window reaches beyond them); without, only the cells inside the input. Rows and
    columns clip independently, so the count is (rows in the window) x (columns in the window).
    """
    counts = []
    for kernel, stride, padding, size, out in zip(*windows):
        starts = xp.arange(out) * stride - padding  # where each window starts along this axis
        ends = xp.minimum(starts + kernel, size + padding)
        if not count_include_pad:
            starts, ends = xp.maximum(starts, 0), xp.minimum(ends, size)
        counts.append(ends - starts)
    rows, cols = counts
    return (1 / (rows[:, None] * cols[None, :])).astype(dtype)


def window_sums(x_pad, windows):
    """sum_{u,v} x_pad[:, :, sh*i+u, sw*j+v] for every window (i, j) at once."""
    offsets = _offsets(windows)
    total = x_pad[next(offsets)].copy()
    for offset in offsets:
        total += x_pad[offset]
    return total


class AvgPool2d(Function):
    """y[n,c,i,j] = (1 / count[i,j]) sum_{u,v} x_pad[n, c, sh*i+u, sw*j+v]   (x_pad: zero border)

    gx = SpreadOverWindows(gy): each gy / count added back onto its window's cells.
    """

    reads_inputs = {}  # linear: the backward needs only the window geometry

    def __init__(self, windows, inverse_count):
        self.windows, self.inverse_count = windows, inverse_count

    def forward(self, x):
        return window_sums(_padded(x, self.windows, 0), self.windows) * self.inverse_count

    def backward(self, gy):
        return SpreadOverWindows(self.windows, self.inverse_count)(gy)


class SpreadOverWindows(Function):
    """gx_pad[n, c, sh*i+u, sw*j+v] += gy[n,c,i,j] / count[i,j] for every offset (u, v).

    The adjoint of average pooling; its own gradient is average pooling again.
    """

    reads_inputs = {}

    def __init__(self, windows, inverse_count):
        self.windows, self.inverse_count = windows, inverse_count

    def forward(self, gy):
        xp = get_array_module(gy)
        g_pad = xp.zeros(gy.shape[:2] + _padded_hw(self.windows), dtype=gy.dtype)
        share = gy * self.inverse_count
        for offset in _offsets(self.windows):
            g_pad[offset] += share
        return _unpadded(g_pad, self.windows)

    def backward(self, ggx):
        return AvgPool2d(self.windows, self.inverse_count)(ggx)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """The mean of each kh x kw window: (N, C, H, W) -> (N, C, OH, OW), sizes as max_pool2d.

    count_include_pad=True (the default, as PyTorch) divides by kh*kw even where the window
    covers padding; False divides by the number of input cells in the window.
    """
    windows = _check_pooling("avg_pool2d", input, kernel_size, stride, padding, ceil_mode)
    if not isinstance(count_include_pad, bool):
        raise TypeError(f"avg_pool2d: count_include_pad must be True or False, got {count_include_pad!r}")
    xp = get_array_module(input.data)
    return AvgPool2d(windows, inverse_window_counts(xp, windows, count_include_pad, input.dtype))(input)


# ---------------------------------------------------------------------------------------------
# Nearest-neighbour upsampling


def interpolate(input, size=None, scale_factor=None, mode="nearest"):
    """Nearest-neighbour upsampling by whole factors (sh, sw): y[n, c, i, j] = x[n, c, i // sh, j // sw].

    Each pixel is copied onto an sh x sw block of the output: that is spreading over windows of
    size and stride (sh, sw) with a divisor of 1, the adjoint of summing each block. So the
    gradient adds up each block, and its gradient copies again.
    """
    if not isinstance(input, Tensor):
        raise not_a_tensor("interpolate", "input", input)
    sh, sw = check_upsampling("interpolate", size, scale_factor, mode)
    if input.ndim != 4:
        raise ValueError(f"interpolate: expected input of shape (N, C, H, W), got {input.shape}")
    h, w = input.shape[2:]
    blocks = Windows(kernel=(sh, sw), stride=(sh, sw), padding=(0, 0), input_hw=(h * sh, w * sw), output_hw=(h, w))
    return SpreadOverWindows(blocks, 1)(input)


_PYTORCH_MODES = ("linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")


def check_upsampling(where, size, scale_factor, mode):
    """(sh, sw) from a whole scale factor (2, 2.0 or (2, 3)); other modes and sizes are refused."""
    if mode != "nearest":
        if mode in _PYTORCH_MODES:
            raise NotImplementedError(f"{where}: mode={mode!r} is not implemented; tinygen has mode='nearest'")
        raise ValueError(f"{where}: unknown mode {mode!r}; tinygen has mode='nearest'")
    if size is not None:
        raise NotImplementedError(f"{where}: size= is not implemented; give a whole scale_factor instead")
    if scale_factor is None:
        raise ValueError(f"{where}: give scale_factor (a whole number such as 2)")
    factors = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
    if len(factors) != 2:
        raise ValueError(f"{where}: scale_factor must be a number or a pair, got {scale_factor!r}")
    whole = []
    for factor in factors:
        if isinstance(factor, float) and factor.is_integer():
            factor = int(factor)  # 2.0 is 2, as PyTorch's nn.Upsample(scale_factor=2.0)
        if isinstance(factor, float):
            raise ValueError(f"{where}: scale_factor must be a whole number (nearest upsampling repeats each "
                             f"pixel), got {scale_factor!r}")
        whole.append(check_int(where, "scale_factor", factor, minimum=1))
    return tuple(whole)


# ---------------------------------------------------------------------------------------------
# Checks


def pooling_pair(where, name, value, minimum):
    """A pooling size: an int k is (k, k); a pair (a, b) is (a, b); each an int >= minimum."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{where}: {name} must be an int or a pair of ints, got {value!r}")
    return tuple(check_int(where, name, k, minimum=minimum) for k in pair)


def check_pooling_args(where, kernel_size, stride, padding, ceil_mode):
    """kernel, stride, padding as (height, width) pairs; padding at most half the window, as PyTorch."""
    kernel = pooling_pair(where, "kernel_size", kernel_size, minimum=1)
    stride = kernel if stride is None else pooling_pair(where, "stride", stride, minimum=1)
    padding = pooling_pair(where, "padding", padding, minimum=0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{where}: padding must be at most half the kernel size, got padding={padding} for "
                         f"kernel_size={kernel}")
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"{where}: ceil_mode must be True or False, got {ceil_mode!r}")
    return kernel, stride, padding


def check_pooling_input(where, x, kernel, stride, padding, ceil_mode):
    """The windows over x: x a 4-D float tensor in which at least one window fits."""
    if not isinstance(x, Tensor):
        raise not_a_tensor(where, "input", x)
    if x.ndim != 4:
        raise ValueError(f"{where}: expected input of shape (N, C, H, W), got {x.shape}")
    check_floating(where, x)
    input_hw = x.shape[2:]
    output_hw = tuple(pooled_size(*args, ceil_mode) for args in zip(input_hw, kernel, stride, padding))
    if output_hw[0] < 1 or output_hw[1] < 1:
        raise ValueError(f"{where}: input {x.shape} is smaller than the {kernel[0]} x {kernel[1]} window "
                         f"(with padding {padding}): the output would be {output_hw[0]} x {output_hw[1]}")
    return Windows(kernel, stride, padding, input_hw, output_hw)


def _check_pooling(op, x, kernel_size, stride, padding, ceil_mode):
    kernel, stride, padding = check_pooling_args(op, kernel_size, stride, padding, ceil_mode)
    return check_pooling_input(op, x, kernel, stride, padding, ceil_mode)
