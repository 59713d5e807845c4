"""Fit every phone model to the dataset and measure how well each predicts what it never saw.

:func:`build` is what ``scripts/fit_phone_model.py`` writes to ``profiler/data/fit.json``
(the constants the predictor reads, with the errors each prediction quotes) and what
``benchmarks/bench_fidelity.py`` prints. Scores:

- CPU speed: leave one SoC out (its rows predicted from every other SoC's rows and its own
  spec sheet; rows whose kernel class or core tier no other SoC has are not scored, and
  counted) and, within each SoC with enough rows, leave one model out.
- GPU/NPU speed, per API: decode leave one SoC out (by memory bandwidth), and leave one
  model out within a SoC for decode and prefill.
- The held-out phones (``split = holdout``) predicted by the fit on everything else.
- Memory: llama.cpp's buffer totals against the predicted buffers (weights, KV cache,
  compute buffer); footprints against the predicted footprint.
- Power and energy: power leave one SoC out; J/token = predicted power ÷ predicted speed
  against published J/token.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from profiler.model import kernels
from profiler.phone import accel, builds, cpu_model, dataset, fit, power, specs
from profiler.phone.cases import MIB, expand, row_shape
from profiler.phone.shape import kv_bytes_per_position

MIN_LOMO_ROWS = 10
MIN_LOMO_MODELS = 3


@dataclass
class Inputs:
    rows: list[dataset.Measurement]
    models: dict[str, specs.ModelSpec]
    socs: dict[str, specs.Soc]
    cores: dict[str, specs.CoreType]
    folder: Path

    @classmethod
    def load(cls, folder: Path | None = None) -> Inputs:
        folder = folder or dataset.default_folder()
        return cls(dataset.load(folder), specs.models(folder), specs.socs(folder), specs.cores(folder), folder)

    @property
    def builds(self) -> tuple[builds.Build, ...]:
        """Which builds repack K-quants and Q8_0 (``kernels.toml`` of the same folder)."""
        return builds.table(self.folder)

    def digest(self) -> str:
        h = hashlib.sha256()
        for path in sorted(self.folder.glob("*")):
            if path.suffix in (".csv", ".toml"):
                h.update(path.name.encode() + path.read_bytes())
        return h.hexdigest()[:16]


@dataclass
class Scores:
    """Relative errors (predicted ÷ measured − 1) by what was scored."""

    errors: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    by_device: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    points: dict[str, list[tuple[float, float, str]]] = field(default_factory=lambda: defaultdict(list))
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, key: str, device: str, measured: float, predicted: float, label: str = "") -> None:
        if not (math.isfinite(predicted) and predicted > 0 and measured > 0):
            return
        e = predicted / measured - 1.0
        self.errors[key].append(e)
        self.by_device[key][device].append(e)
        self.points[key].append((measured, predicted, label or device))


def summary(errors: Sequence[float]) -> dict[str, Any]:
    a = np.abs(np.asarray(errors, dtype=float))
    if not len(a):
        return {"n": 0}
    return {
        "n": len(a),
        "median_pct": round(float(np.median(a)) * 100, 1),
        "p90_pct": round(float(np.percentile(a, 90)) * 100, 1),
        "bias_pct": round(float(np.median(errors)) * 100, 1),
    }


def device_median(per_device: dict[str, list[float]]) -> dict[str, Any]:
    """The median over devices of each device's median absolute error."""
    meds = {d: float(np.median(np.abs(e))) for d, e in per_device.items() if e}
    if not meds:
        return {"devices": 0}
    return {
        "devices": len(meds),
        "median_pct": round(float(np.median(list(meds.values()))) * 100, 1),
        "per_device_pct": {d: round(v * 100, 1) for d, v in sorted(meds.items())},
    }


