"""Train an adversarial autoencoder on MNIST digits: a discriminator on codes pushes them towards N(0, I).

    python examples/aae_mnist.py --data-dir ../shared/data/mnist [--latent 10] [--no-adversary]

An encoder E maps an image x to a code z = E(x), a decoder maps it back (tinygen/models/aae.py).
A discriminator D looks at codes only: draws from the prior p(z) = N(0, I) are "real", codes
E(x) of images are "fake". Each batch goes through the paper's two phases (Makhzani et al. 2015):
1. reconstruction: update E and the decoder on the reconstruction's binary cross-entropy,
   summed over the pixels and averaged over the images (nats per image, as the VAE's term);
2. regularisation: (a) update D to tell prior draws from codes; then (b) update E, as a GAN's
   generator, to make D call its codes real.
Phase 1 steps Adam at --lr (1e-3); phase 2, a GAN's game, steps D's and E's own Adams at
--adversarial-lr (2e-4, beta1 0.5: PyTorch-GAN's).
At the equilibrium D cannot tell codes from prior draws: the codes of all images, together, are
distributed as N(0, I), and the decoder makes a digit of any draw z ~ N(0, I).

The default budget is 3 epochs of the 60,000 training digits (1,800 steps, as 20 epochs of the
9,000 digits of --split test were): the game does not settle, and longer training lets the codes
drift from the prior again (20 epochs, 12,000 steps: D tells 0.95 of the codes from prior draws,
their Gaussian KL to N(0, I) 13.4 nats; docs/variational.md).

--no-adversary leaves out step 2(b): a plain autoencoder of the same networks, whose codes no one
shapes; D still trains beside it and shows how easily such codes are told from the prior.

Writes to --out: reconstructions.png, curves.png, reconstructions.npy, checkpoint.npz,
samples.npy (1000 decoded prior draws, float32 (1000, 28, 28) in [0, 1]) and samples.png (the
first 100), codes.npy (the held-out images' codes in order, float32 (1000, latent)), codes.png
(the codes' first two dimensions, coloured by digit, beside as many prior draws) and
metrics.json: the held-out reconstruction error (and PCA's), the codes' mean and covariance
against the prior's, D's accuracy on the held-out codes against fresh prior draws (0.5: chance),
and tinygen's metrics of the samples.
"""
import numpy as np

import tinygen
from tinygen import nn, optim, viz
import tinygen.nn.functional as F
from tinygen.models.aae import CodeDiscriminator, Decoder, Encoder

import autoencoders
import common


# ---------------------------------------------------------------------------------------------
# The paper's algorithm: each batch goes through two phases, each updating its own networks


def reconstruction_phase(encoder, decoder, opt_reconstruction, x):
    """1. Update E and the decoder on how well the code rebuilds the image: the binary
    cross-entropy summed over the pixels, averaged over the images (nats per image)."""
    reconstruction = decoder(encoder(x))
    bce = F.binary_cross_entropy(reconstruction, x, reduction="sum") / x.shape[0]
    opt_reconstruction.zero_grad()
    bce.backward()
    opt_reconstruction.step()
    return bce


def discriminator_step(D, opt_D, prior, codes):
    """2(a). Update D to call prior draws real (1) and the codes fake (0):
    (BCE(D(prior), 1) + BCE(D(codes), 0)) / 2. `detach`: this update must not reach E."""
    n = codes.shape[0]
    real = tinygen.ones(n, 1, device=codes.device, dtype=codes.dtype)
    fake = tinygen.zeros(n, 1, device=codes.device, dtype=codes.dtype)
    d_loss = (F.binary_cross_entropy_with_logits(D(prior), real)
              + F.binary_cross_entropy_with_logits(D(codes.detach()), fake)) / 2
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()
    return d_loss


def generator_step(D, opt_generator, codes, update=True):
    """2(b). Update E, as a GAN's generator, to make D (as 2(a) left it) call its codes real:
    BCE(D(E(x)), 1). opt_generator holds E's parameters only: D's gradient is computed, never
    applied. With update=False (--no-adversary) the loss is only measured."""
    g_loss = F.binary_cross_entropy_with_logits(D(codes), tinygen.ones(codes.shape[0], 1, device=codes.device, dtype=codes.dtype))
    if update:
        opt_generator.zero_grad()
        g_loss.backward()
        opt_generator.step()
    return g_loss


def two_phase_step(x, encoder, decoder, D, opt_reconstruction, opt_D, opt_generator, adversary=True):
    """One batch x through the paper's two phases; returns the numbers for the curves."""
    # 1. Reconstruction.
    bce = reconstruction_phase(encoder, decoder, opt_reconstruction, x)
    # 2. Regularisation, on the codes of the encoder as phase 1 left it.
    codes = encoder(x)
    prior = tinygen.randn(*codes.shape, device=codes.device, dtype=codes.dtype)  # z ~ p(z) = N(0, I)
    d_loss = discriminator_step(D, opt_D, prior, codes)  # (a) D learns to tell prior draws from codes
    g_loss = generator_step(D, opt_generator, codes, update=adversary)  # (b) E learns to fool D
    return {"reconstruction": bce, "d_loss": d_loss, "g_loss": g_loss}


# ---------------------------------------------------------------------------------------------
# How near the prior the codes are


