"""The VAE's and the beta-VAE's step (examples/vae_mnist.py `vae_step`) pinned on a tiny MLP VAE
(784-3-2, float64, plain SGD) against the step worked by hand in NumPy (tests/vae_by_hand.py, from
Kingma & Welling's formulas, not from tinygen's code).

The noise eps is the step's one random draw: it is drawn here from the same seed first, so the hand
computation knows z. What fails which test:
- the reparameterisation with exp(logvar) (DeZero's bug) or without eps, a KL without its 1/2 or with
  a sign flipped, BCE against another target, a mean over pixels or images where the paper sums:
  the loss terms differ (test_the_step_returns_the_negative_elbo_per_image);
- beta not applied, or applied to the reconstruction: test_the_beta_vae_step_weights_the_kl_by_beta;
- no step, no zero_grad (gradients pile up over two steps), a detached code: the weights differ
  (test_the_step_moves_every_weight_as_sgd_on_the_summed_negative_elbo, ..._two_steps_...).
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import optim
import tinygen.nn.functional as F
from tinygen.models.vae import VAE, vae_loss
from vae_by_hand import step_by_hand, weights_of

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from vae_mnist import vae_step  # noqa: E402

LR = 1e-3
N, LATENT, HIDDEN = 5, 2, 3


def tiny(seed=0):
    """A VAE small enough to work by hand, its images, and the noise its next reparameterisation will draw."""
    tinygen.manual_seed(seed)
    model = VAE(latent_dim=LATENT, hidden=HIDDEN).double()
    x = np.random.default_rng(seed).random((N, 1, 28, 28))
    return model, x


def noise(seed):
    """The eps that reparameterize will draw after tinygen.manual_seed(seed) (then seeds again)."""
    tinygen.manual_seed(seed)
    eps = tinygen.randn(N, LATENT, dtype=np.float64).numpy()
    tinygen.manual_seed(seed)
    return eps


@pytest.mark.parametrize("beta", [1.0, 4.0, 0.5])
def test_the_step_returns_the_negative_elbo_per_image(beta):
    """loss = (BCE summed over pixels + beta KL) per image, from z = mu + exp(logvar / 2) eps."""
    model, x = tiny()
    w = weights_of(model)
    eps = noise(7)
    got = vae_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x), beta=beta)
    bce, kl = step_by_hand(w, x, eps)
    assert got["reconstruction"] == pytest.approx(bce / N, rel=1e-10)
    assert got["kl"] == pytest.approx(kl / N, rel=1e-10)
    assert got["loss"] == pytest.approx((bce + beta * kl) / N, rel=1e-10)
    assert 400 < got["reconstruction"] < 700  # summed over 784 pixels: about 784 ln 2 for an untrained decoder


@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_the_step_moves_every_weight_as_sgd_on_the_summed_negative_elbo(beta):
    """After one step, every weight is the hand-worked w - lr dL/dw, L = BCE + beta KL summed over the batch."""
    model, x = tiny()
    w = weights_of(model)
    eps = noise(3)
    vae_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x), beta=beta)
    _, _, expected = step_by_hand(w, x, eps, beta=beta, lr=LR)
    after = weights_of(model)
    for name in w:
        assert not np.array_equal(after[name], w[name]), f"{name} did not move"
        np.testing.assert_allclose(after[name], expected[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_the_beta_vae_step_weights_the_kl_by_beta():
    """The same batch and noise with beta 0 and 8: the reconstruction's gradient is the same, and the
    difference of the two steps is 8 lr dKL/dw, the KL's gradient alone (by hand: mu, (exp(logvar) - 1) / 2)."""
    moved = {}
    for beta in (0.0, 8.0):
        model, x = tiny()
        w = weights_of(model)
        eps = noise(5)
        vae_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x), beta=beta)
        moved[beta] = weights_of(model)
    _, _, kl_only = step_by_hand(w, x, eps, beta=1.0, lr=LR)  # BCE + KL
    _, _, bce_only = step_by_hand(w, x, eps, beta=0.0, lr=LR)
    for name in ("Wm", "bm", "Wl", "bl", "W1"):
        kl_step = kl_only[name] - bce_only[name]  # -lr dKL/dw
        np.testing.assert_allclose(moved[8.0][name] - moved[0.0][name], 8 * kl_step, rtol=1e-6, atol=1e-12, err_msg=name)
    for name in ("D1", "d1", "D2", "d2"):  # the decoder never sees the KL
        np.testing.assert_array_equal(moved[8.0][name], moved[0.0][name], err_msg=name)


