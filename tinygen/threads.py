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
    multiply-adds or more run on n threads, smaller ones still on one;
    after tinygen.set_num_threads("auto"), those large products run on the cores that other
    programs leave free, at least one (every half second tinygen reads how busy the machine was
    from Linux's /proc/stat, less its own use; elsewhere it keeps to one).

Why one thread by default: it is steady on a busy machine, and it is reproducible. A BLAS adds in
another order on two threads than on one (for some shapes only), so a count that follows the
machine's load would give a run other numbers from one day to the next; a GAN amplifies that.
The price: on a quiet machine one thread costs the DCGAN, whose products are large, about a third
of its speed (the vanilla GAN and the VAE nothing measurable); "auto" takes the second core when
the machine is quiet and keeps steady when it is not, but its runs are not bit-reproducible
(docs/8-performance.md has the figures). CuPy's products run on the GPU and are left alone.
"""
import os
import time

from threadpoolctl import ThreadpoolController

from tinygen.backend import device_of

# Multiply-adds (m * n * k) from which a product is split among threads.
PARALLEL_FLOPS = 4_000_000

_blas = None  # NumPy's BLAS libraries (threadpoolctl's controllers), found on first use
_num_threads = 1  # the count for large products: 1 unless set_num_threads says more; "auto": the free cores
FREE_CORES_EVERY = 0.5  # seconds between two looks at how busy the machine is
_last_look = None  # (time, the machine's busy seconds, this process's CPU seconds) at the last look
_free_cores = 1  # what the last look found: cores that no other program used
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


def _machine_busy_seconds():
    """CPU seconds all programs have spent working since boot, summed over cores (Linux's /proc/stat:
    its first line counts user, nice, system, idle, iowait, irq, softirq, steal in clock ticks)."""
    with open("/proc/stat") as stat:
        ticks = [int(count) for count in stat.readline().split()[1:9]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def free_cores():
    """Cores that other programs left free since the last look (at most every FREE_CORES_EVERY s):
    cores - (busy seconds of the machine - CPU seconds of this process) / seconds passed, rounded.
    1 where the machine cannot say (no /proc/stat)."""
    global _last_look, _free_cores
    now = time.monotonic()
    if _last_look is not None and now - _last_look[0] < FREE_CORES_EVERY:
        return _free_cores
    try:
        look = (now, _machine_busy_seconds(), time.process_time())
    except (OSError, ValueError, IndexError):
        return 1
    if _last_look is not None:
        seconds = look[0] - _last_look[0]
        others = ((look[1] - _last_look[1]) - (look[2] - _last_look[2])) / seconds
        _free_cores = max(1, min(os.cpu_count() or 1, round((os.cpu_count() or 1) - others)))
    _last_look = look
    return _free_cores


def get_num_threads():
    """The number of threads a large matrix product may use now (as torch.get_num_threads): 1 by
    default, the count set_num_threads gave, or after set_num_threads("auto") the free cores."""
    return free_cores() if _num_threads == "auto" else _num_threads


def set_num_threads(n):
    """Let large matrix products use n threads (as torch.set_num_threads), or with n = "auto" the
    cores other programs leave free; small products keep one thread."""
    global _num_threads
    if n != "auto" and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"set_num_threads: expected a positive integer number of threads or 'auto' (the cores "
                         f"other programs leave free), got {n!r}")
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
    if _num_threads == 1:
        return "BLAS threads: 1 (steady and reproducible; tinygen.set_num_threads(n or 'auto') lets large products use more)"
    small = f"BLAS threads: 1 for products under {PARALLEL_FLOPS / 1e6:g}M multiply-adds"
    if _num_threads == "auto":
        return f"{small}, above it the cores other programs leave free (now {free_cores()} of {os.cpu_count()})"
    return f"{small}, {_num_threads} above it (tinygen.set_num_threads)"
