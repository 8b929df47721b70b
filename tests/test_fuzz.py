"""Fuzzing (Hypothesis): loaders and training on strange input give a result or a clear ValueError —
never another exception, a hang, executed code, or NaN weights."""

import contextlib
import copy
import hashlib
import io as text_io
import json
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bprop
from bprop import modelfile as io
from bprop.cli import main
from bprop.tables import data
from cli_support import mixed_table, train_model, write_csv

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
        assert str(exc)
        assert "\n" not in str(exc).strip()


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


# -- metadata of a trained model -----------------------------------------------------------------------
def run_cli(*argv) -> tuple[int, str, str]:
    """``bprop ARGV`` in-process (capsys cannot be used inside @given): (exit status, stdout, stderr)."""
    out, err = text_io.StringIO(), text_io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    """A classifier trained by the CLI (numeric columns, a string column, string classes) and what it predicts."""
    folder = tmp_path_factory.mktemp("pets")
    model, _ = train_model(folder, "pets", mixed_table(), "--epochs", "30")
    rows = write_csv(folder / "rows.csv", mixed_table(25, seed=5))
    code, predictions, err = run_cli("predict", model, rows, "--proba")
    assert code == 0, err
    assert predictions.count("\n") == 26, err
    data_bytes = model.read_bytes()
    document = json.loads(
        json.loads(data_bytes[8 : 8 + int.from_bytes(data_bytes[:8], "little")])["__metadata__"]["bprop"]
    )
    return {"folder": folder, "rows": rows, "predictions": predictions, "document": document, "model": model}


def _nodes(value, path=()):
    """Every place in a JSON value, as a path of keys and indices."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nodes(item, (*path, index))


def _at(document, path):
    for step in path:
        document = document[step]
    return document


OTHER_VALUES = [None, True, False, 0, -1, 1.5, 10**6, "", "k", [], {}, ["k"], [[1]], {"k": 1}, [None]]


def _change_digit(draw, number):
    text = json.dumps(number)
    places = [i for i, c in enumerate(text) if c.isdigit()]
    i = draw(st.sampled_from(places))
    digit = draw(st.sampled_from([d for d in "0123456789" if d != text[i]]))
    return json.loads(text[:i] + digit + text[i + 1 :])


def _mutate(draw, document, strings):
    """One edit somewhere in ``document`` (in place): a digit, a swap, a deletion, another type, a nesting."""
    section = draw(st.sampled_from(sorted(document)))
    path = draw(st.sampled_from(list(_nodes(document[section], (section,)))))
    parent, key = _at(document, path[:-1]), path[-1]
    value = parent[key]
    kinds = ["delete", "retype", "nest"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        kinds += ["digit"] * 3
    if isinstance(value, list) and len(value) >= 2:
        kinds += ["swap"] * 3
    if isinstance(value, str):
        kinds += ["string"] * 2
    kind = draw(st.sampled_from(kinds))
    if kind == "delete":
        del parent[key]
    elif kind == "retype":
        parent[key] = draw(st.sampled_from([v for v in OTHER_VALUES if v != value or type(v) is not type(value)]))
    elif kind == "nest":
        parent[key] = [value]
    elif kind == "digit":
        parent[key] = _change_digit(draw, value)
    elif kind == "swap":
        i, j = draw(st.lists(st.integers(0, len(value) - 1), min_size=2, max_size=2, unique=True))
        value[i], value[j] = value[j], value[i]
    else:
        parent[key] = draw(st.sampled_from([s for s in strings if s != value] + [value + "x"]))
    return f"{kind} at {path}"


def _rehashed(document):
    """Recompute the metadata checksums as documented (canonical JSON), as someone re-hashing would."""

    def sha(value):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()

    header = {key: document.get(key) for key in ("format", "format_version", "bprop_version")}
    sums = {
        "header": sha(header),
        **{k: sha(document.get(k)) for k in ("architecture", "preprocessing", "training", "extra")},
    }
    return {**document, "metadata_sha256": sums}


def _write_model(pets, document, name="edited.safetensors"):
    from safetensors.numpy import load as st_load
    from safetensors.numpy import save as st_save

    path = pets["folder"] / name
    path.write_bytes(st_save(st_load(pets["model"].read_bytes()), metadata={"bprop": json.dumps(document)}))
    return path


def _strings(value):
    return sorted({text for path in _nodes(value) if isinstance(text := _at(value, path), str)})


def _assert_one_error_line(code, out, err, what):
    assert code == 2, (what, code, out, err)
    assert "Traceback" not in err + out, (what, err)
    assert len(err.splitlines()) == 1, (what, err)
    assert err.startswith("error: "), (what, err)


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_edited_metadata_is_refused_or_predicts_the_same(pets, data):
    # Never a different prediction: an edit the checksums do not cover must not change the output.
    document = copy.deepcopy(pets["document"])
    what = _mutate(data.draw, document, _strings(pets["document"]))
    code, out, err = run_cli("predict", _write_model(pets, document), pets["rows"], "--proba")
    if code == 0:
        assert out == pets["predictions"], what
    else:
        _assert_one_error_line(code, out, err, what)


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_edited_and_re_hashed_metadata_never_gives_a_traceback(pets, data):
    # A re-hashed edit passes the checksums (they are not a signature); the schema checks must still hold.
    document = copy.deepcopy(pets["document"])
    what = _mutate(data.draw, document, _strings(pets["document"]))
    code, out, err = run_cli("predict", _write_model(pets, _rehashed(document)), pets["rows"], "--proba")
    if code == 0:
        assert out.strip(), (what, out, err)
        assert "Traceback" not in err, (what, out, err)
    else:
        _assert_one_error_line(code, out, err, what)


@pytest.mark.parametrize(
    "change",
    [
        lambda doc: doc["preprocessing"]["target"].update(column=["k"]),  # bug 8's reproduction
        lambda doc: doc["preprocessing"]["features"]["columns"][0].update(name=["k"]),
        lambda doc: doc["preprocessing"]["features"].update(columns={"k": 1}),
        lambda doc: doc["preprocessing"]["target"].update(classes=["cat"]),
        lambda doc: doc["preprocessing"]["features"]["columns"][2].update(categories=[]),
    ],
)
def test_re_hashed_preprocessing_of_the_wrong_shape_is_one_error_line(pets, change):
    document = copy.deepcopy(pets["document"])
    change(document)
    path = _write_model(pets, _rehashed(document))
    for command in (["predict", path, pets["rows"]], ["evaluate", path, pets["rows"]], ["info", path]):
        _assert_one_error_line(*run_cli(*command), command)


def test_a_version_1_model_predicts_the_same_with_one_warning(pets):
    document = copy.deepcopy(pets["document"])
    del document["metadata_sha256"]
    document["format_version"] = 1
    path = _write_model(pets, document, "v1.safetensors")
    code, out, err = run_cli("predict", path, pets["rows"], "--proba")
    assert code == 0
    assert out == pets["predictions"]
    warned = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 1, err
    assert "version-1 model file" in warned[0], err
    assert "re-save it" in warned[0], err
    code, _, err = run_cli("info", path)
    assert code == 0, err
    assert err.count("version-1 model file") == 1, err


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
    assert history.epochs == 5
    assert np.isfinite(history.loss).all()
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
