"""The run queue that `pocketprof sweep` and the Compare window share (real runs: test_promises)."""

from __future__ import annotations

import itertools
import threading
import time

from profiler.record import RunRecord
from profiler.run.config import RunConfig
from profiler.sweep import Sweep


def record(config: RunConfig, status: str = "completed") -> RunRecord:
    return RunRecord(
        run_id=f"{config.model}-{config.profile}",
        started_at="",
        config={},
        model={},
        profile={},
        host={},
        status=status,
    )


def test_every_model_runs_on_every_phone_model_by_model_with_a_rest_between():
    sweep = Sweep.over(RunConfig(model="m", max_tokens=7), ["a", "b"], ["p", "q"], cool_down_s=0.05)
    started: list[tuple[int, str, float]] = []

    def run_one(index: int, config: RunConfig) -> RunRecord:
        assert config.max_tokens == 7  # the base's other settings are kept
        started.append((index, f"{config.model}@{config.profile}", time.monotonic()))
        return record(config)

    records = sweep.run(run_one)
    assert [(i, name) for i, name, _ in started] == [(0, "a@p"), (1, "a@q"), (2, "b@p"), (3, "b@q")]
    assert [r.run_id for r in records] == ["a-p", "a-q", "b-p", "b-q"] and sweep.total == 4
    gaps = [b - a for (_, _, a), (_, _, b) in itertools.pairwise(started)]
    assert min(gaps) >= 0.05  # the cool-down separates each run from the next
    assert sweep.next_config() is None


def test_a_stopped_run_ends_the_queue():
    sweep = Sweep.over(RunConfig(model="m"), ["a", "b", "c"], ["p"], cool_down_s=0)
    ran = sweep.run(lambda i, c: record(c, "stopped" if c.model == "b" else "completed"))
    assert [r.run_id for r in ran] == ["a-p", "b-p"] and sweep.stopped and sweep.next_config() is None


def test_a_stop_during_the_rest_ends_it_at_once_and_starts_nothing_more():
    sweep = Sweep.over(RunConfig(model="m"), ["a", "b"], ["p"], cool_down_s=30.0)
    threading.Timer(0.2, sweep.stop).start()
    began = time.monotonic()
    ran = sweep.run(lambda i, c: record(c))
    assert [r.run_id for r in ran] == ["a-p"] and time.monotonic() - began < 5.0


def test_the_app_steps_the_same_queue_one_run_at_a_time():
    sweep = Sweep.over(RunConfig(model="m"), ["a"], ["p", "q", "r"])
    first = sweep.next_config()
    assert first is not None and first.profile == "p" and len(sweep.pending) == 2
    sweep.finished(record(first))
    second = sweep.next_config()
    assert second is not None and second.profile == "q"
    sweep.stop()
    assert sweep.next_config() is None and [r.run_id for r in sweep.records] == ["a-p"]
