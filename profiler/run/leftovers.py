"""What a run makes outside its own process, named so that a later run finds what a crashed one left.

- its socket folder, ``TMP/pocketprof-PID-XXXXXXXX/`` (the Unix socket the child connects to);
- its cgroups, ``pocketprof-PID-XXXXXXXX`` under the memory and cpu controllers (``profiler.run.limits``).

A run removes its own on every way out it lives through (an end, a stop, a signal, an error).
A parent killed with SIGKILL cannot, so every run first sweeps those whose PID is no longer alive.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")  # profiler.run.linux's; here too, so the sweep runs without importing it
PREFIX = "pocketprof-"
_NAME = re.compile(r"^pocketprof-(\d+)-[0-9a-z_]+$")


def owner(path: Path) -> int | None:
    """The PID in a leftover's name, or None when the name is not one of ours."""
    found = _NAME.match(path.name)
    return int(found.group(1)) if found else None


def socket_dir() -> Path:
    """A new folder for this run's socket, private to this user (0700, as mkdtemp makes it)."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))


def socket_dirs() -> list[Path]:
    return [p for p in Path(tempfile.gettempdir()).glob(f"{PREFIX}*") if p.is_dir() and owner(p) is not None]


def cgroups() -> list[Path]:
    if not sys.platform.startswith("linux"):
        return []
    from profiler.run import linux

    return [p for p in linux.cgroups_named(PREFIX) if owner(p) is not None]


def of(pid: int) -> list[Path]:
    """Everything on disk that names ``pid`` as its owner."""
    return [p for p in (*socket_dirs(), *cgroups()) if owner(p) == pid]


def stale() -> list[Path]:
    """Leftovers whose owner is gone."""
    return [p for p in (*socket_dirs(), *cgroups()) if not psutil.pid_exists(owner(p) or 0)]


def sweep() -> list[Path]:
    """Remove the leftovers of runs whose parent is gone; returns what was removed."""
    removed = []
    for path in stale():
        try:
            if path.is_relative_to(CGROUP_ROOT):
                path.rmdir()  # an empty cgroup; one with a process still in it stays
            else:
                shutil.rmtree(path)
        except OSError:
            continue
        removed.append(path)
    return removed
