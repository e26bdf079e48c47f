"""The adversarial autoencoder (tinygen/models/aae.py, examples/aae_mnist.py).

- the networks' shapes, and a discriminator that judges codes, never images;
- the paper's two phases update what they should: reconstruction E and the decoder, the D step D
  alone, the generator step E alone (parameters before and after one step);
- how near N(0, I) a set of codes is (code_statistics, against torch.distributions' KL) and D's
  accuracy (0.5 at chance);
- the example end to end for a few steps (the files, their shapes, dtypes, ranges and order),
  resume equals one run, bad options in one line;
- slow, on real digits: after a short training the held-out codes' mean is near 0 and their
  covariance near I, far nearer than the same autoencoder's without the adversary, and D on codes
  is near chance.
"""
import json
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygen
from tinygen import nn, optim, viz
from tinygen.data import DataLoader
from tinygen.models.aae import CodeDiscriminator, Decoder, Encoder
from same_run import assert_same_run
import script_runs

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))
import aae_mnist  # noqa: E402  (examples/aae_mnist.py: the phases, code_statistics, discriminator_accuracy)
import autoencoders  # noqa: E402


def networks(latent=10, seed=0):
    """The example's networks and its three optimisers, with its default learning rates."""
    tinygen.manual_seed(seed)
    encoder, decoder, D = Encoder(latent), Decoder(latent), CodeDiscriminator(latent)
    optimizers = (optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=1e-3),
                  optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999)),
                  optim.Adam(encoder.parameters(), lr=2e-4, betas=(0.5, 0.999)))
    return encoder, decoder, D, optimizers


def images(n=16, seed=0):
    return tinygen.tensor(np.random.default_rng(seed).random((n, 1, 28, 28)).astype(np.float32))


# ---------------------------------------------------------------------------------------------
# The networks


def test_the_shapes_and_sizes_are_pytorch_gans():
    encoder, decoder, D, _ = networks()
    x = images(4)
    z = encoder(x)
    assert z.shape == (4, 10)
    reconstruction = decoder(z)
    assert reconstruction.shape == (4, 1, 28, 28)
    assert 0 <= reconstruction.numpy().min() and reconstruction.numpy().max() <= 1  # a sigmoid's probabilities
    assert D(z).shape == (4, 1)
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(encoder) == 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
    assert count(decoder) == 10 * 512 + 512 + 512 * 512 + 512 + 512 * 784 + 784
    assert count(D) == 10 * 512 + 512 + 512 * 256 + 256 + 256 + 1  # 10-512-256-1


def test_the_discriminator_refuses_images():
    """A D on images is not an AAE (CATALOG.md's pitfall): it takes codes (N, latent) only."""
    D = CodeDiscriminator(10)
    with pytest.raises(ValueError, match=r"CodeDiscriminator: expected codes of shape \(N, 10\), got \(4, 1, 28, 28\); "
                                         r"it judges codes E\(x\) against prior draws, not images"):
        D(images(4))
    with pytest.raises(ValueError, match=r"expected codes of shape \(N, 10\), got \(4, 784\)"):
        D(tinygen.zeros(4, 784))
    with pytest.raises(ValueError, match=r"expected codes of shape \(N, 10\), got \(4, 3\)"):
        D(tinygen.zeros(4, 3))


def test_in_a_step_the_discriminator_sees_only_codes_and_prior_draws():
    """Record D's inputs through one two-phase step: codes (B, 10) and prior draws (B, 10), never images."""
    encoder, decoder, D, optimizers = networks()
    seen = []
    forward = D.forward
    D.forward = lambda z: seen.append(z.shape) or forward(z)
    aae_mnist.two_phase_step(images(8), encoder, decoder, D, *optimizers)
    assert seen == [(8, 10)] * 3  # 2(a): prior draws and codes; 2(b): codes


# ---------------------------------------------------------------------------------------------
# The two phases: each updates what it should, and nothing else


