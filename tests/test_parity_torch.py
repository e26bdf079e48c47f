"""Parity with PyTorch: every layer, loss, optimiser and default initialisation against torch's.

PyTorch is the oracle here, never a dependency of tinygen. Each layer test builds the torch twin,
copies its weights (and buffers) into the tinygen layer, runs both forward, sends the same random
upstream gradient back through both, and compares the outputs and the gradients of the input and
of every parameter. float64 runs use tight tolerances; one float32 run per layer uses float32 ones.
"""
import math
import operator

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tinygen  # noqa: E402
import tinygen.nn.functional as F  # noqa: E402
from tinygen import nn, optim  # noqa: E402

TF = torch.nn.functional

# (rtol, atol) by dtype. float64 differences come only from summation order.
TOL = {np.float64: (1e-9, 1e-11), np.float32: (2e-4, 2e-5)}
FLOAT_DTYPES = [np.float64, np.float32]
SETTINGS = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
CONV_SETTINGS = settings(SETTINGS, max_examples=100)


def torch_dtype(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def assert_close(actual, expected, dtype, scale=1.0, what=""):
    """Compare a tinygen result (Tensor or array) with a torch tensor (or array)."""
    rtol, atol = TOL[dtype]
    actual = actual.numpy() if isinstance(actual, tinygen.Tensor) else np.asarray(actual)
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch's {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def copy_state(layer, twin):
    """Copy the torch twin's parameters and buffers (with their dtype) into the tinygen layer."""
    ours, theirs = layer.state_dict(), twin.state_dict()
    assert list(ours) == list(theirs)
    for name, tensor in ours.items():
        tensor.data = theirs[name].detach().numpy().copy()


def run_both(layer, twin, x, rng, x_requires_grad=True):
    """Forward x through both, backward one random upstream gradient; return both sides."""
    xt = torch.tensor(x, requires_grad=x_requires_grad)
    xg = tinygen.Tensor(x.copy(), requires_grad=x_requires_grad)
    yt, yg = twin(xt), layer(xg)
    g = rng.standard_normal(tuple(yt.shape)).astype(x.dtype)
    yt.backward(torch.tensor(g))
    yg.backward(g)
    return (xg, yg), (xt, yt)


def compare_layer(layer, twin, x, rng, dtype, x_requires_grad=True):
    (xg, yg), (xt, yt) = run_both(layer, twin, x, rng, x_requires_grad)
    assert yg.dtype == x.dtype
    scale = max(1.0, float(np.abs(yt.detach().numpy()).max(initial=0)))
    assert_close(yg, yt, dtype, scale, "output")
    if x_requires_grad:
        assert_close(xg.grad, xt.grad, dtype, scale, "input gradient")
    ours = dict(layer.named_parameters())
    theirs = dict(twin.named_parameters())
    assert list(ours) == list(theirs)
    for name, p in theirs.items():
        assert ours[name].grad is not None, name
        scale = max(1.0, float(p.grad.abs().max()))
        assert_close(ours[name].grad, p.grad, dtype, scale, f"gradient of {name}")


# ---------------------------------------------------------------------------------------------
# Linear


@SETTINGS
@given(
    seed=st.integers(0, 2**31),
    in_features=st.integers(1, 7),
    out_features=st.integers(1, 7),
    lead=st.sampled_from([(), (1,), (5,), (2, 3)]),
    bias=st.booleans(),
)
def test_linear(seed, in_features, out_features, lead, bias):
    rng = np.random.default_rng(seed)
    twin = torch.nn.Linear(in_features, out_features, bias=bias).double()
    layer = nn.Linear(in_features, out_features, bias=bias)
    copy_state(layer, twin)
    compare_layer(layer, twin, rng.standard_normal(lead + (in_features,)), rng, np.float64)


def test_linear_float32():
    rng = np.random.default_rng(0)
    twin, layer = torch.nn.Linear(20, 9), nn.Linear(20, 9)
    copy_state(layer, twin)
    compare_layer(layer, twin, rng.standard_normal((16, 20)).astype(np.float32), rng, np.float32)


# ---------------------------------------------------------------------------------------------
# Conv2d and ConvTranspose2d


@st.composite
def conv_configs(draw, transposed):
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride, padding = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    output_padding = draw(st.integers(0, stride - 1)) if transposed else 0
    if transposed:  # the output must not be empty: (H - 1) s - 2p + k + op >= 1
        h = draw(st.integers(1, 6))
        w = draw(st.integers(1, 6))
        if (h - 1) * stride - 2 * padding + kh + output_padding < 1:
            h = h + (2 * padding) // stride + 1
        if (w - 1) * stride - 2 * padding + kw + output_padding < 1:
            w = w + (2 * padding) // stride + 1
    else:  # the padded input must hold the kernel
        h = draw(st.integers(max(1, kh - 2 * padding), 9))
        w = draw(st.integers(max(1, kw - 2 * padding), 9))
    return dict(
        n=draw(st.integers(1, 3)), cin=draw(st.integers(1, 3)), cout=draw(st.integers(1, 3)), h=h, w=w,
        kernel=(kh, kw), stride=stride, padding=padding, output_padding=output_padding, bias=draw(st.booleans()),
    )


def make_conv(c, transposed, dtype):
    args = (c["cin"], c["cout"], c["kernel"])
    kwargs = dict(stride=c["stride"], padding=c["padding"], bias=c["bias"])
    if transposed:
        kwargs["output_padding"] = c["output_padding"]
        twin, layer = torch.nn.ConvTranspose2d(*args, **kwargs), nn.ConvTranspose2d(*args, **kwargs)
    else:
        twin, layer = torch.nn.Conv2d(*args, **kwargs), nn.Conv2d(*args, **kwargs)
    twin = twin.to(torch_dtype(dtype))
    copy_state(layer, twin)
    return layer, twin


@CONV_SETTINGS
@given(c=conv_configs(transposed=False), seed=st.integers(0, 2**31))
def test_conv2d(c, seed):
    rng = np.random.default_rng(seed)
    layer, twin = make_conv(c, False, np.float64)
    compare_layer(layer, twin, rng.standard_normal((c["n"], c["cin"], c["h"], c["w"])), rng, np.float64)


@CONV_SETTINGS
@given(c=conv_configs(transposed=True), seed=st.integers(0, 2**31))
def test_conv_transpose2d(c, seed):
    rng = np.random.default_rng(seed)
    layer, twin = make_conv(c, True, np.float64)
    compare_layer(layer, twin, rng.standard_normal((c["n"], c["cin"], c["h"], c["w"])), rng, np.float64)


@pytest.mark.parametrize("transposed", [False, True], ids=["Conv2d", "ConvTranspose2d"])
def test_conv_float32(transposed):
    # DCGAN-like shapes: 4x4 kernels, stride 2, padding 1 (and output_padding on the transposed side)
    c = dict(n=4, cin=3, cout=5, h=7, w=6, kernel=(4, 4), stride=2, padding=1, output_padding=1, bias=True)
    rng = np.random.default_rng(1)
    layer, twin = make_conv(c, transposed, np.float32)
    x = rng.standard_normal((4, 3, 7, 6)).astype(np.float32)
    compare_layer(layer, twin, x, rng, np.float32)


# ---------------------------------------------------------------------------------------------
# BatchNorm1d / BatchNorm2d: several training steps, then evaluation

BN_OPTIONS = [
    dict(),
    dict(momentum=0.5, eps=1e-3),
    dict(affine=False),
    dict(track_running_stats=False),
]


def _bn_steps(layer, twin, shape, dtype, rng, steps=3):
    for step in range(steps):
        x = (3 * rng.standard_normal(shape) + rng.standard_normal(shape[1:2] + (1,) * (len(shape) - 2))).astype(dtype)
        layer.zero_grad()
        twin.zero_grad()
        compare_layer(layer, twin, x, rng, dtype)
        for name, buffer in twin.named_buffers():
            ours = dict(layer.named_buffers())[name]
            if name.endswith("num_batches_tracked"):
                assert ours.item() == buffer.item() == step + 1
            else:
                assert_close(ours, buffer, dtype, what=f"{name} after step {step + 1}")


@pytest.mark.parametrize("options", BN_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("kind", ["1d", "2d"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
def test_batchnorm(kind, options, dtype):
    if dtype == np.float32 and options:
        pytest.skip("one float32 run per layer (default options)")
    rng = np.random.default_rng(2)
    channels = 4
    shape = (6, channels) if kind == "1d" else (3, channels, 5, 4)
    cls, torch_cls = (nn.BatchNorm1d, torch.nn.BatchNorm1d) if kind == "1d" else (nn.BatchNorm2d, torch.nn.BatchNorm2d)
    twin = torch_cls(channels, **options).to(torch_dtype(dtype))
    layer = cls(channels, **options)
    if twin.affine:  # start from a non-trivial scale and shift
        with torch.no_grad():
            twin.weight.copy_(torch.tensor(rng.uniform(0.5, 2.0, channels)))
            twin.bias.copy_(torch.tensor(rng.standard_normal(channels)))
    copy_state(layer, twin)
    layer.train()
    twin.train()
    _bn_steps(layer, twin, shape, dtype, rng)
    layer.eval()
    twin.eval()
    x = rng.standard_normal(shape).astype(dtype)
    layer.zero_grad()
    twin.zero_grad()
    compare_layer(layer, twin, x, rng, dtype)
    for name, buffer in twin.named_buffers():  # evaluation leaves the running statistics alone
        assert_close(dict(layer.named_buffers())[name], buffer, dtype, what=name)


# ---------------------------------------------------------------------------------------------
# Activations and reshaping layers

ELEMENTWISE = [
    ("LeakyReLU(0.01)", lambda: nn.LeakyReLU(), lambda: torch.nn.LeakyReLU()),
    ("LeakyReLU(0.2)", lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    ("ReLU", lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    ("Sigmoid", lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    ("Tanh", lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name,make,make_twin", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_elementwise_activation(name, make, make_twin, dtype):
    rng = np.random.default_rng(3)
    x = (4 * rng.standard_normal((5, 3, 4))).astype(dtype)
    x.flat[:6] = [-60.0, 60.0, -20.0, 20.0, 1e-3, -1e-3]  # saturation and the neighbourhood of the kink
    compare_layer(make(), make_twin(), x, rng, dtype)


@pytest.mark.parametrize(
    "make,make_twin,shape",
    [
        (lambda: nn.Flatten(), lambda: torch.nn.Flatten(), (2, 3, 4, 5)),
        (lambda: nn.Flatten(0, -1), lambda: torch.nn.Flatten(0, -1), (2, 3, 4)),
        (lambda: nn.Flatten(1, 2), lambda: torch.nn.Flatten(1, 2), (2, 3, 4, 5)),
        (lambda: nn.Unflatten(1, (1, 4, 3)), lambda: torch.nn.Unflatten(1, (1, 4, 3)), (2, 12)),
        (lambda: nn.Unflatten(-1, (2, 3)), lambda: torch.nn.Unflatten(-1, (2, 3)), (4, 5, 6)),
    ],
    ids=["Flatten", "Flatten(0,-1)", "Flatten(1,2)", "Unflatten(1)", "Unflatten(-1)"],
)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
def test_shape_layers(make, make_twin, shape, dtype):
    rng = np.random.default_rng(4)
    compare_layer(make(), make_twin(), rng.standard_normal(shape).astype(dtype), rng, dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("index_shape", [(7,), (3, 4)])
def test_embedding(index_shape, dtype):
    rng = np.random.default_rng(5)
    twin = torch.nn.Embedding(6, 3).to(torch_dtype(dtype))
    layer = nn.Embedding(6, 3)
    copy_state(layer, twin)
    index = rng.integers(0, 6, size=index_shape)
    index.flat[:2] = 2  # a repeated index: its gradients add up
    yt, yg = twin(torch.tensor(index)), layer(tinygen.Tensor(index))
    g = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    yt.backward(torch.tensor(g))
    yg.backward(g)
    assert_close(yg, yt, dtype, what="output")
    assert_close(layer.weight.grad, twin.weight.grad, dtype, what="weight gradient")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
def test_dropout_eval_is_identity(p, dtype):
    rng = np.random.default_rng(6)
    compare_layer(nn.Dropout(p).eval(), torch.nn.Dropout(p).eval(), rng.standard_normal((4, 5)).astype(dtype), rng, dtype)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_train_statistics(p):
    tinygen.manual_seed(7)
    n = 200_000
    layer = nn.Dropout(p)
    assert layer.training
    x = tinygen.ones(n, requires_grad=True)
    y = layer(x)
    values = y.numpy()
    zeroed = values == 0
    # the fraction zeroed is Binomial(n, p) / n: within 5 standard deviations of p
    assert abs(zeroed.mean() - p) < 5 * math.sqrt(p * (1 - p) / n)
    # survivors are scaled by 1/(1-p), so the expectation is unchanged (as torch's dropout)
    np.testing.assert_allclose(values[~zeroed], 1 / (1 - p), rtol=1e-6)
    # the gradient goes through the same mask with the same scale
    g = np.random.default_rng(8).standard_normal(n).astype(np.float32)
    y.backward(g)
    np.testing.assert_allclose(x.grad.numpy(), np.where(zeroed, 0, g / (1 - p)), rtol=1e-6)
    # a second call draws a new mask
    assert not np.array_equal(layer(tinygen.ones(n)).numpy() == 0, zeroed)


# ---------------------------------------------------------------------------------------------
# Losses against torch.nn.functional, all three reductions

REDUCTIONS = ["mean", "sum", "none"]


def compare_loss(ours, theirs, inputs, dtype, rng, grad_of=None):
    """inputs: arrays; grad_of: indices of the inputs whose gradients to compare (default all)."""
    grad_of = range(len(inputs)) if grad_of is None else grad_of
    tg_inputs = [tinygen.Tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in inputs]
    th_inputs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    lg, lt = ours(*tg_inputs), theirs(*th_inputs)
    assert_close(lg, lt, dtype, scale=max(1.0, float(lt.detach().abs().max())), what="loss")
    g = rng.standard_normal(tuple(lt.shape)).astype(dtype)
    lg.backward(g)
    lt.backward(torch.tensor(g))
    for i in grad_of:
        scale = max(1.0, float(th_inputs[i].grad.abs().max()))
        assert_close(tg_inputs[i].grad, th_inputs[i].grad, dtype, scale, f"gradient of input {i}")
    return tg_inputs, th_inputs


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")  # target grad at p = 0, 1
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction, dtype):
    rng = np.random.default_rng(10)
    p = rng.uniform(0.001, 0.999, (6, 5)).astype(dtype)
    y = rng.uniform(0, 1, (6, 5)).astype(dtype)
    y[:3] = rng.integers(0, 2, (3, 5))  # hard labels and soft targets
    p[0, :4] = [0.0, 1.0, 0.0, 1.0]  # the -100 clamp of log 0, both ways
    y[0, :4] = [1.0, 0.0, 0.0, 1.0]  # (a loss of 100 each for the first two, 0 for the others)
    ours = lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction)  # noqa: E731
    theirs = lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction)  # noqa: E731
    tg_in, th_in = compare_loss(ours, theirs, [p, y], dtype, rng, grad_of=[])
    # the gradient of p is gy (p - y) / max(p (1 - p), 1e-12): finite at p = 0 or 1. Torch's
    # constant is the float 1e-12f = 9.99999996e-13 even in float64, hence rtol 1e-8 at the clamp.
    inside = (p > 0) & (p < 1)
    ours_gp, theirs_gp = tg_in[0].grad.numpy(), th_in[0].grad.numpy()
    assert np.isfinite(ours_gp).all()
    assert_close(ours_gp[inside], theirs_gp[inside], dtype, scale=10, what="gradient of p inside (0, 1)")
    np.testing.assert_allclose(ours_gp[~inside], theirs_gp[~inside], rtol=1e-8 if dtype == np.float64 else 1e-4)
    # torch's target gradient is -logit(p), infinite at p = 0 or 1: compare it inside (0, 1)
    assert_close(tg_in[1].grad.numpy()[inside], th_in[1].grad.numpy()[inside], dtype, scale=10, what="target grad")


def test_binary_cross_entropy_clamp_value():
    p = tinygen.Tensor(np.array([0.0, 1.0, 0.0, 1.0]))
    y = tinygen.Tensor(np.array([1.0, 0.0, 0.0, 1.0]))
    expected = TF.binary_cross_entropy(torch.tensor(p.numpy()), torch.tensor(y.numpy()), reduction="none")
    np.testing.assert_array_equal(F.binary_cross_entropy(p, y, reduction="none").numpy(), expected.numpy())
    np.testing.assert_array_equal(expected.numpy(), [100.0, 100.0, 0.0, 0.0])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction, dtype):
    rng = np.random.default_rng(11)
    z = (3 * rng.standard_normal((6, 5))).astype(dtype)
    y = rng.uniform(0, 1, (6, 5)).astype(dtype)
    y[:3] = rng.integers(0, 2, (3, 5))
    z[0, :] = [100.0, -100.0, 0.0, 100.0, -100.0]  # large |z| and z exactly 0
    y[0, :] = [0.0, 1.0, 0.3, 1.0, 0.0]
    ours = lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction)  # noqa: E731
    theirs = lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction)  # noqa: E731
    compare_loss(ours, theirs, [z, y], dtype, rng)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_regression_losses(name, reduction, dtype):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, 3, 2)).astype(dtype)
    t = rng.standard_normal((4, 3, 2)).astype(dtype)
    ours = lambda a, b: getattr(F, name)(a, b, reduction=reduction)  # noqa: E731
    theirs = lambda a, b: getattr(TF, name)(a, b, reduction=reduction)  # noqa: E731
    compare_loss(ours, theirs, [x, t], dtype, rng)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy(reduction, dtype):
    rng = np.random.default_rng(13)
    logits = (5 * rng.standard_normal((8, 10))).astype(dtype)
    logits[0, 3] = 80.0  # a confident row: the log-sum-exp must not overflow
    labels = rng.integers(0, 10, 8)
    ours = lambda a, b: F.cross_entropy(a, b, reduction=reduction)  # noqa: E731
    theirs = lambda a, b: TF.cross_entropy(a, b, reduction=reduction)  # noqa: E731
    compare_loss(ours, theirs, [logits, labels], dtype, rng, grad_of=[0])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_kl(reduction, dtype):
    rng = np.random.default_rng(14)
    mu = rng.standard_normal((7, 4)).astype(dtype)
    logvar = rng.standard_normal((7, 4)).astype(dtype)

    def theirs(m, lv):
        normal = torch.distributions.Normal
        kl = torch.distributions.kl_divergence(normal(m, torch.exp(0.5 * lv)), normal(torch.zeros_like(m), 1.0))
        kl = kl.sum(-1)
        return {"mean": kl.mean(), "sum": kl.sum(), "none": kl}[reduction]

    compare_loss(lambda m, lv: F.gaussian_kl(m, lv, reduction=reduction), theirs, [mu, logvar], dtype, rng)


# ---------------------------------------------------------------------------------------------
# Second order: the WGAN-GP gradient penalty, differentiated with respect to the critic's weights


def _penalty_tinygen(critic, x):
    x = tinygen.Tensor(x, requires_grad=True)
    (g,) = tinygen.grad(critic(x).sum(), x, create_graph=True)
    norms = (g.flatten(1) * g.flatten(1)).sum(dim=1).sqrt()
    return ((norms - 1) ** 2).mean()


def _penalty_torch(critic, x):
    x = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("critic", ["mlp", "conv"])
def test_wgan_gp_penalty_gradient(critic, dtype):
    rng = np.random.default_rng(15)
    if critic == "mlp":
        layer = nn.Sequential(nn.Linear(6, 16), nn.LeakyReLU(0.2), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))
        twin = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.LeakyReLU(0.2), torch.nn.Linear(16, 8),
                                   torch.nn.Tanh(), torch.nn.Linear(8, 1))
        x = rng.standard_normal((5, 6))
    else:
        layer = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Flatten(),
                              nn.Linear(4 * 3 * 3, 1))
        twin = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, stride=2, padding=1), torch.nn.LeakyReLU(0.2),
                                   torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 1))
        x = rng.standard_normal((3, 2, 6, 5))
    x = x.astype(dtype)
    twin = twin.to(torch_dtype(dtype))
    copy_state(layer, twin)
    pg, pt = _penalty_tinygen(layer, x), _penalty_torch(twin, x)
    assert_close(pg, pt, dtype, what="penalty")
    pg.backward()
    pt.backward()
    for name, p in twin.named_parameters():
        ours = dict(layer.named_parameters())[name].grad
        # A bias before a piecewise-linear activation, or the last bias, does not change the gradient
        # with respect to x: one side may say None where the other says zeros.
        if p.grad is None or ours is None:
            assert not (p.grad is not None and p.grad.abs().max() > 0), name
            assert not (ours is not None and ours.numpy().any()), name
            continue
        assert_close(ours, p.grad, dtype, scale=max(1.0, float(p.grad.abs().max())), what=f"gradient of {name}")


