"""What the examples share: command-line options, the data, checkpoints, and the files they write.

The loop over epochs and batches (`train_epochs`) is written once here; each family's module
(examples/autoencoders.py, examples/gans.py) makes its batches and calls it with the example's
own step, which stays in the example script, written out in full.

A mistake in how an example is called (an option out of range, a data folder without MNIST, a
checkpoint of another model, a --out folder holding another run) is a UsageError: `run(main)`
prints it as one line, `<script>: error: <what is wrong>; <what to do>`, and exits with status 2.
The checks come in the order the run needs them: the options as they are parsed, then the data,
then --resume; only then is anything in --out written.
"""
import argparse
import itertools
import json
import math
import os
import pathlib
import sys
import time

import numpy as np

import tinygen
from tinygen import backend, cli, data, viz
from tinygen.cli import UsageError
from tinygen.files import atomic_write, check_replaceable
from tinygen.serialization import CheckpointError

RUN_FILES = ["checkpoint.npz", "samples.npy", "metrics.json", "curves.png", "elbo.txt",
             "reconstructions.npy", "noisy.npy", "denoised.npy", "codes.npy", "anomaly_scores.npy",
             "samples_by_class.npy", "samples_by_code.npy"]  # a run's results in --out


def run(main):
    """Run an example's main(); a UsageError is one line on stderr and exit status 2, not a traceback.

    A NaN or infinity met in training (FloatingPointError, from a loss or a backward) means the run
    diverged, almost always from too large a learning rate: that is one line too.
    """
    def main_or_diverged():
        try:
            return main()
        except FloatingPointError as error:
            raise UsageError(f"training diverged ({error}); try a smaller --lr, or find the op that made the "
                             f"first NaN with tinygen.autograd.detect_anomaly()") from None

    cli.run(main_or_diverged, prog=os.path.basename(sys.argv[0]))


# ---------------------------------------------------------------------------------------------
# Options: each is checked as it is parsed (argparse reports a bad value in one line)


def whole_number(minimum):
    """An argparse type: an int >= minimum."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def positive_number(text):
    """An argparse type: a finite float > 0 (a learning rate of 0 does not learn; below 0 it climbs the loss)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def parser(description, epochs, batch_size, lr, out):
    """The options every example takes (an example may add its own before parsing)."""
    p = cli.ArgumentParser(description=description)
    p.add_argument("--data-dir", default=None,
                   help="folder with the MNIST files (default: $TINYGEN_DATA or ~/.cache/tinygen, downloading if missing)")
    p.add_argument("--split", default="train", choices=["train", "test"], help="which MNIST split to train on")
    p.add_argument("--epochs", type=whole_number(1), default=epochs, help=f"epochs in all, at least 1 (default {epochs})")
    p.add_argument("--batch-size", type=whole_number(1), default=batch_size, help=f"default {batch_size}")
    p.add_argument("--lr", type=positive_number, default=lr, help=f"learning rate, > 0 (default {lr})")
    p.add_argument("--seed", type=whole_number(0), default=0)
    p.add_argument("--device", default="cpu", choices=backend.DEVICE_NAMES, help="where to train ('cuda:0' is 'cuda')")
    p.add_argument("--out", default=out, help="folder for samples, curves, checkpoint and metrics")
    p.add_argument("--resume", default=None, metavar="CKPT", help="continue from this checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start afresh in an --out that holds another run, "
                   "replacing its files")
    p.add_argument("--max-steps", type=whole_number(1), default=None, help="stop after this many steps in all")
    p.add_argument("--no-metrics", action="store_true", help="skip the sample-quality metrics at the end")
    return p


def parse_args(parser):
    """The parsed options, once they fit together: the device is here, --resume and --out make sense."""
    args = parser.parse_args()
    check_device(args.device)
    check_resume_and_out(args)
    return args


def check_device(device):
    try:
        backend.module_for(device)
    except (ValueError, RuntimeError) as error:
        raise UsageError(f"--device {device}: {error}; use --device cpu") from None


def check_resume_and_out(args):
    """--resume names a file; --out is a folder (or nothing yet) that holds no other run's results.

    A run writes checkpoint.npz, samples.npy, metrics.json ... into --out, replacing what is there.
    That is wanted when it continues the run that is there (--resume <out>/checkpoint.npz), and
    otherwise only with --overwrite: a fresh run must never replace another run's results by mistake.
    """
    if args.resume is not None and not os.path.isfile(args.resume):
        what = "is a folder" if os.path.isdir(args.resume) else "no such file"
        raise UsageError(f"--resume {args.resume}: {what}; give the checkpoint.npz of an earlier run")
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the run's results")
    found = [name for name in RUN_FILES if (out / name).exists()]
    checkpoint = out / "checkpoint.npz"
    continues_it = args.resume is not None and checkpoint.exists() and os.path.samefile(args.resume, checkpoint)
    if found and not continues_it and not args.overwrite:
        resume = f"continue it with --resume {checkpoint}, " if checkpoint.exists() else ""
        raise UsageError(f"--out {out} already holds a run ({', '.join(found)}); {resume}choose another --out, "
                         f"or pass --overwrite to replace it")
    for name in found:  # the run will replace them: find out now, not after hours of training
        try:
            check_replaceable(out / name)
        except OSError as error:
            raise UsageError(f"--out {out}: {error.strerror} ({name}); make it writable, or choose another --out") from None
    if out.is_dir() and not os.access(out, os.W_OK):
        raise UsageError(f"--out {out}: no permission to write in this folder; choose another --out")


