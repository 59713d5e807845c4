"""Energy and battery: the phone's estimate, and the host's own measured counter.

The phone model
---------------
A phone decoding with llama.cpp draws a power P that depends on the cores it keeps
busy, so the energy of a token is that power over the token's time::

    J/token            = P / decode tokens/s
    P (CPU)            = p_base + p_core × S          (profiler.phone.power, fitted)
    battery J          = battery_wh × 3600
    battery_pct(J)     = 100 × J / battery J
    hours_continuous   = battery J / P / 3600

S is the throughput units (GHz × SIMD pipes) of the cores the threads run on. ``p_base``
and ``p_core`` are fitted (``scripts/fit_phone_model.py``) to the published power
measurements in profiles/measurements/ (battery fuel gauge readings of llama.cpp and MNN
decoding on Snapdragon, Kirin and Exynos phones); docs/FIDELITY.md reports their error
on phones the fit did not see. A GPU or NPU run uses the power measured for that backend
where the dataset has it, and otherwise the CPU model (and says so).

Reference point: an 8-billion-parameter model at 10 tokens/s on an iPhone-16-class phone
costs about 0.8 J per token (MobileLLM, Liu et al. 2024, arXiv 2402.14905: 0.1 J per
token per billion parameters), and a full battery (~50 kJ) lasts about 2 hours of such
decoding. Here P(iPhone 16, 2 P-cores) ÷ 10 tokens/s lands near it (tests/test_energy.py).

Every figure is an estimate for the phone, never a measurement: views say so, with the
fit's error.

The host meter
--------------
:class:`HostEnergyMeter` measures what *this* computer spent over a run, from
Linux powercap/RAPL (``/sys/class/powercap/intel-rapl:N/energy_uj``, also used by
AMD) and, when given one, an NVIDIA GPU's NVML total-energy counter. It is the
host's figure, never the phone's: callers must label it so and never add the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from profiler.errors import BadInput, ProfilerError

if TYPE_CHECKING:
    from profiler.phone.speed import SpeedEstimate
    from profiler.profiles import Profile

POWERCAP_ROOT = Path("/sys/class/powercap")
_TOP_ZONE = re.compile(r"^intel-rapl:\d+$")  # packages; subzones (intel-rapl:0:0) are inside them


# -- the phone model ------------------------------------------------------------------
@dataclass(frozen=True)
class EnergyEstimate:
    j_per_token: float
    battery_pct_per_1k_tokens: float
    hours_continuous: float
    power_w: float = 0.0
    error_pct: float | None = None
    basis: str = ""


def battery_j(profile: Profile) -> float:
    if profile.battery_wh is None:
        raise BadInput(f"profile '{profile.id}' has no battery_wh; no battery to drain")
    return profile.battery_wh * 3600.0


def battery_pct(profile: Profile, joules: float) -> float:
    """Percent of a full battery that ``joules`` drains."""
    return 100.0 * joules / battery_j(profile)


def hours_continuous(profile: Profile, *, power_w: float) -> float:
    """Hours a full battery lasts decoding without pause at ``power_w``."""
    return battery_j(profile) / power_w / 3600.0


@dataclass(frozen=True)
class PhonePower:
    watts: float
    error_pct: float | None
    basis: str


def decode_power(profile: Profile, *, backend: str = "cpu", threads: int | None = None) -> PhonePower:
    """The phone's power while decoding on ``backend`` with ``threads`` CPU threads (fitted model)."""
    from profiler.phone import power, speed

    fit = speed.load_fit()["power"]
    model = power.PowerModel(fit["p_base_w"], fit["p_core_w"])
    error = fit.get("errors", {}).get("power", {}).get("median_pct")
    accel = fit.get("backends", {}).get(backend) if backend != "cpu" else None
    if accel:
        return PhonePower(accel["watts"], accel.get("error_pct"), accel["basis"])
    cores = speed.phone_cores(profile.cpu_clusters, profile.path)
    n = threads or profile.threads or len(cores)
    watts = model.watts(power.units(cores, n, fit.get("little_factor", 1.0)))
    basis = f"CPU power model fitted to {fit.get('rows', '?')} phone power measurements, {n} threads"
    if backend != "cpu":
        basis += f"; no {backend} power measurement in the dataset, so the CPU's is used"
    return PhonePower(watts, error, basis)


