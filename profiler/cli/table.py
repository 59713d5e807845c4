"""Plain-text tables for the terminal, built from report dicts (fresh or from history)."""

from __future__ import annotations

from typing import Any

from profiler.report.describe import number


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
        ("load time", number(s["load_time_s"], ".2f", " s")),
        ("time to first token", number(s["ttft_s"], ".3f", " s")),
        ("prompt / generated", f"{s['prompt_tokens']} / {s['generated_tokens']} tokens"),
        ("prefill", number(s["prefill_tokens_per_s"], ".1f", " tokens/s")),
        ("decode", number(s["decode_tokens_per_s"], ".1f", " tokens/s")),
        ("inter-token p50 / p95", f"{number(s['itl_p50_ms'], '.1f')} / {number(s['itl_p95_ms'], '.1f', ' ms')}"),
        ("peak RSS", number(s["peak_rss_mb"], ",.0f", " MB")),
        ("peak footprint", number(s["peak_footprint_mb"], ",.0f", " MB (anon + swap: what the budget counts)")),
        ("peak file-backed", number(s.get("peak_file_mb"), ",.0f", " MB (mmap'd weights: not counted)")),
    ]
    rows += _emulation_rows(report) + _energy_rows(report)
    rows.append(("limits", ""))
    for name, limit in report.get("limits", {}).items():
        value = "—" if limit["value"] is None else f"{limit['value']:,.4g} {limit['unit']}"
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


def _emulation_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    emulation = report.get("emulation")
    if not emulation:
        return []
    summary = report["summary"]
    lags = emulation.get("host_lag_by_phase") or {}

    def pair(target: float | None, achieved: float | None, unit: str, phase: str) -> str:
        text = (
            f"{number(target, '.2f' if unit == ' s' else '.1f')} / {number(achieved, '.2f' if unit == ' s' else '.1f')}"
        )
        text += unit
        error = emulation.get(f"target_{phase}_error_pct") if unit != " s" else None
        if error is not None:
            text += f" (the target predicted ±{error:.0f} %)"
        if phase in lags:
            text += f" (this host is {lags[phase]:.1f}x slower than the phone here)"
        return text

    backend = emulation.get("target_backend", "cpu")
    rows = [
        (
            f"phone {backend} decode target / achieved",
            pair(
                emulation.get("target_decode_tokens_per_s"), summary.get("decode_tokens_per_s"), " tokens/s", "decode"
            ),
        ),
        (
            "phone prefill target / achieved",
            pair(
                emulation.get("target_prefill_tokens_per_s"),
                summary.get("prefill_tokens_per_s"),
                " tokens/s",
                "prefill",
            ),
        ),
        ("phone TTFT target / achieved", pair(emulation.get("target_ttft_s"), summary.get("ttft_s"), " s", "prefill")),
    ]
    cal = emulation.get("calibration") or {}
    if cal.get("source"):
        taken = f", taken {cal['taken_at']}" if cal.get("taken_at") else ""
        rows.append(("host calibration", f"{cal['source']}{taken} (factor {emulation.get('speed_factor', 1):.3f})"))
    if emulation.get("calibration_disagreement"):
        rows.append(("calibration check", emulation["calibration_disagreement"]))
    rows += [("note", note) for note in emulation.get("notes", ())]
    return rows


def _energy_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    phone = report.get("energy")
    if phone:
        error = phone.get("error_pct")
        rows.append(
            (
                "phone energy (estimate)" if error is None else f"phone energy (estimate ±{error:.0f} %)",
                f"{phone['j_total']:.2f} J · {phone['j_per_token']:.3f} J/token · {phone['battery_pct']:.4f} % "
                f"of the battery · {phone['battery_pct_per_1k_tokens']:.2f} %/1k tokens · "
                f"at {phone.get('speed_basis', 'the predicted speed')}",
            )
        )
    host = report.get("host_energy")
    if host:
        measured = host.get("j_total")
        text = f"{measured:.2f} J from {host['source']}" if measured is not None else f"not measured: {host['reason']}"
        rows.append(("host energy (measured)", text))
    return rows
