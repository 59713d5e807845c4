"""A run queue: models × phones, one run at a time, with a rest between runs, stoppable at any point.

``pocketprof sweep`` runs it to the end in one call (:meth:`Sweep.run`); the app's Compare window
steps it from its event loop (:meth:`Sweep.next_config`, then :meth:`Sweep.finished` with the
record, waiting ``cool_down_s`` between). Either way the order, the rest between runs and the
rule that a stopped run ends the queue are the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from profiler.record import RunRecord
from profiler.run.config import RunConfig

COOL_DOWN_S = 2.0  # between runs, so one run's heat and page cache do not spill into the next timing


class Sweep:
    def __init__(self, configs: Sequence[RunConfig], *, cool_down_s: float = COOL_DOWN_S) -> None:
        self.pending = list(configs)
        self.total = len(self.pending)
        self.cool_down_s = cool_down_s
        self.records: list[RunRecord] = []
        self._stop = threading.Event()

    @classmethod
    def over(
        cls, base: RunConfig, models: Sequence[str], profiles: Sequence[str], *, cool_down_s: float = COOL_DOWN_S
    ) -> Sweep:
        """Every model on every profile, model by model, with ``base``'s other settings."""
        configs = [replace(base, model=m, profile=p) for m in models for p in profiles]
        return cls(configs, cool_down_s=cool_down_s)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """No further run starts (a rest in progress ends at once); the current run is its runner's to stop."""
        self._stop.set()

    def next_config(self) -> RunConfig | None:
        """The next run to start, or None when the queue is done or stopped."""
        if self.stopped or not self.pending:
            return None
        return self.pending.pop(0)

    def finished(self, record: RunRecord) -> None:
        """A run ended; a run the user stopped ends the queue."""
        self.records.append(record)
        if record.status == "stopped":
            self.stop()

    def run(self, run_one: Callable[[int, RunConfig], RunRecord]) -> list[RunRecord]:
        """Run the queue to its end: ``run_one(index, config)`` for each, resting between runs."""
        while self.pending and not self.stopped:
            if self.records and self._stop.wait(self.cool_down_s):
                break
            config = self.next_config()
            if config is None:
                break
            self.finished(run_one(len(self.records), config))
        return self.records
