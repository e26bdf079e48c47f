"""Stale graphs: version counters refuse a backward through values changed in place after the
forward (an optimiser step between a forward and its backward), and let it through where the
backward never reads the changed values. In-place methods, views and the library's own in-place
writes (optimisers, nn.init, load_state_dict, BatchNorm's running statistics) all count."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import nn, optim
from strategies import cheap, leaf

STALE = r"was changed in place after the forward \(it is now at version \d+\)"
HINT = r"recompute the forward after the step, or call backward before the step"


def fake_grads(params):
    for p in params:
        p.grad = tg.ones(*p.shape)


# =============================================================================================
# The optimiser step between a forward and its backward


def test_a_step_between_forward_and_backward_of_a_linear_net_raises():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss = model(tg.randn(5, 3)).sum()
    fake_grads(model.parameters())
    opt.step()
    # the last layer's backward needs its weight (for the gradient of its input): refused
    with pytest.raises(RuntimeError, match=r"Linear\.backward: input 1 \(shape \(2, 4\)\), a value this "
                                           r"backward needs, " + STALE + r".*optimiser step.*" + HINT):
        loss.backward()


def test_a_step_between_forward_and_backward_of_a_conv_net_raises():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(2, 1, 3))
    opt = optim.Adam(model.parameters(), lr=0.1)
    loss = model(tg.randn(2, 1, 5, 5)).sum()
    fake_grads(model.parameters())
    opt.step()
    with pytest.raises(RuntimeError, match=r"Tensordot\.backward: input 0 \(shape \(1, 2, 3, 3\)\).*" + STALE):
        loss.backward()


def test_the_first_layer_changed_by_a_step_is_harmless_when_its_input_needs_no_gradient():
    """As in PyTorch: gW = gy^T x does not read W, so the backward is right and goes through."""
    tg.manual_seed(0)
    layer = nn.Linear(3, 2)
    x = tg.randn(5, 3)
    loss = layer(x).sum()
    opt = optim.SGD(layer.parameters(), lr=0.1)
    fake_grads(layer.parameters())
    opt.step()
    layer.zero_grad()
    loss.backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), np.ones((5, 2)).T @ x.numpy(), rtol=1e-6)
    np.testing.assert_allclose(layer.bias.grad.numpy(), [5.0, 5.0])


def test_a_second_backward_through_a_retained_graph_after_a_step_raises():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    opt = optim.Adam(model.parameters())
    loss = model(tg.randn(5, 3)).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match=STALE):
        loss.backward()


def make_gan():
    tg.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 6), nn.Tanh())
    D = nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    return G, D, optim.Adam(G.parameters(), lr=1e-3), optim.Adam(D.parameters(), lr=1e-3)


def test_the_two_phase_gan_step_in_the_right_order_goes_through():
    G, D, opt_G, opt_D = make_gan()
    for _ in range(3):
        real, z = tg.randn(8, 6), tg.randn(8, 4)
        fake = G(z)
        # D: real against detached fakes
        opt_D.zero_grad()
        d_loss = F.binary_cross_entropy_with_logits(D(real), tg.ones(8, 1)) + \
            F.binary_cross_entropy_with_logits(D(fake.detach()), tg.zeros(8, 1))
        d_loss.backward()
        opt_D.step()
        # G: through the updated D, computed afresh (G's own graph is still valid: G was not stepped)
        opt_G.zero_grad()
        g_loss = F.binary_cross_entropy_with_logits(D(fake), tg.ones(8, 1))
        g_loss.backward()
        opt_G.step()
    assert all(p.grad is not None for p in G.parameters())


def test_reusing_d_of_fake_after_d_has_stepped_raises():
    """The classic GAN bug: D(fake) computed once, D stepped, then G's loss through the old D."""
    G, D, opt_G, opt_D = make_gan()
    real, z = tg.randn(8, 6), tg.randn(8, 4)
    d_fake = D(G(z))
    opt_D.zero_grad()
    d_loss = F.binary_cross_entropy_with_logits(D(real), tg.ones(8, 1)) + \
        F.binary_cross_entropy_with_logits(d_fake, tg.zeros(8, 1))
    d_loss.backward(retain_graph=True)
    opt_D.step()
    opt_G.zero_grad()
    with pytest.raises(RuntimeError, match=r"Linear\.backward: input 1 \(shape \(1, 8\)\).*" + STALE):
        F.binary_cross_entropy_with_logits(d_fake, tg.ones(8, 1)).backward()


