"""The examples' command line: a user's mistake is one line on stderr, `<script>: error: <what is wrong>;
<what to do>`, exit status 2, never a traceback, and nothing in --out is written or replaced.

The scripts run as `python script` would, with this checkout's tinygen (tests/script_runs.py). Most mistakes are
found before any data is read, so those runs take a fraction of a second; the few that need a
trained run's folder share one, trained for 2 steps.
"""
import argparse
import re
import pathlib
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
from script_runs import run_python  # noqa: E402

esc = re.escape
EXAMPLES = ["vanilla_gan_mnist.py", "dcgan_mnist.py", "vae_mnist.py"]


def run_script(script, *args, cwd=None, env=None, timeout=300):
    """(exit status, stdout, stderr) of an example run with this checkout's tinygen (env: variables to add)."""
    return run_python(REPO / "examples" / script, *args, cwd=cwd, env=env, timeout=timeout)


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
    """Folders of a vanilla GAN, a cGAN, a VAE (--latent 2) and an anomaly detector run, 2 steps each with batch 32."""
    root = tmp_path_factory.mktemp("trained")
    for script, name, extra in [("vanilla_gan_mnist.py", "gan", []), ("cgan_mnist.py", "cgan", []),
                                ("vae_mnist.py", "vae", ["--latent", "2"]), ("anomaly_detection_mnist.py", "anomaly", [])]:
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
    ("vanilla_gan_mnist.py", "vae", [], "was written by vae_mnist.py, not by vanilla_gan_mnist.py; resume it with "
                                        "vae_mnist.py, or start a new run"),
    ("dcgan_mnist.py", "gan", [], "was written by vanilla_gan_mnist.py, not by dcgan_mnist.py; resume it with "
                                  "vanilla_gan_mnist.py, or start a new run"),
    ("lsgan_mnist.py", "gan", [], "was written by vanilla_gan_mnist.py, not by lsgan_mnist.py"),
    ("acgan_mnist.py", "cgan", [], "was written by cgan_mnist.py, not by acgan_mnist.py"),
    ("vae_mnist.py", "vae", ["--latent", "3"], "comes from a run with --latent 2, this one has 3; resume with "
                                               "--latent 2 (the checkpoint's run was trained with it; for another "
                                               "value, start a new run)"),
    ("vae_mnist.py", "vae", ["--latent", "2", "--lr", "0.01"], "comes from a run with --lr 0.001, this one has 0.01; "
                                                               "resume with --lr 0.001 (the checkpoint's optimisers "
                                                               "continue at it; for another rate, start a new run)"),
    ("vanilla_gan_mnist.py", "gan", ["--lr", "2e-4"], None),  # the checkpoint's own value, given by hand: accepted
    ("anomaly_detection_mnist.py", "anomaly", ["--anomaly-digit", "3"],
     "comes from a run with --anomaly-digit 2, this one has 3; resume with --anomaly-digit 2"),
    ("vanilla_gan_mnist.py", "gan", ["--minibatch-discrimination"],
     "comes from a run without --minibatch-discrimination, this one is with it; resume without"),
    ("vae_mnist.py", "vae", ["--latent", "2", "--seed", "5"], "comes from a run with --seed 0, this one has 5; "
                                                               "resume with --seed 0"),
    ("vanilla_gan_mnist.py", "gan", ["--batch-size", "16"], "comes from a run with --batch-size 32, this one has 16; "
                                                            "resume with --batch-size 32"),
], ids=["gan-resumes-vae", "dcgan-resumes-gan", "lsgan-resumes-gan", "acgan-resumes-cgan", "vae-other-latent",
        "vae-other-lr", "gan-same-lr", "anomaly-other-digit", "gan-other-flag", "other-seed", "other-batch-size"])
def test_resume_of_a_checkpoint_that_does_not_fit(trained, mnist_dir, tmp_path, script, checkpoint, extra, message):
    """A resume continues the checkpoint's run: every option but where things are and how far to
    train must be the run's own (a new --lr would otherwise give way to the optimisers' saved one)."""
    before = files_in(trained)
    path = trained / checkpoint / "checkpoint.npz"
    status, stdout, stderr = run_script(script, *common_options(mnist_dir), "--out", tmp_path / "new", "--resume",
                                        path, *extra)
    if message is None:  # the run of 2 steps is finished: said on stdout, status 0, nothing written
        assert status == 0 and stderr == "", stderr
        assert f"--resume {path}: the run is already finished (step 2 of 2); nothing written" in stdout
    else:
        assert_refused(script, status, stderr, f"--resume {path} {message}")
    assert not (tmp_path / "new").exists() and files_in(trained) == before


