"""Train a progressively growing GAN (Karras et al. 2018, ProGAN) on MNIST digits: 4x4 up to 32x32.

    python examples/progressive_gan_mnist.py --data-dir ../shared/data/mnist

A GAN that starts small and grows. The digits are framed to 32x32 (`gans.pad_to_32`: 2 pixels
of background around each side). G and D first learn 4x4 images, where only the rough layout of
a digit exists and the game is easy; then a block of layers is added to both for 8x8, then
16x16, then 32x32. Each new resolution first FADES IN over --phase-steps steps, with a weight
alpha rising linearly from 0 to 1:

    G(z) = (1 - alpha) upsample(to_image_old(h)) + alpha to_image_new(block_new(h))
    D(x) = rest((1 - alpha) from_image_old(avgpool(x)) + alpha block_new(from_image_new(x)))

so at alpha = 0 the grown networks compute exactly what the smaller ones did (tested), and the new
layers, which start random, take over gradually instead of shocking the trained ones. The real
images reach D at the same resolution and with the same blend (pooled down from 32x32). After
each fade comes a stabilising phase at alpha = 1 of --phase-steps steps; the 32x32 stage then
trains to the end of the run. growth.png draws the stage and alpha over the steps; the
per-epoch grids show the digits at the resolution of the moment (upsampled to 32x32).

The paper's other pieces, all in tinygen/models/progressive_gan.py: the equalised learning rate
(every weight stored as N(0, 1) and multiplied at run time by the He constant sqrt(2 / fan_in),
so Adam moves every layer at the same relative speed), pixel-wise feature normalisation in G
(each pixel's feature vector scaled to mean square 1, instead of BatchNorm), and the minibatch
standard deviation in D's last block (a batch of look-alikes is easy to tell).

The loss is the paper's WGAN-GP with one critic step per G step:

    D minimises  E D(G(z)) - E D(x) + lambda E (||grad D(x_hat)|| - 1)^2 + epsilon_drift E D(x)^2
    G minimises  -E D(G(z))

lambda = 10, epsilon_drift = 0.001 (keeps the critic's scores from drifting away from 0), Adam
lr 1e-3, betas (0, 0.99) for both, as the paper. `progan_step` below is the step. The penalty's
interpolation weight between real and fake, epsilon (one per sample), is a different number from
the fade-in alpha: the critic it differentiates is D at the step's own (stage, alpha) (tested).

G_ema, an exponential moving average of G's weights (`models.ema.update_average_`), draws the
grids, the samples and the metrics: the paper's way to smooth out the game's oscillation. The
paper's decay 0.999 averages over about 1,000 steps, a small part of its hundreds of thousands;
this run has a few thousand, and at 0.999 the average would still hold a third of the weights
from before the last stage began (0.999^1000 = 0.37). Decay 0.995 averages over about 200 steps
(half-life 140) and forgets the old stages. It is checkpointed with G and D; the stage and
alpha are a function of the step (`growth_schedule`), and the step of the history's length, so a
run resumed in the middle of a fade-in continues exactly.

Settings for this machine: channels (64, 32, 16, 8) at 4, 8, 16, 32 pixels (the paper has 512 at
the low resolutions; a CPU cannot afford it, and MNIST does not need it), a 64-dimensional z,
batches of 32 and 300 steps per phase (9,600 images; the paper shows 600,000 a phase): the
growth ends after 1,800 steps, and the rest of the default run (2 epochs of the training split's
1,875 batches, 3,750 steps) trains at 32x32 for 1,950 steps. The low resolutions are cheap (a 4x4
step costs a tenth of a 32x32 one), so most of the time goes to the last stage.

Writes to --out: a sample grid per epoch, curves.png (the critic's Wasserstein estimate and the
gradient norm), growth.png (stage and alpha), resolutions.png (the same ten z drawn by G_ema at each
of the four resolutions), samples.npy, checkpoint.npz and metrics.json (with the schedule: steps
per phase, the step each stage began, the steps trained at each resolution, fade-ins included, and
the final resolution).
"""
import copy

