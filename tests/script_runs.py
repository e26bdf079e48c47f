"""Running a script as `python script.py args...` does, from a test, in a fraction of the time.

A fresh interpreter spends about 0.8 s starting and importing NumPy, tinygen and matplotlib before
an example's first step, longer than most of the examples' short runs in the tests (the suite
starts about two hundred). Where the system has fork (Linux, macOS), `run_python` forks the test
process, which has those imported already, and runs the script in the child as the interpreter
would run it: as `__main__`, with `sys.argv` set, the script's folder first on `sys.path`, the
default warning filters, stdout and stderr on files of their own, and the exit status of its
`SystemExit` (1, with the traceback on stderr, for any other exception). Whatever the script
changes (tinygen's random generator, its thread count, modules) ends with the child.

A run that sets environment variables, which tinygen and the BLAS library read as they are
imported, gets a real new interpreter; so does every run where fork is missing, on a machine with
a real GPU (CUDA does not survive a fork), or when TINYGEN_TESTS_SUBPROCESS=1 is set (to check that
the two ways agree).
"""
import io
import os
import pathlib
import re
import runpy
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

from tinygen import backend, data

REPO = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def _warm_up():
    """What every forked run would otherwise do first: import pyplot (as tinygen.viz does, drawing to
    files) and draw a first figure with text, which loads the font."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(1, 1))
    figure.suptitle("digits 0-9")
    figure.savefig(io.BytesIO(), format="png")
    plt.close(figure)


# CUDA does not survive a fork: with a real GPU (tinygen's backend has started CUDA to count the
# devices) every run is a new interpreter. The CuPy stand-in (TINYGEN_FAKE_CUPY=1) is plain NumPy.
CAN_FORK = hasattr(os, "fork") and not (backend.gpu_available() and os.environ.get("TINYGEN_FAKE_CUPY") != "1")
if CAN_FORK:
    _warm_up()


def run_python(script, *args, module=False, env=None, cwd=None, timeout=600):
    """(exit status, stdout, stderr) of `python script args` (`python -m script args` with
    module=True), with this checkout's tinygen; env: variables to add."""
    args = [str(arg) for arg in args]
    if env or not CAN_FORK or os.environ.get("TINYGEN_TESTS_SUBPROCESS") == "1":
        command = [sys.executable, *(["-m", script] if module else [str(script)]), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                              env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})
        return done.returncode, done.stdout, done.stderr
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        sys.stdout.flush()
        sys.stderr.flush()
        child = os.fork()
        if child == 0:  # the child: never returns
            _run_as_main(script, args, module, cwd, stdout.fileno(), stderr.fileno())
        status = _wait(child, timeout, script)
        stdout.seek(0)
        stderr.seek(0)
        return status, stdout.read().decode(), stderr.read().decode()


def run_example(script, mnist_dir, out, *extra, status=0):
    """stdout (or, with status != 0, stderr) of examples/`script` on the test split, batch 32
    unless `extra` gives one; the run must end with `status`."""
    batch = [] if "--batch-size" in extra else ["--batch-size", "32"]
    found, stdout, stderr = run_python(EXAMPLES / script, "--data-dir", mnist_dir, "--split", "test", "--out", out,
                                       *batch, *extra)
    assert found == status, f"{script} exited {found}:\n{stdout[-3000:]}\n{stderr[-3000:]}"
    return stdout if status == 0 else stderr


def epochs_of_a_run(script, mnist_dir, out, *extra):
    """The budget, in epochs, that examples/`script` with options `extra` trains for, as its progress
    bar names it ("epoch 1/N"), from a run of one step on the test split without metrics.

    In a forked run the first progress bar ends the run as it is made (tinygen.data.progress_bar
    is swapped for one that writes its title and exits): the budget is known before any step, and
    the run's training and its end would cost the suite a second or more each. A run in a new
    interpreter has the real bar, and takes its one step."""
    real_bar = data.progress_bar

    def title_and_stop(iterable=None, **options):
        print(options.get("desc"), file=sys.stderr)
        raise SystemExit(0)

    data.progress_bar = title_and_stop
    try:
        status, _, stderr = run_python(EXAMPLES / script, "--data-dir", mnist_dir, "--split", "test", "--out", out,
                                       "--max-steps", "1", "--no-metrics", *extra)
    finally:
        data.progress_bar = real_bar
    found = re.search(r"epoch 1/(\d+)", stderr)
    assert status == 0 and found, f"{script} exited {status}:\n{stderr[-3000:]}"
    return int(found.group(1))


def _run_as_main(script, args, module, cwd, stdout_fd, stderr_fd):
    status = 1
    try:
        os.dup2(stdout_fd, 1)
        os.dup2(stderr_fd, 2)
        sys.stdout = open(1, "w", closefd=False)  # pytest had replaced both with its capture
        sys.stderr = open(2, "w", closefd=False)
        sys.stdin = open(os.devnull)
        _default_warnings()
        if cwd is not None:
            os.chdir(cwd)
        sys.argv = [str(script), *args]
        try:
            if module:  # as `python -m`: the module's code runs afresh as __main__, not the imported copy
                sys.modules.pop(script, None)
                runpy.run_module(script, run_name="__main__", alter_sys=True)
            else:
                sys.path.insert(0, str(pathlib.Path(script).resolve().parent))
                runpy.run_path(str(script), run_name="__main__")
            status = 0
        except SystemExit as exit:  # what the interpreter does with it
            if exit.code is None or isinstance(exit.code, int):
                status = exit.code or 0
            else:
                print(exit.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


def _default_warnings():
    """The warning filters of a fresh interpreter, printed to stderr (pytest records them instead)."""
    warnings.resetwarnings()
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.filterwarnings("ignore", category=category, append=True)
    warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: sys.stderr.write(
        warnings.formatwarning(message, category, filename, lineno, line))


def _wait(child, timeout, script):
    """The child's exit status, as subprocess gives it (-signal if a signal ended it)."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(child, 9)
            os.waitpid(child, 0)
            raise subprocess.TimeoutExpired(str(script), timeout)
        time.sleep(0.005)
