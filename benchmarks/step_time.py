"""Time one training step of the headline models, tinygen against PyTorch, in the same run.

    python benchmarks/step_time.py                      # CPU, 2 threads, batches 64 and 128
    python benchmarks/step_time.py --device cuda        # tinygen on CuPy against PyTorch CUDA
    python benchmarks/step_time.py --under-load         # quiet, then beside a CPU-bound process per core but one

A step is what the examples do: for a GAN a D step and a G step (forward, backward, Adam), for
the VAE one step. The two libraries run the same architecture on the same batch with the same
number of threads, each in a worker process of its own (so neither pays for the other being
loaded), taking turns within this one run.

Printed per case: median step times and the ratio tinygen / PyTorch (the median of the
turn-by-turn ratios, see `measure`); peak memory of each (how much the worker's resident set
grew from just after importing its library, through building the models, to the peak of its
steps); and the floor: the time NumPy's matrix product alone needs for the step's own GEMM
shapes, which no NumPy implementation of the step can beat. PyTorch is optional: without it
tinygen is timed alone.

With --under-load the three headline steps (vanilla GAN 64, DCGAN 64, VAE 128) are timed twice
in the same run: on the quiet machine, and while a background load runs (one CPU-bound process
per core but one, as a laptop busy with something else; stopped at the end). Printed: each
library's loaded/quiet ratio, and tinygen/PyTorch quiet and loaded.

tinygen runs with its own thread policy (tinygen/threads.py: one BLAS thread for every call,
large products cut into blocks of rows run at once on the cores other programs leave free),
PyTorch with --threads. --parallel-flops N gives tinygen set_num_threads(--threads) and
threads.PARALLEL_FLOPS = N in its workers: 0 cuts every product, and its blocks run on --threads
threads whatever the load. --auto gives tinygen set_num_threads("auto"), which is its default.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# The thread count must be fixed before NumPy (and its BLAS) is imported.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blas_threads  # noqa: E402

_threads = blas_threads.from_command_line()

import numpy as np  # noqa: E402
import workloads  # noqa: E402

CASES = [("vanilla_gan", 64), ("vanilla_gan", 128), ("dcgan", 64), ("dcgan", 128), ("vae", 64), ("vae", 128)]
SETTLE_SECONDS = 1.0  # each turn's untimed steps last at least this long (see measure)
UNDER_LOAD_CASES = [("vanilla_gan", 64), ("dcgan", 64), ("vae", 128)]


class Worker:
    """One library's steps, run in a process of its own: each library keeps its own threads and
    memory, and neither pays for the other being loaded. The parent sends "run N" and gets back
    the N step times; at the end "memory" gives the peak growth of the resident set."""

    def __init__(self, library, model, batch, device, parallel_flops=None, auto=False):
        command = [sys.executable, os.path.abspath(__file__), "--threads", _threads, "--device", device,
                   "--worker", library, model, str(batch)]
        if parallel_flops is not None:
            command += ["--parallel-flops", str(parallel_flops)]
        if auto:
            command += ["--auto"]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.threads = self.ask("ready")  # the thread policy the worker runs under, in words

    def ask(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"benchmark worker died on {line!r}")
        return json.loads(answer)

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


def serve(library, model, batch, device, parallel_flops=None, auto=False):
    """(In the worker process.) Build the models, then answer the parent's requests."""
    def status_mb(field):  # VmRSS: resident now; VmHWM: the peak ("high water mark")
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith(field + ":"))
        return int(line.split()[1]) / 1024

    workloads.import_library(library)  # importing the library is not counted in its memory
    workloads.set_threads(library, int(_threads))
    if library == "tinygen" and parallel_flops is not None:  # tinygen's policy with --threads for large products
        import tinygen.threads

        tinygen.threads.PARALLEL_FLOPS = parallel_flops
        tinygen.set_num_threads(int(_threads))
    if library == "tinygen" and auto:
        import tinygen

        tinygen.set_num_threads("auto")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak to what is resident now (Linux)
    before = status_mb("VmRSS")
    step = workloads.make_step(library, model, batch, device)
    synchronize = workloads.synchronizer(library, device)
    for line in sys.stdin:
        command = line.split()
        if command[0] == "ready":
            answer = workloads.thread_policy(library)
        elif command[0] == "settle":  # untimed steps: at least N of them, for at least S seconds
            seconds, steps = float(command[1]), int(command[2])
            start, taken = time.perf_counter(), 0
            while taken < steps or time.perf_counter() - start < seconds:
                step()
                taken += 1
            synchronize()
            answer = taken
        elif command[0] == "run":
            answer = []
            for _ in range(int(command[1])):
                synchronize()
                start = time.perf_counter()
                step()
                synchronize()
                answer.append(time.perf_counter() - start)
        elif command[0] == "memory":
            answer = status_mb("VmHWM") - before
        print(json.dumps(answer), flush=True)


