"""Fit the CPU speed model's constants to the measurement dataset, and score it honestly.

``fit(rows)`` returns :class:`cpu_model.Constants` by robust least squares on the log of
seconds per token (every row counts by its source's trust grade, and each device's rows
share one device's weight, so a phone with 80 rows does not drown one with 3). Constants
the data cannot pin down are held near a stated prior (``PRIORS``) rather than left free.

``lodo`` and ``lomo`` are the scores: leave one SoC out (its rows predicted from the
other SoCs' rows and its own spec sheet) and leave one model out (the model's rows on a
device predicted from every row of other models). A row is never scored by a fit it
was part of.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from profiler.model import kernels
from profiler.phone import builds, cpu_model, specs
from profiler.phone.cases import row_case
from profiler.phone.cpu_model import FAMILIES, ROLES, TIERS, Case, Cases, Constants
from profiler.phone.dataset import Measurement

TRUST_WEIGHT = {"A": 1.0, "B": 1.0, "C": 0.6, "D": 0.3}
# the constants that are one number each (the others are per class, tier or core type)
SCALARS = (
    "eta_bw",
    "beta_dec",
    "beta_pp",
    "contention_dec",
    "contention_pp",
    "combine_p",
    "c_layer",
    "c_token",
    "k_attn",
    "c_vocab",
)
PHASES = ("decode", "prefill")

# name: (lower bound, centre, upper bound, spread). Constants with bounds live in that range
# (a logistic transform); the others are positive (log transform, bounds None). The prior pulls
# each parameter, with weight 1/spread on its transformed scale, towards its centre: it holds
# constants the data cannot pin down at a stated value instead of leaving them free.
PRIORS: dict[str, tuple[float | None, float, float | None, float]] = {
    "eta_bw": (0.2, 0.6, 1.0, 1.5),  # phone CPUs read 50-80 % of DRAM peak
    "role_little": (0.1, 0.5, 1.0, 1.5),  # in-order little cores: about half per pipe and GHz
    "tier_dotprod": (0.1, 0.6, 1.5, 1.5),  # without i8mm the repacked kernels lose their matrix instructions
    "tier_neon": (0.05, 0.3, 1.5, 1.5),
    "tier_avx2": (0.1, 1.0, 3.0, 1.5),
    "tier_avx512": (0.1, 1.0, 3.0, 1.5),
    "beta": (0.0, 0.5, 1.0, 2.0),
    "contention": (0.05, 0.7, 1.0, 1.5),  # the slowest thread shares its core when all are taken
    "combine_p": (1.0, 2.0, 8.0, 1.5),
    "c_layer": (None, 20e-6, None, 2.0),
    "c_token": (None, 1e-3, None, 2.0),
    "c_vocab": (None, 5e-9, None, 2.0),  # seconds per vocabulary entry per token: sampling, softmax
    "k_attn": (None, 2.0, None, 2.0),
    "k": (None, 1.0, None, 3.0),
    "kind": (0.25, 1.0, 4.0, 0.7),  # a core type's throughput beyond its GHz × pipes: near 1 unless measured
}


@dataclass(frozen=True)
class Sample:
    row: Measurement
    phase: str
    case: Case
    seconds: float  # measured seconds per token
    weight: float


class Layout:
    """The free parameters, and how a parameter vector becomes :class:`Constants`."""

    def __init__(self, classes: Sequence[str], kinds: Sequence[str] = ()) -> None:
        self.classes = tuple(classes)
        self.kinds = tuple(kinds)
        names = [f"k_dec:{c}" for c in classes] + [f"k_pp:{c}" for c in classes]
        names += ["role_little", *SCALARS]
        for phase in ("dec", "pp"):
            names += [f"tier_{phase}:{t}:{f}" for t in TIERS[1:] for f in FAMILIES]
        names += [f"kind:{k}" for k in self.kinds]
        self.names = names
        self.index = {n: i for i, n in enumerate(names)}

    def prior(self, name: str) -> tuple[float | None, float, float | None, float]:
        if name.startswith(("k_dec:", "k_pp:")):
            return PRIORS["k"]
        if name.startswith("tier_"):
            return PRIORS["tier_" + name.split(":")[1]]
        if name.startswith("kind:"):
            return PRIORS["kind"]
        if name.startswith("beta"):
            return PRIORS["beta"]
        if name.startswith("contention"):
            return PRIORS["contention"]
        return PRIORS[name]

    def to_value(self, name: str, x: float) -> float:
        lo, _, hi, _ = self.prior(name)
        if lo is None or hi is None:
            return math.exp(x)
        return lo + (hi - lo) / (1.0 + math.exp(-x))

    def to_param(self, name: str, v: float) -> float:
        lo, _, hi, _ = self.prior(name)
        if lo is None or hi is None:
            return math.log(v)
        f = (v - lo) / (hi - lo)
        return math.log(f / (1.0 - f))

    def start(self) -> np.ndarray:
        return np.array([self.to_param(n, self.prior(n)[1]) for n in self.names])

    def prior_residuals(self, theta: np.ndarray) -> np.ndarray:
        centre = self.start()
        spread = np.array([self.prior(n)[3] for n in self.names])
        return (theta - centre) / spread

    def constants(self, theta: np.ndarray) -> Constants:
        v = {n: self.to_value(n, float(x)) for n, x in zip(self.names, theta, strict=True)}

        def tiers(phase: str) -> tuple[tuple[float, float], ...]:
            rows = [(1.0, 1.0)]
            rows += [tuple(v[f"tier_{phase}:{t}:{f}"] for f in FAMILIES) for t in TIERS[1:]]  # type: ignore[misc]
            return tuple(rows)  # type: ignore[return-value]

        return Constants(
            classes=self.classes,
            k_dec=tuple(v[f"k_dec:{c}"] for c in self.classes),
            k_pp=tuple(v[f"k_pp:{c}"] for c in self.classes),
            eta_bw=v["eta_bw"],
            role=tuple(v["role_little"] if r == "little" else 1.0 for r in ROLES),
            tier_dec=tiers("dec"),
            tier_pp=tiers("pp"),
            beta_dec=v["beta_dec"],
            beta_pp=v["beta_pp"],
            contention_dec=v["contention_dec"],
            contention_pp=v["contention_pp"],
            combine_p=v["combine_p"],
            c_layer=v["c_layer"],
            c_token=v["c_token"],
            k_attn=v["k_attn"],
            c_vocab=v["c_vocab"],
            kinds=self.kinds,
            kind_factor=tuple(v[f"kind:{k}"] for k in self.kinds),
        )


def samples(
    rows: Sequence[Measurement],
    *,
    models: dict[str, specs.ModelSpec],
    socs: dict[str, specs.Soc],
    core_types: dict[str, specs.CoreType],
    kernel_builds: tuple[builds.Build, ...] | None = None,
) -> tuple[list[Sample], dict[str, int]]:
    """The CPU llama.cpp samples the model can explain, and why the other rows were skipped.

    ``kernel_builds`` (default: ``kernels.toml``'s table) says which rows ran the older,
    plain K-quant and Q8_0 kernels; their prefill gets the ``-plain`` class (repacking moves
    prefill 1.5-3.7x, decode 1.0-1.2x: llama.cpp PRs #16739, #18096, #18888), and the prefill
    of a K-quant or Q8_0 row of an unknown build is skipped. Decode shares one class.
    """
    known_builds = builds.table() if kernel_builds is None else kernel_builds
    skipped: dict[str, int] = defaultdict(int)
    out: list[Sample] = []
    for row in rows:
        if row.backend != "cpu" or not row.is_llama_cpp:
            skipped["not llama.cpp on the CPU"] += 1
            continue
        now = kernels.class_of(row.quant)  # decode's class whatever the build: repacking moves it 1.0-1.2x
        then = builds.row_class(row, known_builds)  # prefill's: the class the row's build ran
        for phase, tps in (("decode", row.decode_tps), ("prefill", row.prefill_tps)):
            if tps is None or not row.usable(phase):
                continue
            klass = now if phase == "decode" else then
            if klass is None and now is not None:
                skipped["prefill: K-quant or Q8_0 kernels unknown (llama.cpp build not stated)"] += 1
                continue
            isa = builds.isa_cap(row, known_builds)
            case = row_case(row, models=models, socs=socs, core_types=core_types, phase=phase, klass=klass, isa=isa)
            if case is None:
                reason = "no spec sheet" if row.soc_id not in socs else "no model shape or kernel class"
                skipped[f"{phase}: {reason}"] += 1
                continue
            out.append(Sample(row, phase, case, 1.0 / tps, TRUST_WEIGHT[row.trust]))
    return out, dict(skipped)


def _balance(data: Sequence[Sample]) -> np.ndarray:
    per_device: dict[tuple[str, str], int] = defaultdict(int)
    for s in data:
        per_device[(s.row.soc_id, s.phase)] += 1
    return np.array([s.weight / math.sqrt(per_device[(s.row.soc_id, s.phase)]) for s in data])


def predict_seconds(data: Sequence[Sample], k: Constants) -> np.ndarray:
    out = np.full(len(data), np.nan)
    for phase, fn in (("decode", cpu_model.decode_seconds), ("prefill", cpu_model.prefill_seconds)):
        idx = [i for i, s in enumerate(data) if s.phase == phase and set(s.case.classes()) <= set(k.classes)]
        if idx:
            out[idx] = fn(Cases([data[i].case for i in idx], k.classes, k.kinds), k)
    return out


def _values(k: Constants) -> dict[str, float]:
    """Constants by parameter name (the inverse of :meth:`Layout.constants`)."""
    v = {f"k_dec:{c}": x for c, x in zip(k.classes, k.k_dec, strict=True)}
    v |= {f"k_pp:{c}": x for c, x in zip(k.classes, k.k_pp, strict=True)}
    v |= {f"kind:{c}": x for c, x in zip(k.kinds, k.kind_factor, strict=True)}
    v |= {name: getattr(k, name) for name in SCALARS}
    v["role_little"] = k.role[ROLES.index("little")]
    for phase, table in (("dec", k.tier_dec), ("pp", k.tier_pp)):
        for t, pair in zip(TIERS[1:], table[1:], strict=True):
            v |= {f"tier_{phase}:{t}:{f}": x for f, x in zip(FAMILIES, pair, strict=True)}
    return v


def fit(data: Sequence[Sample], start: Constants | None = None) -> Constants:
    """Fit the constants to ``data``; ``start`` (an earlier fit) only speeds the search up."""
    from scipy.optimize import least_squares

    classes = sorted({c for s in data for c in s.case.classes()})
    kinds = sorted({c.kind for s in data for c in s.case.used() if c.kind})
    layout = Layout(classes, kinds)
    split = {p: [i for i, s in enumerate(data) if s.phase == p] for p in PHASES}
    arrays = {p: Cases([data[i].case for i in idx], classes, kinds) for p, idx in split.items() if idx}
    measured = {p: np.log([data[i].seconds for i in idx]) for p, idx in split.items() if idx}
    weight = _balance(data)
    weights = {p: weight[idx] for p, idx in split.items() if idx}
    fns: dict[str, Callable[[Cases, Constants], np.ndarray]] = {
        "decode": cpu_model.decode_seconds,
        "prefill": cpu_model.prefill_seconds,
    }

    def residuals(theta: np.ndarray) -> np.ndarray:
        k = layout.constants(theta)
        parts = [weights[p] * (np.log(fns[p](arrays[p], k)) - measured[p]) for p in arrays]
        return np.concatenate([*parts, 0.1 * layout.prior_residuals(theta)])

    x0 = layout.start()
    if start is not None:
        known = _values(start)
        x0 = np.array(
            [layout.to_param(n, known[n]) if n in known else x for n, x in zip(layout.names, x0, strict=True)]
        )
    result = least_squares(residuals, x0, loss="soft_l1", f_scale=0.1, max_nfev=4000)
    return layout.constants(result.x)


def relative_errors(data: Sequence[Sample], k: Constants) -> np.ndarray:
    """predicted ÷ measured − 1, per sample (tokens/s)."""
    predicted = predict_seconds(data, k)
    return np.array([s.seconds for s in data]) / predicted - 1.0


@dataclass(frozen=True)
class Scored:
    sample: Sample
    error: float  # predicted tokens/s ÷ measured − 1


def lodo(data: Sequence[Sample], start: Constants | None = None) -> tuple[list[Scored], dict[str, int]]:
    """Leave one SoC out; rows whose kernel class (or core tier) no other SoC has are not scored."""
    scored: list[Scored] = []
    unscored: dict[str, int] = defaultdict(int)
    for soc in sorted({s.row.soc_id for s in data}):
        train = [s for s in data if s.row.soc_id != soc]
        test = [s for s in data if s.row.soc_id == soc]
        if not train:
            continue
        seen = {(s.phase, klass, c.tier) for s in train for klass in s.case.classes() for c in s.case.used()}
        ok = [
            s
            for s in test
            if all((s.phase, klass, c.tier) in seen for klass in s.case.classes() for c in s.case.used())
        ]
        unscored[soc] = len(test) - len(ok)
        if ok:
            k = fit(train, start)
            scored += [Scored(s, e) for s, e in zip(ok, relative_errors(ok, k), strict=True)]
    return scored, dict(unscored)


def lomo(data: Sequence[Sample], soc: str, start: Constants | None = None) -> list[Scored]:
    """Leave one model out, scored on one SoC's rows: the model is absent from every SoC's training rows."""
    scored: list[Scored] = []
    mine = [s for s in data if s.row.soc_id == soc]
    for model in sorted({s.row.model_id for s in mine}):
        train = [s for s in data if s.row.model_id != model]
        test = [s for s in mine if s.row.model_id == model]
        classes = {(s.phase, klass) for s in train for klass in s.case.classes()}
        test = [s for s in test if all((s.phase, klass) in classes for klass in s.case.classes())]
        if test and train:
            k = fit(train, start)
            scored += [Scored(s, e) for s, e in zip(test, relative_errors(test, k), strict=True)]
    return scored


def median_abs(values: Sequence[float]) -> float:
    return float(np.median(np.abs(values))) if len(values) else math.nan
