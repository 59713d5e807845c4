"""A bench test's repetitions and their statistics, as llama-bench computes them, plus ours.

llama-bench times each repetition as one number, ``t_ns``: the prompt's decode for ``pp``,
the generated tokens' decodes for ``tg``, both for ``pp+tg``; ``avg_ts`` is the mean over
repetitions of ``(n_prompt + n_gen) / t`` and the standard deviations are sample ones (n - 1).
From a profiled run those times are (times relative to the child's "loaded" message, sent
just before the prompt goes in):

* pp: the time to the first token, which is the prompt's decode plus sampling one token
  (llama-bench samples none: the difference is one argmax over the vocabulary);
* tg: the prompt is the model's BOS token alone and ``n_gen`` tokens follow: n_gen decodes,
  as llama-bench's, to the last token's time;
* pp+tg: to the last token's time. llama-bench starts its tg from a BOS after the prompt,
  so it decodes one token more than we do (the first generated token comes out of the
  prompt's own logits here): ours is that one decode (about 1/n_gen of the tg time) shorter.

Ours, each as mean and sample standard deviation over the repetitions: prefill and decode
tokens/s, time to first token, the p95 inter-token latency and the peak footprint and RSS.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from profiler.bench.plan import BenchTest

# Our per-repetition metrics: name, the run summary's field, the multiplier to the unit, unit, higher-is-better.
METRICS: tuple[tuple[str, str, float, str, bool], ...] = (
    ("prefill_ts", "prefill_tokens_per_s", 1.0, "tok/s", True),
    ("decode_ts", "decode_tokens_per_s", 1.0, "tok/s", True),
    ("ttft_ms", "ttft_s", 1000.0, "ms", False),
    ("itl_p95_ms", "itl_p95_ms", 1.0, "ms", False),
    ("peak_footprint_mb", "peak_footprint_mb", 1.0, "MB", False),
    ("peak_rss_mb", "peak_rss_mb", 1.0, "MB", False),
)


def mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (0 for one value), as llama-bench's avg() and stdev()."""
    clean = [v for v in values if v is not None and math.isfinite(v)]
    if not clean:
        return None, None
    return statistics.fmean(clean), statistics.stdev(clean) if len(clean) > 1 else 0.0


def rep_seconds(test: BenchTest, report: dict[str, Any]) -> float | None:
    """The repetition's llama-bench time (see the module's docstring), or None if it did not get there."""
    loaded, tokens = report.get("loaded_at_s"), report.get("tokens") or []
    if loaded is None or not tokens:
        return None
    if test.kind == "pp":
        return float(tokens[0]["t"]) - float(loaded)
    real = [t for t in tokens if t.get("id", 0) != -1]  # a trailing UTF-8 flush is not a token
    if len(real) < test.n_gen:
        return None
    return float(real[test.n_gen - 1]["t"]) - float(loaded)


def _metric(test: BenchTest, summary: dict[str, Any], name: str, key: str, scale: float) -> float | None:
    if name == "prefill_ts" and test.kind == "tg":
        return None  # a one-token prompt has no prefill speed worth the name
    if name in ("decode_ts", "itl_p95_ms") and test.kind == "pp":
        return None  # one token: no decode
    value = summary.get(key)
    return float(value) * scale if isinstance(value, int | float) else None


@dataclass
class BenchResult:
    """One test: its repetitions' reports (as dicts) and what they share."""

    test: BenchTest
    reports: list[dict[str, Any]] = field(default_factory=list)
    status: str = "completed"  # completed | killed | error | stopped | skipped
    error: str | None = None
    prediction: dict[str, Any] | None = None  # the phone's predicted speeds at this thread count

    def samples_ns(self) -> list[int]:
        times = [rep_seconds(self.test, r) for r in self.reports if r.get("status") == "completed"]
        return [round(t * 1e9) for t in times if t is not None and t > 0]

    def samples_ts(self) -> list[float]:
        tokens = self.test.n_prompt + self.test.n_gen
        return [1e9 * tokens / ns for ns in self.samples_ns()]

    def metric(self, name: str) -> tuple[float | None, float | None, list[float]]:
        """Mean, sample sd and the samples of one of our metrics over the completed repetitions."""
        spec = next(m for m in METRICS if m[0] == name)
        values = [
            _metric(self.test, r.get("summary") or {}, name, spec[1], spec[2])
            for r in self.reports
            if r.get("status") == "completed"
        ]
        samples = [v for v in values if v is not None]
        avg, sd = mean_sd(samples)
        return avg, sd, samples

    @property
    def run_ids(self) -> list[str]:
        return [str(r.get("run_id")) for r in self.reports]

    @property
    def first(self) -> dict[str, Any]:
        return self.reports[0] if self.reports else {}

    @property
    def emulation(self) -> str:
        """How the runs' speed relates to the host: none, a phone's emulated speed, a set factor."""
        first = self.first
        if not first:
            return "none"
        if (first.get("config") or {}).get("speed_factor") is not None:
            return "speed_factor"
        return "none" if (first.get("profile") or {}).get("id") in (None, "host") else "phone"
