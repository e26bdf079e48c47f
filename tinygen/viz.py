"""Pictures of training: image grids (with Pillow, their titles in matplotlib's font), among them
a VAE's 2-D latent manifold, and training curves and other plots (matplotlib).

Every function that draws takes plain arrays or tensors and writes a PNG atomically (to a
temporary file, then renamed), so a picture being looked at is never half written.
"""
import statistics

import numpy as np

from tinygen.autograd import Tensor
from tinygen.files import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # draw to files; no screen needed
    import matplotlib.pyplot as plt

    return plt


def _host(images):
    return images.numpy() if isinstance(images, Tensor) else np.asarray(images)


def image_grid(images, nrow=10, padding=2):
    """Tile images into one picture: (N, 28, 28), (N, 1, 28, 28) or (N, 784) in [0, 1] -> 2-D array."""
    images = _host(images).astype(np.float32)
    n = images.shape[0]
    if images.ndim == 2:
        side = int(round(images.shape[1] ** 0.5))
        images = images.reshape(n, side, side)
    elif images.ndim == 4:
        images = images[:, 0]
    h, w = images.shape[1:]
    rows = -(-n // nrow)  # ceiling division
    # Each tile is an image with `padding` white pixels below and to its right; tiles are then
    # laid out row by row with one reshape, and a white border added on the top and left.
    tiles = np.ones((rows * nrow, h + padding, w + padding), dtype=np.float32)
    tiles[:n, :h, :w] = images
    grid = tiles.reshape(rows, nrow, h + padding, w + padding).transpose(0, 2, 1, 3)
    grid = grid.reshape(rows * (h + padding), nrow * (w + padding))
    grid = np.pad(grid, ((padding, 0), (padding, 0)), constant_values=1)
    return np.clip(grid, 0, 1)


def _save_figure(fig, path):
    try:
        with atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=fig.dpi)
    finally:
        _pyplot().close(fig)


def save_image_grid(images, path, nrow=10, title=None, scale=1.0):
    """Write a grid of images in [0, 1] as a PNG (white digits on black, as MNIST): each image pixel
    drawn as a square of round(2 * scale) pixels, with the title (if any) in a white strip on top.

    Written with Pillow (the library matplotlib saves its PNGs with) as one grey channel: the
    picture matplotlib's imshow of the grid drew before 2026-12-06 (compared by eye), in 15 ms
    instead of 34 for 100 digits (measured then), which a run that draws a grid every epoch notices."""
    from PIL import Image, ImageDraw

    grid = image_grid(images, nrow)
    factor = max(1, round(2 * scale))
    pixels = np.round(grid * 255).astype(np.uint8).repeat(factor, axis=0).repeat(factor, axis=1)
    strip = 30 if title else 0  # pixels above the grid for the title
    canvas = np.full((strip + pixels.shape[0], pixels.shape[1]), 255, dtype=np.uint8)
    canvas[strip:] = pixels
    picture = Image.fromarray(canvas)
    if title:
        ImageDraw.Draw(picture).text((canvas.shape[1] / 2, 3), title, fill=0, font=_title_font(), anchor="ma")
    with atomic_write(path) as f:
        picture.save(f, format="png")


def _title_font():
    """matplotlib's own font (DejaVu Sans) at 8 points on a 100-dpi picture, as its titles are drawn."""
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size=11)


def _margins(fig, left=0.75, right=0.2, bottom=0.5, top=0.35, between=0.75):
    """Fixed margins around a figure's panels, in inches: room for tick labels, axis labels and
    titles. (matplotlib's tight_layout measures every text to find them, which costs a training
    run's curves a twentieth of a second each; these panels' texts are short and of one size.)"""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=between / (width / len(fig.axes)))


def _smooth(values, window):
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_gan_curves(history, path, smooth=25):
    """Two panels: G and D losses; D(x) and D(G(z)) with the 0.5 line where D cannot tell them apart.

    history: dict of per-step lists with keys 'd_loss', 'g_loss', 'd_real', 'd_fake'; any other
    keys (a variant's own numbers: an ACGAN's class losses, an InfoGAN's information) are drawn
    in a third panel.
    """
    plt = _pyplot()
    others = [key for key in history if key not in ("d_loss", "g_loss", "d_real", "d_fake")]
    fig, (left, right, *third) = plt.subplots(1, 3 if others else 2, figsize=(15 if others else 10, 3.5), dpi=100)
    for key, label in (("d_loss", "D loss"), ("g_loss", "G loss")):
        left.plot(_smooth(history[key], smooth), label=label)
    left.set_xlabel("step")
    left.set_title("losses")
    left.legend()
    for key, label in (("d_real", "D(x)"), ("d_fake", "D(G(z))")):
        right.plot(_smooth(history[key], smooth), label=label)
    right.axhline(0.5, color="gray", linestyle="--", linewidth=1, label="0.5 (equilibrium)")
    right.set_ylim(0, 1)
    right.set_xlabel("step")
    right.set_title("discriminator outputs")
    right.legend()
    for ax in third:
        for key in others:
            ax.plot(_smooth(history[key], smooth), label=key)
        ax.set_xlabel("step")
        ax.set_title("the variant's own terms")
        ax.legend()
    _margins(fig)
    _save_figure(fig, path)


