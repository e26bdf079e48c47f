"""StyleGAN's step (examples/stylegan_mnist.py `stylegan_step`), pinned on networks small enough to
work by hand.

Stand-ins with the networks' call signature, in float64, with plain SGD:

    G(z, mix_z, crossover, noise) = A z + c + s noise[-1]  (+ crossover / 100 A mix_z when mixing)
                                    as a (N, 1, 32, 32) image; noise[-1] the last layer's map
    D(x) = v . tanh(U x) + b,       grad_x D = U^T (v * (1 - tanh^2(U x)))

The step must do (Karras et al. 2019's loss: the non-saturating logistic loss with R1; lazy
R1 as StyleGAN2; softplus(a) = log(1 + e^a)):

  D's phase:  L_D = mean softplus(D(G(inputs_d))) + mean softplus(-D(x))
              + at steps 0, 4, 8, ... (every R1_EVERY = 4):  4 * (gamma / 2) mean_n ||grad_x D(x_n)||^2,  gamma = 1
              U, v, b -= lr * grad;  A, c, s untouched
  G's phase:  L_G = mean softplus(-D'(G(inputs_g))) through the updated D';  A, c, s -= lr * grad;  D' untouched
  G_ema:      decay G_ema + (1 - decay) G

The expected numbers are computed here in PyTorch from these formulas (grad_x D written out by
hand, so R1's gradient w.r.t. U and v needs only a first-order backward), not from tinygen.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim

from step_spies import (RecordingSGD, check_d_holds_its_own_phase_gradient,
                        check_each_phase_leaves_the_other_network)

torch = pytest.importorskip("torch")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from stylegan_mnist import stylegan_step  # noqa: E402

LR, DECAY, N, LATENT, HIDDEN, PIXELS, NUM_WS = 0.05, 0.9, 4, 2, 3, 32 * 32, 8
R1_EVERY, R1_GAMMA = 4, 1.0  # the example's documented settings


class TinyG(nn.Module):
    def __init__(self, A, c, s):
        super().__init__()
        self.latent_dim, self.num_ws = A.shape[1], NUM_WS
        self.net = nn.Linear(A.shape[1], A.shape[0]).double()
        self.net.weight.data[...], self.net.bias.data[...] = A, c
        self.noise_weight = nn.Parameter(tinygen.tensor(np.array([s], dtype=np.float64)))
        self.calls = []

    def forward(self, z, psi=1.0, mix_z=None, crossover=None, noise=None):
        self.calls.append(dict(z=z, mix_z=mix_z, crossover=crossover, noise=noise, psi=psi))
        n = len(z)
        image = self.net(z).reshape(n, 1, 32, 32) + self.noise_weight * noise[-1]
        if mix_z is not None:
            image = image + (self.net(mix_z) - self.net.bias).reshape(n, 1, 32, 32) * (crossover / 100)
        return image


class TinyD(nn.Module):
    def __init__(self, U, v, b):
        super().__init__()
        self.hidden = nn.Linear(U.shape[1], U.shape[0], bias=False).double()
        self.out = nn.Linear(U.shape[0], 1).double()
        self.hidden.weight.data[...], self.out.weight.data[...], self.out.bias.data[...] = U, v[None], b
        self.act = nn.Tanh()

    def forward(self, x):
        return self.out(self.act(self.hidden(x.reshape(len(x), -1))))


def g_inputs(rng, mixed):
    inputs = dict(z=rng.normal(size=(N, LATENT)),
                  noise=[rng.normal(size=(N, 1, r, r)) for r in (4, 4, 8, 8, 16, 16, 32, 32)])
    if mixed:
        inputs.update(mix_z=rng.normal(size=(N, LATENT)), crossover=3)
    return inputs


def numbers(seed=0, mixed=(True, False)):
    rng = np.random.default_rng(seed)
    return dict(A=rng.normal(size=(PIXELS, LATENT)) / 2, c=rng.normal(size=PIXELS) / 4, s=0.3,
                U=rng.normal(size=(HIDDEN, PIXELS)) / 16, v=rng.normal(size=HIDDEN), b=rng.normal(),
                real=rng.uniform(-1, 1, (N, 1, 32, 32)), inputs_d=g_inputs(rng, mixed[0]),
                inputs_g=g_inputs(rng, mixed[1]))


def as_tensors(inputs):
    out = {key: tinygen.tensor(value) for key, value in inputs.items() if key in ("z", "mix_z")}
    out["noise"] = [tinygen.tensor(m) for m in inputs["noise"]]
    if "crossover" in inputs:
        out["crossover"] = inputs["crossover"]
    return out


def softplus(a):
    return torch.log1p(torch.exp(a))


def by_hand(A, c, s, U, v, b, real, inputs_d, inputs_g, step, r1_every=R1_EVERY, gamma=R1_GAMMA):
    """The step from the module docstring's formulas: the weights after it, G_ema, the numbers, D's gradient."""
    t = {name: torch.tensor(np.asarray(value, dtype=np.float64)).requires_grad_()
         for name, value in dict(A=A, c=c, s=s, U=U, v=v, b=b).items()}

    def G(A, c, s, inputs):
        image = torch.tensor(inputs["z"]) @ A.T + c + s * torch.tensor(inputs["noise"][-1].reshape(N, -1))
        if "mix_z" in inputs:
            image = image + (torch.tensor(inputs["mix_z"]) @ A.T) * (inputs["crossover"] / 100)
        return image

    def D(U, v, b, x):
        return torch.tanh(x @ U.T) @ v + b

    x = torch.tensor(real.reshape(N, -1))
    d_real, d_fake = D(t["U"], t["v"], t["b"], x), D(t["U"], t["v"], t["b"], G(t["A"], t["c"], t["s"], inputs_d).detach())
    d_loss = softplus(d_fake).mean() + softplus(-d_real).mean()
    grad_x = (t["v"] * (1 - torch.tanh(x @ t["U"].T) ** 2)) @ t["U"]
    r1 = gamma / 2 * (grad_x ** 2).sum(dim=1).mean()
    with_r1 = step % r1_every == 0
    (d_loss + r1_every * r1 if with_r1 else d_loss).backward()
    after = {name: (t[name] - LR * t[name].grad).detach() for name in "Uvb"}
    d_grad = {name: t[name].grad.numpy().copy() for name in "Uvb"}
    g_loss = softplus(-D(after["U"], after["v"], after["b"], G(t["A"], t["c"], t["s"], inputs_g))).mean()
    g_loss.backward()
    for name in "Acs":
        after[name] = (t[name] - LR * t[name].grad).detach()
    after = {name: value.numpy() for name, value in after.items()}
    ema = {name: DECAY * np.asarray(start) + (1 - DECAY) * after[name] for name, start in (("A", A), ("c", c), ("s", s))}
    found = dict(d_loss=d_loss.item(), g_loss=g_loss.item(), d_real=torch.sigmoid(d_real).mean().item(),
                 d_fake=torch.sigmoid(d_fake).mean().item(), r1=r1.item() if with_r1 else None)
    return after, ema, found, d_grad


def run_step(start, step, after_d_step=lambda *models: None, after_g_step=lambda *models: None):
    G, D, G_ema = TinyG(start["A"], start["c"], start["s"]), TinyD(start["U"], start["v"], start["b"]), \
        TinyG(start["A"], start["c"], start["s"])
    opt_G = RecordingSGD(G.parameters(), lambda: after_g_step(G, D, G_ema), lr=LR)
    opt_D = RecordingSGD(D.parameters(), lambda: after_d_step(G, D, G_ema), lr=LR)
    out = stylegan_step(G, D, G_ema, opt_G, opt_D, tinygen.tensor(start["real"]), as_tensors(start["inputs_d"]),
                        as_tensors(start["inputs_g"]), step, DECAY)
    after = dict(U=D.hidden.weight.numpy(), v=D.out.weight.numpy()[0], b=D.out.bias.numpy()[0],
                 A=G.net.weight.numpy(), c=G.net.bias.numpy(), s=G.noise_weight.numpy()[0])
    ema = dict(A=G_ema.net.weight.numpy(), c=G_ema.net.bias.numpy(), s=G_ema.noise_weight.numpy()[0])
    return after, ema, out, (G, D, G_ema)


@pytest.mark.parametrize("step", [0, 1, 3, 4, 8])
def test_one_step_moves_each_network_as_the_formulas_say(step):
    """D's and G's weights after the step, G_ema and the step's numbers against the formulas, at
    steps with R1 (0, 4, 8) and without (1, 3); r1 is the unweighted penalty, None without it."""
    start = numbers(step)
    expected, expected_ema, expected_numbers, _ = by_hand(**start, step=step)
    after, ema, out, _ = run_step(start, step)
    for name in "UvbAcs":
        np.testing.assert_allclose(after[name], expected[name], rtol=1e-9, atol=1e-12, err_msg=name)
    for name in "Acs":
        np.testing.assert_allclose(ema[name], expected_ema[name], rtol=1e-9, atol=1e-12, err_msg=f"G_ema {name}")
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert out[name].item() == pytest.approx(expected_numbers[name], rel=1e-9), name
    if expected_numbers["r1"] is None:
        assert out["r1"] is None
    else:
        assert out["r1"].item() == pytest.approx(expected_numbers["r1"], rel=1e-9)


def test_the_hand_worked_step_tells_each_term_apart():
    """R1 left out at a step that has it, or whose gradient stops at D's input (no create_graph:
    the same as left out), or R1 at weight 1 instead of R1_EVERY: each moves D by far more than
    the tolerance above."""
    start = numbers(0)
    full = by_hand(**start, step=0)[0]
    for changed in (dict(step=1), dict(step=0, r1_every=1)):
        other = by_hand(**{**start, **changed})[0]
        assert max(np.abs(full[k] - other[k]).max() for k in "Uvb") > 1e-6, changed


def test_g_gets_the_non_saturating_gradient():
    """Where D rejects the fakes (D(G(.)) very negative), softplus(-D) still moves G strongly and
    the saturating -softplus(D) = log(1 - sigmoid(D)) hardly: the step's G update is the first."""
    start = numbers(2)
    start["b"] = -12.0  # sigmoid(D) ~ 1e-5 everywhere
    expected, _, _, _ = by_hand(**start, step=1)
    after, _, _, _ = run_step(start, 1)
    moved = np.abs(after["c"] - start["c"]).sum()
    assert moved == pytest.approx(np.abs(expected["c"] - start["c"]).sum(), rel=1e-9)
    assert moved > 1e-3


