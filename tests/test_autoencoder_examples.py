"""The autoencoder examples and what they share (examples/autoencoders.py), on real MNIST.

Each example runs end to end for a few steps and writes the files the issue names; a run split
in two equals one run; the greedy stack leaves its first layer bit for bit as phase 1 left it.
"""
import argparse
import json
import pathlib
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))
import autoencoders  # noqa: E402  (examples/autoencoders.py)
from same_run import assert_same_run
from script_runs import run_example  # noqa: E402


def check_autoencoder_files(folder, metrics=True):
    """The files every autoencoder example writes, as the issue names them."""
    reconstructions = np.load(folder / "reconstructions.npy")
    assert reconstructions.shape == (1000, 28, 28) and reconstructions.dtype == np.float32
    assert 0 <= reconstructions.min() and reconstructions.max() <= 1
    assert (folder / "reconstructions.png").stat().st_size > 1000
    assert (folder / "curves.png").stat().st_size > 1000
    assert (folder / "checkpoint.npz").exists()
    if metrics:
        result = json.loads((folder / "metrics.json").read_text())
        assert set(result) >= {"held_out_mse", "pca_mse", "code_size", "held_out_images", "train_images"}
        assert result["held_out_images"] == 1000 and result["train_images"] == 9000
        assert result["trained_on"] == "MNIST test split" and "not comparable" in result["note"]
        assert result["judged_on"].startswith("the last 1,000 MNIST test digits (never trained on)")
        held_out = np.load(folder / "reconstructions.npy")  # the file's error is at most the model's (clipping helps)
        return result, held_out
    assert not (folder / "metrics.json").exists()
    return None, reconstructions


# ---------------------------------------------------------------------------------------------
# The shared machinery


def test_the_held_out_images_are_the_last_1000_of_the_test_split_and_never_trained_on(mnist_dir):
    from tinygen.data import MNIST

    args = argparse.Namespace(data_dir=str(mnist_dir), split="test")
    data = autoencoders.load_data(args)
    images, labels = MNIST(mnist_dir, split="test").arrays(scale="unit")
    assert data.train.shape == (9000, 1, 28, 28) and data.held_out.shape == (1000, 1, 28, 28)
    assert data.train.dtype == data.held_out.dtype == np.float32
    np.testing.assert_array_equal(data.held_out, images[-1000:])
    np.testing.assert_array_equal(data.train, images[:-1000])
    np.testing.assert_array_equal(data.held_out_labels, labels[-1000:])
    np.testing.assert_array_equal(data.train_labels, labels[:-1000])


def test_pca_mse_is_the_variance_left_out_and_zero_with_every_component():
    """On its own training data, PCA's error is the sum of the eigenvalues it leaves out, over the pixels."""
    rng = np.random.default_rng(0)
    x = (rng.random((300, 784)) * rng.random(784) ** 4).astype(np.float32)  # unequal variances per pixel
    centred = x.astype(np.float64) - x.mean(axis=0)
    eigenvalues = np.sort(np.linalg.eigvalsh(centred.T @ centred / len(x)))[::-1]
    for k in (1, 10, 100):
        assert autoencoders.pca_mse(x, x, k) == pytest.approx(eigenvalues[k:].sum() / 784, rel=1e-6)
    assert autoencoders.pca_mse(x, x, 784) < 1e-20 and autoencoders.pca_mse(x, x[:5], 1000) < 1e-20


# ---------------------------------------------------------------------------------------------
# The examples, end to end


@pytest.fixture(scope="module")
def default_six_steps(mnist_dir, tmp_path_factory):
    """(folder, stdout) of one 6-step run of autoencoder_mnist.py with its metrics: read by the test
    of the files, and what its split run must equal, made once for both."""
    folder = tmp_path_factory.mktemp("autoencoder")
    return folder, run_example("autoencoder_mnist.py", mnist_dir, folder, "--max-steps", "6")


@pytest.mark.parametrize("script,extra", [
    ("autoencoder_mnist.py", []),
    ("autoencoder_mnist.py", ["--linear", "--code-size", "6"]),
    ("stacked_autoencoder_mnist.py", ["--tied", "--epochs", "3"]),
])
def test_example_runs_and_writes_its_files(script, extra, default_six_steps, mnist_dir, tmp_path):
    if script == "autoencoder_mnist.py" and not extra:
        folder, stdout = default_six_steps
    else:
        folder, stdout = tmp_path, run_example(script, mnist_dir, tmp_path, "--max-steps", "6", *extra)
    result, _ = check_autoencoder_files(folder)
    assert result["steps"] == 6
    assert "held-out reconstruction error (MSE per pixel, 1000 images)" in stdout and "metrics:" in stdout
    if script == "autoencoder_mnist.py":
        assert (folder / "interpolation.png").stat().st_size > 1000
        assert result["code_size"] == (6 if "--linear" in extra else 32)
    else:
        assert result["code_size"] == 30 and result["tied"] is True
        assert result["parameters"] == 82_414  # 784-100-30, the weights once: 784*100 + 100*30 + biases 100+30+100+784


