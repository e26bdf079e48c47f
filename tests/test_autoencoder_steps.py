"""The autoencoder examples' training steps, pinned on models small enough to work by hand.

Each step is imported from its example and run once (plain SGD, float64) on a tiny fixed model
and batch; the numbers it must give are written here from the formulas, in NumPy:

  autoencoder_step (plain, linear; anomaly detection uses it too), conv_autoencoder_step:
      y = model(x), loss = mean over pixels and images of BCE(y, x) or (y - x)^2: the target is x
  recurrent_step: the model reads x as (B, 28, 28) rows, loss = mean (y - rows)^2
  sparse_step:    loss = (1/B) sum BCE_sum + beta * penalty(code), KL or L1, worked through by hand
  greedy_step:    phase i trains the i-th autoencoder on the (fixed) codes below it, nothing else moves;
                  a tied W gets the sum of both uses' gradients and one weight decay

A step that scores against the wrong target, reduces by the wrong count, forgets zero_grad or
step, puts the penalty on the wrong tensor or axis, or trains a layer outside its phase gives
other numbers; the docs (docs/autoencoders.md) list which test fails for which bug.
"""
import pathlib
import sys

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim
from tinygen.models.recurrent_autoencoder import RecurrentAutoencoder
from tinygen.models.sparse_autoencoder import SparseAutoencoder
from tinygen.models.stacked_autoencoder import StackedAutoencoder
from by_hand import sigmoid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from autoencoder_mnist import autoencoder_step  # noqa: E402
from conv_autoencoder_mnist import conv_autoencoder_step  # noqa: E402
from recurrent_autoencoder_mnist import recurrent_step  # noqa: E402
from sparse_autoencoder_mnist import sparse_step  # noqa: E402
from stacked_autoencoder_mnist import greedy_step, phase_of  # noqa: E402

LR = 0.5
PIXELS = 6


def relu(a):
    return np.maximum(a, 0)


def bce(y, x):
    """Elementwise binary cross-entropy -[x log y + (1 - x) log(1 - y)]."""
    return -(x * np.log(y) + (1 - x) * np.log(1 - y))


class Recording(nn.Module):
    """y = act(x W^T + b) along the last axis, keeping every input it was given."""

    def __init__(self, W, b, activation=None):
        super().__init__()
        self.layer = nn.Linear(W.shape[1], W.shape[0]).double()
        self.layer.weight.data[...] = W
        self.layer.bias.data[...] = b
        self.activation, self.inputs = activation, []

    def forward(self, x):
        self.inputs.append(x.numpy().copy())
        y = self.layer(x)
        return y.sigmoid() if self.activation == "sigmoid" else y


def start(seed, n=5, pixels=PIXELS):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(pixels, pixels)) / 2, rng.normal(size=pixels) / 2, rng.random((n, pixels))


def set_parameters(model, values):
    named = dict(model.named_parameters())
    for name, value in values.items():
        named[name].data[...] = value


def parameters(model):
    return {name: p.numpy().copy() for name, p in model.named_parameters()}


# ---------------------------------------------------------------------------------------------
# The plain autoencoder (undercomplete, linear, overcomplete; anomaly detection) and the conv one


def plain_step_by_hand(W, b, x, loss):
    """The loss and the weights after one SGD step, from the formulas."""
    a = x @ W.T + b
    if loss == "bce":
        y = sigmoid(a)
        value, d_a = bce(y, x).mean(), (y - x) / x.size  # d BCE / d a = y - x for a sigmoid output
    else:
        y = a
        value, d_a = ((y - x) ** 2).mean(), 2 * (y - x) / x.size
    return value, W - LR * d_a.T @ x, b - LR * d_a.sum(axis=0)


@pytest.mark.parametrize("loss,activation", [("bce", "sigmoid"), ("mse", None)])
def test_the_plain_step_rebuilds_its_input_with_the_documented_mean_loss(loss, activation):
    W, b, x = start(0)
    value, W_after, b_after = plain_step_by_hand(W, b, x, loss)
    model = Recording(W, b, activation)
    numbers = autoencoder_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x), loss)
    np.testing.assert_array_equal(model.inputs[0], x)  # fed the image itself
    assert numbers["loss"].item() == pytest.approx(value, rel=1e-12)  # scored against it, a mean over n * 6
    np.testing.assert_allclose(model.layer.weight.numpy(), W_after, rtol=1e-10)
    np.testing.assert_allclose(model.layer.bias.numpy(), b_after, rtol=1e-10)


