"""A small progress bar for training loops and downloads, in the spirit of tqdm.

    bar = progress(loader, desc="epoch 1")
    for images, labels in bar:
        ...
        bar.set_postfix(loss=loss.item())

On a terminal the bar redraws one line in place, at most every `min_interval` seconds. When stderr
is not a terminal (a CI log, a file) redrawing would fill the log with carriage returns, so it
writes a plain line every `log_interval` seconds instead, and a last line when it finishes.

For a download, count bytes: `progress(total=size_in_bytes, desc=name, unit="B")` and
`bar.update(len(chunk))`; sizes are then shown in kB, MB, GB.
"""
import sys
import time

BAR_WIDTH = 25


def progress(iterable=None, **options):
    """Wrap an iterable (or count by hand with `.update(n)`) and show how far it has come.

    The options are those of ProgressBar: desc, total, unit, file, min_interval, log_interval, disable.
    """
    return ProgressBar(iterable, **options)


class ProgressBar:
    """The state of one bar: how many steps are done, since when, and what to show after it.

    desc: a label in front of the bar ("epoch 1").
    total: the number of steps; taken from len(iterable) when it has one.
    unit: "it" counts items; "B" counts bytes and shows them as kB/MB/GB.
    file: where to write (default: sys.stderr).
    min_interval: seconds between redraws on a terminal; log_interval: between lines in a log.
    disable: True shows nothing (the counting still works).
    """

    def __init__(self, iterable=None, desc="", total=None, unit="it", file=None, min_interval=0.1,
                 log_interval=10.0, disable=False):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.desc, self.total, self.unit = iterable, desc, total, unit
        self.file = sys.stderr if file is None else file
        self.on_terminal = _is_terminal(self.file)
        # On a terminal redraw often; in a log write a line now and then.
        self.interval = min_interval if self.on_terminal else log_interval
        self.disable = disable
        self.n = 0
        self.postfix = ""
        self.start_time = time.monotonic()
        self.last_shown = self.start_time
        self.closed = False
        self.width = 0  # length of the last line drawn on a terminal, to blank it when it gets shorter

    # --- counting ---------------------------------------------------------------------------
    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def update(self, n=1):
        """Count n more steps done; redraw if enough time has passed since the last time."""
        self.n += n
        now = time.monotonic()
        if now - self.last_shown >= self.interval:
            self.last_shown = now
            self.show()

    def set_postfix(self, **values):
        """Values to show after the bar, e.g. set_postfix(loss=0.123). Floats get 4 significant digits."""
        self.postfix = ", ".join(f"{name}={_format_value(value)}" for name, value in values.items())

    def close(self):
        """Show the final state and end the line (once)."""
        if self.closed:
            return
        self.closed = True
        self.show(final=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- drawing ------------------------------------------------------------------------------
    def show(self, final=False):
        if self.disable:
            return
        line = self.line()
        if self.on_terminal:
            self.file.write("\r" + line.ljust(self.width) + ("\n" if final else ""))
            self.width = len(line)
        else:
            self.file.write(line + "\n")
        self.file.flush()

    def line(self):
        """The text of the bar, e.g.
        'epoch 1:  40%|##########               | 160/400 [00:12<00:18, 13.1it/s] loss=0.12'
        """
        elapsed = time.monotonic() - self.start_time
        rate = self.n / elapsed if elapsed > 0 else 0.0
        prefix = f"{self.desc}: " if self.desc else ""
        done = self._amount(self.n)
        if self.total:
            fraction = min(self.n / self.total, 1.0)
            filled = int(fraction * BAR_WIDTH)
            bar = "#" * filled + " " * (BAR_WIDTH - filled)
            remaining = (self.total - self.n) / rate if rate > 0 else None
            text = (f"{prefix}{fraction:4.0%}|{bar}| {done}/{self._amount(self.total)} "
                    f"[{_format_time(elapsed)}<{_format_time(remaining)}, {self._rate(rate)}]")
        else:
            text = f"{prefix}{done} [{_format_time(elapsed)}, {self._rate(rate)}]"
        return text + (" " + self.postfix if self.postfix else "")

    def _amount(self, n):
        return _format_bytes(n) if self.unit == "B" else str(n)

    def _rate(self, rate):
        return f"{_format_bytes(rate)}/s" if self.unit == "B" else f"{rate:.1f}{self.unit}/s"


def _is_terminal(file):
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


def _format_time(seconds):
    """'01:05' for 65 seconds, '1:01:05' past an hour, '?' when unknown."""
    if seconds is None:
        return "?"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def _format_bytes(n):
    """'512B', '9.9MB', ... (powers of 1000, as download sizes are usually written)."""
    for unit in ("B", "kB", "MB"):
        if abs(n) < 1000:
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}GB"


def _format_value(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
