"""Issue 14's engine pieces. The equalised learning rate layers (tinygen/nn/equalized.py): gradients, parity with the plain
torch op on weight * c, and what defines them: the stored weight is N(0, 1), the scale c is applied
at run time, so an SGD step moves the stored weight by c times the scaled layer's gradient.
Then the weights' moving average (tinygen/models/ema.py) and the R1 penalty (tinygen/models/r1.py)."""
import copy
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn, optim
from tinygen.gradcheck import gradcheck
from tinygen.models.ema import update_average_
from tinygen.models.r1 import r1_penalty

from strategies import leaf, medium, normal_arrays
from test_gradcheck_layers import to_float64


def eq_linear(a=5, b=3, m=1.0, seed=0):
    tg.manual_seed(seed)
    layer = to_float64(nn.EqualizedLinear(a, b, lr_multiplier=m))
    layer.bias.data[...] = np.random.default_rng(seed).standard_normal(b)  # a nonzero bias, to be seen
    return layer


def eq_conv(cin=2, cout=3, k=3, stride=1, padding=1, seed=0):
    tg.manual_seed(seed)
    layer = to_float64(nn.EqualizedConv2d(cin, cout, k, stride=stride, padding=padding))
    layer.bias.data[...] = np.random.default_rng(seed).standard_normal(cout)
    return layer


@medium
@given(st.data(), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.sampled_from([1.0, 0.01]))
def test_equalized_linear_gradcheck(data, n, a, b, m):
    layer = eq_linear(a, b, m, seed=data.draw(st.integers(0, 1000)))
    x = leaf(data.draw(normal_arrays((n, a))))
    assert gradcheck(lambda *_: layer(x), [x, layer.weight, layer.bias])


@medium
@given(st.data(), st.integers(1, 2), st.integers(1, 2), st.integers(1, 3), st.sampled_from([(1, 0), (2, 1)]))
def test_equalized_conv2d_gradcheck(data, cin, cout, k, stride_padding):
    stride, padding = stride_padding
    layer = eq_conv(cin, cout, k, stride, padding, seed=data.draw(st.integers(0, 1000)))
    x = leaf(data.draw(normal_arrays((2, cin, 4, 4))))
    assert gradcheck(lambda *_: layer(x), [x, layer.weight, layer.bias])


def test_equalized_linear_matches_torch_linear_on_the_scaled_weight():
    torch = pytest.importorskip("torch")
    layer, x = eq_linear(6, 4, m=0.01), np.random.default_rng(1).standard_normal((5, 6))
    c = 0.01 * math.sqrt(2 / 6)
    expected = torch.nn.functional.linear(torch.tensor(x), torch.tensor(layer.weight.data) * c,
                                          torch.tensor(layer.bias.data) * 0.01)
    np.testing.assert_allclose(layer(tg.tensor(x)).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


def test_equalized_conv2d_matches_torch_conv2d_on_the_scaled_weight():
    torch = pytest.importorskip("torch")
    layer, x = eq_conv(3, 4, 3, stride=2, padding=1), np.random.default_rng(2).standard_normal((2, 3, 7, 7))
    c = math.sqrt(2 / (3 * 3 * 3))
    expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(layer.weight.data) * c,
                                          torch.tensor(layer.bias.data), stride=2, padding=1)
    np.testing.assert_allclose(layer(tg.tensor(x)).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


def test_the_stored_weight_is_unit_normal_and_the_bias_zero():
    """The scale is NOT folded into the stored weights: std near 1 (1 / m for the linear one)."""
    tg.manual_seed(3)
    conv = nn.EqualizedConv2d(64, 64, 3)  # 36864 draws: std within a few per cent of 1
    assert conv.weight.data.std() == pytest.approx(1, abs=0.03) and conv.weight_scale == pytest.approx(math.sqrt(2 / 576))
    np.testing.assert_array_equal(conv.bias.data, 0)
    linear = nn.EqualizedLinear(256, 128, lr_multiplier=0.01)
    assert linear.weight.data.std() == pytest.approx(100, rel=0.03)
    assert linear.weight_scale == pytest.approx(0.01 * math.sqrt(2 / 256))
    np.testing.assert_array_equal(linear.bias.data, 0)


@pytest.mark.parametrize("make, x_shape", [(lambda: eq_linear(6, 4, m=0.1), (5, 6)),
                                           (lambda: eq_conv(2, 3, 3), (2, 2, 5, 5))])
def test_an_sgd_step_moves_the_stored_weight_by_c_times_the_scaled_gradient(make, x_shape):
    """With W_eff = c W, dL/dW = c dL/dW_eff: the stored weight moves by lr * c * (gradient w.r.t. W_eff)."""
    torch = pytest.importorskip("torch")
    layer, x = make(), np.random.default_rng(4).standard_normal(x_shape)
    c, before = layer.weight_scale, layer.weight.data.copy()
    run_time_bias = layer.bias.data * getattr(layer, "lr_multiplier", 1.0)  # as the forward pass uses it
    opt = optim.SGD(layer.parameters(), lr=0.1)
    (layer(tg.tensor(x)) ** 2).sum().backward()
    opt.step()
    w_eff = torch.tensor(before * c, requires_grad=True)  # the plain layer with the scaled weight
    if len(x_shape) == 2:
        out = torch.nn.functional.linear(torch.tensor(x), w_eff, torch.tensor(run_time_bias))
    else:
        out = torch.nn.functional.conv2d(torch.tensor(x), w_eff, torch.tensor(run_time_bias), padding=1)
    (out ** 2).sum().backward()
    np.testing.assert_allclose(layer.weight.data - before, -0.1 * c * w_eff.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_equalized_bad_input_is_named():
    with pytest.raises(ValueError, match=r"EqualizedLinear\(in_features=5, out_features=3, bias=True, "
                                         r"lr_multiplier=1.0\): expected input of shape \(..., 5\), got \(2, 4\)"):
        eq_linear()(tg.zeros(2, 4, dtype="float64"))
    with pytest.raises(ValueError, match=r"lr_multiplier must be > 0, got 0"):
        nn.EqualizedLinear(3, 2, lr_multiplier=0)
    with pytest.raises(ValueError, match=r"EqualizedConv2d\(2, 3, kernel_size=\(3, 3\), stride=1, padding=1\): "
                                         r"expected input of shape \(N, 2, H, W\), got \(1, 3, 4, 4\)"):
        eq_conv()(tg.zeros(1, 3, 4, 4, dtype="float64"))
    with pytest.raises(ValueError, match=r"EqualizedConv2d\(0, 3, .*in_channels must be >= 1, got 0"):
        nn.EqualizedConv2d(0, 3, 3)


# ---------------------------------------------------------------------------------------------
# update_average_ (tinygen/models/ema.py): average <- decay * average + (1 - decay) * model

def small_model(seed):
    tg.manual_seed(seed)
    return to_float64(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)))


