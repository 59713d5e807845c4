"""The fitted phone model's constants (``profiler/data/fit.json``) and the speed estimate they give.

Below both the CPU model (``speed``) and the GPU/NPU one (``accel``), so neither imports the other.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from profiler.errors import BadInput

# A kernel class with no measurement borrows the nearest measured one (and says so).
BORROW = {
    "q4_1": "q4_k",
    "q5_0": "q5_k",
    "iq1": "iq2",
    "iq3": "q3_k",
    "iq4_xs": "q4_k",
    "tq": "q2_k",
    "f16": "q8_0",
    "f32": "q8_0",
}


@dataclass(frozen=True)
class SpeedEstimate:
    prefill_tokens_per_s: float | None
    decode_tokens_per_s: float | None
    backend: str = "cpu"
    threads: int | None = None
    kernel_class: str | None = None
    decode_error_pct: float | None = None  # typical relative error of such a prediction
    prefill_error_pct: float | None = None
    decode_error_p90_pct: float | None = None
    prefill_error_p90_pct: float | None = None
    basis: str = ""
    note: str = ""


_FIT = resources.files("profiler.data") / "fit.json"


@functools.cache
def _fit_text() -> str:
    return _FIT.read_text(encoding="utf-8")


def load_fit() -> dict[str, Any]:
    """The fitted constants and errors, a fresh dict each call (the file is read once)."""
    try:
        return json.loads(_fit_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInput(f"{_FIT}: the fitted phone model cannot be read ({exc}); run `make fit`") from None
