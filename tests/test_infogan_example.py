"""InfoGAN's example: examples/infogan_mnist.py.

End to end for a few steps (its files), resume equals one run, the command line, that the step's
information loss reaches G, Q's head and the trunk (in the step the example runs, not only in the
model's test), how Q's accuracy is counted, and (slow) the property that defines InfoGAN: after a
short training Q reads the code c back from G(z, c, cont) far above chance.
"""
import json
import pathlib
import sys
import types

import numpy as np
import pytest

import tinygen
from tinygen import optim
from tinygen.models.infogan import InfoGANDiscriminator, InfoGANGenerator

from same_run import assert_same_run
from test_gan_loop import loop_args
from test_cli import assert_refused, run_script
from test_examples import run_example

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import gans  # noqa: E402
import infogan_mnist  # noqa: E402

SCRIPT = "infogan_mnist.py"


def check_samples(folder):
    """samples.npy (1000, 28, 28) and samples_by_code.npy (10, 100, 28, 28), float32 in [0, 1],
    samples being samples_by_code row by row: 100 of each code, in code order."""
    samples, by_code = np.load(folder / "samples.npy"), np.load(folder / "samples_by_code.npy")
    assert samples.shape == (1000, 28, 28) and samples.dtype == np.float32
    assert by_code.shape == (10, 100, 28, 28) and by_code.dtype == np.float32
    assert 0 <= by_code.min() <= by_code.max() <= 1
    np.testing.assert_array_equal(samples, by_code.reshape(1000, 28, 28))
    assert np.abs(by_code[0] - by_code[1]).max() > 0  # the code changes the image
    for name in ["samples_epoch_001.png", "samples_by_code.png", "continuous_codes.png", "curves.png"]:
        assert (folder / name).stat().st_size > 1000, name


def test_infogan_runs_and_writes_its_files(mnist_dir, tmp_path):
    stdout = run_example(SCRIPT, mnist_dir, tmp_path, "--max-steps", "3")
    check_samples(tmp_path)
    assert "Q reads the code c of G(z, c, cont): accuracy " in stdout
    found = json.loads((tmp_path / "metrics.json").read_text())
    assert found["steps"] == 3 and 0 <= found["q_accuracy"] <= 1
    assert 0 <= found["code_matched_accuracy"] <= found["code_purity"] <= 1
    assert sorted(found["code_to_digit"]) == list(range(10))
    assert np.array(found["code_confusion"]).shape == (10, 10) and np.sum(found["code_confusion"]) == 1000
    assert {"frechet_distance", "classes_covered", "classifier_score"} <= set(found)
    saved = tinygen.load(tmp_path / "checkpoint.npz")
    assert saved["model_types"] == {"D": "InfoGANDiscriminator", "G": "InfoGANGenerator"}
    assert sorted(saved["history"]) == ["d_fake", "d_loss", "d_real", "g_loss", "information"]


def test_infogan_run_split_in_two_equals_one_run(mnist_dir, tmp_path):
    one, split = tmp_path / "one", tmp_path / "split"
    run_example(SCRIPT, mnist_dir, one, "--max-steps", "4", "--no-metrics")
    run_example(SCRIPT, mnist_dir, split, "--max-steps", "2", "--no-metrics")
    stdout = run_example(SCRIPT, mnist_dir, split, "--max-steps", "4", "--no-metrics",
                         "--resume", str(split / "checkpoint.npz"))
    assert "at step 2" in stdout and not (split / "metrics.json").exists()
    assert_same_run(one, split, ["samples.npy", "samples_by_code.npy"])


def test_bad_options_are_one_line(mnist_dir, tmp_path):
    run = tmp_path / "run"
    status, _, stderr = run_script(SCRIPT, "--g-lr", "0", "--out", run)
    assert_refused(SCRIPT, status, stderr, f"argument --g-lr: must be a positive number, got 0; see {SCRIPT} --help")
    status, _, stderr = run_script(SCRIPT, "--data-dir", mnist_dir, "--split", "test", "--batch-size", 10001,
                                   "--out", run)
    assert_refused(SCRIPT, status, stderr, "--batch-size 10001 is larger than the 10000 training images; "
                   "use at most 10000")
    assert not run.exists()


def test_a_checkpoint_of_another_gan_is_refused(mnist_dir, tmp_path):
    run_example("vanilla_gan_mnist.py", mnist_dir, tmp_path / "gan", "--max-steps", "1", "--no-metrics")
    status, _, stderr = run_script(SCRIPT, "--data-dir", mnist_dir, "--split", "test", "--batch-size", 32,
                                   "--out", tmp_path / "run", "--resume", tmp_path / "gan" / "checkpoint.npz")
    assert_refused(SCRIPT, status, stderr, "was written by vanilla_gan_mnist.py, not by infogan_mnist.py; resume it "
                   "with vanilla_gan_mnist.py, or start a new run")


# ---------------------------------------------------------------------------------------------
# The step: the information loss reaches G, Q's head and the trunk


def step_args(**options):
    return types.SimpleNamespace(**{"batch_size": 8, "device": "cpu", **options})


