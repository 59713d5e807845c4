"""Short human sentences about a run, from report dicts (fresh or from history).

The app's status line, kill banner and summary card use these, so what they say is
tested here without Qt and reads the same in every front end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NONE = "none"


def _mb(value: float) -> str:
    return f"{value:,.0f} MB"


def limits_line(limits: Mapping[str, Mapping[str, Any]]) -> str:
    """'budget 3,000 MB by watchdog · DRAM 7,400 MB by cgroup v1 · 2 cores by affinity · 0.42× speed by duty cycle'."""
    parts = []
    budget = limits.get("memory_budget")
    if budget and budget.get("value") is not None:
        parts.append(f"budget {_mb(budget['value'])} by {budget['mechanism']}")
    dram = limits.get("dram")
    if dram and dram.get("value") is not None:
        how = dram["mechanism"] if dram["mechanism"] != NONE else "nothing (not enforced here)"
        parts.append(f"DRAM {_mb(dram['value'])} by {how}")
    cores = limits.get("cores")
    if cores and cores.get("value") is not None:
        how = f" by {cores['mechanism']}" if cores["mechanism"] != NONE else " (all of the host's)"
        parts.append(f"{cores['value']:g} core{'s' if cores['value'] != 1 else ''}{how}")
    speed = limits.get("speed")
    if speed and speed.get("value") is not None:
        if speed["mechanism"] == NONE:
            parts.append("full host speed")
        else:
            parts.append(f"{speed['value'] * 100:.0f} % speed by {speed['mechanism']}")
    return " · ".join(parts) if parts else "no limits (host profile)"


def kill_banner(kill: Mapping[str, Any]) -> str:
    """'Killed by the phone's memory limit at 2,941 MB after 37 tokens'."""
    what = "the phone's memory limit" if kill["reason"] == "memory_budget" else "the DRAM cap (kernel OOM)"
    tokens = kill["tokens_before_kill"]
    return f"Killed by {what} at {_mb(kill['footprint_mb'])} after {tokens:,} token{'s' if tokens != 1 else ''}"


def outcome(report: Mapping[str, Any]) -> str:
    """One line on how the run ended."""
    status = report.get("status", "running")
    tokens = report.get("summary", {}).get("generated_tokens", 0)
    if status == "killed" and report.get("kill"):
        banner = kill_banner(report["kill"])
        if report["kill"]["tokens_before_kill"] == 0 and report.get("loaded_at_s") is None:
            banner = banner.rsplit(" after ", 1)[0] + ", while loading the model"
        return banner
    if status == "error":
        return f"Failed: {report.get('error') or 'unknown error'}"
    if status == "stopped":
        return f"Stopped after {tokens:,} tokens"
    if status == "completed":
        reason = report.get("stop_reason") or "done"
        return f"Completed: {tokens:,} tokens ({reason.replace('_', ' ')})"
    return status


def number(value: float | None, fmt: str, unit: str = "") -> str:
    """A number with its unit, or "—" where there is none (every front end's tables use it)."""
    return "—" if value is None else f"{value:{fmt}}{unit}"


def _estimate(energy: Mapping[str, Any], measured_speed: bool) -> str:
    """How far an energy figure is from a measurement: always an estimate, with its error."""
    if not energy:
        return ""
    error = energy.get("error_pct")
    what = "estimate" + (f" ±{error:.0f} %" if error is not None else "")
    return f" ({what}{'' if measured_speed else ', at the predicted speed'})"


def speed_phrase(speed: Any) -> str:
    """'~104 tok/s ±15 % (predicted, cpu)' for a SpeedEstimate, or why there is none."""
    if speed.decode_tokens_per_s is None:
        return f"decode on the {speed.backend} not predicted"
    error = f" ±{speed.decode_error_pct:.0f} %" if speed.decode_error_pct is not None else ""
    return f"~{speed.decode_tokens_per_s:,.0f} tok/s{error} (predicted, {speed.backend})"


