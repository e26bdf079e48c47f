"""Train a WGAN with gradient penalty (WGAN-GP, Gulrajani et al. 2017) on MNIST digits.

    python examples/wgan_gp_mnist.py --data-dir ../shared/data/mnist

The WGAN's game (examples/wgan_mnist.py) with a better way to keep the critic 1-Lipschitz. A
differentiable D is 1-Lipschitz exactly where its gradient has norm at most 1, and the optimal
critic has norm 1 on the lines between real and generated points. So instead of clipping the
weights (which wastes the critic's capacity and makes it hard to train), WGAN-GP asks for norm 1
on random points x_hat_n = alpha_n x_n + (1 - alpha_n) G(z_n), alpha_n ~ U(0, 1), one per sample:

    critic minimises  E_z D(G(z)) - E_x D(x) + lambda E_x_hat (||grad_x_hat D(x_hat)||_2 - 1)^2
    G minimises       -E_z D(G(z))

with lambda = 10 and N_CRITIC = 5 critic steps per G step, Adam lr 1e-4, betas (0, 0.9) for both
(the paper's). The penalty is a function of a gradient, so training the critic on it needs the
gradient of a gradient: `gradient_penalty` (tinygen/models/wgan.py) takes grad_x_hat D with
create_graph=True, and the critic loss's backward then runs through the critic's own backward.
The critic has no BatchNorm (it would make D(x_hat_n) depend on the other samples); G, the
vanilla GAN's Generator, keeps its own. The step: `critic_step` and `wgan_gp_step` below, with
the WGAN's `generator_step` (tests/test_wgan_step.py works them by hand).

Writes to --out: a sample grid per epoch, curves.png (the critic's Wasserstein estimate;
the mean gradient norm on interpolates beside the line at 1), samples.npy, checkpoint.npz
and metrics.json (with "grad_norm_late" and "wasserstein_late": their means over the last 10% of
steps).
"""
import tinygen
from tinygen import optim
from tinygen.models.vanilla_gan import Generator
from tinygen.models.wgan import GP_WEIGHT, N_CRITIC, MLPCritic, gradient_penalty, wasserstein_estimate

import common
import gans
from wgan_mnist import generator_step, late_mean


def critic_step(G, critic, opt_C, real, z, alpha=None):
    """One critic step on a real batch and noise z; returns (critic_loss, W, mean gradient norm).

    Minimise -W + lambda * penalty, W = mean D(x) - mean D(G(z)), the penalty on the points
    alpha_n x_n + (1 - alpha_n) G(z_n) (alpha: one per sample, (N, 1, 1, 1); None draws it).
    The fakes are made without a graph (this step trains the critic only), shaped as the reals.
    No clipping: the penalty keeps the critic's slope near 1.
    """
    with tinygen.no_grad():
        fake = G(z).reshape(real.shape)
    w = wasserstein_estimate(critic(real), critic(fake))
    penalty, grad_norm = gradient_penalty(critic, real, fake, alpha)
    critic_loss = -w + GP_WEIGHT * penalty
    opt_C.zero_grad()
    critic_loss.backward()  # through grad_x_hat D too: the double backward
    opt_C.step()
    return critic_loss, w, grad_norm


def wgan_gp_step(G, critic, opt_G, opt_C, real_batches, critic_z, alphas, z):
    """The WGAN-GP's two-phase step: a critic step on each real batch, with its own noise
    critic_z[k] and interpolation weights alphas[k] (None: drawn), then one G step on z, the
    WGAN's (`generator_step`); returns the numbers of the last critic step and G's loss."""
    if not real_batches or not len(real_batches) == len(critic_z) == len(alphas):
        raise ValueError(f"wgan_gp_step: expected one noise batch and one alpha per real batch, got "
                         f"{len(real_batches)} real batches, {len(critic_z)} noise batches and {len(alphas)} alphas")
    for real, z_critic, alpha in zip(real_batches, critic_z, alphas):
        critic_loss, w, grad_norm = critic_step(G, critic, opt_C, real, z_critic, alpha)
    g_loss = generator_step(G, critic, opt_G, z)
    return {"critic_loss": critic_loss, "g_loss": g_loss, "wasserstein": w, "grad_norm": grad_norm}


def make_train_step(G, critic, opt_G, opt_C, args):
    """The loop's step: wgan_gp_step on the N_CRITIC real batches gans.train hands it, with fresh
    noise and alphas (drawn z, alpha, z, alpha, ..., then G's z)."""

    def train_step(real_batches):
        critic_z, alphas = [], []
        for real in real_batches:
            critic_z.append(tinygen.randn(args.batch_size, G.latent_dim, device=args.device))
            alphas.append(tinygen.rand(len(real), *(1,) * (real.ndim - 1), dtype=real.dtype, device=args.device))
        z = tinygen.randn(args.batch_size, G.latent_dim, device=args.device)
        return wgan_gp_step(G, critic, opt_G, opt_C, real_batches, critic_z, alphas, z)

    return train_step


def optimizers(G, critic, lr):
    """Adam with betas (0, 0.9) for both (the paper's)."""
    return optim.Adam(G.parameters(), lr=lr, betas=(0.0, 0.9)), optim.Adam(critic.parameters(), lr=lr, betas=(0.0, 0.9))


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=35, batch_size=64, lr=1e-4, out="runs/wgan_gp")
    args = common.parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too
    G, critic = Generator(latent_dim=100).to(args.device), MLPCritic().to(args.device)
    data = gans.load_data(args)
    opt_G, opt_C = optimizers(G, critic, args.lr)
    print(G, critic, sep="\n")
    train_step = make_train_step(G, critic, opt_G, opt_C, args)

    # per G step, of the last critic step: W, the critic's loss, the mean gradient norm on interpolates
    history = {"critic_loss": [], "g_loss": [], "wasserstein": [], "grad_norm": []}
    fixed_z = gans.sample_noise(100, G.latent_dim, args, offset=0)  # the same 100 digits in every epoch's grid
    folder = gans.train(args, data.images, train_step, {"G": G, "critic": critic}, {"G": opt_G, "critic": opt_C},
                        history, end_of_epoch=gans.epoch_grid(G, (fixed_z,), "WGAN-GP"), batches_per_step=N_CRITIC)
    late = {"grad_norm_late": late_mean(history["grad_norm"]), "wasserstein_late": late_mean(history["wasserstein"])}
    gans.finish(args, folder, history, gans.generate(G, gans.sample_noise(1000, G.latent_dim, args)), "WGAN-GP",
                extra_metrics=late)


if __name__ == "__main__":
    common.run(main)
