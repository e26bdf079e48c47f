"""The sample-quality metrics tell real digits from noise and from a single repeated digit."""
import json
import subprocess
import sys

import numpy as np
import pytest

from tinygen import metrics
from tinygen.data import MNIST


@pytest.fixture(scope="module")
def classifier(mnist_dir):
    model, reference, description = metrics.load_classifier(mnist_dir, verbose=False)
    return model, reference


def test_held_out_real_digits_score_high(classifier, mnist_dir):
    model, reference = classifier
    real = reference[:1000]
    probabilities, features = metrics.predict(model, real)
    labels = MNIST(mnist_dir, "test").labels[-metrics.HELD_OUT:][:1000]
    assert (probabilities.argmax(1) == labels).mean() > 0.9  # the classifier itself is good
    assert metrics.classifier_score(probabilities) > 7.5
    _, covered = metrics.class_coverage(probabilities)
    assert covered == 10
    other_half = metrics.predict(model, reference[1000:])[1]
    noise = np.random.default_rng(0).random((1000, 28, 28), dtype=np.float32)
    real_to_real = metrics.frechet_distance(features, other_half)  # > 0 only by sampling error
    noise_to_real = metrics.frechet_distance(metrics.predict(model, noise)[1], other_half)
    assert real_to_real < noise_to_real / 10


def test_noise_scores_low_and_far(classifier):
    model, reference = classifier
    noise = np.random.default_rng(0).random((1000, 28, 28), dtype=np.float32)
    probabilities, features = metrics.predict(model, noise)
    assert metrics.classifier_score(probabilities) < 2.5
    assert metrics.frechet_distance(features, metrics.predict(model, reference)[1]) > 200


def test_a_single_repeated_digit_has_coverage_one(classifier):
    model, reference = classifier
    same = np.repeat(reference[:1], 500, axis=0)
    probabilities, _ = metrics.predict(model, same)
    histogram, covered = metrics.class_coverage(probabilities)
    assert covered == 1 and max(histogram) == 500
    assert metrics.classifier_score(probabilities) == pytest.approx(1.0, abs=1e-3)


def test_frechet_distance_of_known_gaussians():
    """For Gaussians the distance has a closed form: N(0, I) vs N(m, 4I) in d dims gives |m|^2 + d."""
    rng = np.random.default_rng(0)
    d, n = 4, 200_000
    a = rng.standard_normal((n, d))
    b = 2 * rng.standard_normal((n, d)) + np.array([1.0, 0, 0, 0])
    # Tr(I + 4I - 2 (4I)^(1/2)) = d (1 + 4 - 4) = d
    assert metrics.frechet_distance(a, b) == pytest.approx(1.0 + d, rel=0.02)


def test_command_line_prints_json(classifier, mnist_dir, tmp_path):
    model, reference = classifier
    path = tmp_path / "samples.npy"
    np.save(path, reference[:300])
    done = subprocess.run([sys.executable, "-m", "tinygen.metrics", str(path), "--data-dir", str(mnist_dir)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["samples"] == 300 and result["classes_covered"] == 10


def test_samples_outside_unit_range_are_refused(mnist_dir):
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        metrics.evaluate(np.full((200, 28, 28), 2.0), mnist_dir, verbose=False)


def test_a_damaged_classifier_cache_is_trained_again(mnist_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path))
    (tmp_path / metrics.CLASSIFIER_FILE).write_bytes(b"PK\x03\x04 cut short")
    trained = []
    monkeypatch.setattr(metrics, "train_classifier", lambda *a, **k: trained.append(1) or metrics.MnistClassifier().eval())
    model, _, _ = metrics.load_classifier(mnist_dir, verbose=False)
    assert trained == [1] and isinstance(model, metrics.MnistClassifier)
    assert metrics.tinygen.load(tmp_path / metrics.CLASSIFIER_FILE)["trained_on"].startswith("MNIST")
