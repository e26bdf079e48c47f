"""Module behaviour: names of parameters and buffers (as PyTorch's), modes, freezing, tied weights,
containers, printing, and load_state_dict."""
import numpy as np
import pytest

import tinygen
import tinygen.nn.functional as F
from tinygen import nn, optim

torch = None  # PyTorch, the oracle: imported by the tests that compare with it (importing it takes a second)


@pytest.fixture
def oracle():
    """Import PyTorch for a test that compares with it (skip it where PyTorch is not installed);
    the rest of the file does not need it."""
    global torch
    torch = pytest.importorskip("torch", reason="PyTorch (the test oracle) is not installed")


needs_torch = pytest.mark.usefixtures("oracle")


# ---------------------------------------------------------------------------------------------
# Architectures built twice: with tinygen.nn and with torch.nn (the same code, `m` is the module)


def mlp(m):
    return m.Sequential(m.Linear(8, 16), m.BatchNorm1d(16), m.LeakyReLU(0.2), m.Dropout(0.3), m.Linear(16, 1))


def make_net_class(m):
    class Net(m.Module):
        def __init__(self):
            super().__init__()
            self.encoder = m.Sequential(m.Conv2d(1, 4, 3, padding=1), m.BatchNorm2d(4), m.ReLU(), m.Flatten())
            self.scale = m.Parameter(tinygen.ones(3) if m is nn else torch.ones(3))  # set after a submodule
            self.heads = m.ModuleList([m.Linear(4 * 5 * 5, 2), m.Linear(4 * 5 * 5, 3, bias=False)])
            self.embed = m.Embedding(10, 4)
            self.decoder = m.Sequential(m.Unflatten(1, (4, 1, 1)), m.ConvTranspose2d(4, 1, 4, stride=2, padding=1),
                                        m.Tanh())

        def forward(self, x):
            h = self.encoder(x)
            return [head(h) for head in self.heads]

    return Net


ARCHITECTURES = [("mlp", mlp), ("net", lambda m: make_net_class(m)())]


@needs_torch
@pytest.mark.parametrize("name,build", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_names_and_shapes_match_pytorch(name, build):
    ours, theirs = build(nn), build(torch.nn)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert ours.state_dict()[key].shape == tuple(value.shape), key
    assert len(ours.parameters()) == len(list(theirs.parameters()))


@needs_torch
def test_load_a_pytorch_state_dict():
    """The same names and layouts: a torch model's weights load into ours and compute the same."""
    theirs = mlp(torch.nn).eval()
    with torch.no_grad():
        theirs[1].running_mean.uniform_(-1, 1)
        theirs[1].running_var.uniform_(0.5, 2)
    ours = mlp(nn).eval()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    np.testing.assert_allclose(ours(tinygen.Tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_parameters_and_buffers_are_told_apart():
    model = mlp(nn)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]
    assert [n for n, _ in model.named_buffers()] == ["1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())
    assert not any(b.requires_grad for b in model.buffers())
    assert set(model.state_dict()) == set(names) | {n for n, _ in model.named_buffers()}
    # the state dict holds the tensors themselves
    assert model.state_dict()["0.weight"] is model[0].weight


def test_train_and_eval_reach_every_submodule():
    net = make_net_class(nn)()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert len(net.modules()) > 10 and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not any(m.training for m in net.modules())


def test_eval_mode_changes_behaviour_deep_inside():
    tinygen.manual_seed(0)
    outer = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(4)))
    x = tinygen.randn(32, 4)
    outer.eval()
    a, b = outer(x).numpy(), outer(x).numpy()
    np.testing.assert_array_equal(a, b)  # no dropout, running statistics: deterministic
    assert outer[1][1].num_batches_tracked.item() == 0
    outer.train()
    c = outer(x).numpy()
    assert not np.allclose(a, c)
    assert outer[1][1].num_batches_tracked.item() == 1


def test_zero_grad():
    model = mlp(nn)
    F.mse_loss(model(tinygen.randn(4, 8)), tinygen.zeros(4, 1)).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_gradients_accumulate_until_zeroed():
    layer = nn.Linear(3, 2)
    x = tinygen.randn(4, 3)
    layer(x).sum().backward()
    first = layer.weight.grad.numpy()
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), 2 * first, rtol=1e-6)


