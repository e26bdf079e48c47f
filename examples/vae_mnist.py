"""Train a variational autoencoder on MNIST digits: the MLP VAE, the convolutional VAE, the beta-VAE.

    python examples/vae_mnist.py --data-dir ../shared/data/mnist [--latent 2] [--conv] [--beta 4]
    python examples/vae_mnist.py --data-dir ../shared/data/mnist --binarize   # a likelihood in nats

The encoder maps an image x to a Gaussian q(z|x) = N(mu, diag(exp(logvar))); a sample
z = mu + exp(logvar / 2) * eps is decoded to pixel probabilities. Training minimises the
negative ELBO: the reconstruction's binary cross-entropy plus KL(q(z|x) || N(0, I)), which
keeps the codes close to the prior, so that decoding z ~ N(0, I) gives new digits. Both terms
are summed over pixels and images (see tinygen/models/vae.py).
- --conv: strided convolutions down, transposed convolutions up (ConvVAE), instead of 784-400-k;
- --beta B: the beta-VAE, BCE + B * KL. B > 1 pushes the codes harder towards the prior (fewer
  code units used, blurrier reconstructions, often one factor per unit); B < 1 the other way;
  B = 1 is exactly the VAE's loss.

Writes to --out: reconstructions and samples per epoch (from the same prior draws each epoch),
reconstructions.png/.npy (the held-out images decoded from their means mu), samples.npy (1000
decoded prior draws), interpolation.png (decoded means on the line between two held-out digits'
means), curves.png, checkpoint.npz, metrics.json; with --latent 2 manifold.png (the decoded 2-D
latent space); with --beta other than 1 traversal.png (one code unit varied at a time).

metrics.json holds, on the 1,000 held-out images, in nats per image: the negative ELBO, its
reconstruction term (BCE at one z ~ q(z|x), as in training) and its KL (closed form), and the KL
of each code unit. The negative ELBO there is always the VAE's (beta = 1), whatever --beta was
trained with, so that runs with different betas compare on one measure; the beta is saved beside it.

On grey digits the BCE is not a Bernoulli log-likelihood (a grey pixel is not a 0 or a 1: the
held-out digits have 46.7 nats of BCE against themselves), so that "negative ELBO" bounds nothing
and does not compare with the literature. With --binarize the VAE is the Bernoulli model of
binary digits that the literature measures: each training digit is binarized afresh every time it
is seen (pixel = 1 with probability its grey value), the held-out digits once, with a fixed seed;
the negative ELBO is then a true bound, -ELBO >= -log p(x), and metrics.json adds the
importance-weighted estimate of log p(x) (Burda et al. 2015; tinygen/models/log_likelihood.py)
with --log-px-samples codes per digit (default 1000).
"""
import argparse
import math

import numpy as np

import tinygen
from tinygen import optim, viz
import tinygen.nn.functional as F
from tinygen.models.log_likelihood import vae_log_px
from tinygen.models.vae import ConvVAE, VAE, vae_loss

import autoencoders
import common

TRAVERSAL_ROWS = 10  # the code units shown in traversal.png, largest held-out KL first
TRAVERSAL_VALUES = np.linspace(-3, 3, 11, dtype=np.float32)  # the values each of them takes, +-3 prior sigmas