# -- CPU -----------------------------------------------------------------------------------
def cpu_part(inp: Inputs, scores: Scores) -> dict[str, Any]:
    usable = [r for r in inp.rows if r.split in ("fit", "decode-only")]
    data, skipped = fit.samples(
        usable, models=inp.models, socs=inp.socs, core_types=inp.cores, kernel_builds=inp.builds
    )
    k = fit.fit(data)
    lodo, unscored = fit.lodo(data, k)
    by_class: dict[str, dict[str, list[float]]] = {p: defaultdict(list) for p in fit.PHASES}
    for s in lodo:
        key = f"cpu {s.sample.phase} lodo"
        scores.add(
            key,
            s.sample.row.soc_id,
            1 / s.sample.seconds,
            (1 + s.error) / s.sample.seconds,
            f"{s.sample.row.device}: {s.sample.row.model_id} {s.sample.row.quant}",
        )
        by_class[s.sample.phase][s.sample.case.klass].append(s.error)
    for soc in sorted({s.row.soc_id for s in data}):
        mine = [s for s in data if s.row.soc_id == soc]
        if len(mine) < MIN_LOMO_ROWS or len({s.row.model_id for s in mine}) < MIN_LOMO_MODELS:
            continue
        for s in fit.lomo(data, soc, k):
            scores.add(
                f"cpu {s.sample.phase} lomo",
                soc,
                1 / s.sample.seconds,
                (1 + s.error) / s.sample.seconds,
                f"{s.sample.row.model_id} {s.sample.row.quant}",
            )
    scores.notes["cpu unscored"] = ", ".join(f"{soc} {n}" for soc, n in sorted(unscored.items()) if n)
    held = [r for r in inp.rows if r.split == "holdout"]
    hdata, _ = fit.samples(held, models=inp.models, socs=inp.socs, core_types=inp.cores, kernel_builds=inp.builds)
    for s, e in zip(hdata, fit.relative_errors(hdata, k), strict=True):
        scores.add(
            f"cpu {s.phase} holdout",
            s.row.device,
            1 / s.seconds,
            (1 + e) / s.seconds,
            f"{s.row.model_id} {s.row.quant}",
        )
    errors = {}
    for phase in fit.PHASES:
        all_errors = scores.errors[f"cpu {phase} lodo"]
        errors[phase] = {"all": summary(all_errors), "by_class": {c: summary(e) for c, e in by_class[phase].items()}}
    return {
        "constants": cpu_model.constants_to_dict(k),
        "rows": len({id(s.row) for s in data}),
        "socs": sorted({s.row.soc_id for s in data}),
        "tiers_seen": sorted({c.tier for s in data for c in s.case.used()}),
        "skipped": skipped,
        "errors": errors,
    }


# -- GPU and NPU ----------------------------------------------------------------------------
def accel_part(inp: Inputs, scores: Scores) -> dict[str, Any]:
    usable = [r for r in inp.rows if r.split in ("fit", "decode-only")]
    data = accel.samples(usable, inp.models, inp.socs)
    out = accel.fit(data)
    for api, entry in out.items():
        mine = [s for s in data if s.api == api]
        entry["rows"] = len({id(s.row) for s in mine})
        socs = sorted({s.row.soc_id for s in mine})
        for soc in socs:  # decode, leave one SoC out
            train = [s for s in mine if s.row.soc_id != soc and s.phase == "decode"]
            test = [s for s in mine if s.row.soc_id == soc and s.phase == "decode"]
            if train and test:
                trained = {"decode": accel.fit_decode(train)}
                for s in test:
                    scores.add(f"{api} decode lodo", soc, 1 / s.seconds, 1 / accel.predict_seconds(trained, s))
        for soc in socs:  # leave one model out within a SoC
            for phase in ("decode", "prefill"):
                here = [s for s in mine if s.row.soc_id == soc and s.phase == phase]
                if len(here) < MIN_LOMO_ROWS or len({s.row.model_id for s in here}) < MIN_LOMO_MODELS:
                    continue
                for model in sorted({s.row.model_id for s in here}):
                    train = [s for s in mine if s.phase == phase and s.row.model_id != model]
                    trained = accel.fit(train).get(api, {})
                    for s in (s for s in here if s.row.model_id == model):
                        scores.add(f"{api} {phase} lomo", soc, 1 / s.seconds, 1 / accel.predict_seconds(trained, s))
        held = [
            s
            for s in accel.samples([r for r in inp.rows if r.split == "holdout"], inp.models, inp.socs)
            if s.api == api
        ]
        for s in held:
            scores.add(f"{api} {s.phase} holdout", s.row.device, 1 / s.seconds, 1 / accel.predict_seconds(entry, s))
        entry["errors"] = {
            "decode_lodo": summary(scores.errors[f"{api} decode lodo"]),
            "decode_lomo": summary(scores.errors[f"{api} decode lomo"]),
            "prefill_lomo": summary(scores.errors[f"{api} prefill lomo"]),
        }
    return out


# -- memory ---------------------------------------------------------------------------------
def predicted_buffers_mib(row: dataset.Measurement, inp: Inputs, *, from_file: bool) -> float | None:
    """llama.cpp's buffers: weights + KV cache + compute buffer (n_vocab × n_ubatch × 4 B)."""
    shape = row_shape(row, inp.models)
    spec = inp.models.get(row.model_id)
    if shape is None or spec is None or not row.ctx:
        return None
    bpw = kernels.NOMINAL_BPW.get(kernels.normalize(row.quant)) if row.quant else None
    if from_file:
        if not row.weights_mib:
            return None
        weights = row.weights_mib
    else:
        if bpw is None:
            return None
        weights = kernels.file_bytes(shape.params, row.quant, shape.vocab_size * shape.embedding_length) / MIB
    kv = kv_bytes_per_position(shape) * row.ctx / MIB
    compute = shape.vocab_size * 512 * 4 / MIB
    return weights + kv + compute


