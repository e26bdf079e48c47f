"""Optimisers: SGD (with momentum), Adam and RMSprop, with PyTorch's update rules.

An optimiser changes the parameters' arrays in place from their `.grad`, outside the graph.
Its state (momentum buffers, step counts) is kept per parameter and saved with `state_dict()`
as flat named arrays, so a checkpoint can hold it.
"""
import math
import numbers

from tinygen import backend, threads
from tinygen.autograd import Tensor, enable_grad
from tinygen.nn.module import zero_grads


class Optimizer:
    defaults = {}  # hyperparameter names and default values of a subclass

    def __init__(self, params, **hyperparameters):
        self.params = self._checked_params(params)
        unknown = set(hyperparameters) - set(self.defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown options {sorted(unknown)}")
        values = {key: hyperparameters.get(key, default) for key, default in self.defaults.items()}
        self.check_hyperparameters(values)
        vars(self).update(values)
        self.state = [{} for _ in self.params]  # per parameter: named arrays
        self.work = [None] * len(self.params)  # per parameter: a scratch array, never saved

    def _checked_params(self, params):
        """The parameters as a list: each a leaf Tensor that requires grad, each given once."""
        name = type(self).__name__
        if isinstance(params, Tensor):  # iterating over a tensor would give its rows
            raise TypeError(f"{name}: params must be an iterable of tensors (e.g. model.parameters()), "
                            f"got a single tensor of shape {params.shape}; pass [tensor]")
        if isinstance(params, (set, frozenset, dict)):  # no fixed order: the state dict would not line up
            raise TypeError(f"{name}: params must be an ordered iterable of tensors such as a list or "
                            f"model.parameters(), got a {type(params).__name__}")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty list of parameters")
        first_of = {}  # id of a parameter -> its first position
        for i, p in enumerate(params):
            if isinstance(p, dict):
                raise TypeError(f"{name}: parameter groups (dicts with their own options) are not supported; "
                                f"make one optimiser per group, e.g. {name}(model.encoder.parameters(), lr=1e-3) "
                                f"and {name}(model.decoder.parameters(), lr=1e-4), and step each")
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: every parameter must be a tensor that requires grad, "
                                f"parameter {i} is {type(p).__name__}")
            if not p.requires_grad:
                raise TypeError(f"{name}: every parameter must be a tensor that requires grad, "
                                f"parameter {i} (shape {p.shape}) does not")
            if not p.is_leaf:
                raise ValueError(f"{name}: parameter {i} (shape {p.shape}) was computed by "
                                 f"{type(p.creator).__name__}; an optimiser can only change leaf tensors")
            if id(p) in first_of:  # as PyTorch's "duplicate parameters": it would be stepped twice
                raise ValueError(f"{name}: parameter {i} (shape {p.shape}) is the same tensor as parameter "
                                 f"{first_of[id(p)]}; give each parameter once, or it is stepped twice")
            first_of[id(p)] = i
        return params

    def zero_grad(self, set_to_none=True):
        """Forget the gradients (set_to_none=False: fill them with zeros instead, as PyTorch)."""
        zero_grads(self.params, set_to_none)

    def step(self, closure=None):
        """One update of every parameter that has a gradient. With `closure` (a function that
        computes the loss and its gradients, as PyTorch's), call it first and return its loss.

        Where the parameters hold threads.PARALLEL_ELEMENTS numbers or more, their updates are
        shared out among the free cores in groups of about equal size (tinygen/threads.py): each
        update reads and writes only its own parameter, gradient, state and scratch array, so
        which thread runs it changes no number."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        updated, updates = [], []  # the parameters that have a gradient; (array, gradient, state, scratch) of each
        for i, (p, state) in enumerate(zip(self.params, self.state)):
            if p.grad is None:
                continue
            if p.grad.shape != p.shape:  # a gradient set by hand would broadcast into the update
                raise ValueError(f"{type(self).__name__}.step: parameter {i} has shape {p.shape} but its .grad "
                                 f"has shape {p.grad.shape}")
            if self.work[i] is None or self.work[i].shape != p.shape or backend.device_of(self.work[i]) != p.device:
                self.work[i] = backend.get_array_module(p.data).empty_like(p.data)
            updated.append(p)
            updates.append((p.data, p.grad.data, state, self.work[i]))

        # Each parameter's update is its own, element by element: large sets are shared out among
        # the cores (tinygen/threads.py), and which thread updates a parameter changes no number.
        def update_each(groups):
            for group in groups:
                for update in group:
                    self.update(*update)

        sizes = [p.data.size for p in updated]
        on_cpu = all(p.device == "cpu" for p in updated)
        if on_cpu and sum(sizes) >= threads.PARALLEL_ELEMENTS:
            threads.share_out(update_each, threads.balanced_groups(updates, sizes))
        else:
            update_each([updates])
        for p in updated:
            p._bump_version()  # p changed in place: a graph that saved its old values refuses backward
        return loss

    def update(self, param, grad, state, work):
        """Change the array `param` in place, given its gradient and its state dict.

        It may run on another thread than the caller's, beside other parameters' updates (see
        `step`): it must touch only the arrays and the state it is given.
        `work` is a scratch array of the parameter's shape. The updates write their
        intermediate results into it (out=...) instead of making new arrays: for arrays of this
        size NumPy spends more time getting fresh memory than computing.
        """
        raise NotImplementedError

    # --- the hyperparameters' rules (PyTorch's), checked at construction and at loading ----------
    def check_hyperparameters(self, values):
        """Raise ValueError (TypeError for a wrong type) for a hyperparameter outside its range.

        `values` maps each name of `defaults` to its value (a pair may become a tuple here)."""
        raise NotImplementedError

    def state_fields(self, values):
        """The names of what a parameter's state holds once it has been stepped, given the
        hyperparameters `values`."""
        raise NotImplementedError

    def _at_least_zero(self, values, key):
        value = self._number(values, key)
        if not value >= 0:  # NaN fails too
            raise ValueError(f"{type(self).__name__}: {key} must be >= 0, got {value}")
        if not math.isfinite(value):
            raise ValueError(f"{type(self).__name__}: {key} must be finite, got {value}")

    def _number(self, values, key):
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{type(self).__name__}: {key} must be a number, got {value!r}")
        return value

    def _flag(self, values, key):
        if not isinstance(values[key], bool):
            raise TypeError(f"{type(self).__name__}: {key} must be True or False, got {values[key]!r}")

    # --- saving and loading -----------------------------------------------------------------
    def state_dict(self):
        """Hyperparameters and per-parameter state as flat named values: "lr", "3.exp_avg", ...

        "optimizer" holds the optimiser's name and "param_count" its number of parameters, so
        that loading can refuse a state of another optimiser.
        """
        out = {"optimizer": type(self).__name__, "param_count": len(self.params)}
        for name in self.defaults:
            if isinstance(getattr(self, name), tuple):
                for k, v in enumerate(getattr(self, name)):
                    out[f"{name}.{k}"] = v
            else:
                out[name] = getattr(self, name)
        for i, state in enumerate(self.state):
            for key, value in state.items():
                out[f"{i}.{key}"] = value
        return out

    def load_state_dict(self, state_dict):
        """Take the hyperparameters and state of `state_dict` (from state_dict(), maybe via a file).

        Everything is checked before anything changes: a state of another optimiser, of another
        number of parameters or of other shapes is refused whole, never half loaded. (State dicts
        saved before "optimizer" and "param_count" were stored still load.)
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{where}: expected a dict (from optimizer.state_dict()), got {type(state_dict).__name__}")
        saved_type = state_dict.get("optimizer")
        if saved_type is not None and str(saved_type) != type(self).__name__:
            raise ValueError(f"{where}: the state dict was saved by {saved_type}, not {type(self).__name__}")
        hyperparameters = self._hyperparameters_from(state_dict, where)
        self.check_hyperparameters(hyperparameters)
        state = self._state_from(state_dict, hyperparameters, where)
        vars(self).update(hyperparameters)
        self.state = state
        return self

    def _hyperparameters_from(self, state_dict, where):
        needed = set()  # "lr", "betas.0", "betas.1", ...
        for name, default in self.defaults.items():
            if isinstance(default, tuple):
                needed.update(f"{name}.{k}" for k in range(len(default)))
            else:
                needed.add(name)
        own = {key for key in state_dict if not key.partition(".")[0].isdigit()}  # not per-parameter
        missing = sorted(needed - own)
        unexpected = sorted(own - needed - {"optimizer", "param_count"})
        if missing or unexpected:
            raise ValueError(f"{where}: the state dict does not fit {type(self).__name__}: missing hyperparameters "
                             f"{missing}, unexpected keys {unexpected}")
        values = {}
        for name, default in self.defaults.items():
            if isinstance(default, tuple):
                values[name] = tuple(_number(state_dict[f"{name}.{k}"]) for k in range(len(default)))
            else:
                values[name] = _number(state_dict[name])
        return values

    def _state_from(self, state_dict, hyperparameters, where):
        count = len(self.params)
        if "param_count" in state_dict and _number(state_dict["param_count"]) != count:
            raise ValueError(f"{where}: the state dict's parameter count is {_number(state_dict['param_count'])}, "
                             f"this optimiser's is {count}")
        fields = self.state_fields(hyperparameters)
        state = [{} for _ in self.params]
        for key, value in state_dict.items():
            index, _, field = key.partition(".")
            if not index.isdigit():
                continue
            i = int(index)
            if i >= count:
                raise ValueError(f"{where}: state for parameter {i}, but the optimiser has {count}")
            if field not in fields:
                raise ValueError(f"{where}: unknown state {field!r} for parameter {i}; "
                               f"{type(self).__name__} with these options keeps {sorted(fields)}")
            value = value.data if isinstance(value, Tensor) else value
            if field == "step":
                step = _number(value)
                if isinstance(step, bool) or not float(step).is_integer() or step < 1:
                    raise ValueError(f"{where}: parameter {i}'s step must be a whole number >= 1, got {step}")
                state[i][field] = int(step)
                continue
            param = self.params[i]
            if not backend.is_array(value) or tuple(value.shape) != tuple(param.shape):
                shape = tuple(value.shape) if backend.is_array(value) else type(value).__name__
                raise ValueError(f"{where}: parameter {i} has shape {tuple(param.shape)} but its state "
                                 f"{field!r} has shape {shape}")
            array = backend.to_device(value, param.device).astype(param.dtype)  # a copy of its own
            if not bool(backend.get_array_module(array).isfinite(array).all()):
                raise ValueError(f"{where}: parameter {i}'s state {field!r} holds NaN or inf values")
            state[i][field] = array
        for i, fields_of_i in enumerate(state):
            if fields_of_i and set(fields_of_i) != fields:
                raise ValueError(f"{where}: parameter {i}'s state has {sorted(fields_of_i)}, "
                               f"{type(self).__name__} with these options needs {sorted(fields)}")
        return state


