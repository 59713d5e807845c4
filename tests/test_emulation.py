"""Emulated phone speed with real runs: prefill, TTFT and decode on target; a calibration that cannot be poisoned."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from profiler.phone import predict, profiles
from profiler.record import RunRecord
from profiler.run import calibrate
from profiler.run.config import RunConfig
from profiler.run.session import Session
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.model
BASE_PHONE = "budget-4gb"


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A budget-4gb with a third of its bandwidth and slow big cores: SmolLM2 ~25 tok/s decode, ~40 prefill.

    Slower than any host the suite runs on (CI decodes SmolLM2 at ~50 tok/s, which a real budget-4gb's 56
    outruns), so the governor and the prefill gate always have work to do and these tests never skip.
    """
    text = (ROOT / "profiles" / f"{BASE_PHONE}.toml").read_text()
    text = re.sub(r"(?m)^memory_bandwidth_gbs = [0-9.]+$", "memory_bandwidth_gbs = 5.7", text)
    text = re.sub(r"(?m)^max_ghz = 2.2$", "max_ghz = 0.8", text)
    text = re.sub(r"(?m)^id = \"[^\"]*\"$", 'id = "slow-phone"', text)
    path = tmp_path_factory.mktemp("phone") / "slow-phone.toml"
    path.write_text(text)
    return str(path)


def _with_curve(tmp_path: Path, minutes: str, fraction: str) -> Path:
    text = (ROOT / "profiles" / "galaxy-a25.toml").read_text()
    text = re.sub(r"(?m)^minutes = .*$", f"minutes = {minutes}", text)
    text = re.sub(r"(?m)^fraction = .*$", f"fraction = {fraction}", text)
    path = tmp_path / "hot-phone.toml"
    path.write_text(text)
    return path


def emulated(phone: str, **changes: object) -> RunRecord:
    config = RunConfig(model="smollm2-135m", profile=phone, max_tokens=96, temperature=0.0, ignore_eos=True)
    return Session(replace(config, **changes)).run()  # type: ignore[arg-type]


def trusted_calibration(smollm2: Path, phone: str, threads: int) -> calibrate.Calibration:
    """A calibration this host measured and trusted, the cached one if there is one. Other load on a
    shared host (CI) makes a measurement untrusted, and so not cached: then it measures again, up to 3 times."""
    why = ""
    for _ in range(3):
        cached, why = calibrate.lookup(smollm2, threads, 2048)
        if cached is not None:
            return cached
        emulated(phone, max_tokens=4)
    cached, why = calibrate.lookup(smollm2, threads, 2048)
    assert cached is not None, why
    return cached


def test_targets_are_the_prediction_and_the_calibration_is_cached_with_its_checks(smollm2: Path, phone: str):
    for _ in range(3):  # a burst of other load on a shared host makes a measurement untrusted: measure again
        calibrate.clear(smollm2)
        first = emulated(phone, max_tokens=8)
        emulation = first.emulation
        if emulation["calibration"]["source"] == "measured now":
            break
    session = Session(RunConfig(model="smollm2-135m", profile=phone))
    expected = predict.predict(profiles.load_profile(phone), model=session.model, ctx=2048).speed
    assert emulation["target_decode_tokens_per_s"] == pytest.approx(expected.decode_tokens_per_s, abs=0.01)
    assert emulation["target_backend"] == "cpu"
    assert emulation["calibration"]["source"] == "measured now", emulation["calibration"]
    cached, why = calibrate.lookup(smollm2, first.config["threads"], 2048)
    assert cached is not None, why
    assert cached.trusted and cached.cpu_share >= calibrate.MIN_CPU_SHARE
    at = emulation["host_decode_position"]  # the host's rate where this run's tokens decode
    assert at == pytest.approx(first.summary.prompt_tokens + 8 / 2, abs=0.05)
    assert emulation["host_decode_tokens_per_s"] == pytest.approx(cached.decode_tps_at(at), abs=0.006)
    assert cached.decode_position < 100 < cached.prompt_tokens and cached.ms_per_position >= 0  # two positions timed
    assert cached.prefill_tps and cached.prompt_tokens > 100  # prefill measured on a real prompt
    second = emulated(phone, max_tokens=8)
    assert second.emulation["calibration"]["source"] == "cached"
    assert second.emulation["calibration"]["taken_at"] == cached.taken_at


