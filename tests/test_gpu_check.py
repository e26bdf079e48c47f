"""benchmarks/gpu_check.sh, the GPU proof in one command, checked on a machine without a GPU: its
plan, its argument errors, and its running of the stages, with a stand-in for python that plays each
stage (passing, failing or hanging as told), and for real up to where the GPU is missing."""
import os
import shutil
import stat
import subprocess

import pytest

from test_examples import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
DATA = REPO.parent / "shared" / "data" / "mnist"

FAKE_PYTHON = r"""#!/usr/bin/env bash
# A stand-in for python3. FAKE_FAIL names a stage that fails, FAKE_HANG one that hangs.
stage=unknown
case "$1" in
    -c) exit 1 ;;  # `import xdist`: not installed here
    -) cat > /dev/null; stage=setup ;;
    -m) stage=tests ;;
    examples/dcgan_mnist.py) stage=dcgan ;;
    benchmarks/step_time.py) stage=step_time ;;
esac
echo "fake $stage: $*"
if [ "${FAKE_HANG:-}" = "$stage" ]; then sleep 60; fi
if [ "${FAKE_FAIL:-}" = "$stage" ]; then echo "fake failure"; exit 3; fi
case $stage in
    tests)
        if [[ " $* " == *" -m gpu "* ]]; then  # the device tests
            if [ -z "${FAKE_NO_CUDA:-}" ]; then
                echo "tests/test_backend.py::test_a[cuda] PASSED"
                echo "tests/test_ops.py::test_b[cuda-float32] PASSED"
            fi
            echo "============ 2 passed in 1.00s ============"
        else
            echo "tests/test_backend.py::test_a[cpu] PASSED"
            echo "============ 1 passed in 1.00s ============"
        fi ;;
    dcgan)
        out=${@: -1}; mkdir -p "$out"; echo png > "$out/samples_epoch_001.png"; echo '{}' > "$out/metrics.json" ;;
    step_time)
        echo '{}' > "${@: -1}"; echo "model        batch  tinygen ms"; echo "dcgan           64        9.9" ;;
esac
"""


def run_script(*arguments, python=None, **environment):
    env = {**os.environ, **environment}
    if python is not None:
        env["PYTHON"] = str(python)
    return subprocess.run(["bash", str(SCRIPT), *map(str, arguments)], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.fixture
def fake_python(tmp_path):
    path = tmp_path / "fake_python"
    path.write_text(FAKE_PYTHON)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def summary_lines(out):
    return (out / "summary.txt").read_text().splitlines()


def stage_line(out, stage):
    (line,) = [line for line in summary_lines(out) if line.startswith(f"{stage} ") and "log)" in line]
    return line


def test_the_script_is_valid_bash():
    done = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_plan_fits_in_eight_minutes_and_proves_each_thing(data_dir, tmp_path):
    done = run_script("--dry-run", data_dir, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "out").exists()  # a dry run writes nothing
    first, *stages = done.stdout.splitlines()
    total = int(first.split(" stages, ")[1].split(" s at most")[0])
    assert total <= 480 and total == sum(int(line.split()[1]) for line in stages)
    assert [line.split()[0] for line in stages] == ["setup", "tests", "dcgan", "step_time"]
    assert "-m pytest" in stages[1]
    assert f"examples/dcgan_mnist.py --data-dir {data_dir} --split test --epochs 1 --device cuda" in stages[2]
    assert "benchmarks/step_time.py --device cuda" in stages[3]


@pytest.mark.parametrize("arguments, message", [
    ([], "usage: bash benchmarks/gpu_check.sh [--dry-run] DATA_DIR OUT_DIR"),
    (["only-one"], "usage: bash benchmarks/gpu_check.sh [--dry-run] DATA_DIR OUT_DIR"),
    (["/no/such/folder", "out"], "gpu_check: DATA_DIR /no/such/folder is not a folder (usage: "),
])
def test_wrong_arguments_are_one_line_and_exit_2(arguments, message):
    done = run_script(*arguments)
    assert done.returncode == 2
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1


def test_all_stages_pass(fake_python, data_dir, tmp_path):
    out = tmp_path / "out"
    done = run_script(data_dir, out, python=fake_python)
    assert done.returncode == 0, done.stdout + done.stderr
    for stage in ("setup", "tests", "dcgan", "step_time"):
        assert " passed " in stage_line(out, stage)
    summary = "\n".join(summary_lines(out))
    assert "gpu_check: 2 device tests (-m gpu) passed on cuda, 0 failed, errored or skipped" in summary
    assert "2 passed in 1.00s" in summary and "dcgan           64" in summary
    files = sorted(p.name for p in out.iterdir())
    assert files == ["dcgan.log", "dcgan_metrics.json", "dcgan_samples_epoch_001.png", "setup.log",
                     "step_time.json", "step_time.log", "summary.txt", "tests.log"]  # 8: what comes back
    log = (out / "tests.log").read_text()
    assert 'fake tests: -m pytest' in log and "-m not gpu and not slow" in log and " -m gpu" in log


def test_a_failed_stage_is_reported_and_the_others_still_run(fake_python, data_dir, tmp_path):
    out = tmp_path / "out"
    done = run_script(data_dir, out, python=fake_python, FAKE_FAIL="tests")
    assert done.returncode == 1
    assert "FAILED: exit 3" in stage_line(out, "tests")
    assert " passed " in stage_line(out, "dcgan") and " passed " in stage_line(out, "step_time")


def test_no_test_on_cuda_is_a_failure(fake_python, data_dir, tmp_path):
    out = tmp_path / "out"
    done = run_script(data_dir, out, python=fake_python, FAKE_NO_CUDA="1")
    assert done.returncode == 1
    assert "FAILED: exit 1" in stage_line(out, "tests")
    assert "gpu_check: no test ran on cuda" in (out / "tests.log").read_text()


def test_a_stage_that_hangs_is_stopped_at_its_limit(fake_python, data_dir, tmp_path):
    out = tmp_path / "out"
    done = run_script(data_dir, out, python=fake_python, FAKE_HANG="dcgan", GPU_CHECK_DCGAN_S="1")
    assert done.returncode == 1
    assert "FAILED: timed out after 1 s" in stage_line(out, "dcgan")
    assert " passed " in stage_line(out, "step_time")


def test_without_setup_nothing_else_runs(fake_python, data_dir, tmp_path):
    out = tmp_path / "out"
    done = run_script(data_dir, out, python=fake_python, FAKE_FAIL="setup")
    assert done.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == ["setup.log", "summary.txt"]
    assert "gpu_check: setup failed, the other stages were not run" in summary_lines(out)


def test_for_real_without_a_gpu_the_setup_says_so(tmp_path):
    """The real setup stage, as far as a machine without a GPU goes (CI installs CuPy for it)."""
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed: `pip install cupy-cuda12x` (no GPU needed)")
    from tinygen import backend

    if backend.gpu_available():
        pytest.skip("a GPU is here: `bash benchmarks/gpu_check.sh DATA_DIR OUT_DIR` is the real check")
    if not DATA.is_dir():
        pytest.skip(f"no MNIST in {DATA}")
    out = tmp_path / "out"
    done = run_script(DATA, out, python=shutil.which("python") or "python3")
    assert done.returncode == 1
    assert "FAILED: exit 1" in stage_line(out, "setup")
    log = (out / "setup.log").read_text()
    assert f"cupy {cupy.__version__}" in log
    assert "no CUDA GPU visible to CuPy (cupy.cuda.runtime.getDeviceCount() failed): nothing to prove here" in log
