"""The desktop app, driven as a user would (pytest-qt, off screen) with the real model in a real child."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt

from profiler.phone import HOW_PREDICTIONS_WORK
from profiler.report import describe, history
from ui.main_window import REFUSED, MainWindow, settings_store

pytestmark = pytest.mark.model
RUN_TIMEOUT_MS = 180_000


def choose(win: MainWindow, *, model: str = "smollm2-135m", profile: str = "host", **settings: float) -> None:
    sidebar = win.sidebar
    sidebar.select(model=model, profile=profile)
    for name, value in settings.items():
        getattr(sidebar, name).setValue(value)


def finish(qtbot, win: MainWindow) -> dict:
    if win.controller.running:
        with qtbot.waitSignal(win.controller.sig_finished, timeout=RUN_TIMEOUT_MS):
            pass
    assert win.last_report is not None
    return win.last_report


def children() -> list[psutil.Process]:
    return [c for c in psutil.Process().children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]


def test_a_real_run_from_the_window_fills_charts_output_summary_and_history(qtbot, window):
    assert window.windowTitle().startswith("pocketprof")
    choose(window, profile="iphone-16", max_tokens=24)
    assert window.sidebar.fit_badge.property("verdict") == "fits"
    badge = window.sidebar.fit_badge
    assert "predicted" in badge.text() and "tok/s ±" in badge.text()  # a prediction says so, with its error
    tip = badge.toolTip()  # what applies to this prediction (an iPhone's Metal: no prefill), then how all are made
    assert tip.startswith("This prediction:") and "prefill not predicted" in tip and tip.endswith(HOW_PREDICTIONS_WORK)
    assert "model fitted to" in tip and "power model fitted to" in tip  # what the speed and energy are fitted to
    qtbot.mouseClick(window.run_button, Qt.MouseButton.LeftButton)
    # live: the charts get data while the child is still generating
    charted = lambda: window.charts.point_counts["latency"] >= 2 or not window.controller.running  # noqa: E731
    qtbot.waitUntil(charted, timeout=120_000)
    live = dict(window.charts.point_counts)
    report = finish(qtbot, window)
    assert report["status"] == "completed", report.get("error")
    assert live["footprint"] > 0 and live["latency"] >= 2, live
    counts = window.charts.point_counts
    tokens = report["summary"]["generated_tokens"]
    assert counts["latency"] == counts["energy"] == tokens == window.output.token_count
    assert counts["footprint"] >= 0.5 * len(report["samples"])
    assert report["output_text"] in window.output.toPlainText()
    assert window.summary.values["decode"].text().endswith("tok/s")
    assert " J (estimate ±" in window.summary.values["J/token"].text()
    assert window.banner.kind == "completed"
    assert "budget 3,328 MB by watchdog" in window.limits_label.text()
    assert "iPhone 16" in window.windowTitle()
    assert window.history.run_ids[0] == report["run_id"]
    assert history.load(report["run_id"])["status"] == "completed"
    assert report["limits"]["cores"]["note"].endswith("kept free for the app's window")


def test_ctrl_enter_runs_a_second_run_is_refused_and_esc_stops(qtbot, window):
    choose(window, max_tokens=4000, speed=0.3)
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.controller.running
    qtbot.waitUntil(lambda: window.output.token_count >= 3, timeout=120_000)
    assert window.start_run() is False
    assert window.banner.text() == REFUSED
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    report = finish(qtbot, window)
    assert report["status"] == "stopped"
    assert 3 <= report["summary"]["generated_tokens"] < 4000
    assert window.banner.kind == "stopped"
    assert window.run_button.isEnabled() and not window.stop_button.isEnabled()


def test_a_tiny_budget_kill_shows_the_banner_and_a_red_marker(qtbot, window):
    choose(window, budget=40)
    window.start_run()
    report = finish(qtbot, window)
    assert report["status"] == "killed"
    assert window.banner.kind == "killed"
    assert window.banner.text().startswith("Killed by the phone's memory limit at ")
    assert f"at {report['kill']['footprint_mb']:,.0f} MB" in window.banner.text()
    assert window.banner.text() == describe.outcome(report)
    assert len(window.charts._kill_items) == 4  # a line on each of the three plots and the point
    assert window.summary.values["peak footprint"].text() != "—"


def test_a_broken_model_file_shows_an_error_dialog_and_the_window_stays_usable(qtbot, window, tmp_path: Path):
    bad = tmp_path / "not a model ü.gguf"
    bad.write_text("this is a text file, not GGUF\n")
    window.sidebar.add_model_path(str(bad))
    assert window.error_dialog is not None and window.error_dialog.isVisible()
    assert str(bad.name) in window.error_dialog.text()
    assert "\n" not in window.error_dialog.text()
    window.error_dialog.close()
    window.start_run()
    with qtbot.waitSignal(window.controller.sig_failed, timeout=60_000):
        pass
    qtbot.waitUntil(lambda: not window.controller.running)
    assert window.error_dialog.isVisible()
    assert window.banner.kind == "error"
    choose(window, max_tokens=8)
    window.start_run()
    assert finish(qtbot, window)["status"] == "completed"


def test_closing_the_window_during_a_run_kills_the_child(qtbot):
    win = MainWindow(discover=False)
    win.show()
    choose(win, max_tokens=4000, speed=0.3)
    win.start_run()
    qtbot.waitUntil(lambda: win.output.token_count >= 2, timeout=120_000)
    assert children(), "the run's child should be alive"
    win.close()
    assert not win.controller.running
    qtbot.waitUntil(lambda: not children(), timeout=5_000)
    win.deleteLater()


def test_a_past_run_reopens_from_the_history_with_its_charts(qtbot, window):
    choose(window, max_tokens=16)
    window.start_run()
    report = finish(qtbot, window)
    other = MainWindow(discover=False)
    qtbot.addWidget(other)
    assert other.history.run_ids == [report["run_id"]]
    other.open_run(report["run_id"])
    assert other.charts.point_counts["latency"] == report["summary"]["generated_tokens"]
    assert other.output.token_count == report["summary"]["generated_tokens"]
    assert report["output_text"] in other.output.toPlainText()
    assert other.summary.values["decode"].text() == window.summary.values["decode"].text()
    assert report["run_id"] in other.windowTitle()


def test_the_window_remembers_its_size_and_last_choices(qtbot):
    first = MainWindow(discover=False)
    qtbot.addWidget(first)
    first.resize(701, 503)  # the offscreen screen is 800 × 600: restoreGeometry keeps windows on it
    choose(first, model="gemma3-270m", profile="pixel-8", max_tokens=77)
    first.prompt.setPlainText("remember me")
    first.close()
    second = MainWindow(discover=False)
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (701, 503)
    assert second.sidebar.profile().id == "pixel-8"
    assert second.sidebar.model_name() == "gemma3-270m"
    assert second.sidebar.max_tokens.value() == 77
    assert second.prompt.toPlainText() == "remember me"
    assert Path(settings_store().fileName()).is_file()


def test_the_gui_command_without_a_display_says_so_in_one_line(monkeypatch):
    from tests.conftest import run_cli

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = run_cli("gui", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot open a window: no display")
    assert len(result.stderr.strip().splitlines()) == 1
    fallback = run_cli("gui", "--headless-fallback", "--profile", "host", env=env)
    assert fallback.returncode == 0, fallback.stderr
    assert "running a headless profile instead" in fallback.stderr
    assert "decode" in fallback.stdout


def test_models_in_the_usual_folders_and_recent_files_are_offered(qtbot, monkeypatch, tmp_path: Path, smollm2: Path):
    snapshot = tmp_path / "hub" / "models--HuggingFaceTB--SmolLM2-135M-GGUF" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "smollm2.Q4_1.gguf").symlink_to(smollm2)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    win = MainWindow(discover=True)
    qtbot.addWidget(win)
    combo = win.sidebar.model_combo
    labels = lambda: [combo.itemText(i) for i in range(combo.count())]  # noqa: E731
    qtbot.waitUntil(lambda: any("(Hugging Face cache, " in text for text in labels()), timeout=10_000)
    found = next(text for text in labels() if "(Hugging Face cache, " in text)
    assert "HuggingFaceTB/SmolLM2-135M-GGUF" in found and found.endswith("(Hugging Face cache, 94 MB)")
    mine = tmp_path / "my models" / "copy ü.gguf"
    mine.parent.mkdir()
    mine.symlink_to(smollm2)
    win.sidebar.add_model_path(str(mine))
    assert "134.5 M params · Q4_1" in win.sidebar.model_label.text()
    win.close()
    again = MainWindow(discover=False)
    qtbot.addWidget(again)
    assert again.sidebar.model_name() == str(mine)
    assert "copy ü.gguf (recent)" in [
        again.sidebar.model_combo.itemText(i) for i in range(again.sidebar.model_combo.count())
    ]


def test_nvml_gpu_figures_reach_the_status_line(qtbot, window, monkeypatch):
    """The GPU is the one thing faked (none here): its readings must show beside the limits."""
    import sys

    from tests.test_gpu import fake_nvml

    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml())
    choose(window, max_tokens=8)
    window.start_run()
    report = finish(qtbot, window)
    assert report["status"] == "completed"
    assert "GPU 0 MB · 78 W" in window.limits_label.text()  # the child holds no GPU memory; the board draws 78 W


def test_a_missing_x11_library_is_named_with_its_package(monkeypatch):
    from ui import app

    monkeypatch.setattr(app, "XCB_LIBS", {"libnot-there.so.9": "libnot-there9", "libc.so.6": "libc6"})
    monkeypatch.setattr(app.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    assert app.display_problem() == (
        "Qt's X11 plugin needs libraries that are not installed (apt-get install libnot-there9)"
    )