# =============================================================================================
# Which values a backward reads


def test_add_does_not_read_its_inputs_so_a_change_after_it_is_harmless():
    """PyTorch's own example: y = x + 1; x.add_(1); y.backward() goes through."""
    x = leaf(np.array([1.0, 2.0]))
    y = x + 1
    with tg.no_grad():
        x.add_(1)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


@pytest.mark.parametrize("name,op", [("Exp", tg.Tensor.exp), ("Sqrt", tg.Tensor.sqrt), ("Tanh", tg.Tensor.tanh),
                                     ("Sigmoid", tg.Tensor.sigmoid), ("Max", lambda x: tg.functional.max(x, 0)),
                                     ("Min", lambda x: tg.functional.min(x, 0))])
def test_an_op_that_reuses_its_output_guards_it(name, op):
    x = leaf(np.array([0.5, 1.0]))
    y = op(x)
    with tg.no_grad():
        y.mul_(2)
    shape = re.escape(str(tuple(y.shape)))
    with pytest.raises(RuntimeError, match=rf"{name}\.backward: its output \(shape {shape}\).*" + STALE):
        (y * 1.0).sum().backward()


def test_a_view_shares_the_version_of_what_it_views():
    w = leaf(np.ones((3, 2)))
    a = leaf(np.ones((4, 3)))
    y = a @ w.T.T  # MatMul saves a view of w: a step on w changes it too
    with tg.no_grad():
        w.mul_(2)
    assert w.T._version == w._version == 1
    with pytest.raises(RuntimeError, match=r"MatMul\.backward: input 1 \(shape \(3, 2\)\).*" + STALE):
        y.sum().backward()


def test_a_change_through_a_view_or_a_detached_tensor_counts_for_its_base():
    x = leaf(np.array([1.0, 2.0, 3.0]))
    y = x.log()
    with tg.no_grad():
        x.reshape(3, 1).mul_(2)
    assert x._version == 1
    x.detach().add_(1)
    assert x._version == 2
    with pytest.raises(RuntimeError, match=r"Log\.backward: input 0 \(shape \(3,\)\).*now at version 2\)"):
        y.sum().backward()


def test_integer_array_indexing_copies_so_it_does_not_share_the_version():
    table = leaf(np.arange(6.0).reshape(3, 2))
    picked = table[np.array([0, 2])]
    assert picked._base is None
    assert table[1:]._base is table


# A property over ops: whatever is changed in place between forward and backward, the backward
# either refuses with the message, or gives exactly the gradient of the values the forward saw.
# And it refuses exactly when the gradient asked for reads the changed value (the math below).
UNARY = {  # name: (op, does its gradient read x?)  (exp, sqrt, tanh, sigmoid read their output instead)
    "exp": (lambda x: x.exp(), False), "log": (lambda x: x.log(), True), "sqrt": (lambda x: x.sqrt(), False),
    "tanh": (lambda x: x.tanh(), False), "sigmoid": (lambda x: x.sigmoid(), False),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), True), "abs": (lambda x: x.abs(), True),
    "cube": (lambda x: x**3, True), "clip": (lambda x: x.clip(0.5, 1.5), True),
    "max": (lambda x: x.max(), True), "neg": (lambda x: -x, False), "add": (lambda x: x + 2.0, False),
    "reshape": (lambda x: x.reshape(-1, 1), False), "transpose": (lambda x: x.T, False),
    "sum": (lambda x: x.sum(), False), "mean": (lambda x: x.mean(), False),
    "getitem": (lambda x: x[1:], False), "cat": (lambda x: tg.cat([x, x]), False),
}
BINARY = {  # name: (op, inputs read by the gradient of a, by the gradient of b)
    "mul": (lambda a, b: a * b, {"b"}, {"a"}),
    "div": (lambda a, b: a / b, {"b"}, {"a", "b"}),
    "matmul": (lambda a, b: a.reshape(1, 3) @ b.reshape(3, 1), {"b"}, {"a"}),
    "linear": (lambda a, b: F.linear(a.reshape(1, 3), b.reshape(1, 3)), {"b"}, {"a"}),
    "sub": (lambda a, b: a - b, set(), set()),
}


