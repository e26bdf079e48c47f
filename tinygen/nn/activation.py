"""Activation layers: thin wrappers of the functional ops, for use in Sequential."""
from tinygen import functional as F
from tinygen.functional.checks import check_real
from tinygen.nn.module import Module


class ReLU(Module):
    """y = max(x, 0)"""

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope * x"""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        check_real("LeakyReLU", "negative_slope", negative_slope)
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """y = 1 / (1 + e^-x)"""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """y = tanh x"""

    def forward(self, x):
        return F.tanh(x)


class Dropout(Module):
    """Zero each element with probability p in training (scaling the rest by 1/(1-p))."""

    def __init__(self, p=0.5):
        super().__init__()
        check_real("Dropout", "p", p)
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
