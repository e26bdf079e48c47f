"""The benchmarks' thread count, fixed before NumPy is imported (its BLAS reads it only then).

Each benchmark script imports this module, and calls `from_command_line()`, before NumPy.
"""
import os
import sys


def from_command_line(default="2"):
    """Read `--threads N` from the command line, hand it to every BLAS we may load, return it."""
    threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else default
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = threads
    return threads
