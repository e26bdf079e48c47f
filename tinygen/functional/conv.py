"""2-D convolution and transposed convolution, built from im2col, col2im and tensordot.

A convolution slides a kh x kw window over the padded input with step `stride`. `im2col` copies
every window out into an array `cols`, so that the convolution becomes one matrix product with
the weight. `col2im` is its adjoint: it adds each window back onto the image where it came from.

    conv2d(x, W)           = tensordot(W, im2col(x))        (N, C, H, W)  ->  (N, O, OH, OW)
    conv_transpose2d(x, W) = col2im(tensordot(W, x))        (N, C, H, W)  ->  (N, O, H', W')

Since the gradient of im2col is col2im (and the other way round), the input-gradient of a
convolution is a transposed convolution of the output gradient, and vice versa: each is the
other's backward. Both loop only over the kh*kw window offsets, copying a strided slice of the
whole batch at each; never over pixels or batch items.

Layout of `cols`: (C, kh, kw, OH, OW, N), with
    cols[c, u, v, i, j, n] = x_padded[n, c, stride*i + u, stride*j + v]
so that (C*kh*kw) x (OH*OW*N) is a plain matrix for the product with the weight. The batch
comes last so that every slice copied by im2col and col2im runs over long contiguous rows of N
values (a window offset's slice would otherwise be rows of only OW values, and NumPy spends
its time starting rows). For the same reason the padded image inside is kept as (C, H, W, N).
"""
from tinygen.autograd import Function, Tensor
from tinygen.backend import get_array_module
from tinygen.functional.checks import check_int, check_same_dtype, not_a_tensor
from tinygen.functional.matmul import tensordot
from tinygen.functional.shape import reshape, transpose


