"""Writing files atomically: a reader never sees half a file, and a crash keeps the old one.

    with atomic_write("checkpoint.npz") as f:
        f.write(...)

The bytes go to a hidden temporary file in the same folder; only when the block finishes
without an error is it flushed to disk and renamed over `path` (a rename within one file system
is atomic). On any error, Ctrl-C included, the temporary file is removed and `path` is untouched.
Missing folders on the way to `path` are created.

A rename needs permission to write the folder, not the file, so it would replace a file the
user made read-only (`chmod a-w`). Writing in place with open() would refuse that, so before
anything is written we refuse it too, with the PermissionError open() gives (as torch.save does).
"""
import contextlib
import errno
import os
import stat
import tempfile

ANY_WRITE_BIT = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def _default_mode():
    """Permissions of a newly created file under the current umask (temporary files start private)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_replaceable(path):
    """Raise unless `path` is absent, or a file that open(path, "w") could write.

    Read-only means: this user may not write it (os.access), or nobody may (no write bit at all,
    which also stops root, who passes every os.access check).
    """
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "cannot write a file over a folder", path)
    if os.path.exists(path):
        if not os.access(path, os.W_OK) or not os.stat(path).st_mode & ANY_WRITE_BIT:
            raise PermissionError(errno.EACCES, "the file is read-only; not replacing it", path)


def make_folder(folder):
    """Create `folder` and its parents if missing; a clear error naming it if that is impossible."""
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a file stands where a folder is needed
        raise NotADirectoryError(errno.ENOTDIR, "cannot create the folder: a file stands on its path", folder) from None
    except PermissionError:
        raise PermissionError(errno.EACCES, "cannot create the folder: permission denied", folder) from None


@contextlib.contextmanager
def atomic_write(path):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    check_replaceable(path)
    make_folder(folder)
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part")
    except PermissionError:  # the error would name the temporary file, which the user never asked for
        raise PermissionError(errno.EACCES, "cannot write in this folder: permission denied", folder) from None
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
