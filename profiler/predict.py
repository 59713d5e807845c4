"""The what-if predictor: does a model fit a phone, how fast does it run, what does it cost.

All sizes are MB of 2**20 bytes, as everywhere in pocketprof.

Memory (what the phone's budget counts: weights read into memory, as ``--no-mmap``)
    weights_mb  = tensor bytes from the GGUF file, or params × bits_per_weight / 8
    kv_cache_mb = n_layers × n_kv_heads × (head_dim_k + head_dim_v) × ctx × kv_bytes_per_elem
                  (K and V for every layer and position; f16 = 2 bytes; llama.cpp clears
                  the whole cache at load, so all of it is dirty from the start)
    overhead_mb = RUNTIME_BASE_MB + VOCAB_BYTES × n_vocab
    total_mb    = weights_mb + kv_cache_mb + overhead_mb
    verdict     = "killed" if total > budget, "tight" if total > 0.9 × budget, else "fits"

The overhead is what the measured footprint holds besides weights and KV:
``VOCAB_BYTES`` = 160 B per vocabulary entry, an accounting of llama.cpp's and
llama-cpp-python's per-token tables (id_to_token 40 B, the token_to_id hash map
~72 B, the token-to-piece cache 32 B, one f32 row of logits 4 B, the sampler's
candidate array 12 B); ``RUNTIME_BASE_MB`` = 36.3 MB is calibrated on this machine
(Linux, Python 3.11, llama-cpp-python 0.3.36, 2 threads) as the mean residual of
``pocketprof run --profile host --no-mmap --max-tokens 32 --ctx 2048`` for both
default models: peak footprint 182.6 MB (SmolLM2-135M Q4_1: 92.1 weights + 45.0
KV + 45.5 rest) and 345.8 MB (Gemma 3 270M Q4_K_M: 235.2 + 36.0 + 74.6); it is the
Python interpreter and llama.cpp libraries (20.7 MB anonymous after ``import
llama_cpp``) plus thread stacks, allocator arenas and the pages of the compute
buffer that decoding touches. Measured, not modelled, and not included:

- llama.cpp *reserves* a compute buffer sized for a 512-token batch with logits for
  every position (n_vocab × 512 × 4 B: 96 MB for SmolLM2, 512 MB for Gemma 3) but
  touches only the part a graph uses; with one output row per batch, that part is
  the prompt's activations. A prompt longer than a few hundred tokens adds up to
  n_heads × ctx × 512 × 4 B of attention scores (measured here: +32.5 MB for
  SmolLM2 and +26 MB for Gemma 3 with a 1,100-token prompt). "tight" flags runs
  that such a margin could push over.
- A phone app's own code and UI.

Speed (roofline; decode is bound by memory traffic, prefill by compute)
    bytes_read_per_token = weight bytes + KV bytes per position × ctx / 2
                           (the KV cache read at the average position of a full context)
    decode tokens/s      = effective_bandwidth_gbs × 1e9 / bytes_read_per_token
    prefill tokens/s     = compute_gflops × 1e9 × PREFILL_EFFICIENCY / (2 × dense params)
    dense params         = params − n_vocab × embedding_length (the embedding lookup
                           costs no FLOPs; prompt tokens other than the last produce
                           no logits); attention FLOPs are left out (< 4 % for an 8B
                           model at position 1,024).

``PREFILL_EFFICIENCY`` = 0.5 is an ASSUMPTION: the fraction of the profile's FP32
FMA peak that llama.cpp's CPU matrix kernels reach on a 512-token batch. On this
host (AMD Zen 4, 2 threads, 2.6 GHz × 32 FLOP/cycle × 2 = 166 GFLOP/s) it measured
0.34 (SmolLM2 Q4_1, 268 tokens/s) and 0.76 (Gemma 3 Q4_K_M with repacked int8
kernels, 630 tokens/s); 0.5 is their geometric mean. Nothing here is fitted to
published phone token rates.

Without a GGUF file (``params_b`` and ``bits_per_weight`` only) the shape follows
the Llama 3 family (8B: 32 layers, d_model 4096, 8 KV heads, head dim 128, vocab
128,256; 1B: 16 layers, d_model 2048, head dim 64): depth and width grow as the
cube root of the parameter count, n_layers = round(32 × (P / 8e9)^(1/3)),
d_model = 4096 × (P / 8e9)^(1/3), 8 KV heads, head dim 128 (64 below 2B).

Energy: :mod:`profiler.energy`, at the predicted decode speed or ``decode_tps``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from profiler import energy
from profiler.errors import BadInput
from profiler.gguf_meta import ModelInfo
from profiler.profiles import Profile
from profiler.record import MB

RUNTIME_BASE_MB = 36.3
VOCAB_BYTES = 160
PREFILL_EFFICIENCY = 0.5
TIGHT_FRACTION = 0.9
LLAMA3_VOCAB = 128_256


@dataclass(frozen=True)
class MemoryEstimate:
    weights_mb: float
    kv_cache_mb: float
    overhead_mb: float
    total_mb: float
    budget_mb: float | None
    fits: bool
    verdict: str  # "fits" | "tight" (within 10 % of the budget) | "killed"


@dataclass(frozen=True)
class SpeedEstimate:
    prefill_tokens_per_s: float
    decode_tokens_per_s: float


@dataclass(frozen=True)
class EnergyEstimate:
    j_per_token: float
    battery_pct_per_1k_tokens: float
    hours_continuous: float


@dataclass(frozen=True)
class Prediction:
    profile_id: str
    memory: MemoryEstimate
    speed: SpeedEstimate
    energy: EnergyEstimate
    inputs: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "memory": asdict(self.memory),
            "speed": asdict(self.speed),
            "energy": asdict(self.energy),
            "inputs": dict(self.inputs),
        }


@dataclass(frozen=True)
class Shape:
    """What the formulas need to know about a model."""

    params: float
    weight_bytes: float
    n_layers: int
    n_kv_heads: int
    head_dim_k: int
    head_dim_v: int
    vocab_size: int
    embedding_length: int
    estimated: bool  # True when the architecture came from the scaling rule


def estimated_shape(params: float, bits_per_weight: float) -> Shape:
    """A Llama-3-like shape for ``params`` parameters (see the module docstring)."""
    scale = (params / 8e9) ** (1 / 3)
    head_dim = 128 if params >= 2e9 else 64
    return Shape(
        params=params,
        weight_bytes=params * bits_per_weight / 8,
        n_layers=max(1, round(32 * scale)),
        n_kv_heads=8,
        head_dim_k=head_dim,
        head_dim_v=head_dim,
        vocab_size=LLAMA3_VOCAB,
        embedding_length=max(head_dim, round(4096 * scale)),
        estimated=True,
    )


def model_shape(model: ModelInfo, bits_per_weight: float | None = None) -> Shape:
    """The shape from GGUF metadata; missing fields are filled from the scaling rule."""
    guess = estimated_shape(float(model.parameters), bits_per_weight or model.bits_per_weight or 16.0)
    weight_bytes = model.parameters * bits_per_weight / 8 if bits_per_weight else float(model.tensor_bytes)
    fields = (model.n_layers, model.n_kv_heads, model.head_dim_k, model.vocab_size, model.embedding_length)
    return Shape(
        params=float(model.parameters),
        weight_bytes=weight_bytes,
        n_layers=model.n_layers or guess.n_layers,
        n_kv_heads=model.n_kv_heads or guess.n_kv_heads,
        head_dim_k=model.head_dim_k or guess.head_dim_k,
        head_dim_v=model.head_dim_v or model.head_dim_k or guess.head_dim_v,
        vocab_size=model.vocab_size or guess.vocab_size,
        embedding_length=model.embedding_length or guess.embedding_length,
        estimated=any(f is None for f in fields),
    )


def kv_bytes_per_position(shape: Shape, kv_bytes_per_elem: float = 2.0) -> float:
    return shape.n_layers * shape.n_kv_heads * (shape.head_dim_k + shape.head_dim_v) * kv_bytes_per_elem


def bytes_read_per_token(shape: Shape, ctx: int, kv_bytes_per_elem: float = 2.0) -> float:
    """Weights plus the KV cache read at the average position of a ``ctx``-token context."""
    return shape.weight_bytes + kv_bytes_per_position(shape, kv_bytes_per_elem) * ctx / 2


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
    total = weights + kv + overhead
    return MemoryEstimate(
        weights_mb=weights,
        kv_cache_mb=kv,
        overhead_mb=overhead,
        total_mb=total,
        budget_mb=budget_mb,
        fits=budget_mb is None or total <= budget_mb,
        verdict=verdict(total, budget_mb),
    )


def estimate_speed(profile: Profile, shape: Shape, *, ctx: int, kv_bytes_per_elem: float = 2.0) -> SpeedEstimate:
    if profile.effective_bandwidth_gbs is None or profile.compute_gflops is None:
        raise BadInput(f"profile '{profile.id}' lacks effective_bandwidth_gbs or compute_gflops")
    decode = profile.effective_bandwidth_gbs * 1e9 / bytes_read_per_token(shape, ctx, kv_bytes_per_elem)
    dense = max(shape.params - shape.vocab_size * shape.embedding_length, 0.1 * shape.params)
    prefill = profile.compute_gflops * 1e9 * PREFILL_EFFICIENCY / (2 * dense)
    return SpeedEstimate(prefill_tokens_per_s=prefill, decode_tokens_per_s=decode)


def _positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise BadInput(f"{name} must be positive, got {value:g}")


def _shape_from(model: ModelInfo | None, params_b: float | None, bits_per_weight: float | None) -> Shape:
    if model is not None and params_b is not None:
        raise BadInput("give a model or --params-b, not both")
    if model is not None:
        if not model.parameters:
            raise BadInput(f"{model.file_name}: the model has no parameters to predict with")
        return model_shape(model, bits_per_weight)
    if params_b is None:
        raise BadInput("give a model (--model) or a size (--params-b with --bits-per-weight)")
    if bits_per_weight is None:
        raise BadInput("--params-b needs --bits-per-weight (e.g. 16 for f16, 8 for Q8_0, ~4.5 for Q4_K_M)")
    return estimated_shape(params_b * 1e9, bits_per_weight)


def predict(
    profile: Profile,
    *,
    model: ModelInfo | None = None,
    params_b: float | None = None,
    bits_per_weight: float | None = None,
    ctx: int = 2048,
    decode_tps: float | None = None,
    kv_bytes_per_elem: float = 2.0,
) -> Prediction:
    """Memory, speed and energy of a model (a GGUF's metadata, or a size) on a phone profile."""
    if profile.is_host:
        raise BadInput("the host profile has no phone numbers to predict with; pick a phone profile")
    for name, value in (
        ("--params-b", params_b),
        ("--bits-per-weight", bits_per_weight),
        ("--ctx", ctx),
        ("--decode-tps", decode_tps),
        ("KV bytes per element", kv_bytes_per_elem),
    ):
        _positive(name, value)
    if bits_per_weight is not None and bits_per_weight > 64:
        raise BadInput(f"--bits-per-weight {bits_per_weight:g} is more than 64 bits per weight")
    shape = _shape_from(model, params_b, bits_per_weight)
    budget = float(profile.app_memory_budget_mb) if profile.app_memory_budget_mb is not None else None
    memory = estimate_memory(shape, ctx=ctx, budget_mb=budget, kv_bytes_per_elem=kv_bytes_per_elem)
    speed = estimate_speed(profile, shape, ctx=ctx, kv_bytes_per_elem=kv_bytes_per_elem)
    tps = decode_tps if decode_tps is not None else speed.decode_tokens_per_s
    read = bytes_read_per_token(shape, ctx, kv_bytes_per_elem)
    jpt = energy.j_per_token(profile, weight_bytes_per_token=read, decode_tps=tps)
    cost = EnergyEstimate(
        j_per_token=jpt,
        battery_pct_per_1k_tokens=energy.battery_pct(profile, 1000 * jpt),
        hours_continuous=energy.hours_continuous(profile, j_token=jpt, decode_tps=tps),
    )
    inputs: dict[str, Any] = {
        "model": model.name if model is not None else None,
        "model_path": model.path if model is not None else None,
        "params": shape.params,
        "bits_per_weight": bits_per_weight or (model.bits_per_weight if model is not None else None),
        "weight_bytes": shape.weight_bytes,
        "ctx": ctx,
        "kv_bytes_per_elem": kv_bytes_per_elem,
        "n_layers": shape.n_layers,
        "n_kv_heads": shape.n_kv_heads,
        "head_dim_k": shape.head_dim_k,
        "head_dim_v": shape.head_dim_v,
        "vocab_size": shape.vocab_size,
        "embedding_length": shape.embedding_length,
        "architecture_estimated": shape.estimated,
        "bytes_read_per_token": read,
        "decode_tokens_per_s_used": tps,
        "decode_tps_given": decode_tps is not None,
    }
    return Prediction(profile_id=profile.id, memory=memory, speed=speed, energy=cost, inputs=inputs)