def test_prefill_and_time_to_first_token_follow_the_phone(phone: str):
    """The prompt is throttled and the first token gated: TTFT and prefill land on the phone's."""
    long_prompt = calibrate.prompt()  # ~200 tokens: the host is clearly faster than the phone at prefill
    free = [Session(RunConfig(model="smollm2-135m", profile="host", max_tokens=4, prompt=long_prompt)).run()]
    records = [emulated(phone, max_tokens=24, prompt=long_prompt) for _ in range(2)]
    free.append(Session(RunConfig(model="smollm2-135m", profile="host", max_tokens=4, prompt=long_prompt)).run())
    for record in records:
        emulation, summary = record.emulation, record.summary
        if "prefill" in emulation.get("host_lag_by_phase", {}):
            pytest.skip(f"this host is slower than a {phone} at prefill: {emulation}")
        assert summary.ttft_s == pytest.approx(emulation["target_ttft_s"], rel=0.10)
        assert summary.prefill_tokens_per_s == pytest.approx(emulation["target_prefill_tokens_per_s"], rel=0.10)
        # the gate only delays: the run's first token is never shown before the host had it
        assert summary.ttft_s >= emulation["host_ttft_s"] - 0.02
    fastest_free = min(r.summary.ttft_s for r in free if r.summary.ttft_s is not None)
    assert fastest_free < records[0].emulation["target_ttft_s"]  # it was slowed, not free
    first_latency = records[0].tokens[1].latency_ms if len(records[0].tokens) > 1 else 0
    assert first_latency >= 0  # tokens after the gate never run backwards


def test_emulated_decode_lands_on_the_phone(phone: str):
    ratios = []
    for _ in range(2):
        record = emulated(phone, max_tokens=160)
        emulation = record.emulation
        if emulation["host_slower_than_target"]:
            pytest.skip(f"this host is slower than a {phone} for SmolLM2: {emulation}")
        ratios.append(record.summary.decode_tokens_per_s / emulation["target_decode_tokens_per_s"])
    assert 0.9 <= statistics.median(ratios) <= 1.1, ratios


def test_the_calibration_tells_how_much_slower_the_host_decodes_far_into_a_context(smollm2: Path, phone: str):
    """A token's time grows with its position: SmolLM2 decoded 112 tok/s at positions 213–277 and 165 at
    40–104 on one host, and a calibration timed at one position set a short run's throttle 1.46× too fast
    (benchmarks/RESULTS.md). The host's speed drifts by more than that from minute to minute on a shared
    machine, so what is held against the calibration is the ratio of near to far runs taken in turns."""
    threads = Session(RunConfig(model="smollm2-135m", profile=phone)).plan.threads
    calibrate.clear(smollm2)
    cached = trusted_calibration(smollm2, phone, threads)  # measured now, beside the runs below
    rates: dict[str, list[float]] = {"near": [], "far": []}
    expected: dict[str, float] = {}
    for _ in range(3):
        for where, prompt in (("near", "Name three colours."), ("far", calibrate.prompt() + " Then list the rights.")):
            config = RunConfig(model="smollm2-135m", profile="host", max_tokens=64, prompt=prompt, threads=threads)
            config = replace(config, temperature=0.0, ignore_eos=True, stream_interval_s=calibrate.MEASURE_STREAM_S)
            run = Session(config).run()  # run as the calibration's own runs are
            assert run.status == "completed", run.error
            rates[where].append(run.summary.decode_tokens_per_s)
            expected[where] = cached.decode_tps_at(calibrate.position(run))
    measured = statistics.median(rates["near"]) / statistics.median(rates["far"])
    assert 0.8 <= measured / (expected["near"] / expected["far"]) <= 1.25, (rates, expected, cached)


