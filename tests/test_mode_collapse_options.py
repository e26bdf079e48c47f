"""The remedies for mode collapse on MNIST (issue 13): --experience-replay and
--minibatch-discrimination on examples/vanilla_gan_mnist.py and examples/dcgan_mnist.py, off by
default. End to end for a few steps, the buffer in the checkpoint (resume equals one run), a
resume that toggles a remedy refused, and D with minibatch discrimination seeing its batch.
Then the metrics over training, the class histogram that shows collapse and the Frechet
distance by step (what they measure, and their resume), and
examples/mode_collapse_sweep.py end to end."""
import json
import pathlib
import shutil
import sys

import numpy as np
import pytest

import tinygen
from tinygen import metrics
from tinygen.models.dcgan import DCGANDiscriminator
from tinygen.models.vanilla_gan import Discriminator, Generator

from same_run import assert_same_run
from test_cli import assert_refused, run_script
from test_examples import run_example

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import common  # noqa: E402  (examples/common.py)
import gans  # noqa: E402  (examples/gans.py)


def test_experience_replay_keeps_its_buffer_in_the_checkpoint(mnist_dir, tmp_path):
    run_example("vanilla_gan_mnist.py", mnist_dir, tmp_path, "--max-steps", "3", "--no-metrics", "--experience-replay")
    saved = tinygen.load(tmp_path / "checkpoint.npz")
    assert saved["model_types"] == {"D": "Discriminator", "G": "Generator", "replay": "ReplayBuffer"}
    assert saved["models"]["replay"]["images"].shape == (320, 784)  # ten batches of 32
    assert saved["models"]["replay"]["count"].item() == 96  # three batches stored while it fills
    stored = saved["models"]["replay"]["images"].numpy()[:96]
    assert (np.abs(stored) <= 1).all() and stored.std() > 0  # G's tanh images, not zeros
    assert json.loads(saved["options"])["experience_replay"] is True


def test_experience_replay_run_split_in_two_equals_one_run(mnist_dir, tmp_path):
    one, split = tmp_path / "one", tmp_path / "split"
    options = ["--no-metrics", "--experience-replay", "--batch-size", "8"]  # a buffer of 80: full after 10 steps
    run_example("vanilla_gan_mnist.py", mnist_dir, one, "--max-steps", "14", *options)
    run_example("vanilla_gan_mnist.py", mnist_dir, split, "--max-steps", "12", *options)
    run_example("vanilla_gan_mnist.py", mnist_dir, split, "--max-steps", "14", *options,
                "--resume", str(split / "checkpoint.npz"))
    assert_same_run(one, split, ["samples.npy"])


def test_dcgan_with_minibatch_discrimination_runs(mnist_dir, tmp_path):
    run_example("dcgan_mnist.py", mnist_dir, tmp_path, "--max-steps", "2", "--no-metrics", "--minibatch-discrimination")
    saved = tinygen.load(tmp_path / "checkpoint.npz")
    assert saved["models"]["D"]["net.6.T"].shape == (128 * 7 * 7, 500)  # 100 kernels of 5
    assert np.load(tmp_path / "samples.npy").shape == (1000, 28, 28)


@pytest.mark.parametrize("script", ["vanilla_gan_mnist.py", "dcgan_mnist.py"])
def test_a_resume_that_toggles_a_remedy_is_refused(script, mnist_dir, tmp_path):
    run_example(script, mnist_dir, tmp_path, "--max-steps", "1", "--no-metrics", "--minibatch-discrimination")
    status, _, stderr = run_script(script, "--data-dir", mnist_dir, "--split", "test", "--batch-size", "32",
                                   "--out", tmp_path, "--resume", tmp_path / "checkpoint.npz")
    assert_refused(script, status, stderr, "comes from a run with --minibatch-discrimination, this one is without it; "
                   "resume with --minibatch-discrimination (D's layers depend on it)")
    status, _, stderr = run_script(script, "--data-dir", mnist_dir, "--split", "test", "--batch-size", "32",
                                   "--out", tmp_path, "--resume", tmp_path / "checkpoint.npz",
                                   "--minibatch-discrimination", "--experience-replay")
    assert_refused(script, status, stderr, "comes from a run without --experience-replay, this one is with it; "
                   "resume without --experience-replay (the buffer is part of the run)")


@pytest.mark.parametrize("make_D", [Discriminator, DCGANDiscriminator])
def test_only_minibatch_discrimination_lets_D_see_the_batch(make_D):
    images = np.random.default_rng(0).uniform(-1, 1, (6, 1, 28, 28)).astype(np.float32)
    changed = images.copy()
    changed[3:] = -1  # every image but the first three: blank
    for minibatch_discrimination in (False, True):
        tinygen.manual_seed(0)
        D = make_D(minibatch_discrimination=minibatch_discrimination)
        D.eval()  # the DCGAN's BatchNorm uses running statistics: only the new layer can mix the batch
        before, after = D(tinygen.tensor(images)).numpy(), D(tinygen.tensor(changed)).numpy()
        assert (np.abs(after[:3] - before[:3]) > 1e-7).any() == minibatch_discrimination


