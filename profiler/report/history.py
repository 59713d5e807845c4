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


NOTICES: list[str] = []  # one line per history moved aside in this process; the CLI prints them


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30.0)
    try:
        db.execute("PRAGMA busy_timeout=30000")
        _wal(db)
        db.executescript(_SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def move_aside(path: Path) -> Path:
    """Keep a corrupt history (never delete it) under a dated name beside it, with its WAL files."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while kept.exists():
        n += 1
        kept = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    path.rename(kept)
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.rename(kept.with_name(kept.name + suffix))
    NOTICES.append(f"the run history {path} was not a readable database: kept it as {kept}, started a new one")
    return kept


@contextmanager
def connect(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    path = path or paths.history_db()
    try:
        db = _open(path)
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) or not path.exists():
            raise  # locked, unwritable: not corruption, so nothing is moved
        move_aside(path)
        db = _open(path)
    try:
        yield db
    finally:
        db.close()


def integrity(path: Path | None = None) -> list[str]:
    """SQLite's integrity check of the history: ["ok"] when sound, else its findings."""
    path = path or paths.history_db()
    if not path.exists():
        return ["ok"]
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
    try:
        return [row[0] for row in db.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
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
            "SELECT run_id, started_at, model, json_extract(report, '$.model.quantization') AS quantization,"
            " profile, status, generated_tokens, decode_tokens_per_s, peak_footprint_mb"
            " FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?",
            (limit,),
        ).fetchall()
    return [dict(row) for row in rows]


def load(run_id: str, path: Path | None = None) -> dict[str, Any]:
    with connect(path) as db:
        row = db.execute("SELECT report FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            matches = db.execute(
                "SELECT report, run_id, model, profile FROM runs WHERE run_id LIKE ? ORDER BY started_at DESC",
                (f"%{run_id}%",),
            ).fetchall()
            if not matches:
                raise BadInput(f"no run '{run_id}' in the history")
            if len(matches) > 1:
                shown = ", ".join(f"{m[1]} ({m[2]} · {m[3]})" for m in matches[:8])
                more = f" and {len(matches) - 8} more" if len(matches) > 8 else ""
                raise BadInput(f"'{run_id}' matches {len(matches)} runs: {shown}{more}; give more of the id")
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
