"""What the metrics accept, and the one-line errors of `python -m tinygen.metrics` for the rest.

None of these needs the classifier: the samples are checked before it is loaded or trained.
"""
import pathlib
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygen import metrics
from tinygen.cli import UsageError
from script_runs import run_python

esc = re.escape
REPO = pathlib.Path(__file__).resolve().parents[1]
ACCEPTED = "(N, 28, 28), (N, 1, 28, 28) or (N, 784)"
N = metrics.MIN_SAMPLES


def command_line(*args):
    """Run the metrics command (this checkout's); returns (exit status, stdout, stderr)."""
    return run_python("tinygen.metrics", *args, module=True, timeout=120, cwd=REPO)


def assert_one_line_error(status, stderr, message):
    assert status == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("python -m tinygen.metrics: error: "), stderr
    assert message in stderr, stderr


# ---------------------------------------------------------------------------------------------
# check_samples: shapes, counts and values


@pytest.mark.parametrize("shape", [(N, 28, 28), (N, 1, 28, 28), (N, 784)])
def test_accepted_shapes_become_n_28_28(shape):
    out = metrics.check_samples(np.full(shape, 0.5))
    assert out.shape == (N, 28, 28) and out.dtype == np.float32


@pytest.mark.parametrize("shape", [(49, 32, 32), (N, 3, 28, 28), (N, 28, 28, 3), (N, 28, 28, 1), (28, 28), (784,),
                                   (N, 1, 1, 28, 28), (N, 28 * 28 * 3), ()],
                         ids=["small-colour", "channel-first-rgb", "channel-last-rgb", "channel-last-grey",
                              "single-image", "single-flat", "extra-dim", "flat-rgb", "scalar"])
def test_other_shapes_are_refused_naming_the_shape(shape):
    with pytest.raises(ValueError, match=esc(f"metrics: samples of shape {shape}; expected grey 28x28 images of "
                                             f"shape {ACCEPTED}")):
        metrics.check_samples(np.zeros(shape))


@settings(deadline=None, max_examples=100)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=5, min_side=1, max_side=40))
def test_any_shape_is_accepted_exactly_when_it_means_grey_28x28_images(shape):
    images = np.zeros(shape, dtype=np.uint8)
    if shape[1:] in [(28, 28), (1, 28, 28), (784,)] and shape[0] >= N:
        assert metrics.check_samples(images).shape == (shape[0], 28, 28)
    elif shape[1:] in [(28, 28), (1, 28, 28), (784,)]:
        with pytest.raises(ValueError, match=f"metrics: too few images \\({shape[0]}\\)"):
            metrics.check_samples(images)
    else:
        with pytest.raises(ValueError, match=esc(f"samples of shape {shape}; expected")):
            metrics.check_samples(images)


@pytest.mark.parametrize("n", [0, 1, 2, N - 1])
def test_too_few_images_for_a_frechet_distance(n):
    with pytest.raises(ValueError, match=esc(f"metrics: too few images ({n}); the Frechet distance fits a 128x128 "
                                             f"covariance to their features, which needs at least {N} images")):
        metrics.check_samples(np.zeros((n, 28, 28)))


def test_pixels_of_0_to_255_get_a_hint():
    with pytest.raises(ValueError, match=esc("samples must be in [0, 1], got values in [0, 255]; pixels of 0..255? "
                                             "divide them by 255")):
        metrics.check_samples(np.arange(N * 784).reshape(N, 28, 28).astype(np.uint8))


def test_tanh_range_gets_a_hint():
    images = np.linspace(-1, 1, N * 784).reshape(N, 784)
    with pytest.raises(ValueError, match=esc("got values in [-1, 1]; tanh output in [-1, 1]? map it to [0, 1] with "
                                             "(x + 1) / 2")):
        metrics.check_samples(images)


@settings(deadline=None, max_examples=100)
@given(bad=st.one_of(st.floats(-1e6, -1e-6), st.floats(1.0001, 1e6), st.sampled_from([np.nan, np.inf, -np.inf])),
       where=st.integers(0, N * 784 - 1))
def test_one_value_outside_0_1_or_not_finite_is_refused(bad, where):
    images = np.full(N * 784, 0.5)
    images[where] = bad
    expected = "1 of the samples' values are NaN or infinite" if not np.isfinite(bad) else "samples must be in [0, 1]"
    with pytest.raises(ValueError, match=esc(expected)):
        metrics.check_samples(images.reshape(N, 28, 28))


def test_values_that_are_not_numbers():
    with pytest.raises(ValueError, match=esc("metrics: samples must be numbers, got an array of dtype <U1")):
        metrics.check_samples(np.full((N, 28, 28), "a"))


def test_evaluate_checks_before_it_needs_a_classifier():
    with pytest.raises(ValueError, match="samples of shape"):
        metrics.evaluate(np.zeros((N, 3, 28, 28)), data_dir="/no/such/folder", verbose=False)


