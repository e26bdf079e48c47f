"""Batch normalisation layers, with learned scale and shift and running statistics."""
from tinygen import functional as F
from tinygen.creation import ones, zeros
from tinygen.functional.checks import check_eps, check_int, check_layer_input, check_real
from tinygen.nn.module import Buffer, Module, Parameter


class _BatchNorm(Module):
    expected_ndim = None  # 2 for BatchNorm1d, 4 for BatchNorm2d

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        where = f"{type(self).__name__}({num_features}, eps={eps}, momentum={momentum})"
        num_features = check_int(where, "num_features", num_features, minimum=1)
        check_eps(where, eps)
        if momentum is not None and not 0 <= check_real(where, "momentum", momentum) <= 1:
            raise ValueError(f"{where}: momentum must be in [0, 1] (or None for a cumulative average), got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(ones(num_features)) if affine else None
        self.bias = Parameter(zeros(num_features)) if affine else None
        if track_running_stats:
            self.running_mean = Buffer(zeros(num_features))
            self.running_var = Buffer(ones(num_features))
            self.num_batches_tracked = Buffer(zeros((), dtype="int64"))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        reference = self.weight if self.weight is not None else self.running_mean  # the layer's dtype
        if reference is not None:
            check_layer_input(self, x, reference)
        if x.ndim != self.expected_ndim or x.shape[1] != self.num_features:
            layout = "(N, C)" if self.expected_ndim == 2 else "(N, C, H, W)"
            raise ValueError(f"{self}: expected input {layout} with C = {self.num_features}, got {x.shape}")
        use_batch_stats = self.training or self.running_mean is None
        momentum = self.momentum
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1
            if momentum is None:  # the running statistics are the plain average of every batch so far
                momentum = 1.0 / float(self.num_batches_tracked.data)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch_stats, momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Per-feature normalisation of an (N, C) input."""

    expected_ndim = 2


class BatchNorm2d(_BatchNorm):
    """Per-channel normalisation of an (N, C, H, W) input, over the batch and the pixels."""

    expected_ndim = 4
