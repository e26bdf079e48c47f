"""How tinygen's products use the cores (tinygen/threads.py): NumPy's BLAS on one thread always,
read back from the library through threadpoolctl; a large product cut into fixed blocks (of rows or columns),
computed at once on the threads allowed, with the same numbers however many threads."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

import tinygen
import tinygen.nn.functional as F
from tinygen import threads
from strategies import cheap


def blas_threads_now():
    """What NumPy's BLAS is set to now, as threadpoolctl reads it from the library."""
    ours = {lib.filepath for lib in threads._numpy_blas()}
    counts = {info["num_threads"] for info in threadpool_info() if info["filepath"] in ours}
    assert len(counts) == 1, counts
    return counts.pop()


@pytest.fixture
def two_chunks(monkeypatch):
    """Large products cut into 2 blocks, their threads set by the test; the policy put back after."""
    monkeypatch.setattr(threads, "CHUNKS", 2)
    before = threads._num_threads
    yield
    tinygen.set_num_threads(before)


@pytest.fixture
def block_threads(monkeypatch):
    """The threads that computed each block of the products made while it is used: a list of
    (rows of the block, thread ident)."""
    seen = []
    real_matmul = np.matmul

    def spying(a, b, out=None):
        seen.append((out.shape, threading.get_ident()))
        return real_matmul(a, b, out=out)

    monkeypatch.setattr(threads, "numpy", type("numpy", (), {
        "matmul": staticmethod(spying), "empty": staticmethod(np.empty), "result_type": staticmethod(np.result_type)}))
    return seen


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
def test_large_products_are_cut_into_blocks_on_two_threads_and_small_ones_are_not(op, two_chunks, block_threads):
    small = 16  # 4,096 multiply-adds (conv2d: 4 maps)
    large = 256  # 16.8 M multiply-adds (conv2d: 64 of 16x16 with 16 channels, 37.7 M)
    assert small ** 3 < threads.PARALLEL_FLOPS < large ** 3
    tinygen.set_num_threads(2)
    products(small)[op]()
    assert block_threads == []  # one product, one BLAS call on the calling thread
    products(large)[op]()
    assert len(block_threads) == 2 and len({ident for _, ident in block_threads}) == 2
    (larger, caller), (_, helper) = sorted(block_threads, key=lambda seen: -seen[0][0] * seen[0][1])
    assert caller == threading.get_ident() != helper  # the caller takes the larger block, its head start
    assert blas_threads_now() == 1


def test_the_backward_products_are_cut_too(two_chunks, block_threads):
    tinygen.set_num_threads(2)
    x = tinygen.randn(256, 256, requires_grad=True)
    w = tinygen.randn(256, 256, requires_grad=True)
    (x @ w).sum().backward()  # y = x @ w, gx = g @ w^T and gw = x^T @ g: 16.8 M multiply-adds each
    # each cut the same way: the helper's block (1 - 4 M / 16.8 M) / 2 of the 256 rows, the caller's the rest
    assert [shape for shape, _ in block_threads] == [(159, 256), (97, 256)] * 3


def test_a_wide_product_is_cut_into_columns(two_chunks, block_threads):
    """A batch of 64 times a layer of 784 outputs: 64 rows, 784 columns, cut into columns."""
    tinygen.set_num_threads(2)
    x, w = tinygen.randn(64, 1024), tinygen.randn(784, 1024)
    y = F.linear(x, w)
    assert [shape for shape, _ in block_threads] == [(64, 423), (64, 361)]  # 51.4 M multiply-adds: 361 = 784 (1 - 4/51.4) / 2
    np.testing.assert_allclose(y.numpy(), x.numpy() @ w.numpy().T, rtol=1e-5, atol=1e-4)


def test_on_one_thread_the_blocks_run_one_after_another_on_the_caller(two_chunks, block_threads):
    tinygen.set_num_threads(1)
    products(256)["matmul"]()
    assert [ident for _, ident in block_threads] == [threading.get_ident()] * 2


