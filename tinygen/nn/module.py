"""Module, Parameter, Buffer and Sequential: how layers hold their state.

A Module finds its parameters by looking at its own attributes: a `Parameter` is trained by the
optimiser, a `Buffer` (running statistics of BatchNorm) is saved with the model but not trained,
and a sub-`Module` is searched the same way. Names join with dots, as in PyTorch
("0.weight", "encoder.fc.bias"), so state dicts line up with PyTorch's.
"""
from collections.abc import Mapping

from tinygen import backend
from tinygen.autograd import Tensor

NUMBER_KINDS = "biuf"  # numpy dtype kinds a parameter or buffer can be copied from: bool, int, uint, float
FLOAT_DTYPES = ("float32", "float64")  # what Module.float(), .double() and .to(dtype) convert to


class Parameter(Tensor):
    """A tensor that a Module trains: it requires a gradient."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """A tensor that a Module keeps and saves, but does not train (e.g. running statistics)."""


class Module:
    """The base class of layers and models: subclasses set attributes and write `forward`."""

    training = True

    def __init__(self):
        """A subclass calls `super().__init__()` first, as in PyTorch (here it only sets training mode)."""
        self.training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --- registering state by assignment, as PyTorch ------------------------------------------------
    def __setattr__(self, name, value):
        """`self.fc = nn.Linear(...)`, `self.w = Parameter(...)`: what is assigned is found later.

        A name that holds a Parameter takes only a Parameter or None (a plain Tensor there would
        silently stop being trained and saved), a name that holds a sub-Module only a Module or
        None; a Tensor assigned to a Buffer's name stays a Buffer (sharing its array), as in PyTorch.
        """
        old = vars(self).get(name)
        if isinstance(old, Parameter) and not (value is None or isinstance(value, Parameter)):
            raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as parameter {name!r} "
                            f"(nn.Parameter or None expected); assign nn.Parameter(tinygen.tensor(values)), "
                            f"or change the values in place with {name}.data[...] = values under no_grad()")
        if isinstance(old, Module) and not (value is None or isinstance(value, Module)):
            raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as child module {name!r} "
                            f"(nn.Module or None expected)")
        if isinstance(old, Buffer) and value is not None and not isinstance(value, Buffer):
            if not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as buffer {name!r} "
                                f"(nn.Buffer, Tensor or None expected); make one with tinygen.tensor(values)")
            value = Buffer(value)  # the same array, still saved with the module
        object.__setattr__(self, name, value)

    def _check_new_name(self, what, name, kind):
        """A name for add_module / register_*: a non-empty str without dots that is free, or holds
        a `kind` (or None) already, as in PyTorch."""
        if not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: {what} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{type(self).__name__}: {what} name must not be empty or contain a dot, got {name!r}")
        if hasattr(self, name) and not (name in vars(self) and isinstance(vars(self)[name], (kind, type(None)))):
            raise KeyError(f"{type(self).__name__}: attribute {name!r} already exists")

    def add_module(self, name, module):
        """self.<name> = module, for a name that is only known at run time."""
        self._check_new_name("module", name, Module)
        if not (module is None or isinstance(module, Module)):
            raise _not_a_module(f"{type(self).__name__}.add_module: module {name!r}", module)
        setattr(self, name, module)

    def register_parameter(self, name, param):
        """self.<name> = param (a Parameter, or None)."""
        self._check_new_name("parameter", name, Parameter)
        if not (param is None or isinstance(param, Parameter)):
            raise TypeError(f"{type(self).__name__}: cannot assign {type(param).__name__} object to parameter "
                            f"{name!r} (nn.Parameter or None required)")
        setattr(self, name, param)

    def register_buffer(self, name, tensor):
        """self.<name> = a Buffer holding `tensor`'s array: saved with the module, not trained."""
        self._check_new_name("buffer", name, Buffer)
        if not (tensor is None or isinstance(tensor, Tensor)):
            raise TypeError(f"{type(self).__name__}: cannot assign {type(tensor).__name__} object to buffer "
                            f"{name!r} (Tensor or None required); make one with tinygen.tensor(values)")
        setattr(self, name, tensor if tensor is None or isinstance(tensor, Buffer) else Buffer(tensor))

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    # --- finding the state --------------------------------------------------------------------
    def named_children(self):
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self):
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(prefix + name if not prefix else f"{prefix}.{name}")

    def modules(self):
        return [m for _, m in self.named_modules()]

    def _named_tensors(self, kind, remove_duplicate=True):
        seen = set()  # a tensor shared by two layers (tied weights) is listed once
        for module_name, module in self.named_modules():
            for name, value in vars(module).items():
                if isinstance(value, kind) and not (remove_duplicate and id(value) in seen):
                    seen.add(id(value))
                    yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self):
        return list(self._named_tensors(Parameter))

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        return list(self._named_tensors(Buffer))

    def buffers(self):
        return [b for _, b in self.named_buffers()]

    # --- modes and gradients --------------------------------------------------------------------
    def apply(self, fn):
        """fn(m) for every sub-module m, children first, then self (e.g. a custom initialisation)."""
        if not callable(fn):
            raise TypeError(f"{type(self).__name__}.apply: expected a function of a module, got {type(fn).__name__}")
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def train(self, mode=True):
        """Training mode: BatchNorm uses batch statistics, Dropout drops."""
        if not isinstance(mode, bool):  # train('False') would otherwise be training mode
            raise ValueError(f"training mode is expected to be boolean, got {type(mode).__name__} {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        """Evaluation mode: BatchNorm uses its running statistics, Dropout passes through."""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients (set_to_none=False: fill them with zeros instead, as PyTorch)."""
        zero_grads([p for p in self.parameters()], set_to_none)

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze the parameters, e.g. D while G trains through it."""
        if not isinstance(requires_grad, bool):
            raise TypeError(f"requires_grad_(): argument 'requires_grad' must be bool, not {type(requires_grad).__name__}")
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def float(self):
        """Every floating-point parameter and buffer to float32, in place (integer buffers stay)."""
        return self.to("float32")

    def double(self):
        """Every floating-point parameter and buffer to float64, in place: for float64 input."""
        return self.to("float64")

    def to(self, device_or_dtype):
        """Move every parameter and buffer to a device ('cpu', 'cuda' or 'cuda:0'), or convert the
        floating-point ones to a dtype ('float32', 'float64'), in place."""
        if isinstance(device_or_dtype, str) and device_or_dtype.startswith(("cpu", "cuda")):
            return self._to_device(device_or_dtype)
        return self._to_dtype(device_or_dtype)

    def _to_dtype(self, dtype):
        try:
            name = backend.numpy.dtype(dtype).name if dtype is not None else None  # NumPy reads None as float64
        except TypeError:
            name = None
        if name not in FLOAT_DTYPES:
            devices = ", ".join(repr(device) for device in backend.DEVICE_NAMES)
            what = f"dtype {name} is not supported" if name else f"unknown device {dtype!r}"
            raise ValueError(f"{type(self).__name__}.to: {what}: expected one of {devices} (devices), or a "
                             f"floating dtype {FLOAT_DTYPES}")
        for t in self.parameters() + self.buffers():
            if backend.is_floating(t.dtype) and t.dtype != name:
                t.data = t.data.astype(name)
                t._bump_version()  # a new array: a graph that saved the old one refuses backward
                if t.grad is not None:
                    t.grad = Tensor(t.grad.data.astype(name))
        return self

    def _to_device(self, device):
        device = backend.check_device(device)
        for t in self.parameters() + self.buffers():
            moved = backend.to_device(t.data, device)
            if moved is not t.data:  # a new array: a graph that saved the old one refuses backward
                t.data = moved
                t._bump_version()
            if t.grad is not None:
                t.grad = Tensor(backend.to_device(t.grad.data, device))
        return self

    # --- saving and loading -----------------------------------------------------------------
    def state_dict(self):
        """Every parameter and buffer by its dotted name (the tensors themselves, not copies).

        A tied tensor appears under each of its names, as in PyTorch.
        """
        return dict(self._named_tensors((Parameter, Buffer), remove_duplicate=False))

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into the parameters and buffers, checking names, types and shapes.

        Everything is checked before anything is copied, so a refused state dict leaves the model
        as it was. The arrays are copied in place, so an optimiser holding these parameters keeps them.
        strict=False loads the names both have and skips the others (shapes must still fit); unlike
        PyTorch, which returns the names it skipped, this returns the module.
        """
        where = f"load_state_dict for {type(self).__name__}"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{where}: expected a dict of tensors (model.state_dict(), or a part of tinygen.load's "
                            f"result), got {type(state_dict)}")
        own = self.state_dict()
        if not isinstance(strict, bool):
            raise TypeError(f"{where}: strict must be True or False, got {strict!r}")
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        if strict and (missing or unexpected):
            raise KeyError(f"{where}: missing keys {missing}, unexpected keys {unexpected}")
        own = {name: target for name, target in own.items() if name in state_dict}
        values = {name: _checked_value(where, name, state_dict[name], target) for name, target in own.items()}
        for name, target in own.items():
            value = values[name]
            target.data[...] = backend.to_device(value, target.device).astype(target.dtype, copy=False)
            target._bump_version()  # changed in place: a graph that saved the old values refuses backward
        return self

    # --- printing ----------------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            lines.append("  (" + name + "): " + repr(child).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"


def zero_grads(params, set_to_none):
    """p.grad = None for each p, or (set_to_none=False) its gradient filled with zeros in place."""
    if not isinstance(set_to_none, bool):
        raise TypeError(f"zero_grad: set_to_none must be True or False, got {set_to_none!r}")
    for p in params:
        if set_to_none:
            p.grad = None
        elif p.grad is not None:
            p.grad = Tensor(backend.get_array_module(p.grad.data).zeros_like(p.grad.data))


def _not_a_module(where, value):
    """The TypeError for something other than a Module given as a layer: a lambda, a class, a list."""
    if isinstance(value, type):
        what, fix = f"the class {value.__name__}", f"; call it to make a layer, e.g. {value.__name__}(...)"
    elif isinstance(value, (list, tuple)):
        what, fix = f"a {type(value).__name__}", "; pass its modules themselves, e.g. nn.Sequential(*layers)"
    elif callable(value):
        what, fix = f"a {type(value).__name__}", "; wrap it in a Module subclass whose forward calls it"
    else:
        what, fix = f"{type(value).__name__} {value!r}", ""
    return TypeError(f"{where} ({what}) is not a Module subclass instance{fix}")


def _checked_value(where, name, value, target):
    """The array of one state-dict entry, once its type, dtype and shape fit `target`."""
    array = value.data if isinstance(value, Tensor) else value
    if not backend.is_array(array):
        raise TypeError(f"{where}: while copying {name!r}, expected a Tensor or an array from the checkpoint "
                        f"but received {type(value)}")
    if array.dtype.kind not in NUMBER_KINDS:
        raise TypeError(f"{where}: {name!r} holds values of dtype {array.dtype}, expected numbers "
                        f"(for the model's {target.dtype})")
    if tuple(array.shape) != tuple(target.shape):
        raise ValueError(f"{where}: '{name}' has shape {tuple(array.shape)} in the state dict but "
                         f"{tuple(target.shape)} in the model")
    return array


class ModuleList(Module):
    """A list of modules whose parameters are found (named "0", "1", ...)."""

    def __init__(self, modules=()):
        super().__init__()
        if isinstance(modules, Module):
            raise TypeError(f"{type(self).__name__}: expected an iterable of modules, got a single "
                            f"{type(modules).__name__}; pass [module]")
        for module in modules:
            self.append(module)

    def append(self, module):
        if not isinstance(module, Module):
            raise _not_a_module(f"{type(self).__name__}: entry {len(self)}", module)
        setattr(self, str(len(self)), module)
        return self

    def __iter__(self):
        return iter(self.children())

    def __len__(self):
        return len(self.children())

    def __getitem__(self, i):
        return self.children()[i]


class Sequential(ModuleList):
    """Layers applied one after another; they are named "0", "1", ... as in PyTorch
    (or by the keys of one dict given instead: Sequential({"fc": nn.Linear(2, 3), "act": nn.ReLU()}))."""

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], Mapping):
            for name, layer in layers[0].items():
                self.add_module(name, layer)
        else:
            for layer in layers:
                self.append(layer)

    def forward(self, x):
        for layer in self:
            x = layer(x)
        return x
