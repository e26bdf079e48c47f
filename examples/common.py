"""What the examples share: command-line options, the data, checkpoints, and the files they write.

The training loops themselves are in the example scripts, written out in full.
"""
import argparse
import itertools
import json
import pathlib

import numpy as np

import tinygen
from tinygen import backend, data, metrics, viz
from tinygen.files import atomic_write


def parser(description, epochs, batch_size, lr, out):
    """The options every example takes (an example may add its own before parsing)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data-dir", default=None,
                   help="folder with the MNIST files (default: $TINYGEN_DATA or ~/.cache/tinygen, downloading if missing)")
    p.add_argument("--split", default="train", choices=["train", "test"], help="which MNIST split to train on")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=backend.DEVICE_NAMES, help="where to train ('cuda:0' is 'cuda')")
    p.add_argument("--out", default=out, help="folder for samples, curves, checkpoint and metrics")
    p.add_argument("--resume", default=None, metavar="CKPT", help="continue from this checkpoint")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in all")
    p.add_argument("--no-metrics", action="store_true", help="skip the sample-quality metrics at the end")
    return p


def load_mnist(args, scale):
    """The chosen split's images as float32 (N, 1, 28, 28), scaled to 'unit' [0, 1] or 'symmetric' [-1, 1]."""
    dataset = data.MNIST(root=args.data_dir, split=args.split)
    images, _ = dataset.arrays(scale=scale)
    print(dataset)
    return images


def total_steps(args, steps_per_epoch):
    steps = args.epochs * steps_per_epoch
    return steps if args.max_steps is None else min(steps, args.max_steps)


def epoch_bar(loader, epoch, step, epochs):
    """The batches of `epoch` still to do at global `step`, with a progress bar.

    A run resumed from a checkpoint in the middle of an epoch leaves out the batches done before
    it; the loader's order depends only on (seed, epoch), so it sees the same batches as one run.
    """
    done = step - epoch * len(loader)
    loader.set_epoch(epoch)
    batches = itertools.islice(iter(loader), done, None)
    return data.progress_bar(batches, desc=f"epoch {epoch + 1}/{epochs}", total=len(loader) - done)


def fixed_noise(n, latent_dim, seed, device):
    """The same noise at every epoch, so the sample grids show one set of digits developing.

    It comes from its own generator, so drawing it does not change the training's random numbers.
    """
    z = np.random.default_rng(seed + 10_000).standard_normal((n, latent_dim)).astype(np.float32)
    return tinygen.Tensor(z, device=device)


# ---------------------------------------------------------------------------------------------
# Checkpoints: models, optimisers, the step, the curves so far and the random state


def save_checkpoint(path, step, models, optimizers, history):
    tinygen.save(
        {
            "step": step,
            "models": {name: m.state_dict() for name, m in models.items()},
            "optimizers": {name: o.state_dict() for name, o in optimizers.items()},
            "history": {key: np.asarray(values, dtype=np.float64) for key, values in history.items()},
            "rng": json.dumps(backend.get_rng_state()),
        },
        path,
    )


def load_checkpoint(path, models, optimizers, history):
    """Restore everything `save_checkpoint` wrote; returns the step to continue from."""
    saved = tinygen.load(path)
    for name, model in models.items():
        model.load_state_dict(saved["models"][name])
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(saved["optimizers"][name])
    for key in history:
        history[key][:] = saved["history"][key].numpy().tolist()
    backend.set_rng_state(json.loads(saved["rng"]))
    step = int(saved["step"].item())
    print(f"resumed from {path} at step {step}")
    return step


# ---------------------------------------------------------------------------------------------
# Output files


def out_dir(args):
    folder = pathlib.Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def to_unit(images):
    """[-1, 1] (tanh output) -> [0, 1]."""
    return (images + 1) / 2


def save_array(array, path):
    """np.save, atomically."""
    with atomic_write(path) as f:
        np.save(f, array, allow_pickle=False)


def save_samples_and_metrics(args, folder, images01):
    """Write samples.npy (N, 28, 28) float32 in [0, 1] and, unless --no-metrics, print and save the metrics."""
    samples = np.clip(np.asarray(images01, dtype=np.float32).reshape(-1, 28, 28), 0, 1)
    save_array(samples, folder / "samples.npy")
    print(f"wrote {folder / 'samples.npy'} {samples.shape}")
    if args.no_metrics:
        return None
    result = metrics.evaluate(samples, data_dir=args.data_dir)
    (folder / "metrics.json").write_text(json.dumps(result, indent=1))
    print("metrics:", json.dumps(result))
    return result


def generate(G, z):
    """G's images for noise z, in [0, 1], as a NumPy array: in eval mode and without a graph."""
    G.eval()
    with tinygen.no_grad():
        images = to_unit(G(z)).numpy()
    G.train()
    return images


def save_grid(images01, path, title):
    viz.save_image_grid(images01, path, nrow=10, title=title)


def finish_gan(args, folder, G, history, seconds):
    """After training: the curves, 1000 samples from fresh noise, and their metrics."""
    print(f"trained {len(history['d_loss'])} steps in all; this run took {seconds:.1f} s")
    if history["d_loss"]:
        viz.plot_gan_curves(history, folder / "curves.png")
    samples = generate(G, fixed_noise(1000, G.latent_dim, args.seed + 1, args.device))
    return save_samples_and_metrics(args, folder, samples)