def plot_wgan_curves(history, path, title="WGAN", smooth=25):
    """A Wasserstein GAN's curves: the critic's estimate W = E D(x) - E D(G(z)), which falls as G
    improves, and, where the history has "grad_norm" (WGAN-GP), the mean gradient norm on
    interpolates beside the line at 1 that the penalty pulls it to. (G's loss -E D(G(z)) is left
    out: it is W's second term plus the critic's drifting offset, which means nothing.)

    history: dict of per-step lists with key 'wasserstein' and optionally 'grad_norm'.
    """
    plt = _pyplot()
    panels = 2 if "grad_norm" in history else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.5), dpi=100, squeeze=False)
    left = axes[0, 0]
    left.plot(_smooth(history["wasserstein"], smooth), label="W = E D(x) - E D(G(z))")
    left.set_xlabel("generator step")
    left.set_title(f"{title}: the critic's Wasserstein estimate", fontsize=9)
    left.legend()
    if panels == 2:
        right = axes[0, 1]
        right.plot(_smooth(history["grad_norm"], smooth), label="mean ||grad D(x_hat)||")
        right.axhline(1.0, color="gray", linestyle="--", linewidth=1, label="1 (the penalty's target)")
        right.set_xlabel("generator step")
        right.set_title("gradient norm on interpolates", fontsize=9)
        right.legend()
    _margins(fig)
    _save_figure(fig, path)


def plot_curves(history, path, title="training", smooth=25):
    """One panel with a line per key of `history` (per-step lists), e.g. a VAE's loss terms."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for key, values in history.items():
        ax.plot(_smooth(values, smooth), label=key)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend()
    _margins(fig)
    _save_figure(fig, path)


def plot_by_step(steps, series, path, title=None):
    """A panel per entry of `series` (name -> values measured at `steps`) against the steps
    trained, e.g. a GAN's Frechet distance at each epoch's end: where it stops falling, longer
    training buys little. A NaN value (not measured) leaves a gap."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.2), dpi=100, squeeze=False)
    for ax, (name, values) in zip(axes[0], series.items()):
        ax.plot(np.asarray(steps), np.asarray(_host(values), dtype=np.float64), marker="o", markersize=3)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(plt.MaxNLocator(5))  # five-digit step counts need room between ticks
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    _margins(fig, top=0.6 if title else 0.35)
    _save_figure(fig, path)


def latent_grid_points(n=20, spread=0.95):
    """An n x n grid of 2-D latent points at Gaussian quantiles, so it covers N(0, I) evenly."""
    quantiles = np.linspace(0.5 - spread / 2, 0.5 + spread / 2, n)
    values = np.array([statistics.NormalDist().inv_cdf(q) for q in quantiles], dtype=np.float32)
    grid_y, grid_x = np.meshgrid(values[::-1], values, indexing="ij")
    return np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)


def save_latent_manifold(decode, path, n=20):
    """Decode the latent grid of `latent_grid_points` and tile the images (a 2-D VAE's map)."""
    images = _host(decode(latent_grid_points(n)))
    save_image_grid(images, path, nrow=n, title="decoded 2-D latent space")


def plot_mean_activations(mean_activations, path, rho=None, title="mean activation per code unit"):
    """A sparse code's units, sorted by their mean activation over held-out images (a target rho as a line)."""
    plt = _pyplot()
    values = np.sort(_host(mean_activations).ravel())[::-1]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.bar(np.arange(len(values)), values, width=1.0)
    if rho is not None:
        ax.axhline(rho, color="C1", linestyle="--", label=f"rho = {rho:g}")
        ax.legend()
    ax.set_xlabel("code unit (sorted)")
    ax.set_ylabel("mean activation")
    ax.set_title(title)
    fig.tight_layout()
    _save_figure(fig, path)


