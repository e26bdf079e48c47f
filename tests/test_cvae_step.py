"""The conditional VAE's step (examples/cvae_mnist.py `cvae_step`) pinned on a tiny CVAE (784+10 -> 3
-> 2, float64, plain SGD) against the step worked by hand in NumPy (tests/vae_by_hand.py: the VAE's
formulas with the label's one-hot columns joined to the encoder's input and to the code).

What fails which test: the label left out of the encoder or the decoder, joined as the wrong digit or
at another scale, the label in the target (the decoder scored on [x, y]), a KL against the wrong
posterior, a mean where the paper sums, no step or no zero_grad: the loss terms or the weights differ.
The conditioning itself: test_the_decoder_draws_the_digit_it_is_given_from_the_label_columns.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import optim
from tinygen.models.cvae import CVAE
from vae_by_hand import step_by_hand, weights_of

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from cvae_mnist import cvae_step  # noqa: E402

LR = 1e-3
N, LATENT, HIDDEN = 5, 2, 3
LABEL_SCALE = {"encoder": 10.0, "decoder": 10.0}  # what one_hot(y) is multiplied by where it is joined (docs/variational.md)


def tiny(seed=0):
    tinygen.manual_seed(seed)
    model = CVAE(latent_dim=LATENT, hidden=HIDDEN).double()
    rng = np.random.default_rng(seed)
    return model, rng.random((N, 1, 28, 28)), np.array([3, 0, 9, 3, 7])


def noise(seed):
    tinygen.manual_seed(seed)
    eps = tinygen.randn(N, LATENT, dtype=np.float64).numpy()
    tinygen.manual_seed(seed)
    return eps


def one_hot(y):
    return np.eye(10)[y]


def by_hand(w, x, y, eps, lr=None):
    """The VAE's step by hand with [x, s_e one_hot(y)] into the encoder and [z, s_d one_hot(y)] into the decoder."""
    scaled = {"W1": np.concatenate([w["W1"][:, :784], w["W1"][:, 784:] * LABEL_SCALE["encoder"]], axis=1),
              "D1": np.concatenate([w["D1"][:, :LATENT], w["D1"][:, LATENT:] * LABEL_SCALE["decoder"]], axis=1)}
    # a label column scaled by s is the same as its weights scaled by s and a plain one-hot; so work with
    # scaled weights and a plain one-hot, and scale the label columns' gradient step back afterwards
    result = step_by_hand({**w, **scaled}, x, eps, c=one_hot(y), lr=lr)
    if lr is None:
        return result
    bce, kl, after = result
    for name, s, start in (("W1", LABEL_SCALE["encoder"], 784), ("D1", LABEL_SCALE["decoder"], LATENT)):
        moved = after[name] - scaled[name]  # -lr dL/d(scaled column) = -lr dL/dw / s  ->  w moves s times that
        after[name] = w[name] + np.concatenate([moved[:, :start], moved[:, start:] * s], axis=1)
    return bce, kl, after


def test_the_step_returns_the_negative_elbo_of_the_image_given_its_label_per_image():
    model, x, y = tiny()
    w = weights_of(model)
    eps = noise(4)
    got = cvae_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x), tinygen.tensor(y))
    bce, kl = by_hand(w, x, y, eps)
    assert got["reconstruction"] == pytest.approx(bce / N, rel=1e-10)
    assert got["kl"] == pytest.approx(kl / N, rel=1e-10)
    assert got["loss"] == pytest.approx((bce + kl) / N, rel=1e-10)


def test_the_step_moves_every_weight_as_sgd_on_the_summed_negative_elbo():
    """Every weight, the label's columns in the encoder's and the decoder's first layers included."""
    model, x, y = tiny()
    w = weights_of(model)
    eps = noise(2)
    cvae_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x), tinygen.tensor(y))
    _, _, expected = by_hand(w, x, y, eps, lr=LR)
    after = weights_of(model)
    for name in w:
        np.testing.assert_allclose(after[name], expected[name], rtol=1e-9, atol=1e-12, err_msg=name)
    # the label columns of digits in the batch move; those of digits not in it (1, 2, 4, 5, 6, 8) do not
    for name, start in (("W1", 784), ("D1", LATENT)):
        moved = ~np.all(after[name][:, start:] == w[name][:, start:], axis=0)
        assert moved.tolist() == [k in (0, 3, 7, 9) for k in range(10)], name


def test_two_steps_start_each_from_fresh_gradients():
    model, x, y = tiny()
    opt = optim.SGD(model.parameters(), lr=LR)
    w = weights_of(model)
    for seed, labels in ((11, y), (12, y[::-1].copy())):
        eps = noise(seed)
        cvae_step(model, opt, tinygen.tensor(x), tinygen.tensor(labels))
        _, _, w = by_hand(w, x, labels, eps, lr=LR)
    after = weights_of(model)
    for name in w:
        np.testing.assert_allclose(after[name], w[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_the_decoder_draws_the_digit_it_is_given_from_the_label_columns():
    """decode(z, k) - decode(z, j) is the decoder's response to swapping column j's weights for column
    k's (by hand: the same z, a first layer that differs only there), and the label is the only input
    that differs: with the label columns zeroed, decode(z, k) is the same image for every k."""
    model, _, _ = tiny()
    w = weights_of(model)
    z = np.random.default_rng(3).standard_normal((4, LATENT))
    with tinygen.no_grad():
        images = [model.decode(tinygen.tensor(z), np.full(4, k)).numpy() for k in range(10)]
    s = LABEL_SCALE["decoder"]
    for k in (0, 5, 9):
        g = np.maximum(z @ w["D1"][:, :LATENT].T + s * w["D1"][:, LATENT + k] + w["d1"], 0)
        want = 1 / (1 + np.exp(-(g @ w["D2"].T + w["d2"])))
        np.testing.assert_allclose(images[k], want, rtol=1e-10)
    assert not np.allclose(images[0], images[5])
    with tinygen.no_grad():
        model.decoder[0].weight.data[:, LATENT:] = 0
        blind = [model.decode(tinygen.tensor(z), np.full(4, k)).numpy() for k in range(10)]
    for image in blind[1:]:
        np.testing.assert_array_equal(image, blind[0])
