"""llama.cpp on a phone's GPU or NPU: what the dataset supports, and no more.

Backends are told apart by their API (``metal``, ``opencl``, ``vulkan``, ``hexagon``):
their kernels differ more than their chips. Per API, fitted to the dataset's rows::

    decode  t_token  = bytes read per token × m[kernel class] / (memory_bandwidth_gbs × 1e9)
                       + n_layers × c_layer + c_token
    prefill t_prompt = weights multiplied × kp[kernel class] × g[SoC]

Decode moves to a SoC the dataset never measured through its memory bandwidth (a GPU
decoding is bound by memory, and by a fixed cost per layer for launching its kernels).
Prefill depends on the GPU's compute, for which no spec sheet is read here, so it is
predicted only on SoCs with measured prefill (``g``). The Hexagon backend runs Q4_0 and
Q8_0 (and MXFP4) on the NPU; other types run on the CPU (llama.cpp docs/backend/hexagon).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from profiler.model import kernels
from profiler.phone import specs
from profiler.phone.cases import MIB, row_shape
from profiler.phone.dataset import Measurement
from profiler.phone.fitted import BORROW, SpeedEstimate, load_fit
from profiler.phone.shape import Shape

HEXAGON_CLASSES = frozenset({"q4_0", "q8_0"})
TRUST_WEIGHT = {"A": 1.0, "B": 1.0, "C": 0.6, "D": 0.3}
# the API each phone GPU/NPU runs llama.cpp through, by the profile's platform
DEFAULT_API = {("ios", "gpu"): "metal", ("android", "gpu"): "opencl", ("android", "npu"): "hexagon"}


def api_of(backend: str, detail: str) -> str:
    """The API (and, for OpenCL and Vulkan, the GPU family) a row ran llama.cpp through."""
    d = detail.lower()
    for api in ("metal", "opencl", "vulkan", "hexagon", "qnn"):
        if api in d:
            return f"{api}-mali" if api in ("opencl", "vulkan") and "mali" in d else api
    return {"npu": "hexagon", "gpu": "gpu"}.get(backend, backend)


def profile_api(profile: Any, backend: str) -> str | None:
    """The API a phone's apps run llama.cpp's ``backend`` through (its SoC's GPU decides OpenCL's family)."""
    api = DEFAULT_API.get((profile.platform, backend))
    if api == "opencl":
        soc = specs.socs().get(profile.soc_id)
        gpu = (soc.gpu if soc else "").lower()
        if "adreno" not in gpu:
            return "opencl-mali" if "mali" in gpu else None
    return api


@dataclass(frozen=True)
class AccelSample:
    row: Measurement
    api: str
    phase: str
    klass: str
    bytes_per_token: float
    params: float
    n_layers: int
    bandwidth: float
    seconds: float
    weight: float


def samples(
    rows: Sequence[Measurement], models: dict[str, specs.ModelSpec], socs: dict[str, specs.Soc]
) -> list[AccelSample]:
    out = []
    for row in rows:
        if row.backend == "cpu" or not row.is_llama_cpp:
            continue
        soc, shape, klass = socs.get(row.soc_id), row_shape(row, models), kernels.class_of(row.quant)
        if soc is None or shape is None or klass is None or soc.memory_bandwidth_gbs is None:
            continue
        api = api_of(row.backend, row.backend_detail)
        if api == "hexagon" and klass not in HEXAGON_CLASSES:
            continue  # ran on the CPU
        for phase, tps in (("decode", row.decode_tps), ("prefill", row.prefill_tps)):
            if tps is None or not row.usable(phase):
                continue
            out.append(
                AccelSample(
                    row,
                    api,
                    phase,
                    klass,
                    shape.bytes_multiplied,
                    shape.params_matmul,
                    shape.n_layers,
                    soc.memory_bandwidth_gbs,
                    1.0 / tps,
                    TRUST_WEIGHT[row.trust],
                )
            )
    return out


def _weights(data: Sequence[AccelSample]) -> np.ndarray:
    per: dict[str, int] = defaultdict(int)
    for s in data:
        per[s.row.soc_id] += 1
    return np.array([s.weight / math.sqrt(per[s.row.soc_id]) for s in data])


def fit_decode(data: Sequence[AccelSample]) -> dict[str, Any]:
    """m per class, c_layer and c_token for one API's decode rows (robust least squares on log time)."""
    from scipy.optimize import least_squares

    classes = sorted({s.klass for s in data})
    b = np.array([s.bytes_per_token / (s.bandwidth * 1e9) for s in data])
    layers = np.array([s.n_layers for s in data], dtype=float)
    cls = np.array([classes.index(s.klass) for s in data])
    y = np.log([s.seconds for s in data])
    w = _weights(data)

    def model(theta: np.ndarray) -> np.ndarray:
        m, c_layer, c_token = np.exp(theta[: len(classes)]), math.exp(theta[-2]), math.exp(theta[-1])
        return b * m[cls] + layers * c_layer + c_token

    def residuals(theta: np.ndarray) -> np.ndarray:
        prior = 0.05 * (theta - np.r_[np.zeros(len(classes)), math.log(50e-6), math.log(1e-3)])
        return np.r_[w * (np.log(model(theta)) - y), prior]

    start = np.r_[np.zeros(len(classes)), math.log(50e-6), math.log(1e-3)]
    x = least_squares(residuals, start, loss="soft_l1", f_scale=0.1).x
    return {
        "m": dict(zip(classes, np.exp(x[: len(classes)]).tolist(), strict=True)),
        "c_layer": math.exp(x[-2]),
        "c_token": math.exp(x[-1]),
    }


