"""The banner (how a run ended) and the summary card (its key figures)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QWidget

from profiler.report import describe

BANNER_STYLES = {
    "killed": "background:#fde2e1; color:#8b1a1a; border:1px solid #e6a5a3;",
    "error": "background:#fde2e1; color:#8b1a1a; border:1px solid #e6a5a3;",
    "stopped": "background:#fff4d6; color:#6b4d00; border:1px solid #ecd48a;",
    "completed": "background:#e3f4e1; color:#1f5c1a; border:1px solid #a9d5a3;",
    "info": "background:#e8eef8; color:#22344f; border:1px solid #b5c6e0;",
}


class Banner(QLabel):
    """A plain sentence in a coloured box; hidden until there is something to say."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.kind = ""
        self.hide()

    def say(self, kind: str, text: str) -> None:
        self.kind = kind
        self.setText(text)
        self.setStyleSheet(
            f"QLabel {{ {BANNER_STYLES.get(kind, BANNER_STYLES['info'])} padding:6px; border-radius:4px; }}"
        )
        self.show()

    def clear_banner(self) -> None:
        self.kind = ""
        self.setText("")
        self.hide()


class SummaryCard(QFrame):
    """TTFT, prefill and decode tokens/s, p95 latency, peak footprint, J/token, battery per 1k tokens."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("summary")
        self.setStyleSheet("#summary { background:#fafafa; border:1px solid #ddd; border-radius:4px; }")
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(10, 6, 10, 6)
        self._grid.setHorizontalSpacing(18)
        self._grid.setVerticalSpacing(2)
        self.values: dict[str, QLabel] = {}
        for i, (label, value) in enumerate(describe.summary_items({})):
            name = QLabel(label)
            name.setStyleSheet("color:#666; font-size:9pt;")
            shown = QLabel(value)
            shown.setStyleSheet("font-size:12pt; font-weight:600;")
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            row, column = 2 * (i // 4), i % 4  # four figures a row, each a label over its value
            self._grid.addWidget(name, row, column)
            self._grid.addWidget(shown, row + 1, column)
            self.values[label] = shown

    def show_report(self, report: Mapping[str, Any]) -> None:
        for label, value in describe.summary_items(report):
            self.values[label].setText(value)

    def clear_card(self) -> None:
        self.show_report({})
