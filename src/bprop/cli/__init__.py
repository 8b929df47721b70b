"""The ``bprop`` command: train / evaluate / predict on CSV, info, explain, gradcheck and export; thin by design,
every user mistake one ``error:`` line on stderr, exit status 2, no traceback, nothing written.
May import: everything (it is the top)."""

from __future__ import annotations

import argparse
import sys
import warnings

from . import mpi
from .common import CliError, UsageError, outliving_stdout, silence_stdout

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag gives the one-line error the rest of the CLI gives."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see: {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    from . import export_command, model_commands, playground_command, teach_commands, train_command

    parser = _Parser(prog="bprop", description="Train multi-layer perceptrons by backpropagation.")
    from ..version import __version__

    parser.add_argument("--version", action="version", version=f"bprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    train_command.register(sub)
    model_commands.register(sub)
    teach_commands.register(sub)
    export_command.register(sub)
    playground_command.register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning is one line ``warning: …`` on stderr: no file name, no source line, no stack."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    # The command line owns how warnings look, whatever filters the caller (or pytest -W error) set.
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.simplefilter("ignore", DeprecationWarning)  # for developers, not for users of the command
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    collective = None
    try:
        args = build_parser().parse_args(argv)
        collective, runs_here = mpi.join(args.command)
        if not runs_here:
            return 0
        args.collective = collective
        with outliving_stdout(getattr(args, "outlives_stdout", False)):
            code = int(args.run(args) or 0)
        sys.stdout.flush()  # a reader that went away shows here, not as "Exception ignored" at exit
        return code
    except mpi.AgreedError as exc:  # every rank has it: rank 0 says it
        if collective.rank == 0:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of stdout went away (| head -1): stop quietly, as cat does
        silence_stdout()
        return 0
    except MemoryError as exc:
        detail = " ".join(str(exc).split())
        print(
            f"error: out of memory{f' ({detail})' if detail else ''}; free some memory or use a smaller "
            "table (train: smaller --layers or --batch-size)",
            file=sys.stderr,
        )
        return 2
    except (CliError, ValueError, OSError) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message held
        if collective is not None:  # one rank's error while the others train: all must stop
            return mpi.fail_everywhere(collective, message, 2)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
