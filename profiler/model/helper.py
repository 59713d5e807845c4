"""A helper child (the quantizer, the quality scorer): run to its end in its own session, killed on stop.

Its own session, so a terminal's Ctrl-C reaches us, not it: stopping is ours to decide.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import IO

from profiler import paths


def run(
    module: str,
    args: list[str],
    out: IO[bytes],
    *,
    should_stop: Callable[[], bool] | None,
    stopped: str,
    on_tick: Callable[[], None] | None = None,
) -> int:
    """``python -m module args…`` with its output in ``out``; its exit code, or InterruptedError(stopped) on stop."""
    cmd = [sys.executable, "-m", module, *args]
    child = subprocess.Popen(cmd, stdout=out, stderr=out, env=paths.child_env(), start_new_session=True)
    try:
        while child.poll() is None:
            if should_stop is not None and should_stop():
                raise InterruptedError(stopped)
            if on_tick is not None:
                on_tick()
            time.sleep(0.1)
        return child.returncode
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
