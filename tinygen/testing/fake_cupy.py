"""A strict stand-in for CuPy, for tests on a machine without a GPU: the map of what GPU code must not do.

`TINYGEN_FAKE_CUPY=1` makes tinygen's backend use this module as `cupy` (see backend.py), so that
'cuda' tensors hold the arrays below. They compute with NumPy, but they live on a pretend "device"
and refuse, as CuPy's arrays do, every crossing to the host that is not asked for by name:

  - implicit conversion to NumPy raises TypeError: `np.asarray(x)`, `np.save(path, x)`,
    matplotlib's `imshow(x)`, `np.mean(x)` (see the note on NumPy functions below). Only
    `cupy.asnumpy(x)` and `x.get()` cross, and `float(x)`, `int(x)`, `bool(x)`, `x.item()`,
    `x.tolist()`, `repr`/`str`/`format`, which CuPy also allows (each one copies to the host);
  - an operation that mixes a device array with a NumPy array or a list raises TypeError
    (`x + np.ones(3)`, `xp.maximum(x, [0, 1])`): ufuncs take device arrays and scalars only;
  - reductions and element access give 0-d device arrays, never NumPy scalars: `x.sum()`, `x[0]`;
  - integer-array indexing wraps out-of-bounds indices around (`x[[1, 3]]` on 3 elements is
    `x[[1, 0]]`) instead of raising IndexError, as CuPy does: a wrong index gives wrong values;
  - a device array is not an index: no `__index__`, so `range(x)` or `np.zeros(x)` raise TypeError;
  - the namespace offers only the names listed in NAMES below, each of which real CuPy has
    (tests/test_fake_cupy.py checks that against the installed `cupy` package);
  - `random.default_rng` gives a Generator with only cupy.random.Generator's methods and
    signatures, on another stream than NumPy's: the same seed gives other numbers on each device.

Where it is stricter than CuPy: NumPy functions on a device array (`np.mean(x)`) run only when this
namespace offers the function; CuPy runs any function it has. Writing a device array into a
NumPy-valued slot (`x[...] = np.ones(3)`) is refused here. Where it cannot copy CuPy: float-to-int
casts of negative or infinite values, and the order of additions in reductions, are NumPy's here.
"""
import sys

import numpy

IMPLICIT_CONVERSION = ("Implicit conversion to a NumPy array is not allowed. "
                       "Please use `.get()` to construct a NumPy array explicitly.")  # CuPy's own words


def _host(value, allow_numpy=True):
    """The NumPy value inside a device array; lists and tuples are looked through.

    A NumPy array met here is host data used in a device operation: refused unless `allow_numpy`
    (indices, and `asarray`, the explicit host-to-device copy).
    """
    if isinstance(value, ndarray):
        return value._array
    if isinstance(value, numpy.ndarray) and not allow_numpy:
        raise TypeError(f"Unsupported type {type(value)}")  # CuPy's words for a NumPy array in an op
    if isinstance(value, (list, tuple)):
        return type(value)(_host(item, allow_numpy) for item in value)
    return value


def _device(value):
    """Put NumPy results on the device: arrays and NumPy scalars become device arrays (0-d for scalars)."""
    if isinstance(value, (numpy.ndarray, numpy.generic)):
        return ndarray(numpy.asarray(value))
    if isinstance(value, (list, tuple)):
        return type(value)(_device(item) for item in value)
    return value


def _is_scalar(value):
    return isinstance(value, (bool, int, float, complex, numpy.generic))


def _ufunc_operands(inputs):
    """A ufunc's operands on the host side, refusing what CuPy refuses: NumPy arrays, lists, objects."""
    operands = []
    for value in inputs:
        if isinstance(value, ndarray):
            operands.append(value._array)
        elif _is_scalar(value):
            operands.append(value)
        else:
            raise TypeError(f"Unsupported type {type(value)}")
    return operands


class ufunc:
    """A device ufunc (`xp.exp`, `xp.add`): device arrays and scalars in, a device array out."""

    def __init__(self, numpy_ufunc):
        self._ufunc = numpy_ufunc
        self.__name__ = numpy_ufunc.__name__

    def __call__(self, *inputs, out=None, **kwargs):
        result = self._ufunc(*_ufunc_operands(inputs), **kwargs)
        if out is None:
            return _device(result)
        out._array[...] = result
        return out

    def at(self, target, indices, values=None):
        """Unbuffered in-place `target[indices] op= values` (cupy.add.at: a scatter-add)."""
        values = () if values is None else (values,)
        self._ufunc.at(target._array, _host(indices), *_ufunc_operands(values))


