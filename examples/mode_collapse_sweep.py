"""Each remedy for mode collapse on MNIST, over several seeds: does the GAN keep all ten digits?

    python examples/mode_collapse_sweep.py --data-dir ../shared/data/mnist [--jobs 2]

Runs vanilla_gan_mnist.py and dcgan_mnist.py at their default epochs, plain (none) and with each
remedy (--experience-replay, --minibatch-discrimination), once per seed, each in its own folder of
--out (vanilla_none_seed0, dcgan_minibatch-discrimination_seed2, ...). Then it tabulates, for
each GAN and remedy, the mean and standard deviation over the seeds of:
    digits covered        of the 1000 final samples, how many digits get at least 1% (of 10)
    histogram spread      the standard deviation of the 10 counts of the final class histogram:
                          6.6 for 1000 real digits (MNIST's classes are not quite equal), 300 for
                          a generator that draws only one digit
    largest share         over the second half of training, the largest share any one digit had
                          at an epoch's end (0.11 for 1000 real digits): G collapsing onto a digit
    smallest share        and the smallest (0.086 for 1000 real digits): a digit G dropped, if near 0
    Frechet distance, classifier score (tinygen's metrics) and the run's wall time
Writes to --out: table.md, table.json (with every run's figures) and class_histograms.png (each
run of the first seed: the digits in 1000 samples, epoch by epoch).

--jobs N trains N runs at a time, each with one BLAS thread (on 2 cores, 2 jobs finish the sweep
sooner than 1). --tabulate trains nothing: it tabulates the runs already in --out.
"""
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

from tinygen import cli, metrics, viz

import common

EXAMPLES = pathlib.Path(__file__).resolve().parent
MODELS = {"vanilla": "vanilla_gan_mnist.py", "dcgan": "dcgan_mnist.py"}
REMEDIES = ("none", "experience-replay", "minibatch-discrimination")
SWEEP_FILES = ["table.md", "table.json", "class_histograms.png"]
COLUMNS = [  # (key in a row, heading, format)
    ("classes_covered", "digits covered", ".1f"),
    ("histogram_spread", "histogram spread", ".1f"),
    ("largest_share", "largest share", ".2f"),
    ("smallest_share", "smallest share", ".3f"),
    ("frechet_distance", "Frechet distance", ".1f"),
    ("classifier_score", "classifier score", ".2f"),
    ("seconds", "wall (s)", ".0f"),
]


def parse_args():
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files")
    p.add_argument("--split", default="train", choices=["train", "test"], help="the split to train on")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS), help="default: both")
    p.add_argument("--remedies", nargs="+", default=list(REMEDIES), choices=REMEDIES, help="default: all three")
    p.add_argument("--seeds", type=common.whole_number(1), default=3, help="seeds 0, 1, ..., N-1 (default 3)")
    p.add_argument("--epochs", type=common.whole_number(1), default=None, help="default: each example's own")
    p.add_argument("--max-steps", type=common.whole_number(1), default=None, help="stop each run early (tests)")
    p.add_argument("--jobs", type=common.whole_number(1), default=1, help="runs at a time (default 1)")
    p.add_argument("--tabulate", action="store_true", help="train nothing; tabulate the runs in --out")
    p.add_argument("--out", default="runs/mode_collapse_sweep", help="folder for the runs and the table")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier sweep's files in --out")
    args = p.parse_args()
    common.check_out_given(args.out)
    args.runs = [(model, remedy, seed) for model in args.models for remedy in args.remedies
                 for seed in range(args.seeds)]
    cli.check_data_dir(args.data_dir, args.split)
    if not args.tabulate:
        out = pathlib.Path(args.out)
        found = [name for name in SWEEP_FILES if (out / name).exists()]
        found += [f"{run_folder(args.out, *run).name}/{name}" for run in args.runs for name in common.RUN_FILES
                  if (run_folder(args.out, *run) / name).exists()]
        if found and not args.overwrite:
            raise cli.UsageError(f"--out {out} already holds a sweep ({', '.join(found[:4])}"
                                 f"{', ...' if len(found) > 4 else ''}); choose another --out, pass --overwrite "
                                 f"to replace it, or --tabulate to tabulate it")
    else:
        missing = [run_folder(args.out, *run).name for run in args.runs
                   if not (run_folder(args.out, *run) / "metrics.json").exists()]
        if missing:
            raise cli.UsageError(f"--tabulate: {len(missing)} of the runs have no metrics.json in --out "
                                 f"{args.out} (the first: {missing[0]}); train them first")
    return args


def run_folder(out, model, remedy, seed):
    return pathlib.Path(out) / f"{model}_{remedy}_seed{seed}"


def run_command(args, model, remedy, seed):
    """The example's command line for one run: its default epochs unless --epochs is given."""
    command = [sys.executable, str(EXAMPLES / MODELS[model]), "--split", args.split, "--seed", str(seed),
               "--out", str(run_folder(args.out, model, remedy, seed))]
    command += ["--data-dir", args.data_dir] if args.data_dir is not None else []
    command += ["--epochs", str(args.epochs)] if args.epochs is not None else []
    command += ["--max-steps", str(args.max_steps)] if args.max_steps is not None else []
    command += [f"--{remedy}"] if remedy != "none" else []
    command += ["--overwrite"] if args.overwrite else []
    return command


