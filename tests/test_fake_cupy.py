"""The strict CuPy stand-in (tinygen/testing/fake_cupy.py) catches each mistake that breaks NumPy code on
CuPy, planted by hand in a small op; the same op written right passes. The behaviours CuPy shares run
on the real CuPy too where a GPU is present (`xp` = 'cupy', marked gpu: benchmarks/gpu_check.sh runs
them), so the stand-in and CuPy cannot drift apart unseen. Its names are checked against the installed
`cupy` package (which imports without a GPU)."""
import inspect
import json

import numpy as np
import pytest

import tinygen
from tinygen import functional as F
from tinygen.testing import fake_cupy
from test_cupy_namespace import array_module_uses, generator_method_calls, library_files, missing_in


def real_cupy_with_a_gpu():
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
        return cupy
    except Exception:
        return None


@pytest.fixture(params=["fake_cupy", pytest.param("cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(
    real_cupy_with_a_gpu() is None, reason="no CuPy/CUDA GPU here: the same checks on the real CuPy")])])
def xp(request):
    return fake_cupy if request.param == "fake_cupy" else real_cupy_with_a_gpu()


# --- each mistake, planted in a small op ------------------------------------------------------------


def standardise_wrong(x):  # planted: NumPy on a device array (a host crossing)
    return (x - np.asarray(x).mean()) / np.asarray(x).std()


def standardise_right(x):
    return (x - x.mean()) / x.std()


def test_implicit_conversion_to_numpy_is_a_type_error(xp, tmp_path):
    x = xp.asarray([1.0, 2.0, 4.0])
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        standardise_wrong(x)
    np.testing.assert_allclose(xp.asnumpy(standardise_right(x)), standardise_wrong(np.array([1.0, 2.0, 4.0])))
    with pytest.raises(TypeError):
        np.array([x, x])  # a list of device arrays made into a host array
    assert isinstance(x.get(), np.ndarray) and isinstance(xp.asnumpy(x), np.ndarray)  # the explicit ways out


def test_saving_or_plotting_a_device_array_is_a_type_error(tmp_path):
    """np.save and matplotlib take host arrays: a picture or a file needs backend.to_numpy first.
    (Stricter than CuPy, which offers cupy.save: the library saves host arrays only.)"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = fake_cupy.ones((2, 2))
    with pytest.raises(TypeError):
        np.save(tmp_path / "x.npy", x)
    with pytest.raises(TypeError):
        plt.imshow(x)
    plt.close("all")
    with pytest.raises(TypeError):
        np.mean(x)  # a NumPy function the stand-in does not offer: refused, not silently run on the host


def scale_wrong(x):  # planted: a NumPy array (or a list) as an operand of a device op
    return x * np.array([1.0, 2.0, 3.0], dtype=x.dtype)


def scale_right(x, xp):
    return x * xp.asarray([1.0, 2.0, 3.0], dtype=x.dtype)


def test_mixing_a_numpy_array_or_a_list_into_a_device_op_is_a_type_error(xp):
    x = xp.ones(3)
    with pytest.raises(TypeError):
        scale_wrong(x)
    with pytest.raises(TypeError):
        np.array([1.0, 2.0, 3.0]) + x  # the other way round too
    with pytest.raises(TypeError):
        xp.maximum(x, [0.0, 2.0, 0.0])
    np.testing.assert_array_equal(xp.asnumpy(scale_right(x, xp)), [1.0, 2.0, 3.0])
    assert float((x * np.float32(2.0)).sum()) == 6.0  # scalars, NumPy's included, are welcome


def test_reductions_and_elements_are_0_d_device_arrays(xp):
    x = xp.asarray([1.5, 2.25])
    total, first = x.sum(), x[0]
    for value in (total, first):
        assert isinstance(value, xp.ndarray) and value.shape == ()
        assert not isinstance(value, (float, np.generic))
    with pytest.raises(TypeError):
        json.dumps({"loss": total})  # planted: a 0-d device array written as a number
    with pytest.raises(TypeError):
        round(total, 1)  # NumPy's scalars round; a device array does not
    assert json.dumps({"loss": float(total)}) == '{"loss": 3.75}' and f"{total:.2f}" == "3.75"


def test_a_device_array_is_not_an_index_or_a_shape(xp):
    n = xp.asarray([3]).sum()
    with pytest.raises(TypeError):
        list(range(n))  # planted: a device count used as a Python int
    assert list(range(int(n))) == [0, 1, 2]


def test_integer_indexing_wraps_out_of_bounds_indices_instead_of_raising(xp):
    x = xp.asarray([10.0, 20.0, 30.0])
    with pytest.raises(IndexError):
        np.array([10.0, 20.0, 30.0])[np.array([1, 3])]  # NumPy refuses
    np.testing.assert_array_equal(xp.asnumpy(x[xp.asarray([1, 3])]), [20.0, 10.0])  # the device wraps: 3 -> 0
    np.testing.assert_array_equal(xp.asnumpy(x[xp.asarray([-4])]), [30.0])


def test_the_library_checks_label_ranges_itself_because_the_device_would_wrap(device):
    labels = tinygen.tensor(np.array([1, 10]), device=device)
    with pytest.raises(RuntimeError, match=r"one_hot: labels must be in \[0, 10\)"):
        F.one_hot(labels, 10)


def test_the_random_generator_has_only_cupys_methods_and_another_stream(xp):
    rng = xp.random.default_rng(0)
    for missing in ("permutation", "normal", "choice", "shuffle"):  # planted: NumPy Generator methods
        assert not hasattr(rng, missing)
    a = xp.asnumpy(rng.standard_normal(5, dtype=np.float32))
    assert a.dtype == np.float32
    assert not np.allclose(a, np.random.default_rng(0).standard_normal(5, dtype=np.float32))  # another stream
    np.testing.assert_array_equal(a, xp.asnumpy(xp.random.default_rng(0).standard_normal(5, dtype=np.float32)))


# --- the stand-in's namespace is CuPy's and the library's ----------------------------------------------


@pytest.fixture(scope="module")
def cupy():
    return pytest.importorskip("cupy", reason="CuPy is not installed: `pip install cupy-cuda12x` (no GPU needed)")


def test_every_name_of_the_stand_in_exists_in_cupy(cupy):
    assert not missing_in(cupy, [(name, "fake_cupy.py") for name in fake_cupy.NAMES])
    assert not missing_in(cupy, [("linalg.norm", "fake_cupy.py"), ("random.default_rng", "fake_cupy.py")])


def test_the_stand_in_generators_methods_have_cupys_signatures(cupy):
    for name, method in inspect.getmembers(fake_cupy.Generator, inspect.isfunction):
        if name.startswith("_"):
            continue
        real = inspect.signature(getattr(cupy.random.Generator, name))
        assert list(inspect.signature(method).parameters) == list(real.parameters), name


def test_every_name_the_library_calls_exists_in_the_stand_in():
    uses = {use for path in library_files() for use in array_module_uses(path)
            if not use[0].startswith("cuda.")}  # cuda.runtime: the real CuPy's GPU check, which the stand-in skips
    assert not missing_in(fake_cupy, sorted(uses))
    for path in library_files():
        for method, keywords, where in generator_method_calls(path):
            accepted = inspect.signature(getattr(fake_cupy.Generator, method)).parameters
            assert all(k in accepted for k in keywords), where