def _function(numpy_function):
    """A device function from a NumPy one: device arrays (and plain Python values) in, device arrays out."""
    def on_device(*args, **kwargs):
        args = _host(args, allow_numpy=False)
        kwargs = {key: _host(value, allow_numpy=False) for key, value in kwargs.items()}
        return _device(numpy_function(*args, **kwargs))

    on_device.__name__ = numpy_function.__name__
    on_device.__doc__ = f"numpy.{numpy_function.__name__} on the device (strict: no NumPy arrays in)."
    return on_device


def _wrap_out_of_bounds(key, shape):
    """CuPy wraps out-of-bounds integer-array indices: index i on an axis of n is i % n.

    Done for keys of integers, slices and integer arrays, one per axis from the first (what tinygen
    writes); keys with None, Ellipsis or boolean masks are left to NumPy, which raises instead.
    """
    parts = key if isinstance(key, tuple) else (key,)
    if len(parts) > len(shape) or any(part is None or part is Ellipsis for part in parts):
        return key
    wrapped = []
    for part, size in zip(parts, shape):
        if isinstance(part, (list, numpy.ndarray)):
            part = numpy.asarray(part)
            if part.dtype.kind in "iu" and size > 0:
                part = part % size
        wrapped.append(part)
    return tuple(wrapped) if isinstance(key, tuple) else wrapped[0]


class ndarray:
    """An array on the pretend device. Attributes and methods are NumPy's, with device arrays out."""

    __array_priority__ = 100  # as CuPy's: below tinygen's Tensor (1000), so tensor ops win
    __hash__ = None

    def __init__(self, array):
        self._array = array

    # --- the explicit crossings --------------------------------------------------------------
    def get(self):
        """A host NumPy copy: the one way out (with `asnumpy`)."""
        return self._array.copy()

    def __array__(self, dtype=None, copy=None):
        raise TypeError(IMPLICIT_CONVERSION)

    # CuPy copies to the host for these, as NumPy users expect:
    def __float__(self):
        return float(self._array)

    def __int__(self):
        return int(self._array)

    def __complex__(self):
        return complex(self._array)

    def __bool__(self):
        return bool(self._array)

    def __repr__(self):
        return repr(self._array)

    def __str__(self):
        return str(self._array)

    def __format__(self, spec):
        return format(self._array, spec)

    def __reduce__(self):  # pickling copies to the host and back, as CuPy does
        return asarray, (self.get(),)

    def __copy__(self):
        return ndarray(self._array.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._array.copy())

    # --- everything else is NumPy's, kept on the device -----------------------------------
    def __getattr__(self, name):
        if name.startswith("__"):  # no __array_interface__, __array_struct__, buffer: NumPy cannot look inside
            raise AttributeError(name)
        value = getattr(self._array, name)
        if not callable(value):
            return _device(value) if isinstance(value, numpy.ndarray) else value
        return _function(value)

    def __len__(self):
        return len(self._array)

    def __iter__(self):
        if self._array.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._array)))

    def __getitem__(self, key):
        key = _wrap_out_of_bounds(_host(key), self._array.shape)
        return _device(self._array[key])

    def __setitem__(self, key, value):
        key = _wrap_out_of_bounds(_host(key), self._array.shape)
        self._array[key] = _host(value, allow_numpy=False)

    # --- NumPy's protocols: ufuncs and functions on device arrays run on the device ----------
    def __array_ufunc__(self, numpy_ufunc, method, *inputs, **kwargs):
        if method != "__call__":  # np.add.at(x, ...), np.add.reduce(x): CuPy refuses these too
            return NotImplemented
        return ufunc(numpy_ufunc)(*inputs, **kwargs)

    def __array_function__(self, numpy_function, types, args, kwargs):
        device_function = globals().get(numpy_function.__name__) if numpy_function.__name__ in NAMES else None
        if device_function is None:
            return NotImplemented  # NumPy then raises TypeError: no implementation found
        return device_function(*args, **kwargs)


def _operator(numpy_ufunc, reflected=False):
    def operate(self, other):
        if not (isinstance(other, (ndarray, numpy.ndarray, list)) or _is_scalar(other)):
            return NotImplemented  # a Tensor: its own __radd__ and friends run
        operands = (other, self) if reflected else (self, other)
        return ufunc(numpy_ufunc)(*operands)
    return operate


def _in_place(numpy_ufunc):
    def operate(self, other):
        numpy_ufunc(self._array, *_ufunc_operands([other]), out=self._array)
        return self
    return operate


