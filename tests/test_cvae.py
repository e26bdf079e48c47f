"""The conditional VAE (tinygen/models/cvae.py) and its example (examples/cvae_mnist.py).

The model's shapes, and that the label reaches both halves; that the training target is the image
alone (the catalogue's pitfall: the label leaking into it); the example end to end for a few steps
with the files the issue names, a run split in two equal to one run, its mistakes one line. On real
digits (slow): after a short training, decode(z, c) for fixed codes z is read as digit c by
tinygen's classifier, far above chance, where a decoder blind to the label cannot be.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tinygen
from tinygen.data import MNIST
from tinygen.models.cvae import CVAE
from tinygen.models.vae import vae_loss
from same_run import assert_same_run
import script_runs

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))
import common  # noqa: E402  (examples/common.py)
import cvae_mnist  # noqa: E402  (examples/cvae_mnist.py)


def batch(n=4, seed=0):
    """n random images (n, 1, 28, 28) in [0, 1] and labels 0, 1, 2, ... (mod 10)."""
    images = np.random.default_rng(seed).random((n, 1, 28, 28)).astype(np.float32)
    return tinygen.tensor(images), tinygen.tensor(np.arange(n) % 10)


# ---------------------------------------------------------------------------------------------
# The model


def test_cvae_shapes():
    tinygen.manual_seed(0)
    model = CVAE(latent_dim=7)
    x, y = batch(5)
    reconstruction, mu, logvar = model(x, y)
    assert reconstruction.shape == (5, 784) and mu.shape == logvar.shape == (5, 7)
    assert 0 <= reconstruction.numpy().min() and reconstruction.numpy().max() <= 1  # sigmoid: pixel probabilities
    assert model.decode(tinygen.randn(3, 7), np.array([0, 5, 9])).shape == (3, 784)
    assert model.encoder[0].weight.shape == (400, 784 + 10)  # the image joined with the one-hot label
    assert model.decoder[0].weight.shape == (400, 7 + 10)  # the code joined with the one-hot label


def test_the_label_reaches_the_encoder_and_the_decoder():
    tinygen.manual_seed(0)
    model = CVAE()
    x, _ = batch(1)
    z = tinygen.randn(1, 5)
    with tinygen.no_grad():
        mus = [model.encode(x, np.array([k]))[0].numpy() for k in (3, 4)]
        images = [model.decode(z, np.array([k])).numpy() for k in (3, 4)]
    assert not np.allclose(*mus, atol=1e-4) and not np.allclose(*images, atol=1e-4)


@pytest.mark.parametrize("where", ["encode", "decode"])
def test_one_label_per_image_or_code(where):
    model = CVAE(latent_dim=7)
    row = {"encode": "image", "decode": "code"}[where]
    inputs = batch(4)[0] if where == "encode" else tinygen.randn(4, 7)
    with pytest.raises(ValueError, match=rf"CVAE.{where}: expected one label per {row}, got 3 labels for 4 {row}s"):
        getattr(model, where)(inputs, np.array([0, 1, 2]))
    with pytest.raises(RuntimeError, match=r"one_hot: labels must be in \[0, 10\) for num_classes=10, got range \[0, 10\]"):
        getattr(model, where)(inputs, np.array([0, 1, 2, 10]))


def test_the_training_target_is_the_image_alone(mnist_dir, tmp_path, monkeypatch):
    """The example's own step, run in this process for 2 steps: every loss it computes (the training
    steps', the held-out ELBO's) is vae_loss against the very image tensor the model was given, with
    784 pixels a row and no label in it. The label goes in through model(x, y), never into the target."""
    given, targets = [], []

    class RecordingCVAE(CVAE):
        def forward(self, x, labels):
            given.append(x)
            return super().forward(x, labels)

    def recording_vae_loss(reconstruction, x, mu, logvar):
        targets.append(x)
        return vae_loss(reconstruction, x, mu, logvar)

    monkeypatch.setattr(cvae_mnist, "CVAE", RecordingCVAE)
    monkeypatch.setattr(cvae_mnist, "vae_loss", recording_vae_loss)
    monkeypatch.setattr(sys, "argv", ["cvae_mnist.py", "--data-dir", str(mnist_dir), "--split", "test", "--out",
                                      str(tmp_path), "--batch-size", "32", "--max-steps", "2", "--no-metrics"])
    cvae_mnist.main()
    assert len(targets) == len(given) == 2 + 2  # two training steps, then the held-out images in two batches of 500
    for target, x in zip(targets, given):
        assert target is x
    assert [t.shape for t in targets] == [(32, 1, 28, 28)] * 2 + [(500, 1, 28, 28)] * 2
    held_out = MNIST(mnist_dir, split="test").arrays(scale="unit")[0][-1000:]
    np.testing.assert_array_equal(np.concatenate([t.numpy() for t in targets[2:]]), held_out)


# ---------------------------------------------------------------------------------------------
# The class accuracy of decoded digits


def test_class_accuracy_reads_real_digits_and_cannot_credit_a_decoder_blind_to_the_label(mnist_dir):
    """Real held-out digits arranged by class score near 1; a "decoder" that ignores the label
    (the same image in every row, here real digits too) scores at most 1/10: each column is one
    image, read as one digit, right for one row at most."""
    images, labels = MNIST(mnist_dir, split="test").arrays(scale="unit")
    images, labels = images[-1000:, 0], labels[-1000:]
    by_class = np.stack([images[labels == k][:50] for k in range(10)])  # (10, 50, 28, 28): row k is real k's
    right = cvae_mnist.class_accuracy(by_class, mnist_dir)
    assert right["class_accuracy"] > 0.9 and min(right["class_accuracy_per_digit"]) > 0.7
    assert right["class_accuracy"] == pytest.approx(np.mean(right["class_accuracy_per_digit"]))
    blind = cvae_mnist.class_accuracy(np.stack([images[:50]] * 10), mnist_dir)
    assert blind["class_accuracy"] <= 0.1


# ---------------------------------------------------------------------------------------------
# The example end to end


def run_example(mnist_dir, out, *extra, status=0):
    """stdout (or, with status != 0, stderr) of cvae_mnist.py on the test split, batch 32."""
    return script_runs.run_example("cvae_mnist.py", mnist_dir, out, *extra, status=status)


@pytest.fixture(scope="module")
def runs(mnist_dir, tmp_path_factory):
    """Six steps in one run (with the metrics), and three steps then three more resumed (without)."""
    one, split = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("split")
    stdout = run_example(mnist_dir, one, "--max-steps", "6")
    run_example(mnist_dir, split, "--max-steps", "3", "--no-metrics")
    resumed = run_example(mnist_dir, split, "--max-steps", "6", "--no-metrics", "--resume", split / "checkpoint.npz")
    assert "resumed from" in resumed and "at step 3" in resumed
    return one, split, stdout


def model_of(folder):
    """The CVAE of a run's checkpoint."""
    model = CVAE()
    saved = tinygen.load(folder / "checkpoint.npz")
    model.load_state_dict(saved["models"]["cvae"])
    return model.eval()


