"""The energy model (hand-computed cases) and the host's RAPL/NVML meter against fake counters."""

from __future__ import annotations

import dataclasses
import pathlib
from pathlib import Path

import pytest

from profiler import series
from profiler.errors import BadInput
from profiler.phone import energy
from profiler.phone.predict import predict, run_energy
from profiler.phone.profiles import load_profile
from profiler.phone.speed import load_fit
from profiler.run import host_energy
from tests.test_predict import fake_model, phone


# -- the phone model ----------------------------------------------------------------
def by_hand_watts(threads: int) -> float:
    """P = p_base + p_core × S over the cores used (profiler.phone.power), written out again."""
    fit = load_fit()["power"]
    little = fit["little_factor"]
    cores = sorted([3.36 * 4, *[2.8 * 2] * 4, *[2.02 * 1 * little] * 3], reverse=True)
    return fit["p_base_w"] + fit["p_core_w"] * sum(cores[:threads])


def test_decode_power_by_hand() -> None:
    for threads in (1, 5, 8):
        assert energy.decode_power(phone(), threads=threads).watts == pytest.approx(by_hand_watts(threads))
    assert energy.decode_power(phone(), threads=8).watts > energy.decode_power(phone(), threads=2).watts


def test_j_per_token_is_power_over_speed() -> None:
    assert energy.j_per_token(8.0, 10.0) == pytest.approx(0.8)
    assert energy.j_per_token(8.0, 2.0) == pytest.approx(4.0)


def test_battery_by_hand() -> None:
    p = phone(battery_wh=10.0)  # 36 kJ
    assert energy.battery_pct(p, 360.0) == pytest.approx(1.0)
    assert energy.hours_continuous(p, power_w=10.0) == pytest.approx(1.0)


def test_reference_energy_numbers() -> None:
    """~0.8 J/token and ~2 h of battery for an 8B model at 10 tokens/s on an iPhone-16-class phone."""
    iphone = load_profile("iphone-16")
    watts = energy.decode_power(iphone, backend="cpu").watts
    assert 0.6 <= energy.j_per_token(watts, 10) <= 1.0
    assert 1.4 <= energy.hours_continuous(iphone, power_w=watts) <= 2.4


@pytest.mark.parametrize("tps", [0, -1])
def test_non_positive_speed_is_refused(tps: float) -> None:
    with pytest.raises(BadInput):
        energy.j_per_token(5.0, tps)


def test_a_backend_without_power_data_says_it_borrows_the_cpu() -> None:
    gpu = energy.decode_power(phone(), backend="gpu")
    assert "CPU's is used" in gpu.basis
    assert gpu.watts == pytest.approx(energy.decode_power(phone()).watts)


def test_run_energy() -> None:
    model = fake_model()
    out = run_energy(phone(), model=model, generated_tokens=100, decode_tps=20.0)
    assert out is not None
    assert out["j_per_token"] == pytest.approx(by_hand_watts(5) / 20.0, rel=1e-4)
    assert out["j_total"] == pytest.approx(100 * out["j_per_token"], rel=1e-3)
    assert out["battery_pct"] == pytest.approx(out["j_total"] / 36000 * 100, rel=1e-3)
    assert out["battery_pct_per_1k_tokens"] == pytest.approx(10 * out["battery_pct"], rel=1e-3)
    assert out["decode_tokens_per_s"] == 20.0 and out["speed_basis"] == "this run's emulated speed"
    assert out["kind"] == "estimate" and out["error_pct"] is not None
    predicted = run_energy(phone(), model=model, generated_tokens=0, decode_tps=None)
    expected_tps = predict(phone(), model=model).speed.decode_tokens_per_s
    assert predicted is not None and predicted["j_total"] == 0
    assert predicted["decode_tokens_per_s"] == pytest.approx(expected_tps, rel=1e-3)
    assert predicted["speed_basis"] == "predicted speed"


def test_run_energy_is_none_for_the_host() -> None:
    assert run_energy(load_profile("host"), model=fake_model(), generated_tokens=10, decode_tps=5) is None


def test_a_report_from_before_the_power_model_still_redraws() -> None:
    old = {"energy": {"j_per_token": 0.2, "decode_tokens_per_s": 10.0}, "profile": {"battery_wh": 10.0}}
    rate = series.rate_from_report(old)
    assert rate is not None and rate.joules(50, 5.0) == pytest.approx(10.0)


