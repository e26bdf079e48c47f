"""What the GAN examples share: their data, the training loop, the sample grids and the files they write.

Each GAN example reads top to bottom as its variant: its networks, its losses and its two-phase
step (a function of one batch, which updates D and then G), then a few calls here:

    data = gans.load_data(args)                          # images in [-1, 1] (tanh's range), labels
    folder = gans.train(args, data.images, train_step, models, optimizers, history,
                        end_of_epoch=gans.epoch_grid(G, (fixed_z,), title))
    gans.finish(args, folder, history, gans.generate(G, gans.sample_noise(1000, G.latent_dim, args)), title)

`train` is the loop written once (common.train_epochs, which the autoencoders' loop uses too):
batches in a seeded order, a progress bar with the history's latest values, a NaN check, a
checkpoint at the end of every epoch and exact resume (`--resume`). A step that needs several
real batches (a critic trained n times per generator step) asks for
them with `batches_per_step`. `finish` writes what every GAN writes: curves.png, samples.npy
(float32 (1000, 28, 28) in [0, 1]) and metrics.json (tinygen's sample metrics); a conditional
GAN also gives it samples_by_class (10, 100, 28, 28): row k generated for digit k.
"""
import json
import types

import numpy as np

import tinygen
from tinygen import metrics, viz
from tinygen.cli import UsageError
from tinygen.data import DataLoader

import common

HELD_OUT = 1000  # with hold_out: the last 1,000 images of the test split, never trained on


# ---------------------------------------------------------------------------------------------
# The data


def load_data(args, hold_out=False):
    """The images to train on as float32 (N, 1, 28, 28) in [-1, 1] (G ends in tanh), and their labels.

    Returns a namespace with images, labels (int64), held_out and held_out_labels. By default a
    GAN trains on the whole split (--split test: all 10,000 images) and held_out is None. With
    hold_out=True (a GAN whose D also classifies, tested on real digits it never saw) the last
    1,000 images of the test split are kept out, as the autoencoders keep them: with --split
    test, training gets the 9,000 before them.
    """
    images, labels = common.mnist(args, args.split).arrays(scale="symmetric")
    held_out = held_out_labels = None
    if hold_out and args.split == "test":
        images, held_out = images[:-HELD_OUT], images[-HELD_OUT:]
        labels, held_out_labels = labels[:-HELD_OUT], labels[-HELD_OUT:]
    elif hold_out:
        test_images, test_labels = common.mnist(args, "test").arrays(scale="symmetric")
        held_out, held_out_labels = test_images[-HELD_OUT:], test_labels[-HELD_OUT:]
    print(f"MNIST {args.split}: {len(images)} images to train on" + (f", {len(held_out)} held out" if hold_out else ""))
    return types.SimpleNamespace(images=images, labels=labels, held_out=held_out, held_out_labels=held_out_labels)


# ---------------------------------------------------------------------------------------------
# The training loop, written once


def check_batches(args, n_images, batches_per_step):
    """An epoch needs at least one full step: batches_per_step batches of --batch-size images."""
    if batches_per_step == 1:
        common.check_batch_size(args, n_images)
    elif args.batch_size * batches_per_step > n_images:
        most = n_images // batches_per_step
        raise UsageError(f"--batch-size {args.batch_size} takes {args.batch_size * batches_per_step} images a step "
                         f"({batches_per_step} batches), more than the {n_images} training images; use at most {most}")


def check_stddev_groups(args, group_size):
    """D's minibatch standard deviation splits a batch into groups of group_size images, so
    --batch-size must be a multiple of it (refused here, before any training, in one line)."""
    if args.batch_size % group_size:
        raise UsageError(f"--batch-size {args.batch_size}: D's minibatch standard deviation takes groups of "
                         f"{group_size} images; use a multiple of {group_size}")


def train(args, data, train_step, models, optimizers, history, end_of_epoch=None, batches_per_step=1,
          epoch_history=None):
    """Train for args.epochs (or --max-steps) over `data`; returns the --out folder.

    data: the images (N, 1, 28, 28), or a tuple such as (images, labels); a batch is then a Tensor
    (B, 1, 28, 28) on args.device, or the tuple of Tensors (x, y) (the conditional GANs' labels).
    train_step(batch) plays one step of the game (D's phase, then G's) and returns a dict of the
    step's numbers with the keys of `history` (Tensors or floats), e.g. {"d_loss": d_loss, ...}.
    With batches_per_step = n > 1 it gets a list of n batches instead, all different (a critic
    trained n times per G step sees n real batches), and an epoch has N // (n B) steps.
    models and optimizers are dicts of name -> Module / optimiser: all of them go into the
    checkpoint written at the end of every epoch, with the history, the step and the random
    state, so that --resume continues exactly where the run stopped. end_of_epoch(epoch, step,
    folder), if given, runs just before that checkpoint (`epoch_grid` draws the epoch's samples);
    what it measures once an epoch goes in epoch_history, which is checkpointed too.
    """
    n_images = len(data[0] if isinstance(data, tuple) else data)
    check_batches(args, n_images, batches_per_step)
    loader = DataLoader(data, args.batch_size * batches_per_step, shuffle=True, seed=args.seed, drop_last=True,
                        device=args.device)

    def one_step(batch, epoch):
        return train_step(batch if batches_per_step == 1 else split_batch(batch, batches_per_step))

    return common.train_epochs(args, loader, one_step, models, optimizers, history, end_of_epoch, epoch_history)