def output_size(size, kernel, stride, padding):
    """Number of window positions along one axis: floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


class Im2col(Function):
    """cols[c,u,v,i,j,n] = x_pad[n, c, s*i+u, s*j+v].   gx = col2im(gcols) (windows added back)"""

    reads_inputs = {}

    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        xp = get_array_module(x)
        (kh, kw), s, p = self.kernel, self.stride, self.padding
        n, c, h, w = x.shape
        self.input_hw = (h, w)
        oh, ow = output_size(h, kh, s, p), output_size(w, kw, s, p)
        x_pad = xp.zeros((c, h + 2 * p, w + 2 * p, n), dtype=x.dtype)  # batch last, zero border
        x_pad[:, p : p + h, p : p + w] = x.transpose(1, 2, 3, 0)
        if oh == ow == 1:  # one window (a kernel as large as the image): it is the image itself
            return x_pad[:, :kh, :kw, None, None]
        cols = xp.empty((c, kh, kw, oh, ow, n), dtype=x.dtype)
        for u in range(kh):
            for v in range(kw):
                cols[:, u, v] = x_pad[:, u : u + s * oh : s, v : v + s * ow : s]  # (C, OH, OW, N)
        return cols

    def backward(self, gcols):
        return col2im(gcols, self.input_hw, self.stride, self.padding)


class Col2im(Function):
    """x_pad[n, c, s*i+u, s*j+v] += cols[c,u,v,i,j,n], then the padding is cut off.

    The adjoint of im2col: gcols = im2col(gx).
    """

    reads_inputs = {}  # only the shape of cols

    def __init__(self, output_hw, stride, padding):
        self.output_hw, self.stride, self.padding = output_hw, stride, padding

    def forward(self, cols):
        xp = get_array_module(cols)
        c, kh, kw, oh, ow, n = cols.shape
        (h, w), s, p = self.output_hw, self.stride, self.padding
        x_pad = xp.zeros((c, h + 2 * p, w + 2 * p, n), dtype=cols.dtype)  # batch last, as in im2col
        if oh == ow == 1:  # one window: nothing overlaps, it is put in place whole
            x_pad[:, :kh, :kw] = cols[:, :, :, 0, 0]
        else:
            for u in range(kh):
                for v in range(kw):
                    x_pad[:, u : u + s * oh : s, v : v + s * ow : s] += cols[:, u, v]
        return x_pad[:, p : p + h, p : p + w].transpose(3, 0, 1, 2)  # (N, C, H, W)

    def backward(self, gx):
        kh, kw = self.inputs[0].shape[1:3]
        return im2col(gx, (kh, kw), self.stride, self.padding)


def im2col(x, kernel, stride, padding):
    return Im2col(tuple(kernel), stride, padding)(x)


def col2im(cols, output_hw, stride, padding):
    return Col2im(tuple(output_hw), stride, padding)(cols)


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """y[n,o,i,j] = b[o] + sum_{c,u,v} W[o,c,u,v] x_pad[n, c, s*i+u, s*j+v].

    x: (N, C, H, W), weight: (O, C, kh, kw), bias: (O,)  ->  y: (N, O, OH, OW)
    """
    _check_conv_input("conv2d", x, weight, bias, channel_axis_of_weight=1)
    stride, padding = _check_stride_padding("conv2d", stride, padding)
    kernel = weight.shape[2:]
    if x.shape[2] + 2 * padding < kernel[0] or x.shape[3] + 2 * padding < kernel[1]:
        raise ValueError(f"conv2d: input {x.shape} with padding {padding} is smaller than the kernel {tuple(kernel)}")
    cols = im2col(x, kernel, stride, padding)  # (C, kh, kw, OH, OW, N)
    y = tensordot(weight, cols, 3)  # (O, OH, OW, N)
    y = transpose(y, (3, 0, 1, 2))  # (N, O, OH, OW)
    return y if bias is None else y + reshape(bias, (1, -1, 1, 1))


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """The adjoint of conv2d: each input pixel spreads W-weighted copies onto the output.

    x: (N, C, H, W), weight: (C, O, kh, kw)  ->  y: (N, O, H', W') with
    H' = (H - 1) stride - 2 padding + kh + output_padding   (as torch.nn.ConvTranspose2d).
    """
    _check_conv_input("conv_transpose2d", x, weight, bias, channel_axis_of_weight=0)
    stride, padding = _check_stride_padding("conv_transpose2d", stride, padding)
    output_padding = check_int("conv_transpose2d", "output_padding", output_padding, pair=True)
    if not 0 <= output_padding < stride:
        raise ValueError(f"conv_transpose2d: output_padding must be in [0, stride={stride}), got {output_padding}")
    kh, kw = weight.shape[2:]
    h, w = x.shape[2:]
    out_h = (h - 1) * stride - 2 * padding + kh + output_padding
    out_w = (w - 1) * stride - 2 * padding + kw + output_padding
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"conv_transpose2d: input {x.shape} with padding {padding} gives an empty output")
    x_batch_last = transpose(x, (1, 2, 3, 0))  # (C, H, W, N)
    cols = tensordot(weight, x_batch_last, ([0], [0]))  # (O, kh, kw, H, W, N): the windows of the output
    y = col2im(cols, (out_h, out_w), stride, padding)
    return y if bias is None else y + reshape(bias, (1, -1, 1, 1))


def _check_stride_padding(op, stride, padding):
    """One int stride >= 1 and one int padding >= 0 for both axes (NumPy would take stride 0 or a
    negative padding and fail inside, or make nonsense)."""
    stride = check_int(op, "stride", stride, minimum=1, pair=True)
    return stride, check_int(op, "padding", padding, minimum=0, pair=True)


def _check_conv_input(op, x, weight, bias, channel_axis_of_weight):
    for name, value in (("input", x), ("weight", weight)):
        if not isinstance(value, Tensor):
            raise not_a_tensor(op, name, value)
    if bias is not None and not isinstance(bias, Tensor):
        raise not_a_tensor(op, "bias", bias)
    check_same_dtype(op, x, weight, bias)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected input of shape (N, C, H, W), got {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D weight, got {weight.shape}")
    if weight.shape[2] < 1 or weight.shape[3] < 1:
        raise ValueError(f"{op}: the kernel must be at least 1 x 1, got a weight of shape {weight.shape}")
    channels = weight.shape[channel_axis_of_weight]
    if x.shape[1] != channels:
        raise ValueError(
            f"{op}: input has {x.shape[1]} channels (shape {x.shape}) but the weight {weight.shape} expects {channels}"
        )
