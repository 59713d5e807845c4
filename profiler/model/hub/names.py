"""What a GGUF file's name says: ``hf://`` references, quantization types, split shards."""

from __future__ import annotations

import re
from dataclasses import dataclass

from profiler.errors import BadInput
from profiler.model import kernels

PREFIX = "hf://"
DEFAULT_QUANT = "Q4_K_M"  # what llama.cpp's -hf picks when no type is named
_SPLIT = re.compile(r"^(?P<base>.+)-(?P<part>\d{5})-of-(?P<total>\d{5})\.gguf$", re.IGNORECASE)
_REPO = re.compile(r"^\w[\w.-]*/\w[\w.-]*$")  # no "..", no leading dot or dash
# longest names first, so Q4_K_M is not read as Q4_K or Q4
_TYPES = sorted({*kernels.CLASSES, "BF16", "F16", "F32", "MXFP4", "Q4_K", "Q5_K", "Q3_K"}, key=len, reverse=True)


@dataclass(frozen=True)
class HubRef:
    """``hf://OWNER/REPO/FILE.gguf`` or ``hf://OWNER/REPO:QUANT`` (or ``hf://OWNER/REPO``)."""

    repo: str
    filename: str | None = None
    quant: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.filename}" if self.filename else f":{self.quant}" if self.quant else ""
        return f"{PREFIX}{self.repo}{tail}"


def is_ref(text: str) -> bool:
    return text.startswith(PREFIX)


def parse_ref(text: str) -> HubRef:
    """Parse a model reference; a one-line error names what is wrong with it."""
    body = text[len(PREFIX) :] if is_ref(text) else text
    quant = None
    if ":" in body:
        body, quant = body.rsplit(":", 1)
        if not quant:
            raise BadInput(f"{text}: nothing after ':' (give a type such as Q4_K_M)")
    parts = body.strip("/").split("/")
    if len(parts) < 2 or not _REPO.match("/".join(parts[:2])) or any(p in ("", ".", "..") for p in parts):
        raise BadInput(
            f"{text}: not a Hugging Face model (expected hf://OWNER/REPO/FILE.gguf or hf://OWNER/REPO:QUANT)"
        )
    repo, rest = "/".join(parts[:2]), "/".join(parts[2:])
    if rest and quant:
        raise BadInput(f"{text}: give a file or a ':QUANT', not both")
    if rest and not rest.lower().endswith(".gguf"):
        raise BadInput(f"{text}: {rest} is not a .gguf file")
    return HubRef(repo, rest or None, quant.upper() if quant else None)


def quant_of(filename: str) -> str | None:
    """The GGUF type a file name states (``Qwen2.5-1.5B-Instruct-Q4_K_M.gguf`` → Q4_K_M)."""
    stem = re.sub(r"-\d{5}-of-\d{5}$", "", filename.rsplit("/", 1)[-1].removesuffix(".gguf")).upper()
    tokens = re.split(r"[-.]", stem)
    for name in _TYPES:
        if name in tokens or stem.endswith(f"_{name}") or stem.endswith(f"-{name}"):
            return name
    return None


def split_part(filename: str) -> tuple[str, int, int] | None:
    """(base name, part, total) for a shard ``NAME-00001-of-00003.gguf``; None for a whole file."""
    m = _SPLIT.match(filename)
    return (m["base"], int(m["part"]), int(m["total"])) if m else None


def is_projector(filename: str) -> bool:
    """A vision projector (``mmproj-…``) that comes beside a model but is not one."""
    return "mmproj" in filename.rsplit("/", 1)[-1].lower()
