"""The GAN examples' shared loop (examples/gans.py), the LSGAN example, and the DCGAN's biases.

The vanilla GAN and the DCGAN run end to end, and resume equals one run, in tests/test_examples.py;
here the same for the LSGAN, and the loop's own pieces in process on small arrays.
"""
import json
import pathlib
import sys
import types

import numpy as np
import pytest

import tinygen
from tinygen import metrics, nn
from tinygen.cli import UsageError
from tinygen.models.dcgan import DCGANDiscriminator, DCGANGenerator
from tinygen.models.vanilla_gan import Discriminator

from same_run import assert_same_run
from test_cli import assert_refused, run_script
from test_examples import run_example

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import gans  # noqa: E402  (examples/gans.py)
import lsgan_mnist  # noqa: E402


def loop_args(out, **options):
    """The options gans.train reads, as common.parse_args would give them."""
    return types.SimpleNamespace(**{"batch_size": 4, "seed": 0, "device": "cpu", "resume": None, "epochs": 2,
                                    "max_steps": None, "out": str(out), "split": "test", "lr": 1e-3, "overwrite": False,
                                    **options})


# ---------------------------------------------------------------------------------------------
# The loop


def test_the_loop_hands_each_step_its_batches_and_keeps_the_history(tmp_path):
    images = np.arange(24, dtype=np.float32).reshape(24, 1, 1, 1)  # image i holds the value i
    seen = []

    def train_step(batch):
        seen.append(batch.numpy().ravel().tolist())
        return {"loss": tinygen.Tensor(np.float32(len(seen))), "count": len(seen)}

    history = {"loss": [], "count": []}
    drawn = []
    gans.train(loop_args(tmp_path), images, train_step, {"m": nn.Linear(1, 1)}, {}, history,
               end_of_epoch=lambda epoch, step, folder: drawn.append((epoch, step)))
    assert len(seen) == 12 and all(len(batch) == 4 for batch in seen)  # 2 epochs of 24 // 4 batches
    assert sorted(sum(seen[:6], [])) == list(range(24)) == sorted(sum(seen[6:], []))  # each epoch: every image once
    assert seen[:6] != seen[6:]  # in a new order
    assert history == {"loss": [float(i) for i in range(1, 13)], "count": [float(i) for i in range(1, 13)]}
    assert drawn == [(0, 6), (1, 12)]
    assert (tmp_path / "checkpoint.npz").exists()


def test_several_batches_per_step_are_different_batches(tmp_path):
    images = np.arange(24, dtype=np.float32).reshape(24, 1, 1, 1)
    labels = np.arange(24) + 100
    seen = []

    def train_step(batches):  # a critic's n batches: a list of (x, y)
        seen.append([(x.numpy().ravel().tolist(), y.numpy().tolist()) for x, y in batches])
        return {}

    gans.train(loop_args(tmp_path, epochs=1), (images, labels), train_step, {}, {}, {}, batches_per_step=3)
    assert len(seen) == 2 and all(len(step) == 3 for step in seen)  # 24 // (3 * 4) steps
    values = [v for step in seen for x, y in step for v in x]
    assert sorted(values) == list(range(24))  # 6 different batches: every image once
    assert all(y == [int(v) + 100 for v in x] for step in seen for x, y in step)  # labels stay with their images


def test_several_batches_per_step_need_enough_images(tmp_path):
    images = np.zeros((24, 1, 1, 1), dtype=np.float32)
    with pytest.raises(UsageError, match=r"^--batch-size 5 takes 25 images a step \(5 batches\), more than the 24 "
                                         r"training images; use at most 4$"):
        gans.train(loop_args(tmp_path, batch_size=5), images, None, {}, {}, {}, batches_per_step=5)
    with pytest.raises(UsageError, match=r"^--batch-size 25 is larger than the 24 training images; use at most 24$"):
        gans.train(loop_args(tmp_path, batch_size=25), images, None, {}, {}, {})
    assert not (tmp_path / "checkpoint.npz").exists()


def test_a_nan_in_the_history_stops_the_loop_in_one_line(tmp_path):
    images = np.zeros((8, 1, 1, 1), dtype=np.float32)
    with pytest.raises(UsageError, match=r"^step 1: g_loss is nan, training diverged; try a smaller --lr than 0.001$"):
        gans.train(loop_args(tmp_path), images, lambda x: {"d_loss": 1.0, "g_loss": float("nan")}, {}, {},
                   {"d_loss": [], "g_loss": []})


def test_load_data_holds_out_the_last_1000_test_images_only_when_asked(mnist_dir):
    args = types.SimpleNamespace(data_dir=str(mnist_dir), split="test")
    whole, held = gans.load_data(args), gans.load_data(args, hold_out=True)
    assert whole.images.shape == (10000, 1, 28, 28) and whole.held_out is None
    assert whole.images.min() == -1 and whole.images.max() == 1  # tanh's range
    assert held.images.shape == (9000, 1, 28, 28) and held.held_out.shape == (1000, 1, 28, 28)
    np.testing.assert_array_equal(held.held_out, whole.images[-1000:])
    np.testing.assert_array_equal(held.held_out_labels, whole.labels[-1000:])


