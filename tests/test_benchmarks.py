"""The benchmark script runs and reports what it promises (a smoke test: its timings are not checked)."""
import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_step_time_benchmark_runs_and_reports(tmp_path):
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "step_time.py"), "--cases", "vae:64", "vae:128", "--repeats", "1",
         "--warmup", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "vae" in done.stdout and "tinygen ms" in done.stdout
    result = json.loads(out.read_text())
    rows = result["cases"]
    assert [(row["model"], row["batch"]) for row in rows] == [("vae", 64), ("vae", 128)]
    for row in rows:
        assert row["tinygen_ms"] > 0 and row["tinygen_mb"] > 0
        assert row["gflop"] > 0.1  # the floor saw the step's matrix products
    assert rows[1]["gflop"] > 1.9 * rows[0]["gflop"]  # twice the batch, twice the products
    (growth,) = result["batch_growth"]
    assert growth["model"] == "vae" and growth["batches"] == [64, 128] and growth["tinygen"] > 0
