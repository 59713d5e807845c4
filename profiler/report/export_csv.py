"""CSV exports: a run's time series and its per-token timings (one file each), and a comparison.

Every file has a header row with units in the column names, and loads back with the
standard ``csv`` module to the same numbers as the JSON report (floats are written with
``repr``, which round-trips exactly).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from profiler.record import write_atomic
from profiler.report import compare

SAMPLE_COLUMNS = (
    ("t", "t_s"),
    ("rss_mb", "rss_mb"),
    ("footprint_mb", "footprint_mb"),
    ("file_mb", "file_backed_mb"),
    ("anon_mb", "anon_mb"),
    ("swap_mb", "swap_mb"),
    ("cpu_percent", "cpu_percent"),
    ("threads", "threads"),
    ("gpu_mem_mb", "gpu_mem_mb"),
    ("gpu_power_w", "gpu_power_w"),
)
TOKEN_COLUMNS = (("index", "index"), ("t", "t_s"), ("latency_ms", "latency_ms"), ("id", "token_id"), ("text", "text"))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; with "\n", a lone "\r" goes unquoted
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue()


def samples_csv(report: Mapping[str, Any]) -> str:
    rows = [[s.get(key) for key, _ in SAMPLE_COLUMNS] for s in report.get("samples", [])]
    return _table([name for _, name in SAMPLE_COLUMNS], rows)


def tokens_csv(report: Mapping[str, Any]) -> str:
    rows = [[t.get(key) for key, _ in TOKEN_COLUMNS] for t in report.get("tokens", [])]
    return _table([name for _, name in TOKEN_COLUMNS], rows)


def comparison_csv(reports: Sequence[Mapping[str, Any]]) -> str:
    """One row per metric: its value for each run, and each run's difference from the first."""
    labels = [compare.label(r) for r in reports]
    header = ["metric", "unit", "better", *labels, *[f"delta vs first: {name}" for name in labels[1:]]]
    rows = []
    for row in compare.table(reports):
        deltas = list(row.deltas[1:])
        rows.append([row.metric.label, row.metric.unit, row.metric.better, *row.values, *deltas])
    return _table(header, rows)


def write_run(report: Mapping[str, Any], folder: Path, stem: str | None = None) -> list[Path]:
    """``STEM-samples.csv`` and ``STEM-tokens.csv`` in ``folder``; returns the paths written."""
    stem = stem or str(report.get("run_id", "run"))
    written = []
    for suffix, text in (("samples", samples_csv(report)), ("tokens", tokens_csv(report))):
        path = Path(folder) / f"{stem}-{suffix}.csv"
        write_atomic(path, text)
        written.append(path)
    return written
