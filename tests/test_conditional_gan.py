"""The conditional GAN and the ACGAN (tinygen/models/conditional_gan.py).

Shapes; that the label reaches G and D (another label, another output; the label's embedding
row gets a gradient); that D's outputs are logits for the log loss (no sigmoid inside, so
`binary_cross_entropy_with_logits` and not MSE: the catalogue's cGAN pitfall); that ACGAN's class
head gives logits, whose cross-entropy is PyTorch's on the same numbers (no second softmax: the
catalogue's ACGAN pitfall); that the ACGAN's generator multiplies the noise by the label's
embedding; and that bad labels and images are refused naming the model.
"""
import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen
from tinygen import nn
import tinygen.nn.functional as F
from tinygen.models.conditional_gan import (
    ACGANDiscriminator,
    ACGANGenerator,
    ConditionalDiscriminator,
    ConditionalGenerator,
    check_labels,
)
from strategies import medium


def images(n, seed=0):
    return tinygen.tensor(np.random.default_rng(seed).uniform(-1, 1, (n, 1, 28, 28)).astype(np.float32))


def labels(*values):
    return tinygen.tensor(np.array(values, dtype=np.int64))


def test_shapes():
    tinygen.manual_seed(0)
    G, D, A = ConditionalGenerator(), ConditionalDiscriminator(), ACGANDiscriminator()
    c = labels(0, 3, 9, 9, 5)
    fake = G(tinygen.randn(5, 100), c)
    assert fake.shape == (5, 1, 28, 28) and -1 <= fake.numpy().min() and fake.numpy().max() <= 1
    assert G.net[0].weight.shape == (128, 100 + 10)  # the noise joined with the label's embedding
    assert D(fake, c).shape == (5, 1) and D(fake.reshape(5, 784), c).shape == (5, 1)
    assert D.net[0].weight.shape == (512, 784 + 10)  # the image joined with the label's embedding
    adversarial, classes = A(fake)
    assert adversarial.shape == (5, 1) and classes.shape == (5, 10)
    assert G.label_embedding.weight.shape == D.label_embedding.weight.shape == (10, 10)
    AG = ACGANGenerator()
    fake = AG(tinygen.randn(5, 100), c)
    assert fake.shape == (5, 1, 28, 28) and -1 <= fake.numpy().min() and fake.numpy().max() <= 1
    assert AG.label_embedding.weight.shape == (10, 100)  # one number per coordinate of z
    assert AG.net[0].weight.shape == (128, 100)  # z * emb(c): as wide as z, nothing joined


def test_the_acgan_generator_draws_from_the_noise_times_the_labels_embedding():
    """G(z, c) = net(z * emb(c)): the label scales each coordinate of z (joined beside z, it let
    the ACGAN's G draw one image per digit whatever z was)."""
    tinygen.manual_seed(0)
    G = ACGANGenerator().eval()
    z, c = tinygen.randn(6, 100), labels(0, 3, 3, 5, 9, 9)
    rows = G.label_embedding.weight.numpy()[c.numpy()]
    with tinygen.no_grad():
        expected = G.net(tinygen.tensor(z.numpy() * rows)).numpy().reshape(6, 1, 28, 28)
        np.testing.assert_allclose(G(z, c).numpy(), expected, rtol=1e-6, atol=1e-6)
        G.label_embedding.weight.data[3] = 0  # a label whose embedding is zero silences z
        silenced = G(z, labels(3, 3, 3, 3, 3, 3)).numpy()
    np.testing.assert_allclose(silenced, silenced[:1].repeat(6, axis=0), atol=1e-6)
    assert np.abs(expected[0] - expected[5]).max() > 1e-3


def test_the_label_changes_the_generator_and_the_discriminator():
    tinygen.manual_seed(0)
    G, D = ConditionalGenerator().eval(), ConditionalDiscriminator().eval()  # no batch statistics, no dropout
    AG = ACGANGenerator().eval()
    z, x = tinygen.randn(1, 100), images(1)
    with tinygen.no_grad():
        drawn = [G(z, labels(k)).numpy() for k in (3, 4)]
        judged = [D(x, labels(k)).item() for k in (3, 4)]
        acgan_drawn = [AG(z, labels(k)).numpy() for k in (3, 4)]
    assert np.abs(drawn[0] - drawn[1]).max() > 1e-3
    assert np.abs(acgan_drawn[0] - acgan_drawn[1]).max() > 1e-3
    assert abs(judged[0] - judged[1]) > 1e-4


@pytest.mark.parametrize("which", ["generator", "discriminator", "acgan generator"])
def test_the_gradient_reaches_the_rows_of_the_labels_used(which):
    tinygen.manual_seed(0)
    G = ACGANGenerator() if which == "acgan generator" else ConditionalGenerator()
    D = ConditionalDiscriminator()
    c = labels(2, 7, 7)
    fake = G(tinygen.randn(3, 100), c)
    D(fake, c).sum().backward()
    grad = (D if which == "discriminator" else G).label_embedding.weight.grad.numpy()
    used = np.abs(grad).sum(axis=1) > 0
    np.testing.assert_array_equal(used, np.isin(np.arange(10), [2, 7]))


def test_the_discriminators_give_logits_for_the_log_loss():
    """No sigmoid inside: the outputs cover the real line, for binary_cross_entropy_with_logits."""
    tinygen.manual_seed(0)
    D, A = ConditionalDiscriminator().eval(), ACGANDiscriminator()
    for model in (D, A):
        assert not any(isinstance(m, nn.Sigmoid) for m in model.modules())
    x = images(64) * 30
    c = tinygen.randint(0, 10, (64,))
    for logit in (D(x, c), A(x)[0]):
        assert logit.numpy().min() < 0 or logit.numpy().max() > 1


