"""The denoising autoencoder's corruptions (Vincent et al. 2008, 2010).

The network is the plain autoencoder (autoencoder.py). It is fed a corrupted image x~ and trained
to give back the clean x:   loss = BCE(decoder(encoder(x~)), x).
Copying its input is then wrong by construction: to undo the noise it has to know what digits
look like. Two corruptions, each a fresh random draw per call (training only: the held-out
images are corrupted once, with a seeded draw, to measure the denoising):

    gaussian:  x~ = clip(x + sigma * eps, 0, 1),  eps ~ N(0, I)           (Keras blog: sigma 0.5)
    masking:   x~ = x * m,  m_i ~ Bernoulli(1 - p)                         (Vincent 2008: p 0.3)

Masking is not dropout: the pixels kept are not scaled by 1 / (1 - p).
"""
from tinygen import backend
from tinygen.autograd import Tensor
from tinygen.functional.checks import check_real, not_a_tensor

NOISES = ("gaussian", "masking")


def _check(op, x, name, value, high):
    if not isinstance(x, Tensor):
        raise not_a_tensor(op, "input", x)
    check_real(op, name, value)
    if not 0 <= value <= high:
        raise ValueError(f"{op}: {name} must be in [0, {high}], got {value}")


def gaussian_noise(x, sigma, generator=None):
    """clip(x + sigma * eps, 0, 1), eps ~ N(0, I): a new image, outside any graph.

    `generator` (a NumPy or CuPy Generator on x's device) gives a seeded draw; by default the
    device's training generator (tinygen.manual_seed) is used."""
    _check("gaussian_noise", x, "sigma", sigma, float("inf"))
    generator = backend.generator(x.device) if generator is None else generator
    eps = generator.standard_normal(x.shape, dtype=x.dtype)
    return Tensor((x.data + x.dtype.type(sigma) * eps).clip(0, 1))


def masking_noise(x, p, generator=None):
    """x * m, each m_i 0 with probability p and 1 otherwise (no rescaling): a new image, outside any graph."""
    _check("masking_noise", x, "p", p, 1)
    generator = backend.generator(x.device) if generator is None else generator
    keep = generator.random(x.shape, dtype=x.dtype) >= p
    return Tensor(x.data * keep)


def corrupt(x, noise, level, generator=None):
    """The corruption named `noise` ('gaussian': level is sigma; 'masking': level is p)."""
    if noise == "gaussian":
        return gaussian_noise(x, level, generator)
    if noise == "masking":
        return masking_noise(x, level, generator)
    raise ValueError(f"corrupt: noise must be one of {', '.join(NOISES)}, got {noise!r}")