def measure(libraries, model, batches, device, repeats, warmup, block=10, settle=5, parallel_flops=None, auto=False,
            settle_seconds=SETTLE_SECONDS):
    """Step times of one model at each batch size in each library, taken turn by turn.

    Every (library, batch) has a worker, and the workers take turns, `repeats` turns each, so
    that slow drifts of the machine hit all alike. A turn is `settle` steps that are not timed,
    and at least `settle_seconds` of them (the previous worker's threads may still be spinning on
    the cores for a moment, which tinygen's default policy would take for another program's work
    for as long as its last look at the machine, half a second, saw them; and caches are cold),
    and then `block` timed steps. The machine's speed changes by tens of percent over
    minutes here, so comparisons are made turn by turn, between neighbouring turns that saw the
    same machine, and the median of those is reported:

        ratio[batch]   = median over turns of  tinygen's median / PyTorch's median
        growth[lib]    = median over turns of  (largest batch's median) / (smallest batch's median)

    Returns {batch: {"ms": {lib: median ms}, "ratio": ..., "memory": {lib: MB}}} and growth.
    """
    keys = [(lib, batch) for batch in batches for lib in libraries]
    workers = {key: Worker(key[0], model, key[1], device, parallel_flops, auto) for key in keys}
    try:
        for worker in workers.values():
            worker.ask(f"run {warmup}")
        turns = []  # per turn: {(lib, batch): median seconds of its block}
        times = {key: [] for key in keys}
        for _ in range(repeats):
            turn = {}
            for key, worker in workers.items():
                worker.ask(f"settle {settle_seconds} {settle}")
                block_times = worker.ask(f"run {block}")
                times[key] += block_times
                turn[key] = statistics.median(block_times)
            turns.append(turn)
        memory = {key: worker.ask("memory") for key, worker in workers.items()}
    finally:
        for worker in workers.values():
            worker.close()

    def paired(a, b):  # median over turns of a's time / b's time
        return statistics.median(turn[a] / turn[b] for turn in turns)

    results = {}
    for batch in batches:
        results[batch] = {
            "ms": {lib: 1000 * statistics.median(times[(lib, batch)]) for lib in libraries},
            "ratio": paired(("tinygen", batch), ("torch", batch)) if "torch" in libraries else None,
            "memory": {lib: memory[(lib, batch)] for lib in libraries},
            "threads": {lib: workers[(lib, batch)].threads for lib in libraries},
        }
    growth = {lib: paired((lib, max(batches)), (lib, min(batches))) for lib in libraries} if len(batches) > 1 else {}
    return results, growth


class BackgroundLoad:
    """`processes` CPU-bound Python processes (a busy loop each), running until stop()."""

    def __init__(self, processes):
        self.processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
        time.sleep(1)  # let them reach the cores

    def stop(self):
        for process in self.processes:
            process.kill()
            process.wait()


