"""What the autoencoder examples share: their data, the training loop, and the files they write.

Each autoencoder example reads top to bottom as its variant: its model, its loss and its step
(a function of one batch), then three calls here:

    data = autoencoders.load_data(args)                  # training images, 1,000 held-out images
    folder = autoencoders.train(args, data.train, train_step, models, optimizers, history)
    result = autoencoders.finish(args, folder, model, data, history, code_size, title)

`train` is the loop written once (common.train_epochs, which the GAN examples use too): batches
in a seeded order, a progress bar with the losses, a NaN check, a checkpoint at the end of every
epoch and exact resume (`--resume`). `finish` writes the files every autoencoder writes:
reconstructions.png, curves.png, reconstructions.npy and metrics.json, where the held-out error
stands beside PCA's with as many components as the code: the linear baseline a learned code has
to beat. A variant writes its own extra files after it, with
`in_batches` and `save_array`.

The generative members (the VAEs, the adversarial autoencoder) also decode draws from their
prior: `prior_samples` gives them, and `finish(..., samples=...)` writes samples.npy and adds
tinygen's sample metrics (classifier score, Frechet distance, classes covered) to metrics.json.
"""
import json
import types

import numpy as np

import tinygen
from tinygen import viz
from tinygen import metrics as sample_metrics
from tinygen.data import DataLoader

import common

HELD_OUT = 1000  # the last 1,000 images of the test split: never trained on, reconstructed at the end
IMAGE_PIXELS = 28 * 28


# ---------------------------------------------------------------------------------------------
# Options and data


def parser(description, epochs, batch_size, lr, out, epochs_help=None):
    """The options every example takes (common.parser); an example adds its own before parse_args."""
    return common.parser(description, epochs=epochs, batch_size=batch_size, lr=lr, out=out, epochs_help=epochs_help)


def parse_args(parser):
    """The parsed options, checked (device, --resume, --out); see common.parse_args."""
    return common.parse_args(parser)


def load_data(args):
    """The images to train on and the images held out, as float32 (N, 1, 28, 28) in [0, 1].

    Returns a namespace with train, train_labels (int64), held_out (1000, 1, 28, 28) and
    held_out_labels. The held-out images are the last 1,000 of the test split, in their order;
    with --split test, training gets the 9,000 before them and never sees them.
    """
    images, labels = common.mnist(args, args.split).arrays(scale="unit")  # sigmoid outputs: images in [0, 1]
    if args.split == "test":
        images, held_out, labels, held_out_labels = images[:-HELD_OUT], images[-HELD_OUT:], labels[:-HELD_OUT], labels[-HELD_OUT:]
    else:
        test_images, test_labels = common.mnist(args, "test").arrays(scale="unit")
        held_out, held_out_labels = test_images[-HELD_OUT:], test_labels[-HELD_OUT:]
    print(f"MNIST {args.split}: {len(images)} images to train on, {len(held_out)} held out")
    return types.SimpleNamespace(train=images, train_labels=labels, held_out=held_out, held_out_labels=held_out_labels)


BINARIZE_SEED = 0  # the held-out digits' one binarization: the same binary digits for every run


def binarize_afresh(x):
    """Each pixel of x (a Tensor in [0, 1]) drawn as 1 with probability x, else 0: a Bernoulli draw
    from tinygen's generator. Training binarizes a digit anew each time it sees it (so a model
    cannot learn one binarization by heart), and a resumed run draws what a straight run would."""
    uniform = tinygen.rand(*x.shape, dtype=x.dtype, device=x.device)
    return tinygen.Tensor((uniform.data < x.data).astype(x.dtype))  # 1 where u < p: probability p


def binarize_once(images, seed=BINARIZE_SEED):
    """images (an array in [0, 1]) binarized once, with a generator of their own seeded by `seed`:
    every run, whatever its --seed, is judged on the same binary digits."""
    return (np.random.default_rng(seed).random(images.shape) < images).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The training loop, written once


