"""The remedies for mode collapse on MNIST (issue 13): --experience-replay and
--minibatch-discrimination on examples/vanilla_gan_mnist.py and examples/dcgan_mnist.py, off by
default. End to end for a few steps, the buffer in the checkpoint (resume equals one run), a
resume that toggles a remedy refused, and D with minibatch discrimination seeing its batch."""
import numpy as np
import pytest

import tinygen
from tinygen.models.dcgan import DCGANDiscriminator
from tinygen.models.vanilla_gan import Discriminator

from same_run import assert_same_run
from test_cli import assert_refused, run_script
from test_examples import run_example


def test_experience_replay_keeps_its_buffer_in_the_checkpoint(mnist_dir, tmp_path):
    run_example("vanilla_gan_mnist.py", mnist_dir, tmp_path, "--max-steps", "3", "--no-metrics", "--experience-replay")
    saved = tinygen.load(tmp_path / "checkpoint.npz")
    assert saved["model_types"] == {"D": "Discriminator", "G": "Generator", "replay": "ReplayBuffer"}
    assert saved["models"]["replay"]["images"].shape == (320, 784)  # ten batches of 32
    assert saved["models"]["replay"]["count"].item() == 96  # three batches stored while it fills
    stored = saved["models"]["replay"]["images"].numpy()[:96]
    assert (np.abs(stored) <= 1).all() and stored.std() > 0  # G's tanh images, not zeros
    assert saved["options"]["experience_replay"].item() is True


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
