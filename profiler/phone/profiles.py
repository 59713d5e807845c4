"""Phone profiles: frozen dataclasses loaded from TOML and validated.

A profile file is flat TOML with units in the field names, a ``[[cpu_clusters]]``
array, a ``[sustained]`` table (fraction of peak speed against minutes under
load) and a ``[sources]`` table that cites where every number comes from. The
``host`` platform means "no limits": its limit fields may be left out.
"""

from __future__ import annotations

import difflib
import itertools
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from profiler import paths
from profiler.errors import ProfileError
from profiler.phone.specs import ROLES, parse_features

PLATFORMS = ("ios", "android", "host")

# Fields every phone needs; a host profile may leave the limit fields out.
_NUMBER_FIELDS: dict[str, type] = {
    "year": int,
    "dram_mb": int,
    "app_memory_budget_mb": int,
    "app_memory_budget_entitled_mb": int,
    "threads": int,
    "memory_bandwidth_gbs": float,
    "battery_mah": int,
    "battery_v": float,
    "battery_wh": float,
    "idle_power_w": float,
}
_PHONE_REQUIRED = (
    "year",
    "dram_mb",
    "app_memory_budget_mb",
    "threads",
    "memory_bandwidth_gbs",
    "battery_mah",
    "battery_v",
    "battery_wh",
)
BACKENDS = ("cpu", "gpu", "npu")


DEFAULT_PROFILE = "iphone-16"


@dataclass(frozen=True)
class CpuCluster:
    """``count`` cores of one type. ``core`` names a type in profiles/measurements/cores.toml
    (its role, SIMD pipes and ISA features); ``features``, ``simd_pipes_128`` and ``role``
    describe a core type that file does not know, or override it."""

    count: int
    kind: str
    max_ghz: float
    core: str = ""
    features: tuple[str, ...] = ()
    simd_pipes_128: float | None = None
    role: str | None = None


@dataclass(frozen=True)
class Profile:
    """One device. ``None`` in a limit field means "not limited" (host only)."""

    id: str
    name: str
    soc: str
    platform: str
    path: str
    year: int | None = None
    dram_mb: int | None = None
    app_memory_budget_mb: int | None = None
    app_memory_budget_entitled_mb: int | None = None
    threads: int | None = None
    memory_bandwidth_gbs: float | None = None
    battery_mah: int | None = None
    battery_v: float | None = None
    battery_wh: float | None = None
    idle_power_w: float | None = None
    cpu_clusters: tuple[CpuCluster, ...] = ()
    soc_id: str = ""
    backends: tuple[str, ...] = ("cpu",)
    default_backend: str = "cpu"
    sustained_minutes: tuple[float, ...] = (0.0,)
    sustained_fraction: tuple[float, ...] = (1.0,)
    notes: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def is_host(self) -> bool:
        return self.platform == "host"

    @property
    def cores(self) -> int | None:
        """Total CPU cores of the phone, or None for the host."""
        return sum(c.count for c in self.cpu_clusters) or None

    def speed_fraction_at(self, seconds: float) -> float:
        """Fraction of peak speed after ``seconds`` of sustained load (linear interpolation)."""
        minutes = seconds / 60.0
        xs, ys = self.sustained_minutes, self.sustained_fraction
        if minutes <= xs[0]:
            return ys[0]
        for (x0, y0), (x1, y1) in zip(zip(xs, ys, strict=False), zip(xs[1:], ys[1:], strict=False), strict=False):
            if minutes <= x1:
                return y0 + (y1 - y0) * (minutes - x0) / (x1 - x0)
        return ys[-1]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _fail(path: Path | str, fieldname: str, message: str) -> ProfileError:
    return ProfileError(f"{path}: field '{fieldname}': {message}")


