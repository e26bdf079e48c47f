"""The layers that let D see the batch (tinygen/nn/minibatch.py): gradients, PyTorch formulations,
and what defines them: a sample's output depends on the OTHER samples, and never on its own
distance to itself."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn
from tinygen.gradcheck import gradcheck

from strategies import leaf, medium, normal_arrays
from test_gradcheck_layers import to_float64


def mbd(a=6, b=4, c=3, seed=0):
    tg.manual_seed(seed)
    return to_float64(nn.MinibatchDiscrimination(a, b, c))


# ---------------------------------------------------------------------------------------------
# Gradients


@medium
@given(st.data(), st.integers(1, 5), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3))
def test_minibatch_discrimination_gradcheck(data, n, a, b, c):
    layer = mbd(a, b, c, seed=data.draw(st.integers(0, 1000)))
    layer.T.data *= 10  # distances of order 1: exp(-L1) neither 1 nor 0, every term of the gradient alive
    x = leaf(data.draw(normal_arrays((n, a))))
    assert gradcheck(lambda *_: layer(x), [x, layer.T])


@medium
@given(st.data(), st.sampled_from([(2, 2), (6, 3), (8, 4), (3, 4)]), st.booleans())
def test_minibatch_stddev_gradcheck(data, batch_and_group, images):
    n, group = batch_and_group
    shape = (n, 2, 3, 2) if images else (n, 3)
    x = leaf(data.draw(normal_arrays(shape)))
    layer = nn.MinibatchStdDev(group_size=group)  # (3, 4): one group of the whole batch
    assert gradcheck(lambda *_: layer(x), [x])


# ---------------------------------------------------------------------------------------------
# The PyTorch formulations


def test_minibatch_discrimination_matches_the_usual_pytorch_formulation():
    """The formulation of the PyTorch ports (T (A, B, C); exp of minus the L1 norm, summed over the
    batch, minus the self term 1, divided by N - 1 with their `mean` option), on the same weights
    and inputs."""
    torch = pytest.importorskip("torch")
    layer, x = mbd(5, 4, 3), np.random.default_rng(1).standard_normal((7, 5))
    layer.T.data *= 5
    T, tx = torch.tensor(layer.T.data).reshape(5, 4, 3), torch.tensor(x)
    matrices = tx.mm(T.view(5, -1)).view(-1, 4, 3)
    norm = (matrices.unsqueeze(0) - matrices.unsqueeze(1)).abs().sum(3)
    expected = torch.cat([tx, (torch.exp(-norm).sum(0) - 1) / (7 - 1)], 1)
    np.testing.assert_allclose(layer(tg.tensor(x)).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


def test_minibatch_stddev_matches_the_stylegan2_pytorch_formulation():
    """StyleGAN2-ADA's MinibatchStdLayer with one channel group: y.reshape(G, -1, F, c, H, W), minus
    the group mean, mean square, sqrt(+1e-8), mean over c, H, W, tiled over the group."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((8, 3, 4, 4))
    tx, group = torch.tensor(x), 4
    y = tx.reshape(group, -1, 1, 3, 4, 4)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, 1, 1, 1)
    expected = torch.cat([tx, y.repeat(group, 1, 4, 4)], dim=1)
    ours = nn.MinibatchStdDev(group_size=group)(tg.tensor(x)).numpy()
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# What defines them


def test_a_sample_output_changes_when_another_member_of_its_batch_changes():
    layer, x = mbd(), np.random.default_rng(3).standard_normal((5, 6))
    changed = x.copy()
    changed[4] += 0.5  # only sample 4
    before, after = layer(tg.tensor(x)).numpy(), layer(tg.tensor(changed)).numpy()
    assert (np.abs(after[0, 6:] - before[0, 6:]) > 1e-6).all()  # sample 0's closeness features moved
    np.testing.assert_array_equal(after[0, :6], before[0, :6])  # its own features are passed through