def train(args, images, train_step, models, optimizers, history, end_of_epoch=None):
    """Train for args.epochs (or --max-steps) over `images`; returns the --out folder.

    train_step(x, epoch) does one step on a batch x (a Tensor (B, 1, 28, 28) on args.device) and
    returns a dict of the step's numbers for the curves, with the keys of `history` (e.g.
    {"loss": loss}). `epoch` counts from 0; most steps ignore it (a greedy stack picks its phase
    by it). `images` may also be a tuple of arrays, e.g. (images, labels): then each batch is the
    tuple of Tensors (x, y) (the conditional VAE's step needs the labels). models and optimizers
    are dicts of name -> Module / optimiser: all of them go into the checkpoint written at the
    end of every epoch, with history, the step and the random state, so that --resume continues
    exactly where the run stopped. end_of_epoch(epoch, folder), if given, runs just before that
    checkpoint (the VAE draws its grids of the epoch there).
    """
    common.check_batch_size(args, len(images[0] if isinstance(images, tuple) else images))
    loader = DataLoader(images, args.batch_size, shuffle=True, seed=args.seed, drop_last=True, device=args.device)
    after_epoch = None if end_of_epoch is None else lambda epoch, step, folder: end_of_epoch(epoch, folder)
    return common.train_epochs(args, loader, train_step, models, optimizers, history, after_epoch)


# ---------------------------------------------------------------------------------------------
# After training: reconstructions, curves, metrics


def in_batches(function, images, device, batch_size=500):
    """function(x) for x = images[i : i + batch_size] as Tensors on `device`, without a graph;
    the results as one NumPy array (concatenated along the first axis), in the images' order.
    `images` may also be a tuple of arrays, e.g. (images, labels): then function(x, y) gets a
    batch of each."""
    arrays = images if isinstance(images, tuple) else (images,)
    results = []
    with tinygen.no_grad():
        for start in range(0, len(arrays[0]), batch_size):
            result = function(*(tinygen.Tensor(a[start : start + batch_size], device=device) for a in arrays))
            results.append(result.numpy() if isinstance(result, tinygen.Tensor) else np.asarray(result))
    return np.concatenate(results)


def reconstruct(model, images, device, function=None):
    """The model's reconstructions of `images` in eval mode, as float32 (N, 28, 28) (not clipped).

    function(x) gives a batch's reconstructions; by default it is model(x) (a VAE passes
    decode(mu): the reconstruction of its code's mean, without the sampling noise). With images
    a tuple (images, labels), function(x, y) gets the labels too (see `in_batches`)."""
    model.eval()
    reconstructions = in_batches(function or model, images, device)
    model.train()
    return reconstructions.reshape(-1, 28, 28).astype(np.float32)


