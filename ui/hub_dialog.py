"""File → Hugging Face…: find a GGUF model, see which file fits the phone, then download and use it.

Search, listing, header reads and the download run on a QThread (the network never blocks the
window); results arrive as signals. Predictions are for the phone picked in the sidebar; the
best file (the most precise that fits) is marked. A download can be cancelled, and resumes
where it stopped when started again (huggingface_hub keeps the partial file in its cache).
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from PySide6.QtCore import Qt, QThread, Signal, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from profiler.errors import ProfilerError
from profiler.model.hub.client import Hub
from profiler.phone import advice as adv
from profiler.phone.profiles import Profile
from ui.runner import LIVE_THREADS

VERDICT_COLOURS = {"fits": "#1b7a2a", "tight": "#9a6a00", "killed": "#a11b1b", "unknown": "#666"}


class Cancelled(Exception):
    """The user stopped a download."""


class _Job(QThread):
    """One network call off the GUI thread."""

    sig_done = Signal(object)
    sig_failed = Signal(str)
    sig_progress = Signal(int, int)

    def __init__(self, work: Callable[[Callable[[int, int], None]], Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pocketprof-hub")
        LIVE_THREADS.add(self)
        self.work = work
        self.cancelled = False

    def progress(self, done: int, total: int) -> None:
        if self.cancelled:
            raise Cancelled("stopped")
        self.sig_progress.emit(done, total)

    def run(self) -> None:
        try:
            self.sig_done.emit(self.work(self.progress))
        except Cancelled:
            self.sig_failed.emit("download stopped; starting it again resumes it")
        except ProfilerError as exc:
            self.sig_failed.emit(str(exc))
        except Exception as exc:  # the window must survive anything the network does
            self.sig_failed.emit(f"{type(exc).__name__}: {exc}")


def _item(text: str, *, right: bool = False, bold: bool = False, colour: str | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if bold:
        font = QFont()
        font.setBold(True)
        item.setFont(font)
    if colour:
        item.setForeground(QColor(colour))
    return item


class HubDialog(QDialog):
    sig_use_model = Signal(str)  # a local path, downloaded

    REPO_HEADERS = ("repository", "downloads", "params", "best fit here")
    FILE_HEADERS = ("file", "type", "size MB", "footprint MB", "verdict", "decode tok/s", "prefill tok/s", "J/token")

    def __init__(self, profile: Callable[[], Profile], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hugging Face — will it fit before you download it?")
        self.resize(1180, 640)
        self.profile = profile
        self.job: _Job | None = None
        self.repos: list[adv.RepoAdvice] = []
        self.current: adv.RepoAdvice | None = None
        self.query = QLineEdit()
        self.query.setPlaceholderText("search GGUF models, e.g. qwen 1.5b")
        self.query.returnPressed.connect(self.search)
        self.low = self._size_box(0.0)
        self.high = self._size_box(0.0)
        self.sort = QComboBox()
        self.sort.addItems(["downloads", "recent", "trending"])
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        top = QHBoxLayout()
        for widget in (
            self.query,
            QLabel("size (B params)"),
            self.low,
            QLabel("to"),
            self.high,
            QLabel("by"),
            self.sort,
            self.search_button,
        ):
            top.addWidget(widget)
        self.repo_table = self._table(self.REPO_HEADERS)
        self.repo_table.itemSelectionChanged.connect(self.open_selected)
        self.file_table = self._table(self.FILE_HEADERS)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.repo_table)
        split.addWidget(self.file_table)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.download_button = QPushButton("Download and use")
        self.download_button.setEnabled(False)
        self.download_button.clicked.connect(self.download)
        self.cancel_button = QPushButton("Stop download")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.progress)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.download_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addLayout(bottom)
        self._say_phone()

    # -- building blocks -------------------------------------------------------------------
    @staticmethod
    def _size_box(value: float) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(0.0, 1000.0)
        box.setDecimals(1)
        box.setSpecialValueText("any")
        box.setValue(value)
        return box

    @staticmethod
    def _table(headers: tuple[str, ...]) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(list(headers))
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    def _say_phone(self) -> None:
        p = self.profile()
        self.status.setText(
            f"predictions for {p.name} (budget {p.app_memory_budget_mb or 0:,} MB); "
            "headers are read remotely, nothing is downloaded until you ask"
        )

    def _start(self, work: Callable[[Callable[[int, int], None]], Any], done: Callable[[Any], None]) -> bool:
        if self.job is not None and self.job.isRunning():
            return False
        job = _Job(work, self)
        job.sig_done.connect(done)
        job.sig_failed.connect(self._failed)
        job.sig_progress.connect(self._progressed)
        job.finished.connect(self._job_over)
        self.job = job
        self.search_button.setEnabled(False)
        job.start()
        return True

    # -- search --------------------------------------------------------------------------------
    @Slot()
    def search(self) -> None:
        text = self.query.text().strip()
        if not text:
            self.status.setText("type something to look for")
            return
        profile = self.profile()
        low, high = self.low.value() or None, self.high.value() or None
        sort = self.sort.currentText()
        self.repo_table.setRowCount(0)
        self.file_table.setRowCount(0)
        self.status.setText(f"searching for “{text}”…")
        self._start(
            lambda _p: adv.search_advice(
                Hub(), text, profile, limit=10, sort=sort, min_params_b=low, max_params_b=high
            ),
            self._show_repos,
        )

    @Slot(object)
    def _show_repos(self, found: list[adv.RepoAdvice]) -> None:
        self.repos = found
        self.repo_table.setRowCount(len(found))
        for row, a in enumerate(found):
            info = a.files[0].info if a.files and a.files[0].info else None
            params = f"{info.parameters / 1e9:.2f} B" if info else "?"
            if a.error:
                best = a.error
            elif a.best is None:
                best = "nothing fits"
            else:
                best = f"{a.best.file.quant or a.best.file.name} · {a.best.file.size_mb:,.0f} MB · fits"
            cells = (a.repo, f"{a.hit.downloads:,}" if a.hit else "?", params, best)
            for col, text in enumerate(cells):
                self.repo_table.setItem(row, col, _item(text, right=col in (1, 2)))
        self.repo_table.resizeColumnsToContents()
        self.status.setText(
            f"{len(found)} repositories; pick one to see every file on this phone"
            if found
            else "no GGUF repository matches"
        )

    # -- one repository ------------------------------------------------------------------------
    @Slot()
    def open_selected(self) -> None:
        rows = {i.row() for i in self.repo_table.selectedIndexes()}
        if not rows or (self.job is not None and self.job.isRunning()):
            return
        repo = self.repos[min(rows)].repo
        profile = self.profile()
        self.status.setText(f"reading the headers of {repo}'s files…")
        self._start(lambda _p: adv.repo_advice(Hub(), repo, profile), self.show_files)

    @Slot(object)
    def show_files(self, advice: adv.RepoAdvice) -> None:
        self.current = advice
        table = self.file_table
        table.setRowCount(len(advice.files))
        for row, f in enumerate(advice.files):
            best = advice.best is not None and f is advice.best
            name = (
                ("✓ " if best else "")
                + f.file.name
                + (f" (+{len(f.file.shards) - 1})" if len(f.file.shards) > 1 else "")
            )
            cells = [name, f.file.quant or "?", f"{f.file.size_mb:,.0f}"]
            if f.prediction is None:
                cells += ["—", "unreadable", f.error, "", ""]
            else:
                m, s, e = f.prediction.memory, f.prediction.speed, f.prediction.energy
                dec = (
                    "—"
                    if s.decode_tokens_per_s is None
                    else f"{s.decode_tokens_per_s:,.1f}"
                    + (f" ±{s.decode_error_pct:.0f}%" if s.decode_error_pct is not None else "")
                )
                if s.backend != self.profile().default_backend:  # say where it is not what the phone's apps use
                    dec += f" ({s.backend})"
                pre = "—" if s.prefill_tokens_per_s is None else f"{s.prefill_tokens_per_s:,.0f}"
                cells += [f"{m.total_mb:,.0f}", m.verdict, dec, pre, f"{e.j_per_token:.3f}" if e else "—"]
            for col, text in enumerate(cells):
                colour = VERDICT_COLOURS.get(f.verdict) if col == 4 else None
                table.setItem(row, col, _item(text, right=col in (2, 3, 5, 6, 7), bold=best, colour=colour))
        table.resizeColumnsToContents()
        if advice.best is not None:
            table.selectRow(advice.files.index(advice.best))
        self.download_button.setEnabled(bool(advice.files))
        best = advice.best.file.name if advice.best else "none fits this phone"
        self.status.setText(escape(f"hf://{advice.repo}: best here {best} (predicted: {self.profile().name})"))

    def selected_file(self) -> adv.FileAdvice | None:
        rows = {i.row() for i in self.file_table.selectedIndexes()}
        if self.current is None or not rows:
            return None
        return self.current.files[min(rows)]

    # -- download ------------------------------------------------------------------------------
    @Slot()
    def download(self) -> None:
        chosen, current = self.selected_file(), self.current
        if chosen is None or current is None:
            self.status.setText("pick a file first")
            return
        file, repo = chosen.file, current.repo
        self.progress.setRange(0, max(1, file.size))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.download_button.setEnabled(False)
        self.status.setText(f"downloading hf://{repo}/{file.name} into the Hugging Face cache…")
        self._start(lambda progress: str(Hub().download(repo, file, progress)), self._downloaded)

    @Slot()
    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancelled = True

    @Slot(int, int)
    def _progressed(self, done: int, total: int) -> None:
        if total:
            self.progress.setRange(0, total)
        self.progress.setValue(min(done, self.progress.maximum()))

    @Slot(object)
    def _downloaded(self, path: str) -> None:
        self.status.setText(f"downloaded: {escape(path)}")
        self.sig_use_model.emit(path)

    @Slot(str)
    def _failed(self, message: str) -> None:
        self.status.setText(f"<span style='color:#a11b1b'>{escape(message)}</span>")

    @Slot()
    def _job_over(self) -> None:
        self.search_button.setEnabled(True)
        self.download_button.setEnabled(self.current is not None and bool(self.current.files))
        self.cancel_button.setVisible(False)
        self.progress.setVisible(False)

    def closeEvent(self, event: Any) -> None:
        if self.job is not None and self.job.isRunning():
            self.job.cancelled = True
            self.job.wait(30_000)
        super().closeEvent(event)