def snapshot(*models):
    return [{name: p.numpy().copy() for name, p in model.named_parameters()} for model in models]


def changed(before, after):
    """For each model: True if every one of its parameters changed, False if none did (else a failure)."""
    result = []
    for old, new in zip(before, after):
        moved = [not np.array_equal(old[name], new[name]) for name in old]
        assert all(moved) or not any(moved), f"some parameters moved, some not: {moved}"
        result.append(all(moved))
    return result


def test_the_reconstruction_phase_updates_the_encoder_and_decoder_only():
    encoder, decoder, D, (opt_reconstruction, _, _) = networks()
    before = snapshot(encoder, decoder, D)
    aae_mnist.reconstruction_phase(encoder, decoder, opt_reconstruction, images())
    assert changed(before, snapshot(encoder, decoder, D)) == [True, True, False]


def test_the_discriminator_step_updates_the_discriminator_only_and_leaves_the_encoder_no_gradient():
    encoder, decoder, D, (_, opt_D, _) = networks()
    before = snapshot(encoder, decoder, D)
    codes = encoder(images())
    aae_mnist.discriminator_step(D, opt_D, tinygen.randn(16, 10), codes)
    assert changed(before, snapshot(encoder, decoder, D)) == [False, False, True]
    assert all(p.grad is None for p in encoder.parameters())  # detached: nothing flows back to E


def test_the_generator_step_updates_the_encoder_only():
    encoder, decoder, D, (_, _, opt_generator) = networks()
    before = snapshot(encoder, decoder, D)
    aae_mnist.generator_step(D, opt_generator, encoder(images()))
    assert changed(before, snapshot(encoder, decoder, D)) == [True, False, False]


def test_without_the_adversary_the_generator_step_only_measures():
    encoder, decoder, D, (_, _, opt_generator) = networks()
    before = snapshot(encoder, decoder, D)
    g_loss = aae_mnist.generator_step(D, opt_generator, encoder(images()), update=False)
    assert changed(before, snapshot(encoder, decoder, D)) == [False, False, False]
    assert g_loss.item() > 0


def test_the_generator_step_pushes_the_discriminators_verdict_on_the_codes_towards_real():
    """Ten generator steps against a fixed D raise D's mean logit on the codes of the same images."""
    encoder, decoder, D, (_, _, opt_generator) = networks()
    x = images(64)
    with tinygen.no_grad():
        start = D(encoder(x)).numpy().mean()
    for _ in range(10):
        aae_mnist.generator_step(D, opt_generator, encoder(x))
    with tinygen.no_grad():
        assert D(encoder(x)).numpy().mean() > start + 0.05


# ---------------------------------------------------------------------------------------------
# How near the prior: the codes' Gaussian, and D's accuracy


@settings(deadline=None, max_examples=20)
@given(k=st.integers(1, 6), seed=st.integers(0, 2**16), scale=st.floats(0.2, 3.0), shift=st.floats(-2.0, 2.0))
def test_the_codes_gaussian_kl_to_the_prior_is_torchs(k, seed, scale, shift):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((200, k)) @ (scale * rng.standard_normal((k, k)) + np.eye(k)) + shift
    statistics = aae_mnist.code_statistics(codes)
    mean = torch.tensor(codes.mean(axis=0), dtype=torch.float64)
    covariance = torch.tensor(np.cov(codes, rowvar=False).reshape(k, k), dtype=torch.float64)
    fitted = torch.distributions.MultivariateNormal(mean, covariance)
    prior = torch.distributions.MultivariateNormal(torch.zeros(k, dtype=torch.float64), torch.eye(k, dtype=torch.float64))
    assert statistics["gaussian_kl_to_prior"] == pytest.approx(torch.distributions.kl_divergence(fitted, prior).item(),
                                                               rel=1e-6, abs=1e-9)
    np.testing.assert_allclose(statistics["mean"], codes.mean(axis=0))
    assert statistics["mean_norm"] == pytest.approx(float(np.linalg.norm(codes.mean(axis=0))))
    eigenvalues = np.linalg.eigvalsh(covariance.numpy())
    assert statistics["covariance_eigenvalues_min"] == pytest.approx(eigenvalues.min())
    assert statistics["covariance_eigenvalues_max"] == pytest.approx(eigenvalues.max())


