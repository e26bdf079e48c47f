"""The training steps that the benchmark times, written once for tinygen and once for PyTorch.

Both libraries build the same architecture (tinygen's from tinygen.models, PyTorch's twin here)
and run the step the examples run: for a GAN, D on real and fake then G through a frozen D; for
the VAE, one step of the negative ELBO. The data is random: speed does not depend on it.
"""
import importlib
import importlib.metadata
import importlib.util
import time

import numpy as np

LATENT = {"vanilla_gan": 100, "dcgan": 100, "vae": 20}


def import_library(library):
    return importlib.import_module(library)


def torch_available():
    """Whether PyTorch is installed (found without importing it)."""
    return importlib.util.find_spec("torch") is not None


def torch_version():
    return importlib.metadata.version("torch")


def set_threads(library, n):
    """NumPy's BLAS takes its thread count from the environment at import; PyTorch is told here."""
    if library == "torch":
        import_library("torch").set_num_threads(n)


def thread_policy(library):
    """The threads this library's matrix products run on, in words (the benchmark prints it)."""
    if library == "torch":
        return f"torch.set_num_threads({import_library('torch').get_num_threads()})"
    from tinygen import threads
    return threads.describe()


def synchronizer(library, device):
    """A function that waits for the device to finish queued work (a no-op on the CPU)."""
    if device == "cpu":
        return lambda: None
    if library == "torch":
        return import_library("torch").cuda.synchronize
    from tinygen import backend

    return backend.cupy.cuda.Device().synchronize


def real_images(model, batch):
    rng = np.random.default_rng(0)
    shape = (batch, 1, 28, 28) if model == "dcgan" else (batch, 784)
    images = rng.random(shape, dtype=np.float32)
    return images if model == "vae" else images * 2 - 1


def make_step(library, model, batch, device="cpu"):
    return (_tinygen_step if library == "tinygen" else _torch_step)(model, batch, device)


# ---------------------------------------------------------------------------------------------
# tinygen


def _tinygen_step(model, batch, device):
    import tinygen
    from tinygen import models, optim
    from tinygen.models.vae import vae_loss
    import tinygen.nn.functional as F

    tinygen.manual_seed(0)
    x = tinygen.Tensor(real_images(model, batch), device=device)
    if model == "vae":
        vae = models.VAE(LATENT["vae"]).to(device)
        opt = optim.Adam(vae.parameters(), lr=1e-3)

        def step():
            reconstruction, mu, logvar = vae(x)
            loss, _, _ = vae_loss(reconstruction, x, mu, logvar)
            opt.zero_grad()
            loss.backward()
            opt.step()

        return step

    G, D = (models.Generator(), models.Discriminator()) if model == "vanilla_gan" else \
        (models.DCGANGenerator(), models.DCGANDiscriminator())
    return _gan_step(tinygen, F, optim, G.to(device), D.to(device), x, LATENT[model], device)


def _gan_step(lib, F, optim, G, D, x, latent, device):
    """The examples' GAN step, written once for both: `lib` is tinygen or torch, whose names agree."""
    batch = x.shape[0]
    opt_G = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones, zeros = lib.ones(batch, 1, device=device), lib.zeros(batch, 1, device=device)

    def step():
        fake = G(lib.randn(batch, latent, device=device))
        d_loss = F.binary_cross_entropy(D(x), ones) + F.binary_cross_entropy(D(fake.detach()), zeros)
        opt_D.zero_grad()
        d_loss.backward()
        opt_D.step()
        D.requires_grad_(False)
        g_loss = F.binary_cross_entropy(D(fake), ones)
        opt_G.zero_grad()
        g_loss.backward()
        opt_G.step()
        D.requires_grad_(True)

    return step


# ---------------------------------------------------------------------------------------------
# PyTorch: the same architectures