def test_two_steps_start_each_from_fresh_gradients():
    """Two steps on two batches equal two hand-worked SGD steps: a missing zero_grad adds the first
    step's gradient to the second."""
    model, x = tiny()
    x2 = np.random.default_rng(1).random((N, 1, 28, 28))
    opt = optim.SGD(model.parameters(), lr=LR)
    w = weights_of(model)
    eps = noise(11)
    vae_step(model, opt, tinygen.tensor(x))
    _, _, w = step_by_hand(w, x, eps, lr=LR)
    eps = noise(12)
    vae_step(model, opt, tinygen.tensor(x2))
    _, _, w = step_by_hand(w, x2, eps, lr=LR)
    after = weights_of(model)
    for name in w:
        np.testing.assert_allclose(after[name], w[name], rtol=1e-9, atol=1e-12, err_msg=name)


# ---------------------------------------------------------------------------------------------
# vae_loss itself, against the formulas written out in NumPy


def random_terms(n=4, latent=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.01, 0.99, (n, 784)), rng.random((n, 1, 28, 28)), rng.normal(size=(n, latent)),
            rng.normal(size=(n, latent)))


@pytest.mark.parametrize("beta", [1.0, 0.0, 0.5, 4.0])
def test_vae_loss_is_the_summed_negative_elbo_and_its_gradients(beta):
    """vae_loss(p, x, mu, logvar, beta) = -sum [x ln p + (1 - x) ln(1 - p)] + beta (-1/2) sum (1 + lv - mu^2 - e^lv),
    with dL/dp = (p - x) / (p (1 - p)), dL/dmu = beta mu, dL/dlv = beta (e^lv - 1) / 2, all written here.
    beta = 1 is the VAE's negative ELBO (Kingma & Welling, eq. 10, summed over the batch)."""
    p, x, mu, logvar = random_terms()
    tensors = [tinygen.tensor(a, requires_grad=True) for a in (p, x, mu, logvar)]
    total, bce, kl = vae_loss(*tensors, beta=beta)
    xf = x.reshape(4, 784)
    want_bce = -np.sum(xf * np.log(p) + (1 - xf) * np.log(1 - p))
    want_kl = -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar))
    assert bce.item() == pytest.approx(want_bce, rel=1e-12)
    assert kl.item() == pytest.approx(want_kl, rel=1e-12)
    assert total.item() == pytest.approx(want_bce + beta * want_kl, rel=1e-12)
    total.backward()
    np.testing.assert_allclose(tensors[0].grad.numpy(), (p - xf) / (p * (1 - p)), rtol=1e-10)
    np.testing.assert_allclose(tensors[2].grad.numpy(), beta * mu, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(tensors[3].grad.numpy(), beta * (np.exp(logvar) - 1) / 2, rtol=1e-10, atol=1e-15)


def test_the_kl_is_per_unit_and_per_image_summed():
    """gaussian_kl(reduction='none') is one KL per image, summed over its units: a unit at the prior
    (mu 0, logvar 0) adds nothing, a unit at mu = 2, logvar = ln 4 adds (4 + 4 - 1 - ln 4) / 2."""
    mu = np.array([[0.0, 2.0], [0.0, 0.0]])
    logvar = np.array([[0.0, np.log(4.0)], [0.0, 0.0]])
    got = F.gaussian_kl(tinygen.tensor(mu), tinygen.tensor(logvar), reduction="none").numpy()
    np.testing.assert_allclose(got, [(4 + 4 - 1 - np.log(4)) / 2, 0.0], atol=1e-15)