# ---------------------------------------------------------------------------------------------
# Optimisers: the parameter trajectory over 20 steps of training a small MLP


def _mlp_pair(dtype, seed=16):
    torch.manual_seed(seed)
    twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).to(torch_dtype(dtype))
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    copy_state(model, twin)
    return model, twin


OPTIMISERS = [
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, betas=(0.5, 0.9), eps=1e-3)),
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-4, weight_decay=0.1, momentum=0.5, centered=True)),
]


def _train_side_by_side(name, options, dtype, seed, steps=20):
    """The same MLP trained by our optimiser and by torch's; yields both models after each step."""
    model, twin = _mlp_pair(dtype)
    opt = getattr(optim, name)(model.parameters(), **options)
    opt_t = getattr(torch.optim, name)(twin.parameters(), **options)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, 4)).astype(dtype)
    target = rng.standard_normal((16, 2)).astype(dtype)
    for _ in range(steps):
        opt.zero_grad()
        opt_t.zero_grad()
        F.mse_loss(model(tinygen.Tensor(x)), tinygen.Tensor(target)).backward()
        TF.mse_loss(twin(torch.tensor(x)), torch.tensor(target)).backward()
        opt.step()
        opt_t.step()
        yield model, twin


@pytest.mark.parametrize("name,options", OPTIMISERS, ids=[f"{n}-{o}" for n, o in OPTIMISERS])
def test_optimiser_trajectory(name, options):
    for step, (model, twin) in enumerate(_train_side_by_side(name, options, np.float64, seed=17)):
        for (n, p), (_, q) in zip(model.named_parameters(), twin.named_parameters()):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-9, atol=1e-11,
                                       err_msg=f"{n} after step {step + 1}")