for _name, _numpy_ufunc in [("add", numpy.add), ("sub", numpy.subtract), ("mul", numpy.multiply),
                            ("truediv", numpy.true_divide), ("floordiv", numpy.floor_divide),
                            ("mod", numpy.remainder), ("pow", numpy.power), ("matmul", numpy.matmul),
                            ("and", numpy.bitwise_and), ("or", numpy.bitwise_or), ("xor", numpy.bitwise_xor)]:
    setattr(ndarray, f"__{_name}__", _operator(_numpy_ufunc))
    setattr(ndarray, f"__r{_name}__", _operator(_numpy_ufunc, reflected=True))
    setattr(ndarray, f"__i{_name}__", _in_place(_numpy_ufunc))
for _name, _numpy_ufunc in [("lt", numpy.less), ("le", numpy.less_equal), ("gt", numpy.greater),
                            ("ge", numpy.greater_equal), ("eq", numpy.equal), ("ne", numpy.not_equal)]:
    setattr(ndarray, f"__{_name}__", _operator(_numpy_ufunc))
for _name, _numpy_ufunc in [("neg", numpy.negative), ("pos", numpy.positive), ("abs", numpy.absolute),
                            ("invert", numpy.invert)]:
    setattr(ndarray, f"__{_name}__", lambda self, _f=_numpy_ufunc: ufunc(_f)(self))


# ---------------------------------------------------------------------------------------------
# The namespace: only what tinygen calls, each a name real CuPy has (tests/test_fake_cupy.py).

UFUNCS = ["abs", "add", "cos", "divide", "exp", "greater_equal", "isfinite", "isnan", "log", "log1p", "maximum", "minimum",
          "multiply", "power", "sign", "sin", "sqrt", "subtract", "tanh"]
FUNCTIONS = ["arange", "argmax", "argmin", "argsort", "ascontiguousarray", "bincount", "broadcast_to", "clip", "concatenate",
             "cumsum", "diff", "empty", "empty_like", "eye", "full", "meshgrid", "nonzero", "ones", "ones_like",
             "stack", "take_along_axis", "tensordot", "where", "zeros", "zeros_like"]
CONSTANTS = ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool_", "inf", "nan", "newaxis",
             "finfo"]  # finfo: NumPy's own class, as CuPy exports it
NAMES = UFUNCS + FUNCTIONS + CONSTANTS + ["asarray", "asnumpy", "get_array_module", "ndarray", "linalg", "random"]

for _name in UFUNCS:
    globals()[_name] = ufunc(getattr(numpy, _name))
for _name in FUNCTIONS:
    globals()[_name] = _function(getattr(numpy, _name))
for _name in CONSTANTS:
    globals()[_name] = getattr(numpy, _name)


def asarray(values, dtype=None):
    """Host data (a NumPy array, a list, a number) copied to the device: the explicit way in."""
    if isinstance(values, ndarray):
        return values if dtype is None or values.dtype == dtype else values.astype(dtype)
    return ndarray(numpy.array(values, dtype=dtype))


def asnumpy(array):
    """A host NumPy copy of a device array (a NumPy array comes back as it is): the explicit way out."""
    return array.get() if isinstance(array, ndarray) else numpy.asarray(array)


def get_array_module(*arrays):
    """This module when any of the arrays is on the device, else numpy (as cupy.get_array_module)."""
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in arrays) else numpy


class linalg:
    norm = staticmethod(_function(numpy.linalg.norm))


class Generator:
    """cupy.random.Generator: only the methods tinygen calls, with CuPy's signatures (no `permutation`,
    no `normal`: CuPy's Generator has neither). Another stream than NumPy's (Philox here, XORWOW in CuPy)."""

    def __init__(self, seed=None):
        self._rng = numpy.random.Generator(numpy.random.Philox(seed))

    def random(self, size=None, dtype=numpy.float64, out=None):
        return _device(self._rng.random(size, dtype=dtype))

    def standard_normal(self, size=None, dtype=numpy.float64, out=None):
        return _device(self._rng.standard_normal(size, dtype=dtype))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=numpy.float64):
        return _device(self._rng.uniform(low, high, size).astype(dtype))

    def integers(self, low, high=None, size=None, dtype=numpy.int64, endpoint=False):
        return _device(self._rng.integers(low, high, size, dtype=dtype, endpoint=endpoint))


class random:
    Generator = Generator

    @staticmethod
    def default_rng(seed=None):
        return Generator(seed)
