"""Experience replay for a GAN's discriminator: D also sees fakes from G's past.

A generator that collapses often cycles: it draws mostly 1s, D learns to reject 1s, G jumps to
7s, D forgets the 1s and learns to reject 7s, G goes back to 1s... D only ever sees what G draws
now, so it can forget what G drew before. A replay buffer keeps older fakes and shows some of
them to D again, so a mode G left behind stays rejected and G cannot return to it for free
(Shrivastava et al. 2017, SimGAN; Zhu et al. 2017, CycleGAN's image pool of 50).

The rule (CycleGAN's pool):
  - while the buffer is not full, every new fake is stored, and D sees the new fakes as they are;
  - once full, each new fake is, with probability p (`swap_probability`, 0.5 by default), swapped
    for a stored one picked at random: D gets the old fake, the buffer keeps the new one. With
    probability 1 - p D sees the new fake and the buffer is unchanged.
So once full, about a share p of the fakes D sees are old. (Two fakes of one batch that draw the
same slot both get its old image, and the later one is stored: a rare tie, harmless.)

The buffer stores plain arrays, detached from G's graph: no gradient reaches G through a stored
image (D's phase detaches the fakes anyway; G's phase never uses the buffer). It is a Module
with the stored fakes as Buffers, so it goes into the checkpoint and --resume continues with the
same buffer; its random draws come from tinygen's generator, so a seeded run repeats exactly.
"""
import math

from tinygen import nn
from tinygen.autograd import Tensor
from tinygen.creation import rand, randint, zeros
from tinygen.functional.checks import check_int, check_real, not_a_tensor


class ReplayBuffer(nn.Module):
    """buffer(fakes) -> the fakes D should see: the same shape, some of them swapped for older ones."""

    def __init__(self, size, item_shape, swap_probability=0.5):
        super().__init__()
        where = f"ReplayBuffer(size={size})"
        self.size = check_int(where, "size", size, minimum=1)
        if not isinstance(item_shape, (tuple, list)) or not item_shape:
            raise TypeError(f"{where}: item_shape must be the shape of one fake, e.g. (1, 28, 28), got {item_shape!r}")
        self.item_shape = tuple(check_int(where, "item_shape", side, minimum=1) for side in item_shape)
        p = check_real(where, "swap_probability", swap_probability)
        if not 0 <= p <= 1 or math.isnan(p):
            raise ValueError(f"{where}: swap_probability must be in [0, 1], got {swap_probability!r}")
        self.swap_probability = float(p)
        self.images = nn.Buffer(zeros(self.size, *self.item_shape))  # the stored fakes
        self.count = nn.Buffer(zeros((), dtype="int64"))  # how many slots are filled (<= size)

    def forward(self, fakes):
        if not isinstance(fakes, Tensor):
            raise not_a_tensor(f"{self}", "fakes", fakes)
        if fakes.shape[1:] != self.item_shape or fakes.ndim != len(self.item_shape) + 1:
            raise ValueError(f"{self}: expected fakes of shape (N, {', '.join(map(str, self.item_shape))}), "
                             f"got {fakes.shape}")
        new = fakes.detach().data.astype(self.images.dtype, copy=False)
        n, filled = new.shape[0], int(self.count.data)
        if filled < self.size:  # filling: store what fits; D sees this batch unchanged
            take = min(n, self.size - filled)
            self.images.data[filled : filled + take] = new[:take]
            self.count.data[...] = filled + take
            return Tensor(new.copy())
        swap = rand(n, device=fakes.device).data < self.swap_probability  # (N,) bool: which fakes are swapped
        slots = randint(0, self.size, n, device=fakes.device).data[swap]  # a stored fake for each of them
        seen = new.copy()  # a fresh, contiguous array: what D sees
        seen[swap] = self.images.data[slots]  # D gets the old ones...
        self.images.data[slots] = new[swap]  # ...and the buffer keeps the new ones in their place
        return Tensor(seen)

    def extra_repr(self):
        return f"size={self.size}, item_shape={self.item_shape}, swap_probability={self.swap_probability}"
