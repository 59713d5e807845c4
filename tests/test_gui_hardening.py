"""The app under bad input and long use: error dialogs for broken models, 50 runs without leaks."""

from __future__ import annotations

import gc
import threading

import psutil
import pytest

pytest.importorskip("PySide6")

from tests import gguf_corpus
from ui.main_window import MainWindow


@pytest.fixture
def window(qtbot):
    win = MainWindow(discover=False)
    qtbot.addWidget(win)
    return win


@pytest.mark.parametrize("case", sorted(gguf_corpus.BROKEN))
def test_each_broken_model_gets_a_one_line_dialog_and_run_is_refused(qtbot, window, tmp_path, smollm2, case):
    make, needle = gguf_corpus.BROKEN[case]
    path = make(tmp_path, smollm2)
    window.sidebar.add_model_path(str(path))
    dialog = window.error_dialog
    assert dialog is not None and dialog.isVisible()
    assert needle in dialog.text() and str(path) in dialog.text() and "\n" not in dialog.text()
    window.start_run()
    with qtbot.waitSignal(window.controller.sig_failed, timeout=30_000):
        pass
    qtbot.waitUntil(lambda: not window.controller.running)
    assert window.banner.kind == "error" and needle in window.banner.text()
    assert window.run_button.isEnabled()


@pytest.mark.model
def test_a_model_llama_cpp_refuses_shows_its_reason(qtbot, window, tmp_path):
    path = gguf_corpus.unknown_architecture(tmp_path / "martian.gguf")
    window.sidebar.select(model=str(path), profile="host")
    window.sidebar.ctx.setValue(128)
    window.start_run()
    with qtbot.waitSignal(window.controller.sig_finished, timeout=120_000):
        pass
    assert window.last_report["status"] == "error"
    assert "unknown model architecture: 'martian'" in window.error_dialog.text()


@pytest.mark.model
def test_fifty_runs_in_one_window_leak_no_child_thread_or_memory(qtbot, window):
    """Issue 7: from run 5 to run 50 the app's own memory grows by less than 20 MB."""
    window.sidebar.select(model="smollm2-135m", profile="host")
    window.sidebar.max_tokens.setValue(2)
    me = psutil.Process()
    threads_before = threading.active_count()
    rss: dict[int, float] = {}
    for run in range(1, 51):
        with qtbot.waitSignal(window.controller.sig_finished, timeout=120_000):
            assert window.start_run()
        assert window.last_report["status"] == "completed", window.last_report.get("error")
        if run in (5, 50):
            qtbot.wait(200)  # let deleteLater() run
            gc.collect()
            rss[run] = me.memory_info().rss / 2**20
    growth = rss[50] - rss[5]
    print(f"app RSS after run 5: {rss[5]:.1f} MB, after run 50: {rss[50]:.1f} MB, growth {growth:+.1f} MB")
    assert growth < 20.0
    assert not [c for c in me.children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]

    # The last run's threads end just after it reports finished: wait for them, a leak never ends.
    def threads_ended() -> None:
        assert threading.active_count() <= threads_before, [t.name for t in threading.enumerate()]

    qtbot.waitUntil(threads_ended, timeout=5_000)
    assert window.history.tree.topLevelItemCount() == 50


def test_a_long_status_never_widens_the_window(qtbot, window):
    """The calibration's status is a sentence long; it once pushed the window past a 1600-pixel screen."""
    window.show()
    before = window.minimumSizeHint().width()
    long = "measuring this host's speed for the model (" + "no calibration of this host for this model; " * 6 + ")"
    window.controller.sig_status.emit(long)
    qtbot.wait(50)
    assert window.state.text() == long and window.state.toolTip() == long  # all of it, on hover
    assert window.minimumSizeHint().width() == before