def test_by_class_gives_row_k_for_digit_k_with_the_same_noise_in_every_row(tmp_path):
    class Echo(nn.Module):
        """A "generator" that writes its label (scaled to [-1, 1]) into the top half of the image
        and its first noise value (squashed by tanh) into the bottom half."""

        def forward(self, z, labels):
            label_half = (labels.float().reshape(-1, 1) / 9 * 2 - 1) * tinygen.ones(1, 392)
            noise_half = z[:, :1].tanh() * tinygen.ones(1, 392)
            return tinygen.cat([label_half, noise_half], dim=1)

    images = gans.by_class(Echo(), 3, loop_args(tmp_path), n=5)
    assert images.shape == (10, 5, 28, 28) and images.dtype == np.float32
    np.testing.assert_allclose(images[:, :, :14].mean(axis=(1, 2, 3)), np.arange(10) / 9, atol=1e-6)  # row k: k
    noise = images[:, :, 14:].mean(axis=(2, 3))  # (10, 5): each column's noise, in every row
    np.testing.assert_array_equal(noise, np.broadcast_to(noise[0], (10, 5)))  # the same in every row
    assert len(set(noise[0].tolist())) == 5  # and another in every column


def test_finish_writes_samples_by_class_and_its_class_accuracy(mnist_dir, tmp_path):
    """Real digits arranged by class as a perfect conditional G would make them: accuracy near 1."""
    images, labels = tinygen.data.MNIST(mnist_dir, split="test").arrays(scale="unit")
    images, labels = images[-2000:, 0], labels[-2000:]
    by_class = np.stack([images[labels == k][:100] for k in range(10)])
    args = loop_args(tmp_path, data_dir=str(mnist_dir), no_metrics=False)
    history = {"d_loss": [1.0, 0.9], "g_loss": [0.7, 0.8], "d_real": [0.6, 0.5], "d_fake": [0.4, 0.5]}
    result = gans.finish(args, tmp_path, history, by_class.reshape(1000, 28, 28), "test", samples_by_class=by_class)
    np.testing.assert_array_equal(np.load(tmp_path / "samples_by_class.npy"), by_class)
    assert np.load(tmp_path / "samples.npy").shape == (1000, 28, 28)
    assert (tmp_path / "samples_by_class.png").stat().st_size > 1000 and (tmp_path / "curves.png").exists()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == result and saved["steps"] == 2 and saved["classes_covered"] == 10
    assert saved["class_accuracy"] > 0.9 and len(saved["class_accuracy_per_digit"]) == 10


@pytest.mark.parametrize("shape,values,message", [
    ((10, 5, 784), 0.5, r"class_accuracy: samples_by_class of shape \(10, 5, 784\); expected \(10, n, 28, 28\)"),
    ((9, 5, 28, 28), 0.5, r"class_accuracy: samples_by_class of shape \(9, 5, 28, 28\); expected \(10, n, 28, 28\)"),
    ((10, 5, 28, 28), -1.0, r"class_accuracy: samples_by_class must be in \[0, 1\], got values in \[-1, -1\]"),
    ((10, 5, 28, 28), np.nan, r"class_accuracy: samples_by_class must be in \[0, 1\], got values in \[nan, nan\]"),
])
def test_class_accuracy_refuses_what_is_not_images_by_class(shape, values, message):
    with pytest.raises(ValueError, match=message):
        metrics.class_accuracy(np.full(shape, values, dtype=np.float32))


# ---------------------------------------------------------------------------------------------
# The networks


def test_dcgan_convolutions_before_a_batchnorm_have_no_bias_and_the_others_do():
    for model in (DCGANGenerator(), DCGANDiscriminator()):
        layers = list(model.net)
        convolutions = [(i, layer) for i, layer in enumerate(layers) if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))]
        assert len(convolutions) == 3
        for i, conv in convolutions:
            before_batchnorm = isinstance(layers[i + 1], nn.BatchNorm2d)
            assert (conv.bias is None) == before_batchnorm, f"{type(model).__name__}.net[{i}]"
            assert (f"net.{i}.bias" in model.state_dict()) != before_batchnorm
    assert sum(isinstance(layer, nn.BatchNorm2d) for layer in DCGANGenerator().net) == 2


def test_the_lsgan_discriminator_is_the_vanilla_one_without_its_sigmoid():
    tinygen.manual_seed(0)
    vanilla = Discriminator()
    tinygen.manual_seed(0)
    lsgan = lsgan_mnist.LSGANDiscriminator()
    assert not any(isinstance(layer, nn.Sigmoid) for layer in lsgan.net)
    x = tinygen.randn(5, 784)
    score, probability = lsgan(x).numpy(), vanilla(x).numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-score)), probability, rtol=1e-5)
    assert (lsgan_mnist.A, lsgan_mnist.B, lsgan_mnist.C) == (0, 1, 1)


# ---------------------------------------------------------------------------------------------
# The LSGAN example end to end, and its command line