def test_d_s_phase_leaves_g_and_g_s_phase_leaves_d_bitwise():
    """Right after D's SGD step G and G_ema hold their starting weights, bit for bit; right after
    G's step D holds the weights D's step gave it; G_ema moves only after both."""
    start = numbers(3)
    check_each_phase_leaves_the_other_network(lambda after_d, after_g: run_step(start, 0, after_d, after_g)[3], TinyG(start["A"], start["c"], start["s"]), TinyD(start["U"], start["v"], start["b"]))


def test_d_keeps_its_own_phase_gradient_and_takes_gradients_again_after():
    start = numbers(4)
    d_grad = by_hand(**start, step=4)[3]
    _, _, _, (G, D, _) = run_step(start, 4)
    check_d_holds_its_own_phase_gradient(G, D, d_grad)


def test_each_phase_s_fakes_come_from_its_own_inputs():
    """G is called twice: with inputs_d (z, mix_z, crossover, noise, as given) and then with inputs_g."""
    start = numbers(5)
    inputs_d, inputs_g = as_tensors(start["inputs_d"]), as_tensors(start["inputs_g"])
    G, D, G_ema = TinyG(start["A"], start["c"], start["s"]), TinyD(start["U"], start["v"], start["b"]), \
        TinyG(start["A"], start["c"], start["s"])
    stylegan_step(G, D, G_ema, optim.SGD(G.parameters(), lr=LR), optim.SGD(D.parameters(), lr=LR),
                  tinygen.tensor(start["real"]), inputs_d, inputs_g, 0, DECAY)
    assert len(G.calls) == 2
    for call, inputs in zip(G.calls, (inputs_d, inputs_g)):
        assert call["z"] is inputs["z"] and call["noise"] is inputs["noise"] and call["psi"] == 1.0
        assert call["mix_z"] is inputs.get("mix_z") and call["crossover"] == inputs.get("crossover")


