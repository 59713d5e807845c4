"""``pocketprof sweep``: every model on every profile, one after another, and a comparison of all."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from profiler.cli.compare_cmd import table_text
from profiler.cli.interrupt import stop_on_signals
from profiler.errors import BadInput
from profiler.paths import cli_path
from profiler.record import RunRecord, write_json, write_problem
from profiler.report import exports, history
from profiler.run.config import RunConfig
from profiler.run.session import Session
from profiler.sweep import COOL_DOWN_S, Sweep


def register(commands: Any) -> None:
    p = commands.add_parser("sweep", help="run every model under every profile in turn, then compare them")
    p.add_argument("--models", required=True, help="comma-separated .gguf paths or built-in names")
    p.add_argument("--profiles", required=True, help="comma-separated profile ids or .toml paths")
    p.add_argument("--prompt", default=RunConfig.prompt)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--ctx", type=int, default=2048)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--cool-down", type=float, default=COOL_DOWN_S, help="seconds of rest between runs")
    p.add_argument("--out", type=cli_path, required=True, help="a folder: one report per run plus the comparison")
    p.set_defaults(handler=main)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(text).stem if text.endswith(".gguf") else text).strip("-")


def main(args: argparse.Namespace) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    if not models or not profiles:
        raise BadInput("--models and --profiles each need at least one name")
    base = RunConfig(model=models[0], prompt=args.prompt, max_tokens=args.max_tokens, ctx=args.ctx, seed=args.seed)
    sweep = Sweep.over(base, models, profiles, cool_down_s=args.cool_down)
    # every pair is checked (model file, profile, options) before the first run starts
    sessions = [Session(c) for c in sweep.pending]
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--out: cannot write there: {write_problem(out, exc)}") from None
    current: list[Session] = []

    def interrupt() -> None:
        sweep.stop()  # also during a cool-down, between runs
        if current:
            current[0].stop()

    reports = []

    def run_one(i: int, config: RunConfig) -> RunRecord:
        current[:] = [sessions[i]]
        print(f"[{i + 1}/{sweep.total}] {config.model} on {config.profile}…", file=sys.stderr)
        record = sessions[i].run()
        stem = out / f"{i + 1:02d}-{_slug(config.model)}-{_slug(config.profile)}"
        reports.append(record.to_dict())
        try:
            write_json(record, stem.with_suffix(".json"))
            exports.export([reports[-1]], html=stem.with_suffix(".html"))
        except OSError as exc:
            raise BadInput(f"cannot write the report: {write_problem(stem.with_suffix('.json'), exc)}") from None
        problem = history.keep(record)  # the reports in --out are what counts
        if problem:
            print(f"warning: {problem}", file=sys.stderr)
        return record

    with stop_on_signals(interrupt):
        sweep.run(run_one)
    stopped = sweep.stopped  # by a signal, or a run that was stopped by one
    if stopped:
        print("stopped; the runs so far are kept", file=sys.stderr)
    if len(reports) > 1:
        print(table_text(reports))
        written = exports.export(reports, html=out / "comparison.html", csv=out / "comparison.csv")
        for path in written:
            print(f"  wrote {path}")
    if stopped:
        return 130
    return 0 if all(r["status"] in ("completed", "killed") for r in reports) else 1
