"""How likely a VAE finds a digit: the importance-weighted estimate of log p(x) (Burda et al. 2015).

The ELBO is a lower bound on log p(x), short of it by KL(q(z|x) || p(z|x)). Drawing K codes from
q and weighting each by how much more the model believes in it than q does closes the gap:

    w_k = p(x | z_k) p(z_k) / q(z_k | x),      z_k ~ q(z | x),  k = 1..K
    L_K = log (1/K sum_k w_k) = logsumexp_k(log w_k) - log K

E[L_K] <= log p(x) for every K, rises with K and reaches log p(x) as K grows (Burda et al.,
Theorem 1); the ELBO is E[L_1]. For the same draws, log(mean w) >= mean(log w) (Jensen): the
estimate is never below the ELBO's Monte-Carlo estimate from those draws. Where q is the exact
posterior, every w_k equals p(x) and L_K = log p(x) for any K: tests/test_log_likelihood.py
checks that on a linear-Gaussian model, whose p(x) and posterior are known in closed form.

q(z|x) = N(mu, diag(exp(logvar))) and p(z) = N(0, I), as in every VAE of tinygen.models. The
figure is in nats; for a Bernoulli decoder it is a log-probability only for binary pixels
(grey pixels make -BCE a score, not a log-likelihood).
"""
import math

import tinygen
import tinygen.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_density(z, mu, logvar):
    """log N(z; mu, diag(exp(logvar))) = -1/2 sum_j (log 2 pi + logvar_j + (z_j - mu_j)^2 / exp(logvar_j)),
    over the last dim (mu and logvar broadcast against z)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 / logvar.exp()).sum(dim=-1)


def bernoulli_log_likelihood(probs, x):
    """log p(x | z) = sum over pixels of x log p + (1 - x) log(1 - p), for binary x and the decoder's
    probabilities p, each image flattened: one number per image (shape (N,))."""
    n = x.shape[0]
    return -F.binary_cross_entropy(probs.reshape(n, -1), x.reshape(n, -1), reduction="none").sum(dim=1)


def importance_weighted_log_px(x, encode, log_px_given_z, samples=1000, chunk=100):
    """L_K for each image of x (shape (N,), nats), with K = samples codes per image drawn from
    q(z|x) = N(mu, exp(logvar)), (mu, logvar) = encode(x); log_px_given_z(x, z) gives log p(x|z) per
    image for a batch of images and codes of the same length. The codes go `chunk` draws per image at
    a time (memory: chunk * N codes and images), and the chunks' logsumexps are combined."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"importance_weighted_log_px: samples must be a positive integer, got {samples!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"importance_weighted_log_px: chunk must be a positive integer, got {chunk!r}")
    with tinygen.no_grad():
        mu, logvar = encode(x)
        n, k = mu.shape
        partial = []  # per chunk: logsumexp over its draws of log w, shape (N,)
        for start in range(0, samples, chunk):
            draws = min(chunk, samples - start)
            eps = tinygen.randn(draws, n, k, dtype=mu.dtype, device=mu.device)
            z = mu + (logvar * 0.5).exp() * eps  # (draws, N, k): draw d of image i at [d, i]
            images = F.broadcast_to(x.unsqueeze(0), (draws, *x.shape)).reshape(draws * n, *x.shape[1:])
            log_w = (log_px_given_z(images, z.reshape(draws * n, k)).reshape(draws, n)
                     + gaussian_log_density(z, 0.0 * mu, 0.0 * logvar)   # log p(z), p = N(0, I)
                     - gaussian_log_density(z, mu, logvar))              # log q(z | x)
            partial.append(F.logsumexp(log_w, dim=0))
        return F.logsumexp(tinygen.stack(partial), dim=0) - math.log(samples)


def vae_log_px(model, x, samples=1000, chunk=100):
    """L_K of a tinygen VAE with a Bernoulli decoder (model.encode, model.decode) on binary images x."""
    return importance_weighted_log_px(x, model.encode, lambda images, z: bernoulli_log_likelihood(model.decode(z), images),
                                      samples, chunk)
