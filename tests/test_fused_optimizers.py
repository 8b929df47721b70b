"""The one-pass optimiser updates (numba kernels, ``bprop.nn._updates``) against their formulas and NumPy.

Two promises: each step of a training run moves every parameter as the docstring formula says, computed
here in float64 from the same gradients (with L2, clipping, a frozen parameter and a gradient hook on);
and the compiled kernels give the very bits of the NumPy code they replace, so a run, its checkpoints
and the recorded fixtures do not depend on whether numba is installed.
"""

import math

import numpy as np
import pytest

import bprop
from bprop.nn import _updates

OPTIMIZERS = {
    "momentum": lambda: bprop.SGD(0.05, momentum=0.9),
    "nesterov": lambda: bprop.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: bprop.Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6),
    "adamw": lambda: bprop.AdamW(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6, weight_decay=0.5),
    "rmsprop": lambda: bprop.RMSprop(0.01, rho=0.8, epsilon=1e-6),
}


@pytest.fixture
def numpy_only(monkeypatch):
    """Switch the compiled kernels off: every update takes its NumPy code."""
    monkeypatch.setattr(_updates, "_KERNELS", {})


def reference_step(opt, p, g, slot: dict, t: int) -> np.ndarray:
    """The docstring formula of ``opt``, in float64, with the bias corrections written out."""
    if isinstance(opt, bprop.SGD):
        v = slot["velocity"] = opt.momentum * slot.get("velocity", 0.0) + g
        return p - opt.learning_rate * (g + opt.momentum * v if opt.nesterov else v)
    if isinstance(opt, bprop.RMSprop):
        v = slot["v"] = opt.rho * slot.get("v", 0.0) + (1 - opt.rho) * g * g
        return p - opt.learning_rate * g / (np.sqrt(v) + opt.epsilon)
    decay = opt.learning_rate * opt.weight_decay if isinstance(opt, bprop.AdamW) else 0.0
    p = p - decay * p
    m = slot["m"] = opt.beta_1 * slot.get("m", 0.0) + (1 - opt.beta_1) * g
    v = slot["v"] = opt.beta_2 * slot.get("v", 0.0) + (1 - opt.beta_2) * g * g
    m_hat, v_hat = m / (1 - opt.beta_1**t), v / (1 - opt.beta_2**t)
    return p - opt.learning_rate * m_hat / (np.sqrt(v_hat) + opt.epsilon)


