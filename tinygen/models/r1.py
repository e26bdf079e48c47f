"""The R1 penalty (Mescheder et al. 2018), StyleGAN's regulariser for D:

    R1 = (gamma / 2) * mean over the batch of ||grad_x D(x_n)||^2,   x the REAL images,

the squared norm over all of sample n's pixels: it pushes D's gradient to 0 on the data. Taken
with create_graph=True, so the penalty can be differentiated w.r.t. D's parameters (double
backward). Row n of the gradient of sum_m D(x_m) is sample n's gradient under the gradient
penalty's per-sample rule (`_refuse_batch_norm`, wgan.py): batch-statistics BatchNorm refused; a
minibatch stddev (StyleGAN's D) accepted, its cross terms then included, as in StyleGAN's code.
No square root here, so no eps: a zero gradient gives a zero penalty and a finite derivative.
"""
from tinygen.autograd import Tensor, grad
from tinygen.functional.checks import check_real, not_a_tensor
from tinygen.models.wgan import _critic_scores, _refuse_batch_norm


def r1_penalty(D, real, gamma):
    """(gamma / 2) * mean_n sum over pixels of (d D(x_n) / d x_n)^2 on real images (N, ...)."""
    if not isinstance(real, Tensor):
        raise not_a_tensor("r1_penalty", "real", real)
    if real.ndim < 2 or real.shape[0] == 0:
        raise ValueError(f"r1_penalty: expected real images of shape (N, ...), got {real.shape}")
    gamma = check_real("r1_penalty", "gamma", gamma)
    if gamma < 0:
        raise ValueError(f"r1_penalty: gamma must be >= 0, got {gamma}")
    _refuse_batch_norm(D, "r1_penalty", "D's", "use a D without BatchNorm, or one with running statistics in eval mode")
    x = real.detach().requires_grad_()  # a new leaf
    scores = _critic_scores("r1_penalty", "D's output", D(x))
    (g,) = grad(scores.sum(), x, create_graph=True)
    return (g * g).reshape(real.shape[0], -1).sum(dim=1).mean() * (gamma / 2)
