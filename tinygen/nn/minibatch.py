"""Layers that let a discriminator look at the whole batch, against mode collapse.

A collapsed generator draws nearly the same image for every z. One image at a time, D cannot see
that: each fake may look real on its own. These layers give each sample a few numbers about how
it relates to the OTHER samples of its batch, so a batch of near-copies looks unlike a batch of
real digits, and D can reject it (and G must spread out to escape). Real and fake images must go
through D in separate batches (the examples do), or the statistics mix the two kinds.

    MinibatchDiscrimination   (Salimans et al. 2016): per sample, how close it is to the others,
                              under B learned projections. (N, A) -> (N, A + B)
    MinibatchStdDev           (Karras et al. 2018): the batch's standard deviation of every
                              feature, averaged to one number, appended. (N, C, H, W) -> (N, C + 1, H, W)
                              or (N, F) -> (N, F + 1)
"""
from tinygen import backend, functional as F
from tinygen.autograd import Tensor
from tinygen.creation import zeros
from tinygen.functional.checks import check_int, not_a_tensor
from tinygen.nn import init
from tinygen.nn.module import Module, Parameter

STD_EPS = 1e-8  # sqrt(var + eps): the derivative of sqrt stays finite when every sample is equal


class MinibatchDiscrimination(Module):
    """Salimans et al. 2016, section 3.2. With x (N, A), a learned T (A, B * C):

        M = x T, reshaped (N, B, C):        B rows ("kernels") of C numbers per sample
        c_b(i, j) = exp(-||M_i,b - M_j,b||_1)   closeness of samples i and j under kernel b, in (0, 1]
        o_b(i) = mean over j != i of c_b(i, j)  how near the OTHER samples are to i, in [0, 1] (its
                                                own c is exp(0) = 1 for every sample alike: left out)
        y = [x, o]  (N, A + B)

    The mean, where Salimans et al. write the sum (the sum / (N - 1); some PyTorch ports offer both):
    the sum grows with the batch, and at the start, when every c is near 1, it is near N - 1. In
    the vanilla GAN's D that was 44-51 per kernel for a batch of 64, which drove D's sigmoid to
    exactly 1 for every image in the first steps, and training never started (measured). The mean
    keeps o in [0, 1] whatever the batch size. A batch of one has no others: o = 0.

    The gradient flows through every op (matmul, abs, exp, sums): no backward of its own is
    needed. Sample i's output depends on every other sample of the batch: that is the point.
    T starts small, N(0, 0.05^2), so that the first distances are small and c is not 0 everywhere.
    The differences cost N^2 B numbers for each of the C kernel dimensions: 64^2 x 32 = 131K, 8 times,
    for a batch of 64.
    """

    def __init__(self, in_features, out_features, kernel_dims):
        super().__init__()
        where = f"MinibatchDiscrimination({in_features}, {out_features}, {kernel_dims})"
        self.in_features = check_int(where, "in_features", in_features, minimum=1)
        self.out_features = check_int(where, "out_features", out_features, minimum=1)
        self.kernel_dims = check_int(where, "kernel_dims", kernel_dims, minimum=1)
        self.T = Parameter(zeros(in_features, out_features * kernel_dims))
        init.normal_(self.T, 0.0, 0.05)

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise not_a_tensor(f"{self}", "input", x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self}: expected input of shape (N, {self.in_features}), got {x.shape}")
        n = x.shape[0]
        m = F.matmul(x, self.T).reshape(n, self.out_features, self.kernel_dims)  # (N, B, C)
        # (N, N, B): the L1 distance between samples i and j under each kernel, summed over its C
        # dimensions one at a time (NumPy sums a last axis of C = 4 numbers slowly: this is 1.4x faster)
        distances = sum((m[:, :, c].unsqueeze(1) - m[:, :, c].unsqueeze(0)).abs() for c in range(self.kernel_dims))
        closeness = (-distances).exp()  # (N, N, B)
        others = Tensor(1 - backend.module_for(x.device).eye(n, dtype=x.dtype).reshape(n, n, 1))  # 0 where j = i
        o = (closeness * others).sum(dim=1) / max(n - 1, 1)  # (N, B): the mean over the n - 1 others
        return F.cat([x, o], dim=1)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, kernel_dims={self.kernel_dims}"


class MinibatchStdDev(Module):
    """Karras et al. 2018, section 3. The batch is split into groups of `group_size` samples (sample
    n in group n mod (N / group_size), as in their code); within a group:

        s = mean over features of sqrt(Var_group(x) + 1e-8)    one number per group (biased
                                                               variance, over the group's samples)
        y = [x, s]: s appended as one more channel (a constant map), or one more feature

    A batch of copies has s near 0, real digits a healthy s: D can tell. N must be divisible by
    the group size (a group of min(group_size, N) samples when N is smaller).
    """

    def __init__(self, group_size=4):
        super().__init__()
        self.group_size = check_int(f"MinibatchStdDev(group_size={group_size})", "group_size", group_size, minimum=2)

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise not_a_tensor(f"{self}", "input", x)
        if x.ndim not in (2, 4):
            raise ValueError(f"{self}: expected input of shape (N, F) or (N, C, H, W), got {x.shape}")
        n, rest = x.shape[0], x.shape[1:]
        group = min(self.group_size, n)
        if group < 2 or n % group:
            raise ValueError(f"{self}: the batch of {n} must split into groups of {group} samples (at least 2); "
                             f"use a batch size divisible by {self.group_size}")
        groups = n // group
        y = x.reshape(group, groups, *rest)  # y[k, g]: the k-th sample of group g (sample k * groups + g)
        variance = ((y - y.mean(dim=0, keepdim=True)) ** 2).mean(dim=0)  # (groups, *rest)
        s = (variance + STD_EPS).sqrt().reshape(groups, -1).mean(dim=1)  # (groups,)
        s = F.broadcast_to(s.reshape(1, groups), (group, groups)).reshape(n, 1)  # sample n gets s[n mod groups]
        if x.ndim == 4:
            s = F.broadcast_to(s.reshape(n, 1, 1, 1), (n, 1) + rest[1:])
        return F.cat([x, s], dim=1)

    def extra_repr(self):
        return f"group_size={self.group_size}"
