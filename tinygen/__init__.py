"""tinygen: a small autograd engine on NumPy/CuPy, and the generative models built on it."""
from tinygen.allocator import keep_freed_memory

keep_freed_memory()  # see allocator.py: a training step reuses its memory instead of re-faulting it

from tinygen.autograd import Function, Tensor, enable_grad, grad, is_grad_enabled, no_grad, set_grad_enabled
from tinygen.backend import gpu_available, manual_seed
from tinygen.creation import arange, from_numpy, full, ones, ones_like, rand, randint, randn, tensor, zeros, zeros_like
from tinygen.functional import cat, stack
from tinygen import functional, nn, optim
from tinygen.serialization import load, save
from tinygen.threads import get_num_threads, set_num_threads

__version__ = "0.1.0"
