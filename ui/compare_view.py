"""The Compare view: several models (or phones) on one prompt, one after another, side by side.

Runs never overlap (that would spoil the timings): each starts after the previous one
has ended and a short cool-down. Each output streams in its own column, the charts
overlay the runs in distinct colours, and a table shows every summary metric with its
difference against the first run, the better value marked. Past runs from the history
can join the comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from html import escape
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from profiler import series
from profiler.errors import ProfilerError
from profiler.record import Token
from profiler.report import compare, exports, history
from profiler.report.svgchart import PALETTE
from profiler.run.config import RunConfig
from profiler.sweep import Sweep
from ui.output import OutputView
from ui.runner import RunController, claim, release


def _checklist(items: list[tuple[str, str]], checked: set[str]) -> QListWidget:
    widget = QListWidget()
    for text, data in items:
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, data)
        item.setCheckState(Qt.CheckState.Checked if data in checked else Qt.CheckState.Unchecked)
        widget.addItem(item)
    widget.setMaximumHeight(120)
    return widget


def _checked(widget: QListWidget) -> list[str]:
    return [
        str(widget.item(i).data(Qt.ItemDataRole.UserRole))
        for i in range(widget.count())
        if widget.item(i).checkState() == Qt.CheckState.Checked
    ]


class CompareCharts(QWidget):
    """Footprint, latency and phone energy of every run, overlaid, one colour per run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plots = []
        for title, unit in (("Memory footprint", "MB"), ("Per-token latency", "ms"), ("Phone energy", "J")):
            plot = pg.PlotWidget(background="w")
            plot.getPlotItem().setTitle(title, color="#333", size="10pt")
            plot.getPlotItem().setLabel("left", unit)
            plot.getPlotItem().showGrid(x=True, y=True, alpha=0.15)
            plot.getPlotItem().addLegend(offset=(8, 4), labelTextColor="#333")
            if self.plots:
                plot.setXLink(self.plots[0])
            layout.addWidget(plot)
            self.plots.append(plot)
        self.plots[-1].getPlotItem().setLabel("bottom", "time since start (s)")
        self.curves: list[list[Any]] = []

    def clear(self) -> None:
        for plot in self.plots:
            plot.getPlotItem().clear()
            plot.getPlotItem().legend.clear()
        self.curves = []

    def show_run(self, index: int, label: str, report: dict[str, Any]) -> None:
        color = PALETTE[index % len(PALETTE)]
        footprint = series.xs_ys(series.points(report.get("samples"), "t", "footprint_mb"))
        latency = series.xs_ys(series.points(report.get("tokens"), "t", "latency_ms"))
        joules = series.report_energy(report)
        mem, lat, energy = (plot.getPlotItem() for plot in self.plots)
        curves = [
            mem.plot(*footprint, pen=pg.mkPen(color, width=2), name=label),
            lat.plot(
                *latency,
                pen=None,
                symbol="o",
                symbolSize=4,
                symbolBrush=color,
                symbolPen=None,
                name=label,
            ),
        ]
        if joules:
            curves.append(energy.plot(*series.xs_ys(joules), pen=pg.mkPen(color, width=2), name=label))
        budget = (report.get("limits", {}).get("memory_budget") or {}).get("value")
        if budget is not None:
            mem.addItem(pg.InfiniteLine(pos=budget, angle=0, pen=pg.mkPen(color, style=Qt.PenStyle.DashLine)))
        if report.get("kill"):
            mem.addItem(pg.InfiniteLine(pos=report["kill"]["at_s"], angle=90, pen=pg.mkPen("#d62728", width=2)))
        self.curves.append(curves)


