"""InfoGAN (tinygen/models/infogan.py).

Shapes; that D and Q share the trunk (the parameters that D's logit and Q's outputs reach meet in
exactly the trunk's Parameter objects); that the information loss reaches G, Q's head and the
trunk but not D's adversarial head (the catalogue's pitfall); that at a perfect Q the loss is 0;
a float64 gradient check of info_loss and its value against PyTorch; bad codes refused naming
the model or the function.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen
import tinygen.nn.functional as F
from tinygen.gradcheck import gradcheck
from tinygen.models.infogan import (
    InfoGANDiscriminator,
    InfoGANGenerator,
    categorical_information,
    info_loss,
    sample_codes,
)
from strategies import medium


def models(seed=0):
    tinygen.manual_seed(seed)
    return InfoGANGenerator(width=8, hidden=32), InfoGANDiscriminator(width=8, hidden=32)


def test_shapes_and_codes():
    G, D = models()
    z, c, cont = sample_codes(6)
    assert z.shape == (6, 62) and c.shape == (6,) and cont.shape == (6, 2)
    assert c.dtype.kind == "i" and 0 <= c.numpy().min() and c.numpy().max() < 10
    assert -1 <= cont.numpy().min() and cont.numpy().max() <= 1
    images = G(z, c, cont)
    assert images.shape == (6, 1, 28, 28) and np.abs(images.numpy()).max() <= 1
    assert G.fc[0].weight.shape == (32, 62 + 10 + 2)  # z, the one-hot category and the two codes
    logit, q_logits, q_mean = D(images)
    assert logit.shape == (6, 1) and q_logits.shape == (6, 10) and q_mean.shape == (6, 2)
    assert D(images.reshape(6, 784))[0].shape == (6, 1)


def test_the_default_sizes_are_half_the_papers():
    G, D = InfoGANGenerator(), InfoGANDiscriminator()
    assert G.fc[3].weight.shape == (64 * 7 * 7, 512) and D.trunk[2].weight.shape == (64, 32, 4, 4)
    assert InfoGANGenerator(width=64, hidden=1024).fc[3].weight.shape == (128 * 7 * 7, 1024)  # the paper's


def test_sample_codes_are_uniform():
    tinygen.manual_seed(0)
    _, c, cont = sample_codes(20000)
    counts = np.bincount(c.numpy(), minlength=10) / 20000
    assert np.abs(counts - 0.1).max() < 0.01
    assert abs(cont.numpy().mean()) < 0.02 and abs(cont.numpy().var() - 1 / 3) < 0.02  # U(-1, 1)
    z = sample_codes(20000)[0].numpy()
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1) < 0.01  # N(0, I)


def test_q_splits_its_head_into_the_category_logits_then_the_code_means():
    """Q's last layer set to output 0, 1, ..., 11 for every image: the first 10 are the category
    logits, the last 2 the continuous codes' means."""
    _, D = models()
    D.q[-1].weight.data[...] = 0
    D.q[-1].bias.data[...] = np.arange(12)
    _, q_logits, q_mean = D(tinygen.randn(3, 1, 28, 28))
    np.testing.assert_array_equal(q_logits.numpy(), np.tile(np.arange(10), (3, 1)))
    np.testing.assert_array_equal(q_mean.numpy(), np.tile([10, 11], (3, 1)))


def reached(D, output):
    """The ids of D's parameters that a backward from `output` gives a gradient."""
    D.zero_grad()
    output.sum().backward()
    return {id(p) for p in D.parameters() if p.grad is not None and np.abs(p.grad.numpy()).max() > 0}


def test_d_and_q_share_the_trunk():
    """D's logit and Q's outputs reach two sets of parameters that meet in exactly the trunk's."""
    G, D = models()
    x = tinygen.randn(5, 1, 28, 28)
    by_d = reached(D, D(x)[0])
    by_q = reached(D, D(x)[1] * tinygen.randn(5, 10)) | reached(D, D(x)[2])
    trunk = {id(p) for p in D.trunk.parameters()}
    assert by_d & by_q == trunk
    assert by_d == trunk | {id(p) for p in D.adversarial.parameters()}
    assert by_q == trunk | {id(p) for p in D.q.parameters()}


def test_the_info_loss_reaches_g_q_and_the_trunk_not_the_adversarial_head():
    G, D = models()
    z, c, cont = sample_codes(8)
    _, q_logits, q_mean = D(G(z, c, cont))
    info_loss(q_logits, q_mean, c, cont).backward()
    for name, p in G.named_parameters():
        assert p.grad is not None and np.abs(p.grad.numpy()).max() > 0, f"G's {name} gets no gradient"
    for name, p in D.trunk.named_parameters() + D.q.named_parameters():
        assert p.grad is not None and np.abs(p.grad.numpy()).max() > 0, f"D's {name} gets no gradient"
    assert all(p.grad is None for p in D.adversarial.parameters())


def test_the_continuous_codes_reach_the_image():
    G, _ = models()
    G.eval()
    z, c, cont = sample_codes(1)
    with tinygen.no_grad():
        a = G(z, c, cont).numpy()
        b = G(z, c, -cont).numpy()
        d = G(z, tinygen.tensor(np.array([(c.item() + 1) % 10])), cont).numpy()
    assert np.abs(a - b).max() > 1e-4 and np.abs(a - d).max() > 1e-4


