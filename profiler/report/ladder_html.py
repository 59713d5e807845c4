"""The ladder's report: one table and one chart (quality loss against memory, the budget as a line)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from profiler.report import svgchart
from profiler.report.report_html import page

COLUMNS = (
    ("quant", "quant", ""),
    ("file_size_mb", "file MB", ",.0f"),
    ("peak_footprint_mb", "peak footprint MB", ",.0f"),
    ("fits", "under the profile", ""),
    ("decode_tokens_per_s", "decode tok/s", ",.1f"),
    ("prefill_tokens_per_s", "prefill tok/s", ",.1f"),
    ("j_per_token", "J/token", ".4f"),
    ("battery_pct_per_1k_tokens", "battery %/1k tokens", ".3f"),
    ("perplexity", "perplexity", ".2f"),
    ("kl_divergence", "KL divergence", ".4f"),
    ("top1_agreement", "top-1 agreement", ".1%"),
)


def cell_text(entry: Mapping[str, Any], key: str, fmt: str) -> str:
    """One table cell as plain text (the app's table and this report share it)."""
    value = entry.get(key)
    if key == "fits":
        return "fits" if value else "killed"
    if value is None:
        return "—"
    return f"{value:{fmt}}" if fmt else str(value)


def _cell(entry: Mapping[str, Any], key: str, fmt: str) -> str:
    text = escape(cell_text(entry, key, fmt))
    return "<b style='color:#a11b1b'>killed</b>" if text == "killed" and key == "fits" else text


def chart(result: Mapping[str, Any]) -> str:
    """KL divergence (quality loss) against peak footprint, one point per quantization."""
    series = [
        svgchart.Series(
            e["quant"],
            svgchart.PALETTE[i % len(svgchart.PALETTE)],
            [(e["peak_footprint_mb"], e["kl_divergence"])],
            style="points",
        )
        for i, e in enumerate(result.get("entries", []))
        if e.get("peak_footprint_mb") is not None and e.get("kl_divergence") is not None
    ]
    budget = result.get("profile", {}).get("app_memory_budget_mb")
    lines = [svgchart.Line(float(budget), f"budget {budget:,} MB", "#c44e52", axis="x")] if budget else []
    return svgchart.chart(
        "Quality loss against memory (lower left is better; right of the budget line is killed)",
        x_label="peak footprint (MB)",
        y_label="KL divergence",
        series=series,
        lines=lines,
    )


def ladder_html(result: Mapping[str, Any]) -> str:
    source = result.get("source", {})
    profile = result.get("profile", {})
    best = result.get("best_fitting_quant")
    head = "".join(f"<th>{escape(label)}</th>" for _, label, _ in COLUMNS)
    rows = "".join(
        f"<tr{' class=best' if e['quant'] == best else ''}>"
        + "".join(f"<td class='num'>{_cell(e, key, fmt)}</td>" for key, _, fmt in COLUMNS)
        + "</tr>"
        for e in result.get("entries", [])
    )
    notes = []
    if result.get("requantized"):
        notes.append(
            f"Requantized from an already quantized file ({escape(str(source.get('quantization')))}): "
            "every member carries that file's rounding; the reference is not the original model."
        )
    if not result.get("complete"):
        notes.append("This ladder was interrupted: the members above are the ones finished.")
    if result.get("quality_error"):
        notes.append(escape(result["quality_error"]))
    quality = result.get("quality", {})
    body = [
        f"<h1>Quantization ladder: {escape(Path(source.get('path', '?')).name)} "
        f"on {escape(profile.get('name', '?'))}</h1>",
        f"<div class='outcome completed'>Best quantization that fits: <b>{escape(best or 'none')}</b></div>"
        if best
        else "<div class='outcome killed'>No quantization fits this profile.</div>",
        "".join(f"<p class='muted'>{n}</p>" for n in notes),
        f"<table><tr>{head}</tr>{rows}</table>",
        f"<div class='chart'>{chart(result)}</div>",
        f"<p class='muted'>Quality: {escape(str(quality.get('tokens', '?')))} tokens of "
        f"{escape(str(quality.get('text', '?')))} (public domain), "
        f"scored against {escape(str(quality.get('reference', '?')))}. "
        "Runs: weights read into memory (no mmap), so the footprint counts them as the phone's budget does.</p>",
    ]
    return page(f"pocketprof ladder · {profile.get('name', '?')}", "\n".join(body))
