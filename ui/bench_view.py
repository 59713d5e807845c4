"""The Bench view: a thread sweep of one model on one phone, with the phone's predicted curve.

The phone's predicted decode and prefill against threads (the fitted per-cluster model:
big cores first, the slowest used core setting the pace) show as soon as a model and a phone
are picked; a run adds what this host measures (or emulates, under a phone profile), every
point the mean ± sd of its repetitions, each repetition a profiled run in the history. The
best thread count and the cliff past it are marked on both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from profiler.bench import plan, runner, threads
from profiler.bench.html import COLORS
from profiler.bench.result import BenchResult
from profiler.errors import ProfilerError
from profiler.model import gguf_meta, models
from profiler.phone.profiles import load_profile
from profiler.run.limits import host_cores
from ui.runner import JobThread, claim
from ui.tool_window import ToolWindow


class _BenchThread(JobThread):
    sig_progress = Signal(str, float)

    def __init__(self, tests: list[plan.BenchTest], options: runner.Options, parent: QWidget | None = None) -> None:
        super().__init__("pocketprof-bench", parent)
        self.done = 0
        total = len(tests) * options.reps

        def progress(text: str) -> None:
            self.done += 1
            self.sig_progress.emit(text, (self.done - 1) / max(total, 1))

        self.bench = runner.Bench(tests, options, on_progress=progress)

    def work(self) -> list[BenchResult]:
        return self.bench.run()

    def halt(self) -> None:
        self.bench.stop()


class BenchWindow(ToolWindow):
    NOUN = "Bench"

    def __init__(
        self,
        model_choices: list[tuple[str, str]],
        profile_choices: list[tuple[str, str]],
        *,
        model: str,
        profile: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("bench: threads", model_choices, profile_choices, model=model, profile=profile, parent=parent)
        self.threads_edit = QLineEdit(f"1-{max(2, len(host_cores()))}")
        self.threads_edit.setToolTip("thread counts: 1,2,4 or a range 1-8 (llama-bench's -t)")
        self.prompt_spin, self.gen_spin, self.reps_spin = QSpinBox(), QSpinBox(), QSpinBox()
        for spin, low, high, value in ((self.prompt_spin, 1, 8192, 128), (self.gen_spin, 2, 4096, 64)):
            spin.setRange(low, high)
            spin.setValue(value)
        self.reps_spin.setRange(1, 50)
        self.reps_spin.setValue(3)
        self.run_button, self.stop_button = QPushButton("▶  Run sweep"), QPushButton("■  Stop")
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.table = QTableWidget()
        self.plots = {phase: pg.PlotWidget(background="w") for phase in ("decode", "prefill")}
        for phase, widget in self.plots.items():
            item = widget.getPlotItem()
            item.setTitle(f"{phase.capitalize()} against threads", color="#333", size="10pt")
            item.setLabel("bottom", "threads")
            item.setLabel("left", f"{phase} tokens/s")
            item.showGrid(x=True, y=True, alpha=0.15)
            item.addLegend(offset=(-10, 10), labelTextColor="#333")
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout()
        self.results: list[BenchResult] = []
        self.run_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.model_combo.currentIndexChanged.connect(self.refresh)
        self.profile_combo.currentIndexChanged.connect(self.refresh)
        self.prompt_spin.valueChanged.connect(self.refresh)
        self.refresh()

    def _layout(self) -> None:
        pick_row = QHBoxLayout()
        for label, widget in (
            ("Model", self.model_combo),
            ("on", self.profile_combo),
            ("threads", self.threads_edit),
            ("prompt tokens", self.prompt_spin),
            ("generated", self.gen_spin),
            ("repetitions", self.reps_spin),
        ):
            pick_row.addWidget(QLabel(label))
            pick_row.addWidget(widget, 2 if isinstance(widget, QComboBox) else 0)
        pick_row.addWidget(self.run_button)
        pick_row.addWidget(self.stop_button)
        charts = QHBoxLayout()
        charts.addWidget(self.plots["decode"], 1)
        charts.addWidget(self.plots["prefill"], 1)
        layout = QVBoxLayout(self)
        layout.addLayout(pick_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.state)
        layout.addLayout(charts, 3)
        layout.addWidget(self.notes)
        layout.addWidget(self.table, 2)

    # -- what to draw -----------------------------------------------------------------
    def predicted(self) -> list[threads.Curve]:
        try:
            profile = load_profile(str(self.profile_combo.currentData()))
            model = gguf_meta.read_metadata(models.resolve(str(self.model_combo.currentData())))
        except (ProfilerError, OSError):
            return []
        ctx = self.prompt_spin.value() + self.gen_spin.value() + runner.CTX_SPARE
        return threads.predicted(profile, model, ctx=ctx, prompt_tokens=self.prompt_spin.value())

    def curves(self) -> list[threads.Curve]:
        measured = [c for group in threads.groups(self.results) for c in threads.measured(group)]
        return measured + self.predicted()

    @Slot()
    def refresh(self) -> None:
        curves = self.curves()
        self.draw(curves)
        if not self.results:
            profile = str(self.profile_combo.currentData())
            self.state.setText(
                "The phone's predicted curve is drawn; run the sweep to add this host's."
                if any(c.kind == "predicted" for c in curves)
                else f"Run the sweep to measure this host ({profile} has no predicted thread curve)."
            )

    def draw(self, curves: list[threads.Curve]) -> None:
        for phase, widget in self.plots.items():
            item = widget.getPlotItem()
            item.clear()
            item.legend.clear()
            for curve in (c for c in curves if c.phase == phase):
                self._plot(item, curve)
        self._fill_table(curves)
        self.notes.setText("\n".join(c.summary() for c in curves))

    def _plot(self, item: Any, curve: threads.Curve) -> None:
        color = COLORS.get(curve.kind, "#777777")
        usable = curve.usable()
        style = Qt.PenStyle.DashLine if curve.kind == "predicted" else Qt.PenStyle.SolidLine
        if usable:
            item.plot(
                [p.threads for p in usable],
                [p.mean for p in usable],
                pen=pg.mkPen(color, width=2, style=style),
                symbol="o" if curve.kind != "predicted" else None,
                symbolBrush=color,
                name=curve.label,
            )
            error = pg.ErrorBarItem(
                x=np.array([float(p.threads) for p in usable]),
                y=np.array([p.mean for p in usable]),
                height=np.array([2 * p.sd for p in usable]),  # ± one standard deviation
                pen=pg.mkPen(color),
            )
            item.addItem(error)
        left_out = [p for p in curve.points if p not in usable]
        if left_out:
            item.plot(
                [p.threads for p in left_out],
                [p.mean for p in left_out],
                pen=None,
                symbol="x",
                symbolBrush="#999999",
                symbolPen="#999999",
                name=f"{curve.label}: {', '.join(sorted({p.note for p in left_out}))} (not the phone)",
            )
        best, cliff = curve.best(), curve.cliff()
        if best is not None and len(usable) > 1:
            item.addItem(pg.InfiniteLine(best.threads, 90, pg.mkPen(color, style=Qt.PenStyle.DotLine), label="best"))
        if cliff is not None:
            pen = pg.mkPen("#c44e52", width=2, style=Qt.PenStyle.DashLine)
            item.addItem(pg.InfiniteLine(cliff[1].threads, 90, pen, label="cliff", labelOpts={"color": "#c44e52"}))

    def _fill_table(self, curves: list[threads.Curve]) -> None:
        counts = sorted({p.threads for c in curves for p in c.points})
        self.table.clear()
        self.table.setRowCount(len(counts))
        self.table.setColumnCount(len(curves) + 1)
        self.table.setHorizontalHeaderLabels(["threads", *[c.label for c in curves]])
        bold = QFont()
        bold.setBold(True)
        for r, n in enumerate(counts):
            self.table.setItem(r, 0, QTableWidgetItem(str(n)))
            for c, curve in enumerate(curves, start=1):
                point = next((p for p in curve.points if p.threads == n), None)
                text = "—" if point is None else f"{point.mean:.1f}" + (f" ± {point.sd:.1f}" if point.sd else "")
                if point is not None and point.note:
                    text += f"  ({point.note})"
                cell = QTableWidgetItem(text)
                best = curve.best()
                if point is not None and best is not None and best.threads == n:
                    cell.setFont(bold)
                    cell.setBackground(QColor("#e3f4e1"))
                self.table.setItem(r, c, cell)
        self.table.resizeColumnsToContents()

    # -- running ------------------------------------------------------------------------
    def tests(self) -> list[plan.BenchTest]:
        counts = plan.parse_ints(self.threads_edit.text(), "threads", minimum=1)
        return plan.expand(
            [str(self.model_combo.currentData())],
            [str(self.profile_combo.currentData())],
            prompts=[self.prompt_spin.value()],
            gens=[self.gen_spin.value()],
            pairs=[],
            threads=list(counts),
            batches=[2048],
            ubatches=[512],
        )

    @Slot()
    def start(self) -> bool:
        if self.thread_ is not None:
            return False
        try:
            tests = self.tests()
        except ProfilerError as exc:
            self.state.setText(str(exc))
            return False
        if not claim(self):
            self.state.setText("Another window is running a model: runs never overlap, so wait or stop it there.")
            return False
        self.results = []
        options = runner.Options(reps=self.reps_spin.value(), reserve_cores=0)
        thread = _BenchThread(tests, options, self)
        thread.sig_progress.connect(self._on_progress)
        self.launch(thread)
        return True

    @Slot(str, float)
    def _on_progress(self, text: str, fraction: float) -> None:
        self.state.setText(text + "…")
        self.progress.setValue(int(fraction * 1000))

    @Slot(object)
    def _on_done(self, results: list[BenchResult]) -> None:
        self.results = results
        self.progress.setValue(1000)
        self.draw(self.curves())
        failed = [r for r in results if r.status != "completed"]
        text = f"{len(results)} tests, {self.reps_spin.value()} repetitions each; every run is in the history."
        if failed:
            text += f" {len(failed)} did not complete: {failed[0].test.name} {failed[0].status} ({failed[0].error})."
        self.state.setText(text)
        self.sig_finished.emit(results)