@pytest.mark.parametrize("chunks", [2, 3, 4])
def test_the_numbers_do_not_depend_on_the_thread_count(monkeypatch, two_chunks, chunks):
    """The blocks are fixed by the shapes and CHUNKS alone: one thread, two, or as many as blocks give
    the same bits, on a product of a transposed operand (as Linear's x W^T) and in a backward."""
    monkeypatch.setattr(threads, "CHUNKS", chunks)
    found = []
    for count in (1, 2, chunks):
        tinygen.set_num_threads(count)
        tinygen.manual_seed(0)
        x = tinygen.randn(301, 257, requires_grad=True)
        w = tinygen.randn(129, 257, requires_grad=True)
        y = F.linear(x, w)
        (y * y).sum().backward()
        found.append([y.numpy(), x.grad.numpy(), w.grad.numpy()])
    for other in found[1:]:
        for a, b in zip(found[0], other):
            np.testing.assert_array_equal(a, b)


def sizes(cut):
    return [block.stop - block.start for block in cut]


def test_the_callers_block_is_larger_by_the_head_start(monkeypatch):
    """The first block (the caller's) holds HEAD_START_FLOPS more multiply-adds than each other one."""
    assert threads.HEAD_START_FLOPS == 4_000_000 and threads.SMALLEST_BLOCK_FLOPS == 1_000_000
    monkeypatch.setattr(threads, "CHUNKS", 3)
    assert sizes(threads.blocks(3000, 16_000_000)) == [1500, 750, 750]  # 8 M = 4 M + 4 M, then 4 M and 4 M
    assert sizes(threads.blocks(3000, 10 ** 12)) == [1002, 999, 999]  # 999.996 rows each, rounded down
    assert sizes(threads.blocks(10, 16_000_000)) == [6, 2, 2]  # 2.5 rows each, rounded down
    monkeypatch.setattr(threads, "CHUNKS", 2)
    assert sizes(threads.blocks(784, 64 * 1024 * 784)) == [423, 361]  # 361.5 = 784 (1 - 4 / 51.4) / 2
    assert sizes(threads.blocks(1000, 5_900_000)) == [1000]  # the helper's 161 rows would hold 0.95 M: not cut
    assert sizes(threads.blocks(1000, 6_100_000)) == [828, 172]  # 172 rows of 6,100: 1.05 M


@cheap
@given(chunks=st.integers(2, 6), size=st.integers(1, 5000), flops=st.integers(4_000_000, 10 ** 10))
def test_blocks_cover_the_axis_the_others_equal_none_too_small(chunks, size, flops):
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(threads, "CHUNKS", chunks)
        cut = threads.blocks(size, flops)
    assert cut[0].start == 0 and cut[-1].stop == size
    assert all(a.stop == b.start for a, b in zip(cut, cut[1:])) and all(sizes(cut))  # in order, none empty
    first, *others = sizes(cut)
    assert len(cut) in (1, chunks)
    assert all(rows * flops / size >= threads.SMALLEST_BLOCK_FLOPS for rows in others)
    assert all(rows == others[0] for rows in others)
    if others:  # the caller's block holds HEAD_START_FLOPS more than each other, to the rows rounded off
        extra = (first - others[0]) * flops / size
        assert -flops / size < extra - threads.HEAD_START_FLOPS <= chunks * flops / size


def test_a_matrix_vector_product_is_never_cut(two_chunks, block_threads):
    """OpenBLAS sums a cut matrix-vector product in another order: it stays whole."""
    tinygen.set_num_threads(2)
    tinygen.randn(4096, 2048) @ tinygen.randn(2048, 1)
    assert block_threads == []


def test_a_forked_child_computes_with_threads_of_its_own(two_chunks):
    """Threads do not survive a fork: a child (as the tests' forked runs) makes its own, not waits on
    its parent's forever."""
    tinygen.set_num_threads(2)
    a, b = tinygen.randn(512, 512), tinygen.randn(512, 512)
    expected = (a @ b).numpy()  # the parent's threads exist now
    child = os.fork()
    if child == 0:
        os._exit(0 if np.array_equal((a @ b).numpy(), expected) else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_by_default_products_follow_the_free_cores_with_one_blas_thread():
    """In a fresh process (the policy's default, not what another test set): "auto", and the BLAS
    on one thread though the environment asks it for two."""
    code = ("import tinygen\nfrom tinygen import threads\nfrom threadpoolctl import threadpool_info\n"
            "tinygen.randn(256, 256) @ tinygen.randn(256, 256)\n"
            "ours = {lib.filepath for lib in threads._numpy_blas()}\n"
            "print(threads._num_threads, {i['num_threads'] for i in threadpool_info() if i['filepath'] in ours})")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}  # the BLAS itself would take 2
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split(maxsplit=1) == ["auto", "{1}\n"], out


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


