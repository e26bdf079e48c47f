"""Train a Wasserstein GAN (WGAN, Arjovsky et al. 2017) on MNIST digits.

    python examples/wgan_mnist.py --data-dir ../shared/data/mnist

The discriminator becomes a critic: no sigmoid, a score D(x) on the whole real line. For a
1-Lipschitz D, E_x D(x) - E_z D(G(z)) is at most the Wasserstein-1 (earth mover's) distance
between the real and generated digits, and the best such D reaches it. So the critic maximises that
difference, its estimate W of the distance, and G minimises it, pulling its fakes up the critic's
slope:

    critic minimises  -(E_x D(x) - E_z D(G(z))) = -W
    G minimises       -E_z D(G(z))

Unlike the log loss, W does not saturate when the critic wins: it keeps giving G a gradient, so
the critic can be trained hard, N_CRITIC = 5 critic steps per G step, each on its own batch of
real digits. What keeps D Lipschitz here is crude: after every critic step every critic weight is
clipped into [-c, c], c = 0.01 (`clip_weights_`): a bounded set of weights gives a K-Lipschitz D
for some K, so W is the distance times an unknown K (compare W along a run, not between runs).
RMSprop rather than Adam: the paper saw momentum make the clipped critic unstable. Its lr, 5e-5,
learns slowly in the few minutes a CPU gives: after 2,015 G steps on the test split the Frechet
distance was 63.7 at 5e-5, 32.7 at 2e-4 and 34.4 at 5e-4, so the default here is 2e-4 (--lr 5e-5
gives the paper's). The critic is tinygen/models/wgan.py's MLPCritic; G is the vanilla GAN's
Generator, BatchNorm and all (PyTorch-GAN's wgan too).
This is the paper's Algorithm 1: always N_CRITIC critic steps, each clipped after its update.
Arjovsky et al.'s published code also has a critic warm-up that the paper does not mention (100
critic steps per G step for the first 25 G steps and every 500th) and clamps before each
update; neither is done here (docs/gans.md, "Where this differs from the paper").
The step: `critic_step`, `generator_step` and `wgan_step` below (tests/test_wgan_step.py).
WGAN-GP (examples/wgan_gp_mnist.py) replaces the clipping by a gradient penalty.

Writes to --out: a sample grid per epoch, curves.png (the critic's Wasserstein estimate, which
falls as G improves), samples.npy, checkpoint.npz and metrics.json (with
"wasserstein_late": the mean estimate over the last 10% of steps).
"""
import tinygen
from tinygen import optim
from tinygen.models.vanilla_gan import Generator
from tinygen.models.wgan import CLIP, N_CRITIC, MLPCritic, clip_weights_, wasserstein_estimate

import common
import gans


def critic_step(G, critic, opt_C, real, z, clip=CLIP):
    """One critic step on a real batch and noise z; returns (critic_loss, W) (0-d Tensors).

    Maximise W = mean_n D(x_n) - mean_n D(G(z_n)) over the critic's parameters (minimise -W),
    then clip every critic parameter into [-clip, clip] (Algorithm 1 of the paper: clip after
    the optimiser's step). The fakes are made without a graph: this step trains the critic only.
    """
    with tinygen.no_grad():
        fake = G(z)
    w = wasserstein_estimate(critic(real), critic(fake))
    critic_loss = -w
    opt_C.zero_grad()
    critic_loss.backward()
    opt_C.step()
    clip_weights_(critic, clip)
    return critic_loss, w


def generator_step(G, critic, opt_G, z):
    """G's step through a frozen critic: minimise -mean_n D(G(z_n)), raising the critic's score
    of the fakes; returns that loss. The critic's .grad is left as its last step set it."""
    critic.requires_grad_(False)
    g_loss = -critic(G(z)).mean()
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    critic.requires_grad_(True)
    return g_loss


def wgan_step(G, critic, opt_G, opt_C, real_batches, critic_z, z, clip=CLIP):
    """The WGAN's two-phase step: a critic step on each real batch (each with its own noise
    critic_z[k]), then one G step on the noise z; returns the numbers of the last critic step
    and G's loss. With N_CRITIC real batches, as main gives it, that is Algorithm 1's n_critic."""
    if len(real_batches) != len(critic_z) or not real_batches:
        raise ValueError(f"wgan_step: expected one noise batch per real batch, got {len(real_batches)} real "
                         f"batches and {len(critic_z)} noise batches")
    for real, z_critic in zip(real_batches, critic_z):
        critic_loss, w = critic_step(G, critic, opt_C, real, z_critic, clip)
    g_loss = generator_step(G, critic, opt_G, z)
    return {"critic_loss": critic_loss, "g_loss": g_loss, "wasserstein": w}  # W of the last critic step


def make_train_step(G, critic, opt_G, opt_C, args):
    """The loop's step: wgan_step on the N_CRITIC real batches gans.train hands it, with fresh noise."""

    def train_step(real_batches):
        noise = [tinygen.randn(args.batch_size, G.latent_dim, device=args.device) for _ in range(len(real_batches) + 1)]
        return wgan_step(G, critic, opt_G, opt_C, real_batches, noise[:-1], noise[-1])

    return train_step


def optimizers(G, critic, lr):
    """RMSprop for both (the paper's: no momentum, which made the clipped critic unstable there)."""
    return optim.RMSprop(G.parameters(), lr=lr), optim.RMSprop(critic.parameters(), lr=lr)


def late_mean(values, fraction=0.1):
    """The mean of the last `fraction` of a curve (at least its last value): where training ended up."""
    values = list(values)
    last = max(1, round(len(values) * fraction))
    return sum(values[-last:]) / last


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=45, batch_size=64, lr=2e-4, out="runs/wgan")
    args = common.parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too
    G, critic = Generator(latent_dim=100).to(args.device), MLPCritic().to(args.device)
    data = gans.load_data(args)
    opt_G, opt_C = optimizers(G, critic, args.lr)
    print(G, critic, sep="\n")
    train_step = make_train_step(G, critic, opt_G, opt_C, args)

    history = {"critic_loss": [], "g_loss": [], "wasserstein": []}  # per G step; the last critic step's W
    fixed_z = gans.sample_noise(100, G.latent_dim, args, offset=0)  # the same 100 digits in every epoch's grid
    folder = gans.train(args, data.images, train_step, {"G": G, "critic": critic}, {"G": opt_G, "critic": opt_C},
                        history, end_of_epoch=gans.epoch_grid(G, (fixed_z,), "WGAN"), batches_per_step=N_CRITIC)
    gans.finish(args, folder, history, gans.generate(G, gans.sample_noise(1000, G.latent_dim, args)), "WGAN",
                extra_metrics={"wasserstein_late": late_mean(history["wasserstein"])})


if __name__ == "__main__":
    common.run(main)
