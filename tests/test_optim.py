"""Optimiser behaviour: zero_grad, skipping parameters without a gradient, saving and restoring
the state exactly, and refusing what it does not know. (The update rules themselves are compared
with PyTorch's in test_parity_torch.py.)"""
import numpy as np
import pytest

import tinygen
import tinygen.nn.functional as F
from tinygen import nn, optim

CONFIGS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.2)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.99), eps=1e-6, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, alpha=0.9, weight_decay=0.01)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in options.items())}" for name, options in CONFIGS]


def make_model(seed):
    tinygen.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.2), nn.Linear(8, 2))


def batch(step):
    rng = np.random.default_rng(100 + step)
    return tinygen.Tensor(rng.standard_normal((16, 3)).astype(np.float32)), \
        tinygen.Tensor(rng.standard_normal((16, 2)).astype(np.float32))


def train_step(model, opt, step):
    x, y = batch(step)
    opt.zero_grad()
    F.mse_loss(model(x), y).backward()
    opt.step()


def test_zero_grad_sets_none():
    model = make_model(0)
    opt = optim.Adam(model.parameters())
    x, y = batch(0)
    F.mse_loss(model(x), y).backward()
    assert all(p.grad is not None for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name,options", CONFIGS, ids=IDS)
def test_parameters_without_grad_are_skipped(name, options):
    used = tinygen.Tensor(np.ones(3, np.float32), requires_grad=True)
    unused = tinygen.Tensor(np.ones(3, np.float32), requires_grad=True)
    opt = getattr(optim, name)([used, unused], **options)
    for _ in range(3):
        opt.zero_grad()
        (used * used).sum().backward()
        assert unused.grad is None
        opt.step()
    np.testing.assert_array_equal(unused.numpy(), np.ones(3))  # not even weight decay touches it
    assert opt.state[1] == {}
    assert not np.array_equal(used.numpy(), np.ones(3))


@pytest.mark.parametrize("name,options", CONFIGS, ids=IDS)
def test_state_dict_round_trip_continues_exactly(name, options):
    model = make_model(1)
    opt = getattr(optim, name)(model.parameters(), **options)
    for step in range(5):
        train_step(model, opt, step)

    # a fresh model and a fresh optimiser with other hyperparameters, given the saved state
    clone = make_model(2)
    clone.load_state_dict(model.state_dict())
    fresh = getattr(optim, name)(clone.parameters(), lr=0.123)
    fresh.load_state_dict(opt.state_dict())
    for key in options:
        assert getattr(fresh, key) == getattr(opt, key), key
    assert fresh.lr == opt.lr
    assert {k for s in fresh.state for k in s} == {k for s in opt.state for k in s}

    for step in range(5, 10):
        train_step(model, opt, step)
        train_step(clone, fresh, step)
    for (n, a), (_, b) in zip(model.state_dict().items(), clone.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=n)  # bitwise


def test_loaded_state_is_not_shared_with_the_original():
    model = make_model(3)
    opt = optim.Adam(model.parameters(), lr=0.01)
    train_step(model, opt, 0)
    fresh = optim.Adam(model.parameters())
    fresh.load_state_dict(opt.state_dict())
    assert fresh.state[0]["exp_avg"] is not opt.state[0]["exp_avg"]
    before = fresh.state[0]["exp_avg"].copy()
    train_step(model, opt, 1)
    np.testing.assert_array_equal(fresh.state[0]["exp_avg"], before)


def test_hyperparameters_restored():
    params = make_model(4).parameters()
    original = optim.Adam(params, lr=3e-4, betas=(0.5, 0.9), eps=1e-7, weight_decay=0.1)
    fresh = optim.Adam(params).load_state_dict(original.state_dict())
    assert (fresh.lr, fresh.betas, fresh.eps, fresh.weight_decay) == (3e-4, (0.5, 0.9), 1e-7, 0.1)
    assert isinstance(fresh.betas, tuple)
    sgd = optim.SGD(params, lr=0.2, momentum=0.9, nesterov=True)
    fresh_sgd = optim.SGD(params).load_state_dict(sgd.state_dict())
    assert (fresh_sgd.lr, fresh_sgd.momentum, fresh_sgd.nesterov) == (0.2, 0.9, True)


def test_state_dict_is_flat_named_values():
    model = make_model(5)
    opt = optim.Adam(model.parameters())
    train_step(model, opt, 0)
    state = opt.state_dict()
    assert {"lr", "betas.0", "betas.1", "eps", "weight_decay"} <= set(state)
    assert state["0.step"] == 1 and state["0.exp_avg"].shape == model.parameters()[0].shape


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_unknown_option_raises(name):
    params = [tinygen.zeros(2, requires_grad=True)]
    with pytest.raises(TypeError, match=rf"{name}: unknown options \['betas2'\]"):
        getattr(optim, name)(params, betas2=0.9)


def test_bad_parameter_lists():
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([])
    with pytest.raises(TypeError, match="requires grad"):
        optim.Adam([tinygen.zeros(2)])
    with pytest.raises(TypeError, match="requires grad"):
        optim.Adam([np.zeros(2)])


def test_state_for_too_many_parameters_raises():
    big = optim.Adam([tinygen.zeros(2, requires_grad=True), tinygen.zeros(2, requires_grad=True)])
    for p in big.params:
        p.grad = tinygen.ones(2)
    big.step()
    small = optim.Adam([tinygen.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: the state dict is for 2 parameters, "
                                         r"this optimiser has 1"):
        small.load_state_dict(big.state_dict())
    old_style = {k: v for k, v in big.state_dict().items() if k not in ("optimizer", "param_count")}
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: state for parameter 1, but the optimiser has 1"):
        small.load_state_dict(old_style)


def test_generator_of_parameters_is_accepted():
    model = make_model(6)
    opt = optim.SGD(p for p in model.parameters())
    assert len(opt.params) == len(model.parameters())


def test_adam_first_step_is_lr_times_sign():
    """With bias correction the first Adam step is lr * g / (|g| + eps) = lr * sign(g) (eps aside)."""
    p = tinygen.Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    p.grad = tinygen.Tensor(np.array([0.5, -7.0, 1e-3]))
    opt.step()
    g = np.array([0.5, -7.0, 1e-3])
    np.testing.assert_allclose(p.numpy(), np.array([1.0, -2.0, 3.0]) - 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(p.numpy(), [0.9, -1.9, 2.9], rtol=1e-6)
