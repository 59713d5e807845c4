"""Plain-text tables for the terminal, built from report dicts (fresh or from history)."""

from __future__ import annotations

from typing import Any


def _num(value: Any, fmt: str, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:{fmt}}{unit}"


def rows_to_text(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


def summary_text(report: dict[str, Any]) -> str:
    s = report["summary"]
    model, profile = report["model"], report["profile"]
    rows = [
        ("status", report["status"] + (f" ({report['stop_reason']})" if report.get("stop_reason") else "")),
        ("model", f"{model['name']} · {model['quantization']} · {model['file_size_mb']:,.0f} MB"),
        ("profile", f"{profile['name']} ({profile['id']})"),
        ("load time", _num(s["load_time_s"], ".2f", " s")),
        ("time to first token", _num(s["ttft_s"], ".3f", " s")),
        ("prompt / generated", f"{s['prompt_tokens']} / {s['generated_tokens']} tokens"),
        ("prefill", _num(s["prefill_tokens_per_s"], ".1f", " tokens/s")),
        ("decode", _num(s["decode_tokens_per_s"], ".1f", " tokens/s")),
        ("inter-token p50 / p95", f"{_num(s['itl_p50_ms'], '.1f')} / {_num(s['itl_p95_ms'], '.1f', ' ms')}"),
        ("peak RSS", _num(s["peak_rss_mb"], ",.0f", " MB")),
        ("peak footprint", _num(s["peak_footprint_mb"], ",.0f", " MB (anon + swap: what the budget counts)")),
        ("peak file-backed", _num(s.get("peak_file_mb"), ",.0f", " MB (mmap'd weights: not counted)")),
    ]
    emulation = report.get("emulation")
    if emulation:
        lag = emulation.get("host_lag")
        rows.append(
            (
                "phone target / achieved",
                f"{_num(emulation.get('target_decode_tokens_per_s'), '.1f')} / "
                f"{_num(s['decode_tokens_per_s'], '.1f', ' tokens/s')}"
                f" (speed factor {emulation.get('speed_factor', 1):.3f}"
                + (f"; this host is {lag:.1f}x slower than the phone" if lag else "")
                + ")",
            )
        )
    energy = report.get("energy")
    if energy:
        rows.append(
            (
                "phone energy (estimate)",
                f"{energy['j_total']:.2f} J · {energy['j_per_token']:.3f} J/token · {energy['battery_pct']:.4f} % "
                f"of the battery · {energy['battery_pct_per_1k_tokens']:.2f} %/1k tokens",
            )
        )
    host_energy = report.get("host_energy")
    if host_energy:
        measured = host_energy.get("j_total")
        rows.append(
            (
                "host energy (measured)",
                f"{measured:.2f} J from {host_energy['source']}"
                if measured is not None
                else f"not measured: {host_energy.get('reason')}",
            )
        )
    rows.append(("limits", ""))
    for name, limit in report.get("limits", {}).items():
        value = "—" if limit["value"] is None else f"{limit['value']:,g} {limit['unit']}"
        note = f" ({limit['note']})" if limit.get("note") else ""
        rows.append((f"  {name}", f"{value} by {limit['mechanism']}{note}"))
    kill = report.get("kill")
    if kill:
        rows.append(
            (
                "KILLED",
                f"{kill['reason']} at {kill['at_s']:.2f} s: footprint {kill['footprint_mb']:,.0f} MB > "
                f"{kill['limit_mb']:,.0f} MB after {kill['tokens_before_kill']} tokens",
            )
        )
    if report.get("error"):
        rows.append(("error", report["error"]))
    return rows_to_text(rows)