def code_statistics(codes):
    """How near N(0, I) a set of codes (N, k) is, from their mean m and covariance C (float64):

    the mean and its norm ||m||; the largest |C - I| entry; C's smallest and largest eigenvalue;
    and the KL divergence of the Gaussian fitted to the codes from the prior, in nats,
        KL(N(m, C) || N(0, I)) = (tr C + m.m - k - ln det C) / 2,
    0 only for m = 0 and C = I. (It sees the first two moments only: codes with the right mean and
    covariance may still be shaped otherwise.)
    """
    codes = np.asarray(codes, dtype=np.float64)
    k = codes.shape[1]
    mean = codes.mean(axis=0)
    covariance = np.cov(codes, rowvar=False).reshape(k, k)
    eigenvalues = np.linalg.eigvalsh(covariance)
    _, log_det = np.linalg.slogdet(covariance)
    kl = 0.5 * (np.trace(covariance) + mean @ mean - k - log_det)
    return {"mean": mean.tolist(), "mean_norm": float(np.linalg.norm(mean)),
            "max_abs_covariance_minus_identity": float(np.abs(covariance - np.eye(k)).max()),
            "covariance_eigenvalues_min": float(eigenvalues.min()), "covariance_eigenvalues_max": float(eigenvalues.max()),
            "gaussian_kl_to_prior": float(kl)}


def discriminator_accuracy(D, codes, prior_draws, device):
    """D's accuracy at telling prior draws (logit > 0: real) from codes (logit < 0), over both sets
    of equal size: 0.5 is chance, what D scores when the codes are distributed as the prior."""
    D.eval()
    says_real_to_prior = autoencoders.in_batches(D, prior_draws, device) > 0
    says_real_to_codes = autoencoders.in_batches(D, codes, device) > 0
    D.train()
    return float((says_real_to_prior.sum() + (~says_real_to_codes).sum()) / (len(prior_draws) + len(codes)))


def main():
    parser = autoencoders.parser(__doc__.splitlines()[1], epochs=3, batch_size=100, lr=1e-3, out="runs/aae")
    parser.add_argument("--latent", type=common.whole_number(1), default=10, help="size of the code z, at least 1 "
                        "(default 10)")
    parser.add_argument("--adversarial-lr", type=common.positive_number, default=2e-4,
                        help="learning rate of phase 2, D's and the encoder's adversarial updates, > 0 (default 2e-4, "
                             "PyTorch-GAN's; --lr is phase 1's); with --no-adversary D still trains at it")
    parser.add_argument("--no-adversary", action="store_true",
                        help="leave out the encoder's adversarial update: a plain autoencoder, for comparison")
    args = autoencoders.parse_args(parser)
    args.adversary = not args.no_adversary
    args.resume_with_the_same = {"no_adversary": "the encoder's loss depends on it"}
    tinygen.manual_seed(args.seed)  # before the models are made: their initial weights are random too

    data = autoencoders.load_data(args)
    encoder, decoder = Encoder(args.latent).to(args.device), Decoder(args.latent).to(args.device)
    D = CodeDiscriminator(args.latent).to(args.device)
    # Three optimisers, one per update, each with its own Adam state. Phase 2 is a GAN's game, played
    # with PyTorch-GAN's Adam (2e-4, beta1 0.5); faster (5e-4 and more) the codes collapse here.
    opt_reconstruction = optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=args.lr)
    opt_D = optim.Adam(D.parameters(), lr=args.adversarial_lr, betas=(0.5, 0.999))
    opt_generator = optim.Adam(encoder.parameters(), lr=args.adversarial_lr, betas=(0.5, 0.999))
    print(encoder, decoder, D, sep="\n")

    def train_step(x, epoch):
        return two_phase_step(x, encoder, decoder, D, opt_reconstruction, opt_D, opt_generator, args.adversary)

    history = {"reconstruction": [], "d_loss": [], "g_loss": []}
    models = {"encoder": encoder, "decoder": decoder, "discriminator": D}
    optimizers = {"reconstruction": opt_reconstruction, "discriminator": opt_D, "generator": opt_generator}
    folder = autoencoders.train(args, data.train, train_step, models, optimizers, history)

    encoder.eval()
    decoder.eval()
    codes = autoencoders.in_batches(encoder, data.held_out, args.device).astype(np.float32)
    prior_draws = np.random.default_rng(args.seed + 30_000).standard_normal(codes.shape).astype(np.float32)  # fresh
    statistics = code_statistics(codes)
    accuracy = discriminator_accuracy(D, codes, prior_draws, args.device)
    code_metrics = {"adversary": args.adversary, "latent": args.latent, "held_out_codes": statistics,
                    "prior_draws_for_comparison": code_statistics(prior_draws),
                    "discriminator_accuracy": accuracy}
    print(f"held-out codes: |mean| {statistics['mean_norm']:.3f}, covariance eigenvalues in "
          f"[{statistics['covariance_eigenvalues_min']:.3f}, {statistics['covariance_eigenvalues_max']:.3f}], "
          f"max |cov - I| {statistics['max_abs_covariance_minus_identity']:.3f}, Gaussian KL to N(0, I) "
          f"{statistics['gaussian_kl_to_prior']:.3f} nats (as many prior draws: "
          f"{code_metrics['prior_draws_for_comparison']['gaussian_kl_to_prior']:.3f}); "
          f"D's accuracy, codes against prior draws: {accuracy:.3f} (0.5 is chance)")

    kind = "adversarial autoencoder" if args.adversary else "autoencoder without the adversary"
    samples = autoencoders.prior_samples(decoder, args.latent, args)
    autoencoders.finish(args, folder, nn.Sequential(encoder, decoder), data, history, args.latent,
                        f"{kind}, code {args.latent}", extra_metrics=code_metrics, samples=samples)
    common.save_grid(np.clip(samples[:100], 0, 1), folder / "samples.png", f"{kind}: decoded draws z ~ N(0, I)")
    autoencoders.save_array(codes, folder / "codes.npy")
    viz.plot_codes(codes, data.held_out_labels, prior_draws, folder / "codes.png",
                   title=f"{kind}: held-out codes (dimensions 1 and 2) and prior draws")


if __name__ == "__main__":
    common.run(main)
