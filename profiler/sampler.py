"""The parent-side sampler thread, with the memory-budget watchdog built in.

It reads the child's memory at a fixed rate (50 Hz by default): RSS, footprint
(anonymous + swap, the closest Linux figure to iOS ``phys_footprint``: dirty
memory counts, clean file-backed pages do not), file-backed RSS, CPU % and
threads. When the footprint passes the budget it sends SIGKILL at once, as iOS
jetsam and Android lmkd do, and records the kill.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import psutil

from profiler.gpu import GpuMonitor
from profiler.record import MB, Kill, Sample


def read_memory(pid: int, *, previous: dict[str, int] | None = None) -> dict[str, int]:
    """rss, anon, file, swap (bytes) and threads of a live process; OSError once it is gone.

    With ``previous`` (an earlier full reading) on Linux, only the cheap /proc/PID/statm is read
    and swap and threads are taken from ``previous``: they change slowly.
    """
    if sys.platform.startswith("linux"):
        from profiler import linux

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

    def stop(self) -> None:
        self._halt.set()

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
        tick = 0
        full: dict[str, int] | None = None
        while not self._halt.is_set():
            try:
                mem = read_memory(self.pid, previous=full if tick % 5 else None)  # swap and threads at ~10 Hz
                if tick % 5 == 0:
                    full = mem
                now = time.monotonic()
                if tick % 5 == 0:  # CPU % over ~100 ms windows, steadier than per 20 ms
                    cpu = self._cpu()
                    if now > last_t:
                        cpu_percent = 100.0 * (cpu - last_cpu) / (now - last_t)
                    last_cpu, last_t = cpu, now
            except (OSError, psutil.Error, ValueError):
                break
            if self.gpu is not None and tick % 5 == 0:  # NVML at ~10 Hz is plenty
                gpu_mem, gpu_power = self.gpu.read(self.pid)
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
            if self.budget_mb is not None and sample.footprint_mb > self.budget_mb and self.kill is None:
                self._jetsam(sample)
            if self.on_sample is not None:
                self.on_sample(sample)
            if self.kill is not None:
                break
            tick += 1
            deadline += self.period
            delay = deadline - time.monotonic()
            if delay < -self.period:  # fell behind (machine busy): do not burst to catch up
                deadline = time.monotonic()
            elif delay > 0:
                self._halt.wait(delay)
        self.cpu_seconds = time.thread_time() - own

    def _jetsam(self, sample: Sample) -> None:
        try:
            kill_now(self.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            return
        assert self.budget_mb is not None
        self.kill = Kill(
            reason="memory_budget",
            at_s=sample.t,
            footprint_mb=sample.footprint_mb,
            limit_mb=self.budget_mb,
            tokens_before_kill=self.tokens_so_far(),
        )