# ---------------------------------------------------------------------------------------------
# The data


def mnist(args, split):
    """The MNIST split as a dataset; a missing or damaged copy is a UsageError saying where to look."""
    cli.check_data_dir(args.data_dir, split)
    try:
        return data.MNIST(root=args.data_dir, split=split)
    except (FileNotFoundError, data.CorruptFileError) as error:  # a failed download, or a damaged file
        raise cli.data_error(error) from None


def load_mnist(args, scale):
    """The chosen split's images as float32 (N, 1, 28, 28), scaled to 'unit' [0, 1] or 'symmetric' [-1, 1]."""
    dataset = mnist(args, args.split)
    images, _ = dataset.arrays(scale=scale)
    print(dataset)
    return images


def check_finite(history, step, args):
    """Stop at the first loss that is NaN or infinite: training has diverged, and every step after it
    would be garbage. The checkpoint in --out is still the last one written before it."""
    bad = [key for key, values in history.items() if not math.isfinite(values[-1])]
    if bad:
        raise UsageError(f"step {step}: {bad[0]} is {history[bad[0]][-1]}, training diverged; try a smaller --lr "
                         f"than {args.lr:g}")


def check_batch_size(args, n_images):
    """The loaders drop a last, smaller batch, so an epoch needs at least one full batch."""
    if args.batch_size > n_images:
        raise UsageError(f"--batch-size {args.batch_size} is larger than the {n_images} training images; "
                         f"use at most {n_images}")


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


