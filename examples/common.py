"""What the examples share: command-line options, the data, checkpoints, and the files they write.

The loop over epochs and batches (`train_epochs`) is written once here; each family's module
(examples/autoencoders.py, examples/gans.py) makes its batches and calls it with the example's
own step, which stays in the example script, written out in full.

A mistake in how an example is called (an option out of range, a data folder without MNIST, a
checkpoint of another model, a --out folder holding another run) is a UsageError: `run(main)`
prints it as one line, `<script>: error: <what is wrong>; <what to do>`, and exits with status 2.
The checks come in the order the run needs them: the options as they are parsed, then the data,
then --resume; only then is anything in --out written.

A --resume continues its run exactly: every option but --epochs, --max-steps, --data-dir,
--device, --out and --no-metrics is stored in the checkpoint, and another value is refused
(FREE_ON_RESUME). A run already finished says so and exits 0, writing nothing. A checkpoint
that no run could have written is called damaged, naming the entry (`find_damage`).
"""
import argparse
import itertools
import json
import math
import os
import pathlib
import re
import sys
import time

import numpy as np

import tinygen
from tinygen import backend, cli, data, metrics, serialization, viz
from tinygen.cli import UsageError
from tinygen.files import atomic_write, check_replaceable
from tinygen.serialization import CheckpointError

RUN_FILES = ["checkpoint.npz", "samples.npy", "metrics.json", "curves.png", "elbo.txt",
             "reconstructions.npy", "noisy.npy", "denoised.npy", "codes.npy", "anomaly_scores.npy",
             "samples_by_class.npy", "samples_by_code.npy"]  # a run's results in --out
RUN_PICTURES = ["class_histograms.png", "codes.png", "continuous_codes.png", "denoising.png", "equilibrium.png",
                "fd_by_step.png", "feature_maps.png", "growth.png", "interpolation.png", "manifold.png",
                "mean_activation.png", "reconstructions.png", "resolutions.png", "roc.png", "rows.png", "samples.png",
                "samples_by_class.png", "samples_by_code.png", "style_mixing.png", "traversal.png", "truncation.png"]
EPOCH_PICTURES = re.compile(r"(samples|reconstructions)_epoch_\d{3}\.png")  # samples_epoch_001.png ...


