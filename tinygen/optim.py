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
        self.work = [None] * len(self.params)  # per parameter: a scratch array, never saved

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for i, (p, state) in enumerate(zip(self.params, self.state)):
            if p.grad is None:
                continue
            if self.work[i] is None or self.work[i].shape != p.shape or backend.device_of(self.work[i]) != p.device:
                self.work[i] = backend.get_array_module(p.data).empty_like(p.data)
            self.update(p.data, p.grad.data, state, self.work[i])

    def update(self, param, grad, state, work):
        """Change the array `param` in place, given its gradient and its state dict.

        `work` is a scratch array of the parameter's shape. The updates write their
        intermediate results into it (out=...) instead of making new arrays: for arrays of this
        size NumPy spends more time getting fresh memory than computing.
        """
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
