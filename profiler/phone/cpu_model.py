"""The speed model of llama.cpp on a phone's CPU, as arithmetic over arrays.

Per generated token (decode)::

    t_mem   = bytes read per token / (memory_bandwidth_gbs × eta_bw)
    t_cmp   = weights multiplied per token × k_dec[kernel class] / S_dec
              (matrices llama.cpp stored in a fallback type, a share of the weights, at
              that type's class and S: ``kernels.FALLBACK``)
    t_token = (t_mem^p + t_cmp^p)^(1/p) + n_layers × c_layer + n_vocab × c_vocab + c_token

Per prompt token (prefill, batched, so the weights are read once per batch)::

    t_prompt = (weights multiplied × k_pp[kernel class] + attention work × k_attn) / S_pp

``S`` is the throughput of the cores the threads run on, in GHz × 128-bit SIMD pipes:
each thread takes the next fastest core; a core counts ``ghz × pipes × role factor ×
tier factor × core-type factor`` (the last fitted per core type the dataset has measured, 1
for one it has not) (little in-order cores do less per pipe; a core without i8mm runs the
int8 kernels slower). llama.cpp's threads meet at a barrier after every operation, so
the slowest core sets part of the pace::

    S = (1 − beta) × Σ s_i + beta × threads × min s_i   (min s_i × contention when every core is taken)

``p`` says how memory and compute overlap (1 = they add up, large = the slower one
alone). Every constant here is fitted to the measurement dataset by
:mod:`profiler.phone.fit`; none is assumed. k is in pipe-cycles per weight.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from profiler.model.kernels import REPACKED

ROLES = ("prime", "big", "mid", "little")
TIERS = ("i8mm", "dotprod", "neon", "avx2", "avx512")
FAMILIES = ("rep", "oth")  # repacked int8 kernels (plain Q4_0 and Q8_0 on NEON-only cores), other kernels
NEON_BLOCK = frozenset({"q4_0", "q8_0"})


@dataclass(frozen=True)
class Core:
    ghz: float
    pipes: float
    role: str
    tier: str
    kind: str = ""  # the core type (cores.toml id), whose fitted factor applies

    @property
    def raw(self) -> float:
        return self.ghz * self.pipes


@dataclass(frozen=True)
class Case:
    """One prediction: a model's work on a set of cores."""

    cores: tuple[Core, ...]  # every core of the CPU
    bandwidth_gbs: float
    threads: int
    klass: str
    params_matmul: float  # weights multiplied per token
    bytes_per_token: float  # weights and KV cache read per generated token
    n_layers: int
    attn_work: float  # attention multiply-adds per prompt token (L × d_attn × prompt length)
    vocab: int = 0  # the sampler and the softmax walk every logit of every generated token
    fallback_klass: str = ""  # the class of the matrices stored in a fallback type (kernels.FALLBACK)
    fallback_share: float = 0.0  # their share of the weights multiplied

    def classes(self) -> tuple[str, ...]:
        """The kernel classes this case runs."""
        return (self.klass, self.fallback_klass) if self.fallback_share > 0 else (self.klass,)

    def used(self) -> tuple[Core, ...]:
        """The cores the threads run on: the fastest first (the scheduler gives busy threads big cores)."""
        ordered = sorted(self.cores, key=lambda c: c.raw, reverse=True)
        return tuple(ordered[: max(1, min(self.threads, len(ordered)))])


def family(case: Case, klass: str | None = None) -> int:
    """The kernel family of the case's class (or of ``klass`` on its cores), an index into ``FAMILIES``.

    On cores with dotprod or i8mm, llama.cpp repacks Q4_0, Q4_K, Q5_K, Q6_K and Q8_0 into
    interleaved int8 layouts ("rep"); other types run their plain kernels ("oth"). Repacking
    needs those instructions, so on NEON-only cores (or a build without them) nothing is
    repacked: there the first family holds Q4_0's and Q8_0's plain block kernels, whose cost
    is mostly the int8 products that NEON must emulate, and K-quants join the second, whose
    cost is as much in unpacking scales.
    """
    klass = klass or case.klass
    if all(c.tier == "neon" for c in case.used()):
        return 0 if klass in NEON_BLOCK else 1
    return 0 if klass in REPACKED else 1


