"""Train the classic fully connected GAN on MNIST digits.

    python examples/vanilla_gan_mnist.py --data-dir ../shared/data/mnist --split test

Two networks play a game. The discriminator D learns to tell real digits from generated ones;
the generator G learns to turn noise into digits that D calls real. Each step has two phases:
  1. train D on a batch of real images (target 1) and a batch of G's images (target 0);
  2. train G through a frozen D: G's images with target 1 (the "non-saturating" loss
     -log D(G(z)), which gives G strong gradients even while D easily rejects its images).
At the equilibrium D cannot tell them apart: D(x) = D(G(z)) = 0.5.

Writes to --out: a sample grid per epoch, training curves, samples.npy, checkpoint.npz, metrics.json.
The loop below, `train_gan`, also trains the DCGAN (examples/dcgan_mnist.py).
"""
import time

import tinygen
from tinygen import optim
from tinygen.data import DataLoader
from tinygen.models.vanilla_gan import Discriminator, Generator
import tinygen.nn.functional as F

import common


def train_gan(G, D, args, title):
    """Train G and D by the two-phase GAN loop on MNIST scaled to [-1, 1] (tanh's range)."""
    images = common.load_mnist(args, scale="symmetric")  # (N, 1, 28, 28) in [-1, 1]
    common.check_batch_size(args, len(images))
    loader = DataLoader(images, args.batch_size, shuffle=True, seed=args.seed, drop_last=True, device=args.device)

    G.to(args.device), D.to(args.device)
    opt_G = optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    print(G, D, sep="\n")

    history = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}
    step = 0
    if args.resume:
        step = common.load_checkpoint(args.resume, args, {"G": G, "D": D}, {"G": opt_G, "D": opt_D}, history)
    folder = common.out_dir(args)  # only now, with the options, data and checkpoint checked, is --out written

    steps_per_epoch = len(loader)
    last_step = common.total_steps(args, steps_per_epoch)
    fixed_z = common.fixed_noise(100, G.latent_dim, args.seed, args.device)
    real_label = tinygen.ones(args.batch_size, 1, device=args.device)
    fake_label = tinygen.zeros(args.batch_size, 1, device=args.device)
    started = time.perf_counter()

    for epoch in range(step // steps_per_epoch, args.epochs):
        if step >= last_step:
            break
        bar = common.epoch_bar(loader, epoch, step, args.epochs)
        for real in bar:
            z = tinygen.randn(args.batch_size, G.latent_dim, device=args.device)
            fake = G(z)

            # 1. Train D: push D(real) towards 1 and D(fake) towards 0. `detach` keeps this step
            #    from reaching into G: only D's parameters get gradients here.
            d_real, d_fake = D(real), D(fake.detach())
            d_loss = F.binary_cross_entropy(d_real, real_label) + F.binary_cross_entropy(d_fake, fake_label)
            opt_D.zero_grad()
            d_loss.backward()
            opt_D.step()

            # 2. Train G through a frozen D: make the updated D call the fakes real.
            D.requires_grad_(False)
            g_loss = F.binary_cross_entropy(D(fake), real_label)
            opt_G.zero_grad()
            g_loss.backward()
            opt_G.step()
            D.requires_grad_(True)

            step += 1
            for key, value in (("d_loss", d_loss), ("g_loss", g_loss), ("d_real", d_real.mean()), ("d_fake", d_fake.mean())):
                history[key].append(value.item())
            common.check_finite(history, step, args)  # a NaN loss: stop, saying so
            bar.set_postfix(d_loss=history["d_loss"][-1], g_loss=history["g_loss"][-1],
                            D_x=history["d_real"][-1], D_G_z=history["d_fake"][-1],
                            refresh=False)  # shown at the bar's next redraw, not written every step
            if step >= last_step:
                break

        # End of an epoch (or of the run): a grid from the fixed noise, and a checkpoint.
        common.save_grid(common.generate(G, fixed_z), folder / f"samples_epoch_{epoch + 1:03d}.png",
                         f"{title}, epoch {epoch + 1}, step {step}")
        common.save_checkpoint(folder / "checkpoint.npz", args, step, {"G": G, "D": D}, {"G": opt_G, "D": opt_D}, history)

    common.finish_gan(args, folder, G, history, time.perf_counter() - started)


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=50, batch_size=64, lr=2e-4, out="runs/vanilla_gan")
    args = common.parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too
    train_gan(Generator(latent_dim=100), Discriminator(), args, title="vanilla GAN")


if __name__ == "__main__":
    common.run(main)