def test_the_conv_step_is_the_mean_squared_error_to_the_input():
    W, b, x = start(1)
    value, W_after, b_after = plain_step_by_hand(W, b, x, "mse")
    model = Recording(W, b)
    numbers = conv_autoencoder_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x))
    np.testing.assert_array_equal(model.inputs[0], x)
    assert numbers["loss"].item() == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(model.layer.weight.numpy(), W_after, rtol=1e-10)
    np.testing.assert_allclose(model.layer.bias.numpy(), b_after, rtol=1e-10)


@pytest.mark.parametrize("step", ["plain", "conv"])
def test_two_steps_each_use_their_own_gradient(step):
    """A second step's update is its own batch's gradient only: one without zero_grad adds the first's."""
    W, b, x = start(2)
    x2 = np.random.default_rng(9).random(x.shape)
    loss = "bce" if step == "plain" else "mse"
    _, W1, b1 = plain_step_by_hand(W, b, x, loss)
    _, W2, b2 = plain_step_by_hand(W1, b1, x2, loss)
    model = Recording(W, b, "sigmoid" if step == "plain" else None)
    opt = optim.SGD(model.parameters(), lr=LR)
    for batch in (x, x2):
        if step == "plain":
            autoencoder_step(model, opt, tinygen.tensor(batch), loss)
        else:
            conv_autoencoder_step(model, opt, tinygen.tensor(batch))
    np.testing.assert_allclose(model.layer.weight.numpy(), W2, rtol=1e-10)
    np.testing.assert_allclose(model.layer.bias.numpy(), b2, rtol=1e-10)


def test_the_plain_step_refuses_an_unknown_loss():
    W, b, x = start(0)
    model = Recording(W, b, "sigmoid")
    with pytest.raises(ValueError, match="autoencoder_step: loss must be 'bce' or 'mse', got 'l2'"):
        autoencoder_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x), "l2")


# ---------------------------------------------------------------------------------------------
# The recurrent autoencoder


