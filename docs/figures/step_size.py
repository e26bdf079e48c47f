"""The error of a central difference against its step h, in float32 and float64.

For f(x) = x^3 at x = 2 (f' = 12) the script asks tinygen's own `numerical_gradients`
(tinygen/gradcheck.py) for the derivative at each h, on a float32 and on a float64 tensor, and
plots |numerical - 12|. The error falls as h^2 (truncation) until rounding, about eps / h, takes
over: the bottom of each V is where gradcheck's step must be. tinygen uses h = 1e-6 in float64.

    python docs/figures/step_size.py --out docs/images      # writes tour_step_size.png
"""
import logging

import matplotlib

matplotlib.use("Agg")
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # the log axes' 10^k labels: fallback fonts are fine
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinygen as tg  # noqa: E402
from tinygen.gradcheck import numerical_gradients  # noqa: E402
from _figure import command_line, save  # noqa: E402  (docs/figures/_figure.py)


def errors(dtype, steps):
    x = tg.Tensor(np.array([2.0], dtype=dtype))
    weights = [np.ones(1)]
    return [abs(numerical_gradients(lambda t: t ** 3, [x], weights, eps=h)[0][0] - 12.0) for h in steps]


def draw(out):
    steps = np.logspace(-12, -0.5, 47)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for dtype, colour in (("float32", "tab:orange"), ("float64", "tab:blue")):
        err = np.maximum(errors(dtype, steps), 1e-16)  # an error of exactly 0 cannot go on a log axis
        ax.loglog(steps, err, "o-", ms=3, color=colour, label=dtype)
    ax.loglog(steps, steps ** 2, ":", color="0.5", label="h² (truncation, f'''/6 = 1)")
    ax.axvline(1e-6, color="crimson", lw=1)
    ax.text(1.3e-6, 1e-14, "gradcheck's\neps = 1e-6", color="crimson", fontsize=8)
    ax.set_ylim(1e-16, 1e2)
    ax.set_xlabel("step h")
    ax.set_ylabel("|central difference − 12|")
    ax.set_title("d/dx x³ at x = 2 by central differences", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    save(fig, out, "tour_step_size.png")


if __name__ == "__main__":
    command_line(draw, __doc__.splitlines()[0])
