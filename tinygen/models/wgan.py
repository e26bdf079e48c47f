"""The Wasserstein GAN's critic and what its two forms need: weight clipping (WGAN, Arjovsky et al.
2017) and the gradient penalty (WGAN-GP, Gulrajani et al. 2017).

    MLPCritic     x (N, 1, 28, 28) or (N, 784) -> Linear 512 -> LeakyReLU(0.2) -> Linear 256
                  -> LeakyReLU(0.2) -> Linear 1 -> score (N, 1)          (PyTorch-GAN's wgan and wgan_gp)
    DCGANCritic   x -> (N, 1, 28, 28) -> Conv 64, 4, stride 2 -> 14x14 -> LeakyReLU(0.2)
                  -> Conv 128, 4, stride 2 -> 7x7 -> LeakyReLU(0.2) -> Conv 1, 7 -> score (N, 1)

A critic is a discriminator with two things taken out. No sigmoid: its output is a score on the
whole real line, not a probability; the critic estimates the Wasserstein-1 distance
W(p_d, p_g) = sup over 1-Lipschitz f of E_x f(x) - E_z f(G(z)) by that difference of means
(`wasserstein_estimate`). No BatchNorm: a BatchNorm makes each sample's score depend on the other
samples of its batch, so the gradient of D(x_n) w.r.t. x_n (the gradient penalty's, per sample)
would no longer be that sample's own (Gulrajani et al. drop it; `gradient_penalty` refuses one
that uses batch statistics, and accepts a minibatch stddev on purpose: `_refuse_batch_norm`).

Both critics are given: the MLP is the cheaper one on a CPU (about 0.5M multiply-adds per image
against the convolutional one's 6.6M; five critic steps per generator step, and WGAN-GP's double
backward, make that count) and the one to start from there; the convolutional one is the DCGAN's
discriminator without its BatchNorm and sigmoid, for those with a GPU.

The critic must be kept (roughly) 1-Lipschitz for the estimate to mean anything:
    WGAN     clips every critic parameter into [-c, c] after each critic step (`clip_weights_`),
             with RMSprop 5e-5 and c = 0.01;
    WGAN-GP  adds lambda * E[(||grad_x D(x_hat)||_2 - 1)^2] on points x_hat between real and fake
             images (`gradient_penalty`), with Adam 1e-4, betas (0, 0.9) and lambda = 10.
Both take N_CRITIC critic steps per generator step.
"""
import math

from tinygen import nn
import tinygen.nn.functional as F
from tinygen.autograd import Tensor, grad, no_grad
from tinygen.creation import rand
from tinygen.functional.checks import check_real, not_a_tensor
from tinygen.models.conditional_gan import flat_images

IMAGE_SIZE = 28 * 28
CLIP = 0.01  # WGAN's clip range c (Arjovsky et al.)
N_CRITIC = 5  # critic steps per generator step (both papers)
GP_WEIGHT = 10.0  # WGAN-GP's lambda (Gulrajani et al.)
NORM_EPS = 1e-12  # sqrt(sum g^2 + eps): a zero gradient has norm 1e-6, and a finite derivative


class MLPCritic(nn.Module):
    """image (784) -> 512 -> 256 -> 1, LeakyReLU(0.2): a score, no sigmoid, no BatchNorm."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(IMAGE_SIZE, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 1),
        )

    def forward(self, images):
        return self.net(flat_images(type(self).__name__, images))


class DCGANCritic(nn.Module):
    """The DCGAN discriminator's convolutions, 28 -> 14 -> 7 -> 1, without BatchNorm and sigmoid."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),    # 28 -> 14
            nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 14 -> 7
            nn.Conv2d(128, 1, 7),                                           # 7 -> 1
        )

    def forward(self, images):
        n = flat_images(type(self).__name__, images).shape[0]
        return self.net(images.reshape(n, 1, 28, 28)).reshape(n, 1)


