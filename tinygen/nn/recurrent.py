"""Recurrent layers: RNN, GRU, LSTM and their cells, with PyTorch's names, weight layout and gate order.

A cell is one time step (the math is in tinygen/functional/recurrent.py). The layers run it over
a sequence, step by step and layer by layer:

    input (T, N, input_size), or (N, T, input_size) with batch_first=True, or (T, input_size) unbatched
    h_0   (num_layers, N, hidden_size), zeros when not given (LSTM: the pair (h_0, c_0))
    for each layer l, for t = 1..T:   h_t^l = cell(h_t^{l-1}, h_{t-1}^l)      (h_t^0 = x_t)
    output (T, N, hidden_size): h_t of the last layer for every t;  h_n: the last h_t of every layer

The weights of layer l are weight_ih_l{l} (gates * hidden_size, input of the layer), weight_hh_l{l}
(gates * hidden_size, hidden_size), bias_ih_l{l} and bias_hh_l{l}, as in PyTorch, so a state dict
copies across. Every weight and bias starts as U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
"""
import math
import warnings

from tinygen import functional as F
from tinygen.autograd import Tensor
from tinygen.creation import zeros
from tinygen.functional.checks import check_int, check_layer_input, check_real
from tinygen.functional.recurrent import gru_step, lstm_step, rnn_step
from tinygen.nn import init
from tinygen.nn.module import Module, Parameter

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}  # rows of the weights, in units of hidden_size


def _check_sizes(where, input_size, hidden_size, nonlinearity=None):
    input_size = check_int(where, "input_size", input_size, minimum=1)
    hidden_size = check_int(where, "hidden_size", hidden_size, minimum=1)
    if nonlinearity is not None and nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{where}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return input_size, hidden_size


def _recurrent_init_(parameters, hidden_size):
    """PyTorch's default for recurrent layers: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1 / math.sqrt(hidden_size)
    for p in parameters:
        init.uniform_(p, -bound, bound)


def _states(layer, hx, count, shape, x):
    """The initial states as a tuple of `count` tensors of `shape`: zeros when hx is None.

    RNN and GRU carry one state, h; LSTM two, given as the pair (h_0, c_0). A given state must
    have the expected shape and the weights' dtype."""
    if hx is None:
        return tuple(zeros(*shape, dtype=x.dtype, device=x.device) for _ in range(count))
    if count == 2 and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
        length = f" of length {len(hx)}" if isinstance(hx, (tuple, list)) else ""
        raise TypeError(f"{layer}: hx must be a pair (h_0, c_0) of tensors, got {type(hx).__name__}{length}")
    states = tuple(hx) if count == 2 else (hx,)
    for name, state in zip(("h_0", "c_0"), states):
        if not isinstance(state, Tensor):
            raise TypeError(f"{layer}: {name} must be a Tensor, got {type(state).__name__}")
        if tuple(state.shape) != shape:
            raise RuntimeError(f"{layer}: expected {name} of shape {shape}, got {tuple(state.shape)}")
        if state.data.dtype != x.data.dtype:
            raise RuntimeError(f"{layer}: {name} has dtype {state.dtype} but the input and weights have "
                               f"{x.dtype}; convert it to {x.dtype}")
    return states


# =============================================================================================
# Cells: one time step


