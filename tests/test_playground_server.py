"""The playground's server and protocol through Starlette's TestClient: the numbers it sends are the
engine's, bad messages get error frames, foreign pages are refused."""

import gc
import json
import math
import re
import weakref
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

import bprop  # noqa: E402
from bprop.insight.explain import ARTICLE_SPEC, explain_step, network_from_spec  # noqa: E402
from bprop.insight.one_weight import one_weight_try  # noqa: E402
from bprop.playground import session as session_module  # noqa: E402
from bprop.playground.protocol import MESSAGES  # noqa: E402
from bprop.playground.server import create_app  # noqa: E402

ADDRESS = "127.0.0.1:8765"
ORIGIN = {"origin": f"http://{ADDRESS}"}
WEIGHTS = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"]


@pytest.fixture
def client():
    return TestClient(create_app(), base_url=f"http://{ADDRESS}")


def connect(client, headers=ORIGIN):
    return client.websocket_connect(f"ws://{ADDRESS}/ws", headers=headers)


def ask(ws, **message):
    ws.send_text(json.dumps(message))
    return ws.receive_json()


def article_W(state):
    """w1…w8 from the state's layers (W[i][j] is unit i → unit j)."""
    hidden, output = state["layers"][0]["W"], state["layers"][1]["W"]
    return dict(zip(WEIGHTS, [hidden[0][0], hidden[1][0], hidden[0][1], hidden[1][1],
                              output[0][0], output[1][0], output[0][1], output[1][1]]))  # fmt: skip


# -- the article mode ------------------------------------------------------------------------------------


def test_the_first_frame_is_the_articles_network(client, worked_example):
    with connect(client) as ws:
        state = ws.receive_json()
    assert state["type"] == "state"
    assert state["mode"] == "article"
    assert state["sizes"] == [2, 2, 2]
    assert state["steps"] == 0
    assert article_W(state) == {k: worked_example["initial"][k] for k in WEIGHTS}
    assert state["layers"][1]["weight_names"] == [["w5", "w7"], ["w6", "w8"]]
    assert state["loss"] == pytest.approx(worked_example["error"]["E_total"], abs=1e-12)
    assert state["last"] is None


def test_one_sample_step_shows_every_number_of_explain(client, worked_example):
    with connect(client) as ws:
        ws.receive_json()
        state = ask(ws, type="step", unit="sample", id=7)
    assert state["id"] == 7
    assert state["steps"] == 1
    net, X, Y, lr, loss = network_from_spec(ARTICLE_SPEC)
    expected = explain_step(net, X, Y, loss=loss, learning_rate=lr)
    assert state["explain"] == json.loads(json.dumps(expected))
    published = worked_example["published"]
    assert state["explain"]["gradients"]["w5"] == pytest.approx(published["dE_dw5"], abs=5e-10)
    # The trainer's own step moved the weights to the article's w⁺.
    for name, value in article_W(state).items():
        assert value == pytest.approx(worked_example["updated"][name], abs=1e-12), name
        assert value == pytest.approx(published["updated"][name], abs=5e-8), name
    # The diagram's numbers: per-unit net/out/δ and the weights' gradients of that update.
    units = state["last"]["units"]
    assert units[1]["out"] == pytest.approx([worked_example["forward"]["out_h1"], worked_example["forward"]["out_h2"]])
    assert units[2]["net"][0] == pytest.approx(worked_example["forward"]["net_o1"], abs=1e-12)
    assert state["last"]["gradients"][1]["W"][0][0] == pytest.approx(worked_example["gradients"]["w5"], abs=1e-12)
    assert state["last"]["gradients"][1]["b"] is None  # the article's biases are held fixed
    assert state["loss"] == pytest.approx(worked_example["error_after_one_step"], abs=1e-12)


def test_clicking_w5_and_o1_after_one_step(client, worked_example):
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="step", unit="sample")
        weight = ask(ws, type="inspect_weight", layer=2, **{"from": 1, "to": 1})
        unit = ask(ws, type="inspect_unit", layer=2, unit=1)
        bias = ask(ws, type="inspect_bias", layer=2, unit=1)
    chain = worked_example["chain_w5"]
    assert weight["name"] == "w5"
    assert (weight["from_name"], weight["to_name"]) == ("h1", "o1")
    (sample,) = weight["samples"]
    assert sample["a"] == pytest.approx(chain["dnet_o1_dw5"], abs=1e-12)
    assert sample["delta"] == pytest.approx(chain["dE_dout_o1"] * chain["dout_o1_dnet_o1"], rel=1e-12)
    assert sample["product"] == pytest.approx(chain["dE_dw5"], abs=1e-12)
    assert weight["gradient"] == pytest.approx(chain["dE_dw5"], abs=1e-12)
    update = weight["update"]
    assert update["before"] == 0.4
    assert update["eta"] == 0.5
    assert update["after"] == pytest.approx(worked_example["updated"]["w5"], abs=1e-12)
    assert update["applied"] == pytest.approx(update["minus_eta_g"], abs=1e-15)
    assert unit["name"] == "o1"
    (numbers,) = unit["samples"]
    assert numbers["net"] == pytest.approx(worked_example["forward"]["net_o1"], abs=1e-12)
    assert numbers["out"] == pytest.approx(worked_example["forward"]["out_o1"], abs=1e-12)
    assert numbers["dE_dout"] == pytest.approx(chain["dE_dout_o1"], abs=1e-12)
    assert numbers["dout_dnet"] == pytest.approx(chain["dout_o1_dnet_o1"], abs=1e-12)
    assert numbers["target"] == 0.01
    assert bias["frozen"] is True
    assert bias["update"]["applied"] == 0.0