def clip_weights_(module, c=CLIP):
    """WGAN's Lipschitz constraint: every parameter w of `module` becomes min(max(w, -c), c), in place.

    Run it after each critic step. Like an optimiser step it changes the parameters outside the
    graph and counts as an in-place change (each parameter's version goes up), so a graph that
    saved the old weights refuses a later backward. Returns the module.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"clip_weights_: expected a Module (the critic), got {type(module).__name__}")
    if not 0 < check_real("clip_weights_", "c", c) < math.inf:  # NaN fails too
        raise ValueError(f"clip_weights_: c must be a positive finite number, got {c!r}")
    with no_grad():
        for p in module.parameters():
            p.copy_(p.clip(-c, c))
    return module


def _critic_scores(where, name, scores):
    if not isinstance(scores, Tensor):
        raise not_a_tensor(where, name, scores)
    if scores.ndim != 2 or scores.shape[1] != 1 or scores.shape[0] == 0:
        raise ValueError(f"{where}: expected {name} of shape (N, 1), one critic score per image, got {scores.shape}")
    return scores


def wasserstein_estimate(critic_real, critic_fake):
    """The critic's estimate of the Wasserstein-1 distance: W = mean D(x) - mean D(G(z)).

    critic_real, critic_fake: the critic's scores (N, 1) and (M, 1) of real and generated images.
    The critic maximises W (its loss is -W, plus the penalty for WGAN-GP); the generator
    minimises -mean D(G(z)). W itself, per step, is the curve to watch: it falls as G improves.
    With clipping the critic is K-Lipschitz for some K that c sets, not 1-Lipschitz, so W is the
    distance times an unknown K: compare it along one run, not between runs with another c.
    """
    real = _critic_scores("wasserstein_estimate", "critic_real", critic_real)
    fake = _critic_scores("wasserstein_estimate", "critic_fake", critic_fake)
    return real.mean() - fake.mean()


def gradient_penalty(critic, real, fake, alpha=None):
    """WGAN-GP's penalty (Gulrajani et al. 2017) and the mean gradient norm it saw.

        x_hat_n = alpha_n x_n + (1 - alpha_n) x~_n      alpha_n ~ U(0, 1), ONE per sample n
        g_n     = d D(x_hat_n) / d x_hat_n               = row n of the gradient of sum_m D(x_hat_m)
        ||g_n|| = sqrt(sum over all of sample n's pixels of g_n^2 + eps)
        penalty = mean_n (||g_n|| - 1)^2

    One backward gives every g_n: with D(x_hat_m) free of x_hat_n for m != n, row n of the gradient
    of the sum is n's own (a minibatch stddev adds its group's cross terms: `_refuse_batch_norm`).

    real, fake: images of the same shape and dtype (N, ...); fake is detached (the penalty trains the critic
    only). alpha: None draws it, else a tensor of shape (N, 1, ..., 1) in [0, 1]. The gradient is
    taken with create_graph=True so that the penalty can itself be differentiated w.r.t. the
    critic's parameters: its backward runs through the backward of the critic (double backward).

    The catalogue's pitfalls, avoided: alpha per sample, not per pixel (each x_hat_n lies on the
    segment from x~_n to x_n); the norm per sample over all its pixels, not per pixel; and eps
    under the square root, since sqrt has an infinite slope at 0 (a zero gradient would give NaN).
    Returns (penalty, mean norm); the mean norm is detached, for the curve (near 1 once trained).
    """
    for name, images in (("real", real), ("fake", fake)):
        if not isinstance(images, Tensor):
            raise not_a_tensor("gradient_penalty", name, images)
    if real.shape != fake.shape or real.ndim < 2 or real.shape[0] == 0:
        raise ValueError(f"gradient_penalty: expected real and fake images of the same shape (N, ...), "
                         f"got {real.shape} and {fake.shape}")
    if real.dtype != fake.dtype:
        raise TypeError(f"gradient_penalty: real and fake images must have the same dtype, got {real.dtype} "
                        f"and {fake.dtype}")
    _refuse_batch_norm(critic)
    n = real.shape[0]
    per_sample = (n,) + (1,) * (real.ndim - 1)
    if alpha is None:
        alpha = rand(*per_sample, dtype=real.dtype, device=real.device)
    elif not isinstance(alpha, Tensor) or alpha.shape != per_sample:
        got = alpha.shape if isinstance(alpha, Tensor) else type(alpha).__name__
        raise ValueError(f"gradient_penalty: alpha must be a Tensor with one value per sample, shape {per_sample}, "
                         f"got {got} (an alpha per pixel would put x_hat off the line from fake to real)")
    elif not (alpha.data.min() >= 0 and alpha.data.max() <= 1):  # N values: cheap
        raise ValueError(f"gradient_penalty: alpha must be in [0, 1], got range "
                         f"[{alpha.data.min()}, {alpha.data.max()}]")
    alpha = F.astype(alpha.detach(), real.dtype)  # a constant, in the images' dtype
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_()  # a new leaf
    scores = _critic_scores("gradient_penalty", "the critic's output", critic(x_hat))
    (g,) = grad(scores.sum(), x_hat, create_graph=True)
    norms = ((g * g).reshape(n, -1).sum(dim=1) + NORM_EPS).sqrt()  # (N,): one norm per sample
    return ((norms - 1) ** 2).mean(), norms.mean().detach()


def _refuse_batch_norm(critic, where="gradient_penalty", whose="the critic's",
                       advice="use a critic without BatchNorm (MLPCritic, DCGANCritic)"):
    """The per-sample rule of the gradient penalties (gradient_penalty, r1_penalty), as a guard.

    Refused: a BatchNorm that normalises by the batch's statistics (in training mode, or in eval
    mode without running statistics, track_running_stats=False). It maps a batch to a batch: every
    score is a function of every sample, and Gulrajani et al. drop it because a penalty on each
    input's gradient no longer means anything there.
    Accepted on purpose: nn.MinibatchStdDev (progressive growing, StyleGAN). With it D(x_n) also
    reads s, the spread of x_n's group, and the penalty's g_n, the gradient of sum_m D(x_m) w.r.t.
    x_n, is x_n's own gradient (through s too) plus the cross terms dD(x_m)/ds ds/dx_n of the
    other samples m of its group. That is what Karras et al.'s code penalises (tf.gradients of
    the summed scores, as here), so tinygen follows it. A critic passed as a plain function
    (the progressive GAN's lambda) is not a Module and cannot be inspected: it is trusted.
    """
    if not isinstance(critic, nn.Module):
        return
    for name, module in critic.named_modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and (module.training or module.running_mean is None):
            mode = "in training mode" if module.training else "without running statistics (track_running_stats=False)"
            raise ValueError(f"{where}: {whose} {name} is {module} {mode}, which normalises by the batch's "
                             f"statistics and makes each sample's score depend on the whole batch, so the gradient "
                             f"per sample is not that sample's own; {advice}")
