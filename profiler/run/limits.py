"""Deciding and applying a run's limits, recording the mechanism behind each one.

Mechanisms, best first: memory budget by the watchdog (always); DRAM cap by a
cgroup (v2, then v1, then a ``systemd-run --user --scope``); cores by CPU
affinity; speed by the mechanism ``--throttle`` names, found in ``profiler.run.mechanisms``
(a SIGSTOP/SIGCONT duty cycle by default, or a cgroup CPU quota).
Anything that could not be enforced is recorded as ``none`` with the reason.
"""

from __future__ import annotations

import os
import sys
import uuid

import psutil

from profiler.record import MB, Limit
from profiler.run import mechanisms
from profiler.run.plan import Enforcement, Enforcer, LimitPlan

NONE = mechanisms.NONE


def host_cores() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(psutil.cpu_count() or 1))


class Watchdog(Enforcer):
    """The memory budget: the sampler kills the child when its footprint passes it (jetsam, lmkd)."""

    key = "memory_budget"

    def limit(self, plan: LimitPlan, enforcement: Enforcement) -> Limit:
        if plan.budget_mb is None:
            return Limit(None, "MB", NONE, "no budget in this profile")
        return Limit(plan.budget_mb, "MB", "watchdog", "SIGKILL when footprint (anon + swap) passes it, like jetsam")


class DramCap(Enforcer):
    """The phone's DRAM: a cgroup's memory.max (v2, v1), else a systemd scope's MemoryMax, else none."""

    key = "dram"

    def controllers(self, plan: LimitPlan) -> tuple[str, ...]:
        return ("memory",) if plan.dram_mb is not None else ()

    def limit(self, plan: LimitPlan, enforcement: Enforcement) -> Limit:
        cgroup = enforcement.cgroup
        if plan.dram_mb is None:
            return Limit(None, "MB", NONE, "no DRAM cap in this profile")
        if cgroup is not None:
            cgroup.set_memory_max(int(plan.dram_mb * MB))
            return Limit(plan.dram_mb, "MB", cgroup.kind, "hard limit; pages are evicted, then OOM kill")
        if enforcement.spawn_prefix:
            return Limit(plan.dram_mb, "MB", "systemd scope", "MemoryMax on a transient scope")
        return Limit(plan.dram_mb, "MB", NONE, f"DRAM cap not enforced: {enforcement.cgroup_error}")


class CoreAffinity(Enforcer):
    """The phone's cores: the child's threads pinned to as many host cores (never the app's reserved ones)."""

    key = "cores"

    def limit(self, plan: LimitPlan, enforcement: Enforcement) -> Limit:
        available = host_cores()
        available = available[: max(1, len(available) - plan.reserved_cores)]
        wanted = min(plan.cores or len(available), len(available))
        chosen = available[:wanted]
        note = f"cores {chosen}; {plan.reserved_cores} kept free for the app's window" if plan.reserved_cores else ""
        try:
            if sys.platform.startswith("linux"):
                from profiler.run import linux

                linux.set_affinity_all(enforcement.pid, chosen)  # threads the child already started, too
            else:
                psutil.Process(enforcement.pid).cpu_affinity(chosen)
        except (AttributeError, psutil.Error, OSError) as exc:  # macOS has no affinity API
            return Limit(wanted, "cores", NONE, f"affinity not available: {exc}")
        return Limit(wanted, "cores", "affinity" if plan.cores is not None else NONE, note or f"cores {chosen}")


class ThreadCount(Enforcer):
    """llama.cpp's own thread count: set in the child's context, reported with the limits."""

    key = "threads"

    def limit(self, plan: LimitPlan, enforcement: Enforcement) -> Limit:
        return Limit(plan.threads, "threads", "llama.cpp n_threads")


# Every run's limits, in the report's order; the speed (last) is the mechanism --throttle names.
ENFORCERS = (Watchdog(), DramCap(), CoreAffinity(), ThreadCount())


def prepare(plan: LimitPlan) -> Enforcement:
    """Before the spawn: make a cgroup with the controllers the limits need, if one is needed and possible."""
    enforcement = Enforcement(speed=mechanisms.get(plan.throttle))
    need: list[str] = []
    for enforcer in (*ENFORCERS, enforcement.speed):
        need += [c for c in enforcer.controllers(plan) if c not in need]
    if need and sys.platform.startswith("linux"):
        from profiler.run import linux

        name = f"pocketprof-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            enforcement.cgroup = linux.make_cgroup(name, tuple(need))
        except OSError:
            enforcement.cgroup = None
        if enforcement.cgroup is None:
            memory = int(plan.dram_mb * MB) if plan.dram_mb is not None else None
            quota = mechanisms.quota_cpus(plan) if "cpu" in need else None
            prefix = linux.systemd_scope_prefix(memory, int(quota * 100) if quota else None)
            enforcement.spawn_prefix = prefix or []
    return enforcement


def apply(pid: int, plan: LimitPlan, enforcement: Enforcement) -> None:
    """After the spawn, before the model loads: put the child in its cgroup, then under each limit."""
    enforcement.pid = pid
    if enforcement.cgroup is not None:
        try:
            enforcement.cgroup.add(pid)
        except OSError as exc:
            enforcement.cgroup = None
            enforcement.cgroup_error = f"could not join the cgroup: {exc}"
    else:
        enforcement.cgroup_error = "no writable cgroup (not root, no delegated cgroup v2, no systemd user session)"
    for enforcer in ENFORCERS:
        enforcement.limits[enforcer.key] = enforcer.limit(plan, enforcement)
    enforcement.limits["speed"] = enforcement.speed.limit(plan, enforcement)