def test_the_sample_own_distance_is_left_out():
    """A batch of one has no one near it: o = 0. Two equal samples are each other's exact copy:
    o = exp(0) / 1 = 1 for every kernel, not 2 (which the self term would add)."""
    layer, x = mbd(), np.random.default_rng(4).standard_normal((1, 6))
    np.testing.assert_array_equal(layer(tg.tensor(x)).numpy()[:, 6:], 0)
    twins = layer(tg.tensor(np.concatenate([x, x]))).numpy()
    np.testing.assert_allclose(twins[:, 6:], 1, rtol=1e-12)


def test_minibatch_discrimination_tells_a_collapsed_batch_from_a_varied_one():
    """Copies are near each other (o = 1 per kernel, the most); spread-out samples are not."""
    layer = mbd()
    layer.T.data *= 10
    varied = np.random.default_rng(5).standard_normal((8, 6))
    copies = np.repeat(varied[:1], 8, axis=0)
    assert layer(tg.tensor(copies)).numpy()[:, 6:].min() == pytest.approx(1)
    assert layer(tg.tensor(varied)).numpy()[:, 6:].max() < 2 / 7  # measured 1.26 / 7, against 1 for copies


def test_minibatch_stddev_is_the_group_standard_deviation_and_stays_in_its_group():
    x = np.random.default_rng(6).standard_normal((8, 3))
    y = nn.MinibatchStdDev(group_size=4)(tg.tensor(x)).numpy()
    # sample n is in group n mod 2: samples 0, 2, 4, 6 and samples 1, 3, 5, 7
    for g in range(2):
        expected = np.sqrt(x[g::2].var(axis=0) + 1e-8).mean()  # biased variance over the group
        np.testing.assert_allclose(y[g::2, 3], expected, rtol=1e-6)
    changed = x.copy()
    changed[1] += 1  # group 1 only
    y2 = nn.MinibatchStdDev(group_size=4)(tg.tensor(changed)).numpy()
    np.testing.assert_array_equal(y2[0::2, 3], y[0::2, 3])
    assert (y2[1::2, 3] != y[1::2, 3]).all()
    copies = nn.MinibatchStdDev()(tg.tensor(np.repeat(x[:1], 8, axis=0))).numpy()
    np.testing.assert_allclose(copies[:, 3], 1e-4, rtol=1e-3)  # sqrt(0 + 1e-8): a collapsed batch shows


def test_minibatch_stddev_uses_the_whole_batch_when_it_is_smaller_than_a_group():
    x = np.random.default_rng(7).standard_normal((3, 2))
    y = nn.MinibatchStdDev(group_size=4)(tg.tensor(x)).numpy()
    np.testing.assert_allclose(y[:, 2], np.sqrt(x.var(axis=0) + 1e-8).mean(), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Bad input


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"MinibatchDiscrimination\(6, 4, kernel_dims=3\): expected input of shape "
                                         r"\(N, 6\), got \(5, 7\)"):
        mbd()(tg.zeros(5, 7))
    with pytest.raises(ValueError, match=r"MinibatchDiscrimination\(6, 0, 3\): out_features must be >= 1, got 0"):
        nn.MinibatchDiscrimination(6, 0, 3)
    with pytest.raises(ValueError, match=r"MinibatchStdDev\(group_size=4\): the batch of 6 must split into groups "
                                         r"of 4 samples \(at least 2\); use a batch size divisible by 4"):
        nn.MinibatchStdDev()(tg.zeros(6, 3))
    with pytest.raises(ValueError, match=r"the batch of 1 must split into groups of 1 samples"):
        nn.MinibatchStdDev()(tg.zeros(1, 3))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, F\) or \(N, C, H, W\), got \(4, 2, 3\)"):
        nn.MinibatchStdDev()(tg.zeros(4, 2, 3))
    with pytest.raises(ValueError, match=r"MinibatchStdDev\(group_size=1\): group_size must be >= 2, got 1"):
        nn.MinibatchStdDev(group_size=1)
