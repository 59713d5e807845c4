"""Self-contained HTML reports: one file, no scripts, no network, every text escaped.

A Content-Security-Policy forbids any fetch even if something slipped through, and all
text that comes from prompts, outputs, model metadata or profiles goes through
``html.escape``. Charts are inline SVG (:mod:`profiler.report.svgchart`). ``embed`` lets the
PDF writer swap each SVG for an image it can lay out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from profiler.report import compare, describe, svgchart

Embed = Callable[[str], str]
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 24px auto;
       max-width: 1100px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
.outcome { padding: 8px 12px; border-radius: 4px; margin: 10px 0; }
.completed { background: #e3f4e1; color: #1f5c1a; } .stopped { background: #fff4d6; color: #6b4d00; }
.killed, .error { background: #fde2e1; color: #8b1a1a; }
table.cards { border-collapse: separate; border-spacing: 8px; margin: 0 -8px; }
td.card { border: 1px solid #ddd; border-radius: 4px; padding: 8px 12px; min-width: 150px; background: #fafafa; }
.card .k { color: #666; font-size: 12px; } .card .v { font-size: 18px; font-weight: 600; }
table { border-collapse: collapse; margin: 6px 0; } td, th { padding: 3px 10px; border-bottom: 1px solid #eee;
       text-align: left; vertical-align: top; } th { color: #555; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } .best { font-weight: 700; color: #1f5c1a; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f6f6; padding: 10px; border-radius: 4px; }
.muted { color: #777; font-size: 12px; } .swatch { display: inline-block; width: 12px; height: 12px;
       border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def page(title: str, body: str) -> str:
    """A whole document: the head (charset, CSP, style) around ``body``, which must be escaped already."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        f"<meta name='viewport' content='width=device-width'><title>{_e(title)}</title>"
        f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def _rows(pairs: Sequence[tuple[str, Any]]) -> str:
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs) + "</table>"


def _cards(items: Sequence[tuple[str, str]], per_row: int = 4) -> str:
    """Key figures as a grid; a table, so Qt's PDF layout (no CSS flex) keeps the grid too."""
    cells = [f"<td class='card'><div class='k'>{_e(k)}</div><div class='v'>{_e(v)}</div></td>" for k, v in items]
    rows = ["<tr>" + "".join(cells[i : i + per_row]) + "</tr>" for i in range(0, len(cells), per_row)]
    return f"<table class='cards' cellspacing='6'>{''.join(rows)}</table>"


def _model(model: Mapping[str, Any]) -> str:
    return _rows(
        [
            ("name", model.get("name")),
            ("file", model.get("file_name")),
            ("architecture", model.get("architecture")),
            ("parameters", describe.model_line(model)),
            ("bits per weight", model.get("bits_per_weight")),
            (
                "layers / heads / KV heads",
                f"{model.get('n_layers')} / {model.get('n_heads')} / {model.get('n_kv_heads')}",
            ),
            ("trained context", model.get("context_length")),
            ("chat template", "yes" if model.get("has_chat_template") else "no"),
        ]
    )


def _cores(profile: Mapping[str, Any]) -> str:
    clusters = profile.get("cpu_clusters") or ()
    text = " + ".join(f"{c.get('count')}× {c.get('core') or c.get('kind')} @ {c.get('max_ghz')} GHz" for c in clusters)
    return text or "—"


def _profile(profile: Mapping[str, Any]) -> str:
    return _rows(
        [
            ("device", f"{profile.get('name')} ({profile.get('id')})"),
            ("SoC", profile.get("soc") or "—"),
            ("summary", describe.profile_line(profile)),
            ("memory bandwidth", f"{profile.get('memory_bandwidth_gbs') or '—'} GB/s"),
            ("CPU", _cores(profile)),
            (
                "backends",
                f"{', '.join(profile.get('backends') or ('cpu',))} "
                f"(apps default: {profile.get('default_backend') or 'cpu'})",
            ),
        ]
    )


def _limits(limits: Mapping[str, Mapping[str, Any]]) -> str:
    head = "<tr><th>limit</th><th>value</th><th>enforced by</th><th>note</th></tr>"
    rows = []
    for name, v in limits.items():
        value = "—" if v.get("value") is None else f"{v['value']:,.4g}"
        rows.append(
            f"<tr><td>{_e(name)}</td><td class='num'>{_e(value)} {_e(v.get('unit'))}</td>"
            f"<td>{_e(v.get('mechanism'))}</td><td>{_e(v.get('note'))}</td></tr>"
        )
    body = "".join(rows)
    return f"<table>{head}{body}</table>"


def _charts(reports: Sequence[Mapping[str, Any]], labels: Sequence[str] | None, embed: Embed | None) -> str:
    show = embed or (lambda svg: svg)
    return "".join(
        f"<div class='chart'>{show(make(reports, labels))}</div>"
        for make in (svgchart.memory_chart, svgchart.latency_chart, svgchart.energy_chart)
    )


def _pm(error: float | None) -> str:
    return f" ±{error:.0f} %" if error is not None else ""


