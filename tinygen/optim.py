"""Optimisers: SGD (with momentum), Adam and RMSprop, with PyTorch's update rules.

An optimiser changes the parameters' arrays in place from their `.grad`, outside the graph.
Its state (momentum buffers, step counts) is kept per parameter and saved with `state_dict()`
as flat named arrays, so a checkpoint can hold it.
"""
from tinygen import backend
from tinygen.autograd import Tensor


class Optimizer:
    defaults = {}  # hyperparameter names and default values of a subclass

    def __init__(self, params, **hyperparameters):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty list of parameters")
        for p in self.params:
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{type(self).__name__}: every parameter must be a tensor that requires grad")
        unknown = set(hyperparameters) - set(self.defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown options {sorted(unknown)}")
        for name, default in self.defaults.items():
            setattr(self, name, hyperparameters.get(name, default))
        self.state = [{} for _ in self.params]  # per parameter: named arrays

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self.update(p.data, p.grad.data, state)

    def update(self, param, grad, state):
        """Change the array `param` in place, given its gradient and its state dict."""
        raise NotImplementedError

    def state_dict(self):
        """Hyperparameters and per-parameter state as flat named values: "lr", "3.exp_avg", ..."""
        out = {name: getattr(self, name) for name in self.defaults if not isinstance(getattr(self, name), tuple)}
        for name in self.defaults:
            if isinstance(getattr(self, name), tuple):
                for k, v in enumerate(getattr(self, name)):
                    out[f"{name}.{k}"] = v
        for i, state in enumerate(self.state):
            for key, value in state.items():
                out[f"{i}.{key}"] = value
        return out

    def load_state_dict(self, state_dict):
        for name, default in self.defaults.items():
            if isinstance(default, tuple):
                setattr(self, name, tuple(_number(state_dict[f"{name}.{k}"]) for k in range(len(default))))
            else:
                setattr(self, name, _number(state_dict[name]))
        self.state = [{} for _ in self.params]
        for key, value in state_dict.items():
            index, _, field = key.partition(".")
            if index.isdigit():
                i = int(index)
                if i >= len(self.params):
                    raise KeyError(f"{type(self).__name__}.load_state_dict: state for parameter {i}, "
                                   f"but the optimiser has {len(self.params)}")
                value = value.data if isinstance(value, Tensor) else value
                if field == "step":
                    self.state[i][field] = int(value)
                else:
                    self.state[i][field] = backend.to_device(value, self.params[i].device).astype(self.params[i].dtype)
        return self


def _number(value):
    return value.item() if hasattr(value, "item") else value


class SGD(Optimizer):
    """p -= lr * v,  with v = momentum * v + g   (g includes weight_decay * p).

    With nesterov=True the step uses g + momentum * v instead of v.
    """

    defaults = {"lr": 1e-2, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}

    def update(self, p, g, state):
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
        p -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba): moving averages of the gradient and its square, bias-corrected.

        m = b1 m + (1 - b1) g          v = b2 v + (1 - b2) g^2
        p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    weight_decay adds weight_decay * p to g (L2, as torch.optim.Adam; not AdamW).
    """

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}

    def update(self, p, g, state):
        xp = backend.get_array_module(p)
        b1, b2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * p
        if "step" not in state:
            state["step"], state["exp_avg"], state["exp_avg_sq"] = 0, xp.zeros_like(p), xp.zeros_like(p)
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        step_size = self.lr / (1 - b1**t)
        denominator = xp.sqrt(v) / ((1 - b2**t) ** 0.5) + self.eps
        p -= step_size * (m / denominator)


class RMSprop(Optimizer):
    """v = alpha v + (1 - alpha) g^2;   p -= lr * g / (sqrt(v) + eps)

    centered=True divides by sqrt(v - mean(g)^2) instead; momentum adds a velocity as in SGD.
    """

    defaults = {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False}

    def update(self, p, g, state):
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
        v += (1 - self.alpha) * g * g
        if self.centered:
            mean_g = state["grad_avg"]
            mean_g *= self.alpha
            mean_g += (1 - self.alpha) * g
            denominator = xp.sqrt(v - mean_g * mean_g) + self.eps
        else:
            denominator = xp.sqrt(v) + self.eps
        if self.momentum:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += g / denominator
            p -= self.lr * buf
        else:
            p -= self.lr * (g / denominator)
