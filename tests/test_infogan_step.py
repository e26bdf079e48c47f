"""InfoGAN's step (examples/infogan_mnist.py `infogan_step`), pinned on networks small enough to work by hand.

G(z, c, cont) = A u + a with u = [z, one_hot(c), cont]; D's trunk h = tanh(Wt x + bt), D's head
logit = wa.h + ba, Q's head q = Wq h + bq, split into category logits q_c (K) and code means q_m;
plain SGD, float64. With s = sigmoid, CE the cross-entropy of softmax(q_c) against c and
L_I(q) = 1 * mean_n CE_n + 0.1 * mean_n sum_j 1/2 (q_m,nj - cont_nj)^2 (Chen et al.'s weights), the
step must do, for n real x and n draws (z, c, cont) (fakes f = G(z, c, cont)):

  D's phase:  L_D = mean(-log s(logit(x))) + mean(-log(1 - s(logit(f)))) + L_I(q(f))
              dL/dlogit(x) = -(1 - s) / n,  dL/dlogit(f) = s / n,
              dL/dq_c = (softmax(q_c) - one_hot(c)) / n,  dL/dq_m = 0.1 (q_m - cont) / n,
              back through the heads into the trunk (dh = dlogit wa + dq Wq, dpre = dh (1 - h^2));
              Wt, bt, wa, ba, Wq, bq -= lr * grad;  A, a untouched (the fakes are detached)
  G's phase:  through the updated D and Q (frozen), L_G = mean(-log s(logit'(f))) + L_I(q'(f))
              (the non-saturating loss, and the information loss again), back to f and into A, a;
              A, a -= lr * grad;  D's and Q's parameters untouched

Written here from these formulas, not from the example's code or the functions it calls. The
catalogue's pitfall (L_I left out of either phase, so that Q never learns to read c or G never
learns to write it), the minimax G loss, swapped targets, fakes not detached, a D that is not
frozen in G's phase and a missing zero_grad each give other numbers, and the tests below say which.
"""
import math
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim
import tinygen.nn.functional as F
from by_hand import sigmoid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from infogan_mnist import infogan_step  # noqa: E402

LR = 0.1
LATENT, K, CODES, FEATURES, HIDDEN = 2, 3, 2, 4, 3  # z, categories, continuous codes, pixels, trunk width


class TinyG(nn.Module):
    """f = A [z, one_hot(c), cont] + a."""

    def __init__(self, A, a):
        super().__init__()
        self.net = nn.Linear(A.shape[1], A.shape[0]).double()
        self.net.weight.data[...] = A
        self.net.bias.data[...] = a

    def forward(self, z, c, cont):
        return self.net(F.cat([z, F.astype(F.one_hot(c, K), z.dtype), cont], dim=1))


class TinyD(nn.Module):
    """h = tanh(Wt x + bt); returns (wa.h + ba, (Wq h + bq)[:, :K], (Wq h + bq)[:, K:])."""

    def __init__(self, Wt, bt, wa, ba, Wq, bq):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.Tanh()).double()
        self.adversarial = nn.Linear(HIDDEN, 1).double()
        self.q = nn.Linear(HIDDEN, K + CODES).double()
        for layer, (weight, bias) in [(self.trunk[0], (Wt, bt)), (self.adversarial, (wa[None, :], ba)),
                                      (self.q, (Wq, bq))]:
            layer.weight.data[...] = weight
            layer.bias.data[...] = bias

    def forward(self, x):
        h = self.trunk(x)
        q = self.q(h)
        return self.adversarial(h), q[:, :K], q[:, K:]


def numbers(seed=0, n=6):
    """Starting weights and a batch: small weights, so that every D(.) stays well inside (0, 1)."""
    rng = np.random.default_rng(seed)
    normal = lambda *shape: rng.normal(size=shape) / 2  # noqa: E731
    return dict(A=normal(FEATURES, LATENT + K + CODES), a=normal(FEATURES), Wt=normal(HIDDEN, FEATURES),
                bt=normal(HIDDEN), wa=normal(HIDDEN), ba=float(normal()), Wq=normal(K + CODES, HIDDEN),
                bq=normal(K + CODES), x=rng.normal(size=(n, FEATURES)), z=rng.normal(size=(n, LATENT)),
                c=rng.integers(0, K, n), cont=rng.uniform(-1, 1, (n, CODES)))


D_NAMES, G_NAMES = ("Wt", "bt", "wa", "ba", "Wq", "bq"), ("A", "a")


def d_forward(p, x):
    h = np.tanh(x @ p["Wt"].T + p["bt"])
    return h, h @ p["wa"] + p["ba"], h @ p["Wq"].T + p["bq"]


