"""What one run measured: plain dataclasses, and the JSON report (schema version 1)."""

from __future__ import annotations

import errno
import glob
import json
import os
import shutil
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
MB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    """One reading of the child, taken by the parent. Sizes in MB, time in s from start."""

    t: float
    rss_mb: float
    footprint_mb: float
    file_mb: float
    anon_mb: float
    swap_mb: float
    cpu_percent: float
    threads: int
    gpu_mem_mb: float | None = None
    gpu_power_w: float | None = None


@dataclass(frozen=True)
class Token:
    index: int
    t: float
    text: str
    latency_ms: float
    id: int = -1


@dataclass(frozen=True)
class Limit:
    """One limit in force and the mechanism that enforced it ('none' if nothing did)."""

    value: float | None
    unit: str
    mechanism: str
    note: str = ""


@dataclass(frozen=True)
class Kill:
    reason: str  # "memory_budget" (watchdog, like jetsam) or "dram_limit" (kernel OOM in the cgroup)
    at_s: float
    footprint_mb: float
    limit_mb: float
    tokens_before_kill: int
    crossed_at_s: float | None = None  # when the footprint passed the limit (between two readings); at_s: the kill


@dataclass
class Summary:
    load_time_s: float | None = None
    ttft_s: float | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    prefill_tokens_per_s: float | None = None
    decode_tokens_per_s: float | None = None
    itl_p50_ms: float | None = None
    itl_p95_ms: float | None = None
    peak_rss_mb: float | None = None
    peak_footprint_mb: float | None = None
    peak_file_mb: float | None = None
    wall_time_s: float | None = None
    sample_rate_hz: float | None = None


@dataclass
class RunRecord:
    """Everything a run produced; filled in as it goes, so a dead run keeps what it measured."""

    run_id: str
    started_at: str
    config: dict[str, Any]
    model: dict[str, Any]
    profile: dict[str, Any]
    host: dict[str, Any]
    status: str = "running"  # completed | killed | stopped | error
    error: str | None = None
    stop_reason: str | None = None
    limits: dict[str, Limit] = field(default_factory=dict)
    summary: Summary = field(default_factory=Summary)
    kill: Kill | None = None
    samples: list[Sample] = field(default_factory=list)
    tokens: list[Token] = field(default_factory=list)
    output_text: str = ""
    loaded_at_s: float | None = None
    child: dict[str, Any] = field(default_factory=dict)
    log_path: str | None = None
    # What the run found beside its measurements; each is a top-level key of the report (schema 1)
    warnings: list[str] = field(default_factory=list)  # one-line warnings, also sent as events
    prediction: dict[str, Any] | None = None  # the phone's predicted memory, speed and energy (phone.predict)
    emulation: dict[str, Any] | None = None  # the emulated phone speed: targets, calibration, lags
    throttle: dict[str, Any] | None = None  # what the speed mechanism and governor achieved
    energy: dict[str, Any] | None = None  # the phone's estimated energy for this run (None: host, no battery)
    energy_error: str | None = None  # why there is no phone energy estimate
    host_energy: dict[str, Any] | None = None  # this host's measured energy, never the phone's
    error_kind: str | None = None  # the child's error class ("model_load", "bad_prompt", …)
    history_error: str | None = None  # why the run is not in the history (the app shows it)
    sampler_cpu_s: float | None = None  # CPU time the memory sampler spent (the profiler's own cost)

    def finish_summary(self) -> None:
        """Compute the summary from the tokens and samples taken so far."""
        s = self.summary
        s.generated_tokens = len(self.tokens)
        if self.tokens and self.loaded_at_s is not None:
            s.ttft_s = self.tokens[0].t - self.loaded_at_s
            if s.ttft_s > 0 and s.prompt_tokens:
                s.prefill_tokens_per_s = s.prompt_tokens / s.ttft_s
        if len(self.tokens) >= 2:
            span = self.tokens[-1].t - self.tokens[0].t
            if span > 0:
                s.decode_tokens_per_s = (len(self.tokens) - 1) / span
            gaps = [tok.latency_ms for tok in self.tokens[1:]]
            s.itl_p50_ms = statistics.median(gaps)
            s.itl_p95_ms = percentile(gaps, 95)
        if self.samples:
            s.peak_rss_mb = max(x.rss_mb for x in self.samples)
            s.peak_footprint_mb = max(x.footprint_mb for x in self.samples)
            s.peak_file_mb = max(x.file_mb for x in self.samples)
            span = self.samples[-1].t - self.samples[0].t
            if span > 0:
                s.sample_rate_hz = (len(self.samples) - 1) / span
        if self.kill is not None and s.peak_footprint_mb is not None:
            s.peak_footprint_mb = max(s.peak_footprint_mb, self.kill.footprint_mb)

    def to_dict(self) -> dict[str, Any]:
        """The report (schema 1): an optional finding left unset is left out, as schema 1 always did."""
        data = {"schema_version": SCHEMA_VERSION, **asdict(self)}
        for key in OPTIONAL:
            if data[key] in (None, []):
                del data[key]
        return data


# Left out of a report while unset, as schema 1 did; energy and host_energy are always written (every run sets
# them, None where there is none).
OPTIONAL = (
    "warnings",
    "prediction",
    "emulation",
    "throttle",
    "energy_error",
    "error_kind",
    "history_error",
    "sampler_cpu_s",
)


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default), without numpy."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _mode_for(path: Path) -> int:
    """The replaced file's permissions, or what the umask gives a new file."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0o022)
        os.umask(mask)
        return 0o666 & ~mask


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` for a writer to fill; renamed over ``path`` when the block succeeds.

    It has the replaced file's permissions (or the umask's); if the block fails it is removed, and one
    left by a writer that was killed mid-write is swept by the next write to the same path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp makes 0600; a report is as readable as any file the user writes
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it."""
    with atomic_target(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _remove_orphans(path: Path) -> None:
    """Temporary files beside ``path`` left by a writer that was killed mid-write (its PID is gone)."""
    import psutil

    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            tmp.unlink(missing_ok=True)


def write_problem(path: Path, exc: BaseException) -> str:
    """What went wrong writing ``path``, and what to do about it, in one line."""
    path = Path(path)
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT) or "database or disk is full" in str(exc):
        try:
            free = f"{shutil.disk_usage(path.parent).free / MB:,.0f} MB free"
        except OSError:
            free = "free space unknown"
        what = "your disk quota is used up" if code == errno.EDQUOT else "no space left on the disk"
        return f"{path}: {what} ({free} in {path.parent}); free some space there or write elsewhere"
    if code == errno.EFBIG:
        return f"{path}: file too large for this process's file-size limit (ulimit -f); raise it or write elsewhere"
    if code in (errno.EACCES, errno.EPERM):
        return f"{path}: permission denied; write somewhere you may write"
    if code == errno.EROFS:
        return f"{path}: the file system is read-only; write elsewhere"
    return f"{path}: cannot write: {getattr(exc, 'strerror', None) or exc}"


def write_json(record: RunRecord, path: Path) -> None:
    write_atomic(path, json.dumps(record.to_dict(), indent=1, ensure_ascii=False) + "\n")