def train_epochs(args, loader, train_step, models, optimizers, history, end_of_epoch=None, epoch_history=None):
    """The training loop: args.epochs (or --max-steps) over the loader's batches; returns the --out folder.

    numbers = train_step(batch, epoch) does one step and returns the step's numbers for the curves
    (Tensors or floats), with the keys of `history`; they are appended to it, checked for NaN,
    and shown on the progress bar. models and optimizers are dicts of name -> Module / optimiser:
    all of them go into the checkpoint written at the end of every epoch, with the history, the
    step and the random state, so that --resume continues exactly where the run stopped.
    end_of_epoch(epoch, step, folder), if given, runs just before that checkpoint.
    epoch_history, if given, is a dict of name -> list of what end_of_epoch measures once an epoch
    (the GANs' class histogram of G's samples): it goes into the checkpoint too.
    """
    step = 0
    if args.resume:
        step = load_checkpoint(args.resume, args, models, optimizers, history, epoch_history)
    folder = out_dir(args)  # only now, with the options, data and checkpoint checked, is --out written

    steps_per_epoch = len(loader)
    last_step = total_steps(args, steps_per_epoch)
    if args.device == "cpu":
        print(tinygen.threads.describe())
    started = time.perf_counter()
    for epoch in range(step // steps_per_epoch, args.epochs):
        if step >= last_step:
            break
        bar = epoch_bar(loader, epoch, step, args.epochs)
        for batch in bar:
            numbers = train_step(batch, epoch)
            step += 1
            for key in history:
                history[key].append(float(numbers[key].item() if isinstance(numbers[key], tinygen.Tensor) else numbers[key]))
            check_finite(history, step, args)  # a NaN loss: stop, saying so
            bar.set_postfix({key: values[-1] for key, values in history.items()}, refresh=False)
            if step >= last_step:
                break
        if end_of_epoch is not None:
            end_of_epoch(epoch, step, folder)
        save_checkpoint(folder / "checkpoint.npz", args, step, models, optimizers, history, epoch_history)
    print(f"trained {step} steps in all; this run took {time.perf_counter() - started:.1f} s")
    return folder


# ---------------------------------------------------------------------------------------------
# Checkpoints: models, optimisers, the step, the curves so far and the random state


# Options saved with the run that a resumed run must repeat, and why. An example adds its own in
# args.resume_with_the_same (option -> why), as the beta-VAE does: {"beta": "the loss depends on it"}.
RESUME_WITH_THE_SAME = {name: "each epoch's batches depend on it" for name in ["split", "batch_size", "seed"]}


def resume_with_the_same(args):
    """The options a --resume of this run must repeat (option -> why): the common ones and the example's."""
    return {**RESUME_WITH_THE_SAME, **getattr(args, "resume_with_the_same", {})}


def save_checkpoint(path, args, step, models, optimizers, history, epoch_history=None):
    tinygen.save(
        {
            "step": step,
            "options": {name: getattr(args, name) for name in resume_with_the_same(args)},
            "models": {name: m.state_dict() for name, m in models.items()},
            "model_types": {name: type(m).__name__ for name, m in models.items()},
            "optimizers": {name: o.state_dict() for name, o in optimizers.items()},
            "history": {key: np.asarray(values, dtype=np.float64) for key, values in history.items()},
            "epoch_history": {key: np.asarray(values, dtype=np.float64) for key, values in (epoch_history or {}).items()},
            "rng": json.dumps(backend.get_rng_state()),
        },
        path,
    )


def load_checkpoint(path, args, models, optimizers, history, epoch_history=None):
    """Restore everything `save_checkpoint` wrote; returns the step to continue from.

    A file that is not a checkpoint of this example, with these options, is a UsageError.
    """
    def refuse(problem, advice="give a checkpoint.npz this example wrote with these options, or start a new run"):
        raise UsageError(f"--resume {path} {problem}; {advice}")

    try:
        saved = tinygen.load(path)
    except CheckpointError as error:
        refuse(str(error).removeprefix(f"load: {path} "))
    except OSError as error:  # e.g. no permission to read it
        refuse(f"cannot be read ({error.strerror})")
    if not {"step", "models", "optimizers", "history", "rng"} <= set(saved) or not isinstance(saved["models"], dict):
        refuse(f"is not a checkpoint of these examples (it holds {sorted(saved)})")
    must_repeat = resume_with_the_same(args)  # first: an option that changes the models says so
    for name, value in saved.get("options", {}).items():  # older checkpoints have none
        value = value if isinstance(value, str) else value.item()
        if name in must_repeat and value != getattr(args, name):
            option = "--" + name.replace("_", "-")
            if isinstance(value, bool):  # a flag: given or not
                refuse(f"comes from a run {'with' if value else 'without'} {option}, this one is "
                       f"{'without' if value else 'with'} it", f"resume {'with' if value else 'without'} {option} "
                       f"({must_repeat[name]})")
            theirs, ours = (f"{v:g}" if isinstance(v, float) else str(v) for v in (value, getattr(args, name)))
            refuse(f"comes from a run with {option} {theirs}, this one has {ours}",
                   f"resume with {option} {theirs} ({must_repeat[name]})")
    if sorted(saved["models"]) != sorted(models):
        refuse(f"is a checkpoint of other models ({', '.join(sorted(saved['models']))}; this example trains "
               f"{', '.join(sorted(models))})", "give a checkpoint of this example")
    types = {name: type(model).__name__ for name, model in models.items()}
    if saved.get("model_types", types) != types:  # older checkpoints do not say
        theirs = ", ".join(f"{name}: {kind}" for name, kind in sorted(saved["model_types"].items()))
        refuse(f"is a checkpoint of other models ({theirs}; this example trains "
               f"{', '.join(f'{name}: {kind}' for name, kind in sorted(types.items()))})", "give a checkpoint of this example")
    try:
        for name, model in models.items():
            model.load_state_dict(saved["models"][name])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(saved["optimizers"][name])
        for key in history:
            history[key][:] = saved["history"][key].numpy().tolist()
        for key in epoch_history or {}:  # checkpoints older than epoch_history have none: start it empty
            epoch_history[key][:] = saved["epoch_history"][key].numpy().tolist() if "epoch_history" in saved else []
        backend.set_rng_state(json.loads(saved["rng"]))
        step = int(saved["step"].item())
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        refuse(f"does not fit this model ({error.args[0] if error.args else type(error).__name__})",
               "resume with the options it was trained with (e.g. --latent) or start a new run")
    print(f"resumed from {path} at step {step}")
    return step


# ---------------------------------------------------------------------------------------------
# Output files


def out_dir(args):
    """The --out folder, created now: called once the options, the data and --resume are checked."""
    folder = pathlib.Path(args.out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {folder}: cannot create this folder ({error.strerror}); choose another --out") from None
    return folder


def to_unit(images):
    """[-1, 1] (tanh output) -> [0, 1]."""
    return (images + 1) / 2


def save_array(array, path):
    """np.save, atomically."""
    with atomic_write(path) as f:
        np.save(f, array, allow_pickle=False)


def save_text(text, path):
    """A small text file, atomically."""
    with atomic_write(path) as f:
        f.write(text.encode())


def save_grid(images01, path, title):
    viz.save_image_grid(images01, path, nrow=10, title=title)
