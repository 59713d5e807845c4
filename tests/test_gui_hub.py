"""File → Hugging Face… against the local test Hub: search, the files on the phone, download and use."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from tests.test_hub import REPO, hub  # noqa: F401 (the local Hub fixture)

TIMEOUT_MS = 60_000


def test_search_pick_a_file_that_fits_and_download_it(qtbot, window, hub, tmp_path: Path) -> None:  # noqa: F811
    window.sidebar.select(profile="budget-4gb")
    dialog = window.open_hub()
    assert "Budget Android" in dialog.status.text()
    dialog.query.setText("tiny")
    dialog.search_button.click()
    qtbot.waitUntil(lambda: dialog.repo_table.rowCount() == 1, timeout=TIMEOUT_MS)
    assert dialog.repo_table.item(0, 0).text() == REPO
    assert "F16" in dialog.repo_table.item(0, 3).text() and "fits" in dialog.repo_table.item(0, 3).text()
    qtbot.waitUntil(lambda: not dialog.job.isRunning(), timeout=TIMEOUT_MS)
    dialog.repo_table.selectRow(0)
    qtbot.waitUntil(lambda: dialog.file_table.rowCount() == 4, timeout=TIMEOUT_MS)
    names = [dialog.file_table.item(r, 0).text() for r in range(4)]
    assert names[3] == "✓ Tiny-40M-F16.gguf"  # the best fit, marked
    assert [dialog.file_table.item(r, 4).text() for r in range(4)] == ["fits"] * 4
    assert dialog.file_table.item(1, 5).text().count("±") == 1  # the prediction's error beside it
    qtbot.waitUntil(lambda: not dialog.job.isRunning(), timeout=TIMEOUT_MS)
    dialog.file_table.selectRow(0)  # the smallest, Q2_K
    with qtbot.waitSignal(dialog.sig_use_model, timeout=TIMEOUT_MS) as used:
        dialog.download_button.click()
    path = Path(used.args[0])
    assert path.name == "Tiny-40M-Q2_K.gguf" and path.is_file()
    assert (tmp_path / "hf-cache") in path.parents
    assert window.sidebar.model_name() == str(path)
    qtbot.waitUntil(lambda: window.sidebar.model_info is not None, timeout=TIMEOUT_MS)
    assert window.sidebar.model_info.quantization == "Q2_K"
    dialog.close()


def test_a_bad_search_says_why_in_the_window(qtbot, window, hub, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    dialog = window.open_hub()
    dialog.query.setText("anything")
    dialog.search_button.click()
    qtbot.waitUntil(lambda: "cannot reach" in dialog.status.text(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not dialog.job.isRunning(), timeout=TIMEOUT_MS)
    # QThread.finished reaches the dialog's slot, which enables the button, after isRunning() turns false
    qtbot.waitUntil(dialog.search_button.isEnabled, timeout=TIMEOUT_MS)
    dialog.close()
