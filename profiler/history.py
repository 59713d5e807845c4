"""Run history in SQLite (WAL mode, so several windows and CLI runs can share it)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from profiler import paths
from profiler.errors import BadInput
from profiler.record import RunRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    model TEXT NOT NULL,
    profile TEXT NOT NULL,
    status TEXT NOT NULL,
    generated_tokens INTEGER,
    decode_tokens_per_s REAL,
    peak_footprint_mb REAL,
    report TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started_at);
"""


def _wal(db: sqlite3.Connection) -> None:
    """Switch to WAL mode. When several processes create the database at once, the switch
    can report "locked" without waiting on the busy timeout: retry it for a while."""
    for attempt in range(200):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 199:
                raise
            time.sleep(0.05)


@contextmanager
def connect(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path or paths.history_db(), timeout=30.0)
    try:
        db.execute("PRAGMA busy_timeout=30000")
        _wal(db)
        db.executescript(_SCHEMA)
        yield db
    finally:
        db.close()


def save(record: RunRecord, path: Path | None = None) -> None:
    data = record.to_dict()
    with connect(path) as db, db:
        db.execute(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.run_id,
                record.started_at,
                record.model.get("name", ""),
                record.profile.get("id", ""),
                record.status,
                record.summary.generated_tokens,
                record.summary.decode_tokens_per_s,
                record.summary.peak_footprint_mb,
                json.dumps(data, ensure_ascii=False),
            ),
        )


def list_runs(limit: int = 50, path: Path | None = None) -> list[dict[str, Any]]:
    with connect(path) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT run_id, started_at, model, profile, status, generated_tokens, decode_tokens_per_s,"
            " peak_footprint_mb FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?",
            (limit,),
        ).fetchall()
    return [dict(row) for row in rows]


def load(run_id: str, path: Path | None = None) -> dict[str, Any]:
    with connect(path) as db:
        row = db.execute("SELECT report FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            matches = db.execute(
                "SELECT report FROM runs WHERE run_id LIKE ? ORDER BY started_at DESC", (f"%{run_id}%",)
            ).fetchall()
            if len(matches) != 1:
                raise BadInput(f"no run '{run_id}' in the history ({len(matches)} partial matches)")
            row = matches[0]
    report: dict[str, Any] = json.loads(row[0])
    return report


def keep(record: RunRecord, path: Path | None = None) -> str | None:
    """Store a run; on failure say why in one line instead of raising (what was measured is elsewhere too)."""
    try:
        save(record, path)
    except Exception as exc:  # sqlite3 errors, a full disk, a folder in the way
        from profiler.record import write_problem

        return f"run not stored in the history: {write_problem(path or paths.history_db(), exc)}"
    return None