def plot_roc_curve(fpr, tpr, path, auc, title="ROC curve"):
    """True against false positive rate over every threshold, with chance's diagonal and the area."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.plot(_host(fpr), _host(tpr), label=f"AUC = {auc:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    _save_figure(fig, path)


def plot_tradeoff(kl, reconstruction, labels, path, title="KL against reconstruction"):
    """A point per run: its held-out KL (the rate, x) against its reconstruction term (the distortion,
    y), both in nats per image, each point labelled (e.g. 'beta 4'): a beta-VAE sweep's trade-off."""
    plt = _pyplot()
    kl, reconstruction = _host(kl).ravel(), _host(reconstruction).ravel()
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    ax.plot(kl, reconstruction, marker="o", linestyle=":")
    for x, y, label in zip(kl, reconstruction, labels):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel("held-out KL (nats per image)")
    ax.set_ylabel("held-out reconstruction (BCE nats per image)")
    ax.set_title(title)
    fig.tight_layout()
    _save_figure(fig, path)


def plot_class_histograms(panels, path, title=None):
    """The share of each digit among a GAN's samples, epoch by epoch, as stacked bands (digit 0 at
    the bottom; dotted lines every 10%, each digit's share in MNIST). A band that thins to nothing
    is a digit the generator has dropped; one that swells is where it has collapsed to.

    panels: a list of (caption, epochs, histograms), histograms (E, 10) counts with a row per
    epoch in `epochs`; one panel per row of the figure (a sweep puts its runs one above another).
    """
    plt = _pyplot()
    colours = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.3 * len(panels) + 0.6), dpi=100, squeeze=False)
    for ax, (caption, epochs, histograms) in zip(axes[:, 0], panels):  # each its own epochs: runs may differ
        counts = np.asarray(_host(histograms), dtype=np.float64).reshape(-1, 10)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        bands = ax.stackplot(np.asarray(epochs), shares.T, colors=colours)
        for level in np.arange(0.1, 1.0, 0.1):
            ax.axhline(level, color="white", linewidth=0.5, linestyle=":")
        if len(epochs) > 1:  # one epoch has no range to set
            ax.set_xlim(min(epochs), max(epochs))
        ax.set_ylim(0, 1)
        ax.set_ylabel("share")
        ax.set_xlabel("epoch", fontsize=8, labelpad=1)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(caption, fontsize=9)
    fig.legend(bands[::-1], [str(digit) for digit in range(9, -1, -1)], title="digit", loc="center right",
               fontsize=8)  # top to bottom, as the bands are stacked
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.9, 0.98 if title else 1))
    _save_figure(fig, path)


def plot_points_strip(data, snapshots, path, captions, title=None):
    """A row of panels with the same axes: each snapshot's points (M, 2) in colour over the data's
    points (N, 2) in grey, captioned (e.g. 'step 500: 3/8 modes'). A 2-D GAN's modes appearing and
    vanishing over training read left to right."""
    plt = _pyplot()
    data = _host(data)
    snapshots = [_host(points) for points in snapshots]
    low, high = data.min(axis=0), data.max(axis=0)
    margin = 0.25 * (high - low).max()
    fig, axes = plt.subplots(1, len(snapshots), figsize=(2.2 * len(snapshots), 2.5), dpi=100, squeeze=False)
    for ax, points, caption in zip(axes[0], snapshots, captions):
        ax.scatter(data[:, 0], data[:, 1], color="lightgrey", s=2)
        ax.scatter(points[:, 0], points[:, 1], color="tab:blue", s=1, alpha=0.5)
        ax.set_xlim(low[0] - margin, high[0] + margin)
        ax.set_ylim(low[1] - margin, high[1] + margin)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(caption, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save_figure(fig, path)


def plot_codes(codes, labels, prior_draws, path, title="codes and prior draws"):
    """Two panels with the same axes: codes (N, k) by their first two dimensions, coloured by the
    digit they encode (labels (N,)), and prior draws (M, k) beside them. An adversarial
    autoencoder's codes should fill the prior's round cloud; a plain autoencoder's need not.
    A one-dimensional code is drawn against its digit instead."""
    plt = _pyplot()
    codes, labels, prior_draws = _host(codes), _host(labels).ravel(), _host(prior_draws)
    two_d = codes.shape[1] >= 2

    def y_of(points, digits):
        return points[:, 1] if two_d else digits

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), dpi=100, sharex=True, sharey=True)
    dots = axes[0].scatter(codes[:, 0], y_of(codes, labels), c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=4)
    fig.colorbar(dots, ax=axes[0], ticks=range(10), label="digit")
    axes[1].scatter(prior_draws[:, 0], y_of(prior_draws, np.full(len(prior_draws), 4.5)), color="grey", s=4)
    axes[0].set_title(f"{len(codes)} codes", fontsize=9)
    axes[1].set_title(f"{len(prior_draws)} draws from N(0, I)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("dimension 1")
        ax.set_ylabel("dimension 2" if two_d else "digit")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save_figure(fig, path)
