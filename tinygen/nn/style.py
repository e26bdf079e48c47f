"""The normalisations and style layers of progressive growing and StyleGAN.

    PixelNorm        (Karras et al. 2018): each pixel's feature vector scaled to unit mean square.
    InstanceNorm2d   (Ulyanov et al. 2016): each (sample, channel) map to mean 0, variance 1.
    AdaIN            (Huang & Belongie 2017; StyleGAN's A + AdaIN): the style w sets each channel's
                     scale and bias after instance normalisation.
    NoiseInjection   (Karras et al. 2019, StyleGAN's B): per-channel scaled noise added to x.

All are built from differentiable tinygen ops: the gradient follows from them, no backward here.
"""
from tinygen.autograd import Tensor
from tinygen.creation import randn, zeros
from tinygen.functional.checks import check_eps, check_int, not_a_tensor
from tinygen.nn.linear import Linear
from tinygen.nn.module import Module, Parameter


class PixelNorm(Module):
    """y = x / sqrt(mean over channels (dim 1) of x^2 + eps), for x (N, C, H, W) or (N, F).

    Every pixel's C-vector gets mean square 1: no feature can grow without bound in G.
    """

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = check_eps(f"PixelNorm(eps={eps!r})", eps)

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise not_a_tensor(f"{self}", "input", x)
        if x.ndim not in (2, 4):
            raise ValueError(f"{self}: expected input of shape (N, F) or (N, C, H, W), got {x.shape}")
        return x / ((x * x).mean(dim=1, keepdim=True) + self.eps).sqrt()

    def extra_repr(self):
        return f"eps={self.eps}"


class InstanceNorm2d(Module):
    """For x (N, C, H, W), each map x[n, c] on its own (no affine parameters, no running stats):

        y = (x - mean_HW(x)) / sqrt(Var_HW(x) + eps)     Var the biased variance (divide by H W)
    """

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        where = f"InstanceNorm2d({num_features}, eps={eps!r})"
        self.num_features = check_int(where, "num_features", num_features, minimum=1)
        self.eps = check_eps(where, eps)

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise not_a_tensor(f"{self}", "input", x)
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"{self}: expected input of shape (N, {self.num_features}, H, W), got {x.shape}")
        if x.shape[2] * x.shape[3] < 2:  # a map of one pixel minus its mean is 0: the output would be all zeros
            raise ValueError(f"{self}: Expected more than 1 spatial element (each map is normalised over its own "
                             f"H x W pixels), got input size {x.shape}")
        centred = x - x.mean(dim=(2, 3), keepdim=True)
        variance = (centred * centred).mean(dim=(2, 3), keepdim=True)
        return centred / (variance + self.eps).sqrt()

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}"


class AdaIN(Module):
    """With x (N, C, H, W) and a style w (N, style_dim):

        [y_s, y_b] = Linear(style_dim, 2 C)(w)           per sample, a scale and a bias per channel
        y = y_s * InstanceNorm(x) + y_b                  (y_s, y_b broadcast over H, W)

    The Linear's bias starts at [1, ..., 1, 0, ..., 0], so y_s starts near 1 and y_b near 0, as in
    StyleGAN: at first the layer is nearly a plain instance norm.
    """

    def __init__(self, num_features, style_dim):
        super().__init__()
        where = f"AdaIN({num_features}, {style_dim})"
        self.num_features = check_int(where, "num_features", num_features, minimum=1)
        self.style_dim = check_int(where, "style_dim", style_dim, minimum=1)
        self.norm = InstanceNorm2d(num_features)
        self.affine = Linear(style_dim, 2 * num_features)
        self.affine.bias.data[:num_features] = 1.0
        self.affine.bias.data[num_features:] = 0.0

    def style(self, w):
        """The per-channel (scale, bias) of style w (N, style_dim): two (N, C) tensors."""
        if not isinstance(w, Tensor):
            raise not_a_tensor(f"AdaIN({self.extra_repr()})", "w", w)
        if w.ndim != 2 or w.shape[1] != self.style_dim:
            raise ValueError(f"AdaIN({self.extra_repr()}): expected style w of shape (N, {self.style_dim}), got {w.shape}")
        scale_and_bias = self.affine(w)
        return scale_and_bias[:, :self.num_features], scale_and_bias[:, self.num_features:]

    def forward(self, x, w):
        if not isinstance(x, Tensor):
            raise not_a_tensor(f"AdaIN({self.extra_repr()})", "input", x)
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"AdaIN({self.extra_repr()}): expected input of shape (N, {self.num_features}, H, W), got {x.shape}")
        scale, bias = self.style(w)
        if w.shape[0] != x.shape[0]:
            raise ValueError(f"AdaIN({self.extra_repr()}): input and style w must have the same batch size, "
                             f"got {x.shape[0]} and {w.shape[0]}")
        n, c = scale.shape
        return scale.reshape(n, c, 1, 1) * self.norm(x) + bias.reshape(n, c, 1, 1)

    def extra_repr(self):
        return f"{self.num_features}, style_dim={self.style_dim}"


class NoiseInjection(Module):
    """y = x + weight[c] * noise, with one noise map (N, 1, H, W) ~ N(0, 1) shared by all C channels.

    The noise comes from tinygen's generator (tinygen.randn: seeding repeats it) unless passed in.
    weight starts at C zeros, so the layer starts as the identity.
    """

    def __init__(self, num_channels):
        super().__init__()
        self.num_channels = check_int(f"NoiseInjection({num_channels})", "num_channels", num_channels, minimum=1)
        self.weight = Parameter(zeros(num_channels))

    def forward(self, x, noise=None):
        if not isinstance(x, Tensor):
            raise not_a_tensor(f"{self}", "input", x)
        if x.ndim != 4 or x.shape[1] != self.num_channels:
            raise ValueError(f"{self}: expected input of shape (N, {self.num_channels}, H, W), got {x.shape}")
        n, c, h, w = x.shape
        if noise is None:
            noise = randn(n, 1, h, w, dtype=x.dtype, device=x.device)
        elif not isinstance(noise, Tensor):
            raise not_a_tensor(f"{self}", "noise", noise)
        elif noise.shape != (n, 1, h, w):
            raise ValueError(f"{self}: expected noise of shape {(n, 1, h, w)}, got {noise.shape}")
        return x + self.weight.reshape(1, c, 1, 1) * noise

    def extra_repr(self):
        return f"{self.num_channels}"
