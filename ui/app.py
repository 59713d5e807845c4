"""Starting the desktop app: check for a display, make the QApplication, show the window."""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Sequence

# What Qt's X11 plugin (libqxcb) loads, and the Debian/Ubuntu package of each: a missing
# one makes Qt abort with a page of text, so we name them first, in one line.
XCB_LIBS = {
    "xcb-cursor": "libxcb-cursor0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xcb-image": "libxcb-image0",
    "xcb-render-util": "libxcb-render-util0",
    "xcb-xkb": "libxcb-xkb1",
    "xkbcommon-x11": "libxkbcommon-x11-0",
    "xcb-shape": "libxcb-shape0",
    "xcb-randr": "libxcb-randr0",
}


def missing_xcb_packages() -> list[str]:
    return [package for lib, package in XCB_LIBS.items() if ctypes.util.find_library(lib) is None]


def display_problem() -> str | None:
    """Why no window can open here, in one line; None when one can."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return None  # the user chose a platform (offscreen, wayland, xcb…)
    if not sys.platform.startswith("linux"):
        return None
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display ($DISPLAY and $WAYLAND_DISPLAY are unset)"
    missing = missing_xcb_packages() if not os.environ.get("WAYLAND_DISPLAY") else []
    if missing:
        return f"Qt's X11 plugin needs libraries that are not installed (apt-get install {' '.join(missing)})"
    return None


def main(argv: Sequence[str] | None = None, *, model: str | None = None, profile: str | None = None) -> int:
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(list(argv or ["pocketprof"]))
    app.setApplicationName("pocketprof")
    app.setOrganizationName("pocketprof")
    window = MainWindow()
    window.sidebar.select(model=model, profile=profile)
    window.show()
    return int(app.exec())
