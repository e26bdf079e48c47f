"""Where one tinygen training step spends its time: each op's forward and backward, the optimiser, the rest.

    python benchmarks/profile_step.py dcgan 64
    python benchmarks/profile_step.py vanilla_gan 64 --steps 50

The step is the one `step_time.py` times (see workloads.py). Every op (a Function) is timed in
its forward and in its backward; a backward that calls other ops (they are tinygen ops too) is
charged only its own time, and what its inner ops take is theirs: the matrix products of a
Linear layer's backward are MatMul calls with forwards of their own. The optimisers' `step` is timed
as a whole. "engine" is what no op and no optimiser claims: building and walking the graph, the
layers' Python, the loss's checks. The timers cost a few microseconds per op, so the profiled step
is a little slower than the plain one; both are printed.
"""
import argparse
import collections
import os
import sys
import time

# The thread count must be fixed before NumPy (and its BLAS) is imported.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blas_threads  # noqa: E402

blas_threads.from_command_line()

import numpy as np  # noqa: E402
import workloads  # noqa: E402


class Profile:
    """Own time and call count per key; time spent in a timed call inside another is the inner one's."""

    def __init__(self):
        self.own = collections.Counter()  # key -> seconds, nested timed calls excluded
        self.calls = collections.Counter()
        self.open = []  # per timed call in progress: seconds its nested timed calls took so far

    def timed(self, key, function, *args):
        self.open.append(0.0)
        start = time.perf_counter()
        try:
            return function(*args)
        finally:
            elapsed = time.perf_counter() - start
            self.own[key] += elapsed - self.open.pop()
            self.calls[key] += 1
            if self.open:
                self.open[-1] += elapsed

    def clear(self):
        self.own.clear()
        self.calls.clear()


def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


def instrument(profile):
    """Time every Function's __call__ (its forward) and backward, and every optimiser's step."""
    from tinygen import optim
    from tinygen.autograd import Function

    call = Function.__call__
    Function.__call__ = lambda self, *inputs: profile.timed((type(self).__name__, "forward"), call, self, *inputs)
    for cls in set(subclasses(Function)):
        if "backward" in vars(cls):
            backward = cls.backward
            cls.backward = lambda self, g, backward=backward: profile.timed((type(self).__name__, "backward"),
                                                                            backward, self, g)
    for cls in set(subclasses(optim.Optimizer)):
        step = cls.step
        cls.step = lambda self, step=step: profile.timed((f"{type(self).__name__}.step", "step"), step, self)


def median_ms(step, steps):
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def profile_step(model, batch, steps=20, warmup=5):
    """(plain step ms, profiled step ms, {(name, phase): (ms per step, calls per step)})."""
    step = workloads.make_step("tinygen", model, batch)
    for _ in range(warmup):
        step()
    plain_ms = median_ms(step, steps)
    profile = Profile()
    instrument(profile)
    for _ in range(warmup):
        step()
    profile.clear()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    profiled_ms = 1000 * (time.perf_counter() - start) / steps
    rows = {key: (1000 * seconds / steps, profile.calls[key] / steps) for key, seconds in profile.own.items()}
    return plain_ms, profiled_ms, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(workloads.LATENT))
    parser.add_argument("batch", type=int)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", default="2")
    args = parser.parse_args()
    plain_ms, profiled_ms, rows = profile_step(args.model, args.batch, args.steps, args.warmup)

    by_name = collections.defaultdict(lambda: {"forward": 0.0, "backward": 0.0, "step": 0.0, "calls": 0.0})
    for (name, phase), (ms, calls) in rows.items():
        by_name[name][phase] += ms
        if phase != "backward":  # count the calls, not the backwards of those calls
            by_name[name]["calls"] += calls
    claimed = sum(ms for ms, _ in rows.values())
    print(f"{args.model}, batch {args.batch}, {args.threads} threads: plain step {plain_ms:.2f} ms, "
          f"profiled step {profiled_ms:.2f} ms (median of {args.steps} / mean of {args.steps})")
    print(f"{'op':<20} {'calls':>6} {'forward ms':>11} {'backward ms':>12} {'total ms':>9} {'share':>6}")
    order = sorted(by_name, key=lambda n: -sum(by_name[n][p] for p in ("forward", "backward", "step")))
    for name in order:
        r = by_name[name]
        total = r["forward"] + r["backward"] + r["step"]
        forward = r["step"] if r["step"] else r["forward"]
        print(f"{name:<20} {r['calls']:>6.1f} {forward:>11.2f} {r['backward']:>12.2f} {total:>9.2f} "
              f"{total / profiled_ms:>6.1%}")
    engine = profiled_ms - claimed
    print(f"{'engine':<20} {'':>6} {'':>11} {'':>12} {engine:>9.2f} {engine / profiled_ms:>6.1%}")


if __name__ == "__main__":
    main()
