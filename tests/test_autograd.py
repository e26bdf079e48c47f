"""The engine's behaviour: accumulation, grad mode, tinygen.grad, deep graphs, errors, dtypes."""

import gc

import numpy as np
import pytest

import tinygen as tg
from tinygen import functional as F
from tinygen import nn
from strategies import leaf


# =============================================================================================
# Accumulation and the chain rule


def test_gradients_accumulate_over_two_backward_calls():
    a = np.array([1.0, -2.0, 3.0])
    x = leaf(a)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 2 * a)
    y.backward()  # the graph was retained; the gradient adds up, as in PyTorch
    np.testing.assert_allclose(x.grad.numpy(), 4 * a)
    (x * 3.0).sum().backward()  # a second graph adds too
    np.testing.assert_allclose(x.grad.numpy(), 4 * a + 3)
    x.zero_grad()
    assert x.grad is None


def test_a_tensor_used_twice_gets_the_sum_of_its_gradients():
    a = np.array([0.5, -1.5])
    x = leaf(a)
    (x * x + x).sum().backward()  # d/dx (x^2 + x) = 2x + 1
    np.testing.assert_allclose(x.grad.numpy(), 2 * a + 1)
    x = leaf(a)
    (x + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_diamond_graph_waits_for_every_branch():
    """y feeds a short and a long branch: its gradient is complete before it is passed on."""
    a = np.array([0.3, -0.7, 1.1])
    x = leaf(a)
    y = x * 2.0
    short = y * 3.0
    long = F.exp(F.tanh(y + 1.0) * 0.5)
    (short + long * y).sum().backward()
    yy = 2 * a
    t = np.tanh(yy + 1)
    d_long_dy = np.exp(0.5 * t) * 0.5 * (1 - t**2)
    expected = 2 * (3 + d_long_dy * yy + np.exp(0.5 * t))
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


class CountingIdentity(tg.Function):
    """y = x, counting how often its backward runs."""

    calls = 0

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        CountingIdentity.calls += 1
        return gy


def test_each_function_runs_backward_once_with_its_complete_gradient():
    """Functions are visited newest first, so a shared node waits for all its consumers."""
    CountingIdentity.calls = 0
    x = leaf([0.2, -0.4])
    y = CountingIdentity()(x)
    deep = y
    for _ in range(5):
        deep = F.tanh(deep) * 1.5
    (y * 2.0 + deep + y * y).sum().backward(retain_graph=True)  # deep is used again below
    assert CountingIdentity.calls == 1
    d = x.numpy()
    for _ in range(5):
        d = np.tanh(d) * 1.5
    (gd,) = tg.grad(deep.sum(), x)
    np.testing.assert_allclose(x.grad.numpy(), 2.0 + gd.numpy() + 2 * x.numpy(), rtol=1e-12)


def test_broadcasting_gradients_are_summed_back_to_the_input_shape():
    a = np.arange(3.0).reshape(3, 1)
    b = np.array([1.0, -2.0, 0.5, 4.0])
    x, y = leaf(a), leaf(b)
    z = x * y  # (3, 4)
    assert z.shape == (3, 4)
    z.sum().backward()
    assert x.grad.shape == (3, 1) and y.grad.shape == (4,)
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 1), b.sum()))
    np.testing.assert_allclose(y.grad.numpy(), np.full(4, a.sum()))
    # A scalar tensor against a matrix; a leading axis added by broadcasting.
    s, m = leaf(2.0), leaf(np.ones((2, 3)))
    (s * m + leaf(np.ones(3))).sum().backward()
    assert s.grad.shape == () and float(s.grad.numpy()) == 6.0


def test_backward_of_a_leaf_and_of_tensors_without_grad():
    x = leaf([1.0, 2.0])
    x.backward(np.array([3.0, 4.0]))
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])
    with pytest.raises(RuntimeError):
        tg.Tensor(np.ones(2)).sum().backward()


# =============================================================================================
# Grad mode