def test_a_forked_child_does_not_compare_its_cpu_seconds_with_its_parents(monkeypatch):
    """A forked child's CPU seconds start again from 0: its first look only starts its own count."""
    machine = FakeMachine(monkeypatch, cores=2, others=0.0, ours=1.0)
    threads.free_cores()
    machine.tick()
    assert threads.free_cores() == 2
    monkeypatch.setattr(threads.os, "getpid", lambda: -1)  # now in a child, whose clock is back at 0
    machine.mine = 0.0
    machine.tick()
    assert threads.free_cores() == 2  # compared with the parent's 11 CPU seconds, it would find 1
    machine.tick()
    assert threads.free_cores() == 2


def test_auto_runs_the_blocks_on_the_free_cores(two_chunks, block_threads, monkeypatch):
    tinygen.set_num_threads("auto")
    monkeypatch.setattr(threads, "free_cores", lambda: 2)
    products(256)["matmul"]()
    assert len({ident for _, ident in block_threads}) == 2
    block_threads.clear()
    monkeypatch.setattr(threads, "free_cores", lambda: 1)  # another program took a core
    products(256)["matmul"]()
    assert [ident for _, ident in block_threads] == [threading.get_ident()] * 2


def test_set_num_threads_auto_gives_the_free_cores(two_chunks, monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda: 3)
    tinygen.set_num_threads(2)
    assert tinygen.get_num_threads() == 2
    assert "run on 2 thread(s)" in threads.describe()
    tinygen.set_num_threads("auto")
    assert tinygen.get_num_threads() == 3
    assert "run at once on the cores other programs leave free" in threads.describe()


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


# ---------------------------------------------------------------------------------------------
# An optimiser's step: its parameters' updates shared out among the threads


def optimisers_of_large_parameters(seed=0):
    """Each optimiser on its own copy of the same three parameters (600,000 numbers in all, above
    PARALLEL_ELEMENTS), each with the same gradient."""
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(shape).astype(np.float32) for shape in [(500, 800), (400, 500), (500,)]]
    gradients = [rng.standard_normal(value.shape).astype(np.float32) for value in values]
    made = {}
    for name, make in [("adam", lambda ps: tinygen.optim.Adam(ps, lr=1e-2, weight_decay=0.1)),
                       ("sgd", lambda ps: tinygen.optim.SGD(ps, lr=1e-2, momentum=0.9, nesterov=True)),
                       ("rmsprop", lambda ps: tinygen.optim.RMSprop(ps, lr=1e-2, centered=True, momentum=0.5))]:
        params = [tinygen.tensor(value.copy(), requires_grad=True) for value in values]
        for p, g in zip(params, gradients):
            p.grad = tinygen.tensor(g)
        made[name] = (make(params), params)
    return made


def test_an_optimisers_step_is_shared_out_and_gives_the_same_numbers(two_chunks, monkeypatch):
    """On two threads the parameters are split into two groups of about equal size (the largest,
    250,000 numbers, alone; the other two together), each updated on its own thread; three steps
    give the same bits as on one thread, for every optimiser."""
    assert 600_500 >= threads.PARALLEL_ELEMENTS
    after = {}
    for count in (1, 2):
        tinygen.set_num_threads(count)
        seen = []
        made = optimisers_of_large_parameters()
        for name, (optimizer, params) in made.items():
            real_update = optimizer.update
            monkeypatch.setattr(optimizer, "update", lambda p, *rest, real_update=real_update: (
                seen.append((p.shape, threading.get_ident())), real_update(p, *rest))[1])
            for _ in range(3):
                optimizer.step()
        after[count] = {name: [p.numpy() for p in params] for name, (_, params) in made.items()}
        callers = {shape: {ident for seen_shape, ident in seen if seen_shape == shape} for shape, _ in seen}
        if count == 1:
            assert all(idents == {threading.get_ident()} for idents in callers.values()), callers
        else:
            (large,), (others,) = callers[(500, 800)], callers[(400, 500)] | callers[(500,)]
            assert large != others and threading.get_ident() in {large, others}, callers
    for name in after[1]:
        for one, two in zip(after[1][name], after[2][name]):
            np.testing.assert_array_equal(one, two, err_msg=name)


