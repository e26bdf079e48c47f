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
    def train(self, mode=True):
        """Training mode: BatchNorm uses batch statistics, Dropout drops."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        """Evaluation mode: BatchNorm uses its running statistics, Dropout passes through."""
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze the parameters, e.g. D while G trains through it."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, device):
        """Move every parameter and buffer to `device` ('cpu', 'cuda' or 'cuda:0'), in place."""
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

    def load_state_dict(self, state_dict):
        """Copy values into the parameters and buffers, checking names, types and shapes.

        Everything is checked before anything is copied, so a refused state dict leaves the model
        as it was. The arrays are copied in place, so an optimiser holding these parameters keeps them.
        """
        where = f"load_state_dict for {type(self).__name__}"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{where}: expected a dict of tensors (model.state_dict(), or a part of tinygen.load's "
                            f"result), got {type(state_dict)}")
        own = self.state_dict()
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        if missing or unexpected:
            raise KeyError(f"{where}: missing keys {missing}, unexpected keys {unexpected}")
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
        for module in modules:
            self.append(module)

    def append(self, module):
        setattr(self, str(len(self)), module)
        return self

    def __iter__(self):
        return iter(self.children())

    def __len__(self):
        return len(self.children())

    def __getitem__(self, i):
        return self.children()[i]


class Sequential(ModuleList):
    """Layers applied one after another; they are named "0", "1", ... as in PyTorch."""

    def __init__(self, *layers):
        super().__init__(layers)

    def forward(self, x):
        for layer in self:
            x = layer(x)
        return x
