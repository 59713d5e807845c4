"""The host's own unthrottled speed for a model, measured, checked, and cached until it is wrong.

An emulated run under a phone profile is slowed by ``factor = phone ÷ host``, for prefill
and for decode separately, so everything rests on the host figures. They come from two short
real runs (greedy, 64 generated tokens each, the ``host`` profile with the run's threads and
context): one on a ~200-token prompt, which times prefill and decode late in a context, and
one on a short prompt (``DECODE_PROMPT``), which times decode where a chat reply and a bench's
tg test run and where the phones' decode predictions were measured (llama-bench's tg). A
token's time grows with its position in the context, and for a small model steeply (SmolLM2
135M decoded 112 tok/s at positions 213–277 and 165 at 40–104 on the Xeon host,
benchmarks/RESULTS.md), so the calibration keeps the decode rate at the short run's mean
position and the milliseconds a token gains per position between the two
(:meth:`Calibration.decode_tps_at`). A busy host is not a slow host (two busy loops running beside
a calibration once made this host look 20× slower than a phone), so a measurement is trusted,
and cached, only when:

- the rest of the machine was quiet before it started (``BUSY_BEFORE``: other processes used
  at most 25 % of the CPU over half a second);
- the child got its cores while it ran (``MIN_CPU_SHARE``: the median of its CPU use during
  decode was at least 80 % of its threads), and
- its own token timing was steady (``MAX_SPREAD``: the 90th percentile inter-token latency
  within 1.5 × the median).

A cached figure is re-measured when it is older than ``MAX_AGE_DAYS``, when the model file,
the threads, the context, the CPU or llama-cpp-python changed (all part of its key), or when
a run's own speed disagrees with it: the decode rate a run reached divided by the share of
time the throttle let it run is the host's unthrottled rate, and if that differs from the
cached one at the run's own position by more than ``DISAGREE`` the entry is dropped (the next
run re-measures).
``pocketprof calibrate --show`` lists what is cached; ``--clear`` forgets it.
"""

from __future__ import annotations

import hashlib
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import psutil

from profiler import paths
from profiler.record import RunRecord
from profiler.run import hostinfo
from profiler.run.config import UNWATCHED_STREAM_S, RunConfig
from profiler.run.limits import host_cores

CACHE = "host_calibration.json"
CALIBRATION_TOKENS = 64
PROMPT_WORDS = 150  # about 200 tokens of the Declaration of Independence: enough to time prefill
DECODE_PROMPT = "Count from one to one hundred in words."  # a chat-sized prompt: decode at short positions
# The measuring runs are not watched and hand their tokens over once a second: at the default 50 ms
# about one gap in eight took twice the median (p90 2.0x, "unsteady": a CI run's calibration was not
# trusted for it) and the short run decoded 7 % slower.
MEASURE_STREAM_S = UNWATCHED_STREAM_S
MIN_CTX = 512  # the measuring run's prompt and tokens fit; a run with a smaller context is measured at this one
BUSY_BEFORE = 0.25
MIN_CPU_SHARE = 0.80
MAX_SPREAD = 1.5
MAX_AGE_DAYS = 30
DISAGREE = 0.30
STOPPED = "stopped before it began"  # measure()'s why when a run was stopped before it started


@dataclass(frozen=True)
class Calibration:
    """One measurement of the host, with what makes it trustworthy or not."""

    key: str
    model: str
    threads: int
    ctx: int
    decode_tps: float
    prefill_tps: float | None
    prompt_tokens: int
    taken_at: str
    itl_spread: float  # p90 ÷ p50 inter-token latency
    cpu_share: float  # median CPU the child got during decode ÷ its threads
    background_load: float  # share of the CPU other processes used just before
    trusted: bool
    reason: str  # why not trusted ("" when trusted)
    host: str
    llama_cpp: str
    decode_position: float  # the mean context position of the tokens decode_tps was timed at
    ms_per_position: float  # how much longer a token takes per position further into the context (≥ 0)

    @property
    def measured_to(self) -> int:
        """The furthest context position the calibration timed (the long run's last token)."""
        return self.prompt_tokens + CALIBRATION_TOKENS

    def decode_tps_at(self, position: float | None) -> float:
        """The host's decode rate at a context position (``decode_tps`` where not known): the line
        through the two timed positions, bounded to half and twice the time a token took near the start."""
        if position is None:
            return self.decode_tps
        base_ms = 1000.0 / self.decode_tps
        ms = base_ms + self.ms_per_position * (position - self.decode_position)
        return 1000.0 / min(2.0 * base_ms, max(0.5 * base_ms, ms))

    def age_days(self, now: datetime | None = None) -> float:
        taken = datetime.fromisoformat(self.taken_at)
        return ((now or datetime.now(UTC)) - taken).total_seconds() / 86400

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def key_for(model_path: Path, threads: int, ctx: int) -> str:
    stat = model_path.stat()
    ctx = max(ctx, MIN_CTX)  # a smaller context is measured at MIN_CTX: one calibration serves them all
    raw = f"{model_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{threads}|{ctx}|{hostinfo.cpu_model()}"
    raw += f"|{hostinfo.package_version('llama_cpp_python')}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def _entries() -> dict[str, Calibration]:
    names = {f.name for f in fields(Calibration)}
    out = {}
    for key, value in paths.load_cache(CACHE).items():
        if not isinstance(value, dict) or not names <= set(value):
            continue
        numbers = (value["decode_tps"], value["cpu_share"], value["itl_spread"], value["background_load"])
        numbers += (value["decode_position"], value["ms_per_position"])
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
            continue  # a damaged entry is re-measured, never trusted
        if value["decode_tps"] <= 0 or value["ms_per_position"] < 0:
            continue
        try:
            found = Calibration(**{n: value[n] for n in names})
            found.age_days()
        except (TypeError, ValueError):
            continue
        out[key] = found
    return out


