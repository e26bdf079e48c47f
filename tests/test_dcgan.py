"""The DCGAN's networks (tinygen/models/dcgan.py) against Radford et al. 2015's rules, resized for 28x28:
G grows 1 -> 7 -> 14 -> 28 with transposed convolutions, D shrinks 28 -> 14 -> 7 -> 1 with strided
ones; BatchNorm in both but not on G's output nor D's input; ReLU in G (tanh at the end),
LeakyReLU(0.2) in D (a sigmoid at the end); weights N(0, 0.02), BatchNorm scales N(1, 0.02).
The step is the vanilla GAN's `gan_step` (tests/test_gan_step.py pins it)."""
import numpy as np

import tinygen
from tinygen import nn
from tinygen.models.dcgan import DCGANDiscriminator, DCGANGenerator


def sizes(layers, x):
    """The spatial size after each convolution of `layers`, run one by one on x."""
    found = []
    with tinygen.no_grad():
        for layer in layers:
            x = layer(x)
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                found.append(x.shape[2])
    return found, x


def test_g_grows_1_7_14_28_and_d_shrinks_28_14_7_1():
    tinygen.manual_seed(0)
    G, D = DCGANGenerator(), DCGANDiscriminator()
    grown, images = sizes(G.net, tinygen.randn(4, 100, 1, 1))
    assert grown == [7, 14, 28] and images.shape == (4, 1, 28, 28)
    assert -1 <= images.numpy().min() and images.numpy().max() <= 1
    shrunk, scores = sizes(D.net, images)
    assert shrunk == [14, 7, 1] and scores.numpy().size == 4
    assert ((0 < scores.numpy()) & (scores.numpy() < 1)).all()  # a probability: D ends in a sigmoid


def test_the_papers_activations_and_where_batchnorm_goes():
    G, D = list(DCGANGenerator().net), list(DCGANDiscriminator().net)
    assert [type(m).__name__ for m in G if not isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))] == \
        ["BatchNorm2d", "ReLU", "BatchNorm2d", "ReLU", "Tanh"]  # no BatchNorm on G's output
    assert [type(m).__name__ for m in D if not isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))] == \
        ["LeakyReLU", "BatchNorm2d", "LeakyReLU", "Sigmoid"]  # none on D's input
    assert all(m.negative_slope == 0.2 for m in D if isinstance(m, nn.LeakyReLU))


def test_the_weights_start_as_the_paper_draws_them():
    """Convolution weights N(0, 0.02) (over 600,000 of them in G's first layer: their standard
    deviation lands within 1% of 0.02), BatchNorm scales N(1, 0.02), shifts and biases 0."""
    tinygen.manual_seed(0)
    for model in (DCGANGenerator(), DCGANDiscriminator()):
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                w = module.weight.numpy()
                tolerance = 4 * 0.02 / np.sqrt(2 * w.size)  # four standard errors of a sample std
                assert abs(w.std() - 0.02) < tolerance + 1e-4 and abs(w.mean()) < 4 * 0.02 / np.sqrt(w.size)
                if module.bias is not None:
                    assert (module.bias.numpy() == 0).all()
            elif isinstance(module, nn.BatchNorm2d):
                scale = module.weight.numpy()
                assert abs(scale.mean() - 1) < 0.01 and 0.01 < scale.std() < 0.03
                assert (module.bias.numpy() == 0).all()
