"""Batch normalisation."""
from tinygen.autograd import Function, Tensor, is_grad_enabled
from tinygen.backend import get_array_module
from tinygen.functional.checks import check_eps, check_floating, check_real, check_same_dtype, not_a_tensor
from tinygen.creation import ones, zeros
from tinygen.functional.arithmetic import sqrt
from tinygen.functional.reduction import mean, sum
from tinygen.functional.shape import reshape


def _inverse_std(x, axes, eps):
    """1 / sqrt(var + eps) of x over `axes` (biased var), written in tinygen ops."""
    centered = x - mean(x, axes, keepdim=True)
    return 1 / sqrt(mean(centered * centered, axes, keepdim=True) + eps)


class BatchNorm(Function):
    """Training-mode batch normalisation, with the scale and shift, as one op:

        x_hat = (x - mean) * r,   r = 1 / sqrt(var + eps),      y = w * x_hat + b

    mean and (biased) var are per channel, over `axes` (n values each). Every x_i moves the mean
    and the variance, so the gradient of x has two correction terms. With gb = sum(g) and
    gw = sum(g * x_hat) over `axes` (which are also the gradients of b and w):

        gx = w * r * (g - gb / n - x_hat * gw / n)

    One op instead of the dozen or so that these formulas are made of: fewer passes over the
    activations, and a backward of a handful of ops.
    """

    def __init__(self, axes, eps):
        self.axes, self.eps = axes, eps

    def forward(self, x, weight, bias):
        per_channel = _per_channel_shape(x)
        self.batch_mean = x.mean(axis=self.axes, keepdims=True)
        centered = x - self.batch_mean
        self.batch_var = (centered * centered).mean(axis=self.axes, keepdims=True)
        self.inverse_std = 1 / get_array_module(x).sqrt(self.batch_var + x.dtype.type(self.eps))
        centered *= self.inverse_std  # in place: the centred values become x_hat
        self.x_hat = centered
        y = self.x_hat * weight.reshape(per_channel)
        y += bias.reshape(per_channel)
        return y

    def backward(self, g):
        x, weight = self.inputs[:2]
        if is_grad_enabled():  # create_graph=True: x_hat and r must be functions of x inside the graph
            r = _inverse_std(x, self.axes, self.eps)
            x_hat = (x - mean(x, self.axes, keepdim=True)) * r
        else:  # nobody differentiates this gradient again: the arrays saved by forward serve
            r, x_hat = Tensor(self.inverse_std), Tensor(self.x_hat)
        n = x.numel() // x.shape[1]
        gb = sum(g, self.axes, keepdim=True)
        gw = sum(g * x_hat, self.axes, keepdim=True)
        gx = None
        if self.needs_input_grad[0]:
            gx = (reshape(weight, r.shape) * r) * (g - gb / n - x_hat * (gw / n))
        return gx, reshape(gw, weight.shape), reshape(gb, weight.shape)


def _per_channel_shape(x):
    """(1, C) for an (N, C) input, (1, C, 1, 1) for (N, C, H, W): a per-channel value broadcasts."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel over the batch (and the pixels), then scale and shift:

        x_hat = (x - mean) / sqrt(var + eps),     y = weight * x_hat + bias

    x is (N, C) or (N, C, H, W); the statistics are per channel C. In training, mean and var
    are the batch's own (var biased, dividing by n), and the running statistics move towards
    them as in PyTorch:

        running_mean = (1 - momentum) running_mean + momentum mean
        running_var  = (1 - momentum) running_var  + momentum var * n / (n - 1)   (unbiased)

    In evaluation the running statistics are used instead. The running statistics are tensors
    updated in place (their versions count it) and never part of the graph.
    """
    if not isinstance(x, Tensor):
        raise not_a_tensor("batch_norm", "input", x)
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise not_a_tensor("batch_norm", name, t)
        if t is not None and t.dtype != x.dtype:
            check_same_dtype("batch_norm", x, t, weight_name=name)
    check_floating("batch_norm", x)
    check_eps("batch_norm", eps)
    if training and running_mean is not None and not 0 <= check_real("batch_norm", "momentum", momentum) <= 1:
        raise ValueError(f"batch_norm: momentum must be in [0, 1], got {momentum}")
    if x.ndim not in (2, 4):
        raise ValueError(f"batch_norm: expected input of shape (N, C) or (N, C, H, W), got {x.shape}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ValueError(f"batch_norm: input has {channels} channels (shape {x.shape}) but {name} has shape {t.shape}")
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    per_channel = _per_channel_shape(x)

    if training:
        n = x.numel() // channels
        if n < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, got input {x.shape}")
        weight = weight if weight is not None else ones(channels, dtype=x.dtype, device=x.device)
        bias = bias if bias is not None else zeros(channels, dtype=x.dtype, device=x.device)
        normalize = BatchNorm(axes, eps)
        y = normalize(x, weight, bias)
        if running_mean is not None:
            m = momentum
            # in place (counted in their versions), so a module's buffers stay the same arrays
            running_mean.copy_((1 - m) * running_mean.data + m * normalize.batch_mean.reshape(channels))
            running_var.copy_((1 - m) * running_var.data + m * normalize.batch_var.reshape(channels) * (n / (n - 1)))
        return y

    if running_mean is None:
        raise ValueError("batch_norm: evaluation needs running_mean and running_var")
    x_hat = (x - reshape(running_mean, per_channel)) / sqrt(reshape(running_var, per_channel) + eps)
    if weight is not None:
        x_hat = x_hat * reshape(weight, per_channel)
    if bias is not None:
        x_hat = x_hat + reshape(bias, per_channel)
    return x_hat
