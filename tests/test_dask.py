"""The estimators' ``partial_fit`` under dask-ml's ``Incremental``: data larger than memory, one block at a
time, through the same engine (issue 15's part for Dask users; Dask trains nothing in parallel here)."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
wrappers = pytest.importorskip("dask_ml.wrappers")
pd = pytest.importorskip("pandas")

import bprop  # noqa: E402


def _blocks(n_blocks: int = 4, rows: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_blocks * rows, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] - 0.5 * X[:, 2] > 0).astype(np.int64)
    return X, y, rows


def test_incremental_is_partial_fit_on_each_block_in_order():
    X, y, rows = _blocks()
    dX, dy = da.from_array(X, chunks=(rows, 5)), da.from_array(y, chunks=rows)
    wrapped = wrappers.Incremental(bprop.MLPClassifier(hidden_layer_sizes=(8,), random_state=0), shuffle_blocks=False)
    wrapped.fit(dX, dy, classes=[0, 1])
    by_hand = bprop.MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    for start in range(0, len(X), rows):
        by_hand.partial_fit(X[start : start + rows], y[start : start + rows], classes=[0, 1])
    for a, b in zip(wrapped.estimator_.coefs_ + wrapped.estimator_.intercepts_, by_hand.coefs_ + by_hand.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_a_dask_dataframe_trains_a_regressor_block_by_block_over_several_passes():
    X, _, rows = _blocks(seed=1)
    target = 2.0 * X[:, 0] - X[:, 3] + 0.5
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]).assign(y=target)
    ddf = dd.from_pandas(frame, npartitions=4)
    dX = ddf.drop(columns="y").to_dask_array(lengths=True)
    dy = ddf["y"].to_dask_array(lengths=True)
    model = bprop.MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    wrapped = wrappers.Incremental(model, random_state=0)
    scores = []
    for _ in range(6):  # each call is one pass over the blocks; the estimator keeps learning
        wrapped.partial_fit(dX, dy)
        predictions = wrapped.predict(dX)
        assert isinstance(predictions, da.Array)  # predicted block by block
        predicted = predictions.compute()
        scores.append(1 - ((predicted - target) ** 2).sum() / ((target - target.mean()) ** 2).sum())
    assert scores[-1] > 0.95
    assert scores[-1] > scores[0]