def test_the_remedies_are_off_by_default():
    tinygen.manual_seed(0)
    plain = [p.shape for p in Discriminator().parameters()]
    assert plain == [(512, 784), (512,), (256, 512), (256,), (1, 256), (1,)]  # the classic D, unchanged
    assert [p.shape for p in DCGANDiscriminator().parameters()][-2:] == [(1, 128, 7, 7), (1,)]


# ---------------------------------------------------------------------------------------------
# The class histogram over training: where collapse shows, epoch by epoch


@pytest.fixture(scope="module")
def histogram_runs(mnist_dir, tmp_path_factory):
    """Two epochs of 20 steps (batch 500) in one run, and split at step 30, in the middle of epoch
    2 (its checkpoint there kept as at_30.npz), then resumed: the folders one/ and split/."""
    runs = tmp_path_factory.mktemp("histograms")
    one, split = runs / "one", runs / "split"
    run_example("vanilla_gan_mnist.py", mnist_dir, one, *HISTOGRAM_RUN)
    run_example("vanilla_gan_mnist.py", mnist_dir, split, *HISTOGRAM_RUN, "--max-steps", "30")
    shutil.copy(split / "checkpoint.npz", runs / "at_30.npz")
    run_example("vanilla_gan_mnist.py", mnist_dir, split, *HISTOGRAM_RUN, "--resume", str(split / "checkpoint.npz"))
    return runs


HISTOGRAM_RUN = ["--epochs", "2", "--batch-size", "500"]  # 20 steps an epoch


def test_each_epochs_metrics_are_those_of_G_of_the_watched_noise(histogram_runs, mnist_dir):
    """Each epoch's row holds tinygen's metrics of G(z) for 1000 fixed z (gans.sample_noise with
    offset 2) and the step it was measured at: recomputed here from the saved G, the last row is
    the same; metrics.json lists them, and the two figures are drawn."""
    one = histogram_runs / "one"
    saved = tinygen.load(one / "checkpoint.npz")["epoch_history"]
    rows = saved["class_histogram"].numpy()
    assert saved["epoch"].numpy().tolist() == [1, 2] and saved["step"].numpy().tolist() == [20, 40]
    assert rows.shape == (2, 10) and (rows.sum(axis=1) == 1000).all()
    G = Generator(latent_dim=100)
    G.load_state_dict(tinygen.load(one / "checkpoint.npz")["models"]["G"])
    watched = common.fixed_noise(1000, 100, seed=0 + 2, device="cpu")  # --seed 0, offset 2
    recomputed = metrics.evaluate(gans.generate(G, watched), data_dir=mnist_dir, verbose=False)
    assert rows[-1].tolist() == recomputed["class_histogram"]
    assert saved["frechet_distance"].numpy()[-1] == recomputed["frechet_distance"]
    assert saved["classifier_score"].numpy()[-1] == recomputed["classifier_score"]
    # After one epoch of 20 steps G is further from the digits than after two.
    assert saved["frechet_distance"].numpy()[0] > saved["frechet_distance"].numpy()[1]
    found = json.loads((one / "metrics.json").read_text())
    assert found["class_histogram_per_epoch"] == rows.tolist()
    assert found["step_per_epoch"] == [20, 40]
    assert found["frechet_distance_per_epoch"] == saved["frechet_distance"].numpy().tolist()
    assert found["classifier_score_per_epoch"] == saved["classifier_score"].numpy().tolist()
    assert (one / "class_histograms.png").stat().st_size > 5000
    assert (one / "fd_by_step.png").stat().st_size > 5000


def test_the_epochs_metrics_resume_with_the_run(histogram_runs):
    """Split at the middle of epoch 2, the rows are those of one run (epoch 2 measured once, at step 40)."""
    assert tinygen.load(histogram_runs / "at_30.npz")["epoch_history"]["epoch"].numpy().tolist() == [1, 2]
    assert_same_run(histogram_runs / "one", histogram_runs / "split", ["samples.npy"])
    one, split = (json.loads((histogram_runs / name / "metrics.json").read_text()) for name in ("one", "split"))
    for key in ("step_per_epoch", "frechet_distance_per_epoch", "classifier_score_per_epoch", "class_histogram_per_epoch"):
        assert split[key] == one[key], key


def test_a_checkpoint_from_before_the_class_histograms_still_resumes(histogram_runs, mnist_dir, tmp_path):
    saved = tinygen.load(histogram_runs / "at_30.npz")
    del saved["epoch_history"]  # as the checkpoints written before it was added
    tinygen.save(saved, tmp_path / "older.npz")
    continued = tmp_path / "continued"
    run_example("vanilla_gan_mnist.py", mnist_dir, continued, *HISTOGRAM_RUN, "--no-metrics",
                "--resume", str(tmp_path / "older.npz"))
    assert tinygen.load(continued / "checkpoint.npz")["step"].item() == 40


