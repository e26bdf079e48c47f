"""The check behind every "resume equals one run" test: two runs' folders hold the same results."""
import numpy as np


def assert_same_run(one, split, outputs):
    """The checkpoints of folders `one` and `split` hold the same arrays (all but the random state's
    JSON text, whose formatting may differ), and so do the output files named in `outputs`."""
    a, b = np.load(one / "checkpoint.npz"), np.load(split / "checkpoint.npz")
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        if name != "rng":
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    for output in outputs:
        np.testing.assert_array_equal(np.load(one / output), np.load(split / output), err_msg=output)
