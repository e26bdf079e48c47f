"""One time step of the recurrent cells: RNN, GRU and LSTM, written with tinygen ops.

Each step maps (input x_t, state h_{t-1}) to the new state h_t with PyTorch's weights and gate order:
W_ih is (gates * hidden_size, input_size), W_hh is (gates * hidden_size, hidden_size), and the
gates are stacked in the rows in the order of the formulas below (GRU: r, z, n; LSTM: i, f, g, o).
There is no backward here: a sequence is these steps applied one after another, so the autograd
graph holds every step, and its backward pass is backpropagation through time.
"""
from tinygen.functional.activation import relu, sigmoid, tanh
from tinygen.functional.matmul import linear
from tinygen.functional.shape import getitem


def gate_chunks(gates, n):
    """Split the last axis of `gates` into n equal parts: the gates stacked in a weight's rows."""
    size = gates.shape[-1] // n
    return [getitem(gates, (Ellipsis, slice(k * size, (k + 1) * size))) for k in range(n)]


def rnn_step(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """Elman RNN:  h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)   (or relu instead of tanh)"""
    pre = linear(x, weight_ih, bias_ih) + linear(h, weight_hh, bias_hh)
    return tanh(pre) if nonlinearity == "tanh" else relu(pre)


def gru_step(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Gated recurrent unit (PyTorch's form; gate order r, z, n):

        r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)       reset gate
        z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)       update gate
        n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))    candidate state
        h' = (1 - z) * n + z * h

    z near 1 keeps the old state: the gradient then flows back through h unchanged.
    """
    x_r, x_z, x_n = gate_chunks(linear(x, weight_ih, bias_ih), 3)
    h_r, h_z, h_n = gate_chunks(linear(h, weight_hh, bias_hh), 3)
    r = sigmoid(x_r + h_r)
    z = sigmoid(x_z + h_z)
    n = tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


def lstm_step(x, h, c, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Long short-term memory (gate order i, f, g, o); returns (h', c'):

        i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)       input gate
        f  = sigmoid(W_if x + b_if + W_hf h + b_hf)       forget gate
        g  = tanh(W_ig x + b_ig + W_hg h + b_hg)          candidate cell
        o  = sigmoid(W_io x + b_io + W_ho h + b_ho)       output gate
        c' = f * c + i * g
        h' = o * tanh(c')

    The cell c changes only by * f and + i * g: with f near 1 its gradient crosses many steps.
    """
    gates = linear(x, weight_ih, bias_ih) + linear(h, weight_hh, bias_hh)
    i, f, g, o = gate_chunks(gates, 4)
    c_new = sigmoid(f) * c + sigmoid(i) * tanh(g)
    h_new = sigmoid(o) * tanh(c_new)
    return h_new, c_new
