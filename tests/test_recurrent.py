"""Recurrent layers: gradient checks through several time steps (backpropagation through time),
the shapes of every input layout, and the errors for bad input.

Parity with torch.nn (same weights, same outputs and gradients) is in test_parity_recurrent.py.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn
from tinygen.functional.shape import ScatterAdd
from tinygen.gradcheck import gradcheck, gradgradcheck
from strategies import costly, leaf, medium

LAYERS = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}
CELLS = {"RNN": nn.RNNCell, "GRU": nn.GRUCell, "LSTM": nn.LSTMCell}


def to_float64(module):
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    return module


def state_pair(kind, h, c):
    return (h, c) if kind == "LSTM" else h


def flat_outputs(result):
    """output, h_n (and c_n) of a layer, or h (and c) of a cell, as a flat tuple of tensors."""
    if isinstance(result, tg.Tensor):
        return (result,)
    out = []
    for r in result:
        out.extend(flat_outputs(r))
    return tuple(out)


# =============================================================================================
# Backpropagation through time: every weight, the input and the initial state, checked


@costly
@given(kind=st.sampled_from(sorted(LAYERS)), steps=st.integers(2, 4), batch=st.integers(1, 2),
       num_layers=st.integers(1, 2), batch_first=st.booleans(), bias=st.booleans(), seed=st.integers(0, 1000))
def test_layer_gradcheck_through_time(kind, steps, batch, num_layers, batch_first, bias, seed):
    tg.manual_seed(seed)
    layer = to_float64(LAYERS[kind](2, 3, num_layers=num_layers, bias=bias, batch_first=batch_first))
    rng = np.random.default_rng(seed)
    shape = (batch, steps, 2) if batch_first else (steps, batch, 2)
    x = leaf(rng.standard_normal(shape))
    h0 = leaf(rng.standard_normal((num_layers, batch, 3)) * 0.5)
    c0 = leaf(rng.standard_normal((num_layers, batch, 3)) * 0.5)
    states = [h0, c0] if kind == "LSTM" else [h0]
    # every output: the whole sequence and the last states, so each path through time is checked
    assert gradcheck(lambda *_: flat_outputs(layer(x, state_pair(kind, h0, c0))), [x] + states + layer.parameters())


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_gradient_reaches_the_first_step(kind):
    """The loss on the last output reaches x_1 only through the recurrence: a graph cut between
    steps (a detach, a lost state) would leave x_1's gradient zero."""
    tg.manual_seed(0)
    layer = to_float64(LAYERS[kind](2, 3))
    x = leaf(np.random.default_rng(1).standard_normal((5, 1, 2)))
    output = flat_outputs(layer(x))[0]
    output[-1].sum().backward()
    assert np.abs(x.grad.numpy()[0]).max() > 1e-6
    assert gradcheck(lambda *_: flat_outputs(layer(x))[0][-1], [x] + layer.parameters())


@medium
@given(kind=st.sampled_from(sorted(CELLS)), batch=st.integers(1, 3), bias=st.booleans(), seed=st.integers(0, 1000))
def test_cell_gradcheck(kind, batch, bias, seed):
    tg.manual_seed(seed)
    cell = to_float64(CELLS[kind](3, 2, bias=bias))
    rng = np.random.default_rng(seed)
    x, h, c = leaf(rng.standard_normal((batch, 3))), leaf(rng.standard_normal((batch, 2))), \
        leaf(rng.standard_normal((batch, 2)))
    states = [h, c] if kind == "LSTM" else [h]
    assert gradcheck(lambda *_: flat_outputs(cell(x, state_pair(kind, h, c))), [x] + states + cell.parameters())


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_cell_second_derivatives(kind):
    """Gradients of gradients through a cell (a gradient penalty on a recurrent critic needs them)."""
    tg.manual_seed(3)
    cell = to_float64(CELLS[kind](2, 2))
    rng = np.random.default_rng(3)
    x, h = leaf(rng.standard_normal((2, 2))), leaf(rng.standard_normal((2, 2)))
    hx = (h, leaf(rng.standard_normal((2, 2)))) if kind == "LSTM" else h
    assert gradgradcheck(lambda *_: flat_outputs(cell(x, hx))[0], [x, h], atol=1e-4, rtol=1e-3)


