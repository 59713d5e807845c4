"""The sampler's two readings of a process's memory agree (/proc/PID/statm and status), and its rate follows memory."""

from __future__ import annotations

import itertools
import mmap
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler.record import Sample
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


GROWER = """
import sys, time
time.sleep(1.2)                      # still: the sampler slows down
chunks = []
for _ in range(30):                  # 120 MB over 0.6 s: it samples at the full rate again
    chunks.append(bytearray(4 * 1024 * 1024))
    time.sleep(0.02)
time.sleep(1.2)                      # still again
"""


def test_full_rate_while_memory_moves_slow_while_it_holds_still_once_loaded():
    child = subprocess.Popen([sys.executable, "-c", GROWER])
    samples: list[Sample] = []
    loading: list[Sample] = []  # a second sampler, never told the model has loaded
    watcher = sampler.Sampler(child.pid, time.monotonic(), rate_hz=50.0, on_sample=samples.append)
    watcher.settle()
    unsettled = sampler.Sampler(child.pid, time.monotonic(), rate_hz=50.0, on_sample=loading.append)
    watcher.start()
    unsettled.start()
    child.wait(timeout=30)
    watcher.join(timeout=5)
    unsettled.join(timeout=5)
    assert max(b.t - a.t for a, b in itertools.pairwise(loading)) < 0.1  # while loading: 50 Hz throughout
    pairs = list(itertools.pairwise(samples))
    growing = [b.t - a.t for a, b in pairs if b.footprint_mb - a.footprint_mb > 1.0]
    assert len(growing) >= 10  # the growth was seen step by step, not in one jump
    assert statistics.median(growing) < 0.03  # ... at the full 50 Hz
    before = [b.t - a.t for a, b in pairs if 0.7 < b.t < 1.1]
    assert before and min(before) > 0.15  # still for over STEADY_S: 5 Hz
    top = max(s.footprint_mb for s in samples)
    topped_at = min(s.t for s in samples if s.footprint_mb > top - 1)
    after = [b.t - a.t for a, b in pairs if a.t > topped_at + sampler.STEADY_S + 0.2]
    assert after and min(after) > 0.15  # and slow again once the growth stopped
    assert top - samples[0].footprint_mb > 100
