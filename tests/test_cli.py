"""The examples' command line: a user's mistake is one line on stderr, `<script>: error: <what is wrong>;
<what to do>`, exit status 2, never a traceback, and nothing in --out is written or replaced.

The scripts run as subprocesses with this checkout's tinygen first on their path. Most mistakes are
found before any data is read, so those runs take a fraction of a second; the few that need a
trained run's folder share one, trained for 2 steps.
"""
import argparse
import re
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen
from tinygen.cli import UsageError

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))
import common  # noqa: E402  (examples/common.py)

esc = re.escape
EXAMPLES = ["vanilla_gan_mnist.py", "dcgan_mnist.py", "vae_mnist.py"]


def run_script(script, *args, cwd=None):
    """(exit status, stdout, stderr) of an example run with this checkout's tinygen."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(REPO / "examples" / script), *map(str, args)], capture_output=True,
                          text=True, timeout=300, env=env, cwd=cwd)
    return done.returncode, done.stdout, done.stderr


def assert_refused(script, status, stderr, message):
    assert status == 2, stderr
    assert "Traceback" not in stderr, stderr
    assert stderr.count("\n") == 1, f"not one line:\n{stderr}"
    assert stderr.startswith(f"{script}: error: "), stderr
    assert message in stderr, stderr


def files_in(folder):
    """Every file under `folder` with its bytes and modification time."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------------------------
# Options out of range: refused as they are parsed, in every example


@pytest.mark.parametrize("script", EXAMPLES)
def test_every_example_checks_its_options(tmp_path, script):
    status, _, stderr = run_script(script, "--lr", "-0.01", "--out", tmp_path / "run")
    assert_refused(script, status, stderr, f"argument --lr: must be a positive number, got -0.01; see {script} --help")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("option,value,message", [
    ("--lr", "-0.01", "argument --lr: must be a positive number, got -0.01"),
    ("--lr", "0", "argument --lr: must be a positive number, got 0"),
    ("--lr", "nan", "argument --lr: must be a positive number, got nan"),
    ("--lr", "fast", "argument --lr: expected a number, got 'fast'"),
    ("--epochs", "0", "argument --epochs: must be at least 1, got 0"),
    ("--batch-size", "0", "argument --batch-size: must be at least 1, got 0"),
    ("--batch-size", "2.5", "argument --batch-size: expected a whole number, got '2.5'"),
    ("--max-steps", "-3", "argument --max-steps: must be at least 1, got -3"),
    ("--seed", "-1", "argument --seed: must be at least 0, got -1"),
])
def test_options_out_of_range(tmp_path, option, value, message):
    script = "vanilla_gan_mnist.py"  # the examples share these options (common.parser)
    status, _, stderr = run_script(script, option, value, "--out", tmp_path / "run")
    assert_refused(script, status, stderr, f"{message}; see {script} --help")
    assert not (tmp_path / "run").exists()


def test_vae_latent_must_be_positive(tmp_path):
    status, _, stderr = run_script("vae_mnist.py", "--latent", "0", "--out", tmp_path / "run")
    assert_refused("vae_mnist.py", status, stderr, "argument --latent: must be at least 1, got 0")


def test_unknown_option_is_one_line(tmp_path):
    status, _, stderr = run_script("dcgan_mnist.py", "--learning-rate", "1")
    assert_refused("dcgan_mnist.py", status, stderr, "unrecognized arguments: --learning-rate 1")


@pytest.mark.skipif(tinygen.backend.gpu_available(), reason="a GPU is here")
def test_cuda_without_a_gpu(tmp_path):
    status, _, stderr = run_script("vanilla_gan_mnist.py", "--device", "cuda", "--out", tmp_path / "run")
    assert_refused("vanilla_gan_mnist.py", status, stderr, "--device cuda: ")
    assert stderr.strip().endswith("; use --device cpu")


@settings(deadline=None, max_examples=200)
@given(value=st.integers(-10**6, 10**6), minimum=st.integers(0, 3))
def test_whole_number_accepts_exactly_the_range(value, minimum):
    parse = common.whole_number(minimum)
    if value >= minimum:
        assert parse(str(value)) == value
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=f"must be at least {minimum}, got {value}$"):
            parse(str(value))


@settings(deadline=None, max_examples=200)
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_a_learning_rate_is_a_finite_positive_number(value):
    if np.isfinite(value) and value > 0:
        assert common.positive_number(repr(value)) == value
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="must be a positive number, got "):
            common.positive_number(repr(value))


# ---------------------------------------------------------------------------------------------
# The data: a folder that is not there or holds no MNIST, a batch larger than the data


