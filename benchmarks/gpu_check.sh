#!/usr/bin/env bash
# The GPU path, proved in one command on a machine with a CUDA GPU, in at most 8 minutes:
#
#   bash benchmarks/gpu_check.sh DATA_DIR OUT_DIR          # run it
#   bash benchmarks/gpu_check.sh --dry-run DATA_DIR OUT_DIR  # print the plan, run nothing
#
# DATA_DIR holds the MNIST test split (t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz), as
# ../shared/data/mnist does. OUT_DIR receives summary.txt and one log per stage (8 files at most).
# The stages, each under its own time limit (`timeout`), one after another:
#   setup      CuPy imports and sees the GPU (pip installs cupy-cuda12x where it is missing);
#              tinygen is used from this checkout (PYTHONPATH), nothing to build
#   tests      python -m pytest: the whole suite, in two runs: -m "not gpu" (the CPU side), then -m gpu,
#              the selection CI runs on the CuPy stand-in (TINYGEN_FAKE_CUPY=1), here on the real CuPy,
#              so that the stand-in and CuPy cannot drift apart unseen
#   dcgan      examples/dcgan_mnist.py for one epoch on --device cuda, with its metrics
#   step_time  benchmarks/step_time.py --device cuda: tinygen on CuPy against PyTorch CUDA
# A failed stage is reported and the next one still runs, except after setup: without a GPU
# nothing else would prove anything. The exit status is 0 only when every stage passed.
# PYTHON names the interpreter (default: python3).
set -uo pipefail

usage="usage: bash benchmarks/gpu_check.sh [--dry-run] DATA_DIR OUT_DIR"
dry_run=0
if [ "${1:-}" = "--dry-run" ]; then
    dry_run=1
    shift
