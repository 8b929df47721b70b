"""The playground's lab through the protocol: TensorFlow Playground's sets, uploads and their refusals,
heatmaps that are the network's outputs, the finite-difference check, the model file, the Python code
that replays the page's run, and a long request in one tab not holding up another."""

import base64
import gzip
import json
import math
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from starlette.testclient import TestClient  # noqa: E402

import bprop  # noqa: E402
from bprop import modelfile  # noqa: E402
from bprop.insight.gradcheck import check_entry, gradcheck  # noqa: E402
from bprop.playground.datasets import TWO_D_SETS, two_d_points, two_d_table  # noqa: E402
from bprop.playground.server import UploadLimits, create_app  # noqa: E402
from bprop.tables.data import read_csv, read_csv_bytes  # noqa: E402

ADDRESS = "127.0.0.1:8765"
ORIGIN = {"origin": f"http://{ADDRESS}"}


@pytest.fixture
def client():
    return TestClient(create_app(limits=UploadLimits(size=20_000, rows=300)), base_url=f"http://{ADDRESS}")


def connect(client):
    return client.websocket_connect(f"ws://{ADDRESS}/ws", headers=ORIGIN)


def ask(ws, **message):
    ws.send_text(json.dumps(message))
    return ws.receive_json()


def upload(ws, name: str, data: bytes, chunk: int = 700):
    ready = ask(ws, type="upload", name=name, size=len(data), id="up")
    if ready["type"] == "error":
        return ready
    assert ready["type"] == "upload_ready"
    for at in range(0, len(data), chunk):
        ws.send_bytes(data[at : at + chunk])
    return ws.receive_json()


def decoded(heatmap: dict) -> np.ndarray:
    """A map's values from its bytes: lo + b/255·(hi − lo)."""
    raw = np.frombuffer(base64.b64decode(heatmap["data"]), dtype=np.uint8).astype(float)
    return heatmap["lo"] + raw / 255 * (heatmap["hi"] - heatmap["lo"])


