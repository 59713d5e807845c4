"""The Ladder view: one model at many precisions on one phone, the whole trade-off in one place.

The engine's Ladder runs on a QThread; its progress reaches the progress bar through a
signal. The result is a table (the best quantization that fits is highlighted) and a
chart of quality loss against peak footprint with the phone's budget as a vertical line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from profiler import paths
from profiler.ladder import Ladder, LadderConfig
from profiler.model.quantize import QUANTS
from profiler.report.ladder_html import COLUMNS, cell_text
from profiler.report.svgchart import PALETTE
from ui.runner import JobThread, claim, release
from ui.tool_window import ToolWindow

DEFAULT = ("F16", "Q8_0", "Q4_K_M", "Q2_K")


class _LadderThread(JobThread):
    sig_progress = Signal(str, str, float)

    def __init__(self, config: LadderConfig, parent: QWidget | None = None) -> None:
        super().__init__("pocketprof-ladder", parent)
        self.ladder = Ladder(config, on_progress=lambda s, q, f: self.sig_progress.emit(s, q, f))

    def work(self) -> dict[str, Any]:
        return self.ladder.run()

    def halt(self) -> None:
        self.ladder.stop()  # kills a quantizer or scorer child at once, a run within seconds


class LadderWindow(ToolWindow):
    NOUN = "Ladder"

    def __init__(
        self,
        models: list[tuple[str, str]],
        profiles: list[tuple[str, str]],
        *,
        model: str,
        profile: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("quantization ladder", models, profiles, model=model, profile=profile, parent=parent)
        self.result: dict[str, Any] | None = None
        self.quants = QListWidget()
        self.quants.setFlow(QListWidget.Flow.LeftToRight)
        self.quants.setMaximumHeight(38)
        for name in QUANTS:
            item = QListWidgetItem(name)
            item.setCheckState(Qt.CheckState.Checked if name in DEFAULT else Qt.CheckState.Unchecked)
            self.quants.addItem(item)
        self.run_button = QPushButton("▶  Run ladder")
        self.stop_button = QPushButton("■  Stop")
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.state = QLabel("Pick a model, a phone and the quantizations, then run. Quantized files are cached.")
        self.state.setWordWrap(True)
        self.table = QTableWidget()
        self.chart = pg.PlotWidget(background="w")
        item = self.chart.getPlotItem()
        item.setTitle("Quality loss against memory (right of the red line: killed)", color="#333", size="10pt")
        item.setLabel("bottom", "peak footprint (MB)")
        item.setLabel("left", "KL divergence vs the reference")
        item.showGrid(x=True, y=True, alpha=0.15)
        item.addLegend(offset=(-10, 10), labelTextColor="#333")
        pick_row = QHBoxLayout()
        for label, combo in (("Model", self.model_combo), ("on", self.profile_combo)):
            pick_row.addWidget(QLabel(label))
            pick_row.addWidget(combo, 1)
        top = QHBoxLayout()
        top.addWidget(self.quants, 1)
        top.addWidget(self.run_button)
        top.addWidget(self.stop_button)
        body = QHBoxLayout()
        body.addWidget(self.table, 3)
        body.addWidget(self.chart, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(pick_row)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.state)
        layout.addLayout(body, 1)
        self.run_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)

    def checked(self) -> list[str]:
        return [
            self.quants.item(i).text()
            for i in range(self.quants.count())
            if self.quants.item(i).checkState() == Qt.CheckState.Checked
        ]

    @Slot()
    def start(self, out: Path | None = None, *, max_tokens: int = 32, quality_tokens: int = 512) -> bool:
        if self.thread_ is not None:
            return False
        if not claim(self):
            self.state.setText("Another window is running a model: runs never overlap, so wait or stop it there.")
            return False
        quants = sorted(self.checked(), key=lambda n: -QUANTS[n][1])
        if len(quants) < 2:
            release(self)
            self.state.setText("Pick at least two quantizations.")
            return False
        model, profile = str(self.model_combo.currentData()), str(self.profile_combo.currentData())
        folder = out or paths.home() / "ladders" / f"{Path(model).stem}-{profile}"
        config = LadderConfig(
            model=model,
            profile=profile,
            quants=tuple(quants),
            out=folder,
            max_tokens=max_tokens,
            quality_tokens=quality_tokens,
        )
        thread = _LadderThread(config, self)
        thread.sig_progress.connect(self._on_progress)
        self.launch(thread)
        return True

    @Slot(str, str, float)
    def _on_progress(self, stage: str, quant: str, fraction: float) -> None:
        self.state.setText(f"{stage} {quant}…")
        self.progress.setValue(int(fraction * 1000))

    @Slot(object)
    def _on_done(self, result: dict[str, Any]) -> None:
        self.result = result
        self.show_result(result)
        best = result.get("best_fitting_quant")
        tail = "" if result.get("complete") else " (stopped: the finished members are kept)"
        self.state.setText(
            f"Best quantization that fits: {best or 'none'}{tail}. Saved in {self.thread_.ladder.config.out}"
            if self.thread_
            else ""
        )
        self.sig_finished.emit(result)

    def show_result(self, result: dict[str, Any]) -> None:
        entries = result.get("entries", [])
        best = result.get("best_fitting_quant")
        self.table.clear()
        self.table.setColumnCount(len(COLUMNS))
        self.table.setRowCount(len(entries))
        self.table.setHorizontalHeaderLabels([label for _, label, _ in COLUMNS])
        bold = QFont()
        bold.setBold(True)
        for r, entry in enumerate(entries):
            for c, (key, _, fmt) in enumerate(COLUMNS):
                item = QTableWidgetItem(cell_text(entry, key, fmt))
                if entry["quant"] == best:
                    item.setFont(bold)
                    item.setBackground(QColor("#e3f4e1"))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        plot = self.chart.getPlotItem()
        plot.clear()
        plot.legend.clear()
        for i, entry in enumerate(entries):
            if entry.get("peak_footprint_mb") is None or entry.get("kl_divergence") is None:
                continue
            color = PALETTE[i % len(PALETTE)]
            plot.plot(
                [entry["peak_footprint_mb"]],
                [entry["kl_divergence"]],
                pen=None,
                symbol="o",
                symbolSize=12,
                symbolBrush=color,
                name=entry["quant"],
            )
        budget = result.get("profile", {}).get("app_memory_budget_mb")
        peaks = [e["peak_footprint_mb"] for e in entries if e.get("peak_footprint_mb") is not None]
        if peaks:  # the budget line stays in view, however far it is from the points
            plot.setXRange(0, max([*peaks, float(budget or 0)]) * 1.1, padding=0)
        if budget:
            plot.addItem(
                pg.InfiniteLine(
                    pos=budget,
                    angle=90,
                    pen=pg.mkPen("#c44e52", width=2),
                    label=f"budget {budget:,} MB",
                    labelOpts={"color": "#c44e52"},
                )
            )
