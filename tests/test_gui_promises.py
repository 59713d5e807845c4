"""README promises of the app that had no test: token tint, fit badges, shortcuts, double-click to reopen
a run, and one model compared on several phones (real runs in the real child for the last two)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QFileDialog

from profiler.phone import predict, profiles
from profiler.record import Token
from ui.main_window import MainWindow
from ui.output import HEAT_RGB, OutputView

RUN_TIMEOUT_MS = 300_000


def _background_alpha(view: OutputView, index: int) -> int:
    """The alpha of the tint behind token ``index`` (0: no tint)."""
    cursor = QTextCursor(view.document())
    cursor.setPosition(view._starts[index] + 1)  # the format of the character just inside the token
    brush = cursor.charFormat().background()
    if brush.style() == Qt.BrushStyle.NoBrush:
        return 0
    color = brush.color()
    assert (color.red(), color.green(), color.blue()) == HEAT_RGB
    return color.alpha()


def test_slow_tokens_are_tinted_by_how_slow_and_calm_ones_are_not(qtbot):
    view = OutputView()
    qtbot.addWidget(view)
    steady = [Token(index=i, t=i * 0.02, text=f" w{i}", latency_ms=20.0) for i in range(1, 21)]
    tokens = [
        Token(index=0, t=0.0, text="First", latency_ms=900.0),  # includes the prompt: never tinted
        *steady,
        Token(index=21, t=0.6, text=" stall", latency_ms=200.0),  # 10× the median: full tint
        Token(index=22, t=0.7, text=" slow", latency_ms=50.0),  # 2.5×: a light tint
        Token(index=23, t=0.8, text=" fine", latency_ms=28.0),  # 1.4×: within the calm band
    ]
    view.add_tokens(tokens)
    assert view.token_count == len(tokens)
    alphas = [_background_alpha(view, i) for i in range(len(tokens))]
    assert alphas[0] == 0 and set(alphas[1:21]) == {0}
    assert alphas[21] == 150
    assert 40 < alphas[22] < 150
    assert alphas[23] == 0
    assert view.toPlainText() == "".join(t.text for t in tokens)


def test_the_fit_badge_says_fits_tight_or_killed_from_the_prediction(window):
    sidebar = window.sidebar
    sidebar.select(model="smollm2-135m", profile="iphone-16")
    assert sidebar.model_info is not None
    total = predict.predict(profiles.load_profile("iphone-16"), model=sidebar.model_info, ctx=sidebar.ctx.value())
    need = total.memory.total_mb
    cases = [(0, "fits", "FITS"), (round(need * 1.02) + 1, "tight", "TIGHT"), (round(need * 0.8), "killed", "WILL BE")]
    for budget, verdict, word in cases:  # 0: the phone's own budget (3,328 MB)
        sidebar.budget.setValue(budget)
        assert sidebar.fit_badge.property("verdict") == verdict, (budget, need)
        assert word in sidebar.fit_badge.text() and f"predicted {need:,.0f} MB" in sidebar.fit_badge.text()
    sidebar.budget.setValue(0)
    sidebar.select(profile="host")
    assert sidebar.fit_badge.property("verdict") is None and "no phone limits" in sidebar.fit_badge.text()
    sidebar.select(profile="iphone-16", model="gemma3-270m")
    assert sidebar.fit_badge.property("verdict") == "fits"
    assert f"predicted {need:,.0f} MB" not in sidebar.fit_badge.text()  # the other model's own prediction


def test_each_menu_shortcut_does_what_its_menu_says(qtbot, window, monkeypatch, smollm2: Path):
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window, Qt.Key.Key_C, ctrl | shift)
    assert window.compare_window is not None and window.compare_window.isVisible()
    window.compare_window.close()
    qtbot.keyClick(window, Qt.Key.Key_L, ctrl | shift)
    assert len(window.ladder_windows) == 1 and window.ladder_windows[0].isVisible()
    qtbot.keyClick(window, Qt.Key.Key_B, ctrl | shift)
    assert len(window.ladder_windows) == 2 and type(window.ladder_windows[1]).__name__ == "BenchWindow"
    for tool in window.ladder_windows:
        tool.close()
    qtbot.keyClick(window, Qt.Key.Key_H, ctrl)
    assert window.hub_dialog is not None and window.hub_dialog.isVisible()
    window.hub_dialog.close()
    copy = Path(window.sidebar.settings.fileName()).parent / "picked.gguf"
    copy.symlink_to(smollm2)  # a file of its own name, without copying 100 MB
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(copy), ""))  # the OS dialog, answered
    qtbot.keyClick(window, Qt.Key.Key_O, ctrl)
    assert window.sidebar.model_name() == str(copy)
    qtbot.keyClick(window, Qt.Key.Key_E, ctrl)  # nothing run yet: says so, opens no dialog
    assert window.statusBar().currentMessage().startswith("Nothing to export")
    qtbot.keyClick(window, Qt.Key.Key_Q, ctrl)
    assert not window.isVisible()


@pytest.mark.model
def test_double_clicking_a_past_run_reopens_it(qtbot, window):
    window.sidebar.select(model="smollm2-135m", profile="host")
    window.sidebar.max_tokens.setValue(12)
    with qtbot.waitSignal(window.controller.sig_finished, timeout=RUN_TIMEOUT_MS):
        window.start_run()
    report = window.last_report
    other = MainWindow(discover=False)
    qtbot.addWidget(other)
    other.show()
    qtbot.waitExposed(other)
    tree = other.history.tree
    item = tree.topLevelItem(0)
    assert item.data(0, Qt.ItemDataRole.UserRole) == report["run_id"]
    assert other.output.token_count == 0
    where = tree.visualItemRect(item).center()
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert other.output.token_count == report["summary"]["generated_tokens"]
    assert report["run_id"] in other.windowTitle()
    assert other.summary.values["decode"].text() == window.summary.values["decode"].text()


def _start(report: dict) -> float:
    return datetime.fromisoformat(report["started_at"]).timestamp()


@pytest.mark.model
def test_one_model_on_several_phones_runs_each_in_turn_and_compares_them(qtbot, window):
    window.sidebar.select(model="smollm2-135m", profile="host")
    window.sidebar.max_tokens.setValue(8)
    view = window.open_compare()
    qtbot.addWidget(view)
    view.cool_down.setValue(0.2)
    phones = ["iphone-16", "budget-4gb"]
    for i in range(view.models.count()):
        item = view.models.item(i)
        wanted = item.data(Qt.ItemDataRole.UserRole) == "smollm2-135m"
        item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)
    for i in range(view.profiles.count()):
        item = view.profiles.item(i)
        wanted = item.data(Qt.ItemDataRole.UserRole) in phones
        item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)
    with qtbot.waitSignal(view.sig_finished, timeout=RUN_TIMEOUT_MS) as done:
        assert view.start()
    reports = done.args[0]
    assert sorted(r["profile"]["id"] for r in reports) == sorted(phones)
    assert {r["model"]["file_name"] for r in reports} == {reports[0]["model"]["file_name"]}
    assert all(r["status"] == "completed" for r in reports)
    budgets = {r["profile"]["id"]: r["limits"]["memory_budget"]["value"] for r in reports}
    assert budgets == {p: profiles.load_profile(p).app_memory_budget_mb for p in phones}
    first, second = reports
    assert _start(second) >= _start(first) + first["summary"]["wall_time_s"] - 0.002  # in turn, never together
    titles = [view.table.horizontalHeaderItem(c).text() for c in range(1, view.table.columnCount())]
    assert len(titles) == 2 and all(any(p in t or profiles.load_profile(p).name in t for p in phones) for t in titles)
    assert titles[0] != titles[1]
    assert len(view.columns) == 2 and all(c.token_count > 0 for c in view.columns)