@pytest.mark.parametrize("name,options", [("Adam", dict(lr=0.01)), ("SGD", dict(lr=0.1, momentum=0.9)),
                                          ("RMSprop", dict(lr=0.01, centered=True))])
def test_optimiser_trajectory_float32(name, options):
    *_, (model, twin) = _train_side_by_side(name, options, np.float32, seed=18)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,options", [("Adam", dict(lr=0.1)), ("SGD", dict(lr=0.05, momentum=0.5)),
                                          ("RMSprop", dict(lr=0.05))])
def test_optimiser_on_a_quadratic(name, options):
    """f(p) = sum a (p - c)^2 with one steep and one flat direction: the gradient is exact on both sides."""
    rng = np.random.default_rng(19)
    a, c, start = rng.uniform(0.1, 10, 5), rng.standard_normal(5), rng.standard_normal(5)
    p = tinygen.Tensor(start.copy(), requires_grad=True)
    q = torch.tensor(start.copy(), requires_grad=True)
    opt, opt_t = getattr(optim, name)([p], **options), getattr(torch.optim, name)([q], **options)
    for _ in range(20):
        opt.zero_grad()
        opt_t.zero_grad()
        (tinygen.Tensor(a) * (p - tinygen.Tensor(c)) ** 2).sum().backward()
        (torch.tensor(a) * (q - torch.tensor(c)) ** 2).sum().backward()
        opt.step()
        opt_t.step()
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Default initialisation: shapes, and statistics within sampling error