def training_run(name: str, dtype, steps: int = 12):
    """A small run with L2, clipping, a frozen bias and a gradient hook; what the hook saw at each step."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 5))
    Y = np.eye(3)[rng.integers(0, 3, 40)]
    net = bprop.mlp([5, 8, 3], activation="tanh", output_activation="softmax", seed=3, dtype=dtype)
    net.layers[0].freeze("b")
    seen = []

    def hook(grads):  # before L2, clipping and the update: the raw gradients and the weights they apply to
        weights = [p.astype(np.float64) for p in net.parameters()]
        seen.append((weights, [None if g is None else g.copy() for g in grads]))

    opt = OPTIMIZERS[name]()
    trainer = bprop.Trainer(net, X, Y, loss="categorical_cross_entropy", optimizer=opt, l2=0.05, clip_norm=0.3,
                            batch_size=8, epochs=10, seed=0, gradient_hook=hook, verbose=0)  # fmt: skip
    after = []
    for _ in range(steps):
        trainer.step()
        after.append([p.copy() for p in net.parameters()])
    return opt, net, seen, after


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_step_follows_the_formula(name, dtype):
    opt, net, seen, after = training_run(name, dtype)
    is_weight = [n.startswith("W") for n in net.parameter_names()]
    slots = [{} for _ in is_weight]
    clipped = 0
    for t, ((before, grads), got) in enumerate(zip(seen, after), start=1):
        grads = [None if g is None else g + 0.05 * p * w for g, p, w in zip(grads, before, is_weight)]
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads if g is not None))
        if norm > 0.3:
            grads, clipped = [None if g is None else g * (0.3 / norm) for g in grads], clipped + 1
        for p, g, slot, new in zip(before, grads, slots, got):
            if g is None:  # the frozen bias
                assert new.tobytes() == p.astype(dtype).tobytes()
                continue
            want = reference_step(opt, p, g.astype(np.float64), slot, t)
            # float32: the parameter's own rounding plus the state's, relative to the step.
            rtol, atol = (1e-4, 2e-7) if dtype == np.float32 else (1e-10, 1e-14)
            np.testing.assert_allclose(new - p, want - p, rtol=rtol, atol=atol, err_msg=f"{name}, step {t}")
    assert clipped >= 3  # the clipping branch was exercised


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_compiled_kernels_give_the_bits_of_the_numpy_code(name, dtype, monkeypatch):
    pytest.importorskip("numba")
    assert _updates.kernels(), "numba is installed but the kernels were not built"
    _, compiled, _, _ = training_run(name, dtype, steps=15)
    monkeypatch.setattr(_updates, "_KERNELS", {})
    _, plain, _, _ = training_run(name, dtype, steps=15)
    assert [p.tobytes() for p in compiled.parameters()] == [p.tobytes() for p in plain.parameters()]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_and_values_are_the_same_on_any_memory_layout(name):
    """A parameter that is a strided view takes the NumPy code; contiguous ones the kernels: same bits."""
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(6, 4)).astype(np.float32) for _ in range(4)]
    results = []
    for strided in (False, True):
        base = np.ones((6, 8), dtype=np.float32)
        p = base[:, ::2] if strided else base[:, :4].copy()
        opt = OPTIMIZERS[name]()
        for g in grads:
            opt.step([p], [g])
        assert p.dtype == np.float32
        state = {k: v.tobytes() for k, v in opt.state[0].items() if k not in ("scratch", "scaled")}  # NumPy's only
        results.append((p.tobytes(), state))
    assert results[0] == results[1]


def test_add_l2_matches_numpy_and_skips_biases_and_frozen():
    rng = np.random.default_rng(1)
    params = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32), np.ones((2, 2))]
    grads = [rng.normal(size=(3, 4)).astype(np.float32), np.zeros(4, dtype=np.float32), None]
    want = grads[0] + np.float32(0.01) * params[0]
    bprop.nn.optimizers.add_l2(params, grads, 0.01, [True, False, True])
    assert grads[0].tobytes() == want.tobytes()
    assert not grads[1].any()


def test_numpy_fallback_without_numba(numpy_only):
    assert _updates.kernels() == {}
    p = np.array([1.0, 2.0], dtype=np.float32)
    bprop.Adam(0.1).step([p], [np.array([1.0, -1.0], dtype=np.float32)])
    np.testing.assert_allclose(p, [0.9, 2.1], rtol=1e-6)


def test_compile_ahead_builds_the_kernels_a_run_will_use(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(_updates, "_KERNELS", None)  # fresh, not yet compiled dispatchers
    monkeypatch.setattr(_updates, "_AHEAD", None)
    thread = bprop.nn.optimizers.compile_ahead("adamw", "float64", l2=True)
    thread.join(timeout=60)
    assert not thread.is_alive()
    kernels = _updates.kernels()
    assert kernels["adam"].signatures and kernels["add_scaled"].signatures  # compiled, not only defined
    assert not kernels["rmsprop"].signatures
    monkeypatch.setattr(_updates, "_KERNELS", {})
    assert bprop.nn.optimizers.compile_ahead("adam", "float32") is None  # nothing to compile without numba


def test_small_networks_do_not_load_numba(monkeypatch):
    monkeypatch.setattr(_updates, "_KERNELS", None)
    monkeypatch.setattr(_updates, "_AHEAD", None)
    assert not _updates.worth_it(_updates.MIN_SIZE - 1)
    assert _updates.worth_it(_updates.MIN_SIZE)
    p = np.ones(5, dtype=np.float32)
    bprop.Adam(0.1).step([p], [np.ones(5, dtype=np.float32)])
    assert _updates._KERNELS is None  # the step ran the NumPy code without loading the kernels
