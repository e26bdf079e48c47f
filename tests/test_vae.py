"""The VAE family's defining properties, and its examples (vae_mnist.py, beta_vae_sweep.py) end to end.

On formulas: the closed-form KL equals a Monte-Carlo estimate drawn through the model's own
reparameterisation; beta = 1 is exactly the VAE's loss (bitwise, values and gradients, and over
training steps); the reparameterisation's gradients reach mu and logvar; the convolutional VAE's
shapes and gradients. On real digits (slow): prior samples of a briefly trained VAE are
recognisable to tinygen's classifier, and the held-out KL falls as beta rises.
"""
import json
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen
from tinygen import metrics, optim
import tinygen.nn.functional as F
from tinygen.data import DataLoader
from tinygen.gradcheck import gradcheck
from tinygen.models.vae import VAE, ConvVAE, reparameterize, vae_loss
from autoencoder_training import digits
import script_runs
from same_run import assert_same_run
from test_cli import run_script
from strategies import medium

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))
import beta_vae_sweep  # noqa: E402  (examples/beta_vae_sweep.py)
import vae_mnist  # noqa: E402  (examples/vae_mnist.py)


def run_vae(mnist_dir, out, *extra):
    """stdout of vae_mnist.py on the test split, batch 32; it must succeed."""
    status, stdout, stderr = run_script("vae_mnist.py", "--data-dir", mnist_dir, "--split", "test", "--batch-size", 32,
                                        "--out", out, *extra)
    assert status == 0, f"vae_mnist.py exited {status}:\n{stdout[-3000:]}\n{stderr[-3000:]}"
    return stdout


def assert_refused(script, status, stderr, message):
    """One line on stderr, `<script>: error: ...` holding `message`, exit status 2, no traceback."""
    assert status == 2 and "Traceback" not in stderr, stderr
    assert stderr.count("\n") == 1 and stderr.startswith(f"{script}: error: "), stderr
    assert message in stderr, stderr


def random_batch(n=4, latent=3, seed=0, dtype=np.float32):
    """(reconstruction probabilities (n, 784), images (n, 1, 28, 28) in [0, 1], mu, logvar), all leaf tensors."""
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(0.01, 0.99, (n, 784)), rng.random((n, 1, 28, 28)), rng.normal(size=(n, latent)),
              rng.normal(size=(n, latent))]
    return [tinygen.tensor(a.astype(dtype), requires_grad=True) for a in arrays]


# ---------------------------------------------------------------------------------------------
# The KL in closed form, and the reparameterisation


@medium
@given(mu=st.lists(st.floats(-2, 2), min_size=1, max_size=4), data=st.data())
def test_the_closed_form_kl_equals_a_monte_carlo_estimate(mu, data):
    """KL(q || p) = E_q[log q(z) - log p(z)]: the mean over 200,000 draws z = reparameterize(mu, logvar)
    of the log-density ratio (computed here in NumPy) matches F.gaussian_kl within 5 standard errors
    of that mean. Drawing through the model's reparameterisation checks it too: with exp(logvar) in
    place of exp(logvar / 2) the draws have the wrong spread and the estimate moves away (planted by
    hand once: caught), as does a closed form without its 1/2 (planted: caught)."""
    logvar = data.draw(st.lists(st.floats(-3, 2), min_size=len(mu), max_size=len(mu)))
    mu64, logvar64 = np.array([mu]), np.array([logvar])
    closed = F.gaussian_kl(tinygen.tensor(mu64), tinygen.tensor(logvar64), reduction="none").numpy()[0]

    draws = 200_000
    tinygen.manual_seed(data.draw(st.integers(0, 1000)))
    z = reparameterize(tinygen.tensor(np.repeat(mu64, draws, axis=0)),
                       tinygen.tensor(np.repeat(logvar64, draws, axis=0))).numpy()
    variance = np.exp(logvar64)
    log_q = -0.5 * (np.log(2 * np.pi * variance) + (z - mu64) ** 2 / variance)
    log_p = -0.5 * (np.log(2 * np.pi) + z**2)
    ratio = (log_q - log_p).sum(axis=1)
    standard_error = ratio.std() / np.sqrt(draws)
    assert abs(ratio.mean() - closed) <= 5 * standard_error + 1e-9, (ratio.mean(), closed, standard_error)


