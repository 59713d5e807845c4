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

The host's own measured energy is :mod:`profiler.run.host_energy`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from profiler.errors import BadInput, ProfilerError
from profiler.series import EnergyRate

if TYPE_CHECKING:
    from profiler.phone.profiles import Profile
    from profiler.phone.speed import SpeedEstimate


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


def estimate(
    profile: Profile, speed_estimate: SpeedEstimate, *, decode_tps: float, speed_error_pct: float | None = None
) -> EnergyEstimate:
    """The energy of decoding at ``decode_tps`` on the phone, with its error.

    J/token divides the power by the speed, so a predicted speed (``speed_error_pct``: its stated
    error) carries its error into the energy: the stated error is at least the power's and the
    speed's errors combined, never the J/token error measured where the speed was well predicted.
    """
    from profiler.phone import speed

    p = decode_power(profile, backend=speed_estimate.backend, threads=speed_estimate.threads)
    jpt = j_per_token(p.watts, decode_tps)
    errors = speed.load_fit()["power"].get("errors", {})
    error = errors.get("energy", {}).get("median_pct", p.error_pct)
    if speed_error_pct is not None:
        combined = round(math.hypot(p.error_pct or 0.0, speed_error_pct), 1)
        error = combined if error is None else max(error, combined)
    return EnergyEstimate(
        j_per_token=jpt,
        battery_pct_per_1k_tokens=battery_pct(profile, 1000 * jpt),
        hours_continuous=hours_continuous(profile, power_w=p.watts),
        power_w=p.watts,
        error_pct=error,
        basis=p.basis,
    )


def energy_rate(
    profile: Profile, *, backend: str | None = None, threads: int | None = None, pace_tps: float | None = None
) -> EnergyRate | None:
    """The live energy model of a run on ``profile``, priced at ``pace_tps`` if given; None for the host."""
    if profile.is_host or profile.battery_wh is None:
        return None
    try:
        p = decode_power(profile, backend=backend or profile.default_backend, threads=threads)
    except ProfilerError:
        return None
    return EnergyRate(traffic_j_per_token=0.0, base_w=p.watts, battery_j=battery_j(profile), pace_tps=pace_tps)