import numpy as np

import tinygen
from tinygen import optim, viz
from tinygen.models.ema import update_average_
from tinygen.models.progressive_gan import (DRIFT, STAGES, ProDiscriminator, ProGenerator, growth_schedule,
                                            real_images_at, resolution)
from tinygen.models.wgan import GP_WEIGHT, gradient_penalty, wasserstein_estimate

import common
import gans

LATENT_DIM = 64
EMA_DECAY = 0.995
HISTORY = ["d_loss", "g_loss", "wasserstein", "grad_norm", "stage", "alpha"]


def progan_step(G, D, G_ema, opt_G, opt_D, real_32, z, epsilon, z_g, stage, alpha, ema_decay=EMA_DECAY):
    """One step of ProGAN's game at the schedule's (stage, alpha); returns its numbers.

    real_32: real images (B, 1, 32, 32); x = real_images_at(real_32, stage, alpha): pooled to
    4 * 2^stage pixels and, in a fade, blended as G's output is. z, z_g: noise (B, latent_dim)
    for the critic's fakes and for G's. epsilon: the penalty's interpolation weights (B, 1, 1, 1)
    in [0, 1], one per sample: NOT the fade-in alpha, which every call of G and D gets.

    1. The critic's phase, over D's parameters only (G(z) made without a graph):
         L_D = mean D(G(z)) - mean D(x) + lambda mean_n (||grad D(x_hat_n)|| - 1)^2 + eps_drift mean D(x)^2
         x_hat_n = epsilon_n x_n + (1 - epsilon_n) G(z)_n,   lambda = GP_WEIGHT, eps_drift = DRIFT
    2. G's phase, through the critic just updated and frozen:  L_G = -mean D(G(z_g)).
    3. G_ema <- ema_decay G_ema + (1 - ema_decay) G.
    """
    real = real_images_at(real_32, stage, alpha)

    # 1. The critic: WGAN-GP on the reals and G(z) at this stage and alpha, plus the drift term.
    with tinygen.no_grad():
        fake = G(z, stage, alpha)
    d_real = D(real, stage, alpha)
    w = wasserstein_estimate(d_real, D(fake, stage, alpha))
    penalty, grad_norm = gradient_penalty(lambda images: D(images, stage, alpha), real, fake, epsilon)
    d_loss = -w + GP_WEIGHT * penalty + DRIFT * (d_real * d_real).mean()
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()

    # 2. G through a frozen critic: raise the critic's score of new fakes.
    D.requires_grad_(False)
    g_loss = -D(G(z_g, stage, alpha), stage, alpha).mean()
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    D.requires_grad_(True)

    # 3. The moving average of G's weights, which draws the samples.
    update_average_(G_ema, G, ema_decay)
    return {"d_loss": d_loss, "g_loss": g_loss, "wasserstein": w, "grad_norm": grad_norm,
            "stage": stage, "alpha": alpha}


def make_train_step(G, D, G_ema, opt_G, opt_D, args, history):
    """train_step(real_32) for `gans.train`: the schedule's (stage, alpha) at this step and fresh
    noise, then `progan_step`. The step number is the history's length: a resumed run continues
    the schedule."""

    def train_step(real_32):
        stage, alpha = growth_schedule(len(history["alpha"]), args.phase_steps)
        z = tinygen.randn(args.batch_size, G.latent_dim, device=args.device)
        epsilon = tinygen.rand(len(real_32), 1, 1, 1, dtype=real_32.dtype, device=args.device)
        z_g = tinygen.randn(args.batch_size, G.latent_dim, device=args.device)
        return progan_step(G, D, G_ema, opt_G, opt_D, real_32, z, epsilon, z_g, stage, alpha)

    return train_step