def test_the_reparameterisation_sends_gradients_to_mu_and_logvar():
    """z = mu + exp(logvar / 2) eps: dz/dmu = 1 and dz/dlogvar = exp(logvar / 2) eps / 2 = (z - mu) / 2."""
    _, _, mu, logvar = random_batch(n=5, latent=4, dtype=np.float64)
    tinygen.manual_seed(0)
    z = reparameterize(mu, logvar)
    (z * z).sum().backward()  # dL/dz = 2 z
    np.testing.assert_allclose(mu.grad.numpy(), 2 * z.numpy(), rtol=1e-12)
    np.testing.assert_allclose(logvar.grad.numpy(), 2 * z.numpy() * (z.numpy() - mu.numpy()) / 2, rtol=1e-12)
    eps = (z.numpy() - mu.numpy()) / np.exp(logvar.numpy() / 2)  # the noise: standard normal, not a fixed value
    assert eps.std() > 0.3


# ---------------------------------------------------------------------------------------------
# beta: the loss against formulas written out in NumPy is in tests/test_vae_step.py
# (test_vae_loss_is_the_summed_negative_elbo_and_its_gradients, test_the_beta_vae_step_weights_the_kl_by_beta)


@pytest.mark.parametrize("beta,shown", [(-1, "-1"), (float("nan"), "nan"), (float("inf"), "inf"), ("2", "'2'")])
def test_vae_loss_refuses_a_beta_that_is_no_weight(beta, shown):
    reconstruction, x, mu, logvar = random_batch()
    with pytest.raises(ValueError, match=f"^vae_loss: beta must be a finite number >= 0, got {shown}$"):
        vae_loss(reconstruction, x, mu, logvar, beta=beta)


# ---------------------------------------------------------------------------------------------
# The convolutional VAE


def test_conv_vae_shapes_and_interface():
    tinygen.manual_seed(0)
    model = ConvVAE(latent_dim=5)
    x = tinygen.tensor(np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32))
    reconstruction, mu, logvar = model(x)
    assert reconstruction.shape == (3, 1, 28, 28) and mu.shape == logvar.shape == (3, 5)
    assert 0 <= reconstruction.numpy().min() and reconstruction.numpy().max() <= 1
    assert model.encode(x.reshape(3, 784))[0].shape == (3, 5)  # flat images too, as the MLP VAE takes
    assert model.decode(mu).shape == (3, 1, 28, 28) and model.latent_dim == 5
    assert model.reparameterize(mu, logvar).shape == (3, 5)
    total, bce, kl = vae_loss(reconstruction, x, mu, logvar)  # images or flat: the same loss
    assert total.item() == pytest.approx(vae_loss(reconstruction.reshape(3, 784), x, mu, logvar)[0].item())
    assert sum(p.numel() for p in ConvVAE().parameters()) == (
        (32 * 9 + 32) + (64 * 32 * 9 + 64) + 2 * (3136 * 20 + 20)   # encoder and heads
        + (20 * 3136 + 3136) + (64 * 32 * 9 + 32) + (32 * 9 + 1))   # decoder
    mlp = VAE()  # the MLP VAE keeps its interface: 784-400-20
    assert mlp.latent_dim == 20 and mlp.decode(tinygen.zeros(2, 20)).shape == (2, 784)


def test_conv_vae_gradients_match_central_differences():
    """A ConvVAE with 2 and 3 channels and a 2-number code, in float64: the gradient of its outputs
    (decode(mu), mu and logvar, no sampling) with respect to every weight agrees with central differences."""
    tinygen.manual_seed(0)
    model = ConvVAE(latent_dim=2, channels=(2, 3))
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    x = tinygen.tensor(np.random.default_rng(0).random((1, 1, 28, 28)))

    def outputs(*_):
        mu, logvar = model.encode(x)
        return model.decode(mu), mu, logvar

    assert gradcheck(outputs, model.parameters())


# ---------------------------------------------------------------------------------------------
# The examples, end to end (a few steps each)


