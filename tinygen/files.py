"""Writing files atomically: a reader never sees half a file, and a crash keeps the old one.

    with atomic_write("checkpoint.npz") as f:
        f.write(...)

The bytes go to a hidden temporary file in the same folder; only when the block finishes
without an error is it flushed to disk and renamed over `path` (a rename within one file system
is atomic). On any error, Ctrl-C included, the temporary file is removed and `path` is untouched.
"""
import contextlib
import os
import tempfile


def _default_mode():
    """Permissions of a newly created file under the current umask (temporary files start private)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, _default_mode())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
