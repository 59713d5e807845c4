"""The model and phone pickers the tool windows (ladder, bench) open with."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox


def combo(items: list[tuple[str, str]], chosen: str) -> QComboBox:
    """A combo box of (label, id) items with ``chosen`` selected (the first if it is not there)."""
    box = QComboBox()
    for text, data in items:
        box.addItem(text, data)
    box.setCurrentIndex(max(0, box.findData(chosen)))
    return box
