"""One series model for every chart: the live charts, the Compare view and the SVG reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from profiler import series
from profiler.report import svgchart
from tests.test_svgchart import by_class, parse, path_xy, y_of

PHONE = Path(__file__).parent / "data" / "schema1-iphone-16.json"
RATE = series.EnergyRate(traffic_j_per_token=0.5, base_w=2.0, battery_j=1000.0)


def test_cumulative_energy_is_the_per_token_cost_plus_power_since_the_first_token():
    assert series.energy_points([1.0, 1.5, 2.0], RATE) == [(1.0, 0.5), (1.5, 2.0), (2.0, 3.5)]
    # a token without a time still counts, but is not drawn
    assert series.energy_points([1.0, None, math.nan, 2.0], RATE) == [(1.0, 0.5), (2.0, 4.0)]


def test_a_live_chart_fed_in_pieces_draws_what_the_finished_report_draws():
    times = [0.8 + 0.07 * k + 0.01 * (k % 3) for k in range(40)]
    whole = series.energy_points(times, RATE)
    pieces = series.energy_points(times[:1], RATE)
    for start in range(1, 40, 7):
        pieces += series.energy_points(times[start : start + 7], RATE, done=start, first_t=times[0])
    assert pieces == whole


def test_a_report_rebuilds_its_rate_with_or_without_the_power_model():
    report = json.loads(PHONE.read_text())
    energy, wh = report["energy"], report["profile"]["battery_wh"]
    rate = series.rate_from_report(report)
    assert rate is not None and rate.base_w == energy["power_w"] and rate.battery_j == wh * 3600
    per_token = energy["j_per_token"] - energy["power_w"] / energy["decode_tokens_per_s"]
    assert rate.traffic_j_per_token == pytest.approx(max(0.0, per_token))
    older = {"energy": {"j_per_token": 0.2}, "profile": {}}  # no power, speed or battery: J/token alone
    assert series.rate_from_report(older) == series.EnergyRate(0.2, 0.0, None)
    assert series.rate_from_report({"energy": None, "profile": {"battery_wh": 10}}) is None
    assert series.EnergyRate(0.2, 0.0, None).battery_pct(5.0) is None


def test_the_svg_energy_chart_draws_the_series_models_points():
    report = json.loads(PHONE.read_text())
    expected = series.report_energy(report)
    assert len(expected) == len(report["tokens"]) and expected[-1][1] > expected[0][1] > 0
    root = parse(svgchart.energy_chart([report]))
    (drawn,) = by_class(root, "series")
    xy = path_xy(drawn)
    assert len(xy) == len(expected)
    assert xy[-1][1] == pytest.approx(y_of(root, expected[-1][1]), abs=0.15)
    assert xy[0][1] == pytest.approx(y_of(root, expected[0][1]), abs=0.15)


def test_a_host_slower_than_the_phone_is_priced_at_the_phones_pace():
    paced = series.EnergyRate(0.5, 2.0, 1000.0, pace_tps=4.0)  # the phone: 4 tok/s; this host: one every 2 s
    assert series.energy_points([1.0, 3.0, 5.0], paced) == [(1.0, 1.0), (3.0, 2.0), (5.0, 3.0)]
    report = json.loads(PHONE.read_text())  # a run this host decoded at 72 tok/s, the phone's pace being 176
    energy = report["energy"]
    assert energy["speed_basis"] == "predicted speed" and report["emulation"]["host_slower_than_target"]
    end = series.report_energy(report)[-1][1]
    assert end == pytest.approx(energy["j_total"], abs=1e-3)  # the report's total (rounded to 0.1 mJ)


def test_a_live_run_is_priced_as_its_report_will_be(smollm2):
    """The app's live rate comes from the session: the predicted backend's power, paced at the phone."""
    from profiler.phone import predict
    from profiler.run.config import RunConfig
    from profiler.run.session import Session

    session = Session(RunConfig(model="smollm2-135m", profile="iphone-16"))
    rate = session.energy_rate()
    assert rate is not None and rate.pace_tps == session.phone_target_tps()
    final = predict.run_energy(session.profile, model=session.model, generated_tokens=64, decode_tps=None)
    assert final is not None and rate.base_w == pytest.approx(final["power_w"], abs=1e-3)
    host_paced = [1.0 + 0.05 * k for k in range(64)]  # this host: 20 tok/s, far slower than the phone
    end = series.energy_points(host_paced, rate)[-1][1]
    # ends on the report's J/token × tokens: each token's own decode time is counted
    assert end == pytest.approx(final["j_total"], rel=1e-3)
