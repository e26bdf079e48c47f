"""Train a BEGAN (Boundary Equilibrium GAN, Berthelot, Schumm & Metz 2017) on MNIST digits.

    python examples/began_mnist.py --data-dir ../shared/data/mnist

D is an autoencoder. Its loss on an image v is how badly it reconstructs it,
L(v) = mean |v - D(v)| over the pixels (averaged over a batch's images), and the game is

    D minimises  L_D = L(x) - k_t L(G(z_D))        reconstruct real digits well, fakes badly
    G minimises  L_G = L(G(z_G))                    draw what D reconstructs well
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z_G))), 0, 1),   k_0 = 0

k_t is a proportional controller (gain lambda_k; see the settings below): it raises the weight of
the fakes in D's loss when G is winning (its fakes reconstructed better than gamma times the reals)
and lowers it when D is, so that the game settles at E L(G(z)) = gamma E L(x), a balance neither
player can run away from (the paper's "boundary equilibrium"). Early on k stays near 0 and D
learns to be a good autoencoder of real digits; only then does k rise and D push the fakes away.
The convergence measure M = L(x) + |gamma L(x) - L(G(z))| falls as the samples get better, a
single curve to watch (the usual GAN losses do not say whether training is progressing).

Settings, and why. Adam betas (0.5, 0.999) (the paper's); lr 2e-4 for D and five times it, 1e-3,
for G; gamma = 0.9;
lambda_k = 0.01, ten times the paper's 0.001, because this run is about 3,000 steps, not the
paper's hundreds of thousands; D's encoder has a minibatch standard-deviation map
(tinygen/models/began.py). Each choice was measured: on MNIST, G finds that L1 rewards little ink,
and a one is the cheapest digit to reconstruct. Runs of up to 936 steps (seed 0, one BLAS thread):
  - the paper's lr 1e-4, gamma 0.5, lambda_k 0.001: k stayed below 0.03 for 600 steps, and G drew
    one blurred digit (the catalogue's "k stuck at 0, collapse on MNIST");
  - lr 2e-4, gamma 0.75 or 0.9, lambda_k 0.01, no minibatch map: thin strokes, mostly ones; the DCGAN's
    BatchNorm generator instead of the decoder: a checkered one by step 312; BatchNorm on D's code:
    G drew a flat grey square; lr 1e-3 for both: 4 digits, 84% ones, Frechet distance 665;
  - with the minibatch map, equal rates 2e-4: 5 digits (49% ones), FD 452; equal rates 1e-3: 6
    digits, FD 430; gamma 0.5: ones; G at 5x D's rate: 9 digits, FD 192.
At the full 3,120 steps with the map and the two rates, gamma 0.75 drew 8 digits (42% ones, FD 184)
and gamma 0.9 all ten (FD 75): a larger gamma lets D reconstruct the fakes worse, so G gains less
by drawing the easiest digit (the paper calls gamma the "diversity ratio").
Batch 64; code and noise size 32; 32 channels (tinygen/models/began.py: one 3x3 convolution per
resolution, LeakyReLU(0.2) for the paper's ELU, nearest-neighbour upsampling 7 -> 14 -> 28, no
BatchNorm).

Also unlike the paper: z ~ N(0, I) (the paper's is uniform on [-1, 1]), and no learning-rate
decay (the paper halves the rate when M stalls).

The step: `discriminator_step`, `generator_step` and `began_step` below (tests/test_began_step.py).
k_t is part of the run: it is the last value of the history's "k" curve, which the checkpoint
holds, so --resume continues the controller exactly where it stopped.

Writes to --out: a sample grid per epoch, curves.png (the losses, L(x), L(G(z)), k and M),
equilibrium.png (k_t, M and L(G(z)) / L(x) beside gamma), samples.npy, checkpoint.npz and
metrics.json with "k_min", "k_max", "M_first_tenth", "M_last_tenth", "ratio_late" (the mean of
L(G(z)) / L(x) over the last tenth of steps: near gamma once at equilibrium) and "gamma".
"""
import argparse

import tinygen
from tinygen import optim, viz
from tinygen.models.began import (AutoencoderDiscriminator, Generator, convergence_measure,
                                  reconstruction_loss, update_k)

import common
import gans
from wgan_mnist import late_mean

GAMMA = 0.9  # the default equilibrium ratio E L(G(z)) / E L(x)
G_LR_FACTOR = 5  # G's learning rate is 5 times D's (--lr, 2e-4 by default): see "Settings, and why" above
LAMBDA_K = 0.01  # the default gain of k's controller (the paper's 0.001 is too slow for 3,000 steps; see above)


def current_k(history):
    """k_t: the last k the history holds (the checkpoint's, after --resume), k_0 = 0 at the start."""
    return history["k"][-1] if history["k"] else 0.0


def discriminator_step(G, D, opt_D, real, z, k):
    """D's phase: minimise L_D = L(x) - k_t L(G(z)) over D's parameters; returns (L_D, L(x), L(G(z))).
    The fakes are made without a graph: this phase trains D only."""
    with tinygen.no_grad():
        fake = G(z)
    loss_real, loss_fake = reconstruction_loss(D, real), reconstruction_loss(D, fake)
    d_loss = loss_real - k * loss_fake
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()
    return d_loss, loss_real, loss_fake


