"""tests/script_runs.py: a script run in a fork of the test process gives what a new interpreter
gives (exit status, stdout, stderr), and nothing it changes reaches the tests."""
import sys

import pytest

import tinygen
import script_runs

SCRIPT = '''
import sys, warnings
import tinygen
print("argv", sys.argv[1:], "name", __name__, "path0", sys.path[0].endswith("scripts"))
print("to stderr", file=sys.stderr)
warnings.warn("careful")
tinygen.manual_seed(123)  # changes the generator: in the child only
if sys.argv[1] == "exit":
    sys.exit(int(sys.argv[2]))
if sys.argv[1] == "message":
    sys.exit("a message")
if sys.argv[1] == "raise":
    raise ValueError("boom")
'''


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "scripts" / "show.py"
    path.parent.mkdir()
    path.write_text(SCRIPT)
    return path


@pytest.mark.parametrize("args", [["ok"], ["exit", "3"], ["message"], ["raise"]])
def test_a_forked_run_gives_what_a_new_interpreter_gives(script, args, monkeypatch):
    forked = script_runs.run_python(script, *args)
    monkeypatch.setenv("TINYGEN_TESTS_SUBPROCESS", "1")
    fresh = script_runs.run_python(script, *args)
    assert forked[0] == fresh[0] == {"ok": 0, "exit": 3, "message": 1, "raise": 1}[args[0]]
    assert forked[1] == fresh[1] and f"argv {args}" in forked[1] and "name __main__ path0 True" in forked[1]
    # stderr: the same lines (a traceback's frames name the same script and line)
    assert forked[2].splitlines()[-1] == fresh[2].splitlines()[-1]
    assert "to stderr" in forked[2] and "UserWarning: careful" in forked[2] and "UserWarning: careful" in fresh[2]


def test_nothing_the_script_changes_reaches_the_test(script):
    tinygen.manual_seed(7)
    expected = tinygen.randn(3).numpy()
    tinygen.manual_seed(7)
    modules = set(sys.modules)
    script_runs.run_python(script, "ok")
    assert (tinygen.randn(3).numpy() == expected).all()
    assert set(sys.modules) == modules


def test_a_run_past_its_timeout_is_stopped(tmp_path):
    path = tmp_path / "forever.py"
    path.write_text("while True: pass\n")
    with pytest.raises(script_runs.subprocess.TimeoutExpired):
        script_runs.run_python(path, timeout=0.5)