def test_no_grad_records_no_graph():
    x = leaf([1.0, 2.0])
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2.0 + F.exp(x)
        z = F.matmul(x.reshape(1, 2), x.reshape(2, 1))
    assert y.creator is None and not y.requires_grad
    assert z.creator is None and not z.requires_grad
    assert tg.is_grad_enabled()
    assert (x * 2.0).requires_grad  # recording again after the block


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with tg.no_grad():
            1 / 0
    assert tg.is_grad_enabled()
    with tg.no_grad():
        with tg.enable_grad():
            assert (leaf([1.0]) * 2).requires_grad
        assert not (leaf([1.0]) * 2).requires_grad


def test_without_create_graph_gradients_have_no_graph():
    x = leaf([0.5, 1.5])
    F.sigmoid(x * x).sum().backward()
    assert x.grad.creator is None and not x.grad.requires_grad
    (g,) = tg.grad(F.tanh(x).sum(), x)
    assert g.creator is None and not g.requires_grad


def test_with_create_graph_gradients_have_a_graph():
    a = np.array([0.5, 1.5])
    x = leaf(a)
    (x**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.creator is not None
    (gg,) = tg.grad(x.grad.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 6 * a)


def test_detach_cuts_the_graph():
    a = np.array([1.0, 2.0])
    x = leaf(a)
    y = x * x
    d = y.detach()
    assert d.creator is None and not d.requires_grad
    np.testing.assert_array_equal(d.numpy(), a * a)
    (d * x).sum().backward()  # d is a constant: d(x) = x^2 contributes no x-gradient of its own
    np.testing.assert_allclose(x.grad.numpy(), a * a)


# =============================================================================================
# tinygen.grad


def test_grad_returns_a_tuple_and_leaves_dot_grad_alone():
    x, w = leaf([1.0, 2.0]), leaf([3.0, -1.0])
    w.grad = tg.Tensor(np.array([10.0, 10.0]))
    out = tg.grad((x * w).sum(), [x, w])
    assert isinstance(out, tuple) and len(out) == 2
    np.testing.assert_allclose(out[0].numpy(), [3.0, -1.0])
    np.testing.assert_allclose(out[1].numpy(), [1.0, 2.0])
    assert x.grad is None
    np.testing.assert_array_equal(w.grad.numpy(), [10.0, 10.0])
    single = tg.grad((x * x).sum(), x)
    assert isinstance(single, tuple) and len(single) == 1


def test_grad_of_a_non_leaf_input():
    a = np.array([1.0, -2.0])
    x = leaf(a)
    z = x * 3.0
    y = (z * z).sum()
    (gz,) = tg.grad(y, z, retain_graph=True)
    np.testing.assert_allclose(gz.numpy(), 2 * 3 * a)
    assert x.grad is None
    gz2, gx = tg.grad(y, [z, x])  # both at once
    np.testing.assert_allclose(gz2.numpy(), 6 * a)
    np.testing.assert_allclose(gx.numpy(), 18 * a)


def test_grad_with_grad_outputs_and_several_outputs():
    x = leaf([1.0, 2.0, 3.0])
    y1, y2 = x * 2.0, x * x
    v1, v2 = np.array([1.0, 0.0, -1.0]), np.array([0.5, 0.5, 0.5])
    (g,) = tg.grad([y1, y2], x, grad_outputs=[tg.Tensor(v1), tg.Tensor(v2)])
    np.testing.assert_allclose(g.numpy(), 2 * v1 + 2 * np.array([1.0, 2.0, 3.0]) * v2)


def test_grad_raises_for_unused_inputs_unless_allowed():
    x, unused = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match="not used"):
        tg.grad((x * x).sum(), [x, unused])
    gx, gu = tg.grad((x * x).sum(), [x, unused], allow_unused=True)
    assert gu is None
    np.testing.assert_allclose(gx.numpy(), [2.0])
    with pytest.raises(RuntimeError):
        tg.grad((x * x).sum(), tg.Tensor(np.ones(1)))  # an input that does not require grad


# =============================================================================================
# Deep graphs, errors