def test_the_recurrent_step_reads_rows_and_rebuilds_them():
    """A stand-in model y = rows W^T + b per row: it is given (B, 28, 28), the image's rows in order,
    and scored by the mean squared error to them, over B * 784 pixels."""
    rng = np.random.default_rng(3)
    W, b, x = rng.normal(size=(28, 28)) / 10, rng.normal(size=28) / 10, rng.random((2, 1, 28, 28))
    rows = x.reshape(2, 28, 28)
    y = rows @ W.T + b
    d_y = 2 * (y - rows) / rows.size
    model = Recording(W, b)
    numbers = recurrent_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x))
    np.testing.assert_array_equal(model.inputs[0], rows)  # row r of image n is model input [n, r]
    assert numbers["loss"].item() == pytest.approx(((y - rows) ** 2).mean(), rel=1e-12)
    np.testing.assert_allclose(model.layer.weight.numpy(), W - LR * np.einsum("nri,nrj->ij", d_y, rows), rtol=1e-10)
    np.testing.assert_allclose(model.layer.bias.numpy(), b - LR * d_y.sum(axis=(0, 1)), rtol=1e-10)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_decoder_writes_the_rows_in_forward_order(cell):
    """Row t of the image is the writing layer's state after step t (Srivastava et al. write in reverse,
    the last row first: the docs state this difference)."""
    tinygen.manual_seed(0)
    model = RecurrentAutoencoder(code_size=3, hidden_size=4, cell=cell).double()
    code = tinygen.tensor(np.random.default_rng(0).normal(size=(2, 3)))
    with tinygen.no_grad():
        images = model.decoder(code).numpy()
    decoder = model.decoder
    W_start, b_start = decoder.start.weight.numpy(), decoder.start.bias.numpy()
    h = np.tanh(code.numpy() @ W_start.T + b_start)
    c = np.zeros_like(h)
    p = {name: q.numpy() for name, q in decoder.write.named_parameters()}
    W_ih, W_hh, b_ih, b_hh = p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"]
    out_W, out_b = decoder.to_pixels.weight.numpy(), decoder.to_pixels.bias.numpy()
    x = code.numpy()
    for t in range(28):  # PyTorch's gate order: LSTM (i, f, g, o), GRU (r, z, n)
        if cell == "lstm":
            i, f, g, o = np.split(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        else:
            gx, gh = np.split(x @ W_ih.T + b_ih, 3, axis=1), np.split(h @ W_hh.T + b_hh, 3, axis=1)
            r, z = sigmoid(gx[0] + gh[0]), sigmoid(gx[1] + gh[1])
            n = np.tanh(gx[2] + r * gh[2])
            h = (1 - z) * n + z * h
        np.testing.assert_allclose(images[:, t], sigmoid(h @ out_W.T + out_b), rtol=1e-10, err_msg=f"row {t}")


# ---------------------------------------------------------------------------------------------
# The sparse autoencoder


def sparse_model(units=3, seed=4):
    rng = np.random.default_rng(seed)
    tinygen.manual_seed(0)
    model = SparseAutoencoder(units).double()
    values = {"encoder.1.weight": rng.normal(size=(units, 784)) / 10, "encoder.1.bias": rng.normal(size=units) - 1,
              "decoder.net.0.weight": rng.normal(size=(784, units)) / 2, "decoder.net.0.bias": rng.normal(size=784) / 2}
    set_parameters(model, values)
    return model, values, rng.random((4, 1, 28, 28))


def sparse_step_by_hand(values, x, penalty, beta, rho):
    """(reconstruction loss, penalty, parameters after one SGD step) from Ng's formulas."""
    W1, b1 = values["encoder.1.weight"], values["encoder.1.bias"]
    W2, b2 = values["decoder.net.0.weight"], values["decoder.net.0.bias"]
    x = x.reshape(len(x), 784)
    n = len(x)
    h = sigmoid(x @ W1.T + b1)  # the code (n, units)
    y = sigmoid(h @ W2.T + b2)
    reconstruction = bce(y, x).sum() / n  # summed over the pixels, averaged over the images
    if penalty == "kl":
        q = h.mean(axis=0)  # rho_hat_j: unit j's mean activation over the batch
        value = np.sum(rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q)))
        d_h_penalty = np.broadcast_to((-rho / q + (1 - rho) / (1 - q)) / n, h.shape)
    else:
        value = np.abs(h).sum() / n
        d_h_penalty = np.sign(h) / n
    d_a = (y - x) / n
    d_h = d_a @ W2 + beta * d_h_penalty  # the penalty enters at the code, not at the output
    d_z = d_h * h * (1 - h)
    after = {"encoder.1.weight": W1 - LR * d_z.T @ x, "encoder.1.bias": b1 - LR * d_z.sum(axis=0),
             "decoder.net.0.weight": W2 - LR * d_a.T @ h, "decoder.net.0.bias": b2 - LR * d_a.sum(axis=0)}
    return reconstruction, value, after


@pytest.mark.parametrize("penalty,beta,rho", [("kl", 3.0, 0.1), ("kl", 0.7, 0.3), ("l1", 1.0, None), ("l1", 0.2, None)])
def test_the_sparse_step_is_the_reconstruction_per_image_plus_beta_times_the_penalty(penalty, beta, rho):
    model, values, x = sparse_model()
    reconstruction, value, after = sparse_step_by_hand(values, x, penalty, beta, rho)
    numbers = sparse_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x), penalty, beta, rho)
    assert numbers["reconstruction"].item() == pytest.approx(reconstruction, rel=1e-12)
    assert numbers["penalty"].item() == pytest.approx(value, rel=1e-12)
    assert numbers["loss"].item() == pytest.approx(reconstruction + beta * value, rel=1e-12)
    for name, expected in after.items():
        np.testing.assert_allclose(dict(model.named_parameters())[name].numpy(), expected, rtol=1e-9, err_msg=name)


@pytest.mark.parametrize("penalty", ["kl", "l1"])
def test_the_penalty_moves_the_encoder_and_leaves_the_decoders_step_alone(penalty):
    """The same batch with beta 0 and beta 3: the decoder takes the same step, the encoder another."""
    steps = []
    for beta in (0.0, 3.0):
        model, _, x = sparse_model()
        sparse_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x), penalty, beta, 0.1)
        steps.append(parameters(model))
    for name in ("decoder.net.0.weight", "decoder.net.0.bias"):
        np.testing.assert_array_equal(steps[0][name], steps[1][name])
    for name in ("encoder.1.weight", "encoder.1.bias"):
        assert np.abs(steps[0][name] - steps[1][name]).max() > 1e-4, name