def entries() -> list[Calibration]:
    """Every cached calibration, newest first."""
    return sorted(_entries().values(), key=lambda c: c.taken_at, reverse=True)


def lookup(model_path: Path, threads: int, ctx: int, *, now: datetime | None = None) -> tuple[Calibration | None, str]:
    """A trusted, fresh calibration for these settings, or (None, why one must be measured)."""
    found = _entries().get(key_for(model_path, threads, ctx))
    if found is None:
        return None, "no calibration of this host for this model, threads and context"
    if not found.trusted:
        return None, f"the cached calibration is not trusted ({found.reason})"
    if found.age_days(now) > MAX_AGE_DAYS:
        return None, f"the cached calibration is {found.age_days(now):.0f} days old (more than {MAX_AGE_DAYS})"
    return found, ""


def store(calibration: Calibration) -> None:
    data = paths.load_cache(CACHE)
    data[calibration.key] = calibration.to_dict()
    paths.save_cache(CACHE, data)


def forget(key: str) -> bool:
    data = paths.load_cache(CACHE)
    if key not in data:
        return False
    del data[key]
    paths.save_cache(CACHE, data)
    return True


def clear(model_path: Path | None = None) -> int:
    """Forget every cached calibration (or those of one model file); returns how many."""
    data = paths.load_cache(CACHE)
    keep = {}
    if model_path is not None:
        resolved = str(model_path.resolve())
        keep = {k: v for k, v in data.items() if not (isinstance(v, dict) and v.get("model") == resolved)}
    gone = len(data) - len(keep)
    paths.save_cache(CACHE, keep)
    return gone


def background_load(interval_s: float = 0.5) -> float:
    """The share of the whole CPU busy over ``interval_s`` (nothing of ours runs then)."""
    return psutil.cpu_percent(interval=interval_s) / 100.0


def prompt() -> str:
    text = (resources.files("profiler.data") / "declaration.txt").read_text(encoding="utf-8")
    return "Summarize this text in one sentence.\n\n" + " ".join(text.split()[:PROMPT_WORDS])


def config_for(model_path: Path, threads: int, ctx: int, *, short: bool = False) -> RunConfig:
    """A short unthrottled run that measures the host: greedy, fixed length, same threads and context;
    on the long prompt (prefill, and decode late in a context) or, ``short``, on ``DECODE_PROMPT``."""
    return RunConfig(
        model=str(model_path),
        profile="host",
        prompt=DECODE_PROMPT if short else prompt(),
        max_tokens=CALIBRATION_TOKENS,
        ctx=max(ctx, MIN_CTX),
        threads=threads,
        temperature=0.0,
        ignore_eos=True,
        stream_interval_s=MEASURE_STREAM_S,
    )


def _decode_cpu_share(record: RunRecord, threads: int) -> float:
    first = record.tokens[0].t if record.tokens else 0.0
    during = [s.cpu_percent for s in record.samples if s.t > first and s.cpu_percent > 0]
    return statistics.median(during) / (100.0 * threads) if during else 1.0


def _measured(record: RunRecord) -> bool:
    return record.status == "completed" and bool(record.summary.decode_tokens_per_s) and len(record.tokens) >= 8


def _spread(record: RunRecord) -> float:
    gaps = sorted(t.latency_ms for t in record.tokens[1:])
    p50 = statistics.median(gaps)
    p90 = gaps[min(len(gaps) - 1, int(0.9 * len(gaps)))]
    return p90 / p50 if p50 > 0 else float("inf")


def position(record: RunRecord) -> float:
    """The mean context position of a run's decoded tokens (after its prompt)."""
    return (record.summary.prompt_tokens or 0) + len(record.tokens) / 2


