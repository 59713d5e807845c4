"""Live charts: memory against the budget, per-token latency, energy and battery.

Data goes into numpy buffers as batches arrive; a timer repaints at 20 Hz only
what changed (pyqtgraph's scrollingPlots / PlotSpeedTest approach). The three
plots share one time axis, in seconds from the start of the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from profiler import series as chart_data
from profiler.record import Sample, Token
from profiler.series import EnergyRate

REPAINT_MS = 50
AXIS_WIDTH = 62
ROLLING_TOKENS = 8
COLORS = {"rss": "#4c72b0", "footprint": "#dd8452", "file": "#8c8c8c", "budget": "#c44e52", "dram": "#8172b3"}
KILL_PEN = pg.mkPen("#d62728", width=2)


class Series:
    """A growing numpy buffer of (x, y) points; the oldest half is dropped past ``limit``."""

    def __init__(self, limit: int = 400_000) -> None:
        self.limit = limit
        self._data = np.empty((1024, 2))
        self.size = 0

    def extend(self, points: Iterable[tuple[float, float]]) -> None:
        block = np.asarray(list(points), dtype=float).reshape(-1, 2)
        need = self.size + len(block)
        if need > self.limit:
            keep = self._data[self.size // 2 : self.size].copy()
            self.size = len(keep)
            self._data[: self.size] = keep
            need = self.size + len(block)
        if need > len(self._data):
            grown = np.empty((max(need, 2 * len(self._data)), 2))
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : need] = block
        self.size = need

    def clear(self) -> None:
        self.size = 0

    @property
    def x(self) -> np.ndarray:
        return self._data[: self.size, 0]

    @property
    def y(self) -> np.ndarray:
        return self._data[: self.size, 1]


def _plot(title: str, left: str) -> pg.PlotWidget:
    widget = pg.PlotWidget(background="w")
    item = widget.getPlotItem()
    item.setTitle(title, color="#333", size="10pt")
    item.setLabel("left", left)
    item.showGrid(x=True, y=True, alpha=0.15)
    item.setDownsampling(mode="peak")
    item.setClipToView(True)
    item.addLegend(offset=(8, 4), labelTextColor="#333")
    widget.setMinimumHeight(150)
    return widget


class Charts(QWidget):
    """Three stacked plots fed by ``add_samples`` / ``add_tokens`` and repainted on a timer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.memory = _plot("Memory", "MB")
        self.latency = _plot("Per-token latency", "ms")
        self.energy = _plot("Phone energy (estimate)", "J")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for plot in (self.memory, self.latency, self.energy):
            layout.addWidget(plot)
        for plot in (self.latency, self.energy):
            plot.setXLink(self.memory)
        self.energy.getPlotItem().setLabel("bottom", "time since start (s)")
        for plot in (self.memory, self.latency, self.energy):
            plot.getPlotItem().getAxis("bottom").enableAutoSIPrefix(False)  # seconds on every plot, never ms
        self.series = {name: Series() for name in ("rss", "footprint", "file", "latency", "tps", "energy")}
        mem = self.memory.getPlotItem()
        self.curves = {
            "rss": mem.plot(name="RSS", pen=pg.mkPen(COLORS["rss"], width=1.5)),
            "footprint": mem.plot(name="footprint (counted)", pen=pg.mkPen(COLORS["footprint"], width=2)),
            "file": mem.plot(name="file-backed", pen=pg.mkPen(COLORS["file"], width=1, style=Qt.PenStyle.DotLine)),
            "latency": self.latency.getPlotItem().plot(
                name="latency", pen=None, symbol="o", symbolSize=4, symbolBrush="#4c72b0", symbolPen=None
            ),
            "energy": self.energy.getPlotItem().plot(name="energy", pen=pg.mkPen("#55a868", width=2)),
        }
        self._tps_view = self._right_axis(self.latency, "tokens/s")
        self.curves["tps"] = pg.PlotDataItem(pen=pg.mkPen("#dd8452", width=1.5))
        self._tps_view.addItem(self.curves["tps"])
        self.latency.getPlotItem().legend.addItem(self.curves["tps"], f"tokens/s (rolling {ROLLING_TOKENS})")
        self.energy.getPlotItem().showAxis("right")
        self.battery_axis = self.energy.getPlotItem().getAxis("right")  # the J axis, scaled to % of the battery
        self.battery_axis.setLabel("battery drained (%)")
        self._limit_lines: list[pg.InfiniteLine] = []
        self._kill_items: list[tuple[pg.PlotWidget, Any]] = []
        self._dirty = False
        self._rate: EnergyRate | None = None
        self._token_times: list[float] = []
        self._budget: float | None = None
        self._titles: dict[str, str] = {}
        self._tops: dict[str, float] = {}
        self._drawn: dict[str, int] = {}
        self._fitting = False
        self.memory.getPlotItem().showAxis("right")
        self.memory.getPlotItem().getAxis("right").setStyle(showValues=False)
        for plot in (self.memory, self.latency, self.energy):
            item = plot.getPlotItem()
            item.getAxis("left").setWidth(AXIS_WIDTH)  # equal widths line the shared time axes up
            item.getAxis("right").setWidth(AXIS_WIDTH)
            for name in ("left", "bottom", "right"):
                # Replaying an axis's drawing (text) cost ~2 ms each paint; a cached pixmap is a blit.
                plot.getPlotItem().getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._timer = QTimer(self)
        self._timer.setInterval(REPAINT_MS)
        self._timer.timeout.connect(self.repaint_now)
        self._timer.start()

    def _right_axis(self, plot: pg.PlotWidget, label: str) -> pg.ViewBox:
        item = plot.getPlotItem()
        view = pg.ViewBox()
        item.showAxis("right")
        item.scene().addItem(view)
        item.getAxis("right").linkToView(view)
        item.getAxis("right").setLabel(label)
        view.setXLink(item)

        def sync() -> None:
            view.setGeometry(item.getViewBox().sceneBoundingRect())
            view.linkedViewChanged(item.getViewBox(), view.XAxis)

        item.getViewBox().sigResized.connect(sync)
        return view

    # -- feeding -------------------------------------------------------------------
    def reset(self, *, budget_mb: float | None, dram_mb: float | None, energy: EnergyRate | None) -> None:
        for series in self.series.values():
            series.clear()
        for line in self._limit_lines:
            self.memory.removeItem(line)
        for plot, item in self._kill_items:
            plot.removeItem(item)
        self._limit_lines, self._kill_items, self._token_times = [], [], []
        self._titles, self._tops, self._drawn = {}, {}, {}
        self._rate, self._budget = energy, budget_mb
        for value, name, color in ((budget_mb, "budget", COLORS["budget"]), (dram_mb, "DRAM cap", COLORS["dram"])):
            if value is None:
                continue
            line = pg.InfiniteLine(
                pos=value,
                angle=0,
                pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine),
                label=f"{name} {value:,.0f} MB",
                labelOpts={"position": 0.98, "color": color, "anchors": [(1, 1), (1, 1)]},  # clear of the legend
            )
            self.memory.addItem(line)
            self._limit_lines.append(line)
        battery_j = energy.battery_j if energy is not None else None
        self.battery_axis.setScale(100.0 / battery_j if battery_j else 1.0)
        self.battery_axis.setStyle(showValues=bool(battery_j))
        self.battery_axis.setLabel("battery drained (%)" if battery_j else "")
        self.energy.getPlotItem().setTitle(
            "Phone energy (estimate)" if energy else "Phone energy: none for the host profile (no battery)",
            color="#333",
            size="10pt",
        )
        self._dirty = True

    def add_samples(self, samples: Iterable[Any]) -> None:
        rows = [(s.t, s.rss_mb, s.footprint_mb, s.file_mb) for s in samples]
        if not rows:
            return
        self.series["rss"].extend((t, r) for t, r, _, _ in rows)
        self.series["footprint"].extend((t, f) for t, _, f, _ in rows)
        self.series["file"].extend((t, m) for t, _, _, m in rows)
        self._dirty = True

    def add_tokens(self, tokens: Iterable[Any]) -> None:
        latency, tps, times = [], [], []
        done, first = len(self._token_times), self._token_times[0] if self._token_times else None
        for token in tokens:
            self._token_times.append(token.t)
            times.append(token.t)
            latency.append((token.t, token.latency_ms))
            window = self._token_times[-ROLLING_TOKENS:]
            if len(window) >= 2 and window[-1] > window[0]:
                tps.append((token.t, (len(window) - 1) / (window[-1] - window[0])))
        self.series["latency"].extend(latency)
        self.series["tps"].extend(tps)
        if self._rate is not None:
            self.series["energy"].extend(chart_data.energy_points(times, self._rate, done=done, first_t=first))
        self._dirty = True

    def mark_kill(self, kill: Mapping[str, Any]) -> None:
        """A red line across all three plots and a red point where the footprint crossed the limit."""
        for plot in (self.memory, self.latency, self.energy):
            line = pg.InfiniteLine(pos=kill["at_s"], angle=90, pen=KILL_PEN)
            plot.addItem(line)
            self._kill_items.append((plot, line))
        point = pg.ScatterPlotItem(
            [kill["at_s"]], [kill["footprint_mb"]], size=12, brush=pg.mkBrush("#d62728"), pen=None, symbol="x"
        )
        self.memory.addItem(point)
        self._kill_items.append((self.memory, point))
        self._dirty = True

    def show_report(self, report: Mapping[str, Any], energy: EnergyRate | None) -> None:
        """Redraw a finished run (from the history) as it looked live."""
        limits = report.get("limits", {})
        budget = (limits.get("memory_budget") or {}).get("value")
        dram = (limits.get("dram") or {}).get("value")
        self.reset(budget_mb=budget, dram_mb=dram, energy=energy)
        self.add_samples(Sample(**s) for s in report.get("samples", []))
        self.add_tokens(Token(**t) for t in report.get("tokens", []))
        if report.get("kill"):
            self.mark_kill(report["kill"])

    @property
    def rolling_tps(self) -> float | None:
        """The decode speed over the last few tokens."""
        series = self.series["tps"]
        return float(series.y[-1]) if series.size else None

    @property
    def point_counts(self) -> dict[str, int]:
        return {name: series.size for name, series in self.series.items()}

    def _title_memory(self) -> None:
        """The headroom in words: a small model under a large budget is a flat line at the bottom."""
        text = "Memory"
        footprint = self.series["footprint"]
        if footprint.size and self._budget:
            peak = float(footprint.y.max())
            text += f" — peak footprint {peak:,.0f} MB, {100 * peak / self._budget:.0f} % of the budget"
        if text != self._titles.get("memory"):  # a new title re-lays out the whole plot: only on change
            self._titles["memory"] = text
            self.memory.getPlotItem().setTitle(text, color="#333", size="10pt")

    def _grow(self, name: str, set_range: Any, top: float, headroom: float) -> None:
        """Move a range only when the data outgrow it or shrink well inside it, with headroom.

        Each move re-draws the axis (text, ~2 ms); growing in steps keeps that to a few per run.
        """
        if self._fitting:
            set_range(0, top * min(headroom, 1.12), padding=0)
            return
        shown = self._tops.get(name, 0.0)
        if top > shown or top < 0.5 * shown:
            self._tops[name] = top * headroom
            set_range(0, top * headroom, padding=0)

    def fit(self) -> None:
        """After a run: every range fitted to the data exactly."""
        self._fitting, self._dirty = True, True
        try:
            self.repaint_now()
        finally:
            self._fitting, self._tops = False, {}

    @Slot()
    def repaint_now(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        ends = []
        for name in ("rss", "footprint", "file", "latency", "tps", "energy"):
            series = self.series[name]
            if series.size != self._drawn.get(name):
                self._drawn[name] = series.size
                self.curves[name].setData(series.x, series.y)
            if series.size:
                ends.append(float(series.x[-1]))
        self._title_memory()
        peaks = [float(self.series[n].y.max()) for n in ("rss", "footprint") if self.series[n].size]
        top = max([self._budget or 0.0, *peaks])
        if top > 0:
            self._grow("memory", self.memory.getPlotItem().setYRange, top, 1.12)  # room for the budget's label
        if ends:
            end = max(ends) if self._fitting else max(max(ends), 2.0)
            self._grow("time", self.memory.getPlotItem().setXRange, end, 1.5)
        for name, view in (("tps", self._tps_view), ("latency", self.latency.getPlotItem())):
            if self.series[name].size:
                self._grow(name, view.setYRange, float(self.series[name].y.max()), 1.3)
        if self.series["energy"].size:
            self._grow("energy", self.energy.getPlotItem().setYRange, float(self.series["energy"].y[-1]), 1.5)