def run_outputs(folder):
    """The files in `folder` that an example's run writes (RUN_FILES, RUN_PICTURES, the epochs' grids):
    what --overwrite removes. Anything else there (the user's own files) is never touched."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.is_file() and (
        path.name in RUN_FILES or path.name in RUN_PICTURES or EPOCH_PICTURES.fullmatch(path.name)))


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


def parser(description, epochs, batch_size, lr, out, epochs_help=None):
    """The options every example takes (an example may add its own before parsing); epochs_help
    words a default that depends on other options (the help says "default {epochs}" otherwise)."""
    p = cli.ArgumentParser(description=description)
    p.add_argument("--data-dir", default=None,
                   help="folder with the MNIST files (default: $TINYGEN_DATA or ~/.cache/tinygen, downloading if missing)")
    p.add_argument("--split", default="train", choices=["train", "test"],
                   help="which MNIST split to train on (default train; test is for quick runs, and its figures are "
                        "not comparable)")
    p.add_argument("--epochs", type=whole_number(1), default=epochs, help=f"epochs in all, at least 1 (default {epochs_help or epochs})")
    p.add_argument("--batch-size", type=whole_number(1), default=batch_size, help=f"default {batch_size}")
    p.add_argument("--lr", type=positive_number, default=lr, help=f"learning rate, > 0 (default {lr})")
    p.add_argument("--seed", type=whole_number(0), default=0)
    p.add_argument("--device", default="cpu", choices=backend.DEVICE_NAMES, help="where to train ('cuda:0' is 'cuda')")
    p.add_argument("--out", default=out, help="folder for samples, curves, checkpoint and metrics")
    p.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue the run of this checkpoint exactly where it stopped: give the options it was "
                        "trained with (--lr, --batch-size, --seed and the example's own); only --epochs, --max-steps, "
                        "--data-dir, --device, --out and --no-metrics may differ. A run that is already finished "
                        "says so and changes nothing")
    p.add_argument("--overwrite", action="store_true", help="start afresh in an --out that holds another run, "
                   "removing that run's files (the files a run writes; nothing else in the folder)")
    p.add_argument("--max-steps", type=whole_number(1), default=None, help="stop after this many steps in all")
    p.add_argument("--no-metrics", action="store_true", help="skip the sample-quality metrics at the end")
    return p


def parse_args(parser):
    """The parsed options, once they fit together: the device is here, --resume and --out make sense.

    args.given is the set of options given on the command line (their dests), for `refuse_given`;
    args.training_options the options a --resume must repeat (every one but FREE_ON_RESUME).
    """
    args = parser.parse_args()
    args.training_options = sorted(set(vars(args)) - FREE_ON_RESUME)
    args.given = options_given(parser)
    check_device(args.device)
    check_resume_and_out(args)
    check_metrics_cache(args)
    return args


class NotGiven:
    """The value of an option that the command line did not give (see `options_given`)."""


def options_given(parser):
    """The dests of the options on the command line, whatever their values (a default given by hand too).

    argparse fills in a default only for an option missing from the namespace it is handed, so
    parsing again into a namespace that already holds NotGiven for every option leaves NotGiven
    exactly where the command line gave nothing."""
    blank = argparse.Namespace(**{action.dest: NotGiven for action in parser._actions})
    return {name for name, value in vars(parser.parse_args(namespace=blank)).items() if value is not NotGiven}


def refuse_given(args, names, mode, advice):
    """A UsageError if any option in `names` (dests) was given: it does nothing in `mode`.

    E.g. refuse_given(args, ["rho"], "with --penalty l1 (it is the KL penalty's target)", "drop it, or pass --penalty kl")
    """
    for name in names:
        if name in getattr(args, "given", ()):
            raise UsageError(f"--{name.replace('_', '-')} does nothing {mode}; {advice}")


def check_device(device):
    try:
        backend.module_for(device)
    except (ValueError, RuntimeError) as error:
        raise UsageError(f"--device {device}: {error}; use --device cpu") from None


def check_out_given(out):
    """--out '' would be the current folder without saying so: refused (--out . says it)."""
    if not str(out).strip():
        raise UsageError(f"--out {out!r} is empty; give a folder for the run's results (--out . for this folder)")


def check_resume_and_out(args):
    """--resume names a file; --out is a folder (or nothing yet) that holds no other run's results.

    A run writes checkpoint.npz, samples.npy, metrics.json ... into --out, replacing what is there.
    That is wanted when it continues the run that is there (--resume <out>/checkpoint.npz), and
    otherwise only with --overwrite: a fresh run must never replace another run's results by mistake.
    """
    check_out_given(args.out)
    if args.resume is not None and not os.path.isfile(args.resume):
        what = "is a folder" if os.path.isdir(args.resume) else "no such file"
        raise UsageError(f"--resume {args.resume}: {what}; give the checkpoint.npz of an earlier run")
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the run's results")
    found = [name for name in RUN_FILES if (out / name).exists()]
    checkpoint = out / "checkpoint.npz"
    continues_it = args.resume is not None and checkpoint.exists() and os.path.samefile(args.resume, checkpoint)
    if continues_it and args.overwrite:
        raise UsageError(f"--overwrite would remove the run in --out {out} that --resume {args.resume} continues; "
                         f"drop --overwrite to continue it, or drop --resume to start afresh")
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


def check_metrics_cache(args):
    """The metrics' classifier is cached in the data cache ($TINYGEN_DATA, else ~/.cache/tinygen)
    with its reference digits' predictions, made once from the weights that ship with tinygen (or,
    with only the test split at hand, trained once). A cache that is not there and cannot be written
    is found now, before training, not when the first epoch ends. (A cache that is there but was
    made for other data, and cannot be replaced, is used once without caching: metrics.py.)"""
    if getattr(args, "no_metrics", True):
        return
    cache = data.default_root() / metrics.CLASSIFIER_FILE
    if cache.is_file() and os.access(cache, os.R_OK):
        return
    existing = cache.parent  # the folder to write in, or the nearest folder above it to create it in
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not (existing.is_dir() and os.access(existing, os.W_OK)):
        raise UsageError(f"the metrics' classifier is cached as {cache}, but {existing} cannot be "
                         f"written; set TINYGEN_DATA to a writable folder, or pass --no-metrics")


# ---------------------------------------------------------------------------------------------
# The data


def mnist(args, split):
    """The MNIST split as a dataset; a missing or damaged copy is a UsageError saying where to look."""
    cli.check_data_dir(args.data_dir, split)
    try:
        return data.MNIST(root=args.data_dir, split=split)
    except (FileNotFoundError, data.CorruptFileError) as error:  # a failed download, or a damaged file
        raise cli.data_error(error) from None


def data_record(args, judged_on):
    """What metrics.json says of its data: the split the run trained on and the digits its figures
    were measured on (`judged_on`), and for --split test that its figures are not comparable."""
    record = {"trained_on": f"MNIST {args.split} split", "judged_on": judged_on}
    if args.split == "test":
        record["note"] = ("--split test is for quick runs: its figures are not comparable with a run on the "
                          "training split (the metrics' reference digits are among those it trained on)")
    return record


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


def check_batch_norm(args, models):
    """BatchNorm1d in training normalises each feature by its mean and variance over the batch,
    which need at least 2 images (one image's variance is 0): --batch-size 1 is refused in one
    line. (BatchNorm2d also averages over the pixels, so it has statistics even for one image.)"""
    if args.batch_size >= 2:
        return
    for model_name, model in models.items():
        for name, layer in model.named_modules() if isinstance(model, tinygen.nn.Module) else ():
            if isinstance(layer, tinygen.nn.BatchNorm1d):
                raise UsageError(f"--batch-size {args.batch_size}: {model_name}'s BatchNorm1d ({name}) normalises "
                                 f"each feature by its statistics over the batch, which need at least 2 images; "
                                 f"use --batch-size 2 or more")


def total_steps(args, steps_per_epoch):
    steps = args.epochs * steps_per_epoch
    return steps if args.max_steps is None else min(steps, args.max_steps)


def run_progress(step, last_step, steps_timed, seconds):
    """The whole run's progress for the bar (which counts one epoch's batches): 'step 1200/28110,
    9:41 left', the time left at the pace of the steps_timed steps this process has trained."""
    left = (last_step - step) * seconds / max(steps_timed, 1)
    minutes, secs = divmod(round(left), 60)
    return f"step {step}/{last_step}, {minutes}:{secs:02d} left"


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
    and shown on the progress bar, with the run's step and the time it has left (`run_progress`).
    models and optimizers are dicts of name -> Module / optimiser: all of them go into the
    checkpoint written at the end of every epoch, with the history, the step and the random
    state, so that --resume continues exactly where the run stopped.
    end_of_epoch(epoch, step, folder), if given, runs just before that checkpoint.
    epoch_history, if given, is a dict of name -> list of what end_of_epoch measures once an epoch
    (the GANs' class histogram of G's samples): it goes into the checkpoint too.
    """
    check_batch_norm(args, models)
    steps_per_epoch = len(loader)
    last_step = total_steps(args, steps_per_epoch)
    step = 0
    if args.resume:
        step = load_checkpoint(args.resume, args, models, optimizers, history, epoch_history)
        if step >= last_step:  # nothing to train: leave the run's files as they are
            print(f"--resume {args.resume}: the run is already finished (step {step} of {last_step}); nothing "
                  f"written. To train on, give more --epochs (now {args.epochs})"
                  + (f" or --max-steps (now {args.max_steps})" if args.max_steps is not None else ""))
            raise SystemExit(0)
    folder = out_dir(args)  # only now, with the options, data and checkpoint checked, is --out written
    clear_for_this_run(args, folder)

    if args.device == "cpu":
        print(tinygen.threads.describe())
    started, first_step = time.perf_counter(), step
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
            bar.set_postfix({**{key: values[-1] for key, values in history.items()},
                             "run": run_progress(step, last_step, step - first_step, time.perf_counter() - started)},
                            refresh=False)
            if step >= last_step:
                break
        if end_of_epoch is not None:
            end_of_epoch(epoch, step, folder)
        save_checkpoint(folder / "checkpoint.npz", args, step, models, optimizers, history, epoch_history)
    print(f"trained {step} steps in all; this run took {time.perf_counter() - started:.1f} s")
    return folder


# ---------------------------------------------------------------------------------------------
# Checkpoints: models, optimisers, the step, the curves so far, the options and the random state


# A --resume continues the checkpoint's run exactly, so it takes the options that run was trained
# with: every option but these, which say where things are, how far to train and how much to
# measure after (the VAE's --log-px-samples). The checkpoint
# stores the others, and a resume that gives another value is refused, saying the checkpoint's
# value and why it is fixed (a new --lr would otherwise be silently replaced by the optimisers'
# saved one). An example whose training depends on one of these too, as the stacked
# autoencoder's phases on --epochs, adds it in args.resume_with_the_same (option -> why).
FREE_ON_RESUME = {"data_dir", "device", "out", "resume", "overwrite", "epochs", "max_steps", "no_metrics",
                  "log_px_samples"}
RESUME_WITH_THE_SAME = {name: "each epoch's batches depend on it" for name in ["split", "batch_size", "seed"]}
A_RATE = "the checkpoint's optimisers continue at it; for another rate, start a new run"
AN_OPTION = "the checkpoint's run was trained with it; for another value, start a new run"


def resume_with_the_same(args):
    """The options a --resume of this run must repeat (option -> why): the example's own first (a
    --penalty before the --beta whose default follows from it), then all others but FREE_ON_RESUME."""
    names = getattr(args, "training_options", RESUME_WITH_THE_SAME)
    why = {name: RESUME_WITH_THE_SAME.get(name, A_RATE if name == "lr" or name.endswith("_lr") else AN_OPTION)
           for name in names}
    example = getattr(args, "resume_with_the_same", {})
    return {**example, **{name: reason for name, reason in why.items() if name not in example}}


def this_example():
    """The running example's file name (vanilla_gan_mnist.py): a checkpoint says which example wrote it."""
    return os.path.basename(sys.argv[0])


