"""Which CPU kernels a measurement's llama.cpp build ran for K-quants and Q8_0.

llama.cpp repacks Q4_K, Q5_K, Q6_K and Q8_0 weights for ARM's int8 instructions only since
builds of late 2025 to early 2026, and repacking changes their prefill speed 1.5-3.7x
(``profiles/measurements/kernels.toml`` lists the pull requests). A row of an older build is
therefore another kernel class, ``<class>-plain``; a row whose build is unknown has no class
the fit can use. The build is read from the row's ``runtime_version`` when it holds a build
number, else from ``kernels.toml``'s table, matched on the runtime_version or the source.

A build also runs only the instructions it was compiled for: one cross-compiled for Android
without ``-march`` flags (llama.cpp turns ``GGML_NATIVE`` off when cross-compiling, and the
NDK's default target is armv8-a) has no dotprod or i8mm kernels on a core that has both. A
table entry's ``isa`` says so (``neon``, ``dotprod`` or ``i8mm``: the highest tier compiled
in), and the row's cores run at that tier at most (:func:`isa_cap`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from profiler.model import kernels
from profiler.phone.dataset import Measurement, default_folder
from profiler.phone.specs import SpecError, read_toml

OLD_UP_TO = 7058  # llama.cpp PR #16739's "NO REPACK" build, the last without any of these repacks
NEW_FROM = 8672  # a build of 2026-04-11 (llama.cpp issue #21763), after the last of them (PR #19360)
_NUMBER = (
    re.compile(r"\bb(\d{4,5})\b"),  # b9025
    re.compile(r"\b(?:build|version):? (\d{4,5})\b"),  # build 6602, llama.cpp's "build: 6602", "version: 4404"
    re.compile(r"\b[0-9a-f]{7,40} \((\d{4,5})\)"),  # a commit, then the number: e21cdc11a (8783)
)


ARM_TIERS = ("neon", "dotprod", "i8mm")  # lowest first: each adds int8 instructions to the one before


@dataclass(frozen=True)
class Build:
    match: str  # a substring of a row's runtime_version or source
    repacked: bool
    evidence: str
    isa: str | None = None  # the highest ARM tier compiled in (None: whatever the cores have)


@functools.cache
def table(folder: Path | None = None) -> tuple[Build, ...]:
    path = (folder or default_folder()) / "kernels.toml"
    if not path.exists():
        return ()
    entries = read_toml(path).get("build", [])
    if not isinstance(entries, list):
        raise SpecError(f"{path}: build: expected an array of tables ([[build]])")
    out = []
    for i, entry in enumerate(entries):
        where = f"{path}: build[{i}]"
        if not isinstance(entry, dict):
            raise SpecError(f"{where}: expected a table")
        match, repacked, evidence = entry.get("match"), entry.get("repacked"), entry.get("evidence")
        if not isinstance(match, str) or not match.strip():
            raise SpecError(f"{where}.match: expected a non-empty string")
        if not isinstance(repacked, bool):
            raise SpecError(f"{where}.repacked: expected true or false, got {repacked!r}")
        if not isinstance(evidence, str) or not evidence.strip():
            raise SpecError(f"{where}.evidence: say where it shows (a non-empty string)")
        isa = entry.get("isa")
        if isa is not None and isa not in ARM_TIERS:
            raise SpecError(f"{where}.isa: expected one of {', '.join(ARM_TIERS)}, got {isa!r}")
        out.append(Build(match, repacked, evidence, isa))
    return tuple(out)


def build_number(text: str) -> int | None:
    """llama.cpp's build number in a version string: ``b9025``, ``build 6602``, ``e21cdc11a (8783)``.

    A number in brackets counts only after a commit hash: an app's ``1.10.3 (2025)`` is no build.
    """
    for pattern in _NUMBER:
        found = pattern.search(text)
        if found:
            return int(found.group(1))
    return None


def _entry(row: Measurement, builds: tuple[Build, ...]) -> Build | None:
    for build in builds:
        if build.match in row.runtime_version or build.match in row.source:
            return build
    return None


def isa_cap(row: Measurement, builds: tuple[Build, ...]) -> str | None:
    """The highest ARM tier the row's build compiled in, where the table says; None: no cap."""
    entry = _entry(row, builds)
    return entry.isa if entry else None


def capped_tier(tier: str, cap: str | None) -> str:
    """A core's tier under a build's cap (x86 tiers and uncapped builds pass through)."""
    if cap is None or tier not in ARM_TIERS:
        return tier
    return min(tier, cap, key=ARM_TIERS.index)


def repacked(row: Measurement, builds: tuple[Build, ...]) -> bool | None:
    """Whether the row's build repacks K-quants and Q8_0 on ARM; None when nothing says."""
    number = build_number(row.runtime_version)
    if number is not None and number <= OLD_UP_TO:
        return False
    if number is not None and number >= NEW_FROM:
        return True
    entry = _entry(row, builds)  # no number, or one from the months the repacks landed: the table may know
    return entry.repacked if entry else None


def row_class(row: Measurement, builds: tuple[Build, ...]) -> str | None:
    """The kernel class the row's build ran; None for a K-quant or Q8_0 row of an unknown build."""
    klass = kernels.class_of(row.quant)
    if klass is None or klass not in kernels.REPACKED_LATE:
        return klass
    done = repacked(row, builds)
    if done is None:
        return None
    return klass if done else klass + kernels.PLAIN
