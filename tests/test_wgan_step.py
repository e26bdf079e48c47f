"""The WGAN's and WGAN-GP's steps (examples/wgan_mnist.py `critic_step`, `generator_step`, `wgan_step`;
examples/wgan_gp_mnist.py `critic_step`, `wgan_gp_step`), pinned on networks small enough to work by hand.

G(z) = A z + c (P = 3 "pixels"), plain SGD of rate LR, float64. The WGAN's critic is linear,
D(x) = w.x + b; WGAN-GP's has a curvature, D(x) = w.x + b + (a/2) ||x||^2, so that its input
gradient g(x) = w + a x changes from point to point and the penalty has something to weigh.
For critic batches x_k, z_k (fakes f_k = A z_k + c, made without a graph), k = 1..K, then G's z:

  WGAN critic step k:  W_k = mean_n D(x_kn) - mean_n D(f_kn) = (mean x_k - mean f_k).w ;  loss -W_k
                       dW/dw = mean x_k - mean f_k,  dW/db = 0
                       w <- clip(w + LR dW/dw, -c, c),  b <- clip(b, -c, c)     (clip AFTER the step)
  WGAN-GP critic step: x^_n = alpha_n x_n + (1 - alpha_n) f_n,  g_n = w + a x^_n,
                       ||g_n|| = sqrt(sum g_n^2 + 1e-12),  P = mean_n (||g_n|| - 1)^2
                       loss = -W + lambda P, W now with the (a/2) ||x||^2 terms too
                       dP/dw = mean_n 2 (||g_n|| - 1) g_n / ||g_n||,  dP/da = mean_n 2 (||g_n|| - 1) g_n.x^_n / ||g_n||
                       (dP/da is the penalty's path to the weights: it exists only through create_graph)
  G's step:            L_G = -mean_n D'(f_n), through the critic D' after its K steps
                       dL_G/df_n = -g'(f_n) / N,  dL_G/dA = sum_n dL_G/df_n z_n^T,  dL_G/dc = sum_n dL_G/df_n
                       (linear critic: A <- A + LR w' mean(z)^T, c <- c + LR w': G moves up the critic's slope)

Written here from these formulas, not from the examples' code. The tests say which planted bug each
catches: the critic's loss or G's loss with the wrong sign, clipping before the optimiser's step (or
not at all, or with another c), one real batch reused for every critic step, fakes with a graph,
a critic that is not frozen in G's phase, a missing zero_grad, the penalty's weight or sign changed.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim
from tinygen.models.wgan import CLIP, GP_WEIGHT, N_CRITIC

from test_gan_step import TinyG  # G(z) = A z + c, float64

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import wgan_gp_mnist  # noqa: E402
import wgan_mnist  # noqa: E402

LR = 0.1
C = 0.3  # the clip range in the tiny tests: some weights end inside it, some are clipped to it
P, LATENT, N = 3, 2, 4


class TinyCritic(nn.Module):
    """D(x) = w.x + b + (a/2) ||x||^2 (a = 0 and frozen for the WGAN's linear critic)."""

    def __init__(self, w, b, a=None):
        super().__init__()
        self.linear = nn.Linear(len(w), 1).double()
        self.linear.weight.data[...] = w[None, :]
        self.linear.bias.data[...] = b
        self.a = nn.Parameter(tinygen.tensor(np.array([a]))) if a is not None else None

    def forward(self, x):
        score = self.linear(x)
        if self.a is not None:
            score = score + 0.5 * self.a * (x * x).sum(dim=1, keepdim=True)
        return score

    def numbers(self):
        return dict(w=self.linear.weight.numpy()[0].copy(), b=float(self.linear.bias.numpy()[0]),
                    **({"a": float(self.a.numpy()[0])} if self.a is not None else {}))


def start(seed, k=N_CRITIC):
    """Starting weights (w partly beyond C, b beyond C) and K critic batches, their noise, G's noise."""
    rng = np.random.default_rng(seed)
    A, c = rng.normal(size=(P, LATENT)) / 4, rng.normal(size=P) / 2
    shift = c + np.array([1.0, 0.0, -1.0])  # the reals lie off the fakes in pixels 0 and 2, not in pixel 1
    return dict(A=A, c=c, w=np.array([0.45, -0.1, 0.2]) + rng.normal(size=P) / 20, b=0.5,
                xs=[rng.normal(size=(N, P)) / 4 + shift for _ in range(k)],
                zs=[rng.normal(size=(N, LATENT)) for _ in range(k)], z=rng.normal(size=(N, LATENT)))


# ---------------------------------------------------------------------------------------------
# The WGAN, by hand


def wgan_by_hand(A, c, w, b, xs, zs, z, clip=C):
    ws = []  # the critic's weights after each critic step
    for x, zk in zip(xs, zs):
        f = zk @ A.T + c
        dw = x.mean(axis=0) - f.mean(axis=0)  # dW/dw
        W = dw @ w
        w, b = np.clip(w + LR * dw, -clip, clip), float(np.clip(b, -clip, clip))
        ws.append((w.copy(), b))
    f = z @ A.T + c
    g_loss = -(f @ w + b).mean()
    A2, c2 = A + LR * np.outer(w, z.mean(axis=0)), c + LR * w
    return dict(w=w, b=b, A=A2, c=c2, W=W, critic_loss=-W, g_loss=g_loss, grad_w=-dw, ws=ws)


def run_wgan(A, c, w, b, xs, zs, z, clip=C):
    G, critic = TinyG(A, c), TinyCritic(w, b)
    opt_G, opt_C = optim.SGD(G.parameters(), lr=LR), optim.SGD(critic.parameters(), lr=LR)
    out = wgan_mnist.wgan_step(G, critic, opt_G, opt_C, [tinygen.tensor(x) for x in xs],
                               [tinygen.tensor(zk) for zk in zs], tinygen.tensor(z), clip=clip)
    return G, critic, {key: float(value.item()) for key, value in out.items()}


@pytest.mark.parametrize("seed", range(4))
def test_the_wgan_step_moves_each_network_as_the_formulas_say(seed):
    """Five critic steps, each on its own real batch and noise, each clipped after its optimiser
    step, then G's step through the last critic: weights, W, the critic's loss and G's loss."""
    s = start(seed)
    expected = wgan_by_hand(**s)
    G, critic, out = run_wgan(**s)
    got = critic.numbers()
    np.testing.assert_allclose(got["w"], expected["w"], rtol=1e-12, atol=1e-14)
    assert got["b"] == expected["b"] == C  # the bias (gradient 0) started beyond C: clipped too
    np.testing.assert_allclose(G.net.weight.numpy(), expected["A"], rtol=1e-12)
    np.testing.assert_allclose(G.net.bias.numpy(), expected["c"], rtol=1e-12)
    assert out["wasserstein"] == pytest.approx(expected["W"], rel=1e-12)  # of the last critic step
    assert out["critic_loss"] == pytest.approx(-expected["W"], rel=1e-12)
    assert out["g_loss"] == pytest.approx(expected["g_loss"], rel=1e-12)
    assert np.abs(got["w"]).max() == C and np.abs(got["w"]).min() < C  # clipping acted on some weights, not all


def test_clipping_comes_after_each_critic_steps_update():
    """After every critic step (not only the last) every critic weight lies in [-c, c], and equals
    clip(w + LR dW/dw): clipping before the update would leave the update's overshoot."""
    s = start(5)
    expected = wgan_by_hand(**s)
    G, critic = TinyG(s["A"], s["c"]), TinyCritic(s["w"], s["b"])
    opt_C = optim.SGD(critic.parameters(), lr=LR)
    for x, zk, (w, b) in zip(s["xs"], s["zs"], expected["ws"]):
        wgan_mnist.critic_step(G, critic, opt_C, tinygen.tensor(x), tinygen.tensor(zk), clip=C)
        got = critic.numbers()
        assert np.abs(got["w"]).max() <= C and abs(got["b"]) <= C
        np.testing.assert_allclose(got["w"], w, rtol=1e-12, atol=1e-14)
    assert any(np.abs(s["w"] + LR * (x.mean(0) - (zk @ s["A"].T + s["c"]).mean(0))).max() > C
               for x, zk in zip(s["xs"][:1], s["zs"][:1]))  # the first update overshoots C: the order matters


def test_the_critic_step_trains_the_critic_only_and_raises_w():
    """A critic step leaves G untouched and without a gradient (the fakes carry no graph), and the
    critic's update raises W on the same batch: it ascends W (its loss is -W)."""
    s = start(6)
    G, critic = TinyG(s["A"], s["c"]), TinyCritic(s["w"] * 0.1, 0.0)  # inside [-c, c]: no clipping here
    opt_C = optim.SGD(critic.parameters(), lr=LR)
    before = [p.numpy().copy() for p in G.parameters()]
    x, zk = tinygen.tensor(s["xs"][0]), tinygen.tensor(s["zs"][0])
    loss, w = wgan_mnist.critic_step(G, critic, opt_C, x, zk, clip=C)
    assert all(p.grad is None for p in G.parameters())
    for p, old in zip(G.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), old)
    with tinygen.no_grad():
        after = (critic(x).mean() - critic(G(zk)).mean()).item()
    assert loss.item() == -w.item() and after > w.item()