def test_draws_from_the_prior_are_near_it_and_a_plain_code_is_not():
    """The yardstick of "near": 1000 draws of N(0, I) in 10 dimensions (their covariance's eigenvalues
    spread over about (1 +- sqrt(10/1000))^2, Marchenko-Pastur) against shifted, squeezed codes."""
    draws = np.random.default_rng(0).standard_normal((1000, 10))
    near = aae_mnist.code_statistics(draws)
    assert near["mean_norm"] < 0.2 and near["max_abs_covariance_minus_identity"] < 0.15
    assert 0.75 < near["covariance_eigenvalues_min"] and near["covariance_eigenvalues_max"] < 1.3
    assert near["gaussian_kl_to_prior"] < 0.05
    far = aae_mnist.code_statistics(0.3 * draws + 1)
    assert far["mean_norm"] == pytest.approx(np.sqrt(10), rel=0.05)
    assert far["gaussian_kl_to_prior"] > 10


def test_the_discriminators_accuracy_is_a_half_at_chance_and_one_when_it_can_tell():
    draws = np.random.default_rng(0).standard_normal((500, 2)).astype(np.float32)
    codes = np.random.default_rng(1).standard_normal((500, 2)).astype(np.float32) + np.float32(10)
    says_always_real = nn.Linear(2, 1)
    says_always_real.weight.data[...] = 0
    says_always_real.bias.data[...] = 1
    assert aae_mnist.discriminator_accuracy(says_always_real, codes, draws, "cpu") == 0.5
    real_below_5 = nn.Linear(2, 1)  # logit 5 - z_1: the prior's draws sit near 0, the codes near 10
    real_below_5.weight.data[...] = np.array([[-1, 0]], dtype=np.float32)
    real_below_5.bias.data[...] = 5
    assert aae_mnist.discriminator_accuracy(real_below_5, codes, draws, "cpu") == 1.0
    assert aae_mnist.discriminator_accuracy(real_below_5, codes, codes, "cpu") == 0.5  # codes are all it sees


@pytest.mark.parametrize("latent", [10, 1])
def test_the_codes_picture_is_written(latent, tmp_path):
    rng = np.random.default_rng(0)
    viz.plot_codes(rng.standard_normal((300, latent)), rng.integers(0, 10, 300), rng.standard_normal((300, latent)),
                   tmp_path / "codes.png", title="codes")
    assert (tmp_path / "codes.png").stat().st_size > 5000


# ---------------------------------------------------------------------------------------------
# The example, end to end


def run_example(mnist_dir, out, *extra, status=0):
    """stdout (or, with status != 0, stderr) of examples/aae_mnist.py on the test split, batch 32."""
    return script_runs.run_example("aae_mnist.py", mnist_dir, out, *extra, status=status)


def held_out(mnist_dir):
    from tinygen.data import MNIST

    images, labels = MNIST(mnist_dir, split="test").arrays(scale="unit")
    return images[-1000:], labels[-1000:]


@pytest.fixture(scope="module")
def six_steps(mnist_dir, tmp_path_factory):
    """(folder, stdout) of one 6-step run with a code of 8 and the metrics: read by the test of the
    files, and what the split run must equal, made once for both."""
    folder = tmp_path_factory.mktemp("aae")
    return folder, run_example(mnist_dir, folder, "--max-steps", "6", "--latent", "8")