def test_a_20000_op_chain_backpropagates_without_recursion_error():
    x = leaf([1.0, 2.0])
    y = x
    for _ in range(10000):
        y = y * 1.0001
        y = y + 0.0
    assert y.creator is not None
    y.sum().backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), np.full(2, 1.0001**10000), rtol=1e-9)
    (g,) = tg.grad(y.sum(), x)
    np.testing.assert_allclose(g.numpy(), np.full(2, 1.0001**10000), rtol=1e-9)
    del y, g
    gc.collect()  # freeing the long chain must not overflow the stack either


def test_backward_on_a_non_scalar_without_gradient_names_the_shape():
    y = leaf(np.ones((2, 3))) * 2.0
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        y.backward()
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        tg.grad(y, y.creator.inputs[0])


def test_backward_with_a_wrong_shaped_gradient_raises():
    x = leaf(np.ones((2, 3)))
    y = x * 2.0
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        y.backward(np.ones((3, 2)))
    with pytest.raises(ValueError):
        y.backward(np.ones(6))
    with pytest.raises(ValueError):
        tg.grad(y, x, grad_outputs=tg.Tensor(np.ones((2, 1))))
    assert x.grad is None


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_backward_on_a_nan_or_inf_loss_raises(bad):
    x = leaf([1.0, bad])
    loss = (x * 2.0).sum()
    with pytest.raises(FloatingPointError):
        loss.backward()
    assert x.grad is None
    with np.errstate(divide="ignore"):
        loss = F.log(leaf([0.0, 1.0])).mean()
    with pytest.raises(FloatingPointError):
        loss.backward()


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError):
        tg.Tensor(np.array([1, 2]), requires_grad=True)
    with pytest.raises(TypeError):
        tg.Tensor(np.array([True]), requires_grad=True)
    with pytest.raises(TypeError):
        tg.Tensor(np.array([1, 2])).requires_grad_()
    with pytest.raises(TypeError):
        tg.tensor([1, 2], requires_grad=True)
    t = tg.Tensor(np.array([1.0, 2.0], dtype=np.float32)).requires_grad_()
    assert t.requires_grad


def test_python_floats_become_float32_and_arrays_keep_their_dtype():
    assert tg.Tensor(1.5).dtype == np.float32
    assert tg.Tensor([1.0, 2.0]).dtype == np.float32
    assert tg.Tensor(np.array([1.0])).dtype == np.float64
    assert tg.Tensor(np.float64(1.0)).dtype == np.float64  # a NumPy scalar is not a Python float


# =============================================================================================
# float32 in, float32 out, float32 gradients


def f32(shape, rng, lo=None, hi=None):
    a = rng.uniform(lo, hi, shape) if lo is not None else rng.standard_normal(shape)
    return tg.Tensor(a.astype(np.float32), requires_grad=True)


def _run_float32(f, leaves):
    out = f(*leaves)
    outs = out if isinstance(out, tuple) else (out,)
    for o in outs:
        assert o.dtype == np.float32, f"output dtype {o.dtype}"
    total = outs[0].sum()
    for o in outs[1:]:
        total = total + o.sum()
    assert total.dtype == np.float32
    total.backward()
    for x in leaves:
        assert (
            x.grad is not None and x.grad.dtype == np.float32
        ), f"gradient dtype {None if x.grad is None else x.grad.dtype}"
        assert np.isfinite(x.grad.numpy()).all()


FLOAT32_ELEMENTWISE = {
    "python floats": lambda x: x * 2.5 + 1.5 - x / 3.0,
    "reflected python floats": lambda x: 2.5 / x + (1.5 - x) + 0.5 * x,
    "python ints": lambda x: x * 2 + 3 - 1 / x,
    "numpy scalars": lambda x: x * np.float64(2.0) + np.float64(0.5) - np.float64(3.0) * x,
    "pow": lambda x: x**2 + x**0.5 + x**-1,
    "exp log sqrt": lambda x: F.exp(x) + F.log(x) + F.sqrt(x),
    "abs neg clip": lambda x: F.abs(x - 1.0) + (-x) + F.clip(x, 0.5, 1.5),
    "sigmoid tanh": lambda x: F.sigmoid(x) + F.tanh(x),
    "leaky relu relu": lambda x: F.leaky_relu(x - 1.0, 0.2) + F.relu(x - 1.0),
    "softmax family": lambda x: F.softmax(x, -1) + F.log_softmax(x, 0) + F.logsumexp(x, 1, keepdim=True),
    "dropout": lambda x: F.dropout(x, 0.5),
    "shape ops": lambda x: tg.cat([x[1:, ::2], x[:1, ::2]], 0).T.reshape(-1) + tg.stack([x, x], 0)[1][0, 0],
    "astype round trip": lambda x: F.astype(F.astype(x, "float64") * 2.0, "float32"),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_ELEMENTWISE))
