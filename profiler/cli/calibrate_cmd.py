"""``pocketprof calibrate``: see, clear or take the host measurements emulated runs are scaled by."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from profiler.errors import BadInput
from profiler.model.models import resolve
from profiler.run import calibrate


def register(commands: Any) -> None:
    p = commands.add_parser(
        "calibrate",
        help="show, clear or measure this host's speed per model (what emulated phone runs are scaled by)",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--show", action="store_true", help="list the cached calibrations (the default)")
    what.add_argument("--clear", action="store_true", help="forget them (all, or --model's)")
    what.add_argument("--measure", action="store_true", help="measure --model now (with --threads, --ctx)")
    p.add_argument("--model", help="a .gguf path or a built-in name")
    p.add_argument("--threads", type=int, default=2, help="threads to measure with (as the runs use)")
    p.add_argument("--ctx", type=int, default=2048, help="context size to measure with")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=main)


def _row(c: calibrate.Calibration) -> str:
    prefill = f"{c.prefill_tps:7.1f}" if c.prefill_tps else f"{'—':>7}"
    trust = "yes" if c.trusted else f"no: {c.reason}"
    age = c.age_days()
    stale = " (stale: re-measured on the next run)" if age > calibrate.MAX_AGE_DAYS else ""
    return (
        f"{Path(c.model).name[:34]:34} {c.threads:>3} {c.ctx:>6} {c.decode_tps:8.1f} {c.decode_position:5.0f} "
        f"{c.ms_per_position * 1000:7.1f} {prefill} "
        f"{c.taken_at:26} {c.cpu_share:6.0%} {c.itl_spread:6.2f}  {trust}{stale}"
    )


def show(as_json: bool) -> int:
    found = calibrate.entries()
    if as_json:
        print(json.dumps([c.to_dict() for c in found], indent=2))
        return 0
    if not found:
        print("no calibration cached: the next emulated run measures this host first")
        return 0
    print(
        f"{'model':34} {'thr':>3} {'ctx':>6} {'decode':>8} {'@pos':>5} {'µs/pos':>7} {'prefill':>7} {'taken (UTC)':26} "
        f"{'CPU':>6} {'spread':>6}  trusted"
    )
    for c in found:
        print(_row(c))
    print("(tokens/s of this host; decode timed at context position @pos, a token µs/pos longer per position")
    print(f" further in; re-measured after {calibrate.MAX_AGE_DAYS} days, or when a run disagrees)")
    return 0


def measure(args: argparse.Namespace) -> int:
    from profiler.run.session import Session

    if not args.model:
        raise BadInput("--measure needs --model")
    path = resolve(args.model)
    found, failed = calibrate.measure(
        path, args.threads, args.ctx, lambda config, _doing: Session(config, calibrate=False).run()
    )
    if found is None:
        raise BadInput(f"{path.name}: {failed}")
    if found.trusted:
        calibrate.store(found)
    print(json.dumps(found.to_dict(), indent=2) if args.json else _row(found))
    if not found.trusted:
        print("not cached: a busy or unsteady host is not a slow host; measure again when it is quiet")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.clear:
        gone = calibrate.clear(resolve(args.model) if args.model else None)
        print(f"forgot {gone} calibration{'s' if gone != 1 else ''}")
        return 0
    if args.measure:
        return measure(args)
    return show(args.json)