# Subnormal numbers. A moving average of a gradient that stays at zero (the weights of a pixel that
# is always black, a ReLU unit that never fires) decays geometrically: Adam's m shrinks by b1 each
# step until it passes below float32's smallest normal number, 1.2e-38, into the subnormal range,
# where it lingers for some 150 steps before reaching 0. x86 processors do arithmetic on
# subnormal numbers many times slower than on others: measured here, an Adam step over 784,000
# weights took 2.1 ms, and 8.2 ms with 30% of its m subnormal. A denoising autoencoder's epochs
# took twice as long from the second epoch on, for that alone. (PyTorch's CPU kernels hit the
# same: torch.set_flush_denormal(True) sets the processor to flush them, which NumPy cannot ask.)
# So every FLUSH_EVERY steps, Adam sets to 0 the moments smaller than TOO_SMALL times the smallest
# normal number: they are zero for every purpose (m of 2e-31 moves a weight by lr * 2e-31 / eps,
# 2e-26 at most), and from there m takes 158 steps (b1 0.9) or 24 (b1 0.5) to turn subnormal, so it
# is caught first. A step that flushes costs a pass over the moments (0.5 ms for 784,000).
FLUSH_EVERY = 16
TOO_SMALL = 2.0 ** 24


def flush_subnormals(x, work):
    """Set to 0, in place, the entries of the float array x smaller in size than TOO_SMALL times its
    dtype's smallest normal number (2.0e-31 in float32, 3.7e-301 in float64); work: scratch of x's shape."""
    xp = backend.get_array_module(x)
    xp.abs(x, out=work)
    xp.greater_equal(work, TOO_SMALL * xp.finfo(x.dtype).tiny, out=work)  # 1 to keep, 0 to flush
    x *= work


