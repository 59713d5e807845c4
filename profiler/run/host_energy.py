"""The energy this host spent over a run, measured: RAPL and an NVIDIA GPU's NVML counter.

:class:`HostEnergyMeter` measures what *this* computer spent over a run, from
Linux powercap/RAPL (``/sys/class/powercap/intel-rapl:N/energy_uj``, also used by
AMD) and, when given one, an NVIDIA GPU's NVML total-energy counter. It is the
host's figure, never the phone's: callers must label it so and never add the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

POWERCAP_ROOT = Path("/sys/class/powercap")
_TOP_ZONE = re.compile(r"^intel-rapl:\d+$")  # packages; subzones (intel-rapl:0:0) are inside them


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