def test_beta_vae_example_writes_its_files(mnist_dir, tmp_path):
    """--beta 4, 2 steps, with metrics: every file, and the held-out ELBO's terms in metrics.json."""
    stdout = run_vae(mnist_dir, tmp_path, "--beta", 4, "--max-steps", 2)
    assert "ELBO on 1000 held-out digits, grey" in stdout
    for name in ["samples.npy", "reconstructions.npy"]:
        images = np.load(tmp_path / name)
        assert images.shape == (1000, 28, 28) and images.dtype == np.float32, name
        assert 0 <= images.min() and images.max() <= 1, name
    for name in ["traversal.png", "interpolation.png", "reconstructions.png", "curves.png", "samples_epoch_001.png",
                 "reconstructions_epoch_001.png"]:
        assert (tmp_path / name).stat().st_size > 1000, name
    assert not (tmp_path / "manifold.png").exists()  # only with --latent 2
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["beta"] == 4 and result["conv"] is False and result["steps"] == 2 and result["code_size"] == 20
    assert result["held_out_negative_elbo"] == pytest.approx(result["held_out_reconstruction_nats"] + result["held_out_kl"])
    assert len(result["held_out_kl_per_unit"]) == 20 and result["held_out_kl"] == pytest.approx(sum(result["held_out_kl_per_unit"]))
    assert set(result) >= {"held_out_mse", "pca_mse", "classifier_score", "frechet_distance", "classes_covered"}


def test_the_conv_vae_has_its_own_default_budget_and_epochs_overrides_it(mnist_dir, tmp_path):
    """50 epochs for the MLP VAE, 30 for the convolutional one (about five times as slow a step):
    each default run ends within 10 minutes on the training digits."""
    epochs = lambda n, *extra: script_runs.epochs_of_a_run("vae_mnist.py", mnist_dir, tmp_path / str(n), *extra)
    assert (epochs(0), epochs(1, "--conv"), epochs(2, "--conv", "--epochs", "3")) == (50, 30, 3)


def test_the_held_out_kl_is_gaussian_kl_per_unit():
    """held_out_terms' KL per unit sums to F.gaussian_kl of the codes; its BCE is the summed BCE per image."""
    tinygen.manual_seed(0)
    model = VAE(latent_dim=3, hidden=16)
    images = np.random.default_rng(1).random((7, 1, 28, 28)).astype(np.float32)
    tinygen.manual_seed(5)
    bce, kl = vae_mnist.held_out_terms(model, images, "cpu")
    tinygen.manual_seed(5)  # the same draw of z
    with tinygen.no_grad():
        reconstruction, mu, logvar = model(tinygen.tensor(images))
        _, total_bce, total_kl = vae_loss(reconstruction, tinygen.tensor(images), mu, logvar)
    assert bce.shape == (7,) and kl.shape == (7, 3)
    assert kl.sum() == pytest.approx(total_kl.item(), rel=1e-5) and bce.sum() == pytest.approx(total_bce.item(), rel=1e-5)


def test_traversal_sets_one_unit_per_row():
    codes = []
    mu = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    images = vae_mnist.traversal(lambda z: codes.append(z.numpy()) or tinygen.zeros(z.shape[0], 784), mu, [2, 0], "cpu")
    codes = codes[0].reshape(2, 11, 3)
    assert images.shape == (22, 28, 28)
    np.testing.assert_array_equal(codes[0, :, 2], vae_mnist.TRAVERSAL_VALUES)  # row 0 varies unit 2 ...
    np.testing.assert_array_equal(codes[0, :, :2], np.tile(mu[:2], (11, 1)))   # ... and keeps the others
    np.testing.assert_array_equal(codes[1, :, 0], vae_mnist.TRAVERSAL_VALUES)
    np.testing.assert_array_equal(codes[1, :, 1:], np.tile(mu[1:], (11, 1)))


@pytest.fixture(scope="module")
def conv_runs(mnist_dir, tmp_path_factory):
    """--conv: 'one' run of 4 steps; 'split' 2 steps with --beta 1, then resumed with --beta 1 to step 4."""
    root = tmp_path_factory.mktemp("conv")
    run_vae(mnist_dir, root / "one", "--conv", "--max-steps", 4, "--no-metrics")
    run_vae(mnist_dir, root / "split", "--conv", "--beta", 1, "--max-steps", 2, "--no-metrics")
    stdout = run_vae(mnist_dir, root / "split", "--conv", "--beta", 1, "--max-steps", 4, "--no-metrics",
                     "--resume", root / "split" / "checkpoint.npz")
    assert "resumed from" in stdout and "at step 2" in stdout
    return root


def test_a_conv_run_split_in_two_with_beta_1_equals_one_conv_vae_run(conv_runs):
    """Resume is exact, and --beta 1 changes nothing: the same weights, optimiser state, curves and samples."""
    assert_same_run(conv_runs / "one", conv_runs / "split", ["samples.npy", "reconstructions.npy"])
    saved = tinygen.load(conv_runs / "one" / "checkpoint.npz")
    assert saved["model_types"] == {"vae": "ConvVAE"} and len(saved["history"]["kl"].numpy()) == 4
    assert np.load(conv_runs / "one" / "reconstructions.npy").shape == (1000, 28, 28)
    assert (conv_runs / "one" / "interpolation.png").exists() and not (conv_runs / "one" / "traversal.png").exists()


