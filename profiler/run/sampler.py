"""The parent-side sampler thread, with the memory-budget watchdog built in.

It reads the child's memory (50 times a second by default): RSS, footprint
(anonymous + swap, the closest Linux figure to iOS ``phys_footprint``: dirty
memory counts, clean file-backed pages do not), file-backed RSS, CPU % and
threads. When the footprint passes the budget it sends SIGKILL at once, as iOS
jetsam and Android lmkd do, and records the kill.

Once the model has loaded (:meth:`Sampler.settle`) and while memory holds still (footprint
and RSS each moving under ``STEADY_MB_S`` for ``STEADY_S``, as during a decode, whose KV
cache grows by kilobytes a token) it samples at ``STEADY_HZ`` instead, and returns to the full
rate at the first reading that moves. Never while loading: a load that starts from a still
footprint can grow by several MB a millisecond, too fast to find at 5 Hz. Each
wake-up of this thread pre-empts one of llama.cpp's threads on a host whose cores all run
them, and the others wait for it at their next barrier: at 50 Hz that cost a 2-core host
about 5 % of its decode speed (benchmarks/RESULTS.md).

iOS and Android kill at the allocation that crosses the limit. A model loading with
``--no-mmap`` grows by several MB a millisecond, so at 50 Hz alone the kill would land
8–17 % past the budget. Between two samples the sampler therefore watches more closely
whenever the footprint could reach the budget before the next one (it is within
``NEAR_FRACTION`` of it, or growing fast enough to get there): it reads the cheap
``statm`` every ``WATCH_S`` and kills at the crossing. A run with headroom pays nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import psutil

from profiler.record import MB, Kill, Sample
from profiler.run.gpu import GpuMonitor


def read_memory(pid: int, *, previous: dict[str, int] | None = None) -> dict[str, int]:
    """rss, anon, file, swap (bytes) and threads of a live process; OSError once it is gone.

    With ``previous`` (an earlier full reading) on Linux, only the cheap /proc/PID/statm is read
    and swap and threads are taken from ``previous``: they change slowly.
    """
    if sys.platform.startswith("linux"):
        from profiler.run import linux

        if previous is not None:
            return {"swap": previous.get("swap", 0), "threads": previous.get("threads", 0)} | linux.read_statm(pid)
        status = linux.read_status(pid)
        status.setdefault("swap", 0)
        status["file"] = status.get("file", 0) + status.get("shmem", 0)
        return status
    try:
        proc = psutil.Process(pid)
        info = proc.memory_full_info()
        threads = proc.num_threads()
    except (psutil.NoSuchProcess, psutil.AccessDenied) as exc:
        raise OSError(str(exc)) from None
    anon = getattr(info, "uss", info.rss)
    swap = getattr(info, "swap", 0)
    return {"rss": info.rss, "anon": anon, "file": max(0, info.rss - anon), "swap": swap, "threads": threads}


NEAR_FRACTION = 0.05  # within 5 % of the budget, watch closely whatever the growth
WATCH_S = 0.0005  # the close watch: ~30 us a statm read, so about 6 % of a core while it lasts
STEADY_HZ = 5.0  # the rate while memory holds still
STEADY_MB_S = 8.0  # "still": footprint and RSS each moving slower than this (a decode's KV cache: 0.1-2 MB/s)
STEADY_S = 0.1  # ... for this long (five readings at 50 Hz)
SLOW_READS_S = 0.1  # CPU %, swap, threads and the GPU are read at most this often (steadier, cheaper)


def kill_now(pid: int) -> None:
    """SIGKILL (POSIX) or TerminateProcess (Windows, through psutil): no chance to clean up."""
    if hasattr(signal, "SIGKILL"):
        os.kill(pid, signal.SIGKILL)
    else:
        psutil.Process(pid).kill()


class Sampler(threading.Thread):
    """Samples ``pid`` until stopped or the process is gone."""

    def __init__(
        self,
        pid: int,
        t0: float,
        *,
        rate_hz: float = 50.0,
        budget_mb: float | None = None,
        tokens_so_far: Callable[[], int] = lambda: 0,
        on_sample: Callable[[Sample], None] | None = None,
        gpu: GpuMonitor | None = None,
    ) -> None:
        super().__init__(name="pocketprof-sampler", daemon=True)
        self.pid, self.t0, self.period = pid, t0, 1.0 / rate_hz
        self.budget_mb = budget_mb
        self.tokens_so_far = tokens_so_far
        self.on_sample = on_sample
        self.gpu = gpu
        self.kill: Kill | None = None
        self.cpu_seconds = 0.0  # the sampler's own CPU cost, for the benchmark
        self._halt = threading.Event()
        self._proc = psutil.Process(pid)
        self._previous: Sample | None = None  # the reading before this one
        self._slope = 0.0  # footprint growth between the last two samples, MB/s
        self._still_s = 0.0  # how long footprint and RSS have held still
        self._settled = False  # the model has loaded: the rate may drop while memory holds still

    def stop(self) -> None:
        self._halt.set()

    def settle(self) -> None:
        """The model has loaded: from now on, sample at STEADY_HZ while memory holds still."""
        self._settled = True

    def _cpu(self) -> float:
        times = self._proc.cpu_times()
        return times.user + times.system

    def run(self) -> None:
        own = time.thread_time()
        try:
            last_cpu, last_t = self._cpu(), time.monotonic()
        except psutil.Error:
            return
        cpu_percent = 0.0
        gpu_mem: float | None = None
        gpu_power: float | None = None
        deadline = time.monotonic()
        slow_read_at = -1.0  # when CPU %, swap, threads and the GPU were last read
        full: dict[str, int] | None = None
        while not self._halt.is_set():
            try:
                now = time.monotonic()
                slow = now - slow_read_at >= SLOW_READS_S
                mem = read_memory(self.pid, previous=None if slow else full)
                if not mem.get("rss"):
                    break  # an exiting child (a zombie) reads as empty: not a reading of the run
                if slow:
                    full = mem
                    cpu = self._cpu()
                    if now > last_t:
                        cpu_percent = 100.0 * (cpu - last_cpu) / (now - last_t)
                    last_cpu, last_t = cpu, now
            except (OSError, psutil.Error, ValueError):
                break
            if self.gpu is not None and slow:
                gpu_mem, gpu_power = self.gpu.read(self.pid)
            if slow:
                slow_read_at = now
            sample = Sample(
                t=now - self.t0,
                rss_mb=mem.get("rss", 0) / MB,
                footprint_mb=(mem.get("anon", 0) + mem.get("swap", 0)) / MB,
                file_mb=mem.get("file", 0) / MB,
                anon_mb=mem.get("anon", 0) / MB,
                swap_mb=mem.get("swap", 0) / MB,
                cpu_percent=round(cpu_percent, 1),
                threads=mem.get("threads", 0),
                gpu_mem_mb=gpu_mem,
                gpu_power_w=gpu_power,
            )
            self._track(sample)
            if self.budget_mb is not None and sample.footprint_mb > self.budget_mb and self.kill is None:
                before = self._previous
                self._jetsam(sample, None if before is None else (before.t, before.footprint_mb))
            if self.on_sample is not None:
                self.on_sample(sample)
            if self.kill is not None:
                break
            self._previous = sample
            period = self.current_period()
            deadline += period
            if time.monotonic() - deadline > period:  # fell behind (busy machine): no burst
                deadline = time.monotonic()
            crossing = self._watch_until(deadline, full, sample)
            if crossing is not None:
                if self.on_sample is not None:
                    self.on_sample(crossing)
                break
        self.cpu_seconds = time.thread_time() - own

    def _track(self, sample: Sample) -> None:
        """Update the footprint's growth rate and how long memory has held still."""
        before = self._previous
        if before is None or sample.t <= before.t:
            return
        span = sample.t - before.t
        self._slope = (sample.footprint_mb - before.footprint_mb) / span
        rss_rate = abs(sample.rss_mb - before.rss_mb) / span
        if abs(self._slope) < STEADY_MB_S and rss_rate < STEADY_MB_S:
            self._still_s += span
        else:
            self._still_s = 0.0

    def current_period(self) -> float:
        """The full rate's period, or the steady rate's while memory has held still for STEADY_S."""
        if self._settled and self._still_s >= STEADY_S:
            return max(self.period, 1.0 / STEADY_HZ)
        return self.period

    def _near(self, now_s: float, footprint: float, slope: float, until_s: float) -> bool:
        """Could the footprint reach the budget before ``until_s``? (slope in MB/s)"""
        assert self.budget_mb is not None
        headroom = self.budget_mb - footprint
        reach = max(0.0, slope) * (until_s - now_s + self.current_period())
        return headroom <= NEAR_FRACTION * self.budget_mb or headroom <= 1.5 * reach

    def _watch_until(self, deadline: float, full: dict[str, int] | None, sample: Sample) -> Sample | None:
        """Wait for the next sample; meanwhile, near the budget, read statm every WATCH_S and kill at the crossing."""
        last_t, last_fp, slope = sample.t, sample.footprint_mb, self._slope
        while not self._halt.is_set():
            now = time.monotonic()
            if now >= deadline:
                return None
            if self.budget_mb is None or not self._near(now - self.t0, last_fp, slope, deadline - self.t0):
                self._halt.wait(deadline - now)
                return None
            self._halt.wait(WATCH_S)
            try:
                mem = read_memory(self.pid, previous=full)
            except (OSError, ValueError):
                return None
            if not mem.get("rss"):
                return None
            t = time.monotonic() - self.t0
            footprint = (mem.get("anon", 0) + mem.get("swap", 0)) / MB
            if t > last_t:
                slope = (footprint - last_fp) / (t - last_t)
            if footprint > self.budget_mb:
                crossing = replace(
                    sample,
                    t=t,
                    rss_mb=mem.get("rss", 0) / MB,
                    footprint_mb=footprint,
                    file_mb=mem.get("file", 0) / MB,
                    anon_mb=mem.get("anon", 0) / MB,
                )
                self._jetsam(crossing, (last_t, last_fp))
                return crossing if self.kill is not None else None
            last_t, last_fp = t, footprint
        return None

    def _jetsam(self, sample: Sample, before: tuple[float, float] | None) -> None:
        """Kill now, recording when the footprint crossed (between ``before`` and ``sample``) and when it died."""
        try:
            kill_now(self.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            return
        killed_at = time.monotonic() - self.t0
        assert self.budget_mb is not None
        crossed = sample.t
        if before is not None and sample.footprint_mb > before[1] and before[1] <= self.budget_mb:
            share = (self.budget_mb - before[1]) / (sample.footprint_mb - before[1])
            crossed = before[0] + share * (sample.t - before[0])
        self.kill = Kill(
            reason="memory_budget",
            at_s=killed_at,
            footprint_mb=sample.footprint_mb,
            limit_mb=self.budget_mb,
            tokens_before_kill=self.tokens_so_far(),
            crossed_at_s=round(crossed, 5),
        )
