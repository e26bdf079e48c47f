"""Find anomalies with an autoencoder on MNIST digits: trained without one digit, it rebuilds that digit badly.

    python examples/anomaly_detection_mnist.py --data-dir ../shared/data/mnist [--anomaly-digit 2]

The plain undercomplete autoencoder (784 -> 256 -> 32 -> 256 -> 784) is trained on every digit
except --anomaly-digit k. An image's anomaly score is its reconstruction error, the mean squared
error per pixel; scored on the 1,000 held-out images (all ten digits), the k's should stand out.
How well, over every threshold at once, is the area under the ROC curve: the probability that a
held-out k scores higher than a held-out other digit (0.5 is chance). See
tinygen/models/anomaly_detection.py.

Writes to --out: reconstructions.png, curves.png, reconstructions.npy, checkpoint.npz,
metrics.json (held-out error, PCA's fitted on the same training images, the ROC AUC),
anomaly_scores.npy (float32 (1000,): each held-out image's score, in order) and roc.png.
"""
import argparse
import types

import numpy as np

import tinygen
from tinygen import optim, viz
from tinygen.models.anomaly_detection import reconstruction_errors, roc_auc, roc_curve
from tinygen.models.autoencoder import Autoencoder

import autoencoders
import common
from autoencoder_mnist import autoencoder_step  # the plain step: the anomaly detector is that autoencoder


def digit(text):
    """An argparse type: one of the digits 0-9."""
    value = common.whole_number(0)(text)
    if value > 9:
        raise argparse.ArgumentTypeError(f"must be a digit from 0 to 9, got {value}")
    return value


def without_digit(data, k):
    """The data with every training image of digit k taken out (the held-out images keep all ten digits)."""
    normal = data.train_labels != k
    return types.SimpleNamespace(**{**vars(data), "train": data.train[normal], "train_labels": data.train_labels[normal]})


def main():
    parser = autoencoders.parser(__doc__.splitlines()[1], epochs=20, batch_size=128, lr=1e-3,
                                 out="runs/anomaly_detection")
    parser.add_argument("--anomaly-digit", type=digit, default=2, help="the digit left out of training (default 2)")
    parser.add_argument("--code-size", type=common.whole_number(1), default=32, help="code units (default 32)")
    args = autoencoders.parse_args(parser)
    tinygen.manual_seed(args.seed)  # before the model is made: its initial weights are random too

    data = without_digit(autoencoders.load_data(args), args.anomaly_digit)
    print(f"training on the {len(data.train)} images that are not a {args.anomaly_digit}")
    model = Autoencoder(args.code_size, hidden=[256]).to(args.device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    print(model)

    def train_step(x, epoch):
        return autoencoder_step(model, opt, x, "bce")  # BCE(model(x), x): only digits other than k reach it

    history = {"loss": []}
    folder = autoencoders.train(args, data.train, train_step, {"autoencoder": model}, {"autoencoder": opt}, history)

    scores = reconstruction_errors(model, tinygen.Tensor(data.held_out, device=args.device)).astype(np.float32)
    is_anomaly = data.held_out_labels == args.anomaly_digit
    auc = roc_auc(scores, is_anomaly)
    found = {"anomaly_digit": args.anomaly_digit, "anomalies_held_out": int(is_anomaly.sum()), "roc_auc": auc,
             "mean_score_anomalies": float(scores[is_anomaly].mean()), "mean_score_others": float(scores[~is_anomaly].mean())}
    print(f"held-out {args.anomaly_digit}s ({found['anomalies_held_out']} of {len(scores)}): mean score "
          f"{found['mean_score_anomalies']:.5f} against {found['mean_score_others']:.5f} for the others; ROC AUC {auc:.3f}")
    title = f"autoencoder trained without {args.anomaly_digit}s, code {args.code_size}"
    autoencoders.finish(args, folder, model, data, history, args.code_size, title, extra_metrics=found)
    autoencoders.save_array(scores, folder / "anomaly_scores.npy")
    fpr, tpr = roc_curve(scores, is_anomaly)
    viz.plot_roc_curve(fpr, tpr, folder / "roc.png", auc,
                       title=f"{args.anomaly_digit}s found by reconstruction error (held out)")


if __name__ == "__main__":
    common.run(main)
