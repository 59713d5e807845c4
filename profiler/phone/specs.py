"""Spec sheets the predictor reads: CPU core types, SoCs, and model shapes.

``profiles/measurements/cores.toml``  one table per core type (``cortex-x3``, ``apple-everest`` ...):
    role, isa, features (dotprod, i8mm, sve ...), simd_pipes_128, out_of_order, sources.
``profiles/measurements/socs.toml``   one table per SoC: memory, memory_bandwidth_gbs, gpu, npu,
    ``[[<soc>.cpu_clusters]]`` with count, core (a cores.toml id) and max_ghz, sources.
``profiles/measurements/models.csv``  one row per model: layers, width, heads, vocabulary ...

Every reader fails with a :class:`SpecError` naming the file and the field.
"""

from __future__ import annotations

import csv
import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.errors import BadInput
from profiler.phone.dataset import default_folder

FEATURES = ("neon", "dotprod", "i8mm", "bf16", "sve", "sve2", "sme", "sme2", "avx2", "avx512", "avx512_vnni")
ROLES = ("prime", "big", "mid", "little")


class SpecError(BadInput):
    """A spec-sheet file that cannot be read."""


@dataclass(frozen=True)
class CoreType:
    id: str
    role: str
    features: tuple[str, ...]
    simd_pipes_128: float | None  # None: not sourced; a SoC with this core cannot be predicted
    out_of_order: bool = True
    isa: str = ""


@dataclass(frozen=True)
class Cluster:
    """``count`` cores of one type at ``max_ghz``; the profile and SoC files share this form."""

    count: int
    core: str
    max_ghz: float | None  # None: not sourced; the SoC cannot be predicted
    features: tuple[str, ...] = ()
    simd_pipes_128: float | None = None  # for a core type cores.toml does not know
    role: str | None = None


@dataclass(frozen=True)
class Soc:
    id: str
    name: str
    clusters: tuple[Cluster, ...]
    memory_bandwidth_gbs: float | None
    memory: str = ""
    gpu: str = ""
    npu: str = ""
    sources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    arch: str
    params_b: float | None
    n_layers: int | None
    d_model: int | None
    n_heads: int | None
    n_kv_heads: int | None
    head_dim: int | None
    ffn_dim: int | None
    vocab: int | None
    tied_embeddings: bool | None
    lookup_params_b: float | None = None  # weights only looked up (untied or per-layer embeddings)
    kv_layers: int | None = None  # layers with a KV cache (hybrid models have fewer)


def _fail(path: Path | str, where: str, message: str) -> SpecError:
    return SpecError(f"{path}: {where}: {message}")


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables; a bad file is a one-line :class:`SpecError` naming it."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None


def _positive(path: Path | str, where: str, value: Any, kind: type = float) -> Any:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if not ok or (kind is int and not isinstance(value, int)):
        raise _fail(path, where, f"expected a positive {'integer' if kind is int else 'number'}, got {value!r}")
    return kind(value)


def parse_features(path: Path | str, where: str, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(f, str) for f in raw):
        raise _fail(path, where, "expected a list of feature names")
    unknown = [f for f in raw if f not in FEATURES]
    if unknown:
        raise _fail(path, where, f"unknown feature {unknown[0]!r} (known: {', '.join(FEATURES)})")
    return tuple(raw)


def parse_cluster(path: Path | str, where: str, item: Any, *, clock_required: bool = True) -> Cluster:
    if not isinstance(item, dict):
        raise _fail(path, where, "expected a table")
    core = item.get("core")
    if not isinstance(core, str) or not core:
        raise _fail(path, f"{where}.core", "expected a core type id such as 'cortex-x3'")
    role = item.get("role")
    if role is not None and role not in ROLES:
        raise _fail(path, f"{where}.role", f"must be one of {', '.join(ROLES)}, got {role!r}")
    pipes = item.get("simd_pipes_128")
    return Cluster(
        count=_positive(path, f"{where}.count", item.get("count"), int),
        core=core,
        max_ghz=(
            None
            if item.get("max_ghz") is None and not clock_required
            else _positive(path, f"{where}.max_ghz", item.get("max_ghz"))
        ),
        features=parse_features(path, f"{where}.features", item.get("features")),
        simd_pipes_128=None if pipes is None else _positive(path, f"{where}.simd_pipes_128", pipes),
        role=role,
    )