def test_the_acgan_class_head_gives_logits_and_cross_entropy_matches_pytorch():
    torch = pytest.importorskip("torch")
    tinygen.manual_seed(0)
    A = ACGANDiscriminator()
    x, c = images(6), labels(0, 1, 2, 7, 8, 9)
    _, classes = A(x)
    # The head is the linear layer on the body, nothing after it: no softmax.
    np.testing.assert_array_equal(classes.numpy(), A.auxiliary(A.body(x.reshape(6, 784))).numpy())
    assert classes.numpy().min() < 0 and not np.allclose(classes.numpy().sum(axis=1), 1)
    loss = F.cross_entropy(classes, c)
    loss.backward()
    logits = torch.tensor(classes.numpy(), requires_grad=True)
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor(c.numpy()))
    expected.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-6)
    # The gradient w.r.t. the logits is (softmax - one_hot) / N: the head's weight gets exactly that.
    body = A.body(x.reshape(6, 784)).numpy()
    np.testing.assert_allclose(A.auxiliary.weight.grad.numpy(), logits.grad.numpy().T @ body, rtol=1e-4, atol=1e-6)


def test_the_acgan_heads_share_the_body():
    tinygen.manual_seed(0)
    A = ACGANDiscriminator()
    adversarial, classes = A(images(4))
    adversarial.sum().backward()
    from_adversarial = {id(p) for p in A.parameters() if p.grad is not None}
    A.zero_grad()
    _, classes = A(images(4))
    classes.sum().backward()
    from_classes = {id(p) for p in A.parameters() if p.grad is not None}
    assert from_adversarial & from_classes == {id(p) for p in A.body.parameters()}


# ---------------------------------------------------------------------------------------------
# Bad labels and inputs


@medium
@given(values=st.lists(st.integers(-5, 15), min_size=1, max_size=8))
def test_labels_outside_the_classes_are_refused_naming_the_model(values):
    c = labels(*values)
    z = tinygen.randn(len(values), 100)
    G = generator_in_eval_mode()  # running statistics: a batch of one is fine
    if 0 <= min(values) and max(values) < 10:
        assert G(z, c).shape == (len(values), 1, 28, 28)
    else:
        with pytest.raises(ValueError, match=rf"ConditionalGenerator: labels must be in \[0, 10\), "
                                             rf"got range \[{min(values)}, {max(values)}\]"):
            G(z, c)


@functools.lru_cache(maxsize=1)
def generator_in_eval_mode():
    return ConditionalGenerator().eval()


@pytest.mark.parametrize("Model", [ConditionalGenerator, ACGANGenerator, ConditionalDiscriminator])
def test_bad_labels_are_refused_naming_the_model(Model):
    model = Model()
    name = Model.__name__
    first = images(4) if Model is ConditionalDiscriminator else tinygen.randn(4, 100)

    def call(c):
        return model(first, c)

    with pytest.raises(ValueError, match=rf"{name}: expected labels of shape \(4,\), one per row of the batch, "
                                         rf"got \(3,\)"):
        call(labels(1, 2, 3))
    with pytest.raises(ValueError, match=rf"{name}: expected labels of shape \(4,\), one per row of the batch, "
                                         rf"got \(4, 1\)"):
        call(labels(1, 2, 3, 4).reshape(4, 1))
    with pytest.raises(ValueError, match=rf"{name}: labels must be integers, got dtype float32"):
        call(tinygen.tensor([1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(ValueError, match=rf"{name}: labels must be in \[0, 10\), got range \[-1, 3\]"):
        call(labels(-1, 2, 3, 3))
    with pytest.raises(TypeError, match=rf"{name}: labels must be a Tensor of integers, got list; "
                                        rf"make one with tinygen.tensor"):
        call([1, 2, 3, 4])
    call(np.array([1, 2, 3, 4]))  # an integer array is taken as it is


def test_bad_noise_and_images_are_refused_naming_the_model():
    with pytest.raises(ValueError, match=r"ConditionalGenerator: expected noise z of shape \(N, 100\), got \(4, 64\)"):
        ConditionalGenerator()(tinygen.randn(4, 64), labels(1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"ACGANGenerator: expected noise z of shape \(N, 100\), got \(4, 110\)"):
        ACGANGenerator()(tinygen.randn(4, 110), labels(1, 2, 3, 4))  # z already joined with a label: refused
    with pytest.raises(ValueError, match=r"ACGANGenerator: expected noise z of shape \(N, 8\), got ndarray"):
        ACGANGenerator(latent_dim=8)(np.zeros((4, 8), np.float32), labels(1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"ConditionalDiscriminator: expected images of 28x28 = 784 pixels, "
                                         r"\(N, 1, 28, 28\) or \(N, 784\), got shape \(4, 1, 32, 32\)"):
        ConditionalDiscriminator()(tinygen.randn(4, 1, 32, 32), labels(1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"ACGANDiscriminator: expected images of 28x28 = 784 pixels"):
        ACGANDiscriminator()(tinygen.randn(4, 100))
    with pytest.raises(TypeError, match=r"ACGANDiscriminator: expected images as a Tensor, got ndarray"):
        ACGANDiscriminator()(np.zeros((4, 784), np.float32))


def test_check_labels_with_other_class_counts():
    assert check_labels("M", labels(0, 4), 2, num_classes=5) is not None
    with pytest.raises(ValueError, match=r"M: labels must be in \[0, 5\), got range \[0, 5\]"):
        check_labels("M", labels(0, 5), 2, num_classes=5)
