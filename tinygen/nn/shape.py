"""Layers that only reshape: Flatten and Unflatten."""
from tinygen import functional as F
from tinygen.functional.checks import normalize_dim
from tinygen.nn.module import Module


class Flatten(Module):
    """Merge dims start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)


class Unflatten(Module):
    """Split dim into `unflattened_size`: (N, 784) -> (N, 1, 28, 28) with Unflatten(1, (1, 28, 28))."""

    def __init__(self, dim, unflattened_size):
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        dim = normalize_dim(self.dim, x.ndim, "Unflatten")
        size = 1
        for n in self.unflattened_size:
            size *= n
        if x.shape[dim] != size:
            raise ValueError(f"Unflatten: dimension {dim} of {x.shape} has size {x.shape[dim]}, "
                             f"not {size} = prod{self.unflattened_size}")
        return F.reshape(x, x.shape[:dim] + self.unflattened_size + x.shape[dim + 1 :])
