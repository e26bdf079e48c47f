"""Keep freed memory for the next step, instead of handing it back to the operating system.

Every op makes a fresh array, and a training step makes the same arrays again and again: the
same im2col windows, the same activations, the same gradients. After a backward the graph's
arrays are all freed at once. glibc's malloc, which NumPy uses, then gives that memory back to
the operating system (it "trims" the heap, or unmaps the blocks it served with mmap), and the
next step asks for it again. The operating system hands memory out as untouched pages: every
4 KiB page faults on its first write and is zeroed. Measured here on the DCGAN step at batch 64:
about 7,000 page faults a step, some 40 ms of a 160 ms step.

So tinygen asks glibc (at import, once) to serve large arrays from its heap as well and to keep
up to 1 GiB of freed memory there:

    M_MMAP_THRESHOLD = 1 GiB   blocks below this come from the heap, where a freed block is reused
    M_TRIM_THRESHOLD = 1 GiB   the heap is shrunk only when more than this lies free at its top

Both are needed: glibc normally raises its mmap threshold by itself as it sees large blocks
freed, and setting either value turns that off (the trim threshold alone, measured here: 74,000
faults a step, every large array mmapped afresh).

With both, a DCGAN step faults about once (tests/test_allocator.py); now and then, while the
heap settles in the first dozens of steps, one step grows it by a few hundred pages. The
process keeps its peak memory resident between steps rather than returning and re-faulting it,
which is what PyTorch's caching allocators do on the GPU. Nothing changes on other C libraries, and nothing is done
when the user set glibc's own MALLOC_*_ variables or GLIBC_TUNABLES (their choice stands);
set TINYGEN_KEEP_FREED_MEMORY=0 to keep glibc's defaults.
"""
import ctypes
import os

M_TRIM_THRESHOLD = -1  # the parameter numbers of glibc's mallopt, from <malloc.h>
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30


def keep_freed_memory():
    """Ask glibc to keep freed memory for reuse. Returns True when the setting was made."""
    if os.environ.get("TINYGEN_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if any(name.startswith("MALLOC_") or name == "GLIBC_TUNABLES" for name in os.environ):
        return False
    if not _runs_on_glibc():
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))


def _runs_on_glibc():
    """True when this process's C library is glibc (the only one whose mallopt is set here)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # not a POSIX system, or a C library without the name
        return False
