"""Reading a GGUF file's metadata without loading its weights.

Our own bounded parser (the file comes from the internet and llama.cpp must not
be the first to see it), using the ``gguf`` package's enums and block sizes.
Every count and length is checked against the bytes left in the file before it
is used, so a hostile header costs at most one pass over the file: the only
exception that escapes is :class:`ModelFileError`.
"""

from __future__ import annotations

import functools
import mmap
import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.errors import ModelFileError

MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
_KEEP_STRING = 256 * 1024  # longer strings (rare) are skipped, not kept
_KEEP_ARRAY = 64  # short arrays are kept; long ones (tokenizer vocab) are counted


@dataclass(frozen=True)
class ModelInfo:
    """What the report and the predictor need to know about a model file."""

    path: str
    file_name: str
    file_size_bytes: int
    name: str
    architecture: str
    parameters: int
    quantization: str
    file_type: int | None
    bits_per_weight: float
    tensor_bytes: int
    n_tensors: int
    n_layers: int | None
    context_length: int | None
    embedding_length: int | None
    n_heads: int | None
    n_kv_heads: int | None
    head_dim_k: int | None
    head_dim_v: int | None
    vocab_size: int | None
    has_chat_template: bool
    gguf_version: int
    lookup_params: int = 0  # weights only looked up per token: untied input embeddings, per-layer embeddings
    kv_layers: int | None = None  # layers with a KV cache, where some have none (hybrid models)
    ffn_dim: int | None = None  # the feed-forward width (the largest, where it varies by layer)

    @property
    def file_size_mb(self) -> float:
        return self.file_size_bytes / (1024 * 1024)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self) | {"file_size_mb": round(self.file_size_mb, 2)}


class NeedMore(Exception):
    """Reading a header from its first bytes only: ``upto`` bytes are needed to go on, and the
    header is at least ``safe`` bytes long (so fetching up to there never reaches the weights)."""

    def __init__(self, upto: int, safe: int) -> None:
        super().__init__(upto)
        self.upto = upto
        self.safe = max(upto, safe)


class _Reader:
    """Bounds every read by the file's size; with only the file's first bytes in ``buf``
    (a remote header), asks for more with :class:`NeedMore` instead of failing."""

    def __init__(self, path: Path, buf: Any, file_size: int | None = None) -> None:
        self.path, self.buf, self.pos = path, buf, 0
        self.have = len(buf)
        self.size = len(buf) if file_size is None else file_size
        self.rest = 0  # the fewest header bytes that must follow the item being read

    def fail(self, what: str) -> ModelFileError:
        return ModelFileError(f"{self.path}: invalid or truncated GGUF: {what} (at byte {self.pos})")

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(f"truncated while reading {what}")
        if self.pos + n > self.have:
            raise NeedMore(self.pos + n, self.pos + n + self.rest)

    def unpack(self, fmt: str, what: str) -> Any:
        n = struct.calcsize(fmt)
        self.need(n, what)
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += n
        return value

    def string(self, what: str, keep: bool = True) -> str | None:
        length = self.unpack("<Q", what)
        if length > self.size - self.pos:
            raise self.fail(f"{what} claims {length} bytes, more than the file holds")
        keep = keep and length <= _KEEP_STRING
        if keep:
            self.need(length, what)
        raw = self.buf[self.pos : self.pos + length] if keep else None
        self.pos += length
        return raw.decode("utf-8", errors="replace") if raw is not None else None

    def value(self, vtype: int, what: str) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype], what)
        if vtype == STRING:
            return self.string(what)
        if vtype == ARRAY:
            etype = self.unpack("<I", what)
            count = self.unpack("<Q", what)
            smallest = struct.calcsize(_SCALARS[etype]) if etype in _SCALARS else 8
            if etype not in _SCALARS and etype not in (STRING, ARRAY):
                raise self.fail(f"{what}: unknown array element type {etype}")
            if count * smallest > self.size - self.pos:
                raise self.fail(f"{what}: array of {count} items is longer than the file")
            if etype in _SCALARS and count > _KEEP_ARRAY:
                self.pos += count * smallest
                return _Count(count)
            outer, items = self.rest, []
            for j in range(count):
                self.rest = outer + (count - j - 1) * smallest  # the array's other items follow
                items.append(self.value(etype, what))
            self.rest = outer
            return items if count <= _KEEP_ARRAY else _Count(count)
        raise self.fail(f"{what}: unknown value type {vtype}")


@dataclass(frozen=True)
class _Count:
    """A long array we only counted."""

    count: int


