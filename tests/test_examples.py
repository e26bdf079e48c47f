"""Each headline example runs end to end on real MNIST for a few steps, and resuming equals one run."""
import json
import pathlib

import numpy as np
import pytest

import tinygen
from same_run import assert_same_run
from script_runs import run_example  # noqa: F401  (other test files import it from here)

REPO = pathlib.Path(__file__).resolve().parents[1]

EXAMPLES = ["vanilla_gan_mnist.py", "dcgan_mnist.py", "vae_mnist.py"]


def check_gan_run_files(folder, pictures, model_types):
    """A GAN run's samples.npy (float32 (1000, 28, 28) in [0, 1]), its pictures (not empty) and the
    model classes in its checkpoint; returns the checkpoint."""
    samples = np.load(folder / "samples.npy")
    assert samples.shape == (1000, 28, 28) and samples.dtype == np.float32 and 0 <= samples.min() <= samples.max() <= 1
    for name in pictures:
        assert (folder / name).stat().st_size > 1000, name
    saved = tinygen.load(folder / "checkpoint.npz")
    assert saved["model_types"] == model_types
    return saved


def options(script):
    return ["--latent", "2"] if script == "vae_mnist.py" else []


@pytest.fixture(scope="module", params=EXAMPLES)
def six_steps(request, mnist_dir, tmp_path_factory):
    """(script, folder, stdout) of one 6-step run of `script` with its metrics: the run that the
    tests below read and that the split run must equal, made once for them all."""
    script = request.param
    folder = tmp_path_factory.mktemp(script.removesuffix(".py"))
    return script, folder, run_example(script, mnist_dir, folder, "--max-steps", "6", *options(script))


def test_example_runs_and_writes_its_files(six_steps):
    script, folder, stdout = six_steps
    samples = np.load(folder / "samples.npy")
    assert samples.shape == (1000, 28, 28) and samples.dtype == np.float32
    assert 0 <= samples.min() and samples.max() <= 1
    assert (folder / "samples_epoch_001.png").stat().st_size > 1000
    assert (folder / "curves.png").stat().st_size > 1000
    assert (folder / "checkpoint.npz").exists()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics) >= {"classifier_score", "frechet_distance", "class_histogram", "classes_covered"}
    assert metrics["trained_on"] == "MNIST test split" and "not comparable" in metrics["note"]  # --split test
    assert ("test digits" if script == "vae_mnist.py" else "reference digits") in metrics["judged_on"]
    assert "metrics:" in stdout
    if script == "vae_mnist.py":
        assert (folder / "manifold.png").exists() and (folder / "reconstructions_epoch_001.png").exists()
        assert (folder / "interpolation.png").exists() and not (folder / "traversal.png").exists()
        assert "ELBO on 1000 held-out digits, grey" in stdout
        assert metrics["beta"] == 1 and metrics["held_out_negative_elbo"] > 0 and metrics["code_size"] == 2


def test_a_run_split_in_two_equals_one_run(six_steps, mnist_dir, tmp_path):
    """Stop at step 3, resume to step 6: the same weights, curves, measures and samples as 6 steps at once."""
    script, one, _ = six_steps
    run_example(script, mnist_dir, tmp_path, "--max-steps", "3", "--no-metrics", *options(script))
    stdout = run_example(script, mnist_dir, tmp_path, "--max-steps", "6", *options(script),
                         "--resume", str(tmp_path / "checkpoint.npz"))
    assert "resumed from" in stdout and "at step 3" in stdout
    assert_same_run(one, tmp_path, ["samples.npy"])


def test_overwrite_replaces_a_run_on_purpose(mnist_dir, tmp_path):
    run_example("vanilla_gan_mnist.py", mnist_dir, tmp_path, "--max-steps", "2", "--no-metrics")
    first = np.load(tmp_path / "checkpoint.npz")["history/d_loss"]
    run_example("vanilla_gan_mnist.py", mnist_dir, tmp_path, "--max-steps", "1", "--no-metrics", "--seed", "1",
                "--overwrite")
    assert len(first) == 2 and len(np.load(tmp_path / "checkpoint.npz")["history/d_loss"]) == 1


def test_a_checkpoint_from_before_options_were_saved_still_resumes(mnist_dir, tmp_path):
    """Checkpoints written before 'options' and 'model_types' were saved resume as they did."""

    run_example("vae_mnist.py", mnist_dir, tmp_path, "--max-steps", "2", "--no-metrics")
    saved = tinygen.load(tmp_path / "checkpoint.npz")
    assert json.loads(saved["options"])["batch_size"] == 32 and saved["model_types"] == {"vae": "VAE"}
    del saved["options"], saved["model_types"]
    tinygen.save(saved, tmp_path / "checkpoint.npz")
    stdout = run_example("vae_mnist.py", mnist_dir, tmp_path, "--max-steps", "3", "--no-metrics",
                         "--resume", str(tmp_path / "checkpoint.npz"))
    assert "at step 2" in stdout


# --- on the GPU (or on the strict CuPy stand-in: TINYGEN_FAKE_CUPY=1 python -m pytest -m gpu) --------------
needs_gpu = pytest.mark.skipif(not tinygen.gpu_available(), reason="no CuPy/CUDA GPU here")


@pytest.mark.parametrize("script", EXAMPLES)
@pytest.mark.gpu
@needs_gpu
def test_example_trains_on_cuda_and_resumes_across_devices(script, mnist_dir, tmp_path):
    """Train on 'cuda' with metrics and pictures, resume on the CPU from that checkpoint, then on 'cuda' again
    from the CPU's: every picture, file and number crosses from the device explicitly."""
    extra = ["--latent", "2"] if script == "vae_mnist.py" else []
    stdout = run_example(script, mnist_dir, tmp_path, "--max-steps", "2", "--device", "cuda", *extra)
    assert "metrics:" in stdout and (tmp_path / "samples_epoch_001.png").stat().st_size > 1000
    resumed_on_cpu = run_example(script, mnist_dir, tmp_path, "--max-steps", "3", "--no-metrics", "--device", "cpu",
                                 "--resume", str(tmp_path / "checkpoint.npz"), *extra)
    assert "at step 2" in resumed_on_cpu
    resumed_on_cuda = run_example(script, mnist_dir, tmp_path, "--max-steps", "4", "--no-metrics", "--device", "cuda",
                                  "--resume", str(tmp_path / "checkpoint.npz"), *extra)
    assert "at step 3" in resumed_on_cuda
    samples = np.load(tmp_path / "samples.npy")
    assert samples.shape == (1000, 28, 28) and np.isfinite(samples).all()


# One example of each other family, two steps on 'cuda' with its metrics and pictures (StyleGAN's 40 s is left out).
OTHER_FAMILIES = ["acgan_mnist.py", "infogan_mnist.py", "wgan_gp_mnist.py", "progressive_gan_mnist.py", "aae_mnist.py",
                  "cvae_mnist.py", "denoising_autoencoder_mnist.py", "recurrent_autoencoder_mnist.py"]


@pytest.mark.parametrize("script", OTHER_FAMILIES)
@pytest.mark.gpu
@needs_gpu
def test_each_family_runs_on_cuda(script, mnist_dir, tmp_path):
    stdout = run_example(script, mnist_dir, tmp_path, "--max-steps", "2", "--device", "cuda")
    assert "metrics:" in stdout and (tmp_path / "checkpoint.npz").exists()

