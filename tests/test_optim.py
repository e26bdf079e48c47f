"""Optimiser behaviour: zero_grad, skipping parameters without a gradient, saving and restoring
the state exactly, and refusing what it does not know. (The update rules themselves are compared
with PyTorch's in test_parity_torch.py.)"""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen
import tinygen.nn.functional as F
from tinygen import nn, optim
from strategies import cheap

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
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: the state dict's parameter count is 2, "
                                         r"this optimiser's is 1"):
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


def adam_on_a_half_dead_layer(steps, dtype=np.float32):
    """Adam on 1,000 weights, half of which get a gradient at the first step only (as the weights of
    an always-black pixel): (the weights, the optimiser, the largest count of subnormal moments
    seen after any step)."""
    rng = np.random.default_rng(0)
    p = tinygen.Tensor(rng.standard_normal(1000).astype(dtype), requires_grad=True)
    opt = optim.Adam([p], lr=1e-3)
    gradient = (rng.standard_normal(1000) * 1e-3).astype(dtype)
    tiny, most = np.finfo(dtype).tiny, 0
    for step in range(steps):
        p.grad = tinygen.Tensor(gradient if step == 0 else np.where(np.arange(1000) < 500, gradient, 0).astype(dtype))
        opt.step()
        moments = np.concatenate([opt.state[0]["exp_avg"], opt.state[0]["exp_avg_sq"]])
        most = max(most, int(np.count_nonzero((moments != 0) & (np.abs(moments) < tiny))))
    return p.numpy(), opt, most


def test_adam_sets_decaying_moments_to_zero_before_they_turn_subnormal(monkeypatch):
    """m of a gradient that stays at 0 decays by b1 a step, through float32's subnormal range
    (about steps 720 to 870 here) where x86 arithmetic is many times slower: flushed, none is ever
    subnormal, and the weights are bitwise those of the unflushed run."""
    weights, opt, most = adam_on_a_half_dead_layer(1000)
    assert most == 0 and np.all(opt.state[0]["exp_avg"][500:] == 0)
    monkeypatch.setattr(optim, "FLUSH_EVERY", 10**9)  # never: the check above can fail
    unflushed, _, most_unflushed = adam_on_a_half_dead_layer(1000)
    assert most_unflushed >= 400
    np.testing.assert_array_equal(weights, unflushed)


def test_flush_subnormals_keeps_what_is_not_tiny():
    tiny = np.finfo(np.float32).tiny
    x = np.array([1.0, -1e-30, 2.0**24 * tiny, -2.0**23 * tiny, 5e-39, -5e-39, 0.0], dtype=np.float32)
    optim.flush_subnormals(x, np.empty_like(x))
    np.testing.assert_array_equal(x, np.array([1.0, -1e-30, 2.0**24 * tiny, 0, 0, 0, 0], dtype=np.float32))


# =============================================================================================
# Hyperparameters: PyTorch's rules, at construction and when a state dict loads

def one_param():
    return [tinygen.zeros(2, requires_grad=True)]


RANGES = [  # optimiser, option, the rule's words
    ("SGD", "lr", ">= 0"), ("SGD", "momentum", ">= 0"), ("SGD", "weight_decay", ">= 0"),
    ("Adam", "lr", ">= 0"), ("Adam", "eps", ">= 0"), ("Adam", "weight_decay", ">= 0"),
    ("RMSprop", "lr", ">= 0"), ("RMSprop", "alpha", ">= 0"), ("RMSprop", "eps", ">= 0"),
    ("RMSprop", "weight_decay", ">= 0"), ("RMSprop", "momentum", ">= 0"),
]


@cheap
@given(case=st.sampled_from(RANGES), value=st.floats(max_value=-1e-12) | st.just(float("nan")))
def test_negative_or_nan_hyperparameters_are_refused(case, value):
    name, option, rule = case
    with pytest.raises(ValueError, match=rf"^{name}: {option} must be {rule}, got {re.escape(str(value))}$"):
        getattr(optim, name)(one_param(), **{option: value})


@cheap
@given(case=st.sampled_from(RANGES), value=st.floats(min_value=0, max_value=10) | st.integers(0, 10))
def test_hyperparameters_in_range_are_accepted(case, value):
    name, option, _ = case
    assert getattr(getattr(optim, name)(one_param(), **{option: value}), option) == value


def test_a_negative_learning_rate_names_the_optimiser_and_the_value():
    with pytest.raises(ValueError, match=r"^Adam: lr must be >= 0, got -0.01$"):
        optim.Adam(one_param(), lr=-0.01)
    with pytest.raises(ValueError, match=r"^SGD: lr must be finite, got inf$"):
        optim.SGD(one_param(), lr=float("inf"))


