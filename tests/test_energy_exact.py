"""The energy model's whole answers (every field, every word), so that a changed key or branch shows.

test_energy.py checks the numbers by hand; this file pins what each function returns as a whole.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from profiler import series
from profiler.errors import BadInput
from profiler.phone import energy, speed
from profiler.phone.predict import predict, run_energy
from tests.test_energy import by_hand_watts
from tests.test_predict import fake_model, phone

FIT = speed.load_fit()["power"]


def test_cpu_power_is_the_fit_with_its_error_and_basis():
    got = energy.decode_power(phone(), threads=5)
    assert got == energy.PhonePower(
        watts=pytest.approx(by_hand_watts(5)),
        error_pct=FIT["errors"]["power"]["median_pct"],
        basis=f"CPU power model fitted to {FIT['rows']} phone power measurements, 5 threads",
    )


def test_threads_default_to_the_profiles_then_all_cores():
    assert energy.decode_power(phone()).basis.endswith(", 5 threads")  # the profile's own
    no_threads = dataclasses.replace(phone(), threads=None)
    assert energy.decode_power(no_threads).basis.endswith(", 8 threads")  # all its cores
    assert energy.decode_power(no_threads).watts == pytest.approx(by_hand_watts(8))


def test_a_measured_accelerator_power_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch):
    fit = speed.load_fit()  # a fresh dict: changing it reaches no other test
    fit["power"]["backends"] = {"gpu": {"watts": 4.25, "error_pct": 12.0, "basis": "Adreno OpenCL, 3 rows"}}
    monkeypatch.setattr(speed, "load_fit", lambda: fit)
    assert energy.decode_power(phone(), backend="gpu") == energy.PhonePower(4.25, 12.0, "Adreno OpenCL, 3 rows")
    cpu = energy.decode_power(phone(), backend="cpu", threads=5)  # the CPU never takes the GPU's entry
    assert cpu.watts == pytest.approx(by_hand_watts(5))
    npu = energy.decode_power(phone(), backend="hexagon", threads=5)
    assert npu.basis == (
        f"CPU power model fitted to {FIT['rows']} phone power measurements, 5 threads; "
        "no hexagon power measurement in the dataset, so the CPU's is used"
    )


def test_energy_errors_are_one_line_naming_what_is_missing():
    with pytest.raises(BadInput) as caught:
        energy.battery_j(phone(battery_wh=None))
    assert str(caught.value) == f"profile '{phone().id}' has no battery_wh; no battery to drain"
    with pytest.raises(BadInput) as slow:
        energy.j_per_token(5.0, -2.5)
    assert str(slow.value) == "decode speed must be positive, got -2.5 tokens/s"
    assert energy.j_per_token(5.0, 0.5) == 10.0


def test_an_estimate_has_every_field():
    estimate = predict(phone(), model=fake_model()).speed
    got = energy.estimate(phone(battery_wh=10.0), estimate, decode_tps=20.0)
    watts = by_hand_watts(estimate.threads)
    assert got.j_per_token == pytest.approx(watts / 20.0)
    assert got.battery_pct_per_1k_tokens == pytest.approx(100 * 1000 * watts / 20.0 / 36_000)
    assert got.hours_continuous == pytest.approx(36_000 / watts / 3600)
    assert got.power_w == pytest.approx(watts)
    assert got.error_pct == FIT["errors"]["energy"]["median_pct"]
    assert got.basis == f"CPU power model fitted to {FIT['rows']} phone power measurements, {estimate.threads} threads"


def test_a_predicted_speed_carries_its_error_into_the_energy():
    """J/token = power ÷ speed: a speed predicted ±97 % cannot give an energy good to ±10 %."""
    prediction = predict(phone(), model=fake_model())
    speed_error, power_error = prediction.speed.decode_error_pct, FIT["errors"]["power"]["median_pct"]
    assert speed_error is not None and prediction.energy is not None
    assert prediction.energy.error_pct == max(
        FIT["errors"]["energy"]["median_pct"], round(math.hypot(power_error, speed_error), 1)
    )
    assert prediction.energy.error_pct >= speed_error
    given = predict(phone(), model=fake_model(), decode_tps=10.0)  # a speed the user gives is not predicted
    assert given.energy is not None and given.energy.error_pct == FIT["errors"]["energy"]["median_pct"]


def test_without_an_energy_error_the_power_error_is_used(monkeypatch: pytest.MonkeyPatch):
    fit = speed.load_fit()  # a fresh dict: changing it reaches no other test
    del fit["power"]["errors"]["energy"]
    monkeypatch.setattr(speed, "load_fit", lambda: fit)
    estimate = predict(phone(), model=fake_model()).speed
    assert energy.estimate(phone(), estimate, decode_tps=10.0).error_pct == FIT["errors"]["power"]["median_pct"]


def test_run_energy_is_the_whole_record():
    model = fake_model()
    prediction = predict(phone(battery_wh=10.0), model=model)
    threads = prediction.speed.threads
    watts = by_hand_watts(threads)
    got = run_energy(phone(battery_wh=10.0), model=model, generated_tokens=250, decode_tps=12.5)
    jpt = watts / 12.5
    assert got == {
        "j_total": pytest.approx(round(jpt * 250, 4)),
        "j_per_token": pytest.approx(round(jpt, 5)),
        "power_w": pytest.approx(round(watts, 3)),
        "battery_pct": pytest.approx(round(100 * jpt * 250 / 36_000, 6)),
        "battery_pct_per_1k_tokens": pytest.approx(round(100 * jpt * 1000 / 36_000, 5)),
        "hours_continuous": pytest.approx(round(36_000 / watts / 3600, 3)),
        "decode_tokens_per_s": 12.5,
        "speed_basis": "this run's emulated speed",
        "error_pct": prediction.energy.error_pct if prediction.energy else None,
        "model": "P / tokens/s, P fitted to published phone power measurements (profiler.phone.energy)",
        "basis": f"CPU power model fitted to {FIT['rows']} phone power measurements, {threads} threads",
        "estimate_for": phone().id,
        "kind": "estimate",
    }
    assert got["error_pct"] is not None


@pytest.mark.parametrize("tps", [None, 0.0, -3.0])
def test_no_measured_speed_means_the_predicted_one(tps: float | None):
    model = fake_model()
    got = run_energy(phone(), model=model, generated_tokens=-5, decode_tps=tps)
    assert got is not None and got["speed_basis"] == "predicted speed" and got["j_total"] == 0.0
    assert got["decode_tokens_per_s"] == pytest.approx(
        predict(phone(), model=model).speed.decode_tokens_per_s, abs=1e-3
    )


def test_a_phone_without_a_battery_has_no_run_energy():
    assert run_energy(phone(battery_wh=None), model=fake_model(), generated_tokens=5, decode_tps=5.0) is None


def test_threads_and_context_reach_the_prediction():
    model = fake_model()
    two = run_energy(phone(), model=model, generated_tokens=10, decode_tps=None, threads=2)
    five = run_energy(phone(), model=model, generated_tokens=10, decode_tps=None, threads=5)
    assert two is not None and five is not None
    assert two["basis"].endswith(", 2 threads") and five["basis"].endswith(", 5 threads")


# -- the live energy model of a run ----------------------------------------------------------------


def test_the_live_rate_is_the_phones_decode_power_over_time():
    rate = energy.energy_rate(phone(battery_wh=10.0), threads=5)
    assert rate == series.EnergyRate(
        traffic_j_per_token=0.0, base_w=pytest.approx(by_hand_watts(5)), battery_j=36_000.0
    )
    assert rate is not None
    assert rate.joules(100, 2.0) == pytest.approx(2.0 * by_hand_watts(5))
    assert rate.joules(100, -1.0) == 0.0  # no decode time yet: nothing drawn
    assert rate.battery_pct(360.0) == pytest.approx(1.0)
    both = series.EnergyRate(traffic_j_per_token=0.5, base_w=2.0, battery_j=1000.0)
    assert both.joules(10, 3.0) == pytest.approx(11.0) and both.battery_pct(50.0) == pytest.approx(5.0)
    default_threads = energy.energy_rate(phone())
    assert default_threads is not None and default_threads.base_w == pytest.approx(by_hand_watts(5))
    assert energy.energy_rate(phone(), threads=2).base_w == pytest.approx(by_hand_watts(2))  # type: ignore[union-attr]


def test_no_live_rate_without_a_battery_or_a_power_model(monkeypatch: pytest.MonkeyPatch):
    from profiler.phone.profiles import load_profile

    assert energy.energy_rate(load_profile("host")) is None
    assert energy.energy_rate(phone(battery_wh=None)) is None

    def broken(*_a: object, **_k: object) -> None:
        raise BadInput("fit.json: the fitted phone model cannot be read")

    monkeypatch.setattr(energy, "decode_power", broken)
    assert energy.energy_rate(phone()) is None


def test_a_finished_runs_rate_is_rebuilt_from_its_report():
    report = {
        "energy": {"j_per_token": 0.5, "decode_tokens_per_s": 10.0, "power_w": 4.0},
        "profile": {"battery_wh": 2.0},
    }
    rate = series.rate_from_report(report)
    assert rate == series.EnergyRate(
        traffic_j_per_token=pytest.approx(0.1), base_w=4.0, battery_j=7200.0, pace_tps=10.0
    )
    report["energy"]["power_w"] = 6.0  # more power than J/token × speed: no negative traffic
    assert series.rate_from_report(report) == series.EnergyRate(0.0, 6.0, 7200.0, pace_tps=10.0)
    old = {"energy": {"j_per_token": 0.2, "decode_tokens_per_s": 10.0}, "profile": {"battery_wh": 10.0}}
    assert series.rate_from_report(old) == series.EnergyRate(0.2, 0.0, 36_000.0)
    no_speed = {"energy": dict(report["energy"], decode_tokens_per_s=None), "profile": {"battery_wh": 2.0}}
    assert series.rate_from_report(no_speed) == series.EnergyRate(0.5, 0.0, 7200.0)  # its J/token alone
    no_cost = {"energy": dict(report["energy"], j_per_token=None), "profile": {"battery_wh": 2.0}}
    assert series.rate_from_report(no_cost) is None
    no_battery = series.rate_from_report({"energy": report["energy"], "profile": {}})
    assert no_battery == series.EnergyRate(0.0, 6.0, None, 10.0) and no_battery.battery_pct(1.0) is None
    assert series.rate_from_report({}) is None


def test_the_estimate_and_the_run_use_the_speed_estimates_threads_and_backend():
    model = fake_model()
    two = predict(phone(), model=model, threads=2).speed
    assert energy.estimate(phone(), two, decode_tps=10.0).power_w == pytest.approx(by_hand_watts(2))
    slow = run_energy(phone(), model=model, generated_tokens=10, decode_tps=0.5)
    assert (
        slow is not None and slow["speed_basis"] == "this run's emulated speed" and slow["decode_tokens_per_s"] == 0.5
    )
    precise = run_energy(phone(), model=model, generated_tokens=7, decode_tps=12.3456)
    assert precise is not None and precise["decode_tokens_per_s"] == 12.346
    assert precise["j_total"] == round(7 * by_hand_watts(5) / 12.3456, 4)  # four places, as the report keeps
