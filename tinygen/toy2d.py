"""Two-dimensional mixtures of Gaussians: a playground where a GAN's mode collapse shows in seconds.

The two standard data sets of the mode-collapse literature (Metz et al. 2017, unrolled GANs;
Srivastava et al. 2017, VEEGAN):

    ring   8 Gaussians, centres on a circle of radius 2 at angles k * 45 degrees, std 0.02
    grid   25 Gaussians, centres at {-4, -2, 0, 2, 4} x {-4, -2, 0, 2, 4}, std 0.05

Each mode is equally likely. A generator that has collapsed puts its samples on one or a few of
the modes, or sweeps from one to the next as training goes on; the numbers that show it:

    modes covered        how many modes hold at least 1% of the samples within 3 standard
                         deviations of their centre
    high-quality share   the share of samples within 3 standard deviations of ANY centre
                         (a generator that smears its samples between the modes scores low)
    spread               the samples' standard deviation, averaged over x and y: the data's is
                         1.41 (ring) and 2.83 (grid); a collapsed generator's is far smaller,
                         one that spreads out but misses the modes' centres has about the data's
"""
import math

from tinygen import backend
from tinygen.autograd import Tensor
from tinygen.creation import randint, randn

MIXTURES = ("ring", "grid")
COVERED_SHARE = 0.01  # a mode counts as covered with at least 1% of the samples near it
NEAR = 3.0  # "near a centre": within 3 standard deviations


def centres(name, device="cpu"):
    """The mixture's centres as a float32 array (K, 2) on `device`, and its standard deviation."""
    xp = backend.module_for(device)
    if name == "ring":
        angles = xp.arange(8) * (2 * math.pi / 8)
        return (2 * xp.stack([xp.cos(angles), xp.sin(angles)], axis=1)).astype(xp.float32), 0.02
    if name == "grid":
        sides = xp.arange(-4, 5, 2, dtype=xp.float32)
        return xp.stack(xp.meshgrid(sides, sides, indexing="ij"), axis=2).reshape(-1, 2), 0.05
    raise ValueError(f"toy2d: unknown mixture {name!r}; choose one of {', '.join(MIXTURES)}")


def sample(name, n, device="cpu"):
    """n points of the mixture as a float32 Tensor (n, 2): a random centre each, plus N(0, std^2) noise.

    The draws come from tinygen's random generator (tinygen.manual_seed repeats them)."""
    points, std = centres(name, device)
    picked = points[randint(0, len(points), n, device=device).data]
    return Tensor(picked + std * randn(n, 2, device=device).data)


def mode_counts(samples, name):
    """How many of the samples (N, 2) (an array on the host) lie within 3 std of each centre: int64 (K,)."""
    xp = backend.module_for("cpu")
    points, std = centres(name)
    samples = xp.asarray(samples, dtype=xp.float64).reshape(-1, 2)
    distances = xp.linalg.norm(samples[:, None, :] - points[None, :, :], axis=2)  # (N, K)
    nearest = distances.argmin(axis=1)
    near = distances[xp.arange(len(samples)), nearest] <= NEAR * std  # (N,): near its closest centre
    return xp.bincount(nearest[near], minlength=len(points)).astype(xp.int64)


def mode_metrics(samples, name):
    """The modes covered (of K), the high-quality share and the spread of samples (N, 2), with the
    counts per mode."""
    samples = backend.module_for("cpu").asarray(samples)
    if samples.ndim != 2 or samples.shape[1] != 2 or len(samples) == 0:
        raise ValueError(f"toy2d.mode_metrics: expected samples of shape (N, 2), got {samples.shape}")
    if not backend.module_for("cpu").isfinite(samples).all():
        raise ValueError("toy2d.mode_metrics: the samples hold NaN or infinity")
    counts = mode_counts(samples, name)
    return {
        "modes_covered": int((counts >= COVERED_SHARE * len(samples)).sum()),
        "modes": len(counts),
        "high_quality_share": float(counts.sum() / len(samples)),
        "spread": float(samples.std(axis=0).mean()),
        "samples_per_mode": counts.tolist(),
    }
