"""Train a sparse autoencoder on MNIST digits: an overcomplete code that each image may use only a little of.

    python examples/sparse_autoencoder_mnist.py --data-dir ../shared/data/mnist [--penalty l1]

The code h = sigmoid(W x + b) has more units (--code-size 1000) than the image has pixels, so
unregularised the network could learn to copy (examples/autoencoder_mnist.py --code-size 1000
does). A penalty on the code stops it (see tinygen/models/sparse_autoencoder.py):
- --penalty kl (Ng's): beta * sum_j KL(rho || rho_hat_j), rho_hat_j the mean activation of unit j
  over the batch: on average each unit fires a fraction rho (--rho, default 0.1) of the time;
- --penalty l1: beta * (1/N) sum_n sum_j |h_nj|: most activations are pushed to zero.
The reconstruction loss is the binary cross-entropy summed over the pixels, averaged over the
images (the per-image loss of Ng's notes, so that beta weighs one image's penalty).

Writes to --out: reconstructions.png, curves.png, reconstructions.npy, checkpoint.npz,
metrics.json (held-out error, PCA's, the mean activation and the fraction near zero),
codes.npy (the held-out codes, float32 (1000, code-size)) and mean_activation.png (each unit's
mean activation over the held-out images, sorted).
"""
import argparse

import numpy as np

import tinygen
from tinygen import optim, viz
import tinygen.nn.functional as F
from tinygen.models.sparse_autoencoder import SparseAutoencoder, kl_sparsity_penalty, l1_penalty

import autoencoders
import common

DEFAULT_BETA = {"kl": 3.0, "l1": 1.0}  # Ng's beta for KL; for L1, the weight that makes most units rest
NEAR_ZERO = 0.05  # an activation below this counts as off


def firing_rate(text):
    """An argparse type: a number strictly between 0 and 1 (the KL of rho = 0 or 1 is infinite)."""
    value = common.positive_number(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def sparse_step(model, opt, x, penalty, beta, rho=0.1):
    """One step on a batch x of B images: reconstruction loss per image plus beta times the code's penalty.

        loss = (1/B) sum_n BCE_sum(x^_n, x_n) + beta * penalty(h),   h = encoder(x) (B, units)
        kl: sum_j KL(rho || rho_hat_j), rho_hat_j = (1/B) sum_n h_nj;   l1: (1/B) sum_n sum_j |h_nj|

    The penalty acts on the code only: its gradient reaches the encoder, never the decoder.
    """
    code = model.encoder(x)  # (B, code_size), each in (0, 1)
    reconstruction = model.decoder(code)
    bce = F.binary_cross_entropy(reconstruction, x, reduction="sum") / x.shape[0]  # per image
    penalty = kl_sparsity_penalty(code, rho) if penalty == "kl" else l1_penalty(code)
    loss = bce + beta * penalty
    opt.zero_grad()
    loss.backward()
    opt.step()
    return {"loss": loss, "reconstruction": bce, "penalty": penalty}


def main():
    parser = autoencoders.parser(__doc__.splitlines()[1], epochs=20, batch_size=128, lr=1e-3,
                                 out="runs/sparse_autoencoder")
    parser.add_argument("--code-size", type=common.whole_number(1), default=1000,
                        help="code units, at least 1 (default 1000: overcomplete)")
    parser.add_argument("--penalty", choices=["kl", "l1"], default="kl", help="the sparsity penalty (default kl)")
    parser.add_argument("--rho", type=firing_rate, default=0.1, help="KL's target mean activation, in (0, 1) (default 0.1); only with --penalty kl")
    parser.add_argument("--beta", type=common.positive_number, default=None,
                        help=f"the penalty's weight (default {DEFAULT_BETA['kl']:g} for kl, {DEFAULT_BETA['l1']:g} for l1)")
    args = autoencoders.parse_args(parser)
    if args.penalty == "l1":
        common.refuse_given(args, ["rho"], "with --penalty l1 (it is the KL penalty's target rate)",
                            "drop --rho, or pass --penalty kl")
    beta = args.beta = DEFAULT_BETA[args.penalty] if args.beta is None else args.beta
    args.resume_with_the_same = {name: "the loss depends on it" for name in ["penalty", "rho", "beta"]}
    tinygen.manual_seed(args.seed)  # before the model is made: its initial weights are random too

    data = autoencoders.load_data(args)
    model = SparseAutoencoder(args.code_size).to(args.device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    print(model)

    def train_step(x, epoch):
        return sparse_step(model, opt, x, args.penalty, beta, args.rho)

    history = {"loss": [], "reconstruction": [], "penalty": []}
    folder = autoencoders.train(args, data.train, train_step, {"autoencoder": model}, {"autoencoder": opt}, history)

    model.eval()
    codes = autoencoders.in_batches(model.encoder, data.held_out, args.device).astype(np.float32)
    mean_activation = codes.mean(axis=0)  # per unit, over the held-out images
    sparsity = {"penalty": args.penalty, "beta": beta, **({"rho": args.rho} if args.penalty == "kl" else {}),
                "mean_activation": float(codes.mean()), "fraction_near_zero": float(np.mean(codes < NEAR_ZERO))}
    print(f"held-out codes: mean activation {sparsity['mean_activation']:.4f}"
          f"{f' (rho {args.rho:g})' if args.penalty == 'kl' else ''}, "
          f"{100 * sparsity['fraction_near_zero']:.1f}% of activations below {NEAR_ZERO}")
    title = f"sparse autoencoder ({args.penalty}), code {args.code_size}"
    autoencoders.finish(args, folder, model, data, history, args.code_size, title, extra_metrics=sparsity)
    autoencoders.save_array(codes, folder / "codes.npy")
    viz.plot_mean_activations(mean_activation, folder / "mean_activation.png",
                              rho=args.rho if args.penalty == "kl" else None,
                              title=f"sparse code ({args.penalty}): mean held-out activation per unit")


if __name__ == "__main__":
    common.run(main)