def test_data_dir_that_does_not_exist(tmp_path):
    status, _, stderr = run_script("vanilla_gan_mnist.py", "--data-dir", tmp_path / "nope", "--out", tmp_path / "run")
    assert_refused("vanilla_gan_mnist.py", status, stderr,
                   f"--data-dir {tmp_path / 'nope'}: no such folder; give the folder holding the MNIST files")
    assert not (tmp_path / "run").exists()


def test_data_dir_without_mnist(tmp_path):
    status, _, stderr = run_script("vae_mnist.py", "--data-dir", tmp_path, "--split", "test", "--out", tmp_path / "run")
    assert_refused("vae_mnist.py", status, stderr, f"--data-dir {tmp_path} holds no MNIST test split (no "
                   "t10k-images-idx3-ubyte.gz or t10k-labels-idx1-ubyte.gz in it or in its mnist/ folder)")
    assert not (tmp_path / "run").exists()


def test_train_split_missing_suggests_the_test_split(tmp_path, mnist_dir):
    """A folder with the test split alone (as on machines without the 60,000 training images)."""
    only_test = tmp_path / "only_test"
    only_test.mkdir()
    for name in tinygen.data.MNIST.files["test"]:
        (only_test / name).symlink_to(tinygen.data.MNIST.find_file(name, mnist_dir))
    status, _, stderr = run_script("vanilla_gan_mnist.py", "--data-dir", only_test, "--out", tmp_path / "run")
    assert_refused("vanilla_gan_mnist.py", status, stderr, "holds no MNIST train split (no train-images-idx3-ubyte.gz "
                   "or train-labels-idx1-ubyte.gz in it or in its mnist/ folder); it holds the test split: "
                   "pass --split test")


@pytest.mark.parametrize("script,images", [("vanilla_gan_mnist.py", 10000), ("dcgan_mnist.py", 10000),
                                           ("vae_mnist.py", 9000)])  # the VAE holds 1000 test images out
def test_batch_larger_than_the_data(tmp_path, mnist_dir, script, images):
    status, _, stderr = run_script(script, "--data-dir", mnist_dir, "--split", "test", "--batch-size", images + 1,
                                   "--out", tmp_path / "run")
    assert_refused(script, status, stderr, f"--batch-size {images + 1} is larger than the {images} training images; "
                   f"use at most {images}")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------
# --out holding a run, and --resume: a trained run's folder is never touched by a refused run


@pytest.fixture(scope="module")
def trained(mnist_dir, tmp_path_factory):
    """Folders of a vanilla GAN, a cGAN and a VAE (--latent 2) run, 2 steps each with batch 32."""
    root = tmp_path_factory.mktemp("trained")
    for script, name, extra in [("vanilla_gan_mnist.py", "gan", []), ("cgan_mnist.py", "cgan", []),
                                ("vae_mnist.py", "vae", ["--latent", "2"])]:
        status, stdout, stderr = run_script(script, "--data-dir", mnist_dir, "--split", "test", "--batch-size", 32,
                                            "--max-steps", 2, "--no-metrics", "--out", root / name, *extra)
        assert status == 0, stderr
    return root


def common_options(mnist_dir):
    return ["--data-dir", mnist_dir, "--split", "test", "--batch-size", 32, "--max-steps", 2, "--no-metrics"]


@pytest.mark.parametrize("extra", [[], ["--epochs", "1"]], ids=["same-command", "other-options"])
def test_a_fresh_run_into_a_runs_folder_is_refused(trained, mnist_dir, extra):
    before = files_in(trained / "gan")
    status, _, stderr = run_script("vanilla_gan_mnist.py", *common_options(mnist_dir), "--out", trained / "gan", *extra)
    out = trained / "gan"
    assert_refused("vanilla_gan_mnist.py", status, stderr,
                   f"--out {out} already holds a run (checkpoint.npz, samples.npy, curves.png); continue it with "
                   f"--resume {out / 'checkpoint.npz'}, choose another --out, or pass --overwrite to replace it")
    assert files_in(out) == before


def test_epochs_0_into_a_trained_run_changes_nothing(trained, mnist_dir):
    before = files_in(trained / "gan")
    status, _, stderr = run_script("vanilla_gan_mnist.py", *common_options(mnist_dir), "--epochs", 0,
                                   "--out", trained / "gan", "--resume", trained / "gan" / "checkpoint.npz")
    assert_refused("vanilla_gan_mnist.py", status, stderr, "argument --epochs: must be at least 1, got 0")
    assert files_in(trained / "gan") == before


