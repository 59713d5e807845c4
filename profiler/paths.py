"""Where pocketprof keeps its data: history, caches, the user's own profiles."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def home() -> Path:
    """The data directory; ``POCKETPROF_HOME`` overrides the platform default."""
    override = os.environ.get("POCKETPROF_HOME")
    path = Path(override) if override else Path(platformdirs.user_data_dir("pocketprof"))
    path.mkdir(parents=True, exist_ok=True)
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