def test_the_example_writes_its_files(runs):
    one, _, stdout = runs
    for name in ("reconstructions.npy", "samples.npy"):
        images = np.load(one / name)
        assert images.shape == (1000, 28, 28) and images.dtype == np.float32, name
        assert 0 <= images.min() and images.max() <= 1, name
    by_class = np.load(one / "samples_by_class.npy")
    assert by_class.shape == (10, 100, 28, 28) and by_class.dtype == np.float32
    assert 0 <= by_class.min() and by_class.max() <= 1
    for picture in ("reconstructions.png", "curves.png", "samples_by_class.png"):
        assert (one / picture).stat().st_size > 1000, picture
    result = json.loads((one / "metrics.json").read_text())
    assert result["steps"] == 6 and result["code_size"] == 5 and result["held_out_images"] == 1000
    assert result["held_out_negative_elbo"] > result["held_out_kl"] > 0
    assert len(result["class_accuracy_per_digit"]) == 10
    assert result["class_accuracy"] == pytest.approx(np.mean(result["class_accuracy_per_digit"]))
    assert result["samples"] == 1000 and {"classifier_score", "frechet_distance", "classes_covered"} <= set(result)
    assert "held-out negative ELBO:" in stdout and "class accuracy of decode(z, k)" in stdout


def test_the_samples_are_the_decoded_codes_the_issue_names(runs):
    """samples_by_class[k] decodes the same 100 codes with label k (the code held fixed, the digit
    varied); samples.npy decodes 1000 prior draws, 100 with each label 0..9, in that order."""
    one, _, _ = runs
    model = model_of(one)
    codes = common.fixed_noise(100, 5, 0 + 2, "cpu").numpy()  # --seed 0
    draws = common.fixed_noise(1000, 5, 0 + 1, "cpu")
    with tinygen.no_grad():
        expected = np.stack([model.decode(tinygen.tensor(codes), np.full(100, k)).numpy() for k in range(10)])
        samples = model.decode(draws, np.repeat(np.arange(10), 100)).numpy()
    np.testing.assert_allclose(np.load(one / "samples_by_class.npy"), expected.reshape(10, 100, 28, 28), atol=1e-6)
    np.testing.assert_allclose(np.load(one / "samples.npy"), samples.reshape(1000, 28, 28), atol=1e-6)


