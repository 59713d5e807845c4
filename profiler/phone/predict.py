"""The what-if predictor: does a model fit a phone, how fast does it run, what does it cost.

All sizes are MB of 2**20 bytes, as everywhere in pocketprof. Every number here is a
prediction and says how far to trust it; docs/FIDELITY.md measures that against
published phone measurements (profiles/measurements/).

Memory (what the phone's budget counts: weights read into memory, as ``--no-mmap``)
    weights_mb  = tensor bytes from the GGUF file, or params × bits_per_weight / 8
    kv_cache_mb = kv_layers × n_kv_heads × (head_dim_k + head_dim_v) × ctx × kv_bytes_per_elem
                  (K and V for every attention layer and position; f16 = 2 bytes; llama.cpp
                  clears the whole cache at load, so all of it is dirty from the start)
    overhead_mb = RUNTIME_BASE_MB + VOCAB_BYTES × n_vocab
    total_mb    = weights_mb + kv_cache_mb + overhead_mb   (the footprint)
    verdict     = "killed" if total > budget, "tight" if total > 0.9 × budget, else "fits"

llama.cpp's own buffers, as its load log prints them (what published phone runs report):
    buffers_mb  = weights_mb + kv_cache_mb + compute_mb,
    compute_mb  = n_vocab × n_ubatch × 4 B: the compute buffer is reserved for a 512-token
                  batch with logits for every position. Only the pages a graph touches count
                  toward the footprint, hence the smaller ``overhead_mb`` above.

The overhead is what the measured footprint holds besides weights and KV:
``VOCAB_BYTES`` = 160 B per vocabulary entry, an accounting of llama.cpp's and
llama-cpp-python's per-token tables (id_to_token 40 B, the token_to_id hash map
~72 B, the token-to-piece cache 32 B, one f32 row of logits 4 B, the sampler's
candidate array 12 B); ``RUNTIME_BASE_MB`` = 36.3 MB is calibrated on this machine
(Linux, Python 3.11, llama-cpp-python 0.3.36, 2 threads) as the mean residual of
``pocketprof run --profile host --no-mmap --max-tokens 32 --ctx 2048`` for both
default models: peak footprint 182.6 MB (SmolLM2-135M Q4_1: 92.1 weights + 45.0
KV + 45.5 rest) and 345.8 MB (Gemma 3 270M Q4_K_M: 235.2 + 36.0 + 74.6). It is judged
on other runs (other quantizations and contexts) in benchmarks/bench_fidelity.py.
A phone app's own code and UI are not included; a prompt longer than a few hundred
tokens adds up to n_heads × ctx × 512 × 4 B of attention scores ("tight" flags runs
that such a margin could push over).

Speed: :mod:`profiler.phone.speed` (a llama.cpp CPU model per kernel class and core type,
fitted to phone measurements). Energy: :mod:`profiler.phone.energy` (the phone's measured power
while decoding ÷ the predicted speed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from profiler.errors import BadInput
from profiler.model import kernels
from profiler.model.gguf_meta import ModelInfo
from profiler.phone import energy, measured, speed
from profiler.phone.energy import EnergyEstimate
from profiler.phone.profiles import Profile
from profiler.phone.shape import (
    LLAMA3_VOCAB,
    Shape,
    estimated_shape,
    kv_bytes_per_position,
    model_shape,
)
from profiler.phone.speed import SpeedEstimate
from profiler.record import MB

__all__ = [
    "LLAMA3_VOCAB",
    "Shape",
    "SpeedEstimate",
    "estimated_shape",
    "kv_bytes_per_position",
    "model_shape",
    "predict",
]

RUNTIME_BASE_MB = 36.3
VOCAB_BYTES = 160
TIGHT_FRACTION = 0.9
N_UBATCH = 512
DEFAULT_PROMPT_TOKENS = 256
DEFAULT_GEN_TOKENS = 128


@dataclass(frozen=True)
class MemoryEstimate:
    weights_mb: float
    kv_cache_mb: float
    overhead_mb: float
    total_mb: float
    budget_mb: float | None
    fits: bool
    verdict: str  # "fits" | "tight" (within 10 % of the budget) | "killed"
    buffers_mb: float = 0.0  # llama.cpp's buffers as its load log counts them
    compute_buffer_mb: float = 0.0


@dataclass(frozen=True)
class Prediction:
    profile_id: str
    memory: MemoryEstimate
    speed: SpeedEstimate
    energy: EnergyEstimate | None
    inputs: dict[str, Any]
    measured: tuple[measured.Match, ...] = field(default=())

    def notes(self) -> list[str]:
        """What applies to this prediction (its speed's notes), then what each figure is fitted to."""
        speed = [n for n in self.speed.note.split("; ") if n]
        return speed + [n for n in (self.speed.basis, self.energy.basis if self.energy else "") if n]

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "memory": asdict(self.memory),
            "speed": asdict(self.speed),
            "energy": asdict(self.energy) if self.energy is not None else None,
            "measured": [asdict(m) for m in self.measured],
            "inputs": dict(self.inputs),
        }


