"""The GANs told the class: examples/cgan_mnist.py and examples/acgan_mnist.py.

End to end for a few steps (their files), resume equals one run, the command line, the ACGAN's
held-out accuracy, and (slow) the property that defines a conditional GAN: G(z, c) is read as c.
"""
import json
import pathlib
import sys
import types

import numpy as np
import pytest

import tinygen
from tinygen import metrics, optim
from tinygen.models.conditional_gan import (
    ACGANDiscriminator,
    ACGANGenerator,
    ConditionalDiscriminator,
    ConditionalGenerator,
)

from same_run import assert_same_run
from test_gan_loop import loop_args
from test_cli import assert_refused, run_script
from test_examples import run_example

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import acgan_mnist  # noqa: E402
import cgan_mnist  # noqa: E402
import gans  # noqa: E402


def check_samples(folder):
    """samples.npy (1000, 28, 28) and samples_by_class.npy (10, 100, 28, 28), float32 in [0, 1],
    samples being samples_by_class row by row: 100 of each digit, in order."""
    samples, by_class = np.load(folder / "samples.npy"), np.load(folder / "samples_by_class.npy")
    assert samples.shape == (1000, 28, 28) and samples.dtype == np.float32
    assert by_class.shape == (10, 100, 28, 28) and by_class.dtype == np.float32
    assert 0 <= by_class.min() <= by_class.max() <= 1
    np.testing.assert_array_equal(samples, by_class.reshape(1000, 28, 28))
    for name in ["samples_epoch_001.png", "samples_by_class.png", "curves.png"]:
        assert (folder / name).stat().st_size > 1000, name


# One 4-step run of each, made once: read by the tests of their files, and what the split runs must
# equal. The cGAN's skips its metrics (its run is checked to write none), the ACGAN's measures.
FOUR_STEPS = {"cgan_mnist.py": ["--no-metrics"], "acgan_mnist.py": []}


@pytest.fixture(scope="module")
def four_steps(mnist_dir, tmp_path_factory):
    """{script: (folder, stdout)} of the runs above."""
    runs = {}
    for script, options in FOUR_STEPS.items():
        folder = tmp_path_factory.mktemp(script.removesuffix(".py"))
        runs[script] = folder, run_example(script, mnist_dir, folder, "--max-steps", "4", *options)
    return runs


def test_cgan_runs_and_writes_its_files(four_steps):
    folder, _ = four_steps["cgan_mnist.py"]
    check_samples(folder)
    saved = tinygen.load(folder / "checkpoint.npz")
    assert saved["model_types"] == {"D": "ConditionalDiscriminator", "G": "ConditionalGenerator"}
    assert saved["step"].item() == 4 and sorted(saved["history"]) == ["d_fake", "d_loss", "d_real", "g_loss"]
    assert not (folder / "metrics.json").exists()


def test_acgan_runs_and_reports_its_auxiliary_head_on_held_out_digits(four_steps):
    folder, stdout = four_steps["acgan_mnist.py"]
    check_samples(folder)
    assert "MNIST test: 9000 images to train on, 1000 held out" in stdout
    assert "D's auxiliary head on the 1000 held-out real digits: accuracy " in stdout
    assert "mean distance between two images of one digit: G " in stdout
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["steps"] == 4 and 0 <= saved["aux_accuracy_held_out"] <= 1
    assert 8 < saved["within_class_distance_real"] < 10 and saved["within_class_distance"] >= 0
    assert len(saved["class_accuracy_per_digit"]) == 10 and {"frechet_distance", "classes_covered"} <= set(saved)
    checkpoint = tinygen.load(folder / "checkpoint.npz")
    assert checkpoint["model_types"] == {"D": "ACGANDiscriminator", "G": "ACGANGenerator"}


@pytest.mark.parametrize("script", ["cgan_mnist.py", "acgan_mnist.py"])
def test_run_split_in_two_equals_one_run(script, four_steps, mnist_dir, tmp_path):
    one, _ = four_steps[script]
    run_example(script, mnist_dir, tmp_path, "--max-steps", "2", "--no-metrics")
    stdout = run_example(script, mnist_dir, tmp_path, "--max-steps", "4", *FOUR_STEPS[script],
                         "--resume", str(tmp_path / "checkpoint.npz"))
    assert "at step 2" in stdout
    assert_same_run(one, tmp_path, ["samples.npy", "samples_by_class.npy"])


