"""Faults: the child dies or hangs, the disk refuses a write, several writers share the history.

Each fault is real: a signal sent to the real child, a file-size limit or a full tmpfs
imposed by the kernel, concurrent processes writing one SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from profiler.record import RunRecord, write_atomic, write_problem
from profiler.report import history
from profiler.run.config import RunConfig
from profiler.run.session import Event, Session
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.model


def run_with(config: RunConfig, act_on: str, act) -> RunRecord:
    """Run a session; ``act(session)`` once, on the first event of kind ``act_on``."""
    done = threading.Event()

    def on_event(event: Event) -> None:
        if done.is_set():
            return
        loading = act_on == "loading" and event.kind == "status" and event.data == "loading"
        if loading or (act_on == "token3" and event.kind == "token" and event.data.index >= 2):
            done.set()
            act(session)

    session = Session(config, on_event=on_event)
    return session.run()


def test_sigkill_from_outside_mid_run_keeps_the_tokens_and_says_what_happened():
    config = RunConfig(model="smollm2-135m", profile="host", max_tokens=2000, speed_factor=0.3, ignore_eos=True)
    record = run_with(config, "token3", lambda s: os.kill(s.pid, signal.SIGKILL))
    assert record.status == "error"
    assert "SIGKILL" in record.error and "from outside" in record.error
    assert len(record.tokens) >= 3
    assert record.summary.generated_tokens == len(record.tokens)
    history.save(record)
    assert history.load(record.run_id)["summary"]["generated_tokens"] == len(record.tokens)


def test_a_child_that_hangs_while_loading_hits_the_load_timeout():
    config = RunConfig(model="smollm2-135m", profile="host", max_tokens=8, load_timeout_s=2.0)
    # SIGSTOP during the load: the child is alive and silent, as a hung load would be
    record = run_with(config, "loading", lambda s: os.kill(s.pid, signal.SIGSTOP))
    assert record.status == "error"
    assert record.error == "the model did not load within 2 s (load timeout)"
    assert record.samples  # what was measured before is kept
    assert record.child["exit_code"] == -signal.SIGKILL


def _write_under_limit(path: Path, text: str, limit: int) -> subprocess.CompletedProcess[str]:
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from profiler.record import write_atomic, write_problem\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "try:\n"
        f"    write_atomic(Path({str(path)!r}), {text!r})\n"
        "except OSError as exc:\n"
        f"    print(write_problem(Path({str(path)!r}), exc)); sys.exit(1)\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)


def test_a_write_the_kernel_refuses_leaves_the_good_report_in_place(tmp_path: Path):
    report = tmp_path / "run.json"
    write_atomic(report, '{"good": true}\n')
    result = _write_under_limit(report, "x" * 20_000, limit=4096)  # the kernel stops the write at 4 KB (EFBIG)
    assert result.returncode == 1, result.stderr
    assert result.stdout.strip() == f"{report}: file too large for this process's file-size limit (ulimit -f); " + (
        "raise it or write elsewhere"
    )
    assert report.read_text() == '{"good": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]  # no half-written temporary left


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs (a really full disk) needs root; CI runs as root")
def test_a_full_disk_names_what_to_free_and_loses_nothing(tmp_path: Path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        report = disk / "run.json"
        write_atomic(report, '{"good": true}\n')
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        with pytest.raises(OSError):
            while True:  # fill the disk to the last byte
                os.write(fd, b"\0" * 1024)
        os.close(fd)
        result = run_cli("run", "--profile", "host", "--max-tokens", "16", "--quiet", "--json", str(report))
        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: cannot write the report: {report}: no space left on the disk (")
        assert "free some space there or write elsewhere" in last
        assert report.read_text() == '{"good": true}\n'
        runs = history.list_runs()
        assert len(runs) == 1 and runs[0]["status"] == "completed"  # the measurement is kept in the history
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_report_path_that_cannot_exist_is_one_line_and_the_run_is_kept(tmp_path: Path):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    result = run_cli("run", "--profile", "host", "--max-tokens", "4", "--quiet", "--json", str(blocker / "run.json"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot write the report: {blocker}/run.json: ")
    assert history.list_runs()[0]["status"] == "completed"


def test_write_problem_says_what_to_free():
    import errno

    assert "no space left on the disk" in write_problem(Path("/tmp/x.json"), OSError(errno.ENOSPC, "full"))
    assert "quota" in write_problem(Path("/tmp/x.json"), OSError(errno.EDQUOT, "quota"))
    assert "read-only" in write_problem(Path("/tmp/x.json"), OSError(errno.EROFS, "ro"))
    import sqlite3

    assert "no space left" in write_problem(Path("/tmp/h.db"), sqlite3.OperationalError("database or disk is full"))


def test_two_cli_runs_at_once_share_the_history(tmp_path: Path):
    args = [sys.executable, "-m", "profiler.cli", "run", "--profile", "host", "--max-tokens", "16", "--quiet"]
    args += ["--threads", "1"]  # one core each: two runs of two threads would spin against each other
    procs = [
        subprocess.Popen([*args, "--json", str(tmp_path / f"r{i}.json")], cwd=ROOT, stdout=subprocess.DEVNULL)
        for i in range(2)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    ids = {json.loads((tmp_path / f"r{i}.json").read_text())["run_id"] for i in range(2)}
    assert {r["run_id"] for r in history.list_runs()} == ids and len(ids) == 2


WRITER = """
import sys
from profiler.report import history
from profiler.record import RunRecord
for i in range(int(sys.argv[2])):
    history.save(RunRecord(run_id=f"{sys.argv[1]}-{i}", started_at="2026-11-26T00:00:00", config={},
                           model={"name": "m"}, profile={"id": "p"}, host={}))
"""


def test_many_writers_at_once_lose_and_duplicate_nothing():
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, f"w{w}", "25"], cwd=ROOT, stderr=subprocess.PIPE)
        for w in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    ids = [r["run_id"] for r in history.list_runs(limit=1000)]
    assert len(ids) == 100 and set(ids) == {f"w{w}-{i}" for w in range(4) for i in range(25)}
