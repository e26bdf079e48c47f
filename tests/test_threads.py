"""The BLAS thread policy (tinygen/threads.py): small products on one thread, large ones on
get_num_threads(), read back from NumPy's BLAS itself through threadpoolctl."""
import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import tinygen
import tinygen.nn.functional as F
from tinygen import threads


def blas_threads_now():
    """What NumPy's BLAS is set to now, as threadpoolctl reads it from the library."""
    ours = {lib.filepath for lib in threads._numpy_blas()}
    counts = {info["num_threads"] for info in threadpool_info() if info["filepath"] in ours}
    assert len(counts) == 1, counts
    return counts.pop()


@pytest.fixture
def two_threads():
    """Large products on 2 threads for the test, and the count before it put back after."""
    before = threads.get_num_threads()
    tinygen.set_num_threads(2)
    yield
    tinygen.set_num_threads(before)


def products(n):
    """Each op that multiplies matrices, on operands of about n**3 multiply-adds."""
    a, b = tinygen.randn(n, n), tinygen.randn(n, n)
    return {
        "matmul": lambda: a @ b,
        "linear": lambda: F.linear(a, b),
        "tensordot": lambda: tinygen.functional.tensordot(a, b, 1),
        "conv2d": lambda: F.conv2d(tinygen.randn(n // 4, 16, 16, 16), tinygen.randn(n // 4, 16, 3, 3), padding=1),
    }


@pytest.mark.parametrize("op", ["matmul", "linear", "tensordot", "conv2d"])
def test_small_products_run_on_one_thread_and_large_ones_on_all(op, two_threads):
    small = 16  # 4,096 multiply-adds (conv2d: 4 maps)
    large = 256  # 16.8 M multiply-adds (conv2d: 64 of 16x16 with 16 channels, 37.7 M)
    assert small ** 3 < threads.PARALLEL_FLOPS < large ** 3
    products(large)[op]()
    assert blas_threads_now() == 2
    products(small)[op]()
    assert blas_threads_now() == 1
    products(large)[op]()
    assert blas_threads_now() == 2


def test_the_backward_products_follow_the_policy_too(two_threads):
    x = tinygen.randn(256, 256, requires_grad=True)
    w = tinygen.randn(256, 256, requires_grad=True)
    tinygen.randn(4, 4) @ tinygen.randn(4, 4)
    assert blas_threads_now() == 1
    (x @ w).sum().backward()  # gx = g @ w^T and gw = x^T @ g: 16.8 M multiply-adds each
    assert blas_threads_now() == 2


def test_set_num_threads_is_the_count_for_large_products(two_threads):
    tinygen.set_num_threads(1)
    assert tinygen.get_num_threads() == 1
    products(256)["matmul"]()
    assert blas_threads_now() == 1


def test_by_default_every_product_runs_on_one_thread():
    """In a fresh process (the policy's default, not what another test set): a large product too."""
    code = ("import tinygen\nfrom tinygen import threads\nfrom threadpoolctl import threadpool_info\n"
            "tinygen.randn(256, 256) @ tinygen.randn(256, 256)\n"
            "ours = {lib.filepath for lib in threads._numpy_blas()}\n"
            "print(tinygen.get_num_threads(), {i['num_threads'] for i in threadpool_info() if i['filepath'] in ours})")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}  # the BLAS itself would take 2
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split(maxsplit=1) == ["1", "{1}\n"], out


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_set_num_threads_refuses_what_is_no_positive_count(bad):
    with pytest.raises(ValueError, match=r"set_num_threads: expected a positive integer number of threads, got"):
        tinygen.set_num_threads(bad)


def test_the_answer_does_not_depend_on_the_thread_count(two_threads):
    a, b = tinygen.randn(300, 300), tinygen.randn(300, 300)
    on_two = (a @ b).numpy()
    tinygen.set_num_threads(1)
    np.testing.assert_allclose((a @ b).numpy(), on_two, rtol=1e-5, atol=1e-4)