def bytes_read_per_token(shape: Shape, ctx: int, kv_bytes_per_elem: float = 2.0) -> float:
    """Weights multiplied plus the KV cache read at the average position of a ``ctx``-token context."""
    return shape.bytes_multiplied + kv_bytes_per_position(shape, kv_bytes_per_elem) * ctx / 2


def verdict(total_mb: float, budget_mb: float | None) -> str:
    if budget_mb is None or total_mb <= TIGHT_FRACTION * budget_mb:
        return "fits"
    return "tight" if total_mb <= budget_mb else "killed"


def estimate_memory(
    shape: Shape, *, ctx: int, budget_mb: float | None, kv_bytes_per_elem: float = 2.0
) -> MemoryEstimate:
    weights = shape.weight_bytes / MB
    kv = kv_bytes_per_position(shape, kv_bytes_per_elem) * ctx / MB
    overhead = RUNTIME_BASE_MB + VOCAB_BYTES * shape.vocab_size / MB
    compute = shape.vocab_size * N_UBATCH * 4 / MB
    total = weights + kv + overhead
    return MemoryEstimate(
        weights_mb=weights,
        kv_cache_mb=kv,
        overhead_mb=overhead,
        total_mb=total,
        budget_mb=budget_mb,
        fits=budget_mb is None or total <= budget_mb,
        verdict=verdict(total, budget_mb),
        buffers_mb=weights + kv + compute,
        compute_buffer_mb=compute,
    )


def _positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:  # also refuses NaN
        raise BadInput(f"{name} must be positive, got {value:g}")
    if value is not None and value == float("inf"):
        raise BadInput(f"{name} must be finite, got {value:g}")


def _shape_from(
    model: ModelInfo | None, params_b: float | None, bits_per_weight: float | None, quant: str | None
) -> tuple[Shape, str | None]:
    """The shape, and the file type whose kernels run it (None: only bits per weight are known)."""
    if bits_per_weight is not None and quant is not None:
        raise BadInput("give --quant or --bits-per-weight, not both")
    if model is not None and params_b is not None:
        raise BadInput("give a model or --params-b, not both")
    if model is not None:
        if not model.parameters:
            raise BadInput(f"{model.file_name}: the model has no parameters to predict with")
        bits = kernels.nominal_bpw(quant) if quant else bits_per_weight
        file_quant = model.quantization if model.quantization != "unknown" else None
        return model_shape(model, bits), quant or (None if bits_per_weight else file_quant)
    if params_b is None:
        raise BadInput("give a model (--model) or a size (--params-b with --quant or --bits-per-weight)")
    if quant is not None:
        return estimated_shape(params_b * 1e9, kernels.nominal_bpw(quant), quant), quant
    if bits_per_weight is None:
        raise BadInput("--params-b needs --quant (a GGUF type such as Q4_K_M) or --bits-per-weight")
    return estimated_shape(params_b * 1e9, bits_per_weight), None


def _threads(profile: Profile, threads: int | None) -> int:
    cores = profile.cores or 0
    if threads is None:
        return profile.threads or max(1, cores)
    if threads < 1:
        raise BadInput(f"--threads must be at least 1, got {threads}")
    if cores and threads > cores:
        raise BadInput(f"--threads {threads}: {profile.name} has {cores} cores (a phone has no more)")
    return threads


def _check_numbers(
    params_b: float | None,
    bits_per_weight: float | None,
    ctx: int,
    prompt_tokens: int,
    decode_tps: float | None,
    kv_bytes_per_elem: float,
) -> None:
    for name, value in (
        ("--params-b", params_b),
        ("--bits-per-weight", bits_per_weight),
        ("--ctx", ctx),
        ("--prompt-tokens", prompt_tokens),
        ("--decode-tps", decode_tps),
        ("KV bytes per element", kv_bytes_per_elem),
    ):
        _positive(name, value)
    if bits_per_weight is not None and bits_per_weight > 64:
        raise BadInput(f"--bits-per-weight {bits_per_weight:g} is more than 64 bits per weight")


