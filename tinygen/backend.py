"""Where arrays live: NumPy on the CPU, CuPy on a CUDA GPU.

Every op asks `get_array_module(array)` for the module that holds its input and calls it `xp`:
`xp.exp(x)` is `numpy.exp` for a NumPy array and `cupy.exp` for a CuPy array. So the same op code
runs on both devices, and the device is decided by where the data lives.

This is the only file of the library's ops and layers that names numpy or cupy.
"""
import operator
import os

import numpy

if os.environ.get("TINYGEN_FAKE_CUPY") == "1":
    # For tests without a GPU: 'cuda' is then a strict stand-in for CuPy that computes with NumPy but
    # refuses, as CuPy does, every implicit crossing between host and device (tinygen/testing/fake_cupy.py).
    from tinygen.testing import fake_cupy as cupy
else:
    try:  # CuPy is optional: `pip install -e ".[gpu]"` on a machine with a CUDA GPU.
        import cupy

        cupy.cuda.runtime.getDeviceCount()  # raises when there is no driver or no GPU
    except Exception:  # ImportError, or CUDA not usable: then we are CPU-only
        cupy = None

DEVICES = ("cpu", "cuda")
# The names a device may be given by, as PyTorch users write them. tinygen uses one GPU, the first:
# 'cuda:0' is the same device as 'cuda'.
DEVICE_NAMES = ("cpu", "cuda", "cuda:0")


def gpu_available():
    """True when CuPy is installed and sees a CUDA GPU."""
    return cupy is not None


def is_array(value):
    """True for a NumPy or CuPy ndarray."""
    return isinstance(value, numpy.ndarray) or (cupy is not None and isinstance(value, cupy.ndarray))


def get_array_module(*arrays):
    """The module (numpy or cupy) that holds these arrays: the `xp` of every op."""
    if cupy is not None:
        return cupy.get_array_module(*arrays)
    return numpy


def module_for(device):
    """The array module of a device name: 'cpu' -> numpy, 'cuda' (or 'cuda:0') -> cupy."""
    if check_device(device) == "cpu":
        return numpy
    if cupy is None:
        raise RuntimeError(f"device {device!r} asked for, but CuPy with a CUDA GPU is not available")
    return cupy


def check_device(device):
    """The device's own name, 'cpu' or 'cuda', for any name it may be given by ('cuda:0' -> 'cuda').

    Every function that takes a device asks this first, so that 'cuda' and 'cuda:0' are one device
    (one random generator, no copy between them). Anything else is a ValueError naming the accepted forms.
    """
    if device in DEVICES:  # the common case first: the names themselves
        return device
    if device == "cuda:0":
        return "cuda"
    accepted = ", ".join(repr(name) for name in DEVICE_NAMES)
    if isinstance(device, str) and device.startswith("cuda:"):
        raise ValueError(f"device {device!r}: tinygen uses one GPU, the first; expected one of {accepted}")
    raise ValueError(f"unknown device {device!r}: expected one of {accepted}")


def device_of(array):
    """'cuda' for a CuPy array, 'cpu' for anything else."""
    if cupy is not None and isinstance(array, cupy.ndarray):
        return "cuda"
    return "cpu"


def to_device(array, device):
    """The same values on `device`, copied only when they are not there already."""
    device = check_device(device)
    if device_of(array) == device:
        return array
    if device == "cpu":
        return cupy.asnumpy(array)
    return module_for(device).asarray(array)


def to_numpy(array):
    """A host NumPy array of the same values (for printing, plotting and saving)."""
    return to_device(array, "cpu")


def as_array(value, dtype=None, device="cpu"):
    """Turn a Python number, list or array into an array of `device`.

    Python floats become float32 (the library's default), as in PyTorch; arrays keep their dtype
    unless one is given. Only numbers make tensors: strings, None, objects, complex numbers and
    ragged lists (rows of different lengths) are refused here, where user data comes in.
    """
    if isinstance(value, numpy.generic):  # a NumPy scalar (what an op on 0-d arrays returns) keeps its dtype
        value = numpy.asarray(value)
    if is_array(value):
        check_numeric(value.dtype, value)
        array = to_device(value, device)
    else:
        try:
            array = module_for(device).asarray(value)
        except ValueError as error:  # NumPy's words for a ragged list: "inhomogeneous shape after 1 dimensions"
            raise ValueError(f"tensor: cannot make a tensor of this {type(value).__name__}: {error}") from None
        check_numeric(array.dtype, value)
        if dtype is None and array.dtype == numpy.float64:
            array = array.astype(numpy.float32)
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    return array


def check_numeric(dtype, value):
    """Tensors hold numbers: floats, ints or bools. Anything else is a TypeError (as in PyTorch)."""
    if dtype.kind not in "fiub":
        source = (f"an array of dtype {dtype}" if is_array(value)
                  else f"a {type(value).__name__} (read as dtype {dtype})")
        hint = " (None, strings or other objects among the values?)" if dtype.kind == "O" else ""
        raise TypeError(f"tensor: cannot make a tensor of {source}{hint}; tinygen tensors hold numbers: "
                        f"float, int or bool")


def is_floating(dtype):
    return numpy.issubdtype(dtype, numpy.floating)


# ---------------------------------------------------------------------------------------------
# Random numbers. One generator per device, so that a seed makes a run repeatable.

_generators = {}


def manual_seed(seed):
    """Seed the random numbers of every device (parameter init, dropout, noise, shuffling).

    As PyTorch, the seed is an integer in [-2**63, 2**64 - 1]; a negative one counts as seed + 2**64.
    """
    try:
        if isinstance(seed, bool):
            raise TypeError
        seed = operator.index(seed)  # ints and NumPy ints; not floats, not strings
    except TypeError:
        raise TypeError(f"manual_seed: the seed must be an integer, got {type(seed).__name__} {seed!r}") from None
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"manual_seed: the seed must be in [-2**63, 2**64 - 1], got {seed}")
    seed %= 2**64
    _generators["cpu"] = numpy.random.default_rng(seed)
    if cupy is not None:
        _generators["cuda"] = cupy.random.default_rng(seed)


def generator(device="cpu"):
    """The random generator of a device: `.random`, `.standard_normal`, `.integers`, `.permutation`."""
    device = check_device(device)
    if device not in _generators:
        _generators[device] = module_for(device).random.default_rng()
    return _generators[device]


def get_rng_state():
    """The CPU generator's state as a JSON-friendly dict (for checkpoints)."""
    return generator("cpu").bit_generator.state


def set_rng_state(state):
    generator("cpu").bit_generator.state = state


# Host-side code (saving files, plotting, metrics) works on NumPy arrays; it takes NumPy from here.
host = numpy