def test_resuming_another_runs_checkpoint_into_a_run_is_refused(trained, mnist_dir):
    """--resume from elsewhere into a folder holding a run would mix two runs' files."""
    before = files_in(trained / "vae")
    status, _, stderr = run_script("vae_mnist.py", *common_options(mnist_dir), "--latent", 2, "--out", trained / "vae",
                                   "--resume", trained / "gan" / "checkpoint.npz")
    assert_refused("vae_mnist.py", status, stderr, f"--out {trained / 'vae'} already holds a run")
    assert files_in(trained / "vae") == before


@pytest.mark.parametrize("script,checkpoint,extra,message", [
    ("vanilla_gan_mnist.py", "vae", [], "is a checkpoint of other models (vae; this example trains D, G); give a "
                                        "checkpoint of this example"),
    ("dcgan_mnist.py", "gan", [], "is a checkpoint of other models (D: Discriminator, G: Generator; this example "
                                  "trains D: DCGANDiscriminator, G: DCGANGenerator)"),
    ("lsgan_mnist.py", "gan", [], "is a checkpoint of other models (D: Discriminator, G: Generator; this example "
                                  "trains D: LSGANDiscriminator, G: Generator)"),
    ("acgan_mnist.py", "cgan", [], "is a checkpoint of other models (D: ConditionalDiscriminator, G: "
                                   "ConditionalGenerator; this example trains D: ACGANDiscriminator, G: "
                                   "ACGANGenerator)"),
    ("vae_mnist.py", "vae", ["--latent", "3"], "does not fit this model (load_state_dict for VAE: 'to_mu.weight' has "
                                               "shape (2, 400) in the state dict but (3, 400) in the model); resume "
                                               "with the options it was trained with (e.g. --latent)"),
    ("vae_mnist.py", "vae", ["--latent", "2", "--seed", "5"], "comes from a run with --seed 0, this one has 5; "
                                                               "resume with --seed 0"),
    ("vanilla_gan_mnist.py", "gan", ["--batch-size", "16"], "comes from a run with --batch-size 32, this one has 16; "
                                                            "resume with --batch-size 32"),
], ids=["gan-resumes-vae", "dcgan-resumes-gan", "lsgan-resumes-gan", "acgan-resumes-cgan", "vae-other-latent",
        "other-seed", "other-batch-size"])
def test_resume_of_a_checkpoint_that_does_not_fit(trained, mnist_dir, tmp_path, script, checkpoint, extra, message):
    before = files_in(trained)
    path = trained / checkpoint / "checkpoint.npz"
    status, _, stderr = run_script(script, *common_options(mnist_dir), "--out", tmp_path / "new", "--resume", path,
                                   *extra)
    assert_refused(script, status, stderr, f"--resume {path} {message}")
    assert not (tmp_path / "new").exists() and files_in(trained) == before


@pytest.mark.parametrize("content,message", [
    (b"step = 3\n", "is not a tinygen checkpoint: not an .npz (zip) file (it begins with b'step = 3\\n')"),
    ("cut", "is truncated or damaged (BadZipFile: "),
    ("npy", "is not a tinygen checkpoint: not an .npz (zip) file (it is a single .npy array (np.save)"),
    ("other-npz", "is not a checkpoint of these examples (it holds ['weights'])"),
], ids=["text", "truncated", "npy", "other-npz"])
def test_resume_of_a_file_that_is_no_checkpoint(trained, mnist_dir, tmp_path, content, message):
    path = tmp_path / "given.npz"
    if content == "cut":
        path.write_bytes((trained / "gan" / "checkpoint.npz").read_bytes()[:5000])
    elif content == "npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    elif content == "other-npz":
        tinygen.save({"weights": np.zeros(3)}, path)
    else:
        path.write_bytes(content)
    status, _, stderr = run_script("vanilla_gan_mnist.py", *common_options(mnist_dir), "--out", tmp_path / "new",
                                   "--resume", path)
    assert_refused("vanilla_gan_mnist.py", status, stderr, f"--resume {path} {message}")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("make", ["missing", "folder"])
def test_resume_of_nothing(tmp_path, make):
    path = tmp_path / "ckpt.npz"
    if make == "folder":
        path.mkdir()
    status, _, stderr = run_script("dcgan_mnist.py", "--resume", path, "--out", tmp_path / "new")
    what = "is a folder" if make == "folder" else "no such file"
    assert_refused("dcgan_mnist.py", status, stderr, f"--resume {path}: {what}; give the checkpoint.npz of an earlier run")


