"""A small StyleGAN (Karras, Laine & Aila 2019) for 32x32 single-channel images (MNIST in a 32x32 frame).

The generator is two networks:

    mapping      w = f(z):  z pixel-normalised (z / sqrt(mean z^2)), then MAPPING_LAYERS
                 EqualizedLinear layers with LeakyReLU(0.2), learning 100 times slower
                 (lr_multiplier 0.01) than the rest, as in the paper.
    synthesis    starts from a LEARNED CONSTANT C x 4 x 4, the same for every z, and at each
                 resolution 4, 8, 16, 32 has two layers

                     [upsample x2, conv 3x3] (not at 4x4), noise, LeakyReLU, AdaIN(w_i)
                     conv 3x3,                          noise, LeakyReLU, AdaIN(w_i+1)

                 then a 1x1 convolution to the one-channel image and tanh (images in [-1, 1],
                 as the data and the other examples' generators).

z reaches the image only through the styles: each AdaIN layer sets every channel's scale and
bias from its own w_i (y = y_s(w_i) InstanceNorm(x) + y_b(w_i)). With the same w for every
layer that is the plain StyleGAN; with one code for the first k layers and another after them
(style mixing), the coarse layers (4x4, 8x8) take shape and pose from the first code and the
fine layers stroke and detail from the second. The noise (NoiseInjection: a fresh N(0, 1) map
per layer, times a learned per-channel weight) gives the stochastic detail that the styles need
not encode.

Truncation: w' = w_avg + psi (w - w_avg), with w_avg a moving average of the mapped codes over
training (a Buffer, so it is saved in checkpoints and copied by the EMA update); psi < 1 trades
variety for typical, cleaner images; psi = 0 gives the image of the mean style for every z.

All convolutions and linears use the equalised learning rate (tinygen/nn/equalized.py), with He's
gain sqrt(2) (the official code uses 1 at to_rgb, D's last linear and the style's A). Unlike the
official code: no blur after upsampling or before downsampling, no progressive growing, and
truncation on all 8 layers (the official cutoff, 8 layers, is all of them at 32x32). The
discriminator has no BatchNorm (the R1 penalty needs each sample's gradient on its own):
equalised convolutions down 32 -> 16 -> 8 -> 4 with average pooling, then the minibatch
standard deviation and a linear head giving one logit per image.
"""
import math

from tinygen import functional as F
from tinygen import nn
from tinygen.autograd import Tensor, no_grad
from tinygen.creation import ones, zeros
from tinygen.functional.checks import check_int, check_real, not_a_tensor

MAPPING_LAYERS = 4          # the paper has 8; MNIST needs far fewer
MAPPING_LR_MULTIPLIER = 0.01
RESOLUTIONS = (4, 8, 16, 32)
W_AVG_BETA = 0.995          # w_avg <- mean_batch(w) + beta (w_avg - mean_batch(w)), each training forward
NEGATIVE_SLOPE = 0.2


class MappingNetwork(nn.Module):
    """w = MLP(PixelNorm(z)): (N, latent_dim) -> (N, style_dim), equalised layers learning 100x slower."""

    def __init__(self, latent_dim=32, style_dim=32, num_layers=MAPPING_LAYERS):
        super().__init__()
        where = f"MappingNetwork(latent_dim={latent_dim}, style_dim={style_dim}, num_layers={num_layers})"
        self.latent_dim = check_int(where, "latent_dim", latent_dim, minimum=1)
        self.style_dim = check_int(where, "style_dim", style_dim, minimum=1)
        check_int(where, "num_layers", num_layers, minimum=1)
        layers = [nn.PixelNorm()]
        for i in range(num_layers):
            layers += [nn.EqualizedLinear(latent_dim if i == 0 else style_dim, style_dim,
                                          lr_multiplier=MAPPING_LR_MULTIPLIER), nn.LeakyReLU(NEGATIVE_SLOPE)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        if not isinstance(z, Tensor):
            raise not_a_tensor(f"{type(self).__name__}", "z", z)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{type(self).__name__}: expected z of shape (N, {self.latent_dim}), got {z.shape}")
        return self.net(z)


class StyleLayer(nn.Module):
    """One synthesis layer: x -> AdaIN(LeakyReLU(NoiseInjection(conv(x), noise)), w), with AdaIN's
    affine map A an EqualizedLinear.

    conv: [upsample x2,] EqualizedConv2d 3x3 (padding 1), or nothing (the first layer at 4x4, whose
    input is the learned constant).
    """

    def __init__(self, in_channels, out_channels, style_dim, conv=True, upsample=False):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2) if upsample else None
        self.conv = nn.EqualizedConv2d(in_channels, out_channels, 3, padding=1) if conv else None
        self.noise = nn.NoiseInjection(out_channels)
        self.activation = nn.LeakyReLU(NEGATIVE_SLOPE)
        self.adain = nn.AdaIN(out_channels, style_dim)
        # A, the affine map from w to the scales and biases, equalised as every other layer here
        # (the paper's); its bias starts at [1, ..., 1, 0, ..., 0] as nn.AdaIN's own: scale 1, bias 0.
        self.adain.affine = nn.EqualizedLinear(style_dim, 2 * out_channels)
        self.adain.affine.bias.data[:out_channels] = 1.0

    def forward(self, x, w, noise=None):
        if self.upsample is not None:
            x = self.upsample(x)
        if self.conv is not None:
            x = self.conv(x)
        return self.adain(self.activation(self.noise(x, noise)), w)