# -- the data sets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TWO_D_SETS)
def test_each_set_is_seeded_and_in_the_square(name):
    a = two_d_table(name, 200, 0.2, seed=5)
    b = two_d_table(name, 200, 0.2, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(two_d_table(name, 200, 0.2, seed=6))
    assert a[["x1", "x2"]].abs().to_numpy().max() <= 6.5
    target = a.columns[-1]
    if target == "label":
        assert set(a["label"]) == {"blue", "orange"}
    else:
        assert a["value"].between(-1, 1).all() or name == "plane"


def test_without_noise_the_labels_follow_the_definitions():
    rng = np.random.default_rng(0)
    xy, blue = two_d_points("circle", 400, 0.0, rng)
    assert np.array_equal(blue, np.hypot(xy[:, 0], xy[:, 1]) < 2.5)
    assert blue.sum() == 200  # half drawn inside the circle, half in the ring 3.5–5
    xy, blue = two_d_points("xor", 400, 0.0, rng)
    assert np.array_equal(blue, xy[:, 0] * xy[:, 1] >= 0) and np.abs(xy).min() >= 0.3
    xy, value = two_d_points("plane", 400, 0.0, rng)
    assert np.allclose(value, (xy[:, 0] + xy[:, 1]) / 10)
    xy, value = two_d_points("multigauss", 400, 0.0, rng)
    near = np.hypot(xy[:, 0] - 4, xy[:, 1] + 2.5) < 0.5  # the bump at (4, −2.5) is negative
    assert (value[near] < 0).all()
    xy, blue = two_d_points("gauss", 4000, 0.0, rng)
    assert xy[blue].mean(axis=0) == pytest.approx([2, 2], abs=0.1)
    assert xy[blue].var(axis=0) == pytest.approx([0.5, 0.5], rel=0.1)  # TensorFlow Playground's 0.5 at no noise


def test_bad_data_set_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown data set 'moons'; choose one of"):
        two_d_points("moons", 10, 0.0, rng)
    with pytest.raises(ValueError, match="noise must be between 0 and 0.5"):
        two_d_points("xor", 10, 0.7, rng)


def test_csv_bytes_read_as_the_file_would(tmp_path):
    text = "a;b;c\n1,5;007;x\n2,5;010;y\n"
    path = tmp_path / "eu.csv"
    path.write_text(text)
    from_file = read_csv(path, decimal=",")
    pd.testing.assert_frame_equal(read_csv_bytes(text.encode(), "eu.csv", decimal=","), from_file)
    pd.testing.assert_frame_equal(read_csv_bytes(gzip.compress(text.encode()), "eu.csv.gz", decimal=","), from_file)
    with pytest.raises(ValueError, match=r"^'x.csv' is empty; a CSV needs a header"):
        read_csv_bytes(b"", "x.csv")
    with pytest.raises(ValueError, match=r"^'x.csv' has a header but no data rows"):
        read_csv_bytes(b"a,b\n", "x.csv")
    with pytest.raises(ValueError, match=r"^'x.xlsx' is not a CSV file \(it contains binary data\)"):
        read_csv_bytes(b"PK\x05\x06\x00\x00", "x.xlsx")
    with pytest.raises(ValueError, match="is damaged: it is not a complete gzip file"):
        read_csv_bytes(gzip.compress(text.encode())[:20], "cut.csv.gz")


def test_check_entry_agrees_with_gradcheck_and_the_backward_pass():
    net = bprop.mlp([3, 4, 2], activation="tanh", output_activation="softmax", seed=1, dtype=np.float64)
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(6, 3)), np.eye(2)[rng.integers(0, 2, 6)]
    _, grads = net.loss_and_gradients(X, Y, "categorical_cross_entropy")
    for parameter, index in ((0, (2, 3)), (1, (1,)), (2, (0, 1))):
        result = check_entry(net, X, Y, "categorical_cross_entropy", parameter, index)
        assert result["analytic"] == grads[parameter][index]
        assert result["numeric"] == pytest.approx(result["analytic"], rel=1e-7, abs=1e-11)
        assert result["relative_error"] < 1e-7 and not result["kinked"]
    assert gradcheck(net, X, Y, "categorical_cross_entropy").passed
    with pytest.raises(ValueError, match="parameter must be 0 to 3"):
        check_entry(net, X, Y, "half_sse", 4, (0,))


def test_check_entry_flags_a_relu_kink():
    net = bprop.mlp([1, 1, 1], activation="relu", output_activation="identity", seed=0, dtype=np.float64)
    net.layers[0].W[...] = 1.0
    net.layers[0].b[...] = 0.0
    X, Y = np.array([[0.00005]]), np.array([[1.0]])  # z = 0.00005: a step of 1e-4 on b crosses 0
    assert check_entry(net, X, Y, "half_sse", 1, (0,))["kinked"] is True


def test_model_bytes_are_the_saved_file(tmp_path):
    net = bprop.mlp([2, 3, 1], seed=0)
    path = modelfile.save(net, tmp_path / "m.safetensors")
    assert path.read_bytes() == modelfile.to_bytes(net)


# -- the lab through the protocol --------------------------------------------------------------------------


def test_the_lab_starts_as_tensorflow_playground(client):
    with connect(client) as ws:
        ws.receive_json()
        state = ask(ws, type="setup", mode="lab")
    assert state["settings"] | {"activations": None} == {
        "data": "circle", "noise": 0, "train_percent": 50, "points": 500, "layers": [4, 2], "activations": None,
        "loss": "cross_entropy", "optimizer": "sgd", "learning_rate": 0.03, "batch_size": 10, "l2": 0.0,
        "dropout": 0.0, "init": "auto", "seed": 0,
    }  # fmt: skip
    assert state["settings"]["activations"] == ["tanh", "tanh"]
    assert state["sizes"] == [2, 4, 2, 2] and state["classes"] == ["blue", "orange"]
    assert state["rows"] == {"train": 250, "test": 250}
    assert len(state["points"]["train"]["xy"]) == 250
    assert state["full"] is True and state["last"] is None


