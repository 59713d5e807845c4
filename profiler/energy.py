"""Energy and battery: the phone's estimate, and the host's own measured counter.

The phone model
---------------
Decode is memory-bound: every generated token streams all the weights (and the
KV cache written so far) from DRAM through the CPU. So the energy of a token is
the energy of moving those bytes, plus the phone's base power for as long as the
token takes::

    J/token = E_BYTE × bytes_read_per_token + P_base / decode_tokens_per_s

    bytes_read_per_token = weight bytes + KV-cache bytes read at the average
                           context position (see profiler.predict)
    E_BYTE  = 50 pJ per byte (5.0e-11 J)
    P_base  = the profile's ``idle_power_w`` if it has one, else DEFAULT_BASE_W

    battery J                  = battery_wh × 3600
    battery_pct(J)             = 100 × J / battery J
    battery_pct_per_1k_tokens  = battery_pct(1000 × J/token)
    hours_continuous           = battery J / (J/token × tokens/s) / 3600

Constants and their sources:

- ``E_BYTE`` = 50 pJ/byte. MobileLLM (Liu et al. 2024, arXiv 2402.14905, §1)
  takes 0.1 J per token per billion parameters (citing Han et al. 2016 and
  Malladi et al. 2023): a 7B model costs 0.7 J/token, and ~50 kJ of iPhone battery
  lasts < 2 h at 10 tokens/s. At 16 bits a billion parameters are 2e9 bytes, so
  that is 0.1 J / 2e9 B = 50 pJ per weight byte streamed. (For scale: Horowitz,
  ISSCC 2014, puts a 32-bit DRAM read at 640 pJ, 160 pJ/byte on DDR3; LPDDR5 is
  several times cheaper per bit.)
- ``DEFAULT_BASE_W`` = 0.44 W: the idle baseline measured under the llama.cpp CPU
  runs on a Galaxy S25 Ultra in https://github.com/eziyoo/LLMs-on-Devices
  (data/aggregated/final_results.csv), the same data the Android profiles'
  ``decode_power_w`` cite. It is used for every profile without ``idle_power_w``.

Why this model rather than ``decode_power_w / tokens_per_s``: (1) at a given
decode rate, a model stored at 8 bits moves half the bytes of one at 16 bits and
should cost less; a fixed power does not see that. (2) The iPhone profiles'
``decode_power_w`` (8 W) is itself derived from GUIDE.md §3's reference point, so
using it would reproduce the reference by construction, not by a model.
(3) A slower decode still costs more per token here, through the base power.

Reference (GUIDE.md §3): 8e9 parameters × 2 bytes = 16e9 B → 0.80 J of weight
traffic, + ~0.007 J of KV (ctx 2048) + 0.44 W / 10 tok/s = 0.044 J → ≈0.85
J/token; 13.84 Wh = 49.8 kJ → ≈1.6 h at 10 tokens/s (GUIDE's "about 2 hours" is
50 kJ / 8 W = 1.7 h before any base power).

Limits: at the predicted (roofline) speed the power is E_BYTE × effective bandwidth
+ P_base whatever the model (≈3 W on an iPhone 16), so ``hours_continuous`` there is
the same for every model; measured CPU-runtime power on Android flagships is higher
(the profiles' ``decode_power_w``, 8-11 W), so treat these figures as the floor set
by moving the weights, not a measurement of a phone.

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

from profiler.errors import BadInput

if TYPE_CHECKING:
    from profiler.gguf_meta import ModelInfo
    from profiler.profiles import Profile

E_BYTE_J = 50e-12
DEFAULT_BASE_W = 0.44
POWERCAP_ROOT = Path("/sys/class/powercap")
_TOP_ZONE = re.compile(r"^intel-rapl:\d+$")  # packages; subzones (intel-rapl:0:0) are inside them


# -- the phone model ------------------------------------------------------------------
def base_power_w(profile: Profile) -> float:
    return profile.idle_power_w if profile.idle_power_w is not None else DEFAULT_BASE_W


def battery_j(profile: Profile) -> float:
    if profile.battery_wh is None:
        raise BadInput(f"profile '{profile.id}' has no battery_wh; no battery to drain")
    return profile.battery_wh * 3600.0


def j_per_token(profile: Profile, *, weight_bytes_per_token: float, decode_tps: float) -> float:
    """Joules per generated token: bytes read from DRAM (weights + KV) and base power over the token's time."""
    if decode_tps <= 0:
        raise BadInput(f"decode speed must be positive, got {decode_tps:g} tokens/s")
    if weight_bytes_per_token < 0:
        raise BadInput(f"bytes per token must not be negative, got {weight_bytes_per_token:g}")
    return E_BYTE_J * weight_bytes_per_token + base_power_w(profile) / decode_tps


