"""The parent killed with SIGKILL at random moments of real runs: what is left, and who cleans it.

A SIGKILLed parent can remove nothing. The child dies with it (PR_SET_PDEATHSIG), the report
is written atomically (never half a file), SQLite keeps the history whole, and the next run
sweeps the socket folder and cgroup the dead one left (profiler.run.leftovers).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from profiler.record import write_atomic
from profiler.report import history
from profiler.run import leftovers
from tests.conftest import run_cli, start_cli

pytestmark = [pytest.mark.model, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PDEATHSIG")]
KILLS = 6  # bounded: about 4 s each


def _kill_parent_at(delay_s: float, out: Path, *, hang_child: bool = False) -> tuple[int, list[psutil.Process]]:
    """Start a CLI run and SIGKILL it after ``delay_s`` (with ``hang_child``: once its worker is stopped, as a
    hung load would be: then only the kernel's parent-death signal can end it)."""
    command = ["run", "--max-tokens", "48", "--ignore-eos", "--dram-mb", "4000", "--json", str(out)]
    proc = start_cli(*command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[int, psutil.Process] = {}
    deadline = time.monotonic() + delay_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            seen |= {c.pid: c for c in psutil.Process(proc.pid).children(recursive=True)}
        except psutil.Error:
            break
        if hang_child and (workers := _workers_of(proc.pid)) and _loading(workers[0]):
            workers[0].suspend()
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    return proc.pid, list(seen.values())


def test_sigkill_of_the_parent_at_random_moments_leaves_nothing_the_next_run_does_not_clear(tmp_path: Path):
    rng = random.Random(int(os.environ.get("POCKETPROF_CHAOS_SEED", "20261201")))
    # loading, prefill, decode and the end (writing the report): the run takes about 1.5-3 s here;
    # the second kill comes while the child is stopped mid-start, as a hung load would be
    delays = [0.05, 10.0, *(rng.uniform(0.2, 3.5) for _ in range(KILLS - 2))]
    dead: list[int] = []
    for i, delay in enumerate(delays):
        out = tmp_path / f"run{i}.json"
        pid, children = _kill_parent_at(delay, out, hang_child=i == 1)
        dead.append(pid)
        _, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, f"kill at {delay:.2f} s: children left running: {alive}"
        deadline = time.monotonic() + 5
        while _workers_of(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _workers_of(pid), f"kill at {delay:.2f} s: a worker outlived its parent"
        if out.exists():  # written before the kill: whole, never partial
            assert json.loads(out.read_text())["schema_version"] == 1, delay
        assert history.integrity() == ["ok"], f"kill at {delay:.2f} s"
    assert history.integrity() == ["ok"]
    assert run_cli("run", "--max-tokens", "2", "--quiet", "--no-history").returncode == 0  # the next run sweeps
    for pid in dead:
        assert leftovers.of(pid) == [], f"left by the run killed as PID {pid}"
    for i in range(len(delays)):  # a temporary report a kill cut short goes with the next write there
        write_atomic(tmp_path / f"run{i}.json", "{}")
    assert not list(tmp_path.glob(".*.tmp"))


def _loading(worker: psutil.Process) -> bool:
    """The worker has the model file mapped: it is loading (or past it), well after its start-up."""
    try:
        return any(m.path.endswith(".gguf") for m in worker.memory_maps())
    except psutil.Error:
        return False


def _workers_of(parent: int) -> list[psutil.Process]:
    """Child processes still running for a parent: their socket path names the parent's PID."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if "profiler.run.worker" in line and f"{leftovers.PREFIX}{parent}-" in line:
            found.append(proc)
    return found