def _torch_models(model):
    import torch.nn as nn

    if model == "vanilla_gan":
        G = nn.Sequential(
            nn.Linear(100, 128), nn.LeakyReLU(0.2),
            nn.Linear(128, 256), nn.BatchNorm1d(256), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.BatchNorm1d(512), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.2),
            nn.Linear(1024, 784), nn.Tanh())
        D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2),
                          nn.Linear(256, 1), nn.Sigmoid())
        return G, D
    G = nn.Sequential(
        nn.Unflatten(1, (100, 1, 1)),
        nn.ConvTranspose2d(100, 128, 7, bias=False), nn.BatchNorm2d(128), nn.ReLU(),  # no bias before a BatchNorm,
        nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),  # as tinygen's DCGAN
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 1, 7), nn.Sigmoid(), nn.Flatten())
    return G, D


class _TorchVAE:
    def __init__(self, device):
        import torch.nn as nn

        self.encoder = nn.Sequential(nn.Linear(784, 400), nn.ReLU()).to(device)
        self.to_mu, self.to_logvar = nn.Linear(400, 20).to(device), nn.Linear(400, 20).to(device)
        self.decoder = nn.Sequential(nn.Linear(20, 400), nn.ReLU(), nn.Linear(400, 784), nn.Sigmoid()).to(device)

    def parameters(self):
        return [p for m in (self.encoder, self.to_mu, self.to_logvar, self.decoder) for p in m.parameters()]

    def loss(self, x):
        import torch
        import torch.nn.functional as F

        h = self.encoder(x)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        bce = F.binary_cross_entropy(self.decoder(z), x, reduction="sum")
        return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def _torch_step(model, batch, device):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    x = torch.tensor(real_images(model, batch), device=device)
    if model == "vae":
        vae = _TorchVAE(device)
        opt = torch.optim.Adam(vae.parameters(), lr=1e-3)

        def step():
            loss = vae.loss(x)
            opt.zero_grad()
            loss.backward()
            opt.step()

        return step

    G, D = (m.to(device) for m in _torch_models(model))
    return _gan_step(torch, F, torch.optim, G, D, x, LATENT[model], device)


# ---------------------------------------------------------------------------------------------
# The floor: the step's matrix products alone, at NumPy's speed


def gemm_shapes(model, batch):
    """(m, k, n) of every matrix product one tinygen step performs, recorded while it runs."""
    from tinygen.functional.matmul import Linear, MatMul, Tensordot

    shapes = []
    originals = (MatMul.forward, Tensordot.forward, Linear.forward)

    def matmul_forward(self, a, b):
        for _ in range(int(np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2])))):
            shapes.append((a.shape[-2], a.shape[-1], b.shape[-1]))
        return originals[0](self, a, b)

    def tensordot_forward(self, a, b):
        k = int(np.prod([a.shape[i] for i in self.axes_a]))
        shapes.append((a.size // k, k, b.size // k))
        return originals[1](self, a, b)

    def linear_forward(self, x, weight, bias=None):
        shapes.append((x.shape[0], x.shape[1], weight.shape[0]))
        return originals[2](self, x, weight, bias)

    step = make_step("tinygen", model, batch)
    MatMul.forward, Tensordot.forward, Linear.forward = matmul_forward, tensordot_forward, linear_forward
    try:
        step()
    finally:
        MatMul.forward, Tensordot.forward, Linear.forward = originals
    return shapes


def gemm_floor(model, batch, repeats=7):
    """(milliseconds, GFLOP): NumPy's time for the step's GEMMs on contiguous float32 operands."""
    shapes = gemm_shapes(model, batch)
    rng = np.random.default_rng(0)
    operands = [(rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)) for m, k, n in shapes]
    for a, b in operands:  # warm up
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for a, b in operands:
            a @ b
        times.append(time.perf_counter() - start)
    flops = sum(2 * m * k * n for m, k, n in shapes)
    return 1000 * float(np.median(times)), flops / 1e9