def _typed(path: Path, data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        got = type(value).__name__
        raise _fail(path, name, f"expected {'a number' if kind is float else kind.__name__}, got {got}")
    if name != "year" and value <= 0:
        raise _fail(path, name, f"must be positive, got {value}")
    return value


def _text(path: Path, data: dict[str, Any], name: str, required: bool = True) -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise _fail(path, name, "missing")
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _fail(path, name, f"expected a non-empty string, got {value!r}")
    return value


def _clusters(path: Path, data: dict[str, Any]) -> tuple[CpuCluster, ...]:
    raw = data.get("cpu_clusters", [])
    if not isinstance(raw, list):
        raise _fail(path, "cpu_clusters", "expected an array of tables [[cpu_clusters]]")
    out = []
    for i, item in enumerate(raw):
        where = f"cpu_clusters[{i}]"
        if not isinstance(item, dict):
            raise _fail(path, where, "expected a table")
        count = _typed(path, item, "count", int)
        ghz = _typed(path, item, "max_ghz", float)
        core, kind = item.get("core", ""), item.get("kind", "")
        if count is None or ghz is None or not isinstance(core, str) or not isinstance(kind, str):
            raise _fail(path, where, "needs count (integer), core (a core type such as 'cortex-x3') and max_ghz")
        if not core and not kind:
            raise _fail(path, where, "needs core (a core type such as 'cortex-x3', see profiles/README.md)")
        pipes = _typed(path, item, "simd_pipes_128", float)
        role = item.get("role")
        if role is not None and role not in ROLES:
            raise _fail(path, f"{where}.role", f"must be one of {', '.join(ROLES)}, got {role!r}")
        features = parse_features(path, f"{where}.features", item.get("features"))
        out.append(CpuCluster(count, kind or core, ghz, core, features, pipes, role))
    return tuple(out)


def _backends(path: Path, data: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    raw = data.get("backends", ["cpu"])
    if not isinstance(raw, list) or not raw or any(b not in BACKENDS for b in raw):
        raise _fail(path, "backends", f"expected a list of {', '.join(BACKENDS)}, got {raw!r}")
    default = data.get("default_backend", raw[0])
    if default not in raw:
        raise _fail(path, "default_backend", f"must be one of the profile's backends {raw}, got {default!r}")
    return tuple(raw), default


def _sustained(path: Path, data: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    raw = data.get("sustained")
    if raw is None:
        return (0.0,), (1.0,)
    if not isinstance(raw, dict):
        raise _fail(path, "sustained", "expected a table with 'minutes' and 'fraction'")
    minutes, fraction = raw.get("minutes"), raw.get("fraction")
    ok = isinstance(minutes, list) and isinstance(fraction, list) and minutes
    if not ok or len(minutes) != len(fraction):
        raise _fail(path, "sustained", "'minutes' and 'fraction' must be lists of equal length")
    xs = [float(x) for x in minutes if isinstance(x, (int, float))]
    ys = [float(y) for y in fraction if isinstance(y, (int, float))]
    if len(xs) != len(minutes) or len(ys) != len(fraction):
        raise _fail(path, "sustained", "every entry must be a number")
    if any(b <= a for a, b in itertools.pairwise(xs)) or xs[0] < 0:
        raise _fail(path, "sustained.minutes", "must start at 0 or later and increase")
    if any(not 0 < y <= 1 for y in ys):
        raise _fail(path, "sustained.fraction", "every fraction must be in (0, 1]")
    return tuple(xs), tuple(ys)


def parse_profile(path: Path, data: dict[str, Any]) -> Profile:
    """Validate one parsed TOML document; raise ProfileError naming the field."""
    platform = _text(path, data, "platform")
    if platform not in PLATFORMS:
        raise _fail(path, "platform", f"must be one of {', '.join(PLATFORMS)}, got {platform!r}")
    numbers = {name: _typed(path, data, name, kind) for name, kind in _NUMBER_FIELDS.items()}
    if platform != "host":
        for name in _PHONE_REQUIRED:
            if numbers[name] is None:
                raise _fail(path, name, "missing")
        if not data.get("cpu_clusters"):
            raise _fail(path, "cpu_clusters", "missing")
    dram, budget = numbers["dram_mb"], numbers["app_memory_budget_mb"]
    if dram is not None and budget is not None and budget > dram:
        raise _fail(path, "app_memory_budget_mb", f"{budget} MB is above dram_mb ({dram} MB)")
    entitled = numbers["app_memory_budget_entitled_mb"]
    if dram is not None and entitled is not None and entitled > dram:
        raise _fail(path, "app_memory_budget_entitled_mb", f"{entitled} MB is above dram_mb")
    sources = data.get("sources", {})
    if not isinstance(sources, dict) or not all(isinstance(v, str) for v in sources.values()):
        raise _fail(path, "sources", 'expected a table of field = "source" strings')
    minutes, fraction = _sustained(path, data)
    backends, default_backend = _backends(path, data)
    profile_id = _text(path, data, "id", required=False) or path.stem
    return Profile(
        id=profile_id,
        name=_text(path, data, "name"),
        soc=_text(path, data, "soc", required=platform != "host"),
        platform=platform,
        path=str(path),
        cpu_clusters=_clusters(path, data),
        soc_id=_text(path, data, "soc_id", required=False),
        backends=backends,
        default_backend=default_backend,
        sustained_minutes=minutes,
        sustained_fraction=fraction,
        notes=_text(path, data, "notes", required=False),
        sources=dict(sources),
        **numbers,
    )


def load_profile_file(path: Path) -> Profile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    return parse_profile(path, data)


def builtin_dir() -> Path:
    return Path(str(resources.files("profiles")))


def _profile_files() -> dict[str, Path]:
    """Profile id -> file; the user's own folder overrides the built-in one."""
    found: dict[str, Path] = {}
    for folder in (builtin_dir(), paths.user_profiles_dir()):
        if folder.is_dir():
            for file in sorted(folder.glob("*.toml")):
                found[file.stem] = file
    return found


def available_ids() -> list[str]:
    return sorted(_profile_files())


def load_profile(name_or_path: str) -> Profile:
    """Load a profile by id (built-in or user folder) or by path to a TOML file."""
    candidate = Path(name_or_path).expanduser()
    if name_or_path.endswith(".toml") or candidate.is_file():
        if not candidate.is_file():
            raise ProfileError(f"{candidate}: profile file not found")
        return load_profile_file(candidate)
    files = _profile_files()
    if name_or_path not in files:
        close = difflib.get_close_matches(name_or_path, list(files), n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ProfileError(f"unknown profile '{name_or_path}'{hint} (known: {', '.join(sorted(files))})")
    return load_profile_file(files[name_or_path])


def load_all() -> list[Profile]:
    return [load_profile_file(p) for p in _profile_files().values()]


def missing_sources(profile: Profile) -> list[str]:
    """Numeric fields (and clusters, sustained curve) that carry no source."""
    missing = [name for name in _NUMBER_FIELDS if getattr(profile, name) is not None and not profile.sources.get(name)]
    if profile.cpu_clusters and not profile.sources.get("cpu_clusters"):
        missing.append("cpu_clusters")
    if len(profile.sustained_minutes) > 1 and not profile.sources.get("sustained"):
        missing.append("sustained")
    return missing
