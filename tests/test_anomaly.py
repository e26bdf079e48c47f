"""Anomaly mode (as torch.autograd.detect_anomaly): off by default; when on, the first backward
that makes a NaN or inf names its op and the line of the user's code whose forward made it."""

import inspect
import warnings

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import anomaly, autograd, nn, optim
from strategies import leaf


@pytest.fixture(autouse=True)
def quiet_numpy():
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def here():
    """The line number of the caller (where a forward is called below)."""
    return inspect.currentframe().f_back.f_lineno


def zero_linear():
    layer = nn.Linear(3, 2)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def test_the_norm_of_a_zero_vector_names_sqrt_and_the_forward_line():
    """d sqrt(s)/ds = 1 / (2 sqrt(s)) is inf at s = 0: a gradient penalty's norm of a zero gradient."""
    layer = zero_linear()
    with autograd.detect_anomaly():
        y = layer(tg.randn(4, 3))
        line = here(); norm = (y * y).sum(dim=1).sqrt()  # noqa: E702
        loss = norm.mean()
        with pytest.raises(RuntimeError, match=rf"Function 'Sqrt' returned inf values in its 0th output \(the gradient "
                                               rf"of its input 0, shape \(4,\)\); its forward was called at "
                                               rf".*test_anomaly\.py:{line}: line = here\(\); norm = "):
            loss.backward()


def test_a_clamped_log_of_zero_names_log():
    """log(p).clamp(min=-100) is finite at p = 0, but its backward is 0 * (1/0) = nan in Log."""
    p = leaf(np.array([0.0, 0.5]))
    with autograd.set_detect_anomaly(True):
        line = here(); loss = p.log().clamp(min=-100).mean()  # noqa: E702
        with pytest.raises(RuntimeError, match=r"Function 'Log' returned nan values in its 0th output") as error:
            loss.backward()
    message = str(error.value)
    assert f"test_anomaly.py:{line}" in message
    assert "Traceback of forward call that caused the error:" in message
    assert "in test_a_clamped_log_of_zero_names_log" in message  # the stack of the forward call
    assert anomaly._LIBRARY_FOLDER not in message  # the user's frames, not the library's


def test_the_first_bad_op_is_named_not_the_ones_after_it():
    """Log's nan would flow on into Linear's gradients: the error is raised at Log, where it began."""
    layer = zero_linear()
    with autograd.detect_anomaly():
        h = layer(tg.randn(4, 3))  # exactly 0
        loss = h.log().clamp(min=-5).sum()
        with pytest.raises(RuntimeError, match=r"Function 'Log' returned nan values in its 0th output"):
            loss.backward()
    layer(tg.randn(4, 3)).log().clamp(min=-5).sum().backward()  # without anomaly mode: nan in Linear's grads
    assert np.isnan(layer.weight.grad.numpy()).all()


def test_anomaly_mode_turned_on_for_the_backward_only_still_names_the_op():
    p = leaf(np.array([0.0, 0.5]))
    loss = p.log().clamp(min=-100).mean()
    with autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"^Function 'Log' returned nan values in its 0th output \(the gradient "
                                               r"of its input 0, shape \(2,\)\); its forward ran before anomaly mode "
                                               r"was on, so where it was called is not known"):
            loss.backward()


def test_without_anomaly_mode_the_nan_passes_into_the_gradient():
    """Off by default, as in PyTorch (checking every gradient costs a pass over it)."""
    assert not autograd.is_anomaly_enabled()
    p = leaf(np.array([0.0, 0.5]))
    p.log().clamp(min=-100).mean().backward()
    assert np.isnan(p.grad.numpy()[0])


def test_set_detect_anomaly_sets_for_good_or_for_a_block_and_restores_after_an_error():
    autograd.set_detect_anomaly(True)
    try:
        assert autograd.is_anomaly_enabled()
    finally:
        autograd.set_detect_anomaly(False)
    assert not autograd.is_anomaly_enabled()
    with pytest.raises(ZeroDivisionError):
        with autograd.detect_anomaly():
            assert autograd.is_anomaly_enabled()
            1 / 0
    assert not autograd.is_anomaly_enabled()


def test_anomaly_mode_changes_nothing_in_a_healthy_training_step():
    def run(anomaly):
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
        opt = optim.Adam(model.parameters(), lr=0.01)
        with autograd.set_detect_anomaly(anomaly):
            for step in range(3):
                opt.zero_grad()
                F.binary_cross_entropy_with_logits(model(tg.randn(16, 3)), tg.ones(16, 1)).backward()
                opt.step()
        return [p.numpy() for p in model.parameters()]

    for a, b in zip(run(False), run(True)):
        np.testing.assert_array_equal(a, b)


def test_a_stale_graph_error_names_the_forward_line_in_anomaly_mode():
    w = leaf(np.ones(2))
    with autograd.detect_anomaly():
        line = here(); y = w.log()  # noqa: E702
        with tg.no_grad():
            w.mul_(2)
        with pytest.raises(RuntimeError, match=rf"Log\.backward \(forward called at .*test_anomaly\.py:{line}\): "
                                               rf"input 0 \(shape \(2,\)\)"):
            y.sum().backward()


class Norm(nn.Module):
    def forward(self, x):
        self.line = here(); return (x * x).sum(dim=1).sqrt()  # noqa: E702


def test_the_forward_site_is_the_users_module_and_the_stack_shows_its_caller():
    layer, norm = zero_linear(), Norm()
    with autograd.detect_anomaly():
        calling_line = here(); loss = norm(layer(tg.randn(2, 3))).mean()  # noqa: E702
        site = rf"Function 'Sqrt' returned inf.*test_anomaly\.py:{norm.line}: "
        with pytest.raises(RuntimeError, match=site) as error:
            loss.backward()
    stack = str(error.value).split("Traceback of forward call that caused the error:\n")[1]
    assert f'test_anomaly.py", line {calling_line}, in test_the_forward_site' in stack
    assert f'test_anomaly.py", line {norm.line}, in forward' in stack.splitlines()[-2]  # innermost last
