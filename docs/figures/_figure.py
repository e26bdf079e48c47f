"""What the figure scripts share: the --out option, and saving a picture (its folder made, the PNG
written without a creation stamp, so the same drawing gives the same file)."""
import argparse
import pathlib

import matplotlib.pyplot as plt


def save(fig, out, name):
    """Write fig as out/name (a PNG) and close it."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / name, dpi=110, metadata={"Software": None})
    plt.close(fig)


def command_line(draw, description):
    """Run draw(out) with the folder given as --out on the command line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=pathlib.Path, required=True, help="folder for the picture")
    draw(parser.parse_args().out)
