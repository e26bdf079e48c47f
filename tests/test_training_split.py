"""No example trains on a test digit in its default run, and the metrics judge on digits that
nothing trained on.

What a run trains on is read from what its data loader serves (tests/served_data.py: the test
split's digits are replaced by white squares and counted in the loader's items), not from the
option's name: an example that loaded the test split, or mixed some of it in, would serve white
squares. The same count on a --split test run finds them all, so the check can fail.
"""
import json
import pathlib

import numpy as np
import pytest

from tinygen import data, metrics
from script_runs import EXAMPLES, REPO, run_python

TRAINING_EXAMPLES = sorted(path.name for path in EXAMPLES.glob("*_mnist.py"))


def served(script, mnist_dir, tmp_path, *extra):
    """What the first data loader of `examples/script`'s run serves (see tests/served_data.py)."""
    report = tmp_path / "served.json"
    status, stdout, stderr = run_python(REPO / "tests" / "served_data.py", report, EXAMPLES / script,
                                        "--data-dir", mnist_dir, "--out", tmp_path / "run", *extra)
    assert status == 0, f"{script} exited {status}:\n{stdout[-2000:]}\n{stderr[-3000:]}"
    return json.loads(report.read_text())


def test_every_mnist_example_is_checked():
    assert len(TRAINING_EXAMPLES) == 21 and "vanilla_gan_mnist.py" in TRAINING_EXAMPLES


@pytest.fixture(scope="module")
def train_labels(mnist_dir):
    return data.MNIST(root=mnist_dir, split="train").labels


@pytest.mark.parametrize("script", TRAINING_EXAMPLES)
def test_the_default_run_trains_on_the_training_digits_alone(script, train_labels, mnist_dir, tmp_path):
    found = served(script, mnist_dir, tmp_path)
    # every training digit, and nothing else; the anomaly detector leaves out its anomaly, digit 2
    expected = (train_labels != 2).sum() if script == "anomaly_detection_mnist.py" else 60_000
    assert found["items"] == expected, found
    assert found["marked"] == 0 and found["batch_marked"] == 0, found
    assert found["batch"] >= 1


@pytest.mark.parametrize("script", ["vanilla_gan_mnist.py", "vae_mnist.py", "progressive_gan_mnist.py"])
def test_the_check_finds_the_test_digits_of_a_split_test_run(script, mnist_dir, tmp_path):
    """--split test trains on test digits (the autoencoders on all but the last 1,000): the count
    finds every one, whatever the scaling, padding (the progressive GAN) or the model."""
    found = served(script, mnist_dir, tmp_path, "--split", "test")
    assert found["marked"] == found["items"] in (10_000, 9_000), found
    assert found["batch_marked"] == found["batch"]


def test_the_metrics_reference_digits_are_the_test_split_and_the_classifier_never_saw_them(mnist_dir):
    """The classifier trains on the training split; FD, score and coverage compare with the whole
    test split. Disjoint by content: no reference image equals a training image."""
    train_images, train_labels, reference, reference_labels, description = metrics.reference_data(mnist_dir)
    train = data.MNIST(root=mnist_dir, split="train")
    test = data.MNIST(root=mnist_dir, split="test")
    np.testing.assert_array_equal(train_images, train.images.astype(np.float32) / 255)
    np.testing.assert_array_equal(reference, test.images.astype(np.float32) / 255)
    np.testing.assert_array_equal(reference_labels, test.labels)
    assert description == "MNIST train split; reference: test split"
    seen = {image.tobytes() for image in train.images}  # the pixels as read, which the arrays above equal
    assert not any(image.tobytes() in seen for image in test.images)


def test_the_autoencoders_judge_on_test_digits_they_never_trained_on(mnist_dir):
    """The autoencoders' held-out figures come from the last 1,000 test digits, whatever --split."""
    import sys

    sys.path.insert(0, str(EXAMPLES))
    import autoencoders

    test = data.MNIST(root=mnist_dir, split="test")
    for split in ("train", "test"):
        args = type("Args", (), {"split": split, "data_dir": mnist_dir})()
        loaded = autoencoders.load_data(args)
        np.testing.assert_array_equal(loaded.held_out.reshape(-1, 28, 28), test.images[-1000:].astype(np.float32) / 255)
        seen = {image.tobytes() for image in loaded.train}
        assert not any(image.tobytes() in seen for image in loaded.held_out)
