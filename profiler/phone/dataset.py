"""The measurement dataset: published phone runs, one CSV row each (``profiles/measurements``).

Every file ``profiles/measurements/*.csv`` has the columns of :data:`COLUMNS` (documented
in ``profiles/measurements/README.md``). Reading is strict: a bad cell is a
:class:`DatasetError` naming the file, the line and the column, never a traceback.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from profiler.errors import BadInput

COLUMNS = (
    "device",
    "soc_id",
    "backend",
    "backend_detail",
    "runtime",
    "runtime_version",
    "model",
    "model_id",
    "params_b",
    "quant",
    "weights_mib",
    "threads",
    "prompt_tokens",
    "gen_tokens",
    "ctx",
    "prefill_tps",
    "decode_tps",
    "memory_mb",
    "memory_kind",
    "kv_mib",
    "compute_mib",
    "power_w",
    "energy_j_per_token",
    "power_kind",
    "trust",
    "split",
    "source",
    "note",
)
BACKENDS = ("cpu", "gpu", "npu")
TRUST = ("A", "B", "C", "D")
# fit: fitted and scored; holdout: scored only (never fitted); context: kept for reference and shown
# beside predictions, neither fitted nor scored (the note says why); decode-only: the prefill figure
# is context (measured another way), the decode figure is fitted.
SPLITS = ("fit", "holdout", "context", "decode-only")
MEMORY_KINDS = ("", "llama_buffers", "rss", "footprint", "device_used", "other")
_FLOATS = (
    "params_b",
    "weights_mib",
    "prefill_tps",
    "decode_tps",
    "memory_mb",
    "kv_mib",
    "compute_mib",
    "power_w",
    "energy_j_per_token",
)
_INTS = ("threads", "prompt_tokens", "gen_tokens", "ctx")
NUMBERS = _FLOATS + _INTS  # the numeric columns (empty: None)


class DatasetError(BadInput):
    """A measurement file that cannot be read as the dataset's schema."""


@dataclass(frozen=True)
class Measurement:
    """One published measurement. ``None`` means the source does not give it."""

    device: str
    soc_id: str
    backend: str
    backend_detail: str
    runtime: str
    runtime_version: str
    model: str
    model_id: str
    params_b: float | None
    quant: str
    weights_mib: float | None
    threads: int | None
    prompt_tokens: int | None
    gen_tokens: int | None
    ctx: int | None
    prefill_tps: float | None
    decode_tps: float | None
    memory_mb: float | None
    memory_kind: str
    kv_mib: float | None
    compute_mib: float | None
    power_w: float | None
    energy_j_per_token: float | None
    power_kind: str
    trust: str
    split: str
    source: str
    note: str
    file: str = ""
    line: int = 0

    @property
    def is_llama_cpp(self) -> bool:
        return self.runtime.startswith("llama.cpp") and bool(self.quant) and not self.quant.startswith("other:")

    def usable(self, phase: str) -> bool:
        """Whether this row's ``phase`` figure ('decode' or 'prefill') takes part in fits and scores."""
        if self.split == "context":
            return False
        return not (self.split == "decode-only" and phase == "prefill")

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def default_folder() -> Path:
    return Path(str(resources.files("profiles"))) / "measurements"


def _number(kind: type, text: str, where: str, column: str) -> float | int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise DatasetError(f"{where}: column '{column}': expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise DatasetError(f"{where}: column '{column}': must be a positive number, got {text!r}")
    return value


def _choice(value: str, allowed: Iterable[str], where: str, column: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise DatasetError(
            f"{where}: column '{column}': must be one of {', '.join(a or '(empty)' for a in allowed)}, got {value!r}"
        )
    return value


def parse_row(raw: dict[str, str], file: str, line: int) -> Measurement:
    where = f"{file}:{line}"
    values: dict[str, object] = {}
    for column in COLUMNS:
        text = raw.get(column)
        if text is None:
            raise DatasetError(f"{where}: column '{column}' is missing")
        if column in _FLOATS:
            values[column] = _number(float, text, where, column)
        elif column in _INTS:
            values[column] = _number(int, text, where, column)
        else:
            values[column] = text.strip()
    _choice(str(values["backend"]), BACKENDS, where, "backend")
    _choice(str(values["trust"]), TRUST, where, "trust")
    _choice(str(values["split"]), SPLITS, where, "split")
    _choice(str(values["memory_kind"]), MEMORY_KINDS, where, "memory_kind")
    for column in ("device", "runtime", "source"):
        if not values[column]:
            raise DatasetError(f"{where}: column '{column}' is empty")
    if values["memory_mb"] is not None and not values["memory_kind"]:
        raise DatasetError(f"{where}: column 'memory_kind': a memory figure needs its kind")
    return Measurement(**values, file=file, line=line)  # type: ignore[arg-type]


def read_file(path: Path) -> list[Measurement]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = tuple(reader.fieldnames or ())
            if header != COLUMNS:
                missing = [c for c in COLUMNS if c not in header]
                extra = [c for c in header if c not in COLUMNS]
                detail = (
                    f"missing {', '.join(missing)}"
                    if missing
                    else f"unknown {', '.join(extra)}"
                    if extra
                    else "order differs"
                )
                raise DatasetError(f"{path}: header does not match the dataset's columns ({detail})")
            return [parse_row(raw, path.name, reader.line_num) for raw in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from None


def load(folder: Path | None = None) -> list[Measurement]:
    """Every row of every CSV in the dataset folder, in file order."""
    folder = folder or default_folder()
    rows: list[Measurement] = []
    for path in sorted(folder.glob("*.csv")):
        if path.name == "models.csv":
            continue
        rows += read_file(path)
    return rows