def test_an_older_checkpoint_of_other_models_is_named_by_its_models(trained, mnist_dir, tmp_path):
    """Checkpoints written before they named their example: the models' types tell them apart."""
    saved = tinygen.load(trained / "gan" / "checkpoint.npz")
    del saved["example"]
    tinygen.save(saved, tmp_path / "older.npz")
    status, _, stderr = run_script("dcgan_mnist.py", *common_options(mnist_dir), "--out", tmp_path / "new", "--resume",
                                   tmp_path / "older.npz")
    assert_refused("dcgan_mnist.py", status, stderr, f"--resume {tmp_path / 'older.npz'} is a checkpoint of other "
                   "models (D: Discriminator, G: Generator; this example trains D: DCGANDiscriminator, G: "
                   "DCGANGenerator)")


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


# ---------------------------------------------------------------------------------------------
# Issue 23: what a resume, --overwrite and the modes of an example do with the options they get


def test_a_resume_in_out_removes_the_stale_metrics(trained, mnist_dir, tmp_path):
    """metrics.json measured the model before the resume: it goes (and with --no-metrics no new one comes)."""
    run = tmp_path / "gan"
    run.mkdir()
    for path in (trained / "gan").iterdir():
        (run / path.name).write_bytes(path.read_bytes())
    (run / "metrics.json").write_text('{"steps": 2}')
    status, stdout, stderr = run_script("vanilla_gan_mnist.py", *common_options(mnist_dir), "--max-steps", 3,
                                        "--out", run, "--resume", run / "checkpoint.npz")
    assert status == 0, stderr
    assert f"removed {run / 'metrics.json'}: it measured the model before this resume; --no-metrics" in stdout
    assert not (run / "metrics.json").exists() and (run / "samples.npy").exists()


def test_overwrite_of_the_run_it_resumes_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.npz").write_bytes(b"a run")
    with pytest.raises(UsageError, match=esc(f"--overwrite would remove the run in --out {tmp_path / 'run'} that "
                                             f"--resume {tmp_path / 'run' / 'checkpoint.npz'} continues; drop --overwrite")):
        common.check_resume_and_out(options(tmp_path, resume=str(tmp_path / "run" / "checkpoint.npz"), overwrite=True))


@pytest.mark.parametrize("out", ["", " "])
def test_an_empty_out_is_refused(out):
    with pytest.raises(UsageError, match=esc(f"--out {out!r} is empty; give a folder for the run's results")):
        common.check_resume_and_out(argparse.Namespace(out=out, resume=None, overwrite=False))


def test_overwrite_removes_the_earlier_runs_files_and_nothing_else(tmp_path):
    """A VAE's folder overwritten by a GAN run: none of the VAE's files stay beside the GAN's; the user's do."""
    run = tmp_path / "run"
    run.mkdir()
    theirs = ["checkpoint.npz", "reconstructions.npy", "elbo.txt", "manifold.png", "samples_epoch_001.png",
              "reconstructions_epoch_012.png", "metrics.json"]
    mine = ["notes.txt", "samples_epoch_1.png", "my_samples.npy", "curves.png.bak"]
    for name in theirs + mine:
        (run / name).write_bytes(b"x")
    (run / "sub").mkdir()
    (run / "sub" / "samples.npy").write_bytes(b"x")
    common.clear_for_this_run(argparse.Namespace(overwrite=True, no_metrics=True), run)
    assert sorted(p.name for p in run.iterdir()) == sorted(mine + ["sub"])
    assert (run / "sub" / "samples.npy").exists()