def test_decay_zero_copies_and_decay_one_keeps():
    model, average = small_model(0), small_model(1)
    model[1].running_mean.data[...] = 7.0
    kept = {k: v.numpy().copy() for k, v in average.state_dict().items()}
    update_average_(average, model, 1.0)
    for k, v in average.state_dict().items():
        if k.endswith(("weight", "bias")):
            np.testing.assert_array_equal(v.numpy(), kept[k])
    np.testing.assert_array_equal(average[1].running_mean.numpy(), 7.0)  # buffers are copied whatever the decay
    update_average_(average, model, 0.0)
    for k, v in average.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), model.state_dict()[k].numpy())


def test_the_average_closes_one_minus_decay_to_the_k_of_the_gap():
    model = small_model(0)
    average = copy.deepcopy(model)
    start = average[0].weight.numpy().copy()
    for p in model.parameters():
        p.data += 1.0  # the model moves once and stays
    for _ in range(5):
        update_average_(average, model, 0.9)
    np.testing.assert_allclose(average[0].weight.numpy(), start + (1 - 0.9 ** 5), rtol=1e-12)
    assert list(average.state_dict()) == list(model.state_dict())  # checkpoints the same way


def test_the_update_records_no_graph():
    model, average = small_model(0), small_model(1)
    (model(tg.tensor(np.ones((2, 3)))) ** 2).sum().backward()
    update_average_(average, model, 0.5)
    assert all(p.grad is None for p in average.parameters())


def test_update_average_refuses_another_structure():
    model = small_model(0)
    other = to_float64(nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Linear(5, 1)))
    with pytest.raises(ValueError, match=r"update_average_: the average and the model differ at '0.weight' "
                                         r"\(5, 3\) against '0.weight' \(4, 3\); the average must be a copy"):
        update_average_(other, model, 0.9)
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\], got 1.5"):
        update_average_(copy.deepcopy(model), model, 1.5)


# ---------------------------------------------------------------------------------------------
# r1_penalty (tinygen/models/r1.py): (gamma / 2) mean_n ||grad_x D(x_n)||^2 on real images


def small_d(seed=0):
    tg.manual_seed(seed)
    return to_float64(nn.Sequential(nn.Flatten(), nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 1)))


def test_r1_matches_torch_value_and_parameter_gradients():
    torch = pytest.importorskip("torch")
    D, x = small_d(), np.random.default_rng(5).standard_normal((4, 2, 2, 2))
    penalty = r1_penalty(D, tg.tensor(x), gamma=10.0)
    penalty.backward()
    w1, b1, w2, b2 = (torch.tensor(p.numpy(), requires_grad=True) for p in D.parameters())
    tx = torch.tensor(x, requires_grad=True)
    scores = torch.tanh(tx.reshape(4, -1) @ w1.T + b1) @ w2.T + b2
    (g,) = torch.autograd.grad(scores.sum(), tx, create_graph=True)
    expected = 10.0 / 2 * g.pow(2).reshape(4, -1).sum(1).mean()
    expected.backward()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-12)
    for ours, theirs in zip(D.parameters()[:3], (w1, b1, w2)):  # the penalty reaches D's parameters
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert b2.grad is None and D[3].bias.grad is None  # the last bias moves D, not its slope: no gradient


def test_r1_is_zero_for_a_d_that_ignores_x():
    class Constant(nn.Module):
        def __init__(self):
            super().__init__()
            self.score = nn.Parameter(tg.tensor(np.ones((1, 1))))

        def forward(self, x):
            return x.reshape(x.shape[0], -1).sum(dim=1, keepdim=True) * 0 + self.score  # x is used, times 0

    assert r1_penalty(Constant(), tg.tensor(np.ones((3, 4))), gamma=5.0).item() == 0


def test_r1_refuses_batch_norm_in_training_and_bad_input():
    D = to_float64(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)))
    with pytest.raises(ValueError, match=r"r1_penalty: D's 1 is BatchNorm1d\(4.*\) in training mode"):
        r1_penalty(D, tg.tensor(np.ones((2, 3))), gamma=1.0)
    D.eval()
    assert np.isfinite(r1_penalty(D, tg.tensor(np.ones((2, 3))), gamma=1.0).item())  # eval mode: allowed
    with pytest.raises(ValueError, match=r"r1_penalty: gamma must be >= 0, got -1"):
        r1_penalty(D, tg.tensor(np.ones((2, 3))), gamma=-1)
    with pytest.raises(TypeError, match=r"r1_penalty\(\): argument 'real' must be Tensor"):
        r1_penalty(D, np.ones((2, 3)), gamma=1.0)