def test_heatmaps_are_the_networks_outputs(client):
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="lab", data="xor", layers=[3], activations=["tanh"], loss="half_sse")
        state = ask(ws, type="step", unit="batch", count=30)
    maps = state["heatmaps"]
    assert state["full"] is False and "points" not in state
    x1, x2 = decoded(maps["inputs"][0]), decoded(maps["inputs"][1])
    size = maps["size"]
    assert x1.size == size * size
    assert x1[0] < x1[size - 1] and x2[0] > x2[-1]  # left to right, the top row first
    W, b = np.array(state["layers"][0]["W"]), np.array(state["layers"][0]["b"])
    hidden = np.tanh(np.column_stack([x1, x2]) @ W + b)
    for j in range(3):
        quantum = (maps["layers"][0][j]["hi"] - maps["layers"][0][j]["lo"]) / 255
        step = max(abs(W[0, j]) * maps["inputs"][0]["hi"] - abs(W[0, j]) * maps["inputs"][0]["lo"], 1) / 255
        assert np.abs(decoded(maps["layers"][0][j]) - hidden[:, j]).max() <= quantum + 2 * step
    W2, b2 = np.array(state["layers"][1]["W"]), np.array(state["layers"][1]["b"])
    out = 1 / (1 + np.exp(-(hidden @ W2 + b2)))  # ½SSE on classes: a sigmoid output
    two = maps["output"]
    assert two["kind"] == "two"
    assert np.corrcoef(decoded(two), np.clip(out[:, 0] - out[:, 1], -1, 1))[0, 1] > 0.99


@pytest.mark.parametrize(
    "units", [[("batch", 25), ("epoch", 1)], [("sample", 3), ("batch", 7), ("sample", 2), ("epoch", 1), ("sample", 1)]]
)
def test_python_code_replays_the_pages_run(client, units):
    with connect(client) as ws:
        ws.receive_json()
        setup = {"data": "spiral", "noise": 10, "layers": [6, 5], "activations": ["relu", "tanh"], "dropout": 0.1,
                 "optimizer": "adam", "learning_rate": 0.02, "batch_size": 16, "l2": 0.001, "seed": 9}  # fmt: skip
        ask(ws, type="setup", mode="lab", init="he_normal", **setup)
        for unit, count in units:
            state = ask(ws, type="step", unit=unit, count=count)
        code = ask(ws, type="code")
    scope: dict = {}
    exec(compile(code["python"], "<playground code>", "exec"), scope)
    dense = [layer for layer in scope["net"].layers if "W" in layer.param_names]
    assert scope["trainer"].state.steps == state["steps"]
    for layer, shown in zip(dense, state["layers"]):
        assert np.allclose(layer.W, shown["W"], rtol=0, atol=1e-9)
        assert np.allclose(layer.b, shown["b"], rtol=0, atol=1e-9)
    assert code["command"] is None and "one activation" in code["why_not"]
    assert code["data_csv"].startswith("x1,x2,label\n")


def test_the_command_when_the_command_line_can_say_it(client):
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="lab", data="plane", layers=[8, 8], activations=["relu", "relu"], loss="mse")
        command = ask(ws, type="code")["command"]
        ask(ws, type="setup", loss="half_sse")
        refused = ask(ws, type="code")
        ask(ws, type="setup", data="circle", layers=[], loss="cross_entropy")
        no_hidden = ask(ws, type="code")["command"]
    assert command.startswith("bprop train plane.csv --task regression --layers 8,8 --activation relu")
    assert "--val-split 0.5 --test-split 0 --patience 0" in command
    assert refused["command"] is None and refused["why_not"].endswith("choose MSE")
    assert no_hidden.startswith('bprop train circle.csv --task classification --layers "" --activation tanh')


