"""Command-line user errors: one line on stderr, exit status 2, never a traceback.

A command's checks raise `UsageError("what is wrong; what to do")`, and `run(main, prog)` prints it
as `<prog>: error: <message>`, argparse's form, and exits with argparse's status 2. Any other
exception is a bug, not a user's mistake, and keeps its traceback. Ctrl-C is one line too, and
`ArgumentParser` makes argparse's own errors (an unknown option, "abc" for a number) one line.
The commands' shared option --data-dir is checked here too.
"""
import argparse
import os
import pathlib
import sys

from tinygen import data

USAGE_ERROR = 2  # argparse's exit status for a command line it refuses
INTERRUPTED = 130  # the shell's status for a command stopped by Ctrl-C (128 + SIGINT)


class UsageError(Exception):
    """A mistake in how a command was called, or in the files it was given."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose errors are one line (argparse prints the usage block first)."""

    def error(self, message):
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def run(main, prog):
    """Call main(); a UsageError becomes one line on stderr and exit status 2."""
    try:
        return main()
    except UsageError as error:
        message = " ".join(str(error).splitlines())  # one line, whatever the message holds
        sys.stderr.write(f"{prog}: error: {message}\n")
        sys.exit(USAGE_ERROR)
    except KeyboardInterrupt:  # Ctrl-C: the user stopped it on purpose, no traceback needed
        sys.stderr.write(f"{prog}: interrupted\n")
        sys.exit(INTERRUPTED)


def check_data_dir(data_dir, split, suggest_split=True):
    """A UsageError unless `data_dir` (when given: None means the cache) holds the MNIST `split`.

    suggest_split: the command has a --split option, to suggest when the folder holds the other split.
    """
    if data_dir is None:
        return
    if not os.path.isdir(data_dir):
        what = "is a file, not a folder" if os.path.exists(data_dir) else "no such folder"
        raise UsageError(f"--data-dir {data_dir}: {what}; give the folder holding the MNIST files")
    root = pathlib.Path(data_dir)
    missing = [name for name in data.MNIST.files[split] if data.MNIST.find_file(name, root) is None]
    if missing:
        other = "test" if split == "train" else "train"
        has_other = suggest_split and data.MNIST.find_root(other, [root]) == root
        hint = f"it holds the {other} split: pass --split {other}" if has_other else "give the folder holding them"
        raise UsageError(f"--data-dir {data_dir} holds no MNIST {split} split (no {' or '.join(missing)} in it or "
                         f"in its mnist/ folder); {hint}")


def data_error(error):
    """A UsageError in one line for MNIST that is missing (and could not be downloaded) or damaged."""
    failed = " Downloading it failed (offline?)." if "Download failed" in str(error) else ""
    return UsageError(f"{str(error).splitlines()[0]}{failed} Pass --data-dir DIR, a folder holding the MNIST files")
