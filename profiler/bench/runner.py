"""Run bench tests: each repetition is a normal profiled run in the capped child.

A repetition is one :class:`profiler.run.session.Session`: its own child, the profile's limits,
the memory sampler, the phone's emulated speed under a phone profile, a history row. Inside
the child it is llama-bench's: the prompt is random token ids, a warm-up pass (the prompt and
the test's generated tokens or a second's worth, then a cleared memory: ``worker.warm_up``)
comes before the timed one, sampling is greedy and the end of text is ignored. A test whose
repetition is killed or fails stops there (the next would too) and the bench goes on with the
next test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from profiler.bench.plan import BenchTest
from profiler.bench.result import BenchResult
from profiler.report import history
from profiler.run.config import UNWATCHED_STREAM_S, RunConfig
from profiler.run.session import Event, Session

CTX_SPARE = 8  # positions beyond the test's tokens (llama-bench sizes n_ctx to n_prompt + n_gen exactly)
STREAM_S = UNWATCHED_STREAM_S  # a bench test's tokens reach the parent once a second: nobody watches them
# stream; a test whose speed is steered (a phone, or a speed factor) keeps 50 ms (speed_emulation.py)
HELD_S = 60.0  # on the host without a memory budget, a minute: a test's tokens come at its end; with a
# budget the child looks at its footprint at each hand-over (worker.NearBudget), so it keeps STREAM_S


@dataclass(frozen=True)
class Options:
    """What every test of one bench shares."""

    reps: int = 5
    delay_s: float = 0.0
    seed: int = 42
    mmap: bool = True
    gpu_layers: int = 0
    flash_attn: str = "auto"
    speed_factor: float | None = None
    memory_budget_mb: float | None = None
    dram_mb: float | None = None
    keep_history: bool = True
    reserve_cores: int = 0


def config_for(test: BenchTest, options: Options, rep: int, speed_correction: float = 1.0) -> RunConfig:
    gen = max(test.n_gen, 1)  # a pp test samples the one token whose time ends the prompt
    return RunConfig(
        model=test.model,
        profile=test.profile,
        prompt_tokens=test.n_prompt,
        max_tokens=gen,
        ctx=max(test.n_prompt, 1) + gen + CTX_SPARE,
        threads=test.threads,
        batch=test.batch,
        ubatch=test.ubatch,
        flash_attn=options.flash_attn,
        temperature=0.0,
        ignore_eos=True,
        raw=True,
        warmup=True,
        stream_interval_s=HELD_S if test.profile == "host" and options.memory_budget_mb is None else STREAM_S,
        seed=options.seed + rep,  # llama-bench's std::rand() gives each repetition other token ids
        mmap=options.mmap,
        gpu_layers=options.gpu_layers,
        speed_factor=options.speed_factor,
        memory_budget_mb=options.memory_budget_mb,
        dram_mb=options.dram_mb,
        reserve_cores=options.reserve_cores,
        speed_correction=speed_correction,
    )


def _prediction(session: Session, test: BenchTest) -> dict[str, Any] | None:
    """The phone's predicted speeds for this test's thread count and prompt (None on the host)."""
    found = session.phone_speed(max(test.n_prompt, 1))
    if found is None:
        return None
    return {
        "backend": found.backend,
        "threads": found.threads,
        "decode_ts": found.decode_tokens_per_s,
        "prefill_ts": found.prefill_tokens_per_s,
        "decode_error_pct": found.decode_error_pct,
        "prefill_error_pct": found.prefill_error_pct,
    }


class Bench:
    """Runs tests in order; ``stop`` ends the repetition under way and skips the rest."""

    def __init__(
        self,
        tests: list[BenchTest],
        options: Options,
        *,
        on_event: Callable[[Event], None] | None = None,
        on_progress: Callable[[str], None] | None = None,
        on_result: Callable[[BenchResult], None] | None = None,
    ) -> None:
        self.tests, self.options = tests, options
        self.on_event = on_event
        self.on_progress = on_progress or (lambda text: None)
        self.on_result = on_result or (lambda result: None)
        self._stop = threading.Event()
        self._session: Session | None = None
        self.problems: list[str] = []  # history rows that could not be stored

    def prepare(self) -> list[Session]:
        """Build (and so validate) the first repetition of every test before anything runs."""
        return [Session(config_for(test, self.options, 0), calibrate=True) for test in self.tests]

    def stop(self) -> None:
        self._stop.set()
        session = self._session
        if session is not None:
            session.stop()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> list[BenchResult]:
        results = []
        for index, test in enumerate(self.tests):
            if index and self.options.delay_s > 0 and not self.stopped:
                self._stop.wait(self.options.delay_s)  # llama-bench's --delay: cool down between tests
            result = BenchResult(test=test)
            if self.stopped:
                result.status = "skipped"
            else:
                self._run_test(index, result)
            results.append(result)
            self.on_result(result)
        return results

    def _run_test(self, index: int, result: BenchResult) -> None:
        test, count = result.test, len(self.tests)
        correction = 1.0  # an emulated test's speed governor goes on from where the last repetition left it
        for rep in range(self.options.reps):
            if self.stopped:
                result.status = "stopped"
                return
            self.on_progress(f"benchmark {index + 1}/{count} {describe(test)}: run {rep + 1}/{self.options.reps}")
            session = Session(config_for(test, self.options, rep, correction), on_event=self.on_event)
            if rep == 0:
                result.prediction = _prediction(session, test)
            self._session = session
            try:
                record = session.run()
            finally:
                self._session = None
            if self.options.keep_history:
                problem = history.keep(record)
                if problem:
                    self.problems.append(problem)
            result.reports.append(record.to_dict())
            correction = carried_correction(record.throttle, correction)
            if record.status != "completed":
                result.status, result.error = record.status, record.error or _kill_text(record.to_dict())
                return


def carried_correction(throttle: dict[str, Any] | None, previous: float) -> float:
    """Where the next repetition's speed governor starts: where this one's ended, if it steered."""
    if not throttle or not throttle.get("governor_target_tokens_per_s"):
        return previous
    return float(throttle.get("governor_correction") or previous)


def _kill_text(report: dict[str, Any]) -> str | None:
    kill = report.get("kill")
    if not kill:
        return None
    return f"killed by the {kill['reason']} at {kill['footprint_mb']:.0f} MB (limit {kill['limit_mb']:.0f} MB)"


def describe(test: BenchTest) -> str:
    threads = f"t={test.threads}" if test.threads else "t=profile"
    return f"{test.name} {threads} {test.profile} {test.model}"