def save_checkpoint(path, args, step, models, optimizers, history, epoch_history=None):
    tinygen.save(
        {
            "step": step,
            "example": this_example(),
            "options": json.dumps({name: getattr(args, name) for name in resume_with_the_same(args)}),
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

    A file that is not a checkpoint of this example, with these options, is a UsageError, which
    says which it is: not a checkpoint; damaged (an entry no run writes: `find_damage`); of a run
    with other options (naming the option and its value); or of other models.
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
    damage = find_damage(saved, models)
    if damage:
        refuse(f"is damaged: {damage}", "no run writes that: resume from an undamaged copy, or start a new run")
    if "example" in saved and str(saved["example"]) != this_example():  # older checkpoints do not say
        refuse(f"was written by {saved['example']}, not by {this_example()}",
               f"resume it with {saved['example']}, or start a new run")
    must_repeat = resume_with_the_same(args)
    options = saved_options(saved)
    of_this_example = set(options) <= set(must_repeat)  # another example's has options this one lacks
    for name in must_repeat if of_this_example else ():  # first: an option that changes the models says so
        value = options.get(name, getattr(args, name))  # an older checkpoint stores fewer
        if value != getattr(args, name):
            option = "--" + name.replace("_", "-")
            if isinstance(value, bool):  # a flag: given or not
                refuse(f"comes from a run {'with' if value else 'without'} {option}, this one is "
                       f"{'without' if value else 'with'} it", f"resume {'with' if value else 'without'} {option} "
                       f"({must_repeat[name]})")
            theirs, ours = (shown(v) for v in (value, getattr(args, name)))
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
        # Checkpoints older than epoch_history have none (start it empty); those older than one of
        # its measures lack that key: its value at the epochs they measured is NaN, not measured.
        measured = saved["epoch_history"] if "epoch_history" in saved else {}
        epochs = len(measured["epoch"]) if "epoch" in measured else 0
        for key in epoch_history or {}:
            epoch_history[key][:] = measured[key].numpy().tolist() if key in measured else [math.nan] * epochs
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        refuse(f"does not fit this model ({error.args[0] if error.args else type(error).__name__})",
               "resume with the options it was trained with (e.g. --latent) or start a new run")
    backend.set_rng_state(json.loads(saved["rng"]))  # find_damage has tried it
    step = int(saved["step"].item())
    print(f"resumed from {path} at step {step}")
    return step


def shown(value):
    """An option's value as a command line gives it: 0.0002 as 0.0002, [100, 30] as 100 30."""
    if isinstance(value, list):
        return " ".join(map(shown, value))
    return f"{value:g}" if isinstance(value, float) else "(not given)" if value is None else str(value)


def saved_options(saved):
    """The options stored in a checkpoint (a JSON text; older ones: a dict of arrays, or none)."""
    options = saved.get("options", {})
    if isinstance(options, str):
        return json.loads(options)  # find_damage has tried it
    return {name: value if isinstance(value, str) else value.item() for name, value in options.items()}


def find_damage(saved, models):
    """What in a checkpoint no run of these examples writes, as 'entry: problem', or None.

    Damage, not a mismatch of options: a step that is not a whole number >= 0, or not the number
    of steps in the history; a random state that does not parse or does not fit the generator;
    options that do not parse; weights of another dtype than the model's; NaN or infinite values
    in the models or the optimisers (training stops at the first NaN loss, before any checkpoint).
    """
    step = saved["step"]
    if not isinstance(step, tinygen.Tensor) or step.shape != () or step.dtype.kind not in "iu" or step.item() < 0:
        return f"'step' is {shown_entry(step)}, not a whole number >= 0"
    for key, values in saved["history"].items() if isinstance(saved["history"], dict) else ():
        if isinstance(values, tinygen.Tensor) and len(values.shape) == 1 and values.shape[0] != step.item():
            return f"'history/{key}' holds {values.shape[0]} steps, but 'step' is {step.item()}"
    try:
        scratch = type(backend.generator("cpu").bit_generator)()
        scratch.state = json.loads(saved["rng"])
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        return f"'rng' is not a random state of the generator ({type(error).__name__}: {error})"
    if isinstance(saved.get("options"), str):
        try:
            if not isinstance(json.loads(saved["options"]), dict):
                raise ValueError("not a dict")
        except ValueError as error:
            return f"'options' does not parse ({error})"
    for name, model in models.items():
        theirs = saved["models"].get(name, {})
        for key, ours in model.state_dict().items():
            value = theirs.get(key) if isinstance(theirs, dict) else None
            if isinstance(value, tinygen.Tensor) and value.dtype != ours.dtype and value.shape == ours.shape:
                return f"'models/{name}/{key}' is {value.dtype}, but the model's is {ours.dtype}"
    for part in ("models", "optimizers"):
        arrays = serialization.flatten(saved[part], part) if isinstance(saved[part], dict) else {}
        for entry, array in arrays.items():  # named as in the file: 'models/G/0.weight'
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                return f"'{entry}' holds NaN or infinite values"
    return None


def shown_entry(value):
    if isinstance(value, tinygen.Tensor):
        return f"{value.numpy()!r}"[:60]
    return repr(value)[:60]


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


def clear_for_this_run(args, folder):
    """Before a run trains into `folder`: no file there may describe another model when it ends.

    With --overwrite, the earlier run's files (`run_outputs`; never the user's own) are removed,
    so none of another model's files stand beside this run's. A resume of the run in `folder`
    removes its metrics.json, which measured the model before the resume (the run writes a new
    one at the end, unless --no-metrics)."""
    if args.overwrite:
        earlier = run_outputs(folder)
        for path in earlier:
            path.unlink()
        if earlier:
            print(f"--overwrite: removed the {len(earlier)} files of the earlier run in {folder}")
    stale = folder / "metrics.json"
    if stale.exists():  # only when continuing the run in --out: its metrics measured the model before this resume
        stale.unlink()
        print(f"removed {stale}: it measured the model before this resume; "
              + ("--no-metrics: no new one is written" if args.no_metrics else "a new one is written at the end"))


def to_unit(images):
    """[-1, 1] (tanh output) -> [0, 1]."""
    return (images + 1) / 2


def save_array(array, path):
    """np.save, atomically."""
    with atomic_write(path) as f:
        np.save(f, array, allow_pickle=False)


def json_text(record):
    """record as indented JSON, a NaN (a value not measured) written as null: JSON has no NaN."""
    def plain(value):
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        return value
    return json.dumps(plain(record), indent=1, allow_nan=False)


def save_text(text, path):
    """A small text file, atomically."""
    with atomic_write(path) as f:
        f.write(text.encode())


def save_grid(images01, path, title):
    viz.save_image_grid(images01, path, nrow=10, title=title)
