"""The run history (SQLite): what goes in comes back, in order, by id or part of one; damage is kept aside."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from profiler.errors import BadInput
from profiler.report import history
from tests import records


def test_a_saved_run_comes_back_whole_and_listed_with_its_summary(tmp_path: Path):
    db = tmp_path / "h.sqlite3"
    rec = records.record(tokens=9, peak_mb=177.5)
    history.save(rec, db)
    assert history.load(rec.run_id, db) == json.loads(json.dumps(rec.to_dict()))
    (row,) = history.list_runs(path=db)
    assert row == {
        "run_id": rec.run_id,
        "started_at": rec.started_at,
        "model": "SmolLM2 135M Instruct",
        "quantization": "Q4_1",
        "profile": "galaxy-a25",
        "status": "completed",
        "generated_tokens": 9,
        "decode_tokens_per_s": rec.summary.decode_tokens_per_s,
        "peak_footprint_mb": 177.5,
    }
    history.save(rec, db)  # saving again replaces, never duplicates
    assert len(history.list_runs(path=db)) == 1


def test_runs_are_listed_newest_first_and_the_limit_holds(tmp_path: Path):
    db = tmp_path / "h.sqlite3"
    for minute in (3, 1, 2):
        history.save(records.record(f"r{minute}", started_at=f"2026-12-01T12:0{minute}:00.000+00:00"), db)
    assert [r["run_id"] for r in history.list_runs(path=db)] == ["r3", "r2", "r1"]
    assert [r["run_id"] for r in history.list_runs(2, path=db)] == ["r3", "r2"]
    same = "2026-12-01T12:09:00.000+00:00"  # same start: the one stored last comes first
    history.save(records.record("first", started_at=same), db)
    history.save(records.record("second", started_at=same), db)
    assert [r["run_id"] for r in history.list_runs(2, path=db)] == ["second", "first"]


def test_part_of_an_id_finds_one_run_or_lists_every_match(tmp_path: Path):
    db = tmp_path / "h.sqlite3"
    for suffix in ("abc111", "abc222", "zzz333"):
        history.save(records.record(f"20261201-120000-{suffix}", profile=f"p-{suffix}"), db)
    assert history.load("zzz", db)["profile"]["id"] == "p-zzz333"
    with pytest.raises(BadInput) as many:
        history.load("abc", db)
    message = str(many.value)
    assert message.startswith("'abc' matches 2 runs: ") and message.endswith("; give more of the id")
    assert "20261201-120000-abc111 (SmolLM2 135M Instruct · p-abc111)" in message and "abc222" in message
    with pytest.raises(BadInput, match=r"^no run 'nothing' in the history$"):
        history.load("nothing", db)


@pytest.mark.parametrize(("count", "more"), [(11, " and 3 more;"), (9, " and 1 more;"), (8, "")])
def test_at_most_eight_matches_are_listed_and_the_rest_counted(tmp_path: Path, count: int, more: str):
    db = tmp_path / "h.sqlite3"
    for n in range(count):
        history.save(records.record(f"run-{n:02d}", started_at=f"2026-12-01T12:{n:02d}:00.000+00:00"), db)
    with pytest.raises(BadInput) as many:
        history.load("run-", db)
    message = str(many.value)
    assert message.startswith(f"'run-' matches {count} runs: ") and message.count(" · ") == 8
    assert (" more;" in message) == bool(more) and more in message
    assert f"run-{count - 1:02d}" in message and f"run-{count - 9:02d}" not in message  # the newest eight


def test_a_corrupt_file_is_kept_aside_and_a_new_history_started(tmp_path: Path):
    db = tmp_path / "history.sqlite3"
    junk = b"not a database at all, " * 20
    db.write_bytes(junk)
    history.NOTICES.clear()
    assert history.list_runs(path=db) == []
    (kept,) = tmp_path.glob("history.sqlite3.corrupt-*")
    assert kept.read_bytes() == junk
    assert [
        f"the run history {db} was not a readable database: kept it as {kept}, started a new one"
    ] == history.NOTICES
    assert history.integrity(db) == ["ok"]
    db.write_bytes(junk)  # damaged again within the same second: a second name, nothing overwritten
    history.list_runs(path=db)
    kept_now = [p for p in tmp_path.glob("history.sqlite3.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept_now) == 2
    history.NOTICES.clear()


def test_moving_aside_takes_the_wal_and_shm_files_along(tmp_path: Path):
    db = tmp_path / "history.sqlite3"
    for suffix, data in (("", b"main"), ("-wal", b"wal"), ("-shm", b"shm")):
        (tmp_path / f"history.sqlite3{suffix}").write_bytes(data)
    kept = history.move_aside(db)
    assert kept.name.startswith("history.sqlite3.corrupt-") and kept.read_bytes() == b"main"
    assert (tmp_path / (kept.name + "-wal")).read_bytes() == b"wal"
    assert (tmp_path / (kept.name + "-shm")).read_bytes() == b"shm"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([kept.name, kept.name + "-wal", kept.name + "-shm"])
    history.NOTICES.clear()


def test_a_locked_history_is_not_called_corrupt(tmp_path: Path):
    db = tmp_path / "h.sqlite3"
    history.save(records.record(), db)
    folder_instead = tmp_path / "dir.sqlite3"
    folder_instead.mkdir()
    with pytest.raises(sqlite3.OperationalError):
        history.list_runs(path=folder_instead)
    assert folder_instead.is_dir() and not list(tmp_path.glob("*.corrupt-*"))


def test_integrity_of_no_file_is_ok_and_of_a_non_database_is_its_error(tmp_path: Path):
    assert history.integrity(tmp_path / "none.sqlite3") == ["ok"]
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"x" * 600)
    (finding,) = history.integrity(bad)
    assert "not a database" in finding


def test_keep_says_why_in_one_line_instead_of_raising(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    problem = history.keep(records.record(), blocker / "h.sqlite3")
    assert problem is not None and problem.startswith("run not stored in the history: ")
    assert "\n" not in problem and str(blocker) in problem
    assert history.keep(records.record(), tmp_path / "ok.sqlite3") is None
    assert len(history.list_runs(path=tmp_path / "ok.sqlite3")) == 1


def test_an_exact_id_wins_over_longer_ids_that_contain_it(tmp_path: Path):
    db = tmp_path / "h.sqlite3"
    history.save(records.record("run-1", profile="exact"), db)
    history.save(records.record("run-12", profile="longer"), db)
    assert history.load("run-1", db)["profile"]["id"] == "exact"


def test_a_run_without_a_model_name_or_profile_id_is_still_stored(tmp_path: Path):
    db = tmp_path / "h.sqlite3"
    rec = records.record("nameless")
    rec.model.pop("name")
    rec.profile.pop("id")
    history.save(rec, db)
    (row,) = history.list_runs(path=db)
    assert row["model"] == "" and row["profile"] == ""


def test_a_second_corrupt_file_in_the_same_second_gets_the_next_number(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(history.time, "strftime", lambda _fmt: "20261201-120000")
    db = tmp_path / "history.sqlite3"
    names = []
    for _ in range(3):
        db.write_bytes(b"junk")
        names.append(history.move_aside(db).name)
    assert names == [
        "history.sqlite3.corrupt-20261201-120000",
        "history.sqlite3.corrupt-20261201-120000-2",
        "history.sqlite3.corrupt-20261201-120000-3",
    ]
    history.NOTICES.clear()


def test_integrity_opens_read_only_and_never_creates_the_file(tmp_path: Path):
    db = tmp_path / "h.sqlite3"
    history.save(records.record(), db)
    db.chmod(0o444)
    try:
        assert history.integrity(db) == ["ok"]
    finally:
        db.chmod(0o644)
    assert history.integrity(tmp_path / "absent.sqlite3") == ["ok"] and not (tmp_path / "absent.sqlite3").exists()


def test_keep_names_the_problem(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    problem = history.keep(records.record(), blocker / "h.sqlite3")
    assert problem == f"run not stored in the history: {blocker}/h.sqlite3: cannot write: unable to open database file"
