"""Bench results as llama-bench prints them (``-o md|csv|json|jsonl|sql``), plus our fields.

The llama-bench fields come first, in llama-bench's order and types (``profiler.report.llamabench``);
JSON and JSONL then carry ``samples_ns`` and ``samples_ts`` as llama-bench does, then ours
(``EXTRA_FIELDS``); CSV has the llama-bench columns then ours. SQL is llama-bench's alone
(``CREATE TABLE IF NOT EXISTS llama_bench``) so that it can be piped into a database that
llama-bench's own ``-o sql`` output fills. Markdown is llama-bench's table with our columns
(profile, time to first token, p95 inter-token latency, peak footprint) added before t/s.
"""

from __future__ import annotations

import json
import math
from typing import Any

from profiler.bench.result import METRICS, BenchResult
from profiler.report import llamabench

EXTRA_FIELDS: tuple[str, ...] = (
    "profile",
    "emulation",
    "status",
    "error",
    "reps",
    "ctx",
    "sampler",
    "seed",
    "host_cpu",
    "host_logical_cores",
    "llama_cpp_python",
    "pocketprof",
    "run_ids",
    *(f"{name}_{part}" for name, *_ in METRICS for part in ("avg", "sd")),
    "predicted_decode_ts",
    "predicted_prefill_ts",
    "predicted_decode_error_pct",
    "predicted_prefill_error_pct",
)
FORMATS = ("md", "csv", "json", "jsonl", "sql")


def _int(value: float) -> int:
    return int(value) if math.isfinite(value) else 0


def row(result: BenchResult) -> dict[str, Any]:
    """One test as llama-bench's fields (then samples) and ours, in order."""
    test, first = result.test, result.first
    base = llamabench.settings(first) if first else llamabench.settings({"config": {}})
    samples_ns, samples_ts = result.samples_ns(), result.samples_ts()
    avg_ns = sum(samples_ns) / len(samples_ns) if samples_ns else 0.0
    sd_ns = _sd(samples_ns)
    avg_ts = sum(samples_ts) / len(samples_ts) if samples_ts else 0.0
    values = base | {
        "n_prompt": test.n_prompt,
        "n_gen": test.n_gen,
        "avg_ns": _int(avg_ns),  # uint64 in llama-bench: truncated
        "stddev_ns": _int(sd_ns),
        "avg_ts": round(avg_ts, 6),
        "stddev_ts": round(_sd(samples_ts), 6),
    }
    out = {name: values[name] for name in llamabench.FIELDS}
    out["samples_ns"] = samples_ns
    out["samples_ts"] = [round(ts, 6) for ts in samples_ts]
    return out | extra(result)


