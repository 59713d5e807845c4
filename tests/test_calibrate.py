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


def record(
    gap_ms: float = 20.0, n: int = 40, cpu: float = 195.0, slow_every: int = 0, prompt_tokens: int = 120
) -> RunRecord:
    """A completed measuring run: ``prompt_tokens`` in 0.5 s, then ``n`` tokens ``gap_ms`` apart."""
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
    r.summary.prompt_tokens = prompt_tokens
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
    assert calibrate.from_record(MODEL, 2, 2048, record(), load_before=0.0, short=failed) is None
    assert calibrate.from_record(MODEL, 2, 2048, record(), load_before=0.0, short=record(n=5)) is None


def two_runs(long: RunRecord, short: RunRecord) -> calibrate.Calibration | None:
    return calibrate.from_record(MODEL, 2, 2048, long, load_before=0.0, short=short)


def test_the_short_run_times_decode_and_the_long_one_how_it_slows_further_in() -> None:
    long = record(gap_ms=25.0, n=40, prompt_tokens=220)  # mean position 240, 40 tok/s
    short = record(gap_ms=20.0, n=40, prompt_tokens=20)  # mean position 40, 50 tok/s
    c = calibrate.from_record(MODEL, 2, 2048, long, load_before=0.0, short=short)
    assert c is not None and c.trusted
    assert c.decode_tps == pytest.approx(50.0) and c.decode_position == pytest.approx(40.0)
    assert c.ms_per_position == pytest.approx(5.0 / 200)  # 20 ms → 25 ms over 200 positions
    assert c.prefill_tps == pytest.approx(220 / 0.5) and c.prompt_tokens == 220  # prefill from the long prompt
    assert c.decode_tps_at(40.0) == pytest.approx(50.0)
    assert c.decode_tps_at(240.0) == pytest.approx(40.0)
    assert c.decode_tps_at(440.0) == pytest.approx(1000 / 30)
    assert c.decode_tps_at(None) == pytest.approx(50.0)
    assert c.decode_tps_at(-10_000.0) == pytest.approx(100.0)  # never more than twice as fast as timed
    assert c.decode_tps_at(100_000.0) == pytest.approx(25.0)  # nor more than twice as slow
    faster_far = two_runs(record(gap_ms=19.0, prompt_tokens=220), short)
    assert faster_far is not None and faster_far.ms_per_position == 0.0  # noise, not a faster far end
    unsteady = two_runs(long, record(slow_every=3, prompt_tokens=20))
    assert unsteady is not None and not unsteady.trusted and "unsteady" in unsteady.reason
    starved = two_runs(long, record(cpu=100.0, prompt_tokens=20))
    assert starved is not None and not starved.trusted and "50%" in starved.reason


def test_a_run_is_checked_against_the_hosts_rate_at_its_own_position() -> None:
    long, short = record(gap_ms=25.0, prompt_tokens=220), record(gap_ms=20.0, prompt_tokens=20)
    c = calibrate.from_record(MODEL, 2, 2048, long, load_before=0.0, short=short)
    assert c is not None
    assert calibrate.disagreement(c, 35.0, 1.0, at_position=240.0) == ""  # 40 tok/s expected there
    assert calibrate.disagreement(c, 34.0, 1.0, at_position=40.0) != ""  # 50 expected: 0.68×
    assert c.measured_to == 220 + calibrate.CALIBRATION_TOKENS
    assert calibrate.disagreement(c, 5.0, 1.0, at_position=c.measured_to + 1) == ""  # past what it timed: a guess
    e = Emulation(target_decode_tps=20.0, target_prefill_tps=80.0, backend="cpu", calibration=c, calibration_source="")
    assert e.decode_factor == pytest.approx(20 / 50)  # before the prompt is known: the short position
    e.on_loaded(prompt_tokens=440)  # the first token sits at position 440
    assert e.decode_position == pytest.approx(440.0)
    assert e.decode_factor == pytest.approx(20 / (1000 / 30))
    assert e.report()["host_decode_tokens_per_s"] == pytest.approx(1000 / 30, abs=0.01)
    slow = replace(e, target_decode_tps=40.0, decode_position=None)
    slow.on_loaded(prompt_tokens=440)
    assert slow.decode_factor == 1.0 and slow.lags()["decode"] == pytest.approx(40 / (1000 / 30), abs=0.01)