class Cases:
    """Many cases as arrays, so a fit evaluates them all at once.

    ``kinds`` lists the core types with a fitted factor; other cores get index len(kinds),
    whose factor is 1 (a core type no measurement has seen counts by its spec sheet alone).
    """

    def __init__(self, cases: Sequence[Case], classes: Sequence[str], kinds: Sequence[str] = ()) -> None:
        n, width = len(cases), max((len(c.used()) for c in cases), default=1)
        self.n = n
        self.raw = np.zeros((n, width))
        self.mask = np.zeros((n, width), dtype=bool)
        self.role = np.zeros((n, width), dtype=int)
        self.tier = np.zeros((n, width), dtype=int)
        self.kind = np.full((n, width), len(kinds), dtype=int)
        for i, case in enumerate(cases):
            for j, core in enumerate(case.used()):
                self.raw[i, j] = core.raw
                self.mask[i, j] = True
                self.role[i, j] = ROLES.index(core.role)
                self.tier[i, j] = TIERS.index(core.tier)
                if core.kind in kinds:
                    self.kind[i, j] = list(kinds).index(core.kind)
        self.threads = self.mask.sum(axis=1).astype(float)
        # every core busy: the OS and the app's own threads then share a core with llama.cpp's
        self.full = np.array([c.threads >= len(c.cores) for c in cases], dtype=bool)
        self.klass = np.array([classes.index(c.klass) for c in cases], dtype=int)
        self.family = np.array([family(c) for c in cases], dtype=int)
        # the fallback matrices' class (the main one where there are none, at share 0)
        self.klass2 = np.array([classes.index(c.classes()[-1]) for c in cases], dtype=int)
        self.family2 = np.array([family(c, c.classes()[-1]) for c in cases], dtype=int)
        self.share2 = np.array([c.fallback_share if len(c.classes()) > 1 else 0.0 for c in cases])
        self.params = np.array([c.params_matmul for c in cases])
        self.bytes = np.array([c.bytes_per_token for c in cases])
        self.bandwidth = np.array([c.bandwidth_gbs for c in cases])
        self.layers = np.array([c.n_layers for c in cases], dtype=float)
        self.attn = np.array([c.attn_work for c in cases])
        self.vocab = np.array([c.vocab for c in cases], dtype=float)


@dataclass(frozen=True)
class Constants:
    """The fitted numbers (see the module docstring for what each one is)."""

    classes: tuple[str, ...]
    k_dec: tuple[float, ...]
    k_pp: tuple[float, ...]
    eta_bw: float
    role: tuple[float, ...]  # per ROLES
    tier_dec: tuple[tuple[float, float], ...]  # per TIERS, (repacked, other)
    tier_pp: tuple[tuple[float, float], ...]
    beta_dec: float
    beta_pp: float
    contention_dec: float
    contention_pp: float
    combine_p: float
    c_layer: float
    c_token: float
    k_attn: float
    c_vocab: float = 0.0
    kinds: tuple[str, ...] = ()  # core types with a fitted throughput factor
    kind_factor: tuple[float, ...] = ()


def throughput(
    cases: Cases,
    role: np.ndarray,
    tier: np.ndarray,
    beta: float,
    contention: float,
    kind: np.ndarray,
    family: np.ndarray | None = None,
) -> np.ndarray:
    """S per case: GHz × pipes of the cores used, scaled per core, with the barrier's share.

    When the threads take every core, the slowest thread also waits for whatever else the
    phone runs on its core: its speed is scaled by ``contention``.
    """
    family = cases.family if family is None else family
    s = cases.raw * role[cases.role] * tier[cases.tier, family[:, None]] * kind[cases.kind]
    s_sum = np.where(cases.mask, s, 0.0).sum(axis=1)
    s_min = np.where(cases.mask, s, np.inf).min(axis=1) * np.where(cases.full, contention, 1.0)
    return (1 - beta) * s_sum + beta * cases.threads * s_min


def _kinds(k: Constants) -> np.ndarray:
    return np.asarray([*k.kind_factor, 1.0])


def _work_time(cases: Cases, k_class: np.ndarray, speed: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Seconds of multiply work per weight, the fallback matrices' share at their own class and speed."""
    main = k_class[cases.klass] / speed(cases.family)
    other = k_class[cases.klass2] / speed(cases.family2)
    return ((1 - cases.share2) * main + cases.share2 * other) / 1e9


def decode_seconds(cases: Cases, k: Constants) -> np.ndarray:
    role, tier = np.asarray(k.role), np.asarray([t for t in k.tier_dec])

    def speed(family: np.ndarray) -> np.ndarray:
        return throughput(cases, role, tier, k.beta_dec, k.contention_dec, _kinds(k), family)

    t_cmp = cases.params * _work_time(cases, np.asarray(k.k_dec), speed)
    t_mem = cases.bytes / (cases.bandwidth * k.eta_bw * 1e9)
    p = k.combine_p
    both = (t_mem**p + t_cmp**p) ** (1 / p)
    return both + cases.layers * k.c_layer + cases.vocab * k.c_vocab + k.c_token


def prefill_seconds(cases: Cases, k: Constants) -> np.ndarray:
    """Seconds per prompt token."""
    role, tier = np.asarray(k.role), np.asarray([t for t in k.tier_pp])

    def speed(family: np.ndarray) -> np.ndarray:
        return throughput(cases, role, tier, k.beta_pp, k.contention_pp, _kinds(k), family)

    attention = cases.attn * k.k_attn / (speed(cases.family) * 1e9)
    return cases.params * _work_time(cases, np.asarray(k.k_pp), speed) + attention


def predict_one(case: Case, k: Constants) -> tuple[float, float]:
    """(prefill tokens/s, decode tokens/s) of one case."""
    arrays = Cases([case], k.classes, k.kinds)
    pp = float(prefill_seconds(arrays, k)[0])
    dec = float(decode_seconds(arrays, k)[0])
    return (1 / pp if pp > 0 and math.isfinite(pp) else math.nan), 1 / dec


def constants_to_dict(k: Constants) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(k)


def constants_from_dict(data: dict[str, object]) -> Constants:
    def tup(value: object) -> tuple:  # type: ignore[type-arg]
        return tuple(tup(v) if isinstance(v, list) else v for v in value)  # type: ignore[attr-defined]

    return Constants(**{k: tup(v) if isinstance(v, list) else v for k, v in data.items()})  # type: ignore[arg-type]
