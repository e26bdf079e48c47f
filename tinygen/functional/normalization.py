"""Batch normalisation."""
from tinygen.functional.reduction import mean
from tinygen.functional.arithmetic import sqrt
from tinygen.functional.shape import reshape


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel over the batch (and the pixels), then scale and shift:

        x_hat = (x - mean) / sqrt(var + eps),     y = weight * x_hat + bias

    x is (N, C) or (N, C, H, W); the statistics are per channel C. In training, mean and var
    are the batch's own (var biased, dividing by n), and the running statistics move towards
    them as in PyTorch:

        running_mean = (1 - momentum) running_mean + momentum mean
        running_var  = (1 - momentum) running_var  + momentum var * n / (n - 1)   (unbiased)

    In evaluation the running statistics are used instead. The running statistics are tensors
    updated in place and never part of the graph. The gradient flows through mean and var as
    they are written here: it is the composition of the ops used.
    """
    if x.ndim not in (2, 4):
        raise ValueError(f"batch_norm: expected input of shape (N, C) or (N, C, H, W), got {x.shape}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ValueError(f"batch_norm: input has {channels} channels (shape {x.shape}) but {name} has shape {t.shape}")
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    per_channel = (1, channels) if x.ndim == 2 else (1, channels, 1, 1)

    if training:
        n = x.numel() // channels
        if n < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, got input {x.shape}")
        batch_mean = mean(x, axes, keepdim=True)
        centered = x - batch_mean
        batch_var = mean(centered * centered, axes, keepdim=True)
        if running_mean is not None:
            m = momentum
            running_mean.data = (1 - m) * running_mean.data + m * batch_mean.data.reshape(channels)
            running_var.data = (1 - m) * running_var.data + m * batch_var.data.reshape(channels) * (n / (n - 1))
        x_hat = centered / sqrt(batch_var + eps)
    else:
        if running_mean is None:
            raise ValueError("batch_norm: evaluation needs running_mean and running_var")
        x_hat = (x - reshape(running_mean, per_channel)) / sqrt(reshape(running_var, per_channel) + eps)

    if weight is not None:
        x_hat = x_hat * reshape(weight, per_channel)
    if bias is not None:
        x_hat = x_hat + reshape(bias, per_channel)
    return x_hat
