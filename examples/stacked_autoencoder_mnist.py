"""Train a stacked autoencoder on MNIST digits: greedily, one layer at a time, then end to end.

    python examples/stacked_autoencoder_mnist.py --data-dir ../shared/data/mnist [--tied]

The stack 784-100-30 (--sizes 100 30, Geron's tied example; his untied one is 300 150) is a pile
of one-layer autoencoders (see tinygen/models/stacked_autoencoder.py). Greedy layer-wise training (Bengio et al. 2007; Geron's
"training one autoencoder at a time") splits the epochs into phases:
- phase 1: the first autoencoder, 784-100-784, learns to rebuild the images;
- phase 2: the second, 100-30-100, learns to rebuild the first one's codes, computed without a
  graph; only its own parameters are in its optimiser, so the first layer stays bit for bit as
  phase 1 left it;
- last phase: the whole stack, x -> 30 numbers -> x_hat, is fine-tuned end to end.
--tied makes each decoder's weight its encoder's transpose: half the weights.

Images rebuilt through a sigmoid are scored by binary cross-entropy (phase 1 and fine-tuning),
codes rebuilt through a ReLU by the squared error (phase 2 and any deeper layer).

Writes to --out: reconstructions.png, curves.png (the loss of each phase in turn; phase 2's is
the error on the first layer's codes), reconstructions.npy, checkpoint.npz and metrics.json
(the held-out error of the fine-tuned stack, and PCA's with as many components as the code).
"""
import tinygen
from tinygen import optim
import tinygen.nn.functional as F
from tinygen.cli import UsageError
from tinygen.models.stacked_autoencoder import StackedAutoencoder

import autoencoders
import common


def phase_of(epoch, epochs, depth):
    """The phase of an epoch (from 0): the epochs split evenly between depth + 1 phases, one per
    layer, then fine-tuning (phase `depth`)."""
    return epoch * (depth + 1) // epochs


def greedy_step(model, opts, x, phase):
    """One step of phase `phase` on a batch of images x; opts[i] holds the i-th autoencoder's
    parameters, opts[-1] all of them.

    phase i < depth:  h = the codes of encoders 0..i-1 (no graph: fixed inputs),
                      loss = BCE(dec_i(enc_i(h)), h) for the images (i = 0), MSE for ReLU codes;
                      only opts[i] steps, so every other layer stays bit for bit as it was.
    phase depth:      loss = BCE(model(x), x), the whole stack end to end (fine-tuning).
    """
    depth = len(model.encoders)
    if phase < depth:
        # Greedy: the phase-th autoencoder rebuilds the codes of the encoders below it, which
        # are fixed inputs here (no graph through them, and not in this phase's optimiser).
        with tinygen.no_grad():
            h = model.encode(x, depth=phase)
        reconstruction = model.layer_forward(phase, h)
        # images in [0, 1] through a sigmoid: cross-entropy; a ReLU layer's codes: squared error
        loss = F.binary_cross_entropy(reconstruction, h) if phase == 0 else F.mse_loss(reconstruction, h)
    else:
        loss = F.binary_cross_entropy(model(x), x)  # fine-tuning: the whole stack, end to end
    opts[phase].zero_grad()
    loss.backward()
    opts[phase].step()
    return {"loss": loss}


def main():
    parser = autoencoders.parser(__doc__.splitlines()[1], epochs=30, batch_size=128, lr=1e-3,
                                 out="runs/stacked_autoencoder")
    parser.add_argument("--sizes", type=common.whole_number(1), nargs="+", default=[100, 30],
                        help="widths of the encoders, the last is the code (default 100 30)")
    parser.add_argument("--tied", action="store_true", help="each decoder's weight is its encoder's transpose")
    args = autoencoders.parse_args(parser)
    args.resume_with_the_same = {"epochs": "the phases split the epochs between them"}
    depth = len(args.sizes)
    phases = depth + 1  # one per layer, then fine-tuning
    if args.epochs < phases:
        raise UsageError(f"--epochs {args.epochs} is fewer than the {phases} phases ({depth} layers, then "
                         f"fine-tuning); use at least --epochs {phases}")
    tinygen.manual_seed(args.seed)

    data = autoencoders.load_data(args)
    model = StackedAutoencoder((784, *args.sizes), tied=args.tied).to(args.device)
    # One optimiser per phase: the i-th autoencoder's parameters only, then all of them.
    opts = [optim.Adam(model.layer_parameters(i), lr=args.lr) for i in range(depth)]
    opts.append(optim.Adam(model.parameters(), lr=args.lr))
    print(model)

    def train_step(x, epoch):
        return greedy_step(model, opts, x, phase_of(epoch, args.epochs, depth))

    history = {"loss": []}
    optimizers = {f"layer_{i + 1}": opt for i, opt in enumerate(opts[:-1])} | {"fine_tune": opts[-1]}
    folder = autoencoders.train(args, data.train, train_step, {"stacked": model}, optimizers, history)
    title = f"stacked autoencoder {'-'.join(map(str, (784, *args.sizes)))}" + (" (tied)" if args.tied else "")
    autoencoders.finish(args, folder, model, data, history, args.sizes[-1], title,
                        extra_metrics={"parameters": sum(p.numel() for p in model.parameters()), "tied": args.tied})


if __name__ == "__main__":
    common.run(main)
