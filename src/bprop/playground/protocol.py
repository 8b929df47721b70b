"""The playground's WebSocket protocol: the messages the page may send, checked field by field.

Every frame is one JSON object of at most :data:`MAX_MESSAGE_BYTES` bytes with a ``type``; an optional
``id`` (a whole number or a short string) is copied into the reply. The full list of messages, their
fields and replies is in ``docs/PLAYGROUND.md``; :data:`MESSAGES` is its machine-readable half. A
message that is not valid JSON, not an object, of an unknown type, with an unknown or missing field, a
field of the wrong type or out of its range, is refused with :class:`ProtocolError`, which the server
turns into an ``error`` frame.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["MESSAGES", "MAX_MESSAGE_BYTES", "MODES", "UNITS", "ProtocolError", "Field", "parse_message"]

MAX_MESSAGE_BYTES = 4096
MODES = ("article", "xor", "one-weight", "lab")
UNITS = ("sample", "batch", "epoch")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")  # the lab has all four; the article and XOR modes sgd and adam
DATA_SETS = ("circle", "xor", "gauss", "spiral", "plane", "multigauss", "digits", "upload")
LOSSES = ("auto", "half_sse", "cross_entropy", "mse")
ACTIVATIONS = ("tanh", "sigmoid", "relu", "leaky_relu", "identity")
INITS = ("auto", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
         "small_uniform")  # fmt: skip
#: Hidden layers and units per hidden layer the lab's editor may ask for.
MAX_HIDDEN_LAYERS, MAX_UNITS = 8, 256
#: Uploads are announced with their size; above this a message is refused before any byte is sent.
MAX_UPLOAD_FIELD = 2**40


class ProtocolError(ValueError):
    """A message the protocol does not allow; the text says what was wrong and what is expected.
    ``kind`` and ``request_id`` are the message's type and id when it got as far as naming them."""

    kind: str | None = None
    request_id: Any = None


@dataclass(frozen=True)
class Field:
    """One field: ``kind`` is ``"int"``, ``"number"``, ``"choice"``, ``"text"`` (at most ``high``
    characters) or ``"list"`` (``low`` to ``high`` entries, each checked by ``item``); numbers lie in [low, high]."""

    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[str, ...] = ()
    required: bool = False
    item: Field | None = None

    def check(self, name: str, value: Any) -> Any:
        if self.kind == "list":
            if not isinstance(value, list) or not self.low <= len(value) <= self.high:
                raise ProtocolError(
                    f"{name!r} must be a list of {self.low:g} to {self.high:g} entries, got {_short(value)}"
                )
            return [self.item.check(f"{name}[{i}]", entry) for i, entry in enumerate(value)]
        if self.kind == "text":
            if not isinstance(value, str) or not 1 <= len(value) <= self.high or not value.isprintable():
                raise ProtocolError(
                    f"{name!r} must be printable text of 1 to {self.high:g} characters, got {_short(value)}"
                )
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise ProtocolError(f"{name!r} must be one of {list(self.choices)}, got {_short(value)}")
            return value
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (self.kind == "int" and not float(value).is_integer()):
            what = "a whole number" if self.kind == "int" else "a number"
            raise ProtocolError(f"{name!r} must be {what}, got {_short(value)}")
        if not (math.isfinite(value) and self.low <= value <= self.high):
            raise ProtocolError(f"{name!r} must be between {self.low:g} and {self.high:g}, got {_short(value)}")
        return int(value) if self.kind == "int" else float(value)


_LAYER = Field("int", 1, 64, required=True)
_UNIT = Field("int", 1, 1024, required=True)

#: Message type → its fields. Fields not marked required may be left out.
MESSAGES: dict[str, dict[str, Field]] = {
    "setup": {
        "mode": Field("choice", choices=MODES),
        "optimizer": Field("choice", choices=OPTIMIZERS),
        "learning_rate": Field("number", 1e-6, 10.0),
        "l2": Field("number", 0.0, 1.0),
        "batch_size": Field("int", 1, 4096),
        "seed": Field("int", 0, 2**31 - 1),
        # the lab only:
        "data": Field("choice", choices=DATA_SETS),
        "noise": Field("int", 0, 50),
        "train_percent": Field("int", 10, 90),
        "points": Field("int", 20, 5000),
        "layers": Field("list", 0, MAX_HIDDEN_LAYERS, item=Field("int", 1, MAX_UNITS)),
        "activations": Field("list", 0, MAX_HIDDEN_LAYERS, item=Field("choice", choices=ACTIVATIONS)),
        "loss": Field("choice", choices=LOSSES),
        "dropout": Field("number", 0.0, 0.9),
        "init": Field("choice", choices=INITS),
    },
    "upload": {"name": Field("text", 0, 200, required=True), "size": Field("int", 1, MAX_UPLOAD_FIELD, required=True)},
    "check_weight": {"layer": _LAYER, "to": _UNIT, "from": Field("int", 1, 1024)},
    "download": {},
    "code": {},
    "reset": {},
    "state": {},
    "step": {"unit": Field("choice", choices=UNITS, required=True), "count": Field("int", 1, 10_000)},
    "play": {"unit": Field("choice", choices=UNITS)},
    "pause": {},
    "speed": {"steps_per_second": Field("number", 0.1, 100_000.0, required=True)},
    "inspect_unit": {"layer": _LAYER, "unit": _UNIT},
    "inspect_weight": {"layer": _LAYER, "from": _UNIT, "to": _UNIT},
    "inspect_bias": {"layer": _LAYER, "unit": _UNIT},
    "set_weight": {"W": Field("number", -10.0, 10.0, required=True)},
}


def _short(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def parse_message(text: str | bytes | None) -> tuple[str, dict[str, Any], Any]:
    """``(type, checked fields, id)`` of one frame's text; :class:`ProtocolError` for anything else."""
    if not isinstance(text, str):
        raise ProtocolError("send text frames holding one JSON object, not binary frames")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"a message may hold at most {MAX_MESSAGE_BYTES} bytes")
    try:
        message = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"not valid JSON ({str(exc)[:80]}); send one JSON object") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"a message must be a JSON object with a 'type', got {_short(message)}")
    request_id = message.pop("id", None)
    if request_id is not None and not _valid_id(request_id):
        raise ProtocolError("'id' must be a whole number or a string of at most 64 characters")
    kind = message.pop("type", None)
    if kind not in MESSAGES:
        raise ProtocolError(f"unknown message type {_short(kind)}; known: {sorted(MESSAGES)}")
    try:
        return kind, _fields(kind, message), request_id
    except ProtocolError as exc:
        exc.kind, exc.request_id = kind, request_id
        raise


def _fields(kind: str, message: dict[str, Any]) -> dict[str, Any]:
    fields = MESSAGES[kind]
    unknown = sorted(set(message) - set(fields))
    if unknown:
        allowed = sorted(fields) or "none"
        raise ProtocolError(f"{kind!r} has no field(s) {_short(unknown)}; its fields: {allowed}")
    missing = [name for name, field in fields.items() if field.required and name not in message]
    if missing:
        raise ProtocolError(f"{kind!r} needs the field(s) {missing}")
    return {name: fields[name].check(name, value) for name, value in message.items()}


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and abs(value) < 2**53) or (isinstance(value, str) and len(value) <= 64)


def _refuse_constant(token: str) -> None:
    raise ValueError(f"{token} is not a JSON number")
