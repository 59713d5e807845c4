"""The app, sent SIGTERM or SIGHUP mid-run (a plain kill, a closed terminal), closes as the user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from profiler.report import history
from profiler.run import leftovers
from tests.conftest import start_cli

pytestmark = [pytest.mark.model, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals")]


def _loaded_worker(app: subprocess.Popen[bytes], timeout_s: float = 60) -> psutil.Process:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and app.poll() is None:
        for child in psutil.Process(app.pid).children(recursive=True):
            try:
                if "profiler.run.worker" in " ".join(child.cmdline()) and any(
                    m.path.endswith(".gguf") for m in child.memory_maps()
                ):
                    return child
            except psutil.Error:
                continue
        time.sleep(0.05)
    raise AssertionError("the app's run never reached the model load")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_mid_run_stops_and_keeps_the_run_and_leaves_nothing(signum: int, code: int):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    command = ["gui", "--model", "smollm2-135m", "--profile", "host", "--run"]
    app = start_cli(*command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    worker = _loaded_worker(app)
    time.sleep(0.3)
    app.send_signal(signum)
    _, stderr = app.communicate(timeout=60)
    assert app.returncode == code, stderr.decode()[-2000:]
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
    runs = history.list_runs()
    assert len(runs) == 1 and runs[0]["status"] == "stopped", runs  # stopped mid-run, and kept
    assert leftovers.of(app.pid) == []