def train_all(args):
    """Every run, args.jobs at a time; each run's output goes to run.log in its folder.
    Its wall time goes to seconds.txt there. Stops at the first run that fails, saying which."""
    environment = {**os.environ, **({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"} if args.jobs > 1 else {})}
    waiting, running = list(args.runs), []
    while waiting or running:
        while waiting and len(running) < args.jobs:
            run = waiting.pop(0)
            folder = run_folder(args.out, *run)
            folder.mkdir(parents=True, exist_ok=True)
            print(f"--- {folder.name}: {' '.join(run_command(args, *run)[1:])}", flush=True)
            log = open(folder / "run.log", "w")
            running.append((run, subprocess.Popen(run_command(args, *run), stdout=log, stderr=subprocess.STDOUT,
                                                  env=environment), time.perf_counter(), log))
        time.sleep(0.05)
        for entry in [entry for entry in running if entry[1].poll() is not None]:
            run, process, started, log = entry
            running.remove(entry)
            log.close()
            folder = run_folder(args.out, *run)
            if process.returncode != 0:
                for _, other, _, _ in running:
                    other.kill()
                last = (folder / "run.log").read_text().strip().splitlines()[-1:] or ["(no output)"]
                raise cli.UsageError(f"the run {folder.name} failed: {last[0]} (all of it in {folder / 'run.log'})")
            seconds = time.perf_counter() - started
            common.save_text(f"{seconds:.1f}\n", folder / "seconds.txt")
            print(f"    {folder.name} done in {seconds:.0f} s", flush=True)


def run_figures(args, model, remedy, seed):
    """One run's row: its metrics.json and wall time, with the histogram spread and the largest and
    smallest share of a digit over the second half of the epochs."""
    folder = run_folder(args.out, model, remedy, seed)
    found = json.loads((folder / "metrics.json").read_text())
    per_epoch = np.asarray(found["class_histogram_per_epoch"], dtype=np.float64).reshape(-1, 10)
    shares = (per_epoch / per_epoch.sum(axis=1, keepdims=True))[len(per_epoch) // 2:]  # the second half
    seconds = folder / "seconds.txt"
    return {"model": model, "remedy": remedy, "seed": seed,
            "classes_covered": found["classes_covered"],
            "histogram_spread": float(np.std(found["class_histogram"])),
            "largest_share": float(shares.max()), "smallest_share": float(shares.min()),
            "frechet_distance": found["frechet_distance"], "classifier_score": found["classifier_score"],
            "seconds": float(seconds.read_text()) if seconds.exists() else float("nan"),
            "steps": found["steps"], "class_histogram": found["class_histogram"],
            "class_histogram_per_epoch": found["class_histogram_per_epoch"]}


def real_figures(args):
    """For comparison, of 1000 real digits (the classifier's reference images): the histogram spread,
    and the largest and smallest share of a digit."""
    classifier, reference, _ = metrics.load_classifier(args.data_dir, verbose=False)
    probabilities, _ = metrics.predict(classifier, reference[:1000])
    counts = np.array(metrics.class_coverage(probabilities)[0])
    return {"histogram_spread": float(np.std(counts)), "largest_share": float(counts.max() / 1000),
            "smallest_share": float(counts.min() / 1000)}


def tabulate(args):
    """table.md, table.json and class_histograms.png from the runs in --out; returns the table's text."""
    runs = [run_figures(args, *run) for run in args.runs]
    rows = []
    for model in args.models:
        for remedy in args.remedies:
            mine = [run for run in runs if run["model"] == model and run["remedy"] == remedy]
            row = {"model": model, "remedy": remedy}
            for key, _, _ in COLUMNS:
                values = [run[key] for run in mine]
                row[key] = statistics.fmean(values)
                row[key + "_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
            rows.append(row)
    real = real_figures(args)
    lines = [f"{args.seeds} seeds; mean +- standard deviation over the seeds. 1000 real digits: histogram spread "
             f"{real['histogram_spread']:.1f}, largest share {real['largest_share']:.2f}, smallest "
             f"{real['smallest_share']:.3f}", "",
             "| GAN | remedy | " + " | ".join(heading for _, heading, _ in COLUMNS) + " |",
             "| --- | --- |" + " --- |" * len(COLUMNS)]
    for row in rows:
        lines.append(f"| {row['model']} | {row['remedy']} | " + " | ".join(
            f"{row[key]:{spec}} +- {row[key + '_std']:{spec}}" for key, _, spec in COLUMNS) + " |")
    folder = pathlib.Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    common.save_text("\n".join(lines) + "\n", folder / "table.md")
    common.save_text(json.dumps({"seeds": args.seeds, "real_digits": real, "rows": rows, "runs": runs},
                                indent=1), folder / "table.json")
    panels = [(f"{run['model']}, {run['remedy']}, seed {run['seed']}: {run['classes_covered']} digits at the end",
               range(1, len(run["class_histogram_per_epoch"]) + 1), run["class_histogram_per_epoch"])
              for run in runs if run["seed"] == 0]
    viz.plot_class_histograms(panels, folder / "class_histograms.png", "the digits in 1000 samples, epoch by epoch")
    return "\n".join(lines)


def main():
    args = parse_args()
    if not args.tabulate:
        train_all(args)
    print(tabulate(args))


if __name__ == "__main__":
    common.run(main)
