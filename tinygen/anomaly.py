"""Anomaly mode: find the op where training blew up, as `torch.autograd.detect_anomaly`.

A NaN in a loss says that something went wrong, not where. With the mode on, every function
records where in your code its forward was called, and after each function's backward the
gradients it gave are checked: the first NaN or inf raises an error that names the op and that
line. Use it as `with tinygen.autograd.detect_anomaly(): loss.backward()` around the forward and
backward of the step that fails. (`autograd.py` calls `forward_call_site` and
`check_finite_gradients` only while `AnomalyMode.enabled` is true.)
"""
import os
import sys
import traceback

from tinygen import backend


class AnomalyMode:
    enabled = False


def is_anomaly_enabled():
    return AnomalyMode.enabled


class set_detect_anomaly:
    """Turn anomaly detection on or off, as `torch.autograd.set_detect_anomaly(mode)`.

    A call sets the mode for good; `with set_detect_anomaly(True):` restores the old one after.
    While it is on, every function records where in the user's code its forward was called (a
    short stack), and after each function's backward its input gradients are checked: the first
    NaN or inf raises RuntimeError naming the op and that place. This scans every gradient, so
    it slows training down: it is for finding a bug, off by default (then it costs one flag test
    per op).
    """

    def __init__(self, mode):
        self.previous = AnomalyMode.enabled
        AnomalyMode.enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        AnomalyMode.enabled = self.previous


def detect_anomaly():
    """`with tinygen.autograd.detect_anomaly():` anomaly detection on, inside the block only."""
    return set_detect_anomaly(True)


_LIBRARY_FOLDER = os.path.dirname(os.path.abspath(__file__)) + os.sep


def forward_call_site():
    """(Called by Function.__call__.) The last few frames of the forward call, up to the innermost one outside tinygen (the user's)."""
    frame = sys._getframe(2)  # the caller of Function.__call__
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(_LIBRARY_FOLDER):
        frame = frame.f_back
    return traceback.extract_stack(frame, limit=8)


def check_finite_gradients(fn, input_grads):
    """Anomaly mode: raise if fn's backward gave a gradient holding NaN or inf."""
    for i, grad in enumerate(input_grads):
        if grad is None:
            continue
        xp = backend.get_array_module(grad.data)
        if xp.isfinite(grad.data).all():
            continue
        kind = "nan" if xp.isnan(grad.data).any() else "inf"
        message = (f"Function '{type(fn).__name__}' returned {kind} values in its {i}th output (the gradient "
                   f"of its input {i}, shape {tuple(grad.shape)})")
        if not hasattr(fn, "forward_call_site"):
            raise RuntimeError(message + "; its forward ran before anomaly mode was on, so where it was called "
                               "is not known: turn anomaly mode on before the forward to see it")
        site = fn.forward_call_site[-1]
        raise RuntimeError(
            f"{message}; its forward was called at {site.filename}:{site.lineno}: {site.line}\n"
            f"Traceback of forward call that caused the error:\n" + "".join(traceback.format_list(fn.forward_call_site))
        )