# =============================================================================================
# Shapes, and a sequence is its cell applied step by step


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_layer_is_its_cell_step_by_step(kind, batch_first):
    tg.manual_seed(4)
    layer = LAYERS[kind](3, 4, num_layers=2, batch_first=batch_first)
    cells = [CELLS[kind](3, 4), CELLS[kind](4, 4)]
    for number, cell in enumerate(cells):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data = getattr(layer, f"{name}_l{number}").data.copy()
    x = np.random.default_rng(4).standard_normal((2, 5, 3)).astype(np.float32)  # (N, T, in)
    output, state = layer(tg.Tensor(x if batch_first else x.transpose(1, 0, 2)))
    assert output.shape == ((2, 5, 4) if batch_first else (5, 2, 4))
    h_n = state[0] if kind == "LSTM" else state
    assert h_n.shape == (2, 2, 4)
    inputs = [tg.Tensor(x[:, t]) for t in range(5)]
    for number, cell in enumerate(cells):
        hx, outputs = None, []
        for x_t in inputs:
            hx = cell(x_t, hx)
            outputs.append(hx[0] if kind == "LSTM" else hx)
        inputs = outputs
        np.testing.assert_allclose(h_n.numpy()[number], outputs[-1].numpy(), rtol=1e-6, atol=1e-6)
    expected = np.stack([h.numpy() for h in inputs], axis=1 if batch_first else 0)
    np.testing.assert_allclose(output.numpy(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input_is_a_batch_of_one(kind, batch_first):
    tg.manual_seed(5)
    layer = LAYERS[kind](3, 4, num_layers=2, batch_first=batch_first)
    x = np.random.default_rng(5).standard_normal((6, 3)).astype(np.float32)
    output, state = layer(tg.Tensor(x))
    batched, batched_state = layer(tg.Tensor(x[None] if batch_first else x[:, None]))
    assert output.shape == (6, 4)
    np.testing.assert_array_equal(output.numpy(), batched.numpy().reshape(6, 4))
    for ours, theirs in zip(flat_outputs(state), flat_outputs(batched_state)):
        assert ours.shape == (2, 4)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy()[:, 0])


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_cell_unbatched_and_default_state(kind):
    tg.manual_seed(6)
    cell = CELLS[kind](3, 4)
    x = tg.Tensor(np.random.default_rng(6).standard_normal(3).astype(np.float32))
    zero = tg.zeros(1, 4)
    ours = flat_outputs(cell(x))
    batched = flat_outputs(cell(x.reshape(1, 3), (zero, zero) if kind == "LSTM" else zero))
    for a, b in zip(ours, batched):
        assert a.shape == (4,)
        np.testing.assert_array_equal(a.numpy(), b.numpy()[0])


def test_parameter_names_and_shapes_follow_pytorch():
    lstm = nn.LSTM(28, 100, num_layers=2, bias=False)
    assert [(n, p.shape) for n, p in lstm.named_parameters()] == [
        ("weight_ih_l0", (400, 28)), ("weight_hh_l0", (400, 100)),
        ("weight_ih_l1", (400, 100)), ("weight_hh_l1", (400, 100))]
    assert [n for n, _ in nn.GRUCell(2, 3).named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert nn.GRUCell(2, 3).weight_ih.shape == (9, 2)
    assert repr(nn.RNN(3, 4, num_layers=2, nonlinearity="relu", batch_first=True)) == \
        "RNN(3, 4, num_layers=2, nonlinearity='relu', batch_first=True)"


def test_default_initialisation_bound():
    tg.manual_seed(7)
    for p in nn.LSTM(10, 25, num_layers=2).parameters():
        values = p.numpy()
        assert np.abs(values).max() <= 1 / 5 and np.abs(values).max() > 0.19  # U(-1/sqrt(H), 1/sqrt(H)), H = 25


def test_dropout_between_layers_only_in_training():
    tg.manual_seed(8)
    layer = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = tg.Tensor(np.random.default_rng(8).standard_normal((4, 2, 3)).astype(np.float32))
    first, second = layer(x)[0].numpy(), layer(x)[0].numpy()
    assert not np.array_equal(first, second)  # a new mask each call
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0].numpy(), layer(x)[0].numpy())
    single = nn.GRU(3, 4, num_layers=2)
    single.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(layer(x)[0].numpy(), single(x)[0].numpy(), rtol=1e-6)


