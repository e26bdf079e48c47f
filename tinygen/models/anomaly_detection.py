"""Anomaly detection with an autoencoder (Geron; GANomaly's protocol): what it cannot rebuild is new.

Train an autoencoder on every digit but one (the anomaly digit k). It learns to rebuild the digits
it saw; a k it never saw is rebuilt worse. The anomaly score of an image is its reconstruction error,
    score(x) = (1/784) sum_i (x_i - x^_i)^2,
and how well the score tells the k's apart from the rest, over every threshold at once, is the area
under the ROC curve: the probability that a random k scores higher than a random other digit
(0.5 is chance, 1 a perfect separation; ties count one half).
"""
import tinygen
from tinygen import backend
from tinygen.autograd import Tensor


def reconstruction_errors(model, images, batch_size=500):
    """The score of each image (N,): its mean squared error per pixel, the model in eval mode, no graph.

    `model(x)` returns the reconstruction, or a tuple whose first item is it."""
    was_training = model.training
    model.eval()
    errors = []
    with tinygen.no_grad():
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size]
            reconstruction = model(x)
            reconstruction = reconstruction[0] if isinstance(reconstruction, tuple) else reconstruction
            difference = reconstruction.reshape(*x.shape) - x
            errors.append((difference * difference).reshape(x.shape[0], -1).mean(dim=1))
    model.train(was_training)
    return tinygen.cat(errors).numpy()


def _scores_and_labels(op, scores, is_anomaly):
    scores = scores.data if isinstance(scores, Tensor) else scores
    is_anomaly = is_anomaly.data if isinstance(is_anomaly, Tensor) else is_anomaly
    if not (backend.is_array(scores) and backend.is_array(is_anomaly)):
        raise TypeError(f"{op}: expected arrays of scores and labels, got {type(scores).__name__} and "
                        f"{type(is_anomaly).__name__}")
    if scores.ndim != 1 or scores.shape != is_anomaly.shape:
        raise ValueError(f"{op}: expected scores and labels of one shape (N,), got {scores.shape} and "
                         f"{is_anomaly.shape}")
    xp = backend.get_array_module(scores)
    if not bool(xp.isfinite(scores).all()):
        raise ValueError(f"{op}: the scores hold NaN or infinity")
    is_anomaly = is_anomaly.astype(bool)
    positives = int(is_anomaly.sum())
    if positives in (0, len(is_anomaly)):
        raise ValueError(f"{op}: the labels hold one class only ({positives} anomalies among {len(is_anomaly)}); "
                         f"the ROC curve needs both")
    return xp, scores, is_anomaly, positives


def roc_curve(scores, is_anomaly):
    """The ROC curve: false and true positive rates (fpr, tpr), from (0, 0) to (1, 1), one point per
    distinct score taken as the threshold "score >= t is an anomaly", highest first.

    Sorting by score once, the count of anomalies above each threshold is a cumulative sum."""
    return _roc_curve("roc_curve", scores, is_anomaly)


def _roc_curve(op, scores, is_anomaly):
    xp, scores, is_anomaly, positives = _scores_and_labels(op, scores, is_anomaly)
    order = xp.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], is_anomaly[order]
    last_of_each_score = xp.concatenate([xp.nonzero(xp.diff(sorted_scores))[0], xp.asarray([len(scores) - 1])])
    true_positives = xp.cumsum(sorted_labels)[last_of_each_score]
    false_positives = last_of_each_score + 1 - true_positives
    zero = xp.zeros(1)
    fpr = xp.concatenate([zero, false_positives / (len(scores) - positives)])
    tpr = xp.concatenate([zero, true_positives / positives])
    return fpr, tpr


def roc_auc(scores, is_anomaly):
    """The area under the ROC curve, by trapezoids: P(score of an anomaly > score of a normal one),
    ties counting 1/2 (a tie makes a diagonal step, whose trapezoid is that half)."""
    fpr, tpr = _roc_curve("roc_auc", scores, is_anomaly)
    return float((((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1])) / 2).sum())