@pytest.mark.parametrize("script", ["cgan_mnist.py", "acgan_mnist.py"])
def test_bad_options_are_one_line(script, mnist_dir, tmp_path):
    status, _, stderr = run_script(script, "--lr", "-1", "--out", tmp_path / "run")
    assert_refused(script, status, stderr, f"argument --lr: must be a positive number, got -1; see {script} --help")
    images = 9000 if script == "acgan_mnist.py" else 10000  # the ACGAN holds 1,000 out
    status, _, stderr = run_script(script, "--data-dir", mnist_dir, "--split", "test", "--batch-size", images + 1,
                                   "--out", tmp_path / "run")
    assert_refused(script, status, stderr, f"--batch-size {images + 1} is larger than the {images} training images; "
                   f"use at most {images}")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------
# The steps in process


def step_args(**options):
    return types.SimpleNamespace(**{"batch_size": 8, "device": "cpu", "lr": 2e-4, **options})


def test_the_cgan_step_trains_D_on_pairs_and_G_through_a_frozen_D():
    tinygen.manual_seed(0)
    G, D = ConditionalGenerator(latent_dim=4), ConditionalDiscriminator()
    opt_G, opt_D = optim.Adam(G.parameters(), lr=1e-3), optim.Adam(D.parameters(), lr=1e-3)
    step = cgan_mnist.make_train_step(G, D, opt_G, opt_D, step_args())
    real, labels = tinygen.rand(8, 1, 28, 28) * 2 - 1, tinygen.tensor(np.arange(8) % 10)
    before_G, before_D = [p.numpy().copy() for p in G.parameters()], [p.numpy().copy() for p in D.parameters()]
    numbers = step((real, labels))
    assert set(numbers) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert 0 < numbers["d_real"].item() < 1 and 0 < numbers["d_fake"].item() < 1  # probabilities, not logits
    assert all(p.requires_grad for p in D.parameters())  # D unfrozen again after G's phase
    assert any((p.numpy() != b).any() for p, b in zip(G.parameters(), before_G))
    assert any((p.numpy() != b).any() for p, b in zip(D.parameters(), before_D))
    assert (D.label_embedding.weight.numpy() != before_D[0]).any()  # D learned from the labels too


