"""NumPy's versions of the functions the step tests work by hand (tests/test_*_step.py): written
from their formulas, never from tinygen's code, so that a test comparing with them can fail."""
import numpy as np


def sigmoid(a):
    """s(a) = 1 / (1 + e^-a)."""
    return 1 / (1 + np.exp(-a))


def softplus(a):
    """log(1 + e^a) = -log s(-a)."""
    return np.log1p(np.exp(a))


def softmax(logits):
    """e^l_k / sum_j e^l_j along each row, computed less the row's largest logit."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(logits, y):
    """The mean over the batch of -log softmax(l)_y, and its gradient dL/dl = (softmax(l) - onehot(y)) / n."""
    m = logits.max(axis=1, keepdims=True)
    log_z = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
    loss = np.mean(log_z - logits[np.arange(len(y)), y])
    grad = softmax(logits)
    grad[np.arange(len(y)), y] -= 1
    return loss, grad / len(y)
