"""The parent/child wire protocol, version 1: pure encode and decode functions.

Each message is one JSON object sent as one frame over a
``multiprocessing.connection`` socket (never stdout: llama.cpp writes its logs
there). Every message carries ``"v"`` (the protocol version) and ``"type"``.

Child to parent:  hello, progress, loaded, token, near_budget, done, error.
Parent to child:  start, stop.
"""

from __future__ import annotations

import json
from typing import Any

from profiler.errors import ProtocolError

VERSION = 1

# type -> {field: allowed python types}
SCHEMA: dict[str, dict[str, tuple[type, ...]]] = {
    "hello": {"pid": (int,), "python": (str,), "llama_cpp": (str,)},
    "start": {"config": (dict,)},
    "stop": {},
    "progress": {"stage": (str,), "fraction": (float, int)},
    "loaded": {
        "t": (float,),
        "load_time_s": (float,),
        "n_ctx": (int,),
        "n_threads": (int,),
        "prompt_tokens": (int,),
        "chat_template": (bool,),
        "model_train_ctx": (int,),
    },
    "token": {"i": (int,), "t": (float,), "id": (int,), "text": (str,)},
    "near_budget": {"t": (float,), "i": (int,), "footprint_mb": (float, int)},
    "done": {"t": (float,), "reason": (str,), "generated_tokens": (int,), "prompt_tokens": (int,)},
    "error": {"kind": (str,), "message": (str,)},
}


def encode(kind: str, /, **fields: Any) -> bytes:
    """Build one frame; raises ProtocolError for an unknown type or a bad field."""
    message = {"v": VERSION, "type": kind, **fields}
    validate(message)
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode(frame: bytes) -> dict[str, Any]:
    """Parse and validate one frame into a dict with at least ``v`` and ``type``."""
    try:
        message = json.loads(frame.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"undecodable frame: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a frame must hold a JSON object")
    validate(message)
    return message


def validate(message: dict[str, Any]) -> None:
    version = message.get("v")
    if version != VERSION:
        raise ProtocolError(f"protocol version {version!r}, expected {VERSION}")
    kind = message.get("type")
    if kind not in SCHEMA:
        raise ProtocolError(f"unknown message type {kind!r}")
    for name, types in SCHEMA[kind].items():
        if name not in message:
            raise ProtocolError(f"{kind}: missing field {name!r}")
        value = message[name]
        if isinstance(value, bool) and bool not in types:
            raise ProtocolError(f"{kind}: field {name!r} has type bool")
        if not isinstance(value, types):
            raise ProtocolError(f"{kind}: field {name!r} has type {type(value).__name__}")