def test_a_conv_checkpoint_is_not_resumed_without_conv(conv_runs, mnist_dir, tmp_path):
    path = conv_runs / "one" / "checkpoint.npz"
    status, _, stderr = run_script("vae_mnist.py", "--data-dir", mnist_dir, "--split", "test", "--batch-size", 32,
                                   "--out", tmp_path / "new", "--resume", path)
    assert_refused("vae_mnist.py", status, stderr, f"--resume {path} comes from a run with --conv, this one is "
                   "without it; resume with --conv")
    assert not (tmp_path / "new").exists()


def test_a_run_is_not_resumed_with_another_beta(conv_runs, mnist_dir, tmp_path):
    """The beta is part of the loss: resuming a --beta 1 run with --beta 4 would train on two losses."""
    path = conv_runs / "split" / "checkpoint.npz"
    status, _, stderr = run_script("vae_mnist.py", "--data-dir", mnist_dir, "--split", "test", "--batch-size", 32,
                                   "--conv", "--beta", 4, "--out", tmp_path / "new", "--resume", path)
    assert_refused("vae_mnist.py", status, stderr, f"--resume {path} comes from a run with --beta 1, this one has 4; "
                   "resume with --beta 1 (the loss depends on it)")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("value,message", [
    ("-1", "argument --beta: must be a number >= 0, got -1"),
    ("nan", "argument --beta: must be a number >= 0, got nan"),
    ("inf", "argument --beta: must be a number >= 0, got inf"),
    ("big", "argument --beta: expected a number, got 'big'"),
])
def test_a_beta_that_is_no_weight_is_one_line(value, message, tmp_path):
    status, _, stderr = run_script("vae_mnist.py", "--beta", value, "--out", tmp_path / "run")
    assert_refused("vae_mnist.py", status, stderr, f"{message}; see vae_mnist.py --help")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------
# The sweep: its table and its refusals (the sweep itself runs in the slow test below)


def test_the_tradeoff_files(tmp_path):
    rows = [{"beta": beta, "held_out_kl": kl, "held_out_reconstruction_nats": 100 + 10 * beta,
             "held_out_negative_elbo": 100 + 10 * beta + kl, "held_out_mse": 0.02, "classifier_score": 5.0,
             "frechet_distance": 40.0, "classes_covered": 10} for beta, kl in [(0.5, 30.0), (4.0, 12.0)]]
    table = beta_vae_sweep.write_tradeoff(tmp_path, rows, "test")
    assert json.loads((tmp_path / "tradeoff.json").read_text()) == rows
    lines = (tmp_path / "tradeoff.md").read_text().splitlines()
    assert lines == table.splitlines() and len(lines) == 4
    assert lines[0].startswith("| beta | held-out KL (nats) | reconstruction (BCE nats) | negative ELBO (nats) |")
    assert lines[3] == "| 4 | 12.00 | 140.00 | 152.00 | 0.02000 | 5.00 | 40.0 | 10 |"
    assert (tmp_path / "tradeoff.png").stat().st_size > 1000


@pytest.mark.parametrize("extra,message", [
    (["--betas", "1", "1.0"], "argument --betas: two betas would share the folder beta_1; give each beta once"),
    (["--betas", "2", "-2"], "argument --betas: must be a number >= 0, got -2"),
    (["--no-metrics"], "--no-metrics: the sweep's table is made of each run's metrics; leave it out"),
    (["--resume", "x.npz"], "--resume x.npz: a sweep starts its runs afresh"),
    (["--held"], "already holds a sweep (tradeoff.json, beta_4/checkpoint.npz); choose another --out, or pass "
                 "--overwrite to replace it"),
], ids=["same-folder", "negative", "no-metrics", "resume", "out-holds-a-sweep"])
def test_the_sweep_refuses_in_one_line(extra, message, tmp_path):
    out = tmp_path / "sweep"
    if extra == ["--held"]:
        (out / "beta_4").mkdir(parents=True)
        (out / "tradeoff.json").write_text("[]")
        (out / "beta_4" / "checkpoint.npz").write_text("mine")
        extra = ["--betas", "1", "4"]
    before = sorted(out.rglob("*")) if out.exists() else None
    status, _, stderr = run_script("beta_vae_sweep.py", "--out", out, *extra)
    assert_refused("beta_vae_sweep.py", status, stderr, message)
    assert (sorted(out.rglob("*")) if out.exists() else None) == before


