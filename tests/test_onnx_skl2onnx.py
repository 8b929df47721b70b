"""skl2onnx converts scikit-learn pipelines holding bprop's estimators, to the estimators' own predictions."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import bprop

skl2onnx = pytest.importorskip("skl2onnx")
onnxruntime = pytest.importorskip("onnxruntime")


# Short fits: the conversion is what is tested, not convergence.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module", autouse=True)
def registered():
    bprop.register_skl2onnx()


def _run(onx, X):
    session = onnxruntime.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


@pytest.mark.parametrize(("classes", "activation"), [(["setosa", "versicolor", "virginica"], "relu"), ([3, 7], "tanh")])
def test_pipeline_with_a_classifier(classes, activation):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4)) * [1, 10, 100, 0.1] + [0, 5, -50, 1]
    group = (X[:, 0] > 0).astype(int) + (X[:, 1] > 5) if len(classes) == 3 else (X[:, 0] > 0).astype(int)
    y = np.array(classes, dtype=object if isinstance(classes[0], str) else None)[group]
    network = bprop.MLPClassifier((8,), activation=activation, max_iter=50, random_state=0)
    pipe = make_pipeline(StandardScaler(), network)
    pipe.fit(X, y)
    X32 = X.astype(np.float32)
    onx = skl2onnx.to_onnx(pipe, X32[:1], options={"zipmap": False})
    labels, probabilities = _run(onx, X32)
    assert labels.tolist() == pipe.predict(X32).tolist()
    np.testing.assert_allclose(probabilities, pipe.predict_proba(X32), rtol=0, atol=1e-5)
    # skl2onnx's default: probabilities as a list of {class: p} maps (ZipMap)
    labels, maps = _run(skl2onnx.to_onnx(pipe, X32[:1]), X32[:3])
    assert list(maps[0]) == list(pipe.classes_)


def test_pipeline_with_a_regressor_in_double():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3)) * 20
    y = X @ [0.1, -0.2, 0.05] + np.sin(X[:, 0])
    pipe = make_pipeline(StandardScaler(), bprop.MLPRegressor((6,), activation="leaky_relu", max_iter=40,
                                                              random_state=0, dtype="float64"))  # fmt: skip
    pipe.fit(X, y)
    (values,) = _run(skl2onnx.to_onnx(pipe, X[:1]), X)
    assert values.shape == (80, 1) and values.dtype == np.float64
    np.testing.assert_allclose(values[:, 0], pipe.predict(X), rtol=0, atol=1e-9)
