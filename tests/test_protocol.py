from __future__ import annotations

import json

import pytest

from profiler.errors import ProtocolError
from profiler.run import protocol


def test_round_trip_keeps_every_field():
    frame = protocol.encode("token", i=3, t=12.5, id=42, text="héllo ✓")
    message = protocol.decode(frame)
    assert message == {"v": 1, "type": "token", "i": 3, "t": 12.5, "id": 42, "text": "héllo ✓"}


def test_every_type_in_the_schema_round_trips():
    samples = {int: 1, float: 1.5, str: "x", dict: {"a": 1}, bool: True}
    for kind, schema in protocol.SCHEMA.items():
        fields = {name: samples[types[0]] for name, types in schema.items()}
        assert protocol.decode(protocol.encode(kind, **fields))["type"] == kind


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        (b"\xff\xfe", "undecodable"),
        (b"not json", "undecodable"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"v": 2, "type": "stop"}).encode(), "version 2"),
        (json.dumps({"type": "stop"}).encode(), "version None"),
        (json.dumps({"v": 1, "type": "launch"}).encode(), "unknown message type"),
        (json.dumps({"v": 1, "type": "token", "i": 1, "t": 0.1, "id": 1}).encode(), "missing field 'text'"),
        (json.dumps({"v": 1, "type": "token", "i": "1", "t": 0.1, "id": 1, "text": ""}).encode(), "'i' has type str"),
        (json.dumps({"v": 1, "type": "hello", "pid": True, "python": "3", "llama_cpp": "x"}).encode(), "bool"),
    ],
)
def test_bad_frames_raise_protocol_error(frame: bytes, needle: str):
    with pytest.raises(ProtocolError, match=needle):
        protocol.decode(frame)


def test_encode_refuses_what_decode_would_refuse():
    with pytest.raises(ProtocolError, match="missing field"):
        protocol.encode("done", t=1.0, reason="eos")
