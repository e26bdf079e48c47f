"""Train a conditional VAE on MNIST digits: the label chooses the digit, the code its style.

    python examples/cvae_mnist.py --data-dir ../shared/data/mnist [--latent 5]

The VAE of examples/vae_mnist.py with the digit's label y given, as a one-hot vector, to the
encoder q(z|x, y) and to the decoder p(x|z, y) (tinygen/models/cvae.py). Training minimises the
negative ELBO of log p(x|y): the binary cross-entropy of the image x alone (the label is an
input, never part of the target) plus KL(q(z|x, y) || N(0, I)), both summed over pixels and
images. The decoder is told the digit, so the code need not carry it and keeps the rest (slant,
width, stroke): decode(z, y) for one z and y = 0..9 writes the ten digits in one hand.

The decoder must learn to take the digit from y, not from z: early on the code carries the
digit (it is what the encoder sees first) and the KL term, which charges for every nat z carries,
pushes it out only slowly. Two defaults make the label win (tinygen/models/cvae.py): the one-hot
is joined at 10, not 1 (CVAE's label_scale), so it is read from the first steps, and the code is
small (--latent 5), so every unit is needed for the style. On the 9,000 training images of --split
test, with tinygen's classifier reading decode(z, k): a code of 20 with the one-hot at 1 (the old
defaults) gets the digit asked for in 0.79-0.87 of the decodes after 40 epochs; at 10, 0.94; a code
of 5 at 10, 0.99 (docs/variational.md).

Writes to --out: reconstructions.png and reconstructions.npy (the held-out images, each
encoded and decoded with its own label), curves.png, samples.npy (1000 draws z ~ N(0, I),
100 for each digit 0..9), samples_by_class.npy (10, 100, 28, 28): row k decoded from the same
100 codes with label k, samples_by_class.png (a column per digit, a row per code),
checkpoint.npz and metrics.json: the held-out negative ELBO and its KL term (nats per image),
the class accuracy (the fraction of samples_by_class that tinygen's classifier reads as the
digit asked for, overall and per digit), the held-out error beside PCA's and the sample metrics.
"""
import numpy as np

import tinygen
from tinygen import optim, viz
from tinygen.metrics import class_accuracy
from tinygen.models.cvae import CVAE
from tinygen.models.vae import vae_loss

import autoencoders
import common


def cvae_step(model, opt, x, y):
    """One step on images x (B, 1, 28, 28) with their labels y (B,): the negative ELBO of log p(x|y),

        loss = sum_i [ BCE(decode(z_i, y_i), x_i) + KL(q(z|x_i, y_i) || N(0, I)) ],
        z_i = mu_i + exp(logvar_i / 2) eps_i,   (mu_i, logvar_i) = encode(x_i, y_i),

    summed over pixels, code units and images (vae_loss), then one step of opt. The label goes to
    the encoder and to the decoder; the target is the image x alone. Returns nats per image."""
    reconstruction, mu, logvar = model(x, y)
    loss, bce, kl = vae_loss(reconstruction, x, mu, logvar)
    opt.zero_grad()
    loss.backward()
    opt.step()
    n = x.shape[0]
    return {"loss": loss.item() / n, "reconstruction": bce.item() / n, "kl": kl.item() / n}


def held_out_elbo(model, data, device):
    """The held-out negative ELBO and its KL term, in nats per image: the training loss on the
    1,000 held-out images, each with its label, one draw of z per image as in training."""
    def batch_sums(x, y):
        reconstruction, mu, logvar = model(x, y)
        loss, _, kl = vae_loss(reconstruction, x, mu, logvar)
        return np.array([[loss.item(), kl.item()]])

    loss, kl = autoencoders.in_batches(batch_sums, (data.held_out, data.held_out_labels), device).sum(axis=0)
    return loss / len(data.held_out), kl / len(data.held_out)


def draw_by_class(model, latent_dim, args, n=100):
    """decode(z_j, k) for the same n codes z_j ~ N(0, I) and every digit k, as float32 (10, n, 28, 28)
    in [0, 1]: row k is digit k, column j the style of code j."""
    codes = common.fixed_noise(n, latent_dim, args.seed + 2, args.device)
    z = tinygen.Tensor(np.tile(codes.numpy(), (10, 1)), device=args.device)  # z_0..z_(n-1), ten times
    digits = tinygen.Tensor(np.repeat(np.arange(10), n), device=args.device)  # 0 (n times), 1 (n times), ...
    with tinygen.no_grad():
        images = model.decode(z, digits).numpy()
    return np.clip(images.reshape(10, n, 28, 28), 0, 1).astype(np.float32)


def main():
    parser = autoencoders.parser(__doc__.splitlines()[1], epochs=40, batch_size=128, lr=3e-3, out="runs/cvae")
    parser.add_argument("--latent", type=common.whole_number(1), default=5,
                        help="size of the code z, at least 1 (default 5: the style only; see the docstring)")
    args = autoencoders.parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the model is made: its initial weights are random too

    data = autoencoders.load_data(args)
    model = CVAE(latent_dim=args.latent).to(args.device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    print(model)

    def train_step(batch, epoch):
        x, y = batch  # images (B, 1, 28, 28) and their labels (B,)
        return cvae_step(model, opt, x, y)

    history = {"loss": [], "reconstruction": [], "kl": []}  # per image, in nats
    folder = autoencoders.train(args, (data.train, data.train_labels), train_step, {"cvae": model}, {"cvae": opt},
                                history)

    model.eval()
    loss, kl = held_out_elbo(model, data, args.device)
    print(f"held-out negative ELBO: {loss:.2f} nats per image, of which KL {kl:.2f}")
    digits = tinygen.Tensor(np.repeat(np.arange(10), 100), device=args.device)  # 100 prior draws of each digit
    samples = autoencoders.prior_samples(lambda z: model.decode(z, digits), args.latent, args)
    by_class = draw_by_class(model, args.latent, args)
    found = {"held_out_negative_elbo": float(loss), "held_out_kl": float(kl)}
    if not args.no_metrics:
        found.update(class_accuracy(by_class, args.data_dir))
        print(f"class accuracy of decode(z, k) for 100 codes z and k = 0..9: {found['class_accuracy']:.3f} "
              f"(per digit: {' '.join(f'{a:.2f}' for a in found['class_accuracy_per_digit'])})")
    autoencoders.finish(args, folder, model, data, history, args.latent, "conditional VAE", extra_metrics=found,
                        reconstruction=lambda x, y: model.decode(model.encode(x, y)[0], y), samples=samples,
                        conditional=True)
    autoencoders.save_array(by_class, folder / "samples_by_class.npy")
    viz.save_image_grid(by_class[:, :10].transpose(1, 0, 2, 3).reshape(100, 28, 28), folder / "samples_by_class.png",
                        nrow=10, title="conditional VAE: decode(z, digit), a row per code z, a column per digit 0-9")


if __name__ == "__main__":
    common.run(main)