def test_the_acgan_class_loss_is_pytorchs_cross_entropy_of_the_logits():
    """d_class = CE(aux(x), y) + CE(aux(G(z, c)), c) on the auxiliary head's raw logits: PyTorch's
    F.cross_entropy on the same logits gives the same number (a softmax before it would not)."""
    torch = pytest.importorskip("torch")
    tinygen.manual_seed(0)
    G, D = ACGANGenerator(latent_dim=4), ACGANDiscriminator()
    opt_G, opt_D = optim.Adam(G.parameters(), lr=1e-3), optim.Adam(D.parameters(), lr=1e-3)
    real, labels = tinygen.rand(8, 1, 28, 28) * 2 - 1, tinygen.tensor(np.arange(8) % 10)
    tinygen.manual_seed(1)  # the step's own draws, made here first: z, then the asked labels
    z, asked = tinygen.randn(8, 4), tinygen.randint(0, 10, 8)
    with tinygen.no_grad():
        logits = [torch.tensor(D(images)[1].numpy()) for images in (real, G(z, asked))]
    expected = (torch.nn.functional.cross_entropy(logits[0], torch.tensor(labels.numpy()))
                + torch.nn.functional.cross_entropy(logits[1], torch.tensor(asked.numpy())))
    tinygen.manual_seed(1)
    numbers = acgan_mnist.make_train_step(G, D, opt_G, opt_D, step_args())((real, labels))
    assert numbers["d_class"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(numbers) == {"d_loss", "g_loss", "d_class", "g_class", "d_real", "d_fake"}
    assert numbers["d_loss"].item() > numbers["d_class"].item()  # plus the adversarial BCE terms
    assert all(p.requires_grad for p in D.parameters())  # D unfrozen again after G's phase


def test_the_auxiliary_accuracy_counts_right_readings():
    class Reads(ACGANDiscriminator):
        """A "D" whose auxiliary head reads the digit off the first pixel: pixel value k / 10."""

        def forward(self, images):
            k = (images.reshape(images.shape[0], 784)[:, :1] * 10).numpy().round().astype(int).ravel()
            logits = np.eye(10, dtype=np.float32)[k]
            return tinygen.zeros(images.shape[0], 1), tinygen.Tensor(logits)

    labels = np.arange(1000) % 10
    images = np.zeros((1000, 1, 28, 28), dtype=np.float32)
    images[:, 0, 0, 0] = labels / 10
    images[:250, 0, 0, 0] = ((labels[:250] + 1) % 10) / 10  # the first quarter read wrong
    assert acgan_mnist.auxiliary_accuracy(Reads(), images, labels, step_args()) == 0.75


def test_the_within_class_distance_is_the_mean_distance_between_two_images_of_one_digit():
    black, white = np.zeros((28, 28)), np.ones((28, 28))
    # digit 0: three copies of one image (collapsed: 0); digit 1: black and white (28 apart, sqrt(784))
    assert acgan_mnist.within_class_distance([np.stack([black] * 3), np.stack([black, white])]) == pytest.approx(14)
    one_pixel = np.zeros((3, 28, 28))
    one_pixel[1, 0, 0], one_pixel[2, 5, 5] = 1, 1  # pairwise distances 1, 1 and sqrt(2)
    assert acgan_mnist.within_class_distance([one_pixel]) == pytest.approx((2 + np.sqrt(2)) / 3)


# ---------------------------------------------------------------------------------------------
# The property: G(z, c) is read as c


@pytest.mark.slow
def test_a_briefly_trained_cgan_draws_the_digit_it_is_asked_for(mnist_dir, tmp_path):
    """Twelve epochs of the example's own step on the test split: tinygen's classifier reads G(z, k)
    as k far above chance (0.1, which a G that ignores its label cannot beat)."""
    args = loop_args(tmp_path, data_dir=str(mnist_dir), batch_size=64, epochs=12, max_steps=None, lr=2e-4)
    tinygen.manual_seed(0)
    G, D = ConditionalGenerator(latent_dim=100), ConditionalDiscriminator()
    data = gans.load_data(args)
    opt_G = optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    history = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}
    gans.train(args, (data.images, data.labels), cgan_mnist.make_train_step(G, D, opt_G, opt_D, args),
               {"G": G, "D": D}, {"G": opt_G, "D": opt_D}, history)
    found = metrics.class_accuracy(gans.by_class(G, G.latent_dim, args), args.data_dir)
    print("class accuracy per digit:", found["class_accuracy_per_digit"])
    assert found["class_accuracy"] > 0.6


@pytest.mark.slow
def test_a_briefly_trained_acgan_draws_the_digit_asked_for_in_varied_styles(mnist_dir, tmp_path):
    """Five epochs of the example's own step: G(z, k) is read as k, G's images of one digit
    differ from z to z, and D's auxiliary head reads the 1,000 held-out real digits (not trained on). (With the label joined beside z, ConditionalGenerator, the same five
    epochs gave class accuracy 0.72 and a within-class distance of 1.7: one image per digit.)"""
    args = loop_args(tmp_path, data_dir=str(mnist_dir), batch_size=64, epochs=5, max_steps=None, lr=2e-4)
    tinygen.manual_seed(0)
    G, D = ACGANGenerator(latent_dim=100), ACGANDiscriminator()
    data = gans.load_data(args, hold_out=True)
    opt_G = optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    history = {"d_loss": [], "g_loss": [], "d_class": [], "g_class": [], "d_real": [], "d_fake": []}
    gans.train(args, (data.images, data.labels), acgan_mnist.make_train_step(G, D, opt_G, opt_D, args),
               {"G": G, "D": D}, {"G": opt_G, "D": opt_D}, history)
    by_class = gans.by_class(G, G.latent_dim, args)
    found = metrics.class_accuracy(by_class, args.data_dir)
    distance = acgan_mnist.within_class_distance(by_class)
    held_out = acgan_mnist.auxiliary_accuracy(D, data.held_out, data.held_out_labels, args)
    print("class accuracy per digit:", found["class_accuracy_per_digit"], "within-class distance:", distance,
          "auxiliary head on the held-out real digits:", held_out)
    assert found["class_accuracy"] > 0.6
    assert distance > 4  # real digits: about 9
    assert held_out > 0.85  # D's class head reads real digits it never trained on (chance: 0.1)
