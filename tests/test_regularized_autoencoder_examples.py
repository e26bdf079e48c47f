"""The sparse, denoising and anomaly-detection examples end to end on real MNIST, for a few steps:
the files the issue names (shapes, dtypes, ranges, order), resume equals one run, and their own
options' mistakes are one line with exit status 2."""
import json
import re
import pathlib

import numpy as np
import pytest

import tinygen
from tinygen.data import MNIST
from tinygen.models.anomaly_detection import roc_auc
from tinygen.models.denoising_autoencoder import corrupt
from same_run import assert_same_run
from script_runs import run_example

REPO = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ["sparse_autoencoder_mnist.py", "denoising_autoencoder_mnist.py", "anomaly_detection_mnist.py"]


def held_out(mnist_dir):
    images, labels = MNIST(mnist_dir, split="test").arrays(scale="unit")
    return images[-1000:].reshape(-1, 28, 28), labels[-1000:]


def check_common_files(folder):
    reconstructions = np.load(folder / "reconstructions.npy")
    assert reconstructions.shape == (1000, 28, 28) and reconstructions.dtype == np.float32
    assert 0 <= reconstructions.min() and reconstructions.max() <= 1
    for picture in ("reconstructions.png", "curves.png"):
        assert (folder / picture).stat().st_size > 1000
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics) >= {"held_out_mse", "pca_mse", "code_size"}
    return metrics


def test_sparse_example_writes_codes_and_mean_activations(mnist_dir, tmp_path):
    stdout = run_example("sparse_autoencoder_mnist.py", mnist_dir, tmp_path, "--max-steps", "3", "--code-size", "50")
    metrics = check_common_files(tmp_path)
    codes = np.load(tmp_path / "codes.npy")
    assert codes.shape == (1000, 50) and codes.dtype == np.float32 and 0 <= codes.min() and codes.max() <= 1
    assert metrics["mean_activation"] == pytest.approx(float(codes.mean()), rel=1e-6)
    assert metrics["rho"] == 0.1 and metrics["penalty"] == "kl" and metrics["beta"] == 3.0
    assert (tmp_path / "mean_activation.png").stat().st_size > 1000
    assert "mean activation" in stdout


def test_denoising_example_writes_noisy_and_denoised(mnist_dir, tmp_path, noise="gaussian", level=0.5):
    run_example("denoising_autoencoder_mnist.py", mnist_dir, tmp_path, "--max-steps", "3", "--code-size", "50",
                "--noise", noise)
    metrics = check_common_files(tmp_path)
    clean, _ = held_out(mnist_dir)
    noisy, denoised = np.load(tmp_path / "noisy.npy"), np.load(tmp_path / "denoised.npy")
    for images in (noisy, denoised):
        assert images.shape == (1000, 28, 28) and images.dtype == np.float32
        assert 0 <= images.min() and images.max() <= 1
    expected = corrupt(tinygen.tensor(clean), noise, level, np.random.default_rng(20_000)).numpy()  # seed 0's draw
    np.testing.assert_array_equal(noisy, expected)
    assert metrics["noisy_mse"] == pytest.approx(float(np.mean((noisy - clean.astype(np.float64)) ** 2)))
    assert metrics["level"] == level and (tmp_path / "denoising.png").stat().st_size > 1000
    # The noise is the training step's alone: the saved model, given the clean (or the saved noisy)
    # held-out images as they are, gives reconstructions.npy (or denoised.npy), no corruption added.
    from tinygen.models.autoencoder import Autoencoder
    saved = np.load(tmp_path / "checkpoint.npz")
    model = Autoencoder(50).double()
    model.load_state_dict({name.removeprefix("models/autoencoder/"): saved[name].astype(np.float64)
                           for name in saved.files if name.startswith("models/autoencoder/")})
    model.eval()
    with tinygen.no_grad():
        for images, written in ((clean, "reconstructions.npy"), (noisy, "denoised.npy")):
            output = model(tinygen.tensor(images.reshape(-1, 1, 28, 28).astype(np.float64))).numpy()
            np.testing.assert_allclose(np.load(tmp_path / written), np.clip(output.reshape(-1, 28, 28), 0, 1),
                                       atol=1e-5, err_msg=written)


