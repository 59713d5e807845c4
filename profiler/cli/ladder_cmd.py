"""``pocketprof ladder``: one model at many precisions on one phone, memory, speed and quality side by side."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from profiler.cli.interrupt import stop_on_signals
from profiler.errors import BadInput
from profiler.ladder import Ladder, LadderConfig
from profiler.model.models import DEFAULT_MODEL
from profiler.model.quantize import parse_quants
from profiler.paths import cli_path
from profiler.phone.profiles import DEFAULT_PROFILE
from profiler.record import write_atomic, write_problem
from profiler.report import ladder_html
from profiler.run.config import RunConfig

DEFAULT_QUANTS = "F16,Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q3_K_M,Q2_K"


def register(commands: Any) -> None:
    p = commands.add_parser("ladder", help="quantize one model many ways and profile each on a phone")
    p.add_argument("--model", default=DEFAULT_MODEL, help="a .gguf path or a built-in name")
    p.add_argument("--profile", default=DEFAULT_PROFILE)
    p.add_argument("--quants", default=DEFAULT_QUANTS, help=f"comma-separated (default {DEFAULT_QUANTS})")
    p.add_argument(
        "--out", type=cli_path, required=True, help="a folder: ladder.json, ladder.html and one report per run"
    )
    p.add_argument("--prompt", default=RunConfig.prompt)
    p.add_argument("--max-tokens", type=int, default=64, help="tokens generated per run (fixed length)")
    p.add_argument("--ctx", type=int, default=2048)
    p.add_argument("--quality-tokens", type=int, default=512, help="tokens of the reference text scored")
    p.add_argument("--html", type=cli_path, help="also write the report here")
    p.add_argument("--json", type=cli_path, help="also write the table here")
    p.set_defaults(handler=main)


_LAST_STEP: list[tuple[str, str]] = []


def _bar(stage: str, quant: str, fraction: float) -> None:
    """A redrawn bar on a terminal; in a log or a pipe, one plain line per step (no carriage returns)."""
    if not sys.stderr.isatty():
        if _LAST_STEP[-1:] != [(stage, quant)]:
            _LAST_STEP[:] = [(stage, quant)]
            sys.stderr.write(f"  {stage} {quant}\n")
            sys.stderr.flush()
        return
    filled = int(fraction * 24)
    sys.stderr.write(f"\r  {stage:16} {quant:7} ▕{'█' * filled}{' ' * (24 - filled)}▏ {fraction * 100:3.0f} %")
    if fraction >= 1.0:
        sys.stderr.write("\n")
    sys.stderr.flush()


# the report's columns that fit a terminal
TERMINAL = (
    "quant",
    "file_size_mb",
    "peak_footprint_mb",
    "fits",
    "decode_tokens_per_s",
    "j_per_token",
    "perplexity",
    "kl_divergence",
)


def table(result: dict[str, Any]) -> str:
    """The ladder's table for a terminal: the report's and the app's columns and cells (ladder_html)."""
    columns = [c for c in ladder_html.COLUMNS if c[0] in TERMINAL]
    rows = [[label for _, label, _ in columns]]
    rows += [[ladder_html.cell_text(e, key, fmt) for key, _, fmt in columns] for e in result["entries"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = [
        "  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    lines.append(f"  best quantization that fits: {result.get('best_fitting_quant') or 'none'}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    config = LadderConfig(
        model=args.model,
        profile=args.profile,
        quants=tuple(parse_quants(args.quants)),
        out=args.out,
        prompt=args.prompt,
        max_tokens=args.max_tokens,
        ctx=args.ctx,
        quality_tokens=args.quality_tokens,
    )
    try:
        args.out.mkdir(parents=True, exist_ok=True)  # before any quantizing: fail at once, in one line
    except OSError as exc:
        raise BadInput(f"--out: cannot write there: {write_problem(args.out, exc)}") from None
    ladder = Ladder(config, on_progress=_bar)
    target = args.out / "ladder.json"
    try:
        with stop_on_signals(ladder.stop):
            result = ladder.run()
        html = ladder_html.ladder_html(result)
        for target, text in (
            (args.out / "ladder.html", html),
            (args.html, html),
            (args.json, json.dumps(result, indent=1) + "\n"),
        ):
            if target is not None:
                write_atomic(target, text)
    except OSError as exc:  # the folder or a report cannot be written: one line, naming it
        raise BadInput(f"cannot write: {write_problem(Path(getattr(exc, 'filename', None) or target), exc)}") from None
    if result.get("requantized"):
        print(f"note: requantized from {result['source']['quantization']} (not an F16/F32 original)", file=sys.stderr)
    print(table(result))
    print(f"  wrote {args.out / 'ladder.json'} and {args.out / 'ladder.html'}")
    if ladder.stopped:
        print("stopped: the members finished are kept; run the same command again to go on", file=sys.stderr)
        return 130
    return 0
