"""A thread sweep read as a curve: the best thread count, and the cliff past it.

On big.LITTLE phones llama.cpp splits each matrix evenly over its threads and waits at a
barrier for the slowest: once the threads outnumber the big cores, the next one lands on a
smaller core and the whole step slows to its pace, so decode gets slower with more threads
(llama.cpp issue #21763 and many Android reports). The phone's curve here is the fitted
per-cluster model's (``profiler.phone``: the fastest cores first, the slowest used core
setting the pace), labelled "predicted"; the host's points are what the bench measured,
labelled "measured on this host" (or "emulated", under a phone profile).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from profiler.bench.result import BenchResult

CLIFF_DROP = 0.03  # a drop smaller than this (or than the noise) is not a cliff


HOST_LAG = 0.9  # an emulated point under 90 % of the phone's predicted speed: this host could not keep up

MARKS = {"host too slow": "↓", "oversubscribed": "‡"}


@dataclass(frozen=True)
class Point:
    threads: int
    mean: float
    sd: float = 0.0
    note: str = ""  # "host too slow" (an emulated point short of the phone), "oversubscribed" (threads > cores)


@dataclass
class Curve:
    label: str
    phase: str  # "decode" | "prefill"
    kind: str  # "measured" | "emulated" | "predicted"
    points: list[Point] = field(default_factory=list)
    cores: list[str] = field(default_factory=list)  # predicted: the core the n-th thread lands on

    def usable(self) -> list[Point]:
        """The points that say what they claim: an emulated point the host fell short of says nothing of the phone."""
        return [p for p in self.points if not (self.kind == "emulated" and p.note)]

    def best(self) -> Point | None:
        points = self.usable()
        return max(points, key=lambda p: p.mean) if points else None

    def cliff(self) -> tuple[Point, Point] | None:
        """The first step up in threads that loses speed beyond the noise and CLIFF_DROP."""
        ordered = sorted(self.usable(), key=lambda p: p.threads)
        for before, after in itertools.pairwise(ordered):
            drop = before.mean - after.mean
            noise = 2.0 * math.hypot(before.sd, after.sd)
            if drop > max(noise, CLIFF_DROP * before.mean):
                return before, after
        return None

    def summary(self) -> str:
        best, cliff = self.best(), self.cliff()
        if best is None:
            return f"{self.label}: no point the host could run at the phone's speed"
        text = f"{self.label}: best {best.threads} threads ({best.mean:.1f} tok/s)"
        if cliff is not None:
            before, after = cliff
            pct = 100.0 * (after.mean - before.mean) / before.mean
            where = ""
            if self.cores and after.threads <= len(self.cores):
                where = f": thread {after.threads} lands on a {self.cores[after.threads - 1]} core"
            text += f"; cliff at {after.threads} threads ({pct:+.0f} % against {before.threads}{where})"
        return text


def groups(results: list[BenchResult]) -> list[list[BenchResult]]:
    """Tests that differ only in their thread count, each group in thread order (two counts at least)."""
    keyed: dict[tuple[Any, ...], list[BenchResult]] = {}
    for result in results:
        t = result.test
        if t.threads is None:
            continue
        keyed.setdefault((t.model, t.profile, t.n_prompt, t.n_gen, t.batch, t.ubatch), []).append(result)
    return [
        sorted(g, key=lambda r: r.test.threads or 0) for g in keyed.values() if len({r.test.threads for r in g}) > 1
    ]


def measured(group: list[BenchResult]) -> list[Curve]:
    """The bench's own decode and prefill curves of one group."""
    kind = "emulated" if group[0].emulation == "phone" else "measured"
    label = {"emulated": f"emulated {group[0].test.profile} on this host", "measured": "measured on this host"}[kind]
    curves = []
    for phase, metric in (("decode", "decode_ts"), ("prefill", "prefill_ts")):
        points = []
        for result in group:
            avg, sd, _samples = result.metric(metric)
            if avg is not None and result.test.threads:
                points.append(Point(result.test.threads, avg, sd or 0.0, _note(result, metric, avg)))
        if points:
            curves.append(Curve(f"{phase}, {label}", phase, kind, points))
    return curves


def _note(result: BenchResult, metric: str, value: float) -> str:
    cores = int((result.first.get("host") or {}).get("logical_cores") or 0)
    if cores and (result.test.threads or 0) > cores:
        return "oversubscribed"
    target = (result.prediction or {}).get(metric)
    if result.emulation == "phone" and isinstance(target, int | float) and value < HOST_LAG * target:
        return "host too slow"
    return ""


def predicted(profile: Any, model: Any, *, ctx: int, prompt_tokens: int) -> list[Curve]:
    """The phone's CPU decode and prefill against threads, 1 to its core count (empty for the host)."""
    from profiler.errors import ProfilerError
    from profiler.phone import predict, speed

    if profile.is_host or not profile.cores:
        return []
    try:
        order = sorted(speed.phone_cores(profile.cpu_clusters, profile.path), key=lambda c: c.raw, reverse=True)
    except ProfilerError:
        return []
    names = [c.kind or c.tier for c in order]
    decode = Curve(f"decode, predicted {profile.name}", "decode", "predicted", cores=names)
    prefill = Curve(f"prefill, predicted {profile.name}", "prefill", "predicted", cores=names)
    for n in range(1, profile.cores + 1):
        try:
            found = predict.predict(
                profile, model=model, ctx=ctx, threads=n, prompt_tokens=prompt_tokens, backend="cpu"
            ).speed
        except ProfilerError:
            return []
        if found.decode_tokens_per_s:
            decode.points.append(Point(n, found.decode_tokens_per_s))
        if found.prefill_tokens_per_s:
            prefill.points.append(Point(n, found.prefill_tokens_per_s))
        for curve, error in ((decode, found.decode_error_pct), (prefill, found.prefill_error_pct)):
            if n == 1 and error is not None:  # the fit's measured error, as every phone number carries
                curve.label += f" (±{error:.0f} %)"
    return [c for c in (decode, prefill) if c.points]


def table(curves: list[Curve]) -> str:
    """A compact terminal table: one row per thread count, one column per curve, the best marked *."""
    counts = sorted({p.threads for c in curves for p in c.points})
    heads = [c.label for c in curves]
    widths = [max(len(h), 14) for h in heads]
    lines = ["threads  " + "  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True))]
    for n in counts:
        cells = []
        for curve, width in zip(curves, widths, strict=True):
            point = next((p for p in curve.points if p.threads == n), None)
            best = curve.best()
            if point is None:
                text = "—"
            else:
                text = f"{point.mean:.1f}" + (f" ± {point.sd:.1f}" if point.sd else "")
                text += MARKS.get(point.note, " ")
                text += "*" if best is not None and best.threads == n else " "
            cells.append(text.rjust(width))
        lines.append(f"{n:>7}  " + "  ".join(cells))
    lines.append("(* best; tok/s, mean ± sd over the repetitions; predicted: the fitted phone model)")
    notes = {p.note for c in curves for p in c.points if p.note}
    if "host too slow" in notes:
        lines.append("(↓ this host could not run as fast as the phone is predicted to: the point is the host's speed)")
    if "oversubscribed" in notes:
        lines.append("(‡ more threads than this host has cores: they take turns, so the point says little)")
    lines += [curve.summary() for curve in curves]
    return "\n".join(lines)
