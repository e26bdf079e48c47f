"""tinygen.progress: a bar on a terminal, plain occasional lines in a log."""
import io

import pytest

from tinygen import progress as progress_module
from tinygen.progress import progress


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


class Clock:
    """A fake time.monotonic that advances only when told."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", fake)
    return fake


def test_items_pass_through_unchanged():
    assert list(progress(range(5), file=io.StringIO())) == [0, 1, 2, 3, 4]


def test_log_gets_plain_lines_and_a_final_one(clock):
    log = io.StringIO()
    bar = progress(range(40), desc="epoch 1", file=log, log_interval=10)
    for i in bar:
        clock.now += 1.0  # one second a step: a line every 10 steps
        bar.set_postfix(loss=1 / (i + 1))
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert len(lines) == 5  # at steps 10, 20, 30, 40, and the final line
    assert lines[0].startswith("epoch 1:  25%|") and " 10/40 " in lines[0]
    assert lines[-1].startswith("epoch 1: 100%|" + "#" * 25 + "| 40/40 [00:40<00:00, 1.0it/s]")
    assert lines[-1].endswith("loss=0.025")


def test_log_stays_quiet_between_intervals(clock):
    log = io.StringIO()
    for _ in progress(range(1000), file=log, log_interval=10):
        clock.now += 0.001  # a fast loop: one second in all
    assert len(log.getvalue().splitlines()) == 1  # only the final line


def test_terminal_redraws_in_place_throttled(clock):
    screen = Terminal()
    bar = progress(total=100, desc="work", file=screen, min_interval=0.1)
    for _ in range(100):
        clock.now += 0.01
        bar.update()
    bar.close()
    text = screen.getvalue()
    redraws = text.count("\r")
    assert 9 <= redraws <= 11  # every 0.1 s over 1 s, plus the final one; not 100
    assert text.endswith("\n") and text.count("\n") == 1
    assert "work: 100%" in text.split("\r")[-1]


def test_terminal_line_is_blanked_when_it_gets_shorter(clock):
    screen = Terminal()
    bar = progress(total=10, file=screen, min_interval=0)
    bar.set_postfix(note="a long note here")
    clock.now += 1
    bar.update()
    bar.set_postfix()
    bar.close()
    previous, last = screen.getvalue().split("\r")[1:]
    assert len(last.rstrip("\n")) >= len(previous)


def test_without_total_shows_count_and_rate(clock):
    log = io.StringIO()
    bar = progress(iter(range(7)), file=log)  # an iterator has no len()
    for _ in bar:
        clock.now += 0.5
    assert log.getvalue() == "7 [00:03, 2.0it/s]\n"


def test_bytes_are_shown_in_readable_units(clock):
    log = io.StringIO()
    with progress(total=9_912_422, desc="downloading x.gz", unit="B", file=log) as bar:
        clock.now += 2
        bar.update(4_000_000)
    line = log.getvalue().strip()
    assert line.startswith("downloading x.gz:  40%|")
    assert "4.0MB/9.9MB" in line and "2.0MB/s" in line


def test_close_happens_once_and_disable_shows_nothing(clock):
    log = io.StringIO()
    bar = progress(range(3), file=log)
    list(bar)
    bar.close()
    assert len(log.getvalue().splitlines()) == 1
    quiet = io.StringIO()
    bar = progress(range(3), file=quiet, disable=True)
    assert list(bar) == [0, 1, 2] and bar.n == 3
    assert quiet.getvalue() == ""


def test_formatting_helpers():
    assert progress_module._format_time(65) == "01:05"
    assert progress_module._format_time(3725) == "1:02:05"
    assert progress_module._format_time(None) == "?"
    assert progress_module._format_bytes(512) == "512B"
    assert progress_module._format_bytes(1_500) == "1.5kB"
    assert progress_module._format_bytes(47_000_000_000) == "47.0GB"
    assert progress_module._format_value(0.123456) == "0.1235"
    assert progress_module._format_value(3) == "3"


def test_default_stream_is_stderr(capsys):
    for _ in progress(range(2), desc="to stderr"):
        pass
    captured = capsys.readouterr()
    assert captured.out == "" and "to stderr" in captured.err
