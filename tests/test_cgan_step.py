"""The conditional GAN's step (examples/cgan_mnist.py `cgan_step`), pinned on a network small enough
to work by hand.

G(z, k) = A [z, E_k] + g and D(x, k) = w_x.x + w_u.U_k + b (a logit), where E and U are the two
players' label embeddings (nn.Embedding rows), plain SGD, float64. For n real x with labels y,
n noise z with asked labels k (fakes f = G(z, k)), sigma the sigmoid, softplus(s) = log(1 + e^s):

  D's phase:  L_D = mean softplus(-D(x, y)) + mean softplus(D(f, k))     (= -log sigma, -log(1 - sigma))
              dL_D/dD(x_i, y_i) = (sigma - 1) / n,   dL_D/dD(f_i, k_i) = sigma / n
              w_x gets sum_i of those times x_i and f_i, w_u times U_(y_i) and U_(k_i), row U_m the
              sum over the samples whose label is m of their dL/dD times w_u; A, g, E untouched
  G's phase:  through the updated D', L_G = mean softplus(-D'(f, k))
              dL_G/df_i = (sigma(D'(f_i, k_i)) - 1) w_x' / n, then back through G's linear map to
              A, g and the rows E_(k_i); D's parameters untouched

Real images go with THEIR labels y and fakes with the labels k G was asked for, in both phases;
the tests draw y and k different so that a swap of the two shows. Written from these formulas,
not from the example's code.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim
import tinygen.nn.functional as F
from by_hand import sigmoid, softplus

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from cgan_mnist import cgan_step  # noqa: E402

LR = 0.1
CLASSES = 3


class TinyCondG(nn.Module):
    def __init__(self, A, g, E):
        super().__init__()
        self.latent_dim = A.shape[1] - E.shape[1]
        self.label_embedding = nn.Embedding(*E.shape).double()
        self.label_embedding.weight.data[...] = E
        self.net = nn.Linear(A.shape[1], A.shape[0]).double()
        self.net.weight.data[...], self.net.bias.data[...] = A, g

    def forward(self, z, labels):
        return self.net(F.cat([z, self.label_embedding(labels)], dim=1))


class TinyCondD(nn.Module):
    def __init__(self, w, b, U):
        super().__init__()
        self.label_embedding = nn.Embedding(*U.shape).double()
        self.label_embedding.weight.data[...] = U
        self.net = nn.Linear(len(w), 1).double()
        self.net.weight.data[...], self.net.bias.data[...] = w[None, :], b

    def forward(self, x, labels):
        return self.net(F.cat([x, self.label_embedding(labels)], dim=1))


def numbers(seed=0, n=6, features=3, latent=2, emb=2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    return dict(A=rng.normal(size=(features, latent + emb)) / 2, g=rng.normal(size=features) / 2,
                E=rng.normal(size=(CLASSES, emb)), w=rng.normal(size=features + emb) / 2, b=rng.normal() / 2,
                U=rng.normal(size=(CLASSES, emb)), x=rng.normal(size=(n, features)), y=y,
                z=rng.normal(size=(n, latent)), k=(y + 1 + rng.integers(0, CLASSES - 1, n)) % CLASSES)  # k != y


def by_hand(A, g, E, w, b, U, x, y, z, k):
    n, features = x.shape
    latent = z.shape[1]
    joined_g = np.concatenate([z, E[k]], axis=1)
    f = joined_g @ A.T + g
    pair_real, pair_fake = np.concatenate([x, U[y]], axis=1), np.concatenate([f, U[k]], axis=1)
    s_real, s_fake = pair_real @ w + b, pair_fake @ w + b
    d_loss = softplus(-s_real).mean() + softplus(s_fake).mean()
    ds_real, ds_fake = (sigmoid(s_real) - 1) / n, sigmoid(s_fake) / n
    grad_w = ds_real @ pair_real + ds_fake @ pair_fake
    grad_b = ds_real.sum() + ds_fake.sum()
    grad_U = np.zeros_like(U)
    np.add.at(grad_U, y, ds_real[:, None] * w[features:])
    np.add.at(grad_U, k, ds_fake[:, None] * w[features:])
    w2, b2, U2 = w - LR * grad_w, b - LR * grad_b, U - LR * grad_U
    s2 = np.concatenate([f, U2[k]], axis=1) @ w2 + b2
    g_loss = softplus(-s2).mean()
    df = ((sigmoid(s2) - 1) / n)[:, None] * w2[None, :features]
    grad_A, grad_g = df.T @ joined_g, df.sum(axis=0)
    grad_E = np.zeros_like(E)
    np.add.at(grad_E, k, (df @ A)[:, latent:])
    return dict(A=A - LR * grad_A, g=g - LR * grad_g, E=E - LR * grad_E, w=w2, b=b2, U=U2, d_loss=d_loss,
                g_loss=g_loss, d_real=sigmoid(s_real).mean(), d_fake=sigmoid(s_fake).mean(),
                grad_w=grad_w, grad_U=grad_U)


def make(start):
    G = TinyCondG(start["A"], start["g"], start["E"])
    D = TinyCondD(start["w"], start["b"], start["U"])
    return G, D, optim.SGD(G.parameters(), lr=LR), optim.SGD(D.parameters(), lr=LR)


def weights(G, D):
    return dict(A=G.net.weight.numpy(), g=G.net.bias.numpy(), E=G.label_embedding.weight.numpy(),
                w=D.net.weight.numpy()[0], b=D.net.bias.numpy()[0], U=D.label_embedding.weight.numpy())


def run_step(start):
    G, D, opt_G, opt_D = make(start)
    out = cgan_step(G, D, opt_G, opt_D, tinygen.tensor(start["x"]), tinygen.tensor(start["y"]),
                    tinygen.tensor(start["z"]), tinygen.tensor(start["k"]))
    return weights(G, D), {key: float(value.item()) for key, value in out.items()}, G, D


@pytest.mark.parametrize("seed", range(4))
def test_one_step_moves_each_network_as_the_formulas_say(seed):
    start = numbers(seed)
    expected = by_hand(**start)
    after, losses, _, _ = run_step(start)
    for name in ("A", "g", "E", "w", "b", "U"):
        np.testing.assert_allclose(after[name], expected[name], rtol=1e-10, atol=1e-12, err_msg=name)
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):  # d_real, d_fake: D's probabilities, not logits
        assert losses[name] == pytest.approx(expected[name], rel=1e-10), name


def test_the_labels_reach_both_players_real_with_theirs_fakes_with_the_asked_ones():
    """D's embedding gets gradient in the rows of the real labels and of the asked ones, with the
    values of D's phase alone (frozen in G's); G's embedding moves only in the rows G was asked for."""
    start = numbers(7, n=4)
    start["y"], start["k"] = np.array([0, 0, 0, 0]), np.array([1, 1, 1, 1])  # label 2 used by nobody
    expected = by_hand(**start)
    after, _, G, D = run_step(start)
    np.testing.assert_allclose(D.label_embedding.weight.grad.numpy(), expected["grad_U"], rtol=1e-10, atol=1e-14)
    assert (np.abs(expected["grad_U"][:2]).sum(axis=1) > 1e-6).all()  # rows 0 (real's) and 1 (asked)
    np.testing.assert_array_equal(after["U"][2], start["U"][2])
    np.testing.assert_array_equal(after["E"][[0, 2]], start["E"][[0, 2]])  # G was asked for 1 only
    assert np.abs(after["E"][1] - start["E"][1]).sum() > 1e-6
    np.testing.assert_allclose(after["E"], expected["E"], rtol=1e-10)
    assert all(p.requires_grad for p in D.parameters())  # unfrozen after G's phase


def test_g_is_pushed_to_be_called_real_with_its_asked_label():
    """After G's step the updated D gives (G(z, k), k) a higher logit than before it."""
    start = numbers(3)
    after, _, G, D = run_step(start)
    z, k = tinygen.tensor(start["z"]), tinygen.tensor(start["k"])
    before = TinyCondG(start["A"], start["g"], start["E"])
    with tinygen.no_grad():
        assert D(G(z, k), k).numpy().mean() > D(before(z, k), k).numpy().mean()


def test_two_steps_are_two_steps_from_where_the_first_left_off():
    start = numbers(5)
    first = by_hand(**start)
    again = {**{key: first[key] for key in ("A", "g", "E", "w", "b", "U")},
             **{key: start[key][::-1].copy() for key in ("x", "y", "z", "k")}}
    second = by_hand(**again)
    G, D, opt_G, opt_D = make(start)
    for batch in (start, again):
        cgan_step(G, D, opt_G, opt_D, *(tinygen.tensor(batch[key]) for key in ("x", "y", "z", "k")))
    after = weights(G, D)
    for name in ("A", "E", "w", "U"):
        np.testing.assert_allclose(after[name], second[name], rtol=1e-10, err_msg=name)