def test_a_checkpoint_from_before_the_frechet_distances_resumes_without_them(histogram_runs, mnist_dir, tmp_path):
    """A checkpoint that counted digits but measured no distance: its epochs' distances are not
    measured (null in metrics.json, a gap in the figure); the epochs after it are."""
    saved = tinygen.load(histogram_runs / "at_30.npz")
    saved["epoch_history"] = {key: saved["epoch_history"][key] for key in ("epoch", "class_histogram")}
    tinygen.save(saved, tmp_path / "older.npz")
    continued = tmp_path / "continued"
    run_example("vanilla_gan_mnist.py", mnist_dir, continued, *HISTOGRAM_RUN, "--resume", str(tmp_path / "older.npz"))
    found = json.loads((continued / "metrics.json").read_text())
    assert found["step_per_epoch"] == [None, 40]  # epoch 2, cut at step 30, is measured anew at its end
    assert found["frechet_distance_per_epoch"][0] is None
    assert all(isinstance(value, float) for value in found["frechet_distance_per_epoch"][1:])
    assert (continued / "fd_by_step.png").stat().st_size > 5000


def test_no_metrics_counts_nothing(mnist_dir, tmp_path):
    run_example("vanilla_gan_mnist.py", mnist_dir, tmp_path, "--max-steps", "2", "--no-metrics")
    assert tinygen.load(tmp_path / "checkpoint.npz")["epoch_history"]["epoch"].shape == (0,)
    assert not (tmp_path / "class_histograms.png").exists() and not (tmp_path / "fd_by_step.png").exists()


# ---------------------------------------------------------------------------------------------
# examples/mode_collapse_sweep.py


def test_the_sweep_trains_every_run_and_tabulates_them(mnist_dir, tmp_path):
    options = ["--data-dir", mnist_dir, "--split", "test", "--models", "vanilla", "--remedies", "none",
               "minibatch-discrimination", "--seeds", "2", "--max-steps", "2", "--jobs", "2", "--out", tmp_path]
    status, stdout, stderr = run_script("mode_collapse_sweep.py", *options)
    assert status == 0, stderr[-3000:]
    table = json.loads((tmp_path / "table.json").read_text())
    assert [(row["model"], row["remedy"]) for row in table["rows"]] == [("vanilla", "none"),
                                                                        ("vanilla", "minibatch-discrimination")]
    for run in table["runs"]:
        found = json.loads((tmp_path / f"vanilla_{run['remedy']}_seed{run['seed']}" / "metrics.json").read_text())
        assert run["frechet_distance"] == found["frechet_distance"] and found["steps"] == 2
        assert run["histogram_spread"] == pytest.approx(np.std(found["class_histogram"]))
        shares = np.array(found["class_histogram_per_epoch"]) / 1000  # one epoch (two steps): its second half is all
        assert run["largest_share"] == pytest.approx(shares.max()) and run["smallest_share"] == pytest.approx(shares.min())
    mine = [run for run in table["runs"] if run["remedy"] == "none"]
    assert table["rows"][0]["frechet_distance"] == pytest.approx(np.mean([run["frechet_distance"] for run in mine]))
    assert "| vanilla | minibatch-discrimination |" in (tmp_path / "table.md").read_text()
    assert (tmp_path / "class_histograms.png").stat().st_size > 5000
    # --tabulate reads the runs again and trains nothing
    before = (tmp_path / "vanilla_none_seed0" / "samples.npy").stat().st_mtime_ns
    status, stdout, stderr = run_script("mode_collapse_sweep.py", *options, "--tabulate")
    assert status == 0, stderr[-3000:]
    assert (tmp_path / "vanilla_none_seed0" / "samples.npy").stat().st_mtime_ns == before
    assert json.loads((tmp_path / "table.json").read_text())["rows"] == table["rows"]
    # a second sweep into the same folder is refused
    status, _, stderr = run_script("mode_collapse_sweep.py", *options)
    assert_refused("mode_collapse_sweep.py", status, stderr, "already holds a sweep (table.md, table.json")


def test_bad_sweep_options_are_one_line(tmp_path):
    status, _, stderr = run_script("mode_collapse_sweep.py", "--data-dir", tmp_path / "nothing", "--split", "test",
                                   "--out", tmp_path / "sweep")
    assert_refused("mode_collapse_sweep.py", status, stderr, "--data-dir")
    status, _, stderr = run_script("mode_collapse_sweep.py", "--tabulate", "--split", "test", "--out", tmp_path / "sweep")
    assert_refused("mode_collapse_sweep.py", status, stderr, "--tabulate: 18 of the runs have no metrics.json")
