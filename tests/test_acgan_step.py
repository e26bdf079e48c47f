"""The ACGAN's step (examples/acgan_mnist.py `acgan_step`), pinned on a network small enough to work by hand.

G(z, k) = A (z * E_k) + g (the noise scaled by the label's embedding, as ACGANGenerator), and D
with one shared linear body h = W x + b0 and two heads: the adversarial logit s = w.h + b and the
class logits l = V h + v. Plain SGD, float64. For n real x with labels y and n noise z with
asked labels k (fakes f = G(z, k)), sigma the sigmoid, softplus(s) = log(1 + e^s) and
CE(l, y) = mean_i (logsumexp(l_i) - l_i,y_i) (the cross-entropy of LOGITS, Odena et al.'s L_C):

  D's phase:  L_D = mean softplus(-s(x)) + mean softplus(s(f)) + CE(l(x), y) + CE(l(f), k)
              ds = (sigma - 1) / n for real, sigma / n for fakes;  dl = (softmax(l) - onehot) / n
              w, b from ds and h; V, v from dl and h; the body from dh = ds w + dl V (BOTH heads)
  G's phase:  through the updated D', L_G = mean softplus(-s'(f)) + CE(l'(f), k)
              df = (ds' w' + dl' V') W',  then A, g, and the rows E_k (through z * E_k)

Written from these formulas, not from the example's code: the class term missing from either
phase, a softmax before the cross-entropy (applied twice), fakes classified against the real
labels, or the adversarial targets swapped each give other numbers.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim
from by_hand import sigmoid, softplus, softmax, cross_entropy

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from acgan_mnist import acgan_step  # noqa: E402

LR = 0.1
CLASSES = 3


class TinyACGANG(nn.Module):
    def __init__(self, A, g, E):
        super().__init__()
        self.latent_dim = A.shape[1]
        self.label_embedding = nn.Embedding(*E.shape).double()
        self.label_embedding.weight.data[...] = E
        self.net = nn.Linear(A.shape[1], A.shape[0]).double()
        self.net.weight.data[...], self.net.bias.data[...] = A, g

    def forward(self, z, labels):
        return self.net(z * self.label_embedding(labels))


class TinyACGAND(nn.Module):
    def __init__(self, W, b0, w, b, V, v):
        super().__init__()
        self.body, self.adversarial, self.auxiliary = (
            nn.Linear(weight.shape[1], weight.shape[0]).double() for weight in (W, w[None, :], V))
        for layer, weight, bias in ((self.body, W, b0), (self.adversarial, w[None, :], b), (self.auxiliary, V, v)):
            layer.weight.data[...], layer.bias.data[...] = weight, bias

    def forward(self, x):
        h = self.body(x)
        return self.adversarial(h), self.auxiliary(h)


def numbers(seed=0, n=6, features=3, latent=2, hidden=2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    return dict(A=rng.normal(size=(features, latent)) / 2, g=rng.normal(size=features) / 2,
                E=rng.normal(size=(CLASSES, latent)), W=rng.normal(size=(hidden, features)) / 2,
                b0=rng.normal(size=hidden) / 2, w=rng.normal(size=hidden) / 2, b=rng.normal() / 2,
                V=rng.normal(size=(CLASSES, hidden)), v=rng.normal(size=CLASSES) / 2,
                x=rng.normal(size=(n, features)), y=y, z=rng.normal(size=(n, latent)),
                k=(y + 1 + rng.integers(0, CLASSES - 1, n)) % CLASSES)  # k != y: a swap shows


def by_hand(A, g, E, W, b0, w, b, V, v, x, y, z, k):
    n = len(x)
    u = z * E[k]
    f = u @ A.T + g
    h_real, h_fake = x @ W.T + b0, f @ W.T + b0
    s_real, s_fake = h_real @ w + b, h_fake @ w + b
    l_real, l_fake = h_real @ V.T + v, h_fake @ V.T + v
    ce_real, dl_real = cross_entropy(l_real, y)
    ce_fake, dl_fake = cross_entropy(l_fake, k)
    d_class = ce_real + ce_fake
    d_loss = softplus(-s_real).mean() + softplus(s_fake).mean() + d_class
    ds_real, ds_fake = (sigmoid(s_real) - 1) / n, sigmoid(s_fake) / n
    dh_real = ds_real[:, None] * w[None, :] + dl_real @ V
    dh_fake = ds_fake[:, None] * w[None, :] + dl_fake @ V
    grads = dict(w=ds_real @ h_real + ds_fake @ h_fake, b=ds_real.sum() + ds_fake.sum(),
                 V=dl_real.T @ h_real + dl_fake.T @ h_fake, v=dl_real.sum(axis=0) + dl_fake.sum(axis=0),
                 W=dh_real.T @ x + dh_fake.T @ f, b0=dh_real.sum(axis=0) + dh_fake.sum(axis=0))
    d = {name: value - LR * grads[name] for name, value in dict(W=W, b0=b0, w=w, b=b, V=V, v=v).items()}
    h2 = f @ d["W"].T + d["b0"]
    s2, l2 = h2 @ d["w"] + d["b"], h2 @ d["V"].T + d["v"]
    g_class, dl2 = cross_entropy(l2, k)
    g_loss = softplus(-s2).mean() + g_class
    dh2 = ((sigmoid(s2) - 1) / n)[:, None] * d["w"][None, :] + dl2 @ d["V"]
    df = dh2 @ d["W"]
    grad_E = np.zeros_like(E)
    np.add.at(grad_E, k, (df @ A) * z)
    return dict(A=A - LR * df.T @ u, g=g - LR * df.sum(axis=0), E=E - LR * grad_E, **d, d_loss=d_loss, g_loss=g_loss,
                d_class=d_class, g_class=g_class, d_real=sigmoid(s_real).mean(), d_fake=sigmoid(s_fake).mean(),
                grad_W=grads["W"])


def make(start):
    G = TinyACGANG(start["A"], start["g"], start["E"])
    D = TinyACGAND(*(start[key] for key in ("W", "b0", "w", "b", "V", "v")))
    return G, D, optim.SGD(G.parameters(), lr=LR), optim.SGD(D.parameters(), lr=LR)


def weights(G, D):
    return dict(A=G.net.weight.numpy(), g=G.net.bias.numpy(), E=G.label_embedding.weight.numpy(),
                W=D.body.weight.numpy(), b0=D.body.bias.numpy(), w=D.adversarial.weight.numpy()[0],
                b=D.adversarial.bias.numpy()[0], V=D.auxiliary.weight.numpy(), v=D.auxiliary.bias.numpy())


def run_step(start):
    G, D, opt_G, opt_D = make(start)
    out = acgan_step(G, D, opt_G, opt_D, *(tinygen.tensor(start[key]) for key in ("x", "y", "z", "k")))
    return weights(G, D), {key: float(value.item()) for key, value in out.items()}, G, D


@pytest.mark.parametrize("seed", range(4))
def test_one_step_moves_each_network_as_the_formulas_say(seed):
    start = numbers(seed)
    expected = by_hand(**start)
    after, losses, _, _ = run_step(start)
    for name in ("A", "g", "E", "W", "b0", "w", "b", "V", "v"):
        np.testing.assert_allclose(after[name], expected[name], rtol=1e-10, atol=1e-12, err_msg=name)
    for name in ("d_loss", "g_loss", "d_class", "g_class", "d_real", "d_fake"):
        assert losses[name] == pytest.approx(expected[name], rel=1e-10), name


def test_the_class_losses_are_the_cross_entropy_of_the_logits_not_of_a_softmax():
    """d_class is CE(l(x), y) + CE(l(f), k) of the raw class logits; a softmax applied first (the
    double softmax) gives a number bounded by log(classes) and far from this one on these logits."""
    start = numbers(1)
    start["V"] = start["V"] * 6  # confident logits: a double softmax would flatten them visibly
    expected = by_hand(**start)
    _, losses, _, _ = run_step(start)
    assert losses["d_class"] == pytest.approx(expected["d_class"], rel=1e-10)
    h = start["x"] @ start["W"].T + start["b0"]
    doubled, _ = cross_entropy(softmax(h @ start["V"].T + start["v"]), start["y"])
    assert abs(doubled - cross_entropy(h @ start["V"].T + start["v"], start["y"])[0]) > 0.1


def test_the_class_term_reaches_the_shared_body_and_g():
    """With the adversarial head silenced (w = 0, b = 0: the adversarial terms give the body no
    gradient), the body and G still move: by the class terms alone, as the formulas say."""
    start = numbers(2)
    start["w"], start["b"] = np.zeros(2), 0.0
    expected = by_hand(**start)
    after, _, G, D = run_step(start)
    np.testing.assert_allclose(D.body.weight.grad.numpy(), expected["grad_W"], rtol=1e-10)
    assert np.abs(after["W"] - start["W"]).sum() > 1e-4 and np.abs(after["A"] - start["A"]).sum() > 1e-4
    np.testing.assert_allclose(after["A"], expected["A"], rtol=1e-10)
    assert all(p.requires_grad for p in D.parameters())


def test_g_is_pushed_to_be_read_as_its_asked_label():
    """After G's step the updated D's class head gives the asked label more probability for G(z, k)."""
    start = numbers(3)
    after, _, G, D = run_step(start)
    z, k = tinygen.tensor(start["z"]), tinygen.tensor(start["k"])
    before = TinyACGANG(start["A"], start["g"], start["E"])
    with tinygen.no_grad():
        p_after = softmax(D(G(z, k))[1].numpy())[np.arange(6), start["k"]]
        p_before = softmax(D(before(z, k))[1].numpy())[np.arange(6), start["k"]]
    assert p_after.mean() > p_before.mean()


def test_two_steps_are_two_steps_from_where_the_first_left_off():
    start = numbers(5)
    first = by_hand(**start)
    again = {**{key: first[key] for key in ("A", "g", "E", "W", "b0", "w", "b", "V", "v")},
             **{key: start[key][::-1].copy() for key in ("x", "y", "z", "k")}}
    second = by_hand(**again)
    G, D, opt_G, opt_D = make(start)
    for batch in (start, again):
        acgan_step(G, D, opt_G, opt_D, *(tinygen.tensor(batch[key]) for key in ("x", "y", "z", "k")))
    after = weights(G, D)
    for name in ("A", "E", "W", "V"):
        np.testing.assert_allclose(after[name], second[name], rtol=1e-10, err_msg=name)
