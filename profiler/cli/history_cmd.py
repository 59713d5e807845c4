"""``pocketprof history`` and ``pocketprof show RUN_ID``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from profiler import paths
from profiler.cli.table import summary_text
from profiler.report import history


def register(commands: Any) -> None:
    p = commands.add_parser("history", help="list past runs")
    p.add_argument("--limit", type=int, default=30)
    p.add_argument("--check", action="store_true", help="run SQLite's integrity check on the history")
    p.set_defaults(handler=list_main)
    s = commands.add_parser("show", help="show one past run")
    s.add_argument("run_id")
    s.add_argument("--json", action="store_true", help="print the whole report as JSON")
    s.set_defaults(handler=show_main)


def list_main(args: argparse.Namespace) -> int:
    if args.check:
        findings = history.integrity()
        if findings == ["ok"]:
            print(f"history ok: {paths.history_db()}")
            return 0
        print(f"history {paths.history_db()} is damaged:")
        for line in findings[:20]:
            print(f"  {line}")
        return 1
    runs = history.list_runs(args.limit)
    if not runs:
        print("no runs yet: try `pocketprof run`")
        return 0
    print(
        f"{'run id':24} {'started (UTC)':19} {'model':28} {'quant':8} {'profile':16} {'status':10} "
        f"{'tok/s':>7} {'peak MB':>8}"
    )
    for r in runs:
        tps = f"{r['decode_tokens_per_s']:.1f}" if r["decode_tokens_per_s"] else "—"
        peak = f"{r['peak_footprint_mb']:.0f}" if r["peak_footprint_mb"] else "—"
        quant = str(r.get("quantization") or "—")[:8]
        started = r["started_at"].replace("T", " ")[:19]
        print(
            f"{r['run_id']:24} {started:19} {r['model'][:28]:28} {quant:8} {r['profile'][:16]:16} "
            f"{r['status']:10} {tps:>7} {peak:>8}"
        )
    return 0


def show_main(args: argparse.Namespace) -> int:
    report = history.load(args.run_id)
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
    else:
        print(summary_text(report))
    return 0