def gradient_of(op, *values, needs):
    tensors = [tg.Tensor(v.copy(), requires_grad=n) for v, n in zip(values, needs)]
    op(*tensors).sum().backward()
    return [t.grad for t in tensors]


@cheap
@given(name=st.sampled_from(sorted(UNARY)), change=st.sampled_from(["add_", "mul_", "copy_", "fill_"]))
def test_unary_ops_refuse_exactly_when_their_gradient_reads_the_changed_value(name, change):
    op, reads = UNARY[name]
    values = np.array([0.7, 1.1, 1.3])
    x = leaf(values.copy())
    y = op(x)
    with tg.no_grad():
        {"add_": lambda: x.add_(0.25), "mul_": lambda: x.mul_(1.5), "copy_": lambda: x.copy_(values[::-1]),
         "fill_": lambda: x.fill_(2.0)}[change]()
    if reads:
        with pytest.raises(RuntimeError, match=r"input 0 \(shape \(3,\)\).*" + STALE):
            y.sum().backward()
    else:
        y.sum().backward()
        (expected,) = gradient_of(op, values, needs=[True])
        np.testing.assert_array_equal(x.grad.numpy(), expected.numpy())


@cheap
@given(name=st.sampled_from(sorted(BINARY)), needs=st.sampled_from([(True, True), (True, False), (False, True)]),
       changed=st.sampled_from(["a", "b"]))
def test_binary_ops_refuse_exactly_when_a_needed_gradient_reads_the_changed_input(name, needs, changed):
    op, read_by_ga, read_by_gb = BINARY[name]
    values = {"a": np.array([0.5, 1.5, 2.0]), "b": np.array([1.25, 0.75, 3.0])}
    a = tg.Tensor(values["a"].copy(), requires_grad=needs[0])
    b = tg.Tensor(values["b"].copy(), requires_grad=needs[1])
    y = op(a, b)
    with tg.no_grad():
        {"a": a, "b": b}[changed].mul_(3.0)
    read = (read_by_ga if needs[0] else set()) | (read_by_gb if needs[1] else set())
    if changed in read:
        with pytest.raises(RuntimeError, match=STALE):
            y.sum().backward()
    else:  # harmless: the gradients are those of the values the forward saw
        y.sum().backward()
        expected = gradient_of(op, values["a"], values["b"], needs=needs)
        for t, e in zip((a, b), expected):
            assert (t.grad is None) == (e is None)
            if e is not None:
                np.testing.assert_allclose(t.grad.numpy(), e.numpy(), rtol=1e-12)


# =============================================================================================
# The in-place methods and the library's own in-place writes


def test_in_place_methods_change_the_array_itself_and_count():
    x = tg.Tensor(np.array([1.0, 2.0, 3.0]))
    array = x.data
    assert x._version == 0
    x.add_(1).sub_(tg.Tensor(np.ones(3)), alpha=2).mul_(3)
    np.testing.assert_array_equal(x.numpy(), [0.0, 3.0, 6.0])
    assert x.data is array and x._version == 3
    x.copy_(np.array([4, 5, 6], np.int64))
    np.testing.assert_array_equal(x.numpy(), [4.0, 5.0, 6.0])
    assert x.dtype == np.float64 and x._version == 4
    x.fill_(7)
    x.zero_()
    np.testing.assert_array_equal(x.numpy(), [0.0, 0.0, 0.0])
    tg.manual_seed(0)
    assert x.uniform_(2, 3) is x and ((2 <= x.numpy()) & (x.numpy() < 3)).all()
    x.normal_(10, 0.01)
    assert np.abs(x.numpy() - 10).max() < 1
    assert x.data is array and x._version == 8


