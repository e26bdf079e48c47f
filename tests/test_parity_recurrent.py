"""Parity of the recurrent layers with torch.nn: the same weights (copied by name), the same outputs,
final states and gradients of the input, the initial states and every weight.

PyTorch is the oracle here, never a dependency of tinygen.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tinygen  # noqa: E402
from tinygen import nn  # noqa: E402

TOL = {np.float64: (1e-9, 1e-11), np.float32: (2e-4, 2e-5)}
SETTINGS = settings(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow])


def copy_state(layer, twin):
    """The torch twin's weights into the tinygen layer, name by name (the names must be the same)."""
    ours, theirs = layer.state_dict(), twin.state_dict()
    assert list(ours) == list(theirs)
    for name, tensor in ours.items():
        tensor.data = theirs[name].detach().numpy().copy()


def assert_close(ours, theirs, dtype, what):
    rtol, atol = TOL[dtype]
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != torch's {theirs.shape}"
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=rtol, atol=atol * max(1.0, np.abs(theirs).max()),
                               err_msg=what)


def flat(result):
    if isinstance(result, (tinygen.Tensor, torch.Tensor)):
        return [result]
    return [t for r in result for t in flat(r)]


def compare(layer, twin, x, states, dtype, rng):
    """Forward both (with the initial states when given), backward one random weighting of every
    output, compare outputs and gradients."""
    xt = torch.tensor(x, requires_grad=True)
    xg = tinygen.Tensor(x.copy(), requires_grad=True)
    st_t = [torch.tensor(s, requires_grad=True) for s in states]
    st_g = [tinygen.Tensor(s.copy(), requires_grad=True) for s in states]
    hx_t = None if not states else (tuple(st_t) if len(states) == 2 else st_t[0])
    hx_g = None if not states else (tuple(st_g) if len(states) == 2 else st_g[0])
    theirs, ours = flat(twin(xt, hx_t)), flat(layer(xg, hx_g))
    assert len(ours) == len(theirs)
    total_t, total_g = 0, 0
    for number, (o, t) in enumerate(zip(ours, theirs)):
        assert_close(o, t, dtype, f"output {number}")
        weight = rng.standard_normal(tuple(t.shape)).astype(dtype)
        total_t = total_t + (t * torch.tensor(weight)).sum()
        total_g = total_g + (o * tinygen.Tensor(weight)).sum()
    total_t.backward()
    total_g.backward()
    assert_close(xg.grad, xt.grad, dtype, "input gradient")
    for number, (g, t) in enumerate(zip(st_g, st_t)):
        assert_close(g.grad, t.grad, dtype, f"gradient of initial state {number}")
    ours_p, theirs_p = dict(layer.named_parameters()), dict(twin.named_parameters())
    assert list(ours_p) == list(theirs_p)
    for name, p in theirs_p.items():
        assert_close(ours_p[name].grad, p.grad, dtype, f"gradient of {name}")


@SETTINGS
@given(kind=st.sampled_from(["RNN", "GRU", "LSTM"]), steps=st.integers(1, 6), batch=st.integers(1, 4),
       input_size=st.integers(1, 5), hidden_size=st.integers(1, 5), num_layers=st.integers(1, 3),
       batch_first=st.booleans(), bias=st.booleans(), unbatched=st.booleans(), given_state=st.booleans(),
       relu=st.booleans(), seed=st.integers(0, 2**31))
def test_layer_parity(kind, steps, batch, input_size, hidden_size, num_layers, batch_first, bias, unbatched,
                      given_state, relu, seed):
    rng = np.random.default_rng(seed)
    options = dict(num_layers=num_layers, bias=bias, batch_first=batch_first)
    if kind == "RNN":
        options["nonlinearity"] = "relu" if relu else "tanh"
    twin = getattr(torch.nn, kind)(input_size, hidden_size, **options).double()
    layer = getattr(nn, kind)(input_size, hidden_size, **options)
    copy_state(layer, twin)
    if unbatched:
        shape, state_shape = (steps, input_size), (num_layers, hidden_size)
    else:
        shape = (batch, steps, input_size) if batch_first else (steps, batch, input_size)
        state_shape = (num_layers, batch, hidden_size)
    states = [rng.standard_normal(state_shape) for _ in range(2 if kind == "LSTM" else 1)] if given_state else []
    compare(layer, twin, rng.standard_normal(shape), states, np.float64, rng)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_layer_parity_float32_mnist_rows(kind):
    """The recurrent autoencoder's shapes: 28 rows of 28 pixels, in float32."""
    rng = np.random.default_rng(1)
    torch.manual_seed(1)
    twin = getattr(torch.nn, kind)(28, 16, num_layers=2, batch_first=True)
    layer = getattr(nn, kind)(28, 16, num_layers=2, batch_first=True)
    copy_state(layer, twin)
    compare(layer, twin, rng.random((4, 28, 28), dtype=np.float32), [], np.float32, rng)


@SETTINGS
@given(kind=st.sampled_from(["RNN", "GRU", "LSTM"]), batch=st.integers(1, 4), bias=st.booleans(),
       unbatched=st.booleans(), given_state=st.booleans(), seed=st.integers(0, 2**31))
def test_cell_parity(kind, batch, bias, unbatched, given_state, seed):
    rng = np.random.default_rng(seed)
    twin = getattr(torch.nn, kind + "Cell")(3, 4, bias=bias).double()
    cell = getattr(nn, kind + "Cell")(3, 4, bias=bias)
    copy_state(cell, twin)
    lead = () if unbatched else (batch,)
    states = [rng.standard_normal(lead + (4,)) for _ in range(2 if kind == "LSTM" else 1)] if given_state else []
    compare(cell, twin, rng.standard_normal(lead + (3,)), states, np.float64, rng)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_default_initialisation_matches(kind):
    """Same names, shapes and distribution U(-1/sqrt(H), 1/sqrt(H)) as torch's defaults."""
    tinygen.manual_seed(2)
    torch.manual_seed(2)
    layer, twin = getattr(nn, kind)(30, 64, num_layers=2), getattr(torch.nn, kind)(30, 64, num_layers=2)
    ours, theirs = layer.state_dict(), twin.state_dict()
    assert list(ours) == list(theirs)
    bound = 1 / np.sqrt(64)
    for name, value in theirs.items():
        assert ours[name].shape == tuple(value.shape) and ours[name].dtype == np.float32, name
        for values in (ours[name].numpy().ravel(), value.numpy().ravel()):  # both U(-bound, bound)
            n = values.size
            assert np.abs(values).max() <= bound and np.abs(values).max() > bound * (1 - 8 / n), name
            assert abs(values.std() / (bound / np.sqrt(3)) - 1) < 6 / np.sqrt(2 * n) + 0.01, name
