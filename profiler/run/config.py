"""A run's settings, and turning them (with a model and a profile) into a limit plan."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from profiler.errors import BadInput
from profiler.model.gguf_meta import ModelInfo
from profiler.phone.profiles import Profile
from profiler.run import mechanisms
from profiler.run.limits import LimitPlan, host_cores

# A run that hands its tokens over this rarely or less often is not watched live (a bench test, a
# calibration's measuring run): its first token is not sent at once either. Each hand-over wakes the
# parent, which on a host whose cores all run llama.cpp's threads stalls them (benchmarks/RESULTS.md).
UNWATCHED_STREAM_S = 1.0


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """What the user asked for. ``None`` means "the profile's value" (or the default)."""

    model: str
    profile: str = "host"
    prompt: str = "Why is memory the wall for phone LLMs?"
    max_tokens: int = 128
    ctx: int = 2048
    threads: int | None = None
    mmap: bool = True
    seed: int = 42
    temperature: float = 0.7
    raw: bool = False
    memory_budget_mb: float | None = None
    dram_mb: float | None = None
    speed_factor: float | None = None
    throttle: str = "duty"
    sample_hz: float = 50.0
    gpu_layers: int = 0
    logits_all: bool = False
    ignore_eos: bool = False
    load_timeout_s: float = 300.0
    reserve_cores: int = 0  # host cores kept from the child: the app keeps one so drawing never stalls llama.cpp
    batch: int = 2048  # llama.cpp's n_batch (llama-bench's default): prompt tokens handed over per decode call
    ubatch: int = 512  # n_ubatch: tokens computed per graph
    flash_attn: str = "auto"  # "auto" (llama.cpp decides per device), "on" or "off"
    prompt_tokens: int | None = None  # a bench test: this many random token ids in place of the prompt text
    warmup: bool = False  # a bench test's warm-up (the prompt, the test's tokens for up to 1 s, then cleared)
    stream_interval_s: float = 0.05  # the child hands its tokens over this often (each hand-over wakes the parent)
    speed_correction: float = 1.0  # the speed governor's start: a bench carries it from one repetition to the next

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FLOATS = (
    "temperature",
    "memory_budget_mb",
    "dram_mb",
    "speed_factor",
    "sample_hz",
    "load_timeout_s",
    "stream_interval_s",
    "speed_correction",
)


def _option(name: str) -> str:
    return "--" + name.removesuffix("_s").replace("_", "-")  # load_timeout_s is --load-timeout


def _positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise BadInput(f"{_option(name)} must be positive, got {value:g}")


def _finite(name: str, value: float | None) -> None:
    """NaN passes every comparison (``nan <= 0`` is False): it would switch a limit off unnoticed."""
    if value is not None and not math.isfinite(value):
        raise BadInput(f"{_option(name)} must be a finite number, got {value}")


def validate(config: RunConfig, model: ModelInfo) -> None:
    """One-line BadInput for any option that cannot work with this model."""
    for name in FLOATS:
        _finite(name, getattr(config, name))
    positive = (
        "max_tokens",
        "ctx",
        "threads",
        "memory_budget_mb",
        "dram_mb",
        "sample_hz",
        "load_timeout_s",
        "stream_interval_s",
        "speed_correction",
    )
    for name in (*positive, "batch", "ubatch"):
        _positive(name, getattr(config, name))
    if config.speed_factor is not None and not 0 < config.speed_factor <= 1:
        raise BadInput(f"--speed-factor must be in (0, 1], got {config.speed_factor:g}")
    if config.throttle not in mechanisms.REGISTRY:
        choices = " or ".join(repr(name) for name in mechanisms.names())
        raise BadInput(f"--throttle must be {choices}, got {config.throttle!r}")
    if config.flash_attn not in ("auto", "on", "off"):
        raise BadInput(f"--flash-attn must be auto, on or off, got {config.flash_attn!r}")
    if config.prompt_tokens is not None and config.prompt_tokens < 0:
        raise BadInput(f"a bench prompt length must be 0 or more tokens, got {config.prompt_tokens}")
    if config.prompt_tokens is None and not config.prompt.strip():
        raise BadInput("--prompt is empty; give the model something to answer")
    if model.context_length and config.ctx > model.context_length:
        raise BadInput(f"--ctx {config.ctx} is larger than {model.file_name} allows ({model.context_length} tokens)")
    if config.reserve_cores < 0:
        raise BadInput(f"reserve_cores must be 0 or more, got {config.reserve_cores}")
    if config.gpu_layers < 0:
        raise BadInput(f"--gpu-layers must be 0 or more, got {config.gpu_layers}")


def check_threads(config: RunConfig, profile: Profile) -> str | None:
    """BadInput past the phone's cores (it has no more); a one-line warning past this host's."""
    wanted = config.threads
    if wanted is None:
        return None
    if not profile.is_host and profile.cores and wanted > profile.cores:
        raise BadInput(
            f"--threads {wanted}: the {profile.id} profile has {profile.cores} CPU cores, so no more threads"
        )
    host = len(host_cores())
    if wanted > host:
        return (
            f"--threads {wanted} is more than this host's {host} cores: the threads wait on each other, "
            "so this run measures oversubscription, not the host (it is never kept as its calibration)"
        )
    return None


def plan_limits(config: RunConfig, profile: Profile) -> LimitPlan:
    budget = config.memory_budget_mb if config.memory_budget_mb is not None else profile.app_memory_budget_mb
    dram = config.dram_mb if config.dram_mb is not None else profile.dram_mb
    cores = None if profile.is_host else (profile.threads or profile.cores)
    reserved = min(config.reserve_cores, len(host_cores()) - 1)
    host = len(host_cores()) - reserved
    if reserved and cores is None:
        cores = host  # the host profile, pinned off the reserved cores
    threads = config.threads or min(cores or host, host)
    return LimitPlan(
        budget_mb=float(budget) if budget is not None else None,
        dram_mb=float(dram) if dram is not None else None,
        cores=min(cores, host) if cores is not None else None,
        threads=threads,
        speed_factor=config.speed_factor if config.speed_factor is not None else 1.0,
        throttle=config.throttle,
        follows_curve=not profile.is_host and len(profile.sustained_minutes) > 1,
        reserved_cores=reserved,
    )


def child_config(c: RunConfig, model_path: Path, threads: int) -> dict[str, Any]:
    """What the child is told to run: the start message's config (profiler.run.protocol)."""
    return {
        "model_path": str(model_path),
        "n_ctx": c.ctx,
        "n_threads": threads,
        "use_mmap": c.mmap,
        "seed": c.seed,
        "temperature": c.temperature,
        "max_tokens": c.max_tokens,
        "prompt": c.prompt,
        "raw": c.raw,
        "gpu_layers": c.gpu_layers,
        "logits_all": c.logits_all,
        "ignore_eos": c.ignore_eos,
        "n_batch": c.batch,
        "n_ubatch": c.ubatch,
        "flash_attn": c.flash_attn,
        "prompt_tokens": c.prompt_tokens,
        "warmup": c.warmup,
        "stream_interval_s": c.stream_interval_s,
    }
