"""Broken GGUF files, written on demand by the tests (never committed as binaries)."""

from __future__ import annotations

import struct
from pathlib import Path


def truncated(source: Path, dest: Path, keep_fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep_fraction)])
    return dest


def text_named_gguf(dest: Path) -> Path:
    dest.write_text("this is a README, not a model\n" * 20)
    return dest


def wrong_magic(source: Path, dest: Path) -> Path:
    with open(source, "rb") as handle:
        head = handle.read(1 << 20)
    dest.write_bytes(b"GGML" + head[4:])
    return dest


def header(version: int = 3, n_tensors: int = 0, n_kv: int = 0, body: bytes = b"") -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + body


def absurd_counts(dest: Path, which: str) -> Path:
    """A header that claims 2**60 tensors or metadata entries."""
    n_tensors, n_kv = (1 << 60, 0) if which == "tensors" else (0, 1 << 60)
    dest.write_bytes(header(n_tensors=n_tensors, n_kv=n_kv, body=b"\0" * 4096))
    return dest


def long_string(dest: Path) -> Path:
    """One metadata key whose length claims far more bytes than the file has."""
    dest.write_bytes(header(n_kv=1, body=struct.pack("<Q", 1 << 40) + b"general.name"))
    return dest


def unknown_architecture(dest: Path, architecture: str = "martian") -> Path:
    """A well-formed GGUF (our reader accepts it) of an architecture llama.cpp does not know."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(dest), architecture)
    writer.add_name("a model from nowhere")
    writer.add_context_length(256)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dest


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def fifo(path: Path) -> Path:
    import os

    os.mkfifo(path)
    return path


# Every bad model path a user can hand us, built in folder d from a good model s, with the
# words its one-line error must contain. The reader, the CLI and the app test the same list.
BROKEN = {
    "missing": (lambda d, s: d / "missing.gguf", "model file not found"),
    "directory": (lambda d, s: d, "is a directory"),
    "empty": (lambda d, s: written(d / "empty.gguf", b""), "empty file"),
    "text": (lambda d, s: text_named_gguf(d / "readme.gguf"), "not a GGUF file"),
    "magic": (lambda d, s: wrong_magic(s, d / "ggml.gguf"), "not a GGUF file"),
    "truncated": (lambda d, s: truncated(s, d / "half.gguf"), "truncated GGUF"),
    "header-only": (lambda d, s: truncated(s, d / "head.gguf", 0.001), "truncated"),
    "tensors": (lambda d, s: absurd_counts(d / "t.gguf", "tensors"), "claims 1152921504606846976 tensors"),
    "kv": (lambda d, s: absurd_counts(d / "k.gguf", "kv"), "1152921504606846976 metadata entries"),
    "string": (lambda d, s: long_string(d / "s.gguf"), "more than the file holds"),
    "version": (lambda d, s: written(d / "v9.gguf", header(version=9)), "version 9"),
    "fifo": (lambda d, s: fifo(d / "pipe.gguf"), "not a regular file"),
}
