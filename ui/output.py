"""The streamed output, each token tinted by its latency: slow moments show in the text.

The tint is quiet on purpose: a token at up to 1.5× the run's median latency is left
plain; slower ones get a warmer background, full strength at 6× the median. Hovering a
token shows its index and latency.
"""

from __future__ import annotations

import bisect
import statistics
from collections import deque
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QToolTip

CALM_RATIO = 1.5
HOT_RATIO = 6.0
HEAT_RGB = (255, 120, 40)
RECENT = 64


def heat_alpha(latency_ms: float, median_ms: float) -> int:
    """0 (plain) to 150 (hot): how strongly to tint a token of this latency."""
    if median_ms <= 0 or latency_ms <= CALM_RATIO * median_ms:
        return 0
    share = (latency_ms / median_ms - CALM_RATIO) / (HOT_RATIO - CALM_RATIO)
    return int(40 + 110 * min(1.0, share))


class OutputView(QPlainTextEdit):
    """Read-only text that grows by batches of tokens."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setPlaceholderText("The model's output streams here. Tokens that took long are tinted.")
        font = QFont()
        font.setPointSize(11)
        self.setFont(font)
        self.setMouseTracking(True)
        self.viewport().installEventFilter(self)
        self._starts: list[int] = []  # character offset where each token starts
        self._latencies: list[float] = []
        self._recent: deque[float] = deque(maxlen=RECENT)  # the decode latencies the median is taken over

    def reset(self, prompt: str = "") -> None:
        self.clear()
        self._starts, self._latencies = [], []
        self._recent.clear()
        if prompt:
            fmt = QTextCharFormat()
            fmt.setForeground(QColor("#777"))
            cursor = self.textCursor()
            cursor.insertText(prompt.strip() + "\n\n", fmt)

    def _median(self) -> float:
        return statistics.median(self._recent) if self._recent else 0.0

    def add_tokens(self, tokens: Iterable[Any]) -> None:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        at_bottom = self.verticalScrollBar().value() >= self.verticalScrollBar().maximum() - 4
        for token in tokens:
            if token.index > 0:  # the first token's latency includes the prompt: not a decode step
                self._recent.append(token.latency_ms)
            fmt = QTextCharFormat()
            alpha = heat_alpha(token.latency_ms, self._median()) if token.index > 0 else 0
            if alpha:
                fmt.setBackground(QColor(*HEAT_RGB, alpha))
            self._starts.append(cursor.position())
            self._latencies.append(token.latency_ms)
            cursor.insertText(token.text, fmt)
        if at_bottom:
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    @property
    def token_count(self) -> int:
        return len(self._starts)

    def token_at(self, position: int) -> int | None:
        """The index of the token covering a character position, if any."""
        i = bisect.bisect_right(self._starts, position) - 1
        return i if i >= 0 else None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.viewport() and event.type() == QEvent.Type.ToolTip:
            position = self.cursorForPosition(event.pos()).position()  # type: ignore[attr-defined]
            index = self.token_at(position)
            if index is not None and index < len(self._latencies):
                what = "first token (includes the prompt)" if index == 0 else f"token {index:,}"
                QToolTip.showText(event.globalPos(), f"{what}: {self._latencies[index]:,.1f} ms")  # type: ignore[attr-defined]
            else:
                QToolTip.hideText()
            return True
        return super().eventFilter(watched, event)
