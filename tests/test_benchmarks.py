"""The benchmark script runs and reports what it promises (a smoke test: its timings are not checked)."""
import json
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def run_step_time(tmp_path, *options):
    """benchmarks/step_time.py with one short turn per case; its JSON result."""
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "step_time.py"), "--repeats", "1", "--warmup", "1",
         "--settle-seconds", "0", "--json", str(out), *options],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "vae" in done.stdout and "tinygen ms" in done.stdout
    return json.loads(out.read_text())


def test_step_time_benchmark_runs_and_reports(tmp_path):
    result = run_step_time(tmp_path, "--cases", "vae:64", "vae:128", "--without-torch")
    rows = result["cases"]
    assert [(row["model"], row["batch"]) for row in rows] == [("vae", 64), ("vae", 128)]
    for row in rows:
        assert row["tinygen_ms"] > 0 and row["tinygen_mb"] > 0
        assert row["gflop"] > 0.1  # the floor saw the step's matrix products
        assert row["threads"]["tinygen"].startswith("BLAS threads: 1 each;"), row  # the default policy:
        assert "run at once on the cores other programs leave free" in row["threads"]["tinygen"], row  # "auto"
    assert rows[1]["gflop"] > 1.9 * rows[0]["gflop"]  # twice the batch, twice the products
    (growth,) = result["batch_growth"]
    assert growth["model"] == "vae" and growth["batches"] == [64, 128] and growth["tinygen"] > 0


def test_step_time_benchmark_times_pytorch_beside_tinygen(tmp_path):
    """With PyTorch installed (the parity tests' oracle), each case is timed in both libraries, each in
    a process of its own, and the ratio is tinygen's time over PyTorch's."""
    pytest.importorskip("torch")
    (row,) = run_step_time(tmp_path, "--cases", "vae:16")["cases"]
    assert row["tinygen_ms"] > 0 and row["torch_ms"] > 0 and row["torch_mb"] > 0
    assert row["ratio"] == pytest.approx(row["tinygen_ms"] / row["torch_ms"], rel=0.01)


def test_the_thread_policy_asked_for_reaches_the_workers(tmp_path):
    """--parallel-flops and --auto set tinygen's policy in the workers that time it, in both modes
    (tinygen alone: PyTorch's workers are not what this checks)."""
    for options, expected in [(["--parallel-flops", "0"], "products of 0M multiply-adds or more cut into"),
                              (["--parallel-flops", "0"], "run on 2 thread(s) (tinygen.set_num_threads)"),
                              (["--auto"], "run at once on the cores other programs leave free")]:
        out = tmp_path / "result.json"
        done = subprocess.run(
            [sys.executable, str(REPO / "benchmarks" / "step_time.py"), "--cases", "vae:8", "--repeats", "1",
             "--warmup", "1", "--threads", "2", "--without-torch", "--settle-seconds", "0", "--json", str(out), *options],
            capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        (row,) = json.loads(out.read_text())["cases"]
        assert expected in row["threads"]["tinygen"], row


def test_profile_accounts_for_the_whole_step():
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "profile_step.py"), "vae", "16", "--steps", "3", "--warmup", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    profiled_ms = float(lines[0].split("profiled step ")[1].split()[0])
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    calls = {name: float(row[1]) for name, row in rows.items() if name != "engine"}
    # The VAE's five Linear layers run once each; their backwards make 9 matrix products (the
    # first layer's input, the images, needs no gradient), which are MatMul's own calls.
    assert calls["Linear"] == 5 and calls["MatMul"] == 9 and calls["Adam.step"] == 1
    # Own times only: a backward is not charged for the ops it calls, so nothing is counted twice
    # and the ops leave a non-negative remainder (the engine) of the step.
    engine_ms = float(rows["engine"][-2])
    assert 0 <= engine_ms < profiled_ms


def test_blocks_against_whole_products_reports_each_kind_and_each_model():
    """benchmarks/blocks_vs_whole.py (its counts depend on the BLAS and are not checked here)."""
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "blocks_vs_whole.py"), "--draws", "60", "--steps", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("float32 cut into ") and "equal to the uncut product" in line for line in lines), lines
    assert sum("1 steps: weights" in line for line in lines) == 4, lines
