"""Argument checks shared by the ops: dims in range, matching dtypes, tensors where tensors go.

Each check costs a Python comparison or two on the op's arguments, never a pass over an array,
so the ops can run them on every call. The messages follow PyTorch's, prefixed with the op.
"""
import numbers
import operator

from tinygen.autograd import Tensor


def normalize_dim(dim, ndim, op):
    """`dim` as an axis in [0, ndim), counting a negative dim from the end, as PyTorch does.

    A dim outside [-ndim, ndim - 1] is an IndexError (NumPy-style `dim % ndim` would quietly
    pick another axis: dim 5 of a 2-D tensor would be dim 1). A 0-d tensor takes dim 0 or -1,
    as in PyTorch. Ops that make a new axis (unsqueeze, stack) pass ndim + 1.
    """
    if type(dim) is not int:  # NumPy integers pass; floats, bools and None do not
        if isinstance(dim, bool) or not hasattr(dim, "__index__"):
            raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__} {dim!r}")
        dim = operator.index(dim)
    size = ndim if ndim > 0 else 1
    if not -size <= dim < size:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-size}, {size - 1}], "
                         f"but got {dim})")
    return dim + size if dim < 0 else dim


def normalize_dims(dims, ndim, op):
    """A tuple or list of dims, each normalised; a dim given twice is an error (as in PyTorch)."""
    axes = tuple(normalize_dim(d, ndim, op) for d in dims)
    if len(set(axes)) != len(axes):
        repeated = next(a for a in axes if axes.count(a) > 1)
        raise RuntimeError(f"{op}: dim {repeated} appears multiple times in the list of dims {tuple(dims)}")
    return axes


def not_a_tensor(op, name, value):
    """The TypeError for a list, array or number given where the op needs a Tensor (PyTorch's words)."""
    hint = "; make one with tinygen.tensor(...)" if isinstance(value, (list, tuple)) or hasattr(value, "dtype") else ""
    return TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(value).__name__}{hint}")


def dtype_fix(input_dtype, wanted_dtype):
    """How to make an input of `input_dtype` fit weights of `wanted_dtype`: the hint of a dtype error."""
    if input_dtype == "uint8":
        return "scale uint8 images to [0, 1] float32 first, e.g. x.float() / 255"
    if wanted_dtype == "float32":
        return "convert the input with x.float()"
    if wanted_dtype == "float64":
        return "convert the input with x.double()"
    return f"convert the input to {wanted_dtype}"


def check_same_dtype(op, x, weight, bias=None, weight_name="weight"):
    """An input must have its weight's dtype (PyTorch refuses mixed dtypes too): a float64 input
    to float32 weights would otherwise make float64 outputs, and float64 gradients for float32
    weights, without a word; an integer or uint8 input would be used unscaled."""
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype):
        if x.dtype != weight.dtype:
            raise RuntimeError(f"{op}: input dtype {x.dtype} does not match the {weight_name} dtype {weight.dtype}; "
                               f"{dtype_fix(x.dtype, weight.dtype)}")
        raise RuntimeError(f"{op}: bias dtype {bias.dtype} does not match the {weight_name} dtype {weight.dtype}")


def check_layer_input(layer, x, weight, bias=None):
    """A layer's input: a Tensor of the layer's weight dtype. The message names the layer (its
    repr is only made when something is wrong: this runs on every forward)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: expected a Tensor input, got {type(x).__name__}; make one with tinygen.tensor(...)")
    if x.data.dtype != weight.data.dtype or (bias is not None and bias.data.dtype != weight.data.dtype):
        check_same_dtype(str(layer), x, weight, bias)


def check_floating(op, x):
    """Ops that have no meaning on integers (a slope of 0.2, a softmax) refuse them."""
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype}; convert it with x.float()")


def check_int(where, name, value, minimum=None, pair=False):
    """A size or count given to a layer or op: an int (not 3.5, not True) of at least `minimum`.

    With pair=True (a convolution's stride and padding) a pair of equal ints, (2, 2), is that int:
    PyTorch's layers take pairs, tinygen's convolutions one value for both axes."""
    if pair and isinstance(value, (tuple, list)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f"{where}: {name} must be one int for both axes, got {value!r}")
        value = value[0]
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    value = operator.index(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value}")
    return value


def check_eps(where, eps):
    """A normalisation's eps: a real number > 0 (eps = 0 divides a constant channel by 0, and a
    negative eps can take a square root of a negative number)."""
    if not check_real(where, "eps", eps) > 0:
        raise ValueError(f"{where}: eps must be > 0, got {eps}")
    return eps


def check_real(where, name, value):
    """A number argument (a slope, an eps): an int or float, not a string, None, bool or tensor."""
    if type(value) is float or type(value) is int:  # the common case, before the slower ABC check
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__} {value!r}")
    return value


IMAGES = ((None, 1, 28, 28), (None, 28, 28), (None, 784))  # a batch of MNIST images, as the models take it


def check_shape(where, name, x, *shapes):
    """x must be a Tensor of one of `shapes`: tuples in which None takes any size (the batch N).

    Models call it first in forward (and encode, decode...), so a wrong input is named there,
    not deep inside a reshape: check_shape("VAE.encode", "images", x, *IMAGES)."""
    if not isinstance(x, Tensor):
        raise not_a_tensor(where, name, x)
    if not any(len(s) == x.ndim and all(e is None or e == d for e, d in zip(s, x.shape)) for s in shapes):
        wanted = " or ".join("(" + ", ".join("N" if e is None else str(e) for e in s) + ")" for s in shapes)
        raise ValueError(f"{where}: expected {name} of shape {wanted}, got {tuple(x.shape)}")
    return x
