"""examples/stylegan_mnist.py: end to end for a few steps (its files and metrics), resume equals one
run, the command line; its step (lazy R1 every R1_EVERY steps with weight R1_EVERY, style mixing
with probability 0.9, G_ema's update); the noise measurement on made-up inputs and on an untrained
G; (slow) after 100 steps, new noise changes the image less, and flips fewer digits, than a
new code w.
"""
import json
import pathlib
import sys
import types

import numpy as np
import pytest

import tinygen
from tinygen import optim
from tinygen.models.stylegan import StyleDiscriminator, StyleGenerator

from same_run import assert_same_run
from test_cli import assert_refused, run_script
from test_examples import check_gan_run_files, run_example

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import stylegan_mnist  # noqa: E402
from stylegan_mnist import R1_EVERY, compare_changes, high_frequency_share  # noqa: E402

SCRIPT = "stylegan_mnist.py"
NOISE_KEYS = {f"{what}_{key}" for what in ("noise", "w")
              for key in ("pixel_change", "digit_change", "high_frequency_share")}


def test_runs_writes_its_files_and_resume_equals_one_run(mnist_dir, tmp_path):
    """Five steps in one run (with the metrics), and in two runs of two and three steps: the same
    G, D, G_ema (with w_avg), optimiser states, history and samples. R1 is applied at steps 0 and
    4, the second after the resume."""
    one, split = tmp_path / "one", tmp_path / "split"
    stdout = run_example(SCRIPT, mnist_dir, one, "--max-steps", "5", "--batch-size", "4")
    saved = check_gan_run_files(one, ["samples_epoch_001.png", "curves.png", "style_mixing.png", "truncation.png"],
                                {"G": "StyleGenerator", "D": "StyleDiscriminator", "G_ema": "StyleGenerator"})
    assert "w_avg" in saved["models"]["G_ema"] and np.abs(saved["models"]["G_ema"]["w_avg"].numpy()).sum() > 0
    assert saved["step"].item() == 5 and sorted(saved["history"]) == ["d_fake", "d_loss", "d_real", "g_loss", "r1"]
    r1 = saved["history"]["r1"].numpy()
    assert r1[0] > 0 and (r1[1:4] == r1[0]).all() and r1[4] != r1[0]  # computed at steps 0 and 4, held between
    found = json.loads((one / "metrics.json").read_text())
    assert found["steps"] == 5 and {"frechet_distance", "classes_covered", "r1_late"} | NOISE_KEYS <= set(found)
    assert found["r1_late"] == r1[-1]  # 10% of 5 steps: the last one
    assert "metrics:" in stdout and "what the noise changes" in stdout

    run_example(SCRIPT, mnist_dir, split, "--max-steps", "2", "--no-metrics", "--batch-size", "4")
    stdout = run_example(SCRIPT, mnist_dir, split, "--max-steps", "5", "--no-metrics", "--batch-size", "4",
                         "--resume", str(split / "checkpoint.npz"))
    assert "at step 2" in stdout
    assert_same_run(one, split, ["samples.npy"])


def test_bad_options_are_one_line(mnist_dir, tmp_path):
    status, _, stderr = run_script(SCRIPT, "--data-dir", mnist_dir, "--split", "test", "--batch-size", 30,
                                   "--out", tmp_path / "run")
    assert_refused(SCRIPT, status, stderr, "--batch-size 30: D's minibatch standard deviation takes groups of 4 "
                   "images; use a multiple of 4")
    status, _, stderr = run_script(SCRIPT, "--lr", "-1", "--out", tmp_path / "run")
    assert_refused(SCRIPT, status, stderr, "argument --lr: must be a positive number, got -1")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------
# The step in process


def small_models(seed=0):
    tinygen.manual_seed(seed)
    G, D = StyleGenerator(latent_dim=8, style_dim=8, channels=4), StyleDiscriminator(channels=4)
    return G, D, StyleGenerator(latent_dim=8, style_dim=8, channels=4)