def test_float32_elementwise_and_activations(name):
    rng = np.random.default_rng(0)
    _run_float32(FLOAT32_ELEMENTWISE[name], [f32((3, 4), rng, 0.2, 2.0)])


@pytest.mark.parametrize(
    "f",
    [
        lambda x: x.sum(),
        lambda x: x.mean(),
        lambda x: x.var(),
        lambda x: x.max(),
        lambda x: F.sum(x, 1, keepdim=True),
        lambda x: F.mean(x, (0, 2)),
        lambda x: F.var(x, -1, unbiased=False),
        lambda x: F.max(x, 0),
    ],
)
def test_float32_reductions(f):
    _run_float32(f, [f32((2, 3, 4), np.random.default_rng(1))])


def test_float32_products():
    rng = np.random.default_rng(2)
    _run_float32(lambda a, b: a @ b, [f32((2, 3, 4), rng), f32((4, 5), rng)])
    _run_float32(lambda a, b: F.tensordot(a, b, ([0, 2], [1, 0])), [f32((2, 3, 4), rng), f32((4, 2), rng)])
    _run_float32(lambda x, w, b: F.linear(x, w, b), [f32((2, 3), rng), f32((4, 3), rng), f32((4,), rng)])


def test_float32_convolutions():
    rng = np.random.default_rng(3)
    _run_float32(
        lambda x, w, b: F.conv2d(x, w, b, 2, 1), [f32((2, 3, 5, 4), rng), f32((2, 3, 3, 2), rng), f32((2,), rng)]
    )
    _run_float32(
        lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1),
        [f32((2, 3, 3, 4), rng), f32((3, 2, 4, 3), rng), f32((2,), rng)],
    )
    _run_float32(lambda x: F.col2im(F.im2col(x, (2, 3), 1, 1), (4, 5), 1, 1), [f32((1, 2, 4, 5), rng)])


@pytest.mark.parametrize("training", [True, False])
def test_float32_batch_norm(training):
    rng = np.random.default_rng(4)
    rm = tg.Tensor(np.zeros(3, np.float32))
    rv = tg.Tensor(np.ones(3, np.float32))
    _run_float32(
        lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=training),
        [f32((4, 3, 2, 2), rng), f32((3,), rng), f32((3,), rng)],
    )
    assert rm.dtype == np.float32 and rv.dtype == np.float32  # the running statistics keep their dtype


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_float32_losses(reduction):
    rng = np.random.default_rng(5)
    p = f32((4, 3), rng, 0.1, 0.9)
    y = tg.Tensor(rng.uniform(0, 1, (4, 3)).astype(np.float32))
    z, t = f32((4, 3), rng), f32((4, 3), rng)
    labels = np.array([0, 2, 1, 2])
    _run_float32(lambda p: F.binary_cross_entropy(p, y, reduction), [p])
    _run_float32(lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction), [z, f32((4, 3), rng, 0, 1)])
    _run_float32(lambda a, b: F.mse_loss(a, b, reduction), [z, t])
    _run_float32(lambda a, b: F.l1_loss(a, b, reduction), [z, t])
    _run_float32(lambda z: F.cross_entropy(z, labels, reduction), [z])
    _run_float32(lambda m, l: F.gaussian_kl(m, l, reduction), [z, t])
    # Targets given as float64 NumPy arrays follow the input's dtype.
    _run_float32(lambda a: F.mse_loss(a, rng.standard_normal((4, 3)), reduction), [z])
    _run_float32(lambda a: F.binary_cross_entropy(a, rng.uniform(0, 1, (4, 3)), reduction), [p])