def test_anomaly_example_writes_scores_in_held_out_order(mnist_dir, tmp_path):
    run_example("anomaly_detection_mnist.py", mnist_dir, tmp_path, "--max-steps", "3", "--anomaly-digit", "7")
    metrics = check_common_files(tmp_path)
    scores = np.load(tmp_path / "anomaly_scores.npy")
    clean, labels = held_out(mnist_dir)
    reconstructions = np.load(tmp_path / "reconstructions.npy")
    assert scores.shape == (1000,) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, ((reconstructions - clean) ** 2).mean(axis=(1, 2)), rtol=1e-4)  # in order
    assert metrics["roc_auc"] == pytest.approx(roc_auc(scores, labels == 7))
    assert metrics["anomaly_digit"] == 7 and metrics["anomalies_held_out"] == int(np.sum(labels == 7))
    assert metrics["train_images"] == 9000 - int(np.sum(MNIST(mnist_dir, split="test").arrays()[1][:9000] == 7))
    assert (tmp_path / "roc.png").stat().st_size > 1000


# The resumed runs take the options the files tests above leave out: --penalty l1, --noise masking.
RESUMED = {"sparse_autoencoder_mnist.py": ["--code-size", "50", "--penalty", "l1"],
           "denoising_autoencoder_mnist.py": ["--code-size", "50", "--noise", "masking"],
           "anomaly_detection_mnist.py": []}


@pytest.mark.parametrize("script", EXAMPLES)
def test_a_run_split_in_two_equals_one_run(script, mnist_dir, tmp_path):
    """Stop at step 3, resume to step 6: the same weights, curves and outputs as 6 steps at once
    (the denoiser's noise and every batch come from the checkpointed random state)."""
    size = RESUMED[script]
    one, split = tmp_path / "one", tmp_path / "split"
    run_example(script, mnist_dir, one, "--max-steps", "6", "--no-metrics", *size)
    run_example(script, mnist_dir, split, "--max-steps", "3", "--no-metrics", *size)
    stdout = run_example(script, mnist_dir, split, "--max-steps", "6", "--no-metrics", *size,
                         "--resume", str(split / "checkpoint.npz"))
    assert "at step 3" in stdout
    denoised = ["denoised.npy"] if script == "denoising_autoencoder_mnist.py" else []
    assert_same_run(one, split, ["reconstructions.npy"] + denoised)
    # The loss's own options must be repeated on resume: another penalty or corruption is refused in one line.
    other = {"sparse_autoencoder_mnist.py": ("--penalty", "kl", "l1", "the loss depends on it"),
             "denoising_autoencoder_mnist.py": ("--noise", "gaussian", "masking", "the corruption trained on depends on it")}
    if script in other:
        option, value, saved, why = other[script]
        stderr = run_example(script, mnist_dir, split, "--max-steps", "9", "--code-size", "50", option, value,
                             "--resume", str(split / "checkpoint.npz"), status=2)
        assert stderr == (f"{script}: error: --resume {split / 'checkpoint.npz'} comes from a run with {option} {saved}, "
                          f"this one has {value}; resume with {option} {saved} ({why})\n")


@pytest.mark.parametrize("script, options, message", [
    ("sparse_autoencoder_mnist.py", ["--rho", "1"], "argument --rho: must be between 0 and 1, got 1"),
    ("sparse_autoencoder_mnist.py", ["--rho", "0"], "argument --rho: must be a positive number, got 0"),
    ("sparse_autoencoder_mnist.py", ["--penalty", "l2"], "argument --penalty: invalid choice: 'l2'"),
    ("sparse_autoencoder_mnist.py", ["--beta", "-3"], "argument --beta: must be a positive number, got -3"),
    ("denoising_autoencoder_mnist.py", ["--noise", "masking", "--level", "1.5"],
     r"--level 1.5: masking zeroes a fraction of the pixels, at most 1; give --level in \(0, 1\]"),
    ("denoising_autoencoder_mnist.py", ["--level", "0"], "argument --level: must be a positive number, got 0"),
    ("anomaly_detection_mnist.py", ["--anomaly-digit", "10"],
     "argument --anomaly-digit: must be a digit from 0 to 9, got 10"),
])
def test_a_bad_option_is_one_line_and_status_2(script, options, message, mnist_dir, tmp_path):
    stderr = run_example(script, mnist_dir, tmp_path / "out", *options, status=2)
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith(f"{script}: error: ")
    assert re.search(message, stderr), stderr
    assert not (tmp_path / "out").exists()  # nothing written
