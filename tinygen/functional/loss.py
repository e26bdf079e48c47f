"""Loss functions, each with reduction='mean' | 'sum' | 'none' as in PyTorch.

The input is a floating-point Tensor; the target a Tensor or a NumPy/CuPy array of the input's
shape (never broadcast: an (N, 1) input against an (N,) target would broadcast to (N, N)
and give a wrong loss without a word). A target that needs no gradient is a constant: it takes the
input's dtype, so a float64 target cannot make float64 gradients in a float32 model.
"""
from tinygen import backend
from tinygen.autograd import Function, Tensor
from tinygen.backend import get_array_module
from tinygen.functional.activation import log_softmax, sigmoid
from tinygen.functional.arithmetic import abs, astype, clip, exp, log
from tinygen.functional.checks import check_floating, not_a_tensor
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


def _input_and_target(op, input, target):
    """The input (a floating-point Tensor) and the target as a Tensor of the input's dtype."""
    if not isinstance(input, Tensor):
        raise not_a_tensor(op, "input", input)
    if input.data.dtype.kind != "f":
        check_floating(op, input)
    if isinstance(target, Tensor):
        if target.data.dtype != input.data.dtype:
            if target.requires_grad:  # a target in the graph: its gradient must keep its dtype
                raise RuntimeError(f"{op}: target dtype {target.dtype} does not match the input dtype {input.dtype} "
                                   f"(a target that requires grad is not converted); convert one with .float() "
                                   f"or .double()")
            target = astype(target, input.dtype)
        return input, target
    if not backend.is_array(target):
        raise not_a_tensor(op, "target", target)
    return input, Tensor(target, dtype=input.dtype, device=input.device)


def mse_loss(input, target, reduction="mean"):
    """l = (x - y)^2"""
    input, target = _input_and_target("mse_loss", input, target)
    _check_same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    """l = |x - y|"""
    input, target = _input_and_target("l1_loss", input, target)
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
    input, target = _input_and_target("binary_cross_entropy", input, target)
    _check_same_shape("binary_cross_entropy", input, target)
    _check_probabilities("input", input.data, "; for raw scores use binary_cross_entropy_with_logits")
    _check_probabilities("target", target.data, "")
    return _reduce(BinaryCrossEntropy()(input, target), reduction, "binary_cross_entropy")


def _check_probabilities(name, p, hint):
    """PyTorch's check: every element in [0, 1] (one min and one max over the array: cheap)."""
    if p.size and not (p.min() >= 0 and p.max() <= 1):  # False for NaN too
        nans = int((p != p).sum())
        if nans:  # not a wrong argument but arithmetic gone wrong upstream (a diverged training, say)
            raise FloatingPointError(f"binary_cross_entropy: the {name} holds {nans} NaN values")
        bad = p[(p < 0) | (p > 1)]
        raise ValueError(f"binary_cross_entropy: {name} must be probabilities in [0, 1], found {bad.size} values "
                         f"outside (e.g. {float(bad.ravel()[0])}){hint}")


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
    """The same loss on raw scores z (logits): p = sigmoid(z). Any real target is taken, as PyTorch."""
    input, target = _input_and_target("binary_cross_entropy_with_logits", input, target)
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    return _reduce(BCEWithLogits()(input, target), reduction, "binary_cross_entropy_with_logits")


def cross_entropy(input, target, reduction="mean"):
    """l = -log softmax(z)[label] for logits z of shape (N, C) and integer labels of shape (N,).

    The log-softmax is taken inside (do not apply softmax first). The label picks its entry by
    multiplying with a one-hot mask, whose gradient is the mask itself.
    """
    if not isinstance(input, Tensor):
        raise not_a_tensor("cross_entropy", "input", input)
    check_floating("cross_entropy", input)
    labels = target.data if isinstance(target, Tensor) else target
    if not backend.is_array(labels):
        raise not_a_tensor("cross_entropy", "target", target)
    xp = get_array_module(input.data)
    labels = xp.asarray(labels)  # on the logits' device
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
    for name, value in (("mu", mu), ("logvar", logvar)):
        if not isinstance(value, Tensor):
            raise not_a_tensor("gaussian_kl", name, value)
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(f"gaussian_kl: expected mu and logvar of the same shape (N, D), got {mu.shape} and {logvar.shape}")
    per_sample = -0.5 * sum(1 + logvar - mu * mu - exp(logvar), dim=1)
    return _reduce(per_sample, reduction, "gaussian_kl")
