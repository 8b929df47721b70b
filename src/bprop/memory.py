"""How much memory a run needs and how much this process may use, checked before allocating.

A run that does not fit should be refused in a second with one line saying what to change, not
killed by the kernel after a minute of swapping, nor stopped by a ``MemoryError`` traceback.

Example:
    >>> need = estimate_training_bytes(1_000, 64, [128, 64, 10], batch_size=32, dtype="float32")
    >>> check_fits(need, "training", "use smaller --layers")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["available_bytes", "check_fits", "estimate_training_bytes", "format_gb"]

_GB = 1e9
# Rows the chunked evaluation (bprop.training.batches.evaluate) pushes through the network at once.
_EVALUATION_CHUNK = 8192
# Parameter-sized arrays a run holds: the weights, their gradients, two Adam slots, the best weights
# restored at the end, and the last finite weights kept for divergence recovery.
_PARAMETER_COPIES = 6
# Per unit of a batch: pre-activation, activation output, and the gradient with respect to each.
_ACTIVATION_COPIES = 4
# cgroup v1 reports "no limit" as a huge page-aligned number (about 2**63).
_NO_CGROUP_LIMIT = 2**60


def available_bytes() -> int:
    """Bytes this process may still allocate: the smallest of MemAvailable, the address-space limit
    (RLIMIT_AS) left, and the cgroup memory limit left; ``sys.maxsize`` when none is known."""
    limits = [_mem_available(), _address_space_left(), _cgroup_left()]
    known = [limit for limit in limits if limit is not None]
    return max(0, min(known)) if known else sys.maxsize


def check_fits(need_bytes: int, what: str, fix: str) -> None:
    """Raise ``ValueError`` when ``need_bytes`` exceeds :func:`available_bytes`.

    ``what`` names the work ("training"), ``fix`` says what to change ("use smaller --layers").
    """
    if need_bytes < 0:
        raise ValueError(f"need_bytes must be >= 0, got {need_bytes}")
    free = available_bytes()
    if need_bytes > free:
        raise ValueError(
            f"{what} needs about {format_gb(need_bytes)} of memory, but this process may use only "
            f"{format_gb(free)}; {fix}"
        )


def format_gb(n_bytes: float) -> str:
    """``3.2 GB``, with enough digits that small amounts do not show as 0."""
    gb = n_bytes / _GB
    return f"{gb:.3g} GB" if gb < 10 else f"{gb:,.0f} GB"


def estimate_training_bytes(
    n_rows: int, n_inputs: int, layer_sizes: Sequence[int], batch_size: int, dtype="float32"
) -> int:
    """Peak bytes of training an MLP, within a factor of 2 of what it measures.

    Args:
        n_rows: rows of the encoded table (training, validation and test together).
        n_inputs: encoded input features.
        layer_sizes: widths of the layers after the input, the output layer last (e.g. ``[128, 64, 10]``).
        batch_size: examples per update.
        dtype: the network's dtype.

    Counts the prepared float64 inputs and targets plus their copy cast to ``dtype``, every
    parameter-sized array (weights, gradients, optimiser slots, best and last-good weights), and the
    per-layer buffers of a training batch and of one chunk of the evaluation.
    """
    itemsize = np.dtype(dtype).itemsize
    n_outputs = layer_sizes[-1] if len(layer_sizes) else 0
    # Python ints: a 1e8-unit layer overflows no fixed-width integer here.
    widths = [int(n_inputs), *(int(size) for size in layer_sizes)]
    n_params = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(widths, widths[1:]))
    data = int(n_rows) * (int(n_inputs) + n_outputs)
    # float64 as prepared; the cast copy only when the network computes in another dtype.
    data_bytes = data * 8 + (data * itemsize if itemsize != 8 else 0)
    units = sum(widths[1:])
    # A batch's inputs are gathered into a buffer and get a gradient buffer of the same shape.
    batch = min(int(batch_size), int(n_rows)) * (2 * int(n_inputs) + units * _ACTIVATION_COPIES)
    # The evaluation reads its inputs in place and runs forward only: pre-activation and output.
    chunk = min(_EVALUATION_CHUNK, int(n_rows)) * units * 2
    return data_bytes + (n_params * _PARAMETER_COPIES + batch + chunk) * itemsize


def _mem_available() -> int | None:
    """MemAvailable of /proc/meminfo: what the kernel can hand out without swapping."""
    fields = _key_values(Path("/proc/meminfo"))
    return None if "MemAvailable" not in fields else fields["MemAvailable"] * 1024


def _address_space_left() -> int | None:
    """RLIMIT_AS (``ulimit -v``) minus the address space already mapped; None without a limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    mapped = _key_values(Path(f"/proc/{os.getpid()}/status")).get("VmSize")
    return soft - (mapped or 0) * 1024


def _cgroup_left() -> int | None:
    """The memory limit of this process's cgroup (v2, else v1) minus its usage; None without one."""
    for limit_file, usage_file in _cgroup_files():
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and limit < _NO_CGROUP_LIMIT:
            return limit - (usage or 0)
    return None


def _cgroup_files() -> list[tuple[Path, Path]]:
    root = Path("/sys/fs/cgroup")
    candidates = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, relative = rest.partition(":")
        if hierarchy == "0" and controllers == "":  # cgroup v2, unified hierarchy
            folder = root / relative.lstrip("/")
            candidates.append((folder / "memory.max", folder / "memory.current"))
        elif "memory" in controllers.split(","):  # cgroup v1 memory controller
            folder = root / "memory" / relative.lstrip("/")
            candidates.append((folder / "memory.limit_in_bytes", folder / "memory.usage_in_bytes"))
    # Inside a container the process's own cgroup is often mounted as the root.
    candidates.append((root / "memory.max", root / "memory.current"))
    candidates.append((root / "memory" / "memory.limit_in_bytes", root / "memory" / "memory.usage_in_bytes"))
    return candidates


def _read_int(path: Path) -> int | None:
    """The integer in a one-line kernel file; None when missing or "max" (no limit)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _key_values(path: Path) -> dict[str, int]:
    """``Key:   123 kB`` lines of a /proc file as {key: number}; empty when unreadable."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    values = {}
    for line in lines:
        key, _, rest = line.partition(":")
        number = rest.split()[0] if rest.split() else ""
        if number.isdigit():
            values[key.strip()] = int(number)
    return values