def non_negative_number(text):
    """An argparse type: a finite float >= 0 (beta weights the KL; a negative one would reward leaving the prior)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def vae_step(model, opt, x, beta=1.0, binarize=False):
    """One step on a batch x of images: the negative ELBO (with the KL weighted by beta: the beta-VAE),

        loss = sum_i [ BCE(decode(z_i), x_i) + beta KL(N(mu_i, exp(logvar_i)) || N(0, I)) ],
        z_i = mu_i + exp(logvar_i / 2) eps_i,   eps_i ~ N(0, I),

    summed over the pixels, the code units and the images (vae_loss), then one step of opt. With
    binarize, x is first drawn as binary digits (autoencoders.binarize_afresh), a new draw at
    every step, and the loss is then the Bernoulli model's true negative ELBO.
    Returns the loss and its two terms in nats per image (the sums divided by the batch size)."""
    if binarize:
        x = autoencoders.binarize_afresh(x)
    reconstruction, mu, logvar = model(x)
    loss, bce, kl = vae_loss(reconstruction, x, mu, logvar, beta=beta)  # summed over the batch
    opt.zero_grad()
    loss.backward()
    opt.step()
    n = x.shape[0]
    return {"loss": loss.item() / n, "reconstruction": bce.item() / n, "kl": kl.item() / n}


def held_out_terms(model, images, device):
    """The ELBO's terms for each image, in nats: (bce (N,), kl (N, latent_dim)).

    bce = -log p(x|z) at one draw z ~ q(z|x), summed over the pixels (an unbiased estimate of the
    reconstruction term, as in training); kl[:, j] = -1/2 (1 + logvar_j - mu_j^2 - exp(logvar_j)),
    the closed form of F.gaussian_kl before its sum over the code units j.
    """
    def terms(x):
        reconstruction, mu, logvar = model(x)
        n = x.shape[0]
        pixels = autoencoders.IMAGE_PIXELS
        bce = F.binary_cross_entropy(reconstruction.reshape(n, pixels), x.reshape(n, pixels), reduction="none").sum(dim=1)
        return np.concatenate([bce.numpy()[:, None], mu.numpy(), logvar.numpy()], axis=1).astype(np.float64)

    model.eval()
    columns = autoencoders.in_batches(terms, images, device)
    model.train()
    bce, mu, logvar = columns[:, 0], columns[:, 1 : 1 + model.latent_dim], columns[:, 1 + model.latent_dim :]
    return bce, -0.5 * (1 + logvar - mu**2 - np.exp(logvar))


def held_out_log_px(model, images, device, samples):
    """The importance-weighted estimate of log p(x) of each image (N,), in nats, with `samples`
    codes per image (tinygen.models.log_likelihood.vae_log_px), 100 images at a time."""
    model.eval()
    log_px = autoencoders.in_batches(lambda x: vae_log_px(model, x, samples=samples), images, device, batch_size=100)
    model.train()
    return log_px.astype(np.float64)


def traversal(decode, mu, units, device):
    """Row r decodes the code mu with unit units[r] set to each of TRAVERSAL_VALUES in turn (the others
    kept): what that one unit changes in the image. Returns (len(units) * 11, 28, 28)."""
    rows, columns = len(units), len(TRAVERSAL_VALUES)
    codes = np.tile(mu.astype(np.float32), (rows, columns, 1))  # (rows, columns, latent_dim)
    codes[np.arange(rows)[:, None], np.arange(columns)[None, :], np.asarray(units)[:, None]] = TRAVERSAL_VALUES
    return autoencoders.in_batches(decode, codes.reshape(rows * columns, -1), device).reshape(-1, 28, 28)


# Epochs of the 60,000 training digits by model, each default run ending within 10 minutes on 2
# cores: the convolutional VAE's step costs about five times the MLP's.
EPOCHS = {"mlp": 50, "conv": 30}


def main():
    parser = autoencoders.parser(__doc__.splitlines()[1], epochs=EPOCHS["mlp"], batch_size=128, lr=1e-3, out="runs/vae",
                                 epochs_help=f"{EPOCHS['mlp']}; {EPOCHS['conv']} with --conv")
    parser.add_argument("--latent", type=common.whole_number(1), default=20,
                        help="size of the code z, at least 1 (default 20; 2 draws the latent manifold)")
    parser.add_argument("--conv", action="store_true", help="the convolutional VAE (keras-io's layers) instead of the MLP")
    parser.add_argument("--beta", type=non_negative_number, default=1.0,
                        help="weight of the KL term, >= 0 (default 1: the VAE; other values: the beta-VAE)")
    parser.add_argument("--binarize", action="store_true",
                        help="train on binary digits (each binarized afresh when seen) and judge on the held-out digits "
                             "binarized once: the ELBO becomes a bound on log p(x), which is estimated too")
    parser.add_argument("--log-px-samples", type=common.whole_number(1), default=1000,
                        help="with --binarize: codes drawn per held-out digit for the estimate of log p(x) (default 1000)")
    args = autoencoders.parse_args(parser)
    if "epochs" not in args.given:
        args.epochs = EPOCHS["conv" if args.conv else "mlp"]
    if not args.binarize:
        common.refuse_given(args, ["log_px_samples"], "without --binarize (grey pixels have no Bernoulli likelihood)",
                            "pass --binarize too, or drop it")
    args.resume_with_the_same = {"beta": "the loss depends on it"}  # a resumed run must not change the loss
    tinygen.manual_seed(args.seed)  # before the model is made: its initial weights are random too

    data = autoencoders.load_data(args)
    model = (ConvVAE(args.latent) if args.conv else VAE(args.latent)).to(args.device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    name = ("conv " if args.conv else "") + ("VAE" if args.beta == 1 else f"beta-VAE (beta {args.beta:g})")
    print(model)

    def train_step(x, epoch):
        return vae_step(model, opt, x, beta=args.beta, binarize=args.binarize)

    def mean_code(x):
        """The code's mean mu: the held-out images' codes without the sampling noise."""
        return model.encode(x)[0]

    fixed_z = common.fixed_noise(100, args.latent, args.seed, args.device)  # the same draws at every epoch
    shown = data.held_out[:50]

    def end_of_epoch(epoch, folder):
        """Held-out originals above their reconstructions from mu; decoded prior draws."""
        model.eval()
        reconstructed = autoencoders.in_batches(lambda x: model.decode(mean_code(x)), shown, args.device)
        with tinygen.no_grad():
            samples = model.decode(fixed_z).numpy()
        model.train()
        pairs = np.concatenate([shown.reshape(-1, 28, 28), reconstructed.reshape(-1, 28, 28)])
        common.save_grid(pairs, folder / f"reconstructions_epoch_{epoch + 1:03d}.png",
                         f"{name} epoch {epoch + 1}: originals (top 5 rows), reconstructions of their means (bottom 5)")
        common.save_grid(samples.reshape(-1, 28, 28), folder / f"samples_epoch_{epoch + 1:03d}.png",
                         f"{name}, epoch {epoch + 1}: z ~ N(0, I)")

    history = {"loss": [], "reconstruction": [], "kl": []}  # per image, in nats
    folder = autoencoders.train(args, data.train, train_step, {"vae": model}, {"vae": opt}, history, end_of_epoch)

    judged = autoencoders.binarize_once(data.held_out) if args.binarize else data.held_out
    what = "held-out digits, binarized" if args.binarize else "held-out digits, grey (not a bound on log p(x): see --binarize)"
    bce, kl = held_out_terms(model, judged, args.device)
    kl_per_unit = kl.mean(axis=0)
    reconstruction_nats, kl_nats = float(bce.mean()), float(kl_per_unit.sum())
    print(f"ELBO on {len(bce)} {what}: {-(reconstruction_nats + kl_nats):.2f} nats per image "
          f"(reconstruction {reconstruction_nats:.2f}, KL {kl_nats:.2f}; beta {args.beta:g})")
    elbo = {"held_out_negative_elbo": reconstruction_nats + kl_nats, "held_out_reconstruction_nats": reconstruction_nats,
            "held_out_kl": kl_nats, "held_out_kl_per_unit": [float(k) for k in kl_per_unit], "beta": args.beta,
            "conv": args.conv, "binarized": args.binarize}
    if args.binarize and not args.no_metrics:
        log_px = held_out_log_px(model, judged, args.device, args.log_px_samples)
        elbo.update({"held_out_log_px": float(log_px.mean()), "log_px_samples": args.log_px_samples,
                     "binarize_seed": autoencoders.BINARIZE_SEED})
        print(f"log p(x) on the {len(log_px)} binarized held-out digits, importance-weighted with "
              f"{args.log_px_samples} codes each: {log_px.mean():.2f} nats per image")
    elif not args.binarize:
        elbo["likelihood_note"] = ("BCE against grey pixels is not a Bernoulli log-likelihood: this negative ELBO is "
                                   "not a bound on -log p(x) and does not compare with published figures (--binarize)")
    autoencoders.finish(args, folder, model, data, history, args.latent, name, extra_metrics=elbo,
                        reconstruction=lambda x: model.decode(mean_code(x)),
                        samples=autoencoders.prior_samples(model.decode, args.latent, args))

    model.eval()  # the line between two held-out digits' means, decoded (pairs 0-1, 2-3, ..., as the autoencoder's)
    autoencoders.save_interpolation(mean_code, model.decode, data.held_out[:10], folder / "interpolation.png",
                                    args.device, title=f"{name}: decoded means between two digits")
    if args.latent == 2:
        with tinygen.no_grad():
            viz.save_latent_manifold(lambda z: model.decode(tinygen.Tensor(z, device=args.device)).numpy().reshape(-1, 28, 28),
                                     folder / "manifold.png")
    if args.beta != 1:
        units = np.argsort(-kl_per_unit, kind="stable")[:TRAVERSAL_ROWS]
        mu = autoencoders.in_batches(mean_code, data.held_out[:1], args.device)[0]
        images = traversal(model.decode, mu, units, args.device)
        viz.save_image_grid(np.clip(images, 0, 1), folder / "traversal.png", nrow=len(TRAVERSAL_VALUES),
                            title=f"{name}: a row per code unit (largest held-out KL first), set to -3 ... 3")


if __name__ == "__main__":
    common.run(main)
