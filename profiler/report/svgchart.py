"""Inline SVG charts for self-contained HTML reports: no JavaScript, no network, standard library only.

``chart`` draws series and reference lines on 'nice' axes (1/2/5 × 10^k ticks) with a legend and an
optional right-hand axis (left value × ``y2_scale``). ``memory_chart``, ``latency_chart`` and
``energy_chart`` turn run reports (one run, or several overlaid in ``PALETTE`` colours) into charts.

Every text is XML-escaped: labels come from model metadata and user prompts. The SVG scales with
``viewBox`` and ``width="100%"``; the legend adds rows below ``height``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from profiler import series as series_data

# Okabe-Ito (colour-blind safe), reordered for a white background; yellow dropped for an olive.
PALETTE: tuple[str, ...] = ("#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#000000", "#999933")
MAX_POINTS = 2000  # a series above this is downsampled (min and max per bucket)
KILL_COLOR = "#d00000"
DRAM_OFF_SCALE = 2.0  # memory_chart draws a DRAM cap line only up to this × the top of the data and budgets
_DASH = {"dashed": "6 4", "dotted": "1.5 3"}
_CHAR_W = 6.8  # rough width of a 12 px system-ui character, for layout only
_TOP, _BOTTOM = 34, 44  # title band; x tick labels and x label


@dataclass(frozen=True)
class Series:
    label: str
    color: str  # CSS colour like "#4c72b0"
    points: Sequence[tuple[float, float]]
    style: str = "line"  # "line" | "points" | "dashed" | "dotted"


@dataclass(frozen=True)
class Line:
    """A horizontal (axis "y": at y=value) or vertical (axis "x": at x=value) reference line."""

    value: float
    label: str
    color: str
    axis: str = "y"


_finite = series_data.finite


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: max(1, n - 1)] + "…"


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Tick values k × step (step = 1, 2 or 5 × 10^n) covering [lo, hi] in about ``target`` steps."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad if lo != 0 else 0.0, hi + pad
    raw = (hi - lo) / max(1, target)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10)), key=lambda st: abs((hi - lo) / st - target))  # nearest count
    digits = max(0, -math.floor(math.log10(step))) + 3
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, digits) for i in range(first, max(last, first + 1) + 1)]


def _fmt(v: float, step: float) -> str:
    """A tick label: as many decimals as the step needs, thousands separators, no '-0'."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    text = f"{v:,.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text[1:].replace(",", "")) == 0 else text


def downsample(points: Sequence[tuple[float, float]], max_points: int = MAX_POINTS) -> list[tuple[float, float]]:
    """Finite points, at most ``max_points``: above that, the min and max of each bucket (peaks survive)."""
    pts = [(float(x), float(y)) for x, y in points if _finite(x) and _finite(y)]
    if len(pts) <= max_points:
        return pts
    buckets = max(1, max_points // 2)
    size = len(pts) / buckets
    out: list[tuple[float, float]] = []
    for b in range(buckets):
        chunk = pts[int(b * size) : int((b + 1) * size)]
        if chunk:
            lo = min(range(len(chunk)), key=lambda i: chunk[i][1])
            hi = max(range(len(chunk)), key=lambda i: chunk[i][1])
            out.extend(chunk[i] for i in sorted({lo, hi}))
    return out


def _text(cls: str, x: float, y: float, text: str, anchor: str = "start", fill: str = "#555", extra: str = "") -> str:
    """A text element, its text escaped."""
    return (
        f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{_e(fill)}"{extra}>{_e(text)}</text>'
    )


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{_e(stroke)}"{extra}/>'


def _svg_open(title: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px;height:auto;display:block" role="img" aria-label="{_e(title)}" '
        f'font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{_e(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        _text(
            "title", 12, 22, _clip(title, int((width - 24) / 8)), fill="#222", extra=' font-size="14" font-weight="600"'
        ),
    ]


