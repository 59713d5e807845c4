"""The sampler's two readings of a process's memory agree: /proc/PID/statm (50 Hz) and status."""

from __future__ import annotations

import mmap
import os
import sys
from pathlib import Path

import pytest

from profiler.run import sampler

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
MB = 1024 * 1024


def test_quick_reading_matches_the_full_one(tmp_path: Path):
    data = tmp_path / "weights.bin"
    data.write_bytes(os.urandom(24 * MB))
    anon = bytearray(os.urandom(40 * MB))  # dirty anonymous memory: what the footprint counts
    with open(data, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        assert sum(mapped[i] for i in range(0, len(mapped), 4096)) >= 0  # touch every page: clean file-backed
        full = sampler.read_memory(os.getpid())
        quick = sampler.read_memory(os.getpid(), previous=full)
    assert len(anon) == 40 * MB
    assert set(quick) >= {"rss", "anon", "file", "swap", "threads"}
    assert (quick["swap"], quick["threads"]) == (full["swap"], full["threads"])
    for key in ("rss", "anon", "file"):
        assert abs(quick[key] - full[key]) < 4 * MB, key  # the two reads are a moment apart
    assert quick["anon"] > 40 * MB and quick["file"] > 20 * MB  # neither side mixed up with the other
    assert quick["rss"] == quick["anon"] + quick["file"]
