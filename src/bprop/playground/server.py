"""The playground's server: the page, its static files, and one WebSocket per tab (Starlette + uvicorn).

Each WebSocket gets its own session (a network, its data and bprop's Trainer), ended when the socket
closes. Requests are answered in order, and while playing the server takes as many steps per frame as
the chosen speed asks and a time budget allows, so a frame goes out about every
:data:`FRAME_SECONDS` however fast the steps are. A WebSocket is accepted only from a page the server
itself served (its ``Origin`` is this server's address, on a loopback name unless ``--host`` was given);
nothing reads or writes a file except the page's own static files.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from .lab import LabSession, LabSettings
from .lab_code import python_code, train_command
from .one_weight import OneWeightSession
from .protocol import ProtocolError, parse_message
from .session import NetworkSession

__all__ = ["create_app", "bind", "serve", "origin_allowed", "LOOPBACK_NAMES", "FRAME_SECONDS", "UploadLimits"]

STATIC = Path(__file__).parent / "static"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
FRAME_SECONDS = 0.04  # 25 frames a second while playing
#: Of each frame, the time steps may take; the rest is left for drawing and for requests.
STEP_BUDGET = 0.02
#: A request for many steps stops after this long (the reply says how many were taken).
REQUEST_BUDGET = 1.0
#: Bytes of an upload in one binary frame at most (the page sends 60,000); WebSocket frames are capped above it.
CHUNK_BYTES = 65_536


@dataclass(frozen=True)
class UploadLimits:
    """The largest CSV a tab may upload: ``size`` bytes and ``rows`` data rows (``--max-upload``)."""

    size: int = 50_000_000
    rows: int = 1_000_000


_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def origin_allowed(headers: Any, allowed_hosts: Iterable[str] | None) -> bool:
    """Whether a WebSocket handshake comes from a page of this server: its ``Origin`` is an http(s) URL of
    exactly the ``Host`` it connected to, and (unless ``allowed_hosts`` is None) that host is one of them.
    No ``Origin`` at all is refused too: every browser sends one."""
    origin, host = headers.get("origin"), headers.get("host")
    if not origin or not host:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
        return False
    return allowed_hosts is None or (parts.hostname or "") in set(allowed_hosts)


_NETWORK_FIELDS = ("optimizer", "learning_rate", "l2", "batch_size", "seed")
_LAB_FIELDS = tuple(LabSettings.__dataclass_fields__)


def _session(settings: dict[str, Any], upload: tuple[str, Any] | None = None):
    mode = settings.get("mode", "article")
    if mode == "lab":
        return LabSession(LabSettings(**{k: settings[k] for k in _LAB_FIELDS if k in settings}), upload)
    allowed = ("mode", "learning_rate") if mode == "one-weight" else ("mode", *_NETWORK_FIELDS)
    extra = sorted(set(settings) - set(allowed))
    if extra:
        raise ProtocolError(f"the {mode} mode has no setting(s) {extra}; they are the lab's (mode 'lab')")
    if mode == "one-weight":
        return OneWeightSession(learning_rate=settings.get("learning_rate"))
    if settings.get("optimizer", "sgd") not in ("sgd", "adam"):
        raise ProtocolError(f"the {mode} mode trains with 'sgd' or 'adam'; the lab (mode 'lab') has them all")
    return NetworkSession(mode, **{key: settings[key] for key in _NETWORK_FIELDS if key in settings})


class Connection:
    """One tab: its session, whether it plays, at what speed, its uploaded table, and the loop answering
    its messages. The engine's work (steps, views, replies as JSON) runs on a worker thread, one request
    at a time per tab, so one tab's long request never holds up the others' frames."""

    def __init__(self, websocket: WebSocket, frame_seconds: float, limits: UploadLimits) -> None:
        self.websocket, self.frame_seconds, self.limits = websocket, frame_seconds, limits
        self.settings: dict[str, Any] = {"mode": "article"}
        self.session = _session(self.settings)
        self.playing, self.play_unit, self.speed = False, "batch", 20.0
        self.credit, self.last_frame = 0.0, time.perf_counter()
        self.next_frame = self.last_frame
        self.upload: tuple[str, Any] | None = None  # (file name, table) of the last CSV this tab sent
        self.receiving: dict[str, Any] | None = None  # an upload in progress: name, size, chunks, id

    async def run(self) -> None:
        queue: asyncio.Queue = asyncio.Queue()
        reader = asyncio.create_task(self._read(queue))
        try:
            await self._send(self._state())
            while True:
                try:
                    # A request already waiting goes first, even when a frame is overdue.
                    frame = (
                        queue.get_nowait()
                        if not queue.empty()
                        else await asyncio.wait_for(queue.get(), self._until_frame())
                    )
                except TimeoutError:
                    await self._frame()
                    # Frames keep their own clock (a frame's work does not add to the wait for the next);
                    # one that ran late moves the clock on rather than sending frames in a burst.
                    self.next_frame = max(self.next_frame + self.frame_seconds, time.perf_counter())
                    continue
                if frame is None:
                    break
                await self._answer(frame)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the tab went away mid-send
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            self.session = self.upload = self.receiving = None  # the trainer and the data end with the tab

    def _until_frame(self) -> float | None:
        """Seconds to wait for a request before the next frame is due (None: not playing, no frames)."""
        return max(0.0, self.next_frame - time.perf_counter()) if self.playing else None

    async def _read(self, queue: asyncio.Queue) -> None:
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                queue.put_nowait(message.get("text") if message.get("text") is not None else message.get("bytes"))
        finally:
            queue.put_nowait(None)

    async def _send(self, payload: dict[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, allow_nan=False)
        await self.websocket.send_text(text)

    def _state(self, request_id: Any = None, full: bool = True, **extra: Any) -> dict[str, Any]:
        session = self.session
        state = session.state(full=full) if isinstance(session, LabSession) else session.state()
        state.update(playing=self.playing, play_unit=self.play_unit, speed=self.speed, **extra)
        if request_id is not None:
            state["id"] = request_id
        return state

    async def _frame(self) -> None:
        """One frame while playing: the steps the speed asks for since the last frame, within the budget."""
        now = time.perf_counter()
        # Steps owed are capped at a few frames' worth, so a slow machine skips rather than piles up.
        self.credit = min(self.credit + self.speed * (now - self.last_frame), max(1.0, self.speed * 0.2))
        self.last_frame = now
        count = int(self.credit)
        if count < 1:
            return
        self.credit -= count
        await self._send(await asyncio.to_thread(self._frame_text, count))

    def _frame_text(self, count: int) -> str:
        try:
            done = self.session.step(self.play_unit, count, budget=STEP_BUDGET)
        except ValueError as exc:
            self.playing = False
            return json.dumps({"type": "error", "error": " ".join(str(exc).split()), "request": "play"})
        return json.dumps(self._state(done=done, full=False), allow_nan=False)

    async def _answer(self, frame: Any) -> None:
        if isinstance(frame, bytes) and self.receiving is not None:
            reply = self._chunk(frame)
            if reply is None:
                return
        else:
            reply = None
        await self._send(await asyncio.to_thread(self._reply, frame, reply))

    def _reply(self, frame: Any, ready: Callable[[], dict[str, Any]] | None) -> str:
        """The reply to one frame as JSON text: its answer, or an error frame (never a traceback)."""
        request_id, kind = None, None
        try:
            if ready is not None:
                kind, request_id = "upload", self.receiving["id"] if self.receiving else None
                reply = ready()
            else:
                kind, fields, request_id = parse_message(frame)
                reply = self._handle(kind, fields, request_id)
        except ValueError as exc:  # ProtocolError, or a value the session refuses
            if isinstance(exc, ProtocolError) and exc.kind is not None:
                kind, request_id = exc.kind, exc.request_id
            reply = {"type": "error", "error": " ".join(str(exc).split())[:500], "request": kind}
        except Exception as exc:  # a bug must not end the tab's session, nor print a traceback
            reply = {"type": "error", "error": f"internal error ({type(exc).__name__}); press reset", "request": kind}
        if request_id is not None:
            reply["id"] = request_id
        return json.dumps(reply, allow_nan=False)

    # -- uploads --------------------------------------------------------------------------------------
    def _chunk(self, data: bytes) -> Callable[[], dict[str, Any]] | None:
        """Add a binary frame to the upload in progress; once all its bytes are in, what reads them."""
        upload = self.receiving
        upload["chunks"].append(data)
        upload["got"] += len(data)
        if upload["got"] < upload["size"]:
            return None
        self.receiving = None
        if upload["got"] > upload["size"]:
            return lambda: _refuse(
                f"the upload sent {upload['got']:,} bytes but announced {upload['size']:,}; send it again"
            )
        return lambda: self._uploaded(upload)

    def _uploaded(self, upload: dict[str, Any]) -> dict[str, Any]:
        from ..tables.data import read_csv_bytes

        data = b"".join(upload.pop("chunks"))
        table = read_csv_bytes(data, upload["name"])
        if len(table) > self.limits.rows:
            raise ValueError(
                f"{upload['name']!r} has {len(table):,} rows; the playground takes at most {self.limits.rows:,} "
                "(start it with a larger --max-upload, or upload fewer rows)"
            )
        settings = (
            {**self.settings, "mode": "lab", "data": "upload"}
            if self.settings.get("mode") == "lab"
            else {"mode": "lab", "data": "upload"}
        )
        self.session = _session(settings, (upload["name"], table))
        self.upload, self.settings, self.playing = (upload["name"], table), settings, False
        state = self._state()
        state["id"] = upload["id"]
        return state

    def _begin_upload(self, fields: dict[str, Any], request_id: Any) -> dict[str, Any]:
        if fields["size"] > self.limits.size:
            raise ValueError(
                f"{fields['name']!r} is {fields['size']:,} bytes; the playground takes at most {self.limits.size:,} "
                "(start it with a larger --max-upload)"
            )
        self.receiving = {"name": fields["name"], "size": fields["size"], "chunks": [], "got": 0, "id": request_id}
        return {"type": "upload_ready", "size": fields["size"], "chunk_bytes": CHUNK_BYTES - 1536}

    # -- requests -------------------------------------------------------------------------------------
    def _handle(self, kind: str, fields: dict[str, Any], request_id: Any = None) -> dict[str, Any]:
        session = self.session
        if kind in ("setup", "reset"):
            return self._setup(fields)
        if kind == "upload":
            return self._begin_upload(fields, request_id)
        if kind == "step":
            done = session.step(fields["unit"], fields.get("count", 1), budget=REQUEST_BUDGET)
            return self._state(done=done, full=False)
        if kind in ("play", "pause"):
            self.playing = kind == "play"
            self.play_unit = fields.get("unit", self.play_unit)
            self.credit, self.last_frame = 0.0, time.perf_counter()
            self.next_frame = self.last_frame + self.frame_seconds
            return self._state(full=False)
        if kind == "speed":
            self.speed = fields["steps_per_second"]
            return self._state(full=False)
        if kind == "state":
            return self._state()
        if kind == "set_weight":
            if not isinstance(session, OneWeightSession):
                raise ProtocolError("'set_weight' is for the one-weight mode; send setup with mode 'one-weight'")
            session.set_weight(fields["W"])
            return self._state()
        if kind in ("check_weight", "download", "code"):
            return self._lab_request(kind, fields)
        if isinstance(session, OneWeightSession):
            raise ProtocolError(f"{kind!r} needs a network; the one-weight mode has W only (send set_weight)")
        if kind == "inspect_unit":
            return session.inspect_unit(fields["layer"], fields["unit"])
        if kind == "inspect_bias":
            return session.inspect_bias(fields["layer"], fields["unit"])
        return session.inspect_weight(fields["layer"], fields["from"], fields["to"])

    def _setup(self, fields: dict[str, Any]) -> dict[str, Any]:
        settings = {**self.settings, **fields}
        if "mode" in fields and fields["mode"] != self.settings.get("mode"):
            settings = dict(fields)  # another mode starts from its own defaults
        if "layers" in fields and "activations" not in fields:
            settings.pop("activations", None)  # a new shape: tanh everywhere unless told
        self.session, self.settings, self.playing = _session(settings, self.upload), settings, False
        return self._state()

    def _lab_request(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        session = self.session
        if not isinstance(session, LabSession):
            raise ProtocolError(f"{kind!r} is for the lab; send setup with mode 'lab'")
        if kind == "download":
            return _model_reply(session)
        if kind == "code":
            return {"type": "code", "python": python_code(session), **train_command(session)}
        return session.check_weight(fields["layer"], fields["to"], fields.get("from"))


def _refuse(message: str) -> dict[str, Any]:
    raise ValueError(message)


def _model_reply(session: LabSession) -> dict[str, Any]:
    """The trained network and its preprocessing as a ``.safetensors`` file (base64), as ``bprop train`` writes."""
    from .. import modelfile

    training = {
        "settings": session.settings_.as_dict(),
        "source": "bprop playground",
        "steps": session.trainer.state.steps,
    }
    model = modelfile.Model(session.net, preprocessing=session.encoder.to_dict(), training=training)
    data = modelfile.to_bytes(model)
    name = session.upload_name.rsplit(".", 1)[0] if session.upload_name else session.settings_.data
    return {"type": "model", "filename": f"{name}-model.safetensors", "bytes": len(data),
            "data": base64.b64encode(data).decode()}  # fmt: skip


def create_app(
    *,
    allowed_hosts: Iterable[str] | None = LOOPBACK_NAMES,
    frame_seconds: float = FRAME_SECONDS,
    limits: UploadLimits = UploadLimits(),
) -> Starlette:
    """The playground as an ASGI app; ``allowed_hosts=None`` accepts any host name whose page connects
    to itself (for ``--host``)."""
    allowed = None if allowed_hosts is None else frozenset(allowed_hosts)

    async def index(request) -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=_HEADERS)

    async def socket_endpoint(websocket: WebSocket) -> None:
        if not origin_allowed(websocket.headers, allowed):
            await websocket.close(code=1008)  # before accept: the handshake is refused (HTTP 403)
            return
        await websocket.accept()
        await Connection(websocket, frame_seconds, limits).run()

    routes = [
        Route("/", index),
        WebSocketRoute("/ws", socket_endpoint),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one); ``OSError`` when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets whose
    # proto says TCP, and accepted sockets inherit it. With proto 0 a reply written right after a frame
    # waited for the browser's delayed ACK, about 40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart right after a stop works
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve(
    sock: socket.socket,
    *,
    allowed_hosts: Iterable[str] | None,
    on_ready: Callable[[], None] = lambda: None,
    limits: UploadLimits = UploadLimits(),
) -> None:
    """Serve the playground on a bound socket until Ctrl-C (uvicorn's own shutdown)."""
    import uvicorn

    app = create_app(allowed_hosts=allowed_hosts, limits=limits)
    config = uvicorn.Config(
        app, log_level="warning", ws="websockets-sansio", ws_max_size=CHUNK_BYTES + 4096, lifespan="off"
    )
    server = uvicorn.Server(config)
    on_ready()
    server.run(sockets=[sock])