def _number(value):
    """A Python number from a number, a 0-d array or a one-element tensor (as a file gives them)."""
    value = value.data if isinstance(value, Tensor) else value
    return value.item() if hasattr(value, "item") else value


class SGD(Optimizer):
    """p -= lr * v,  with v = momentum * v + g   (g includes weight_decay * p).

    With nesterov=True the step uses g + momentum * v instead of v.
    """

    defaults = {"lr": 1e-2, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}

    def check_hyperparameters(self, values):
        for key in ("lr", "momentum", "weight_decay"):
            self._at_least_zero(values, key)
        dampening = self._number(values, "dampening")
        if not 0 <= dampening <= 1:  # NaN fails too; outside [0, 1] (1 - dampening) g shrinks or flips g
            raise ValueError(f"SGD: dampening must be in [0, 1], got {dampening}")
        self._flag(values, "nesterov")
        if values["nesterov"] and (values["momentum"] <= 0 or values["dampening"] != 0):
            raise ValueError(f"SGD: nesterov needs momentum > 0 and dampening 0, got momentum "
                             f"{values['momentum']} and dampening {values['dampening']}")

    def state_fields(self, values):
        return {"momentum_buffer"} if values["momentum"] else set()

    def update(self, p, g, state, work):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.copy()
            else:
                v = state["momentum_buffer"]
                v *= self.momentum
                v += (1 - self.dampening) * g
            v = state["momentum_buffer"]
            g = g + self.momentum * v if self.nesterov else v
        backend.get_array_module(p).multiply(g, self.lr, out=work)
        p -= work