class SynthesisNetwork(nn.Module):
    """The image from one style per AdaIN layer: ws, a list of num_ws Tensors (N, style_dim).

    Layers 2k and 2k + 1 work at resolution RESOLUTIONS[k]: layers 0-1 at 4x4 ... 6-7 at 32x32.
    noise: None (fresh N(0, 1) maps from tinygen's generator) or a list of one (N, 1, H, W) map per
    layer (`noise_shapes`), e.g. the same maps for several calls.
    """

    def __init__(self, style_dim=32, channels=32):
        super().__init__()
        where = f"SynthesisNetwork(style_dim={style_dim}, channels={channels})"
        self.style_dim = check_int(where, "style_dim", style_dim, minimum=1)
        self.channels = check_int(where, "channels", channels, minimum=1)
        self.constant = nn.Parameter(ones(1, channels, 4, 4))  # the input: learned, the same for every z
        layers = []
        for resolution in RESOLUTIONS:
            first = resolution == RESOLUTIONS[0]
            layers.append(StyleLayer(channels, channels, style_dim, conv=not first, upsample=not first))
            layers.append(StyleLayer(channels, channels, style_dim))
        self.layers = nn.ModuleList(layers)
        self.num_ws = len(layers)
        self.to_image = nn.EqualizedConv2d(channels, 1, 1)

    def noise_shapes(self, n):
        """The shape of each layer's noise map for a batch of n: (n, 1, H, W), H = W the layer's resolution."""
        return [(n, 1, r, r) for r in RESOLUTIONS for _ in range(2)]

    def forward(self, ws, noise=None):
        if not isinstance(ws, (list, tuple)) or len(ws) != self.num_ws:
            raise ValueError(f"{type(self).__name__}: expected ws, a list of {self.num_ws} styles "
                             f"(N, {self.style_dim}) "
                             f"(one per AdaIN layer), got {type(ws).__name__}"
                             + (f" of {len(ws)}" if isinstance(ws, (list, tuple)) else ""))
        for w in ws:
            if not isinstance(w, Tensor):
                raise not_a_tensor(f"{type(self).__name__}", "ws[i]", w)
            if w.ndim != 2 or w.shape != ws[0].shape or w.shape[1] != self.style_dim:
                raise ValueError(f"{type(self).__name__}: expected every style in ws of shape (N, {self.style_dim}), "
                                 f"got {[tuple(v.shape) for v in ws]}")
        n = ws[0].shape[0]
        if noise is None:
            noise = [None] * self.num_ws
        elif not isinstance(noise, (list, tuple)) or len(noise) != self.num_ws:
            raise ValueError(f"{type(self).__name__}: expected noise None or a list of {self.num_ws} maps of shapes "
                             f"{self.noise_shapes(n)}, got {type(noise).__name__}")
        x = F.broadcast_to(self.constant, (n, self.channels, 4, 4))  # not z: z enters through the styles only
        for layer, w, layer_noise in zip(self.layers, ws, noise):
            x = layer(x, w, layer_noise)
        return self.to_image(x).tanh()


