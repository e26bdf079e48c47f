"""The README's measured step times, drawn (chapter 8). Nothing is measured here: every number is
copied from the tables in docs/8-performance.md (2 cores, numpy 2.4.6 with OpenBLAS, PyTorch
2.13.0+cpu, `python benchmarks/step_time.py` three times and `benchmarks/profile_step.py` once).

    python docs/figures/tour_performance.py --out docs/images     # writes tour_performance.png
"""
import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# tinygen / PyTorch step-time ratio, runs 1, 2, 3 (the table's "ratio" column)
RATIOS = {
    "vanilla GAN 64": (0.94, 0.93, 0.98),
    "vanilla GAN 128": (0.98, 0.99, 1.00),
    "DCGAN 64": (1.28, 1.25, 1.25),
    "DCGAN 128": (1.27, 1.29, 1.29),
    "VAE 64": (0.49, 0.65, 0.53),
    "VAE 128": (0.82, 0.78, 0.83),
}
# one profiled step at batch 64, ms (the profile table)
PROFILE = {
    "vanilla GAN\n(15.3 ms)": {"matrix products": 8.1, "im2col, col2im": 0.0, "Adam": 4.0, "all other ops": 2.3,
                               "engine": 0.9},
    "DCGAN\n(94.8 ms)": {"matrix products": 56.4, "im2col, col2im": 7.0 + 10.6, "Adam": 1.9, "all other ops": 16.3,
                         "engine": 2.6},
}
COLOURS = {"matrix products": "tab:blue", "im2col, col2im": "tab:orange", "Adam": "tab:green",
           "all other ops": "tab:gray", "engine": "tab:red"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    out = pathlib.Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 2]})

    for i, (case, runs) in enumerate(RATIOS.items()):
        left.scatter([i] * len(runs), runs, color="black", s=18, zorder=3)
    left.axhline(1, color="tab:red", lw=1)
    left.text(len(RATIOS) - 1.2, 1.02, "as fast as PyTorch", color="tab:red", ha="right", fontsize=8)
    left.set_xticks(range(len(RATIOS)), [c.replace(" ", "\n", 1) for c in RATIOS], fontsize=8)
    left.set_ylabel("step time, tinygen / PyTorch")
    left.set_ylim(0, 1.45)
    left.set_title("one training step, three runs (below 1: tinygen faster)", fontsize=10)

    bottom = [0.0] * len(PROFILE)
    for part, colour in COLOURS.items():
        values = [parts[part] for parts in PROFILE.values()]
        right.bar(list(PROFILE), values, bottom=bottom, color=colour, label=part, width=0.55)
        bottom = [b + v for b, v in zip(bottom, values)]
    right.set_ylabel("ms per step (profiled, batch 64)")
    right.set_title("where the time goes", fontsize=10)
    right.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out / "tour_performance.png", dpi=110)


if __name__ == "__main__":
    main()
