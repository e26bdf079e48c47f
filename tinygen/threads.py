"""How tinygen's matrix products and optimiser steps use the cores.

A BLAS such as OpenBLAS splits a product among its own threads and waits for all of them. On a
busy machine, where another program holds the other cores, the caller waits for a partner thread
that the OS cannot run at once: measured on 2 cores beside one CPU-bound program, the headline
training steps took 1.6-2.0x their quiet time with two BLAS threads (the Intel VM, 2026-12-07;
benchmarks/results/step_time_under_load_intel_2026-12-07_before.txt). And a BLAS adds in another
order on two threads than on one for some shapes, so letting its thread count follow the load would
change a run's numbers from day to day.

So tinygen splits large products itself, in a way that cannot change their numbers:

    NumPy's BLAS always runs on one thread.
    A product A B of PARALLEL_FLOPS multiply-adds or more (2-D, more than one column) is cut into
    CHUNKS blocks (if each but the first then holds SMALLEST_BLOCK_FLOPS: from 6 M multiply-adds on
    two cores), CHUNKS being the cores this process may use: blocks of A's rows (block i of the
    result is rows i of A times B) where A has at least as many rows as B has columns, else blocks
    of B's columns; each block is one BLAS call on one thread. The first block, the calling
    thread's, is larger by HEAD_START_FLOPS multiply-adds, the work it does while a sleeping
    thread wakes up to take the next. The cut depends on the shapes and CHUNKS alone, so the
    numbers are the same however many threads compute the blocks.
    The blocks run at once on as many threads as are allowed now: by default ("auto") the cores
    other programs leave free (every half second tinygen reads how busy the machine was from
    Linux's /proc/stat, less its own use; elsewhere it keeps to one), at least one; after
    tinygen.set_num_threads(n) (as torch.set_num_threads), n. On a busy machine the blocks run
    one after another on the calling thread: nothing waits for a core it cannot have.
    An optimiser's step (tinygen/optim.py) is shared out the same way: where its parameters hold
    PARALLEL_ELEMENTS numbers or more, they are split into CHUNKS groups of about equal size
    (`balanced_groups`), each group's updates run at once on the threads allowed now. An update is
    element by element and each parameter's own, so which thread does it changes no number.
    CuPy's products run on the GPU and are left alone.

A run thus gives the same numbers on a quiet machine and on a busy one, and a resumed run the
straight run's, on a machine with as many cores. (On the Intel VM of 2026-12-07 float32 blocks even
gave exactly the uncut product's numbers, for 211 random shapes; float64 blocks need not, see
benchmarks/blocks_vs_whole.py. A product with one column, a matrix times a vector, which OpenBLAS
sums in another order when cut, is never cut.)

The threads beside the caller are `Helper`s: each waits on a lock for its next work. Waking one
goes through the OS, and on a virtual machine through the hypervisor: 50-100 microseconds on the
Intel VM of 2026-12-07, in which one core does some 4 million multiply-adds. Hence the head start:
the helper's block is smaller, it finishes first, and the caller, finding it done, goes on without
being put to sleep and woken in its turn.
"""
import math
import os
import threading
import time

import numpy
from threadpoolctl import ThreadpoolController

from tinygen.backend import device_of, get_array_module

# Multiply-adds (m * n * k) from which a product is cut into blocks computed at once.
PARALLEL_FLOPS = 4_000_000
# Multiply-adds the calling thread's block has beyond the others': what it computes while a helper wakes up.
HEAD_START_FLOPS = 4_000_000
# The fewest multiply-adds a helper's block may hold. On AVX-512, OpenBLAS computes small products with
# a kernel of its own ("direct sgemm") that adds in another order: on the Intel VM a float32
# product cut into blocks gave other numbers than uncut only where a block held under a million.
SMALLEST_BLOCK_FLOPS = 1_000_000
# Numbers in all of an optimiser's parameters from which its step shares them out among the threads.
PARALLEL_ELEMENTS = 250_000


