"""Run → Bench: threads: the phone's predicted curve at once, then a real sweep beside it."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from profiler.report import history

TIMEOUT_MS = 300_000


def _curve_labels(bench, phase: str) -> list[str]:
    return [item.name() for item in bench.plots[phase].getPlotItem().listDataItems() if item.name()]


def test_the_predicted_curve_shows_before_any_run(qtbot, window) -> None:
    window.sidebar.select(model="smollm2-135m", profile="galaxy-s23")
    bench = window.open_bench()
    qtbot.addWidget(bench)
    labels = _curve_labels(bench, "decode")
    assert len(labels) == 1 and labels[0].startswith("decode, predicted Samsung Galaxy S23 (±")
    assert "cliff at 6 threads" in bench.notes.text() and "lands on a cortex-a510 core" in bench.notes.text()
    assert bench.table.rowCount() == 8  # one row per phone core count
    bench.profile_combo.setCurrentIndex(bench.profile_combo.findData("host"))
    assert _curve_labels(bench, "decode") == [] and "no predicted thread curve" in bench.state.text()
    bench.close()


@pytest.mark.model
def test_a_sweep_runs_and_draws_beside_the_prediction(qtbot, window) -> None:
    window.sidebar.select(model="smollm2-135m", profile="galaxy-s23")
    bench = window.open_bench()
    qtbot.addWidget(bench)
    bench.threads_edit.setText("1,2")
    bench.prompt_spin.setValue(16)
    bench.gen_spin.setValue(8)
    bench.reps_spin.setValue(1)
    with qtbot.waitSignal(bench.sig_finished, timeout=TIMEOUT_MS) as done:
        assert bench.start()
        assert not bench.start()  # one sweep at a time
    results = done.args[0]
    assert [(r.test.threads, r.test.name, r.status) for r in results] == [
        (1, "pp16", "completed"),
        (1, "tg8", "completed"),
        (2, "pp16", "completed"),
        (2, "tg8", "completed"),
    ]
    labels = _curve_labels(bench, "decode")
    assert any(label.startswith("decode, predicted Samsung Galaxy S23") for label in labels)
    assert any(label.startswith("decode, emulated galaxy-s23 on this host") for label in labels)
    assert "every run is in the history" in bench.state.text()
    stored = {row["run_id"] for row in history.list_runs(50)}
    assert {rid for r in results for rid in r.run_ids} <= stored
    qtbot.waitUntil(lambda: bench.thread_ is None, timeout=TIMEOUT_MS)
    bench.close()
