"""The sparse autoencoder (Ng's CS294A notes): an overcomplete code kept sparse by a penalty.

    x (N, 1, 28, 28) -> flatten 784 -> Linear(784, code) -> Sigmoid -> h (N, code)   the code, in (0, 1)
    h (N, code)      -> Linear(code, 784) -> Sigmoid -> (N, 1, 28, 28)               the plain decoder

With more code units than pixels (code 1000 > 784) and no penalty, the network is free to copy
its input. A sparsity penalty on the code forbids that: each image may use only a few units, so
the units have to become features shared by many images. Two penalties, added to the
reconstruction loss with a weight:

    L1 (an activity penalty):  (1/N) sum_n sum_j |h_nj|           pushes every activation to 0
    KL (Ng's):  sum_j KL(rho || rho_hat_j),  rho_hat_j = (1/N) sum_n h_nj
                KL(rho || q) = rho log(rho / q) + (1 - rho) log((1 - rho) / (1 - q))
                                                                    each unit active a fraction rho
                                                                    of the time, on average
"""
from tinygen import nn
from tinygen.functional.checks import IMAGES, check_int, check_real, check_shape
from tinygen.models.autoencoder import IMAGE_PIXELS, Decoder

KL_CLIP = 1e-6  # rho_hat is kept in [KL_CLIP, 1 - KL_CLIP]: a unit never (or always) on would give log 0


class SparseAutoencoder(nn.Module):
    """784 -> code (sigmoid) -> 784 (sigmoid). The code is sigmoid, not ReLU, so that an activation
    is a firing rate in (0, 1), which the KL penalty needs."""

    def __init__(self, code_size=1000):
        super().__init__()
        self.code_size = check_int("SparseAutoencoder", "code_size", code_size, minimum=1)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(IMAGE_PIXELS, code_size), nn.Sigmoid())
        self.decoder = Decoder(code_size)

    def forward(self, x):
        """The reconstructions (N, 1, 28, 28). Training calls encoder and decoder itself, since its
        penalty needs the code."""
        check_shape("SparseAutoencoder", "images", x, *IMAGES)
        return self.decoder(self.encoder(x))


def _check_codes(op, code):
    if code.ndim != 2:
        raise ValueError(f"{op}: expected codes of shape (N, units), got {code.shape}")


def l1_penalty(code):
    """(1/N) sum_n sum_j |h_nj|: the L1 norm of each image's code, averaged over the batch."""
    _check_codes("l1_penalty", code)
    return code.abs().sum() / code.shape[0]


def kl_sparsity_penalty(code, rho):
    """sum_j KL(rho || rho_hat_j), rho_hat_j the mean activation of unit j over the batch.

    The activations must be firing rates in [0, 1] (sigmoid units): the mean of a ReLU unit can
    exceed 1, where the KL has no meaning; that is refused rather than clipped silently.
    """
    _check_codes("kl_sparsity_penalty", code)
    check_real("kl_sparsity_penalty", "rho", rho)
    if not 0 < rho < 1:
        raise ValueError(f"kl_sparsity_penalty: rho must be in (0, 1), got {rho}")
    rho_hat = code.mean(dim=0)
    low, high = float(rho_hat.data.min()), float(rho_hat.data.max())  # over units, not pixels: cheap
    if low < 0 or high > 1:  # also false for NaN, which the loss's own check reports
        raise ValueError(f"kl_sparsity_penalty: mean activations must be in [0, 1] (sigmoid units), "
                         f"got values in [{low:.4g}, {high:.4g}]")
    rho_hat = rho_hat.clip(KL_CLIP, 1 - KL_CLIP)
    return (rho * (rho / rho_hat).log() + (1 - rho) * ((1 - rho) / (1 - rho_hat)).log()).sum()