# ---------------------------------------------------------------------------------------------
# The command line: one line on stderr, exit status 2, no traceback


@pytest.mark.parametrize("array,message", [
    (np.zeros((49, 32, 32)), "samples.npy: samples of shape (49, 32, 32); expected grey 28x28 images of shape "
                             f"{ACCEPTED}"),
    (np.zeros((64, 28, 28, 3)), "samples.npy: samples of shape (64, 28, 28, 3)"),
    (np.zeros((28, 28)), "samples.npy: samples of shape (28, 28)"),
    (np.zeros((1, 28, 28)), "samples.npy: too few images (1)"),
    (np.zeros((0, 28, 28)), "samples.npy: too few images (0)"),
    (np.full((N, 28, 28), 255, np.uint8), "divide them by 255"),
    (np.full((N, 28, 28), np.nan), f"samples.npy: {N * 784} of the samples' values are NaN or infinite"),
], ids=["32x32", "rgb-channel-last", "single", "one", "none", "uint8", "nan"])
def test_command_line_refuses_bad_samples_in_one_line(tmp_path, array, message):
    np.save(tmp_path / "samples.npy", array)
    assert_one_line_error(*command_line(tmp_path / "samples.npy")[::2], message)


def test_command_line_missing_file(tmp_path):
    assert_one_line_error(*command_line(tmp_path / "nope.npy")[::2],
                          f"{tmp_path / 'nope.npy'}: no such file; give the samples.npy that an example wrote")


@pytest.mark.parametrize("content,what", [(b"hello, world", "it begins with b'hello,'"),
                                          (b"PK\x03\x04rest", "it is an .npz archive of several arrays")])
def test_command_line_file_that_is_not_npy(tmp_path, content, what):
    (tmp_path / "s.npy").write_bytes(content)
    status, _, stderr = command_line(tmp_path / "s.npy")
    assert_one_line_error(status, stderr, f"s.npy is not an .npy file ({what}); give a file written by np.save")
    assert "pickled" not in stderr


def test_command_line_truncated_npy(tmp_path):
    np.save(tmp_path / "s.npy", np.zeros((N, 28, 28)))
    (tmp_path / "s.npy").write_bytes((tmp_path / "s.npy").read_bytes()[:1000])
    assert_one_line_error(*command_line(tmp_path / "s.npy")[::2], "s.npy cannot be read as an array of numbers")


def test_command_line_folder_suggests_its_samples(tmp_path):
    np.save(tmp_path / "samples.npy", np.zeros((N, 28, 28)))
    assert_one_line_error(*command_line(tmp_path)[::2], f"{tmp_path} is a folder; did you mean {tmp_path / 'samples.npy'}?")


def test_command_line_data_dir_without_mnist(tmp_path):
    np.save(tmp_path / "samples.npy", np.zeros((N, 28, 28)))
    assert_one_line_error(*command_line(tmp_path / "samples.npy", "--data-dir", tmp_path)[::2],
                          f"--data-dir {tmp_path} holds no MNIST test split (no t10k-images-idx3-ubyte.gz or "
                          "t10k-labels-idx1-ubyte.gz in it or in its mnist/ folder); give the folder holding them")
    assert_one_line_error(*command_line(tmp_path / "samples.npy", "--data-dir", tmp_path / "nope")[::2],
                          f"--data-dir {tmp_path / 'nope'}: no such folder")


def test_command_line_unknown_option_is_one_line(tmp_path):
    assert_one_line_error(*command_line("s.npy", "--bogus")[::2],
                          "unrecognized arguments: --bogus; see python -m tinygen.metrics --help")


def test_main_raises_usage_errors_that_run_turns_into_one_line(tmp_path):
    np.save(tmp_path / "s.npy", np.zeros((3, 28, 28)))
    with pytest.raises(UsageError, match=esc("too few images (3)")):
        metrics.main([str(tmp_path / "s.npy")])


def test_help_names_what_is_accepted():
    status, stdout, _ = command_line("--help")
    assert status == 0
    assert "(N, 1, 28, 28) or (N, 784), values in [0, 1]" in " ".join(stdout.split())


def test_a_tensor_of_samples_is_accepted():
    import tinygen

    out = metrics.check_samples(tinygen.Tensor(np.full((N, 1, 28, 28), 0.25, dtype=np.float32)))
    assert out.shape == (N, 28, 28) and out[0, 0, 0] == 0.25


def test_command_line_data_dir_with_only_the_train_split_does_not_suggest_split(tmp_path, mnist_dir):
    """The metrics compare with held-out test images, and have no --split to suggest."""
    from tinygen.data import write_idx

    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2))
    np.save(tmp_path / "samples.npy", np.zeros((N, 28, 28)))
    status, _, stderr = command_line(tmp_path / "samples.npy", "--data-dir", tmp_path)
    assert_one_line_error(status, stderr, "holds no MNIST test split")
    assert "--split" not in stderr