@medium
@given(n=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_at_a_perfect_q_the_info_loss_is_zero(n, seed):
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 10, n)
    cont = rng.uniform(-1, 1, (n, 2))
    perfect_logits = tinygen.tensor(50.0 * np.eye(10)[c])  # all the probability on the right category
    loss = info_loss(perfect_logits, tinygen.tensor(cont), c, cont)
    assert 0 <= loss.item() < 1e-15
    assert categorical_information(perfect_logits, c).item() == pytest.approx(math.log(10))
    blind = tinygen.zeros(n, 10, dtype="float64")  # Q reads nothing: CE = log 10, no information
    assert categorical_information(blind, c).item() == pytest.approx(0, abs=1e-12)
    assert info_loss(blind, tinygen.tensor(cont), c, cont).item() == pytest.approx(math.log(10))


@medium
@given(n=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_info_loss_gradient_check_in_float64(n, seed):
    rng = np.random.default_rng(seed)
    q_logits = tinygen.tensor(rng.standard_normal((n, 10)), requires_grad=True)
    q_mean = tinygen.tensor(rng.standard_normal((n, 2)), requires_grad=True)
    c, cont = rng.integers(0, 10, n), rng.uniform(-1, 1, (n, 2))
    assert gradcheck(lambda a, b: info_loss(a, b, c, cont), [q_logits, q_mean])


def test_info_loss_is_the_weighted_cross_entropy_and_half_squared_error():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    q_logits, q_mean = rng.standard_normal((5, 10)), rng.standard_normal((5, 2))
    c, cont = rng.integers(0, 10, 5), rng.uniform(-1, 1, (5, 2))
    ours = info_loss(tinygen.tensor(q_logits), tinygen.tensor(q_mean), c, cont).item()
    t = torch.tensor
    categorical = torch.nn.functional.cross_entropy(t(q_logits), t(c))
    # -log N(cont; mean, 1) = 1/2 (cont - mean)^2 + 1/2 log 2 pi per code: torch's Gaussian NLL, minus its constant
    nll = -torch.distributions.Normal(t(q_mean), 1.0).log_prob(t(cont)).sum(dim=1).mean() - math.log(2 * math.pi)
    assert ours == pytest.approx(1.0 * categorical.item() + 0.1 * nll.item(), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Bad codes


def test_bad_codes_are_refused_naming_the_generator():
    G, _ = models()
    z, c, cont = sample_codes(4)
    with pytest.raises(ValueError, match=r"InfoGANGenerator: labels must be in \[0, 10\), got range \[0, 10\]"):
        G(z, tinygen.tensor(np.array([0, 1, 2, 10])), cont)
    with pytest.raises(ValueError, match=r"InfoGANGenerator: labels must be integers, got dtype float32"):
        G(z, F.one_hot(c, 10), cont)  # a one-hot code: G takes the category's integer
    with pytest.raises(ValueError, match=r"InfoGANGenerator: expected labels of shape \(4,\), one per row of the "
                                         r"batch, got \(4, 1\)"):
        G(z, c.reshape(4, 1), cont)
    with pytest.raises(ValueError, match=r"InfoGANGenerator: expected cont of shape \(N, 2\) with N = 4 "
                                         r"\(the rows of z\), got \(3, 2\)"):
        G(z, c, cont[:3])
    with pytest.raises(ValueError, match=r"InfoGANGenerator: expected z of shape \(N, 62\) with N = 4 "
                                         r"\(the rows of z\), got \(4, 100\)"):
        G(tinygen.randn(4, 100), c, cont)


def test_float64_codes_make_no_float64_loss_for_a_float32_q():
    q_logits, q_mean = tinygen.randn(3, 10, requires_grad=True), tinygen.randn(3, 2, requires_grad=True)
    loss = info_loss(q_logits, q_mean, np.array([1, 2, 3]), np.zeros((3, 2)))
    loss.backward()
    assert loss.dtype == q_mean.grad.dtype == q_logits.grad.dtype == np.float32


def test_bad_arguments_of_info_loss_and_the_discriminator():
    q_logits, q_mean = tinygen.randn(4, 10), tinygen.randn(4, 2)
    c, cont = np.array([0, 1, 2, 3]), np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"info_loss: expected the continuous codes cont of q_mean's shape "
                                         r"\(4, 2\), got \(4, 3\)"):
        info_loss(q_logits, q_mean, c, np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"info_loss: labels must be integers, got dtype float64"):
        info_loss(q_logits, q_mean, c.astype(float), cont)
    with pytest.raises(TypeError, match=r"info_loss: q_logits and q_mean must be Tensors"):
        info_loss(q_logits.numpy(), q_mean, c, cont)
    with pytest.raises(ValueError, match=r"InfoGANDiscriminator: expected images of 28x28 = 784 pixels, "
                                         r"\(N, 1, 28, 28\) or \(N, 784\), got shape \(4, 1, 32, 32\)"):
        models()[1](tinygen.randn(4, 1, 32, 32))
