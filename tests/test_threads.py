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


class FakeMachine:
    """Clocks for free_cores: `others` cores' worth of other programs' work, `ours` of this process's,
    `cores` in all, moving on by `seconds` at each tick."""

    def __init__(self, monkeypatch, cores, others, ours):
        self.now, self.busy, self.mine = 100.0, 5000.0, 10.0
        self.others, self.ours = others, ours
        monkeypatch.setattr(threads.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(threads.time, "process_time", lambda: self.mine)
        monkeypatch.setattr(threads, "_machine_busy_seconds", lambda: self.busy)
        monkeypatch.setattr(threads.os, "cpu_count", lambda: cores)
        monkeypatch.setattr(threads, "_last_look", None)

    def tick(self, seconds=1.0):
        self.now += seconds
        self.busy += (self.others + self.ours) * seconds
        self.mine += self.ours * seconds


@pytest.mark.parametrize("cores, others, ours, free", [
    (2, 0.0, 2.0, 2),   # quiet: only this process works, on both cores
    (2, 1.0, 1.0, 1),   # one other CPU-bound program
    (2, 0.3, 1.7, 2),   # a little background work leaves both
    (2, 2.0, 0.5, 1),   # every core busy elsewhere: still one thread, never zero
    (16, 4.0, 1.0, 12),
])
def test_free_cores_are_the_cores_other_programs_leave(monkeypatch, cores, others, ours, free):
    machine = FakeMachine(monkeypatch, cores, others, ours)
    threads.free_cores()  # the first look: nothing to compare with yet
    machine.tick()
    assert threads.free_cores() == free


def test_free_cores_looks_again_only_every_half_second(monkeypatch):
    machine = FakeMachine(monkeypatch, cores=2, others=0.0, ours=1.0)
    threads.free_cores()
    machine.tick()
    assert threads.free_cores() == 2
    machine.others = 1.0  # another program starts
    machine.tick(threads.FREE_CORES_EVERY / 2)
    assert threads.free_cores() == 2  # too soon to look again
    machine.tick(threads.FREE_CORES_EVERY)
    assert threads.free_cores() == 1


def test_auto_runs_large_products_on_the_free_cores(monkeypatch):
    monkeypatch.setattr(threads, "_num_threads", "auto")
    monkeypatch.setattr(threads, "free_cores", lambda: 2)
    products(256)["matmul"]()
    assert blas_threads_now() == 2
    products(16)["matmul"]()
    assert blas_threads_now() == 1
    monkeypatch.setattr(threads, "free_cores", lambda: 1)  # another program took a core
    products(256)["matmul"]()
    assert blas_threads_now() == 1


def test_set_num_threads_auto_gives_the_free_cores(two_threads, monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda: 3)
    assert tinygen.get_num_threads() == 2
    tinygen.set_num_threads("auto")
    assert tinygen.get_num_threads() == 3
    assert "the cores other programs leave free (now 3 of" in threads.describe()


def test_without_proc_stat_large_products_keep_to_one_thread(monkeypatch):
    def missing():
        raise FileNotFoundError("/proc/stat")
    monkeypatch.setattr(threads, "_machine_busy_seconds", missing)
    monkeypatch.setattr(threads, "_last_look", None)
    assert threads.free_cores() == 1


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="free_cores reads Linux's /proc/stat")
def test_auto_beside_a_busy_program_keeps_large_products_to_one_thread():
    """For real, in a fresh process, with one CPU-bound program per core but one running beside it."""
    code = ("import time, tinygen\nfrom tinygen import threads\ntinygen.set_num_threads('auto')\n"
            "a = tinygen.randn(256, 256)\nend = time.monotonic() + 1.5\n"
            "while time.monotonic() < end:\n    a @ a\n"
            "print(tinygen.get_num_threads())")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range((os.cpu_count() or 1) - 1)]
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    finally:
        for process in busy:
            process.kill()
    assert out.strip() == "1", out


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None, "Auto"])
def test_set_num_threads_refuses_what_is_no_positive_count(bad):
    with pytest.raises(ValueError, match=r"set_num_threads: expected a positive integer number of threads or 'auto'"):
        tinygen.set_num_threads(bad)


def test_the_answer_does_not_depend_on_the_thread_count(two_threads):
    a, b = tinygen.randn(300, 300), tinygen.randn(300, 300)
    on_two = (a @ b).numpy()
    tinygen.set_num_threads(1)
    np.testing.assert_allclose((a @ b).numpy(), on_two, rtol=1e-5, atol=1e-4)
