"""``bprop playground``: start the live page on this machine (the ``live`` extra)."""

from __future__ import annotations

import errno
import sys

from .common import CliError


def register(sub) -> None:
    p = sub.add_parser(
        "playground",
        help="open a page that trains a small network step by step and shows every number (needs the live extra)",
        description="Start a local server with the playground page and open it in a browser. The page steps "
        "backpropagation on bprop's own engine: click a neuron for its net, out and δ, a weight for ∂E/∂w and "
        "the update applied. Ctrl-C stops the server.",
    )
    p.add_argument("--port", default="8765", help="port to listen on (default 8765; 0 picks a free one)")
    p.add_argument(
        "--host",
        default=None,
        help="address to listen on (default 127.0.0.1, this machine only); another address lets other "
        "machines run training here",
    )
    p.add_argument("--no-browser", action="store_true", help="print the address but do not open a browser")
    p.set_defaults(run=run_playground)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise CliError(f"--port takes a whole number from 0 to 65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise CliError(f"--port takes a whole number from 0 to 65535, got {port}")
    return port


def run_playground(args) -> int:
    try:
        from ..playground.server import LOOPBACK_NAMES, bind, is_loopback, serve
    except ImportError as exc:
        raise CliError(
            f'the playground needs the live extra ({exc.name} is missing): pip install "bprop[live]"'
        ) from None
    port = _port(args.port)
    host = args.host or "127.0.0.1"
    try:
        sock = bind(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CliError(
                f"port {port} on {host} is already in use; choose another with --port (0 picks a free one)"
            ) from None
        raise CliError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); check --host and --port") from None
    loopback = is_loopback(host)
    if not loopback:
        print(
            f"warning: --host {host}: the playground is open to every machine that can reach this address;"
            " each visitor can run training on this machine (nothing is read or written on disk)",
            file=sys.stderr,
        )
    bound = sock.getsockname()[1]
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)  # any → here
    url = f"http://{shown}:{bound}/"

    def ready() -> None:
        print(f"bprop playground: {url} (Ctrl-C to stop)", flush=True)
        if not args.no_browser:
            import webbrowser

            webbrowser.open(url)

    try:
        serve(sock, allowed_hosts=LOOPBACK_NAMES if loopback else None, on_ready=ready)
    except KeyboardInterrupt:  # uvicorn shuts down on Ctrl-C, then passes the signal on: the normal way out
        pass
    print("bprop playground: stopped")
    return 0
