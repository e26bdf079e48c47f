"""Every remedy for mode collapse on both 2-D mixtures, over several seeds: the table of what each does.

    python examples/gan_toy_2d_sweep.py --seeds 5

Runs examples/gan_toy_2d.py's training, with its defaults, for every --trick (none, replay,
minibatch-discrimination, minibatch-stddev) on the ring and the grid, once per seed, and writes to --out:
    table.md    modes covered, high-quality share and spread (tinygen/toy2d.py), mean +- standard
                deviation over the seeds
    table.json  the same, with every run's own figures
One run's collapse or luck says little: a GAN's outcome swings from seed to seed, so the table
gives the spread beside the mean.
"""
import json
import pathlib
import statistics
import time
import types

from tinygen import cli, toy2d

import common
import gan_toy_2d

SWEEP_FILES = ["table.md", "table.json"]


def parse_args():
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=common.whole_number(1), default=5, help="seeds 0, 1, ..., N-1 (default 5)")
    p.add_argument("--steps", type=common.whole_number(1), default=3000, help="steps per run (default 3000)")
    p.add_argument("--out", default="runs/gan_toy_2d_sweep", help="folder for table.md and table.json")
    p.add_argument("--overwrite", action="store_true", help="replace the tables of an earlier sweep in --out")
    args = p.parse_args()
    common.check_out_given(args.out)
    found = [name for name in SWEEP_FILES if (pathlib.Path(args.out) / name).exists()]
    if found and not args.overwrite:
        raise cli.UsageError(f"--out {args.out} already holds a sweep ({', '.join(found)}); choose another --out, "
                             f"or pass --overwrite to replace it")
    return args


def mean_and_spread(values):
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main():
    args = parse_args()
    rows = []
    for data in toy2d.MIXTURES:
        for trick in gan_toy_2d.TRICKS:
            runs = []
            for seed in range(args.seeds):
                run_args = types.SimpleNamespace(data=data, trick=trick, steps=args.steps, seed=seed,
                                                 batch_size=gan_toy_2d.BATCH_SIZE, g_lr=gan_toy_2d.G_LR,
                                                 d_lr=gan_toy_2d.D_LR)
                start = time.perf_counter()
                _, found, _ = gan_toy_2d.train(run_args, quiet=True)
                runs.append({"seed": seed, "modes_covered": found["modes_covered"],
                             "high_quality_share": found["high_quality_share"], "spread": found["spread"],
                             "seconds": round(time.perf_counter() - start, 1)})
                print(f"{data} {trick} seed {seed}: {found['modes_covered']}/{found['modes']} modes, "
                      f"high-quality share {found['high_quality_share']:.3f}, spread {found['spread']:.2f}", flush=True)
            modes = mean_and_spread([r["modes_covered"] for r in runs])
            quality = mean_and_spread([r["high_quality_share"] for r in runs])
            spread = mean_and_spread([r["spread"] for r in runs])
            rows.append({"data": data, "trick": trick, "modes": found["modes"], "modes_covered_mean": modes[0],
                         "modes_covered_std": modes[1], "high_quality_mean": quality[0],
                         "high_quality_std": quality[1], "spread_mean": spread[0], "spread_std": spread[1],
                         "runs": runs})
    lines = [f"{args.seeds} seeds, {args.steps} steps each (batch {gan_toy_2d.BATCH_SIZE}, G's learning rate "
             f"{gan_toy_2d.G_LR:g}, D's {gan_toy_2d.D_LR:g}); mean +- standard deviation over the seeds", "",
             "| data | trick | modes covered | high-quality share | spread (the data's: ring 1.41, grid 2.83) |",
             "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['trick']} | {r['modes_covered_mean']:.1f} +- {r['modes_covered_std']:.1f} "
                     f"of {r['modes']} | {r['high_quality_mean']:.2f} +- {r['high_quality_std']:.2f} | "
                     f"{r['spread_mean']:.2f} +- {r['spread_std']:.2f} |")
    folder = common.out_dir(args)
    common.save_text("\n".join(lines) + "\n", folder / "table.md")
    common.save_text(json.dumps({"seeds": args.seeds, "steps": args.steps, "rows": rows}, indent=1),
                     folder / "table.json")
    print("\n".join(lines))


if __name__ == "__main__":
    common.run(main)
