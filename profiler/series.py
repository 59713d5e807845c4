"""The charts' data, computed one way for every chart: memory, token latency and cumulative phone energy.

The live charts (``ui/charts.py``), the Compare view (``ui/compare_view.py``) and the reports'
SVG charts (``profiler/report/svgchart.py``) all draw from here, so a run looks the same live,
side by side and exported. Cumulative phone energy is the run's :class:`EnergyRate`: a
per-token cost plus the phone's decode power over the time since the first token, which ends
where the run's estimated total does (``profiler.phone.predict.run_energy``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Point = tuple[float, float]


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class EnergyRate:
    """The phone's energy as a run goes: its decode power over time (plus any per-token cost).

    ``joules(tokens, decode_s)`` = traffic_j_per_token × tokens + base_w × decode_s, which
    ends where ``profiler.phone.predict.run_energy`` does (J/token × tokens) when
    decode_s = tokens / tokens/s. ``battery_j`` is None for a profile without a battery.

    ``pace_tps`` is the phone's decode speed the energy is priced at. With it, the energy at a
    token counts the phone's time to make it and those before it, tokens / pace_tps, not this
    host's: a host slower than the phone would otherwise draw the phone's power for the host's
    longer time.
    """

    traffic_j_per_token: float
    base_w: float
    battery_j: float | None
    pace_tps: float | None = None

    def joules(self, tokens: int, decode_s: float) -> float:
        return self.traffic_j_per_token * tokens + self.base_w * max(0.0, decode_s)

    def battery_pct(self, joules: float) -> float | None:
        return None if not self.battery_j else 100.0 * joules / self.battery_j


def rate_from_report(report: Mapping[str, Any]) -> EnergyRate | None:
    """The energy model of a finished run, rebuilt from its report; None where it has no phone energy.

    A report without the decode power (written before the power model) or its speed keeps its J/token;
    otherwise the energy is paced at the speed the report priced it at (the run's, or the phone's
    predicted one where this host was slower), so the curve ends at the report's total.
    """
    phone = report.get("energy") or {}
    profile = report.get("profile") or {}
    jpt, tps, watts = phone.get("j_per_token"), phone.get("decode_tokens_per_s"), phone.get("power_w")
    wh = profile.get("battery_wh")
    if not finite(jpt) or jpt < 0:
        return None
    battery = wh * 3600.0 if finite(wh) and wh > 0 else None
    if not finite(watts) or not finite(tps) or tps <= 0:
        return EnergyRate(traffic_j_per_token=float(jpt), base_w=0.0, battery_j=battery)
    return EnergyRate(max(0.0, float(jpt) - float(watts) / tps), float(watts), battery, pace_tps=float(tps))


def energy_points(
    times: Iterable[Any], rate: EnergyRate, *, done: int = 0, first_t: float | None = None
) -> list[Point]:
    """Cumulative phone energy at each token's time (paced by the phone's speed where the rate has one).

    ``done`` tokens came before these (a live chart adds tokens as they stream) and the first of
    all was at ``first_t``; a token without a finite time still counts, but is not drawn.
    """
    points = []
    for k, t in enumerate(times, start=done + 1):
        if not finite(t):
            continue
        if first_t is None:
            first_t = float(t)
        decode_s = k / rate.pace_tps if rate.pace_tps else float(t) - first_t  # paced: ends at J/token × tokens
        points.append((float(t), rate.joules(k, decode_s)))
    return points


def points(rows: Any, x_key: str, y_key: str) -> list[Point]:
    """(x, y) of each row (a report's samples or tokens) where both are finite numbers."""
    rows = [r for r in rows or () if isinstance(r, Mapping)]
    return [(r[x_key], r[y_key]) for r in rows if finite(r.get(x_key)) and finite(r.get(y_key))]


def token_times(report: Mapping[str, Any]) -> list[Any]:
    return [t.get("t") if isinstance(t, Mapping) else None for t in report.get("tokens") or ()]


def report_energy(report: Mapping[str, Any]) -> list[Point]:
    """A finished run's cumulative phone energy at each token (empty without phone energy)."""
    rate = rate_from_report(report)
    return energy_points(token_times(report), rate) if rate is not None else []


def xs_ys(series: Sequence[Point]) -> tuple[list[float], list[float]]:
    return [x for x, _ in series], [y for _, y in series]
