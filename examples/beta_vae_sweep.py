"""Train the beta-VAE for several betas and tabulate the trade-off of KL against reconstruction.

    python examples/beta_vae_sweep.py --data-dir ../shared/data/mnist [--betas 0.5 1 2 4 8] [--conv]

Runs `vae_mnist.py --beta B` for each B, one after the other, each in its own folder of --out
(beta_0.5, beta_1, ...), with the same options (data, epochs, batch size, seed, --latent, --conv
...). The KL term is the rate (on average, a bound on the nats the code carries about the image); the
reconstruction term is the distortion. A larger beta buys a smaller KL with a worse
reconstruction. Only beta = 1 trains on their plain sum, the negative ELBO (the table's measure for
every beta); the others trade a little of it for a smaller or larger rate. Writes to --out:
- tradeoff.json: a row per beta with its held-out KL, reconstruction term and negative ELBO (nats
  per image), held-out MSE per pixel, and the samples' classifier score, Frechet distance and
  classes covered (from each run's metrics.json);
- tradeoff.md: the same as a markdown table;
- tradeoff.png: KL against reconstruction, a labelled point per beta.
"""
import json
import pathlib
import subprocess
import sys

import numpy as np

from tinygen import viz
from tinygen.cli import UsageError, check_data_dir

import common
from vae_mnist import non_negative_number

SWEEP_FILES = ["tradeoff.json", "tradeoff.md", "tradeoff.png"]
COLUMNS = [  # (key in a run's metrics.json, heading, format)
    ("held_out_kl", "held-out KL (nats)", ".2f"),
    ("held_out_reconstruction_nats", "reconstruction (BCE nats)", ".2f"),
    ("held_out_negative_elbo", "negative ELBO (nats)", ".2f"),
    ("held_out_mse", "held-out MSE", ".5f"),
    ("classifier_score", "classifier score", ".2f"),
    ("frechet_distance", "Frechet distance", ".1f"),
    ("classes_covered", "classes covered", "d"),
]
VAE_SCRIPT = pathlib.Path(__file__).resolve().parent / "vae_mnist.py"


def run_folder(out, beta):
    return pathlib.Path(out) / f"beta_{beta:g}"


def check_out(args):
    """Nothing in --out is replaced by mistake: neither the sweep's files nor any of its runs' (a UsageError)."""
    common.check_out_given(args.out)
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the sweep's runs")
    found = [name for name in SWEEP_FILES if (out / name).exists()]
    found += [f"{run_folder(out, beta).name}/{name}" for beta in args.betas for name in common.RUN_FILES
              if (run_folder(out, beta) / name).exists()]
    if found and not args.overwrite:
        raise UsageError(f"--out {out} already holds a sweep ({', '.join(found[:4])}{', ...' if len(found) > 4 else ''}); "
                         f"choose another --out, or pass --overwrite to replace it")


def vae_command(args, beta):
    """The vae_mnist.py command line for one beta: the sweep's options, passed on as they were given."""
    command = [sys.executable, str(VAE_SCRIPT), "--beta", repr(beta), "--out", str(run_folder(args.out, beta)),
               "--split", args.split, "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
               "--lr", repr(args.lr), "--seed", str(args.seed), "--device", args.device, "--latent", str(args.latent)]
    command += ["--data-dir", args.data_dir] if args.data_dir is not None else []
    command += ["--max-steps", str(args.max_steps)] if args.max_steps is not None else []
    command += ["--conv"] if args.conv else []
    command += ["--overwrite"] if args.overwrite else []
    return command


def tradeoff_rows(out, betas):
    """A row per beta (in ascending order): beta and the COLUMNS from its run's metrics.json."""
    rows = []
    for beta in sorted(betas):
        metrics = json.loads((run_folder(out, beta) / "metrics.json").read_text())
        rows.append({"beta": beta, **{key: metrics[key] for key, _, _ in COLUMNS}})
    return rows


def write_tradeoff(out, rows, title):
    """tradeoff.json, tradeoff.md and tradeoff.png in the folder `out`, from `tradeoff_rows`."""
    out = pathlib.Path(out)
    common.save_text(json.dumps(rows, indent=1), out / "tradeoff.json")
    lines = ["| beta | " + " | ".join(heading for _, heading, _ in COLUMNS) + " |",
             "| --- " * (len(COLUMNS) + 1) + "|"]
    lines += [f"| {row['beta']:g} | " + " | ".join(format(row[key], spec) for key, _, spec in COLUMNS) + " |"
              for row in rows]
    common.save_text("\n".join(lines) + "\n", out / "tradeoff.md")
    viz.plot_tradeoff(np.array([row["held_out_kl"] for row in rows]),
                      np.array([row["held_out_reconstruction_nats"] for row in rows]),
                      [f"beta {row['beta']:g}" for row in rows], out / "tradeoff.png", title=title)
    return "\n".join(lines)


def main():
    parser = common.parser(__doc__.splitlines()[1], epochs=30, batch_size=128, lr=1e-3, out="runs/beta_vae_sweep")
    parser.add_argument("--betas", type=non_negative_number, nargs="+", default=[0.5, 1.0, 2.0, 4.0, 8.0],
                        help="the betas to train, each >= 0 (default 0.5 1 2 4 8)")
    parser.add_argument("--latent", type=common.whole_number(1), default=20, help="size of the code z (default 20)")
    parser.add_argument("--conv", action="store_true", help="the convolutional VAE")
    args = parser.parse_args()
    if args.resume is not None:
        raise UsageError(f"--resume {args.resume}: a sweep starts its runs afresh; resume one of its runs with "
                         f"vae_mnist.py --resume {pathlib.Path(args.out) / 'beta_B' / 'checkpoint.npz'} and that run's options")
    if args.no_metrics:
        raise UsageError("--no-metrics: the sweep's table is made of each run's metrics; leave it out")
    names = [run_folder(args.out, beta).name for beta in args.betas]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:  # 1 and 1.0, or 1 and 1.0000001 (shown as 1): one folder for two runs
        raise UsageError(f"argument --betas: two betas would share the folder {twice[0]}; give each beta once")
    common.check_device(args.device)
    check_data_dir(args.data_dir, args.split)
    check_out(args)

    for beta in args.betas:  # each run prints its own progress; a failed one has said why in one line
        print(f"--- beta {beta:g}: {' '.join(vae_command(args, beta)[1:])}", flush=True)
        status = subprocess.run(vae_command(args, beta)).returncode
        if status != 0:
            sys.exit(status)
    rows = tradeoff_rows(args.out, args.betas)
    kind = "conv beta-VAE" if args.conv else "beta-VAE"
    table = write_tradeoff(args.out, rows, f"{kind}, latent {args.latent}: held-out KL against reconstruction")
    print(table)
    print(f"wrote {', '.join(str(pathlib.Path(args.out) / name) for name in SWEEP_FILES)}")


if __name__ == "__main__":
    common.run(main)