def test_a_small_optimiser_step_stays_on_the_caller(two_chunks, monkeypatch):
    tinygen.set_num_threads(2)
    p = tinygen.zeros(300, 300, requires_grad=True)  # 90,000 numbers: below PARALLEL_ELEMENTS
    q = tinygen.zeros(300, requires_grad=True)
    p.grad, q.grad = tinygen.ones(300, 300), tinygen.ones(300)
    optimizer = tinygen.optim.Adam([p, q])
    seen = []
    real_update = optimizer.update
    monkeypatch.setattr(optimizer, "update", lambda *args: (seen.append(threading.get_ident()), real_update(*args))[1])
    optimizer.step()
    assert seen == [threading.get_ident()] * 2


def test_balanced_groups_give_the_largest_first_to_the_lightest_group(monkeypatch):
    monkeypatch.setattr(threads, "CHUNKS", 2)
    assert threads.balanced_groups(["a", "b", "c", "d", "e"], [5, 1, 4, 3, 3]) == [["a", "e"], ["c", "d", "b"]]  # 5+3, 4+3+1
    monkeypatch.setattr(threads, "CHUNKS", 3)
    assert threads.balanced_groups(["a", "b"], [1, 2]) == [["b"], ["a"]]  # no empty group


def test_an_error_on_a_helper_thread_reaches_the_caller_and_the_helper_works_on(two_chunks):
    tinygen.set_num_threads(2)

    def work(parts):
        if parts == ["second"]:
            raise ValueError("from the helper thread")

    with pytest.raises(ValueError, match="from the helper thread"):
        threads.share_out(work, ["first", "second"])
    done = []
    threads.share_out(lambda parts: done.extend((part, threading.get_ident()) for part in parts), ["a", "b"])
    assert sorted(part for part, _ in done) == ["a", "b"] and len({ident for _, ident in done}) == 2


def test_work_shared_out_from_inside_shared_out_work_is_done_there(two_chunks):
    """A helper busy with one caller's work is not handed more: nested work runs on its own thread."""
    tinygen.set_num_threads(2)
    inner = []

    def outer(parts):
        for part in parts:
            threads.share_out(lambda some: inner.extend((part, s, threading.get_ident()) for s in some), [1, 2])

    threads.share_out(outer, ["caller", "helper"])
    for part in ["caller", "helper"]:
        (ident,) = {ident for p, _, ident in inner if p == part}  # both inner parts on one thread
        assert sorted(s for p, s, _ in inner if p == part) == [1, 2]


def test_two_callers_at_once_get_their_own_products_right(two_chunks):
    """Two threads of a program multiplying at once: one uses the helper, the other computes alone
    (or waits for nothing); each gets the bits one thread gives."""
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((300, 400)).astype(np.float32), rng.standard_normal((400, 500)).astype(np.float32))
             for _ in range(2)]
    tinygen.set_num_threads(1)
    expected = [threads.matmul(a, b) for a, b in pairs]
    tinygen.set_num_threads(2)
    found = [[], []]

    def multiply(i):
        for _ in range(20):
            found[i].append(threads.matmul(*pairs[i]))

    callers = [threading.Thread(target=multiply, args=(i,)) for i in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    for i in range(2):
        assert len(found[i]) == 20
        for product in found[i]:
            np.testing.assert_array_equal(product, expected[i])


def test_helpers_interrupted_while_waited_for_are_replaced(two_chunks, monkeypatch):
    """Ctrl-C while the caller waits for a helper: that helper may still be writing, so it is never
    handed work again (its `done` would come back late and end a later wait too early)."""
    tinygen.set_num_threads(2)
    threads.share_out(lambda parts: None, ["a", "b"])
    old_helper = threads._threads_beside_the_caller()[0][0]  # the one that took part "b"

    def interrupted(self):
        raise KeyboardInterrupt

    real_wait = threads.Helper.wait
    monkeypatch.setattr(threads.Helper, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        threads.share_out(lambda parts: None, ["a", "b"])
    monkeypatch.setattr(threads.Helper, "wait", real_wait)
    done = []
    threads.share_out(lambda parts: done.extend((part, threading.get_ident()) for part in parts), ["a", "b"])
    new_helper = threads._threads_beside_the_caller()[0][0]
    assert new_helper is not old_helper and sorted(part for part, _ in done) == ["a", "b"]