def test_requires_grad_false_freezes():
    G = nn.Sequential(nn.Linear(2, 4), nn.Tanh())
    D = nn.Sequential(nn.Linear(4, 3), nn.LeakyReLU(0.2), nn.Linear(3, 1))
    assert D.requires_grad_(False) is D
    assert not any(p.requires_grad for p in D.parameters())
    before = [p.numpy() for p in D.parameters()]
    D(G(tinygen.randn(5, 2))).mean().backward()  # G trains through the frozen D
    assert all(p.grad is None for p in D.parameters())
    assert all(p.grad is not None for p in G.parameters())
    # an optimiser of D has nothing to do
    with pytest.raises(TypeError, match="requires grad"):
        optim.SGD(D.parameters())
    D.requires_grad_(True)
    opt = optim.SGD(D.parameters(), lr=0.1)
    D(G(tinygen.randn(5, 2))).mean().backward()
    assert all(p.grad is not None for p in D.parameters())
    opt.step()
    assert all(not np.array_equal(b, p.numpy()) for b, p in zip(before, D.parameters()))


def test_frozen_everything_has_no_graph():
    D = nn.Linear(3, 1).requires_grad_(False)
    with pytest.raises(RuntimeError, match="does not require grad"):
        D(tinygen.randn(2, 3)).sum().backward()


def make_tied_class(m):
    class Tied(m.Module):
        def __init__(self):
            super().__init__()  # tinygen's Module does not need it, but tolerates it
            self.a = m.Linear(3, 3)
            self.b = m.Linear(3, 3)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    return Tied


Tied = make_tied_class(nn)


def test_tied_weights_listed_once():
    model = Tied()
    assert [n for n, _ in model.named_parameters()] == ["a.weight", "a.bias", "b.bias"]
    assert len(model.parameters()) == 3
    # the state dict names the tensor under both names, as PyTorch's does
    assert list(model.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert model.state_dict()["a.weight"] is model.state_dict()["b.weight"]


@needs_torch
def test_tied_weights_names_match_pytorch():
    ours, theirs = Tied(), make_tied_class(torch.nn)()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_tied_weights_gradient_adds_up_and_stays_tied():
    model = Tied()
    x = tinygen.randn(4, 3)
    model(x).sum().backward()
    # d/dW of sum(W (W x + a) + b) = both uses added: compare with a numerical difference
    W, a = model.a.weight.numpy().astype(np.float64), model.a.bias.numpy().astype(np.float64)
    xs = x.numpy().astype(np.float64)

    def f(W):
        return ((xs @ W.T + a) @ W.T).sum()

    numeric = np.zeros_like(W)
    for i in np.ndindex(W.shape):
        e = np.zeros_like(W)
        e[i] = 1e-6
        numeric[i] = (f(W + e) - f(W - e)) / 2e-6
    np.testing.assert_allclose(model.a.weight.grad.numpy(), numeric, rtol=1e-4, atol=1e-4)
    optim.Adam(model.parameters(), lr=0.1).step()
    assert model.a.weight is model.b.weight


def test_sequential_indexing_len_iter():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3
    assert seq[0] is layers[0] and seq[1] is layers[1] and seq[-1] is layers[2]
    assert list(seq) == layers
    with pytest.raises(IndexError):
        seq[3]
    x = tinygen.randn(4, 2)
    np.testing.assert_array_equal(seq(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())
    assert len(nn.Sequential()) == 0


def test_module_list():
    heads = nn.ModuleList([nn.Linear(2, 2)])
    assert heads.append(nn.Linear(2, 3)) is heads
    assert len(heads) == 2 and heads[1].out_features == 3 and heads[-1] is heads[1]
    assert [h.out_features for h in heads] == [2, 3]
    assert [n for n, _ in heads.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    net = make_net_class(nn)()
    assert "heads.1.weight" in dict(net.named_parameters())
    assert "heads.1.bias" not in dict(net.named_parameters())  # bias=False


def test_repr_is_readable():
    model = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2), nn.Sequential(nn.Dropout(0.1), nn.Tanh()))
    text = repr(model)
    assert text.splitlines()[0] == "Sequential("
    assert "  (0): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "  (1): LeakyReLU(negative_slope=0.2)" in text
    assert "  (2): Sequential(\n    (0): Dropout(p=0.1)\n    (1): Tanh()\n  )" in text
    assert text.endswith(")")
    conv = repr(nn.Conv2d(3, 8, 4, stride=2, padding=1))
    assert conv.startswith("Conv2d(3, 8, kernel_size=(4, 4)") and "stride=2" in conv and "padding=1" in conv
    assert repr(nn.BatchNorm2d(8)).startswith("BatchNorm2d(8")


@needs_torch
def test_repr_matches_pytorch_for_simple_layers():
    build = lambda m: m.Sequential(m.Linear(2, 3), m.LeakyReLU(0.2), m.Sigmoid(), m.Dropout(0.1))  # noqa: E731
    assert repr(build(nn)) == repr(build(torch.nn)).replace("Dropout(p=0.1, inplace=False)", "Dropout(p=0.1)")


def test_load_state_dict_copies_in_place():
    tinygen.manual_seed(1)
    model, source = mlp(nn), mlp(nn)
    opt = optim.SGD(model.parameters(), lr=0.5)
    arrays = {name: t.data for name, t in model.state_dict().items()}
    assert model.load_state_dict(source.state_dict()) is model
    for name, t in model.state_dict().items():
        assert t.data is arrays[name], f"{name} got a new array"
        np.testing.assert_array_equal(t.numpy(), source.state_dict()[name].numpy())
        assert t.data is not source.state_dict()[name].data  # a copy, not shared
    # the optimiser still holds the model's parameters: a step moves them
    x = tinygen.randn(8, 8)
    F.mse_loss(model(x), tinygen.zeros(8, 1)).backward()
    expected = {n: p.numpy() - 0.5 * p.grad.numpy() for n, p in model.named_parameters()}
    opt.step()
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.numpy(), expected[n], rtol=1e-6, atol=1e-7)
        assert not np.array_equal(p.numpy(), source.state_dict()[n].numpy())


