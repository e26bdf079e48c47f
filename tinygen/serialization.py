"""Saving and loading named arrays as .npz files: no pickle, written atomically.

`save(obj, path)` takes a dict whose values are tensors, arrays, numbers, strings or further
dicts (a checkpoint: {"G": G.state_dict(), "step": 1200, ...}); nested names are joined with
"/". `load(path)` gives the same nesting back, arrays as CPU tensors.

An .npz file is a zip archive of .npy files, one per array: a short text header (dtype, shape,
order) and then the raw bytes. `load` reads the archive itself, so that whatever file it is given
(a text file, a truncated download, another library's pickle) it can say clearly what is wrong,
and it never unpickles (numpy's allow_pickle=False), so loading a checkpoint can never run code.
"""
import io
import math
import os
import struct
import zipfile
import zlib

from tinygen import backend
from tinygen.autograd import Tensor
from tinygen.files import atomic_write

np = backend.host  # saving happens on the host: NumPy

SEPARATOR = "/"


def _flatten(obj, prefix, out):
    for key, value in obj.items():
        key = str(key)
        if SEPARATOR in key:
            raise ValueError(f"save: key {key!r} contains {SEPARATOR!r}, which separates nested names")
        name = f"{prefix}{SEPARATOR}{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(value, name, out)
        elif isinstance(value, Tensor):
            out[name] = backend.to_numpy(value.data)
        elif backend.is_array(value):
            out[name] = backend.to_numpy(value)
        elif isinstance(value, (bool, int, float, str, np.generic)):  # np.generic: a NumPy scalar
            out[name] = np.asarray(value)
        else:
            raise TypeError(f"save: cannot store {name!r} of type {type(value).__name__} without pickle")
        if name in out and out[name].dtype.hasobject:  # numpy would pickle it; load (allow_pickle=False) refuses it
            raise TypeError(f"save: cannot store {name!r}: an array of dtype {out[name].dtype} needs pickle")


def flatten(obj, prefix=""):
    """A nested dict as the arrays `save` writes, named by their paths: {'G/0.weight': array, ...}."""
    arrays = {}
    _flatten(obj, prefix, arrays)
    return arrays


def save(obj, path):
    """Write a (nested) dict of arrays to `path` as .npz, atomically (a crash leaves the old file)."""
    if not isinstance(obj, dict):
        raise TypeError(f"save: expected a dict (e.g. model.state_dict()), got {type(obj).__name__}")
    arrays = flatten(obj)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


class CheckpointError(ValueError):
    """A file that `load` cannot read: not an .npz, truncated or damaged, or holding pickled objects."""


ZIP_MAGIC = b"PK"  # every zip archive, and so every .npz, starts with these two bytes
NPY_MAGIC = b"\x93NUMPY"  # a single array saved by np.save


def load(path):
    """Read a file written by `save`: nested dicts of CPU tensors (strings stay strings)."""
    path = os.fspath(path)
    with open(path, "rb") as file:  # a missing file: FileNotFoundError, as open() and torch.load give
        _check_is_zip(file.read(16), path)
        file.seek(0)
        try:
            with zipfile.ZipFile(file) as archive:
                arrays = {_array_name(member, path): _read_array(archive, member, path) for member in archive.infolist()}
        except CheckpointError:
            raise
        except (zipfile.BadZipFile, EOFError, zlib.error, ValueError, SyntaxError, struct.error, OSError,
                NotImplementedError, RuntimeError) as error:  # what zipfile and numpy's header parser raise on
            # bad bytes (RuntimeError: a flipped bit in a member's flags that marks it as encrypted)
            raise CheckpointError(f"load: {path} is truncated or damaged ({type(error).__name__}: {error})") from None
    return _nest(arrays, path)


def _check_is_zip(start, path):
    if start.startswith(ZIP_MAGIC):
        return
    what = ("it is empty" if not start else
            "it is a single .npy array (np.save); tinygen.save writes .npz" if start.startswith(NPY_MAGIC) else
            f"it begins with {start!r}")
    raise CheckpointError(f"load: {path} is not a tinygen checkpoint: not an .npz (zip) file ({what})")


def _array_name(member, path):
    if not member.filename.endswith(".npy"):
        raise CheckpointError(f"load: {path} is a zip file but not a tinygen checkpoint: "
                              f"{member.filename!r} in it is not an .npy array")
    return member.filename[: -len(".npy")]


def _read_array(archive, member, path):
    """One .npy member: its header, a check that the bytes match it, and the values (a copy)."""
    data = archive.read(member)  # zipfile checks the member's CRC-32 here
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read_header(stream)
    name = member.filename[: -len(".npy")]
    if dtype.hasobject:
        raise CheckpointError(f"load: {path} holds {name!r}, an array of Python objects that only pickle can read; "
                              f"tinygen never unpickles (allow_pickle=False), since unpickling can run code")
    offset, count = stream.tell(), math.prod(shape)
    if len(data) - offset != count * dtype.itemsize:
        raise CheckpointError(f"load: {path} is truncated or damaged: {name!r} should hold {count * dtype.itemsize} "
                              f"bytes (shape {shape}, {dtype}) but holds {len(data) - offset}")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran_order else "C").copy()


def _nest(arrays, path):
    """{"G/0.weight": array, "step": array} -> {"G": {"0.weight": tensor}, "step": tensor}."""
    result = {}
    for name, array in arrays.items():
        value = str(array) if array.dtype.kind == "U" else Tensor(array)
        *parents, leaf = name.split(SEPARATOR)
        node = result
        for parent in parents:
            node = node.setdefault(parent, {})
            if not isinstance(node, dict):
                raise CheckpointError(f"load: {path} is not a tinygen checkpoint: {parent!r} is both an array "
                                      f"and a folder of names in {name!r}")
        if leaf in node:
            raise CheckpointError(f"load: {path} is not a tinygen checkpoint: {name!r} is both an array and a folder of names")
        node[leaf] = value
    return result
