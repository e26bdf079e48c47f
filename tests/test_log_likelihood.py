"""The importance-weighted estimate of log p(x) (tinygen/models/log_likelihood.py), proven where
log p(x) is known: a linear-Gaussian model

    p(z) = N(0, I_k),   p(x | z) = N(W z + b, s^2 I_d)    =>    p(x) = N(b, W W^T + s^2 I_d)

and, with W's columns orthogonal (W^T W = diag(c^2)), a diagonal posterior
    p(z | x) = N(m, diag(v)),   v_j = 1 / (1 + c_j^2 / s^2),   m = v * W^T (x - b) / s^2,
which a VAE's q can be exactly. Everything here is worked in NumPy from these formulas."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygen
from tinygen.models.log_likelihood import (bernoulli_log_likelihood, gaussian_log_density,
                                           importance_weighted_log_px, vae_log_px)


def linear_gaussian(seed, d=5, k=3, n=4):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, k)))
    c = rng.uniform(0.5, 2.0, size=k)
    W, b, s = q * c, rng.normal(size=d), rng.uniform(0.3, 1.0)
    x = rng.normal(size=(n, d)) * 1.5 + b
    return W, b, s, x


def exact_log_px(W, b, s, x):
    d = len(b)
    cov = W @ W.T + s * s * np.eye(d)
    diff = x - b
    _, logdet = np.linalg.slogdet(cov)
    return -0.5 * (d * math.log(2 * math.pi) + logdet + np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff))


def posterior(W, b, s, x):
    c2 = (W * W).sum(axis=0)
    v = 1 / (1 + c2 / (s * s))
    return (x - b) @ W * v / (s * s), np.log(v) + 0 * x[:, :1]  # m (n, k), log v per image


def log_px_given_z(W, b, s):
    def log_likelihood(x, z):
        mean = z @ tinygen.tensor(W.T) + tinygen.tensor(b)
        return gaussian_log_density(x, mean, tinygen.full(mean.shape, 2 * math.log(s), dtype="float64"))
    return log_likelihood


def encoder(mu, logvar):
    return lambda x: (tinygen.tensor(mu), tinygen.tensor(logvar))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), samples=st.integers(1, 12), chunk=st.integers(1, 5))
def test_with_the_exact_posterior_every_estimate_is_log_px(seed, samples, chunk):
    """Each weight p(x|z) p(z) / q(z|x) is p(x) itself when q is the posterior: any K gives log p(x)."""
    W, b, s, x = linear_gaussian(seed)
    m, logv = posterior(W, b, s, x)
    tinygen.manual_seed(seed)
    got = importance_weighted_log_px(tinygen.tensor(x), encoder(m, logv), log_px_given_z(W, b, s), samples, chunk)
    np.testing.assert_allclose(got.numpy(), exact_log_px(W, b, s, x), rtol=0, atol=1e-9)


def elbo(W, b, s, x, m, logv):
    """The ELBO of q = N(m, diag(exp(logv))) in closed form: E_q log p(x|z) + E_q log p(z) + H(q)."""
    d, k = W.shape
    v = np.exp(logv)
    residual = ((x - m @ W.T - b) ** 2).sum(axis=1) + ((W * W).sum(axis=0) * v).sum(axis=1)
    expected_log_lik = -0.5 * d * math.log(2 * math.pi * s * s) - residual / (2 * s * s)
    expected_log_prior = -0.5 * k * math.log(2 * math.pi) - 0.5 * ((m * m).sum(axis=1) + v.sum(axis=1))
    entropy = 0.5 * k * math.log(2 * math.pi * math.e) + 0.5 * logv.sum(axis=1)
    return expected_log_lik + expected_log_prior + entropy


def test_with_a_poorer_q_the_estimate_sits_between_the_elbo_and_log_px_and_closes_on_log_px():
    """Burda et al.: E[L_1] = ELBO <= E[L_K] <= log p(x), and L_K -> log p(x) as K grows."""
    W, b, s, x = linear_gaussian(3)
    m, logv = posterior(W, b, s, x)
    m, logv = m + 0.4, logv + 0.7  # q off the posterior: the ELBO falls short
    truth, bound = exact_log_px(W, b, s, x), elbo(W, b, s, x, m, logv)
    assert (truth - bound > 0.3).all()  # a real gap to close
    tinygen.manual_seed(0)
    estimate = lambda samples: importance_weighted_log_px(  # noqa: E731
        tinygen.tensor(x), encoder(m, logv), log_px_given_z(W, b, s), samples).numpy()
    one = np.mean([estimate(1) for _ in range(400)], axis=0)
    np.testing.assert_allclose(one, bound, atol=0.15)  # L_1 is the ELBO's one-sample estimate
    many = estimate(5000)
    assert (many > bound + 0.8 * (truth - bound)).all(), (bound, many, truth)
    assert (abs(many - truth) < 0.1).all(), (many, truth)  # one estimate may land above log p(x), by little


def test_never_below_the_elbo_of_its_own_draws_and_chunks_combine_exactly():
    """With the same draws, L_K = logsumexp(log w) - log K >= mean(log w) (Jensen); and the estimate
    in chunks is the one made from the draws one by one."""
    W, b, s, x = linear_gaussian(5)
    m, logv = posterior(W, b, s, x)
    m, logv = m - 0.5, logv - 0.5
    args = (tinygen.tensor(x), encoder(m, logv), log_px_given_z(W, b, s))
    tinygen.manual_seed(7)
    together = importance_weighted_log_px(*args, samples=6, chunk=1).numpy()
    tinygen.manual_seed(7)
    log_w = np.stack([importance_weighted_log_px(*args, samples=1).numpy() for _ in range(6)])
    top = log_w.max(axis=0)
    np.testing.assert_allclose(together, top + np.log(np.exp(log_w - top).mean(axis=0)), rtol=0, atol=1e-12)
    assert (together >= log_w.mean(axis=0)).all()


def test_bernoulli_log_likelihood_is_the_sum_over_pixels_of_x_log_p_plus_1_minus_x_log_1_minus_p():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, size=(3, 1, 4, 4))
    x = (rng.uniform(size=p.shape) < 0.5).astype(np.float64)
    expected = (x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(bernoulli_log_likelihood(tinygen.tensor(p), tinygen.tensor(x)).numpy(), expected, rtol=1e-12)


def test_a_vae_on_binary_digits_gets_a_finite_estimate_above_its_elbo_estimate():
    """The VAE wiring (encode, decode, images flattened or not): finite, and not below the ELBO."""
    from tinygen.models.vae import VAE, vae_loss
    tinygen.manual_seed(0)
    model = VAE(latent_dim=4)
    x = (tinygen.rand(3, 1, 28, 28) < 0.3).float()
    estimate = vae_log_px(model, x, samples=64, chunk=16).numpy()
    with tinygen.no_grad():
        negative_elbo = np.mean([vae_loss(r, x, mu, logvar)[0].item() for r, mu, logvar in (model(x) for _ in range(20))])
    negative_elbo /= len(x)  # vae_loss sums over the batch
    assert estimate.shape == (3,) and np.isfinite(estimate).all()
    assert estimate.mean() > -negative_elbo


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_a_count_of_draws_that_is_no_positive_integer_is_refused(bad):
    W, b, s, x = linear_gaussian(0)
    m, logv = posterior(W, b, s, x)
    with pytest.raises(ValueError, match="importance_weighted_log_px: samples must be a positive integer"):
        importance_weighted_log_px(tinygen.tensor(x), encoder(m, logv), log_px_given_z(W, b, s), samples=bad)