def summary_items(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The summary card: TTFT, prefill and decode speed, p95 latency, peak footprint, energy."""
    s = report.get("summary", {})
    energy = report.get("energy") or {}
    # energy is the phone's estimate; without a decode speed (a run killed early) it is at the predicted speed
    guess = _estimate(energy, s.get("decode_tokens_per_s") is not None)
    items = [
        ("TTFT", number(s.get("ttft_s"), ".2f", " s")),
        ("prefill", number(s.get("prefill_tokens_per_s"), ",.1f", " tok/s")),
        ("decode", number(s.get("decode_tokens_per_s"), ",.1f", " tok/s")),
        ("p95 latency", number(s.get("itl_p95_ms"), ",.1f", " ms")),
        ("peak footprint", number(s.get("peak_footprint_mb"), ",.0f", " MB")),
        ("J/token", number(energy.get("j_per_token"), ".3f", " J") + guess),
        ("battery / 1k tokens", number(energy.get("battery_pct_per_1k_tokens"), ".2f", " %") + guess),
        ("tokens", f"{s.get('prompt_tokens', 0):,} in · {s.get('generated_tokens', 0):,} out"),
    ]
    return items


def speed_line(report: Mapping[str, Any]) -> str:
    """'target 21.4 tok/s · achieved 21.1 tok/s' when the run emulates a phone's speed."""
    emulation = report.get("emulation") or {}
    achieved = report.get("summary", {}).get("decode_tokens_per_s")
    target = emulation.get("target_decode_tokens_per_s")
    parts = []
    if target is not None:
        parts.append(f"target {target:,.1f} tok/s")
    if achieved is not None:
        parts.append(f"achieved {achieved:,.1f} tok/s")
    for phase, lag in (emulation.get("host_lag_by_phase") or {"decode": emulation.get("host_lag")}).items():
        if lag:
            parts.append(f"this host is {lag:.1f}× slower than the phone at {phase}")
    return " · ".join(parts)


def gpu_line(gpu_mem_mb: float | None, gpu_power_w: float | None) -> str:
    """NVML figures for the status line; empty when there is no GPU."""
    parts = []
    if gpu_mem_mb is not None:
        parts.append(f"GPU {_mb(gpu_mem_mb)}")
    if gpu_power_w is not None:
        parts.append(f"{gpu_power_w:.0f} W")
    return " · ".join(parts)


def model_line(model: Mapping[str, Any]) -> str:
    """'134.5 M params · Q4_1 · 86 MB'."""
    params = model.get("parameters") or 0
    size = f"{params / 1e9:.2f} B" if params >= 1e9 else f"{params / 1e6:.1f} M"
    return f"{size} params · {model.get('quantization', '?')} · {_mb(model.get('file_size_mb', 0))}"


def profile_line(profile: Mapping[str, Any]) -> str:
    """'DRAM 8,192 MB · budget 3,072 MB · 6 cores · 13.9 Wh'."""
    if profile.get("platform") == "host":
        return "this machine, unlimited"
    cores = sum(c["count"] for c in profile.get("cpu_clusters", ())) or None
    parts = [
        f"DRAM {_mb(profile['dram_mb'])}" if profile.get("dram_mb") else "",
        f"budget {_mb(profile['app_memory_budget_mb'])}" if profile.get("app_memory_budget_mb") else "",
        f"{cores} cores" if cores else "",
        f"{profile['battery_wh']:.1f} Wh battery" if profile.get("battery_wh") else "",
    ]
    return " · ".join(p for p in parts if p)


def prediction_items(prediction: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Rows that say what the predictor expects of this phone, how sure it is, and what was measured."""
    if not prediction:
        return []
    speed, memory = prediction.get("speed") or {}, prediction.get("memory") or {}

    def rate(value: float | None, error: float | None) -> str:
        if value is None:
            return "not predicted"
        return f"{value:,.1f} tok/s" + (f" ±{error:.0f} %" if error is not None else "")

    rows = [
        (
            "backend",
            f"{speed.get('backend', '?')} · {speed.get('threads', '?')} threads · "
            f"{speed.get('kernel_class', '?')} kernels",
        ),
        ("predicted decode", rate(speed.get("decode_tokens_per_s"), speed.get("decode_error_pct"))),
        ("predicted prefill", rate(speed.get("prefill_tokens_per_s"), speed.get("prefill_error_pct"))),
        ("predicted footprint", f"{memory.get('total_mb', 0):,.0f} MB ({memory.get('verdict', '?')})"),
        ("basis", speed.get("basis") or "—"),
    ]
    if speed.get("note"):
        rows.append(("note", speed["note"]))
    for m in prediction.get("measured") or ():
        prefill = f", prefill {m['prefill_tps']:,.1f} tok/s" if m.get("prefill_tps") else ""
        text = (
            f"decode {m.get('decode_tps') or 0:,.1f} tok/s{prefill} "
            f"({m.get('runtime')}, {m.get('backend_detail')}); {m.get('source')}"
        )
        rows.append((f"measured on {m.get('device')}", f"{text}; {m['caveat']}" if m.get("caveat") else text))
    return rows


def calibration_line(report: Mapping[str, Any]) -> str:
    """'cached, taken 2026-12-01T14:00:16+00:00 (trusted)': which host measurement scaled the run."""
    emulation = report.get("emulation") or {}
    cal = emulation.get("calibration") or {}
    if not cal.get("source") or cal.get("source") == "none":
        return ""
    text = f"{cal['source']}, taken {cal.get('taken_at')}"
    if cal.get("trusted") is False:
        text += f" (not trusted: {cal.get('reason')})"
    if emulation.get("calibration_disagreement"):
        text += f"; {emulation['calibration_disagreement']}"
    return text
