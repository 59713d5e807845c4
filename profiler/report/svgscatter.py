"""A log-log scatter of predicted against measured values, as a self-contained <svg> string.

The diagonal is a perfect prediction; the dashed lines around it mark ±``band`` (25 % by
default). Points are coloured by group (a device, a backend), with a legend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from profiler.report.svgchart import PALETTE, _legend, _line, _svg_open, _text

Point = tuple[float, float]  # (measured, predicted)


def _decades(lo: float, hi: float) -> list[float]:
    ticks = []
    for exp in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for mult in (1, 2, 5):
            v = mult * 10.0**exp
            if lo <= v <= hi:
                ticks.append(v)
    return ticks


@dataclass(frozen=True)
class _Axes:
    """Log axes, the same range on both: measured across, predicted up."""

    lo: float
    hi: float
    left: float
    right: float
    top: float
    bottom: float

    def x(self, v: float) -> float:
        return self.left + (math.log(v) - math.log(self.lo)) / self._span() * (self.right - self.left)

    def y(self, v: float) -> float:
        return self.bottom - (math.log(v) - math.log(self.lo)) / self._span() * (self.bottom - self.top)

    def _span(self) -> float:
        return math.log(self.hi) - math.log(self.lo)


def _grid(a: _Axes, band: float) -> list[str]:
    """Tick lines and labels at 1-2-5 steps, the diagonal, and the dashed ±band lines."""
    parts: list[str] = []
    for t in _decades(a.lo, a.hi):
        label = f"{t:g}"
        parts += [
            _line(a.x(t), a.top, a.x(t), a.bottom, "#eee"),
            _line(a.left, a.y(t), a.right, a.y(t), "#eee"),
            _text("tick", a.x(t), a.bottom + 16, label, "middle"),
            _text("tick", a.left - 6, a.y(t) + 4, label, "end"),
        ]
    parts.append(_line(a.x(a.lo), a.y(a.lo), a.x(a.hi), a.y(a.hi), "#444", ' stroke-width="1.2"'))
    for f in (1 + band, 1 / (1 + band)):
        lo, hi = max(a.lo, a.lo / f), min(a.hi, a.hi / f)
        parts.append(_line(a.x(lo), a.y(lo * f), a.x(hi), a.y(hi * f), "#999", ' stroke-dasharray="4 4"'))
    return parts


def _points(a: _Axes, groups: Mapping[str, Sequence[Point]]) -> list[str]:
    parts: list[str] = []
    for i, pts in enumerate(groups.values()):
        color = PALETTE[i % len(PALETTE)]
        parts += [
            f'<circle cx="{a.x(m):.1f}" cy="{a.y(p):.1f}" r="3" fill="{color}" fill-opacity="0.75"/>'
            for m, p in pts
            if m > 0 and p > 0 and math.isfinite(m) and math.isfinite(p)
        ]
    return parts


def scatter(
    title: str,
    groups: Mapping[str, Sequence[Point]],
    *,
    unit: str,
    band: float = 0.25,
    size: int = 520,
) -> str:
    """Predicted (y) against measured (x) on log axes, one colour per group."""
    values = [v for pts in groups.values() for p in pts for v in p if v > 0 and math.isfinite(v)]
    if not values:
        raise ValueError("nothing to plot")
    legend, rows = _legend(
        [(f"{name} ({len(pts)})", PALETTE[i % len(PALETTE)], "points") for i, (name, pts) in enumerate(groups.items())],
        60,
        40,
        size - 10,
    )
    a = _Axes(min(values) / 1.3, max(values) * 1.3, 62, size - 16, 40 + rows * 18 + 6, size - 44)
    middle = (a.top + a.bottom) / 2
    turn = f' transform="rotate(-90 14 {middle:.1f})"'
    return "\n".join(
        [
            *_svg_open(title, size, size),
            *_grid(a, band),
            *_points(a, groups),
            *legend,
            _text("axis", (a.left + a.right) / 2, size - 10, f"measured ({unit}, log)", "middle", "#333"),
            _text("axis", 14, middle, f"predicted ({unit}, log)", "middle", "#333", turn),
            _text("note", a.right, a.top + 14, f"dashed: ±{band:.0%}", "end", "#777"),
            "</svg>",
        ]
    )