def test_the_kl_penalty_pulls_each_units_mean_activation_towards_rho():
    """Units firing above rho are pushed down (their bias falls), units below are pushed up, by the penalty alone."""
    model, values, x = sparse_model()
    q = sigmoid(x.reshape(4, 784) @ values["encoder.1.weight"].T + values["encoder.1.bias"]).mean(axis=0)
    rho = float(np.median(q))  # one unit above, one at, one below
    steps = []
    for beta in (0.0, 10.0):
        model, _, _ = sparse_model()
        sparse_step(model, optim.SGD(model.parameters(), lr=LR), tinygen.tensor(x), "kl", beta, rho)
        steps.append(parameters(model)["encoder.1.bias"])
    push = steps[1] - steps[0]
    assert np.all(np.sign(push[q != rho]) == -np.sign(q - rho)[q != rho]), (q, rho, push)


# ---------------------------------------------------------------------------------------------
# The stacked autoencoder, greedy and tied


def stack(tied, seed=5, sizes=(784, 3, 2)):
    """A small stack with every ReLU unit active on the batch (positive biases), and its batch."""
    rng = np.random.default_rng(seed)
    tinygen.manual_seed(0)
    model = StackedAutoencoder(sizes, tied=tied).double()
    values = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        values[f"encoders.{i}.0.weight"] = rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)
        values[f"encoders.{i}.0.bias"] = rng.random(n_out) + 1
        if not tied:
            values[f"decoders.{i}.0.weight"] = rng.normal(size=(n_in, n_out)) / np.sqrt(n_out)
        values[f"decoders.{i}.0.bias"] = rng.random(n_in) + (1 if i else -0.5)
    set_parameters(model, values)
    return model, values, rng.random((4, 1, 28, 28))


def optimisers(model, weight_decay=0.0):
    depth = len(model.encoders)
    return [optim.SGD(model.layer_parameters(i), lr=LR, weight_decay=weight_decay) for i in range(depth)] + \
           [optim.SGD(model.parameters(), lr=LR, weight_decay=weight_decay)]


@pytest.mark.parametrize("tied", [False, True])
def test_phase_1_trains_the_first_autoencoder_on_the_images_and_nothing_else(tied):
    wd = 0.01 if tied else 0.0  # tied: one weight decay on the shared W, not one per use
    model, v, x = stack(tied)
    before = parameters(model)
    numbers = greedy_step(model, optimisers(model, wd), tinygen.tensor(x), phase=0)
    flat = x.reshape(4, 784)
    W = v["encoders.0.0.weight"]
    W_dec = W.T if tied else v["decoders.0.0.weight"]
    z = flat @ W.T + v["encoders.0.0.bias"]
    c = relu(z)
    y = sigmoid(c @ W_dec.T + v["decoders.0.0.bias"])
    assert numbers["loss"].item() == pytest.approx(bce(y, flat).mean(), rel=1e-12)  # BCE to the images, mean
    d_a = (y - flat) / flat.size
    d_z = (d_a @ W_dec) * (z > 0)
    b, b_dec = v["encoders.0.0.bias"], v["decoders.0.0.bias"]
    expected = {"encoders.0.0.bias": b - LR * (d_z.sum(axis=0) + wd * b),
                "decoders.0.0.bias": b_dec - LR * (d_a.sum(axis=0) + wd * b_dec)}
    if tied:  # one tensor, two uses: the encoder's gradient plus the decoder's, transposed
        expected["encoders.0.0.weight"] = W - LR * (d_z.T @ flat + c.T @ d_a + wd * W)
    else:
        expected["encoders.0.0.weight"] = W - LR * d_z.T @ flat
        expected["decoders.0.0.weight"] = W_dec - LR * d_a.T @ c
    after = parameters(model)
    for name, value in expected.items():
        np.testing.assert_allclose(after[name], value, rtol=1e-9, err_msg=name)
    for name in after:
        if ".1." in name:  # the second autoencoder: bit for bit
            np.testing.assert_array_equal(after[name], before[name], err_msg=name)


