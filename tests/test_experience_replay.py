"""Experience replay (tinygen/models/experience_replay.py): the buffer never exceeds its size, once
full about the chosen share of what D sees is old, and no gradient reaches G through it.

Each fake here is an image filled with one number, its serial number, so that what the buffer
returns and stores can be traced: a returned fake whose number is not in the batch just pushed
is an old one."""
import numpy as np
import pytest

import tinygen as tg
from tinygen import nn
from tinygen.models.experience_replay import ReplayBuffer


def numbered(start, n, shape=(1, 2, 2)):
    """n fakes of `shape`, fake k filled with the number start + k."""
    ids = np.arange(start, start + n, dtype=np.float32)
    return tg.tensor(np.broadcast_to(ids.reshape(-1, *([1] * len(shape))), (n, *shape)).copy())


def ids(images):
    array = images.numpy() if isinstance(images, tg.Tensor) else images
    return array.reshape(len(array), -1)[:, 0].astype(int)


def test_it_fills_first_and_never_exceeds_its_size():
    tg.manual_seed(0)
    buffer = ReplayBuffer(size=10, item_shape=(1, 2, 2))
    pushed = set()
    for step in range(30):
        batch = numbered(4 * step, 4)
        seen = buffer(batch)
        pushed.update(ids(batch))
        filled = int(buffer.count.data)
        assert filled == min(4 * (step + 1), 10) and buffer.images.shape == (10, 1, 2, 2)
        stored = ids(buffer.images.data[:filled])
        assert set(stored) <= pushed and len(set(stored)) == filled  # only pushed fakes, each once
        if 4 * (step + 1) <= 10:  # still filling: D sees the batch as it is
            np.testing.assert_array_equal(seen.numpy(), batch.numpy())


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_once_full_about_the_chosen_share_of_what_D_sees_is_old(p):
    tg.manual_seed(1)
    buffer = ReplayBuffer(size=50, item_shape=(1, 2, 2), swap_probability=p)
    buffer(numbered(0, 50))  # full
    old = total = 0
    for step in range(1, 201):
        batch = numbered(1000 * step, 64)
        seen = ids(buffer(batch))
        is_old = ~np.isin(seen, ids(batch))
        assert (seen[is_old] < 1000 * step).all()  # an old fake comes from an earlier batch
        old, total = old + is_old.sum(), total + len(seen)
        assert np.isin(ids(buffer.images.data), ids(batch)).sum() >= 1  # the swapped-in new fakes are stored
    # 12,800 fakes: the share's standard error is at most 0.0045; allow 4 of them
    assert abs(old / total - p) < 0.018, old / total


def test_no_gradient_reaches_G_through_the_buffer():
    tg.manual_seed(2)
    G, D = nn.Linear(3, 4), nn.Linear(4, 1)
    buffer = ReplayBuffer(size=4, item_shape=(4,), swap_probability=1.0)
    filling = buffer(G(tg.randn(4, 3)))  # full of G's fakes; D sees this batch as it is, cut from G's graph
    assert not filling.requires_grad and filling.creator is None
    fakes = G(tg.randn(8, 3))
    seen = buffer(fakes)
    assert not seen.requires_grad and seen.creator is None
    D(seen).sum().backward()
    assert all(p.grad is None for p in G.parameters()) and D.weight.grad is not None
    stored = buffer.images.data.copy()
    fakes.data[...] = 123.0  # what G's tensors hold later does not reach the stored copies
    np.testing.assert_array_equal(buffer.images.data, stored)


def test_swap_probability_zero_and_one():
    tg.manual_seed(3)
    never, always = (ReplayBuffer(size=8, item_shape=(1, 2, 2), swap_probability=p) for p in (0.0, 1.0))
    for buffer in (never, always):
        buffer(numbered(0, 8))
    batch = numbered(100, 8)
    np.testing.assert_array_equal(never(batch).numpy(), batch.numpy())
    assert (ids(always(batch)) < 100).all()  # every fake swapped for an old one


def test_it_goes_into_a_checkpoint_and_comes_back():
    tg.manual_seed(4)
    buffer = ReplayBuffer(size=6, item_shape=(1, 2, 2))
    buffer(numbered(0, 4))
    copy = ReplayBuffer(size=6, item_shape=(1, 2, 2))
    copy.load_state_dict({name: t.numpy() for name, t in buffer.state_dict().items()})
    assert sorted(buffer.state_dict()) == ["count", "images"]
    np.testing.assert_array_equal(copy.images.data, buffer.images.data)
    assert int(copy.count.data) == 4


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"ReplayBuffer\(size=0\): size must be >= 1, got 0"):
        ReplayBuffer(0, (1, 28, 28))
    with pytest.raises(ValueError, match=r"swap_probability must be in \[0, 1\], got 1.5"):
        ReplayBuffer(50, (1, 28, 28), swap_probability=1.5)
    with pytest.raises(TypeError, match=r"item_shape must be the shape of one fake, e.g. \(1, 28, 28\), got 784"):
        ReplayBuffer(50, 784)
    with pytest.raises(ValueError, match=r"ReplayBuffer\(size=50, item_shape=\(1, 28, 28\), swap_probability=0.5\): "
                                         r"expected fakes of shape \(N, 1, 28, 28\), got \(4, 784\)"):
        ReplayBuffer(50, (1, 28, 28))(tg.zeros(4, 784))


def test_every_slot_takes_part_in_the_swaps():
    """Once full, the swaps pick slots uniformly from all `size` of them: after enough swaps every
    stored fake has been replaced by a newer one, the last slot included (an off-by-one in the
    draw would leave one old fake there for ever)."""
    tg.manual_seed(5)
    buffer = ReplayBuffer(size=8, item_shape=(1, 2, 2), swap_probability=1.0)
    buffer(numbered(0, 8))
    for step in range(1, 21):
        buffer(numbered(100 * step, 4))  # 80 swaps into 8 slots: each slot missed by all, (7/8)^80 ~ 2e-5
    assert (ids(buffer.images.data) >= 100).all()