def under_load(libraries, cases, repeats, warmup, parallel_flops, auto=False, settle_seconds=SETTLE_SECONDS):
    """Each case quiet and then loaded, in this one run; returns the rows and prints the table."""
    load_processes = max(len(os.sched_getaffinity(0)) - 1, 1)
    print(f"background load: {load_processes} CPU-bound process(es), one per core but one")
    print(f"{'model':<12} {'batch':>5} {'library':<8} {'quiet ms':>9} {'loaded ms':>10} {'loaded/quiet':>13}")
    rows = []
    for model, batch in cases:
        quiet, _ = measure(libraries, model, [batch], "cpu", repeats, warmup, parallel_flops=parallel_flops, auto=auto,
                           settle_seconds=settle_seconds)
        load = BackgroundLoad(load_processes)
        try:
            loaded, _ = measure(libraries, model, [batch], "cpu", repeats, warmup, parallel_flops=parallel_flops, auto=auto,
                                settle_seconds=settle_seconds)
        finally:
            load.stop()
        row = {"model": model, "batch": batch}
        for lib in libraries:
            q, l = quiet[batch]["ms"][lib], loaded[batch]["ms"][lib]
            row[lib] = {"quiet_ms": q, "loaded_ms": l, "loaded_over_quiet": l / q}
            print(f"{model:<12} {batch:>5} {lib:<8} {q:9.1f} {l:10.1f} {l / q:13.2f}", flush=True)
        if "torch" in libraries:
            row["tinygen_over_torch"] = {"quiet": quiet[batch]["ratio"], "loaded": loaded[batch]["ratio"]}
            print(f"{model:<12} {batch:>5} tinygen/torch: {quiet[batch]['ratio']:.2f} quiet, "
                  f"{loaded[batch]['ratio']:.2f} loaded", flush=True)
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="2")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=8, help="turns per worker (10 timed steps each)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=None, help="e.g. dcgan:64 vae:128")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--under-load", action="store_true",
                        help="time the headline steps quiet and beside a CPU-bound process per core but one")
    parser.add_argument("--parallel-flops", type=int, default=None,
                        help="tinygen workers: set_num_threads(--threads) and this PARALLEL_FLOPS (0: every product "
                             "on --threads threads)")
    parser.add_argument("--auto", action="store_true",
                        help="tinygen workers: set_num_threads('auto') (the default): large products' blocks on the free cores")
    parser.add_argument("--settle-seconds", type=float, default=SETTLE_SECONDS,
                        help=f"each turn's untimed steps last at least this long (default {SETTLE_SECONDS:g})")
    parser.add_argument("--without-torch", action="store_true",
                        help="time tinygen alone (no ratios), even where PyTorch is installed")
    parser.add_argument("--worker", nargs=3, metavar=("LIBRARY", "MODEL", "BATCH"), default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        library, model, batch = args.worker
        return serve(library, model, int(batch), args.device, args.parallel_flops, args.auto)

    libraries = ["tinygen"] + (["torch"] if workloads.torch_available() and not args.without_torch else [])
    if args.under_load:
        if args.device != "cpu":
            parser.error("--under-load times the CPU: leave --device at cpu")
        cases = UNDER_LOAD_CASES if not args.cases else [(c.split(":")[0], int(c.split(":")[1])) for c in args.cases]
        print(f"{args.threads} threads, {args.repeats} alternating turns of 5 settling steps (at least {args.settle_seconds:g} s) + 10 timed steps; numpy "
              f"{np.__version__}" + (f", torch {workloads.torch_version()}" if "torch" in libraries else ", no PyTorch"))
        rows = under_load(libraries, cases, args.repeats, args.warmup, args.parallel_flops, args.auto, args.settle_seconds)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"under_load": rows, "parallel_flops": args.parallel_flops, "auto": args.auto}, f, indent=1)
        return

    cases = CASES if not args.cases else [(c.split(":")[0], int(c.split(":")[1])) for c in args.cases]
    models = {}  # model -> its batch sizes, in the order given
    for model, batch in cases:
        models.setdefault(model, []).append(batch)
    print(f"device {args.device}, {args.threads} threads, {args.repeats} alternating turns of 5 settling steps (at least {args.settle_seconds:g} s) + 10 timed steps; "
          f"numpy {np.__version__}" + (f", torch {workloads.torch_version()}" if "torch" in libraries else ", no PyTorch"))
    header = f"{'model':<12} {'batch':>5} {'tinygen ms':>11} {'torch ms':>9} {'ratio':>6} {'floor ms':>9} " \
             f"{'GFLOP':>6} {'tinygen MB':>11} {'torch MB':>9} {'mem ratio':>9}"
    print(header)
    fmt = lambda v, spec: format(v, spec) if v is not None else "-".rjust(int(spec.split(".")[0]))  # noqa: E731
    rows, growths = [], []
    for model, batches in models.items():
        results, growth = measure(libraries, model, batches, args.device, args.repeats, args.warmup,
                                  parallel_flops=args.parallel_flops, auto=args.auto, settle_seconds=args.settle_seconds)
        for batch in batches:
            ms, ratio, memory = results[batch]["ms"], results[batch]["ratio"], results[batch]["memory"]
            floor_ms, gflop = workloads.gemm_floor(model, batch) if args.device == "cpu" else (None, None)
            mem_ratio = memory["tinygen"] / memory["torch"] if "torch" in memory else None
            rows.append({"model": model, "batch": batch, "tinygen_ms": ms["tinygen"], "torch_ms": ms.get("torch"),
                         "ratio": ratio, "floor_ms": floor_ms, "gflop": gflop, "tinygen_mb": memory["tinygen"],
                         "torch_mb": memory.get("torch"), "threads": results[batch]["threads"]})
            print(f"{model:<12} {batch:>5} {fmt(ms['tinygen'], '11.1f')} {fmt(ms.get('torch'), '9.1f')} "
                  f"{fmt(ratio, '6.2f')} {fmt(floor_ms, '9.1f')} {fmt(gflop, '6.2f')} "
                  f"{fmt(memory['tinygen'], '11.1f')} {fmt(memory.get('torch'), '9.1f')} {fmt(mem_ratio, '9.2f')}",
                  flush=True)
        if growth:
            growths.append({"model": model, "batches": [min(batches), max(batches)], **growth})
    for g in growths:
        small, large = g["batches"]
        costs = ", ".join(f"{lib} {g[lib]:.2f}x" for lib in libraries)
        print(f"{g['model']}: batch {large} costs {costs} of batch {small} (turn by turn)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cases": rows, "batch_growth": growths}, f, indent=1)


if __name__ == "__main__":
    main()
