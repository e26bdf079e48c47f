"""examples/gallery.py: rows accumulate across sessions in catalogue order, bad samples are refused in
one line, and the catalogue is every image-drawing example's actual --out default. Synthetic samples
in a temporary folder; the real docs/images/gallery.png is made from real runs, not here."""
import ast
import pathlib
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))
import gallery  # noqa: E402  (examples/gallery.py)
from script_runs import run_python  # noqa: E402

SCRIPT = REPO / "examples" / "gallery.py"


def write_samples(runs, folder, value=None, n=1000, seed=0):
    """A fake run: samples.npy, float32 (n, 28, 28); sample i filled with i / n unless `value`."""
    path = runs / folder / "samples.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    if value is None:
        samples = np.broadcast_to((np.arange(n) / n).reshape(n, 1, 1), (n, 28, 28))
    else:
        samples = np.full((n, 28, 28), value)
    np.save(path, np.asarray(samples, dtype=np.float32))
    return path


def run_gallery(runs, out):
    status, stdout, stderr = run_python(SCRIPT, "--runs", runs, "--out", out, timeout=60)
    return subprocess.CompletedProcess([SCRIPT], status, stdout, stderr)


def saved_rows(out):
    with np.load(out / gallery.ROWS_FILE) as saved:
        return {name: saved[name] for name in saved.files}


def test_rows_accumulate_across_two_sessions_in_catalogue_order(tmp_path):
    out = tmp_path / "images"
    first, second = tmp_path / "first", tmp_path / "second"
    write_samples(first, "stylegan", 0.25)
    write_samples(first, "vae", 0.5)
    done = run_gallery(first, out)
    assert done.returncode == 0, done.stderr
    assert list(saved_rows(out)) == ["vae", "stylegan"]
    assert "2 of 14 models" in done.stdout

    # Another session, another machine: a new model, and a new run of the VAE; StyleGAN's row is kept.
    write_samples(second, "vae", 1.0)
    write_samples(second, "cgan", 0.0)
    done = run_gallery(second, out)
    assert done.returncode == 0, done.stderr
    rows = saved_rows(out)
    assert list(rows) == ["vae", "cgan", "stylegan"]  # the catalogue's order, not the order of arrival
    assert (rows["vae"] == 255).all() and (rows["cgan"] == 0).all() and (rows["stylegan"] == 64).all()
    assert all(row.dtype == np.uint8 and row.shape == (10, 28, 28) for row in rows.values())
    assert "kept from earlier: stylegan" in done.stdout


def test_the_row_is_ten_samples_spread_through_the_file():
    """A conditional model writes 100 of each digit in order: the row takes one of each."""
    samples = np.repeat(np.arange(10) * 20 / 255, 100).reshape(1000, 1, 1) * np.ones((1, 28, 28))
    row = gallery.row_of(samples.astype(np.float32))
    assert [int(image[0, 0]) for image in row] == [20 * k for k in range(10)]


def test_the_picture_is_written(tmp_path):
    runs = tmp_path / "runs"
    for folder, _ in gallery.CATALOGUE[:3]:
        write_samples(runs, folder)
    done = run_gallery(runs, tmp_path / "images")
    assert done.returncode == 0, done.stderr
    picture = tmp_path / "images" / gallery.PICTURE
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in (tmp_path / "images").iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize("samples,got", [
    (np.zeros((5, 28, 28), np.float32), "got float32 (5, 28, 28)"),
    (np.zeros((20, 1, 28, 28), np.float32), "got float32 (20, 1, 28, 28)"),
    (np.zeros((20, 28, 28), np.uint8), "got uint8 (20, 28, 28)"),
    (np.full((20, 28, 28), 2.0, np.float32), "got float32 (20, 28, 28) in [2, 2]"),
    (np.full((20, 28, 28), np.nan, np.float32), "got float32 (20, 28, 28) with NaN"),
])
def test_bad_samples_are_refused_in_one_line(tmp_path, samples, got):
    runs, out = tmp_path / "runs", tmp_path / "images"
    (runs / "dcgan").mkdir(parents=True)
    np.save(runs / "dcgan" / "samples.npy", samples)
    done = run_gallery(runs, out)
    assert done.returncode == 2
    path = runs / "dcgan" / "samples.npy"
    assert done.stderr == (f"gallery.py: error: {path}: expected float (N >= 10, 28, 28) in [0, 1] "
                           f"without NaN, {got}\n")
    assert not out.exists()  # nothing written


def test_command_line_mistakes_are_one_line(tmp_path):
    for runs, message in [(tmp_path / "nope", "no such folder"), (tmp_path, "no samples: no ")]:
        done = run_gallery(runs, tmp_path / "images")
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert len(done.stderr.splitlines()) == 1 and message in done.stderr
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / gallery.ROWS_FILE).write_text("not a zip")
    done = run_gallery(tmp_path, tmp_path / "images")
    assert done.returncode == 2 and "not a gallery rows file" in done.stderr and len(done.stderr.splitlines()) == 1


def writes_image_samples(tree):
    """Whether the script hands samples to the GANs' `gans.finish` (or to `train_gan`, the vanilla
    GAN's loop, which does), or passes `samples=` to the autoencoders' `autoencoders.finish`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in ("gans.finish", "train_gan"):
                return True
            if name == "autoencoders.finish" and any(k.arg == "samples" for k in node.keywords):
                return True
    return False


def image_examples():
    """{folder: script} for every example whose --out default is runs/<folder> (the `out=` it gives
    the shared parser) and that writes image samples.npy."""
    found = {}
    for path in sorted((REPO / "examples").glob("*.py")):
        tree = ast.parse(path.read_text())
        defaults = [k.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                    and ast.unparse(node.func) in ("common.parser", "autoencoders.parser")
                    for k in node.keywords if k.arg == "out" and isinstance(k.value, ast.Constant)]
        if defaults and writes_image_samples(tree):
            (default,) = defaults
            assert default.startswith("runs/"), (path.name, default)
            found[default.removeprefix("runs/")] = path.name
    return found


def test_the_catalogue_is_every_image_example_with_its_actual_out_default():
    found = image_examples()
    assert {"vae_mnist.py", "dcgan_mnist.py", "stylegan_mnist.py"} <= set(found.values())  # the parse sees them
    assert sorted(folder for folder, _ in gallery.CATALOGUE) == sorted(found)
    # The docstrings agree: each of these examples says it writes samples.npy.
    for script in found.values():
        assert "samples.npy" in (REPO / "examples" / script).read_text().split('"""')[1], script


def test_a_samples_file_that_is_not_an_array_is_refused_in_one_line(tmp_path):
    runs = tmp_path / "runs"
    (runs / "wgan").mkdir(parents=True)
    (runs / "wgan" / "samples.npy").write_text("not an array")
    done = run_gallery(runs, tmp_path / "images")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert f"{runs / 'wgan' / 'samples.npy'}: expected float (N >= 10, 28, 28)" in done.stderr
    assert "got a file np.load cannot read" in done.stderr
