"""Runs side by side: every summary metric, its difference against the first run, the better value.

Works on report dicts (fresh runs, JSON files or the history), so the CLI, the app and the
HTML report show the same table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.errors import BadInput


@dataclass(frozen=True)
class Metric:
    key: str  # a dotted path into the report: "summary.ttft_s", "energy.j_per_token"
    label: str
    unit: str
    better: str  # "lower" | "higher" | "" (no better side)
    fmt: str = ",.1f"


METRICS: tuple[Metric, ...] = (
    Metric("summary.ttft_s", "time to first token", "s", "lower", ",.3f"),
    Metric("summary.prefill_tokens_per_s", "prefill", "tok/s", "higher"),
    Metric("summary.decode_tokens_per_s", "decode", "tok/s", "higher"),
    Metric("summary.itl_p50_ms", "inter-token p50", "ms", "lower"),
    Metric("summary.itl_p95_ms", "inter-token p95", "ms", "lower"),
    Metric("summary.load_time_s", "load time", "s", "lower", ",.2f"),
    Metric("summary.peak_footprint_mb", "peak footprint", "MB", "lower", ",.0f"),
    Metric("summary.peak_rss_mb", "peak RSS", "MB", "lower", ",.0f"),
    Metric("summary.generated_tokens", "generated tokens", "tokens", "", ",.0f"),
    Metric("energy.j_per_token", "energy per token", "J", "lower", ",.4f"),
    Metric("energy.battery_pct_per_1k_tokens", "battery per 1k tokens", "%", "lower", ",.3f"),
    # no better side: a slower model draws less power, so decodes for longer while writing fewer tokens;
    # energy and battery per token above say which is the more frugal
    Metric("energy.hours_continuous", "hours of continuous decoding", "h", "", ",.2f"),
    Metric("model.file_size_mb", "model file", "MB", "lower", ",.0f"),
)


def value_at(report: Mapping[str, Any], key: str) -> float | None:
    node: Any = report
    for part in key.split("."):
        if not isinstance(node, Mapping) or node.get(part) is None:
            return None
        node = node[part]
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def label(report: Mapping[str, Any]) -> str:
    """A short name for a run: 'SmolLM2 135M Q4_1 · iphone-16'."""
    model = report.get("model", {})
    name = model.get("file_name") or model.get("name") or "?"
    return f"{name} · {report.get('profile', {}).get('id', '?')}"


@dataclass(frozen=True)
class Row:
    metric: Metric
    values: tuple[float | None, ...]
    deltas: tuple[float | None, ...]  # against the first run
    percents: tuple[float | None, ...]
    best: int | None  # index of the better value, when there is a better side and a difference


def _finished(report: Mapping[str, Any]) -> bool:
    return report.get("status") in ("completed", "stopped")


def table(reports: Sequence[Mapping[str, Any]]) -> list[Row]:
    rows = []
    for metric in METRICS:
        values = tuple(value_at(r, metric.key) for r in reports)
        if all(v is None for v in values):
            continue
        base = values[0]
        deltas = tuple(None if v is None or base is None else v - base for v in values)
        percents = tuple(None if d is None or not base else 100.0 * d / base for d in deltas)
        # a run that was killed or failed has no fair figure to win with (its energy is a prediction)
        known = [(v, i) for i, v in enumerate(values) if v is not None and _finished(reports[i])]
        best = None
        if metric.better and len(known) > 1 and len({v for v, _ in known}) > 1:
            best = (min(known) if metric.better == "lower" else max(known))[1]
        rows.append(Row(metric, values, deltas, percents, best))
    return rows


def fmt_value(row: Row, value: float | None) -> str:
    return "—" if value is None else f"{value:{row.metric.fmt}}"


def fmt_delta(row: Row, index: int) -> str:
    delta, pct = row.deltas[index], row.percents[index]
    if index == 0 or delta is None:
        return ""
    text = f"{delta:+{row.metric.fmt}}"
    return text + (f" ({pct:+.1f} %)" if pct is not None else "")


def _check_shape(path: Path, data: dict[str, Any]) -> None:
    """The parts every export reads: dicts where dicts belong, numbers (or null) in the summary."""
    for key in ("model", "profile", "summary", "limits", "host", "config"):
        if not isinstance(data.get(key), dict):
            raise BadInput(f"{path}: field '{key}' must be an object in a pocketprof report")
    for key, value in data["summary"].items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise BadInput(f"{path}: field 'summary.{key}' must be a number, got {value!r}")
    for name, limit in data["limits"].items():
        if not isinstance(limit, dict) or not {"value", "unit", "mechanism"} <= set(limit):
            raise BadInput(f"{path}: field 'limits.{name}' needs value, unit and mechanism")
    for key in ("samples", "tokens"):
        if not isinstance(data.get(key, []), list) or not all(isinstance(x, dict) for x in data.get(key, [])):
            raise BadInput(f"{path}: field '{key}' must be a list of objects")


def load_reports(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Report files (or run ids from the history) -> report dicts; one-line BadInput otherwise."""
    from profiler.report import history

    reports = []
    for path in paths:
        if not Path(path).exists() and "/" not in str(path) and not str(path).endswith(".json"):
            reports.append(history.load(str(path)))  # a run id
            continue
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BadInput(f"{path}: report not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"{path}: cannot read the report: {exc}") from None
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}: not a pocketprof JSON report ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(data, dict) or "summary" not in data or "schema_version" not in data:
            raise BadInput(f"{path}: not a pocketprof JSON report (no schema_version and summary)")
        if data["schema_version"] != 1:
            raise BadInput(f"{path}: report schema version {data['schema_version']} is not supported (1 is)")
        _check_shape(Path(path), data)
        reports.append(data)
    return reports
