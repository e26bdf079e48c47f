"""Train a plain autoencoder on MNIST digits: images squeezed into a code and rebuilt from it.

    python examples/autoencoder_mnist.py --data-dir ../shared/data/mnist [--linear] [--code-size 1000]

The encoder maps an image x to a code z = E(x) of --code-size numbers, the decoder maps it back,
x_hat = D(z) (see tinygen/models/autoencoder.py). Training minimises the binary cross-entropy
-sum_i [x_i log x_hat_i + (1 - x_i) log(1 - x_hat_i)] / 784 of the sigmoid outputs (its gradient
does not fade where the sigmoid saturates, as the squared error's does), or, for the linear one,
the squared error ||x_hat - x||^2 / 784 that PCA minimises. Three settings of one network:
- the default, a code of 32 through ReLUs and a sigmoid output: undercomplete, it keeps what
  matters most, and its held-out error is below PCA's with 32 components;
- --linear: no activations; the best it can do is PCA's, and it finds PCA's subspace;
- --code-size 1000: overcomplete and unregularised, it learns to copy (near-zero error), which
  shows nothing about digits: the sparse and denoising examples add what stops it.

Writes to --out: reconstructions.png (held-out originals above, reconstructions below),
interpolation.png (decoded codes on the line between two held-out digits' codes), curves.png,
reconstructions.npy, checkpoint.npz and metrics.json (the held-out error and PCA's).
"""
import tinygen
from tinygen import optim
import tinygen.nn.functional as F
from tinygen.models.autoencoder import Autoencoder

import autoencoders
import common


def autoencoder_step(model, opt, x, loss="bce"):
    """One step on a batch x (B, 1, 28, 28): the model rebuilds x, and is scored against x itself.

        bce: -(1/(B*784)) sum_n sum_i [x_ni log x^_ni + (1 - x_ni) log(1 - x^_ni)]   (sigmoid outputs)
        mse:  (1/(B*784)) sum_n sum_i (x^_ni - x_ni)^2                              (the linear one: PCA's loss)

    Both are means over pixels and images, so one learning rate suits any batch size.
    """
    reconstruction = model(x)
    if loss == "mse":
        loss = F.mse_loss(reconstruction, x)  # mean over pixels and images: ||D(E(x)) - x||^2 / 784
    elif loss == "bce":
        loss = F.binary_cross_entropy(reconstruction, x)  # mean over pixels and images
    else:
        raise ValueError(f"autoencoder_step: loss must be 'bce' or 'mse', got {loss!r}")
    opt.zero_grad()
    loss.backward()
    opt.step()
    return {"loss": loss}


def main():
    parser = autoencoders.parser(__doc__.splitlines()[1], epochs=30, batch_size=128, lr=1e-3, out="runs/autoencoder")
    parser.add_argument("--code-size", type=common.whole_number(1), default=32,
                        help="numbers in the code, at least 1 (default 32; above 784 it is overcomplete)")
    parser.add_argument("--hidden", type=common.whole_number(1), nargs="*", default=None,
                        help="widths of the hidden layers between image and code (default: 256 for a nonlinear "
                             "code smaller than the image, none otherwise: a narrower layer would be the bottleneck)")
    parser.add_argument("--linear", action="store_true", help="no activations: the linear autoencoder, PCA's equal")
    args = autoencoders.parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the model is made: its initial weights are random too

    if args.hidden is None:
        args.hidden = [256] if args.code_size < 784 and not args.linear else []

    data = autoencoders.load_data(args)
    model = Autoencoder(args.code_size, hidden=args.hidden, linear=args.linear).to(args.device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    print(model)

    def train_step(x, epoch):
        return autoencoder_step(model, opt, x, "mse" if args.linear else "bce")

    history = {"loss": []}
    folder = autoencoders.train(args, data.train, train_step, {"autoencoder": model}, {"autoencoder": opt}, history)
    kind = "linear" if args.linear else "overcomplete" if args.code_size > 784 else "undercomplete"
    autoencoders.finish(args, folder, model, data, history, args.code_size, f"{kind} autoencoder, code {args.code_size}")

    model.eval()  # the line between two held-out digits' codes, decoded (pairs: 0-1, 2-3, ...)
    autoencoders.save_interpolation(model.encoder, model.decoder, data.held_out[:10], folder / "interpolation.png",
                                    args.device, title=f"{kind} autoencoder: decoded codes between two digits")


if __name__ == "__main__":
    common.run(main)
