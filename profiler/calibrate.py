"""The host's unthrottled decode speed for a model, measured once and cached.

An emulated run under a phone profile is slowed by ``speed factor = predicted
phone decode tokens/s ÷ host decode tokens/s`` (capped at 1: a host slower than
the phone runs unthrottled and the report says by how much it lags). The host
figure comes from a short real run (greedy, fixed length, ``host`` profile with
the same threads and context), cached per model file, threads, context and host.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from profiler import hostinfo, paths
from profiler.record import write_atomic

CALIBRATION_TOKENS = 96


def _key(model_path: Path, threads: int, ctx: int) -> str:
    stat = model_path.stat()
    raw = f"{model_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{threads}|{ctx}|{hostinfo.cpu_model()}"
    raw += f"|{hostinfo.package_version('llama_cpp_python')}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def _cache_file() -> Path:
    return paths.cache_dir() / "host_decode_speed.json"


def _load() -> dict[str, float]:
    try:
        data = json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else {}


def cached(model_path: Path, threads: int, ctx: int) -> float | None:
    return _load().get(_key(model_path, threads, ctx))


def store(model_path: Path, threads: int, ctx: int, tokens_per_s: float) -> None:
    data = _load()
    data[_key(model_path, threads, ctx)] = tokens_per_s
    write_atomic(_cache_file(), json.dumps(data, indent=1))


def host_decode_tps(model: str, model_path: Path, threads: int, ctx: int) -> float | None:
    """Cached host decode speed, or measure it now with a short unthrottled run."""
    found = cached(model_path, threads, ctx)
    if found is not None:
        return found
    from profiler.config import RunConfig
    from profiler.session import Session

    config = RunConfig(
        model=str(model_path),
        profile="host",
        prompt="Count from one to one hundred in words.",
        max_tokens=CALIBRATION_TOKENS,
        ctx=ctx,
        threads=threads,
        temperature=0.0,
        ignore_eos=True,
    )
    record = Session(config, calibrate=False).run()
    tps = record.summary.decode_tokens_per_s
    if record.status != "completed" or not tps:
        return None
    store(model_path, threads, ctx, tps)
    return tps


def clear() -> None:
    """Forget every cached figure (after a hardware or driver change)."""
    try:
        os.unlink(_cache_file())
    except FileNotFoundError:
        pass