def draw_at_32(G, z, stage, alpha):
    """G(z, stage, alpha) in [0, 1] as float32 (N, 28, 28): upsampled (nearest) from 4 * 2^stage
    to 32 pixels, then the frame cropped off, in eval mode and without a graph."""
    G.eval()
    with tinygen.no_grad():
        images = G(z, stage, alpha).numpy()
    G.train()
    factor = 32 // resolution(stage)
    images = images.repeat(factor, axis=2).repeat(factor, axis=3)[:, 0]
    return gans.crop_to_28(common.to_unit(images)).astype(np.float32)


def growth_grid(G_ema, fixed_z, args):
    """An end_of_epoch for `gans.train`: G_ema's digits for the fixed z at the epoch's last (stage, alpha)."""
    def draw(epoch, step, folder):
        stage, alpha = growth_schedule(max(step - 1, 0), args.phase_steps)
        size = resolution(stage)
        common.save_grid(draw_at_32(G_ema, fixed_z, stage, alpha), folder / f"samples_epoch_{epoch + 1:03d}.png",
                         f"ProGAN (G_ema), epoch {epoch + 1}, step {step}: {size}x{size}, alpha {alpha:.2f}")
    return draw


def stage_starts(phase_steps):
    """The step at which each stage begins (its fade-in; stage 0 at step 0)."""
    return [0] + [(2 * s - 1) * phase_steps for s in range(1, STAGES)]


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=2, batch_size=32, lr=1e-3, out="runs/progressive_gan")
    parser.add_argument("--phase-steps", type=common.whole_number(1), default=300,
                        help="steps of each fade-in and of each stabilising phase (default 300)")
    args = common.parse_args(parser)
    gans.check_stddev_groups(args, 4)
    args.resume_with_the_same = {"phase_steps": "the growth schedule depends on it"}
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too
    G, D = ProGenerator(LATENT_DIM).to(args.device), ProDiscriminator().to(args.device)
    G_ema = copy.deepcopy(G)  # the moving average starts as G
    data = gans.load_data(args)
    opt_G = optim.Adam(G.parameters(), lr=args.lr, betas=(0.0, 0.99))
    opt_D = optim.Adam(D.parameters(), lr=args.lr, betas=(0.0, 0.99))
    print(G, D, sep="\n")

    history = {key: [] for key in HISTORY}
    train_step = make_train_step(G, D, G_ema, opt_G, opt_D, args, history)
    fixed_z = gans.sample_noise(100, LATENT_DIM, args, offset=0)  # the same 100 digits in every epoch's grid
    folder = gans.train(args, gans.pad_to_32(data.images), train_step, {"G": G, "D": D, "G_ema": G_ema},
                        {"G": opt_G, "D": opt_D}, history, end_of_epoch=growth_grid(G_ema, fixed_z, args))

    steps = len(history["alpha"])
    viz.plot_curves({"stage (resolution 4 * 2^stage)": history["stage"], "fade-in alpha": history["alpha"]},
                    folder / "growth.png", title="ProGAN: the growth schedule", smooth=1)
    strip = np.concatenate([draw_at_32(G_ema, fixed_z[:10], s, 1.0) for s in range(STAGES)])
    common.save_grid(strip, folder / "resolutions.png", "G_ema's ten z at 4, 8, 16 and 32 pixels, a row each")
    final_stage = int(history["stage"][-1]) if steps else 0
    steps_at = {f"{resolution(s)}x{resolution(s)}": history["stage"].count(s) for s in range(STAGES)}
    schedule = {"phase_steps": args.phase_steps, "stage_start_steps": stage_starts(args.phase_steps),
                "steps_at_each_resolution": steps_at, "final_resolution": resolution(final_stage),
                "final_alpha": history["alpha"][-1] if steps else 1.0}
    samples = draw_at_32(G_ema, gans.sample_noise(1000, LATENT_DIM, args), *growth_schedule(max(steps - 1, 0),
                                                                                            args.phase_steps))
    gans.finish(args, folder, history, samples, "ProGAN", extra_metrics=schedule)


if __name__ == "__main__":
    common.run(main)