@pytest.mark.parametrize("tied", [False, True])
def test_phase_2_rebuilds_the_first_codes_and_leaves_the_first_layer_bit_identical(tied):
    """With weight decay on: a phase that stepped any optimiser but its own would decay layer 1 too."""
    wd = 0.01
    model, v, x = stack(tied)
    before = parameters(model)
    numbers = greedy_step(model, optimisers(model, wd), tinygen.tensor(x), phase=1)
    h = relu(x.reshape(4, 784) @ v["encoders.0.0.weight"].T + v["encoders.0.0.bias"])  # the first codes, fixed
    W1 = v["encoders.1.0.weight"]
    W1_dec = W1.T if tied else v["decoders.1.0.weight"]
    z = h @ W1.T + v["encoders.1.0.bias"]
    a = relu(z) @ W1_dec.T + v["decoders.1.0.bias"]
    r = relu(a)
    assert numbers["loss"].item() == pytest.approx(((r - h) ** 2).mean(), rel=1e-12)  # MSE to the codes h
    d_a = 2 * (r - h) / h.size * (a > 0)
    d_z = (d_a @ W1_dec) * (z > 0)
    expected_W = W1 - LR * (d_z.T @ h + (relu(z).T @ d_a if tied else 0) + wd * W1)
    b, b_dec = v["encoders.1.0.bias"], v["decoders.1.0.bias"]
    after = parameters(model)
    np.testing.assert_allclose(after["encoders.1.0.weight"], expected_W, rtol=1e-9)
    np.testing.assert_allclose(after["encoders.1.0.bias"], b - LR * (d_z.sum(axis=0) + wd * b), rtol=1e-9)
    np.testing.assert_allclose(after["decoders.1.0.bias"], b_dec - LR * (d_a.sum(axis=0) + wd * b_dec), rtol=1e-9)
    if not tied:
        np.testing.assert_allclose(after["decoders.1.0.weight"], W1_dec - LR * (d_a.T @ relu(z) + wd * W1_dec), rtol=1e-9)
    for name in after:
        if ".0.0." in name:  # the first autoencoder, encoder and decoder: bit for bit
            np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    # and no gradient reached it: the first codes are fixed inputs, computed without a graph
    assert model.encoders[0][0].weight.grad is None and model.encoders[0][0].bias.grad is None


@pytest.mark.parametrize("tied", [False, True])
def test_fine_tuning_trains_the_whole_stack_end_to_end_against_the_images(tied):
    """Every parameter moves (the tied W once: a second decay or step would show in phase 1's test)."""
    model, v, x = stack(tied)
    before = parameters(model)
    numbers = greedy_step(model, optimisers(model), tinygen.tensor(x), phase=2)
    flat = x.reshape(4, 784)
    dec = {i: (v[f"encoders.{i}.0.weight"].T if tied else v[f"decoders.{i}.0.weight"]) for i in range(2)}
    h = relu(flat @ v["encoders.0.0.weight"].T + v["encoders.0.0.bias"])
    code = relu(h @ v["encoders.1.0.weight"].T + v["encoders.1.0.bias"])
    h_hat = relu(code @ dec[1].T + v["decoders.1.0.bias"])
    y = sigmoid(h_hat @ dec[0].T + v["decoders.0.0.bias"])
    assert numbers["loss"].item() == pytest.approx(bce(y, flat).mean(), rel=1e-12)
    after = parameters(model)
    for name in after:
        assert np.abs(after[name] - before[name]).max() > 1e-12, f"{name} did not move in fine-tuning"


@pytest.mark.parametrize("epochs,depth", [(3, 2), (30, 2), (7, 2), (9, 3)])
def test_the_epochs_split_evenly_between_the_phases_in_order(epochs, depth):
    phases = [phase_of(epoch, epochs, depth) for epoch in range(epochs)]
    assert phases == sorted(phases) and set(phases) == set(range(depth + 1))
    counts = np.bincount(phases)
    assert counts.max() - counts.min() <= 1  # as even as whole epochs allow
    assert phases[-1] == depth  # the last epochs fine-tune


def test_a_tied_weight_is_one_parameter_of_the_optimiser():
    model, _, _ = stack(True)
    for params in (model.parameters(), model.layer_parameters(0)):
        ids = [id(p) for p in params]
        assert len(ids) == len(set(ids))
    assert sum(p is model.encoders[0][0].weight for p in model.parameters()) == 1


@pytest.mark.parametrize("phase", [0, 1, 2])
def test_each_phase_steps_its_own_optimiser_only(phase):
    """Adam keeps a state per parameter once it steps: after a phase's step only that phase's
    optimiser has one (stepping the fine-tuning optimiser early would start its moments and its
    step count on the wrong phase's gradients)."""
    model, _, x = stack(False)
    opts = [optim.Adam(model.layer_parameters(i), lr=1e-3) for i in range(2)] + [optim.Adam(model.parameters(), lr=1e-3)]
    greedy_step(model, opts, tinygen.tensor(x), phase)
    stepped = [i for i, opt in enumerate(opts) if any(state for state in opt.state)]
    assert stepped == [phase]