def test_every_file_an_example_writes_is_a_run_output():
    """--overwrite removes exactly the run's outputs, so the list of them must name every file an
    example writes into its folder (`folder / "name"` in examples/*.py); a new one must be added."""
    written = set()
    for script in (REPO / "examples").glob("*.py"):
        if script.name in ("gan_toy_2d.py", "gan_toy_2d_sweep.py", "mode_collapse_sweep.py", "gallery.py",
                           "beta_vae_sweep.py"):  # their own --out rules (no checkpoint, no --resume)
            continue
        written |= {m.group(1) for m in re.finditer(r'folder / f?"([^"]+)"', script.read_text())}
    assert written, "found no output names: the pattern no longer matches the examples"
    for name in sorted(written):
        example = name.replace("{epoch + 1:03d}", "007")
        assert (example in common.RUN_FILES or example in common.RUN_PICTURES
                or common.EPOCH_PICTURES.fullmatch(example)), name


@pytest.mark.parametrize("script", ["vanilla_gan_mnist.py", "cgan_mnist.py", "acgan_mnist.py", "lsgan_mnist.py",
                                    "infogan_mnist.py", "wgan_mnist.py", "wgan_gp_mnist.py"])
def test_batch_of_one_with_batch_norm_is_refused(tmp_path, mnist_dir, script):
    """These G's have BatchNorm1d, whose batch statistics need 2 images; --batch-size 1 was a traceback."""
    status, _, stderr = run_script(script, "--data-dir", mnist_dir, "--split", "test", "--batch-size", 1,
                                   "--max-steps", 1, "--no-metrics", "--out", tmp_path / "run")
    assert_refused(script, status, stderr, "--batch-size 1: G's BatchNorm1d (")
    assert stderr.strip().endswith("normalises each feature by its statistics over the batch, which need at least 2 "
                                   "images; use --batch-size 2 or more")
    assert not (tmp_path / "run").exists()


def test_batch_norm_check_finds_nested_layers_and_only_batch_norm_1d():
    from tinygen import nn
    args = argparse.Namespace(batch_size=1)
    with pytest.raises(UsageError, match=esc("--batch-size 1: D's BatchNorm1d (1.0) normalises")):
        common.check_batch_norm(args, {"G": nn.Linear(2, 2), "D": nn.Sequential(nn.Linear(2, 3),
                                                                              nn.Sequential(nn.BatchNorm1d(3)))})
    common.check_batch_norm(args, {"G": nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))})  # over the pixels too
    common.check_batch_norm(argparse.Namespace(batch_size=2), {"D": nn.BatchNorm1d(3)})


@pytest.mark.parametrize("script,args,message", [
    ("sparse_autoencoder_mnist.py", ["--penalty", "l1", "--rho", "0.1"],
     "--rho does nothing with --penalty l1 (it is the KL penalty's target rate); drop --rho, or pass --penalty kl"),
    ("vanilla_gan_mnist.py", ["--out", ""], "--out '' is empty; give a folder for the run's results"),
], ids=["rho-with-l1", "empty-out"])
def test_mistakes_found_as_the_options_are_read(tmp_path, script, args, message):
    status, _, stderr = run_script(script, *args, cwd=tmp_path)
    assert_refused(script, status, stderr, message)
    assert list(tmp_path.iterdir()) == []


def test_options_given_sees_a_default_given_by_hand():
    parser = common.parser("demo", epochs=1, batch_size=2, lr=0.1, out="runs/x")
    parser.add_argument("--rho", type=float, default=0.1)
    parser.add_argument("--flag", action="store_true")
    argv = sys.argv
    try:
        sys.argv = ["demo.py", "--rho", "0.1", "--flag", "--lr=0.1"]
        assert common.options_given(parser) == {"rho", "flag", "lr"}
        sys.argv = ["demo.py", "--rh", "0.2"]  # argparse's abbreviations count too
        assert common.options_given(parser) == {"rho"}
    finally:
        sys.argv = argv


def test_an_unwritable_metrics_cache_is_found_before_training(tmp_path, mnist_dir):
    """The classifier is cached with its reference's predictions at the first epoch's end (trained
    there when only the test split is at hand): a cache that cannot be written is refused before
    anything, rather than failing then and losing the epoch."""
    (tmp_path / "a_file").write_text("not a folder")
    cache = tmp_path / "a_file" / "cache"
    status, _, stderr = run_script("vanilla_gan_mnist.py", "--data-dir", mnist_dir, "--split", "test",
                                   "--out", tmp_path / "run", env={"TINYGEN_DATA": str(cache)},
                                   timeout=60)  # refused at once
    assert_refused("vanilla_gan_mnist.py", status, stderr, f"the metrics' classifier is cached as "
                   f"{cache / 'mnist_classifier.npz'}, but {tmp_path / 'a_file'} cannot be written; set TINYGEN_DATA "
                   f"to a writable folder, or pass --no-metrics")
    assert not (tmp_path / "run").exists()