LAYERS = [  # (name, constructor given the nn module); every weight and bias is uniform but Embedding's
    ("Linear", lambda m: m.Linear(600, 400)),
    ("Conv2d", lambda m: m.Conv2d(48, 64, 5)),
    ("Conv2d-rect", lambda m: m.Conv2d(16, 128, (3, 5), stride=2, padding=1)),
    ("ConvTranspose2d", lambda m: m.ConvTranspose2d(64, 32, 4, stride=2, padding=1)),
    # many outputs, so that the bias (bound 1/sqrt(fan_in) with fan_in from the weight's dim 1) is a large sample
    ("Linear-wide", lambda m: m.Linear(40, 4000)),
    ("ConvTranspose2d-wide", lambda m: m.ConvTranspose2d(8, 1500, 3)),
    ("Embedding", lambda m: m.Embedding(300, 256)),
    ("BatchNorm2d", lambda m: m.BatchNorm2d(64)),
]


def _check_same_distribution(ours, theirs, what, bounded):
    """Compare two samples of (supposedly) one distribution: mean, spread, quantiles, and for a
    bounded (uniform) one the range."""
    ours, theirs = ours.ravel().astype(np.float64), theirs.ravel().astype(np.float64)
    if theirs.std() == 0:  # constant fills (BatchNorm's ones and zeros)
        np.testing.assert_array_equal(ours, theirs, err_msg=what)
        return
    n, std = ours.size, theirs.std()
    # the std of a sample std is about std / sqrt(2n): allow 6 of those (and 1% for the other sample)
    assert abs(ours.std() / std - 1) < 6 / math.sqrt(2 * n) + 0.01, what
    assert abs(ours.mean() - theirs.mean()) < 6 * std / math.sqrt(n), what
    # a sample quantile's standard error is sqrt(q (1 - q) / n) / density: < 3.7 std / sqrt(n) for
    # these q, for a normal or a uniform; two samples, 6 standard errors
    q = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    tolerance = 6 * math.sqrt(2) * 3.7 * std / math.sqrt(n)
    np.testing.assert_allclose(np.quantile(ours, q), np.quantile(theirs, q), atol=tolerance, err_msg=what)
    if bounded:  # U(-b, b): the largest |x| of n samples falls short of b by about b / n
        assert abs(np.abs(ours).max() / np.abs(theirs).max() - 1) < 10 / n + 0.002, what


