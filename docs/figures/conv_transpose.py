"""The transposed convolution as windows added back: docs/3-layers.md's picture.

A 3 x 3 input x, a 3 x 3 kernel W of ones, stride 2. tensordot(W, x) makes one 3 x 3 window per
input pixel (x[i, j] W); col2im adds each window onto the 7 x 7 output at (2i, 2j). Where windows
overlap their values add up. Every number drawn is computed by tinygen's own functions.

    python docs/figures/conv_transpose.py --out docs/images     # writes tour_conv_transpose.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import tinygen  # noqa: E402
from tinygen import functional as F  # noqa: E402
from _figure import command_line, save  # noqa: E402  (docs/figures/_figure.py)

STRIDE, K = 2, 3


def compute():
    """x, the windows (cols) and y = col2im(cols), all from tinygen; checked against conv_transpose2d."""
    x = tinygen.tensor(numpy.arange(1.0, 10.0).reshape(1, 1, 3, 3))
    weight = tinygen.ones(1, 1, K, K, dtype="float64")
    cols = F.tensordot(weight, F.transpose(x, (1, 2, 3, 0)), ([0], [0]))  # (O, kh, kw, H, W, N)
    out = (3 - 1) * STRIDE + K
    y = F.col2im(cols, (out, out), STRIDE, 0)
    assert numpy.array_equal(y.numpy(), F.conv_transpose2d(x, weight, stride=STRIDE).numpy())
    overlaps = F.conv_transpose2d(tinygen.ones(1, 1, 3, 3, dtype="float64"), weight, stride=STRIDE)
    return x.numpy()[0, 0], cols.numpy()[0, :, :, :, :, 0], y.numpy()[0, 0], overlaps.numpy()[0, 0]


def grid(ax, size):
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    ax.set_xticks(numpy.arange(-0.5, size, 1), minor=True)
    ax.set_yticks(numpy.arange(-0.5, size, 1), minor=True)
    ax.grid(which="minor", color="0.75", linewidth=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")


def draw(out_dir):
    x, cols, y, overlaps = compute()
    colours = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4), gridspec_kw={"width_ratios": [3, 7, 7]})

    ax = axes[0]
    grid(ax, 3)
    for i in range(3):
        for j in range(3):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, color=colours[3 * i + j], alpha=0.35))
            ax.text(j, i, f"{x[i, j]:g}", ha="center", va="center", fontsize=13)
    ax.set_title("input x (3 x 3)")

    ax = axes[1]
    grid(ax, 7)
    for i in range(3):
        for j in range(3):
            top, left, inset = STRIDE * i, STRIDE * j, 0.06 + 0.05 * ((i + j) % 2)
            ax.add_patch(Rectangle((left - 0.5 + inset, top - 0.5 + inset), K - 2 * inset, K - 2 * inset,
                                   fill=False, edgecolor=colours[3 * i + j], linewidth=2.2))
            ax.add_patch(Rectangle((left - 0.5 + inset, top - 0.5 + inset), K - 2 * inset, K - 2 * inset,
                                   color=colours[3 * i + j], alpha=0.12))
            ax.text(left + 1, top + 1, f"{cols[:, :, i, j][1, 1]:g}·W", ha="center", va="center", fontsize=10,
                    color=colours[3 * i + j])
    ax.set_title(f"tensordot(W, x): one 3 x 3 window per pixel,\nplaced by col2im at (2i, 2j) (W: ones, stride {STRIDE})")

    ax = axes[2]
    grid(ax, 7)
    ax.imshow(overlaps, cmap="Greys", vmin=0, vmax=6)
    for i in range(7):
        for j in range(7):
            colour = "white" if overlaps[i, j] >= 4 else "black"
            ax.text(j, i, f"{y[i, j]:g}", ha="center", va="center", fontsize=11, color=colour)
    ax.set_title("y = col2im(windows): overlaps summed\n(shade: 1, 2 or 4 windows meet)")

    fig.tight_layout()
    save(fig, out_dir, "tour_conv_transpose.png")


if __name__ == "__main__":
    command_line(draw, __doc__.splitlines()[0])