def test_finite_difference_check_of_a_clicked_weight(client):
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="lab", data="gauss", layers=[3], activations=["sigmoid"])
        ask(ws, type="step", unit="batch", count=3)
        weight = ask(ws, type="check_weight", layer=1, to=2, **{"from": 1})
        bias = ask(ws, type="check_weight", layer=2, to=1)
        bad = ask(ws, type="check_weight", layer=3, to=1)
    assert weight["rows"] == 10 and weight["loss_name"] == "categorical_cross_entropy"
    assert weight["numeric"] == pytest.approx(weight["analytic"], rel=1e-6, abs=1e-10)
    assert bias["from"] is None and bias["relative_error"] < 1e-6
    assert bad["type"] == "error" and "'layer' must be 1 to 2" in bad["error"]


def test_curves_norms_findings_and_the_digits_views(client):
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="lab", data="digits", layers=[16], activations=["relu"], optimizer="adam",
            learning_rate=0.01, batch_size=64, train_percent=70)  # fmt: skip
        state = ask(ws, type="step", unit="epoch", count=3)
    assert state["heatmaps"] is None and state["epochs_done"] == 3
    # 64 inputs and 16 hidden units: the first 8 and the last of each are drawn, and sent.
    assert state["shown"] == [[*range(8), 63], [*range(8), 15], list(range(10))]
    assert np.array(state["layers"][0]["W"]).shape == (9, 9) and len(state["layers"][0]["b"]) == 9
    assert [len(u["out"]) for u in state["last"]["units"]] == [9, 9, 10]
    assert len(state["classes"]) == 10 and state["rows"]["train"] + state["rows"]["test"] == 1797
    steps, train_loss, test_loss, train_acc, test_acc = state["curve"][-1]
    assert steps == state["steps"] and test_acc > 0.8 and train_loss < state["curve"][0][1]
    counts = np.array(state["confusion"]["counts"])
    assert counts.sum() == state["rows"]["test"] and np.trace(counts) / counts.sum() == pytest.approx(test_acc)
    wrong = state["misclassified"]
    assert len(wrong) == min(16, counts.sum() - np.trace(counts))
    assert all(len(w["pixels"]) == 64 and w["label"] != w["predicted"] for w in wrong)
    assert [len(n) for n in state["norms"]] == [min(120, state["steps"])] * 2
    assert all(v > 0 for v in state["norms"][0])
    assert isinstance(state["findings"], list)


def test_findings_in_plain_words_for_a_dead_relu_layer(client):
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="lab", data="circle", layers=[8], activations=["relu"], learning_rate=10,
            optimizer="sgd", batch_size=250)  # fmt: skip
        state = ask(ws, type="step", unit="epoch", count=6)
    dead = [f for f in state["findings"] if f.startswith("layer 1: 100 % of ReLU units dead")]
    assert dead and dead[0].endswith("lower the learning rate or use leaky_relu"), state["findings"]


def test_clicked_neurons_in_the_lab(client):
    """A softmax output with cross-entropy: δ = out − target (one fused pair); a hidden unit: ∂E/∂out · f′."""
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="lab", layers=[3], activations=["tanh"])
        preview = ask(ws, type="inspect_unit", layer=2, unit=1)
        state = ask(ws, type="step", unit="batch")
        output = ask(ws, type="inspect_unit", layer=2, unit=2)
        hidden = ask(ws, type="inspect_unit", layer=1, unit=3)
    assert preview["step"] == "preview" and len(preview["samples"]) == 10
    assert "softmax output with cross-entropy" in output["rule"]
    for sample in output["samples"]:
        assert sample["delta"] == pytest.approx(sample["out"] - sample["target"], abs=1e-12)
        assert sample["dE_dout"] is None and sample["dout_dnet"] is None
    assert output["mean"]["out"] == pytest.approx(state["last"]["units"][2]["out"][1], abs=1e-12)
    for sample in hidden["samples"]:
        assert sample["dout_dnet"] == pytest.approx(1 - sample["out"] ** 2, abs=1e-12)  # tanh′
        assert sample["delta"] == pytest.approx(sample["dE_dout"] * sample["dout_dnet"], abs=1e-12)


