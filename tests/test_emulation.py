"""Calibrated emulation: the phone's predicted speed on this host, and its sustained curve."""

from __future__ import annotations

import re
import statistics
import threading
from pathlib import Path

import pytest

from profiler import calibrate, predict, profiles
from profiler.config import RunConfig
from profiler.session import Session
from tests.conftest import ROOT

pytestmark = pytest.mark.model


def _with_curve(tmp_path: Path, minutes: str, fraction: str) -> Path:
    text = (ROOT / "profiles" / "galaxy-a25.toml").read_text()
    text = re.sub(r"(?m)^minutes = .*$", f"minutes = {minutes}", text)
    text = re.sub(r"(?m)^fraction = .*$", f"fraction = {fraction}", text)
    path = tmp_path / "hot-phone.toml"
    path.write_text(text)
    return path


def test_default_speed_factor_is_phone_over_host_and_is_cached():
    record = Session(RunConfig(model="gemma3-270m", profile="galaxy-a25", max_tokens=8)).run()
    emulation = record.extra["emulation"]
    profile = profiles.load_profile("galaxy-a25")
    session_model = Session(RunConfig(model="gemma3-270m", profile="galaxy-a25")).model
    target = predict.predict(profile, model=session_model, ctx=2048).speed.decode_tokens_per_s
    assert emulation["target_decode_tokens_per_s"] == pytest.approx(target, rel=1e-3)
    host = emulation["host_decode_tokens_per_s"]  # rounded to 0.01 in the report
    assert host and host > 0
    cached = calibrate.cached(Path(record.config["model_path"]), record.config["threads"], 2048)
    assert cached is not None and cached == pytest.approx(host, abs=0.005)
    assert emulation["speed_factor"] == pytest.approx(min(1.0, target / cached), rel=1e-3)
    assert emulation["host_slower_than_target"] == (cached < target)


def test_emulated_gemma_on_galaxy_a25_lands_near_its_target():
    ratios = []
    for _ in range(2):
        record = Session(
            RunConfig(model="gemma3-270m", profile="galaxy-a25", max_tokens=160, temperature=0.0, ignore_eos=True)
        ).run()
        emulation = record.extra["emulation"]
        if emulation["host_slower_than_target"]:
            pytest.skip(f"this host is slower than a Galaxy A25 for Gemma 3 270M: {emulation}")
        ratios.append(record.summary.decode_tokens_per_s / emulation["target_decode_tokens_per_s"])
    assert 0.85 <= statistics.median(ratios) <= 1.15, ratios


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
    assert record.extra["emulation"]["host_decode_tokens_per_s"] is None