def _usable_cores():
    """The cores this process may run on (its CPU affinity where the system says, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


CHUNKS = _usable_cores()  # the blocks a large product is cut into: fixed for the process

_blas = None  # NumPy's BLAS libraries (threadpoolctl's controllers), found on first use
_blas_pid = None  # the process that set them to one thread (a forked child inherits the setting)
_num_threads = "auto"  # the threads for a large product's blocks: "auto" (the free cores) or set_num_threads' n
FREE_CORES_EVERY = 0.5  # seconds between two looks at how busy the machine is
_last_look = None  # (time, the machine's busy seconds, this process's CPU seconds, its pid) at the last look
_free_cores = 1  # what the last look found: cores that no other program used
_helpers = []  # the threads that compute blocks beside the calling thread (Helper), made on first use
_helpers_free = None  # a lock held while a caller uses the helpers (another caller computes alone)
_helpers_pid = None  # the process that made them: threads do not survive a fork, a child makes its own
_making_helpers = threading.Lock()  # held while the helpers are made or dropped


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
        look = (now, _machine_busy_seconds(), time.process_time(), os.getpid())
    except (OSError, ValueError, IndexError):
        return 1
    if _last_look is not None and _last_look[3] == look[3]:  # (a forked child's CPU seconds start at 0)
        seconds = look[0] - _last_look[0]
        others = ((look[1] - _last_look[1]) - (look[2] - _last_look[2])) / seconds
        _free_cores = max(1, min(os.cpu_count() or 1, round((os.cpu_count() or 1) - others)))
    _last_look = look
    return _free_cores


def get_num_threads():
    """The number of threads a large matrix product may use now (as torch.get_num_threads): after
    set_num_threads(n), n; by default ("auto") the free cores."""
    return free_cores() if _num_threads == "auto" else _num_threads


def set_num_threads(n):
    """Let a large matrix product's blocks run on n threads at once (as torch.set_num_threads), or
    with n = "auto" (the default) on the cores other programs leave free. The numbers do not change."""
    global _num_threads
    if n != "auto" and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"set_num_threads: expected a positive integer number of threads or 'auto' (the cores "
                         f"other programs leave free), got {n!r}")
    _num_threads = n


def _one_blas_thread():
    """Set NumPy's BLAS to one thread, once per process."""
    global _blas_pid
    if _blas_pid != os.getpid():
        for lib in _numpy_blas():
            lib.set_num_threads(1)
        _blas_pid = os.getpid()


class Helper:
    """A thread that computes parts of the work beside the calling thread: it waits on the lock
    `go` for work, does it, and releases `done`. Both locks start held."""

    def __init__(self):
        self.go, self.done = threading.Lock(), threading.Lock()
        self.go.acquire()
        self.done.acquire()
        self.work = self.parts = self.error = None
        threading.Thread(target=self.run, name="tinygen-helper", daemon=True).start()

    def run(self):
        while True:
            self.go.acquire()  # sleeps until start() releases it
            try:
                self.work(self.parts)
            except BaseException as error:  # handed to the caller by wait()
                self.error = error
            self.work = self.parts = None  # keeps no product's arrays alive
            self.done.release()

    def start(self, work, parts):
        self.work, self.parts, self.error = work, parts, None
        self.go.release()

    def wait(self):
        """Wait until the work given to start() is done; return its error, or None."""
        self.done.acquire()
        return self.error


def _threads_beside_the_caller():
    """The helpers (CHUNKS - 1 of them) and the lock that one caller at a time holds to use them."""
    global _helpers, _helpers_free, _helpers_pid
    with _making_helpers:
        if _helpers_pid != os.getpid():
            _helpers, _helpers_free, _helpers_pid = [], threading.Lock(), os.getpid()
        while len(_helpers) < CHUNKS - 1:  # (CHUNKS is fixed for a process; tests change it)
            _helpers.append(Helper())
        return _helpers, _helpers_free


def _drop_helpers():
    """Forget the helpers (new ones are made on next use): one may still be at work that no caller waits for."""
    global _helpers_pid
    with _making_helpers:
        _helpers_pid = None


def blocks(size, flops):
    """The slices the rows (or columns) of a product of `flops` multiply-adds are cut into: CHUNKS of
    them, the first larger by HEAD_START_FLOPS, the others equal (rounded down), the first taking
    what is left; only the first where each other would hold under SMALLEST_BLOCK_FLOPS."""
    # each helper's block: a CHUNKS-th of what is left once the caller's head start is taken off
    helper_share = (1 - HEAD_START_FLOPS / flops) / CHUNKS if flops > HEAD_START_FLOPS else 0.0
    helper_size = math.floor(size * helper_share)  # rows (or columns)
    if helper_size * flops / size < SMALLEST_BLOCK_FLOPS:
        helper_size = 0
    first = size - (CHUNKS - 1) * helper_size
    edges = [0] + [first + helper_size * i for i in range(CHUNKS)]
    return [slice(start, stop) for start, stop in zip(edges[:-1], edges[1:]) if stop > start]


