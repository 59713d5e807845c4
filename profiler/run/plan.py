"""What a run's limits are planned to be, and what was put in force on its child.

Plain data, below both ``limits`` (which fills an :class:`Enforcement`) and ``mechanisms``
(whose classes read the plan), so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.record import Limit


@dataclass(frozen=True)
class LimitPlan:
    budget_mb: float | None
    dram_mb: float | None
    cores: int | None
    threads: int
    speed_factor: float
    throttle: str = "duty"  # a name in profiler.run.mechanisms.REGISTRY
    follows_curve: bool = False  # the factor follows the profile's sustained-performance curve
    reserved_cores: int = 0  # host cores left to the caller (the app's window), never given to the child


class Enforcer:
    """One limit on the child: what it needs made before the spawn, and what it puts in force after.

    The memory budget, DRAM cap, cores and threads (``profiler.run.limits``) and every speed
    mechanism (``profiler.run.mechanisms``) are enforcers; each writes ``limit``.
    """

    def controllers(self, plan: LimitPlan) -> tuple[str, ...]:
        """The cgroup controllers this limit needs made before the spawn (none by default)."""
        return ()

    def limit(self, plan: LimitPlan, enforcement: Enforcement) -> Limit:
        """After the spawn: put the limit in force and say what it is (mechanism ``none`` with why, if it is not)."""
        raise NotImplementedError


@dataclass
class Enforcement:
    """The limits in force on one child, and what to undo when it is gone."""

    limits: dict[str, Limit] = field(default_factory=dict)
    cgroup: Any = None  # profiler.run.linux.Cgroup
    spawn_prefix: list[str] = field(default_factory=list)
    speed: Any = None  # this run's profiler.run.mechanisms.Mechanism (one instance), set by limits.prepare
    pid: int | None = None  # the child, once limits.apply has it
    cgroup_error: str = ""  # why there is no cgroup, for the limits that needed one

    def oom_kills(self) -> int:
        return self.cgroup.oom_kills() if self.cgroup is not None else 0

    def release(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