def test_a_classifier_that_cannot_be_cached_is_still_used(tmp_path, monkeypatch, capsys):
    from tinygen import metrics
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path / "a_file" / "cache"))
    images = np.zeros((30, 28, 28), np.float32)
    labels = np.zeros(30, np.int64)
    monkeypatch.setattr(metrics, "reference_data",
                        lambda data_dir, training=True: metrics.ReferenceData(images, labels, images, labels, "tiny"))
    monkeypatch.setattr(metrics, "train_classifier", lambda *args, **kwargs: metrics.MnistClassifier())
    model, _, _ = metrics.load_classifier()
    assert isinstance(model, metrics.MnistClassifier)
    assert "metrics: could not cache the classifier in " in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# A damaged checkpoint is called damaged, naming the entry: not advice about options


def doctored(trained, tmp_path, change):
    """A copy of the trained GAN's checkpoint with change(saved) applied."""
    saved = tinygen.load(trained / "gan" / "checkpoint.npz")
    change(saved)
    path = tmp_path / "doctored.npz"
    tinygen.save(saved, path)
    return path


def set_entry(*keys, value):
    def change(saved):
        node = saved
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value(node[keys[-1]]) if callable(value) else value
    return change


@pytest.mark.parametrize("change,message", [
    (set_entry("step", value=np.int64(-1)), "'step' is array(-1), not a whole number >= 0"),
    (set_entry("step", value=np.float64(2.5)), "'step' is array(2.5), not a whole number >= 0"),
    (set_entry("step", value=np.int64(7)), "'history/d_loss' holds 2 steps, but 'step' is 7"),
    (set_entry("rng", value="{not json"), "'rng' is not a random state of the generator (JSONDecodeError: "),
    (set_entry("rng", value='{"bit_generator": "MT19937"}'), "'rng' is not a random state of the generator ("),
    (set_entry("options", value="[1, 2"), "'options' does not parse ("),
    (set_entry("models", "G", "net.0.weight", value=lambda w: np.full(w.shape, np.nan, np.float32)),
     "'models/G/net.0.weight' holds NaN or infinite values"),
    (set_entry("optimizers", "D", "0.exp_avg", value=lambda m: np.full(m.shape, np.inf, np.float32)),
     "'optimizers/D/0.exp_avg' holds NaN or infinite values"),
    (set_entry("models", "D", "net.0.bias", value=lambda b: b.numpy().astype(np.float64)),
     "'models/D/net.0.bias' is float64, but the model's is float32"),
], ids=["negative-step", "fractional-step", "step-against-history", "rng-not-json", "rng-other-generator",
        "options-not-json", "nan-weight", "inf-adam-state", "float64-weight"])
def test_a_damaged_checkpoint_is_called_damaged(trained, tmp_path, change, message):
    from tinygen import optim
    from tinygen.models.vanilla_gan import Discriminator, Generator
    path = doctored(trained, tmp_path, change)
    G, D = Generator(), Discriminator()
    args = argparse.Namespace(split="test", batch_size=32, seed=0)
    with pytest.raises(UsageError) as refused:
        common.load_checkpoint(str(path), args, {"G": G, "D": D},
                               {"G": optim.Adam(G.parameters()), "D": optim.Adam(D.parameters())},
                               {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []})
    assert str(refused.value).startswith(f"--resume {path} is damaged: {message}"), refused.value
    assert str(refused.value).endswith("; no run writes that: resume from an undamaged copy, or start a new run")


def test_a_damaged_checkpoint_is_one_line(trained, mnist_dir, tmp_path):
    path = doctored(trained, tmp_path, set_entry("models", "G", "net.0.weight",
                                                 value=lambda w: np.full(w.shape, np.nan, np.float32)))
    status, _, stderr = run_script("vanilla_gan_mnist.py", *common_options(mnist_dir), "--out", tmp_path / "new",
                                   "--resume", path)
    assert_refused("vanilla_gan_mnist.py", status, stderr,
                   f"--resume {path} is damaged: 'models/G/net.0.weight' holds NaN or infinite values")
    assert not (tmp_path / "new").exists()