def run_html(report: Mapping[str, Any], *, embed: Embed | None = None) -> str:
    model, profile = report.get("model", {}), report.get("profile", {})
    title = f"pocketprof · {model.get('name', '?')} on {profile.get('name', '?')}"
    status = str(report.get("status", ""))
    energy = report.get("energy") or {}
    host = report.get("host", {})
    extra = [
        ("status", describe.outcome(report)),
        ("limits", describe.limits_line(report.get("limits", {}))),
        ("speed", describe.speed_line(report) or "—"),
        ("host calibration", describe.calibration_line(report) or "—"),
        (
            "phone energy",
            f"{energy.get('j_total', 0):.2f} J ({energy.get('battery_pct', 0):.4f} % of the battery; "
            f"an estimate{_pm(energy.get('error_pct'))} at {energy.get('speed_basis', 'the predicted speed')}: "
            f"{energy.get('basis', 'the phone power model')})"
            if energy
            else "none (host profile)",
        ),
        (
            "child",
            f"pid {report.get('child', {}).get('pid')} · llama-cpp-python {report.get('child', {}).get('llama_cpp')}"
            f" · sandbox: {report.get('child', {}).get('sandbox', 'none')}",
        ),
    ]
    body = [
        f"<h1>{_e(model.get('name'))} on {_e(profile.get('name'))}</h1>",
        f"<div class='muted'>run {_e(report.get('run_id'))} · {_e(report.get('started_at'))}</div>",
        f"<div class='outcome {_e(status)}'>{_e(describe.outcome(report))}</div>",
        _cards(describe.summary_items(report)),
        "<h2>Charts</h2>",
        _charts([report], None, embed),
        "<h2>Run</h2>",
        _rows(extra),
        *(
            ["<h2>What the predictor expected of this phone</h2>", _rows(describe.prediction_items(prediction))]
            if (prediction := report.get("prediction"))
            else []
        ),
        "<h2>Model</h2>",
        _model(model),
        "<h2>Phone profile</h2>",
        _profile(profile),
        "<h2>Limits and how they were enforced</h2>",
        _limits(report.get("limits", {})),
        "<h2>Prompt</h2>",
        f"<pre>{_e(report.get('config', {}).get('prompt'))}</pre>",
        "<h2>Output</h2>",
        f"<pre>{_e(report.get('output_text'))}</pre>",
        "<h2>Host</h2>",
        _rows([(k, v) for k, v in host.items()]),
        f"<p class='muted'>pocketprof report, schema version {_e(report.get('schema_version'))}.</p>",
    ]
    return page(title, "\n".join(body))


def _delta_table(reports: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    head = "<tr><th>metric</th>" + "".join(f"<th>{_e(n)}</th>" for n in labels) + "</tr>"
    lines = []
    for row in compare.table(reports):
        cells = []
        for i in range(len(reports)):
            mark = " class='num best'" if row.best == i else " class='num'"
            delta = compare.fmt_delta(row, i)
            shown = compare.fmt_value(row, row.values[i]) + (
                f"<br><span class='muted'>{_e(delta)}</span>" if delta else ""
            )
            cells.append(f"<td{mark}>{shown}{' ✓' if row.best == i else ''}</td>")
        better = f" ({row.metric.better} is better)" if row.metric.better else ""
        lines.append(
            f"<tr><th>{_e(row.metric.label)} <span class='muted'>{_e(row.metric.unit)}{better}</span></th>"
            + "".join(cells)
            + "</tr>"
        )
    return f"<table>{head}{''.join(lines)}</table>"


def comparison_html(reports: Sequence[Mapping[str, Any]], *, embed: Embed | None = None) -> str:
    labels = [compare.label(r) for r in reports]
    swatches = "".join(
        f"<li><span class='swatch' style='background:{svgchart.PALETTE[i % len(svgchart.PALETTE)]}'></span>"
        f"{_e(name)} — {_e(describe.outcome(r))} <span class='muted'>({_e(r.get('run_id'))})</span></li>"
        for i, (name, r) in enumerate(zip(labels, reports, strict=True))
    )
    outputs = "".join(
        f"<h3>{_e(name)}</h3><pre>{_e(r.get('output_text'))}</pre>" for name, r in zip(labels, reports, strict=True)
    )
    prompts = {str(r.get("config", {}).get("prompt")) for r in reports}
    body = [
        f"<h1>Comparison of {len(reports)} runs</h1>",
        f"<ul>{swatches}</ul>",
        "<h2>Side by side</h2><p class='muted'>Differences are against the first run; ✓ marks the better value.</p>",
        _delta_table(reports, labels),
        "<h2>Charts</h2>",
        _charts(reports, labels, embed),
        "<h2>Prompt</h2>",
        "".join(f"<pre>{_e(p)}</pre>" for p in sorted(prompts)),
        "<h2>Outputs</h2>",
        outputs,
    ]
    return page(f"pocketprof · comparison of {len(reports)} runs", "\n".join(body))
