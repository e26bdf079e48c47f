"""Shared fixtures: devices to run on, and where real MNIST lives."""
import os
import pathlib
import sys

import pytest
import threadpoolctl
from hypothesis import settings

from tinygen import backend

# Locally, hypothesis draws new examples on every run and keeps exploring. In CI (CI=true) the
# draws are fixed, so that a red CI always means a change broke something, never an unlucky draw.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")
from tinygen.data import MNIST
import tinygen

REPO = pathlib.Path(__file__).resolve().parents[1]

# pytest-xdist runs one worker per core, which fills the cores already: each worker computes a
# large product's blocks one after another (the same numbers; tests/test_threads.py sets its own),
# and BLAS and PyTorch (where a parity test imports it) keep to one thread each, so that no worker
# wakes threads the other worker's core cannot run.
IN_A_WORKER = bool(os.environ.get("PYTEST_XDIST_WORKER"))
if IN_A_WORKER:
    tinygen.set_num_threads(1)
    threadpoolctl.threadpool_limits(1, user_api="blas")


def pytest_runtest_setup(item):
    """PyTorch starts with a thread per core; in a worker, once a test has imported it, one."""
    if IN_A_WORKER and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)

# The examples, benchmarks and scripts that tests run in a subprocess import tinygen from this
# checkout too, not from wherever `pip install -e` pointed last (another clone or worktree).
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p])


def devices():
    """Every test that takes `device` runs on the CPU, and on CUDA where a GPU is present."""
    return [
        "cpu",
        pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not backend.gpu_available(),
                                                                          reason="no CuPy/CUDA GPU here")]),
    ]


@pytest.fixture(params=devices())
def device(request):
    return request.param


# ---------------------------------------------------------------------------------------------
# Real MNIST: the library's cache, or ../shared/data/mnist beside the repository or the cwd.

SHARED_MNIST_FOLDERS = [
    REPO.parent / "shared" / "data" / "mnist",
    pathlib.Path.cwd().parent / "shared" / "data" / "mnist",
]


@pytest.fixture(scope="session")
def mnist_dir():
    """A folder holding the real MNIST test split (pass it as root=). Skips when there is none,
    except on CI (CI=true), which has the data: there a missing copy is a failure."""
    root = MNIST.find_root("test", folders=SHARED_MNIST_FOLDERS)
    if root is None:
        reason = ("real MNIST not found: put t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in "
                  f"$TINYGEN_DATA/mnist (or ~/.cache/tinygen/mnist) or in {SHARED_MNIST_FOLDERS[0]}")
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return root