# =============================================================================================
# ScatterAdd (the gradient of slicing the gates): a basic index sets, an advanced one adds


@medium
@given(st.data())
def test_scatter_add_basic_index_equals_add_at(data):
    shape = data.draw(st.sampled_from([(5,), (3, 4), (2, 3, 4)]))
    index = tuple(data.draw(st.one_of(st.integers(-n, n - 1),
                                      st.builds(slice, st.integers(-n, n) | st.none(), st.integers(-n, n) | st.none(),
                                                st.sampled_from([None, 1, 2, -1]))))
                  for n in shape[: data.draw(st.integers(1, len(shape)))])
    if data.draw(st.booleans()):
        index = (Ellipsis,) + index[1:]
    picked = np.zeros(shape)[index]
    x = np.random.default_rng(0).standard_normal(picked.shape)
    expected = np.zeros(shape)
    np.add.at(expected, index, x)
    np.testing.assert_array_equal(ScatterAdd(index, shape)(tg.Tensor(x)).numpy(), expected)


def test_scatter_add_repeated_integer_index_adds():
    y = ScatterAdd(np.array([1, 1, 2]), (4,))(tg.Tensor(np.ones(3)))
    np.testing.assert_array_equal(y.numpy(), [0, 2, 1, 0])


# =============================================================================================
# Bad input: one clear error naming the layer, the expected and the actual value


@pytest.mark.parametrize("make,error,match", [
    (lambda: nn.LSTM(0, 5), ValueError, r"LSTM\(input_size=0, hidden_size=5, num_layers=1\): input_size must be >= 1, got 0"),
    (lambda: nn.GRU(3, 0), ValueError, r"GRU\(.*\): hidden_size must be >= 1, got 0"),
    (lambda: nn.RNN(3.0, 5), TypeError, r"RNN\(.*\): input_size must be an int, got float 3.0"),
    (lambda: nn.LSTM(3, 5, num_layers=0), ValueError, r"num_layers must be >= 1, got 0"),
    (lambda: nn.GRU(3, 5, num_layers=2, dropout=1.5), ValueError, r"dropout must be a probability in \[0, 1\], got 1.5"),
    (lambda: nn.GRU(3, 5, dropout="0.5"), TypeError, r"dropout must be a real number, got str"),
    (lambda: nn.RNN(3, 5, nonlinearity="sigmoid"), ValueError, r"nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"),
    (lambda: nn.RNNCell(3, 5, nonlinearity="sigmoid"), ValueError,
     r"RNNCell\(input_size=3, hidden_size=5\): nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"),
    (lambda: nn.LSTMCell(3, -1), ValueError, r"LSTMCell\(input_size=3, hidden_size=-1\): hidden_size must be >= 1"),
    (lambda: nn.LSTM(3, 5, bidirectional=True), NotImplementedError, r"bidirectional=True is not implemented"),
])
def test_bad_arguments_are_refused_when_made(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match=r"dropout=0.5 acts between layers, so with num_layers=1 it does nothing"):
        nn.LSTM(3, 5, dropout=0.5)


