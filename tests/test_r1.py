"""The R1 penalty (tinygen/models/r1.py), worked by hand, and its per-sample rule.

On D(x) = w.x + b + (a/2) ||x||^2 (float64) the input gradient is g_n = w + a x_n, so

    R1 = (gamma / 2) mean_n ||w + a x_n||^2
    dR1/dw = gamma mean_n (w + a x_n),   dR1/da = gamma mean_n (w + a x_n).x_n,   dR1/db = 0

dR1/dw and dR1/da are the penalty's path to D's weights: they exist only through create_graph.
A planted gamma for gamma / 2, a sum over the batch for the mean, the norm for its square, or a
penalty on detached gradients each fail here. (The torch comparison is in test_equalized_ema_r1.py.)
"""
import numpy as np
import pytest

import tinygen
from tinygen import nn
from tinygen.models.r1 import r1_penalty

from test_wgan import StdDevCritic, torch_stddev_critic


class Quadratic(nn.Module):
    def __init__(self, w, b, a):
        super().__init__()
        self.linear = nn.Linear(len(w), 1).double()
        self.linear.weight.data[...] = w[None, :]
        self.linear.bias.data[...] = b
        self.a = nn.Parameter(tinygen.tensor(np.array([a])))

    def forward(self, x):
        flat = x.reshape(len(x), -1)
        return self.linear(flat) + 0.5 * self.a * (flat * flat).sum(dim=1, keepdim=True)


@pytest.mark.parametrize("gamma", [1.0, 10.0])
def test_r1_and_its_gradients_are_the_formula_worked_by_hand(gamma):
    rng = np.random.default_rng(int(gamma))
    w, b, a = rng.normal(size=6), 0.3, 0.7
    x = rng.normal(size=(5, 1, 2, 3))
    D = Quadratic(w, b, a)
    penalty = r1_penalty(D, tinygen.tensor(x), gamma)
    penalty.backward()
    flat = x.reshape(5, -1)
    g = w + a * flat
    assert penalty.item() == pytest.approx(gamma / 2 * (g * g).sum(axis=1).mean(), rel=1e-12)
    np.testing.assert_allclose(D.linear.weight.grad.numpy()[0], gamma * g.mean(axis=0), rtol=1e-12)
    assert D.a.grad.item() == pytest.approx(gamma * (g * flat).sum(axis=1).mean(), rel=1e-12)
    assert D.linear.bias.grad is None or np.all(D.linear.bias.grad.numpy() == 0)


def test_r1_is_taken_on_the_real_images_given_and_leaves_them_untouched():
    """The gradient is taken at x itself (a D with a = 1, w = 0 has g_n = x_n, so R1 = (gamma/2) mean ||x_n||^2),
    on a detached copy: no gradient reaches whatever made x."""
    x = tinygen.tensor(np.arange(12.0).reshape(4, 3) / 10, requires_grad=True)
    penalty = r1_penalty(Quadratic(np.zeros(3), 0.0, 1.0), x * 1.0, gamma=2.0)
    assert penalty.item() == pytest.approx((np.arange(12.0).reshape(4, 3) / 10) ** 2 @ np.ones(3) @ np.ones(4) / 4)
    penalty.backward()
    assert x.grad is None


def test_r1_refuses_batch_statistics_and_accepts_a_minibatch_stddev():
    """BatchNorm in eval mode without running statistics still normalises by the batch: refused like
    training mode. A minibatch standard deviation (StyleGAN's D) is accepted, and R1 is then taken on
    the gradient of the summed scores, as StyleGAN's code takes it."""
    real = tinygen.tensor(np.random.default_rng(0).normal(size=(4, 3)))
    no_running = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, track_running_stats=False), nn.Linear(4, 1))
    with pytest.raises(ValueError, match=r"r1_penalty: D's 1 is BatchNorm1d\(4.*\) without running statistics"):
        r1_penalty(no_running.double().eval(), real, gamma=1.0)
    torch = pytest.importorskip("torch")
    tinygen.manual_seed(1)
    D = StdDevCritic()
    for p in D.parameters():
        p.data = p.data.astype(np.float64)
    x = torch.tensor(real.numpy(), requires_grad=True)
    (g,) = torch.autograd.grad(torch_stddev_critic(D, torch)(x).sum(), x)
    expected = 5.0 * (g ** 2).sum(dim=1).mean().item()
    assert r1_penalty(D, real, gamma=10.0).item() == pytest.approx(expected, rel=1e-10)