@pytest.fixture(scope="module")
def lsgan_four_steps(mnist_dir, tmp_path_factory):
    """(folder, stdout) of one 4-step LSGAN run with its metrics: read by the test of its files, and
    what the split run must equal, made once for both."""
    folder = tmp_path_factory.mktemp("lsgan")
    return folder, run_example("lsgan_mnist.py", mnist_dir, folder, "--max-steps", "4")


def test_lsgan_runs_and_writes_its_files(lsgan_four_steps):
    folder, stdout = lsgan_four_steps
    samples = np.load(folder / "samples.npy")
    assert samples.shape == (1000, 28, 28) and samples.dtype == np.float32 and 0 <= samples.min() <= samples.max() <= 1
    for name in ["samples_epoch_001.png", "curves.png"]:
        assert (folder / name).stat().st_size > 1000
    saved = tinygen.load(folder / "checkpoint.npz")
    assert saved["model_types"] == {"D": "LSGANDiscriminator", "G": "Generator"} and saved["step"].item() == 4
    assert sorted(saved["history"]) == ["d_fake", "d_loss", "d_real", "g_loss"]
    metrics_file = json.loads((folder / "metrics.json").read_text())
    assert metrics_file["steps"] == 4 and {"classifier_score", "frechet_distance", "classes_covered"} <= set(metrics_file)
    assert "metrics:" in stdout


def test_lsgan_run_split_in_two_equals_one_run(lsgan_four_steps, mnist_dir, tmp_path):
    one, _ = lsgan_four_steps
    run_example("lsgan_mnist.py", mnist_dir, tmp_path, "--max-steps", "2", "--no-metrics")
    stdout = run_example("lsgan_mnist.py", mnist_dir, tmp_path, "--max-steps", "4", "--resume", str(tmp_path / "checkpoint.npz"))
    assert "at step 2" in stdout
    assert_same_run(one, tmp_path, ["samples.npy"])


def test_lsgan_options_are_checked(tmp_path, mnist_dir):
    status, _, stderr = run_script("lsgan_mnist.py", "--lr", "-1", "--out", tmp_path / "run")
    assert_refused("lsgan_mnist.py", status, stderr, "argument --lr: must be a positive number, got -1; see "
                   "lsgan_mnist.py --help")
    status, _, stderr = run_script("lsgan_mnist.py", "--data-dir", mnist_dir, "--split", "test", "--batch-size",
                                   10001, "--out", tmp_path / "run")
    assert_refused("lsgan_mnist.py", status, stderr, "--batch-size 10001 is larger than the 10000 training images; "
                   "use at most 10000")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------
# The 32x32 frame (progressive growing and StyleGAN double 4 -> 8 -> 16 -> 32)


def test_pad_to_32_frames_with_background_and_crop_to_28_undoes_it():
    images = np.random.default_rng(0).uniform(-1, 1, (3, 1, 28, 28)).astype(np.float32)
    framed = gans.pad_to_32(images)
    assert framed.shape == (3, 1, 32, 32) and framed.dtype == np.float32
    frame = np.ones((32, 32), dtype=bool)
    frame[2:30, 2:30] = False
    assert (framed[..., frame] == -1).all()  # the background of MNIST in [-1, 1]
    np.testing.assert_array_equal(gans.crop_to_28(framed), images)
    np.testing.assert_array_equal(gans.crop_to_28(images), images)  # 28x28 stays as it is
    with pytest.raises(ValueError, match=r"crop_to_28: expected images of 28x28 or 32x32 pixels, got \(3, 1, 30, 30\)"):
        gans.crop_to_28(np.zeros((3, 1, 30, 30)))


def test_generate_crops_a_32_pixel_generator_to_28():
    class Framed(nn.Module):  # draws z's value everywhere inside the frame, background outside
        def forward(self, z):
            inside = tinygen.Tensor(np.pad(np.ones((1, 1, 28, 28), np.float32), ((0, 0), (0, 0), (2, 2), (2, 2))))
            return z.reshape(-1, 1, 1, 1) * inside - (1 - inside)

    images = gans.generate(Framed(), tinygen.Tensor(np.array([0.5, -0.5], np.float32)))
    assert images.shape == (2, 28, 28) and images.dtype == np.float32
    np.testing.assert_allclose(images[:, 0, 0], [0.75, 0.25])  # (z + 1) / 2, frame gone
    np.testing.assert_allclose(images, images[:, :1, :1] * np.ones((1, 28, 28)))


def test_generate_reshapes_a_flat_generator_to_28():
    """An MLP G's rows (N, 784) are 28x28 images (617fa52 read N as the height and broke them)."""
    class Flat(nn.Module):
        def forward(self, z):
            return z.reshape(-1, 1) * tinygen.Tensor(np.ones((1, 784), np.float32))

    images = gans.generate(Flat(), tinygen.Tensor(np.array([0.5, -0.5, 0.0], np.float32)))
    assert images.shape == (3, 28, 28)
    np.testing.assert_allclose(images[:, 5, 7], [0.75, 0.25, 0.5])