# -- RAPL -----------------------------------------------------------------------------
def zone(root: Path, name: str, uj: int, max_uj: int | None = 1000, label: str = "package-0") -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "energy_uj").write_text(f"{uj}\n")
    (d / "name").write_text(label + "\n")
    if max_uj is not None:
        (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


def test_rapl_sums_packages_and_skips_subzones(tmp_path: Path) -> None:
    a = zone(tmp_path, "intel-rapl:0", 100, max_uj=10**9)
    b = zone(tmp_path, "intel-rapl:1", 5000, max_uj=10**9, label="package-1")
    sub = zone(tmp_path, "intel-rapl:0:0", 0, label="core")
    meter = host_energy.RaplMeter(tmp_path)
    meter.start()
    (a / "energy_uj").write_text("2000100\n")  # +2 J
    (b / "energy_uj").write_text("1005000\n")  # +1 J
    (sub / "energy_uj").write_text("999999999\n")  # inside package 0: never added
    joules, source = meter.stop()
    assert joules == pytest.approx(3.0)
    assert source == "RAPL (package-0, package-1)"


def test_rapl_wraparound(tmp_path: Path) -> None:
    d = zone(tmp_path, "intel-rapl:0", 900, max_uj=1000)
    meter = host_energy.RaplMeter(tmp_path)
    meter.start()
    (d / "energy_uj").write_text("100\n")
    joules, _ = meter.stop()
    assert joules == pytest.approx(200e-6)
    assert host_energy.counter_delta_uj(900, 100, None) is None


def test_rapl_backwards_without_range(tmp_path: Path) -> None:
    d = zone(tmp_path, "intel-rapl:0", 900, max_uj=None)
    meter = host_energy.RaplMeter(tmp_path)
    meter.start()
    (d / "energy_uj").write_text("100\n")
    joules, reason = meter.stop()
    assert joules is None and "max_energy_range_uj" in reason


def test_rapl_absent_or_empty(tmp_path: Path) -> None:
    missing = host_energy.RaplMeter(tmp_path / "nope")
    missing.start()
    assert missing.stop() == (None, f"RAPL: no powercap interface ({tmp_path / 'nope'} does not exist)")
    (tmp_path / "powercap").mkdir()
    zone(tmp_path / "powercap", "dtpm", 0)  # another powercap driver, not RAPL
    empty = host_energy.RaplMeter(tmp_path / "powercap")
    empty.start()
    joules, reason = empty.stop()
    assert joules is None and "no RAPL zones" in reason


def test_rapl_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zone(tmp_path, "intel-rapl:0", 1)
    real = pathlib.Path.read_text

    def deny(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pathlib.Path, "read_text", deny)
    meter = host_energy.RaplMeter(tmp_path)
    meter.start()
    joules, reason = meter.stop()
    assert joules is None and "permission denied" in reason and "root" in reason


def test_rapl_unreadable_counter(tmp_path: Path) -> None:
    d = zone(tmp_path, "intel-rapl:0", 1)
    meter = host_energy.RaplMeter(tmp_path)
    meter.start()
    (d / "energy_uj").write_text("garbage\n")
    joules, reason = meter.stop()
    assert joules is None and "not a counter" in reason


def test_rapl_stop_without_start() -> None:
    assert host_energy.RaplMeter().stop() == (None, "RAPL: not started")


# -- the host meter -------------------------------------------------------------------
@dataclasses.dataclass
class FakeGpu:
    readings: list[float | None]
    name: str = "Fake GPU"

    def energy_j(self) -> float | None:
        return self.readings.pop(0)


def test_host_meter_falls_back_to_the_gpu(tmp_path: Path) -> None:
    meter = host_energy.HostEnergyMeter(gpu=FakeGpu([100.0, 112.5]), rapl_root=tmp_path / "none")
    meter.start()
    assert meter.stop() == (12.5, "NVML (Fake GPU)")


def test_host_meter_sums_rapl_and_gpu(tmp_path: Path) -> None:
    d = zone(tmp_path, "intel-rapl:0", 0, max_uj=10**9)
    meter = host_energy.HostEnergyMeter(gpu=FakeGpu([1.0, 3.0]), rapl_root=tmp_path)
    meter.start()
    (d / "energy_uj").write_text("4000000\n")
    joules, source = meter.stop()
    assert joules == pytest.approx(6.0)
    assert source == "RAPL (package-0) + NVML (Fake GPU)"


def test_host_meter_reports_why_nothing_was_measured(tmp_path: Path) -> None:
    meter = host_energy.HostEnergyMeter(gpu=FakeGpu([None, None]), rapl_root=tmp_path / "none")
    meter.start()
    joules, reason = meter.stop()
    assert joules is None
    assert "RAPL: no powercap interface" in reason and "NVML: Fake GPU has no readable energy counter" in reason
    bare = host_energy.HostEnergyMeter(rapl_root=tmp_path / "none")
    bare.start()
    assert bare.stop()[1].endswith("NVML: no GPU monitor")


def test_host_meter_on_this_machine_never_raises() -> None:
    meter = host_energy.HostEnergyMeter()
    meter.start()
    joules, note = meter.stop()
    assert note  # a source, or the reasons there is none
    assert joules is None or (joules >= 0 and note.startswith("RAPL ("))
