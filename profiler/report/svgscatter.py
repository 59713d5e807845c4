"""A log-log scatter of predicted against measured values, as a self-contained <svg> string.

The diagonal is a perfect prediction; the dashed lines around it mark ±``band`` (25 % by
default). Points are coloured by group (a device, a backend), with a legend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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
    lo, hi = min(values) / 1.3, max(values) * 1.3
    legend, rows = _legend(
        [(f"{name} ({len(pts)})", PALETTE[i % len(PALETTE)], "points") for i, (name, pts) in enumerate(groups.items())],
        60,
        40,
        size - 10,
    )
    top = 40 + rows * 18 + 6
    left, right, bottom = 62, size - 16, size - 44
    span = math.log(hi) - math.log(lo)

    def x(v: float) -> float:
        return left + (math.log(v) - math.log(lo)) / span * (right - left)

    def y(v: float) -> float:
        return bottom - (math.log(v) - math.log(lo)) / span * (bottom - top)

    parts = _svg_open(title, size, size)
    for t in _decades(lo, hi):
        label = f"{t:g}"
        parts += [
            _line(x(t), top, x(t), bottom, "#eee"),
            _line(left, y(t), right, y(t), "#eee"),
            _text("tick", x(t), bottom + 16, label, "middle"),
            _text("tick", left - 6, y(t) + 4, label, "end"),
        ]
    parts.append(_line(x(lo), y(lo), x(hi), y(hi), "#444", ' stroke-width="1.2"'))
    for f in (1 + band, 1 / (1 + band)):
        a, b = max(lo, lo / f), min(hi, hi / f)
        parts.append(_line(x(a), y(a * f), x(b), y(b * f), "#999", ' stroke-dasharray="4 4"'))
    for i, (_name, pts) in enumerate(groups.items()):
        color = PALETTE[i % len(PALETTE)]
        parts += [
            f'<circle cx="{x(m):.1f}" cy="{y(p):.1f}" r="3" fill="{color}" fill-opacity="0.75"/>'
            for m, p in pts
            if m > 0 and p > 0 and math.isfinite(m) and math.isfinite(p)
        ]
    parts += [
        *legend,
        _text("axis", (left + right) / 2, size - 10, f"measured ({unit}, log)", "middle", "#333"),
        _text(
            "axis",
            14,
            (top + bottom) / 2,
            f"predicted ({unit}, log)",
            "middle",
            "#333",
            f' transform="rotate(-90 14 {(top + bottom) / 2:.1f})"',
        ),
        _text("note", right, top + 14, f"dashed: ±{band:.0%}", "end", "#777"),
        "</svg>",
    ]
    return "\n".join(parts)