def test_an_in_place_change_of_a_tensor_that_requires_grad_needs_no_grad():
    """As PyTorch, which refuses it for a leaf: the graph could not record it."""
    w = leaf(np.ones(3))
    with pytest.raises(RuntimeError, match=r"add_: a leaf Variable that requires grad is being used in an in-place "
                                           r"operation \(shape \(3,\)\); the graph records no in-place change: "
                                           r"do it inside `with tinygen.no_grad\(\):`"):
        w.add_(1)
    assert w._version == 0 and (w.numpy() == 1).all()
    with tg.no_grad():
        w.add_(1)
    assert w._version == 1 and (w.numpy() == 2).all()


def test_every_optimiser_step_counts_once_per_stepped_parameter():
    used, unused = leaf(np.ones(2)), leaf(np.ones(2))
    for make in (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), optim.Adam, optim.RMSprop):
        before = (used._version, unused._version)
        opt = make([used, unused])
        used.grad = tg.Tensor(np.ones(2))
        opt.step()
        assert (used._version, unused._version) == (before[0] + 1, before[1])


def test_nn_init_and_load_state_dict_count_as_in_place_changes():
    tg.manual_seed(0)
    layer = nn.Linear(3, 2)
    h = layer(leaf(np.ones((1, 3)), np.float32))
    version = layer.weight._version
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    assert layer.weight._version == version + 1 and layer.bias._version > 0
    with pytest.raises(RuntimeError, match=r"Linear\.backward: input 1 \(shape \(2, 3\)\).*" + STALE):
        h.sum().backward()

    h = layer(leaf(np.ones((1, 3)), np.float32))
    layer.load_state_dict(nn.Linear(3, 2).state_dict())
    with pytest.raises(RuntimeError, match=STALE):
        h.sum().backward()


def test_batch_norm_updates_its_running_statistics_in_place():
    bn = nn.BatchNorm1d(3)
    arrays = (bn.running_mean.data, bn.running_var.data)
    bn(tg.randn(8, 3))
    assert (bn.running_mean.data, bn.running_var.data) == arrays  # the same arrays, changed
    assert bn.running_mean._version == bn.running_var._version == 1
    assert not np.allclose(bn.running_var.numpy(), 1.0)


# =============================================================================================
# The same cases in PyTorch: it refuses and lets through exactly the same ones


@pytest.mark.parametrize("x_needs_grad,refused", [(False, False), (True, True)])
def test_a_step_between_forward_and_backward_of_one_linear_layer_as_pytorch(x_needs_grad, refused):
    torch = pytest.importorskip("torch")
    outcomes = []
    for library in ("torch", "tinygen"):
        if library == "torch":
            layer, opt_class, x = torch.nn.Linear(3, 2), torch.optim.SGD, torch.randn(5, 3, requires_grad=x_needs_grad)
        else:
            x = tg.Tensor(np.ones((5, 3), np.float32), requires_grad=x_needs_grad)
            layer, opt_class = nn.Linear(3, 2), optim.SGD
        loss = layer(x).sum()
        opt = opt_class(layer.parameters(), lr=0.1)
        for p in layer.parameters():
            p.grad = torch.ones_like(p) if library == "torch" else tg.ones(*p.shape)
        opt.step()
        try:
            loss.backward()
            outcomes.append(False)
        except RuntimeError as error:
            assert "modified by an inplace operation" in str(error) or "changed in place" in str(error)
            outcomes.append(True)
    assert outcomes == [refused, refused]


def test_a_change_of_another_tensor_leaves_a_graph_valid():
    x, other = leaf(np.array([1.0, 2.0])), tg.Tensor(np.zeros(2))
    y = x.log()
    other.add_(1)  # the in-place clock moves on, but x is as the forward saw it
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.5])


def test_moving_a_module_to_another_device_counts_only_when_it_moves(device):
    layer = nn.Linear(3, 2)
    versions = [p._version for p in layer.parameters()]
    layer.to("cpu")
    assert [p._version for p in layer.parameters()] == versions
    if device == "cuda":
        h = layer(leaf(np.ones((1, 3)), dtype=np.float32))
        layer.to("cuda")
        assert [p._version for p in layer.parameters()] == [v + 1 for v in versions]
        with pytest.raises(RuntimeError, match=STALE):
            h.sum().backward()
