"""Progressive growing of GANs (Karras et al. 2018, ProGAN) at MNIST scale: 4x4 -> 8x8 -> 16x16 -> 32x32.

Both networks are built in full at the start (a fixed set of parameters, so optimisers and
checkpoints hold everything from step 0); the forward pass takes the current `stage`
(resolution 4 * 2^stage: 4, 8, 16, 32) and the fade-in weight `alpha` in [0, 1], and uses only
the layers of that stage.

    ProGenerator      z -> PixelNorm -> EqualizedLinear to C0 x 4 x 4 -> LReLU, PixelNorm
                        -> conv 3x3 -> LReLU, PixelNorm                              h_0 (4x4)
                      block s (s = 1, 2, 3): upsample x2 nearest, then two
                        (EqualizedConv2d 3x3 -> LeakyReLU(0.2) -> PixelNorm)         h_s (4 * 2^s)
                      to_image s: a 1x1 EqualizedConv2d C_s -> 1 (linear: no tanh)

                      G(z, stage, alpha) = (1 - alpha) upsample(to_image_{s-1}(h_{s-1}))
                                           + alpha to_image_s(block_s(h_{s-1}))

    ProDiscriminator  the mirror image: from_image s (1x1 conv 1 -> C_s, LReLU), block s (two
                      3x3 convs with LReLU, then AvgPool2d(2)), and at 4x4 the minibatch standard
                      deviation, a conv 3x3, a 4x4 conv (4x4 -> 1x1) and a linear to one score:

                      D(x, stage, alpha) = rest_{s-1}((1 - alpha) from_image_{s-1}(avgpool(x))
                                                      + alpha block_s(from_image_s(x)))

So while a new block fades in (alpha from 0 to 1) it is added beside the old path, not in
place of it: at alpha = 0 the grown G draws exactly the previous stage's image upsampled, and
the grown D scores an image exactly as the previous stage's D scores it average-pooled. The
real images are shown to D the same way (`real_images_at`): pooled down from 32x32 to the
stage's resolution and, during a fade, blended between the two resolutions.

Every layer has the equalised learning rate (EqualizedLinear, EqualizedConv2d: weights stored as
N(0, 1), scaled at run time by the He constant sqrt(2 / fan_in); the official code uses gain 1
instead of sqrt(2) at to_rgb and D's last linear, and sqrt(2) / 4 at G's first: a deviation, in
docs/modern-gans.md) and G normalises each pixel's feature vector (PixelNorm) after every conv,
instead of BatchNorm.

`growth_schedule(step, phase_steps)` gives (stage, alpha) as a pure function of the step: 4x4 for
phase_steps steps, then for each new resolution a fade-in of phase_steps steps (alpha rising
linearly from 0) and a stabilising phase at alpha = 1 of phase_steps steps; the last stage then
trains for as long as the run lasts.
"""
from tinygen import nn
import tinygen.nn.functional as F
from tinygen.autograd import Tensor
from tinygen.functional.checks import check_int, check_real, not_a_tensor

STAGES = 4  # 4x4, 8x8, 16x16, 32x32
G_CHANNELS = (64, 32, 16, 8)  # C_s: the feature maps at 4, 8, 16, 32 pixels (the paper: 512 ... 16)
D_CHANNELS = (64, 32, 16, 8)
DRIFT = 0.001  # epsilon_drift: the critic's loss adds epsilon E[D(x)^2], so its scores do not drift


def resolution(stage):
    """The image size at a stage: 4 * 2^stage (4, 8, 16, 32)."""
    return 4 * 2 ** stage