@pytest.mark.parametrize("script,extra", [
    ("autoencoder_mnist.py", []),
    ("stacked_autoencoder_mnist.py", ["--epochs", "3"]),
])
def test_a_run_split_in_two_equals_one_run(script, extra, default_six_steps, mnist_dir, tmp_path):
    """Stop at step 3, resume to step 6: the same weights, curves and reconstructions as 6 steps at once."""
    if script == "autoencoder_mnist.py":
        one, _ = default_six_steps  # with its metrics: the resumed run measures too
        metrics = []
    else:
        one, metrics = tmp_path / "one", ["--no-metrics"]
        run_example(script, mnist_dir, one, "--max-steps", "6", *metrics, *extra)
    split = tmp_path / "split"
    run_example(script, mnist_dir, split, "--max-steps", "3", "--no-metrics", *extra)
    stdout = run_example(script, mnist_dir, split, "--max-steps", "6", *metrics, *extra,
                         "--resume", str(split / "checkpoint.npz"))
    assert "resumed from" in stdout and "at step 3" in stdout
    check_autoencoder_files(split, metrics=not metrics)
    assert_same_run(one, split, ["reconstructions.npy"])


def test_greedy_training_leaves_the_earlier_layer_bit_identical(mnist_dir, tmp_path):
    """Batches of 1000: an epoch is 9 steps, so --epochs 3 gives phase 1 (steps 1-9), phase 2 (10-18),
    fine-tuning (19-27). Phase 2 trains the second autoencoder only: the first layer's weights (and,
    tied, its decoder's) stay bit for bit; fine-tuning then changes them."""
    def weights(step):
        run_example("stacked_autoencoder_mnist.py", mnist_dir, tmp_path, "--batch-size", "1000", "--epochs", "3",
                    "--tied", "--no-metrics", "--max-steps", str(step),
                    *(["--resume", str(tmp_path / "checkpoint.npz")] if step > 9 else []))
        saved = np.load(tmp_path / "checkpoint.npz")
        return {name.removeprefix("models/stacked/"): saved[name] for name in saved.files if name.startswith("models/")}

    phase_1, phase_2, fine_tuned = weights(9), weights(18), weights(27)
    first_layer = ["encoders.0.0.weight", "encoders.0.0.bias", "decoders.0.0.bias", "decoders.0.0.weight"]
    second_layer = ["encoders.1.0.weight", "encoders.1.0.bias", "decoders.1.0.bias"]
    for name in first_layer:
        np.testing.assert_array_equal(phase_2[name], phase_1[name], err_msg=name)
        assert not np.array_equal(fine_tuned[name], phase_2[name]), name
    for name in second_layer:
        assert not np.array_equal(phase_2[name], phase_1[name]), name
    np.testing.assert_array_equal(phase_1["decoders.0.0.weight"], phase_1["encoders.0.0.weight"])  # tied: one W


def test_the_stack_needs_an_epoch_per_phase(mnist_dir, tmp_path):
    stderr = run_example("stacked_autoencoder_mnist.py", mnist_dir, tmp_path / "run", "--epochs", "2", status=2)
    assert stderr == ("stacked_autoencoder_mnist.py: error: --epochs 2 is fewer than the 3 phases (2 layers, then "
                      "fine-tuning); use at least --epochs 3\n")
    assert not (tmp_path / "run").exists()


def test_a_fresh_run_does_not_replace_an_autoencoders_results(mnist_dir, tmp_path):
    (tmp_path / "reconstructions.npy").write_bytes(b"a user's file")
    stderr = run_example("autoencoder_mnist.py", mnist_dir, tmp_path, "--max-steps", "1", status=2)
    assert stderr.startswith(f"autoencoder_mnist.py: error: --out {tmp_path} already holds a run (reconstructions.npy); ")
    assert (tmp_path / "reconstructions.npy").read_bytes() == b"a user's file"


def test_an_interpolation_ends_at_the_reconstructions_of_its_two_images():
    import tinygen
    from tinygen.models.autoencoder import Autoencoder

    tinygen.manual_seed(0)
    model = Autoencoder(8).eval()
    images = np.random.default_rng(0).random((4, 1, 28, 28)).astype(np.float32)
    line = autoencoders.interpolate(model.encoder, model.decoder, images, "cpu", steps=5).reshape(2, 5, 28, 28)
    reconstructions = autoencoders.reconstruct(model, images, "cpu")
    np.testing.assert_allclose(line[:, 0], reconstructions[0::2], atol=1e-6)
    np.testing.assert_allclose(line[:, -1], reconstructions[1::2], atol=1e-6)
    assert not np.allclose(line[:, 2], line[:, 0], atol=1e-3)  # the middle is neither end