class RNNCellBase(Module):
    """The weights of one cell: weight_ih (gates*H, input_size), weight_hh (gates*H, H), biases (gates*H)."""

    def __init__(self, kind, input_size, hidden_size, bias, nonlinearity=None):
        super().__init__()
        where = f"{kind}Cell(input_size={input_size}, hidden_size={hidden_size})"
        self.input_size, self.hidden_size = _check_sizes(where, input_size, hidden_size, nonlinearity)
        rows = GATES[kind] * self.hidden_size
        self.weight_ih = Parameter(zeros(rows, self.input_size))
        self.weight_hh = Parameter(zeros(rows, self.hidden_size))
        self.bias_ih = Parameter(zeros(rows)) if bias else None
        self.bias_hh = Parameter(zeros(rows)) if bias else None
        _recurrent_init_(self.parameters(), self.hidden_size)

    def _batched(self, x):
        """Check the input, (N, input_size) or (input_size,) unbatched; returns it as (N, input_size)."""
        check_layer_input(self, x, self.weight_ih, self.bias_ih)
        if x.ndim not in (1, 2):
            raise ValueError(f"{self}: expected input of shape (N, {self.input_size}) or ({self.input_size},), "
                             f"got {x.ndim}-D shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{self}: input has {x.shape[-1]} features (shape {x.shape}), expected "
                               f"{self.input_size}")
        return x if x.ndim == 2 else F.unsqueeze(x, 0)

    def _initial_states(self, hx, count, x, batched):
        states = _states(self, hx, count, (x.shape[0], self.hidden_size) if batched else (self.hidden_size,), x)
        return states if batched else tuple(F.unsqueeze(s, 0) for s in states)

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias_ih is not None else ", bias=False")


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)  (nonlinearity='relu': relu instead of tanh)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        super().__init__("RNN", input_size, hidden_size, bias, nonlinearity)
        self.nonlinearity = nonlinearity

    def extra_repr(self):
        return super().extra_repr() + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")

    def forward(self, input, hx=None):
        x = self._batched(input)
        (h,) = self._initial_states(hx, 1, x, input.ndim == 2)
        h = rnn_step(x, h, *self._weights(), nonlinearity=self.nonlinearity)
        return h if input.ndim == 2 else F.reshape(h, (self.hidden_size,))