def real_batch(n=8, seed=0):
    return tinygen.tensor(np.random.default_rng(seed).uniform(-1, 1, (n, 1, 32, 32)).astype(np.float32))


def d_phase_gradients(steps, r1_penalty, monkeypatch, seed=0):
    """`steps` steps of the example's train_step, with r1_penalty replaced and SGD of lr 1e-12 (the
    models stay put, so two runs see the same numbers); returns the gradient of D's loss on D's
    last bias at each step (D is frozen in G's phase: its gradients are those of D's phase)."""
    monkeypatch.setattr(stylegan_mnist, "r1_penalty", r1_penalty)
    G, D, G_ema = small_models(seed)
    G_ema.load_state_dict(G.state_dict())
    history = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": [], "r1": []}
    step = stylegan_mnist.make_train_step(G, D, G_ema, optim.SGD(G.parameters(), lr=1e-12),
                                          optim.SGD(D.parameters(), lr=1e-12),
                                          types.SimpleNamespace(batch_size=8, device="cpu"), history)
    gradients = []
    tinygen.manual_seed(seed + 1)
    for k in range(steps):
        numbers = step(real_batch(seed=k))
        for key in history:
            value = numbers[key]
            history[key].append(float(value.item() if isinstance(value, tinygen.Tensor) else value))
        gradients.append(float(D.net[-1].bias.grad.item()))
    return gradients, history


def test_r1_is_applied_every_r1_every_steps_with_weight_r1_every(monkeypatch):
    """A stand-in penalty sum(b) on D's last bias b (gradient 1) against 0 * sum(b): D's gradient
    on b is R1_EVERY larger at steps 0 and R1_EVERY, and the same at every other step; the
    history's r1 holds the last value computed."""
    calls = []

    def penalty(scale):
        def r1_penalty(D, real, gamma):
            calls.append(real.shape)
            return D.net[-1].bias.sum() * scale
        return r1_penalty

    with_penalty, history = d_phase_gradients(R1_EVERY + 2, penalty(1.0), monkeypatch)
    assert calls == [(8, 1, 32, 32)] * 2
    r1 = history["r1"]
    assert r1[1:R1_EVERY] == [r1[0]] * (R1_EVERY - 1) and r1[R1_EVERY + 1] == r1[R1_EVERY]
    without, _ = d_phase_gradients(R1_EVERY + 2, penalty(0.0), monkeypatch)
    extra = [a - b for a, b in zip(with_penalty, without)]
    expected = [R1_EVERY if k % R1_EVERY == 0 else 0 for k in range(R1_EVERY + 2)]
    np.testing.assert_allclose(extra, expected, atol=1e-4)


