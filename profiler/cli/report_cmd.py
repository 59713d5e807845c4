"""``pocketprof report RUN.json``: turn a saved run into HTML, PDF, CSV or llama-bench files."""

from __future__ import annotations

import argparse
from typing import Any

from profiler.cli.table import summary_text
from profiler.errors import BadInput
from profiler.paths import cli_path
from profiler.report import exports
from profiler.report.compare import load_reports


def register(commands: Any) -> None:
    p = commands.add_parser("report", help="export a saved run (a JSON report or a run id) to HTML, PDF, CSV")
    p.add_argument("run", type=cli_path, help="a JSON report written by `run --json`, or a run id from the history")
    exports.add_arguments(p)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    (report,) = load_reports([args.run])
    written = exports.from_args([report], args)
    if not written:
        raise BadInput("nothing to write: give --html, --pdf, --csv, --llama-bench-json or --llama-bench-csv")
    print(summary_text(report))
    for path in written:
        print(f"  wrote {path}")
    return 0
