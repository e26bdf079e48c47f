"""The WGAN's pieces (tinygen/models/wgan.py): the critics, weight clipping, the Wasserstein
estimate and WGAN-GP's gradient penalty.

The penalty is checked against PyTorch on the same critic weights, images and alpha: its value,
its mean norm and its gradient w.r.t. every critic parameter (double backward through Linear,
Conv2d and LeakyReLU). Then each pitfall of the catalogue by a test that would catch it: alpha
drawn per pixel (the interpolates of constant images would not be constant), the norm taken per
pixel or over the batch (a critic whose gradient is the input itself gives a known per-sample
norm), sqrt at 0 (a zero gradient must give a finite gradient, not NaN), BatchNorm in the critic.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen
from tinygen import nn, optim
from tinygen.models.wgan import (
    CLIP,
    DCGANCritic,
    MLPCritic,
    clip_weights_,
    gradient_penalty,
    wasserstein_estimate,
)
from strategies import medium


class HalfSquare(nn.Module):
    """D(x_n) = 1/2 sum of x_n^2: its gradient is x_n itself, so ||g_n|| = ||x_n||. It keeps what it saw."""

    def forward(self, x):
        self.seen = x.numpy()
        return 0.5 * (x * x).reshape(x.shape[0], -1).sum(dim=1, keepdim=True)


def images(n, seed, shape=(1, 28, 28), dtype=np.float32):
    return tinygen.tensor(np.random.default_rng(seed).uniform(-1, 1, (n,) + shape).astype(dtype))


# ---------------------------------------------------------------------------------------------
# The critics


@pytest.mark.parametrize("Critic", [MLPCritic, DCGANCritic])
def test_critic_is_a_score_without_sigmoid_or_batch_norm(Critic):
    tinygen.manual_seed(0)
    critic = Critic()
    assert not any(isinstance(m, (nn.Sigmoid, nn.BatchNorm1d, nn.BatchNorm2d)) for m in critic.modules())
    x = images(5, 0)
    scores = critic(x)
    assert scores.shape == (5, 1)
    np.testing.assert_allclose(critic(x.reshape(5, 784)).numpy(), scores.numpy(), rtol=1e-6)
    assert np.abs(critic(x * 100).numpy()).max() > 1  # a score on the real line, not a probability
    with pytest.raises(ValueError, match=rf"{Critic.__name__}: expected images of 28x28 = 784 pixels, "
                                         r"\(N, 1, 28, 28\) or \(N, 784\), got shape \(5, 3, 28, 28\)"):
        critic(tinygen.randn(5, 3, 28, 28))


# ---------------------------------------------------------------------------------------------
# Weight clipping


@medium
@given(c=st.floats(1e-4, 1.0), scale=st.floats(1e-3, 10.0), seed=st.integers(0, 2**16))
def test_clip_weights_bounds_every_weight_and_keeps_those_inside(c, scale, seed):
    tinygen.manual_seed(seed)
    critic = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1))
    with tinygen.no_grad():
        for p in critic.parameters():
            p.mul_(scale)
    before = [p.numpy() for p in critic.parameters()]
    versions = [p._version for p in critic.parameters()]
    assert clip_weights_(critic, c) is critic
    for p, old, version in zip(critic.parameters(), before, versions):
        w = p.numpy()
        assert np.abs(w).max() <= np.float32(c)
        np.testing.assert_array_equal(w, np.clip(old, np.float32(-c), np.float32(c)))
        assert p._version == version + 1  # counted as an in-place change, as an optimiser step is


def test_every_critic_weight_within_the_clip_range_after_every_step():
    """WGAN's loop in small: RMSprop 5e-5 on -W, then clip, five times; checked after each step."""
    tinygen.manual_seed(0)
    critic = MLPCritic()
    opt = optim.RMSprop(critic.parameters(), lr=5e-5)
    assert max(np.abs(p.numpy()).max() for p in critic.parameters()) > CLIP  # the default init lies outside
    for step in range(5):
        loss = -wasserstein_estimate(critic(images(8, step)), critic(images(8, 100 + step)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        clip_weights_(critic)
        assert all(np.abs(p.numpy()).max() <= CLIP for p in critic.parameters())


def test_a_graph_through_the_weights_before_clipping_refuses_backward():
    critic = nn.Sequential(nn.Linear(3, 2), nn.LeakyReLU(0.2), nn.Linear(2, 1))  # d/d(first) reads the last weight
    y = critic(tinygen.randn(2, 3)).sum()
    clip_weights_(critic, 0.01)
    with pytest.raises(RuntimeError, match="was changed in place after the forward"):
        y.backward()


def test_clip_weights_refuses_a_bad_range_or_a_non_module():
    critic = MLPCritic()
    for c in (0, -0.01, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"clip_weights_: c must be a positive finite number, got"):
            clip_weights_(critic, c)
    with pytest.raises(TypeError, match=r"clip_weights_: c must be a real number, got str '0.01'"):
        clip_weights_(critic, "0.01")
    with pytest.raises(TypeError, match=r"clip_weights_: expected a Module \(the critic\), got list"):
        clip_weights_(critic.parameters(), 0.01)


# ---------------------------------------------------------------------------------------------
# The Wasserstein estimate


def test_wasserstein_estimate_is_the_difference_of_means():
    real = tinygen.tensor([[3.0], [1.0]], requires_grad=True)
    fake = tinygen.tensor([[0.5], [-1.0], [0.0]], requires_grad=True)
    w = wasserstein_estimate(real, fake)
    assert w.item() == pytest.approx(2.0 - (-0.5 / 3))
    w.backward()
    np.testing.assert_allclose(real.grad.numpy(), [[0.5], [0.5]])
    np.testing.assert_allclose(fake.grad.numpy(), [[-1 / 3]] * 3, rtol=1e-6)


def test_wasserstein_estimate_wants_one_score_per_image():
    with pytest.raises(ValueError, match=r"wasserstein_estimate: expected critic_fake of shape \(N, 1\), "
                                         r"one critic score per image, got \(3,\)"):
        wasserstein_estimate(tinygen.zeros(3, 1), tinygen.zeros(3))
    with pytest.raises(TypeError, match=r"wasserstein_estimate\(\): argument 'critic_real' must be Tensor"):
        wasserstein_estimate(np.zeros((3, 1)), tinygen.zeros(3, 1))


# ---------------------------------------------------------------------------------------------
# The gradient penalty against PyTorch


def torch_twin(critic, torch):
    """The same layers in torch, float64, with the critic's weights (the MLP's shifted by torch's Flatten)."""
    T = torch.nn
    if isinstance(critic, MLPCritic):
        twin = T.Sequential(T.Flatten(), T.Linear(784, 512), T.LeakyReLU(0.2), T.Linear(512, 256),
                            T.LeakyReLU(0.2), T.Linear(256, 1))
    else:
        twin = T.Sequential(T.Conv2d(1, 64, 4, 2, 1), T.LeakyReLU(0.2), T.Conv2d(64, 128, 4, 2, 1),
                            T.LeakyReLU(0.2), T.Conv2d(128, 1, 7))
    twin = twin.double()
    twin.load_state_dict({twin_name(critic, name): torch.tensor(p.numpy()) for name, p in critic.named_parameters()})
    return twin


def twin_name(critic, name):
    """'net.0.weight' -> '0.weight' ('1.weight' in the MLP's twin, whose layer 0 is a Flatten)."""
    index, kind = name.split(".")[1:]
    return f"{int(index) + isinstance(critic, MLPCritic)}.{kind}"


def torch_gradient_penalty(twin, real, fake, alpha, torch):
    """Gulrajani et al.'s penalty as PyTorch users write it: per-sample alpha and norm."""
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(twin(x_hat).sum(), x_hat, create_graph=True)
    norms = g.reshape(len(g), -1).norm(2, dim=1)
    return ((norms - 1) ** 2).mean(), norms.mean()


@pytest.mark.parametrize("Critic", [MLPCritic, DCGANCritic])
def test_gradient_penalty_and_its_gradient_match_pytorch(Critic):
    torch = pytest.importorskip("torch")
    tinygen.manual_seed(1)
    critic = Critic()
    for p in critic.parameters():
        p.data = p.data.astype(np.float64) * 3  # larger weights: gradient norms around 1, not 0.1
    twin = torch_twin(critic, torch)
    rng = np.random.default_rng(1)
    real, fake = rng.uniform(-1, 1, (2, 3, 1, 28, 28))
    alpha = rng.uniform(0, 1, (3, 1, 1, 1))

    penalty, mean_norm = gradient_penalty(critic, tinygen.tensor(real), tinygen.tensor(fake), tinygen.tensor(alpha))
    critic.zero_grad()
    penalty.backward()
    expected, expected_norm = torch_gradient_penalty(twin, *map(torch.tensor, (real, fake, alpha)), torch)
    expected.backward()

    assert 0.3 < expected_norm.item() < 3  # the test is about norms near 1, where the penalty lives
    np.testing.assert_allclose(penalty.item(), expected.item(), rtol=1e-9)
    np.testing.assert_allclose(mean_norm.item(), expected_norm.item(), rtol=1e-9)
    theirs = dict(twin.named_parameters())
    for name, p in critic.named_parameters():
        # The biases only move LeakyReLU's kinks, on which the gradient is piecewise constant: their
        # gradient is 0 (None here, zeros or None in torch). Every weight's is not.
        theirs_grad = theirs[twin_name(critic, name)].grad
        g = np.zeros(p.shape) if theirs_grad is None else theirs_grad.numpy()
        ours = np.zeros(p.shape) if p.grad is None else p.grad.numpy()
        assert name.endswith("bias") or np.abs(g).max() > 0, name
        np.testing.assert_allclose(ours, g, rtol=1e-7, atol=1e-12 * max(np.abs(g).max(), 1e-3), err_msg=name)


def test_gradient_penalty_matches_pytorch_in_float32():
    torch = pytest.importorskip("torch")
    tinygen.manual_seed(2)
    critic = MLPCritic()
    twin = torch_twin(critic, torch).float()
    real, fake = images(4, 2), images(4, 3)
    alpha = tinygen.rand(4, 1, 1, 1)
    penalty, _ = gradient_penalty(critic, real, fake, alpha)
    penalty.backward()
    expected, _ = torch_gradient_penalty(twin, *(torch.tensor(t.numpy()) for t in (real, fake, alpha)), torch)
    expected.backward()
    assert penalty.dtype == np.float32
    np.testing.assert_allclose(penalty.item(), expected.item(), rtol=2e-5)
    g = twin[1].weight.grad.numpy()
    np.testing.assert_allclose(critic.net[0].weight.grad.numpy(), g, rtol=2e-3, atol=2e-5 * np.abs(g).max())


# ---------------------------------------------------------------------------------------------
# The catalogue's pitfalls


@medium
@given(n=st.integers(2, 6), shape=st.sampled_from([(1, 28, 28), (3, 2, 2), (5,)]), seed=st.integers(0, 2**16))
def test_alpha_is_drawn_once_per_sample(n, shape, seed):
    """Real images all 0, fake all 1: x_hat_n = 1 - alpha_n is constant within each sample. An alpha
    per pixel would make it vary inside a sample."""
    tinygen.manual_seed(seed)
    critic = HalfSquare()
    gradient_penalty(critic, tinygen.zeros(n, *shape), tinygen.ones(n, *shape))
    seen = critic.seen.reshape(n, -1)
    np.testing.assert_array_equal(seen, np.repeat(seen[:, :1], seen.shape[1], axis=1))
    assert 0 <= seen.min() and seen.max() <= 1
    assert len(np.unique(seen[:, 0])) == n  # a new alpha for each sample, not one for the batch


def test_alpha_is_uniform_on_0_1():
    tinygen.manual_seed(0)
    critic = HalfSquare()
    gradient_penalty(critic, tinygen.zeros(4000, 1), tinygen.ones(4000, 1))
    alpha = 1 - critic.seen.ravel()
    assert abs(alpha.mean() - 0.5) < 0.02 and abs(alpha.var() - 1 / 12) < 0.005
    assert alpha.min() < 0.01 and alpha.max() > 0.99


@medium
@given(n=st.integers(1, 5), shape=st.sampled_from([(1, 4, 4), (2, 3), (7,)]), seed=st.integers(0, 2**16))
def test_the_norm_is_taken_per_sample_over_all_its_pixels(n, shape, seed):
    """With D(x) = 1/2 ||x||^2 the gradient at x_hat_n is x_hat_n, so ||g_n|| = ||x_hat_n||. A norm
    per pixel (|g| elementwise) or over the whole batch gives another penalty."""
    rng = np.random.default_rng(seed)
    real, fake = rng.uniform(-1, 1, (2, n) + shape)
    alpha = rng.uniform(0, 1, (n,) + (1,) * len(shape))
    penalty, mean_norm = gradient_penalty(HalfSquare(), tinygen.tensor(real), tinygen.tensor(fake),
                                          tinygen.tensor(alpha))
    norms = np.sqrt(((alpha * real + (1 - alpha) * fake) ** 2).reshape(n, -1).sum(axis=1))
    np.testing.assert_allclose(penalty.item(), ((norms - 1) ** 2).mean(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mean_norm.item(), norms.mean(), rtol=1e-9)


def test_a_zero_gradient_gives_no_nan():
    """A critic whose weight is 0 has a zero input gradient: sqrt at 0 has an infinite slope, and
    a norm without eps would make the penalty's gradient 0 * inf = NaN."""
    critic = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    with tinygen.no_grad():
        critic[1].weight.zero_()
    penalty, mean_norm = gradient_penalty(critic, tinygen.randn(3, 1, 2, 2), tinygen.randn(3, 1, 2, 2))
    penalty.backward()
    assert penalty.item() == pytest.approx(1.0, abs=1e-5) and mean_norm.item() == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_array_equal(critic[1].weight.grad.numpy(), 0)  # finite: the gradient of ||w|| at 0 is 0


def test_the_penalty_trains_the_critic_only():
    """fake is detached: no gradient of the penalty reaches the generator that made it. (HalfSquare's
    input gradient is its input, so the penalty does depend on x_hat, hence on fake, if not detached;
    a piecewise-linear critic's gradient would not depend on x_hat at all.)"""
    tinygen.manual_seed(0)
    generator = nn.Linear(3, 784)
    fake = generator(tinygen.randn(4, 3))
    penalty, _ = gradient_penalty(HalfSquare(), images(4, 0).reshape(4, 784), fake)
    penalty.backward()
    assert generator.weight.grad is None


def test_a_critic_with_batch_norm_is_refused_where_it_uses_the_batchs_statistics():
    """Refused in training mode, and in eval mode without running statistics (track_running_stats=False:
    it still normalises by the batch's); accepted in eval mode with running statistics."""
    critic = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
    real, fake = tinygen.randn(5, 1, 2, 2), tinygen.randn(5, 1, 2, 2)
    with pytest.raises(ValueError, match=r"gradient_penalty: the critic's 2 is BatchNorm1d\(3, .*\) in training "
                                         r"mode, which normalises by the batch's statistics and makes each sample's "
                                         r"score depend on the whole batch"):
        gradient_penalty(critic, real, fake)
    critic.eval()  # running statistics: each sample on its own again
    gradient_penalty(critic, real, fake)
    no_running = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3, track_running_stats=False),
                               nn.Linear(3, 1)).eval()
    with pytest.raises(ValueError, match=r"the critic's 2 is BatchNorm1d\(3, .*\) without running statistics "
                                         r"\(track_running_stats=False\)"):
        gradient_penalty(no_running, real, fake)


class StdDevCritic(nn.Module):
    """D(x) = v . tanh(W [x, s(x's group)]): a critic with a minibatch standard deviation (groups of 2)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.MinibatchStdDev(group_size=2), nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 1))

    def forward(self, x):
        return self.net(x.reshape(len(x), -1))


def torch_stddev_critic(critic, torch):
    """The same critic in torch, the minibatch standard deviation written out (sample n in group n mod
    N/2): the oracle for both gradients below."""
    (w1, b1, w2, b2) = (torch.tensor(p.numpy()) for p in critic.parameters())

    def forward(x):
        flat = x.reshape(len(x), -1)
        groups = len(x) // 2
        y = flat.reshape(2, groups, -1)
        s = ((y - y.mean(0)) ** 2).mean(0).add(1e-8).sqrt().mean(1)  # (groups,)
        features = torch.cat([flat, s.repeat(2).reshape(-1, 1)], dim=1)
        return torch.tanh(features @ w1.T + b1) @ w2.T + b2
    return forward


def test_a_critic_with_minibatch_stddev_is_penalised_on_the_gradient_of_the_summed_scores():
    """MinibatchStdDev is accepted, as progressive growing's and StyleGAN's code use it: the penalty's
    g_n is the gradient of sum_m D(x_m) w.r.t. x_n (Karras et al.'s tf.gradients of the summed
    scores), which holds x_n's own gradient through the group's spread s, and the cross terms of the
    other sample of its group. The own gradient alone (the Jacobian's diagonal blocks) gives another
    norm: the cross terms are really there."""
    torch = pytest.importorskip("torch")
    tinygen.manual_seed(3)
    critic = StdDevCritic()
    for p in critic.parameters():
        p.data = p.data.astype(np.float64) * 2
    rng = np.random.default_rng(3)
    real, fake = rng.uniform(-1, 1, (2, 4, 3))
    alpha = rng.uniform(0, 1, (4, 1))
    penalty, mean_norm = gradient_penalty(critic, tinygen.tensor(real), tinygen.tensor(fake), tinygen.tensor(alpha))

    forward = torch_stddev_critic(critic, torch)
    x_hat = torch.tensor(alpha * real + (1 - alpha) * fake, requires_grad=True)
    (g_sum,) = torch.autograd.grad(forward(x_hat).sum(), x_hat)
    jacobian = torch.autograd.functional.jacobian(lambda x: forward(x)[:, 0], x_hat)  # (N, N, 3)
    g_own = torch.stack([jacobian[n, n] for n in range(4)])
    norms_sum, norms_own = g_sum.norm(dim=1).numpy(), g_own.norm(dim=1).numpy()
    assert mean_norm.item() == pytest.approx(norms_sum.mean(), rel=1e-9)
    assert penalty.item() == pytest.approx(((norms_sum - 1) ** 2).mean(), rel=1e-9)
    assert np.abs(norms_sum - norms_own).max() > 0.03  # 0.63 against 0.58, 0.29 against 0.36 here


def test_gradient_penalty_refuses_bad_arguments():
    real, fake = tinygen.randn(4, 1, 28, 28), tinygen.randn(4, 1, 28, 28)
    critic = MLPCritic()
    with pytest.raises(ValueError, match=r"gradient_penalty: alpha must be a Tensor with one value per sample, "
                                         r"shape \(4, 1, 1, 1\), got \(4, 1, 28, 28\) \(an alpha per pixel"):
        gradient_penalty(critic, real, fake, tinygen.rand(4, 1, 28, 28))
    with pytest.raises(ValueError, match=r"shape \(4, 1, 1, 1\), got float"):
        gradient_penalty(critic, real, fake, 0.5)
    with pytest.raises(ValueError, match=r"gradient_penalty: alpha must be in \[0, 1\], got range \[-0.5, 0.5\]"):
        gradient_penalty(critic, real, fake, tinygen.tensor([-0.5, 0.5, 0.5, 0.5]).reshape(4, 1, 1, 1))
    with pytest.raises(ValueError, match=r"gradient_penalty: expected real and fake images of the same shape "
                                         r"\(N, ...\), got \(4, 1, 28, 28\) and \(3, 1, 28, 28\)"):
        gradient_penalty(critic, real, fake[:3])
    with pytest.raises(TypeError, match=r"gradient_penalty: real and fake images must have the same dtype, "
                                        r"got float32 and float64"):
        gradient_penalty(critic, real, fake.double())
    penalty, _ = gradient_penalty(critic, real, fake, tinygen.tensor(np.full((4, 1, 1, 1), 0.5)))  # a float64 alpha
    assert penalty.dtype == np.float32
    with pytest.raises(TypeError, match=r"gradient_penalty\(\): argument 'fake' must be Tensor, not ndarray"):
        gradient_penalty(critic, real, fake.numpy())
    with pytest.raises(ValueError, match=r"gradient_penalty: expected the critic's output of shape \(N, 1\), "
                                         r"one critic score per image, got \(4, 2\)"):
        gradient_penalty(nn.Sequential(nn.Flatten(), nn.Linear(784, 2)), real, fake)


# ---------------------------------------------------------------------------------------------
# What the penalty does, on a 1-D toy with a known Wasserstein distance


def train_critic_on_toy(gp_weight, steps=300):
    """A small critic trained to maximise W - gp_weight * penalty between N(0.25, 0.05^2) (real) and
    N(-0.25, 0.05^2) (fake), fixed: W_1 between them is 0.5, the distance between their means.
    Returns the last 50 steps' mean gradient norm on interpolates and Wasserstein estimate."""
    tinygen.manual_seed(0)
    rng = np.random.default_rng(0)
    critic = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    opt = optim.Adam(critic.parameters(), lr=1e-2, betas=(0.0, 0.9))
    norms, estimates = [], []
    for _ in range(steps):
        real = tinygen.tensor((0.25 + 0.05 * rng.standard_normal((64, 1))).astype(np.float32))
        fake = tinygen.tensor((-0.25 + 0.05 * rng.standard_normal((64, 1))).astype(np.float32))
        w = wasserstein_estimate(critic(real), critic(fake))
        penalty, mean_norm = gradient_penalty(critic, real, fake)
        loss = -w + gp_weight * penalty
        opt.zero_grad()
        loss.backward()
        opt.step()
        norms.append(mean_norm.item())
        estimates.append(w.item())
    return np.mean(norms[-50:]), np.mean(estimates[-50:])


def test_the_penalty_holds_the_critic_near_slope_1_and_its_estimate_near_w1():
    """A critic of slope s between the two masses estimates W = 0.5 s and pays lambda (s - 1)^2:
    the best s is 1 + 0.5 / (2 lambda) = 1.025 for lambda = 10, where W is 0.5125. Without the
    penalty nothing bounds the slope and the estimate runs away."""
    norm, estimate = train_critic_on_toy(gp_weight=10.0)
    assert abs(norm - 1.025) < 0.03 and abs(estimate - 0.5125) < 0.03
    norm, estimate = train_critic_on_toy(gp_weight=0.0)
    assert norm > 100 and estimate > 50