def test_two_steps_are_two_steps_from_where_the_first_left_off():
    """Each phase starts from zero gradients: steps 3 and 4 (R1 at the second) equal the formulas
    applied twice."""
    start = numbers(6)
    first, first_ema, _, _ = by_hand(**start, step=3)
    second_start = dict(start, **{k: first[k] for k in "UvbAcs"}, real=start["real"][::-1].copy(),
                        inputs_d=start["inputs_g"], inputs_g=start["inputs_d"])
    second, _, _, _ = by_hand(**second_start, step=4)
    G, D, G_ema = TinyG(start["A"], start["c"], start["s"]), TinyD(start["U"], start["v"], start["b"]), \
        TinyG(start["A"], start["c"], start["s"])
    opt_G, opt_D = optim.SGD(G.parameters(), lr=LR), optim.SGD(D.parameters(), lr=LR)
    for s, step in ((start, 3), (second_start, 4)):
        stylegan_step(G, D, G_ema, opt_G, opt_D, tinygen.tensor(s["real"]), as_tensors(s["inputs_d"]),
                      as_tensors(s["inputs_g"]), step, DECAY)
    np.testing.assert_allclose(D.hidden.weight.numpy(), second["U"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(G.net.weight.numpy(), second["A"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(G_ema.net.weight.numpy(), DECAY * first_ema["A"] + (1 - DECAY) * second["A"],
                               rtol=1e-9, atol=1e-12)
