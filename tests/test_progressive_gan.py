"""Progressive growing (tinygen/models/progressive_gan.py): the properties that define it.

At alpha = 0 a grown G draws the previous stage's image upsampled and a grown D scores an image
as the previous stage's D scores it average-pooled (exactly, in float32); pixel normalisation
gives every pixel of G's features mean square 1; the equalised learning rate is applied at run
time, not stored in the weights; the schedule's shape.
"""
import numpy as np
import pytest

import tinygen
from tinygen import nn
from tinygen.models.progressive_gan import (STAGES, ProDiscriminator, ProGenerator, growth_schedule, real_images_at,
                                            resolution)


def upsample_np(x):
    return x.repeat(2, axis=2).repeat(2, axis=3)


def avgpool_np(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def models(seed=0):
    tinygen.manual_seed(seed)
    G, D = ProGenerator(latent_dim=16), ProDiscriminator()
    with tinygen.no_grad():  # biases start at 0: give them values, so that every term of the blend counts
        for p in list(G.parameters()) + list(D.parameters()):
            if p.ndim == 1:
                p.copy_(tinygen.randn(*p.shape) * 0.1)
    return G, D


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_at_alpha_0_the_grown_generator_draws_the_previous_stage_upsampled(stage):
    G, _ = models()
    z = tinygen.randn(8, 16)
    with tinygen.no_grad():
        grown, previous = G(z, stage, 0.0).numpy(), G(z, stage - 1, 1.0).numpy()
        halfway = G(z, stage, 0.5).numpy()
    size = resolution(stage)
    assert grown.shape == (8, 1, size, size) and previous.shape == (8, 1, size // 2, size // 2)
    np.testing.assert_allclose(grown, upsample_np(previous), rtol=0, atol=1e-6)
    assert np.abs(halfway - grown).max() > 1e-2  # the new block does count once alpha > 0


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_at_alpha_0_the_grown_discriminator_scores_as_the_previous_one_on_the_pooled_image(stage):
    _, D = models()
    size = resolution(stage)
    x = np.random.default_rng(stage).uniform(-1, 1, (8, 1, size, size)).astype(np.float32)
    with tinygen.no_grad():
        grown = D(tinygen.tensor(x), stage, 0.0).numpy()
        previous = D(tinygen.tensor(avgpool_np(x)), stage - 1, 1.0).numpy()
        halfway = D(tinygen.tensor(x), stage, 0.5).numpy()
    assert grown.shape == (8, 1)
    np.testing.assert_allclose(grown, previous, rtol=1e-6, atol=1e-6)
    assert np.abs(halfway - grown).max() > 1e-3


def test_the_real_images_are_pooled_and_blended_as_the_generator_output():
    x = np.random.default_rng(0).uniform(-1, 1, (4, 1, 32, 32)).astype(np.float32)
    pooled = {3: x}
    for s in (2, 1, 0):
        pooled[s] = avgpool_np(pooled[s + 1])
    for s in range(STAGES):
        np.testing.assert_allclose(real_images_at(tinygen.tensor(x), s, 1.0).numpy(), pooled[s], atol=1e-6)
    for s in (1, 2, 3):
        np.testing.assert_allclose(real_images_at(tinygen.tensor(x), s, 0.0).numpy(), upsample_np(pooled[s - 1]),
                                   atol=1e-6)
        blend = 0.25 * upsample_np(pooled[s - 1]) + 0.75 * pooled[s]
        np.testing.assert_allclose(real_images_at(tinygen.tensor(x), s, 0.75).numpy(), blend, atol=1e-6)


@pytest.mark.parametrize("stage", range(STAGES))
def test_pixel_norm_gives_every_pixel_of_the_generators_features_mean_square_1(stage):
    G, _ = models()
    with tinygen.no_grad():
        h = G.features(tinygen.randn(8, 16) * 5, stage).numpy()  # z scaled by 5: the norm must undo it
    assert h.shape == (8, G.channels[stage], resolution(stage), resolution(stage))
    np.testing.assert_allclose((h ** 2).mean(axis=1), 1.0, rtol=1e-4)


def equalized_layers(module):
    return [m for _, m in module.named_modules() if isinstance(m, (nn.EqualizedConv2d, nn.EqualizedLinear))]


def test_every_weight_layer_has_the_equalised_learning_rate_with_weights_stored_at_std_1():
    """No plain Linear or Conv2d anywhere in G or D; every stored weight is an N(0, 1) draw (std
    about 1, not the He std sqrt(2 / fan_in), which for these layers is 0.03 ... 1.4)."""
    G, D = models()
    for model in (G, D):
        plain = [name for name, m in model.named_modules() if type(m) in (nn.Linear, nn.Conv2d)]
        assert not plain, plain
        layers = equalized_layers(model)
        assert len(layers) == (2 + 2 * 3 + 4 if model is G else 4 + 2 * 3 + 3)  # with 4 to/from image
        for layer in layers:
            w = layer.weight.numpy()
            if w.size >= 200:  # enough draws to measure a std
                assert 0.85 < w.std() < 1.15, (layer, w.std())
            assert layer.weight_scale == pytest.approx(np.sqrt(2 / (w.size / w.shape[0])))


def test_the_scale_is_applied_at_run_time():
    """G's 1x1 to_image at 32x32 computed by hand: sum_c (c W[0, c]) h[c] + b, with c = sqrt(2 / C)."""
    G, _ = models()
    layer = G.to_image[3]
    h = np.random.default_rng(0).standard_normal((2, layer.in_channels, 4, 4)).astype(np.float32)
    w, b = layer.weight.numpy()[0, :, 0, 0], layer.bias.numpy()[0]
    expected = np.einsum("c,nchw->nhw", w * np.sqrt(2 / layer.in_channels), h)[:, None] + b
    with tinygen.no_grad():
        np.testing.assert_allclose(layer(tinygen.tensor(h)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_the_schedule_grows_and_fades_in_linearly():
    P = 5
    schedule = [growth_schedule(step, P) for step in range(9 * P)]
    stages = [s for s, _ in schedule]
    alphas = [a for _, a in schedule]
    assert stages[:P] == [0] * P and alphas[:P] == [1.0] * P
    assert all(b >= a for a, b in zip(stages, stages[1:]))  # the stage never falls
    for s in (1, 2, 3):
        fade, stable = (2 * s - 1) * P, 2 * s * P
        assert stages[fade:stable + P] == [s] * 2 * P
        np.testing.assert_allclose(alphas[fade:stable], np.arange(P) / P)  # 0, 0.2, ..., 0.8: linear from 0
        assert alphas[stable:stable + P] == [1.0] * P
    assert schedule[6 * P:] == [(3, 1.0)] * 3 * P  # then 32x32 to the end
    assert growth_schedule(10 ** 6, P) == (3, 1.0)


def test_bad_stage_alpha_and_image_sizes_are_refused_clearly():
    G, D = models()
    z = tinygen.randn(4, 16)
    with pytest.raises(ValueError, match=r"ProGenerator: stage must be 0 \.\.\. 3 \(4x4 \.\.\. 32x32\), got 4"):
        G(z, 4, 1.0)
    with pytest.raises(ValueError, match=r"ProGenerator: alpha \(the fade-in weight\) must be in \[0, 1\], got 1.5"):
        G(z, 2, 1.5)
    with pytest.raises(ValueError, match="stage 0 .4x4. has no smaller stage to fade from"):
        G(z, 0, 0.5)
    with pytest.raises(ValueError, match=r"ProGenerator: expected z of shape \(N, 16\), got \(4, 8\)"):
        G(tinygen.randn(4, 8), 1, 1.0)
    with pytest.raises(ValueError, match=r"ProDiscriminator: at stage 2 expected images of shape \(N, 1, 16, 16\), "
                                         r"got \(4, 1, 32, 32\)"):
        D(tinygen.randn(4, 1, 32, 32), 2, 1.0)
    with pytest.raises(ValueError, match=r"real_images_at: expected images of shape \(N, 1, 32, 32\)"):
        real_images_at(tinygen.randn(4, 1, 28, 28), 3, 1.0)
    with pytest.raises(ValueError, match="growth_schedule: phase_steps"):
        growth_schedule(3, 0)


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_at_alpha_1_the_new_block_alone_draws_and_scores(stage):
    """At alpha = 1 the old path is gone: G's image and D's score do not change when the previous
    stage's to_image / from_image weights do, and G(z, stage, 1) is to_image_stage(h_stage).
    In a fade the image is the blend of the two ends: G(z, s, a) = (1 - a) G(z, s, 0) + a G(z, s, 1)."""
    G, D = models()
    z = tinygen.randn(8, 16)
    x = tinygen.tensor(np.random.default_rng(stage).uniform(-1, 1, (8, 1, resolution(stage), resolution(stage)))
                       .astype(np.float32))
    with tinygen.no_grad():
        image, score = G(z, stage, 1.0).numpy(), D(x, stage, 1.0).numpy()
        np.testing.assert_allclose(image, G.to_image[stage](G.features(z, stage)).numpy(), rtol=1e-6, atol=1e-6)
        ends = G(z, stage, 0.0).numpy(), image
        np.testing.assert_allclose(G(z, stage, 0.3).numpy(), 0.7 * ends[0] + 0.3 * ends[1], rtol=1e-5, atol=1e-5)
        old_image, old_score = G(z, stage, 0.5).numpy(), D(x, stage, 0.5).numpy()
        G.to_image[stage - 1].weight.data[...] += 1.0
        D.from_image[stage - 1][0].weight.data[...] += 1.0
        np.testing.assert_array_equal(G(z, stage, 1.0).numpy(), image)
        np.testing.assert_array_equal(D(x, stage, 1.0).numpy(), score)
        assert np.abs(G(z, stage, 0.5).numpy() - old_image).max() > 1e-2  # in a fade the old path counts
        assert np.abs(D(x, stage, 0.5).numpy() - old_score).max() > 1e-3


@pytest.mark.parametrize("stage", [0, 3])
def test_the_discriminator_sees_the_spread_of_each_group_of_4(stage):
    """MinibatchStdDev(4) at 4x4: in a batch of 8, sample n is grouped with the samples n + 2k
    (n mod 2, as the official code groups). Changing image 0 changes the scores of its group
    (0, 2, 4, 6) and of no other; a group of 4 copies of one image gives a spread of 0, so each
    copy is scored as D's 4x4 head scores that image with a map of 0 (sqrt(0 + 1e-8)) beside its
    features."""
    _, D = models()
    size = resolution(stage)
    x = np.random.default_rng(5).uniform(-1, 1, (8, 1, size, size)).astype(np.float32)
    changed = x.copy()
    changed[0] = -changed[0]
    with tinygen.no_grad():
        before, after = D(tinygen.tensor(x), stage).numpy(), D(tinygen.tensor(changed), stage).numpy()
    moved = np.abs(after - before)[:, 0]
    assert (moved[[0, 2, 4, 6]] > 1e-5).all() and (moved[[1, 3, 5, 7]] == 0).all(), moved
    copies = np.repeat(x[:1], 4, axis=0)
    with tinygen.no_grad():
        h = tinygen.tensor(copies)
        h = D.blocks[stage](D.from_image[stage](h))
        for s in range(stage - 1, 0, -1):
            h = D.blocks[s](h)
        h = tinygen.tensor(np.concatenate([h.numpy(), np.full((4, 1, 4, 4), 1e-4, np.float32)], axis=1))
        for layer in list(D.head)[1:]:  # the head after MinibatchStdDev, on [features, sqrt(0 + 1e-8)]
            h = layer(h)
        np.testing.assert_allclose(D(tinygen.tensor(copies), stage).numpy(), h.numpy(), rtol=1e-5, atol=1e-6)


def lrelu_np(x):
    return np.where(x > 0, x, 0.2 * x)


def pixel_norm_np(x):
    return x / np.sqrt((x ** 2).mean(axis=1, keepdims=True) + 1e-8)


def test_the_generator_s_4x4_features_by_hand():
    """h_0 = PN(LReLU(conv3x3(PN(LReLU(reshape(dense(PN(z)))))))), every weight scaled at run time by
    sqrt(2 / fan_in) (Karras et al. 2018, table 2 and section 4), in NumPy (the conv as 9 shifted
    copies): pixel norm on z, after the first layer and after the conv."""
    G, _ = models()
    z = np.random.default_rng(1).standard_normal((3, 16)) * 3
    dense_w = G.project.weight.numpy().astype(np.float64) * np.sqrt(2 / 16)
    h = pixel_norm_np(z) @ dense_w.T + G.project.bias.numpy()
    h = pixel_norm_np(lrelu_np(h.reshape(3, 64, 4, 4)))
    conv = G.base[0]
    kernel = conv.weight.numpy().astype(np.float64) * np.sqrt(2 / (64 * 9))
    padded = np.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1)))
    h = sum(np.einsum("oc,nchw->nohw", kernel[:, :, i, j], padded[:, :, i:i + 4, j:j + 4])
            for i in range(3) for j in range(3)) + conv.bias.numpy()[None, :, None, None]
    expected = pixel_norm_np(lrelu_np(h))
    with tinygen.no_grad():
        got = G.features(tinygen.tensor(z.astype(np.float32)), 0).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
