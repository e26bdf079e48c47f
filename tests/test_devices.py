"""Device names as PyTorch users write them: 'cuda:0' is the first GPU, as 'cuda' is; anything else
(another GPU, an unknown name) is a ValueError that names the accepted forms."""
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygen
from tinygen import backend, nn
from tinygen.data import DataLoader
from test_examples import REPO

ACCEPTED = re.escape("expected one of 'cpu', 'cuda', 'cuda:0'")
no_gpu = pytest.mark.skipif(backend.gpu_available(), reason="checks the message given where there is no GPU")


def test_every_name_of_a_device_gives_its_own_name():
    assert backend.check_device("cpu") == "cpu"
    assert backend.check_device("cuda") == "cuda"
    assert backend.check_device("cuda:0") == "cuda"


@given(st.text(max_size=8) | st.integers() | st.none() | st.sampled_from(["CUDA", "gpu", "cuda:", "cuda:00", "cpu:0"]))
def test_any_other_name_is_a_value_error_naming_the_accepted_forms(name):
    if name in backend.DEVICE_NAMES:
        return
    with pytest.raises(ValueError, match=f"device {re.escape(repr(name))}.*{ACCEPTED}"):
        backend.check_device(name)


@pytest.mark.parametrize("gpu", ["cuda:1", "cuda:7"])
def test_a_second_gpu_is_refused_clearly(gpu):
    message = re.escape(f"device '{gpu}': tinygen uses one GPU, the first; ") + ACCEPTED
    with pytest.raises(ValueError, match=message):
        tinygen.zeros(2, device=gpu)
    with pytest.raises(ValueError, match=message):
        tinygen.ones(2).to(gpu)


@pytest.mark.parametrize("make", [
    lambda d: tinygen.zeros(2, device=d),
    lambda d: tinygen.randn(2, device=d),
    lambda d: tinygen.tensor([1.0, 2.0], device=d),
    lambda d: tinygen.Tensor(np.zeros(2), device=d),
    lambda d: tinygen.ones(2).to(d),
    lambda d: nn.Linear(2, 3).to(d),
    lambda d: DataLoader(np.zeros((4, 2)), batch_size=2, device=d),
], ids=["zeros", "randn", "tensor", "Tensor", "Tensor.to", "Module.to", "DataLoader"])
def test_every_way_in_checks_the_name(make):
    with pytest.raises(ValueError, match=f"unknown device 'tpu': {ACCEPTED}"):
        make("tpu")
    make("cpu")


@no_gpu
def test_without_a_gpu_cuda_0_says_so_as_cuda_does():
    for name in ("cuda", "cuda:0"):
        with pytest.raises(RuntimeError, match=re.escape(f"device '{name}' asked for, but CuPy with a CUDA GPU is not available")):
            tinygen.zeros(2, device=name)


def test_cuda_0_is_the_same_device_as_cuda(device):
    """On the CPU the names are the same plain 'cpu'; on a GPU 'cuda:0' tensors are 'cuda' tensors."""
    alias = "cuda:0" if device == "cuda" else device
    x = tinygen.ones(3, device=alias)
    assert x.device == device
    assert x.to(alias) is x  # already there: no copy
    model = nn.Linear(3, 2).to(alias)
    assert all(p.device == device for p in model.parameters())
    tinygen.manual_seed(5)
    a = tinygen.randn(4, device=device).numpy()
    tinygen.manual_seed(5)
    b = tinygen.randn(4, device=alias).numpy()  # one generator for both names
    np.testing.assert_array_equal(a, b)


def run_parser(*arguments):
    code = ("import sys; sys.path.insert(0, 'examples'); import common; "
            "print(common.parser('x', 1, 2, 0.1, 'out').parse_args(sys.argv[1:]).device)")
    return subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_the_examples_take_cuda_0_and_refuse_unknown_devices_in_one_line():
    assert run_parser("--device", "cuda:0").stdout.strip() == "cuda:0"
    refused = run_parser("--device", "tpu")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "argument --device: invalid choice: 'tpu' (choose from cpu, cuda, cuda:0)" in refused.stderr \
        or "argument --device: invalid choice: 'tpu' (choose from 'cpu', 'cuda', 'cuda:0')" in refused.stderr