def test_g_moves_up_the_critics_slope_through_a_frozen_critic():
    """G's step moves c by +LR w' (the linear critic's slope): G raises its fakes' scores. The critic
    is not moved, and its .grad is still its last step's (-dW/dw): G's phase added nothing to it.
    Afterwards the critic takes gradients again."""
    s = start(7)
    expected = wgan_by_hand(**s)
    G, critic, _ = run_wgan(**s)
    np.testing.assert_allclose(G.net.bias.numpy() - s["c"], LR * expected["w"], rtol=1e-10)
    np.testing.assert_allclose(critic.linear.weight.grad.numpy()[0], expected["grad_w"], rtol=1e-12)
    np.testing.assert_allclose(critic.linear.bias.grad.numpy(), [0.0], atol=1e-15)
    assert all(p.requires_grad for p in critic.parameters())
    with tinygen.no_grad():
        z = tinygen.tensor(s["z"])
        before = TinyG(s["A"], s["c"])(z) @ tinygen.tensor(expected["w"][:, None])
        after = G(z) @ tinygen.tensor(expected["w"][:, None])
    assert after.numpy().mean() > before.numpy().mean()


def test_the_step_clips_to_the_papers_c_and_trains_the_critic_n_critic_times():
    """The constants are the paper's (c = 0.01, n_critic = 5), and the step's default clip is CLIP."""
    assert CLIP == 0.01 and N_CRITIC == 5
    s = start(8, k=2)
    expected = wgan_by_hand(**s, clip=CLIP)
    G, critic = TinyG(s["A"], s["c"]), TinyCritic(s["w"], s["b"])
    opt_G, opt_C = optim.SGD(G.parameters(), lr=LR), optim.SGD(critic.parameters(), lr=LR)
    wgan_mnist.wgan_step(G, critic, opt_G, opt_C, [tinygen.tensor(x) for x in s["xs"]],
                         [tinygen.tensor(zk) for zk in s["zs"]], tinygen.tensor(s["z"]))
    np.testing.assert_allclose(critic.numbers()["w"], expected["w"], rtol=1e-12)
    with pytest.raises(ValueError, match=r"wgan_step: expected one noise batch per real batch, got 2 real batches "
                                         r"and 1 noise batches"):
        wgan_mnist.wgan_step(G, critic, opt_G, opt_C, [tinygen.tensor(x) for x in s["xs"]],
                             [tinygen.tensor(s["zs"][0])], tinygen.tensor(s["z"]))


