"""Where pocketprof keeps its data: history, caches, the user's own profiles."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import platformdirs


def cli_path(text: str) -> Path:
    """An argparse type for a path option: never the empty string (``Path("")`` is the current folder)."""
    if not text.strip():
        import argparse

        raise argparse.ArgumentTypeError("an empty path; give a file or folder name")
    return Path(text)


def home() -> Path:
    """The data directory; ``POCKETPROF_HOME`` overrides the platform default."""
    override = os.environ.get("POCKETPROF_HOME")
    path = Path(override) if override else Path(platformdirs.user_data_dir("pocketprof"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, a read-only disk: one line, not a traceback
        from profiler.errors import BadInput

        where = f"POCKETPROF_HOME={override}" if override else str(path)
        raise BadInput(f"pocketprof's data folder {where} cannot be used: {exc.strerror or exc}") from None
    return path


def user_profiles_dir() -> Path:
    """A folder where a user's own profile files are picked up by id."""
    return home() / "profiles"


def history_db() -> Path:
    return home() / "history.sqlite3"


def logs_dir() -> Path:
    path = home() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Measured host figures; ``POCKETPROF_CACHE`` moves it (tests share one)."""
    override = os.environ.get("POCKETPROF_CACHE")
    path = Path(override) if override else home() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_cache(name: str) -> dict[str, Any]:
    """A JSON object kept in the cache folder; empty when missing or unreadable (a cache may be lost)."""
    try:
        data = json.loads((cache_dir() / name).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_cache(name: str, data: dict[str, Any]) -> None:
    from profiler.record import write_atomic

    write_atomic(cache_dir() / name, json.dumps(data, indent=1))


def child_env(**extra: str) -> dict[str, str]:
    """This environment, with pocketprof's own folder first on PYTHONPATH, for ``python -m profiler.…`` children."""
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return env
