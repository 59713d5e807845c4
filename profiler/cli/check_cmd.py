"""``pocketprof check RESULT --baseline BASE``: fail a CI job when speed or memory regressed.

Exit status: 0 pass, 4 a regression, 2 bad input (unreadable files, no test in common, or a
baseline taken under other settings without ``--force``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from profiler.bench import check
from profiler.errors import BadInput

REGRESSION = 4


def register(commands: Any) -> None:
    p = commands.add_parser(
        "check",
        help="compare a run or bench result with a baseline; exit 4 on a regression (for CI)",
        description="RESULT and --baseline are each a `bench --json` file, a `llama-bench -o json` file, "
        "a run report (`run --json`) or a run id from the history.",
    )
    p.add_argument("result", help="the new result")
    p.add_argument("--baseline", required=True, help="the result to compare against")
    p.add_argument("--max-slowdown", default="10%", help="speed and latency limit (default 10%%)")
    p.add_argument("--max-memory-growth", default="200MB", help="peak footprint limit (default 200MB)")
    p.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="METRIC=LIMIT",
        help=f"a limit for one metric ({', '.join(check.METRICS)}), e.g. decode_ts=5%% or peak_footprint_mb=50MB",
    )
    p.add_argument("--force", action="store_true", help="compare even if machine, build or settings differ")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.set_defaults(handler=main)


def limits_from(args: argparse.Namespace) -> dict[str, check.Limit]:
    limits = {
        "speed": check.parse_limit(args.max_slowdown, "--max-slowdown", "%"),
        "memory": check.parse_limit(args.max_memory_growth, "--max-memory-growth", "MB"),
    }
    for spec in args.limit:
        name, _, value = spec.partition("=")
        if name not in check.METRICS or not value:
            raise BadInput(f"--limit {spec!r}: expected METRIC=LIMIT with METRIC one of {', '.join(check.METRICS)}")
        kind = check.METRICS[name][3]
        limits[name] = check.parse_limit(value, f"--limit {name}", "%" if kind == "speed" else "MB")
    return limits


def _fmt(stat: check.Stat | None, unit: str) -> str:
    if stat is None:
        return "—"
    digits = 0 if unit == "MB" else 1
    return f"{stat.mean:.{digits}f} ± {stat.sd:.{digits}f}" if stat.n > 1 else f"{stat.mean:.{digits}f}"


def _change(change: float | None, sign: str) -> str:
    if change is None or abs(change) < 0.05:
        return "no change"
    return f"{change:+.1f}{sign} worse" if change > 0 else f"{-change:.1f}{sign} better"


def table(verdicts: list[check.Verdict]) -> str:
    heads = ("test", "metric", "baseline", "result", "change", "noise", "limit", "verdict")
    rows = []
    for v in verdicts:
        if v.metric == "status":
            rows.append((v.label, "status", "completed", v.outcome, "", "", "", "REGRESSION: " + v.outcome))
            continue
        label, unit, *_ = check.METRICS[v.metric]
        sign = "%" if v.limit and v.limit.unit == "%" else " MB"
        rows.append(
            (
                v.label,
                f"{label} {unit}",
                _fmt(v.base, unit),
                _fmt(v.current, unit),
                _change(v.change, sign),
                f"±{v.noise:.1f}{sign}" if v.noise is not None else "",
                v.limit.text() if v.limit else "",
                v.outcome.upper() if v.outcome == "regression" else v.outcome,
            )
        )
    widths = [max(len(str(r[i])) for r in (heads, *rows)) for i in range(len(heads))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (heads, *rows)]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    limits = limits_from(args)
    base, current = check.load(args.baseline), check.load(args.result)
    verdicts = check.compare(base, current, limits, force=args.force)
    if args.json:
        sys.stdout.write(json.dumps([_as_dict(v) for v in verdicts], indent=2) + "\n")
    else:
        print(table(verdicts))
        profiles = sorted({e.profile for e in current if e.emulation == "phone"})
        if profiles:
            print(
                f"\nnote: {', '.join(profiles)}: emulated runs. Their speed follows the phone's prediction and this "
                "host's calibration, so a change there is the emulation's or the host's, not the phone's; "
                "judge a CPU regression on host runs (--profiles host)."
            )
        if args.force:
            for b in base:
                for c in current:
                    if b.key == c.key:
                        for problem in check.mismatches(b, c):
                            print(f"note: forced past a difference in {problem} ({c.label})")
    regressed = check.failed(verdicts)
    print(
        "\nREGRESSION: "
        + ", ".join(sorted({v.label for v in verdicts if v.outcome not in ("ok", "improved", "within noise")}))
        if regressed
        else "\npass: no regression beyond the limits",
        file=sys.stderr if args.json else sys.stdout,
    )
    return REGRESSION if regressed else 0


def _as_dict(v: check.Verdict) -> dict[str, Any]:
    return {
        "test": v.label,
        "metric": v.metric,
        "baseline": None if v.base is None else vars(v.base),
        "result": None if v.current is None else vars(v.current),
        "change": v.change,
        "noise": v.noise,
        "limit": None if v.limit is None else {"value": v.limit.value, "unit": v.limit.unit},
        "outcome": v.outcome,
    }