def fit_prefill(data: Sequence[AccelSample]) -> dict[str, Any]:
    """kp per class and g per SoC (log-linear least squares; the first SoC's g is 1)."""
    classes = sorted({s.klass for s in data})
    socs = sorted({s.row.soc_id for s in data})
    x = np.zeros((len(data), len(classes) + len(socs) - 1))
    for i, s in enumerate(data):
        x[i, classes.index(s.klass)] = 1.0
        j = socs.index(s.row.soc_id)
        if j:
            x[i, len(classes) + j - 1] = 1.0
    y = np.log([s.seconds / s.params for s in data])
    w = _weights(data)
    coef, *_ = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)
    g = {socs[0]: 1.0} | {soc: math.exp(coef[len(classes) + j - 1]) for j, soc in enumerate(socs) if j}
    return {"kp": dict(zip(classes, np.exp(coef[: len(classes)]).tolist(), strict=True)), "g": g}


def fit(data: Sequence[AccelSample]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for api in sorted({s.api for s in data}):
        dec = [s for s in data if s.api == api and s.phase == "decode"]
        pre = [s for s in data if s.api == api and s.phase == "prefill"]
        entry: dict[str, Any] = {"socs": sorted({s.row.soc_id for s in dec + pre})}
        if dec:
            entry["decode"] = fit_decode(dec)
        if pre:
            entry["prefill"] = fit_prefill(pre)
        out[api] = entry
    return out


def _class_value(table: dict[str, float], klass: str) -> float | None:
    if klass in table:
        return table[klass]
    return table.get(BORROW.get(klass, ""))


def predict_seconds(entry: dict[str, Any], s: AccelSample) -> float:
    """Predicted seconds per token of one sample from a fitted API entry (nan when it cannot be)."""
    if s.phase == "decode":
        d = entry.get("decode")
        m = _class_value(d["m"], s.klass) if d else None
        if m is None:
            return math.nan
        return s.bytes_per_token / (s.bandwidth * 1e9) * m + s.n_layers * d["c_layer"] + d["c_token"]
    p = entry.get("prefill")
    kp = _class_value(p["kp"], s.klass) if p else None
    g = p["g"].get(s.row.soc_id) if p else None
    return math.nan if kp is None or g is None else s.params * kp * g


def estimate(
    profile: Any, shape: Shape, klass: str, backend: str, cpu: Any, *, prompt_tokens: int, gen_tokens: int
) -> Any:
    """The GPU/NPU estimate for ``profile``, or None when the dataset cannot support one."""
    api = profile_api(profile, backend)
    fit = load_fit().get("accel", {})
    entry = fit.get(api or "")
    if entry is None:
        return None
    if api == "hexagon" and klass not in HEXAGON_CLASSES:
        note = f"llama.cpp's Hexagon backend has no {klass} kernel: the model runs on the CPU"
        return SpeedEstimate(**{**cpu.__dict__, "backend": backend, "note": "; ".join(filter(None, [note, cpu.note]))})
    sample = AccelSample(
        row=Measurement(**_stub(profile.soc_id)),
        api=api,
        phase="decode",
        klass=klass,
        bytes_per_token=shape.bytes_multiplied,
        params=shape.params_matmul,
        n_layers=shape.n_layers,
        bandwidth=float(profile.memory_bandwidth_gbs),
        seconds=math.nan,
        weight=1.0,
    )
    dec = predict_seconds(entry, sample)
    pre = predict_seconds(entry, AccelSample(**{**sample.__dict__, "phase": "prefill"}))
    if not math.isfinite(dec):
        return None
    errors = entry.get("errors", {})
    notes = []
    if not math.isfinite(pre):
        notes.append(f"no {api} prefill measurement of {profile.soc_id}: prefill not predicted")
    measured_here = profile.soc_id in entry.get("socs", ())
    dec_err = errors.get("decode_lomo", {}) if measured_here else {}
    if not dec_err.get("n"):  # no model-out score on this SoC: the SoC-out one
        dec_err = errors.get("decode_lodo", {})
    pre_err = errors.get("prefill_lomo", {})
    return SpeedEstimate(
        prefill_tokens_per_s=1 / pre if math.isfinite(pre) else None,
        decode_tokens_per_s=1 / dec,
        backend=backend,
        threads=cpu.threads,
        kernel_class=klass,
        decode_error_pct=dec_err.get("median_pct"),
        prefill_error_pct=pre_err.get("median_pct") if math.isfinite(pre) else None,
        decode_error_p90_pct=dec_err.get("p90_pct"),
        prefill_error_p90_pct=pre_err.get("p90_pct") if math.isfinite(pre) else None,
        basis=f"llama.cpp {api} model fitted to {entry.get('rows', '?')} phone measurements",
        note="; ".join(notes),
    )


def _stub(soc_id: str) -> dict[str, Any]:
    """The fields of a dataset row for a phone that has none (a prediction, not a measurement)."""
    from profiler.phone.dataset import COLUMNS, NUMBERS

    values: dict[str, Any] = dict.fromkeys(COLUMNS, "") | dict.fromkeys(NUMBERS)
    return values | {"soc_id": soc_id, "backend": "gpu", "trust": "B", "split": "fit"}


__all__ = ["MIB", "api_of", "estimate", "fit", "predict_seconds", "samples"]