@pytest.mark.parametrize("name,make", LAYERS, ids=[n for n, _ in LAYERS])
def test_default_initialisation(name, make):
    tinygen.manual_seed(20)
    torch.manual_seed(20)
    layer, twin = make(nn), make(torch.nn)
    ours, theirs = layer.state_dict(), twin.state_dict()
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        assert ours[key].shape == tuple(value.shape), key
        assert ours[key].dtype == np.float32 or key.endswith("num_batches_tracked"), key
        _check_same_distribution(ours[key].numpy(), value.numpy(), f"{name}.{key}", bounded=name != "Embedding")


INITS = [
    ("xavier_uniform_", dict()),
    ("xavier_uniform_", dict(gain=2.0)),
    ("xavier_normal_", dict()),
    ("xavier_normal_", dict(gain=0.5)),
    ("kaiming_uniform_", dict()),
    ("kaiming_uniform_", dict(a=math.sqrt(5))),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", dict()),
    ("kaiming_normal_", dict(a=0.2, mode="fan_out")),
    ("kaiming_normal_", dict(nonlinearity="relu")),
    ("uniform_", dict(a=-0.3, b=0.7)),
    ("normal_", dict(mean=0.5, std=0.02)),
]


@pytest.mark.parametrize("shape", [(384, 256), (64, 48, 3, 3)], ids=["2d", "4d"])
@pytest.mark.parametrize("name,options", INITS, ids=[f"{n}{o}" for n, o in INITS])
def test_init_statistics(name, options, shape):
    tinygen.manual_seed(21)
    torch.manual_seed(21)
    ours = getattr(nn.init, name)(tinygen.zeros(*shape), **options)
    theirs = getattr(torch.nn.init, name)(torch.zeros(*shape), **options)
    assert isinstance(ours, tinygen.Tensor) and ours.shape == shape
    _check_same_distribution(ours.numpy(), theirs.numpy(), name, bounded="uniform" in name)


@pytest.mark.parametrize("nonlinearity,param", [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                                                ("leaky_relu", None), ("leaky_relu", 0.2), ("conv2d", None)])
def test_calculate_gain(nonlinearity, param):
    assert nn.init.calculate_gain(nonlinearity, param) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, param))


# ---------------------------------------------------------------------------------------------
# Modules: what PyTorch's habits do to a model, side by side


def test_module_double_and_float_as_torch():
    model, twin = _mlp_pair(np.float32)
    model.add_module("norm", nn.BatchNorm1d(2))
    twin.add_module("norm", torch.nn.BatchNorm1d(2))
    model.double(), twin.double()
    assert [t.dtype for t in model.state_dict().values()] == [
        np.dtype(str(t.dtype).removeprefix("torch.")) for t in twin.state_dict().values()]
    x = np.random.default_rng(3).standard_normal((5, 4))
    assert_close(model(tinygen.tensor(x)), twin(torch.tensor(x)), np.float64)
    model.float(), twin.float()
    assert model[0].weight.dtype == np.float32 and twin[0].weight.dtype == torch.float32
    assert model.norm.num_batches_tracked.dtype == np.int64 and twin.norm.num_batches_tracked.dtype == torch.int64
    model.to("float64")
    assert model[2].bias.dtype == np.float64


def test_refused_as_torch_refuses():
    pairs = [(nn, tinygen.zeros), (torch.nn, torch.zeros)]
    for lib, zeros in pairs:
        with pytest.raises(TypeError, match="cannot assign .* as parameter 'weight'"):
            lib.Linear(2, 3).weight = zeros(3, 2)
        with pytest.raises(TypeError, match="is not a Module subclass"):
            lib.Sequential(lib.Linear(2, 2), lambda x: x)
        with pytest.raises(TypeError, match="is not a Module subclass"):
            lib.ModuleList([lib.ReLU])
        with pytest.raises(ValueError, match="training mode is expected to be boolean"):
            lib.Linear(2, 2).train("False")


