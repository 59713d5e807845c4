"""The speed side of one run: the factor the throttle follows, and everything that sets it.

A :class:`SpeedEmulation` owns the run's phone targets (:class:`profiler.run.emulate.Emulation`),
the host's calibration, the :class:`SpeedGovernor` and the phone's sustained-speed curve. The
session asks it for the plan's speed factor before the spawn (:meth:`prepare`), hands it the
throttle once the child runs (:meth:`attach`), and tells it when the model has loaded, of each
token and of the end; it never touches the child itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from profiler.phone.profiles import Profile
from profiler.record import RunRecord
from profiler.run import calibrate
from profiler.run.calibrate import Calibration
from profiler.run.config import RunConfig
from profiler.run.emulate import Emulation
from profiler.run.mechanisms import Throttling
from profiler.run.plan import LimitPlan
from profiler.run.throttle import SpeedGovernor


@dataclasses.dataclass(frozen=True)
class Hooks:
    """What the emulation needs from its session, without holding the session."""

    prediction: Callable[[], Any]  # the phone's prediction for this run (None on the host)
    phone_speed: Callable[[int], Any]  # the phone's speed for a prompt of N tokens (None on the host)
    # run a calibration child, saying why (None: the session was stopped before it started; it stops a running one)
    measure: Callable[[RunConfig, str], RunRecord | None]
    stopped: Callable[[], bool]


# The governor steers the throttle by the tokens' stamps as they reach the parent: handed over in
# one-second bursts (a bench test's), a run shorter than a burst ends before it is steered at all.
STEERED_STREAM_S = 0.05
FOLLOW_EVERY = 8  # tokens between two updates of the host's decode rate for where the tokens have got to


class SpeedEmulation:
    def __init__(
        self, config: RunConfig, profile: Profile, model_path: Any, plan: LimitPlan, hooks: Hooks, *, calibrate: bool
    ) -> None:
        self.config, self.profile, self.model_path, self.plan, self.hooks = config, profile, model_path, plan, hooks
        self.calibrate = calibrate  # False for a calibration run itself
        self.governor = SpeedGovernor(None)
        self.emulation: Emulation | None = None
        self.throttle: Throttling | None = None
        self._decode_start: tuple[float, float, float] | None = None  # throttle (running, stopped, held)
        self._host_calibration: Calibration | None = None  # --speed-factor's: the governor aims at a share of it
        self._prompt_tokens: int | None = None  # known once the model has loaded
        self._decoded = 0  # tokens so far: where the next one sits is prompt + decoded

    # -- before the spawn ----------------------------------------------------------------
    def prepare(self) -> LimitPlan:
        """The plan with its speed factor: the user's, or the phone's decode speed over the host's."""
        plan = self._prepare()
        if self.governor.target_tps:  # a correction carried from a repetition before; with no target it would
            self.governor.initial_correction = self.governor.correction = self.config.speed_correction  # only throttle
        return plan

    def _prepare(self) -> LimitPlan:
        config, plan = self.config, self.plan
        if config.speed_factor is not None or self.profile.is_host:
            calibration = self._calibration()[0] if plan.speed_factor < 1.0 else None
            self._host_calibration = calibration
            host = calibration.decode_tps if calibration else None
            self.governor.target_tps = plan.speed_factor * host if host else None
            return plan
        prediction = self.hooks.prediction()
        if prediction is None or prediction.speed.decode_tokens_per_s is None:
            return plan
        speed = prediction.speed
        calibration, source = self._calibration()
        self.emulation = Emulation(
            target_decode_tps=speed.decode_tokens_per_s,
            target_prefill_tps=speed.prefill_tokens_per_s,
            backend=speed.backend,
            calibration=calibration,
            calibration_source=source,
            decode_error_pct=speed.decode_error_pct,
            prefill_error_pct=speed.prefill_error_pct,
        )
        if calibration is not None:
            self.governor.target_tps = speed.decode_tokens_per_s
            self.plan = dataclasses.replace(plan, speed_factor=self.emulation.decode_factor)
        return self.plan

    def _calibration(self) -> tuple[Calibration | None, str]:
        """The host's speed for this model: cached if fresh and trusted, else measured now (stoppable)."""
        if not self.calibrate or self.hooks.stopped():
            return None, "none"
        threads, ctx = self.plan.threads, self.config.ctx
        found, why = calibrate.lookup(self.model_path, threads, ctx)
        if found is not None:
            return found, "cached"
        measured, failed = calibrate.measure(
            self.model_path, threads, ctx, lambda config, doing: self.hooks.measure(config, f"{why}; {doing}")
        )
        if measured is None:
            return None, "none" if failed == calibrate.STOPPED else f"none: {failed}"
        if measured.trusted:
            try:
                calibrate.store(measured)
            except OSError:
                pass  # an unwritable cache costs a re-measure next time, not this run
        untrusted = f"measured now, not trusted ({measured.reason}): not cached"  # the reason: a flaky host says why
        return measured, "measured now" if measured.trusted else untrusted

    def stream_interval(self, requested_s: float) -> float:
        """How often the child hands its tokens over: often enough for the governor to steer."""
        steered = self.governor.target_tps and self.throttle is not None  # a CPU quota is not steered
        return min(requested_s, STEERED_STREAM_S) if steered else requested_s

    def holds_first_token_past(self, loaded_at_s: float | None, at_s: float) -> bool:
        """Would the phone's first-token gate still hold a first token at ``at_s`` (seconds from the start)?"""
        emulation = self.emulation
        if emulation is None or self.throttle is None or emulation.target_ttft_s is None:
            return False
        return loaded_at_s is None or loaded_at_s + emulation.target_ttft_s > at_s

    # -- while the child runs ------------------------------------------------------------
    def factor_at(self, seconds: float) -> float:
        """The throttle's factor now: the phase's base factor, the phone's sustained curve, the governor."""
        emulation = self.emulation
        if emulation is not None and emulation.phase == "prefill":
            return min(1.0, emulation.base_factor() * self._fraction_at(seconds))
        return min(1.0, self.plan.speed_factor * self._fraction_at(seconds) * self.governor.correction)

    def _fraction_at(self, seconds: float) -> float:
        return self.profile.speed_fraction_at(seconds) if self.plan.follows_curve else 1.0

    def attach(self, throttle: Throttling | None) -> None:
        self.throttle = throttle

    def on_loaded(self, prompt_tokens: int) -> None:
        """The prompt is known: the phone's prefill for its length, the host's decode for its position."""
        self._prompt_tokens = prompt_tokens
        if self.emulation is not None:
            self.emulation.on_loaded(prompt_tokens, self._prefill_target(prompt_tokens))
        self._follow_position(prompt_tokens)

    def _follow_position(self, position: int) -> None:
        """The host's decode rate where the next token sits: the emulation's factor, or ``--speed-factor``'s
        target (a token's time grows with its position; ``Calibration.decode_tps_at``)."""
        emulation, host = self.emulation, self._host_calibration
        if emulation is None:
            if host is not None and self.governor.target_tps:
                self.governor.target_tps = self.plan.speed_factor * host.decode_tps_at(position)
            return
        emulation.decode_position = position
        if emulation.calibration is not None and self.plan.speed_factor < 1.0:  # the throttle was set up before
            self.plan = dataclasses.replace(self.plan, speed_factor=emulation.decode_factor)

    def _prefill_target(self, prompt_tokens: int) -> float | None:
        """The phone's prefill speed for this prompt's length (the prediction's was for a typical one)."""
        speed = self.hooks.phone_speed(prompt_tokens)
        if speed is None or self.emulation is None or speed.backend != self.emulation.backend:
            return None
        return float(speed.prefill_tokens_per_s) if speed.prefill_tokens_per_s else None

    def first_token(self, t: float, t0: float, loaded_at_s: float | None) -> float:
        """Hold the child until the phone's time to first token; the token counts from then."""
        emulation, throttle = self.emulation, self.throttle
        if emulation is None:
            return t
        release = emulation.first_token_release(loaded_at_s or t, t)
        if throttle is not None:
            if release is not None:
                throttle.hold(t0 + release)
            running, stopped = throttle.snapshot()
            self._decode_start = (running, stopped, throttle.held_s)
        elif release is not None:
            emulation.notes.append("time to first token not gated: no duty cycle (--throttle quota)")
            return t
        return release if release is not None else t

    def on_token(self, t: float) -> None:
        self._decoded += 1
        if self._prompt_tokens is not None and self._decoded % FOLLOW_EVERY == 0:
            self._follow_position(self._prompt_tokens + self._decoded)
        self.governor.on_token(t, self.plan.speed_factor, self._fraction_at(t))

    # -- after the run ---------------------------------------------------------------------
    def stop_throttle(self, record: RunRecord) -> None:
        """Stop the throttle's thread (the child is gone) and report what it achieved."""
        throttle = self.throttle
        if throttle is None:
            return
        throttle.stop()
        record.throttle = {
            "achieved_factor": throttle.achieved_factor,
            "governor_start": round(self.governor.initial_correction, 4),
            "governor_correction": round(self.governor.correction, 4),
            "governor_target_tokens_per_s": self.governor.target_tps,
        }

    def _decode_duty(self) -> float | None:
        """The share of the decode phase the throttle let the child run."""
        throttle = self.throttle
        if throttle is None or self._decode_start is None:
            return 1.0 if throttle is None else None
        running, stopped = throttle.snapshot()
        r0, s0, h0 = self._decode_start
        run_s = running - r0
        stop_s = (stopped - s0) - (throttle.held_s - h0)  # the first-token gate is not decode time
        return run_s / (run_s + stop_s) if run_s + stop_s > 0 else None

    def check_calibration(self, record: RunRecord) -> None:
        """A run whose own speed contradicts the calibration drops it: the next run re-measures."""
        emulation = self.emulation
        if emulation is None:
            return
        why = ""
        # the report and the check: the host at the tokens' mean position (none decoded: where it calibrated)
        decoded = len(record.tokens) >= 2 and record.summary.prompt_tokens is not None
        emulation.decode_position = calibrate.position(record) if decoded else None
        if record.status == "completed" and len(record.tokens) >= 16:
            why = emulation.check(record.summary.decode_tokens_per_s, self._decode_duty())
            if why and emulation.calibration is not None:
                calibrate.forget(emulation.calibration.key)
        report = emulation.report()
        if why:
            report["calibration_disagreement"] = why
        record.emulation = report