def information(q, c, cont, lambda_cat=1.0, lambda_cont=0.1):
    """L_I(q), its gradient with respect to q (n, K + CODES), and the categorical cross-entropy."""
    n = len(c)
    logits, means = q[:, :K], q[:, K:]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    ce = -log_softmax[np.arange(n), c].mean()
    squared = (0.5 * (means - cont) ** 2).sum(axis=1).mean()
    grad = np.concatenate([lambda_cat * (np.exp(log_softmax) - np.eye(K)[c]) / n,
                           lambda_cont * (means - cont) / n], axis=1)
    return lambda_cat * ce + lambda_cont * squared, grad, ce


def by_hand(A, a, Wt, bt, wa, ba, Wq, bq, x, z, c, cont, g_adversarial="non-saturating", info_in_d=True,
            info_in_g=True):
    """The step worked from the formulas in the module's docstring: every parameter after it, D's
    phase gradients and the step's numbers. The keywords build the wrong steps the tests tell apart."""
    n = len(x)
    p = dict(A=A, a=a, Wt=Wt, bt=bt, wa=wa, ba=ba, Wq=Wq, bq=bq)
    u = np.concatenate([z, np.eye(K)[c], cont], axis=1)
    f = u @ A.T + a

    # D's phase
    h_r, l_r, _ = d_forward(p, x)
    h_f, l_f, q_f = d_forward(p, f)
    info_d, g_q, _ = information(q_f, c, cont, *((1.0, 0.1) if info_in_d else (0.0, 0.0)))
    d_loss = np.mean(np.logaddexp(0, -l_r)) + np.mean(np.logaddexp(0, l_f)) + info_d
    g_lr, g_lf = -(1 - sigmoid(l_r)) / n, sigmoid(l_f) / n
    g_pr = (g_lr[:, None] * wa) * (1 - h_r ** 2)
    g_pf = (g_lf[:, None] * wa + g_q @ Wq) * (1 - h_f ** 2)
    grads = dict(wa=h_r.T @ g_lr + h_f.T @ g_lf, ba=g_lr.sum() + g_lf.sum(), Wq=g_q.T @ h_f, bq=g_q.sum(axis=0),
                 Wt=g_pr.T @ x + g_pf.T @ f, bt=g_pr.sum(axis=0) + g_pf.sum(axis=0))
    after = {**p, **{name: p[name] - LR * grads[name] for name in D_NAMES}}

    # G's phase, through the updated D and Q
    h, logit, q = d_forward(after, f)
    info_g, g_q, ce = information(q, c, cont, *((1.0, 0.1) if info_in_g else (0.0, 0.0)))
    if g_adversarial == "non-saturating":  # minimise -log s(logit)
        g_loss, g_logit = np.mean(np.logaddexp(0, -logit)) + info_g, -(1 - sigmoid(logit)) / n
    elif g_adversarial == "minimax":  # minimise log(1 - s(logit)), the loss the non-saturating one replaces
        g_loss, g_logit = np.mean(-np.logaddexp(0, logit)) + info_g, -sigmoid(logit) / n
    else:  # "none": L_I alone
        g_loss, g_logit = info_g, np.zeros(n)
    g_f = ((g_logit[:, None] * after["wa"] + g_q @ after["Wq"]) * (1 - h ** 2)) @ after["Wt"]
    after["A"], after["a"] = A - LR * g_f.T @ u, a - LR * g_f.sum(axis=0)
    return dict(after=after, grads=grads, d_loss=d_loss, g_loss=g_loss, d_real=sigmoid(l_r).mean(),
                d_fake=sigmoid(l_f).mean(), information=math.log(K) - ce)


def make(start):
    G = TinyG(start["A"], start["a"])
    D = TinyD(*(start[name] for name in D_NAMES))
    return G, D


def parameters(G, D):
    """The tiny networks' parameters under the docstring's names, as float64 arrays (copies)."""
    return dict(A=G.net.weight.numpy().copy(), a=G.net.bias.numpy().copy(),
                Wt=D.trunk[0].weight.numpy().copy(), bt=D.trunk[0].bias.numpy().copy(),
                wa=D.adversarial.weight.numpy()[0].copy(), ba=float(D.adversarial.bias.numpy()[0]),
                Wq=D.q.weight.numpy().copy(), bq=D.q.bias.numpy().copy())


def step(G, D, start, opt_G=None, opt_D=None):
    opt_G = opt_G or optim.SGD(G.parameters(), lr=LR)
    opt_D = opt_D or optim.SGD(D.parameters(), lr=LR)
    t = tinygen.tensor
    out = infogan_step(G, D, opt_G, opt_D, t(start["x"]), t(start["z"]), t(start["c"]), t(start["cont"]))
    return {key: float(value.item()) for key, value in out.items()}


def run_step(start):
    G, D = make(start)
    out = step(G, D, start)
    return parameters(G, D), out, G, D


