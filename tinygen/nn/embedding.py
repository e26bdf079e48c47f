"""A lookup table of learned vectors, indexed by integers (class labels, tokens)."""
from tinygen import functional as F
from tinygen.autograd import Tensor
from tinygen.creation import zeros
from tinygen.functional.checks import check_int
from tinygen.nn import init
from tinygen.nn.module import Module, Parameter


class Embedding(Module):
    """y = weight[indices]: row i of weight (num_embeddings, embedding_dim) is the vector of i.

    The gradient adds gy into the rows that were picked (twice for an index used twice).
    """

    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        where = f"Embedding({num_embeddings}, {embedding_dim})"
        num_embeddings = check_int(where, "num_embeddings", num_embeddings, minimum=0)  # 0 allowed, as PyTorch
        embedding_dim = check_int(where, "embedding_dim", embedding_dim, minimum=0)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(zeros(num_embeddings, embedding_dim))
        init.normal_(self.weight)  # PyTorch's default: N(0, 1)

    def forward(self, indices):
        index = indices.data if isinstance(indices, Tensor) else indices
        if not hasattr(index, "dtype"):
            raise TypeError(f"{self}: indices must be a Tensor of integers, got {type(indices).__name__}; "
                            f"make one with tinygen.tensor(...)")
        if index.dtype.kind not in "iu":
            raise ValueError(f"{self}: indices must be integers, got dtype {index.dtype}")
        if index.size and (index.min() < 0 or index.max() >= self.num_embeddings):
            raise ValueError(f"{self}: indices must be in [0, {self.num_embeddings}), "
                             f"got range [{index.min()}, {index.max()}]")
        return F.getitem(self.weight, index)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"
