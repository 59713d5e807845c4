"""``pocketprof compare RUN RUN ...``: runs side by side, with the difference against the first."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from profiler.errors import BadInput
from profiler.paths import cli_path
from profiler.report import compare, exports


def register(commands: Any) -> None:
    p = commands.add_parser("compare", help="compare saved runs side by side (JSON reports or run ids)")
    p.add_argument(
        "runs", type=cli_path, nargs="+", help="two or more JSON reports or run ids; the first is the baseline"
    )
    exports.add_arguments(p, csv_help="a .csv file for the comparison table, or a folder for every CSV")
    p.set_defaults(handler=main)


def table_text(reports: Sequence[Mapping[str, Any]]) -> str:
    labels = [f"[{i + 1}] {compare.label(r)}" for i, r in enumerate(reports)]
    rows = [["metric", *[f"[{i + 1}]" for i in range(len(reports))]]]
    for row in compare.table(reports):
        cells = []
        for i, value in enumerate(row.values):
            cell = compare.fmt_value(row, value) + (f" {compare.fmt_delta(row, i)}" if i else "")
            cells.append(cell + (" *" if row.best == i else ""))
        rows.append([f"{row.metric.label} ({row.metric.unit})", *cells])
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([*labels, "", *lines, "", "* the better value; differences are against [1]"])


def main(args: argparse.Namespace) -> int:
    if len(args.runs) < 2:
        raise BadInput("compare needs two or more runs")
    reports = compare.load_reports(args.runs)
    print(table_text(reports))
    for path in exports.from_args(reports, args):
        print(f"  wrote {path}")
    return 0
