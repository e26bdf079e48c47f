"""The binary cross-entropy of a logit z with target y = 0, three ways, in float32 (chapter 5).

Left: the loss. Right: its gradient with respect to z. "naive": sigmoid, then log, as tinygen ops;
"clamped": F.binary_cross_entropy on sigmoid(z) (logs clamped at -100, as PyTorch);
"with logits": F.binary_cross_entropy_with_logits on z itself.

    python docs/figures/tour_bce.py --out docs/images      # writes tour_bce.png
"""
import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinygen  # noqa: E402
import tinygen.nn.functional as F  # noqa: E402


def loss_and_grad(kind, z_values):
    z = tinygen.tensor(z_values, requires_grad=True)
    y = tinygen.zeros(len(z_values))
    if kind == "with logits":
        loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    elif kind == "clamped":
        loss = F.binary_cross_entropy(F.sigmoid(z), y, reduction="none")
    else:
        with np.errstate(divide="ignore"):
            loss = -(1 - y) * (1 - F.sigmoid(z)).log()
    with np.errstate(divide="ignore", invalid="ignore"):  # the naive form's gradient is nan where its loss is inf
        loss.backward(np.ones(len(z_values), dtype=np.float32))
    return loss.numpy(), z.grad.numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    out = pathlib.Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    z = np.linspace(-5, 40, 901).astype(np.float32)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    styles = {"naive": dict(color="tab:red", lw=3, alpha=0.6), "clamped": dict(color="tab:orange", ls="--"),
              "with logits": dict(color="tab:blue")}
    for kind, style in styles.items():
        values, grads = loss_and_grad(kind, z)
        shown = np.where(np.isfinite(values), values, np.nan)
        left.plot(z, shown, label=kind, **style)
        right.plot(z, grads, label=kind, **style)
    fine = np.arange(0, 40, 0.001, dtype=np.float32)
    first_one = float(fine[np.argmax(F.sigmoid(tinygen.tensor(fine)).numpy() == 1)])
    for ax in (left, right):
        ax.axvline(first_one, color="gray", lw=0.8, ls=":")
        ax.set_xlabel("logit z  (target y = 0)")
    left.text(first_one + 0.5, 75, f"sigmoid(z) rounds to 1\nin float32 from z ≈ {first_one:.2f};\nnaive: inf from here",
              fontsize=8, color="gray")
    left.set_ylabel("loss")
    left.set_ylim(-2, 105)
    left.set_title("loss: the naive form is inf, the clamped one 100")
    right.set_ylabel("d loss / d z")
    right.set_ylim(-0.1, 1.2)
    right.set_title("gradient: sigmoid(z) - y only with logits")
    right.legend(loc="center right")
    fig.tight_layout()
    fig.savefig(out / "tour_bce.png", dpi=110)


if __name__ == "__main__":
    main()
