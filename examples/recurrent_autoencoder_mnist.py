"""Train a recurrent autoencoder on MNIST digits: each image read as a sequence of 28 rows.

    python examples/recurrent_autoencoder_mnist.py --data-dir ../shared/data/mnist [--cell gru]

An LSTM reads the image row by row, top to bottom; a Linear layer makes its last state into
the code, --code-size numbers. A second LSTM starts from a state made from the code, is given
the code at every step, and writes the image back row by row, a Linear layer turning its state
into the row's 28 pixels (see tinygen/models/recurrent_autoencoder.py). Training minimises the mean squared error
||x_hat - x||^2 / 784; its gradient reaches the first rows through every step of both
sequences (backpropagation through time, from the autograd graph). --cell gru uses GRUs.

Writes to --out: reconstructions.png (held-out originals above, reconstructions below),
rows.png (a held-out digit as the decoder writes it, row by row), curves.png, reconstructions.npy,
checkpoint.npz and metrics.json (the held-out error, PCA's with as many components as the
code, and the error of each of the 28 rows).
"""
import numpy as np

import tinygen
from tinygen import optim
import tinygen.nn.functional as F
from tinygen.models.recurrent_autoencoder import RecurrentAutoencoder

import autoencoders
import common


def recurrent_step(model, opt, x):
    """One step on a batch x (B, 1, 28, 28), read as B sequences of 28 rows of 28 pixels:
    loss = (1/(B*784)) sum (x^ - x)^2, the target the rows themselves, the gradient through
    every step of both recurrences (backpropagation through time)."""
    rows = x.reshape(x.shape[0], 28, 28)  # the sequence: 28 rows of 28 pixels
    loss = F.mse_loss(model(rows), rows)  # mean over pixels and images: ||D(E(x)) - x||^2 / 784
    opt.zero_grad()
    loss.backward()  # through all 28 steps of the encoder and of the decoder
    opt.step()
    return {"loss": loss}


def main():
    parser = autoencoders.parser(__doc__.splitlines()[1], epochs=12, batch_size=32, lr=2e-3,
                                 out="runs/recurrent_autoencoder")
    parser.add_argument("--cell", choices=["lstm", "gru"], default="lstm", help="recurrent cell (default lstm)")
    parser.add_argument("--code-size", type=common.whole_number(1), default=30, help="numbers in the code (default 30)")
    parser.add_argument("--hidden", type=common.whole_number(1), default=100,
                        help="state size of the reading and writing layers (default 100)")
    args = autoencoders.parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the model is made: its initial weights are random too

    data = autoencoders.load_data(args)
    model = RecurrentAutoencoder(args.code_size, args.hidden, cell=args.cell).to(args.device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    print(model)

    def train_step(x, epoch):
        return recurrent_step(model, opt, x)

    history = {"loss": []}
    folder = autoencoders.train(args, data.train, train_step, {"recurrent_autoencoder": model},
                                {"recurrent_autoencoder": opt}, history)
    title = f"recurrent autoencoder ({args.cell.upper()}), code {args.code_size}"
    originals = data.held_out.reshape(-1, 28, 28)
    reconstructions = autoencoders.reconstruct(model, data.held_out, args.device)
    row_mse = ((reconstructions - originals) ** 2).mean(axis=(0, 2))  # which rows are hard to write
    autoencoders.finish(args, folder, model, data, history, args.code_size, title,
                        extra_metrics={"row_mse": [round(float(e), 6) for e in row_mse]})

    # One held-out digit as the decoder writes it: its first 3, 6, ..., 24 rows, all 28, the original.
    digit = np.clip(reconstructions[0], 0, 1)
    written = [np.where(np.arange(28)[:, None] < rows, digit, 0) for rows in range(3, 25, 3)]
    common.save_grid(np.stack(written + [digit, originals[0]]), folder / "rows.png",
                     f"{title}: a held-out digit written row by row (last: the original)")

if __name__ == "__main__":
    common.run(main)