def test_load_state_dict_not_strict_as_torch():
    model, twin = _mlp_pair(np.float64)
    other, other_twin = _mlp_pair(np.float64, seed=5)
    partial = {k: v for k, v in other.state_dict().items() if k.startswith("0.")}
    partial_twin = {k: v for k, v in other_twin.state_dict().items() if k.startswith("0.")}
    partial["extra"] = partial_twin["extra"] = other_twin.state_dict()["2.bias"]  # an unexpected key
    partial["extra"] = tinygen.tensor(partial["extra"].numpy())
    model.load_state_dict(partial, strict=False)
    twin.load_state_dict(partial_twin, strict=False)
    for (name, p), q in zip(model.state_dict().items(), twin.state_dict().values()):
        assert_close(p, q, np.float64, what=name)
    with pytest.raises(KeyError, match="missing keys"):
        model.load_state_dict(partial)
    with pytest.raises(RuntimeError, match="Missing key"):
        twin.load_state_dict(partial_twin)


def test_zero_grad_set_to_none_as_torch():
    model, twin = _mlp_pair(np.float64)
    x = np.ones((2, 4))
    model(tinygen.tensor(x)).sum().backward()
    twin(torch.tensor(x)).sum().backward()
    model.zero_grad(set_to_none=False)
    twin.zero_grad(set_to_none=False)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert_close(p.grad, q.grad, np.float64)
        assert not p.grad.numpy().any()
    model.zero_grad()
    twin.zero_grad()
    assert all(p.grad is None for p in model.parameters()) and all(q.grad is None for q in twin.parameters())


def test_apply_and_named_sequential_as_torch():
    from collections import OrderedDict
    model = nn.Sequential(OrderedDict(fc=nn.Linear(2, 3), block=nn.Sequential(nn.ReLU(), nn.Linear(3, 1))))
    twin = torch.nn.Sequential(OrderedDict(fc=torch.nn.Linear(2, 3),
                                           block=torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(3, 1))))
    order, order_twin = [], []
    model.apply(lambda m: order.append(type(m).__name__))
    twin.apply(lambda m: order_twin.append(type(m).__name__))
    assert order == order_twin
    assert list(model.state_dict()) == list(twin.state_dict())
    assert [name for name, _ in model.named_children()] == [name for name, _ in twin.named_children()]


def test_optimiser_step_with_a_closure_and_zero_grad_to_zeros_as_torch():
    model, twin = _mlp_pair(np.float64)
    opt, opt_t = optim.SGD(model.parameters(), lr=0.1, momentum=0.9), torch.optim.SGD(twin.parameters(), lr=0.1,
                                                                                      momentum=0.9)
    x = np.random.default_rng(4).standard_normal((6, 4))

    def closure():
        opt.zero_grad(set_to_none=False)
        loss = model(tinygen.tensor(x)).sum()
        loss.backward()
        return loss

    def closure_t():
        opt_t.zero_grad(set_to_none=False)
        loss = twin(torch.tensor(x)).sum()
        loss.backward()
        return loss

    for _ in range(3):
        assert_close(opt.step(closure), opt_t.step(closure_t), np.float64)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert_close(p, q, np.float64)
        assert_close(p.grad, q.grad, np.float64)


def test_a_parameter_given_twice_torch_warns_and_tinygen_refuses():
    twin = torch.nn.Linear(2, 3)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        torch.optim.SGD(list(twin.parameters()) + [twin.weight], lr=0.1)
    lin = nn.Linear(2, 3)
    with pytest.raises(ValueError, match="is the same tensor as parameter 0"):
        optim.SGD(lin.parameters() + [lin.weight], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        torch.optim.SGD([{"params": [twin.weight]}, {"params": [twin.weight]}], lr=0.1)


def test_instance_norm_of_one_pixel_maps_is_refused_as_torch():
    with pytest.raises(ValueError, match="Expected more than 1 spatial element"):
        torch.nn.InstanceNorm2d(3)(torch.randn(2, 3, 1, 1))
    with pytest.raises(ValueError, match="Expected more than 1 spatial element"):
        nn.InstanceNorm2d(3)(tinygen.randn(2, 3, 1, 1))
    x = np.random.default_rng(8).standard_normal((2, 3, 2, 1))  # two pixels: the smallest map both normalise
    assert_close(nn.InstanceNorm2d(3)(tinygen.tensor(x)), torch.nn.InstanceNorm2d(3)(torch.tensor(x)), np.float64)


# Python's protocols on Tensor: the habits a PyTorch user brings do what they do in PyTorch


def both(values, **kwargs):
    """The same values as a tinygen tensor and a torch tensor."""
    array = np.array(values)
    return tinygen.tensor(array, **kwargs), torch.tensor(array, **kwargs)


def same(ours, theirs):
    """Same values, same dtype, and nothing in a graph (a comparison or a cast leaves it)."""
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours.numpy(), theirs)


COMPARISONS = ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"]


@pytest.mark.parametrize("op", COMPARISONS)
@pytest.mark.parametrize("other", [2.0, 2, np.float64(2.0), [1.0, 2.0, 4.0], "tensor"], ids=str)
def test_comparisons_are_elementwise(op, other):
    (a, ta), values = both([1.0, 2.0, 3.0], requires_grad=True), [1.0, 2.0, 4.0]
    if other == "tensor":
        other, their_other = tinygen.tensor(values), torch.tensor(values)
    elif isinstance(other, list):
        other = np.array(other, dtype=np.float32)  # (torch compares only with its own tensors)
        their_other = torch.tensor(other)
    else:
        their_other = other
    ours, theirs = getattr(a, op)(other), getattr(ta, op)(their_other)
    same(ours, theirs)
    assert not ours.requires_grad and not theirs.requires_grad
    mirrored = {"__lt__": "__gt__", "__le__": "__ge__", "__gt__": "__lt__", "__ge__": "__le__"}.get(op, op)
    same(getattr(operator, op)(other, a), getattr(ta, mirrored)(their_other))  # other <op> a: reflected


def test_the_usual_accuracy():
    (pred, tpred), (y, ty) = both([1, 2, 3, 4]), both([1, 0, 3, 0])
    assert (pred == y).float().mean().item() == (tpred == ty).float().mean().item() == 0.5


@pytest.mark.parametrize("other", [None, "a", [1.0, 2.0]], ids=repr)
def test_equal_to_what_is_not_a_tensor_or_number_is_false(other):
    a, ta = both([1.0, 2.0])
    assert (a == other) is (ta == other) is False
    assert (a != other) is (ta != other) is True