def test_before_any_step_a_click_shows_the_pass_without_an_update(client, worked_example):
    with connect(client) as ws:
        ws.receive_json()
        weight = ask(ws, type="inspect_weight", layer=1, **{"from": 1, "to": 1})
    assert weight["name"] == "w1"
    assert weight["gradient"] == pytest.approx(worked_example["gradients"]["w1"], abs=1e-12)
    assert weight["update"] is None


# -- a batch, an epoch, L2, Adam ----------------------------------------------------------------------


def xor_trainer(**options):
    """The same run as the session's, built here from the public API."""
    net = bprop.mlp([2, 3, 1], activation="tanh", output_activation="sigmoid", seed=0, dtype=np.float64)
    X, Y = np.array(session_module.XOR["inputs"]), np.array(session_module.XOR["targets"])
    return net, X, Y, bprop.Trainer(net, X, Y, epochs=1000, seed=0, verbose=0, metric=None, **options)


def test_a_batch_step_matches_the_trainer_and_its_gradient(client):
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="xor", batch_size=2, learning_rate=0.3)
        first = ask(ws, type="step", unit="batch")
        weight = ask(ws, type="inspect_weight", layer=1, **{"from": 2, "to": 3})
        unit = ask(ws, type="inspect_unit", layer=1, unit=3)
    net, X, Y, trainer = xor_trainer(batch_size=2, learning_rate=0.3)
    before = [p.copy() for p in net.parameters()]
    trainer.step()
    assert first["layers"][0]["W"] == net.layers[0].W.tolist()
    assert first["layers"][1]["b"] == net.layers[1].b.tolist()
    rows = [r - 1 for r in first["last"]["rows"]]
    assert len(rows) == 2
    # ∂E/∂w of the batch, by the engine at the weights before the step, and as the mean of δ·a.
    hidden = bprop.Dense(2, 3, "tanh", dtype=np.float64, init=before[0], bias_init=before[1])
    check = bprop.Sequential(
        [hidden, bprop.Dense(3, 1, "sigmoid", dtype=np.float64, init=before[2], bias_init=before[3])]
    )
    _, grads = check.loss_and_gradients(X[rows], Y[rows])
    assert weight["gradient"] == pytest.approx(grads[0][1, 2], abs=1e-15)
    products = [s["product"] for s in weight["samples"]]
    assert [s["example"] - 1 for s in weight["samples"]] == rows
    assert weight["gradient"] == pytest.approx(np.mean(products), abs=1e-15)
    assert [s["a"] for s in weight["samples"]] == X[rows, 1].tolist()
    assert weight["update"]["applied"] == pytest.approx(-0.3 * weight["gradient"], abs=1e-15)
    assert unit["mean"]["delta"] == pytest.approx(np.mean([s["delta"] for s in unit["samples"]]), abs=1e-15)
    assert [s["delta"] for s in unit["samples"]] == pytest.approx(
        [s["dE_dout"] * s["dout_dnet"] for s in unit["samples"]], rel=1e-12
    )


def test_epochs_and_samples_advance_like_the_trainer(client):
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="xor", batch_size=3)
        state = ask(ws, type="step", unit="epoch", count=2)
        assert (state["steps"], state["epochs_done"], state["done"]) == (4, 2, 2)  # 4 rows: batches of 3 and 1
        state = ask(ws, type="step", unit="sample", count=5)
        assert state["steps"] == 9
        assert state["last"]["rows"] == [1]  # the fifth sample: examples are taken in turn
    net, X, Y, trainer = xor_trainer(batch_size=3, learning_rate=0.3)
    trainer.run_epoch()
    trainer.run_epoch()
    for i in range(5):
        trainer.step_on(X[[i % 4]], Y[[i % 4]])
    assert state["layers"][0]["W"] == net.layers[0].W.tolist()
    assert state["loss"] == pytest.approx(net.loss(X, Y), abs=1e-15)