def test_g_ema_moves_towards_g_by_one_minus_decay(monkeypatch):
    monkeypatch.setattr(stylegan_mnist, "r1_penalty", lambda D, real, gamma: D.net[-1].bias.sum() * 0)
    G, D, G_ema = small_models()
    G_ema.load_state_dict(G.state_dict())
    before = {name: p.numpy().copy() for name, p in G_ema.named_parameters()}
    history = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": [], "r1": []}
    args = types.SimpleNamespace(batch_size=8, device="cpu")
    opt_G, opt_D = optim.Adam(G.parameters(), lr=1e-2), optim.Adam(D.parameters(), lr=1e-2)
    stylegan_mnist.make_train_step(G, D, G_ema, opt_G, opt_D, args, history)(real_batch())
    decay = stylegan_mnist.ema_decay(8)
    assert 0.999 < decay < 1
    for name, p in G.named_parameters():
        expected = decay * before[name] + (1 - decay) * p.numpy()
        np.testing.assert_allclose(dict(G_ema.named_parameters())[name].numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(G_ema.w_avg.numpy(), G.w_avg.numpy())
    assert np.abs(G.w_avg.numpy()).sum() > 0


def test_style_mixing_is_drawn_with_probability_0_9_at_every_crossover():
    G = StyleGenerator(latent_dim=8, style_dim=8, channels=4)
    tinygen.manual_seed(0)
    draws = [stylegan_mnist.mixing(G, 3, "cpu") for _ in range(2000)]
    mixed = [d for d in draws if d]
    assert abs(len(mixed) / len(draws) - stylegan_mnist.MIXING_PROBABILITY) < 0.025
    assert {d["crossover"] for d in mixed} == set(range(1, G.num_ws))
    assert all(d["mix_z"].shape == (3, 8) for d in mixed)


# ---------------------------------------------------------------------------------------------
# The noise measurement


def test_high_frequency_share_on_made_up_images():
    y, x = np.mgrid[0:32, 0:32]
    checkerboard = np.where((x + y) % 2 == 0, 1.0, -1.0)[None]  # 0.5 cycles per pixel
    blob = np.exp(-((x - 16) ** 2 + (y - 16) ** 2) / (2 * 4.0 ** 2))[None]  # smooth, large
    assert high_frequency_share(checkerboard) == pytest.approx(1.0)
    assert high_frequency_share(blob) < 0.01
    assert high_frequency_share(np.ones((2, 32, 32))) == 0.0 and high_frequency_share(np.zeros((2, 32, 32))) == 0.0
    # energies add: a checkerboard and a blob with equal energy share it half and half
    mixed = checkerboard + blob * np.sqrt((checkerboard ** 2).sum() / (blob ** 2).sum())
    assert high_frequency_share(mixed) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match=r"high_frequency_share: expected images of shape \(N, H, W\), got \(32, 32\)"):
        high_frequency_share(blob[0])


def test_compare_changes_on_made_up_images():
    base = np.zeros((4, 28, 28))
    changed = base.copy()
    changed[:, ::2, ::2] = 0.4  # a quarter of the pixels by 0.4: mean change 0.1
    found = compare_changes(base, changed, np.array([1, 2, 3, 4]), np.array([1, 2, 3, 5]))
    assert found["pixel_change"] == pytest.approx(0.1) and found["digit_change"] == 0.25
    assert 0 < found["high_frequency_share"] < 1
    with pytest.raises(ValueError, match="compare_changes: expected images of one shape"):
        compare_changes(base, changed[:3], np.zeros(4), np.zeros(4))


def test_noise_effect_on_an_untrained_g():
    """The noise weights start at 0: new noise changes nothing at all, a new code does; once the
    weights are not 0, new noise changes the images."""
    G = StyleGenerator(latent_dim=8, style_dim=8, channels=4)
    args = types.SimpleNamespace(seed=0, device="cpu")
    first_pixel_bright = lambda images: (images[:, 0, 0] > 0.5).astype(int)  # noqa: E731 (a made-up "classifier")
    found = stylegan_mnist.noise_effect(G, args, first_pixel_bright, n=20)
    assert set(found) == NOISE_KEYS
    assert found["noise_pixel_change"] == 0 and found["noise_digit_change"] == 0 and found["w_pixel_change"] > 0
    for layer in G.synthesis.layers:
        layer.noise.weight.data[...] = 1.0
    assert stylegan_mnist.noise_effect(G, args, first_pixel_bright, n=20)["noise_pixel_change"] > 0


@pytest.mark.slow
def test_after_a_short_training_noise_changes_detail_not_the_digit(mnist_dir, tmp_path):
    """100 steps of batch 16 (about 30 s on a quiet machine): new noise already moves the pixels
    less than half as far as a new code w does, and changes the digit the classifier reads in less
    than half as many images (after 1,872 steps: 0.0075 against 0.18, and 5 against 96 in 100)."""
    run_example(SCRIPT, mnist_dir, tmp_path, "--max-steps", "100", "--batch-size", "16")
    found = json.loads((tmp_path / "metrics.json").read_text())
    assert found["noise_pixel_change"] < 0.5 * found["w_pixel_change"], found
    assert found["noise_digit_change"] < 0.5 * found["w_digit_change"], found