def check_path(path: Path) -> os.stat_result:
    """Fail with a one-line message for a path that cannot be a model file; else its stat."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found") from None
    except PermissionError:
        raise ModelFileError(f"{path}: permission denied (a folder on the path cannot be opened)") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot look at the file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelFileError(f"{path}: is a directory, not a .gguf file")
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path}: not a regular file (a pipe, socket or device), not a GGUF model")
    if not os.access(path, os.R_OK):
        raise ModelFileError(f"{path}: permission denied (cannot read the model file)")
    if info.st_size == 0:
        raise ModelFileError(f"{path}: empty file, not a GGUF model")
    return info


def read_metadata(path: Path | str) -> ModelInfo:
    """Parse the header, metadata and tensor table of a GGUF file.

    A file read before, unchanged since (same inode, size, modification and change times), is
    not parsed again: a 262k-entry vocabulary takes most of a second to walk, and a bench
    builds one session per repetition. Any write, rename over it or ``touch`` reads it afresh.
    """
    path = Path(path)
    info = check_path(path)
    return _read(str(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


@functools.lru_cache(maxsize=16)
def _read(path: str, *identity: int) -> ModelInfo:
    """The parse of ``path`` as it is now; ``identity`` (device, inode, size, times) only keys the cache."""
    try:
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(Path(path), buf)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read: {exc.strerror or exc}") from None


class _Remote(str):
    """A remote file's name where a Path is used (``Path`` would fold ``hf://`` into ``hf:/``)."""

    @property
    def name(self) -> str:
        return self.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        return self.name.rsplit(".", 1)[0]


def read_header(
    name: str, size: int, fetch: Callable[[int, int], bytes], *, first: int = 24, limit: int = 16 << 20
) -> ModelInfo:
    """A GGUF's metadata from its first bytes alone, for a file that is not here (a remote one).

    ``fetch(start, end)`` returns bytes [start, end) of the file; ``size`` is the whole file's
    length (it bounds every count, as for a local file). Reads ``first`` bytes (the fixed header),
    then each time up to where the header is known to reach at least (what the counts read so far
    imply), so it never fetches a byte of the weights and never more than ``limit``: a header that
    needs more is refused, naming ``name``.
    """
    if size <= 0:
        raise ModelFileError(f"{name}: empty file, not a GGUF model")
    buf = bytearray()
    want = min(first, size, limit)
    while True:
        if want > len(buf):
            chunk = fetch(len(buf), want)
            if len(chunk) != want - len(buf):
                raise ModelFileError(f"{name}: asked for bytes {len(buf)}-{want} of the file and got {len(chunk)}")
            buf += chunk
        try:
            return _parse(_Remote(name), bytes(buf), file_size=size)
        except NeedMore as more:
            if more.upto > limit:
                raise ModelFileError(
                    f"{name}: its GGUF header needs more than {limit >> 20} MB before the weights; not read"
                ) from None
            want = min(size, limit, more.safe)


def _header(path: Path, r: _Reader) -> tuple[int, int, int]:
    """The magic, version and counts: (version, tensor count, metadata count), each checked against the size."""
    magic = bytes(r.buf[:4])
    if magic != MAGIC:
        raise ModelFileError(f"{path}: not a GGUF file (starts with {magic!r}, expected {MAGIC!r})")
    r.pos = 4
    version = r.unpack("<I", "version")
    if version not in (2, 3):
        swapped = struct.unpack(">I", struct.pack("<I", version))[0]
        kind = "big-endian GGUF is not supported" if swapped in (2, 3) else f"unsupported GGUF version {version}"
        raise ModelFileError(f"{path}: {kind}")
    n_tensors = r.unpack("<Q", "tensor count")
    n_kv = r.unpack("<Q", "metadata count")
    if n_kv * 13 > r.size - r.pos:  # a key-value pair takes at least 13 bytes
        raise r.fail(f"header claims {n_kv} metadata entries, more than the file can hold")
    if n_tensors * 24 > r.size - r.pos:  # a tensor entry takes at least 24 bytes
        raise r.fail(f"header claims {n_tensors} tensors, more than the file can hold")
    return version, n_tensors, n_kv


def _metadata(r: _Reader, n_kv: int, n_tensors: int) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for i in range(n_kv):
        r.rest = (n_kv - i - 1) * 13 + n_tensors * 24
        key = r.string(f"metadata key {i}") or ""
        vtype = r.unpack("<I", f"type of {key!r}")
        meta[key] = r.value(vtype, repr(key))
    return meta


def _tensor_table(r: _Reader, n_tensors: int) -> list[tuple[str, list[int], int, int]]:
    """(name, shape, type, offset) of every tensor, in file order."""
    tensors = []
    for i in range(n_tensors):
        r.rest = (n_tensors - i - 1) * 24
        name = r.string(f"tensor {i} name") or ""
        n_dims = r.unpack("<I", f"tensor {name!r} dims")
        if n_dims > 8:
            raise r.fail(f"tensor {name!r} has {n_dims} dimensions")
        dims = [r.unpack("<Q", f"tensor {name!r} shape") for _ in range(n_dims)]
        ttype = r.unpack("<I", f"tensor {name!r} type")
        offset = r.unpack("<Q", f"tensor {name!r} offset")
        tensors.append((name, dims, ttype, offset))
    return tensors


@dataclass
class _Sizes:
    params: int = 0
    total_bytes: int = 0
    elements: dict[str, int] = field(default_factory=dict)
    biggest: dict[int, int] = field(default_factory=dict)  # bytes per tensor type
    data_end: int = 0