def test_l2_and_adam_show_the_terms_of_the_update(client):
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="xor", optimizer="adam", l2=0.01, learning_rate=0.05)
        ask(ws, type="step", unit="batch")
        first = ask(ws, type="inspect_weight", layer=2, **{"from": 1, "to": 1})
        ask(ws, type="step", unit="batch")
        second = ask(ws, type="inspect_weight", layer=2, **{"from": 1, "to": 1})
    for reply in (first, second):
        update = reply["update"]
        assert update["l2_term"] == pytest.approx(0.01 * update["before"], rel=1e-15)
        assert update["g"] == pytest.approx(reply["gradient"] + update["l2_term"], rel=1e-15)
        assert update["m_hat"] == pytest.approx(update["m"] / (1 - 0.9 ** update["t"]), rel=1e-15)
        assert update["adam_step"] == pytest.approx(update["applied"], rel=1e-9)
    u1, u2 = first["update"], second["update"]
    assert (u1["t"], u2["t"]) == (1, 2)
    assert u1["m"] == pytest.approx(0.1 * u1["g"], rel=1e-12)  # (1 − β₁)·g from m = 0
    assert u1["v"] == pytest.approx(0.001 * u1["g"] ** 2, rel=1e-12)
    assert u2["m"] == pytest.approx(0.9 * u1["m"] + 0.1 * u2["g"], rel=1e-12)
    assert u2["before"] == u1["after"]


def test_play_sends_frames_until_paused(client):
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="speed", steps_per_second=400)
        state = ask(ws, type="play", unit="sample")
        assert state["playing"] is True
        steps = [ws.receive_json()["steps"] for _ in range(3)]
        assert steps == sorted(steps)
        assert steps[-1] > 0
        reply = ask(ws, type="pause")
        while reply.get("playing", True):  # frames already on their way arrive first
            reply = ws.receive_json()
        assert reply["type"] == "state"


# -- the one-weight mode --------------------------------------------------------------------------------


def test_one_weight_mode_drag_and_step(client):
    with connect(client) as ws:
        ws.receive_json()
        state = ask(ws, type="setup", mode="one-weight")
        assert state["W"] == 3.0
        assert [row["square_error"] for row in state["table"]["rows"]] == [0, 1, 4]
        state = ask(ws, type="set_weight", W=4)
        assert state["table"]["total_square_error"] == 20
        assert state["table"]["dE_dW"] == pytest.approx(10.0, abs=1e-12)
        state = ask(ws, type="step", unit="batch", count=2)
        error = ask(ws, type="inspect_unit", layer=1, unit=1)
    assert state["W"] == pytest.approx(2 + 0.5**2 * 2, abs=1e-12)  # 4 → 3 → 2.5
    assert state["path"]["W"] == pytest.approx([4.0, 3.0, 2.5], abs=1e-12)
    assert state["table"] == json.loads(json.dumps(one_weight_try(state["W"])))
    assert state["curve"]["E"][state["curve"]["W"].index(2.0)] == 0.0
    assert error["type"] == "error"
    assert "set_weight" in error["error"]


# -- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame, fragment",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"type": "step", "unit": "sample", "count": NaN}', "not valid JSON"),
        ('{"type": "fly"}', "unknown message type 'fly'"),
        ('{"unit": "sample"}', "unknown message type None"),
        ('{"type": "step"}', "needs the field(s) ['unit']"),
        ('{"type": "step", "unit": "sample", "speed": 3}', "has no field(s) ['speed']"),
        ('{"type": "step", "unit": "week"}', "'unit' must be one of ['sample', 'batch', 'epoch']"),
        ('{"type": "step", "unit": "sample", "count": 0}', "'count' must be between 1 and 10000"),
        ('{"type": "step", "unit": "sample", "count": 2.5}', "'count' must be a whole number"),
        ('{"type": "step", "unit": "sample", "count": true}', "'count' must be a whole number"),
        ('{"type": "setup", "learning_rate": 1e400}', "'learning_rate' must be between 1e-06 and 10, got inf"),
        ('{"type": "setup", "learning_rate": "0.1"}', "'learning_rate' must be a number"),
        ('{"type": "setup", "learning_rate": 50}', "'learning_rate' must be between"),
        ('{"type": "setup", "mode": "mnist"}', "'mode' must be one of"),
        ('{"type": "inspect_unit", "layer": 3, "unit": 1}', "'layer' must be 1 to 2"),
        ('{"type": "inspect_unit", "layer": 1, "unit": 3}', "layer 1 has units 1 to 2"),
        ('{"type": "inspect_weight", "layer": 2, "from": 5, "to": 1}', "'from' must be a unit"),
        ('{"type": "set_weight", "W": 1}', "for the one-weight mode"),
        ('{"type": "state", "id": [1]}', "'id' must be"),
        ('{"type": "state", "pad": "' + "x" * 5000 + '"}', "at most 4096 bytes"),
        ("[" * 100_000, "at most 4096 bytes"),
        ("[" * 4000, "not valid JSON"),
    ],
)
def test_a_bad_message_gets_an_error_frame_and_the_tab_goes_on(client, frame, fragment):
    with connect(client) as ws:
        ws.receive_json()
        ws.send_text(frame)
        reply = ws.receive_json()
        assert reply["type"] == "error"
        assert fragment in reply["error"]
        assert "Traceback" not in reply["error"]
        assert ask(ws, type="step", unit="sample")["steps"] == 1