def battery_pct(profile: Profile, joules: float) -> float:
    """Percent of a full battery that ``joules`` drains."""
    return 100.0 * joules / battery_j(profile)


def hours_continuous(profile: Profile, *, j_token: float, decode_tps: float) -> float:
    """Hours a full battery lasts decoding without pause at ``decode_tps``."""
    return battery_j(profile) / (j_token * decode_tps) / 3600.0


def run_energy(
    profile: Profile,
    *,
    model: ModelInfo,
    generated_tokens: int,
    decode_tps: float | None,
    ctx: int = 2048,
    kv_bytes_per_elem: float = 2.0,
) -> dict[str, Any] | None:
    """The phone's energy for one run; None for the host profile (no battery).

    ``decode_tps`` is the speed the phone decodes at (an emulated run's achieved
    speed); None or non-positive means "use the predicted speed".
    """
    if profile.is_host or profile.battery_wh is None:
        return None
    from profiler import predict

    prediction = predict.predict(profile, model=model, ctx=ctx, kv_bytes_per_elem=kv_bytes_per_elem)
    tps = decode_tps if decode_tps is not None and decode_tps > 0 else prediction.speed.decode_tokens_per_s
    bytes_read = prediction.inputs["bytes_read_per_token"]
    jpt = j_per_token(profile, weight_bytes_per_token=bytes_read, decode_tps=tps)
    total = jpt * max(0, generated_tokens)
    return {
        "j_total": round(total, 4),
        "j_per_token": round(jpt, 5),
        "battery_pct": round(battery_pct(profile, total), 6),
        "battery_pct_per_1k_tokens": round(battery_pct(profile, 1000 * jpt), 5),
        "hours_continuous": round(hours_continuous(profile, j_token=jpt, decode_tps=tps), 3),
        "decode_tokens_per_s": round(tps, 3),
        "model": "E_byte × bytes/token + P_base / tokens/s (profiler.energy)",
        "estimate_for": profile.id,
    }


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
    """The phone's energy as a run goes: memory traffic per token plus base power over time.

    ``joules(tokens, decode_s)`` = traffic_j_per_token × tokens + base_w × decode_s, which
    ends where :func:`run_energy` does (J/token × tokens) when decode_s = tokens / tokens/s.
    """

    traffic_j_per_token: float
    base_w: float
    battery_j: float

    def joules(self, tokens: int, decode_s: float) -> float:
        return self.traffic_j_per_token * tokens + self.base_w * max(0.0, decode_s)

    def battery_pct(self, joules: float) -> float:
        return 100.0 * joules / self.battery_j


def energy_rate(profile: Profile, *, model: ModelInfo, ctx: int = 2048) -> EnergyRate | None:
    """The live energy model of ``model`` on ``profile``; None for the host (no battery)."""
    if profile.is_host or profile.battery_wh is None:
        return None
    from profiler import predict

    shape = predict.model_shape(model)
    traffic = E_BYTE_J * predict.bytes_read_per_token(shape, ctx)
    return EnergyRate(traffic_j_per_token=traffic, base_w=base_power_w(profile), battery_j=battery_j(profile))


def rate_from_report(report: dict[str, Any]) -> EnergyRate | None:
    """The live energy model of a finished run, rebuilt from its report (to redraw it)."""
    phone = report.get("energy") or {}
    profile = report.get("profile") or {}
    jpt, tps, wh = phone.get("j_per_token"), phone.get("decode_tokens_per_s"), profile.get("battery_wh")
    if not jpt or not tps or not wh:
        return None
    base = profile.get("idle_power_w")
    base = float(base) if base is not None else DEFAULT_BASE_W
    return EnergyRate(traffic_j_per_token=max(0.0, jpt - base / tps), base_w=base, battery_j=wh * 3600.0)