class GRUCell(RNNCellBase):
    """The GRU step (reset r, update z, candidate n): h' = (1 - z) * n + z * h. See gru_step."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__("GRU", input_size, hidden_size, bias)

    def forward(self, input, hx=None):
        x = self._batched(input)
        (h,) = self._initial_states(hx, 1, x, input.ndim == 2)
        h = gru_step(x, h, *self._weights())
        return h if input.ndim == 2 else F.reshape(h, (self.hidden_size,))


class LSTMCell(RNNCellBase):
    """The LSTM step (gates i, f, g, o): c' = f * c + i * g, h' = o * tanh(c'). Returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__("LSTM", input_size, hidden_size, bias)

    def forward(self, input, hx=None):
        x = self._batched(input)
        h, c = self._initial_states(hx, 2, x, input.ndim == 2)
        h, c = lstm_step(x, h, c, *self._weights())
        if input.ndim == 1:
            h, c = F.reshape(h, (self.hidden_size,)), F.reshape(c, (self.hidden_size,))
        return h, c


# =============================================================================================
# Layers: the cell over a whole sequence, num_layers deep


class RNNBase(Module):
    """What RNN, GRU and LSTM share: the weights of each layer, the checks, the loop over time."""

    def __init__(self, kind, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, nonlinearity=None):
        super().__init__()
        where = f"{kind}(input_size={input_size}, hidden_size={hidden_size}, num_layers={num_layers})"
        self.input_size, self.hidden_size = _check_sizes(where, input_size, hidden_size, nonlinearity)
        self.num_layers = check_int(where, "num_layers", num_layers, minimum=1)
        check_real(where, "dropout", dropout)
        if not 0 <= dropout <= 1:
            raise ValueError(f"{where}: dropout must be a probability in [0, 1], got {dropout}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{where}: dropout={dropout} acts between layers, so with num_layers=1 it does nothing",
                          stacklevel=3)
        if bidirectional:
            raise NotImplementedError(f"{where}: bidirectional=True is not implemented in tinygen")
        self.kind, self.bias, self.batch_first, self.dropout = kind, bias, bool(batch_first), dropout
        rows = GATES[kind] * self.hidden_size
        for layer in range(self.num_layers):  # set in PyTorch's order, so state dicts list the same keys
            layer_input = self.input_size if layer == 0 else self.hidden_size
            setattr(self, f"weight_ih_l{layer}", Parameter(zeros(rows, layer_input)))
            setattr(self, f"weight_hh_l{layer}", Parameter(zeros(rows, self.hidden_size)))
            setattr(self, f"bias_ih_l{layer}", Parameter(zeros(rows)) if bias else None)
            setattr(self, f"bias_hh_l{layer}", Parameter(zeros(rows)) if bias else None)
        _recurrent_init_(self.parameters(), self.hidden_size)

    def layer_weights(self, layer):
        """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer; the biases are None with bias=False."""
        return tuple(getattr(self, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def step(self, x, state, weights):
        """One time step of one layer: the new state (a tuple) from input x and the old state."""
        raise NotImplementedError

    def run(self, input, hx, count):
        """The sequence through every layer. Returns the output and the last state of each layer
        (a tuple of `count` tensors of shape (num_layers, N, hidden_size))."""
        x, batched = self._check_input(input)
        time_axis = 1 if self.batch_first else 0
        T, N = x.shape[time_axis], x.shape[1 - time_axis]
        shape = (self.num_layers, N, self.hidden_size) if batched else (self.num_layers, self.hidden_size)
        initial = _states(self, hx, count, shape, x)
        if not batched:
            initial = tuple(F.unsqueeze(s, 1) for s in initial)

        inputs = [F.getitem(x, (slice(None), t) if self.batch_first else t) for t in range(T)]  # x_1 .. x_T
        last = []
        for layer in range(self.num_layers):
            weights = self.layer_weights(layer)
            state = tuple(F.getitem(s, layer) for s in initial)
            outputs = []
            for x_t in inputs:
                state = self.step(x_t, state, weights)
                outputs.append(state[0])  # h_t
            last.append(state)
            if layer < self.num_layers - 1 and self.dropout > 0:  # dropout between layers, as in PyTorch
                outputs = [F.dropout(h, self.dropout, self.training) for h in outputs]
            inputs = outputs

        output = F.stack(inputs, dim=time_axis)
        final = tuple(F.stack([s[k] for s in last], dim=0) for k in range(count))
        if not batched:
            output = F.reshape(output, (T, self.hidden_size))
            final = tuple(F.reshape(s, shape) for s in final)
        return output, final

    def _check_input(self, x):
        """(T, N, input_size), (N, T, input_size) with batch_first, or (T, input_size) unbatched: the input
        with a batch axis (of 1 when unbatched), and whether it had one."""
        check_layer_input(self, x, self.weight_ih_l0, self.bias_ih_l0)
        layout = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
        if x.ndim not in (2, 3):
            raise ValueError(f"{self}: expected input of shape {layout} or (T, input_size) unbatched, got {x.ndim}-D "
                             f"shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{self}: input has {x.shape[-1]} features (shape {x.shape}), expected "
                               f"input_size={self.input_size}")
        batched = x.ndim == 3
        if not batched:
            x = F.unsqueeze(x, 0 if self.batch_first else 1)
        if x.shape[1 if self.batch_first else 0] == 0:
            raise RuntimeError(f"{self}: expected a sequence of at least one time step, got shape {tuple(x.shape)}")
        return x, batched

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        return text


class RNN(RNNBase):
    """Elman RNN over a sequence: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), layer by layer.

    Returns (output, h_n): output (T, N, hidden_size) holds the last layer's h_t for every t,
    h_n (num_layers, N, hidden_size) every layer's last h_t."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False):
        super().__init__("RNN", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         nonlinearity)
        self.nonlinearity = nonlinearity

    def step(self, x, state, weights):
        return (rnn_step(x, state[0], *weights, nonlinearity=self.nonlinearity),)

    def forward(self, input, hx=None):
        output, (h_n,) = self.run(input, hx, 1)
        return output, h_n


class GRU(RNNBase):
    """GRU over a sequence (see gru_step). Returns (output, h_n), shaped as RNN's."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)

    def step(self, x, state, weights):
        return (gru_step(x, state[0], *weights),)

    def forward(self, input, hx=None):
        output, (h_n,) = self.run(input, hx, 1)
        return output, h_n


class LSTM(RNNBase):
    """LSTM over a sequence (see lstm_step). hx is the pair (h_0, c_0); returns (output, (h_n, c_n))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)

    def step(self, x, state, weights):
        return lstm_step(x, *state, *weights)

    def forward(self, input, hx=None):
        output, (h_n, c_n) = self.run(input, hx, 2)
        return output, (h_n, c_n)