def test_the_example_runs_and_writes_its_files(six_steps, mnist_dir):
    folder, stdout = six_steps
    reconstructions, samples, codes = (np.load(folder / name) for name in
                                       ("reconstructions.npy", "samples.npy", "codes.npy"))
    assert reconstructions.shape == samples.shape == (1000, 28, 28)
    assert codes.shape == (1000, 8)
    assert reconstructions.dtype == samples.dtype == codes.dtype == np.float32
    for decoded in (reconstructions, samples):
        assert 0 <= decoded.min() and decoded.max() <= 1
    for picture in ("reconstructions.png", "curves.png", "codes.png", "samples.png"):
        assert (folder / picture).stat().st_size > 1000

    # codes.npy holds the held-out images' codes in order: the checkpoint's encoder gives them again.
    encoder = Encoder(8)
    encoder.load_state_dict(tinygen.load(folder / "checkpoint.npz")["models"]["encoder"])
    images, _ = held_out(mnist_dir)
    np.testing.assert_allclose(codes, autoencoders.in_batches(encoder.eval(), images, "cpu"), rtol=1e-5, atol=1e-6)
    # Three optimisers, each holding what it updates: E and the decoder; D; E alone (the generator).
    saved = np.load(folder / "checkpoint.npz")
    def shapes(optimizer):
        count = int(saved[f"optimizers/{optimizer}/param_count"])
        return [saved[f"optimizers/{optimizer}/{i}.exp_avg"].shape for i in range(count)]
    encoder_shapes = [p.shape for p in encoder.parameters()]
    assert shapes("reconstruction") == encoder_shapes + [p.shape for p in Decoder(8).parameters()]
    assert shapes("discriminator") == [p.shape for p in CodeDiscriminator(8).parameters()]
    assert shapes("generator") == encoder_shapes

    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["code_size"] == 8 and metrics["adversary"] is True
    assert set(metrics) >= {"held_out_mse", "pca_mse", "discriminator_accuracy", "classifier_score",
                            "frechet_distance", "classes_covered"}
    expected = aae_mnist.code_statistics(codes)  # compared key by key: pytest.approx takes no nested lists
    assert sorted(metrics["held_out_codes"]) == sorted(expected)
    for key, value in expected.items():
        assert metrics["held_out_codes"][key] == pytest.approx(value), key
    assert metrics["prior_draws_for_comparison"]["gaussian_kl_to_prior"] < 0.1
    assert 0 <= metrics["discriminator_accuracy"] <= 1
    assert "D's accuracy, codes against prior draws" in stdout


def test_a_run_split_in_two_equals_one_run(six_steps, mnist_dir, tmp_path):
    """Stop at step 3, resume to step 6: the same weights, three optimisers' states, curves and files
    (the prior draws of the D step come from the checkpointed random state)."""
    one, _ = six_steps
    split = tmp_path
    run_example(mnist_dir, split, "--max-steps", "3", "--no-metrics", "--latent", "8")
    stdout = run_example(mnist_dir, split, "--max-steps", "6", "--latent", "8", "--resume", str(split / "checkpoint.npz"))
    assert "at step 3" in stdout
    assert_same_run(one, split, ["reconstructions.npy", "samples.npy", "codes.npy"])
    # The checkpoint of another code size is refused in one line, before anything is written.
    stderr = run_example(mnist_dir, split, "--max-steps", "9", "--latent", "5", "--resume", str(split / "checkpoint.npz"),
                         status=2)
    assert stderr == (f"aae_mnist.py: error: --resume {split / 'checkpoint.npz'} comes from a run with --latent 8, "
                      f"this one has 5; resume with --latent 8 (the checkpoint's run was trained with it; for another "
                      f"value, start a new run)\n")
    np.testing.assert_array_equal(np.load(split / "codes.npy"), np.load(one / "codes.npy"))  # the run's files stay
    # Nor is a run resumed without the adversary it was trained with: that would change the encoder's loss.
    stderr = run_example(mnist_dir, split, "--max-steps", "9", "--no-adversary", "--resume", str(split / "checkpoint.npz"),
                         status=2)
    assert stderr == (f"aae_mnist.py: error: --resume {split / 'checkpoint.npz'} comes from a run without "
                      f"--no-adversary, this one is with it; resume without --no-adversary (the encoder's loss "
                      f"depends on it)\n")