def zeros(*shape, dtype=np.float32):
    return tg.Tensor(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("call,error,match", [
    (lambda: nn.LSTM(3, 5)(zeros(2, 4, 3, 1)), ValueError,
     r"LSTM\(3, 5\): expected input of shape \(T, N, input_size\) or \(T, input_size\) unbatched, got 4-D shape \(2, 4, 3, 1\)"),
    (lambda: nn.GRU(3, 5, batch_first=True)(zeros(3)), ValueError, r"expected input of shape \(N, T, input_size\)"),
    (lambda: nn.LSTM(3, 5)(zeros(2, 4, 2)), RuntimeError,
     r"LSTM\(3, 5\): input has 2 features \(shape \(2, 4, 2\)\), expected input_size=3"),
    (lambda: nn.RNN(3, 5)(zeros(0, 4, 3)), RuntimeError,
     r"RNN\(3, 5\): expected a sequence of at least one time step, got shape \(0, 4, 3\)"),
    (lambda: nn.LSTM(3, 5)(np.zeros((2, 4, 3))), TypeError, r"LSTM\(3, 5\): expected a Tensor input, got ndarray"),
    (lambda: nn.LSTM(3, 5)(zeros(2, 4, 3, dtype=np.float64)), RuntimeError,
     r"LSTM\(3, 5\): input dtype float64 does not match the weight dtype float32; convert the input with x.float\(\)"),
    (lambda: nn.LSTM(3, 5)(zeros(2, 4, 3), zeros(1, 4, 5)), TypeError,
     r"LSTM\(3, 5\): hx must be a pair \(h_0, c_0\) of tensors, got Tensor"),
    (lambda: nn.LSTM(3, 5)(zeros(2, 4, 3), (zeros(1, 4, 5),)), TypeError,
     r"hx must be a pair \(h_0, c_0\) of tensors, got tuple of length 1"),
    (lambda: nn.LSTM(3, 5)(zeros(2, 4, 3), (zeros(1, 3, 5), zeros(1, 4, 5))), RuntimeError,
     r"LSTM\(3, 5\): expected h_0 of shape \(1, 4, 5\), got \(1, 3, 5\)"),
    (lambda: nn.LSTM(3, 5, num_layers=2)(zeros(2, 4, 3), (zeros(2, 4, 5), zeros(1, 4, 5))), RuntimeError,
     r"expected c_0 of shape \(2, 4, 5\), got \(1, 4, 5\)"),
    (lambda: nn.GRU(3, 5)(zeros(2, 3), zeros(1, 1, 5)), RuntimeError,
     r"GRU\(3, 5\): expected h_0 of shape \(1, 5\), got \(1, 1, 5\)"),  # unbatched input, batched state
    (lambda: nn.GRU(3, 5)(zeros(2, 4, 3), [zeros(1, 4, 5)]), TypeError, r"GRU\(3, 5\): h_0 must be a Tensor, got list"),
    (lambda: nn.RNN(3, 5)(zeros(2, 4, 3), zeros(1, 4, 5, dtype=np.float64)), RuntimeError,
     r"RNN\(3, 5\): h_0 has dtype float64 but the input and weights have float32; convert it to float32"),
    (lambda: nn.LSTMCell(3, 5)(zeros(2, 4, 3)), ValueError,
     r"LSTMCell\(3, 5\): expected input of shape \(N, 3\) or \(3,\), got 3-D shape \(2, 4, 3\)"),
    (lambda: nn.GRUCell(3, 5)(zeros(4, 2)), RuntimeError, r"GRUCell\(3, 5\): input has 2 features \(shape \(4, 2\)\), expected 3"),
    (lambda: nn.RNNCell(3, 5)(zeros(4, 3), zeros(3, 5)), RuntimeError, r"RNNCell\(3, 5\): expected h_0 of shape \(4, 5\), got \(3, 5\)"),
    (lambda: nn.LSTMCell(3, 5)(zeros(4, 3), (zeros(4, 5), zeros(4, 6))), RuntimeError,
     r"LSTMCell\(3, 5\): expected c_0 of shape \(4, 5\), got \(4, 6\)"),
    (lambda: nn.LSTMCell(3, 5)(zeros(3), (zeros(1, 5), zeros(1, 5))), RuntimeError,
     r"expected h_0 of shape \(5,\), got \(1, 5\)"),
])
def test_bad_input_is_refused_with_a_message(call, error, match):
    with pytest.raises(error, match=match):
        call()
