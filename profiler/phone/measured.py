"""Published measurements of the same phone, model and quantization, to show beside a prediction.

A profile matches a dataset row when both name the same SoC and the row's device, without
its parenthesis, is the profile's name; a model matches by its dataset id, derived from the
GGUF's ``general.name`` ("Qwen2.5 1.5B Instruct" → ``qwen2.5-1.5b``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from profiler.errors import BadInput
from profiler.model import kernels
from profiler.model.gguf_meta import ModelInfo
from profiler.phone import dataset
from profiler.phone.profiles import Profile

_SUFFIXES = ("-instruct", "-it", "-chat", "-base")


@dataclass(frozen=True)
class Match:
    device: str
    backend: str
    backend_detail: str
    runtime: str
    quant: str
    threads: int | None
    prompt_tokens: int | None
    prefill_tps: float | None
    decode_tps: float | None
    memory_mb: float | None
    memory_kind: str
    trust: str
    source: str
    caveat: str = ""  # why the run is not comparable with the prediction, when it is not

    @property
    def label(self) -> str:
        text = f"measured on {self.device} ({self.runtime}, {self.backend_detail}), {self.source}"
        return f"{text}; {self.caveat}" if self.caveat else text


CONTEXT = "not comparable: kept as context, neither fitted nor scored (its note in profiles/measurements says why)"


def model_id_for(model: ModelInfo) -> str:
    """The dataset's id for a model, from its name ("SmolLM2 135M Instruct" → smollm2-135m)."""
    name = re.sub(r"[\s_]+", "-", model.name.strip().lower())
    for suffix in _SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def _device(name: str) -> str:
    return re.sub(r"\s*\(.*?\)\s*", " ", name).strip().casefold()


@functools.cache
def _rows() -> tuple[dataset.Measurement, ...]:
    try:
        return tuple(dataset.load())
    except BadInput:
        return ()


def find(profile: Profile, model: ModelInfo | None, quant: str | None, backend: str) -> tuple[Match, ...]:
    """Rows of the dataset measured on this phone, with this model and quantization, on this backend.

    A figure the dataset keeps out of fits and scores (a decode-only row's prefill) is left out;
    a context row (throttled, non-default settings...) says it is not comparable; comparable
    rows come first.
    """
    if model is None or not quant or not profile.soc_id:
        return ()
    wanted_model, wanted_quant = model_id_for(model), kernels.normalize(quant)
    out = []
    for row in _rows():
        same_phone = row.soc_id == profile.soc_id and _device(row.device) == profile.name.casefold()
        if not same_phone or row.model_id != wanted_model or row.backend != backend:
            continue
        if kernels.normalize(row.quant) != wanted_quant:
            continue
        out.append(
            Match(
                device=row.device,
                backend=row.backend,
                backend_detail=row.backend_detail,
                runtime=row.runtime + (f" {row.runtime_version}" if row.runtime_version else ""),
                quant=row.quant,
                threads=row.threads,
                prompt_tokens=row.prompt_tokens,
                prefill_tps=row.prefill_tps if row.split == "context" or row.usable("prefill") else None,
                decode_tps=row.decode_tps,
                memory_mb=row.memory_mb,
                memory_kind=row.memory_kind,
                trust=row.trust,
                source=row.source,
                caveat=CONTEXT if row.split == "context" else "",
            )
        )
    return tuple(sorted(out, key=lambda m: bool(m.caveat)))


def yardstick(matches: tuple[Match, ...]) -> Match | None:
    """The measurement to quote beside a prediction in one line: the first comparable one, if any."""
    return next((m for m in matches if not m.caveat), None)
