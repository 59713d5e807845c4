"""The main window: pick a model and a phone, run, and watch memory, latency and energy live."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from profiler import paths
from profiler.errors import ProfilerError
from profiler.phone import HOW_PREDICTIONS_WORK
from profiler.record import RunRecord, Token
from profiler.report import describe, exports, history
from profiler.run.config import RunConfig
from profiler.series import rate_from_report
from ui.bench_view import BenchWindow
from ui.charts import Charts
from ui.compare_view import CompareWindow
from ui.history_panel import HistoryPanel
from ui.hub_dialog import HubDialog
from ui.ladder_view import LadderWindow
from ui.output import OutputView
from ui.runner import RunController, RunInfo
from ui.sidebar import Sidebar
from ui.summary import Banner, SummaryCard

TITLE = "pocketprof"
REFUSED = "A run is already going: stop it (Esc) before starting another."
ELSEWHERE = "The Compare or Ladder window is running a model: runs never overlap, so wait or stop it there."


def settings_store() -> QSettings:
    """The window's own settings file, beside the history (POCKETPROF_HOME moves both)."""
    return QSettings(str(paths.home() / "gui.ini"), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, *, discover: bool = True) -> None:
        super().__init__()
        self.settings = settings or settings_store()
        self.setWindowTitle(f"{TITLE} — what will this model do on that phone?")
        self.controller = RunController(self)
        self.sidebar = Sidebar(self.settings)
        self.history = HistoryPanel()
        self.prompt = QPlainTextEdit(RunConfig.prompt)
        self.prompt.setPlaceholderText("Prompt")
        self.prompt.setMaximumHeight(110)
        self.run_button = QPushButton("▶  Run  (Ctrl+Enter)")
        self.stop_button = QPushButton("■  Stop  (Esc)")
        self.run_button.setStyleSheet("font-weight:600; padding:5px 14px;")
        self.stop_button.setEnabled(False)
        self.state = QLabel("ready")
        self.state.setStyleSheet("color:#555;")
        # the status can be a sentence long (why the host is being measured): it takes the room the row has,
        # clipped, with the whole of it as a tooltip, and never widens the window past the screen
        self.state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.banner = Banner()
        self.output = OutputView()
        self.summary = SummaryCard()
        self.charts = Charts()
        self.limits_label = QLabel("")
        self.live_label = QLabel("")
        self._target_tps: float | None = None
        self.error_dialog: QMessageBox | None = None
        self.compare_window: CompareWindow | None = None
        self.ladder_windows: list[LadderWindow] = []
        self.hub_dialog: HubDialog | None = None
        self.last_report: dict[str, Any] | None = None
        self._gpu = ""
        self._build()
        self._actions()
        self._connect()
        self.history.refresh()
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)  # type: ignore[arg-type]
        else:
            self.resize(1560, 940)
        self.prompt.setPlainText(str(self.settings.value("prompt", RunConfig.prompt)))
        if discover:
            self.sidebar.start_discovery()

    # -- layout --------------------------------------------------------------------
    def _build(self) -> None:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.sidebar)
        left = QTabWidget()
        left.addTab(scroll, "Setup")
        left.addTab(self.history, "History")
        self.left_tabs = left
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.state, 1)
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(4, 0, 4, 0)
        column.addWidget(QLabel("Prompt"))
        column.addWidget(self.prompt)
        column.addLayout(buttons)
        column.addWidget(self.banner)
        column.addWidget(self.output, 1)
        right = QWidget()
        stack = QVBoxLayout(right)
        stack.setContentsMargins(0, 0, 0, 0)
        stack.addWidget(self.summary)
        stack.addWidget(self.charts, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (left, centre, right):
            splitter.addWidget(widget)
        splitter.setSizes([400, 500, 660])
        splitter.setStretchFactor(2, 1)
        self.setCentralWidget(splitter)
        self.limits_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addWidget(self.limits_label, 1)
        self.statusBar().addPermanentWidget(self.live_label)

    def _actions(self) -> None:
        self.run_action = QAction("&Run", self)
        self.run_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.run_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.run_action.triggered.connect(self.start_run)
        self.stop_action = QAction("&Stop", self)
        self.stop_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.stop_action.triggered.connect(self.stop_run)
        open_action = QAction("&Open GGUF…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self.sidebar.open_model_dialog)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))  # StandardKey.Quit has no keys on Windows
        quit_action.triggered.connect(self.close)
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(open_action)
        hub_action = QAction("&Hugging Face…", self)
        hub_action.setShortcut(QKeySequence("Ctrl+H"))
        hub_action.triggered.connect(self.open_hub)
        file_menu.addAction(hub_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        export_action = QAction("&Export this run…", self)
        export_action.setShortcut(QKeySequence("Ctrl+E"))
        export_action.triggered.connect(self.export_dialog)
        file_menu.insertAction(quit_action, export_action)
        file_menu.insertSeparator(quit_action)
        run_menu = menu.addMenu("&Run")
        run_menu.addAction(self.run_action)
        run_menu.addAction(self.stop_action)
        run_menu.addSeparator()
        compare_action = QAction("&Compare models or phones…", self)
        compare_action.setShortcut(QKeySequence("Ctrl+Shift+C"))
        compare_action.triggered.connect(self.open_compare)
        run_menu.addAction(compare_action)
        ladder_action = QAction("Quantization &ladder…", self)
        ladder_action.setShortcut(QKeySequence("Ctrl+Shift+L"))
        ladder_action.triggered.connect(self.open_ladder)
        run_menu.addAction(ladder_action)
        bench_action = QAction("&Bench: threads…", self)
        bench_action.setShortcut(QKeySequence("Ctrl+Shift+B"))
        bench_action.triggered.connect(self.open_bench)
        run_menu.addAction(bench_action)
        help_menu = menu.addMenu("&Help")
        self.about_predictions = QAction("How &predictions are made…", self)
        self.about_predictions.triggered.connect(self.show_how_predictions_work)
        help_menu.addAction(self.about_predictions)
        self.addAction(self.run_action)
        self.addAction(self.stop_action)

    @Slot()
    def open_hub(self) -> HubDialog:
        if self.hub_dialog is None:
            self.hub_dialog = HubDialog(self.sidebar.profile, self)
            self.hub_dialog.sig_use_model.connect(self.sidebar.add_model_path)
        self.hub_dialog.show()
        self.hub_dialog.raise_()
        return self.hub_dialog

    @Slot(str)
    def _on_status(self, text: str) -> None:
        self.state.setText(text)
        self.state.setToolTip(text)

    @Slot()
    def show_how_predictions_work(self) -> None:
        QMessageBox.information(self, "How predictions are made", HOW_PREDICTIONS_WORK)

    def _connect(self) -> None:
        c = self.controller
        self.run_button.clicked.connect(self.start_run)
        self.stop_button.clicked.connect(self.stop_run)
        c.sig_started.connect(self._on_started)
        c.sig_status.connect(self._on_status)
        c.sig_limits.connect(self._on_limits)
        c.sig_samples.connect(self._on_samples)
        c.sig_tokens.connect(self._on_tokens)
        c.sig_finished.connect(self._on_finished)
        c.sig_failed.connect(self._on_failed)
        self.history.sig_open.connect(self.open_run)
        self.history.sig_error.connect(self.statusBar().showMessage)
        self.sidebar.sig_model_error.connect(self.show_error)

    # -- running -------------------------------------------------------------------
    @Slot()
    def start_run(self) -> bool:
        """Start a run with the current choices; refused (with a message) while one is going."""
        config = self.sidebar.config(self.prompt.toPlainText())
        if not self.controller.start(config):  # events arrive later, on this thread: the reset below comes first
            refused = REFUSED if self.controller.running else ELSEWHERE
            self.banner.say("info", refused)
            self.statusBar().showMessage(refused, 5000)
            return False
        self.sidebar.save()
        self.settings.setValue("prompt", config.prompt)
        self.output.reset(config.prompt)
        self.banner.clear_banner()
        self.summary.clear_card()
        self.charts.reset(budget_mb=None, dram_mb=None, energy=None)
        self.limits_label.setText("")
        self.live_label.setText("")
        self._target_tps = None
        self._gpu = ""
        self.last_report = None
        self.state.setText("starting…")
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        return True

    @Slot()
    def stop_run(self) -> None:
        if self.controller.running:
            self.state.setText("stopping…")
            self.controller.stop()

    @Slot(object)
    def _on_started(self, info: RunInfo) -> None:
        self.charts.reset(budget_mb=info.budget_mb, dram_mb=info.dram_mb, energy=info.energy)
        self._target_tps = info.target_tps
        self.setWindowTitle(f"{TITLE} — {info.model_name} on {info.profile_name}")

    @Slot(object)
    def _on_limits(self, limits: dict[str, Any]) -> None:
        self.limits_label.setText(describe.limits_line({k: asdict(v) for k, v in limits.items()}))

    @Slot(list)
    def _on_samples(self, samples: list[Any]) -> None:
        self.charts.add_samples(samples)
        last = samples[-1]
        self._gpu = describe.gpu_line(last.gpu_mem_mb, last.gpu_power_w)
        self._show_live()

    def _show_live(self) -> None:
        """Right of the status bar: the phone's target speed, the speed now, and NVML's GPU figures."""
        parts = []
        if self._target_tps is not None:
            parts.append(f"target {self._target_tps:,.1f} tok/s")
        now = self.charts.rolling_tps
        if now is not None:
            parts.append(f"now {now:,.1f} tok/s")
        if self._gpu:
            parts.append(self._gpu)
        self.live_label.setText(" · ".join(parts))

    @Slot(list)
    def _on_tokens(self, tokens: list[Any]) -> None:
        self.charts.add_tokens(tokens)
        self.output.add_tokens(tokens)
        self.state.setText(f"generating · {self.output.token_count:,} tokens")

    @Slot(object)
    def _on_finished(self, record: RunRecord) -> None:
        report = record.to_dict()
        self._show_finished(report)
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.history.refresh()
        if report.get("history_error"):
            self.statusBar().showMessage(report["history_error"], 10000)
        if report["status"] == "error":
            self.show_error(report.get("error") or "the run failed")

    def _show_finished(self, report: dict[str, Any]) -> None:
        self.last_report = report
        self.summary.show_report(report)
        self.banner.say(report["status"], describe.outcome(report))
        if report.get("kill"):
            self.charts.mark_kill(report["kill"])
        self.charts.fit()
        parts = [describe.limits_line(report.get("limits", {})), describe.speed_line(report), self._gpu]
        self.limits_label.setText("   |   ".join(p for p in parts if p))
        self.live_label.setText("")
        self.state.setText(report["status"])

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.state.setText("could not start")
        self.banner.say("error", message)
        self.show_error(message)

    @Slot(str)
    def show_error(self, message: str) -> None:
        """A non-blocking error dialog; the window stays usable behind it."""
        if self.error_dialog is not None:
            self.error_dialog.close()
        dialog = QMessageBox(QMessageBox.Icon.Warning, TITLE, message, QMessageBox.StandardButton.Ok, self)
        dialog.setWindowModality(Qt.WindowModality.NonModal)
        dialog.show()
        self.error_dialog = dialog

    # -- history -------------------------------------------------------------------
    @Slot(str)
    def open_run(self, run_id: str) -> None:
        """Show a past run as it ended: output, charts, summary."""
        if self.controller.running:
            self.statusBar().showMessage("A run is going: open past runs when it has finished.", 5000)
            return
        try:
            report = history.load(run_id)
        except Exception as exc:
            self.show_error(f"history: cannot open run {run_id}: {exc}")
            return
        self.output.reset(report.get("config", {}).get("prompt", ""))
        self.output.add_tokens(Token(**t) for t in report.get("tokens", []))
        self.charts.show_report(report, rate_from_report(report))
        self._gpu = ""
        self._show_finished(report)
        model, profile = report.get("model", {}), report.get("profile", {})
        self.setWindowTitle(f"{TITLE} — {model.get('name', '?')} on {profile.get('name', '?')} ({run_id})")

    # -- export and compare -------------------------------------------------------------
    @Slot()
    def export_dialog(self) -> None:
        if self.last_report is None:
            self.statusBar().showMessage("Nothing to export: run a model, or open a past run, first.", 5000)
            return
        kinds = "HTML report (*.html);;PDF report (*.pdf);;CSV files (*.csv);;llama-bench JSON (*.json)"
        name = f"pocketprof-{self.last_report['run_id']}.html"
        path, kind = QFileDialog.getSaveFileName(self, "Export this run", name, kinds)
        if path:
            self.export_to(Path(path), kind)

    def export_to(self, path: Path, kind: str = "") -> list[Path]:
        """Write the shown run: .html, .pdf, .csv (samples and tokens beside it) or llama-bench .json."""
        assert self.last_report is not None
        # the file's suffix decides; without one, the filter the user picked in the dialog does
        option = (
            exports.option_for(path)
            if path.suffix
            else {"CSV": "csv", "PDF": "pdf", "lla": "llama_bench_json"}.get(kind[:3], "html")
        )
        target = path.with_suffix("") if option == "csv" else path  # CSV: a folder for samples and tokens
        try:
            written = exports.export([self.last_report], **{option: target})
        except ProfilerError as exc:
            self.show_error(str(exc))
            return []
        self.statusBar().showMessage("Wrote " + ", ".join(str(p) for p in written), 8000)
        return written

    @Slot()
    def open_compare(self) -> CompareWindow:
        if self.compare_window is None:
            models, profiles = self.sidebar.choices()
            self.compare_window = CompareWindow(
                models, profiles, lambda: self.sidebar.config(self.prompt.toPlainText())
            )
            self.compare_window.controller.sig_finished.connect(lambda _record: self.history.refresh())
        self.compare_window.show()
        self.compare_window.raise_()
        return self.compare_window

    @Slot()
    def open_ladder(self) -> LadderWindow:
        """The ladder of the chosen model on the chosen phone."""
        models, profiles = self.sidebar.choices()
        window = LadderWindow(models, profiles, model=self.sidebar.model_name(), profile=self.sidebar.profile().id)
        window.sig_finished.connect(lambda _result: self.history.refresh())
        self.ladder_windows.append(window)
        window.show()
        return window

    def open_bench(self) -> BenchWindow:
        """A thread sweep of the chosen model on the chosen phone, its predicted curve first."""
        models, profiles = self.sidebar.choices()
        window = BenchWindow(models, profiles, model=self.sidebar.model_name(), profile=self.sidebar.profile().id)
        window.sig_finished.connect(lambda _results: self.history.refresh())
        self.ladder_windows.append(window)  # closed with the main window, as the ladders are
        window.show()
        return window

    # -- closing -------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing kills the child at once; the window remembers its size and choices."""
        self.controller.shutdown()
        if self.compare_window is not None:
            self.compare_window.close()
        for window in self.ladder_windows:
            window.close()
        if self.hub_dialog is not None:
            self.hub_dialog.close()
        self.sidebar.save()
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("prompt", self.prompt.toPlainText())
        self.settings.sync()
        if self.error_dialog is not None:
            self.error_dialog.close()
        super().closeEvent(event)