# ---------------------------------------------------------------------------------------------
# On real digits (slow; run with -m slow)


def train_vae(images, epochs, beta=1.0, latent=20, seed=0):
    """The example's training: Adam 1e-3, batches of 128 in a seeded order, vae_loss with this beta."""
    tinygen.manual_seed(seed)
    model = VAE(latent)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(images, 128, shuffle=True, seed=seed, drop_last=True)
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x in loader:
            reconstruction, mu, logvar = model(x)
            loss, _, _ = vae_loss(reconstruction, x, mu, logvar, beta=beta)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def prior_sample_metrics(model, mnist_dir):
    z = tinygen.tensor(np.random.default_rng(1).standard_normal((1000, model.latent_dim)).astype(np.float32))
    with tinygen.no_grad():
        samples = model.decode(z).numpy().reshape(1000, 28, 28)
    return metrics.evaluate(samples, data_dir=mnist_dir, verbose=False)


@pytest.mark.slow
def test_prior_samples_of_a_trained_vae_are_recognisable_digits(mnist_dir):
    """8 epochs on 9,000 digits (seconds): decoded prior draws score far above an untrained VAE's with
    tinygen's classifier, and nearly every digit appears."""
    train, _, _, _ = digits(mnist_dir)
    untrained = prior_sample_metrics(train_vae(train, epochs=0), mnist_dir)
    trained = prior_sample_metrics(train_vae(train, epochs=8), mnist_dir)
    print(f"\nclassifier score: untrained {untrained['classifier_score']}, trained {trained['classifier_score']}; "
          f"Frechet distance {untrained['frechet_distance']} -> {trained['frechet_distance']}; "
          f"classes covered {trained['classes_covered']}")
    assert trained["classifier_score"] > untrained["classifier_score"] + 1.5
    assert trained["frechet_distance"] < 0.5 * untrained["frechet_distance"]
    assert trained["classes_covered"] >= 9


@pytest.mark.slow
def test_the_held_out_kl_falls_as_beta_rises(mnist_dir):
    """beta 0.5, 1 and 4, 3 epochs each from the same seed: the held-out KL falls with each step up in
    beta, and the reconstruction term rises (the trade-off the sweep tabulates)."""
    train, held_out, _, _ = digits(mnist_dir)
    kl, reconstruction = [], []
    for beta in (0.5, 1.0, 4.0):
        tinygen.manual_seed(0)
        bce, kl_per_unit = vae_mnist.held_out_terms(train_vae(train, epochs=3, beta=beta), held_out, "cpu")
        kl.append(kl_per_unit.sum(axis=1).mean())
        reconstruction.append(bce.mean())
    print(f"\nheld-out KL for beta 0.5, 1, 4: {np.round(kl, 2)}; reconstruction: {np.round(reconstruction, 2)}")
    assert kl[0] > 1.2 * kl[1] and kl[1] > 1.2 * kl[2]
    assert reconstruction[0] < reconstruction[1] < reconstruction[2]


@pytest.mark.slow
def test_the_sweep_end_to_end(mnist_dir, tmp_path):
    """beta_vae_sweep.py --betas 4 0.5, 30 steps each: both runs, the table in ascending beta, the picture."""
    status, stdout, stderr = run_script("beta_vae_sweep.py", "--data-dir", mnist_dir, "--split", "test",
                                        "--out", tmp_path, "--betas", 4, 0.5, "--max-steps", 30)
    assert status == 0, stderr[-3000:]
    rows = json.loads((tmp_path / "tradeoff.json").read_text())
    assert [row["beta"] for row in rows] == [0.5, 4]
    for row in rows:
        run = json.loads((tmp_path / f"beta_{row['beta']:g}" / "metrics.json").read_text())
        assert run["beta"] == row["beta"] and run["held_out_kl"] == row["held_out_kl"] and run["steps"] == 30
    assert rows[0]["held_out_kl"] > rows[1]["held_out_kl"]
    assert (tmp_path / "tradeoff.png").stat().st_size > 1000
    assert "| 0.5 |" in (tmp_path / "tradeoff.md").read_text() and "wrote" in stdout
