"""Fuzzing (Hypothesis): loaders and training on strange input give a result or a clear ValueError —
never another exception, a hang, executed code, or NaN weights."""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bprop
from bprop import data, io

VALID_CSV = b"a,b,c,label\n1,2.5,x,yes\n3,,y,no\n5,6.5,x,yes\n7,8,,no\n9,1,y,yes\n"


def write(tmp_path_factory, content: bytes, name="f.csv"):
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(content)
    return path


def load_and_prepare(path):
    """The CSV path of `bprop train`: read, split, encode. ValueError is the documented failure."""
    try:
        table = data.read_csv(path)
        data.prepare(table, rng=np.random.default_rng(0), val_fraction=0.2, test_fraction=0.2)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc).strip()


@given(st.binary(max_size=400))
def test_random_bytes_as_csv(tmp_path_factory, content):
    load_and_prepare(write(tmp_path_factory, content))


@given(st.lists(st.tuples(st.integers(0, len(VALID_CSV) - 1), st.binary(min_size=0, max_size=3)), max_size=6))
def test_mutated_csv(tmp_path_factory, edits):
    content = bytearray(VALID_CSV)
    for position, replacement in edits:
        content[position : position + 1] = replacement
    load_and_prepare(write(tmp_path_factory, bytes(content)))


@given(st.text(alphabet=st.sampled_from(list('ab,;"\n\r\t 0123.-eNna')), max_size=200))
def test_csv_like_text(tmp_path_factory, text):
    load_and_prepare(write(tmp_path_factory, text.encode()))


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    io.save(
        bprop.mlp([3, 4, 2], activation="relu", output_activation="softmax", seed=0), path, training={"note": "fuzz"}
    )
    return path.read_bytes()


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_model_files(tmp_path_factory, model_bytes, flips):
    content = bytearray(model_bytes)
    for position, value in flips:
        content[position % len(content)] = value
    path = write(tmp_path_factory, bytes(content), "m.safetensors")
    try:
        model = io.load(path)
    except ValueError:
        return
    # A mutation that left the file valid (e.g. in JSON whitespace) must still give sound weights.
    assert all(np.isfinite(p).all() for p in model.net.parameters())


@given(st.integers(0, 5000))
def test_truncated_model_files(tmp_path_factory, model_bytes, cut):
    path = write(tmp_path_factory, model_bytes[: cut % len(model_bytes)], "m.safetensors")
    with pytest.raises(ValueError):
        io.load(path)


def test_a_pickle_is_refused_without_running_it(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('code ran')",))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ValueError):
        io.load(path)


@st.composite
def training_problems(draw):
    n = draw(st.integers(1, 12))
    d = draw(st.integers(1, 4))
    magnitude = draw(st.sampled_from([1e-30, 1e-3, 1.0, 1e3, 1e30]))
    X = np.array(draw(st.lists(st.floats(-1, 1), min_size=n * d, max_size=n * d))).reshape(n, d) * magnitude
    if draw(st.booleans()):
        X[:, 0] = 7.0  # a constant column
    if n > 1 and draw(st.booleans()):
        X[-1] = X[0]  # a duplicate row
    labels = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    if draw(st.booleans()):
        labels[:] = labels[0]  # all-identical labels
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return X, labels, dtype


@given(training_problems(), st.sampled_from(["classification", "regression"]))
def test_fit_on_strange_data_never_returns_nan_weights(problem, task):
    X, labels, dtype = problem
    if task == "classification":
        Y, out, loss = np.eye(3)[labels], "softmax", "categorical_cross_entropy"
    else:
        Y, out, loss = (labels * np.max(np.abs(X), initial=1.0)).reshape(-1, 1), "identity", "mse"
    net = bprop.mlp([X.shape[1], 5, Y.shape[1]], activation="relu", output_activation=out, seed=0, dtype=dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bprop.DivergenceWarning)
            history = bprop.fit(net, X, Y, loss=loss, optimizer="adam", epochs=3, batch_size=4, verbose=0)
    except ValueError as exc:
        assert str(exc)
        return
    assert history.stop_reason in ("max_epochs", "diverged")
    assert all(np.isfinite(p).all() for p in net.parameters())


def test_fit_on_a_single_sample():
    net = bprop.mlp([2, 3, 1], activation="tanh", output_activation="identity", seed=0)
    history = bprop.fit(net, [[1.0, 2.0]], [[0.5]], epochs=5, verbose=0)
    assert history.epochs == 5 and np.isfinite(history.loss).all()
    with pytest.raises(ValueError, match="leaves one side empty"):
        bprop.fit(net, [[1.0, 2.0]], [[0.5]], epochs=1, validation_split=0.5, verbose=0)


@given(training_problems(), st.sampled_from(["classifier", "regressor"]), st.sampled_from(["adam", "sgd", "lbfgs"]))
def test_estimators_on_strange_data_never_keep_nan_weights(problem, kind, solver):
    from sklearn.exceptions import ConvergenceWarning

    X, labels, dtype = problem
    Estimator = bprop.MLPClassifier if kind == "classifier" else bprop.MLPRegressor
    target = labels if kind == "classifier" else labels * np.max(np.abs(X), initial=1.0)
    model = Estimator(hidden_layer_sizes=(4,), solver=solver, max_iter=3, random_state=0, dtype=dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", bprop.DivergenceWarning)
            model.fit(X, target)
    except ValueError as exc:
        assert str(exc)
        return
    assert all(np.isfinite(w).all() for w in model.coefs_ + model.intercepts_)
    assert model.predict(X).shape[0] == X.shape[0]