def _inputs(
    model: ModelInfo | None,
    shape: Shape,
    file_quant: str | None,
    quant: str | None,
    bits_per_weight: float | None,
    ctx: int,
    n_threads: int,
    prompt_tokens: int,
    kv_bytes_per_elem: float,
) -> dict[str, Any]:
    """What the prediction was made from, as the report shows it."""
    return {
        "model": model.name if model is not None else None,
        "model_path": model.path if model is not None else None,
        "params": shape.params,
        "quant": kernels.normalize(file_quant) if file_quant else None,
        "bits_per_weight": bits_per_weight
        or (kernels.nominal_bpw(quant) if quant and model is None else None)
        or (model.bits_per_weight if model is not None else None),
        "weight_bytes": shape.weight_bytes,
        "ctx": ctx,
        "threads": n_threads,
        "prompt_tokens": min(prompt_tokens, ctx),
        "kv_bytes_per_elem": kv_bytes_per_elem,
        "n_layers": shape.n_layers,
        "n_kv_heads": shape.n_kv_heads,
        "head_dim_k": shape.head_dim_k,
        "head_dim_v": shape.head_dim_v,
        "vocab_size": shape.vocab_size,
        "embedding_length": shape.embedding_length,
        "architecture_estimated": shape.estimated,
        "bytes_read_per_token": bytes_read_per_token(shape, ctx, kv_bytes_per_elem),
    }


def predict(
    profile: Profile,
    *,
    model: ModelInfo | None = None,
    params_b: float | None = None,
    bits_per_weight: float | None = None,
    quant: str | None = None,
    ctx: int = 2048,
    threads: int | None = None,
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS,
    backend: str | None = None,
    decode_tps: float | None = None,
    kv_bytes_per_elem: float = 2.0,
) -> Prediction:
    """Memory, speed and energy of a model (a GGUF's metadata, or a size) on a phone profile."""
    if profile.is_host:
        raise BadInput("the host profile has no phone numbers to predict with; pick a phone profile")
    _check_numbers(params_b, bits_per_weight, ctx, prompt_tokens, decode_tps, kv_bytes_per_elem)
    shape, file_quant = _shape_from(model, params_b, bits_per_weight, quant)
    n_threads = _threads(profile, threads)
    budget = float(profile.app_memory_budget_mb) if profile.app_memory_budget_mb is not None else None
    memory = estimate_memory(shape, ctx=ctx, budget_mb=budget, kv_bytes_per_elem=kv_bytes_per_elem)
    estimate = speed.estimate(
        profile,
        shape,
        file_quant,
        bits_per_weight=bits_per_weight or (model.bits_per_weight if model else None),
        backend=backend,
        threads=n_threads,
        prompt_tokens=min(prompt_tokens, ctx),
        gen_tokens=DEFAULT_GEN_TOKENS,
        kv_bytes_per_elem=kv_bytes_per_elem,
    )
    tps = decode_tps if decode_tps is not None else estimate.decode_tokens_per_s
    speed_error = None if decode_tps is not None else estimate.decode_error_pct  # a given speed is not predicted
    cost = energy.estimate(profile, estimate, decode_tps=tps, speed_error_pct=speed_error) if tps else None
    inputs = _inputs(model, shape, file_quant, quant, bits_per_weight, ctx, n_threads, prompt_tokens, kv_bytes_per_elem)
    inputs |= {"decode_tokens_per_s_used": tps, "decode_tps_given": decode_tps is not None}
    found = measured.find(profile, model, file_quant, estimate.backend)
    return Prediction(profile.id, memory, estimate, cost, inputs, found)


def run_energy(
    profile: Profile,
    *,
    model: ModelInfo,
    generated_tokens: int,
    decode_tps: float | None,
    ctx: int = 2048,
    threads: int | None = None,
) -> dict[str, Any] | None:
    """The phone's estimated energy for one run; None for the host profile (no battery).

    ``decode_tps`` is the speed the phone decodes at (an emulated run's achieved
    speed); None or non-positive means "use the predicted speed".
    """
    if profile.is_host or profile.battery_wh is None:
        return None
    prediction = predict(profile, model=model, ctx=ctx, threads=threads)
    measured = decode_tps is not None and decode_tps > 0
    tps = decode_tps if measured else prediction.speed.decode_tokens_per_s
    if not tps:
        return None
    p = energy.decode_power(profile, backend=prediction.speed.backend, threads=prediction.speed.threads)
    jpt = energy.j_per_token(p.watts, tps)
    total = jpt * max(0, generated_tokens)
    return {
        "j_total": round(total, 4),
        "j_per_token": round(jpt, 5),
        "power_w": round(p.watts, 3),
        "battery_pct": round(energy.battery_pct(profile, total), 6),
        "battery_pct_per_1k_tokens": round(energy.battery_pct(profile, 1000 * jpt), 5),
        "hours_continuous": round(energy.hours_continuous(profile, power_w=p.watts), 3),
        "decode_tokens_per_s": round(tps, 3),
        "speed_basis": "this run's emulated speed" if measured else "predicted speed",
        "error_pct": (prediction.energy.error_pct if prediction.energy else None),
        "model": "P / tokens/s, P fitted to published phone power measurements (profiler.phone.energy)",
        "basis": p.basis,
        "estimate_for": profile.id,
        "kind": "estimate",
    }
