"""The backend rule (only backend.py names numpy or cupy among the ops) and running on each device."""
import ast
import pathlib

import numpy as np
import pytest

import tinygen
from tinygen import backend, nn
import tinygen.nn.functional as F

LIBRARY = pathlib.Path(tinygen.__file__).parent
# Host-side modules (files, pictures, metrics, numerical checks, the CPU's products on the cores)
# work on NumPy by nature.
HOST_SIDE = {"backend.py", "data.py", "viz.py", "metrics.py", "gradcheck.py", "threads.py"}


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def test_no_op_or_layer_imports_numpy_or_cupy():
    offenders = []
    for path in sorted(LIBRARY.rglob("*.py")):
        if path.name in HOST_SIDE and path.parent == LIBRARY:
            continue
        if path.parent.name == "testing":  # the CuPy stand-in for tests is itself a NumPy-backed array module
            continue
        names = set(imported_modules(path)) & {"numpy", "cupy", "cupyx"}
        if names:
            offenders.append(f"{path.relative_to(LIBRARY)} imports {sorted(names)}")
    assert not offenders, "ops must ask the backend for xp:\n" + "\n".join(offenders)


def test_the_import_check_would_catch_an_offender(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nfrom cupy import ndarray\n")
    assert set(imported_modules(bad)) == {"numpy", "cupy"}


def test_array_module_follows_the_data():
    assert backend.get_array_module(np.zeros(3)) is np
    assert tinygen.zeros(2, 3).device == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        tinygen.zeros(2).to("tpu")


def test_python_floats_become_float32_and_arrays_keep_their_dtype():
    assert tinygen.Tensor([1.0, 2.0]).dtype == np.float32
    assert tinygen.Tensor(np.zeros(2)).dtype == np.float64
    assert tinygen.Tensor([1, 2]).dtype.kind == "i"


def test_seed_makes_random_numbers_repeatable():
    tinygen.manual_seed(3)
    a = tinygen.randn(5).numpy()
    tinygen.manual_seed(3)
    b = tinygen.randn(5).numpy()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, tinygen.randn(5).numpy())


def _small_model():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1), nn.Tanh(),
        nn.Flatten(), nn.Linear(2 * 8 * 8, 3), nn.Sigmoid(),
    )


def test_a_model_gives_the_same_result_on_every_device(device):
    """The same code on NumPy and CuPy: forward and every gradient agree with the CPU run."""
    tinygen.manual_seed(0)
    model = _small_model()
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)

    def run(model, device):
        model.to(device)
        model.zero_grad()
        y = model(tinygen.Tensor(x).to(device))
        loss = F.binary_cross_entropy(y, tinygen.full((5, 3), 0.3, device=device))
        loss.backward()
        assert y.device == device and all(p.grad.device == device for p in model.parameters())
        return y.numpy(), [p.grad.numpy() for p in model.parameters()]

    y_cpu, grads_cpu = run(model, "cpu")
    y_dev, grads_dev = run(model, device)
    np.testing.assert_allclose(y_dev, y_cpu, rtol=1e-4, atol=1e-5)
    for g_dev, g_cpu in zip(grads_dev, grads_cpu):
        np.testing.assert_allclose(g_dev, g_cpu, rtol=1e-3, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CuPy/CUDA GPU here")
def test_mixing_devices_in_one_op_is_a_clear_error():
    a = tinygen.ones(3)
    b = tinygen.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match="different devices"):
        a + b


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CuPy/CUDA GPU here")
def test_gradient_flows_back_across_a_device_move():
    x = tinygen.Tensor(np.arange(3.0), requires_grad=True)
    (x.to("cuda") * 2).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