def generator_step(G, D, opt_G, z):
    """G's phase, through a frozen D: minimise L_G = L(G(z)), draw what D reconstructs well."""
    D.requires_grad_(False)
    g_loss = reconstruction_loss(D, G(z))
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    D.requires_grad_(True)
    return g_loss


def began_step(G, D, opt_G, opt_D, real, z_D, z_G, k, gamma, lambda_k):
    """BEGAN's step on one real batch: D's phase with the weight k = k_t (noise z_D), G's phase
    (noise z_G), then the controller on this step's L(x) and L(G(z_G)). Returns the step's
    numbers, with "k" = k_{t+1} and "M" the convergence measure."""
    d_loss, loss_real, loss_fake = discriminator_step(G, D, opt_D, real, z_D, k)
    g_loss = generator_step(G, D, opt_G, z_G)
    l_real, l_fake = loss_real.item(), g_loss.item()
    return {"d_loss": d_loss, "g_loss": g_loss, "loss_real": l_real, "loss_fake": loss_fake,
            "k": update_k(k, l_real, l_fake, gamma, lambda_k), "M": convergence_measure(l_real, l_fake, gamma)}


def make_train_step(G, D, opt_G, opt_D, args, history):
    """The loop's step: began_step with k_t read from the history and fresh noise for each phase.

    train appends the step's numbers to `history`, so that "k" there is k_{t+1}, which the next
    step reads as its k_t.
    """

    def train_step(real):
        z_D = tinygen.randn(args.batch_size, G.latent_dim, device=args.device)
        z_G = tinygen.randn(args.batch_size, G.latent_dim, device=args.device)
        return began_step(G, D, opt_G, opt_D, real, z_D, z_G, current_k(history), args.gamma, args.lambda_k)

    return train_step


def equilibrium_metrics(history, gamma):
    """What shows the controller at work: k's range, M early and late, and the late L(G(z)) / L(x)."""
    ratios = [fake / real for fake, real in zip(history["g_loss"], history["loss_real"])]
    tenth = max(1, round(len(history["M"]) / 10))
    return {"k_min": min(history["k"]), "k_max": max(history["k"]),
            "M_first_tenth": sum(history["M"][:tenth]) / tenth, "M_last_tenth": late_mean(history["M"]),
            "ratio_late": late_mean(ratios), "gamma": gamma}


def plot_equilibrium(history, gamma, path):
    """k_t, M and L(G(z)) / L(x) with the line at gamma, in one panel (equilibrium.png)."""
    ratios = [fake / real for fake, real in zip(history["g_loss"], history["loss_real"])]
    viz.plot_curves({"k_t": history["k"], "M = L(x) + |gamma L(x) - L(G(z))|": history["M"],
                     "L(G(z)) / L(x)": ratios, f"gamma = {gamma:g}": [gamma] * len(ratios)},
                    path, title="BEGAN: the controller k_t, M, and the ratio k_t holds near gamma")


def fraction(name, low, high):
    """An argparse type: a float in (low, high]."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low < value <= high:
            raise argparse.ArgumentTypeError(f"{name} must lie in ({low:g}, {high:g}], got {text}")
        return value
    return parse


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=2, batch_size=64, lr=2e-4, out="runs/began")
    parser.add_argument("--gamma", type=fraction("gamma", 0, 1), default=GAMMA,
                        help=f"the equilibrium ratio E L(G(z)) / E L(x), in (0, 1] (default {GAMMA})")
    parser.add_argument("--lambda-k", type=fraction("lambda_k", 0, 1), default=LAMBDA_K,
                        help=f"the controller's gain, in (0, 1] (default {LAMBDA_K})")
    args = common.parse_args(parser)
    gans.check_stddev_groups(args, 4)  # D's encoder: tinygen/models/began.py
    args.resume_with_the_same = {"gamma": "k's updates depend on it", "lambda_k": "k's updates depend on it"}
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too
    G, D = Generator().to(args.device), AutoencoderDiscriminator().to(args.device)
    data = gans.load_data(args)
    opt_G = optim.Adam(G.parameters(), lr=G_LR_FACTOR * args.lr, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    print(G, D, sep="\n")

    # per step: both losses, L(x) and L(G(z_D)) (D's phase), k_{t+1} and M
    history = {"d_loss": [], "g_loss": [], "loss_real": [], "loss_fake": [], "k": [], "M": []}
    train_step = make_train_step(G, D, opt_G, opt_D, args, history)
    fixed_z = gans.sample_noise(100, G.latent_dim, args, offset=0)  # the same 100 digits in every epoch's grid
    folder = gans.train(args, data.images, train_step, {"G": G, "D": D}, {"G": opt_G, "D": opt_D}, history,
                        end_of_epoch=gans.epoch_grid(G, (fixed_z,), "BEGAN"))
    plot_equilibrium(history, args.gamma, folder / "equilibrium.png")
    gans.finish(args, folder, history, gans.generate(G, gans.sample_noise(1000, G.latent_dim, args)), "BEGAN",
                extra_metrics=equilibrium_metrics(history, args.gamma))


if __name__ == "__main__":
    common.run(main)
