"""Speed mechanisms are found by name: a new one is a class and a registration (ARCHITECTURE.md)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from profiler.model.gguf_meta import read_metadata
from profiler.model.models import resolve
from profiler.record import Limit
from profiler.run import mechanisms
from profiler.run.config import RunConfig, validate
from profiler.run.limits import Enforcement, LimitPlan
from profiler.run.session import Session


def plan(**changes: object) -> LimitPlan:
    fields: dict[str, object] = dict(budget_mb=None, dram_mb=None, cores=None, threads=2, speed_factor=0.5)
    return LimitPlan(**(fields | changes))  # type: ignore[arg-type]


class NiceToy(mechanisms.Mechanism):
    """A toy: lowers the child's CPU priority (nice 10 on each thread) and keeps what it saw."""

    name = "toy-nice"
    help = "nice 10 (a test's toy)"
    seen: dict[str, object]

    def __init__(self) -> None:
        NiceToy.seen = {}

    def limit(self, plan: LimitPlan, enforcement: Enforcement) -> Limit:
        NiceToy.seen["limit_factor"] = plan.speed_factor
        return Limit(plan.speed_factor, "x host", "toy nice", "nice 10 on every thread")

    def start(
        self, pid: int, limit: Limit, factor_at: Callable[[float], float], origin: float
    ) -> mechanisms.Throttling | None:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.setpriority(os.PRIO_PROCESS, int(tid), 10)
        NiceToy.seen |= {"pid": pid, "nice": os.getpriority(os.PRIO_PROCESS, pid), "factor": factor_at(0.0)}
        return ToyThrottling(origin)


class ToyThrottling:
    def __init__(self, origin: float) -> None:
        self.origin, self.held_s, self.stopped = origin, 0.0, False

    def hold(self, until: float) -> None:
        pass

    def snapshot(self) -> tuple[float, float]:
        return time.monotonic() - self.origin, 0.0

    def stop(self) -> None:
        NiceToy.seen["stopped"] = True

    @property
    def achieved_factor(self) -> float | None:
        return 1.0


def test_the_built_in_mechanisms_are_registered_and_config_names_them_all(monkeypatch: pytest.MonkeyPatch):
    assert mechanisms.names()[:2] == ["duty", "quota"]
    monkeypatch.setitem(mechanisms.REGISTRY, NiceToy.name, NiceToy)
    model = read_metadata(resolve("smollm2-135m"))
    with pytest.raises(Exception, match="--throttle must be 'duty' or 'quota' or 'toy-nice', got 'sleep'"):
        validate(RunConfig(model="smollm2-135m", throttle="sleep"), model)
    validate(RunConfig(model="smollm2-135m", throttle="toy-nice"), model)  # a registered name is accepted


def test_quota_needs_the_cpu_controller_only_below_full_speed_and_falls_back_to_the_duty_cycle():
    quota = mechanisms.get("quota")
    assert quota.controllers(plan()) == ("cpu",) and quota.controllers(plan(speed_factor=1.0)) == ()
    assert mechanisms.get("duty").controllers(plan()) == ()
    fallback = quota.limit(plan(threads=3), Enforcement())  # no cgroup, no systemd scope
    assert (fallback.value, fallback.mechanism) == (0.5, "duty cycle")
    scoped = quota.limit(plan(threads=3), Enforcement(spawn_prefix=["systemd-run"]))
    assert (scoped.mechanism, scoped.note) == ("systemd scope cpu quota", "1.50 CPUs")
    assert quota.limit(plan(speed_factor=1.0), Enforcement()).mechanism == "none"


def test_the_duty_cycle_follows_a_curve_even_at_full_speed_and_is_off_without_one():
    duty = mechanisms.get("duty")
    assert duty.limit(plan(speed_factor=1.0), Enforcement()).mechanism == "none"
    curved = duty.limit(plan(speed_factor=1.0, follows_curve=True), Enforcement())
    assert curved.mechanism == "duty cycle" and "sustained-speed curve" in curved.note


@pytest.mark.model
def test_a_registered_toy_mechanism_is_applied_to_the_real_child_and_reported(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(mechanisms.REGISTRY, NiceToy.name, NiceToy)
    config = RunConfig(model="smollm2-135m", profile="host", max_tokens=8, speed_factor=0.5, throttle="toy-nice")
    session = Session(config, calibrate=False)
    record = session.run()
    assert record.status == "completed", record.error
    assert NiceToy.seen["pid"] == record.child["pid"] and NiceToy.seen["nice"] == 10
    assert NiceToy.seen["limit_factor"] == NiceToy.seen["factor"] == 0.5  # the session's factor, handed over
    assert NiceToy.seen["stopped"] is True
    speed = record.to_dict()["limits"]["speed"]
    assert (speed["mechanism"], speed["note"]) == ("toy nice", "nice 10 on every thread")
    assert record.throttle["achieved_factor"] == 1.0
