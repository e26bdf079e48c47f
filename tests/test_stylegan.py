"""The small StyleGAN (tinygen/models/stylegan.py): what defines it, through the networks themselves.

AdaIN's output in every synthesis layer has, per channel, the scale of that layer's style as its
standard deviation and its bias as its mean; the synthesis input is a learned constant, the same
for every z; style mixing with two equal codes changes nothing; truncation with psi = 0 gives the
mean style's image for every z; every layer is equalised and the mapping learns 100x slower;
w_avg is a moving average kept in the state; bad input is refused naming the network.
"""
import copy

import numpy as np
import pytest

import tinygen
from tinygen import nn
from tinygen.models.ema import update_average_
from tinygen.models.stylegan import (
    MAPPING_LR_MULTIPLIER,
    W_AVG_BETA,
    MappingNetwork,
    StyleDiscriminator,
    StyleGenerator,
    SynthesisNetwork,
)

N = 4


def generator(seed=0, **sizes):
    """A small G whose constant, styles and noise matter: a random constant, AdaIN maps and noise
    weights (they start at ones, 1/0 biases and zero noise weights, which would hide a style or
    noise sent to the wrong layer; a constant of ones has no variance for AdaIN to normalise)."""
    tinygen.manual_seed(seed)
    G = StyleGenerator(**{"latent_dim": 8, "style_dim": 8, "channels": 4, **sizes})
    rng = np.random.default_rng(seed)
    G.synthesis.constant.data[...] = rng.normal(0, 1, G.synthesis.constant.shape).astype(np.float32)  # as if learned
    for layer in G.synthesis.layers:
        layer.adain.affine.bias.data[...] = rng.normal(0, 1, layer.adain.affine.bias.shape).astype(np.float32)
        layer.noise.weight.data[...] = rng.normal(0, 0.5, layer.noise.weight.shape).astype(np.float32)
    return G


def fixed_noise(G, n, seed=0):
    rng = np.random.default_rng(seed)
    return [tinygen.tensor(rng.standard_normal(shape).astype(np.float32)) for shape in G.synthesis.noise_shapes(n)]


def codes(n, latent_dim=8, seed=1):
    return tinygen.tensor(np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32))


class Spy:
    """Wraps a module's forward; records (args, output) of every call."""

    def __init__(self, module):
        self.calls, self.forward = [], module.forward
        module.forward = self

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        self.calls.append((args, out))
        return out


# ---------------------------------------------------------------------------------------------
# The synthesis network


