"""bprop.memory: the estimate of a run's memory and the limits of this process."""

import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

from bprop import memory
from bprop.nn import network
from bprop.training import fit as training
from bprop.training.batches import evaluate


def _measured_peak(n_rows: int, n_inputs: int, layers: list[int], n_outputs: int, dtype: str) -> int:
    """Peak bytes traced while preparing float64 parts, training two epochs and scoring every part,
    the way ``bprop train`` does."""
    tracemalloc.start()
    try:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((n_rows, n_inputs))
        Y = np.eye(n_outputs)[rng.integers(0, n_outputs, n_rows)]
        n_train, n_val = int(n_rows * 0.7), int(n_rows * 0.1)
        cuts = (slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None))
        parts = [(X[cut].copy(), Y[cut].copy()) for cut in cuts]
        del X, Y
        net = network.mlp([n_inputs, *layers, n_outputs], output_activation="softmax", seed=0, dtype=dtype)
        training.fit(
            net,
            *parts[0],
            loss="categorical_cross_entropy",
            epochs=2,
            validation_data=parts[1],
            restore_best_weights=True,
            verbose=0,
            diagnostics=True,
        )
        for X_part, Y_part in parts:
            X_cast = net.check_X(X_part)
            evaluate(net, X_cast, net.check_Y(Y_part, len(X_cast)), "categorical_cross_entropy", "accuracy")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "n_rows, n_inputs, layers, dtype",
    [(8_000, 100, [256, 128], "float32"), (3_000, 800, [64], "float64"), (4_000, 20, [1000, 1000], "float32")],
)
def test_estimate_is_within_a_factor_of_two_of_the_measured_peak(n_rows, n_inputs, layers, dtype):
    peak = _measured_peak(n_rows, n_inputs, layers, 10, dtype)
    estimate = memory.estimate_training_bytes(n_rows, n_inputs, [*layers, 10], batch_size=32, dtype=dtype)
    assert peak / 2 <= estimate <= peak * 2, (estimate, peak)


def test_estimate_counts_a_huge_layer_without_overflow():
    # 64 inputs → 1e8 units → 10: 7.4e9 parameters, far beyond 32-bit and beyond any laptop.
    estimate = memory.estimate_training_bytes(1_797, 64, [100_000_000, 10], batch_size=32, dtype="float32")
    n_params = 65 * 100_000_000 + 100_000_001 * 10
    assert estimate > n_params * 4 * 6


def test_check_fits_names_the_need_the_limit_and_the_fix():
    free = memory.available_bytes()
    memory.check_fits(0, "training", "use smaller --layers")  # nothing needed always fits
    with pytest.raises(ValueError) as caught:
        memory.check_fits(free * 2 + 10**9, "training", "use smaller --layers")
    message = str(caught.value)
    assert message.startswith("training needs about ")
    assert memory.format_gb(free * 2 + 10**9) in message
    assert f"may use only {memory.format_gb(free)}" in message
    assert message.endswith("; use smaller --layers")


def test_check_fits_refuses_a_negative_need():
    with pytest.raises(ValueError, match="need_bytes"):
        memory.check_fits(-1, "training", "fix")


def test_available_bytes_respects_the_address_space_limit():
    # In a child process: RLIMIT_AS cannot be raised again once lowered.
    code = textwrap.dedent(
        """
        import resource
        from bprop import memory
        mapped = memory._key_values(memory.Path("/proc/self/status"))["VmSize"] * 1024
        limit = mapped + 300_000_000
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        print(memory.available_bytes())
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert 0 < int(done.stdout) <= 300_000_000


def test_cgroup_limit_minus_usage(tmp_path, monkeypatch):
    limit, usage = tmp_path / "memory.max", tmp_path / "memory.current"
    limit.write_text("2000000000\n")
    usage.write_text("500000000\n")
    monkeypatch.setattr(memory, "_cgroup_files", lambda: [(limit, usage)])
    assert memory._cgroup_left() == 1_500_000_000
    limit.write_text("max\n")  # cgroup v2 without a limit
    assert memory._cgroup_left() is None
    limit.write_text(f"{2**63 - 4096}\n")  # cgroup v1 without a limit
    assert memory._cgroup_left() is None
