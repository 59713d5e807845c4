"""Ctrl-C, a plain ``kill`` or a closed terminal asks the work under way to stop (it keeps what it
measured) instead of killing the process with nothing written."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")  # SIGHUP does not exist on Windows


@dataclass
class Caught:
    signum: int | None = None

    def exit_code(self, default: int) -> int:
        """128 + the signal's number (the shell's convention: 130, 143, 129) once one stopped the work."""
        return 128 + self.signum if self.signum is not None else default


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[Caught]:
    """While inside, SIGINT, SIGTERM and SIGHUP call ``stop``; the previous handlers are back on the way out."""
    caught = Caught()

    def handler(signum: int, frame: Any) -> None:
        if caught.signum is None:
            caught.signum = signum
        stop()

    previous = {}
    for name in SIGNALS:
        number = getattr(signal, name, None)
        if number is not None and (name != "SIGHUP" or sys.platform != "win32"):
            previous[number] = signal.signal(number, handler)
    try:
        yield caught
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