def test_the_examples_use_the_papers_optimisers():
    """RMSprop for the WGAN (no momentum: the paper saw it destabilise the clipped critic); Adam with
    betas (0, 0.9) for WGAN-GP."""
    G, critic = TinyG(np.zeros((P, LATENT)), np.zeros(P)), TinyCritic(np.zeros(P), 0.0)
    opt_G, opt_C = wgan_mnist.optimizers(G, critic, lr=5e-5)
    assert type(opt_G) is type(opt_C) is optim.RMSprop
    assert opt_G.lr == opt_C.lr == 5e-5 and opt_G.momentum == opt_C.momentum == 0
    opt_G, opt_C = wgan_gp_mnist.optimizers(G, critic, lr=1e-4)
    assert type(opt_G) is type(opt_C) is optim.Adam
    assert opt_G.lr == opt_C.lr == 1e-4 and tuple(opt_G.betas) == tuple(opt_C.betas) == (0.0, 0.9)


# ---------------------------------------------------------------------------------------------
# WGAN-GP, by hand


def gp_by_hand(A, c, w, b, a, xs, zs, alphas, z, lam=GP_WEIGHT):
    for x, zk, alpha in zip(xs, zs, alphas):
        f = zk @ A.T + c
        x_hat = alpha * x + (1 - alpha) * f
        g = w + a * x_hat  # (N, P): each sample's input gradient
        norms = np.sqrt((g * g).sum(axis=1) + 1e-12)
        penalty = ((norms - 1) ** 2).mean()
        W = (x.mean(0) - f.mean(0)) @ w + 0.5 * a * ((x * x).sum(1).mean() - (f * f).sum(1).mean())
        coef = 2 * (norms - 1) / norms / len(x)
        dP_dw = (coef[:, None] * g).sum(axis=0)
        dP_da = (coef * (g * x_hat).sum(axis=1)).sum()
        grad_w = -(x.mean(0) - f.mean(0)) + lam * dP_dw
        grad_a = -0.5 * ((x * x).sum(1).mean() - (f * f).sum(1).mean()) + lam * dP_da
        w, a = w - LR * grad_w, a - LR * grad_a
    f = z @ A.T + c
    g_loss = -(f @ w + b + 0.5 * a * (f * f).sum(1)).mean()
    dL_df = -(w + a * f) / len(f)
    A2, c2 = A - LR * dL_df.T @ z, c - LR * dL_df.sum(axis=0)
    return dict(w=w, b=b, a=a, A=A2, c=c2, W=W, penalty=penalty, norm=norms.mean(), critic_loss=-W + lam * penalty,
                g_loss=g_loss, grad_w=grad_w, grad_a=grad_a, dP_da=dP_da)