class Adam(Optimizer):
    """Adam (Kingma & Ba): moving averages of the gradient and its square, bias-corrected.

        m = b1 m + (1 - b1) g          v = b2 v + (1 - b2) g^2
        p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    weight_decay adds weight_decay * p to g (L2, as torch.optim.Adam; not AdamW).
    """

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}

    def check_hyperparameters(self, values):
        for key in ("lr", "eps", "weight_decay"):
            self._at_least_zero(values, key)
        betas = values["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        values["betas"] = tuple(betas)
        for k, beta in enumerate(betas):
            if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
                raise TypeError(f"Adam: betas[{k}] must be a number, got {beta!r}")
            if not 0 <= beta < 1:
                raise ValueError(f"Adam: betas[{k}] must be in [0, 1), got {beta}")

    def state_fields(self, values):
        return {"step", "exp_avg", "exp_avg_sq"}

    def update(self, p, g, state, work):
        xp = backend.get_array_module(p)
        b1, b2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * p
        if "step" not in state:
            state["step"], state["exp_avg"], state["exp_avg_sq"] = 0, xp.zeros_like(p), xp.zeros_like(p)
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        xp.multiply(m, b1, out=m)  # m = b1 m + (1 - b1) g
        xp.multiply(g, 1 - b1, out=work)
        m += work
        xp.multiply(v, b2, out=v)  # v = b2 v + (1 - b2) g^2
        xp.multiply(g, g, out=work)
        work *= 1 - b2
        v += work
        if t % FLUSH_EVERY == 0:  # moments decaying towards 0 are set to it before they turn subnormal
            flush_subnormals(m, work)
            flush_subnormals(v, work)
        # p -= lr m_hat / (sqrt(v_hat) + eps), with m_hat = m / (1 - b1^t) and v_hat = v / (1 - b2^t);
        # multiplied through by sqrt(1 - b2^t), which saves a pass over v:
        #   p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps sqrt(1 - b2^t))
        root_of_correction2 = (1 - b2**t) ** 0.5
        xp.sqrt(v, out=work)
        work += self.eps * root_of_correction2
        xp.divide(m, work, out=work)
        work *= self.lr * root_of_correction2 / (1 - b1**t)
        p -= work


class RMSprop(Optimizer):
    """v = alpha v + (1 - alpha) g^2;   p -= lr * g / (sqrt(v) + eps)

    centered=True divides by sqrt(v - mean(g)^2) instead; momentum adds a velocity as in SGD.
    """

    defaults = {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False}

    def check_hyperparameters(self, values):
        for key in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            self._at_least_zero(values, key)
        self._flag(values, "centered")

    def state_fields(self, values):
        return {"square_avg"} | ({"grad_avg"} if values["centered"] else set()) | (
            {"momentum_buffer"} if values["momentum"] else set())

    def update(self, p, g, state, work):
        xp = backend.get_array_module(p)
        if self.weight_decay:
            g = g + self.weight_decay * p
        if "square_avg" not in state:
            state["square_avg"] = xp.zeros_like(p)
            if self.centered:
                state["grad_avg"] = xp.zeros_like(p)
            if self.momentum:
                state["momentum_buffer"] = xp.zeros_like(p)
        v = state["square_avg"]
        v *= self.alpha
        xp.multiply(g, g, out=work)
        work *= 1 - self.alpha
        v += work
        if self.centered:
            mean_g = state["grad_avg"]
            mean_g *= self.alpha
            mean_g += (1 - self.alpha) * g
            xp.multiply(mean_g, mean_g, out=work)
            xp.subtract(v, work, out=work)
            xp.sqrt(work, out=work)
        else:
            xp.sqrt(v, out=work)
        work += self.eps
        xp.divide(g, work, out=work)  # g / denominator
        if self.momentum:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += work
            xp.multiply(buf, self.lr, out=work)
        else:
            work *= self.lr
        p -= work
