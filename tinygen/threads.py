"""How many threads NumPy's matrix products (its BLAS) may use, product by product.

A BLAS such as OpenBLAS splits a product among its threads and waits for all of them. On a quiet
machine that pays for a large product. For a small one, waking the other threads costs more than
their share of the work; and on a busy machine, where another program holds the other cores,
the caller waits for a partner thread that the OS cannot run at once. tinygen's models make
hundreds of products per step, most of them small, so a step on two threads ran over 7x slower
when one other program shared the two cores (benchmarks/step_time.py --under-load measures it).

The policy, applied by the matrix-product ops before each product on NumPy arrays:

    a product of fewer than PARALLEL_FLOPS multiply-adds runs on one thread;
    a larger one runs on get_num_threads() threads.

get_num_threads() starts as the BLAS's own count (all cores, or OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS when set) and `tinygen.set_num_threads(n)` changes it, as torch.set_num_threads
does. CuPy's products run on the GPU and are left alone.
"""
import os

from threadpoolctl import ThreadpoolController

from tinygen.backend import device_of

# Multiply-adds (m * n * k) from which a product is split among threads.
PARALLEL_FLOPS = 4_000_000

_blas = None  # NumPy's BLAS libraries (threadpoolctl's controllers), found on first use
_num_threads = None  # the count for large products; None until first asked
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
    """The number of threads a large matrix product may use (as torch.get_num_threads)."""
    global _num_threads
    if _num_threads is None:
        _num_threads = max([lib.get_num_threads() or 1 for lib in _numpy_blas()] or [1])
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
    return (f"BLAS threads: 1 for products under {PARALLEL_FLOPS / 1e6:g}M multiply-adds, {get_num_threads()} above "
            f"(tinygen.set_num_threads changes it)")
