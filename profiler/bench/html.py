"""A bench as one self-contained HTML page: the results table and each thread sweep as a chart."""

from __future__ import annotations

from html import escape
from typing import Any

from profiler.bench import output
from profiler.bench.result import BenchResult
from profiler.bench.threads import Curve
from profiler.report import svgchart
from profiler.report.report_html import page

COLORS = {"measured": "#4c72b0", "emulated": "#dd8452", "predicted": "#55a868"}
COLUMNS = (
    ("model_type", "model", ""),
    ("profile", "profile", ""),
    ("emulation", "speed", ""),
    ("n_threads", "threads", ""),
    ("test", "test", ""),
    ("t/s", "t/s (llama-bench)", ""),
    ("prefill_ts", "prefill tok/s", ".1f"),
    ("decode_ts", "decode tok/s", ".1f"),
    ("ttft_ms", "TTFT ms", ".1f"),
    ("itl_p95_ms", "p95 ms", ".1f"),
    ("peak_footprint_mb", "peak footprint MB", ".0f"),
    ("status", "status", ""),
)


def _cell(values: dict[str, Any], key: str, fmt: str, test: str) -> str:
    if key == "test":
        return escape(test)
    if key == "t/s":
        if not values["samples_ts"]:
            return "—"
        return f"{values['avg_ts']:.2f} ± {values['stddev_ts']:.2f}"
    if fmt:
        avg, sd = values.get(f"{key}_avg"), values.get(f"{key}_sd")
        return "—" if avg is None else f"{avg:{fmt}} ± {sd or 0:{fmt}}"
    return escape(str(values.get(key, "")))


def sweep_chart(title: str, curves: list[Curve], phase: str) -> str:
    chosen = [c for c in curves if c.phase == phase]
    series, lines = [], []
    for curve in chosen:
        color = COLORS.get(curve.kind, "#777")
        points = [(float(p.threads), p.mean) for p in curve.usable()]
        style = "dashed" if curve.kind == "predicted" else "line"
        if points:
            series.append(svgchart.Series(curve.label, color, points, style))
        if curve.kind != "predicted" and 0 < len(points) <= 16:
            series.append(svgchart.Series(f"{curve.label} (each count)", color, points, "points"))
        left_out = [p for p in curve.points if p not in curve.usable()]
        if left_out:
            why = " / ".join(sorted({p.note for p in left_out}))
            xy = [(float(p.threads), p.mean) for p in left_out]
            series.append(svgchart.Series(f"{curve.label}: {why} (not the phone)", "#999999", xy, "points"))
        best, cliff = curve.best(), curve.cliff()
        if best is not None and len(curve.usable()) > 1:
            lines.append(svgchart.Line(best.threads, f"best {best.threads}", color, axis="x"))
        if cliff is not None:
            lines.append(svgchart.Line(cliff[1].threads, f"cliff {cliff[1].threads}", "#c44e52", axis="x"))
    return svgchart.chart(
        f"{title}: {phase}", x_label="threads", y_label=f"{phase} tokens/s", series=series, lines=lines
    )


def bench_html(results: list[BenchResult], sweeps: list[tuple[str, list[Curve]]]) -> str:
    rows = [output.row(r) for r in results]
    head = "".join(f"<th>{escape(label)}</th>" for _, label, _ in COLUMNS)
    body_rows = "".join(
        "<tr>"
        + "".join(f"<td class='num'>{_cell(values, key, fmt, r.test.name)}</td>" for key, _, fmt in COLUMNS)
        + "</tr>"
        for r, values in zip(results, rows, strict=True)
    )
    first = rows[0] if rows else {}
    parts = [
        "<h1>pocketprof bench</h1>",
        f"<p class='muted'>{escape(str(first.get('host_cpu', '')))}"
        f" · llama.cpp {escape(str(first.get('build_commit')))}"
        f" · llama-cpp-python {escape(str(first.get('llama_cpp_python')))} · "
        f"{len(results)} tests, up to {max((r['reps'] for r in rows), default=0)} repetitions each "
        "(mean ± sample standard deviation).</p>",
        f"<table><tr>{head}</tr>{body_rows}</table>",
        "<p class='muted'>speed: <b>none</b> is this host's own speed; <b>phone</b> runs are slowed to the phone's "
        "predicted speed (the emulation), so they measure the emulation, not the host's CPU.</p>",
    ]
    for title, curves in sweeps:
        parts.append(f"<h2>Thread sweep: {escape(title)}</h2>")
        for phase in ("decode", "prefill"):
            if any(c.phase == phase for c in curves):
                parts.append(f"<div class='chart'>{sweep_chart(title, curves, phase)}</div>")
        summaries = "".join(f"<li>{escape(c.summary())}</li>" for c in curves)
        parts.append(f"<ul>{summaries}</ul>")
        parts.append(
            "<p class='muted'>Predicted: the fitted per-cluster phone model (its error is in docs/FIDELITY.md); "
            "measured: this host; emulated: this host slowed to the phone's predicted speed.</p>"
        )
    return page("pocketprof bench", "\n".join(parts))