def _core(path: Path, key: str, data: Any) -> CoreType:
    if not isinstance(data, dict):
        raise _fail(path, key, "expected a table")
    role = data.get("role")
    if role not in ROLES:
        raise _fail(path, f"{key}.role", f"must be one of {', '.join(ROLES)}, got {role!r}")
    return CoreType(
        id=key,
        role=role,
        features=parse_features(path, f"{key}.features", data.get("features")),
        simd_pipes_128=(
            None
            if data.get("simd_pipes_128") is None
            else _positive(path, f"{key}.simd_pipes_128", data.get("simd_pipes_128"))
        ),
        out_of_order=bool(data.get("out_of_order", True)),
        isa=str(data.get("isa", "")),
    )


@functools.cache
def cores(folder: Path | None = None) -> dict[str, CoreType]:
    path = (folder or default_folder()) / "cores.toml"
    return {key: _core(path, key, value) for key, value in read_toml(path).items()}


def _soc(path: Path, key: str, data: Any, known: dict[str, CoreType]) -> Soc:
    if not isinstance(data, dict):
        raise _fail(path, key, "expected a table")
    raw = data.get("cpu_clusters")
    if not isinstance(raw, list) or not raw:
        raise _fail(path, f"{key}.cpu_clusters", "missing (an array of tables)")
    clusters = tuple(
        parse_cluster(path, f"{key}.cpu_clusters[{i}]", c, clock_required=False) for i, c in enumerate(raw)
    )
    for i, c in enumerate(clusters):
        if c.core not in known:
            raise _fail(path, f"{key}.cpu_clusters[{i}].core", f"unknown core type {c.core!r} (not in cores.toml)")
    bw = data.get("memory_bandwidth_gbs")
    return Soc(
        id=key,
        name=str(data.get("name", key)),
        clusters=clusters,
        memory_bandwidth_gbs=None if bw is None else _positive(path, f"{key}.memory_bandwidth_gbs", bw),
        memory=str(data.get("memory", "")),
        gpu=str(data.get("gpu", "")),
        npu=str(data.get("npu", "")),
        sources={k: str(v) for k, v in (data.get("sources") or {}).items()},
    )


@functools.cache
def socs(folder: Path | None = None) -> dict[str, Soc]:
    path = (folder or default_folder()) / "socs.toml"
    known = cores(folder)
    return {key: _soc(path, key, value, known) for key, value in read_toml(path).items()}


def _opt(path: Path, line: int, column: str, text: str, kind: type) -> Any:
    text = (text or "").strip()
    if not text:
        return None
    if kind is bool:
        if text.lower() not in ("true", "false"):
            raise _fail(path, f"line {line}, column '{column}'", f"expected true or false, got {text!r}")
        return text.lower() == "true"
    try:
        value = kind(text)
    except ValueError:
        raise _fail(path, f"line {line}, column '{column}'", f"expected a number, got {text!r}") from None
    if value <= 0:
        raise _fail(path, f"line {line}, column '{column}'", f"must be positive, got {text!r}")
    return value


@functools.cache
def models(folder: Path | None = None) -> dict[str, ModelSpec]:
    path = (folder or default_folder()) / "models.csv"
    out: dict[str, ModelSpec] = {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            for raw in reader:
                line = reader.line_num
                ints = {
                    c: _opt(path, line, c, raw.get(c, ""), int)
                    for c in ("n_layers", "d_model", "n_heads", "n_kv_heads", "head_dim", "ffn_dim", "vocab")
                }
                out[raw["model_id"]] = ModelSpec(
                    id=raw["model_id"],
                    name=raw.get("name", ""),
                    arch=raw.get("arch", ""),
                    params_b=_opt(path, line, "params_b", raw.get("params_b", ""), float),
                    tied_embeddings=_opt(path, line, "tied_embeddings", raw.get("tied_embeddings", ""), bool),
                    lookup_params_b=_opt(path, line, "lookup_params_b", raw.get("lookup_params_b", ""), float),
                    kv_layers=_opt(path, line, "kv_layers", raw.get("kv_layers", ""), int),
                    **ints,
                )
    except (OSError, UnicodeDecodeError, csv.Error, KeyError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from None
    return out