def growth_schedule(step, phase_steps):
    """(stage, alpha) at training step `step` (0, 1, ...): the schedule of the growth.

        phase 0                     stage 0 (4x4), alpha 1
        phase 2s - 1 (s = 1, 2, 3)  stage s, fading in: alpha = (step - start of the phase) / phase_steps,
                                    rising linearly from 0 to just under 1
        phase 2s                    stage s, stabilising: alpha 1
        later                       stage 3 (32x32), alpha 1, to the end of the run
    """
    step = check_int("growth_schedule", "step", step, minimum=0)
    phase_steps = check_int("growth_schedule", "phase_steps", phase_steps, minimum=1)
    phase = step // phase_steps
    if phase >= 2 * (STAGES - 1):
        return STAGES - 1, 1.0
    stage = (phase + 1) // 2
    if phase % 2 == 1:  # a fade-in
        return stage, (step - phase * phase_steps) / phase_steps
    return stage, 1.0


def check_stage_and_alpha(where, stage, alpha):
    stage = check_int(where, "stage", stage, minimum=0)
    if stage >= STAGES:
        raise ValueError(f"{where}: stage must be 0 ... {STAGES - 1} (4x4 ... 32x32), got {stage}")
    alpha = check_real(where, "alpha", alpha)
    if not 0 <= alpha <= 1:
        raise ValueError(f"{where}: alpha (the fade-in weight) must be in [0, 1], got {alpha}")
    if stage == 0 and alpha != 1:
        raise ValueError(f"{where}: stage 0 (4x4) has no smaller stage to fade from; alpha must be 1, got {alpha}")
    return stage, alpha


def upsample(x):
    """Nearest-neighbour x2: each pixel a 2x2 block."""
    return F.interpolate(x, scale_factor=2)


def downsample(x):
    """2x2 average pooling: (N, C, H, W) -> (N, C, H / 2, W / 2)."""
    return F.avg_pool2d(x, 2)


def real_images_at(x, stage, alpha):
    """Real images (N, 1, 32, 32) as D sees them at (stage, alpha): average-pooled to 4 * 2^stage
    pixels and, during a fade-in, (1 - alpha) upsample(avgpool(x_s)) + alpha x_s, the same blend of
    the two resolutions as G's output, so that real and generated images look alike to D."""
    if not isinstance(x, Tensor):
        raise not_a_tensor("real_images_at", "x", x)
    if x.ndim != 4 or x.shape[1:] != (1, 32, 32):
        raise ValueError(f"real_images_at: expected images of shape (N, 1, 32, 32), got {x.shape}")
    stage, alpha = check_stage_and_alpha("real_images_at", stage, alpha)
    for _ in range(STAGES - 1 - stage):
        x = downsample(x)
    if alpha < 1:
        x = (1 - alpha) * upsample(downsample(x)) + alpha * x
    return x


def g_conv(in_channels, out_channels, kernel_size, padding):
    """G's unit: EqualizedConv2d -> LeakyReLU(0.2) -> PixelNorm."""
    return nn.Sequential(nn.EqualizedConv2d(in_channels, out_channels, kernel_size, padding=padding),
                         nn.LeakyReLU(0.2), nn.PixelNorm())