def _sizes(r: _Reader, tensors: list[tuple[str, list[int], int, int]], data_start: int) -> _Sizes:
    """Elements and bytes of every tensor, and where the last one's data ends."""
    import gguf

    sizes = _Sizes(data_end=data_start)
    for name, dims, ttype, offset in tensors:
        try:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ttype)]
        except (ValueError, KeyError):
            raise r.fail(f"tensor {name!r} has unknown type {ttype}") from None
        count = 1
        for d in dims:
            count *= d
        if count > 1 << 48:
            raise r.fail(f"tensor {name!r} claims {count} elements")
        nbytes = count // block * type_size
        sizes.params += count
        sizes.elements[name] = count
        sizes.total_bytes += nbytes
        sizes.biggest[ttype] = sizes.biggest.get(ttype, 0) + nbytes
        sizes.data_end = max(sizes.data_end, data_start + offset + nbytes)
    return sizes


def _parse(path: Path, buf: Any, file_size: int | None = None) -> ModelInfo:
    r = _Reader(path, buf, file_size)
    version, n_tensors, n_kv = _header(path, r)
    meta = _metadata(r, n_kv, n_tensors)
    tensors = _tensor_table(r, n_tensors)
    alignment = meta.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise r.fail(f"general.alignment {alignment!r} is not a power of two")
    sizes = _sizes(r, tensors, (r.pos + alignment - 1) // alignment * alignment)
    if sizes.data_end > r.size:
        raise ModelFileError(
            f"{path}: truncated GGUF: tensor data ends at byte {sizes.data_end:,}, the file has {r.size:,} bytes"
        )
    lookup = sizes.elements.get("per_layer_token_embd.weight", 0)
    if "output.weight" in sizes.elements:  # untied: the input table is only looked up
        lookup += sizes.elements.get("token_embd.weight", 0)
    return _info(path, r.size, version, meta, sizes.params, sizes.total_bytes, sizes.biggest, len(tensors), lookup)


def _int(value: Any) -> int | None:
    if isinstance(value, list):  # per-layer values (some architectures): take the first
        value = value[0] if value else None
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _info(
    path: Path,
    size: int,
    version: int,
    meta: dict[str, Any],
    params: int,
    total_bytes: int,
    by_type: dict[int, int],
    n_tensors: int,
    lookup_params: int = 0,
) -> ModelInfo:
    import gguf

    arch = meta.get("general.architecture")
    arch = arch if isinstance(arch, str) and arch else "unknown"
    file_type = _int(meta.get("general.file_type"))
    quant = None
    if file_type is not None:
        try:
            quant = gguf.LlamaFileType(file_type).name.removeprefix("MOSTLY_")
        except ValueError:
            quant = None
    if quant is None and by_type:
        quant = gguf.GGMLQuantizationType(max(by_type, key=lambda t: by_type[t])).name
    tokens = meta.get("tokenizer.ggml.tokens")
    vocab = tokens.count if isinstance(tokens, _Count) else len(tokens) if isinstance(tokens, list) else None
    name = meta.get("general.name")
    n_heads = _int(meta.get(f"{arch}.attention.head_count"))
    embedding = _int(meta.get(f"{arch}.embedding_length"))
    head_k = _int(meta.get(f"{arch}.attention.key_length"))
    if head_k is None and n_heads and embedding:
        head_k = embedding // n_heads
    return ModelInfo(
        path=str(path),
        file_name=path.name,
        file_size_bytes=size,
        name=name if isinstance(name, str) and name else path.stem,
        architecture=arch,
        parameters=params,
        quantization=quant or "unknown",
        file_type=file_type,
        bits_per_weight=round(total_bytes * 8 / params, 3) if params else 0.0,
        tensor_bytes=total_bytes,
        n_tensors=n_tensors,
        n_layers=_int(meta.get(f"{arch}.block_count")),
        context_length=_int(meta.get(f"{arch}.context_length")),
        embedding_length=embedding,
        n_heads=n_heads,
        n_kv_heads=_most(meta.get(f"{arch}.attention.head_count_kv")) or n_heads,
        head_dim_k=head_k,
        head_dim_v=_int(meta.get(f"{arch}.attention.value_length")) or head_k,
        vocab_size=vocab,
        has_chat_template=isinstance(meta.get("tokenizer.chat_template"), str),
        gguf_version=version,
        lookup_params=lookup_params,
        kv_layers=_kv_layers(meta.get(f"{arch}.attention.head_count_kv")),
        ffn_dim=_most(meta.get(f"{arch}.feed_forward_length")),
    )


def _most(value: Any) -> int | None:
    """A per-layer list's largest entry (hybrid models have 0 for layers without attention), else the value."""
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return max(value)
    return _int(value)


def _kv_layers(value: Any) -> int | None:
    """Hybrid models list KV heads per layer, 0 for layers without attention (LFM2): count the others."""
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value) and 0 in value:
        return sum(1 for v in value if v)
    return None