@pytest.mark.parametrize("value", ["0.1", None, True, tinygen.tensor(0.1), [0.1]])
def test_a_hyperparameter_that_is_not_a_number_is_a_type_error(value):
    with pytest.raises(TypeError, match=r"^RMSprop: lr must be a number, got "):
        optim.RMSprop(one_param(), lr=value)


@cheap
@given(k=st.sampled_from([0, 1]), beta=st.floats(max_value=-1e-12) | st.floats(min_value=1.0) | st.just(float("nan")))
def test_betas_must_be_in_zero_one(k, beta):
    betas = [0.9, 0.999]
    betas[k] = beta
    with pytest.raises(ValueError, match=rf"^Adam: betas\[{k}\] must be in \[0, 1\), got {re.escape(str(beta))}$"):
        optim.Adam(one_param(), betas=tuple(betas))


def test_betas_must_be_a_pair_of_numbers():
    with pytest.raises(TypeError, match=r"^Adam: betas must be a pair \(beta1, beta2\), got 0.9$"):
        optim.Adam(one_param(), betas=0.9)
    with pytest.raises(TypeError, match=r"^Adam: betas\[1\] must be a number, got '0.9'$"):
        optim.Adam(one_param(), betas=(0.5, "0.9"))
    assert optim.Adam(one_param(), betas=[0.5, 0.9]).betas == (0.5, 0.9)  # a list becomes a tuple


@pytest.mark.parametrize("options", [dict(nesterov=True), dict(nesterov=True, momentum=0.9, dampening=0.1)])
def test_nesterov_needs_momentum_and_no_dampening(options):
    with pytest.raises(ValueError, match=r"^SGD: nesterov needs momentum > 0 and dampening 0, got momentum "):
        optim.SGD(one_param(), **options)


def test_flags_must_be_booleans():
    with pytest.raises(TypeError, match=r"^SGD: nesterov must be True or False, got 'yes'$"):
        optim.SGD(one_param(), momentum=0.9, nesterov="yes")
    with pytest.raises(TypeError, match=r"^RMSprop: centered must be True or False, got 1$"):
        optim.RMSprop(one_param(), centered=1)


def test_a_single_tensor_or_a_computed_tensor_is_not_a_parameter_list():
    w = tinygen.zeros(3, 2, requires_grad=True)
    with pytest.raises(TypeError, match=r"^Adam: params must be an iterable of tensors \(e.g. model.parameters\(\)\), "
                                        r"got a single tensor of shape \(3, 2\); pass \[tensor\]$"):
        optim.Adam(w)
    with pytest.raises(ValueError, match=r"^SGD: parameter 1 \(shape \(2, 3\)\) was computed by Transpose; "
                                         r"an optimiser can only change leaf tensors$"):
        optim.SGD([w, w.T])


# =============================================================================================
# Loading a state dict: refused whole, before anything changes, when it does not fit

def stepped(opt):
    for p in opt.params:
        p.grad = tinygen.ones(*p.shape)
    opt.step()
    return opt


def two_layer_adam(**options):
    return stepped(optim.Adam(make_model(7).parameters(), **options))


def snapshot(opt):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in opt.state_dict().items()}


def assert_unchanged(opt, before):
    after = opt.state_dict()
    assert set(after) == set(before)
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


def refuses(opt, state_dict, error, message):
    before = snapshot(opt)
    with pytest.raises(error, match=message):
        opt.load_state_dict(state_dict)
    assert_unchanged(opt, before)  # nothing half loaded


def test_a_state_of_another_optimiser_is_refused(tmp_path):
    sgd = stepped(optim.SGD(make_model(7).parameters(), lr=0.1, momentum=0.9))
    tinygen.save({"opt": sgd.state_dict()}, tmp_path / "sgd.npz")
    saved = tinygen.load(tmp_path / "sgd.npz")["opt"]  # the name survives the file (a string)
    adam = two_layer_adam(lr=0.01)
    refuses(adam, saved, ValueError, r"^Adam.load_state_dict: the state dict was saved by SGD, not Adam$")
    # a state dict saved before the optimiser's name was stored: its keys give it away
    old = {k: v for k, v in saved.items() if k not in ("optimizer", "param_count")}
    refuses(adam, old, ValueError, r"^Adam.load_state_dict: the state dict does not fit Adam: missing hyperparameters "
                                   r"\['betas.0', 'betas.1', 'eps'\], "
                                   r"unexpected keys \['dampening', 'momentum', 'nesterov'\]$")


