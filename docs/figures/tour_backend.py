"""How one op's code runs on either device (chapter 6): a diagram, drawn with matplotlib.

    python docs/figures/tour_backend.py --out docs/images      # writes tour_backend.png
"""
import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BOX = dict(boxstyle="round,pad=0.4", fc="white", ec="black", lw=1)


def box(ax, x, y, text, colour="white", size=9):
    ax.text(x, y, text, ha="center", va="center", fontsize=size, family="monospace",
            bbox=dict(BOX, fc=colour))


def arrow(ax, start, end, text="", colour="black", rad=0.0, dy=0.0):
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="->", color=colour, lw=1.2, connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + dy, text, fontsize=8, color=colour,
                ha="center", va="center", bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    out = pathlib.Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(10, 4.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")

    cpu, gpu = "#e8f0fb", "#eaf6e6"
    ax.text(2.5, 5.7, "device 'cpu'", ha="center", fontsize=11, weight="bold")
    ax.text(7.5, 5.7, "device 'cuda' (or 'cuda:0')", ha="center", fontsize=11, weight="bold")
    box(ax, 2.5, 4.9, "x = tinygen.randn(64, 100)", cpu)
    box(ax, 7.5, 4.9, "y = x.to('cuda')", gpu)
    box(ax, 2.5, 3.8, "x.data: numpy.ndarray\nx.device == 'cpu'", cpu)
    box(ax, 7.5, 3.8, "y.data: cupy.ndarray\ny.device == 'cuda'", gpu)
    arrow(ax, (3.9, 4.75), (6.3, 4.75), "ToDevice.forward: the array copied to the GPU", "tab:green", dy=0.22)
    arrow(ax, (6.2, 3.95), (4.0, 3.95), "ToDevice.backward: the gradient copied back", "tab:purple", dy=-0.22)

    box(ax, 5.0, 2.45, "one op's forward, written once (BCEWithLogits):\n"
                       "xp = get_array_module(z)\n"
                       "xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))", "#fff8e1", size=8.5)
    arrow(ax, (2.5, 3.3), (3.6, 2.95))
    arrow(ax, (7.5, 3.3), (6.4, 2.95))
    box(ax, 2.5, 0.8, "xp is numpy:\nnumpy.exp runs on the CPU", cpu)
    box(ax, 7.5, 0.8, "xp is cupy:\ncupy.exp launches a GPU kernel", gpu)
    arrow(ax, (4.2, 1.95), (2.9, 1.25), "numpy array")
    arrow(ax, (5.8, 1.95), (7.1, 1.25), "cupy array")
    fig.tight_layout()
    fig.savefig(out / "tour_backend.png", dpi=110)


if __name__ == "__main__":
    main()