def test_tensors_are_hashable_by_identity():
    a, b = tinygen.ones(2), tinygen.ones(2)
    ta, tb = torch.ones(2), torch.ones(2)
    assert len({a, b, a}) == len({ta, tb, ta}) == 2
    assert {a: 1, b: 2}[b] == {ta: 1, tb: 2}[tb] == 2


@pytest.mark.parametrize("values", [0.0, 0.5, -1.0, [0.0], [[3]], True, False, float("nan")], ids=repr)
def test_truth_of_one_element(values):
    a, ta = both(values)
    assert bool(a) is bool(ta)
    assert ("taken" if a < 0.5 else "not") == ("taken" if ta < 0.5 else "not")


def test_truth_of_many_elements_is_refused_by_both():
    for t in (tinygen.tensor([0.9, 0.1]), torch.tensor([0.9, 0.1])):
        with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
            bool(t < 0.5)


@pytest.mark.parametrize("values", [2.7, -2.7, [3.0], [[-1]], 7, True], ids=repr)
def test_python_numbers_of_one_element(values):
    a, ta = both(values)
    assert float(a) == float(ta) and int(a) == int(ta) and a.item() == ta.item()
    assert type(int(a)) is int and type(float(a)) is float


@pytest.mark.parametrize("values", [3, [4], np.int32(2), True], ids=repr)
def test_an_integer_tensor_is_an_index(values):
    a, ta = both(values)
    assert range(a) == range(ta) and [10, 20, 30, 40, 50][a] == [10, 20, 30, 40, 50][ta]
    for t in (tinygen.tensor(3.0), torch.tensor(3.0), tinygen.tensor([1, 2]), torch.tensor([1, 2])):
        with pytest.raises(TypeError, match="only integer tensors of a single element can be converted to an index"):
            range(t)


@pytest.mark.parametrize("shape", [(3,), (2, 3), (0, 2), (1, 2, 2)])
def test_len_and_rows(shape):
    array = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    a, ta = tinygen.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)
    assert len(a) == len(ta)
    rows, their_rows = list(a), list(ta)
    assert len(rows) == len(their_rows)
    for row, their_row in zip(rows, their_rows):
        assert row.requires_grad and their_row.requires_grad
        np.testing.assert_array_equal(row.numpy(), their_row.detach().numpy())
    if rows:  # the rows are in the graph: a gradient flows back through each
        sum(r.sum() * (i + 1) for i, r in enumerate(rows)).backward()
        sum(r.sum() * (i + 1) for i, r in enumerate(their_rows)).backward()
        np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    for t in (tinygen.tensor(1.0), torch.tensor(1.0)):
        with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
            len(t)
        with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
            iter(t)


@pytest.mark.parametrize("element", [2.0, 2, 5.0, np.float64(3.0), "tensor_in", "tensor_out", "row"])
def test_in_is_elementwise_any(element):
    a, ta = both([[1.0, 2.0], [3.0, 4.0]])
    theirs = element
    if element == "tensor_in":
        element, theirs = tinygen.tensor(3.0), torch.tensor(3.0)
    elif element == "tensor_out":
        element, theirs = tinygen.tensor([7.0, 8.0]), torch.tensor([7.0, 8.0])
    elif element == "row":
        element, theirs = tinygen.tensor([3.0, 9.0]), torch.tensor([3.0, 9.0])
    assert (element in a) is (theirs in ta)


def test_numpy_asarray_as_pytorch():
    a, ta = both([[1.0, 2.0]], dtype=None)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(ta))
    assert np.asarray(a, dtype=np.float32).dtype == np.asarray(ta, dtype=np.float32).dtype == np.float32
    for t in (tinygen.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)):
        with pytest.raises(RuntimeError, match="Use tensor.detach\\(\\).numpy\\(\\) instead"):
            np.asarray(t)


def _set_items(t):
    t[0] = 5.0
    t[1, 1:] = torch.tensor([7.0, 8.0]) if isinstance(t, torch.Tensor) else tinygen.tensor([7.0, 8.0])
    t[t < 0] = 0.0
    t[:, 2] = 9  # an int into floats
    index = torch.tensor([2, 0]) if isinstance(t, torch.Tensor) else tinygen.tensor([2, 0])
    t[index] = -1.0
    return t


def test_setitem_writes_in_place():
    array = np.random.default_rng(0).standard_normal((4, 3))
    a, ta = tinygen.tensor(array), torch.tensor(array)
    data = a.data
    assert _set_items(a) is a and a.data is data
    _set_items(ta)
    np.testing.assert_array_equal(a.numpy(), ta.numpy())
    assert a._version == ta._version == 5
    w, tw = tinygen.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    with tinygen.no_grad(), torch.no_grad():  # a parameter may be written under no_grad
        w[1], tw[1] = 4.0, 4.0
    np.testing.assert_array_equal(w.numpy(), tw.detach().numpy())
    for t in (tinygen.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad is being used in an in-place"):
            t[0] = 2.0


def test_setitem_on_a_saved_tensor_makes_backward_refuse_in_both():
    for lib in (tinygen, torch):
        w, x = lib.ones(3, requires_grad=True), lib.ones(3).exp()  # exp's backward reads its output
        loss = (w * x).sum()
        x[0] = 2.0
        with pytest.raises(RuntimeError, match="modified by an inplace operation|changed in place after the forward"):
            loss.backward()


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
def test_the_first_loop_a_tutorial_teaches_moves_the_weights(dtype):
    """`with no_grad(): for p in model.parameters(): p -= lr * p.grad` updates the parameters themselves."""
    layer, twin = nn.Linear(3, 2), torch.nn.Linear(3, 2).to(torch_dtype(dtype))
    copy_state(layer, twin)
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(dtype)
    for _ in range(3):
        ours, theirs = list(layer.parameters()), list(twin.parameters())
        for p in ours:
            p.grad = None
        twin.zero_grad()
        (layer(tinygen.tensor(x)) ** 2).sum().backward()
        (twin(torch.tensor(x)) ** 2).sum().backward()
        with tinygen.no_grad(), torch.no_grad():
            for p, tp in zip(ours, theirs):
                p -= 0.1 * p.grad
                tp -= 0.1 * tp.grad
                p *= 0.99
                tp *= 0.99
                p += 0.01
                tp += 0.01
                p /= 1.01
                tp /= 1.01
        assert list(layer.parameters()) == ours or all(a is b for a, b in zip(layer.parameters(), ours))
    for name, tp in twin.named_parameters():
        assert_close(dict(layer.named_parameters())[name], tp, dtype, what=name)


def test_in_place_operators_refuse_what_pytorch_refuses():
    for lib in (tinygen, torch):
        w = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place "
                                               "operation"):
            w -= 1.0
        n = lib.ones(3, dtype=lib.int64 if lib is torch else "int64")
        with pytest.raises(RuntimeError, match="result type .* can't be cast to the desired output type"):
            n += 1.5
        with pytest.raises(RuntimeError, match="output with shape .* doesn't match the broadcast shape"):
            n += lib.ones(2, 3, dtype=lib.int64 if lib is torch else "int64")


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_max_and_min_along_a_dim_give_values_and_indices(name, keepdim, dim):
    """Ties (and a NaN, which wins) included: the same index, and the gradient goes only there."""
    array = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [5.0, np.nan, -1.0, 5.0]])
    a, ta = tinygen.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)
    values, indices = getattr(a, name)(dim=dim, keepdim=keepdim)
    their_values, their_indices = getattr(ta, name)(dim=dim, keepdim=keepdim)
    same(indices, their_indices)
    np.testing.assert_array_equal(values.numpy(), their_values.detach().numpy())
    result = getattr(a, name)(dim, keepdim)  # the names of torch.return_types, too
    assert result.values is result[0] and result.indices is result[1] and len(result) == 2
    g = np.random.default_rng(2).standard_normal(values.shape)
    values.backward(g)
    their_values.backward(torch.tensor(g))
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())


