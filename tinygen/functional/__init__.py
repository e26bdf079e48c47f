"""Differentiable ops, one theme a file. `tinygen.nn.functional` (imported as F) is this module."""
from tinygen.functional.activation import (
    dropout,
    leaky_relu,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from tinygen.functional.arithmetic import (
    abs,
    add,
    astype,
    clip,
    div,
    exp,
    log,
    mul,
    neg,
    pow,
    power_of,
    sqrt,
    sub,
    to_device,
)
from tinygen.functional.conv import col2im, conv2d, conv_transpose2d, im2col
from tinygen.functional.encoding import one_hot
from tinygen.functional.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    gaussian_kl,
    l1_loss,
    mse_loss,
)
from tinygen.functional.matmul import linear, matmul, tensordot
from tinygen.functional.normalization import batch_norm
from tinygen.functional.pooling import avg_pool2d, interpolate, max_pool2d
from tinygen.functional.reduction import max, mean, min, sum, var
from tinygen.functional.shape import (
    broadcast_to,
    cat,
    flatten,
    getitem,
    reshape,
    stack,
    sum_to,
    swapaxes,
    transpose,
    unsqueeze,
)
