"""The ways the child is slowed to a phone's speed (``run --throttle NAME``): one class each, in a registry.

A mechanism says what it needs made before the spawn (cgroup controllers), what it enforces once
the child exists (the run's ``speed`` limit, as the report records it) and, where it has one, the
thread it keeps running for the child's lifetime (a :class:`Throttling`, like the SIGSTOP/SIGCONT
duty cycle). Adding a mechanism is one class and one :func:`register`: config checking, the
``--throttle`` choices and the session all find it here (ARCHITECTURE.md, "A new limit mechanism").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Protocol

from profiler.record import Limit
from profiler.run.plan import Enforcer
from profiler.run.throttle import DutyCycle

if TYPE_CHECKING:
    from profiler.run.plan import Enforcement, LimitPlan

NONE = "none"
DUTY_CYCLE = "duty cycle"


class Throttling(Protocol):
    """A mechanism's thread while the child lives: the session holds the first token and reads the duty through it."""

    held_s: float

    def hold(self, until: float) -> None: ...

    def snapshot(self) -> tuple[float, float]: ...

    def stop(self) -> None: ...

    @property
    def achieved_factor(self) -> float | None: ...


class Mechanism(Enforcer):
    """One way to cap the child's speed. Subclasses set ``name`` and ``help`` and write ``limit``."""

    name: ClassVar[str]
    help: ClassVar[str]

    def start(self, pid: int, limit: Limit, factor_at: Callable[[float], float], origin: float) -> Throttling | None:
        """Start what must run beside the child (``factor_at``: seconds since ``origin`` → factor), if anything."""
        return None


REGISTRY: dict[str, type[Mechanism]] = {}


def register(cls: type[Mechanism]) -> type[Mechanism]:
    """Make ``--throttle cls.name`` choose ``cls`` (usable as a class decorator)."""
    REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str) -> Mechanism:
    return REGISTRY[name]()


def quota_cpus(plan: LimitPlan) -> float:
    """A quota counts CPU time over all threads: factor F with n threads needs F × n CPUs."""
    return plan.speed_factor * plan.threads


def _duty_cycle_limit(plan: LimitPlan, note: str = "") -> Limit:
    return Limit(plan.speed_factor, "x host", DUTY_CYCLE, "SIGSTOP/SIGCONT, 15 ms period" + note)


def _start_duty_cycle(pid: int, limit: Limit, factor_at: Callable[[float], float], origin: float) -> Throttling | None:
    if limit.mechanism != DUTY_CYCLE:
        return None
    cycle = DutyCycle(pid, factor_at, origin=origin)
    cycle.start()
    return cycle


@register
class DutyCycleMechanism(Mechanism):
    """SIGSTOP/SIGCONT every 15 ms (profiler.run.throttle.DutyCycle); follows the phone's sustained-speed curve."""

    name = "duty"
    help = "SIGSTOP/SIGCONT duty cycle (default; follows the phone's sustained-speed curve)"

    def limit(self, plan: LimitPlan, enforcement: Enforcement) -> Limit:
        if plan.follows_curve:
            return _duty_cycle_limit(plan, ", following the sustained-speed curve")
        if plan.speed_factor >= 1.0:
            return Limit(1.0, "x host", NONE, "full host speed")
        return _duty_cycle_limit(plan)

    def start(self, pid: int, limit: Limit, factor_at: Callable[[float], float], origin: float) -> Throttling | None:
        return _start_duty_cycle(pid, limit, factor_at, origin)


@register
class QuotaMechanism(Mechanism):
    """A cgroup CPU quota of F × threads CPUs (v2 or v1, else a systemd scope); else the duty cycle."""

    name = "quota"
    help = "a cgroup CPU quota (fixed factor; falls back to the duty cycle where no cgroup can be made)"

    def controllers(self, plan: LimitPlan) -> tuple[str, ...]:
        return ("cpu",) if plan.speed_factor < 1.0 else ()

    def limit(self, plan: LimitPlan, enforcement: Enforcement) -> Limit:
        factor = plan.speed_factor
        if factor >= 1.0:
            return Limit(1.0, "x host", NONE, "full host speed")
        cpus = quota_cpus(plan)
        curve = "; fixed: the sustained-speed curve needs --throttle duty" if plan.follows_curve else ""
        cgroup = enforcement.cgroup
        if cgroup is not None and "cpu" in cgroup.dirs:
            cgroup.set_cpu_quota(cpus)
            return Limit(factor, "x host", f"{cgroup.kind} cpu quota", f"{cpus:.2f} CPUs{curve}")
        if enforcement.spawn_prefix:
            return Limit(factor, "x host", "systemd scope cpu quota", f"{cpus:.2f} CPUs{curve}")
        return _duty_cycle_limit(plan)

    def start(self, pid: int, limit: Limit, factor_at: Callable[[float], float], origin: float) -> Throttling | None:
        return _start_duty_cycle(pid, limit, factor_at, origin)