def test_a_given_gradient_takes_the_dtype_of_the_output():
    """A float64 gradient passed for a float32 output still gives float32 leaf gradients."""
    x = tg.Tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
    y = x * 2.0
    y.backward(tg.Tensor(np.array([1.0, 0.5, -1.0])), retain_graph=True)  # float64
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 1.0, -2.0])
    y.backward(np.ones(3), retain_graph=True)  # a float64 NumPy array
    assert x.grad.dtype == np.float32
    (g,) = tg.grad(y, x, grad_outputs=tg.Tensor(np.ones(3)))
    assert g.dtype == np.float32


def test_float32_layers_and_second_derivatives():
    tg.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(2 * 4 * 5, 1)
    )
    x = tg.randn(3, 1, 4, 5, requires_grad=True)
    out = model(x)
    assert out.dtype == np.float32
    (g,) = tg.grad(out.sum(), x, create_graph=True)
    assert g.dtype == np.float32
    penalty = ((g * g).sum() - 1.0) ** 2
    assert penalty.dtype == np.float32
    penalty.backward()
    # The biases of Conv2d (removed by BatchNorm's mean) and of BatchNorm and Linear (additive)
    # do not change d out/dx: only the weights get a gradient from the penalty.
    for name, p in model.named_parameters():
        if name.endswith("weight"):
            assert p.grad is not None, name
        if p.grad is not None:
            assert p.grad.dtype == np.float32, name
    emb = nn.Embedding(5, 3)
    emb(tg.Tensor(np.array([1, 1, 4]))).sum().backward()
    assert emb.weight.grad.dtype == np.float32


def test_grad_of_the_same_input_given_twice():
    """As torch.autograd.grad: each position gets the full gradient."""
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    gx1, gx2 = tg.grad((x * x).sum(), [x, x])
    np.testing.assert_array_equal(gx1.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(gx2.numpy(), [2.0, 4.0])


def test_a_second_backward_through_a_freed_graph_is_a_clear_error():
    x = leaf(np.array([1.0, 2.0]))
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_backward_frees_what_the_graph_saved():
    """As PyTorch: after backward the intermediate tensors go, though the loss is still held."""
    import weakref

    x = leaf(np.ones((3, 3)))
    hidden = x * 2.0
    alive = weakref.ref(hidden)
    loss = (hidden.exp()).sum()
    del hidden
    assert alive() is not None  # the graph holds it
    loss.backward()
    gc.collect()
    assert alive() is None
    assert loss.item() == pytest.approx(9 * np.exp(2.0))


@pytest.mark.parametrize("op", [lambda a, b: a * b, lambda a, b: a + b, lambda a, b: a / b, lambda a, b: b - a])
def test_each_gradient_has_its_inputs_dtype(op):
    """float32 meeting float64 computes in float64 (as PyTorch), but each input's gradient comes back in the
    input's own dtype: float32 weights never get float64 gradients."""
    a = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = tg.tensor(np.array([0.5, 0.25, 2.0]), requires_grad=True)
    y = op(a, b)
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    a64 = tg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b64 = tg.tensor(np.array([0.5, 0.25, 2.0]), requires_grad=True)
    op(a64, b64).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), a64.grad.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(b.grad.numpy(), b64.grad.numpy())


def test_an_op_that_reduces_to_one_number_still_holds_an_array():
    """NumPy's full reductions return a scalar (np.float32), which cannot be written in place:
    a tensor always holds an array, 0-d here."""
    x = tg.randn(3, 2, requires_grad=True)
    for y in (x.sum(), x.max(), x.min(), x.mean(), x[0, 1], F.max(F.max(x, 0), 0),
              x.max(dim=0).values.max(dim=0).values, x.min(dim=1).values.min(dim=0).values):
        assert isinstance(y.data, np.ndarray) and y.shape == (), type(y.data)