def assert_parameters(after, expected, names=D_NAMES + G_NAMES):
    for name in names:
        np.testing.assert_allclose(after[name], expected[name], rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("seed", range(4))
def test_one_step_moves_each_network_as_the_formulas_say(seed):
    start = numbers(seed)
    expected = by_hand(**start)
    after, out, _, _ = run_step(start)
    assert_parameters(after, expected["after"])
    for name in ("d_loss", "g_loss", "d_real", "d_fake", "information"):
        assert out[name] == pytest.approx(expected[name], rel=1e-10), name


def test_d_phase_teaches_q_to_read_the_fakes_codes():
    """Q's head gets its gradient in D's phase from L_I alone (the adversarial losses do not reach
    it): it moves exactly by -lr dL_I/d(Wq, bq) on the fakes' codes, and not at all without L_I."""
    start = numbers(5)
    after, _, _, _ = run_step(start)
    with_info, without = by_hand(**start), by_hand(**start, info_in_d=False)
    assert_parameters(after, with_info["after"], ("Wq", "bq", "Wt", "bt"))
    np.testing.assert_array_equal(without["after"]["Wq"], start["Wq"])  # the wrong step: Q stays still
    assert np.abs(after["Wq"] - start["Wq"]).max() > 1e-3
    assert np.abs(after["Wt"] - without["after"]["Wt"]).max() > 1e-4  # and L_I reaches the shared trunk


def test_g_phase_teaches_g_to_write_its_codes():
    """G's phase adds L_I through the updated Q and trunk: G's update is the formulas' with it, and
    far from the update without it (the catalogue's pitfall: an info loss that never reaches G)."""
    start = numbers(6)
    after, _, _, _ = run_step(start)
    assert_parameters(after, by_hand(**start)["after"], G_NAMES)
    assert np.abs(after["A"] - by_hand(**start, info_in_g=False)["after"]["A"]).max() > 1e-3


def test_g_gets_the_non_saturating_gradient_not_the_minimax_one():
    """Where D rejects the fakes (ba = -8: D(anything) ~ 3e-4, as early in training), the adversarial
    part of G's update, -log D(G(z)), moves G thousands of times more than the minimax
    log(1 - D(G(z))) would: the step's G update is the first, besides L_I's."""
    start = numbers(1)
    start["ba"] = -8.0
    after, _, _, _ = run_step(start)
    expected = by_hand(**start)
    assert_parameters(after, expected["after"], G_NAMES)
    info_only = by_hand(**start, g_adversarial="none")["after"]["a"]
    minimax = by_hand(**start, g_adversarial="minimax")["after"]["a"]
    assert np.abs(after["a"] - info_only).sum() > 1000 * np.abs(minimax - info_only).sum() > 0


def test_the_targets_are_one_for_real_and_zero_for_fake():
    """From an undecided D (wa = 0, ba = 0: D = 1/2 everywhere), with real images near +2 and fakes
    near -2 in every pixel, D's phase raises D on the real batch and lowers it on the fakes."""
    start = numbers(2)
    start.update(wa=np.zeros(HIDDEN), ba=0.0, x=start["x"] / 4 + 2, A=0.1 * start["A"], a=np.full(FEATURES, -2.0))
    G, D = make(start)
    fakes = G(*(tinygen.tensor(start[k]) for k in ("z", "c", "cont"))).numpy()
    step(G, D, start)
    after = parameters(G, D)
    logit = lambda images: d_forward(after, images)[1].mean()  # noqa: E731
    assert logit(start["x"]) > 0.01 > -0.01 > logit(fakes)


def test_d_phase_sends_nothing_into_g():
    """When opt_D steps, G's parameters have no gradient: the fakes D is trained on are detached."""
    start = numbers(3)
    G, D = make(start)
    seen = []

    class Watching(optim.SGD):
        def step(self):
            seen.append([p.grad is None or not np.any(p.grad.numpy()) for p in G.parameters()])
            super().step()

    step(G, D, start, opt_D=Watching(D.parameters(), lr=LR))
    assert seen == [[True, True]]


def test_d_keeps_its_own_phase_gradient_frozen_through_g_phase():
    """D's .grad after the step is the gradient of L_D alone: G's phase, through a frozen D, added
    nothing to it; and after the step D takes gradients again (the freeze lasts G's phase only)."""
    start = numbers(4)
    expected = by_hand(**start)["grads"]
    _, _, G, D = run_step(start)
    got = dict(Wt=D.trunk[0].weight.grad.numpy(), bt=D.trunk[0].bias.grad.numpy(),
               wa=D.adversarial.weight.grad.numpy()[0], ba=D.adversarial.bias.grad.numpy()[0],
               Wq=D.q.weight.grad.numpy(), bq=D.q.bias.grad.numpy())
    assert_parameters(got, expected, D_NAMES)
    assert all(p.requires_grad for p in D.parameters()) and all(p.requires_grad for p in G.parameters())


def test_two_steps_are_two_steps_from_where_the_first_left_off():
    """Each phase starts from zero gradients: a second step equals the formulas applied twice."""
    start = numbers(7)
    first = by_hand(**start)
    again = {**start, **first["after"], **{k: start[k][::-1].copy() for k in ("x", "z", "c", "cont")}}
    second = by_hand(**again)
    G, D = make(start)
    step(G, D, start)
    step(G, D, again)
    assert_parameters(parameters(G, D), second["after"])
