"""The graph tinygen records for loss = (x * w + x).sum(), drawn from the engine's own objects.

The script builds the expression with tinygen, then walks the real graph from the loss: each
tensor's `.creator` (the Function that made it) and each function's `.inputs` (its parents).
Tensors are boxes, functions are ellipses, arrows run forward (parent -> child). Each function is
labelled with its place in the backward order (newest first, `run_backward`), and each arrow with
the gradient that function's own `backward` sends back along it (red): x gets two, which add up.

    python docs/figures/graph.py --out docs/images      # writes tour_graph.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import tinygen as tg  # noqa: E402
from _figure import command_line, save  # noqa: E402  (docs/figures/_figure.py)


def build():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = tg.tensor([0.5, -1.0, 2.0], requires_grad=True)
    h = x * w
    y = h + x
    loss = y.sum()
    return loss, {id(x): "x", id(w): "w", id(h): "h = x * w", id(y): "y = h + x", id(loss): "loss = y.sum()"}


def walk(loss):
    """Every tensor and function reachable from `loss`, and the edges parent -> child."""
    tensors, functions, edges = {id(loss): loss}, {}, []
    todo = [loss]
    while todo:
        t = todo.pop()
        fn = t.creator
        if fn is None or id(fn) in functions:
            continue
        functions[id(fn)] = fn
        edges.append((fn, t))
        for i, parent in enumerate(fn.inputs):
            edges.append((parent, fn, i))
            if id(parent) not in tensors:
                tensors[id(parent)] = parent
                todo.append(parent)
    return tensors, functions, edges


def levels(tensors, functions):
    """Column of each node: leaves at 0, a function one right of its rightmost input, its output one further."""
    level = {}

    def of_tensor(t):
        if id(t) not in level:
            level[id(t)] = 0 if t.creator is None else of_function(t.creator) + 1
        return level[id(t)]

    def of_function(fn):
        if id(fn) not in level:
            level[id(fn)] = 1 + max(of_tensor(x) for x in fn.inputs)
        return level[id(fn)]

    for t in tensors.values():
        of_tensor(t)
    return level


def fmt(array):
    return "[" + ", ".join(f"{v:g}" for v in array.reshape(-1)) + "]"


def draw(out):
    loss, names = build()
    tensors, functions, edges = walk(loss)
    level = levels(tensors, functions)
    # The gradient each function's backward sends to each input, from the gradient of its output.
    grads_out = dict(zip(functions, tg.grad(loss, [fn.output for fn in functions.values()], retain_graph=True)))
    sent = {}
    with tg.no_grad():
        for key, fn in functions.items():
            parts = fn.backward(grads_out[key])
            sent[key] = parts if isinstance(parts, tuple) else (parts,)
    order = {id(fn): k + 1 for k, fn in enumerate(sorted(functions.values(), key=lambda f: -f.sequence))}

    # Rows: within a column, nodes in a fixed order (by name, functions by sequence).
    columns = {}
    for key, node in [*tensors.items(), *functions.items()]:
        columns.setdefault(level[key], []).append((key, node))
    pos = {}
    for col, nodes in columns.items():
        nodes.sort(key=lambda kn: names.get(kn[0], "") if isinstance(kn[1], tg.Tensor) else "")
        for row, (key, _) in enumerate(nodes):
            pos[key] = (col * 2.8, -(row - (len(nodes) - 1) / 2) * 1.6)

    fig, ax = plt.subplots(figsize=(15, 3.4))
    patch = {}  # each node's box, so that arrows start and end at its edge
    for key, t in tensors.items():
        x0, y0 = pos[key]
        label = f"{names.get(key, '?')}\n{fmt(t.numpy())}"
        if t.is_leaf:
            label += "\nleaf"
        text = ax.text(x0, y0, label, ha="center", va="center", fontsize=9, family="monospace",
                       bbox=dict(boxstyle="square,pad=0.4", fc="#e8f0fa" if t.is_leaf else "white", ec="0.3"))
        patch[key] = text.get_bbox_patch()
    for key, fn in functions.items():
        x0, y0 = pos[key]
        text = ax.text(x0, y0, f"{type(fn).__name__}\nbackward #{order[key]}", ha="center", va="center",
                       fontsize=9, bbox=dict(boxstyle="ellipse,pad=0.3", fc="#fdf1d8", ec="0.3"))
        patch[key] = text.get_bbox_patch()
    for edge in edges:
        a, b = edge[0], edge[1]
        (x0, y0), (x1, y1) = pos[id(a)], pos[id(b)]
        rad = 0.25 if abs(level[id(b)] - level[id(a)]) > 1 else 0.0
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color="0.3", patchA=patch[id(a)], patchB=patch[id(b)],
                                    connectionstyle=f"arc3,rad={rad}"))
        if len(edge) == 3 and edge[0].requires_grad:  # parent -> function: label the gradient sent back
            g = sent[id(b)][edge[2]]
            if rad:  # the curved arrow bows below the row
                mx, my, va = (x0 + x1) / 2, (y0 + y1) / 2 - 0.62, "top"
            else:
                mx, my, va = (x0 + x1) / 2, (y0 + y1) / 2 + 0.1, "bottom"
            ax.text(mx, my, "grad " + fmt(g.numpy()), color="crimson", ha="center", va=va, fontsize=8,
                    bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none"))
    loss.backward()
    xs = [p[0] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.2, max(xs) + 1.2)
    ax.set_ylim(-1.8, 1.5)
    ax.axis("off")
    x_leaf = next(t for k, t in tensors.items() if names.get(k) == "x")
    ax.set_title("The graph of loss = (x * w + x).sum(): arrows forward, red = gradient sent back; "
                 f"x.grad = {fmt(x_leaf.grad.numpy())}, the sum of its two", fontsize=10)
    fig.tight_layout()
    save(fig, out, "tour_graph.png")


if __name__ == "__main__":
    command_line(draw, __doc__.splitlines()[0])
