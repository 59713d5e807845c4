"""Inline SVG charts: well-formed, escaped, budget in view, nice ticks, peaks kept, overlays told apart."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from profiler.report import svgchart
from profiler.report.svgchart import Line, Series, chart, energy_chart, latency_chart, memory_chart, nice_ticks

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def report(
    name: str = "Tiny LM",
    profile_id: str = "phone-a",
    *,
    battery_wh: float | None = 10.0,
    budget: float = 3328.0,
    dram: float | None = 8192.0,
    n_samples: int = 50,
    n_tokens: int = 20,
    kill: dict[str, Any] | None = None,
    j_per_token: float | None = 0.05,
    quantization: str = "Q4_0",
) -> dict[str, Any]:
    """A run report as profiler.record writes it, with only what the charts read filled in."""
    samples = [
        {"t": i * 0.02, "rss_mb": 100.0 + i, "footprint_mb": 40.0 + i, "file_mb": 60.0, "anon_mb": 40.0 + i}
        for i in range(n_samples)
    ]
    tokens = [{"index": k, "t": 1.0 + k * 0.1, "text": "x", "latency_ms": 90.0 + k, "id": k} for k in range(n_tokens)]
    energy = None if j_per_token is None else {"j_total": j_per_token * n_tokens, "j_per_token": j_per_token}
    mb = {"unit": "MB", "mechanism": "watchdog", "note": ""}
    return {
        "model": {"name": name, "quantization": quantization},
        "profile": {"id": profile_id, "name": profile_id, "battery_wh": battery_wh},
        "limits": {"memory_budget": {"value": budget, **mb}, "dram": {"value": dram, **mb}},
        "kill": kill,
        "samples": samples,
        "tokens": tokens,
        "energy": energy,
    }


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img" and root.get("aria-label")
    assert root.get("width") == "100%" and root.get("viewBox", "").startswith("0 0 ")
    return root


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in root.iter() if el.get("class") == cls]


def texts(root: ET.Element, cls: str) -> list[str]:
    return ["".join(el.itertext()) for el in by_class(root, cls)]


def number(label: str) -> float:
    return float(label.replace(",", ""))


def plot_box(root: ET.Element) -> tuple[float, float, float, float]:
    (rect,) = by_class(root, "plot")
    x, y = float(rect.get("x", "nan")), float(rect.get("y", "nan"))
    return x, y, x + float(rect.get("width", "nan")), y + float(rect.get("height", "nan"))


def path_xy(el: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", el.get("d", ""))]


def y_of(root: ET.Element, value: float) -> float:
    """Where ``value`` lands on the left axis, from its first and last tick labels."""
    ticks = [(number(el.text or ""), float(el.get("y", "nan")) - 4) for el in by_class(root, "ytick")]
    (v0, y0), (v1, y1) = ticks[0], ticks[-1]
    return y0 + (value - v0) / (v1 - v0) * (y1 - y0)


def all_charts() -> list[str]:
    one, two, three = report(), report("B", "phone-b", battery_wh=20.0), report("C", "phone-c", dram=None)
    killed = report(n_tokens=0, kill={"reason": "memory_budget", "at_s": 0.5, "footprint_mb": 70.0}, budget=60.0)
    empty = {"samples": [], "tokens": []}
    return [
        chart("t", x_label="x", y_label="y", series=[Series("a", "#000", [(0, 1), (1, 2)])]),
        chart("t", x_label="x", y_label="y", series=[]),
        chart("t", x_label="x", y_label="y", series=[Series("a", "#000", [(0, math.nan), (1, math.inf)])]),
        chart("t", x_label="x", y_label="y", series=[Series("a", "#000", [(5, 5)])], lines=[Line(5, "l", "#f00")]),
        *(f([one]) for f in (memory_chart, latency_chart, energy_chart)),
        *(f([one, two, three]) for f in (memory_chart, latency_chart, energy_chart)),
        *(f([killed]) for f in (memory_chart, latency_chart, energy_chart)),
        *(f([empty]) for f in (memory_chart, latency_chart, energy_chart)),
        energy_chart([report(j_per_token=None)]),
    ]


def test_every_chart_is_well_formed_svg():
    for svg in all_charts():
        parse(svg)


def test_empty_data_says_so():
    root = parse(chart("Nothing", x_label="x", y_label="y", series=[Series("a", "#000", [])]))
    assert texts(root, "message") == ["no data"]
    assert not by_class(root, "series")
    root = parse(latency_chart([report(n_tokens=0)]))
    assert texts(root, "message") == ["no data"]


def test_host_profile_has_no_phone_energy():
    root = parse(energy_chart([report(j_per_token=None, battery_wh=None)]))
    assert texts(root, "message") == ["no phone energy: host profile (no battery)"]
    assert not by_class(root, "series")


@pytest.mark.parametrize("bad", [SCRIPT, IMG])
def test_hostile_text_is_escaped_everywhere(bad: str):
    svgs = [
        chart(
            bad,
            x_label=bad,
            y_label=bad,
            y2_label=bad,
            y2_scale=2.0,
            series=[Series(bad, "#000", [(0, 1), (1, 2)]), Series(bad, '"><img src=x>', [(0, 2)], "points")],
            lines=[Line(1.5, bad, "#f00"), Line(0.5, bad, "#00f", axis="x")],
        ),
        svgchart.message_chart(bad, bad),
        *(f([report(bad, bad), report()]) for f in (memory_chart, latency_chart, energy_chart)),
        *(f([report()], labels=[bad]) for f in (memory_chart, latency_chart, energy_chart)),
    ]
    for svg in svgs:
        root = parse(svg)
        tags = {el.tag.rsplit("}", 1)[-1].lower() for el in root.iter()}
        assert "script" not in tags and "img" not in tags
        assert "<script" not in svg and "<img" not in svg
        assert "&lt;" in svg  # present, escaped
        assert any(bad in "".join(el.itertext()) for el in root.iter()), "the label is shown (as text)"
    assert parse(svgs[0]).get("aria-label") == bad


def test_a_budget_above_all_data_is_inside_the_plot():
    svg = chart(
        "m",
        x_label="s",
        y_label="MB",
        series=[Series("f", "#000", [(0, 10), (1, 100)])],
        lines=[Line(3328, "budget", "#333")],
    )
    root = parse(svg)
    _, top, _, bottom = plot_box(root)
    (line,) = [el for el in by_class(root, "ref-line") if el.get("data-axis") == "y"]
    y = float(line.get("y1", "nan"))
    assert top <= y <= bottom
    (series,) = by_class(root, "series")
    assert y < min(py for _, py in path_xy(series)), "the budget is drawn above the data"
    assert max(number(t) for t in texts(root, "ytick")) >= 3328


def test_memory_chart_shows_budget_kill_and_dram():
    killed = report(kill={"reason": "memory_budget", "at_s": 2.5, "footprint_mb": 70.0}, budget=60.0, dram=100.0)
    root = parse(memory_chart([killed]))
    left, top, right, bottom = plot_box(root)
    ys = [float(el.get("y1", "nan")) for el in by_class(root, "ref-line") if el.get("data-axis") == "y"]
    (kill,) = [el for el in by_class(root, "ref-line") if el.get("data-axis") == "x"]
    assert len(ys) == 2 and all(top <= y <= bottom for y in ys)
    assert left <= float(kill.get("x1", "nan")) <= right  # 2.5 s is past the last sample (~1 s): range extended
    assert any("killed" in t for t in texts(root, "ref-label"))
    assert "DRAM cap 100 MB" in texts(root, "legend-label") and "budget 60 MB" in texts(root, "legend-label")


def test_a_dram_cap_far_above_everything_is_named_not_drawn():
    root = parse(memory_chart([report(budget=3328.0, dram=16384.0)]))
    assert "DRAM cap 16,384 MB: off scale" in texts(root, "title")[0]
    assert len(by_class(root, "ref-line")) == 1
    assert max(number(t) for t in texts(root, "ytick")) < 16384


def test_one_drawn_element_per_series():
    series = [
        Series("a", "#000", [(0, 1), (1, 2)]),
        Series("b", "#111", [(0, 3)], "points"),
        Series("c", "#222", [(0, 0), (2, 2)], "dashed"),
        Series("d", "#333", []),
    ]
    root = parse(chart("t", x_label="x", y_label="y", series=series, lines=[Line(1, "l", "#f00")]))
    assert len(by_class(root, "series")) == 4
    assert len(by_class(root, "legend")) == 5  # four series and the line
    assert len(by_class(parse(memory_chart([report()])), "series")) == 3  # footprint, RSS, file-backed
    assert len(by_class(parse(memory_chart([report(), report("B")])), "series")) == 2


@pytest.mark.parametrize("make", [memory_chart, latency_chart, energy_chart])
def test_an_overlay_of_three_runs_tells_them_apart(make):
    runs = [report("A", "phone-a"), report("B", "phone-b"), report("A", "phone-a", quantization="Q8_0")]
    root = parse(make(runs))
    series = by_class(root, "series")
    assert len(series) == 3
    assert len({el.get("stroke") for el in series}) == 3
    names = [t for t in texts(root, "legend-label") if not t.startswith(("budget", "DRAM"))]
    assert len(names) == 3 and len(set(names)) == 3
    assert set(svgchart.PALETTE[:3]) == {el.get("stroke") for el in series}


def test_labels_are_short_and_unique():
    long = report("A very long model name that goes on and on", "iphone-16")
    (label,) = svgchart._labels([long], None)
    assert label.endswith(" · iphone-16") and len(label) < 45
    assert len(set(svgchart._labels([report(), report()], None))) == 2
    q4, q8 = svgchart._labels([report(quantization="Q4_0"), report(quantization="Q8_0")], None)
    assert "Q4_0" in q4 and "Q8_0" in q8
    with pytest.raises(ValueError):
        memory_chart([report()], labels=["a", "b"])


def test_downsampling_keeps_the_peak_of_a_long_series():
    pts = [(i * 0.01, math.sin(i / 50)) for i in range(50_000)]
    pts[31_337] = (313.37, 1000.0)
    pts[7_001] = (70.01, -500.0)
    kept = svgchart.downsample(pts)
    assert len(kept) <= svgchart.MAX_POINTS
    assert max(y for _, y in kept) == 1000.0 and min(y for _, y in kept) == -500.0
    assert [x for x, _ in kept] == sorted(x for x, _ in kept)

    root = parse(chart("long", x_label="s", y_label="v", series=[Series("s", "#000", pts)]))
    (series,) = by_class(root, "series")
    drawn = path_xy(series)
    assert len(drawn) <= svgchart.MAX_POINTS
    assert min(y for _, y in drawn) == pytest.approx(y_of(root, 1000.0), abs=0.15)  # the spike is drawn
    assert max(y for _, y in drawn) == pytest.approx(y_of(root, -500.0), abs=0.15)  # and the dip


def is_nice(ticks: list[float]) -> bool:
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    if len(steps) != 1:
        return False
    (step,) = steps
    mantissa = step / 10 ** math.floor(math.log10(step))
    on_grid = all(abs(t / step - round(t / step)) < 1e-6 for t in ticks)
    return round(mantissa, 6) in (1.0, 2.0, 5.0) and on_grid


@pytest.mark.parametrize(
    ("lo", "hi"), [(0, 1), (0, 3328), (0, 8192), (0.003, 0.0071), (-37, 120), (1e6, 3.3e6), (5, 5), (0, 0), (2.5, 1)]
)
def test_ticks_are_nice_and_cover_the_range(lo: float, hi: float):
    ticks = nice_ticks(lo, hi, 5)
    assert is_nice(ticks)
    assert ticks[0] <= min(lo, hi) and ticks[-1] >= max(lo, hi)
    assert 2 <= len(ticks) <= 12
    assert not is_nice([0, 3, 6]) and not is_nice([0, 1, 3])


def test_chart_tick_labels_are_nice_with_thousands_separators():
    root = parse(chart("t", x_label="x", y_label="y", series=[Series("a", "#000", [(0, 0), (12_345, 7_777)])]))
    for cls in ("ytick", "xtick"):
        labels = texts(root, cls)
        assert is_nice([number(t) for t in labels])
        assert any("," in t for t in labels)
        assert all(re.fullmatch(r"-?\d{1,3}(,\d{3})*(\.\d+)?", t) for t in labels)


def test_right_axis_is_left_axis_times_scale():
    battery_wh = 13.84
    root = parse(energy_chart([report(battery_wh=battery_wh, n_tokens=200, j_per_token=0.8)]))
    scale = 100 / (battery_wh * 3600)
    left = by_class(root, "ytick")
    right = by_class(root, "y2tick")
    assert len(left) == len(right) >= 3
    step = (number(left[1].text or "") - number(left[0].text or "")) * scale
    for a, b in zip(left, right, strict=True):
        assert a.get("y") == b.get("y")
        assert number(b.text or "") == pytest.approx(number(a.text or "") * scale, abs=step / 10)
    assert "battery drained (%)" in texts(root, "y2label")
    # several batteries: no single right axis
    root = parse(energy_chart([report(battery_wh=10.0), report("B", battery_wh=20.0)]))
    assert not by_class(root, "y2tick")


def test_energy_is_cumulative_per_token():
    root = parse(energy_chart([report(n_tokens=10, j_per_token=0.5)]))
    (series,) = by_class(root, "series")
    drawn = path_xy(series)
    assert len(drawn) == 10
    assert drawn[0][1] == pytest.approx(y_of(root, 0.5), abs=0.15)  # token 1: 0.5 J
    assert drawn[-1][1] == pytest.approx(y_of(root, 5.0), abs=0.15)  # 10 tokens × 0.5 J
