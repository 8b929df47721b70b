"""Data-parallel training over MPI: every rank trains the same network on its slice of each global batch.

The design is Horovod's for synchronous SGD: all ranks draw the same shuffled order from the same seed;
rank r takes its contiguous share of each global batch of B rows (``np.array_split`` positions, so a
batch that does not divide evenly still covers every row once); each computes the mean loss gradient of
its share; one all-reduce of a single contiguous buffer (all gradients, in the network's dtype, each
scaled by the share's weight, plus the weighted loss, the weight and a stop flag) sums them; dividing by
the global weight gives exactly the gradient of the global batch's mean loss. Every rank then applies the
same update, so weights and optimiser state stay identical without ever being sent again (rank 0's
initial weights are broadcast once). Validation sums are all-reduced, so every stopping decision is the
same on every rank; a stop one rank asks for (Ctrl-C, a time budget) rides in the next batch's buffer and
all ranks stop after that same batch.

mpi4py is imported only under an MPI launcher (:func:`launched_size` reads the launcher's environment).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["Collective", "ShareOf", "launched_size", "world", "share"]

# Environment variables MPI launchers set to the number of ranks (MPICH/Hydra, Open MPI, PMIx, Slurm, MVAPICH).
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_NTASKS")


def launched_size() -> int:
    """How many ranks the MPI launcher started (1 when not launched by one), without importing MPI."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def share(n: int, rank: int, size: int) -> slice:
    """Rank ``rank``'s contiguous share of ``n`` positions (shares differ by at most one)."""
    return slice(n * rank // size, n * (rank + 1) // size)


class Collective:
    """The operations a data-parallel run needs, over an mpi4py communicator (``MPI.COMM_WORLD`` by default)."""

    def __init__(self, comm=None):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self._buffer: np.ndarray | None = None

    def share(self, n: int) -> slice:
        return share(n, self.rank, self.size)

    def broadcast_parameters(self, params: list[np.ndarray]) -> None:
        """Every rank's parameters become rank 0's."""
        for p in params:
            self.comm.Bcast(p, root=0)

    def reduce_step(self, grads: list, weight: float, loss_sum: float, stop: bool) -> tuple[float, float, bool]:
        """Sum ``weight``-scaled gradients, the weighted loss, the weight and the stop flags over the ranks in one
        all-reduce; leaves each gradient as the global batch's mean and returns ``(loss, weight, stop)``."""
        grads = [g for g in grads if g is not None]  # frozen parameters have none (on every rank alike)
        sizes = [g.size for g in grads]
        total = sum(sizes) + 3
        dtype = grads[0].dtype if grads else np.float64
        if self._buffer is None or self._buffer.size != total or self._buffer.dtype != dtype:
            self._buffer = np.empty(total, dtype)
        buffer, offset = self._buffer, 0
        for g, size in zip(grads, sizes):
            np.multiply(g.reshape(-1), weight, out=buffer[offset : offset + size])
            offset += size
        buffer[offset:] = (loss_sum, weight, float(stop))
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        loss_total, weight_total, stops = (float(v) for v in buffer[offset:])
        offset = 0
        for g, size in zip(grads, sizes):
            np.divide(buffer[offset : offset + size], weight_total, out=g.reshape(-1))
            offset += size
        return loss_total / weight_total, weight_total, stops > 0

    def sum(self, values) -> np.ndarray:
        """Element-wise sum over the ranks, in float64."""
        buffer = np.array(values, dtype=np.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        return buffer

    def any(self, flag: bool) -> bool:
        return bool(self.sum([float(flag)])[0] > 0)

    def gather(self, value):
        """Every rank's ``value`` on rank 0 (a list there, None elsewhere)."""
        return self.comm.gather(value, root=0)

    def abort(self, status: int = 2) -> None:
        """End every rank now (a rank that failed must not leave the others waiting in an all-reduce)."""
        self.comm.Abort(status)


def world() -> Collective | None:
    """The collective of this MPI launch, or None when not launched by an MPI launcher with 2+ ranks."""
    if launched_size() < 2:
        return None
    return Collective()


class ShareOf:
    """A rank's share of evaluation rows: of arrays ``(X, Y)``, or of a batch source (``Y`` None)."""

    def __init__(self, X, Y, collective: Collective, size: int = 8192):
        self.X, self.Y, self.collective, self.size = X, Y, collective, size

    def chunks(self):
        if self.Y is not None:
            part = self.collective.share(len(self.X))
            X, Y = self.X[part], self.Y[part]
            for begin in range(0, len(X), self.size):
                yield X[begin : begin + self.size], Y[begin : begin + self.size]
            return
        rows = np.asarray(self.X.order(None))
        rows = rows[self.collective.share(rows.size)]
        for begin in range(0, rows.size, self.size):
            Xb, Yb, _ = self.X.take(rows[begin : begin + self.size])
            yield Xb, Yb
