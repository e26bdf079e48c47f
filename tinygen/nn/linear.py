"""The fully connected layer."""
import math

from tinygen import functional as F
from tinygen.creation import zeros
from tinygen.functional.checks import check_int, check_layer_input
from tinygen.nn import init
from tinygen.nn.module import Module, Parameter


def default_init_(weight, bias, fan_in):
    """PyTorch's default for Linear and Conv layers: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    (PyTorch writes it as kaiming_uniform_(a=sqrt(5)), which comes to the same bound.)
    """
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    init.uniform_(weight, -bound, bound)
    if bias is not None:
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x W^T + b, with W of shape (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        where = f"Linear(in_features={in_features}, out_features={out_features})"
        in_features = check_int(where, "in_features", in_features, minimum=0)  # 0 is allowed, as in PyTorch
        out_features = check_int(where, "out_features", out_features, minimum=0)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(zeros(out_features, in_features))
        self.bias = Parameter(zeros(out_features)) if bias else None
        default_init_(self.weight, self.bias, in_features)

    def forward(self, x):
        check_layer_input(self, x, self.weight, self.bias)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self}: expected input of shape (..., {self.in_features}), got {x.shape}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    def forward(self, x):
        return x