def test_binary_frames_and_ids_in_error_frames(client):
    with connect(client) as ws:
        ws.receive_json()
        ws.send_bytes(b'{"type": "state"}')
        assert "text frames" in ws.receive_json()["error"]
        reply = ask(ws, type="step", unit="decade", id="abc")
        assert (reply["type"], reply["id"], reply["request"]) == ("error", "abc", "step")


def test_a_diverging_run_stops_with_a_message_not_a_traceback(client):
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="one-weight", learning_rate=10)
        reply = ask(ws, type="step", unit="batch", count=50)
        assert reply["type"] == "error"
        assert "smaller learning rate" in reply["error"]
        ask(ws, type="setup", mode="xor", learning_rate=10, batch_size=1)
        state = ask(ws, type="step", unit="epoch", count=200)
        assert state["type"] == "state"
        assert all(math.isfinite(w) for row in state["layers"][0]["W"] for w in row)


# -- security ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Origin: not a page of ours
        {"origin": "http://evil.example"},
        {"origin": "http://127.0.0.1:9999"},  # another local port
        {"origin": "null"},
        {"origin": f"file://{ADDRESS}"},
    ],
)
def test_a_websocket_from_another_origin_is_refused(client, headers):
    with pytest.raises(WebSocketDisconnect) as refused:
        with connect(client, headers=headers):
            pass
    assert refused.value.code == 1008


def test_a_rebound_host_name_is_refused_even_from_its_own_origin():
    client = TestClient(create_app(), base_url="http://evil.example:8765")
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("ws://evil.example:8765/ws", headers={"origin": "http://evil.example:8765"}):
            pass
    # With --host, the page of any host name that serves it may connect to itself.
    client = TestClient(create_app(allowed_hosts=None), base_url="http://192.0.2.7:8765")
    with client.websocket_connect("ws://192.0.2.7:8765/ws", headers={"origin": "http://192.0.2.7:8765"}) as ws:
        assert ws.receive_json()["type"] == "state"


def test_the_page_and_only_its_own_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/playground.js">' in page.text
    for path in ("/static/playground.js", "/static/playground.css"):
        assert client.get(path).status_code == 200
    for path in ("/static/../server.py", "/static/%2e%2e/server.py", "/static/..%2fsession.py", "/etc/passwd"):
        assert client.get(path).status_code == 404, path


def test_each_tab_has_its_own_trainer_ended_with_the_tab(client, monkeypatch):
    sessions = []
    original = session_module.NetworkSession.__init__

    def tracked(self, *args, **kwargs):
        original(self, *args, **kwargs)
        sessions.append(weakref.ref(self))

    monkeypatch.setattr(session_module.NetworkSession, "__init__", tracked)
    with connect(client) as one, connect(client) as two:
        one.receive_json()
        two.receive_json()
        assert ask(one, type="step", unit="sample", count=3)["steps"] == 3
        assert ask(two, type="state")["steps"] == 0
    gc.collect()
    assert len(sessions) == 2
    assert all(ref() is None for ref in sessions)


def test_the_protocol_document_names_every_message_and_field():
    text = (Path(__file__).parents[1] / "docs" / "PLAYGROUND.md").read_text(encoding="utf-8")
    for kind, fields in MESSAGES.items():
        assert f"`{kind}`" in text, kind
        for name in fields:
            assert re.search(rf"`{re.escape(name)}`", text), (kind, name)
    for reply in ("state", "unit", "weight", "error"):
        assert f"`{reply}`" in text


def test_connections_to_the_bound_socket_send_without_nagle_delay():
    # asyncio disables Nagle's algorithm only on sockets whose proto is TCP; with it on, a reply written
    # right after a frame waited for the browser's delayed ACK (~40 ms).
    import asyncio
    import socket

    from bprop.playground.server import bind

    async def accepted_nodelay() -> int:
        listening = bind("127.0.0.1", 0)
        got: asyncio.Future = asyncio.get_running_loop().create_future()

        class Record(asyncio.Protocol):
            def connection_made(self, transport):
                sock = transport.get_extra_info("socket")
                got.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Record, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(*listening.getsockname()[:2])
            value = await asyncio.wait_for(got, 5)
            writer.close()
        return value

    assert asyncio.run(accepted_nodelay()) != 0