class StyleGenerator(nn.Module):
    """G(z) = synthesis([w] * num_ws), w = mapping(z), with truncation and style mixing.

        G(z, psi=1.0, mix_z=None, crossover=None, noise=None)

    psi: the truncation w' = w_avg + psi (w - w_avg) (1: none). mix_z, crossover: style mixing:
    the layers 0 .. crossover - 1 take w(z), the layers crossover .. num_ws - 1 take w(mix_z).
    In training mode each call moves w_avg towards the batch's mean w (W_AVG_BETA).
    """

    def __init__(self, latent_dim=32, style_dim=32, channels=32, mapping_layers=MAPPING_LAYERS):
        super().__init__()
        self.latent_dim, self.style_dim = latent_dim, style_dim
        self.mapping = MappingNetwork(latent_dim, style_dim, mapping_layers)
        self.synthesis = SynthesisNetwork(style_dim, channels)
        self.num_ws = self.synthesis.num_ws
        self.w_avg = nn.Buffer(zeros(style_dim))  # the moving average of w, for truncation

    def update_w_avg_(self, w):
        """w_avg <- mean_n(w) + W_AVG_BETA (w_avg - mean_n(w)), in place, without a graph."""
        with no_grad():
            batch_mean = w.data.mean(axis=0)
            self.w_avg.data[...] = batch_mean + W_AVG_BETA * (self.w_avg.data - batch_mean)
            self.w_avg._bump_version()

    def truncate(self, w, psi):
        """w' = w_avg + psi (w - w_avg): psi = 1 leaves w, psi = 0 gives w_avg for every sample."""
        return self.w_avg + (w - self.w_avg) * psi

    def styles(self, z, psi=1.0, mix_z=None, crossover=None):
        """The list of num_ws styles (N, style_dim) for the synthesis layers."""
        psi = check_real(f"{type(self).__name__}", "psi", psi)
        if not math.isfinite(psi):  # w_avg + psi (w - w_avg) would be NaN or inf in every image
            raise ValueError(f"{type(self).__name__}: psi (the truncation) must be a finite number, "
                             f"usually in [0, 1], got {psi}")
        w = self.mapping(z)
        if self.training:
            self.update_w_avg_(w)
        if psi != 1.0:
            w = self.truncate(w, psi)
        if mix_z is None:
            if crossover is not None:
                raise ValueError(f"{type(self).__name__}: crossover={crossover} needs mix_z, the second code")
            return [w] * self.num_ws
        if not isinstance(crossover, int) or isinstance(crossover, bool) or not 0 <= crossover <= self.num_ws:
            raise ValueError(f"{type(self).__name__}: with mix_z, crossover must be a whole number in "
                             f"[0, {self.num_ws}] (the first layer to take mix_z's style), got {crossover!r}")
        if not isinstance(mix_z, Tensor) or mix_z.shape != z.shape:
            raise ValueError(f"{type(self).__name__}: expected mix_z of the shape of z {z.shape}, got "
                             f"{mix_z.shape if isinstance(mix_z, Tensor) else type(mix_z).__name__}")
        w2 = self.mapping(mix_z)
        if psi != 1.0:
            w2 = self.truncate(w2, psi)
        return [w] * crossover + [w2] * (self.num_ws - crossover)

    def forward(self, z, psi=1.0, mix_z=None, crossover=None, noise=None):
        """z (N, latent_dim) -> images (N, 1, 32, 32) in [-1, 1]."""
        return self.synthesis(self.styles(z, psi, mix_z, crossover), noise)


class StyleDiscriminator(nn.Module):
    """x (N, 1, 32, 32) -> one logit per image (N, 1). No BatchNorm (R1 needs each sample on its own).

        from_image  EqualizedConv2d 1x1, 1 -> C, LeakyReLU
        32 -> 16 -> 8 -> 4:  EqualizedConv2d 3x3, LeakyReLU, AvgPool2d(2), at each step
        at 4x4:     MinibatchStdDev (C + 1 channels), EqualizedConv2d 3x3, LeakyReLU,
                    EqualizedLinear 16 C -> C, LeakyReLU, EqualizedLinear C -> 1
    """

    def __init__(self, channels=32, group_size=4):
        super().__init__()
        c = check_int(f"StyleDiscriminator(channels={channels})", "channels", channels, minimum=1)
        self.channels = c
        lrelu = NEGATIVE_SLOPE
        self.net = nn.Sequential(
            nn.EqualizedConv2d(1, c, 1), nn.LeakyReLU(lrelu),
            nn.EqualizedConv2d(c, c, 3, padding=1), nn.LeakyReLU(lrelu), nn.AvgPool2d(2),   # 32 -> 16
            nn.EqualizedConv2d(c, c, 3, padding=1), nn.LeakyReLU(lrelu), nn.AvgPool2d(2),   # 16 -> 8
            nn.EqualizedConv2d(c, c, 3, padding=1), nn.LeakyReLU(lrelu), nn.AvgPool2d(2),   # 8 -> 4
            nn.MinibatchStdDev(group_size),
            nn.EqualizedConv2d(c + 1, c, 3, padding=1), nn.LeakyReLU(lrelu),
            nn.Flatten(), nn.EqualizedLinear(16 * c, c), nn.LeakyReLU(lrelu), nn.EqualizedLinear(c, 1),
        )

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise not_a_tensor(f"{type(self).__name__}", "input", x)
        if x.ndim != 4 or x.shape[1:] != (1, 32, 32):
            raise ValueError(f"{type(self).__name__}: expected images of shape (N, 1, 32, 32) (28x28 digits framed "
                             f"by gans.pad_to_32), got {x.shape}")
        return self.net(x)
