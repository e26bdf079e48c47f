"""Layers that only reshape: Flatten and Unflatten."""
from tinygen import functional as F
from tinygen.functional.checks import check_int, normalize_dim
from tinygen.nn.module import Module


class Flatten(Module):
    """Merge dims start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)


class Unflatten(Module):
    """Split dim into `unflattened_size`: (N, 784) -> (N, 1, 28, 28) with Unflatten(1, (1, 28, 28)).

    One size may be -1: it is whatever the others leave, as in PyTorch.
    """

    def __init__(self, dim, unflattened_size):
        super().__init__()
        where = f"Unflatten({dim}, {unflattened_size!r})"
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"{where}: unflattened_size must be a tuple of ints, got {type(unflattened_size).__name__}")
        sizes = tuple(check_int(where, "each size", n, minimum=-1) for n in unflattened_size)
        if sizes.count(-1) > 1:
            raise ValueError(f"{where}: only one size can be -1")
        self.dim, self.unflattened_size = dim, sizes

    def forward(self, x):
        dim = normalize_dim(self.dim, x.ndim, "Unflatten")
        size = 1
        for n in self.unflattened_size:
            size *= n
        sizes = self.unflattened_size
        if -1 in sizes:  # size is minus the product of the others
            if size == 0 or x.shape[dim] % -size:
                raise ValueError(f"Unflatten: dimension {dim} of {x.shape} has size {x.shape[dim]}, which cannot be "
                                 f"split into {self.unflattened_size}")
            sizes = tuple(x.shape[dim] // -size if n == -1 else n for n in sizes)
        elif x.shape[dim] != size:
            raise ValueError(f"Unflatten: dimension {dim} of {x.shape} has size {x.shape[dim]}, "
                             f"not {size} = prod{self.unflattened_size}")
        return F.reshape(x, x.shape[:dim] + sizes + x.shape[dim + 1 :])
