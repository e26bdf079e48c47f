"""Saving and loading named arrays as .npz files: no pickle, written atomically.

`save(obj, path)` takes a dict whose values are tensors, arrays, numbers, strings or further
dicts (a checkpoint: {"G": G.state_dict(), "step": 1200, ...}); nested names are joined with
"/". `load(path)` gives the same nesting back, arrays as CPU tensors. Files are read with
allow_pickle=False, so loading a checkpoint can never run code.
"""
import os

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


def save(obj, path):
    """Write a (nested) dict of arrays to `path` as .npz, atomically (a crash leaves the old file)."""
    if not isinstance(obj, dict):
        raise TypeError(f"save: expected a dict (e.g. model.state_dict()), got {type(obj).__name__}")
    arrays = {}
    _flatten(obj, "", arrays)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load(path):
    """Read a file written by `save`: nested dicts of CPU tensors (strings stay strings)."""
    result = {}
    with np.load(os.fspath(path), allow_pickle=False) as archive:
        for name in archive.files:
            array = archive[name]
            value = str(array) if array.dtype.kind == "U" else Tensor(array)
            *parents, leaf = name.split(SEPARATOR)
            node = result
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = value
    return result
