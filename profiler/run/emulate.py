"""Making a run on this host follow the phone: prefill, time to first token and decode.

The phone's speeds are the predictor's (:mod:`profiler.phone.predict`, for the backend the phone's
apps use); the host's are its calibration (:mod:`profiler.run.calibrate`). Two phases:

- **Prefill** (until the first token): the duty cycle runs the child at ``1.25 ×`` the
  prefill factor (phone prefill ÷ host prefill), so the prompt is done a little early, and
  the first token is then *gated*: the child is held stopped until the phone's time to
  first token, prompt tokens ÷ predicted prefill tokens/s, and the token counts from then.
  An open-loop duty cycle does not land on its factor (0.55–0.79× for 0.5 here, benchmarks/RESULTS.md
  "Throttle accuracy"); the gate does.
- **Decode**: the duty cycle runs at the decode factor, and the speed governor steers it
  by the measured token rate onto the phone's decode speed (following the sustained curve),
  down as well as up: a host far faster than its calibration said is slowed all the same.

Where the host is slower than the phone in a phase, that phase runs unthrottled and the
report says by how much the host lags. After the run, the decode rate it reached over the
share of time it was let run is checked against the calibration (:func:`calibrate.disagreement`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from profiler.run import calibrate
from profiler.run.calibrate import Calibration

PREFILL_HEADROOM = 1.25  # run prefill this much faster than the phone, then gate the first token


@dataclass
class Emulation:
    """The targets of one emulated run and the state it keeps while the run goes."""

    target_decode_tps: float | None
    target_prefill_tps: float | None
    backend: str
    calibration: Calibration | None
    calibration_source: str  # "cached" | "measured now" | "none…" (with why)
    decode_error_pct: float | None = None
    prefill_error_pct: float | None = None
    phase: str = "prefill"
    target_ttft_s: float | None = None
    observed_ttft_s: float | None = None  # the host's own time to first token, before any gate
    achieved_decode_tps: float | None = None  # the run's decode rate, once it is over
    decode_position: float | None = None  # where its tokens sit in the context, once the prompt is known
    notes: list[str] = field(default_factory=list)

    # -- factors -------------------------------------------------------------------
    def _ratio(self, target: float | None, host: float | None) -> float:
        if not target or not host or not math.isfinite(target):
            return 1.0
        return min(1.0, target / host)

    @property
    def host_decode_tps(self) -> float | None:
        """The host's unthrottled decode rate where this run's tokens decode (the calibration's by position)."""
        return self.calibration.decode_tps_at(self.decode_position) if self.calibration else None

    @property
    def decode_factor(self) -> float:
        return self._ratio(self.target_decode_tps, self.host_decode_tps)

    @property
    def prefill_factor(self) -> float:
        host = self.calibration.prefill_tps if self.calibration else None
        return min(1.0, PREFILL_HEADROOM * self._ratio(self.target_prefill_tps, host))

    def base_factor(self) -> float:
        return self.prefill_factor if self.phase == "prefill" else self.decode_factor

    # -- the phases -------------------------------------------------------------------
    def on_loaded(self, prompt_tokens: int, prefill_tps: float | None = None) -> None:
        """The prompt is known: the phone's time to first token follows from its prefill speed, and
        the host's decode rate from where the first tokens sit (``decode_position`` then follows them)."""
        self.decode_position = prompt_tokens
        if prefill_tps:
            self.target_prefill_tps = prefill_tps
        if self.target_prefill_tps and prompt_tokens:
            self.target_ttft_s = prompt_tokens / self.target_prefill_tps

    def first_token_release(self, loaded_at_s: float, token_at_s: float) -> float | None:
        """When the first token may count (seconds from the run's start), or None to take it as it is."""
        self.phase = "decode"
        self.observed_ttft_s = token_at_s - loaded_at_s
        if self.target_ttft_s is None:
            return None
        release = loaded_at_s + self.target_ttft_s
        return release if release > token_at_s else None

    # -- the report ------------------------------------------------------------------
    def lags(self) -> dict[str, float]:
        """How many times slower than the phone the host is, per phase, where it is."""
        out = {}
        cal, host = self.calibration, self.host_decode_tps
        target = self.target_decode_tps
        if target and self.achieved_decode_tps and self.decode_factor >= 1.0:  # unthrottled: the run says
            if self.achieved_decode_tps < 0.98 * target:
                out["decode"] = round(target / self.achieved_decode_tps, 2)
        elif host and target and host < target:
            out["decode"] = round(target / host, 2)
        if self.observed_ttft_s and self.target_ttft_s:  # this run's prompt: later than the phone's?
            if self.observed_ttft_s > 1.02 * self.target_ttft_s:
                out["prefill"] = round(self.observed_ttft_s / self.target_ttft_s, 2)
        elif cal and cal.prefill_tps and self.target_prefill_tps and cal.prefill_tps < self.target_prefill_tps:
            out["prefill"] = round(self.target_prefill_tps / cal.prefill_tps, 2)
        return out

    def report(self) -> dict[str, Any]:
        cal = self.calibration
        lags = self.lags()
        out: dict[str, Any] = {
            "target_backend": self.backend,
            "target_decode_tokens_per_s": _r(self.target_decode_tps),
            "target_decode_error_pct": self.decode_error_pct,
            "target_prefill_tokens_per_s": _r(self.target_prefill_tps),
            "target_prefill_error_pct": self.prefill_error_pct,
            "target_ttft_s": _r(self.target_ttft_s, 4),
            "host_ttft_s": _r(self.observed_ttft_s, 4),  # when the host had the first token, before the gate
            "host_decode_tokens_per_s": _r(self.host_decode_tps),  # at this run's position in the context
            "host_decode_position": _r(self.decode_position, 1),
            "host_prefill_tokens_per_s": _r(cal.prefill_tps if cal else None),
            "speed_factor": round(self.decode_factor, 4),
            "prefill_factor": round(min(1.0, self.prefill_factor / PREFILL_HEADROOM), 4),
            "host_slower_than_target": "decode" in lags,
            "calibration": {
                "source": self.calibration_source,
                "taken_at": cal.taken_at if cal else None,
                "trusted": cal.trusted if cal else None,
                "reason": cal.reason if cal else None,
                "cpu_share": cal.cpu_share if cal else None,
                "itl_spread": cal.itl_spread if cal else None,
                "background_load": cal.background_load if cal else None,
                "decode_position": cal.decode_position if cal else None,
                "ms_per_position": cal.ms_per_position if cal else None,
            },
        }
        if "decode" in lags:
            out["host_lag"] = lags["decode"]
        if lags:
            out["host_lag_by_phase"] = lags
        if self.target_prefill_tps is None:
            self.notes.append(f"prefill not emulated: no {self.backend} prefill prediction for this phone")
        if self.notes:
            out["notes"] = list(dict.fromkeys(self.notes))
        return out

    def check(self, achieved_decode_tps: float | None, decode_duty: float | None) -> str:
        """After the run: does its own decode speed contradict the calibration? ("" if not)."""
        self.achieved_decode_tps = achieved_decode_tps
        if self.calibration is None:
            return ""
        return calibrate.disagreement(self.calibration, achieved_decode_tps, decode_duty, self.decode_position)


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