def test_every_adain_layer_gives_its_style_scale_as_std_and_bias_as_mean():
    """Eight different styles ws[i]: layer i's AdaIN output, per sample and channel, has the mean
    y_b(ws[i]) and the (biased) standard deviation |y_s(ws[i])| over its H x W pixels, computed
    here from ws[i] as given, not from what the layer saw (a style sent to the wrong layer fails)."""
    G = generator()
    spies = [Spy(layer.adain) for layer in G.synthesis.layers]
    ws = [codes(N, seed=10 + i) for i in range(G.num_ws)]
    G.synthesis(ws, fixed_noise(G, N))
    for i, (layer, spy) in enumerate(zip(G.synthesis.layers, spies)):
        (_, out), = spy.calls
        scale, bias = (t.numpy() for t in layer.adain.style(ws[i]))
        y = out.numpy().astype(np.float64)
        resolution = 4 * 2 ** (i // 2)
        assert y.shape == (N, 4, resolution, resolution)
        np.testing.assert_allclose(y.mean(axis=(2, 3)), bias, atol=1e-4, err_msg=f"layer {i}")
        np.testing.assert_allclose(y.std(axis=(2, 3)), np.abs(scale), rtol=1e-3, atol=1e-4, err_msg=f"layer {i}")
    assert len({float(np.abs(layer.adain.style(ws[0])[0].numpy()).mean()) for layer in G.synthesis.layers}) > 1


def test_the_synthesis_input_is_a_learned_constant_not_z():
    """The first layer's input is the constant (1, C, 4, 4) broadcast, the same for two different z;
    the constant is a Parameter and is trained (it gets a gradient)."""
    G = generator()
    first = Spy(G.synthesis.layers[0])
    noise = fixed_noise(G, N)
    G(codes(N, seed=1), noise=noise)
    G(codes(N, seed=2), noise=noise)
    (a, _), (b, _) = first.calls
    constant = G.synthesis.constant.numpy()
    for x in (a[0], b[0]):
        np.testing.assert_array_equal(x.numpy(), np.broadcast_to(constant, (N, 4, 4, 4)))
    assert G.synthesis.layers[0].conv is None  # nothing between the constant and the first noise
    assert any(p is G.synthesis.constant for p in G.parameters())
    G(codes(N)).sum().backward()
    assert np.abs(G.synthesis.constant.grad.numpy()).sum() > 0


def test_mixing_with_two_equal_codes_changes_nothing():
    """G(z, mix_z=z, crossover=k) == G(z) bit for bit at every crossover k, with the same noise;
    with another code mix_z it does change (from layer k on), and crossover 0 is G(mix_z)."""
    G = generator()
    z, other, noise = codes(N, seed=1), codes(N, seed=2), fixed_noise(G, N)
    plain = G(z, noise=noise).numpy()
    for crossover in range(G.num_ws + 1):
        np.testing.assert_array_equal(G(z, mix_z=z, crossover=crossover, noise=noise).numpy(), plain)
    mixed = G(z, mix_z=other, crossover=4, noise=noise).numpy()
    assert np.abs(mixed - plain).max() > 1e-3
    np.testing.assert_array_equal(G(z, mix_z=other, crossover=0, noise=noise).numpy(), G(other, noise=noise).numpy())
    np.testing.assert_array_equal(G(z, mix_z=other, crossover=G.num_ws, noise=noise).numpy(), plain)


def test_mixing_sends_each_code_to_its_layers():
    """With crossover k, AdaIN layers 0 .. k-1 get w(z) and layers k .. 7 get w(mix_z)."""
    G = generator()
    spies = [Spy(layer.adain) for layer in G.synthesis.layers]
    z, other = codes(N, seed=1), codes(N, seed=2)
    G(z, mix_z=other, crossover=3)
    w, w2 = G.mapping(z).numpy(), G.mapping(other).numpy()
    for i, spy in enumerate(spies):
        (args, _), = spy.calls
        np.testing.assert_array_equal(args[1].numpy(), w if i < 3 else w2, err_msg=f"layer {i}")


def test_truncation_with_psi_0_gives_the_mean_style_image_for_every_z():
    G = generator()
    G.w_avg.data[...] = np.random.default_rng(3).normal(0, 1, G.style_dim).astype(np.float32)
    G.eval()
    noise = fixed_noise(G, 1)
    mean_style_image = G.synthesis([G.w_avg.reshape(1, -1)] * G.num_ws, noise).numpy()
    z = codes(6, seed=4)
    images = [G(z[i:i + 1], psi=0.0, noise=noise).numpy() for i in range(6)]
    for image in images:
        np.testing.assert_allclose(image, mean_style_image, atol=1e-6)
    untruncated = [G(z[i:i + 1], noise=noise).numpy() for i in range(6)]
    assert np.abs(untruncated[0] - untruncated[1]).max() > 1e-3  # without truncation z matters
    # psi = 0.5: the style halfway between w and w_avg
    w = G.mapping(z[:1])
    halfway = G.synthesis([G.w_avg + (w - G.w_avg) * 0.5] * G.num_ws, noise).numpy()
    np.testing.assert_allclose(G(z[:1], psi=0.5, noise=noise).numpy(), halfway, atol=1e-6)


def test_noise_maps_given_are_used_and_fresh_ones_change_the_image():
    G = generator()
    z, noise = codes(N), fixed_noise(G, N)
    np.testing.assert_array_equal(G(z, noise=noise).numpy(), G(z, noise=noise).numpy())
    assert np.abs(G(z, noise=noise).numpy() - G(z, noise=fixed_noise(G, N, seed=5)).numpy()).max() > 1e-3
    assert np.abs(G(z, noise=noise).numpy() - G(z).numpy()).max() > 1e-3  # None: fresh maps from tinygen.randn


def test_one_channel_32x32_images_in_tanh_range():
    G, D = generator(), StyleDiscriminator(channels=4)
    images = G(codes(N))
    assert images.shape == (N, 1, 32, 32)
    assert np.abs(images.numpy()).max() <= 1
    assert D(images).shape == (N, 1)


# ---------------------------------------------------------------------------------------------
# Equalised learning rate, the moving average w_avg


def test_every_layer_is_equalised_and_the_mapping_learns_100_times_slower():
    """No plain Linear or Conv2d is left in G or D (AdaIN's affine map A included); the mapping's
    linears have lr_multiplier 0.01, stored weights ~ N(0, 1 / 0.01^2) scaled at run time."""
    G, D = StyleGenerator(), StyleDiscriminator()
    for model in (G, D):
        kinds = {type(m) for m in model.modules()}
        assert not kinds & {nn.Linear, nn.Conv2d, nn.BatchNorm2d}, kinds
    assert sum(isinstance(m, nn.EqualizedLinear) for m in G.synthesis.modules()) == G.num_ws
    mapping = [m for m in G.mapping.modules() if isinstance(m, nn.EqualizedLinear)]
    assert mapping and all(m.lr_multiplier == MAPPING_LR_MULTIPLIER for m in mapping)
    assert 50 < np.std(mapping[0].weight.numpy()) < 200  # stored at 1 / 0.01: the scale is applied at run time


def test_w_avg_moves_in_training_only_and_is_in_the_state():
    G = generator()
    z = codes(16)
    w = G.mapping(z).numpy()
    G(z)
    np.testing.assert_allclose(G.w_avg.numpy(), (1 - W_AVG_BETA) * w.mean(axis=0), rtol=1e-5, atol=1e-7)
    before = G.w_avg.numpy().copy()
    G.eval()
    G(z)
    np.testing.assert_array_equal(G.w_avg.numpy(), before)
    assert "w_avg" in G.state_dict()
    G_ema = copy.deepcopy(G)
    G_ema.w_avg.data[...] = 0
    update_average_(G_ema, G, 0.999)  # a buffer: copied, not averaged
    np.testing.assert_array_equal(G_ema.w_avg.numpy(), before)


# ---------------------------------------------------------------------------------------------
# Bad input


def test_bad_input_is_refused_naming_the_network():
    G, D = generator(), StyleDiscriminator(channels=4)
    z = codes(N)
    with pytest.raises(ValueError, match=r"StyleDiscriminator: expected images of shape \(N, 1, 32, 32\).*pad_to_32.*"
                                         r"\(4, 1, 28, 28\)"):
        D(tinygen.zeros(N, 1, 28, 28))
    with pytest.raises(ValueError, match=r"SynthesisNetwork: expected ws, a list of 8 styles"):
        G.synthesis([G.mapping(z)] * 3)
    with pytest.raises(ValueError, match=r"MappingNetwork: expected z of shape \(N, 8\), got \(4, 5\)"):
        G(tinygen.zeros(N, 5))
    with pytest.raises(ValueError, match="crossover=2 needs mix_z"):
        G(z, crossover=2)
    with pytest.raises(ValueError, match=r"crossover must be a whole number in \[0, 8\].*got 9"):
        G(z, mix_z=z, crossover=9)
    with pytest.raises(ValueError, match=r"expected noise None or a list of 8 maps"):
        G(z, noise=fixed_noise(G, N)[:2])
    with pytest.raises(ValueError, match=r"NoiseInjection\(4\): expected noise of shape \(4, 1, 4, 4\)"):
        G(z, noise=fixed_noise(G, 2))
    with pytest.raises(ValueError, match="latent_dim must be"):
        MappingNetwork(latent_dim=0)
    with pytest.raises(ValueError, match="channels must be"):
        SynthesisNetwork(channels=0)


# ---------------------------------------------------------------------------------------------
# Per-layer noise with a learned scale; one layer by hand


def test_each_layer_adds_its_own_noise_map_times_its_own_learned_weight():
    """A new noise map for layer i alone leaves layers 0 .. i-1 bit for bit and changes layer i;
    with layer i's weight at 0 it changes nothing. Each layer's weight is its own Parameter of G,
    with its own gradient."""
    G = generator()
    z, noise = codes(N), fixed_noise(G, N)
    other = fixed_noise(G, N, seed=9)

    def layer_outputs(maps):
        spies = [Spy(layer) for layer in G.synthesis.layers]
        G(z, noise=maps)
        outputs = [spy.calls[0][1].numpy() for spy in spies]
        for layer in G.synthesis.layers:
            del layer.forward  # the class's forward again
        return outputs

    base = layer_outputs(noise)
    for i in range(G.num_ws):
        changed = layer_outputs(noise[:i] + [other[i]] + noise[i + 1:])
        for k in range(i):
            np.testing.assert_array_equal(changed[k], base[k], err_msg=f"layer {k}, noise of layer {i}")
        assert np.abs(changed[i] - base[i]).max() > 1e-4, i
    G.synthesis.layers[5].noise.weight.data[...] = 0
    np.testing.assert_array_equal(layer_outputs(noise)[-1], layer_outputs(noise[:5] + [other[5]] + noise[6:])[-1])
    weights = [layer.noise.weight for layer in G.synthesis.layers]
    assert len({id(w) for w in weights}) == G.num_ws and all(any(w is p for p in G.parameters()) for w in weights)
    (G(z, noise=noise) ** 2).sum().backward()
    assert all(np.abs(w.grad.numpy()).sum() > 0 for i, w in enumerate(weights) if i != 5)


def test_a_style_layer_by_hand():
    """Layer 2 (the first at 8x8): y = AdaIN(LeakyReLU_0.2(conv3x3(up2(x)) + weight * noise), w) with
    the conv's weight scaled by sqrt(2 / (9 C)), AdaIN's [y_s, y_b] = (sqrt(2 / style_dim) A) w + b
    and InstanceNorm's eps 1e-5; written here in NumPy (the 3x3 conv as a sum of 9 shifted copies)."""
    G = generator()
    layer = G.synthesis.layers[2]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 4, 4)).astype(np.float32)
    w = rng.standard_normal((2, 8)).astype(np.float32)
    noise = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    up = x.repeat(2, axis=2).repeat(2, axis=3).astype(np.float64)
    padded = np.pad(up, ((0, 0), (0, 0), (1, 1), (1, 1)))
    kernel = layer.conv.weight.numpy().astype(np.float64) * np.sqrt(2 / (9 * 4))
    h = sum(np.einsum("oc,nchw->nohw", kernel[:, :, i, j], padded[:, :, i:i + 8, j:j + 8])
            for i in range(3) for j in range(3)) + layer.conv.bias.numpy()[None, :, None, None]
    h = h + layer.noise.weight.numpy()[None, :, None, None] * noise
    h = np.where(h > 0, h, 0.2 * h)
    normed = (h - h.mean(axis=(2, 3), keepdims=True)) / np.sqrt(h.var(axis=(2, 3), keepdims=True) + 1e-5)
    style = w @ (layer.adain.affine.weight.numpy() * np.sqrt(2 / 8)).T + layer.adain.affine.bias.numpy()
    expected = style[:, :4, None, None] * normed + style[:, 4:, None, None]
    got = layer(tinygen.tensor(x), tinygen.tensor(w), tinygen.tensor(noise)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_the_mapping_network_by_hand():
    """w = f(z): z pixel-normalised (z / sqrt(mean z^2 + 1e-8)), then each layer
    LeakyReLU_0.2((0.01 sqrt(2 / fan_in) W) x + 0.01 b) with W stored at 1 / 0.01 scale, in NumPy;
    so w(5 z) = w(z)."""
    G = generator()
    for layer in G.mapping.modules():
        if isinstance(layer, nn.EqualizedLinear):
            layer.bias.data[...] = np.random.default_rng(2).normal(0, 30, layer.bias.shape).astype(np.float32)
    z = codes(N).numpy().astype(np.float64)
    x = z / np.sqrt((z ** 2).mean(axis=1, keepdims=True) + 1e-8)
    for layer in (m for m in G.mapping.modules() if isinstance(m, nn.EqualizedLinear)):
        x = x @ (layer.weight.numpy() * 0.01 * np.sqrt(2 / layer.in_features)).T + 0.01 * layer.bias.numpy()
        x = np.where(x > 0, x, 0.2 * x)
    np.testing.assert_allclose(G.mapping(codes(N)).numpy(), x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(G.mapping(codes(N) * 5).numpy(), x, rtol=1e-4, atol=1e-5)


def test_every_adain_starts_at_scale_1_and_bias_0():
    """A fresh G: each layer's A maps any w near 0 to scale 1 and bias 0 (its bias starts at
    [1, ..., 1, 0, ..., 0]), as StyleGAN's style modulation x * (y_s + 1) + y_b with y from 0."""
    G = StyleGenerator(latent_dim=8, style_dim=8, channels=4)
    for layer in G.synthesis.layers:
        np.testing.assert_array_equal(layer.adain.affine.bias.numpy(), [1] * 4 + [0] * 4)
        scale, bias = layer.adain.style(tinygen.zeros(2, 8))
        np.testing.assert_array_equal(scale.numpy(), 1)
        np.testing.assert_array_equal(bias.numpy(), 0)


def test_truncation_with_psi_0_gives_the_mean_style_image_with_mixing_too():
    """Both codes are truncated: psi = 0 with mixing is still the mean style's image."""
    G = generator()
    G.w_avg.data[...] = np.random.default_rng(3).normal(0, 1, G.style_dim).astype(np.float32)
    G.eval()
    noise = fixed_noise(G, 2)
    mean_style_image = G.synthesis([tinygen.tensor(np.repeat(G.w_avg.numpy()[None], 2, axis=0))] * G.num_ws, noise).numpy()
    got = G(codes(2, seed=4), psi=0.0, mix_z=codes(2, seed=5), crossover=3, noise=noise).numpy()
    np.testing.assert_allclose(got, mean_style_image, atol=1e-6)