def pca_mse(train_images, held_out_images, components):
    """The held-out mean squared error per pixel of PCA with `components` components fitted on train_images.

    PCA is the best linear code of that size (Eckart-Young): x ~ mean + V V^T (x - mean), with V
    the top eigenvectors of the training images' covariance. Computed in float64; 784 or more
    components reconstruct exactly (error 0).
    """
    x = train_images.reshape(len(train_images), IMAGE_PIXELS).astype(np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    top = eigenvectors[:, ::-1][:, : min(components, IMAGE_PIXELS)]
    held = held_out_images.reshape(len(held_out_images), IMAGE_PIXELS).astype(np.float64) - mean
    return float(np.mean((held - held @ top @ top.T) ** 2))


def finish(args, folder, model, data, history, code_size, title, extra_metrics=None, reconstruction=None,
           samples=None, conditional=False):
    """Write what every autoencoder run writes, and return the held-out reconstructions and metrics.

    - reconstructions.npy: float32 (1000, 28, 28) in [0, 1], the held-out images' reconstructions in order
      (clipped to [0, 1] for the file; the error below is of the model's own output);
    - reconstructions.png: 50 held-out originals (top five rows) above their reconstructions;
    - curves.png: the history's curves;
    - metrics.json (unless --no-metrics): the held-out MSE per pixel, and PCA's with code_size
      components fitted on the training images; extra_metrics (a dict) is added to it.
    - with samples (images decoded from the prior, (N, 28, 28) in [0, 1]): samples.npy, float32,
      and in metrics.json tinygen's metrics of them (metrics.evaluate: classifier score, Frechet
      distance, classes covered).
    model(x) must take a batch (B, 1, 28, 28) and give its reconstructions, 784 values per image,
    or reconstruction(x) does it for the model (see `reconstruct`); with conditional=True it is
    reconstruction(x, y), given each held-out image's label y too (the conditional VAE).
    Returns a namespace with reconstructions (unclipped) and metrics.
    """
    held_out = (data.held_out, data.held_out_labels) if conditional else data.held_out
    reconstructions = reconstruct(model, held_out, args.device, reconstruction)
    originals = data.held_out.reshape(-1, 28, 28)
    mse = float(np.mean((reconstructions.astype(np.float64) - originals) ** 2))
    common.save_array(np.clip(reconstructions, 0, 1), folder / "reconstructions.npy")
    common.save_grid(np.concatenate([originals[:50], np.clip(reconstructions[:50], 0, 1)]),
                     folder / "reconstructions.png", f"{title}: held-out originals (top 5 rows), reconstructions (bottom 5)")
    if any(history.values()):
        viz.plot_curves(history, folder / "curves.png", title=f"{title}: training curves")
    print(f"wrote {folder / 'reconstructions.npy'} {reconstructions.shape}")
    print(f"held-out reconstruction error (MSE per pixel, {len(originals)} images): {mse:.5f}")
    metrics = {"held_out_mse": mse, "code_size": code_size, "held_out_images": len(originals),
               "train_images": len(data.train), "steps": max((len(v) for v in history.values()), default=0)}
    if samples is not None:
        samples = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1, 28, 28), 0, 1)
        save_array(samples, folder / "samples.npy")
    if not args.no_metrics:
        metrics["pca_mse"] = pca_mse(data.train, data.held_out, code_size)
        print(f"PCA with {code_size} components: {metrics['pca_mse']:.5f}")
        metrics.update(extra_metrics or {})
        metrics.update(common.data_record(args, f"the last {HELD_OUT:,} MNIST test digits (never trained on), and for "
                                             "samples the metrics' reference digits"))
        if samples is not None:
            metrics.update(sample_metrics.evaluate(samples, data_dir=args.data_dir))
        common.save_text(json.dumps(metrics, indent=1), folder / "metrics.json")
        print("metrics:", json.dumps(metrics))
    return types.SimpleNamespace(reconstructions=reconstructions, metrics=metrics)


def prior_samples(decode, latent_dim, args, n=1000):
    """decode(z) for n draws z ~ N(0, I) of size latent_dim, without a graph, as float32 (n, 28, 28). The draws come from their own generator (seeded by --seed), so drawing
    them changes no other random numbers, and a rerun with the same seed decodes the same codes."""
    z = common.fixed_noise(n, latent_dim, args.seed + 1, args.device)
    with tinygen.no_grad():
        images = decode(z)
    return images.numpy().reshape(n, 28, 28).astype(np.float32)


def save_array(array, path):
    """np.save, atomically (a variant's extra files: codes.npy, noisy.npy, anomaly_scores.npy ...)."""
    common.save_array(np.asarray(array), path)
    print(f"wrote {path} {np.shape(array)}")


def interpolate(encode, decode, images, device, steps=10):
    """Decode codes on the straight line between the codes of pairs of images.

    images: (2P, 1, 28, 28): pairs (images[0], images[1]), (images[2], images[3]), ... Returns
    (P * steps, 28, 28), pair by pair: decode((1 - t) encode(a) + t encode(b)) for
    t = 0, 1/(steps-1), ..., 1; the ends are the reconstructions of a and b.
    """
    codes = in_batches(encode, images, device)
    a, b = codes[0::2], codes[1::2]
    t = np.linspace(0, 1, steps, dtype=np.float32).reshape(1, steps, 1)
    line = ((1 - t) * a[:, None] + t * b[:, None]).reshape(-1, codes.shape[1])
    return in_batches(decode, line.astype(np.float32), device).reshape(-1, 28, 28)


def save_interpolation(encode, decode, images, path, device, steps=10, title="latent interpolation"):
    """The picture of `interpolate`: a row per pair of images, from a (left) to b (right)."""
    decoded = interpolate(encode, decode, images, device, steps)
    viz.save_image_grid(np.clip(decoded, 0, 1), path, nrow=steps, title=title)