def test_plain_max_and_min_are_reductions():
    a, ta = both([[1.0, 3.0], [3.0, -2.0]], requires_grad=True)
    for name in ("max", "min"):
        np.testing.assert_array_equal(getattr(a, name)().numpy(), getattr(ta, name)().detach().numpy())
    a.max().backward()
    ta.max().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())  # the tie shares the gradient in both
    same(a.argmin(dim=1), ta.argmin(dim=1))


def test_tensor_copies_and_from_numpy_shares():
    array = np.ones(3)
    a, ta, shared, their_shared = tinygen.tensor(array), torch.tensor(array), tinygen.from_numpy(array), \
        torch.from_numpy(array)
    array[0] = 5.0
    same(a, ta)
    same(shared, their_shared)
    assert a.tolist() == [1.0, 1.0, 1.0] and shared.tolist() == [5.0, 1.0, 1.0]


@pytest.mark.parametrize("seed", [-1, -(2**63), 2**64 - 1, np.int64(7)], ids=repr)
def test_manual_seed_takes_pytorchs_range(seed):
    """Both accept a negative seed (as seed + 2**64); the same seed gives the same draws."""
    torch.manual_seed(seed)
    tinygen.manual_seed(seed)
    first = tinygen.randn(3).numpy()
    tinygen.manual_seed(int(seed) % 2**64)
    np.testing.assert_array_equal(tinygen.randn(3).numpy(), first)
    assert torch.initial_seed() == int(seed) % 2**64


@pytest.mark.parametrize("args", [(5,), (1, 4), (0.0, 1.0, 0.25), (2, -3, -1), (0, 1, 0.3), (3, 3)], ids=repr)
def test_arange(args):
    same(tinygen.arange(*args), torch.arange(*args))


def test_arange_refuses_as_pytorch():
    for lib in (tinygen, torch):
        with pytest.raises(RuntimeError, match="step must be nonzero"):
            lib.arange(0, 5, 0)
        with pytest.raises(RuntimeError, match="upper bound and lower bound inconsistent with step sign"):
            lib.arange(0, 5, -1)


def test_a_gradient_of_another_shape_is_refused_by_both():
    for lib in (tinygen, torch):
        w = lib.ones(3, 2, requires_grad=True)
        with pytest.raises(RuntimeError, match="assign a gradient of (shape|size) .*2.* to a tensor of (shape|size)"):
            w.grad = lib.ones(2)


@pytest.mark.filterwarnings("ignore:divide by zero encountered in power:RuntimeWarning")  # 0 ** -1.5 = inf
@pytest.mark.parametrize("base", [2, 0.5, 2.7, 0.0, np.float64(3.0)], ids=repr)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float64", "float32"])
def test_a_number_to_a_tensor_power(base, dtype):
    array = np.array([-1.5, 0.0, 0.5, 2.0], dtype=dtype)
    x, tx = tinygen.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)
    y, ty = base ** x, base ** tx
    assert y.dtype == dtype
    assert_close(y, ty, dtype, what="values")
    g = np.linspace(-1, 1, 4).astype(dtype)
    y.backward(g)
    ty.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad, dtype, scale=10.0, what="gradient")
    same(base ** tinygen.tensor([0, 1, 3]), base ** torch.tensor([0, 1, 3]))  # an integer exponent


@pytest.mark.parametrize("values", [[-1.5, 2.0], [True, False], [0, -3, 5]], ids=repr)
def test_unary_operators(values):
    a, ta = both(values)
    if a.dtype.kind != "f":
        same(~a, ~ta)
    if a.dtype.kind != "b":
        same(-a, -ta)
        same(abs(a), abs(ta))


@pytest.mark.parametrize("left", [np.float64(2.0), np.float32(2.0), np.int64(2), 2, 2.0], ids=repr)
@pytest.mark.parametrize("op", ["__add__", "__sub__", "__mul__", "__truediv__", "__pow__"])
def test_numpy_scalars_on_the_left(left, op):
    """A NumPy scalar on the left is a number, as in PyTorch: the float32 tensor stays float32."""
    a, ta = both([1.0, 2.0, 4.0], dtype=None)
    a, ta = a.float(), ta.float()
    ours, theirs = getattr(operator, op)(left, a), getattr(operator, op)(left, ta)
    assert isinstance(ours, tinygen.Tensor)
    assert_close(ours, theirs, np.float32)
    assert ours.dtype == theirs.detach().numpy().dtype


def test_bool_tensor_meets_an_int_as_pytorch():
    a, ta = both([True, False])
    same(a + 1, ta + 1)
    same(a * 2, ta * 2)
    same(a + True, ta + True)
