"""The base of the tool windows (ladder, bench): a model and a phone picker, and one engine job at a time.

A subclass builds its widgets (``run_button``, ``stop_button``, ``state``, ``progress``), makes its
:class:`ui.runner.JobThread` and hands it to :meth:`ToolWindow.launch`; the base wires it, keeps
the window's claim on running models (runs never overlap across windows) and stops the job when
the window closes.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QWidget

from ui.runner import JobThread, release


def combo(items: list[tuple[str, str]], chosen: str) -> QComboBox:
    """A combo box of (label, id) items with ``chosen`` selected (the first if it is not there)."""
    box = QComboBox()
    for text, data in items:
        box.addItem(text, data)
    box.setCurrentIndex(max(0, box.findData(chosen)))
    return box


class ToolWindow(QWidget):
    sig_finished = Signal(object)
    NOUN = "job"  # "Ladder stopped: …"

    def __init__(
        self,
        title: str,
        models: list[tuple[str, str]],
        profiles: list[tuple[str, str]],
        *,
        model: str,
        profile: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"pocketprof — {title}")
        self.resize(1400, 860)
        self.model_combo, self.profile_combo = combo(models, model), combo(profiles, profile)
        self.thread_: Any = None  # the subclass's JobThread while one runs

    def launch(self, thread: JobThread) -> None:
        """Start a job the window has claimed (see ``ui.runner.claim``); its progress is the subclass's to wire."""
        self.thread_ = thread
        thread.sig_done.connect(self._on_done)
        thread.sig_failed.connect(self._on_failed)
        thread.finished.connect(self._on_thread_end)
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        thread.start()

    @Slot()
    def stop(self) -> None:
        if self.thread_ is not None:
            self.thread_.halt()

    def _on_done(self, result: Any) -> None:
        raise NotImplementedError

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.state.setText(f"{self.NOUN} stopped: {message}")

    @Slot()
    def _on_thread_end(self) -> None:
        if self.thread_ is not None:
            self.thread_.wait()
            self.thread_.deleteLater()
        self.thread_ = None
        release(self)
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    def closeEvent(self, event: Any) -> None:
        if self.thread_ is not None:
            self.thread_.halt()  # kills a child at once, a run within seconds
            self.thread_.wait()
            self.thread_ = None
        release(self)
        super().closeEvent(event)