def gp_start(seed, k=2):
    s = start(seed, k)
    rng = np.random.default_rng(100 + seed)
    s.update(w=s["w"] * 2, a=0.8, alphas=[rng.uniform(0, 1, (N, 1)) for _ in range(k)])
    return s


def run_gp(A, c, w, b, a, xs, zs, alphas, z):
    G, critic = TinyG(A, c), TinyCritic(w, b, a)
    opt_G, opt_C = optim.SGD(G.parameters(), lr=LR), optim.SGD(critic.parameters(), lr=LR)
    out = wgan_gp_mnist.wgan_gp_step(G, critic, opt_G, opt_C, [tinygen.tensor(x) for x in xs],
                                     [tinygen.tensor(zk) for zk in zs], [tinygen.tensor(al) for al in alphas],
                                     tinygen.tensor(z))
    return G, critic, {key: float(value.item()) for key, value in out.items()}


@pytest.mark.parametrize("seed", range(4))
def test_the_wgan_gp_step_moves_each_network_as_the_formulas_say(seed):
    """Two penalised critic steps (lambda = 10, alpha per sample, the norm per sample over all its
    pixels), then G's step: weights, W, the penalty's mean norm, the critic's loss and G's loss."""
    s = gp_start(seed)
    expected = gp_by_hand(**s)
    G, critic, out = run_gp(**s)
    got = critic.numbers()
    np.testing.assert_allclose(got["w"], expected["w"], rtol=1e-11)
    assert got["a"] == pytest.approx(expected["a"], rel=1e-11)
    assert got["b"] == s["b"]  # a score's offset has no slope: neither W nor the penalty moves it (no clipping)
    np.testing.assert_allclose(G.net.weight.numpy(), expected["A"], rtol=1e-11)
    np.testing.assert_allclose(G.net.bias.numpy(), expected["c"], rtol=1e-11)
    for name in ("wasserstein", "critic_loss", "g_loss"):
        assert out[name] == pytest.approx(expected["W" if name == "wasserstein" else name], rel=1e-11), name
    assert out["grad_norm"] == pytest.approx(expected["norm"], rel=1e-11)
    assert out["critic_loss"] == pytest.approx(-expected["W"] + 10 * expected["penalty"], rel=1e-11)


def test_the_penalty_reaches_the_critics_weights_through_the_double_backward():
    """dP/da, the penalty's gradient through the input gradient g = w + a x^, is in a's gradient
    (create_graph), and it is not small beside W's part: a step without it would be far off."""
    s = gp_start(1, k=1)
    expected = gp_by_hand(**s)
    G, critic = TinyG(s["A"], s["c"]), TinyCritic(s["w"], s["b"], s["a"])
    opt_C = optim.SGD(critic.parameters(), lr=LR)
    wgan_gp_mnist.critic_step(G, critic, opt_C, tinygen.tensor(s["xs"][0]), tinygen.tensor(s["zs"][0]),
                              tinygen.tensor(s["alphas"][0]))
    assert critic.a.grad.item() == pytest.approx(expected["grad_a"], rel=1e-11)
    assert abs(GP_WEIGHT * expected["dP_da"]) > 0.5 * abs(expected["grad_a"] - GP_WEIGHT * expected["dP_da"])
    np.testing.assert_allclose(critic.linear.weight.grad.numpy()[0], expected["grad_w"], rtol=1e-11)
    assert all(p.grad is None for p in G.parameters())  # the penalty trains the critic only


def test_the_wgan_gp_constants_are_the_papers():
    assert GP_WEIGHT == 10.0 and N_CRITIC == 5
