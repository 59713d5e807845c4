"""Shared fixtures: an isolated data directory, and a guard against leftovers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from profiler.model import models

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # GUI tests draw off screen, display or not


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of measured host speeds for the whole session (calibration runs once per model)."""
    return tmp_path_factory.mktemp("pocketprof-cache")


@pytest.fixture(autouse=True)
def pocketprof_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_cache: Path) -> Path:
    home = tmp_path / "pocketprof-home"
    monkeypatch.setenv("POCKETPROF_HOME", str(home))
    monkeypatch.setenv("POCKETPROF_CACHE", str(shared_cache))
    return home


def _running_qthread(thread: object) -> str | None:
    """The QThread's name if it still runs; None once it stopped or Qt deleted it."""
    try:
        return thread.objectName() if thread.isRunning() else None  # type: ignore[attr-defined]
    except RuntimeError:  # "Internal C++ object already deleted": finished and gone
        return None


@pytest.fixture(autouse=True)
def no_leftovers():
    """Fail a test that leaves a child process or one of our threads running."""
    yield
    me = psutil.Process()
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        children = [c for c in me.children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]
        threads = [t for t in threading.enumerate() if t.name.startswith("pocketprof-") and t.is_alive()]
        runner = sys.modules.get("ui.runner")  # the app's QThreads, where a test used the app
        if runner is not None:
            threads += [name for t in list(runner.LIVE_THREADS) if (name := _running_qthread(t))]
        if not children and not threads:
            return
        time.sleep(0.05)
    for child in children:
        child.kill()
    names = [getattr(t, "name", t) for t in threads]
    pytest.fail(f"test left running: processes {[c.pid for c in children]}, threads {names}")


@pytest.fixture(scope="session")
def smollm2() -> Path:
    return models.resolve("smollm2-135m")


@pytest.fixture(scope="session")
def gemma3() -> Path:
    return models.resolve("gemma3-270m")


def start_cli(*args: str, **kwargs: object) -> subprocess.Popen:  # type: ignore[type-arg]
    """Start the real ``pocketprof`` command and return at once (to signal or kill it mid-run)."""
    return subprocess.Popen([sys.executable, "-m", "profiler.cli", *args], cwd=ROOT, **kwargs)  # type: ignore[call-overload]


def run_cli(*args: str, timeout: float = 300, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the real ``pocketprof`` command in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "profiler.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def window(qtbot):  # type: ignore[no-untyped-def]
    """The app's main window, shown (the GUI tests' common start; a test file may define its own)."""
    from ui.main_window import MainWindow

    win = MainWindow(discover=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win
