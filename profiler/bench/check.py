"""A regression gate: a run or bench result against a baseline, metric by metric, with noise.

Inputs are read into :class:`Entry` objects, one per test: ``pocketprof bench --json`` rows,
a plain ``llama-bench -o json`` array (t/s only), or a run report (``run --json``, or a run id
from the history). Entries are matched by model file, profile, test and thread/batch
settings; everything else that shapes speed (machine, llama.cpp build, context, flash
attention, sampler, load mode, GPU layers, weight repacking) must be equal, unless forced.

A metric regresses when its change in the bad direction, less the noise, is beyond its limit.
The noise is two standard errors of the difference of the means (the repetitions' standard
deviations): a change beyond the limit but inside the noise is reported as such and passes.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.errors import BadInput

# name: (label, unit, higher is better, threshold kind)
METRICS: dict[str, tuple[str, str, bool, str]] = {
    "t/s": ("t/s (llama-bench)", "tok/s", True, "speed"),
    "prefill_ts": ("prefill", "tok/s", True, "speed"),
    "decode_ts": ("decode", "tok/s", True, "speed"),
    "ttft_ms": ("time to first token", "ms", False, "speed"),
    "itl_p95_ms": ("p95 inter-token", "ms", False, "speed"),
    "peak_footprint_mb": ("peak footprint", "MB", False, "memory"),
}
# What must match between baseline and result beyond the matching key.
IDENTITY = ("machine", "build", "ctx", "flash_attn", "sampler", "load_mode", "n_gpu_layers", "repack")


@dataclass
class Stat:
    mean: float
    sd: float
    n: int


@dataclass
class Entry:
    key: tuple[Any, ...]
    label: str
    metrics: dict[str, Stat] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    status: str = "completed"
    emulation: str = "none"
    profile: str = "host"


@dataclass(frozen=True)
class Limit:
    value: float
    unit: str  # "%" or "MB"

    def text(self) -> str:
        return f"{self.value:g} {self.unit}" if self.unit == "MB" else f"{self.value:g} %"


@dataclass
class Verdict:
    label: str
    metric: str
    base: Stat | None
    current: Stat | None
    change: float | None  # in the limit's unit, positive = worse
    noise: float | None
    limit: Limit | None
    outcome: str  # ok | regression | within noise | improved | killed | no data


def parse_limit(text: str, option: str, default_unit: str) -> Limit:
    """``10%``, ``10`` (the default unit), ``200MB``, ``0.5GB``."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%|mb|mib|gb|gib)?\s*", str(text).lower())
    if not found:
        raise BadInput(f"{option}: {text!r} is not a limit like 10% or 200MB")
    value, unit = float(found[1]), found[2] or ("%" if default_unit == "%" else "mb")
    if unit in ("gb", "gib"):
        value, unit = value * 1024, "mb"
    if unit == "mib":
        unit = "mb"
    if not math.isfinite(value):
        raise BadInput(f"{option}: {text!r} is not a finite number")
    return Limit(value, "%" if unit == "%" else "MB")


def _stat(mean: Any, sd: Any, n: int) -> Stat | None:
    if not isinstance(mean, int | float) or isinstance(mean, bool) or not math.isfinite(mean):
        return None
    return Stat(float(mean), float(sd) if isinstance(sd, int | float) and math.isfinite(sd) else 0.0, max(n, 1))


def _from_bench_row(row: dict[str, Any]) -> Entry:
    model = Path(str(row.get("model_filename", "?"))).name
    profile = str(row.get("profile") or "host")
    n_prompt, n_gen = int(row.get("n_prompt") or 0), int(row.get("n_gen") or 0)
    test = f"pp{n_prompt}" if n_gen == 0 else f"tg{n_gen}" if n_prompt == 0 else f"pp{n_prompt}+tg{n_gen}"
    threads, batch, ubatch = row.get("n_threads"), row.get("n_batch"), row.get("n_ubatch")
    samples = row.get("samples_ns") or []
    entry = Entry(
        key=(model, profile, test, threads, batch, ubatch),
        label=f"{model} {test} t={threads} {profile}",
        status=str(row.get("status") or "completed"),
        emulation=str(row.get("emulation") or "none"),
        profile=profile,
    )
    stat = _stat(row.get("avg_ts"), row.get("stddev_ts"), len(samples))
    if stat is not None and samples:
        entry.metrics["t/s"] = stat
    reps = int(row.get("reps") or len(samples) or 1)
    for name in METRICS:
        if name != "t/s":
            stat = _stat(row.get(f"{name}_avg"), row.get(f"{name}_sd"), reps)
            if stat is not None:
                entry.metrics[name] = stat
    commit = str(row.get("build_commit") or "").removesuffix("-dirty") or None  # ggml_commit() marks a source tree
    entry.identity = {
        "machine": (row.get("cpu_info"), row.get("host_cpu"), row.get("host_logical_cores")),
        "build": (commit, row.get("llama_cpp_python")),
        "ctx": row.get("ctx"),
        "flash_attn": row.get("flash_attn"),
        "sampler": row.get("sampler"),
        "load_mode": "mmap" if row.get("load_mode") == "auto" else row.get("load_mode"),  # auto maps the file
        "n_gpu_layers": None if row.get("backends") == "CPU" else row.get("n_gpu_layers"),  # no GPU: moot
        "repack": bool(row.get("repack", True)),
    }
    return entry


