"""The gallery: one row of samples from every model of the catalogue, in one picture.

    python examples/gallery.py --runs runs

Each training example that draws images writes <its --out>/samples.npy, float32 (N, 28, 28) in
[0, 1]. For every model of CATALOGUE whose run is present under --runs, this takes 10 of its
samples as one row (uint8) and merges the rows into <--out>/gallery_rows.npz: a model's row is
replaced when its run is present and kept from earlier sessions when it is not, so the gallery
grows as runs are made, on any machine. Then it draws <--out>/gallery.png: one labelled row per
model present, in catalogue order, under a line saying how many models of the catalogue it holds.

The 10 samples are spread evenly through the file (indices 0, N/10, 2N/10, ...), not the first 10:
the conditional models (cGAN, ACGAN, the conditional VAE) and InfoGAN write 100 of each digit or
code in order, so their first 10 would all be the same digit; spread out, their row reads 0 to 9.

A samples.npy of the wrong shape, type or range is refused in one line naming the file; so is any
other mistake on the command line (status 2, no traceback). Files are written atomically.
"""
import os
import pathlib
import sys
import zipfile

import numpy as np

from tinygen import cli, viz
from tinygen.cli import UsageError
from tinygen.files import atomic_write

# (folder, label): the default --out of every example that writes image samples.npy, as
# runs/<folder>, in the order of the tour (docs/variational.md, docs/gans.md, docs/modern-gans.md).
# gan_toy_2d.py writes samples.npy too, but of 2-D points: it has no row here.
CATALOGUE = [
    ("vae", "VAE"),
    ("cvae", "conditional VAE"),
    ("aae", "AAE"),
    ("vanilla_gan", "vanilla GAN"),
    ("dcgan", "DCGAN"),
    ("lsgan", "LSGAN"),
    ("cgan", "cGAN"),
    ("acgan", "ACGAN"),
    ("infogan", "InfoGAN"),
    ("wgan", "WGAN"),
    ("wgan_gp", "WGAN-GP"),
    ("began", "BEGAN"),
    ("progressive_gan", "ProGAN"),
    ("stylegan", "StyleGAN"),
]
ROW = 10  # samples per row
REPO = pathlib.Path(__file__).resolve().parents[1]
ROWS_FILE = "gallery_rows.npz"
PICTURE = "gallery.png"


def load_samples(path):
    """samples.npy as float32 (N, 28, 28) in [0, 1], N >= 10; a UsageError naming the file otherwise."""
    expected = f"expected float (N >= {ROW}, 28, 28) in [0, 1] without NaN"
    try:
        samples = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:  # not .npy, truncated, or pickled objects
        raise UsageError(f"{path}: {expected}, got a file np.load cannot read ({str(error).splitlines()[0]})") from None
    got = f"{samples.dtype} {samples.shape}"
    if not (np.issubdtype(samples.dtype, np.floating) and samples.ndim == 3 and samples.shape[1:] == (28, 28)
            and samples.shape[0] >= ROW):
        raise UsageError(f"{path}: {expected}, got {got}")
    if np.isnan(samples).any():
        raise UsageError(f"{path}: {expected}, got {got} with NaN")
    low, high = float(samples.min()), float(samples.max())
    if low < 0 or high > 1:
        raise UsageError(f"{path}: {expected}, got {got} in [{low:.3g}, {high:.3g}]")
    return samples


def row_of(samples):
    """10 samples spread evenly through the file, as uint8 (10, 28, 28)."""
    picked = samples[np.arange(ROW) * (len(samples) // ROW)]
    return np.round(picked.astype(np.float64) * 255).astype(np.uint8)


def load_rows(path):
    """The rows of earlier sessions: {folder: uint8 (10, 28, 28)}; {} when there is no file yet."""
    if not os.path.exists(path):
        return {}
    try:
        with np.load(path, allow_pickle=False) as saved:
            rows = {name: saved[name] for name in saved.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise UsageError(f"{path}: not a gallery rows file ({str(error).splitlines()[0]}); "
                         f"move it away to start the gallery afresh") from None
    for name, row in rows.items():
        if row.dtype != np.uint8 or row.shape != (ROW, 28, 28):
            raise UsageError(f"{path}: row {name} is {row.dtype} {row.shape}, expected uint8 ({ROW}, 28, 28); "
                             f"move the file away to start the gallery afresh")
    return rows


def merge(rows, runs):
    """rows with every model whose runs/<folder>/samples.npy exists replaced by its new row; returns
    (rows in catalogue order, the folders updated). Rows of models no longer in the catalogue are dropped."""
    updated = []
    for folder, _ in CATALOGUE:
        path = pathlib.Path(runs) / folder / "samples.npy"
        if path.is_file():
            rows[folder] = row_of(load_samples(path))
            updated.append(folder)
    return {folder: rows[folder] for folder, _ in CATALOGUE if folder in rows}, updated


def save_rows(rows, path):
    with atomic_write(path) as f:
        np.savez_compressed(f, **rows)


def draw(rows, path):
    """One labelled row per model present, in catalogue order, below a line counting them."""
    plt = viz._pyplot()
    labels = dict(CATALOGUE)
    n = len(rows)
    title, row_height = 0.25, 0.62  # inches: the line on top, and each row with its gap
    height = title + row_height * max(n, 1)
    fig = plt.figure(figsize=(7.2, height), dpi=100)
    fig.suptitle(f"{n} of the {len(CATALOGUE)} models of the catalogue present", fontsize=9)
    if n == 0:  # the gallery before any run: say how to fill it
        fig.text(0.5, 0.3, "python examples/gallery.py --runs runs", ha="center", family="monospace", fontsize=9)
    for i, (folder, row) in enumerate(rows.items()):
        bottom = 1 - (title + row_height * (i + 1)) / height  # figure fractions, from the top down
        ax = fig.add_axes([0.2, bottom, 0.78, 0.58 / height])
        ax.imshow(viz.image_grid(row.astype(np.float32) / 255, nrow=ROW), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(labels[folder], rotation=0, ha="right", va="center", fontsize=9)
    try:
        with atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=fig.dpi, metadata={"Software": None})
    finally:
        plt.close(fig)


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs", help="folder holding the runs, one subfolder per example's --out "
                   "(default runs)")
    p.add_argument("--out", default=str(REPO / "docs" / "images"),
                   help=f"folder of {ROWS_FILE} (read and rewritten) and {PICTURE} (default docs/images)")
    args = p.parse_args(argv)
    if not os.path.isdir(args.runs):
        what = "is a file, not a folder" if os.path.exists(args.runs) else "no such folder"
        raise UsageError(f"--runs {args.runs}: {what}; give the folder holding the runs (runs/<model>/samples.npy)")
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file; give a folder")
    rows, updated = merge(load_rows(out / ROWS_FILE), args.runs)
    if not rows:
        raise UsageError(f"no samples: no {args.runs}/<model>/samples.npy for any model of the catalogue "
                         f"({', '.join(folder for folder, _ in CATALOGUE)}) and no earlier rows in {out / ROWS_FILE}")
    save_rows(rows, out / ROWS_FILE)
    draw(rows, out / PICTURE)
    kept = [folder for folder in rows if folder not in updated]
    print(f"wrote {out / ROWS_FILE} and {out / PICTURE}: {len(rows)} of {len(CATALOGUE)} models "
          f"(new rows: {', '.join(updated) or 'none'}; kept from earlier: {', '.join(kept) or 'none'})")


if __name__ == "__main__":
    cli.run(main, prog=os.path.basename(sys.argv[0]))
