"""Run an example with every digit of MNIST's test split replaced by a white square, and report
what its data loader serves:

    python tests/served_data.py REPORT.json EXAMPLE.py [ARGS...]

A white square (every pixel 255) is exactly 1.0 in every pixel whatever an example does with it:
scaled to [0, 1] or [-1, 1], padded from 28 to 32 (a white block of 28 x 28 in 32 x 32: 77% of
the pixels), binarized (a pixel of probability 1 is always drawn 1). No real digit comes close:
at most 30% of a training digit's pixels are 255. So an image of which 70% or more of the
pixels are exactly 1.0 is a test digit, and counting them in what a loader serves tells whether
the run trains on the test split: by what it is given, not by the option's name.

When the first DataLoader starts its first epoch, its arrays (all the items it will serve) and
its first batch are counted, REPORT.json gets {"items", "marked", "batch", "batch_marked",
"shape"}, and the run stops there (exit status 0): the rest of the run would only train.
"""
import json
import pathlib
import runpy
import sys

import numpy as np

from tinygen import data

WHITE_SHARE = 0.7  # an image with at least this share of pixels exactly 1.0 is a white square


def white_squares(images):
    """How many of `images` (N, ...) are white squares."""
    images = np.asarray(images).reshape(len(images), -1)
    return int(((images == 1.0).mean(axis=1) >= WHITE_SHARE).sum())


def main():
    report, script, *args = sys.argv[1:]
    original_init = data.MNIST.__init__

    def init_with_white_test_digits(self, *a, **kw):
        original_init(self, *a, **kw)
        if self.split == "test":
            self.images = np.full_like(self.images, 255)

    def first_epoch(loader):
        images = loader.arrays[0]  # the images; a second array, if any, holds labels
        batch = next(iter_before(loader))
        batch_images = batch if loader.single else batch[0]
        found = {"items": len(images), "marked": white_squares(images), "shape": list(images.shape[1:]),
                 "batch": len(batch_images), "batch_marked": white_squares(batch_images.numpy())}
        with open(report, "w") as f:
            json.dump(found, f)
        raise SystemExit(0)

    iter_before = data.DataLoader.__iter__
    data.MNIST.__init__ = init_with_white_test_digits
    data.DataLoader.__iter__ = first_epoch
    sys.argv = [script, *args]
    sys.path.insert(0, str(pathlib.Path(script).resolve().parent))
    runpy.run_path(script, run_name="__main__")
    raise SystemExit(f"served_data: {script} ended without starting a DataLoader")


if __name__ == "__main__":
    main()
