"""Starting the desktop app: check for a display, make the QApplication, show the window."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Sequence

# What Qt's X11 plugin (libqxcb) loads, and the Debian/Ubuntu package of each: a missing
# one makes Qt abort with a page of text, so we name them first, in one line.
XCB_LIBS = {  # soname: package. Loading each (what Qt will do anyway) is ~1 ms; find_library ran ldconfig per name.
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
}


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_packages() -> list[str]:
    return [package for soname, package in XCB_LIBS.items() if not _loads(soname)]


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


def main(
    argv: Sequence[str] | None = None, *, model: str | None = None, profile: str | None = None, run: bool = False
) -> int:
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(list(argv or ["pocketprof"]))
    app.setApplicationName("pocketprof")
    app.setOrganizationName("pocketprof")
    window = MainWindow()
    window.sidebar.select(model=model, profile=profile)
    window.show()
    caught: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        # a plain kill or a closed terminal: close as the user would (the run is stopped and kept)
        if not caught:
            caught.append(signum)
            QTimer.singleShot(0, window.close)
            QTimer.singleShot(0, app.quit)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), on_signal)
    ticker = QTimer()  # Python runs signal handlers only when it gets control: give it some
    ticker.timeout.connect(lambda: None)
    ticker.start(200)
    if run:
        QTimer.singleShot(0, window.start_run)
    code = int(app.exec())
    return 128 + caught[0] if caught else code