class CompareWindow(QWidget):
    """A top-level window; the main window keeps one and opens it from Run → Compare."""

    sig_finished = Signal(list)  # the reports, when a comparison run ends

    def __init__(
        self,
        models: list[tuple[str, str]],
        profiles: list[tuple[str, str]],
        settings: Callable[[], RunConfig],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("pocketprof — compare")
        self.resize(1500, 950)
        self.settings = settings
        self.controller = RunController(self, owner=self)
        self.reports: list[dict[str, Any]] = []
        self.sweep = Sweep([])
        self.columns: list[OutputView] = []
        first = settings()
        self.models = _checklist(models, {models[0][1], models[1][1]} if len(models) > 1 else set())
        self.profiles = _checklist(profiles, {first.profile})
        self.cool_down = QDoubleSpinBox()
        self.cool_down.setRange(0.0, 60.0)
        self.cool_down.setValue(2.0)
        self.cool_down.setSuffix(" s cool-down")
        self.run_button = QPushButton("▶  Run comparison")
        self.stop_button = QPushButton("■  Stop")
        self.stop_button.setEnabled(False)
        self.add_button = QPushButton("Add past run…")
        self.export_button = QPushButton("Export…")
        self.state = QLabel(
            "Pick two or more models (or one model and several phones); the prompt and settings are the main window's."
        )
        self.state.setWordWrap(True)
        self.table = QTableWidget()
        self.charts = CompareCharts()
        self._build()
        self.run_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.add_button.clicked.connect(self.add_past_run)
        self.export_button.clicked.connect(self.export_dialog)
        self.controller.sig_tokens.connect(self._on_tokens)
        self.controller.sig_finished.connect(self._on_finished)
        self.controller.sig_failed.connect(self._on_failed)

    def _build(self) -> None:
        picks = QHBoxLayout()
        for title, widget in (("Models", self.models), ("Phones", self.profiles)):
            box = QVBoxLayout()
            box.addWidget(QLabel(title))
            box.addWidget(widget)
            picks.addLayout(box, 1)
        buttons = QVBoxLayout()
        for widget in (self.run_button, self.stop_button, self.cool_down, self.add_button, self.export_button):
            buttons.addWidget(widget)
        picks.addLayout(buttons)
        self.column_area = QHBoxLayout()
        columns = QWidget()
        columns.setLayout(self.column_area)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(columns)
        left.addWidget(self.table)
        left.setSizes([520, 400])
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(left)
        body.addWidget(self.charts)
        body.setSizes([800, 700])
        layout = QVBoxLayout(self)
        layout.addLayout(picks)
        layout.addWidget(self.state)
        layout.addWidget(body, 1)

    # -- running -------------------------------------------------------------------
    @Slot()
    def start(self) -> bool:
        if self.controller.running or (self.sweep.pending and not self.sweep.stopped):
            self.state.setText("A comparison is already running: stop it before starting another.")
            return False
        base = self.settings()
        models, profiles = _checked(self.models), _checked(self.profiles)
        pairs = [(m, p) for m in models for p in profiles]
        if len(pairs) + len(self.reports) < 2:
            self.state.setText("Pick at least two models, or one model and two phones.")
            return False
        if not claim(self):
            self.state.setText("Another window is running a model: runs never overlap, so wait or stop it there.")
            return False
        self.sweep = Sweep([replace(base, model=m, profile=p) for m, p in pairs], cool_down_s=self.cool_down.value())
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self._next()
        return True

    def _next(self) -> None:
        config = self.sweep.next_config()
        if config is None:
            release(self)
            self.run_button.setEnabled(True)
            self.stop_button.setEnabled(False)
            self.state.setText(f"Done: {len(self.reports)} runs compared.")
            self.sig_finished.emit(list(self.reports))
            return
        self._add_column(f"{config.model} · {config.profile}", config.prompt)
        self.state.setText(f"Running {config.model} on {config.profile} ({len(self.sweep.pending)} more to go)…")
        self.controller.start(config)

    @Slot()
    def stop(self) -> None:
        self.sweep.stop()
        self.controller.stop()

    def _add_column(self, title: str, prompt: str) -> OutputView:
        index = len(self.columns)
        box = QVBoxLayout()
        head = QLabel(f"<span style='color:{PALETTE[index % len(PALETTE)]}'>■</span> {escape(title)}")
        head.setTextFormat(Qt.TextFormat.RichText)
        view = OutputView()
        view.reset(prompt)
        box.addWidget(head)
        box.addWidget(view, 1)
        self.column_area.addLayout(box, 1)
        self.columns.append(view)
        return view

    @Slot(list)
    def _on_tokens(self, tokens: list[Any]) -> None:
        if self.columns:
            self.columns[-1].add_tokens(tokens)

    @Slot(object)
    def _on_finished(self, record: Any) -> None:
        self.sweep.finished(record)
        self._add_report(record.to_dict())
        if self.sweep.pending and not self.sweep.stopped:
            QTimer.singleShot(int(self.sweep.cool_down_s * 1000), self._next)
        else:
            self._next()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.sweep.stop()
        release(self)
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.state.setText(f"Could not start: {message}")

    def _add_report(self, report: dict[str, Any]) -> None:
        self.reports.append(report)
        self.charts.show_run(len(self.reports) - 1, compare.label(report), report)
        self.refresh_table()

    # -- past runs, table, export ----------------------------------------------------
    @Slot()
    def add_past_run(self) -> None:
        runs = history.list_runs(limit=200)
        if not runs:
            self.state.setText("The history is empty.")
            return
        names = [
            f"{r['started_at'][:19]} · {r['model']} · {r['profile']} · {r['status']} · {r['run_id']}" for r in runs
        ]
        choice, ok = QInputDialog.getItem(self, "Add a past run", "Run", names, 0, False)
        if ok:
            self.add_run_id(runs[names.index(choice)]["run_id"])

    def add_run_id(self, run_id: str) -> None:
        report = history.load(run_id)
        view = self._add_column(compare.label(report) + " (history)", report.get("config", {}).get("prompt", ""))
        view.add_tokens(Token(**t) for t in report.get("tokens", []))
        self._add_report(report)

    def refresh_table(self) -> None:
        rows = compare.table(self.reports)
        self.table.clear()
        self.table.setColumnCount(len(self.reports) + 1)
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels(
            ["metric", *[f"[{i + 1}] {compare.label(r)}" for i, r in enumerate(self.reports)]]
        )
        bold = QFont()
        bold.setBold(True)
        for r, row in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(f"{row.metric.label} ({row.metric.unit})"))
            for i, value in enumerate(row.values):
                delta = compare.fmt_delta(row, i)
                item = QTableWidgetItem(
                    compare.fmt_value(row, value) + (f"  {delta}" if delta else "") + ("  ✓" if row.best == i else "")
                )
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if row.best == i:
                    item.setFont(bold)
                    item.setForeground(QColor("#1f7a1f"))
                self.table.setItem(r, i + 1, item)
        self.table.resizeColumnsToContents()

    @Slot()
    def export_dialog(self) -> None:
        if len(self.reports) < 1:
            self.state.setText("Nothing to export yet.")
            return
        path, _kind = QFileDialog.getSaveFileName(
            self, "Export the comparison", "comparison.html", "HTML (*.html);;PDF (*.pdf);;CSV (*.csv)"
        )
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> None:
        try:
            exports.export(self.reports, **{exports.option_for(Path(path)): Path(path)})
        except ProfilerError as exc:
            self.state.setText(str(exc))
            return
        self.state.setText(f"Wrote {path}")

    def closeEvent(self, event: Any) -> None:
        self.sweep.stop()
        self.controller.shutdown()
        release(self)
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        super().closeEvent(event)
