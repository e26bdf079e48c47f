"""Loss functions, each with reduction='mean' | 'sum' | 'none' as in PyTorch."""
from tinygen.autograd import Function, Tensor
from tinygen.backend import get_array_module
from tinygen.functional.activation import log_softmax, sigmoid
from tinygen.functional.arithmetic import abs, clip, exp, log
from tinygen.functional.reduction import mean, sum


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_same_shape(op, input, target):
    if input.shape != target.shape:
        raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} differ")


def _as_target(target, like):
    return target if isinstance(target, Tensor) else Tensor(target, dtype=like.dtype, device=like.device)


def mse_loss(input, target, reduction="mean"):
    """l = (x - y)^2"""
    target = _as_target(target, input)
    _check_same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    """l = |x - y|"""
    target = _as_target(target, input)
    _check_same_shape("l1_loss", input, target)
    return _reduce(abs(input - target), reduction, "l1_loss")


def _clamped_log(a):
    """log a, clamped below at -100 (so log 0 = -100), without computing log 0 (no warning)."""
    xp = get_array_module(a)
    is_zero = (a == 0).astype(a.dtype)
    return xp.maximum(xp.log(a + is_zero) - 100 * is_zero, -100)  # log 1 - 100 where a == 0


class BinaryCrossEntropy(Function):
    """l = -(y log p + (1 - y) log(1 - p)), each log clamped at -100 as in PyTorch.

    gp = gy (p - y) / max(p (1 - p), 1e-12)     (PyTorch's form: finite, not NaN, at p = 0 or 1)
    gt = gy (log(1 - p) - log p)                 (the clamped logs)
    """

    def forward(self, p, y):
        return -(y * _clamped_log(p) + (1 - y) * _clamped_log(1 - p))

    def backward(self, gy):
        p, y = self.inputs
        gp = gy * (p - y) / clip(p * (1 - p), 1e-12, None) if self.needs_input_grad[0] else None
        gt = gy * (clip(log(1 - p), -100, None) - clip(log(p), -100, None)) if self.needs_input_grad[1] else None
        return gp, gt


def binary_cross_entropy(input, target, reduction="mean"):
    """l = -(y log p + (1 - y) log(1 - p)) for probabilities p in [0, 1].

    Each log is clamped at -100, as in PyTorch, so that p = 0 or 1 gives a large finite loss.
    For raw scores (logits) use binary_cross_entropy_with_logits: it is exact and stable.
    """
    target = _as_target(target, input)
    _check_same_shape("binary_cross_entropy", input, target)
    p = input.data
    inside = (p >= 0) & (p <= 1)  # False for NaN too
    if not bool(inside.all()):
        bad = p[~inside]
        raise ValueError(
            f"binary_cross_entropy: input must be probabilities in [0, 1], found {bad.size} values outside "
            f"(e.g. {float(bad.ravel()[0])}); for raw scores use binary_cross_entropy_with_logits"
        )
    return _reduce(BinaryCrossEntropy()(input, target), reduction, "binary_cross_entropy")


class BCEWithLogits(Function):
    """l = -(y log s(z) + (1 - y) log(1 - s(z))), s the sigmoid, computed stably as

        l = max(z, 0) - z y + log(1 + e^{-|z|})

    gz = gy * (s(z) - y),   gt = -gy * z
    """

    def forward(self, z, y):
        xp = get_array_module(z)
        return xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))

    def backward(self, gy):
        z, y = self.inputs
        gz = gy * (sigmoid(z) - y) if self.needs_input_grad[0] else None
        gt = -gy * z if self.needs_input_grad[1] else None
        return gz, gt


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    target = _as_target(target, input)
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    return _reduce(BCEWithLogits()(input, target), reduction, "binary_cross_entropy_with_logits")


def cross_entropy(input, target, reduction="mean"):
    """l = -log softmax(z)[label] for logits z of shape (N, C) and integer labels of shape (N,).

    The log-softmax is taken inside (do not apply softmax first). The label picks its entry by
    multiplying with a one-hot mask, whose gradient is the mask itself.
    """
    labels = target.data if isinstance(target, Tensor) else target
    xp = get_array_module(input.data)
    labels = xp.asarray(labels)
    if input.ndim != 2 or labels.shape != (input.shape[0],):
        raise ValueError(f"cross_entropy: expected logits (N, C) and labels (N,), got {input.shape} and {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy: labels must be integers, got dtype {labels.dtype}")
    classes = input.shape[1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"cross_entropy: labels must be in [0, {classes}), got range [{labels.min()}, {labels.max()}]")
    one_hot = xp.zeros(input.shape, dtype=input.dtype)
    one_hot[xp.arange(len(labels)), labels] = 1
    loss = -sum(log_softmax(input, dim=1) * Tensor(one_hot), dim=1)
    return _reduce(loss, reduction, "cross_entropy")


def gaussian_kl(mu, logvar, reduction="mean"):
    """KL( N(mu, diag(e^logvar)) || N(0, I) ), the regulariser of a VAE, in closed form:

        KL = -1/2 sum_j (1 + logvar_j - mu_j^2 - e^{logvar_j})      (summed over the latent dims)

    reduction: 'none' gives one KL per sample (shape (N,)), 'mean' averages them over the batch,
    'sum' adds them (the VAE paper's per-batch ELBO).
    """
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(f"gaussian_kl: expected mu and logvar of the same shape (N, D), got {mu.shape} and {logvar.shape}")
    per_sample = -0.5 * sum(1 + logvar - mu * mu - exp(logvar), dim=1)
    return _reduce(per_sample, reduction, "gaussian_kl")
