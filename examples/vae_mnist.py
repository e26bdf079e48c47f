"""Train a variational autoencoder on MNIST digits.

    python examples/vae_mnist.py --data-dir ../shared/data/mnist --split test [--latent 2]

The encoder maps an image x to a Gaussian q(z|x) = N(mu, diag(exp(logvar))); a sample
z = mu + exp(logvar / 2) * eps is decoded to pixel probabilities. Training minimises the
negative ELBO: the reconstruction's binary cross-entropy plus KL(q(z|x) || N(0, I)), which
keeps the codes close to the prior, so that decoding z ~ N(0, I) gives new digits.

Writes to --out: reconstructions and samples per epoch, training curves, samples.npy,
checkpoint.npz, metrics.json, and with --latent 2 the decoded 2-D latent manifold.
The ELBO is reported on images never trained on: the test split when training on the train
split, else the last 1000 images of the test split, held out.
"""
import time

import numpy as np

import tinygen
from tinygen import optim, viz
from tinygen.data import DataLoader
from tinygen.models.vae import VAE, vae_loss

import common

HELD_OUT = 1000


def evaluation_elbo(model, images, device, batch_size=500):
    """The mean ELBO per image (in nats, higher is better) on images the model never trained on."""
    total = 0.0
    with tinygen.no_grad():
        for start in range(0, len(images), batch_size):
            x = tinygen.Tensor(images[start : start + batch_size], device=device)
            reconstruction, mu, logvar = model(x)  # one sample of z per image, as in training
            loss, _, _ = vae_loss(reconstruction, x, mu, logvar)
            total += loss.item()
    return -total / len(images)


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=20, batch_size=128, lr=1e-3, out="runs/vae")
    parser.add_argument("--latent", type=common.whole_number(1), default=20,
                        help="size of the code z, at least 1 (2 draws the latent manifold)")
    args = common.parse_args(parser)
    tinygen.manual_seed(args.seed)

    images = common.load_mnist(args, scale="unit")  # sigmoid output and BCE: images in [0, 1]
    if args.split == "test":
        images, evaluation_images = images[:-HELD_OUT], images[-HELD_OUT:]
    else:
        evaluation_images = common.mnist(args, "test").arrays(scale="unit")[0]
    common.check_batch_size(args, len(images))
    loader = DataLoader(images, args.batch_size, shuffle=True, seed=args.seed, drop_last=True, device=args.device)

    model = VAE(latent_dim=args.latent).to(args.device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    print(model)

    history = {"loss": [], "reconstruction": [], "kl": []}  # per image, in nats
    step = 0
    if args.resume:
        step = common.load_checkpoint(args.resume, args, {"vae": model}, {"vae": opt}, history)
    folder = common.out_dir(args)  # only now, with the options, data and checkpoint checked, is --out written

    steps_per_epoch = len(loader)
    last_step = common.total_steps(args, steps_per_epoch)
    fixed_z = common.fixed_noise(100, args.latent, args.seed, args.device)
    shown = tinygen.Tensor(evaluation_images[:50], device=args.device)  # images to reconstruct each epoch

    started = time.perf_counter()
    for epoch in range(step // steps_per_epoch, args.epochs):
        if step >= last_step:
            break
        bar = common.epoch_bar(loader, epoch, step, args.epochs)
        for x in bar:
            reconstruction, mu, logvar = model(x)
            loss, bce, kl = vae_loss(reconstruction, x, mu, logvar)  # summed over the batch
            opt.zero_grad()
            loss.backward()
            opt.step()

            step += 1
            n = x.shape[0]
            history["loss"].append(loss.item() / n)
            history["reconstruction"].append(bce.item() / n)
            history["kl"].append(kl.item() / n)
            common.check_finite(history, step, args)  # a NaN loss: stop, saying so
            bar.set_postfix(loss=history["loss"][-1], bce=history["reconstruction"][-1], kl=history["kl"][-1],
                            refresh=False)  # shown at the bar's next redraw, not written every step
            if step >= last_step:
                break

        # End of an epoch: reconstructions (originals above, reconstructions below), samples, checkpoint.
        with tinygen.no_grad():
            reconstructed = model.decode(model.encode(shown)[0]).numpy().reshape(-1, 28, 28)
            samples = model.decode(fixed_z).numpy()
        pairs = np.concatenate([shown.numpy().reshape(-1, 28, 28), reconstructed])
        common.save_grid(pairs, folder / f"reconstructions_epoch_{epoch + 1:03d}.png",
                         f"VAE epoch {epoch + 1}: originals (top 5 rows), reconstructions of their means (bottom 5)")
        common.save_grid(samples, folder / f"samples_epoch_{epoch + 1:03d}.png", f"VAE, epoch {epoch + 1}: z ~ N(0, I)")
        common.save_checkpoint(folder / "checkpoint.npz", args, step, {"vae": model}, {"vae": opt}, history)

    print(f"trained {len(history['loss'])} steps in all; this run took {time.perf_counter() - started:.1f} s")
    elbo = evaluation_elbo(model, evaluation_images, args.device)
    print(f"ELBO on {len(evaluation_images)} held-out images: {elbo:.2f} nats per image")
    common.save_text(f"{elbo:.4f}\n", folder / "elbo.txt")
    if history["loss"]:
        viz.plot_curves(history, folder / "curves.png", title="VAE: negative ELBO per image and its two terms")
    if args.latent == 2:
        with tinygen.no_grad():
            viz.save_latent_manifold(lambda z: model.decode(tinygen.Tensor(z, device=args.device)),
                                     folder / "manifold.png")
    with tinygen.no_grad():
        samples = model.decode(common.fixed_noise(1000, args.latent, args.seed + 1, args.device)).numpy()
    common.save_samples_and_metrics(args, folder, samples)


if __name__ == "__main__":
    common.run(main)