def _from_report(report: dict[str, Any]) -> Entry:
    config, summary = report.get("config") or {}, report.get("summary") or {}
    host, engine = report.get("host") or {}, (report.get("child") or {}).get("engine") or {}
    model = Path(str(config.get("model_path") or (report.get("model") or {}).get("path") or "?")).name
    profile = str((report.get("profile") or {}).get("id") or "host")
    threads = config.get("threads")
    entry = Entry(
        key=(model, profile, "run", threads, config.get("batch"), config.get("ubatch")),
        label=f"{model} run t={threads} {profile}",
        status=str(report.get("status") or "?"),
        emulation="phone" if profile != "host" and config.get("speed_factor") is None else "none",
        profile=profile,
    )
    for name, key, scale in (
        ("prefill_ts", "prefill_tokens_per_s", 1.0),
        ("decode_ts", "decode_tokens_per_s", 1.0),
        ("ttft_ms", "ttft_s", 1000.0),
        ("itl_p95_ms", "itl_p95_ms", 1.0),
        ("peak_footprint_mb", "peak_footprint_mb", 1.0),
    ):
        value = summary.get(key)
        stat = _stat(value * scale if isinstance(value, int | float) else None, 0.0, 1)
        if stat is not None:
            entry.metrics[name] = stat
    temperature = config.get("temperature")
    entry.identity = {
        "machine": (engine.get("cpu_info") or None, host.get("cpu"), host.get("logical_cores")),
        "build": (str(engine.get("build_commit") or "").removesuffix("-dirty") or None, host.get("llama_cpp")),
        "ctx": config.get("ctx"),
        "flash_attn": config.get("flash_attn"),
        "sampler": "greedy" if temperature in (0, 0.0) else f"temp {temperature}",
        "load_mode": "mmap" if config.get("mmap", True) else "none",
        "n_gpu_layers": config.get("gpu_layers"),
        "repack": str(engine.get("weight_repack") or "on") == "on",
        "prompt": (config.get("prompt"), config.get("max_tokens"), config.get("seed")),
    }
    return entry


def load(source: str) -> list[Entry]:
    """Entries from a bench JSON, a llama-bench JSON, a run report, or a run id in the history."""
    path = Path(source)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadInput(f"{path}: not a JSON bench result or run report ({exc})") from None
    else:
        from profiler.report import history

        try:
            data = history.load(source)
        except BadInput:
            raise BadInput(f"{source}: no such file, and no run with that id in the history") from None
    if isinstance(data, list) and data and all(isinstance(r, dict) and "avg_ts" in r for r in data):
        return [_from_bench_row(r) for r in data]
    if isinstance(data, dict) and "summary" in data and "config" in data:
        return [_from_report(data)]
    raise BadInput(f"{source}: neither a bench result (pocketprof bench --json, llama-bench -o json) nor a run report")


def mismatches(base: Entry, current: Entry) -> list[str]:
    found = []
    for name in (*IDENTITY, "prompt"):
        a, b = base.identity.get(name), current.identity.get(name)
        if a is None or b is None:
            continue
        if isinstance(a, tuple) and isinstance(b, tuple):
            pairs = [(x, y) for x, y in zip(a, b, strict=False) if x is not None and y is not None and x != y]
            if pairs:
                found.append(f"{name}: {pairs[0][0]!r} then {pairs[0][1]!r}")
        elif a != b:
            found.append(f"{name}: {a!r} then {b!r}")
    return found


def judge(base: Stat, current: Stat, metric: str, limit: Limit) -> tuple[float, float, str]:
    """(change, noise, outcome), change and noise in the limit's unit, change positive when worse."""
    higher_better = METRICS[metric][2]
    diff = current.mean - base.mean
    worse = -diff if higher_better else diff
    noise_abs = 2.0 * math.sqrt(base.sd**2 / base.n + current.sd**2 / current.n)
    if limit.unit == "%":
        scale = 100.0 / base.mean if base.mean else 0.0
        change, noise = worse * scale, noise_abs * scale
    else:
        change, noise = worse, noise_abs
    if change - noise > limit.value:
        return change, noise, "regression"
    if change > limit.value:
        return change, noise, "within noise"
    if -change - noise > limit.value:
        return change, noise, "improved"
    return change, noise, "ok"


def compare(base: list[Entry], current: list[Entry], limits: dict[str, Limit], *, force: bool) -> list[Verdict]:
    """Every matching test's metrics judged; BadInput if nothing matches or settings differ (unless forced)."""
    by_key = {e.key: e for e in base}
    pairs = [(by_key[c.key], c) for c in current if c.key in by_key]
    if not pairs:
        have = ", ".join(sorted({e.label for e in base}))[:300]
        raise BadInput(f"no test of the result is in the baseline (the baseline has: {have})")
    problems = [f"{c.label}: {m}" for b, c in pairs for m in mismatches(b, c)]
    if problems and not force:
        raise BadInput(f"the baseline was taken under other settings ({problems[0]}); --force compares anyway")
    verdicts = []
    for b, c in pairs:
        if c.status != "completed":
            verdicts.append(Verdict(c.label, "status", None, None, None, None, None, f"{c.status}"))
            continue
        for metric, (_label, _unit, _higher, kind) in METRICS.items():
            if metric not in b.metrics or metric not in c.metrics:
                continue
            limit = limits.get(metric) or limits[kind]
            change, noise, outcome = judge(b.metrics[metric], c.metrics[metric], metric, limit)
            verdicts.append(
                Verdict(c.label, metric, b.metrics[metric], c.metrics[metric], change, noise, limit, outcome)
            )
    return verdicts


def failed(verdicts: list[Verdict]) -> bool:
    return any(v.outcome in ("regression", "killed", "error", "stopped") for v in verdicts)