def split_batch(batch, n):
    """A batch of n B items (a Tensor, or a tuple of them) as a list of n batches of B."""
    size = (batch[0] if isinstance(batch, tuple) else batch).shape[0] // n
    if isinstance(batch, tuple):
        return [tuple(t[i * size : (i + 1) * size] for t in batch) for i in range(n)]
    return [batch[i * size : (i + 1) * size] for i in range(n)]


# ---------------------------------------------------------------------------------------------
# Drawing samples


def sample_noise(n, latent_dim, args, offset=1):
    """n fixed draws z ~ N(0, I) from their own generator (seeded by --seed + offset), so drawing
    them changes no training random numbers. offset 0: the per-epoch grids; 1: the final samples;
    2: the metrics over training (`watch_samples`)."""
    return common.fixed_noise(n, latent_dim, args.seed + offset, args.device)


def digits(n_each, device):
    """The labels 0, ..., 0, 1, ..., 1, ..., 9 (n_each of each) as an int64 Tensor (N,)."""
    return tinygen.Tensor(np.repeat(np.arange(10), n_each), device=device)


def generate(G, *inputs, chunk=100):
    """G(*inputs) in [0, 1] as float32 (N, 28, 28): in eval mode and without a graph.

    inputs: what G takes, e.g. (z,) or (z, labels): Tensors with N rows, lists of them (StyleGAN's
    noise maps), and settings such as psi as they are. G sees `chunk` rows at a time: a
    convolutional G's activations for 1000 images at once fill over a gigabyte, and filling them
    costs more than the arithmetic (StyleGAN's 1000 samples: 5.8 s at once, 2.0 s by 100; the
    images are the same to the bit, since in eval mode each image is computed on its own).
    A G that draws 32x32 images (`pad_to_32`) has its frame cropped off.
    """
    n = len(inputs[0])
    G.eval()
    with tinygen.no_grad():
        images = np.concatenate([common.to_unit(G(*[rows(x, start, start + chunk) for x in inputs])).numpy()
                                 for start in range(0, n, chunk)])
    G.train()
    side = round((images.size // len(images)) ** 0.5)  # 784 -> 28, 1024 -> 32: flat (N, 784) outputs too
    return crop_to_28(images.reshape(len(images), side, side)).astype(np.float32)


def rows(x, start, stop):
    """Rows start:stop of one of G's inputs: a Tensor, or each Tensor of a list; anything else as it is."""
    if isinstance(x, tinygen.Tensor):
        return x[start:stop]
    if isinstance(x, (list, tuple)):
        return [rows(item, start, stop) for item in x]
    return x


FRAME = 2  # pixels of background around a 28x28 digit in a 32x32 image


def pad_to_32(images):
    """Images (N, 1, 28, 28) in [-1, 1] framed by 2 pixels of background (-1) on every side: (N, 1, 32, 32).

    A generator that doubles its resolution from 4x4 (progressive growing, StyleGAN) ends at
    4 -> 8 -> 16 -> 32, so it learns MNIST in a 32x32 frame, as the papers' MNIST settings do."""
    return np.pad(images, ((0, 0), (0, 0), (FRAME, FRAME), (FRAME, FRAME)), constant_values=-1.0)


def crop_to_28(images):
    """The central 28x28 of images (..., 32, 32) (`pad_to_32` undone); 28x28 images are returned as they are."""
    if images.shape[-2:] == (28, 28):
        return images
    if images.shape[-2:] != (28 + 2 * FRAME, 28 + 2 * FRAME):
        raise ValueError(f"crop_to_28: expected images of 28x28 or 32x32 pixels, got {tuple(images.shape)}")
    return images[..., FRAME:-FRAME, FRAME:-FRAME]


def watch_samples(G, inputs, args, epoch_history):
    """An end_of_epoch for `train`: each epoch, tinygen's metrics of G(*inputs) (the same fixed
    inputs every epoch, 1000 of them), appended to epoch_history: the epoch and the step it ended
    at, the Frechet distance and classifier score against the test digits, and the digits the
    classifier reads, as a row of 10 counts ("class_histogram"). A digit that G stops drawing
    shows there as its count falling towards 0: mode collapse, seen as it happens
    (viz.plot_class_histograms draws it); the distance against the steps says how long is long
    enough (viz.plot_by_step). A resumed epoch is measured anew. With --no-metrics it measures nothing.
    """
    def measure(epoch, step, folder):
        if args.no_metrics:
            return
        found = metrics.evaluate(generate(G, *inputs), data_dir=args.data_dir, verbose=False)
        record_epoch(epoch_history, {"epoch": epoch + 1, "step": step, "class_histogram": found["class_histogram"],
                                     "frechet_distance": found["frechet_distance"],
                                     "classifier_score": found["classifier_score"]})
    return measure


def record_epoch(epoch_history, measured):
    """Append one epoch's measures (a dict with every key of epoch_history, "epoch" among them).
    A run resumed in the middle of an epoch has measured that epoch already, at the step it
    stopped: that row is replaced, so each epoch keeps one row, measured at its end."""
    if epoch_history["epoch"][-1:] == [measured["epoch"]]:
        for values in epoch_history.values():
            del values[-1]
    for key, value in measured.items():
        epoch_history[key].append(value)


def watched_history():
    """The empty epoch_history that `watch_samples` fills."""
    return {"epoch": [], "step": [], "class_histogram": [], "frechet_distance": [], "classifier_score": []}


def by_class(G, latent_dim, args, n=100):
    """G(z_j, k) for the same n codes z_j and every digit k, as float32 (10, n, 28, 28) in [0, 1]:
    row k is digit k, column j the style of code j (G takes (z, labels), as the conditional GANs)."""
    z = sample_noise(n, latent_dim, args)
    z_ten_times = tinygen.Tensor(np.tile(z.numpy(), (10, 1)), device=args.device)  # z_0..z_(n-1), ten times
    return generate(G, z_ten_times, digits(n, args.device)).reshape(10, n, 28, 28)


def epoch_grid(G, inputs, title):
    """An end_of_epoch for `train`: G(*inputs) (100 images, the same fixed inputs every epoch, so
    the grids show one set of digits developing) as samples_epoch_NNN.png, ten to a row."""
    def draw(epoch, step, folder):
        common.save_grid(generate(G, *inputs), folder / f"samples_epoch_{epoch + 1:03d}.png",
                         f"{title}, epoch {epoch + 1}, step {step}")
    return draw


# ---------------------------------------------------------------------------------------------
# After training: curves, samples, metrics


def finish(args, folder, history, samples, title, samples_by_class=None, extra_metrics=None):
    """Write what every GAN run writes; returns the metrics (None with --no-metrics).

    - curves.png: D's and G's losses with D(x) and D(G(z)) beside the 0.5 line (viz.plot_gan_curves)
      when the history holds "d_real" and "d_fake"; the Wasserstein estimate (and WGAN-GP's gradient
      norm beside the line at 1) when it holds "wasserstein" (viz.plot_wgan_curves); otherwise every
      key of the history in one panel;
    - samples.npy: `samples`, float32 (1000, 28, 28) in [0, 1] (a conditional GAN: 100 of each digit);
    - with samples_by_class (10, n, 28, 28), row k generated for digit k: samples_by_class.npy and
      samples_by_class.png (a column per digit, a row per code);
    - metrics.json (unless --no-metrics): tinygen's metrics of the samples (classifier score,
      Frechet distance, digits covered) and the steps trained; with samples_by_class
      the class accuracy (how often the classifier reads row k as k, per digit), and extra_metrics.
    """
    steps = max((len(values) for values in history.values()), default=0)
    if steps:
        if {"d_real", "d_fake"} <= set(history):
            viz.plot_gan_curves(history, folder / "curves.png")
        elif "wasserstein" in history:  # WGAN, WGAN-GP: the critic's estimate (and the gradient norm)
            viz.plot_wgan_curves(history, folder / "curves.png", title=title)
        else:
            viz.plot_curves(history, folder / "curves.png", title=f"{title}: training curves")
    found = {"steps": steps, **(extra_metrics or {})}
    if samples_by_class is not None:
        common.save_array(samples_by_class.astype(np.float32), folder / "samples_by_class.npy")
        columns = samples_by_class[:, :10].transpose(1, 0, 2, 3).reshape(-1, 28, 28)
        viz.save_image_grid(columns, folder / "samples_by_class.png", nrow=10,
                            title=f"{title}: a column per digit 0-9, a row per noise z")
        if not args.no_metrics:
            found.update(metrics.class_accuracy(samples_by_class, args.data_dir))
            print(f"class accuracy of G(z, k): {found['class_accuracy']:.3f} (per digit: "
                  f"{' '.join(f'{a:.2f}' for a in found['class_accuracy_per_digit'])})")
    samples = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1, 28, 28), 0, 1)
    common.save_array(samples, folder / "samples.npy")
    print(f"wrote {folder / 'samples.npy'} {samples.shape}")
    if args.no_metrics:
        return None
    result = {**metrics.evaluate(samples, data_dir=args.data_dir), **found,
              **common.data_record(args, "the metrics' reference digits (see 'classifier')")}
    common.save_text(common.json_text(result), folder / "metrics.json")
    print("metrics:", json.dumps(result))
    return result
