"""examples/progressive_gan_mnist.py: it runs and writes its files, a resume in the middle of a
fade-in equals one run, every call of D in a step (the gradient penalty's included) gets the
schedule's fade-in alpha, and G_ema is the moving average of G."""
import copy
import json
import pathlib
import sys
import types

import numpy as np

import tinygen
from tinygen import optim
from tinygen.models.progressive_gan import ProDiscriminator, ProGenerator, growth_schedule

from same_run import assert_same_run
from test_cli import assert_refused, run_script
from test_examples import check_gan_run_files, run_example

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import progressive_gan_mnist  # noqa: E402

SCRIPT = "progressive_gan_mnist.py"


def test_runs_writes_its_files_and_a_resume_in_the_middle_of_a_fade_in_equals_one_run(mnist_dir, tmp_path):
    """With 2 steps a phase, steps 0-1 are 4x4 and steps 2-3 fade in 8x8 (alpha 0, 0.5). One run of
    4 steps, and a run of 3 resumed for the 4th (at alpha 0.5): the same models, G_ema,
    optimisers, history and samples. A resume with another --phase-steps is refused."""
    one, split = tmp_path / "one", tmp_path / "split"
    stdout = run_example(SCRIPT, mnist_dir, one, "--max-steps", "4", "--phase-steps", "2")
    saved = check_gan_run_files(one, ["samples_epoch_001.png", "curves.png", "growth.png", "resolutions.png"],
                                {"G": "ProGenerator", "D": "ProDiscriminator", "G_ema": "ProGenerator"})
    history = {key: values.numpy().tolist() for key, values in saved["history"].items()}
    assert history["stage"] == [0, 0, 1, 1] and history["alpha"] == [1, 1, 0, 0.5]
    found = json.loads((one / "metrics.json").read_text())
    assert found["steps"] == 4 and found["phase_steps"] == 2 and found["final_resolution"] == 8
    assert found["stage_start_steps"] == [0, 2, 6, 10] and "frechet_distance" in found and "metrics:" in stdout
    assert found["steps_at_each_resolution"] == {"4x4": 2, "8x8": 2, "16x16": 0, "32x32": 0}

    run_example(SCRIPT, mnist_dir, split, "--max-steps", "3", "--phase-steps", "2", "--no-metrics")
    stdout = run_example(SCRIPT, mnist_dir, split, "--max-steps", "4", "--phase-steps", "2", "--no-metrics",
                         "--resume", str(split / "checkpoint.npz"))
    assert "at step 3" in stdout
    assert_same_run(one, split, ["samples.npy"])

    status, _, stderr = run_script(SCRIPT, "--data-dir", mnist_dir, "--split", "test", "--batch-size", 32,
                                   "--phase-steps", 3, "--out", split, "--resume", split / "checkpoint.npz")
    assert_refused(SCRIPT, status, stderr, "--phase-steps")


def test_bad_options_are_one_line(mnist_dir, tmp_path):
    status, _, stderr = run_script(SCRIPT, "--data-dir", mnist_dir, "--split", "test", "--batch-size", 30,
                                   "--out", tmp_path / "run")
    assert_refused(SCRIPT, status, stderr, "--batch-size 30: D's minibatch standard deviation takes groups of 4 "
                   "images; use a multiple of 4")
    status, _, stderr = run_script(SCRIPT, "--phase-steps", 0, "--out", tmp_path / "run")
    assert_refused(SCRIPT, status, stderr, "argument --phase-steps: must be at least 1, got 0")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------
# The step in process


def make_step(history, phase_steps=4, seed=0):
    tinygen.manual_seed(seed)
    G, D = ProGenerator(latent_dim=8), ProDiscriminator()
    G_ema = copy.deepcopy(G)
    opt_G, opt_D = (optim.Adam(m.parameters(), lr=1e-3, betas=(0.0, 0.99)) for m in (G, D))
    args = types.SimpleNamespace(batch_size=8, device="cpu", phase_steps=phase_steps)
    step = progressive_gan_mnist.make_train_step(G, D, G_ema, opt_G, opt_D, args, history)
    return step, G, D, G_ema


def real_batch(seed=0):
    return tinygen.tensor(np.random.default_rng(seed).uniform(-1, 1, (8, 1, 32, 32)).astype(np.float32))


def test_every_call_of_D_in_a_step_gets_the_fade_in_alpha_not_the_penalty_s():
    """A spy on D records (stage, alpha, image size) at every call. At step 13 of phases of 4
    steps (the 16x16 fade-in, alpha 0.25), D is called on the reals, the fakes, the penalty's
    interpolates and G's fakes: all four at stage 2 and alpha 0.25, on 16x16 images. The
    penalty draws its own interpolation weight per sample; a step that let it stand in for the
    fade-in alpha (or called D at its defaults, 32x32 and alpha 1) fails here."""
    history = {key: [0.0] * 13 for key in progressive_gan_mnist.HISTORY}
    step, G, D, _ = make_step(history)
    assert growth_schedule(13, 4) == (2, 0.25)
    seen, forward = [], D.forward

    def spy(x, stage=3, alpha=1.0):
        seen.append((stage, alpha, x.shape[-1]))
        return forward(x, stage, alpha)

    D.forward = spy
    numbers = step(real_batch())
    assert seen == [(2, 0.25, 16)] * 4
    assert numbers["stage"] == 2 and numbers["alpha"] == 0.25
    assert 0 < numbers["grad_norm"].item() and all(p.requires_grad for p in D.parameters())


def test_the_step_follows_the_schedule_from_the_history_length():
    history = {key: [] for key in progressive_gan_mnist.HISTORY}
    step, *_ = make_step(history, phase_steps=1)
    got = []
    for k in range(3):
        numbers = step(real_batch(k))
        for key in history:
            value = numbers[key]
            history[key].append(float(value.item() if isinstance(value, tinygen.Tensor) else value))
        got.append((numbers["stage"], numbers["alpha"]))
    assert got == [growth_schedule(k, 1) for k in range(3)] == [(0, 1.0), (1, 0.0), (1, 1.0)]


def test_G_ema_is_the_moving_average_of_G():
    """After one step G_ema = EMA_DECAY G_before + (1 - EMA_DECAY) G_after, parameter by parameter (G_ema started as G)."""
    history = {key: [] for key in progressive_gan_mnist.HISTORY}
    step, G, _, G_ema = make_step(history)
    before = [p.numpy().copy() for p in G.parameters()]
    step(real_batch())
    moved = 0
    for b, p, a in zip(before, G.parameters(), G_ema.parameters()):
        decay = progressive_gan_mnist.EMA_DECAY
        np.testing.assert_allclose(a.numpy(), decay * b + (1 - decay) * p.numpy(), rtol=1e-6, atol=1e-7)
        moved += (p.numpy() != b).any()
    assert moved >= 4  # G trained (at 4x4: its input layers, base and to_image 0)
