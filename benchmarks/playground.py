"""The playground's lab in headless Chromium: frames per second while training, and command-to-frame latency.

A real ``bprop playground`` process serves the page; Playwright drives Debian's headless Chromium
(``scripts/setup_browser.sh``; or ``$BPROP_CHROMIUM``). The page opens the lab on a link: TensorFlow
Playground's multi-Gaussian regression set, 500 points, a 2-8-8-1 tanh network (every neuron's 50 × 50
heatmap and the output's are recomputed by the server and redrawn by the page in every frame). It plays
for ``--seconds`` at ``--speed`` updates per second, and meanwhile sends a ``speed`` request at random
moments 150–250 ms apart (so that requests fall at every phase of the server's frame clock);

- frames/s: the play frames (states the server sent unasked) the page received and drew, per second;
- command-to-frame latency: from a request leaving the page to the end of the animation frame that drew
  its reply (the page's own ``performance.now()``), median and 95th percentile; and, to tell where the
  time goes, when the reply reached the page's socket handler, and the page's drawing time per frame;
- the server's share: the same play and requests from a plain WebSocket client that draws nothing.

Goals (issue 18): ≥ 20 frames/s and p95 ≤ 50 ms. A benchmark, not a CI assertion. The machine is
shared: the load average before and after is printed with the results.

Usage: ``.venv/bin/python benchmarks/playground.py [--seconds 10] [--speed 500] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

LINK = "#mode=lab&data=multigauss&points=500&train_percent=50&layers=8,8&activations=tanh,tanh&batch_size=10"
BROWSERS = ("/usr/lib/chromium/chromium-headless-shell", "/usr/bin/chromium-headless-shell")


def browser_path() -> str:
    path = os.environ.get("BPROP_CHROMIUM") or next((p for p in BROWSERS if os.access(p, os.X_OK)), None)
    path = path or shutil.which("chromium-headless-shell")
    if not path:
        sys.exit("no headless Chromium: run scripts/setup_browser.sh or set BPROP_CHROMIUM")
    return path


def start_server() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bprop.cli", "playground", "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line = process.stdout.readline()
    if not line.startswith("bprop playground: http://"):
        process.kill()
        sys.exit(f"the server did not start: {line!r}")
    return process, line.split()[2]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(url: str, seconds: float, speed: float) -> dict:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=browser_path(), args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url + LINK)
        page.wait_for_selector("#lab-network .lab-unit[data-layer='3'][data-map]")
        sizes = page.evaluate("state.sizes")
        # The page's own drawing time per frame, from a wrapper around its lab renderer.
        page.evaluate(
            """() => { const draw = window.renderLab; window.drawTimes = [];
                 window.renderLab = (s) => { const t = performance.now(); draw(s);
                                             window.drawTimes.push(performance.now() - t); }; }"""
        )
        page.evaluate(f"send({{type: 'speed', steps_per_second: {speed}}})")
        page.wait_for_timeout(300)
        page.evaluate("window.bpropTimes.latencies = []")
        page.click("#play")
        page.wait_for_timeout(1000)  # warm-up: the first frames, numba's kernels
        before = page.evaluate("[window.bpropTimes.frames, performance.now(), state.steps]")
        # When each reply reached the page's socket handler, to split the latency into before and after.
        page.evaluate(
            """() => { window.arrivals = []; const handle = socket.onmessage;
                 socket.onmessage = (e) => { const t = performance.now(), m = JSON.parse(e.data);
                   if (m.id !== undefined && sentAt.has(m.id)) window.arrivals.push(t - sentAt.get(m.id));
                   handle(e); }; }"""
        )
        page.evaluate("window.bpropTimes.latencies = []; window.drawTimes = []")
        # Requests at random moments 150-250 ms apart (seeded), so that they fall at every phase of the
        # server's 40 ms frame clock rather than at one (a fixed 200 ms period locks onto it).
        page.evaluate(
            f"""() => {{ let seed = 1;
                 const next = () => {{ seed = (seed * 16807) % 2147483647; return seed / 2147483647; }};
                 window.ticking = true;
                 const tick = () => {{ if (!window.ticking) return; send({{type: 'speed', steps_per_second: {speed}}});
                                       setTimeout(tick, 150 + 100 * next()); }};
                 setTimeout(tick, 150 + 100 * next()); }}"""
        )
        page.wait_for_timeout(seconds * 1000)
        after = page.evaluate("[window.bpropTimes.frames, performance.now(), state.steps]")
        page.evaluate("window.ticking = false")
        latencies = page.evaluate("window.bpropTimes.latencies")
        draws = page.evaluate("window.drawTimes")
        arrivals = page.evaluate("window.arrivals")
        page.click("#play")
        browser.close()
    elapsed = (after[1] - before[1]) / 1000
    frames = after[0] - before[0]
    return {
        "network": sizes,
        "frames_per_second": frames / elapsed,
        "updates_per_second": (after[2] - before[2]) / elapsed,
        "latency_ms_p50": percentile(latencies, 0.5),
        "latency_ms_p95": percentile(latencies, 0.95),
        "requests": len(latencies),
        "reply_arrival_ms_p50": percentile(arrivals, 0.5),
        "reply_arrival_ms_p95": percentile(arrivals, 0.95),
        "draw_ms_p50": percentile(draws, 0.5),
        "seconds": elapsed,
    }


def measure_server(url: str, seconds: float, speed: float) -> dict:
    """The same play and requests from a plain WebSocket client (no page, no drawing): the server's share."""
    from websockets.sync.client import connect

    host = url.split("//")[1].rstrip("/")
    setup = dict(part.split("=") for part in LINK[1:].split("&"))
    setup = {"type": "setup", "mode": "lab", "data": setup["data"], "layers": [8, 8], "activations": ["tanh", "tanh"]}
    with connect(f"ws://{host}/ws", origin=f"http://{host}", max_size=None) as ws:
        ws.recv()
        for message in (setup, {"type": "speed", "steps_per_second": speed}, {"type": "play"}):
            ws.send(json.dumps(message))
            ws.recv()
        waits, frames, sent = [], 0, None
        end = time.perf_counter() + seconds
        due = time.perf_counter() + 0.2
        while time.perf_counter() < end:
            if sent is None and time.perf_counter() > due:
                sent, due = time.perf_counter(), time.perf_counter() + 0.2
                ws.send(json.dumps({"type": "speed", "steps_per_second": speed, "id": 1}))
            reply = json.loads(ws.recv())
            if reply.get("id") == 1:
                waits.append((time.perf_counter() - sent) * 1000)
                sent = None
            else:
                frames += 1
    return {"server_frames_per_second": frames / seconds, "server_reply_ms_p50": percentile(waits, 0.5),
            "server_reply_ms_p95": percentile(waits, 0.95)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--speed", type=float, default=500.0, help="updates per second asked for")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    load_before = os.getloadavg()
    process, url = start_server()
    try:
        result = measure(url, args.seconds, args.speed) | measure_server(url, args.seconds / 2, args.speed)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    result |= {"loadavg_before": load_before, "loadavg_after": os.getloadavg(), "cpus": os.cpu_count(),
               "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}  # fmt: skip
    print(json.dumps(result, indent=2))
    goals = result["frames_per_second"] >= 20 and result["latency_ms_p95"] <= 50
    print(f"goals (>= 20 frames/s, p95 <= 50 ms): {'met' if goals else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
