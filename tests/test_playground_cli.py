"""``bprop playground`` as a command: its address, its one-line errors, a real server process."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

pytest.importorskip("uvicorn")
websockets_client = pytest.importorskip("websockets.sync.client")

from cli_support import assert_one_error, run  # noqa: E402


def test_a_port_in_use_is_one_error_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert_one_error(*run(capsys, "playground", "--port", str(port), "--no-browser"), f"port {port}", "in use")


@pytest.mark.parametrize("port", ["http", "-1", "70000", "8.5"])
def test_a_bad_port_is_one_error_line(capsys, port):
    assert_one_error(*run(capsys, "playground", "--port", port, "--no-browser"), "--port", "0 to 65535")


def test_an_address_not_on_this_machine_is_one_error_line(capsys):
    assert_one_error(*run(capsys, "playground", "--host", "192.0.2.1", "--port", "0", "--no-browser"), "192.0.2.1")


def start(*argv: str) -> tuple[subprocess.Popen, str]:
    """A real ``bprop playground`` process and the address it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bprop.cli", "playground", "--port", "0", "--no-browser", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line = process.stdout.readline()
    assert line.startswith("bprop playground: http://"), (line, process.stderr.read() if process.poll() else "")
    return process, line.split()[2]


def stop(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, err


def test_a_real_server_serves_the_page_and_checks_origins():
    process, url = start()
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as page:
            assert "bprop playground" in page.read().decode()
        ws_url = url.replace("http://", "ws://") + "ws"
        with websockets_client.connect(ws_url, origin=url.rstrip("/"), open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["mode"] == "article"
            ws.send(json.dumps({"type": "step", "unit": "sample"}))
            assert json.loads(ws.recv(timeout=10))["explain"]["updated"]["w5"] == pytest.approx(0.35891648, abs=5e-9)
            ws.send("not json")
            assert json.loads(ws.recv(timeout=10))["type"] == "error"
        with pytest.raises(Exception, match="403"):
            websockets_client.connect(ws_url, origin="http://evil.example", open_timeout=10)
    finally:
        code, err = stop(process)
    assert code == 0
    assert "Traceback" not in err
    assert err.strip() == "", err


def test_another_host_is_served_with_a_warning():
    process, url = start("--host", "0.0.0.0")
    try:
        assert url.startswith("http://127.0.0.1:")  # the address of this machine, to open here
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200
    finally:
        code, err = stop(process)
    lines = err.strip().splitlines()
    assert lines[0].startswith("warning: --host 0.0.0.0: the playground is open to every machine"), err
    assert len(lines) == 1, err
    assert code == 0