def message_chart(title: str, message: str, *, width: int = 860, height: int = 250) -> str:
    """A chart frame with a title and a centred message instead of data (like "no data")."""
    text = _text("message", width / 2, height / 2 + 8, _clip(message, width // 8), "middle", "#777", ' font-size="14"')
    return "\n".join([*_svg_open(title, width, height), text, "</svg>"])


def _dash(style: str) -> str:
    return f' stroke-dasharray="{_DASH[style]}"' if style in _DASH else ""


def _legend(entries: list[tuple[str, str, str]], x0: float, y0: float, right: float) -> tuple[list[str], int]:
    """Legend items (label, colour, style) in rows wrapping at ``right``; returns the parts and the row count."""
    parts, x, y, rows = [], x0, y0, 1
    for label, color, style in entries:
        text = _clip(label, 70)
        w = 30 + len(text) * _CHAR_W
        if x > x0 and x + w > right:
            x, y, rows = x0, y + 18, rows + 1
        dot = f'<circle cx="{x + 10:.1f}" cy="{y:.1f}" r="3.5" fill="{_e(color)}"/>'
        swatch = dot if style == "points" else _line(x, y, x + 20, y, color, f' stroke-width="2.5"{_dash(style)}')
        parts.append(f'<g class="legend">{swatch}{_text("legend-label", x + 25, y + 4, text, fill="#333")}</g>')
        x += w + 14
    return parts, rows


@dataclass(frozen=True)
class _Frame:
    """The plot area and its ticks: where a data point lands on the canvas."""

    left: float
    top: float
    plot_w: float
    plot_h: float
    xt: list[float]
    yt: list[float]

    @property
    def right(self) -> float:
        return self.left + self.plot_w

    @property
    def bottom(self) -> float:
        return self.top + self.plot_h

    def sx(self, x: float) -> float:
        return self.left + (x - self.xt[0]) / (self.xt[-1] - self.xt[0]) * self.plot_w

    def sy(self, y: float) -> float:
        return self.bottom - (y - self.yt[0]) / (self.yt[-1] - self.yt[0]) * self.plot_h


def _x_ticks(xvals: list[float], plot_w: float) -> tuple[list[float], list[str]]:
    """Fewer x ticks until their labels fit side by side."""
    target = max(2, int(plot_w // 80))
    while True:
        xt = nice_ticks(min(xvals), max(xvals), target)
        xlabels = [_fmt(v, xt[1] - xt[0]) for v in xt]
        if target <= 2 or max(len(t) for t in xlabels) * _CHAR_W + 12 <= plot_w / (len(xt) - 1):
            return xt, xlabels
        target -= 1


def _axes(
    f: _Frame, labels: tuple[list[str], list[str], list[str]], names: tuple[str, str, str], width: int
) -> list[str]:
    """The plot's frame, grid, tick labels (y2 where given) and axis names."""
    ylabels, y2labels, xlabels = labels
    x_label, y_label, y2_label = names
    top, bottom, left, right = f.top, f.bottom, f.left, f.right
    parts = [f'<rect class="plot" x="{left:.1f}" y="{top}" width="{f.plot_w:.1f}" height="{f.plot_h}" fill="none"/>']
    for v, label in zip(f.yt, ylabels, strict=True):
        parts += [_line(left, f.sy(v), right, f.sy(v), "#e6e6e6"), _text("ytick", left - 6, f.sy(v) + 4, label, "end")]
    parts += [_text("y2tick", right + 6, f.sy(v) + 4, label) for v, label in zip(f.yt, y2labels, strict=False)]
    for v, label in zip(f.xt, xlabels, strict=True):
        parts += [
            _line(f.sx(v), top, f.sx(v), bottom, "#f0f0f0"),
            _text("xtick", f.sx(v), bottom + 16, label, "middle"),
        ]
    parts.append(
        f'<path d="M{left:.1f},{top}V{bottom}H{right:.1f}{f"V{top}" if y2labels else ""}" fill="none" stroke="#888"/>'
    )
    mid = top + f.plot_h / 2
    parts.append(_text("xlabel", left + f.plot_w / 2, bottom + 36, _clip(x_label, int(f.plot_w / 7)), "middle", "#333"))
    rotate = f' transform="rotate(-90 14 {mid:.1f})"'
    parts.append(_text("ylabel", 14, mid, _clip(y_label, f.plot_h // 7), "middle", "#333", rotate))
    if y2labels:
        rotate = f' transform="rotate(90 {width - 14} {mid:.1f})"'
        parts.append(_text("y2label", width - 14, mid, _clip(y2_label, f.plot_h // 7), "middle", "#333", rotate))
    return parts


def _reference_lines(f: _Frame, ylines: list[Line], xlines: list[Line]) -> tuple[list[str], list[str]]:
    """The dashed reference lines, and their labels (drawn last, over the series)."""
    parts: list[str] = []
    labels: list[str] = []
    halo = ' font-size="11" stroke="#ffffff" stroke-width="3" paint-order="stroke"'
    placed: list[float] = []
    ref = ' stroke-width="1.5" stroke-dasharray="6 4"'
    for ln in sorted(ylines, key=lambda ln: -ln.value):  # top first: a crowded label moves below its line
        y = f.sy(ln.value)
        parts.append(_line(f.left, y, f.right, y, ln.color, f' class="ref-line" data-axis="y"{ref}'))
        ty = y - 5 if y - 16 >= f.top and all(abs(y - 5 - p) >= 14 for p in placed) else y + 14
        placed.append(ty)
        labels.append(_text("ref-label", f.left + 6, ty, _clip(ln.label, 40), "start", ln.color, halo))
    for ln in xlines:  # labels at the top, left of the line where they fit (y-line labels sit at the left)
        x, text = f.sx(ln.value), _clip(ln.label, 40)
        parts.append(_line(x, f.top, x, f.bottom, ln.color, f' class="ref-line" data-axis="x"{ref}'))
        fits = x - f.left > len(text) * _CHAR_W + 8
        labels.append(
            _text("ref-label", x - 4 if fits else x + 4, f.top + 14, text, "end" if fits else "start", ln.color, halo)
        )
    return parts, labels


def _series_paths(f: _Frame, data: list[tuple[Series, list[tuple[float, float]]]]) -> list[str]:
    """One <path class="series"> per series; points are zero-length round-capped strokes."""
    parts = []
    for s, pts in data:
        xy = [f"{f.sx(x):.1f},{f.sy(y):.1f}" for x, y in pts]
        if s.style == "points":
            # h0.1, not h0: Qt's SVG renderer (the PDF export) drops zero-length strokes
            d, stroke = "".join(f"M{p}h0.1" for p in xy), 'stroke-width="5" stroke-linecap="round"'
        else:
            d, stroke = "M" + "L".join(xy) if xy else "", f'stroke-width="1.8" stroke-linejoin="round"{_dash(s.style)}'
        d = d or "M0,0"  # an empty d is invalid SVG path data (Qt says so)
        parts.append(f'<path class="series" d="{d}" fill="none" stroke="{_e(s.color)}" {stroke}/>')
    return parts


def chart(
    title: str,
    *,
    x_label: str,
    y_label: str,
    series: Sequence[Series],
    lines: Sequence[Line] = (),
    width: int = 860,
    height: int = 250,
    y2_scale: float | None = None,
    y2_label: str = "",
    y_min: float = 0.0,
) -> str:
    """An <svg> element (a string) with axes, 'nice' ticks, grid, a legend and the series.

    The y range holds every point, every y Line and ``y_min``; the x range every point and x Line.
    With ``y2_scale`` a right-hand axis labels each left tick value × ``y2_scale``.
    """
    data = [(s, downsample(s.points)) for s in series]
    xs = [x for _, pts in data for x, _ in pts]
    ys = [y for _, pts in data for _, y in pts]
    if not xs:
        return message_chart(title, "no data", width=width, height=height)
    ylines = [ln for ln in lines if ln.axis == "y" and _finite(ln.value)]
    xlines = [ln for ln in lines if ln.axis == "x" and _finite(ln.value)]
    plot_h = max(40, height - _TOP - _BOTTOM)
    yvals = [*ys, *(ln.value for ln in ylines), *([y_min] if _finite(y_min) else [])]
    yt = nice_ticks(min(yvals), max(yvals), max(2, plot_h // 38))
    ylabels = [_fmt(v, yt[1] - yt[0]) for v in yt]
    scale = float(y2_scale) if _finite(y2_scale) and y2_scale else None
    y2step = 10.0 ** (math.floor(math.log10(abs((yt[1] - yt[0]) * scale))) - 1) if scale else 1.0  # 2 digits
    y2labels = [_fmt(v * scale, y2step) for v in yt] if scale else []
    left = 34 + max(len(t) for t in ylabels) * _CHAR_W
    plot_w = max(40.0, width - left - (34 + max(len(t) for t in y2labels) * _CHAR_W if scale else 24))
    xt, xlabels = _x_ticks([*xs, *(ln.value for ln in xlines)], plot_w)
    frame = _Frame(left, _TOP, plot_w, plot_h, xt, yt)
    entries = [(s.label, s.color, s.style) for s, _ in data] + [(ln.label, ln.color, "dashed") for ln in lines]
    legend, rows = _legend(entries, left, frame.bottom + _BOTTOM + 10, width - 12)
    parts = _svg_open(title, width, height + rows * 18 + 6)
    parts += _axes(frame, (ylabels, y2labels, xlabels), (x_label, y_label, y2_label), width)
    ref_parts, labels = _reference_lines(frame, ylines, xlines)
    parts += ref_parts + _series_paths(frame, data)
    return "\n".join([*parts, *labels, *legend, "</svg>"])


# -- charts of run reports -----------------------------------------------------------------------------------
def _labels(reports: Sequence[Mapping[str, Any]], labels: Sequence[str] | None) -> list[str]:
    """Short names for runs: "model · profile", with the quantization or a number when that is ambiguous."""
    if labels is not None:
        if len(labels) != len(reports):
            raise ValueError(f"{len(labels)} labels for {len(reports)} reports")
        return [str(label) for label in labels]
    models = [r.get("model") or {} for r in reports]
    names = [_clip(str(m.get("name") or m.get("file_name") or "model"), 28) for m in models]
    ids = [str((r.get("profile") or {}).get("id") or "?") for r in reports]
    out = [f"{n} · {p}" for n, p in zip(names, ids, strict=True)]
    if len(set(out)) < len(out):  # the same model on the same phone: the quantization may tell them apart
        quants = [str(m.get("quantization") or "") for m in models]
        out = [f"{n} {q} · {p}" for n, q, p in zip(names, quants, ids, strict=True)]
    if len(set(out)) < len(out):
        out = [f"{label} #{i + 1}" for i, label in enumerate(out)]
    return out


_points = series_data.points


def memory_chart(reports: Sequence[Mapping[str, Any]], labels: Sequence[str] | None = None) -> str:
    """Memory over time: footprint per run (one run: also RSS and file-backed), budget and DRAM lines, kills.

    A DRAM cap far above the data and the budgets (over ``DRAM_OFF_SCALE`` × their top) would squash
    everything to the floor: it is named in the title instead of drawn.
    """
    names, single = _labels(reports, labels), len(reports) == 1
    series: list[Series] = []
    for i, r in enumerate(reports):
        samples = r.get("samples")
        if single:
            series.append(Series("footprint (anon + swap)", PALETTE[0], _points(samples, "t", "footprint_mb")))
            series.append(Series("RSS", PALETTE[1], _points(samples, "t", "rss_mb")))
            series.append(Series("file-backed", PALETTE[2], _points(samples, "t", "file_mb"), style="dotted"))
        else:
            pts = _points(samples, "t", "footprint_mb")
            series.append(Series(f"{names[i]} footprint", PALETTE[i % len(PALETTE)], pts))
    lines: list[Line] = []
    off_scale: list[str] = []
    for key, what, neutral in (("memory_budget", "budget", "#333333"), ("dram", "DRAM cap", "#8c8c8c")):
        owners: dict[tuple[float, str], list[int]] = {}
        for i, r in enumerate(reports):
            limit = (r.get("limits") or {}).get(key) or {}
            if _finite(limit.get("value")):
                owners.setdefault((float(limit["value"]), str(limit.get("unit") or "MB")), []).append(i)
        top = max([y for s in series for _, y in s.points] + [ln.value for ln in lines], default=0.0)
        for (value, unit), who in sorted(owners.items()):
            if key == "dram" and top > 0 and value > DRAM_OFF_SCALE * top:
                off_scale.append(f"{value:,.0f} {unit}")
                continue
            ids = sorted({str((reports[i].get("profile") or {}).get("id")) for i in who})
            label = f"{what} {value:,.0f} {unit}" + (f" ({', '.join(ids)})" if len(owners) > 1 else "")
            own = key == "memory_budget" and not single and len(who) == 1  # one run's budget: in its colour
            lines.append(Line(value, label, PALETTE[who[0] % len(PALETTE)] if own else neutral))
    for i, r in enumerate(reports):
        kill = r.get("kill")
        if isinstance(kill, Mapping) and _finite(kill.get("at_s")):
            label = f"killed ({kill.get('reason') or '?'})" + ("" if single else f" · {names[i]}")
            lines.append(Line(kill["at_s"], label, KILL_COLOR, axis="x"))
    title = "Memory" + (f": {names[0]}" if single else "")
    if off_scale:
        title += f" (DRAM cap {' / '.join(off_scale)}: off scale)"
    return chart(title, x_label="time since start (s)", y_label="MB", series=series, lines=lines)


def latency_chart(reports: Sequence[Mapping[str, Any]], labels: Sequence[str] | None = None) -> str:
    """Per-token latency (ms) at each token's time."""
    names, single = _labels(reports, labels), len(reports) == 1
    series = []
    for i, r in enumerate(reports):
        pts = _points(r.get("tokens"), "t", "latency_ms")
        series.append(Series("token latency" if single else names[i], PALETTE[i % len(PALETTE)], pts, "points"))
    title = "Token latency" + (f": {names[0]}" if single else "")
    return chart(title, x_label="token time since start (s)", y_label="latency (ms)", series=series)


def energy_chart(reports: Sequence[Mapping[str, Any]], labels: Sequence[str] | None = None) -> str:
    """Cumulative phone energy (J, the profile's estimate) over token time; battery % on the right for one battery."""
    names, single = _labels(reports, labels), len(reports) == 1
    title = "Phone energy (estimate)" + (f": {names[0]}" if single else "")
    series: list[Series] = []
    batteries: set[float | None] = set()
    for i, r in enumerate(reports):
        rate = series_data.rate_from_report(r)
        if rate is None:
            continue
        pts = series_data.energy_points(series_data.token_times(r), rate)
        series.append(Series("cumulative energy" if single else names[i], PALETTE[i % len(PALETTE)], pts))
        wh = (r.get("profile") or {}).get("battery_wh")
        batteries.add(float(wh) if _finite(wh) and wh > 0 else None)
    if not series:
        return message_chart(title, "no phone energy: host profile (no battery)")
    wh = next(iter(batteries)) if len(batteries) == 1 else None
    scale = 100.0 / (wh * 3600.0) if wh else None
    y2_label = "battery drained (%)" if scale else ""
    x_label = "token time since start (s)"
    return chart(title, x_label=x_label, y_label="energy (J)", series=series, y2_scale=scale, y2_label=y2_label)
