"""The GAN step's two phases, drawn: where the forward goes and where the backward stops.

    python docs/figures/gan_step.py --out docs/images     # writes tour_gan_step.png

Phase 1 (D's step): the fakes are detached, so d_loss's backward fills D's gradients and stops
at the cut. Phase 2 (G's step): D is frozen (requires_grad_(False)), so g_loss's backward passes
through D to its input, computing no weight gradient of D, and fills G's gradients.
(examples/vanilla_gan_mnist.py, train_gan.train_step.)
"""
import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

LEARNS, FROZEN, DATA = "#f6c48f", "#d9d9d9", "white"
BACKWARD = "#c0392b"


def box(ax, x, y, text, fill, w=1.1, h=0.55):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05", facecolor=fill,
                                edgecolor="black", linewidth=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=9, family="monospace")
    return x - w / 2 - 0.05, x + w / 2 + 0.05  # its left and right edges


def arrow(ax, start, end, backward=False, text=None):
    style = dict(arrowstyle="-|>", color=BACKWARD if backward else "black", linewidth=1.6 if backward else 1,
                 linestyle="--" if backward else "-", shrinkA=1, shrinkB=1)
    ax.annotate("", xy=end, xytext=start, arrowprops=style)
    if text:
        ax.text((start[0] + end[0]) / 2, start[1] - 0.2, text, ha="center", va="center", fontsize=7,
                color=BACKWARD)


def chain(ax, boxes, y=1.0):
    """Forward arrows from each box's right edge to the next one's left edge."""
    for (_, right), (left, _) in zip(boxes, boxes[1:]):
        arrow(ax, (right, y), (left, y))


def phase_d(ax):
    ax.set_title("1. D's phase: d_loss.backward() fills D's gradients only", fontsize=10, loc="left")
    z, g, fake, cut, d, loss = (box(ax, 0, 1, "z", DATA, w=0.5), box(ax, 1.4, 1, "G", LEARNS),
                                box(ax, 2.9, 1, "fake", DATA, w=0.9), box(ax, 4.5, 1, "detach()", DATA, w=1.2),
                                box(ax, 6.1, 1, "D", LEARNS), box(ax, 7.9, 1, "d_loss", DATA, w=1.0))
    box(ax, 6.1, 2.1, "real", DATA, w=0.9)
    chain(ax, [z, g, fake, cut, d, loss])
    arrow(ax, (6.1, 2.1 - 0.33), (6.1, 1 + 0.33))
    arrow(ax, (loss[0], 0.55), (d[1], 0.55), backward=True, text="grad of D's weights")
    arrow(ax, (d[0], 0.55), (cut[1], 0.55), backward=True, text="stops at the cut")
    ax.text(2.2, 0.25, "no gradient reaches G", ha="center", fontsize=8, color=BACKWARD)


def phase_g(ax):
    ax.set_title("2. G's phase: D frozen, g_loss.backward() passes through D to G", fontsize=10, loc="left")
    z, g, fake, d, loss = (box(ax, 0, 1, "z", DATA, w=0.5), box(ax, 1.4, 1, "G", LEARNS),
                           box(ax, 2.9, 1, "fake", DATA, w=0.9), box(ax, 5.3, 1, "D (frozen)", FROZEN, w=1.5),
                           box(ax, 7.9, 1, "g_loss", DATA, w=1.0))
    chain(ax, [z, g, fake, d, loss])
    arrow(ax, (loss[0], 0.55), (d[1], 0.55), backward=True, text="through D's layers")
    arrow(ax, (d[0], 0.55), (fake[1], 0.55), backward=True, text="grad of D's input")
    arrow(ax, (fake[0], 0.55), (g[1], 0.55), backward=True)
    ax.text(1.4, 0.25, "grad of G's weights", ha="center", fontsize=8, color=BACKWARD)
    ax.text(4.1, 2.15, "the same fakes, not detached, judged by the D just updated", ha="center", fontsize=8)
    ax.text(5.3, 1.55, "requires_grad_(False): no weight gradients", ha="center", fontsize=8, color="dimgray")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/images", help="folder for tour_gan_step.png")
    args = p.parse_args()
    fig, axes = plt.subplots(2, 1, figsize=(8, 4.6), dpi=100)
    for ax, draw in zip(axes, (phase_d, phase_g)):
        draw(ax)
        ax.set_xlim(-0.5, 8.6)
        ax.set_ylim(0, 2.6)
        ax.axis("off")
    fig.text(0.01, 0.01, "orange: parameters that get gradients; grey: frozen; red dashed: the backward",
             fontsize=8, color="dimgray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "tour_gan_step.png", metadata={"Software": None})
    print(f"wrote {out / 'tour_gan_step.png'}")


if __name__ == "__main__":
    main()