fi
if [ $# -ne 2 ]; then
    echo "$usage" >&2
    exit 2
fi
REPO=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$1" ]; then
    echo "gpu_check: DATA_DIR $1 is not a folder ($usage)" >&2
    exit 2
fi
DATA=$(cd "$1" && pwd)
OUT=$2
PY=${PYTHON:-python3}

# Seconds per stage: 20 + 300 + 60 + 100 = 480, the 8 minutes. On the first GPU machine (an H200)
# setup took 3 s, the DCGAN epoch 7 s and step_time 78 s.
# (GPU_CHECK_<STAGE>_S changes one; the tests of this script use that.)
SETUP_S=${GPU_CHECK_SETUP_S:-20}
TESTS_S=${GPU_CHECK_TESTS_S:-300}
DCGAN_S=${GPU_CHECK_DCGAN_S:-60}
STEP_TIME_S=${GPU_CHECK_STEP_TIME_S:-100}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export TINYGEN_DATA="$WORK/cache"  # a fresh library cache; the data is linked into it below
export CI=true                     # fixed hypothesis draws; a missing MNIST is a failure, not a skip

# pytest runs on several processes where pytest-xdist is installed: one worker per two cores, each
# with two BLAS threads. (Eight workers of 16 BLAS threads each on 16 cores thrashed: the suite ran
# past 240 s at 40% on the first GPU machine, an H200 with 16 cores.)
WORKERS=$(( $(nproc) / 2 > 1 ? $(nproc) / 2 : 1 ))
pytest_command() {
    local parallel=()
    if "$PY" -c "import xdist" 2>/dev/null; then parallel=(-n "$WORKERS"); fi
    echo "$PY" -m pytest -v -rfEs --durations=15 "${parallel[@]}"
}

plan() {
    cat <<EOF
gpu_check: 4 stages, $((SETUP_S + TESTS_S + DCGAN_S + STEP_TIME_S)) s at most; logs and summary.txt in $OUT
  setup      ${SETUP_S} s   $PY: import cupy (else pip install cupy-cuda12x), a CUDA GPU visible; MNIST from $DATA
  tests      ${TESTS_S} s  $(pytest_command) -m "not gpu", then -m gpu (the stand-in's selection, on cuda)
  dcgan      ${DCGAN_S} s   $PY examples/dcgan_mnist.py --data-dir $DATA --split test --epochs 1 --device cuda
  step_time  ${STEP_TIME_S} s  $PY benchmarks/step_time.py --device cuda --repeats 4 --json $OUT/step_time.json
EOF
}

if [ "$dry_run" -eq 1 ]; then
    plan
    exit 0
fi

mkdir -p "$OUT" || { echo "gpu_check: cannot create OUT_DIR $OUT" >&2; exit 2; }
OUT=$(cd "$OUT" && pwd)
summary="$OUT/summary.txt"
failed=0
plan | tee "$summary"
echo >> "$summary"

# run_stage NAME SECONDS COMMAND...: the command's output goes to OUT/NAME.log; one line to the summary.
run_stage() {
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS status=0
    echo "=== $name: $*" > "$OUT/$name.log"
    (cd "$REPO" && timeout -k 10 "$limit" "$@") >> "$OUT/$name.log" 2>&1 || status=$?
    local took=$((SECONDS - start)) verdict
    if [ "$status" -eq 0 ]; then
        verdict="passed"
    elif [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        verdict="FAILED: timed out after $limit s"
    else
        verdict="FAILED: exit $status"
    fi
    [ "$status" -eq 0 ] || failed=1
    printf '%-10s %-32s %4d s   (%s.log)\n' "$name" "$verdict" "$took" "$name" | tee -a "$summary"
    return "$status"
}

setup() {
    "$PY" - "$DATA" <<'EOF' || return 1
import pathlib, sys
try:
    import cupy
except ImportError:
    import subprocess
    print("CuPy is not installed: pip install cupy-cuda12x", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "cupy-cuda12x"], check=True)
    import cupy
from tinygen import backend
from tinygen.data import MNIST
print("cupy", cupy.__version__, "from", cupy.__file__)
if not backend.gpu_available():
    sys.exit("no CUDA GPU visible to CuPy (cupy.cuda.runtime.getDeviceCount() failed): nothing to prove here")
props = cupy.cuda.runtime.getDeviceProperties(0)
print("GPU 0:", props["name"].decode(), f"{props['totalGlobalMem'] / 2**30:.0f} GiB")
x = backend.module_for("cuda:0").arange(6.0)
print("a first array on the GPU:", x, x.sum())
data = pathlib.Path(sys.argv[1])
if not all(MNIST.find_file(name, data) for name in MNIST.files["test"]):
    sys.exit(f"no MNIST test split in {data}: expected {' and '.join(MNIST.files['test'])}")
EOF
    # The tests look for MNIST in the library's cache: link the files there.
    mkdir -p "$TINYGEN_DATA/mnist"
    for file in "$DATA"/*idx*-ubyte* "$DATA"/mnist/*idx*-ubyte*; do
        if [ -f "$file" ]; then ln -sf "$file" "$TINYGEN_DATA/mnist/"; fi
    done
    ls -l "$TINYGEN_DATA/mnist"
}

tests() {
    local status=0
    export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 MKL_NUM_THREADS=2
    $(pytest_command) -m "not gpu and not slow" || status=$?
    # The device tests: the selection CI runs on the strict CuPy stand-in, here on the real CuPy.
    echo "gpu_check: -m gpu, the stand-in's selection, on the real CuPy"
    $(pytest_command) -m gpu > "$WORK/gpu_tests.log" 2>&1 || status=$?
    cat "$WORK/gpu_tests.log"
    local gpu_passed gpu_other
    gpu_passed=$(grep -c " PASSED" "$WORK/gpu_tests.log")
    gpu_other=$(grep -cE " (FAILED|SKIPPED|ERROR)" "$WORK/gpu_tests.log")
    echo "gpu_check: $gpu_passed device tests (-m gpu) passed on cuda, $gpu_other failed, errored or skipped"
    if [ "$status" -eq 0 ] && [ "$gpu_passed" -eq 0 ]; then
        echo "gpu_check: no test ran on cuda" >&2
        return 1
    fi
    return "$status"
}

dcgan() {
    "$PY" examples/dcgan_mnist.py --data-dir "$DATA" --split test --epochs 1 --device cuda --out "$WORK/dcgan" || return
    cp "$WORK/dcgan/samples_epoch_001.png" "$OUT/dcgan_samples_epoch_001.png"
    cp "$WORK/dcgan/metrics.json" "$OUT/dcgan_metrics.json"
}

step_time() {
    "$PY" benchmarks/step_time.py --device cuda --repeats 4 --json "$OUT/step_time.json"
}

# Functions run under `timeout` through a child bash that has them.
export -f setup tests dcgan step_time pytest_command
export PY DATA OUT WORK WORKERS

if run_stage setup "$SETUP_S" bash -c setup; then
    run_stage tests "$TESTS_S" bash -c tests
    grep -E "^(gpu_check:|=+ .*(passed|failed|error).* =+$)" "$OUT/tests.log" | tail -2 | tee -a "$summary"
    run_stage dcgan "$DCGAN_S" bash -c dcgan
    run_stage step_time "$STEP_TIME_S" bash -c step_time
    grep -A 20 "^model " "$OUT/step_time.log" | tee -a "$summary"
else
    tail -n 2 "$OUT/setup.log" | tee -a "$summary"
    echo "gpu_check: setup failed, the other stages were not run" | tee -a "$summary"
fi
exit "$failed"