def test_the_decode_factor_is_set_again_for_where_the_prompt_puts_the_tokens(smollm2: Path, phone: str):
    """Before the spawn the factor is the short position's; once the prompt is known, the first token's,
    and then it follows the tokens as they go further into the context."""
    session = Session(RunConfig(model="smollm2-135m", profile=phone, max_tokens=80))
    threads = session.plan.threads
    key = calibrate.key_for(smollm2, threads, 2048)
    host = calibrate.Calibration(
        key=key, model=str(smollm2.resolve()), threads=threads, ctx=2048, decode_tps=160.0, prefill_tps=800.0,
        prompt_tokens=220, taken_at=datetime.now(UTC).isoformat(timespec="seconds"), itl_spread=1.1, cpu_share=1.0,
        background_load=0.0, trusted=True, reason="", host="", llama_cpp="", decode_position=40.0,
        ms_per_position=0.01,  # 6.25 ms a token at position 40, 10.25 ms at 440
    )  # fmt: skip
    calibrate.store(host)
    plan = session.speed.prepare()
    target = session.speed.emulation.target_decode_tps
    assert session.speed.emulation.calibration_source == "cached"
    assert plan.speed_factor == pytest.approx(target / 160.0)
    session.speed.on_loaded(400)  # the first token at position 400: 9.85 ms a token
    assert session.speed.plan.speed_factor == pytest.approx(target / (1000 / 9.85))
    session.speed.emulation.phase = "decode"
    assert session.speed.factor_at(0.5) == pytest.approx(target / (1000 / 9.85), rel=1e-3)  # the curve: ~1 at 0.5 s
    for i in range(7):
        session.speed.on_token(0.5 + i / 100)
    assert session.speed.plan.speed_factor == pytest.approx(target / (1000 / 9.85))  # every 8 tokens
    session.speed.on_token(0.6)  # 8 tokens: position 408, 9.93 ms
    assert session.speed.plan.speed_factor == pytest.approx(target / (1000 / 9.93))
    assert session.speed.emulation.report()["host_decode_position"] == 408.0
    session.speed.check_calibration(session.record)  # no token decoded (a pp test): judged where it calibrated
    assert session.record.emulation["host_decode_position"] is None
    assert session.record.emulation["host_decode_tokens_per_s"] == 160.0
    calibrate.clear(smollm2)


def test_a_stale_calibration_is_measured_again(smollm2: Path, phone: str):
    threads = Session(RunConfig(model="smollm2-135m", profile=phone)).plan.threads
    cached = trusted_calibration(smollm2, phone, threads)
    calibrate.store(calibrate.stale_for_tests(cached, calibrate.MAX_AGE_DAYS + 1))
    assert calibrate.lookup(smollm2, threads, 2048)[0] is None
    record = emulated(phone, max_tokens=4)
    calibration = record.emulation["calibration"]
    assert calibration["source"].startswith("measured now"), calibration  # not the stale figure
    assert calibration["taken_at"] != cached.taken_at
    fresh, why = calibrate.lookup(smollm2, threads, 2048)
    if calibration["trusted"]:
        assert fresh is not None and fresh.age_days() < 1, why
    else:  # a burst of other load on a shared host: measured, not cached, and the stale one is gone too
        assert fresh is None and calibration["reason"] in calibration["source"]


def test_a_poisoned_calibration_is_overruled_by_the_run_and_dropped(smollm2: Path, phone: str):
    """A calibration that says the host is 20× slower: the governor still slows the run, which then drops it."""
    threads = Session(RunConfig(model="smollm2-135m", profile=phone)).plan.threads
    good = trusted_calibration(smollm2, phone, threads)
    calibrate.store(replace(good, decode_tps=good.decode_tps / 20, prefill_tps=good.prefill_tps / 20))
    record = emulated(phone, max_tokens=200)
    emulation = record.emulation
    assert emulation["speed_factor"] == 1.0  # the poisoned figure said "the host is slower than the phone"
    tail = record.tokens[-100:]
    rate = (len(tail) - 1) / (tail[-1].t - tail[0].t)
    assert rate == pytest.approx(emulation["target_decode_tokens_per_s"], rel=0.15)  # the governor stepped in
    assert "re-measured on the next run" in emulation["calibration_disagreement"]
    assert calibrate.lookup(smollm2, threads, 2048)[0] is None
    again = emulated(phone, max_tokens=4)
    assert again.emulation["calibration"]["source"].startswith("measured now")  # trusted or not, not the poison