def memory_part(inp: Inputs, scores: Scores) -> None:
    for row in inp.rows:
        if row.memory_kind != "llama_buffers" or not row.memory_mb or row.split == "context":
            continue
        for from_file, key in (
            (True, "memory buffers (weights from the file)"),
            (False, "memory buffers (weights from params × type)"),
        ):
            predicted = predicted_buffers_mib(row, inp, from_file=from_file)
            if predicted is not None:
                scores.add(key, row.soc_id or row.device, row.memory_mb, predicted, f"{row.model_id} {row.quant}")


# -- power and energy -----------------------------------------------------------------------
def power_part(inp: Inputs, scores: Scores, cpu_constants: cpu_model.Constants) -> dict[str, Any]:
    """Power by SoC left out, and energy with both its speed and its power fitted without that SoC."""
    little = cpu_constants.role[cpu_model.ROLES.index("little")]
    usable = [r for r in inp.rows if r.split != "context"]
    data = power.samples(usable, inp.socs, inp.cores, little)
    model = power.fit(data)
    for s, e in power.lodo(data):
        scores.add("power lodo", s.row.soc_id, s.watts, s.watts * (1 + e), s.row.device)
    # energy: predicted power ÷ predicted speed against published J/token (llama.cpp CPU rows)
    usable_fit = [r for r in inp.rows if r.split in ("fit", "decode-only")]
    data_cpu, _ = fit.samples(
        usable_fit, models=inp.models, socs=inp.socs, core_types=inp.cores, kernel_builds=inp.builds
    )
    energy_rows = [s for s in data_cpu if s.phase == "decode" and (s.row.energy_j_per_token or s.row.power_w)]
    by_soc: dict[str, list[fit.Sample]] = defaultdict(list)
    for s in energy_rows:
        by_soc[s.row.soc_id].append(s)
    for soc, test in by_soc.items():  # neither speed nor power fitted on this SoC
        k = fit.fit([s for s in data_cpu if s.row.soc_id != soc], cpu_constants)
        pm = power.fit([p for p in data if p.row.soc_id != soc])
        speeds = 1 / fit.predict_seconds(test, k)
        for s, tps in zip(test, speeds, strict=True):
            cores = expand(inp.socs[soc].clusters, inp.cores)
            watts = pm.watts(power.units(cores, s.case.threads, little))
            # the decode energy: power while decoding ÷ decode speed (a source's own J/token can
            # include loading and prefill; its mean power and decode speed do not)
            measured = (
                s.row.power_w / s.row.decode_tps if s.row.power_w and s.row.decode_tps else s.row.energy_j_per_token
            )
            scores.add(
                "energy lodo", soc, measured or 0.0, watts / tps, f"{s.row.device}: {s.row.model_id} {s.row.quant}"
            )
    return {
        "p_base_w": model.p_base_w,
        "p_core_w": model.p_core_w,
        "little_factor": little,
        "rows": len(data),
        "socs": sorted({s.row.soc_id for s in data}),
        "errors": {"power": summary(scores.errors["power lodo"]), "energy": summary(scores.errors["energy lodo"])},
    }


def build(folder: Path | None = None) -> tuple[dict[str, Any], Scores]:
    """Fit everything and score it; returns (the fit.json document, the scores)."""
    inp = Inputs.load(folder)
    scores = Scores()
    cpu = cpu_part(inp, scores)
    accel_fit = accel_part(inp, scores)
    memory_part(inp, scores)
    constants = cpu_model.constants_from_dict(cpu["constants"])
    pw = power_part(inp, scores, constants)
    for phase in fit.PHASES:  # held-out phones are left-out devices too: the across-device score with them
        both = dict(scores.by_device[f"cpu {phase} lodo"]) | dict(scores.by_device[f"cpu {phase} holdout"])
        scores.by_device[f"cpu {phase} lodo + holdout"] = both
    doc = {
        "dataset_sha256_16": inp.digest(),
        "dataset_rows": len(inp.rows),
        "cpu": cpu,
        "accel": accel_fit,
        "power": pw,
        "scores": {key: summary(errors) for key, errors in sorted(scores.errors.items())},
        "device_medians": {key: device_median(per) for key, per in sorted(scores.by_device.items())},
    }
    return doc, scores
