"""Progress bars: tqdm's, quiet in a log; the examples' epoch bar resumes in the middle of an epoch."""
import ast
import io
import sys

import numpy as np

from tinygen import data
from tinygen.data import DataLoader, progress_bar
from script_runs import run_python
from test_examples import REPO

sys.path.insert(0, str(REPO / "examples"))
import common  # noqa: E402  (examples/common.py)


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


def test_in_a_log_the_bar_writes_rarely_and_ends_with_the_losses():
    log = io.StringIO()
    bar = progress_bar(range(2000), desc="epoch 1/1", file=log)
    assert bar.mininterval == data.LOG_INTERVAL_SECONDS
    for i in bar:
        bar.set_postfix(loss=1 / (i + 1), refresh=False)  # as the examples do
    states = [s for s in log.getvalue().split("\r") if s.strip()]
    assert len(states) <= 3  # the first, the last (and at most one in between): not one per step
    assert states[-1].startswith("epoch 1/1: 100%|") and "2000/2000" in states[-1]
    assert "loss=0.0005" in states[-1]


def test_on_a_terminal_the_bar_redraws_often():
    assert progress_bar(range(3), file=Terminal()).mininterval == 0.1  # tqdm's own default
    assert progress_bar(range(3), file=io.StringIO(), mininterval=1).mininterval == 1  # asked for: kept


def test_download_bar_counts_bytes_in_readable_units():
    log = io.StringIO()
    with progress_bar(total=9_912_422, desc="downloading x.gz", unit="B", unit_scale=True, file=log) as bar:
        bar.update(4_000_000)
    assert "downloading x.gz" in log.getvalue() and "4.00M/9.91M" in log.getvalue()


def test_a_resumed_epoch_yields_the_remaining_batches_and_the_bar_counts_them():
    images = np.arange(10, dtype=np.float32).reshape(10, 1)
    loader = DataLoader(images, batch_size=3, shuffle=True, seed=0)  # 4 batches an epoch
    loader.set_epoch(1)
    whole_epoch = [batch.numpy() for batch in loader]
    step = 1 * len(loader) + 2  # stopped after two batches of the second epoch
    bar = common.epoch_bar(loader, epoch=1, step=step, epochs=3)
    bar.fp = io.StringIO()
    rest = [batch.numpy() for batch in bar]
    assert len(rest) == 2
    for got, expected in zip(rest, whole_epoch[2:]):
        np.testing.assert_array_equal(got, expected)
    assert bar.total == 2 and bar.n == 2 and bar.desc.startswith("epoch 2/3")


def test_the_examples_leave_redrawing_to_the_bar():
    """set_postfix redraws at once unless told refresh=False: every step, flooding a log."""
    calls = [node for path in sorted((REPO / "examples").glob("*.py")) for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "set_postfix"]
    assert calls, "no set_postfix found in examples/"
    for call in calls:
        refresh = [k.value for k in call.keywords if k.arg == "refresh"]
        assert refresh and isinstance(refresh[0], ast.Constant) and refresh[0].value is False, ast.unparse(call)


def test_the_bar_gives_the_runs_step_and_the_time_it_has_left():
    """A run's bar counts one epoch's batches; beside it go the run's step and the time left at
    the pace measured so far: 900 steps left at 10 s for 50 steps is 180 s."""
    assert common.run_progress(step=100, last_step=1000, steps_timed=50, seconds=10.0) == "step 100/1000, 3:00 left"
    # resumed at step 80: only the 20 steps trained in this process set the pace
    assert common.run_progress(step=100, last_step=1000, steps_timed=20, seconds=10.0) == "step 100/1000, 7:30 left"
    assert common.run_progress(step=1000, last_step=1000, steps_timed=50, seconds=10.0) == "step 1000/1000, 0:00 left"


def test_an_examples_log_shows_the_runs_progress(mnist_dir, tmp_path):
    status, _, stderr = run_python(REPO / "examples" / "autoencoder_mnist.py", "--data-dir", mnist_dir, "--split", "test",
                                   "--out", tmp_path, "--max-steps", "3", "--no-metrics")
    assert status == 0 and "run=step 3/3, 0:00 left" in stderr, stderr[-2000:]