def test_the_reconstructions_decode_each_images_code_mean_with_its_label(runs, mnist_dir):
    one, _, _ = runs
    model = model_of(one)
    images, labels = MNIST(mnist_dir, split="test").arrays(scale="unit")
    x, y = tinygen.tensor(images[-1000:]), labels[-1000:]
    with tinygen.no_grad():
        expected = model.decode(model.encode(x, y)[0], y).numpy().reshape(1000, 28, 28)
    np.testing.assert_allclose(np.load(one / "reconstructions.npy"), np.clip(expected, 0, 1), atol=1e-6)


def test_a_run_split_in_two_equals_one_run(runs):
    one, split, _ = runs
    assert_same_run(one, split, ["reconstructions.npy", "samples.npy", "samples_by_class.npy"])
    assert not (split / "metrics.json").exists()  # --no-metrics


def test_resuming_with_another_code_size_is_one_line(runs, mnist_dir):
    _, split, _ = runs
    stderr = run_example(mnist_dir, split, "--max-steps", "9", "--latent", "8", "--resume", split / "checkpoint.npz",
                         status=2)
    assert stderr.startswith(f"cvae_mnist.py: error: --resume {split / 'checkpoint.npz'} comes from a run with --latent ")
    assert ", this one has 8; resume with --latent " in stderr
    assert stderr.endswith("(the checkpoint's run was trained with it; for another value, start a new run)\n")
    assert stderr.count("\n") == 1 and "Traceback" not in stderr


def test_a_bad_code_size_is_one_line(mnist_dir, tmp_path):
    stderr = run_example(mnist_dir, tmp_path / "run", "--latent", "0", status=2)
    assert stderr == "cvae_mnist.py: error: argument --latent: must be at least 1, got 0; see cvae_mnist.py --help\n"
    assert not (tmp_path / "run").exists()


def test_a_fresh_run_does_not_replace_a_users_samples_by_class(mnist_dir, tmp_path):
    (tmp_path / "samples_by_class.npy").write_bytes(b"a user's file")
    stderr = run_example(mnist_dir, tmp_path, "--max-steps", "1", status=2)
    assert stderr.startswith(f"cvae_mnist.py: error: --out {tmp_path} already holds a run (samples_by_class.npy); ")
    assert (tmp_path / "samples_by_class.npy").read_bytes() == b"a user's file"


# ---------------------------------------------------------------------------------------------
# On real digits (slow)


@pytest.mark.slow
def test_a_trained_cvae_draws_the_digit_it_is_asked_for(mnist_dir, tmp_path):
    """The example with its default settings (code 5, label at 10, Adam 3e-3, batch 128, 40 epochs) on
    the 9,000 training images of the test split: decode(z, k) for 100 fixed codes z and k = 0..9 is
    read as k by tinygen's classifier at least 95% of the time, and at least 85% for every digit
    (measured: 0.99, the worst digit 0.95), against 10% by chance. "No doubt which digit was asked
    for" is that 0.95. The same check fails a decoder blind to the label (the trained one with the
    label's weights zeroed: at most 10%, each code gives one digit) and an untrained CVAE."""
    command = [sys.executable, str(REPO / "examples" / "cvae_mnist.py"), "--data-dir", str(mnist_dir), "--split",
               "test", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    trained = json.loads((tmp_path / "metrics.json").read_text())
    print(f"\ntrained CVAE, defaults: class accuracy {trained['class_accuracy']:.3f} "
          f"(per digit {trained['class_accuracy_per_digit']})")
    assert trained["class_accuracy"] >= 0.95 and min(trained["class_accuracy_per_digit"]) >= 0.85, done.stdout[-2000:]

    args = argparse.Namespace(seed=0, device="cpu")
    model = CVAE()
    latent = model.latent_dim
    model.load_state_dict(tinygen.load(tmp_path / "checkpoint.npz")["models"]["cvae"])
    np.testing.assert_array_equal(cvae_mnist.draw_by_class(model, latent, args), np.load(tmp_path / "samples_by_class.npy"))
    with tinygen.no_grad():
        model.decoder[0].weight.data[:, latent:] = 0  # the columns that read the one-hot label
    blind = cvae_mnist.class_accuracy(cvae_mnist.draw_by_class(model, latent, args), mnist_dir)["class_accuracy"]
    tinygen.manual_seed(0)
    untrained = cvae_mnist.class_accuracy(cvae_mnist.draw_by_class(CVAE(), latent, args), mnist_dir)
    print(f"blind to the label: {blind:.3f}; untrained: {untrained['class_accuracy']:.3f}")
    assert blind <= 0.1 and untrained["class_accuracy"] < 0.3
