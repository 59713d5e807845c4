"""``pocketprof profiles`` (a table) and ``pocketprof profiles show ID`` (values and sources)."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from profiler import paths
from profiler.phone.profiles import Profile, load_all, load_profile


def register(commands: Any) -> None:
    p = commands.add_parser("profiles", help="list phone profiles, or show one with its sources")
    sub = p.add_subparsers(dest="profiles_command", parser_class=type(p))
    show = sub.add_parser("show", help="every value of one profile, with its source")
    show.add_argument("profile", help="a profile id or a path to a .toml file")
    show.set_defaults(handler=show_main)
    p.set_defaults(handler=list_main)


def _mb(value: int | None) -> str:
    return "—" if value is None else f"{value / 1024:.1f} GB"


def list_main(args: argparse.Namespace) -> int:
    print(
        f"{'id':18} {'device':28} {'year':>4} {'SoC':24} {'DRAM':>8} {'budget':>8} {'cores':>5} "
        f"{'BW GB/s':>8} {'battery':>8}"
    )
    for p in sorted(load_all(), key=lambda x: (x.is_host, x.platform, x.id)):
        bw = "—" if p.memory_bandwidth_gbs is None else f"{p.memory_bandwidth_gbs:.0f}"
        wh = "—" if p.battery_wh is None else f"{p.battery_wh:.1f} Wh"
        print(
            f"{p.id:18} {p.name[:28]:28} {p.year or '':>4} {p.soc[:24]:24} {_mb(p.dram_mb):>8} "
            f"{_mb(p.app_memory_budget_mb):>8} {p.cores or '—':>5} {bw:>8} {wh:>8}"
        )
    print(f"\nyour own: put phone.toml files in {paths.user_profiles_dir()} (fields: profiles/README.md)")
    return 0


def show_text(profile: Profile) -> str:
    lines = [f"{profile.name} ({profile.id}) — {profile.path}"]
    for f in fields(Profile):
        if f.name in ("id", "name", "path", "sources", "sustained_minutes", "sustained_fraction"):
            continue
        value = getattr(profile, f.name)
        if value in (None, "", ()):
            continue
        if f.name == "cpu_clusters":
            value = " + ".join(f"{c.count}× {c.core or c.kind} @ {c.max_ghz:g} GHz" for c in value)
        lines.append(f"  {f.name:32} {value}")
        source = profile.sources.get(f.name)
        if source:
            lines.append(f"  {'':32} source: {source}")
    if len(profile.sustained_minutes) > 1:
        curve = ", ".join(
            f"{m:g} min: {y:.0%}" for m, y in zip(profile.sustained_minutes, profile.sustained_fraction, strict=True)
        )
        lines.append(f"  {'sustained speed':32} {curve}")
        if profile.sources.get("sustained"):
            lines.append(f"  {'':32} source: {profile.sources['sustained']}")
    return "\n".join(lines)


def show_main(args: argparse.Namespace) -> int:
    print(show_text(load_profile(args.profile)))
    return 0
