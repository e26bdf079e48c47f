"""Do tinygen's blocks change a product's numbers, on this machine's BLAS?

tinygen cuts a large product into blocks (tinygen/threads.py). Which thread computes a block cannot
change its numbers; whether the blocks together give exactly the uncut product depends on the BLAS
(OpenBLAS picks its kernels by the size of each call). This measures it:

    python benchmarks/blocks_vs_whole.py                      # 1,500 random draws and 40 steps of each model
    python benchmarks/blocks_vs_whole.py --draws 200 --steps 0

Random shapes (m, k, n), each side from 2 to 3,000 (a draw of fewer than PARALLEL_FLOPS multiply-adds,
or of one column, is not cut and is skipped), float32 or float64, each operand plain or transposed:
each product cut as tinygen cuts it and compared bit for bit with the uncut one, both on one BLAS
thread. Then the headline steps: their weights after --steps steps with the blocks on two threads,
against every product whole on one thread.
"""
import argparse
import os
import sys

import numpy as np

import tinygen
from tinygen import threads

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def cut_against_whole(draws, seed):
    """{(rows or columns, dtype): [products cut, products equal to the uncut one]}."""
    tinygen.set_num_threads(1)  # the blocks one after another; threads.matmul sets NumPy's BLAS to one thread
    rng = np.random.default_rng(seed)
    found = {}
    for _ in range(draws):
        m, k, n = (int(side) for side in np.exp(rng.uniform(np.log(2), np.log(3000), 3)))
        if m * k * n < threads.PARALLEL_FLOPS or n == 1:
            continue
        dtype = rng.choice(["float32", "float64"])
        a, b = (rng.standard_normal(shape).astype(dtype) for shape in [(m, k), (k, n)])
        a, b = (np.asfortranarray(x) if rng.random() < 0.5 else x for x in (a, b))  # plain or transposed
        in_blocks = threads.matmul(a, b)  # cut into rows where m >= n, else into columns
        counts = found.setdefault(("rows" if m >= n else "columns", dtype), [0, 0])
        counts[0] += 1
        counts[1] += bool(np.array_equal(in_blocks, a @ b))
    return found


def weights_after(model, batch, steps, whole):
    """The weights of `model` after `steps` benchmark steps, every product whole (on one thread) or in blocks on two."""
    import workloads

    made = []
    real_init = tinygen.optim.Adam.__init__

    def recording(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        made.append(self)

    tinygen.optim.Adam.__init__ = recording
    threads.PARALLEL_FLOPS, before = (float("inf") if whole else threads.PARALLEL_FLOPS), threads.PARALLEL_FLOPS
    tinygen.set_num_threads(2)
    try:
        step = workloads.make_step("tinygen", model, batch)
        for _ in range(steps):
            step()
    finally:
        tinygen.optim.Adam.__init__, threads.PARALLEL_FLOPS = real_init, before
    return [p.numpy() for optimizer in made for p in optimizer.params]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1500, help="random shapes drawn (default 1500)")
    parser.add_argument("--steps", type=int, default=40, help="steps of each headline model (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"numpy {np.__version__}; products of {threads.PARALLEL_FLOPS / 1e6:g}M multiply-adds or more cut "
          f"into {threads.CHUNKS} blocks, the first {threads.HEAD_START_FLOPS / 1e6:g}M larger")
    for (axis, dtype), (cut, equal) in sorted(cut_against_whole(args.draws, args.seed).items()):
        print(f"{dtype} cut into {axis}: {equal} of {cut} equal to the uncut product")
    if args.steps:
        for model, batch in [("vanilla_gan", 64), ("dcgan", 64), ("vae", 128), ("vae", 64)]:
            same = all(np.array_equal(a, b) for a, b in zip(weights_after(model, batch, args.steps, whole=False),
                                                           weights_after(model, batch, args.steps, whole=True)))
            print(f"{model} b{batch}, {args.steps} steps: weights {'the same bits' if same else 'DIFFERENT'} "
                  f"as with every product whole")


if __name__ == "__main__":
    main()
