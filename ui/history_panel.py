"""Past runs, newest first; double-click (or Enter) reopens one with its charts."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from profiler.report import history

COLUMNS = ("started", "model", "profile", "status", "tok/s", "peak MB")


class HistoryPanel(QWidget):
    sig_open = Signal(str)  # run_id
    sig_error = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.itemActivated.connect(self._activated)
        self.open_button = QPushButton("Open run")
        self.open_button.clicked.connect(self._open_selected)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(refresh)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)

    @Slot()
    def refresh(self) -> None:
        try:
            rows = history.list_runs(limit=200)
        except Exception as exc:  # a locked or damaged database must not break the window
            self.sig_error.emit(f"history: {exc}")
            return
        for notice in history.NOTICES:  # a corrupt history was moved aside: say where it was kept
            self.sig_error.emit(notice)
        history.NOTICES.clear()
        self.tree.clear()
        for row in rows:
            tps = row["decode_tokens_per_s"]
            peak = row["peak_footprint_mb"]
            item = QTreeWidgetItem(
                [
                    row["started_at"].replace("T", " ")[:19],
                    " ".join(str(part) for part in (row["model"], row.get("quantization")) if part),
                    row["profile"],
                    row["status"],
                    f"{tps:,.1f}" if tps is not None else "—",
                    f"{peak:,.0f}" if peak is not None else "—",
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, row["run_id"])
            item.setToolTip(0, row["run_id"])
            self.tree.addTopLevelItem(item)
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)

    @property
    def run_ids(self) -> list[str]:
        return [
            str(self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole))
            for i in range(self.tree.topLevelItemCount())
        ]

    @Slot(QTreeWidgetItem, int)
    def _activated(self, item: QTreeWidgetItem, column: int) -> None:
        self.sig_open.emit(str(item.data(0, Qt.ItemDataRole.UserRole)))

    @Slot()
    def _open_selected(self) -> None:
        item = self.tree.currentItem()
        if item is not None:
            self.sig_open.emit(str(item.data(0, Qt.ItemDataRole.UserRole)))
