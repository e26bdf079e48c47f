"""The convolutional autoencoder (tinygen/models/conv_autoencoder.py) and its example.

Its defining properties (CATALOG.md): the shapes of every stage, 28 -> 14 -> 7 and back to 28
exactly, and the adjointness of convolution and transposed convolution, the identity its decoder
rests on: <conv2d(x, W), y> = <x, conv_transpose2d(y, W)> for the same W, stride and padding.
Then the example end to end on real digits: its files, resume equal to one run, one-line errors.
"""
import json
import pathlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from strategies import medium
from tinygen.models.conv_autoencoder import ConvAutoencoder
from same_run import assert_same_run
import script_runs

REPO = pathlib.Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# The network


def stage_shapes(sequential, x):
    """The output shape after each layer of a Sequential."""
    shapes = []
    for layer in sequential:
        x = layer(x)
        shapes.append(tuple(x.shape))
    return shapes


@pytest.mark.parametrize("decoder", ["transposed", "upsample"])
def test_the_shapes_of_every_stage_are_those_of_the_comment_block(decoder):
    model = ConvAutoencoder(code_size=12, decoder=decoder)
    x = tg.rand(3, 1, 28, 28)
    assert stage_shapes(model.encoder.net, x) == [
        (3, 16, 28, 28), (3, 16, 28, 28), (3, 16, 14, 14),
        (3, 32, 14, 14), (3, 32, 14, 14), (3, 32, 7, 7),
        (3, 1568), (3, 12),
    ]
    up = {"transposed": [(3, 16, 14, 14), (3, 16, 14, 14), (3, 1, 28, 28)],
          "upsample": [(3, 32, 14, 14), (3, 16, 14, 14), (3, 16, 14, 14), (3, 16, 28, 28), (3, 1, 28, 28)]}[decoder]
    assert stage_shapes(model.decoder.net, model.encoder(x)) == [(3, 1568), (3, 1568), (3, 32, 7, 7), *up,
                                                                 (3, 1, 28, 28)]
    y = model(x).numpy()
    assert y.shape == (3, 1, 28, 28) and 0 < y.min() and y.max() < 1  # a sigmoid's pixels
    convolutions = (16 * 9 + 16) + (32 * 16 * 9 + 32) + (16 * 32 * 9 + 16) + (1 * 16 * 9 + 1)
    linears = (1568 * 12 + 12) + (12 * 1568 + 1568)
    assert sum(p.numel() for p in model.parameters()) == convolutions + linears


def test_both_decoders_have_the_same_parameters_and_a_bad_one_is_named():
    """A transposed convolution and an upsampling followed by a convolution hold weights of one size
    (in, out, 3, 3) against (out, in, 3, 3): the comparison of the two decoders is fair."""
    shapes = {d: [tuple(p.shape) for p in ConvAutoencoder(decoder=d).decoder.parameters()] for d in
              ("transposed", "upsample")}
    assert sorted(np.prod(s) for s in shapes["transposed"]) == sorted(np.prod(s) for s in shapes["upsample"])
    with pytest.raises(ValueError, match="ConvDecoder: decoder must be one of \\('transposed', 'upsample'\\), "
                                         "got 'bilinear'"):
        ConvAutoencoder(decoder="bilinear")


@medium
@given(st.integers(0, 2**31), st.integers(1, 3), st.integers(0, 1), st.integers(2, 4), st.integers(1, 3),
       st.integers(0, 5))
def test_convolution_and_transposed_convolution_are_adjoint(seed, stride, padding, kernel, channels, more):
    """<conv2d(x, W), y> = <x, conv_transpose2d(y, W)>: the decoder's transposed convolutions are the
    encoder's convolutions run backwards. Several input sizes give one output size under a stride;
    output_padding says which: the rows the last window left over."""
    rng = np.random.default_rng(seed)
    size = kernel + more
    x = rng.standard_normal((2, channels, size, size))
    weight = rng.standard_normal((3, channels, kernel, kernel))
    forward = F.conv2d(tg.tensor(x), tg.tensor(weight), stride=stride, padding=padding).numpy()
    y = rng.standard_normal(forward.shape)
    left_over = (size + 2 * padding - kernel) % stride
    back = F.conv_transpose2d(tg.tensor(y), tg.tensor(weight), stride=stride, padding=padding,
                              output_padding=left_over).numpy()
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(forward * y), np.sum(x * back), rtol=1e-10)


