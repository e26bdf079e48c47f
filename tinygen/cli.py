"""Command-line user errors: one line on stderr, exit status 2, never a traceback.

A command's checks raise `UsageError("what is wrong; what to do")`, and `run(main, prog)` prints it
as `<prog>: error: <message>`, argparse's form, and exits with argparse's status 2. Any other
exception is a bug, not a user's mistake, and keeps its traceback. Ctrl-C is one line too, and
`ArgumentParser` makes argparse's own errors (an unknown option, "abc" for a number) one line.
"""
import argparse
import sys

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
