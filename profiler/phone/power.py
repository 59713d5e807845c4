"""The phone's power while it decodes, fitted to published power measurements.

    P = p_base + p_core × S

where S is the throughput units (GHz × 128-bit SIMD pipes × role factor) of the cores
the decoding threads run on (:mod:`profiler.phone.cpu_model`): more and faster cores
draw more. ``p_base`` holds what the rest of the phone draws while it decodes (screen,
memory, SoC fabric). Energy per token is then P ÷ tokens/s (:mod:`profiler.phone.energy`).

The constants are fitted by least squares on the dataset's CPU rows that give power
(or energy per token and speed, from which P = J/token × tokens/s); every row counts
by its source's trust grade and each SoC's rows share one SoC's weight. Sources measure
differently (battery fuel gauge of the whole phone, or net of idle), which is part of
the error that docs/FIDELITY.md reports.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from profiler.phone import cases, specs
from profiler.phone.cpu_model import Core
from profiler.phone.dataset import Measurement

TRUST_WEIGHT = {"A": 1.0, "B": 1.0, "C": 0.6, "D": 0.3}


@dataclass(frozen=True)
class PowerSample:
    row: Measurement
    units: float  # S of the cores used
    watts: float
    weight: float


@dataclass(frozen=True)
class PowerModel:
    p_base_w: float
    p_core_w: float  # watts per throughput unit

    def watts(self, units: float) -> float:
        return self.p_base_w + self.p_core_w * units


def units(cores: Sequence[Core], threads: int, little_factor: float) -> float:
    ordered = sorted(cores, key=lambda c: c.raw, reverse=True)[: max(1, min(threads, len(cores)))]
    return sum(c.raw * (little_factor if c.role == "little" else 1.0) for c in ordered)


def samples(
    rows: Sequence[Measurement], socs: dict[str, specs.Soc], core_types: dict[str, specs.CoreType], little: float
) -> list[PowerSample]:
    out = []
    for row in rows:
        if row.backend != "cpu" or row.soc_id not in socs:
            continue
        watts = row.power_w
        if watts is None and row.energy_j_per_token and row.decode_tps:
            watts = row.energy_j_per_token * row.decode_tps
        if watts is None:
            continue
        cores = cases.expand(socs[row.soc_id].clusters, core_types)
        threads = row.threads or cases.default_threads(cores)
        out.append(PowerSample(row, units(cores, threads, little), watts, TRUST_WEIGHT[row.trust]))
    return out


def fit(data: Sequence[PowerSample]) -> PowerModel:
    """Weighted least squares of watts on throughput units (both constants kept non-negative)."""
    per_soc: dict[str, int] = defaultdict(int)
    for s in data:
        per_soc[s.row.soc_id] += 1
    w = np.array([s.weight / math.sqrt(per_soc[s.row.soc_id]) for s in data])
    x = np.array([s.units for s in data])
    y = np.array([s.watts for s in data])
    design = np.stack([np.ones_like(x), x], axis=1) * w[:, None]
    (base, slope), *_ = np.linalg.lstsq(design, y * w, rcond=None)
    if slope < 0:  # no visible dependence on the cores: a constant
        base, slope = float(np.average(y, weights=w)), 0.0
    return PowerModel(max(float(base), 0.0), float(slope))


def lodo(data: Sequence[PowerSample]) -> list[tuple[PowerSample, float]]:
    """(sample, predicted ÷ measured − 1) with each SoC's rows predicted from the other SoCs."""
    out = []
    for soc in sorted({s.row.soc_id for s in data}):
        train = [s for s in data if s.row.soc_id != soc]
        if len({s.row.soc_id for s in train}) < 2:
            continue
        model = fit(train)
        out += [(s, model.watts(s.units) / s.watts - 1.0) for s in data if s.row.soc_id == soc]
    return out