def test_contexts_below_the_measured_one_share_its_calibration() -> None:
    small = calibrate.key_for(MODEL, 2, 300)  # a bench test's n_prompt + n_gen + 8
    assert small == calibrate.key_for(MODEL, 2, calibrate.MIN_CTX)  # both measured at MIN_CTX
    assert small != calibrate.key_for(MODEL, 2, 2048) and small != calibrate.key_for(MODEL, 3, 300)


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
    for damage in ({"ms_per_position": -0.1}, {"ms_per_position": "steep"}, {"decode_position": float("nan")}):
        path.write_text(json.dumps({good.key: good.to_dict() | damage}))
        assert calibrate.lookup(MODEL, 2, 2048)[0] is None, damage
    older = {k: v for k, v in good.to_dict().items() if k not in ("decode_position", "ms_per_position")}
    path.write_text(json.dumps({good.key: older}))  # from before positions were timed: measured again
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


def test_each_measuring_run_says_which_of_the_two_it_is() -> None:
    """The status line names the run (one of two) and its prompt, so two identical lines never follow."""
    from profiler.phone.profiles import load_profile
    from profiler.run.config import RunConfig
    from profiler.run.plan import LimitPlan
    from profiler.run.speed_emulation import Hooks, SpeedEmulation

    said: list[tuple[str, str]] = []
    intervals: list[float] = []

    def measure(config: RunConfig, why: str) -> RunRecord:
        said.append((config.prompt or "", why))
        intervals.append(config.stream_interval_s)
        return record(prompt_tokens=200 if len(said) == 1 else 20)

    prediction = type("P", (), {"speed": type("S", (), {"decode_tokens_per_s": 10.0})()})()
    hooks = Hooks(lambda: prediction, lambda n: None, measure, lambda: False)
    plan = LimitPlan(budget_mb=None, dram_mb=None, cores=None, threads=2, speed_factor=1.0)
    config = RunConfig(model=str(MODEL), profile="galaxy-s23")
    emulation = SpeedEmulation(config, load_profile("galaxy-s23"), MODEL, plan, hooks, calibrate=True)
    calibration, source = emulation._calibration()
    assert [why.split("; ")[1] for _, why in said] == ["run 1 of 2, a long prompt", "run 2 of 2, a short prompt"]
    assert said[0][1].startswith("no calibration")  # the reason comes first, as before
    assert len(said[0][0]) > len(said[1][0])  # the long prompt, then the short one
    assert calibration is not None and source.startswith("measured now")
    assert intervals == [1.0, 1.0]  # unwatched: the child hands tokens over once a second, not every 50 ms


def test_measuring_stops_at_the_first_run_that_fails_and_says_how() -> None:
    """One routine measures for the app and for `calibrate --measure`: a failed or stopped first run ends it."""
    started: list[str] = []

    def failing(config: object, doing: str) -> RunRecord:
        started.append(doing)
        r = record()
        r.status, r.error = "error", "boom"
        return r

    found, why = calibrate.measure(MODEL, 2, 2048, failing)
    assert found is None and why == "the measuring run ended error (boom)"
    assert started == ["run 1 of 2, a long prompt"]  # the second run never starts
    assert calibrate.measure(MODEL, 2, 2048, lambda config, doing: None) == (None, calibrate.STOPPED)
    short = calibrate.measure(MODEL, 2, 2048, lambda config, doing: record(n=3))
    assert short == (None, "the measuring runs timed too few tokens")
    found, why = calibrate.measure(MODEL, 2, 2048, lambda c, d: record(prompt_tokens=200 if "long" in d else 20))
    assert found is not None and why == "" and found.decode_position < 100 < found.prompt_tokens
