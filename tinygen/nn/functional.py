"""`import tinygen.nn.functional as F`: the differentiable ops of tinygen.functional."""
from tinygen.functional import *  # noqa: F401,F403