def test_a_downloaded_model_predicts_as_the_page(client, tmp_path):
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="lab", data="circle", layers=[6], activations=["tanh"], optimizer="adam")
        state = ask(ws, type="step", unit="epoch", count=5)
        model = ask(ws, type="download")
    assert model["filename"] == "circle-model.safetensors"
    path = tmp_path / model["filename"]
    path.write_bytes(base64.b64decode(model["data"]))
    loaded = modelfile.load(path)
    W = np.array(state["layers"][0]["W"])
    assert np.array_equal(loaded.net.layers[0].W, W)
    assert loaded.preprocessing["target"]["column"] == "label"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"type": "setup", "mode": "lab", "layers": [4, 0]}, r"'layers\[1\]' must be between 1 and 256"),
        ({"type": "setup", "mode": "lab", "layers": list(range(1, 11))}, "'layers' must be a list of 0 to 8 entries"),
        ({"type": "setup", "mode": "lab", "layers": "4,2"}, "'layers' must be a list"),
        ({"type": "setup", "mode": "lab", "activations": ["swish"]}, r"'activations\[0\]' must be one of"),
        ({"type": "setup", "mode": "lab", "layers": [3], "activations": ["relu", "relu"]}, "one name per hidden layer"),
        ({"type": "setup", "mode": "lab", "data": "upload"}, "no CSV uploaded in this tab"),
        ({"type": "setup", "mode": "lab", "data": "plane", "loss": "cross_entropy"}, "cross-entropy needs a class"),
        ({"type": "setup", "mode": "xor", "noise": 10}, "the xor mode has no setting"),
        ({"type": "setup", "mode": "article", "optimizer": "rmsprop"}, "trains with 'sgd' or 'adam'"),
        ({"type": "download"}, "'download' is for the lab"),
        ({"type": "upload", "name": "a\nb.csv", "size": 10}, "'name' must be printable text"),
        ({"type": "upload", "name": "big.csv", "size": 20_001}, "at most 20,000 .*--max-upload"),
    ],
)
def test_bad_lab_messages_get_error_frames(client, message, expected):
    with connect(client) as ws:
        ws.receive_json()
        reply = ask(ws, **message)
        after = ask(ws, type="state")
    assert reply["type"] == "error"
    assert __import__("re").search(expected, reply["error"]), reply["error"]
    assert after["type"] == "state"


def test_upload_a_csv_then_refusals(client):
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"size": rng.normal(size=200), "age": rng.normal(size=200)})
    table["kind"] = np.where(table["size"] > 0, "big", "small")
    good = table.to_csv(index=False).encode()
    with connect(client) as ws:
        ws.receive_json()
        state = upload(ws, "mine.csv", good)
        assert state["type"] == "state" and state["id"] == "up"
        assert (state["mode"], state["upload_name"], state["classes"]) == ("lab", "mine.csv", ["big", "small"])
        assert state["rows"] == {"train": 100, "test": 100} and state["heatmaps"]["columns"] == ["size", "age"]
        again = ask(ws, type="setup", layers=[2], activations=["relu"])
        assert again["upload_name"] == "mine.csv" and again["sizes"] == [2, 2, 2]
        binary = upload(ws, "photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00")
        assert binary["type"] == "error" and binary["request"] == "upload" and "binary data" in binary["error"]
        assert "traceback" not in binary["error"].lower()
        too_many = upload(ws, "long.csv", b"a,b\n" + b"1,x\n" * 301)
        assert "has 301 rows; the playground takes at most 300" in too_many["error"]
        ready = ask(ws, type="upload", name="short.csv", size=5)
        assert ready["type"] == "upload_ready"
        ws.send_bytes(b"a,b\n1,2\n")
        assert "sent 8 bytes but announced 5" in ws.receive_json()["error"]
        ws.send_bytes(b"stray")
        assert "not binary frames" in ws.receive_json()["error"]
        still = ask(ws, type="state")
    assert still["upload_name"] == "mine.csv"  # refused uploads leave the tab's data as it was


