"""The Compare view and File → Export, driven from the window with real runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt

from profiler.report import history
from ui.main_window import MainWindow

pytestmark = pytest.mark.model


@pytest.fixture
def window(qtbot):
    win = MainWindow(discover=False)
    qtbot.addWidget(win)
    win.sidebar.select(model="smollm2-135m", profile="host")
    win.sidebar.max_tokens.setValue(8)
    return win


def test_compare_the_two_default_models_in_the_app(qtbot, window, tmp_path: Path):
    view = window.open_compare()
    qtbot.addWidget(view)
    view.cool_down.setValue(0.3)
    models = [view.models.item(i).data(Qt.ItemDataRole.UserRole) for i in range(view.models.count())]
    assert models[:2] == ["smollm2-135m", "gemma3-270m"]
    with qtbot.waitSignal(view.sig_finished, timeout=300_000) as done:
        assert view.start()
        assert not view.start()  # a second comparison while one runs is refused
    reports = done.args[0]
    assert [r["model"]["file_name"].lower()[:5] for r in reports] == ["smoll", "gemma"]
    assert all(r["status"] == "completed" for r in reports)
    first_end = reports[0]["started_at"]
    assert first_end <= reports[1]["started_at"]  # one after the other
    assert len(view.columns) == 2 and all(c.token_count > 0 for c in view.columns)
    assert view.table.columnCount() == 3 and view.table.rowCount() >= 8
    assert any("✓" in (view.table.item(r, c).text()) for r in range(view.table.rowCount()) for c in (1, 2))
    assert [len(curves) for curves in view.charts.curves] == [2, 2]  # host profile: no phone energy line
    # a past run joins the comparison
    view.add_run_id(history.list_runs()[-1]["run_id"])
    assert len(view.reports) == 3 and view.table.columnCount() == 4
    out = tmp_path / "comparison.html"
    view.export_to(str(out))
    assert out.read_text(encoding="utf-8").count("<svg") == 3


def test_file_export_writes_the_shown_run(qtbot, window, tmp_path: Path):
    with qtbot.waitSignal(window.controller.sig_finished, timeout=120_000):
        window.start_run()
    html = window.export_to(tmp_path / "run.html")
    assert html == [tmp_path / "run.html"] and "<svg" in html[0].read_text(encoding="utf-8")
    written = window.export_to(tmp_path / "run.csv")
    assert {p.name.split("-")[-1] for p in written} == {"samples.csv", "tokens.csv"}
    bench = window.export_to(tmp_path / "bench.json")
    assert json.loads(bench[0].read_text())[0]["model_n_params"] == window.last_report["model"]["parameters"]


def test_the_ladder_view_runs_and_shows_the_table_and_chart(qtbot, window, tmp_path: Path):
    view = window.open_ladder()
    qtbot.addWidget(view)
    for i in range(view.quants.count()):
        item = view.quants.item(i)
        item.setCheckState(Qt.CheckState.Checked if item.text() in ("F16", "Q4_K_M") else Qt.CheckState.Unchecked)
    with qtbot.waitSignal(view.sig_finished, timeout=300_000) as done:
        assert view.start(tmp_path / "ladder", max_tokens=8, quality_tokens=64)
        assert not view.start()  # one ladder at a time
    result = done.args[0]
    assert [e["quant"] for e in result["entries"]] == ["F16", "Q4_K_M"]
    assert view.table.rowCount() == 2 and view.table.item(0, 0).text() == "F16"
    assert view.table.item(0, 0).font().bold()  # the best quantization that fits is marked
    assert len(view.chart.getPlotItem().listDataItems()) == 2
    assert "Best quantization that fits: F16" in view.state.text()
    qtbot.waitUntil(lambda: view.thread_ is None)


def test_runs_never_overlap_across_windows(qtbot, window):
    from ui import runner
    from ui.main_window import ELSEWHERE

    view = window.open_compare()
    qtbot.addWidget(view)
    assert runner.claim(view)  # as the Compare window does for its whole series
    try:
        assert window.start_run() is False
        assert window.banner.text() == ELSEWHERE
        assert not window.controller.running
    finally:
        runner.release(view)
    assert runner.holder() is None


def test_the_ladder_view_picks_its_own_model_and_phone(qtbot, window):
    view = window.open_ladder()
    qtbot.addWidget(view)
    assert view.model_combo.currentData() == "smollm2-135m" and view.profile_combo.currentData() == "host"
    view.model_combo.setCurrentIndex(view.model_combo.findData("gemma3-270m"))
    view.profile_combo.setCurrentIndex(view.profile_combo.findData("pixel-8"))
    assert view.model_combo.currentData() == "gemma3-270m" and view.profile_combo.currentData() == "pixel-8"
    assert view.model_combo.count() >= 2 and view.profile_combo.count() >= 11


def test_the_compare_charts_draw_the_series_models_energy(qtbot):
    from profiler import series
    from ui.compare_view import CompareCharts

    report = json.loads((Path(__file__).parent / "data" / "schema1-iphone-16.json").read_text())
    charts = CompareCharts()
    qtbot.addWidget(charts)
    charts.show_run(0, "phone", report)
    (memory, latency, energy) = charts.curves[0]
    xs, ys = energy.getData()
    expected = series.report_energy(report)
    assert list(xs) == pytest.approx([x for x, _ in expected]) and list(ys) == pytest.approx([y for _, y in expected])
    assert len(memory.getData()[0]) == len(report["samples"]) and len(latency.getData()[0]) == len(report["tokens"])