def moved_by_one_step():
    """Which parameters one step of the example moves, with D's adversarial head silenced.

    Its weight is 0 and no optimiser holds it, so the adversarial losses send no gradient to the
    trunk or to G (it multiplies their gradient), and Adam leaves a parameter whose gradient is 0
    where it is: whatever moves in G, the trunk or Q's head was moved by the information loss.
    """
    tinygen.manual_seed(0)
    G, D = InfoGANGenerator(width=8, hidden=32), InfoGANDiscriminator(width=8, hidden=32)
    D.adversarial.weight.data[...] = 0
    opt_G = optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.trunk.parameters() + D.q.parameters(), lr=2e-4, betas=(0.5, 0.999))
    step = infogan_mnist.make_train_step(G, D, opt_G, opt_D, step_args())
    parts = {"G": G, "trunk": D.trunk, "Q's head": D.q}
    before = {name: [p.numpy().copy() for p in part.parameters()] for name, part in parts.items()}
    numbers = step(tinygen.rand(8, 1, 28, 28) * 2 - 1)
    moved = {name: [bool((p.numpy() != b).any()) for p, b in zip(part.parameters(), before[name])]
             for name, part in parts.items()}
    return moved, numbers, D


def test_the_steps_information_loss_reaches_g_q_and_the_trunk():
    """G's phase must add L_I (else G never learns to put c in the image), and D's phase too
    (else Q's head and the trunk never learn to read it): every parameter of all three moves."""
    moved, numbers, D = moved_by_one_step()
    for name, flags in moved.items():
        assert all(flags), f"{name}: {flags.count(False)} of {len(flags)} parameters not moved by the information loss"
    assert set(numbers) == {"d_loss", "g_loss", "d_real", "d_fake", "information"}
    assert 0 < numbers["d_real"].item() < 1 and 0 < numbers["d_fake"].item() < 1  # probabilities, not logits
    assert numbers["information"].item() <= np.log(10) + 1e-6
    assert all(p.requires_grad for p in D.parameters())  # D unfrozen again after G's phase


def test_q_accuracy_counts_right_readings():
    """A G that writes its code into the first pixel (value c / 10) and a Q that reads it there."""
    class Writes(InfoGANGenerator):
        def forward(self, z, c, cont):
            images = np.zeros((z.shape[0], 1, 28, 28), np.float32)
            images[:, 0, 0, 0] = c.numpy() / 10
            return tinygen.Tensor(images)

    class Reads(InfoGANDiscriminator):
        def __init__(self, shift):
            super().__init__(width=8, hidden=32)
            self.shift = shift

        def forward(self, images):
            c = (images.numpy()[:, 0, 0, 0] * 10).round().astype(int)
            logits = np.eye(10, dtype=np.float32)[(c + self.shift) % 10]
            return tinygen.zeros(len(c), 1), tinygen.Tensor(logits), tinygen.zeros(len(c), 2)

    args = step_args(seed=0)
    assert infogan_mnist.q_accuracy(Writes(), Reads(shift=0), args) == 1.0
    assert infogan_mnist.q_accuracy(Writes(), Reads(shift=1), args) == 0.0


def test_the_continuous_sweep_varies_one_code_a_half():
    """continuous_codes.png's images: 10 rows of 10 + 1 white + 10; each half changes along its row."""
    tinygen.manual_seed(0)
    G = InfoGANGenerator(width=8, hidden=32)
    images, columns = infogan_mnist.continuous_sweep(G, step_args(seed=0))
    assert columns == 21 and images.shape == (210, 28, 28)
    rows = images.reshape(10, 21, 28, 28)
    assert (rows[:, 10] == 1).all()  # the white column between the sweeps
    assert np.abs(rows[:, 0] - rows[:, 9]).max() > 1e-4 and np.abs(rows[:, 11] - rows[:, 20]).max() > 1e-4


# ---------------------------------------------------------------------------------------------
# The property: Q reads c back from G(z, c, cont)


@pytest.mark.slow
def test_a_briefly_trained_infogan_makes_its_code_readable(mnist_dir, tmp_path):
    """One epoch (156 steps) of the example's own step on the test split, default networks: Q's
    most likely category for G(z, c, cont) is c far above chance (0.1). Measured 1.0; with G's
    phase planted without the information loss, 0.29 (the test fails)."""
    args = loop_args(tmp_path, data_dir=str(mnist_dir), batch_size=64, epochs=1, max_steps=None)
    tinygen.manual_seed(0)
    G, D = InfoGANGenerator(), InfoGANDiscriminator()
    opt_G = optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    history = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": [], "information": []}
    gans.train(args, gans.load_data(args).images, infogan_mnist.make_train_step(G, D, opt_G, opt_D, args),
               {"G": G, "D": D}, {"G": opt_G, "D": opt_D}, history)
    accuracy = infogan_mnist.q_accuracy(G, D, args)
    print("Q's accuracy:", accuracy, "information of the last 10 steps:", np.mean(history["information"][-10:]))
    assert accuracy > 0.8 and np.mean(history["information"][-10:]) > 1.0
