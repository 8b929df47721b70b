"""The ``bprop`` console command's entry point.

It lives outside the ``bprop`` package on purpose: importing anything inside the package first runs
``bprop/__init__.py`` (and NumPy's import, about 0.3 s), and a Ctrl-C during start-up must end as
``error: interrupted`` with exit status 130 like any other, not as a traceback. The heavy imports run
with Ctrl-C held, not raised: an interrupt inside an extension module's import can surface as an
unrelated ImportError (NumPy turns it into one), which no ``except KeyboardInterrupt`` would catch.
"""

import signal
import sys

# The command line and the extension-heavy packages its commands import later (optional ones may be missing).
_PRELOAD = ("bprop.cli", "pandas", "safetensors.numpy")


def _import_holding_ctrl_c() -> bool:
    """Import ``_PRELOAD`` with SIGINT written down instead of raised; True if one arrived."""
    from importlib import import_module

    received = []
    # A SIGINT ignored from the start (a background job of a script) stays ignored, as bprop does throughout.
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    previous = signal.signal(
        signal.SIGINT, signal.SIG_IGN if ignored else lambda signum, frame: received.append(signum)
    )
    try:
        for name in _PRELOAD:
            try:
                import_module(name)
            except ImportError:
                if name == "bprop.cli":
                    raise
    finally:
        signal.signal(signal.SIGINT, previous)
    return bool(received)


# What MPI launchers set to the number of ranks on this machine (MPICH/Hydra, Open MPI, MVAPICH) and in all.
_LOCAL_RANKS = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "MV2_COMM_WORLD_LOCAL_SIZE")
_RANKS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_NTASKS")


def _share_cores_between_ranks() -> None:
    """Under an MPI launcher, give each rank's BLAS its share of this machine's cores (set before NumPy loads
    its BLAS; a thread count the user set is kept). Without it, each of N ranks starts a thread per core."""
    import os

    def first(names):
        values = [os.environ.get(name, "") for name in names]
        return next((int(v) for v in values if v.isdigit() and int(v) > 0), 0)

    ranks = first(_LOCAL_RANKS) or first(_RANKS)
    if ranks > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, str(max(1, cores // ranks)))


def main() -> int:
    _share_cores_between_ranks()
    try:
        if not _import_holding_ctrl_c():
            from bprop.cli import main as run_command

            status = run_command()
            # The command has finished: a late or repeated Ctrl-C must not turn the exit into a traceback.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            return status
    except KeyboardInterrupt:
        pass
    except MemoryError:  # even importing NumPy and pandas needs memory a tight limit may not leave
        print("error: out of memory while starting; free some memory or raise the limit (ulimit -v)", file=sys.stderr)
        return 2
    print("error: interrupted", file=sys.stderr)
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