def j_per_token(power_w: float, decode_tps: float) -> float:
    if decode_tps <= 0:
        raise BadInput(f"decode speed must be positive, got {decode_tps:g} tokens/s")
    return power_w / decode_tps


def estimate(profile: Profile, speed_estimate: SpeedEstimate, *, decode_tps: float) -> EnergyEstimate:
    """The energy of decoding at ``decode_tps`` on the phone, with its error."""
    from profiler.phone import speed

    p = decode_power(profile, backend=speed_estimate.backend, threads=speed_estimate.threads)
    jpt = j_per_token(p.watts, decode_tps)
    errors = speed.load_fit()["power"].get("errors", {})
    error = errors.get("energy", {}).get("median_pct", p.error_pct)
    return EnergyEstimate(
        j_per_token=jpt,
        battery_pct_per_1k_tokens=battery_pct(profile, 1000 * jpt),
        hours_continuous=hours_continuous(profile, power_w=p.watts),
        power_w=p.watts,
        error_pct=error,
        basis=p.basis,
    )


# -- the host's measured energy -------------------------------------------------------
@dataclass(frozen=True)
class RaplZone:
    path: Path
    name: str
    max_range_uj: int | None


def rapl_zones(root: Path | str = POWERCAP_ROOT) -> tuple[list[RaplZone], str | None]:
    """Top-level RAPL zones (packages) under ``root``, or ([], why not)."""
    root = Path(root)
    try:
        entries = sorted(p for p in root.iterdir() if _TOP_ZONE.match(p.name))
    except FileNotFoundError:
        return [], f"no powercap interface ({root} does not exist)"
    except OSError as exc:
        return [], f"cannot list {root}: {exc.strerror or exc}"
    if not entries:
        return [], f"no RAPL zones under {root}"
    zones = []
    for entry in entries:
        name = _read_text(entry / "name") or entry.name
        max_range = _read_int(entry / "max_energy_range_uj")
        zones.append(RaplZone(entry, name, max_range))
    return zones, None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(path: Path) -> int | None:
    text = _read_text(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _read_uj(zone: RaplZone) -> tuple[int | None, str | None]:
    path = zone.path / "energy_uj"
    try:
        text = path.read_text().strip()
    except PermissionError:
        return None, f"permission denied reading {path} (root only since Linux 5.10)"
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"
    try:
        return int(text), None
    except ValueError:
        return None, f"{path} holds {text!r}, not a counter"


def counter_delta_uj(before: int, after: int, max_range_uj: int | None) -> int | None:
    """Microjoules between two counter readings, across at most one wraparound."""
    if after >= before:
        return after - before
    if not max_range_uj:
        return None
    return after + max_range_uj - before


class RaplMeter:
    """Sums the RAPL package counters over an interval; ``stop()`` -> (joules | None, source | reason)."""

    def __init__(self, root: Path | str = POWERCAP_ROOT) -> None:
        self.root = Path(root)
        self._zones: list[RaplZone] = []
        self._start: list[int] = []
        self._reason: str | None = "not started"

    def start(self) -> None:
        zones, reason = rapl_zones(self.root)
        readings = []
        for zone in zones:
            uj, why = _read_uj(zone)
            if uj is None:
                reason = why
                break
            readings.append(uj)
        self._zones, self._start = (zones, readings) if reason is None else ([], [])
        self._reason = reason

    def stop(self) -> tuple[float | None, str]:
        if self._reason is not None:
            return None, f"RAPL: {self._reason}"
        total = 0
        for zone, before in zip(self._zones, self._start, strict=True):
            after, why = _read_uj(zone)
            if after is None:
                return None, f"RAPL: {why}"
            delta = counter_delta_uj(before, after, zone.max_range_uj)
            if delta is None:
                return None, f"RAPL: {zone.path.name} went backwards and has no max_energy_range_uj"
            total += delta
        names = ", ".join(z.name for z in self._zones)
        return total / 1e6, f"RAPL ({names})"


class _EnergyCounter(Protocol):
    name: str

    def energy_j(self) -> float | None: ...


class HostEnergyMeter:
    """This host's energy over a run: RAPL, plus an NVIDIA GPU's counter when one is passed in.

    ``stop()`` returns (joules, source) when at least one counter was readable, else
    (None, the reasons). Where both are readable they are summed, and the source says so.
    """

    def __init__(self, *, gpu: _EnergyCounter | None = None, rapl_root: Path | str = POWERCAP_ROOT) -> None:
        self.gpu = gpu
        self.rapl = RaplMeter(rapl_root)
        self._gpu_start: float | None = None

    def start(self) -> None:
        self.rapl.start()
        self._gpu_start = self.gpu.energy_j() if self.gpu is not None else None

    def stop(self) -> tuple[float | None, str]:
        joules, rapl_note = self.rapl.stop()
        parts: list[tuple[float, str]] = [(joules, rapl_note)] if joules is not None else []
        reasons = [rapl_note] if joules is None else []
        if self.gpu is None:
            reasons.append("NVML: no GPU monitor")
        else:
            end = self.gpu.energy_j()
            if self._gpu_start is None or end is None:
                reasons.append(f"NVML: {self.gpu.name} has no readable energy counter")
            else:
                parts.append((max(0.0, end - self._gpu_start), f"NVML ({self.gpu.name})"))
        if not parts:
            return None, "; ".join(reasons)
        return sum(j for j, _ in parts), " + ".join(s for _, s in parts)


@dataclass(frozen=True)
class EnergyRate:
    """The phone's energy as a run goes: its decode power over time (plus any per-token cost).

    ``joules(tokens, decode_s)`` = traffic_j_per_token × tokens + base_w × decode_s, which
    ends where :func:`profiler.predict.run_energy` does (J/token × tokens) when decode_s = tokens / tokens/s.
    """

    traffic_j_per_token: float
    base_w: float
    battery_j: float

    def joules(self, tokens: int, decode_s: float) -> float:
        return self.traffic_j_per_token * tokens + self.base_w * max(0.0, decode_s)

    def battery_pct(self, joules: float) -> float:
        return 100.0 * joules / self.battery_j


def energy_rate(profile: Profile, *, backend: str | None = None, threads: int | None = None) -> EnergyRate | None:
    """The live energy model of a run on ``profile``; None for the host (no battery)."""
    if profile.is_host or profile.battery_wh is None:
        return None
    try:
        p = decode_power(profile, backend=backend or profile.default_backend, threads=threads)
    except ProfilerError:
        return None
    return EnergyRate(traffic_j_per_token=0.0, base_w=p.watts, battery_j=battery_j(profile))


def rate_from_report(report: dict[str, Any]) -> EnergyRate | None:
    """The live energy model of a finished run, rebuilt from its report (to redraw it)."""
    phone = report.get("energy") or {}
    profile = report.get("profile") or {}
    jpt, tps, wh = phone.get("j_per_token"), phone.get("decode_tokens_per_s"), profile.get("battery_wh")
    if not jpt or not tps or not wh:
        return None
    watts = phone.get("power_w")
    if watts is None:  # a report written before the power model: its J/token at its speed
        return EnergyRate(traffic_j_per_token=float(jpt), base_w=0.0, battery_j=wh * 3600.0)
    return EnergyRate(
        traffic_j_per_token=max(0.0, float(jpt) - float(watts) / tps), base_w=float(watts), battery_j=wh * 3600.0
    )