def matmul(a, b):
    """a @ b for 2-D arrays (or batched, left whole), by the policy above.

    On NumPy, a product of PARALLEL_FLOPS or more multiply-adds with more than one column is
    computed block by block: along the rows of a, out[rows] = a[rows] @ b, where a has at least as
    many rows as b has columns, else along the columns of b, out[:, cols] = a @ b[:, cols] (a batch
    of 64 images times a layer of 784 outputs is cut into columns). The blocks are shared among the
    threads allowed now (thread t takes blocks t, t + T, t + 2T, ...), the caller among them with the
    first and largest."""
    if device_of(a) != "cpu":
        return a @ b
    _one_blas_thread()
    if a.ndim != 2 or b.ndim != 2:
        return a @ b
    (m, k), n = a.shape, b.shape[1]
    if n == 1 or CHUNKS == 1 or max(m, n) < CHUNKS or m * k * n < PARALLEL_FLOPS:
        return a @ b
    out = numpy.empty((m, n), dtype=numpy.result_type(a, b))  # on the CPU: NumPy arrays
    if m >= n:
        def compute(some):
            for rows in some:
                numpy.matmul(a[rows], b, out=out[rows])
        cut = blocks(m, m * k * n)
    else:
        def compute(some):
            for columns in some:
                numpy.matmul(a, b[:, columns], out=out[:, columns])
        cut = blocks(n, m * k * n)
    share_out(compute, cut)
    return out


def share_out(work, parts):
    """work(some of `parts`) on each of the threads allowed now (get_num_threads, at most CHUNKS),
    the calling thread among them: thread t does parts t, t + T, t + 2T, ...; returns when all are
    done, and passes on an error. On a busy machine, or while another thread uses the helpers, the
    caller does every part in turn."""
    threads = min(get_num_threads(), CHUNKS, len(parts))
    if threads == 1:
        work(parts)
        return
    helpers, helpers_free = _threads_beside_the_caller()
    if not helpers_free.acquire(blocking=False):
        work(parts)
        return
    try:
        helpers = helpers[: threads - 1]
        for t, helper in enumerate(helpers, start=1):
            helper.start(work, parts[t::threads])
        try:
            work(parts[0::threads])
        finally:
            errors = _wait_for(helpers)
    finally:
        helpers_free.release()
    for error in errors:
        if error is not None:
            raise error


def _wait_for(helpers):
    """Each helper's error (or None) once all are done; a wait sleeps only if its helper is not done
    yet. Interrupted (Ctrl-C) while one still works, the helpers are dropped: that one's late `done`
    would end a later wait too early."""
    try:
        return [helper.wait() for helper in helpers]
    except BaseException:
        _drop_helpers()
        raise


def balanced_groups(items, sizes):
    """`items` in CHUNKS groups of about equal total size, for share_out: the largest first, each to
    the group with the least so far (the groups depend on the sizes alone)."""
    groups, totals = [[] for _ in range(CHUNKS)], [0] * CHUNKS
    for index in sorted(range(len(items)), key=lambda i: -sizes[i]):
        lightest = totals.index(min(totals))
        groups[lightest].append(items[index])
        totals[lightest] += sizes[index]
    return [group for group in groups if group]


def tensordot(a, b, axes_a, axes_b):
    """numpy.tensordot(a, b, (axes_a, axes_b)), done as NumPy does it (the free axes of a to the
    front and the paired ones to the back, b the other way, each reshaped to a matrix) with the
    product by `matmul` above. On CuPy: cupy.tensordot."""
    xp = get_array_module(a, b)
    if device_of(a) != "cpu":
        return xp.tensordot(a, b, axes=(axes_a, axes_b))
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [j for j in range(b.ndim) if j not in axes_b]
    rows, paired, columns = (math.prod(shape[i] for i in axes) for shape, axes in
                             [(a.shape, free_a), (a.shape, axes_a), (b.shape, free_b)])
    a2 = a.transpose(free_a + list(axes_a)).reshape(rows, paired)  # sizes given: an axis of 0 has no -1
    b2 = b.transpose(list(axes_b) + free_b).reshape(paired, columns)
    return matmul(a2, b2).reshape([a.shape[i] for i in free_a] + [b.shape[j] for j in free_b])


def describe():
    """One line for the examples to print at start."""
    cut = (f"products of {PARALLEL_FLOPS / 1e6:g}M multiply-adds or more cut into {CHUNKS} blocks (the caller's "
           f"{HEAD_START_FLOPS / 1e6:g}M larger, the others of {SMALLEST_BLOCK_FLOPS / 1e6:g}M or more), and optimiser "
           f"steps of {PARALLEL_ELEMENTS / 1e6:g}M numbers or more into {CHUNKS} groups")
    if _num_threads == "auto":
        return (f"BLAS threads: 1 each; {cut}, run at once on the cores other programs leave free (of "
                f"{os.cpu_count()}); the numbers are the same however many")
    return f"BLAS threads: 1 each; {cut}, run on {_num_threads} thread(s) (tinygen.set_num_threads)"
