"""The host's unthrottled decode speed for a model, measured once and cached.

The session runs the measurement (``config_for``) and hands its record to
``record_result``; this module only knows the run's settings and the cache.

An emulated run under a phone profile is slowed by ``speed factor = predicted
phone decode tokens/s ÷ host decode tokens/s`` (capped at 1: a host slower than
the phone runs unthrottled and the report says by how much it lags). The host
figure comes from a short real run (greedy, fixed length, ``host`` profile with
the same threads and context), cached per model file, threads, context and host.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from profiler import hostinfo, paths
from profiler.config import RunConfig
from profiler.record import RunRecord

CALIBRATION_TOKENS = 96


def _key(model_path: Path, threads: int, ctx: int) -> str:
    stat = model_path.stat()
    raw = f"{model_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{threads}|{ctx}|{hostinfo.cpu_model()}"
    raw += f"|{hostinfo.package_version('llama_cpp_python')}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


CACHE = "host_decode_speed.json"


def _load() -> dict[str, float]:
    return {k: float(v) for k, v in paths.load_cache(CACHE).items() if isinstance(v, (int, float))}


def cached(model_path: Path, threads: int, ctx: int) -> float | None:
    return _load().get(_key(model_path, threads, ctx))


def store(model_path: Path, threads: int, ctx: int, tokens_per_s: float) -> None:
    data = _load()
    data[_key(model_path, threads, ctx)] = tokens_per_s
    paths.save_cache(CACHE, dict(data))


def config_for(model_path: Path, threads: int, ctx: int) -> RunConfig:
    """The short unthrottled run that measures the host: greedy, fixed length, same threads and context."""
    return RunConfig(
        model=str(model_path),
        profile="host",
        prompt="Count from one to one hundred in words.",
        max_tokens=CALIBRATION_TOKENS,
        ctx=ctx,
        threads=threads,
        temperature=0.0,
        ignore_eos=True,
    )


def record_result(model_path: Path, threads: int, ctx: int, record: RunRecord) -> float | None:
    """Cache a calibration run's decode speed; None if the run did not complete."""
    tps = record.summary.decode_tokens_per_s
    if record.status != "completed" or not tps:
        return None
    try:
        store(model_path, threads, ctx, tps)
    except OSError:
        pass  # an unwritable cache costs a re-measure next time, not this run
    return tps


def clear() -> None:
    """Forget every cached figure (after a hardware or driver change)."""
    (paths.cache_dir() / CACHE).unlink(missing_ok=True)
