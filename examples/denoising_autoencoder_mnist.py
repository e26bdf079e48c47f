"""Train a denoising autoencoder on MNIST digits: corrupted images in, the clean ones out.

    python examples/denoising_autoencoder_mnist.py --data-dir ../shared/data/mnist [--noise masking]

Each step corrupts its batch afresh and trains the plain autoencoder (784 -> 1000 -> 784, the
size that learns to copy when fed clean images) to give back the clean images:
    loss = BCE(decoder(encoder(x~)), x),  x~ = corrupt(x)
(see tinygen/models/denoising_autoencoder.py). Copying x~ is now wrong by construction: to undo
the noise the network has to learn what digits look like.
- --noise gaussian: x~ = clip(x + sigma * eps, 0, 1), sigma = --level (default 0.5);
- --noise masking:  each pixel set to 0 with probability p = --level (default 0.3).

Writes to --out: reconstructions.png, curves.png, reconstructions.npy (of the clean held-out
images), checkpoint.npz, metrics.json (held-out error, PCA's, and the error to the clean images
of the corrupted images and of their denoised versions), noisy.npy (the held-out images
corrupted with a seeded draw, float32 (1000, 28, 28)), denoised.npy (the model's outputs for
them) and denoising.png (corrupted, denoised and clean, in rows).
"""
import numpy as np

import tinygen
from tinygen import optim
import tinygen.nn.functional as F
from tinygen.models.autoencoder import Autoencoder
from tinygen.models.denoising_autoencoder import corrupt

import autoencoders
import common

DEFAULT_LEVEL = {"gaussian": 0.5, "masking": 0.3}  # the Keras blog's sigma; Vincent et al.'s p


def denoising_step(model, opt, x, noise, level, generator=None):
    """One step on a batch of clean images x: corrupt them afresh, and train the model to give back x.

        x~ = corrupt(x),   loss = BCE(model(x~), x)   (mean over pixels and images)

    The noise is a new draw every step, from tinygen's generator (or `generator`, for a test).
    """
    noisy = corrupt(x, noise, level, generator)
    loss = F.binary_cross_entropy(model(noisy), x)  # against the clean x, not the noisy input
    opt.zero_grad()
    loss.backward()
    opt.step()
    return {"loss": loss}


def main():
    parser = autoencoders.parser(__doc__.splitlines()[1], epochs=20, batch_size=128, lr=1e-3,
                                 out="runs/denoising_autoencoder")
    parser.add_argument("--code-size", type=common.whole_number(1), default=1000,
                        help="code units, at least 1 (default 1000: overcomplete)")
    parser.add_argument("--noise", choices=["gaussian", "masking"], default="gaussian", help="the corruption")
    parser.add_argument("--level", type=common.positive_number, default=None,
                        help="gaussian: sigma (default 0.5); masking: the fraction of pixels zeroed, at most 1 "
                             "(default 0.3)")
    args = autoencoders.parse_args(parser)
    level = args.level = DEFAULT_LEVEL[args.noise] if args.level is None else args.level
    args.resume_with_the_same = {name: "the corruption trained on depends on it" for name in ["noise", "level"]}
    if args.noise == "masking" and level > 1:
        raise common.UsageError(f"--level {level:g}: masking zeroes a fraction of the pixels, at most 1; "
                                f"give --level in (0, 1]")
    tinygen.manual_seed(args.seed)  # before the model is made: its initial weights are random too

    data = autoencoders.load_data(args)
    model = Autoencoder(args.code_size).to(args.device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    print(model)

    def train_step(x, epoch):
        return denoising_step(model, opt, x, args.noise, level)

    history = {"loss": []}
    folder = autoencoders.train(args, data.train, train_step, {"autoencoder": model}, {"autoencoder": opt}, history)

    # The held-out images corrupted once, by a draw of their own (the training's random numbers
    # are untouched), and denoised.
    held_out = tinygen.Tensor(data.held_out)
    noisy = corrupt(held_out, args.noise, level, np.random.default_rng(args.seed + 20_000)).numpy()
    model.eval()
    denoised = autoencoders.in_batches(model, noisy, args.device).reshape(-1, 28, 28)
    clean = data.held_out.reshape(-1, 28, 28)
    errors = {"noise": args.noise, "level": level,
              "noisy_mse": float(np.mean((noisy.reshape(-1, 28, 28) - clean.astype(np.float64)) ** 2)),
              "denoised_mse": float(np.mean((denoised - clean.astype(np.float64)) ** 2))}
    errors["denoising_gain"] = errors["noisy_mse"] / errors["denoised_mse"]
    print(f"held-out {args.noise} noise ({level:g}): MSE to the clean images {errors['noisy_mse']:.5f} corrupted, "
          f"{errors['denoised_mse']:.5f} denoised ({errors['denoising_gain']:.1f}x less)")
    title = f"denoising autoencoder ({args.noise} {level:g}), code {args.code_size}"
    autoencoders.finish(args, folder, model, data, history, args.code_size, title, extra_metrics=errors)
    autoencoders.save_array(noisy.reshape(-1, 28, 28).astype(np.float32), folder / "noisy.npy")
    autoencoders.save_array(np.clip(denoised, 0, 1).astype(np.float32), folder / "denoised.npy")
    rows = [images[:10] for images in (noisy.reshape(-1, 28, 28), np.clip(denoised, 0, 1), clean)]
    common.save_grid(np.concatenate(rows), folder / "denoising.png",
                     f"{title}: corrupted (top), denoised (middle), clean (bottom)")


if __name__ == "__main__":
    common.run(main)