def test_out_that_is_a_file(tmp_path):
    (tmp_path / "out").write_text("mine")
    status, _, stderr = run_script("vae_mnist.py", "--out", tmp_path / "out")
    assert_refused("vae_mnist.py", status, stderr, f"--out {tmp_path / 'out'} is a file; give a folder")
    assert (tmp_path / "out").read_text() == "mine"


# ---------------------------------------------------------------------------------------------
# The rule for --out, in process


def options(tmp_path, resume=None, overwrite=False):
    return argparse.Namespace(out=str(tmp_path / "run"), resume=resume, overwrite=overwrite)


@pytest.mark.parametrize("name", common.RUN_FILES)
def test_any_of_a_runs_files_marks_the_folder_as_taken(tmp_path, name):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / name).write_bytes(b"results")
    with pytest.raises(UsageError, match=f"already holds a run \\({name}\\)"):
        common.check_resume_and_out(options(tmp_path))
    common.check_resume_and_out(options(tmp_path, overwrite=True))  # --overwrite: the user means it


def test_an_empty_or_foreign_folder_is_free(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    common.check_resume_and_out(options(tmp_path))


def test_continuing_the_run_in_out_is_allowed(tmp_path):
    (tmp_path / "run").mkdir()
    for name in common.RUN_FILES:
        (tmp_path / "run" / name).write_bytes(b"results")
    common.check_resume_and_out(options(tmp_path, resume=str(tmp_path / "run" / "checkpoint.npz")))


def test_a_read_only_result_in_out_is_found_before_training(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "samples.npy").write_bytes(b"results")
    (tmp_path / "run" / "samples.npy").chmod(0o444)
    with pytest.raises(UsageError, match=esc(f"--out {tmp_path / 'run'}: the file is read-only; not replacing it "
                                             "(samples.npy); make it writable, or choose another --out")):
        common.check_resume_and_out(options(tmp_path, overwrite=True))


def test_data_dir_that_is_a_file(tmp_path):
    (tmp_path / "mnist.gz").write_bytes(b"")
    status, _, stderr = run_script("vanilla_gan_mnist.py", "--data-dir", tmp_path / "mnist.gz", "--out", tmp_path / "r")
    assert_refused("vanilla_gan_mnist.py", status, stderr, f"--data-dir {tmp_path / 'mnist.gz'}: is a file, not a "
                   "folder; give the folder holding the MNIST files")


def test_mnist_neither_on_disk_nor_downloadable(tmp_path, monkeypatch):
    """Without --data-dir the examples look in the cache and download; a failure is one line too."""
    monkeypatch.setattr(tinygen.data.MNIST, "mirrors", ["http://127.0.0.1:9/"])  # nothing listens on port 9
    args = argparse.Namespace(data_dir=None, split="test")
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path))
    with pytest.raises(UsageError, match=esc("MNIST (test split): missing t10k-images-idx3-ubyte.gz, "
                                             "t10k-labels-idx1-ubyte.gz. Downloading it failed (offline?). Pass "
                                             "--data-dir DIR, a folder holding the MNIST files")):
        common.mnist(args, "test")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_loss_that_is_not_finite_stops_training(bad):
    history = {"d_loss": [0.7, 0.6], "g_loss": [0.7, bad]}
    with pytest.raises(UsageError, match=esc(f"step 2: g_loss is {bad}, training diverged; try a smaller --lr than 0.5")):
        common.check_finite(history, 2, argparse.Namespace(lr=0.5))
    common.check_finite({"loss": [1e30]}, 1, argparse.Namespace(lr=0.5))  # large is fine


def test_ctrl_c_is_one_line(tmp_path):
    from tinygen import cli

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_:
        cli.run(interrupted, "demo.py")
    assert exit_.value.code == 130


def test_a_bug_keeps_its_traceback():
    from tinygen import cli

    def buggy():
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError, match="a bug"):
        cli.run(buggy, "demo.py")


def test_a_diverged_training_is_one_line(tmp_path, mnist_dir):
    """A learning rate far too large makes D's outputs NaN within a few steps: the example stops
    with one line that names the cause and what to try, not a traceback from inside a loss."""
    status, _, stderr = run_script("vanilla_gan_mnist.py", "--data-dir", mnist_dir, "--split", "test", "--lr", "1e30",
                                   "--max-steps", "30", "--no-metrics", "--out", tmp_path / "run")
    assert status == 2 and "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("vanilla_gan_mnist.py: error: training diverged (binary_cross_entropy: the input holds "), last
    assert last.endswith("NaN values); try a smaller --lr, or find the op that made the first NaN with "
                         "tinygen.autograd.detect_anomaly()"), last