def test_the_models_own_layers_are_adjoint():
    """The encoder's second convolution (stride 1 here, then pooling) and the decoder's first transposed
    convolution (stride 2): each, with the other's weight layout, is its adjoint at the model's sizes."""
    model = ConvAutoencoder()
    rng = np.random.default_rng(0)
    up = model.decoder.net[3]  # ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1): 7 -> 14
    x = tg.tensor(rng.standard_normal((2, 32, 7, 7)).astype(np.float32))
    y = tg.tensor(rng.standard_normal((2, 16, 14, 14)).astype(np.float32))
    forward = F.conv_transpose2d(x, up.weight, None, 2, 1, 1)
    adjoint = F.conv2d(y, up.weight, None, 2, 1)  # the weight (32, 16, 3, 3) read as Conv2d(16, 32)'s
    assert forward.shape == y.shape and adjoint.shape == x.shape
    np.testing.assert_allclose(float((forward * y).sum().item()), float((x * adjoint).sum().item()), rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# The example, end to end on real digits


def run_example(mnist_dir, out, *extra, status=0):
    return script_runs.run_example("conv_autoencoder_mnist.py", mnist_dir, out, *extra, status=status)


@pytest.fixture(scope="module")
def four_steps(mnist_dir, tmp_path_factory):
    """(folder, stdout) of one 4-step run with the default decoder and the metrics: read by the
    test of the files, and what the split run must equal, made once for both."""
    folder = tmp_path_factory.mktemp("conv_autoencoder")
    return folder, run_example(mnist_dir, folder, "--max-steps", "4")


@pytest.mark.parametrize("decoder", ["transposed", "upsample"])
def test_example_runs_and_writes_its_files(decoder, four_steps, mnist_dir, tmp_path):
    if decoder == "transposed":  # the default
        folder, stdout = four_steps
    else:
        folder, stdout = tmp_path, run_example(mnist_dir, tmp_path, "--max-steps", "4", "--decoder", decoder)
    reconstructions = np.load(folder / "reconstructions.npy")
    assert reconstructions.shape == (1000, 28, 28) and reconstructions.dtype == np.float32
    assert 0 <= reconstructions.min() and reconstructions.max() <= 1
    for picture in ("reconstructions.png", "curves.png", "feature_maps.png"):
        assert (folder / picture).stat().st_size > 1000, picture
    result = json.loads((folder / "metrics.json").read_text())
    assert result["steps"] == 4 and result["code_size"] == 32 and result["decoder"] == decoder
    assert result["held_out_images"] == 1000 and result["train_images"] == 9000
    assert 0 < result["pca_mse"] < result["held_out_mse"]  # 4 steps are far from PCA's error
    assert "held-out reconstruction error (MSE per pixel, 1000 images)" in stdout


def test_a_run_split_in_two_equals_one_run(four_steps, mnist_dir, tmp_path):
    one, _ = four_steps
    run_example(mnist_dir, tmp_path, "--max-steps", "2", "--no-metrics")
    stdout = run_example(mnist_dir, tmp_path, "--max-steps", "4", "--resume", str(tmp_path / "checkpoint.npz"))
    assert "resumed from" in stdout and "at step 2" in stdout
    assert_same_run(one, tmp_path, ["reconstructions.npy"])


def test_each_decoder_has_its_own_default_budget_and_epochs_overrides_it(mnist_dir, tmp_path):
    """12 epochs for the transposed decoder, 6 for the upsampling one (twice as slow a step): each
    default run ends within 10 minutes on the training digits."""
    epochs = lambda n, *extra: script_runs.epochs_of_a_run("conv_autoencoder_mnist.py", mnist_dir, tmp_path / str(n), *extra)
    assert (epochs(0), epochs(1, "--decoder", "upsample"), epochs(2, "--decoder", "upsample", "--epochs", "3")) == (12, 6, 3)


@pytest.mark.parametrize("extra, message", [
    (["--decoder", "bilinear"], "argument --decoder: invalid choice: 'bilinear' (choose from 'transposed', 'upsample')"),
    (["--code-size", "0"], "argument --code-size:"),
])
def test_a_bad_option_is_one_line(extra, message, mnist_dir, tmp_path):
    stderr = run_example(mnist_dir, tmp_path / "out", *extra, status=2)
    assert message in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out").exists()
