"""Ctrl-C asks the work under way to stop (it keeps what it measured) instead of raising."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def stop_on_ctrl_c(stop: Callable[[], None]) -> Iterator[None]:
    """While inside, SIGINT calls ``stop``; the previous handler is back on the way out."""

    def handler(signum: int, frame: Any) -> None:
        stop()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
