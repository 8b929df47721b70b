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
    p.add_argument(
        "--max-upload",
        default="50MB",
        metavar="SIZE[,ROWS]",
        help="largest CSV a page may upload: bytes (suffix kB, MB or GB) and optionally data rows "
        "(default 50MB,1000000)",
    )
    p.set_defaults(run=run_playground)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise CliError(f"--port takes a whole number from 0 to 65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise CliError(f"--port takes a whole number from 0 to 65535, got {port}")
    return port


_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3}


def max_upload(text: str):
    """``--max-upload 50MB`` or ``200MB,5000000`` → (bytes, rows); rows default to 1,000,000."""
    from ..playground.server import UploadLimits

    size_text, _, rows_text = text.partition(",")
    size_text = size_text.strip().upper()
    digits = size_text.rstrip("KMGB")
    unit = size_text[len(digits) :]
    try:
        size = float(digits) * _UNITS[unit]
        rows = int(rows_text) if rows_text.strip() else UploadLimits.rows
    except (ValueError, KeyError):
        raise CliError(f"--max-upload takes a size like 50MB or 200MB,5000000 (bytes, rows), got {text!r}") from None
    if not (1 <= size <= 2**40 and 1 <= rows):
        raise CliError(f"--max-upload needs a size from 1 byte to 1 TB and at least 1 row, got {text!r}")
    return UploadLimits(size=int(size), rows=rows)


def run_playground(args) -> int:
    try:
        from ..playground.server import LOOPBACK_NAMES, bind, is_loopback, serve
    except ImportError as exc:
        raise CliError(
            f'the playground needs the live extra ({exc.name} is missing): pip install "bprop[live]"'
        ) from None
    port = _port(args.port)
    limits = max_upload(args.max_upload)
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
        serve(sock, allowed_hosts=LOOPBACK_NAMES if loopback else None, on_ready=ready, limits=limits)
    except KeyboardInterrupt:  # uvicorn shuts down on Ctrl-C, then passes the signal on: the normal way out
        pass
    print("bprop playground: stopped")
    return 0