def from_record(
    model_path: Path, threads: int, ctx: int, record: RunRecord, *, load_before: float, short: RunRecord | None = None
) -> Calibration | None:
    """The calibration the measuring runs make (``record`` on the long prompt, ``short`` on
    ``DECODE_PROMPT`` where it was run); None when one did not complete."""
    if not _measured(record) or (short is not None and not _measured(short)):
        return None
    s = record.summary
    runs = [record] if short is None else [record, short]
    spread = max(_spread(r) for r in runs)
    share = min(1.0, *(_decode_cpu_share(r, threads) for r in runs))
    reasons = []
    if threads > len(host_cores()):
        reasons.append(f"{threads} threads on {len(host_cores())} cores measure oversubscription, not the host")
    if load_before > BUSY_BEFORE:
        reasons.append(f"other processes used {load_before:.0%} of the CPU before it")
    if share < MIN_CPU_SHARE:
        reasons.append(f"the child got {share:.0%} of its {threads} threads' CPU")
    if spread > MAX_SPREAD:
        reasons.append(f"token timing was unsteady (p90 {spread:.1f}× the median)")
    decoded = short or record  # the rate is the same measure as every run's decode speed (tokens over time)
    decode_tps = decoded.summary.decode_tokens_per_s or 0.0
    slope = 0.0
    if short is not None and position(record) > position(short):
        long_ms, short_ms = 1000.0 / (s.decode_tokens_per_s or decode_tps), 1000.0 / decode_tps
        slope = max(0.0, (long_ms - short_ms) / (position(record) - position(short)))
    return Calibration(
        key=key_for(model_path, threads, ctx),
        model=str(model_path.resolve()),
        threads=threads,
        ctx=ctx,
        decode_tps=decode_tps,
        prefill_tps=s.prefill_tokens_per_s,
        prompt_tokens=s.prompt_tokens or 0,
        taken_at=datetime.now(UTC).isoformat(timespec="seconds"),
        itl_spread=round(spread, 3),
        cpu_share=round(share, 3),
        background_load=round(load_before, 3),
        trusted=not reasons,
        reason="; ".join(reasons),
        host=hostinfo.cpu_model(),
        llama_cpp=hostinfo.package_version("llama_cpp_python") or "?",
        decode_position=round(position(decoded), 1),
        ms_per_position=round(slope, 6),
    )


def measure(
    model_path: Path, threads: int, ctx: int, run: Callable[[RunConfig, str], RunRecord | None]
) -> tuple[Calibration | None, str]:
    """Measure the host: the long prompt's run (prefill, decode far in), then the short one's (decode
    near the start). ``run`` runs one unthrottled child and says what it is doing; it returns None when
    stopped before it began. Returns the calibration (None: not measured) and, when None, why."""
    load = background_load()
    runs = []
    for step, short in enumerate((False, True), 1):
        where = "a short prompt" if short else "a long prompt"
        record = run(config_for(model_path, threads, ctx, short=short), f"run {step} of 2, {where}")
        if record is None:
            return None, STOPPED
        if record.status != "completed":
            return None, f"the measuring run ended {record.status}" + (f" ({record.error})" if record.error else "")
        runs.append(record)
    found = from_record(model_path, threads, ctx, runs[0], load_before=load, short=runs[1])
    return found, "" if found is not None else "the measuring runs timed too few tokens"


def disagreement(
    calibration: Calibration, achieved_tps: float | None, duty: float | None, at_position: float | None = None
) -> str:
    """Why a run's own decode speed (its tokens' mean context position ``at_position``) says the
    calibration is wrong ("" when it agrees)."""
    if not achieved_tps or not duty or duty <= 0.05:
        return ""
    if at_position is not None and at_position > calibration.measured_to:
        return ""  # past the positions it timed the calibration guesses: a guess cannot be contradicted
    implied = achieved_tps / duty  # what the host does unthrottled
    expected = calibration.decode_tps_at(at_position)
    ratio = implied / expected
    if abs(ratio - 1.0) <= DISAGREE:
        return ""
    return (
        f"this run decoded at {implied:.1f} tok/s unthrottled-equivalent, the calibration says "
        f"{expected:.1f} at its position ({ratio:.2f}×): re-measured on the next run"
    )


def stale_for_tests(calibration: Calibration, days: float) -> Calibration:
    """The same calibration, taken ``days`` ago (tests of the age rule)."""
    taken = datetime.fromisoformat(calibration.taken_at) - timedelta(days=days)
    return Calibration(**{**calibration.to_dict(), "taken_at": taken.isoformat(timespec="seconds")})


def wait_quiet(limit_s: float = 0.0) -> float:
    """The background load now (waiting up to ``limit_s`` for it to fall under BUSY_BEFORE)."""
    deadline = time.monotonic() + limit_s
    load = background_load()
    while load > BUSY_BEFORE and time.monotonic() < deadline:
        load = background_load()
    return load