def test_a_busy_host_is_measured_but_never_trusted(smollm2: Path, phone: str):
    """Two busy loops while the host is measured (the issue's reproduction); the next quiet run recovers."""
    calibrate.clear(smollm2)
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        busy = emulated(phone, max_tokens=8)
    finally:
        for p in loops:
            p.kill()
            p.wait()
    cal = busy.emulation["calibration"]
    assert cal["trusted"] is False and "not cached" in cal["source"], cal
    assert cal["reason"] and f"({cal['reason']})" in cal["source"]  # says why, in the report and the log
    threads = busy.config["threads"]
    assert calibrate.lookup(smollm2, threads, 2048)[0] is None
    for _ in range(3):  # a quiet run recovers; on a shared host (CI) other load may spoil one, not three
        quiet = emulated(phone, max_tokens=8)
        if quiet.emulation["calibration"]["trusted"]:
            break
    assert quiet.emulation["calibration"]["trusted"] is True, quiet.emulation["calibration"]
    assert calibrate.lookup(smollm2, threads, 2048)[0] is not None


def test_sustained_curve_slows_a_long_run(tmp_path: Path):
    hot = _with_curve(tmp_path, "[0, 0.02, 0.05]", "[1.0, 1.0, 0.3]")  # drops to 30 % within 3 s
    record = Session(
        RunConfig(
            model="smollm2-135m", profile=str(hot), max_tokens=420, temperature=0.0, ignore_eos=True, speed_factor=1.0
        )
    ).run()
    assert record.status == "completed"
    assert record.limits["speed"].mechanism == "duty cycle"
    tokens = record.tokens
    quarter = len(tokens) // 4

    def rate(chunk: list) -> float:
        return (len(chunk) - 1) / (chunk[-1].t - chunk[0].t)

    first, last = rate(tokens[:quarter]), rate(tokens[-quarter:])
    assert last < 0.6 * first, (first, last)


def test_stop_during_calibration_ends_the_run_quickly():
    calibrate.clear()
    holder: dict[str, Session] = {}

    timers: list[threading.Timer] = []

    def on_event(event) -> None:
        if event.kind == "status" and event.data.startswith("measuring"):
            timers.append(threading.Timer(0.8, holder["s"].stop))  # mid-way through the calibration run
            timers[-1].start()

    session = Session(RunConfig(model="gemma3-270m", profile="galaxy-a25", max_tokens=64), on_event=on_event)
    holder["s"] = session
    record = session.run()
    timers[0].join()
    assert session._inner is not None and session._inner.record.status == "stopped"
    assert record.status == "stopped"
    assert record.tokens == []
    assert record.emulation["host_decode_tokens_per_s"] is None


def test_calibrate_show_measure_and_clear_through_the_cli(tmp_path: Path):
    env = {"POCKETPROF_CACHE": str(tmp_path / "cache"), "POCKETPROF_HOME": str(tmp_path / "home"), "PATH": ""}
    env |= {k: v for k, v in __import__("os").environ.items() if k not in env}
    empty = run_cli("calibrate", "--show", env=env)
    assert empty.returncode == 0 and "no calibration cached" in empty.stdout
    measured = run_cli("calibrate", "--measure", "--model", "smollm2-135m", "--threads", "2", env=env)
    assert measured.returncode == 0, measured.stderr
    listed = run_cli("calibrate", "--json", env=env)
    rows = __import__("json").loads(listed.stdout)
    assert len(rows) == (1 if "not cached" not in measured.stdout else 0)
    if rows:
        assert rows[0]["threads"] == 2 and rows[0]["decode_tps"] > 0 and rows[0]["taken_at"]
        assert rows[0]["decode_position"] < 100 < rows[0]["prompt_tokens"]  # decode near, prefill on the long prompt
        shown = run_cli("calibrate", env=env)
        assert "SmolLM2-135M-Instruct.Q4_1.gguf" in shown.stdout
    cleared = run_cli("calibrate", "--clear", env=env)
    assert cleared.returncode == 0 and f"forgot {len(rows)} calibration" in cleared.stdout
    assert "no calibration cached" in run_cli("calibrate", env=env).stdout
    bad = run_cli("calibrate", "--measure", env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
