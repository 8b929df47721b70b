"""``mpiexec -n N bprop train …``: the command line's part of a data-parallel run.

Every rank runs the same command. Only rank 0 prints and writes (the model, plot and report); the other
ranks' output goes to /dev/null. Set-up errors (a bad flag, an unreadable file) are agreed on before
training starts: every rank reports its outcome, rank 0 prints one ``error:`` line (its own error, or the
first other rank's, named) and every rank exits with status 2. An error once training runs is printed
by the rank it happened on, naming it, and ends every rank at once (``MPI_Abort``), since the others
would otherwise wait for it in the next all-reduce forever.
"""

from __future__ import annotations

import contextlib
import os
import sys

from .common import CliError

__all__ = ["join", "agreed_setup", "AgreedError", "fail_everywhere"]


class AgreedError(CliError):
    """A set-up error every rank knows of (printed once, by rank 0)."""


# Where a rank's own error line goes (its stderr, kept when the rest of its output is silenced).
_errors = sys.stderr


def join(command: str):
    """``(collective, runs_here)``: the collective of a data-parallel ``train`` (None when not launched by MPI
    with 2+ ranks, or for another command, which rank 0 runs alone), and whether this rank runs the command.
    Ranks other than 0 are silenced."""
    from ..training.distributed import Collective, launched_size

    if launched_size() < 2:
        return None, True
    try:
        collective = Collective()
    except ImportError:
        raise CliError(
            "bprop was started by an MPI launcher but mpi4py is not installed: pip install 'bprop[mpi]' "
            "(and pip install mpich on a machine without MPI)"
        ) from None
    if collective.rank != 0:
        _silence_output()
    if command != "train":
        return None, collective.rank == 0
    return collective, True


def _silence_output() -> None:
    global _errors
    _errors = sys.stderr
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115


@contextlib.contextmanager
def agreed_setup(collective):
    """Run the set-up of a run; if it failed on any rank, raise :class:`AgreedError` on every rank."""
    if collective is None:
        yield
        return
    message = None
    try:
        yield
    except (CliError, ValueError, OSError) as exc:
        message = " ".join(str(exc).split())
    messages = collective.comm.allgather(message)
    failed = [(rank, text) for rank, text in enumerate(messages) if text]
    if failed:
        rank, text = failed[0]
        raise AgreedError(text if rank == 0 else f"rank {rank}: {text}")  # rank 0 does the set-up first


def fail_everywhere(collective, message: str, status: int) -> int:
    """Print ``message`` naming this rank and end every rank (an error during training)."""
    print(f"error: rank {collective.rank}: {message}", file=_errors, flush=True)
    collective.abort(status)
    return status
