"""Quantizing a GGUF model with llama.cpp's own quantizer, in a child process, cached by content.

``quantize(source, "Q4_K_M")`` returns the path of the quantized file: from the cache
(``cache_dir()/quants/<sha256 of the source>-Q4_K_M.gguf``) when it was made before,
otherwise by running ``llama_model_quantize`` (as exposed by llama-cpp-python) in a
child process, so a crash in the quantizer cannot take the caller down, and a stop
request can kill it. Progress is the output file's size against the size expected.

Run as ``python -m profiler.model.quantize SOURCE OUT FTYPE THREADS`` to quantize once.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from profiler import paths
from profiler.errors import BadInput, ProfilerError
from profiler.model import helper

# name -> (llama_ftype, approximate bits per weight, for progress and ordering)
QUANTS: dict[str, tuple[int, float]] = {
    "F32": (0, 32.0),
    "BF16": (32, 16.0),
    "F16": (1, 16.0),
    "Q8_0": (7, 8.5),
    "Q6_K": (18, 6.56),
    "Q5_K_M": (17, 5.69),
    "Q5_K_S": (16, 5.54),
    "Q5_1": (9, 6.0),
    "Q5_0": (8, 5.5),
    "Q4_K_M": (15, 4.89),
    "Q4_K_S": (14, 4.58),
    "Q4_1": (3, 5.0),
    "Q4_0": (2, 4.5),
    "Q3_K_L": (13, 4.27),
    "Q3_K_M": (12, 3.91),
    "Q3_K_S": (11, 3.5),
    "Q2_K": (10, 3.35),
}
HIGH_PRECISION = ("F32", "BF16", "F16")

Progress = Callable[[float], None]
StopCheck = Callable[[], bool]


def parse_quants(text: str) -> list[str]:
    """'F16,q8_0, Q4_K_M' -> ['F16', 'Q8_0', 'Q4_K_M'], most precise first; one-line BadInput otherwise."""
    names = [n.strip().upper() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in QUANTS]
    if unknown:
        raise BadInput(f"--quants: unknown quantization {', '.join(unknown)}; known: {', '.join(QUANTS)}")
    if not names:
        raise BadInput("--quants: give at least one quantization, e.g. F16,Q8_0,Q4_K_M")
    return sorted(dict.fromkeys(names), key=lambda n: -QUANTS[n][1])


def file_hash(path: Path) -> str:
    """SHA-256 of the file's content, remembered by (path, size, mtime) so a 4 GB file is read once."""
    path = Path(path).resolve()
    info = path.stat()
    key = f"{path}|{info.st_size}|{info.st_mtime_ns}"
    known = paths.load_cache("hashes.json")
    if key in known:
        return str(known[key])
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    known[key] = digest.hexdigest()
    paths.save_cache("hashes.json", known)
    return digest.hexdigest()


def cached_path(source_hash: str, quant: str) -> Path:
    folder = paths.cache_dir() / "quants"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{source_hash[:16]}-{quant}.gguf"


def quantize(
    source: Path,
    quant: str,
    *,
    source_hash: str,
    params: float,
    threads: int | None = None,
    on_progress: Progress | None = None,
    should_stop: StopCheck | None = None,
) -> tuple[Path, bool]:
    """(the quantized file, whether it came from the cache). Raises ProfilerError if llama.cpp fails."""
    ftype, bits = QUANTS[quant]
    target = cached_path(source_hash, quant)
    if target.is_file() and target.stat().st_size > 0:
        return target, True
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".partial", dir=target.parent)
    os.close(fd)  # unique: two ladders quantizing the same file never write one partial
    partial = Path(name)
    log = partial.with_suffix(".log")
    expected = max(1.0, params * bits / 8)
    threads = threads or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)

    def progress() -> None:
        if on_progress is not None and partial.exists():
            on_progress(min(0.99, partial.stat().st_size / expected))

    try:
        with open(log, "wb") as out:
            code = helper.run(
                "profiler.model.quantize",
                [str(source), str(partial), str(ftype), str(threads)],
                out,
                should_stop=should_stop,
                stopped=f"quantizing {quant} stopped",
                on_tick=progress,
            )
        if code != 0 or not partial.is_file() or partial.stat().st_size == 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            raise ProfilerError(f"llama.cpp could not quantize {source.name} to {quant}: {' '.join(tail) or code}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
    if on_progress is not None:
        on_progress(1.0)
    return target, False


def _main(argv: list[str]) -> int:
    import llama_cpp

    source, out, ftype, threads = argv[0], argv[1], int(argv[2]), int(argv[3])
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    params.allow_requantize = True  # a quantized source is allowed; the ladder flags it
    return int(llama_cpp.llama_model_quantize(source.encode(), out.encode(), params))


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
