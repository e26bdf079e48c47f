"""How many threads NumPy's matrix products (its BLAS) may use.

A BLAS such as OpenBLAS splits a product among its threads and waits for all of them. On a quiet
machine a large product gains from that; a small one loses, since waking the other threads costs
more than their share of the work. And on a busy machine, where another program holds the other
cores, the caller waits for a partner thread that the OS cannot run at once, however large the
product: measured on 2 cores beside one CPU-bound program (benchmarks/step_time.py --under-load),
the DCGAN's step took 1.7-2.1x its quiet time on two threads, and 1.07x on one.

So tinygen's policy, applied by the matrix-product ops before each product on NumPy arrays:

    by default every product runs on one thread;
    after tinygen.set_num_threads(n) (as torch.set_num_threads), products of PARALLEL_FLOPS
    multiply-adds or more run on n threads, smaller ones still on one.

One thread costs up to a fifth of the quiet speed at batch 128 on these models and nothing at
batch 64 (docs/8-performance.md has the figures); set_num_threads(2) wins it back on a machine
that is not busy. CuPy's products run on the GPU and are left alone.
"""
import os

from threadpoolctl import ThreadpoolController

from tinygen.backend import device_of

# Multiply-adds (m * n * k) from which a product is split among threads.
PARALLEL_FLOPS = 4_000_000

_blas = None  # NumPy's BLAS libraries (threadpoolctl's controllers), found on first use
_num_threads = 1  # the count for large products: one thread unless set_num_threads says more
_threads_now = None  # what the BLAS is set to now, so that it is told only on a change


def _numpy_blas():
    """The BLAS libraries NumPy loaded (not PyTorch's, if it is loaded too)."""
    global _blas
    if _blas is None:
        blas = ThreadpoolController().select(user_api="blas").lib_controllers
        # NumPy's wheels keep their OpenBLAS in site-packages/numpy.libs; elsewhere take every BLAS.
        ours = [lib for lib in blas if os.path.basename(os.path.dirname(lib.filepath)).startswith("numpy")]
        _blas = ours or blas
    return _blas


def get_num_threads():
    """The number of threads a large matrix product may use (as torch.get_num_threads): 1 by default."""
    return _num_threads


def set_num_threads(n):
    """Let large matrix products use n threads (as torch.set_num_threads); small ones keep one."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer number of threads, got {n!r}")
    _num_threads = n


def for_product(array, multiply_adds):
    """Before a product of this many multiply-adds on `array`'s device: on the CPU, set the BLAS's
    thread count by the policy above (the BLAS is told only when the count changes)."""
    global _threads_now
    if device_of(array) != "cpu":
        return
    threads = 1 if multiply_adds < PARALLEL_FLOPS else get_num_threads()
    if threads != _threads_now:
        for lib in _numpy_blas():
            lib.set_num_threads(threads)
        _threads_now = threads


def describe():
    """One line for the examples to print at start."""
    if get_num_threads() == 1:
        return "BLAS threads: 1 (steady on a busy machine; tinygen.set_num_threads(n) lets large products use n)"
    return (f"BLAS threads: 1 for products under {PARALLEL_FLOPS / 1e6:g}M multiply-adds, {get_num_threads()} above "
            f"(tinygen.set_num_threads)")