def test_one_tabs_long_request_does_not_hold_up_another():
    """Two real connections to a real server: while one tab's request trains for about a second, the
    other tab's requests are answered at once."""
    from websockets.sync.client import connect as ws_connect

    from test_playground_cli import start, stop

    process, url = start()
    try:
        host = url.split("//")[1].rstrip("/")
        options = {"origin": f"http://{host}", "open_timeout": 10}
        with ws_connect(f"ws://{host}/ws", **options) as busy, ws_connect(f"ws://{host}/ws", **options) as other:
            busy.recv(), other.recv()
            busy.send(json.dumps({"type": "setup", "mode": "lab", "data": "digits", "layers": [64, 64],
                                  "activations": ["tanh", "tanh"], "batch_size": 1}))  # fmt: skip
            busy.recv()
            other.send(json.dumps({"type": "setup", "mode": "xor"}))
            other.recv()
            busy.send(json.dumps({"type": "step", "unit": "epoch", "count": 10000}))
            time.sleep(0.1)  # the busy tab is training now
            waits = []
            for _ in range(5):
                started = time.perf_counter()
                other.send(json.dumps({"type": "step", "unit": "batch"}))
                other.recv()
                waits.append(time.perf_counter() - started)
            done = json.loads(busy.recv(timeout=30))
        assert done["type"] == "state" and done["done"] >= 1
        assert max(waits) < 0.5, waits  # the busy request runs about REQUEST_BUDGET = 1 s
    finally:
        stop(process)


def test_max_upload_flag():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "bprop.cli", "playground", "--max-upload", "lots"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --max-upload takes a size like 50MB or 200MB,5000000 (bytes, rows), got 'lots'"
    ]
    from bprop.cli.playground_command import max_upload

    assert max_upload("200MB,5000000") == UploadLimits(200_000_000, 5_000_000)
    assert max_upload("1.5kB") == UploadLimits(1500, 1_000_000)
    assert math.isclose(max_upload("50MB").size, 5e7)


def test_the_command_runs_on_the_saved_data(client, tmp_path):
    import shlex
    import subprocess
    import sys

    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="lab", data="gauss", layers=[4], activations=["relu"], optimizer="adam")
        ask(ws, type="step", unit="epoch", count=2)
        code = ask(ws, type="code")
    (tmp_path / "gauss.csv").write_text(code["data_csv"])
    argv = shlex.split(code["command"])
    assert argv[:3] == ["bprop", "train", "gauss.csv"] and "--epochs" in argv
    done = subprocess.run([sys.executable, "-m", "bprop.cli", *argv[1:], "--quiet"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    model = modelfile.load(tmp_path / "model.safetensors")
    assert [layer.W.shape for layer in model.net.layers] == [(2, 4), (4, 2)]
    assert model.net.layers[0].activation.name == "relu"


def test_a_diverging_lab_run_stops_without_a_warning(client):
    """Warnings are errors in these tests: a diverging run on the server's thread must only say why it stopped."""
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="lab", data="plane", layers=[8], activations=["identity"], learning_rate=10,
            loss="mse", batch_size=250)  # fmt: skip
        state = ask(ws, type="step", unit="epoch", count=50)
        refused = ask(ws, type="step", unit="batch")
    assert state["stopped"].startswith("training diverged in epoch")
    assert refused["type"] == "error" and "press reset" in refused["error"]
    assert any(f.startswith("training diverged") for f in state["findings"])


def test_trainer_divergence_warning_can_be_left_out():
    from bprop.training.trainer import DivergenceWarning

    X = np.linspace(-1, 1, 40).reshape(-1, 1) * 100
    for warn in (True, False):
        net = bprop.mlp([1, 4, 1], activation="identity", seed=0, dtype=np.float64)
        trainer = bprop.Trainer(net, X, X, learning_rate=5.0, epochs=50, verbose=0, divergence_warning=warn)
        if warn:
            with pytest.warns(DivergenceWarning, match="training diverged"):
                history = trainer.run()
        else:
            history = trainer.run()  # warnings are errors here: none may be issued
        assert history.stop_reason == "diverged" and history.stop_message.startswith("training diverged")
