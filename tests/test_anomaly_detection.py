"""Anomaly detection: the ROC curve and its area, exact against counting every pair, their errors,
and on real digits the property that defines it: trained without one digit, the reconstruction
error tells that digit apart from the others (ROC AUC well above 0.5)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygen
from tinygen.models.anomaly_detection import reconstruction_errors, roc_auc, roc_curve
from tinygen.models.autoencoder import Autoencoder

from autoencoder_training import digits, train_with_step
from autoencoder_mnist import autoencoder_step
from strategies import cheap

ANOMALY_DIGIT = 2
STEPS = 600  # batches of 32

labelled_scores = st.integers(2, 30).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, n, elements=st.integers(0, 5).map(float)),  # few values: many ties
    hnp.arrays(bool, n)).filter(lambda t: 0 < t[1].sum() < n))


def pairwise_auc(scores, is_anomaly):
    """P(anomaly's score > normal one's) + P(equal) / 2, counting every pair."""
    a, n = scores[is_anomaly], scores[~is_anomaly]
    return float(((a[:, None] > n[None, :]) + 0.5 * (a[:, None] == n[None, :])).mean())


@cheap
@given(labelled_scores)
def test_auc_is_the_probability_an_anomaly_scores_higher(case):
    scores, is_anomaly = case
    assert roc_auc(scores, is_anomaly) == pytest.approx(pairwise_auc(scores, is_anomaly), abs=1e-12)
    fpr, tpr = roc_curve(scores, is_anomaly)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert len(fpr) == len(np.unique(scores)) + 1  # one point per distinct threshold


def test_auc_of_perfect_reversed_and_tied_scores():
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    assert roc_auc(np.ones(4), labels) == 0.5


def test_roc_refuses_bad_input():
    with pytest.raises(ValueError, match=r"roc_auc: the labels hold one class only \(0 anomalies among 3\); "
                                         r"the ROC curve needs both"):
        roc_auc(np.array([0.1, 0.2, 0.3]), np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match=r"roc_curve: expected scores and labels of one shape \(N,\), got \(3,\) and \(2,\)"):
        roc_curve(np.array([0.1, 0.2, 0.3]), np.array([0, 1]))
    with pytest.raises(ValueError, match="roc_auc: the scores hold NaN or infinity"):
        roc_auc(np.array([0.1, np.nan]), np.array([0, 1]))
    with pytest.raises(TypeError, match="roc_auc: expected arrays of scores and labels, got list and ndarray"):
        roc_auc([0.1, 0.2], np.array([0, 1]))


def test_reconstruction_errors_are_each_images_mse_in_order():
    tinygen.manual_seed(0)
    model = Autoencoder(8)
    images = tinygen.rand(7, 1, 28, 28)
    errors = reconstruction_errors(model, images, batch_size=3)
    with tinygen.no_grad():
        expected = ((model(images).numpy() - images.numpy()) ** 2).reshape(7, -1).mean(axis=1)
    np.testing.assert_allclose(errors, expected, rtol=1e-6)
    assert errors.shape == (7,) and model.training  # its mode is given back


# one training of 600 steps: about 1 s on 2 idle cores
def test_trained_without_a_digit_the_reconstruction_error_finds_it(mnist_dir):
    train_images, held_out, train_labels, held_out_labels = digits(mnist_dir)
    tinygen.manual_seed(0)
    model = Autoencoder(32, hidden=[256])
    train_with_step(model, train_images[train_labels != ANOMALY_DIGIT], STEPS,
                    lambda m, opt, x: autoencoder_step(m, opt, x, "bce"))  # the example's step
    scores = reconstruction_errors(model, tinygen.tensor(held_out))
    is_anomaly = held_out_labels == ANOMALY_DIGIT
    auc = roc_auc(scores, is_anomaly)
    print(f"\ndigit {ANOMALY_DIGIT}: ROC AUC {auc:.3f}; mean score {scores[is_anomaly].mean():.4f} "
          f"against {scores[~is_anomaly].mean():.4f} ({is_anomaly.sum()} of {len(scores)} held-out images)")
    assert auc > 0.8


def test_the_loader_never_serves_the_anomaly_digit(mnist_dir, tmp_path, monkeypatch):
    """The example run for one epoch (--max-steps 16, batches of 500): every image its step is given
    is a training image of another digit, and all of those (but the last, incomplete batch) come."""
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
    import anomaly_detection_mnist

    served = []

    def recording_step(model, opt, x, loss):
        served.append(x.numpy().reshape(len(x), -1))
        return real_step(model, opt, x, loss)

    real_step = anomaly_detection_mnist.autoencoder_step
    monkeypatch.setattr(anomaly_detection_mnist, "autoencoder_step", recording_step)
    monkeypatch.setattr(sys, "argv", ["anomaly_detection_mnist.py", "--data-dir", str(mnist_dir), "--split", "test",
                                      "--out", str(tmp_path), "--batch-size", "500", "--max-steps", "16",
                                      "--no-metrics", "--anomaly-digit", "7"])
    anomaly_detection_mnist.main()
    train_images, _, train_labels, _ = digits(mnist_dir)
    key = lambda image: image.astype(np.float32).tobytes()  # noqa: E731
    sevens = {key(image) for image in train_images[train_labels == 7].reshape(-1, 784)}
    others = {key(image) for image in train_images[train_labels != 7].reshape(-1, 784)}
    served = np.concatenate(served)
    assert len(served) == 16 * 500 and len(others) // 500 == 16  # one epoch, drop_last
    assert not any(key(image) in sevens for image in served)
    assert all(key(image) in others for image in served)
    assert len({key(image) for image in served}) == len(served)  # each once in the epoch