def test_a_state_for_another_number_of_parameters_is_refused():
    small = stepped(optim.Adam([tinygen.zeros(2, requires_grad=True)]))
    refuses(two_layer_adam(), small.state_dict(), ValueError,
            r"^Adam.load_state_dict: the state dict's parameter count is 1, this optimiser's is 6$")


def test_a_state_of_other_shapes_names_the_parameter_and_both_shapes():
    adam = two_layer_adam()
    state = two_layer_adam().state_dict()
    state["4.exp_avg_sq"] = np.zeros((3, 8), np.float32)  # parameter 4: the second Linear's weight (2, 8)
    refuses(adam, state, ValueError, r"^Adam.load_state_dict: parameter 4 has shape \(2, 8\) but its state "
                                     r"'exp_avg_sq' has shape \(3, 8\)$")


def test_a_refused_state_leaves_even_the_hyperparameters_alone():
    adam = two_layer_adam(lr=0.01)
    state = two_layer_adam(lr=0.5, betas=(0.5, 0.9)).state_dict()  # hyperparameters that would load...
    state["0.exp_avg"] = np.zeros((1, 1), np.float32)  # ...but a state that does not
    refuses(adam, state, ValueError, r"^Adam.load_state_dict: parameter 0 has shape")
    assert (adam.lr, adam.betas) == (0.01, (0.9, 0.999))


def test_missing_or_unknown_pieces_of_a_parameter_state_are_refused():
    adam = two_layer_adam()
    state = two_layer_adam().state_dict()
    del state["1.exp_avg"]
    refuses(adam, state, ValueError, r"^Adam.load_state_dict: parameter 1's state has \['exp_avg_sq', 'step'\], "
                                     r"Adam with these options needs \['exp_avg', 'exp_avg_sq', 'step'\]$")
    state = two_layer_adam().state_dict()
    state["0.momentum_buffer"] = state["0.exp_avg"]
    refuses(adam, state, ValueError, r"^Adam.load_state_dict: unknown state 'momentum_buffer' for parameter 0")
    centered = stepped(optim.RMSprop(make_model(7).parameters(), centered=True))
    plain = stepped(optim.RMSprop(make_model(7).parameters())).state_dict()
    plain["centered"] = True  # says centered, but has no running mean of the gradient
    refuses(centered, plain, ValueError, r"needs \['grad_avg', 'square_avg'\]$")


def test_bad_values_in_a_state_dict_are_refused():
    adam = two_layer_adam()
    state = two_layer_adam().state_dict()
    state["lr"] = -1.0
    refuses(adam, state, ValueError, r"^Adam: lr must be >= 0, got -1.0$")
    state = two_layer_adam().state_dict()
    state["betas.1"] = 1.0
    refuses(adam, state, ValueError, r"^Adam: betas\[1\] must be in \[0, 1\), got 1.0$")
    state = two_layer_adam().state_dict()
    state["3.exp_avg"] = state["3.exp_avg"] * np.nan
    refuses(adam, state, ValueError, r"^Adam.load_state_dict: parameter 3's state 'exp_avg' holds NaN or inf values$")
    state = two_layer_adam().state_dict()
    state["0.step"] = 0
    refuses(adam, state, ValueError, r"^Adam.load_state_dict: parameter 0's step must be a whole number >= 1, got 0$")
    refuses(adam, [("lr", 0.1)], TypeError,
            r"^Adam.load_state_dict: expected a dict \(from optimizer.state_dict\(\)\), got list$")


def test_an_old_state_dict_without_the_name_and_count_still_loads():
    original = two_layer_adam(lr=0.02)
    old = {k: v for k, v in original.state_dict().items() if k not in ("optimizer", "param_count")}
    fresh = optim.Adam(make_model(7).parameters()).load_state_dict(old)
    assert fresh.lr == 0.02 and fresh.state[0]["step"] == 1


@pytest.mark.parametrize("name,options", CONFIGS, ids=IDS)
def test_a_state_dict_round_trips_through_a_file(tmp_path, name, options):
    model = make_model(8)
    opt = getattr(optim, name)(model.parameters(), **options)
    for step in range(2):
        train_step(model, opt, step)
    tinygen.save(opt.state_dict(), tmp_path / "opt.npz")
    fresh = getattr(optim, name)(model.parameters()).load_state_dict(tinygen.load(tmp_path / "opt.npz"))
    assert_unchanged(fresh, snapshot(opt))
