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
from profiler.run.plan import Enforcement, LimitPlan

NONE = mechanisms.NONE


def host_cores() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(psutil.cpu_count() or 1))


def prepare(plan: LimitPlan) -> Enforcement:
    """Before the spawn: make a cgroup if one is needed and possible."""
    enforcement = Enforcement(speed=mechanisms.get(plan.throttle))
    need = []
    if plan.dram_mb is not None:
        need.append("memory")
    need += [c for c in enforcement.speed.controllers(plan) if c not in need]
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
    """After the spawn, before the model loads: put the child under its limits."""
    limits = enforcement.limits
    limits["memory_budget"] = (
        Limit(plan.budget_mb, "MB", "watchdog", "SIGKILL when footprint (anon + swap) passes it, like jetsam")
        if plan.budget_mb is not None
        else Limit(None, "MB", NONE, "no budget in this profile")
    )
    cgroup = enforcement.cgroup
    cgroup_error = ""
    if cgroup is not None:
        try:
            cgroup.add(pid)
        except OSError as exc:
            enforcement.cgroup = cgroup = None
            cgroup_error = f"could not join the cgroup: {exc}"
    else:
        cgroup_error = "no writable cgroup (not root, no delegated cgroup v2, no systemd user session)"
    if plan.dram_mb is None:
        limits["dram"] = Limit(None, "MB", NONE, "no DRAM cap in this profile")
    elif cgroup is not None:
        cgroup.set_memory_max(int(plan.dram_mb * MB))
        limits["dram"] = Limit(plan.dram_mb, "MB", cgroup.kind, "hard limit; pages are evicted, then OOM kill")
    elif enforcement.spawn_prefix:
        limits["dram"] = Limit(plan.dram_mb, "MB", "systemd scope", "MemoryMax on a transient scope")
    else:
        limits["dram"] = Limit(plan.dram_mb, "MB", NONE, f"DRAM cap not enforced: {cgroup_error}")
    _apply_cores(pid, plan, enforcement)
    limits["threads"] = Limit(plan.threads, "threads", "llama.cpp n_threads")
    limits["speed"] = enforcement.speed.limit(plan, enforcement)


def _apply_cores(pid: int, plan: LimitPlan, enforcement: Enforcement) -> None:
    available = host_cores()
    available = available[: max(1, len(available) - plan.reserved_cores)]
    wanted = min(plan.cores or len(available), len(available))
    chosen = available[:wanted]
    note = f"cores {chosen}; {plan.reserved_cores} kept free for the app's window" if plan.reserved_cores else ""
    try:
        if sys.platform.startswith("linux"):
            from profiler.run import linux

            linux.set_affinity_all(pid, chosen)  # threads the child already started, too
        else:
            psutil.Process(pid).cpu_affinity(chosen)
        mechanism = "affinity" if plan.cores is not None else NONE
        enforcement.limits["cores"] = Limit(wanted, "cores", mechanism, note or f"cores {chosen}")
    except (AttributeError, psutil.Error, OSError) as exc:  # macOS has no affinity API
        enforcement.limits["cores"] = Limit(wanted, "cores", NONE, f"affinity not available: {exc}")
