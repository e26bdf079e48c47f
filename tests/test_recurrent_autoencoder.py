"""The recurrent autoencoder: images read as sequences of 28 rows, (N, 28, 28) in and out; its
gradient, through all 56 time steps of the encoder and decoder, checked numerically; on real
digits it learns; and its example runs end to end, resuming exactly."""
import json
import pathlib

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim
import tinygen.nn.functional as F
from tinygen.data import MNIST
from tinygen.gradcheck import gradcheck
from tinygen.models.recurrent_autoencoder import RecurrentAutoencoder
from same_run import assert_same_run
import script_runs

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = "recurrent_autoencoder_mnist.py"


@pytest.mark.parametrize("cell,layer", [("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_rows_in_rows_out(cell, layer):
    tinygen.manual_seed(0)
    model = RecurrentAutoencoder(code_size=7, hidden_size=12, cell=cell)
    assert isinstance(model.encoder.read, layer) and isinstance(model.decoder.write, layer)
    images = tinygen.rand(5, 28, 28)
    code = model.encoder(images)
    assert code.shape == (5, 7)
    out = model(images)
    assert out.shape == (5, 28, 28)
    assert 0 <= out.numpy().min() and out.numpy().max() <= 1
    np.testing.assert_array_equal(model(images.reshape(5, 1, 28, 28)).numpy(), out.numpy())  # (N, 1, 28, 28) too
    with pytest.raises(ValueError, match=r"RecurrentAutoencoder: cell must be one of \['gru', 'lstm'\], got 'rnn'"):
        RecurrentAutoencoder(cell="rnn")


def test_the_code_depends_on_the_first_row():
    """The encoder reads all 28 rows before its code: change only row 1 and the code changes (a
    model that looked at the last rows only, or lost its state between steps, would not notice).
    Untrained, the first row's trace in the code is faint, about 1e-6 (each step keeps only a part
    of the state): the reason why training first draws the mean digit for every image."""
    tinygen.manual_seed(1)
    model = RecurrentAutoencoder(code_size=5, hidden_size=8)
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    images = np.random.default_rng(1).random((2, 28, 28))
    changed = images.copy()
    changed[:, 0] = 1 - changed[:, 0]
    a, b = model.encoder(tinygen.Tensor(images)).numpy(), model.encoder(tinygen.Tensor(changed)).numpy()
    assert 1e-10 < np.abs(a - b).max() < 1e-3


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradient_through_both_sequences(cell):
    """Backpropagation through time, end to end: the loss on the reconstruction, differentiated
    with respect to weights of the first layer (its gradient crosses all 28 encoder steps and the
    decoder), the code and the decoder's recurrence, compared with central differences."""
    tinygen.manual_seed(2)
    model = RecurrentAutoencoder(code_size=2, hidden_size=3, cell=cell)
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    images = tinygen.Tensor(np.random.default_rng(2).random((1, 28, 28)))
    checked = [model.encoder.read.bias_hh_l0, model.encoder.to_code.bias, model.decoder.write.weight_hh_l0]
    assert gradcheck(lambda *_: F.mse_loss(model(images), images), checked)


def train_on_real_digits(mnist_dir, steps, batch_size, lr, held_out=1000, hidden_size=100):
    """The model trained for `steps` on the first 9,000 test images; returns the error on held-out
    images (`held_out` of the last 1,000) before and after, and the error of drawing the training
    mean image."""
    images = MNIST(root=mnist_dir, split="test").arrays(scale="unit")[0].reshape(-1, 28, 28)
    train, held_out = images[:-1000], images[-1000:][:held_out]
    tinygen.manual_seed(3)
    model = RecurrentAutoencoder(hidden_size=hidden_size)
    opt = optim.Adam(model.parameters(), lr=lr)

    def held_out_mse():
        with tinygen.no_grad():
            return float(((model(tinygen.Tensor(held_out)).numpy() - held_out) ** 2).mean())

    before = held_out_mse()
    rng = np.random.default_rng(3)
    for _ in range(steps):
        x = tinygen.Tensor(train[rng.choice(len(train), batch_size, replace=False)])
        loss = F.mse_loss(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, held_out_mse(), float(((held_out - train.mean(axis=0)) ** 2).mean())


def test_it_learns_real_digits(mnist_dir):
    """Fifteen steps take the held-out error from the untrained model's (grey everywhere) to less
    than half of it (the mean digit's neighbourhood, where this model's training first goes)."""
    before, after, _ = train_on_real_digits(mnist_dir, steps=15, batch_size=32, lr=1e-2, held_out=100, hidden_size=32)
    assert after < 0.5 * before, (before, after)


@pytest.mark.slow
def test_the_code_carries_the_digit(mnist_dir):
    """After 2,000 steps (about two minutes) the held-out error is well below that of drawing the mean
    digit for every image: the decoder uses what the code says about each image (a decoder that
    ignored its code could do no better than the mean)."""
    _, after, mean_digit = train_on_real_digits(mnist_dir, steps=2000, batch_size=32, lr=2e-3)
    assert after < 0.7 * mean_digit, (after, mean_digit)


# =============================================================================================
# The example, end to end


def run_example(mnist_dir, out, *extra):
    return script_runs.run_example(SCRIPT, mnist_dir, out, "--batch-size", "16", "--hidden", "16", *extra)


@pytest.fixture(scope="module")
def four_steps(mnist_dir, tmp_path_factory):
    """(folder, stdout) of one 4-step run with a GRU and the metrics: read by the test of the files,
    and what the split run must equal, made once for both."""
    folder = tmp_path_factory.mktemp("recurrent")
    return folder, run_example(mnist_dir, folder, "--max-steps", "4", "--cell", "gru")


def test_example_runs_and_writes_its_files(four_steps):
    folder, stdout = four_steps
    reconstructions = np.load(folder / "reconstructions.npy")
    assert reconstructions.shape == (1000, 28, 28) and reconstructions.dtype == np.float32
    assert 0 <= reconstructions.min() and reconstructions.max() <= 1
    for picture in ("reconstructions.png", "curves.png", "rows.png"):
        assert (folder / picture).stat().st_size > 1000, picture
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["code_size"] == 30 and metrics["steps"] == 4 and len(metrics["row_mse"]) == 28
    assert 0 < metrics["pca_mse"] < metrics["held_out_mse"]  # four steps have not beaten PCA
    assert "GRU(28, 16, batch_first=True)" in stdout


def test_a_run_split_in_two_equals_one_run(four_steps, mnist_dir, tmp_path):
    one, _ = four_steps
    run_example(mnist_dir, tmp_path, "--max-steps", "2", "--no-metrics", "--cell", "gru")
    stdout = run_example(mnist_dir, tmp_path, "--max-steps", "4", "--cell", "gru", "--resume", str(tmp_path / "checkpoint.npz"))
    assert "resumed from" in stdout and "at step 2" in stdout
    assert_same_run(one, tmp_path, ["reconstructions.npy"])


@pytest.mark.parametrize("option,value,message", [
    ("--cell", "rnn", "argument --cell: invalid choice: 'rnn'"),
    ("--code-size", "0", "argument --code-size: must be at least 1, got 0"),
    ("--hidden", "1.5", "argument --hidden: expected a whole number, got '1.5'"),
])
def test_bad_options_are_one_line(tmp_path, option, value, message):
    status, _, stderr = script_runs.run_python(REPO / "examples" / SCRIPT, option, value, "--out", tmp_path / "run")
    assert status == 2 and "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.startswith(f"{SCRIPT}: error: "), stderr
    assert message in stderr, stderr
    assert not (tmp_path / "run").exists()
