"""The sentences the app and reports show, and the live energy model behind the energy chart."""

from __future__ import annotations

import pytest

from profiler import series
from profiler.model import gguf_meta
from profiler.phone import energy
from profiler.phone.predict import run_energy
from profiler.phone.profiles import load_profile
from profiler.report import describe


def test_kill_banner_reads_as_the_issue_says():
    kill = {"reason": "memory_budget", "at_s": 3.2, "footprint_mb": 2941.4, "limit_mb": 2900, "tokens_before_kill": 37}
    assert describe.kill_banner(kill) == "Killed by the phone's memory limit at 2,941 MB after 37 tokens"
    one = dict(kill, reason="dram_limit", tokens_before_kill=1)
    assert describe.kill_banner(one) == "Killed by the DRAM cap (kernel OOM) at 2,941 MB after 1 token"


def test_limits_line_names_each_limit_and_its_mechanism():
    limits = {
        "memory_budget": {"value": 3000.0, "unit": "MB", "mechanism": "watchdog"},
        "dram": {"value": 7400.0, "unit": "MB", "mechanism": "cgroup v1"},
        "cores": {"value": 2, "unit": "cores", "mechanism": "affinity"},
        "speed": {"value": 0.42, "unit": "x host", "mechanism": "cgroup v1 cpu quota"},
    }
    assert describe.limits_line(limits) == (
        "budget 3,000 MB by watchdog · DRAM 7,400 MB by cgroup v1 · 2 cores by affinity · "
        "42 % speed by cgroup v1 cpu quota"
    )
    limits["dram"]["mechanism"] = "none"
    limits["speed"] = {"value": 1.0, "unit": "x host", "mechanism": "none"}
    line = describe.limits_line(limits)
    assert "DRAM 7,400 MB by nothing (not enforced here)" in line
    assert line.endswith("full host speed")
    assert describe.limits_line({}) == "no limits (host profile)"


def test_outcome_and_summary_items():
    report = {
        "status": "completed",
        "stop_reason": "length",
        "summary": {"generated_tokens": 12, "prompt_tokens": 9, "ttft_s": 0.25, "decode_tokens_per_s": 40.0},
        "energy": {"j_per_token": 0.1234, "battery_pct_per_1k_tokens": 0.25, "error_pct": 11.0},
    }
    assert describe.outcome(report) == "Completed: 12 tokens (length)"
    items = dict(describe.summary_items(report))
    assert items["TTFT"] == "0.25 s"
    assert items["decode"] == "40.0 tok/s"
    assert items["J/token"] == "0.123 J (estimate ±11 %)"  # energy is never measured on the phone
    assert items["prefill"] == "—"
    early = dict(report, summary={"generated_tokens": 0}, status="killed")
    assert dict(describe.summary_items(early))["J/token"] == "0.123 J (estimate ±11 %, at the predicted speed)"
    assert describe.outcome({"status": "error", "error": "boom"}) == "Failed: boom"
    kill = {"reason": "memory_budget", "at_s": 0.3, "footprint_mb": 175.2, "limit_mb": 150, "tokens_before_kill": 0}
    killed = {"status": "killed", "kill": kill, "loaded_at_s": None}
    assert describe.outcome(killed) == "Killed by the phone's memory limit at 175 MB, while loading the model"
    assert describe.outcome(killed | {"loaded_at_s": 0.2}).endswith("after 0 tokens")


def test_energy_rate_ends_where_the_run_energy_does(smollm2):
    """The live curve (traffic per token + base power over time) lands on run_energy's total."""
    profile = load_profile("iphone-16")
    model = gguf_meta.read_metadata(smollm2)
    rate = energy.energy_rate(profile)
    assert rate is not None
    tokens, tps = 100, 25.0
    final = run_energy(profile, model=model, generated_tokens=tokens, decode_tps=tps, ctx=2048)
    assert final is not None
    assert rate.joules(tokens, tokens / tps) == pytest.approx(final["j_total"], rel=1e-3)
    assert rate.battery_pct(final["j_total"]) == pytest.approx(final["battery_pct"], rel=1e-3)
    rebuilt = series.rate_from_report({"energy": final, "profile": profile.to_dict()})
    assert rebuilt is not None
    assert rebuilt.joules(tokens, tokens / tps) == pytest.approx(final["j_total"], rel=1e-3)
    # the chart's curve, token by token at any host times, ends on the total too (not a token short)
    curve = series.energy_points([0.3 + 0.07 * i for i in range(tokens)], rebuilt)
    assert len(curve) == tokens and curve[-1][1] == pytest.approx(final["j_total"], rel=1e-3)
    assert curve[0][1] == pytest.approx(final["j_per_token"], rel=1e-3)  # the first token costs one token
    assert energy.energy_rate(load_profile("host")) is None