class ProGenerator(nn.Module):
    """z (N, latent_dim) -> images (N, 1, 4 * 2^stage, 4 * 2^stage); see the module docstring."""

    def __init__(self, latent_dim=64, channels=G_CHANNELS):
        super().__init__()
        self.latent_dim = check_int("ProGenerator", "latent_dim", latent_dim, minimum=1)
        self.channels = tuple(channels)
        if len(self.channels) != STAGES:
            raise ValueError(f"ProGenerator: expected {STAGES} channel counts (4, 8, 16, 32 pixels), got {channels}")
        c0 = self.channels[0]
        self.input_norm = nn.PixelNorm()
        self.project = nn.EqualizedLinear(latent_dim, c0 * 16)  # to C0 x 4 x 4
        self.project_act = nn.Sequential(nn.LeakyReLU(0.2), nn.PixelNorm())
        self.base = g_conv(c0, c0, 3, padding=1)
        self.blocks = nn.ModuleList([nn.Identity()] + [  # block 0 is the base above
            nn.Sequential(nn.Upsample(scale_factor=2), g_conv(self.channels[s - 1], self.channels[s], 3, 1),
                          g_conv(self.channels[s], self.channels[s], 3, 1))
            for s in range(1, STAGES)])
        self.to_image = nn.ModuleList([nn.EqualizedConv2d(c, 1, 1) for c in self.channels])

    def features(self, z, stage):
        """h_stage: the features (N, C_stage, 4 * 2^stage, same) before `to_image`."""
        if not isinstance(z, Tensor):
            raise not_a_tensor("ProGenerator", "z", z)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"ProGenerator: expected z of shape (N, {self.latent_dim}), got {z.shape}")
        h = self.project(self.input_norm(z)).reshape(z.shape[0], self.channels[0], 4, 4)
        h = self.base(self.project_act(h))
        for s in range(1, stage + 1):
            h = self.blocks[s](h)
        return h

    def forward(self, z, stage=STAGES - 1, alpha=1.0):
        stage, alpha = check_stage_and_alpha("ProGenerator", stage, alpha)
        if alpha == 1:
            return self.to_image[stage](self.features(z, stage))
        h = self.features(z, stage - 1)  # alpha < 1: a fade-in, stage >= 1
        old = upsample(self.to_image[stage - 1](h))
        new = self.to_image[stage](self.blocks[stage](h))
        return (1 - alpha) * old + alpha * new

    def extra_repr(self):
        return f"latent_dim={self.latent_dim}, channels={self.channels}"


def d_conv(in_channels, out_channels, kernel_size, padding=0):
    """D's unit: EqualizedConv2d -> LeakyReLU(0.2) (no normalisation in D)."""
    return nn.Sequential(nn.EqualizedConv2d(in_channels, out_channels, kernel_size, padding=padding), nn.LeakyReLU(0.2))


class ProDiscriminator(nn.Module):
    """images (N, 1, 4 * 2^stage, same) -> scores (N, 1), no sigmoid; see the module docstring."""

    def __init__(self, channels=D_CHANNELS, group_size=4):
        super().__init__()
        self.channels = tuple(channels)
        if len(self.channels) != STAGES:
            raise ValueError(f"ProDiscriminator: expected {STAGES} channel counts (4, 8, 16, 32 pixels), "
                             f"got {channels}")
        c0 = self.channels[0]
        self.from_image = nn.ModuleList([d_conv(1, c, 1) for c in self.channels])
        self.blocks = nn.ModuleList([nn.Identity()] + [  # block 0 is the 4x4 head below
            nn.Sequential(d_conv(self.channels[s], self.channels[s], 3, 1),
                          d_conv(self.channels[s], self.channels[s - 1], 3, 1), nn.AvgPool2d(2))
            for s in range(1, STAGES)])
        self.head = nn.Sequential(nn.MinibatchStdDev(group_size), d_conv(c0 + 1, c0, 3, 1), d_conv(c0, c0, 4),
                                  nn.Flatten(), nn.EqualizedLinear(c0, 1))

    def forward(self, x, stage=STAGES - 1, alpha=1.0):
        stage, alpha = check_stage_and_alpha("ProDiscriminator", stage, alpha)
        if not isinstance(x, Tensor):
            raise not_a_tensor("ProDiscriminator", "x", x)
        size = resolution(stage)
        if x.ndim != 4 or x.shape[1:] != (1, size, size):
            raise ValueError(f"ProDiscriminator: at stage {stage} expected images of shape (N, 1, {size}, {size}), "
                             f"got {x.shape}")
        h = self.blocks[stage](self.from_image[stage](x))  # stage 0: block 0 is the identity
        if alpha < 1:
            h = (1 - alpha) * self.from_image[stage - 1](downsample(x)) + alpha * h
        for s in range(stage - 1, 0, -1):
            h = self.blocks[s](h)
        return self.head(h)

    def extra_repr(self):
        return f"channels={self.channels}"