def test_load_state_dict_takes_arrays_and_keeps_the_model_dtype():
    model = nn.Linear(3, 2)
    state = {"weight": np.arange(6, dtype=np.float64).reshape(2, 3), "bias": tinygen.tensor([1, 2], dtype="int64")}
    model.load_state_dict(state)
    assert model.weight.dtype == np.float32 and model.bias.dtype == np.float32  # as torch's copy_
    np.testing.assert_array_equal(model.weight.numpy(), state["weight"].astype(np.float32))
    np.testing.assert_array_equal(model.bias.numpy(), [1.0, 2.0])


def test_load_state_dict_into_a_float64_model_keeps_float64():
    model = nn.Linear(2, 2)
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    model.load_state_dict({"weight": np.full((2, 2), 1 / 3, dtype=np.float32), "bias": np.zeros(2, np.float32)})
    assert model.weight.dtype == np.float64
    assert model.weight.numpy()[0, 0] == np.float64(np.float32(1 / 3))


def test_load_state_dict_of_tied_model():
    source, target = Tied(), Tied()
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(target.a.weight.numpy(), source.a.weight.numpy())
    assert target.a.weight is target.b.weight


def test_module_to_cpu_and_device(device):
    model = mlp(nn).to(device)
    assert all(t.device == device for t in model.state_dict().values())
    out = model(tinygen.randn(4, 8, device=device))
    assert out.device == device and out.shape == (4, 1)


def test_module_without_forward():
    class Empty(nn.Module):
        pass

    with pytest.raises(NotImplementedError, match="Empty"):
        Empty()(tinygen.ones(1))


def test_identity_and_parameter_repr():
    x = tinygen.randn(2, 2)
    assert nn.Identity()(x) is x
    assert repr(nn.Parameter(tinygen.ones(2))).startswith("Parameter containing:")


def test_every_module_calls_super_init_first():
    """Modules are written as in PyTorch, where super().__init__() must come first in __init__
    (a learner's model then moves to PyTorch unchanged). Checked in the source of every module."""
    import ast
    import inspect
    import pathlib

    import tinygen.models  # noqa: F401  (every model file below is parsed, imported or not)

    root = pathlib.Path(inspect.getfile(tinygen)).parent
    missing = []
    for path in sorted(list((root / "nn").glob("*.py")) + list((root / "models").glob("*.py"))):
        for cls in ast.walk(ast.parse(path.read_text())):
            if not isinstance(cls, ast.ClassDef) or cls.name in ("Module", "Parameter", "Buffer"):
                continue
            for init in (f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"):
                body = [s for s in init.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
                first = ast.unparse(body[0]) if body else ""
                if not first.startswith("super().__init__("):
                    missing.append(f"{path.name}:{init.lineno} {cls.name}.__init__ begins with {first!r}")
    assert not missing, "\n".join(missing)
