"""BEGAN's step (examples/began_mnist.py `discriminator_step`, `generator_step`, `began_step`), pinned
on networks small enough to work by hand.

D is a linear autoencoder of MNIST-sized images, D(v) = B (E v) + d (E: h x 784, B: 784 x h, on
the flattened image), G(z) = A z + c reshaped to (1, 28, 28); plain SGD of rate LR, float64. With
r = v - D(v) per image (n images, P = 784 pixels):

  L(v)      = mean_n mean_p |r_np|                      dL/dD(v_n) = u_n = -sign(r_n) / (n P)
              dL/dB = sum_n u_n (E v_n)^T,   dL/dE = sum_n (B^T u_n) v_n^T,   dL/dd = sum_n u_n
  D's phase: L_D = L(x) - k_t L(G(z_D))   (fakes made without a graph): D's parameters -= LR dL_D
  G's phase: L_G = L(G(z_G)) through the updated D' (frozen): dL/df_n = (I - B' E')^T sign(r_n) / (n P)
             dL_G/dA = sum_n dL/df_n z_n^T,  dL_G/dc = sum_n dL/df_n
  k_{t+1}  = clip(k_t + lambda_k (gamma L(x) - L_G), 0, 1)      (L(x) of D's phase, L_G of G's phase)
  M        = L(x) + |gamma L(x) - L_G|

Written here from these formulas (the paper's), not from the example's code. Each planted bug of
the report fails one of these: the fakes' term added instead of subtracted, k_{t+1} used where k_t
belongs, gamma on the wrong loss, k unclipped, M without its absolute value, an L2 loss for the L1,
G's loss weighted by k, a D not frozen in G's phase, fakes with a graph in D's phase.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import began_mnist  # noqa: E402

LR = 0.05
PIXELS, CODE, LATENT, N = 784, 3, 2, 4


class TinyD(nn.Module):
    def __init__(self, E, B, d):
        super().__init__()
        self.encode = nn.Linear(PIXELS, CODE, bias=False).double()
        self.decode = nn.Linear(CODE, PIXELS).double()
        self.encode.weight.data[...] = E
        self.decode.weight.data[...] = B
        self.decode.bias.data[...] = d

    def forward(self, v):
        return self.decode(self.encode(v.reshape(len(v), PIXELS))).reshape(v.shape)

    def numbers(self):
        return dict(E=self.encode.weight.numpy().copy(), B=self.decode.weight.numpy().copy(),
                    d=self.decode.bias.numpy().copy())


class TinyG(nn.Module):
    def __init__(self, A, c):
        super().__init__()
        self.latent_dim = LATENT
        self.net = nn.Linear(LATENT, PIXELS).double()
        self.net.weight.data[...] = A
        self.net.bias.data[...] = c

    def forward(self, z):
        return self.net(z.double()).reshape(len(z), 1, 28, 28)  # make_train_step draws float32 noise


def start(seed):
    rng = np.random.default_rng(seed)
    return dict(E=rng.normal(size=(CODE, PIXELS)) / 30, B=rng.normal(size=(PIXELS, CODE)) / 3,
                d=rng.normal(size=PIXELS) / 10, A=rng.normal(size=(PIXELS, LATENT)) / 4, c=rng.normal(size=PIXELS) / 4,
                x=rng.uniform(-1, 1, (N, PIXELS)), z_D=rng.normal(size=(N, LATENT)), z_G=rng.normal(size=(N, LATENT)))


def loss_and_grads(E, B, d, v):
    """L(v) and its gradients w.r.t. E, B, d (v: (n, P) flattened images)."""
    r = v - (v @ E.T @ B.T + d)
    u = -np.sign(r) / r.size
    return np.abs(r).mean(), dict(E=(u @ B).T @ v, B=u.T @ (v @ E.T), d=u.sum(axis=0))


def by_hand(E, B, d, A, c, x, z_D, z_G, k, gamma, lambda_k):
    f_D = z_D @ A.T + c
    loss_real, g_real = loss_and_grads(E, B, d, x)
    loss_fake, g_fake = loss_and_grads(E, B, d, f_D)
    E2, B2, d2 = (p - LR * (g_real[name] - k * g_fake[name]) for name, p in (("E", E), ("B", B), ("d", d)))
    f = z_G @ A.T + c
    r = f - (f @ E2.T @ B2.T + d2)
    s = np.sign(r) / r.size
    dL_df = s - (s @ B2) @ E2
    g_loss = np.abs(r).mean()
    k2 = min(max(k + lambda_k * (gamma * loss_real - g_loss), 0.0), 1.0)
    return dict(E=E2, B=B2, d=d2, A=A - LR * dL_df.T @ z_G, c=c - LR * dL_df.sum(axis=0), loss_real=loss_real,
                loss_fake=loss_fake, d_loss=loss_real - k * loss_fake, g_loss=g_loss, k=k2,
                M=loss_real + abs(gamma * loss_real - g_loss), grad_d=g_real["d"] - k * g_fake["d"])


def run(E, B, d, A, c, x, z_D, z_G, k, gamma, lambda_k):
    G, D = TinyG(A, c), TinyD(E, B, d)
    opt_G, opt_D = optim.SGD(G.parameters(), lr=LR), optim.SGD(D.parameters(), lr=LR)
    out = began_mnist.began_step(G, D, opt_G, opt_D, tinygen.tensor(x.reshape(N, 1, 28, 28)), tinygen.tensor(z_D),
                                 tinygen.tensor(z_G), k, gamma, lambda_k)
    return G, D, {key: float(value.item() if isinstance(value, tinygen.Tensor) else value) for key, value in out.items()}


@pytest.mark.parametrize("seed, k, gamma, lambda_k", [(0, 0.0, 0.9, 0.01), (1, 0.7, 0.5, 0.001), (2, 0.35, 0.75, 0.1)])
def test_the_step_moves_each_network_and_k_as_the_formulas_say(seed, k, gamma, lambda_k):
    s = start(seed)
    expected = by_hand(**s, k=k, gamma=gamma, lambda_k=lambda_k)
    G, D, out = run(**s, k=k, gamma=gamma, lambda_k=lambda_k)
    for name, value in D.numbers().items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-10, atol=1e-14, err_msg=name)
    np.testing.assert_allclose(G.net.weight.numpy(), expected["A"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(G.net.bias.numpy(), expected["c"], rtol=1e-10, atol=1e-14)
    for name in ("d_loss", "g_loss", "loss_real", "loss_fake", "k", "M"):
        assert out[name] == pytest.approx(expected[name], rel=1e-10, abs=1e-15), name
    assert out["k"] != k  # the controller moved


def test_d_weighs_the_fakes_by_k_t_and_pushes_their_error_up():
    """With k_t = 1 and a fake batch far from anything D reconstructs, D's phase lowers L(x) and
    raises L(G(z_D)) on the same batches: the fakes' term enters L_D with a minus sign, weighed by k_t
    (k_t = 0: the fakes do not move D at all)."""
    s = start(3)
    for k in (1.0, 0.0):
        G, D = TinyG(s["A"], s["c"]), TinyD(s["E"], s["B"], s["d"])
        opt_D = optim.SGD(D.parameters(), lr=LR)
        x, z = tinygen.tensor(s["x"].reshape(N, 1, 28, 28)), tinygen.tensor(s["z_D"])
        _, before_real, before_fake = began_mnist.discriminator_step(G, D, opt_D, x, z, k)
        with tinygen.no_grad():
            after_real = began_mnist.reconstruction_loss(D, x).item()
            after_fake = began_mnist.reconstruction_loss(D, G(z)).item()
        assert after_real < before_real.item()
        if k == 1.0:
            assert after_fake > before_fake.item()
        else:
            only_real = TinyD(s["E"], s["B"], s["d"])
            opt = optim.SGD(only_real.parameters(), lr=LR)
            loss = began_mnist.reconstruction_loss(only_real, x)
            loss.backward()
            opt.step()
            for name, value in D.numbers().items():
                np.testing.assert_array_equal(value, only_real.numbers()[name], err_msg=name)
    assert all(p.grad is None for p in G.parameters())  # the fakes carry no graph: D's phase trains D only


def test_g_is_trained_through_a_frozen_d_on_its_own_loss():
    """D's .grad after the step is that of L_D alone (G's phase added nothing), D's weights are those
    of D's phase, and G's loss is L(G(z_G)) unweighted by k (k_t = 0.6 here)."""
    s = start(4)
    expected = by_hand(**s, k=0.6, gamma=0.5, lambda_k=0.01)
    G, D, out = run(**s, k=0.6, gamma=0.5, lambda_k=0.01)
    np.testing.assert_allclose(D.decode.bias.grad.numpy(), expected["grad_d"], rtol=1e-10, atol=1e-15)
    assert out["g_loss"] == pytest.approx(expected["g_loss"], rel=1e-10)
    assert all(p.requires_grad for p in D.parameters())


def test_the_controller_uses_k_t_for_d_and_the_g_phase_loss_for_k_t_plus_1():
    """Two steps through make_train_step: the second step's D loss uses the k the first step
    returned (k_1), and k_2 = clip(k_1 + lambda_k (gamma L(x) - L_G)) on the second step's numbers."""
    import types
    s = start(5)
    G, D = TinyG(s["A"], s["c"]), TinyD(s["E"], s["B"], s["d"])
    opt_G, opt_D = optim.SGD(G.parameters(), lr=LR), optim.SGD(D.parameters(), lr=LR)
    history = {"k": [0.4]}
    args = types.SimpleNamespace(batch_size=N, device="cpu", gamma=0.5, lambda_k=0.5)
    step = began_mnist.make_train_step(G, D, opt_G, opt_D, args, history)
    x = tinygen.tensor(s["x"].reshape(N, 1, 28, 28))
    first = step(x)
    history["k"].append(first["k"])
    second = step(x)
    assert first["d_loss"].item() == pytest.approx(first["loss_real"] - 0.4 * first["loss_fake"].item(), rel=1e-12)
    assert second["d_loss"].item() == pytest.approx(second["loss_real"] - first["k"] * second["loss_fake"].item(),
                                                    rel=1e-12)
    assert second["k"] == pytest.approx(min(max(first["k"] + 0.5 * (0.5 * second["loss_real"]
                                                                     - second["g_loss"].item()), 0), 1), rel=1e-12)
    assert first["k"] != 0.4 and second["k"] != first["k"]
