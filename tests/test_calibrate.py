"""The host calibration's rules, on records built by hand: when a measurement is trusted, fresh, or wrong."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from profiler import paths
from profiler.record import RunRecord, Sample, Token
from profiler.run import calibrate
from profiler.run.emulate import Emulation

MODEL = Path(__file__)  # any existing file stands for the model (its path, size and time key the cache)


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests count and clear cache entries: not the session's shared cache, which real runs fill."""
    monkeypatch.setenv("POCKETPROF_CACHE", str(tmp_path / "cache"))


def record(gap_ms: float = 20.0, n: int = 40, cpu: float = 195.0, slow_every: int = 0) -> RunRecord:
    """A completed measuring run: 120 prompt tokens in 0.5 s, then ``n`` tokens ``gap_ms`` apart."""
    r = RunRecord(run_id="r", started_at="", config={}, model={}, profile={}, host={})
    r.status, r.loaded_at_s = "completed", 1.0
    t = 1.5
    for i in range(n):
        gap = gap_ms * (4 if slow_every and i % slow_every == 0 else 1)
        t += gap / 1000 if i else 0
        r.tokens.append(Token(index=i, t=t, text="x", latency_ms=gap if i else 500.0))
    r.samples = [
        Sample(t=1.5 + k * 0.02, rss_mb=1, footprint_mb=1, file_mb=0, anon_mb=1, swap_mb=0, cpu_percent=cpu, threads=3)
        for k in range(40)
    ]
    r.summary.prompt_tokens = 120
    r.finish_summary()
    return r


def test_a_steady_quiet_run_is_trusted_and_its_rates_are_robust() -> None:
    c = calibrate.from_record(MODEL, 2, 2048, record(), load_before=0.05)
    assert c is not None and c.trusted and c.reason == ""
    assert c.decode_tps == pytest.approx(50.0)  # tokens over time, as a run's decode speed is
    assert c.prefill_tps == pytest.approx(120 / 0.5)
    assert c.cpu_share == pytest.approx(195 / 200)


@pytest.mark.parametrize(
    ("kwargs", "load", "why"),
    [
        ({}, 0.6, "other processes used 60%"),
        ({"cpu": 100.0}, 0.0, "the child got 50% of its 2 threads"),
        ({"slow_every": 3}, 0.0, "token timing was unsteady"),
    ],
)
def test_a_busy_or_unsteady_host_is_not_trusted(kwargs: dict, load: float, why: str) -> None:
    c = calibrate.from_record(MODEL, 2, 2048, record(**kwargs), load_before=load)
    assert c is not None and not c.trusted and why in c.reason


def test_an_unfinished_run_measures_nothing() -> None:
    failed = replace(record(), status="error")
    assert calibrate.from_record(MODEL, 2, 2048, failed, load_before=0.0) is None


def test_lookup_refuses_what_is_missing_untrusted_or_stale() -> None:
    assert calibrate.lookup(MODEL, 2, 2048)[0] is None
    good = calibrate.from_record(MODEL, 2, 2048, record(), load_before=0.0)
    assert good is not None
    calibrate.store(good)
    assert calibrate.lookup(MODEL, 2, 2048)[0] == good
    assert calibrate.lookup(MODEL, 3, 2048)[0] is None  # other threads: another key
    calibrate.store(calibrate.stale_for_tests(good, calibrate.MAX_AGE_DAYS + 1))
    found, why = calibrate.lookup(MODEL, 2, 2048)
    assert found is None and "days old" in why
    calibrate.store(replace(good, trusted=False, reason="busy"))
    assert "not trusted (busy)" in calibrate.lookup(MODEL, 2, 2048)[1]


def test_a_damaged_cache_entry_is_measured_again() -> None:
    good = calibrate.from_record(MODEL, 2, 2048, record(), load_before=0.0)
    assert good is not None
    calibrate.store(good)
    path = paths.cache_dir() / calibrate.CACHE
    data = json.loads(path.read_text())
    data[good.key]["decode_tps"] = "fast"
    path.write_text(json.dumps(data))
    assert calibrate.lookup(MODEL, 2, 2048)[0] is None
    data[good.key] |= {"decode_tps": 50.0, "taken_at": "yesterday"}
    path.write_text(json.dumps(data))
    assert calibrate.lookup(MODEL, 2, 2048)[0] is None


def test_forget_and_clear() -> None:
    good = calibrate.from_record(MODEL, 2, 2048, record(), load_before=0.0)
    assert good is not None
    calibrate.store(good)
    calibrate.store(replace(good, key="other", model="/elsewhere.gguf"))
    assert calibrate.forget(good.key) and not calibrate.forget(good.key)
    assert calibrate.clear(Path("/nowhere.gguf")) == 0
    assert calibrate.clear() == 1 and calibrate.entries() == []


@pytest.mark.parametrize(
    ("achieved", "duty", "disagrees"),
    [
        (50.0, 1.0, False),
        (25.0, 0.5, False),
        (64.0, 1.0, False),
        (66.0, 1.0, True),
        (10.0, 0.5, True),
        (50.0, None, False),
    ],
)
def test_a_run_disagrees_when_its_unthrottled_rate_is_30_percent_off(
    achieved: float, duty: float | None, disagrees: bool
) -> None:
    c = calibrate.from_record(MODEL, 2, 2048, record(), load_before=0.0)  # the host: 50 tok/s
    assert c is not None
    why = calibrate.disagreement(c, achieved, duty)
    assert bool(why) is disagrees, why


def test_the_emulation_gates_the_first_token_at_the_phones_ttft() -> None:
    c = calibrate.from_record(MODEL, 2, 2048, record(), load_before=0.0)  # host: prefill 240, decode 50 tok/s
    e = Emulation(
        target_decode_tps=20.0, target_prefill_tps=80.0, backend="cpu", calibration=c, calibration_source="cached"
    )
    assert e.decode_factor == pytest.approx(0.4)
    assert e.prefill_factor == pytest.approx(1.25 * 80 / 240)  # a little faster than the phone, then gated
    e.on_loaded(prompt_tokens=120)
    assert e.target_ttft_s == pytest.approx(1.5)
    assert e.first_token_release(loaded_at_s=2.0, token_at_s=2.9) == pytest.approx(3.5)
    assert e.phase == "decode" and e.base_factor() == pytest.approx(0.4)
    report = e.report()
    assert report["target_ttft_s"] == pytest.approx(1.5) and "host_lag_by_phase" not in report
    late = Emulation(
        target_decode_tps=20.0, target_prefill_tps=80.0, backend="cpu", calibration=c, calibration_source="cached"
    )
    late.on_loaded(prompt_tokens=120)
    assert late.first_token_release(loaded_at_s=2.0, token_at_s=4.0) is None  # the host was slower: no gate
    assert late.report()["host_lag_by_phase"] == {"prefill": pytest.approx(2.0 / 1.5, abs=0.01)}