@pytest.mark.parametrize("options, message", [
    (["--latent", "0"], r"argument --latent: must be at least 1, got 0"),
    (["--latent", "ten"], r"argument --latent: expected a whole number, got 'ten'"),
    (["--no-adversary", "yes"], r"unrecognized arguments: yes"),
    (["--adversarial-lr", "0"], r"argument --adversarial-lr: must be a positive number, got 0"),
])
def test_a_bad_option_is_one_line_and_status_2(options, message, mnist_dir, tmp_path):
    stderr = run_example(mnist_dir, tmp_path / "out", *options, status=2)
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("aae_mnist.py: error: ")
    assert __import__("re").search(message, stderr), stderr
    assert not (tmp_path / "out").exists()  # nothing written


# ---------------------------------------------------------------------------------------------
# The defining property, on real digits (slow)


SLOW_EPOCHS = 8


def train_on_digits(digits, adversary, epochs=SLOW_EPOCHS):
    """The example's training (its defaults, batches of 100) on the 9,000 training digits; returns
    the held-out codes' statistics and D's accuracy on them against as many fresh prior draws."""
    encoder, decoder, D, optimizers = networks()
    train, test = digits
    loader = DataLoader(train, 100, shuffle=True, seed=0, drop_last=True)
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x in loader:
            aae_mnist.two_phase_step(x, encoder, decoder, D, *optimizers, adversary)
    codes = autoencoders.in_batches(encoder.eval(), test, "cpu")
    draws = np.random.default_rng(1).standard_normal(codes.shape).astype(np.float32)
    return aae_mnist.code_statistics(codes), aae_mnist.discriminator_accuracy(D, codes, draws, "cpu")


@pytest.fixture(scope="module")
def digits(mnist_dir):
    from tinygen.data import MNIST

    images, _ = MNIST(mnist_dir, split="test").arrays(scale="unit")
    return images[:-1000], images[-1000:]


@pytest.mark.slow
def test_the_adversary_makes_the_held_out_codes_near_the_prior(digits):
    """Eight epochs each (about 20 s on 2 idle cores), the same networks and steps, with and without
    phase 2(b). Measured here (seed 0), on the 1,000 held-out codes:
        with the adversary:    |mean| 0.88 (the largest unit's 0.46), covariance eigenvalues in
                               [0.57, 2.03], Gaussian KL 0.80 nats, D's accuracy 0.67;
        without it:            |mean| 5.4,  eigenvalues in [1.9, 27],              KL 52 nats, D 0.998;
        1000 prior draws:      |mean| ~0.1, eigenvalues in ~[0.8, 1.2],             KL ~0.03 (the yardstick).
    The docs' words, as thresholds: near N(0, I) in its first two moments (a Gaussian KL of at most
    1.5 nats, a tenth of the plain code's; every eigenvalue within [0.4, 2.5]; no unit's mean more
    than 0.6 from 0), but NOT at the end of the game: D still tells at most 0.75 of the codes from
    prior draws (chance is 0.5; the paper's 0.6 is not reached here), while it tells the plain codes
    more than 95% of the time."""
    aae, aae_accuracy = train_on_digits(digits, adversary=True)
    plain, plain_accuracy = train_on_digits(digits, adversary=False)
    print(f"\nwith the adversary: {aae} D accuracy {aae_accuracy}\nwithout: {plain} D accuracy {plain_accuracy}")
    assert aae["gaussian_kl_to_prior"] < min(1.5, plain["gaussian_kl_to_prior"] / 10)
    assert aae["mean_norm"] < min(1.2, plain["mean_norm"] / 3)
    assert np.abs(aae["mean"]).max() <= 0.6
    assert 0.4 < aae["covariance_eigenvalues_min"] and aae["covariance_eigenvalues_max"] < 2.5
    assert plain["covariance_eigenvalues_max"] > 5  # the bounds above would fail it
    assert aae_accuracy <= 0.75 < 0.95 < plain_accuracy
