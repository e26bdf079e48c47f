"""The adversarial autoencoder's phases (examples/aae_mnist.py `reconstruction_phase`,
`discriminator_step`, `generator_step`, `two_phase_step`) pinned on networks small enough to work by
hand: a linear encoder z = W x + b, a decoder p = sigmoid(V z + c), a linear code discriminator
D(z) = u.z + e (a logit), float64, plain SGD. With s = sigmoid and softplus(a) = ln(1 + e^a):

  1.    L_rec = -sum_k [x ln p + (1 - x) ln(1 - p)] / n        (summed over pixels, averaged over images)
        dL/d(V z + c) = (p - x) / n;  W, b, V, c -= lr grad;  u, e untouched
  2(a). on the codes z = E(x) of the encoder as phase 1 left it, and prior draws r ~ N(0, I):
        L_D = (mean softplus(-D(r)) + mean softplus(D(z))) / 2   (prior draws real = 1, codes fake = 0)
        dL/dD(r) = -(1 - s(D(r))) / 2n,  dL/dD(z) = s(D(z)) / 2n;  u, e -= lr grad;  W, b, V, c untouched
  2(b). through D as 2(a) left it (u', e'):  L_G = mean softplus(-D'(z))   (the codes called real)
        dL/dz = -(1 - s(D'(z))) u' / n  (towards where D' says "prior");  W, b -= lr grad;  V, c, u', e' untouched

Written from these formulas, not from the example's code. Swapped targets, a mean over pixels, a
D on images or on the old codes, a G phase through the old D, no detach in 2(a), a D that also
moves in 2(b), the saturating loss ln(1 - D(z)): each gives other numbers below.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim
from by_hand import sigmoid, softplus

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import aae_mnist  # noqa: E402

LR = 0.1
N, PIXELS, LATENT = 6, 4, 2


class LinearEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.latent_dim = LATENT
        self.net = nn.Linear(PIXELS, LATENT).double()

    def forward(self, x):
        return self.net(x)


def tiny(seed=0):
    """(encoder, decoder, D), three SGD optimisers as the example pairs them, and a batch x (N, 4) in [0, 1]."""
    tinygen.manual_seed(seed)
    encoder = LinearEncoder()
    decoder = nn.Sequential(nn.Linear(LATENT, PIXELS), nn.Sigmoid()).double()
    D = nn.Sequential(nn.Linear(LATENT, 1)).double()
    optimizers = (optim.SGD(list(encoder.parameters()) + list(decoder.parameters()), lr=LR),
                  optim.SGD(D.parameters(), lr=LR), optim.SGD(encoder.parameters(), lr=LR))
    x = np.random.default_rng(seed).random((N, PIXELS))
    return encoder, decoder, D, optimizers, x


def weights(encoder, decoder, D):
    return {"W": encoder.net.weight.numpy().copy(), "b": encoder.net.bias.numpy().copy(),
            "V": decoder[0].weight.numpy().copy(), "c": decoder[0].bias.numpy().copy(),
            "u": D[0].weight.numpy().copy(), "e": D[0].bias.numpy().copy()}


def reconstruction_by_hand(w, x):
    z = x @ w["W"].T + w["b"]
    p = sigmoid(z @ w["V"].T + w["c"])
    loss = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p)) / N
    d_out = (p - x) / N
    d_z = d_out @ w["V"]
    return loss, {**w, "V": w["V"] - LR * d_out.T @ z, "c": w["c"] - LR * d_out.sum(0),
                  "W": w["W"] - LR * d_z.T @ x, "b": w["b"] - LR * d_z.sum(0)}


def discriminator_by_hand(w, prior, codes):
    real, fake = prior @ w["u"].T + w["e"], codes @ w["u"].T + w["e"]  # logits (N, 1)
    loss = (np.mean(softplus(-real)) + np.mean(softplus(fake))) / 2
    d_real, d_fake = -(1 - sigmoid(real)) / (2 * N), sigmoid(fake) / (2 * N)
    return loss, {**w, "u": w["u"] - LR * (d_real.T @ prior + d_fake.T @ codes),
                  "e": w["e"] - LR * (d_real.sum(0) + d_fake.sum(0))}


def generator_by_hand(w, x):
    codes = x @ w["W"].T + w["b"]
    logits = codes @ w["u"].T + w["e"]
    loss = np.mean(softplus(-logits))
    d_z = -(1 - sigmoid(logits)) / N @ w["u"]  # (N, latent): towards what D calls a prior draw
    return loss, d_z, {**w, "W": w["W"] - LR * d_z.T @ x, "b": w["b"] - LR * d_z.sum(0)}


def assert_weights(got, want, moved):
    for name in want:
        if name in moved:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-14, err_msg=name)
        else:
            assert np.array_equal(got[name], want[name]), f"{name} moved"


def test_the_reconstruction_phase_is_sgd_on_the_bce_summed_over_pixels_averaged_over_images():
    encoder, decoder, D, (opt_reconstruction, _, _), x = tiny()
    w = weights(encoder, decoder, D)
    loss = aae_mnist.reconstruction_phase(encoder, decoder, opt_reconstruction, tinygen.tensor(x))
    want_loss, want = reconstruction_by_hand(w, x)
    assert loss.item() == pytest.approx(want_loss, rel=1e-12)
    after = weights(encoder, decoder, D)
    assert_weights(after, want, moved="WbVc")
    for name in "WbVc":
        assert not np.array_equal(after[name], w[name]), name


def test_the_discriminator_step_calls_prior_draws_real_and_codes_fake_and_moves_d_alone():
    encoder, decoder, D, (_, opt_D, _), x = tiny()
    w = weights(encoder, decoder, D)
    prior = np.random.default_rng(5).standard_normal((N, LATENT))
    codes = encoder(tinygen.tensor(x))
    loss = aae_mnist.discriminator_step(D, opt_D, tinygen.tensor(prior), codes)
    want_loss, want = discriminator_by_hand(w, prior, x @ w["W"].T + w["b"])
    assert loss.item() == pytest.approx(want_loss, rel=1e-12)
    after = weights(encoder, decoder, D)
    assert_weights(after, want, moved="ue")
    assert not np.array_equal(after["u"], w["u"])
    assert all(p.grad is None for p in encoder.parameters())  # detached: the codes' graph is not walked


def test_the_generator_step_moves_the_encoder_alone_towards_what_d_calls_real():
    """L_G = mean softplus(-D(z)) (target 1, the non-saturating loss); W, b take the hand-worked step;
    the codes move along +u (D's 'prior' direction), so D's logit on them rises."""
    encoder, decoder, D, (_, _, opt_generator), x = tiny()
    w = weights(encoder, decoder, D)
    loss = aae_mnist.generator_step(D, opt_generator, encoder(tinygen.tensor(x)))
    want_loss, d_z, want = generator_by_hand(w, x)
    assert loss.item() == pytest.approx(want_loss, rel=1e-12)
    after = weights(encoder, decoder, D)
    assert_weights(after, want, moved="Wb")
    assert not np.array_equal(after["W"], w["W"])
    assert np.all(-d_z @ w["u"].T > 0)  # -dL/dz points along u: where D's logit ("prior") grows
    logits_before = (x @ w["W"].T + w["b"]) @ w["u"].T
    logits_after = (x @ after["W"].T + after["b"]) @ w["u"].T
    assert np.all(logits_after > logits_before)


def test_without_the_adversary_the_generator_step_moves_nothing_and_measures_the_same_loss():
    encoder, decoder, D, (_, _, opt_generator), x = tiny()
    w = weights(encoder, decoder, D)
    loss = aae_mnist.generator_step(D, opt_generator, encoder(tinygen.tensor(x)), update=False)
    assert loss.item() == pytest.approx(generator_by_hand(w, x)[0], rel=1e-12)
    assert_weights(weights(encoder, decoder, D), w, moved="")


@pytest.mark.parametrize("adversary", [True, False])
def test_the_two_phase_step_in_the_papers_order(adversary):
    """1 on x; 2(a) on the codes of the updated encoder against the step's prior draws; 2(b) through
    the updated D (only with the adversary). The returned losses are each phase's."""
    encoder, decoder, D, optimizers, x = tiny()
    w = weights(encoder, decoder, D)
    tinygen.manual_seed(9)
    prior = tinygen.randn(N, LATENT, dtype=np.float64).numpy()  # the step's one random draw
    tinygen.manual_seed(9)
    got = aae_mnist.two_phase_step(tinygen.tensor(x), encoder, decoder, D, *optimizers, adversary=adversary)
    rec_loss, w1 = reconstruction_by_hand(w, x)
    d_loss, w2 = discriminator_by_hand(w1, prior, x @ w1["W"].T + w1["b"])
    g_loss, _, w3 = generator_by_hand(w2, x)
    assert got["reconstruction"].item() == pytest.approx(rec_loss, rel=1e-12)
    assert got["d_loss"].item() == pytest.approx(d_loss, rel=1e-12)
    assert got["g_loss"].item() == pytest.approx(g_loss, rel=1e-12)
    assert_weights(weights(encoder, decoder, D), w3 if adversary else w2, moved="WbVcue")


def test_two_steps_start_each_phase_from_fresh_gradients():
    """Two two-phase steps equal the hand-worked phases twice: D's update in the second step must not
    carry the gradient D received in the first step's 2(b) (nor E's the one from 1), so each phase zeroes first."""
    encoder, decoder, D, optimizers, x = tiny()
    w = weights(encoder, decoder, D)
    for seed, batch in ((9, x), (10, np.random.default_rng(1).random((N, PIXELS)))):
        tinygen.manual_seed(seed)
        prior = tinygen.randn(N, LATENT, dtype=np.float64).numpy()
        tinygen.manual_seed(seed)
        aae_mnist.two_phase_step(tinygen.tensor(batch), encoder, decoder, D, *optimizers)
        _, w = reconstruction_by_hand(w, batch)
        _, w = discriminator_by_hand(w, prior, batch @ w["W"].T + w["b"])
        _, _, w = generator_by_hand(w, batch)
    assert_weights(weights(encoder, decoder, D), w, moved="WbVcue")