def _sd(values: list[float] | list[int]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def extra(result: BenchResult) -> dict[str, Any]:
    first = result.first
    config, host = first.get("config") or {}, first.get("host") or {}
    temperature = config.get("temperature")
    fields: dict[str, Any] = {
        "profile": result.test.profile,
        "emulation": result.emulation,
        "status": result.status,
        "error": result.error or "",
        "reps": len([r for r in result.reports if r.get("status") == "completed"]),
        "ctx": int(config.get("ctx") or 0),
        "sampler": "greedy" if temperature in (0, 0.0) else f"temp {temperature}",
        "seed": int(config.get("seed") or 0),
        "host_cpu": str(host.get("cpu") or ""),
        "host_logical_cores": int(host.get("logical_cores") or 0),
        "llama_cpp_python": str(host.get("llama_cpp") or ""),
        "pocketprof": str(host.get("pocketprof") or ""),
        "run_ids": result.run_ids,
    }
    for name, *_ in METRICS:
        avg, sd, _samples = result.metric(name)
        fields[f"{name}_avg"] = None if avg is None else round(avg, 4)
        fields[f"{name}_sd"] = None if sd is None else round(sd, 4)
    prediction = result.prediction or {}
    for key in ("decode_ts", "prefill_ts", "decode_error_pct", "prefill_error_pct"):
        fields[f"predicted_{key}"] = prediction.get(key)
    return fields


def to_json(results: list[BenchResult]) -> str:
    return json.dumps([row(r) for r in results], indent=2, ensure_ascii=False) + "\n"


def to_jsonl(results: list[BenchResult]) -> str:
    return "".join(json.dumps(row(r), ensure_ascii=False) + "\n" for r in results)


def _csv_cell(name: str, value: Any) -> str:
    if name in llamabench.FIELDS:
        return llamabench.csv_value(name, value)
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    text = "" if value is None else str(value)
    return '"' + text.replace('"', '""') + '"'


def to_csv(results: list[BenchResult]) -> str:
    names = [*llamabench.FIELDS, *EXTRA_FIELDS]
    lines = [",".join(names)]
    for result in results:
        values = row(result)
        lines.append(",".join(_csv_cell(name, values[name]) for name in names))
    return "\n".join(lines) + "\n"


def _sql_type(name: str) -> str:
    if name in llamabench.FLOAT_FIELDS:
        return "REAL"
    return "INTEGER" if name in llamabench.INT_FIELDS or name in llamabench.BOOL_FIELDS else "TEXT"


def _sql_value(name: str, value: Any) -> str:
    text = ("1" if value else "0") if name in llamabench.BOOL_FIELDS else str(value)
    if name in llamabench.FLOAT_FIELDS:
        text = f"{value:f}"
    return "'" + text.replace("'", "''") + "'"


def to_sql(results: list[BenchResult]) -> str:
    fields = llamabench.FIELDS
    lines = ["CREATE TABLE IF NOT EXISTS llama_bench ("]
    lines += [f"  {name} {_sql_type(name)}{',' if i < len(fields) - 1 else ''}" for i, name in enumerate(fields)]
    lines += [");", ""]
    for result in results:
        values = row(result)
        cells = ", ".join(_sql_value(name, values[name]) for name in fields)
        lines.append(f"INSERT INTO llama_bench ({', '.join(fields)}) VALUES ({cells});")
    return "\n".join(lines) + "\n"


def _pm(avg: float | None, sd: float | None, digits: int) -> str:
    return "—" if avg is None else f"{avg:.{digits}f} ± {sd or 0:.{digits}f}"


def _size(n: int) -> str:
    return f"{n / 1024**2:.2f} MiB" if n < 1024**3 else f"{n / 1024**3:.2f} GiB"


def _params(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n < 1e9 else f"{n / 1e9:.2f} B"


def to_markdown(results: list[BenchResult]) -> str:
    """llama-bench's markdown table; batch sizes and flash attention show when they are not its defaults."""
    rows = [row(r) for r in results]
    columns: list[tuple[str, int]] = [("model", -30), ("size", 10), ("params", 10), ("backend", -10)]
    if any(r["backends"] not in ("CPU", "BLAS") for r in rows):
        columns.append(("ngl", 3))
    columns.append(("threads", 7))
    for field, name, default, width in (("n_batch", "n_batch", 2048, 7), ("n_ubatch", "n_ubatch", 512, 8)):
        if any(r[field] != default for r in rows):
            columns.append((name, width))
    if any(r["flash_attn"] != -1 for r in rows):
        columns.append(("fa", 3))
    if any(r["profile"] != "host" for r in rows):
        columns.append(("profile", -16))
    columns += [("test", 15), ("t/s", 20)]
    if any(r.test.kind == "pg" for r in results):  # a combined test's t/s mixes both phases: show each
        columns += [("prefill t/s", 17), ("decode t/s", 15)]
    columns += [("TTFT ms", 15), ("p95 ms", 13), ("footprint MB", 13)]
    lines = ["| " + " | ".join(_cell(name, width) for name, width in columns) + " |"]
    lines.append("| " + " | ".join("-" * (abs(w) - 1) + (":" if w > 0 else "-") for _, w in columns) + " |")
    for result, values in zip(results, rows, strict=True):
        cells = {
            "model": values["model_type"],
            "size": _size(values["model_size"]),
            "params": _params(values["model_n_params"]),
            "backend": values["backends"],
            "ngl": str(values["n_gpu_layers"]),
            "threads": str(values["n_threads"]),
            "n_batch": str(values["n_batch"]),
            "n_ubatch": str(values["n_ubatch"]),
            "fa": str(values["flash_attn"]),
            "profile": values["profile"],
            "test": result.test.name,
            "t/s": f"{values['avg_ts']:.2f} ± {values['stddev_ts']:.2f}" if values["samples_ts"] else result.status,
            "prefill t/s": _pm(values["prefill_ts_avg"], values["prefill_ts_sd"], 2),
            "decode t/s": _pm(values["decode_ts_avg"], values["decode_ts_sd"], 2),
            "TTFT ms": _pm(values["ttft_ms_avg"], values["ttft_ms_sd"], 1),
            "p95 ms": _pm(values["itl_p95_ms_avg"], values["itl_p95_ms_sd"], 1),
            "footprint MB": _pm(values["peak_footprint_mb_avg"], values["peak_footprint_mb_sd"], 0),
        }
        lines.append("| " + " | ".join(_cell(cells[name], width) for name, width in columns) + " |")
    commit = rows[0]["build_commit"] if rows else "unknown"
    return "\n".join(lines) + f"\n\nbuild: {commit} ({rows[0]['build_number'] if rows else 0})\n"


def _cell(text: str, width: int) -> str:
    return text.ljust(-width) if width < 0 else text.rjust(width)


def render(results: list[BenchResult], fmt: str) -> str:
    return {"md": to_markdown, "csv": to_csv, "json": to_json, "jsonl": to_jsonl, "sql": to_sql}[fmt](results)
