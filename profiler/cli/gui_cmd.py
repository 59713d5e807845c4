"""``pocketprof gui`` (and a bare ``pocketprof``): open the desktop app.

The app lives in ``ui/``, which the engine never imports: it is found through the
``pocketprof.apps`` entry point (``pyproject.toml``) at run time, so ``profiler`` keeps
working where Qt is not installed.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from typing import Any

from profiler.errors import BadInput


def register(commands: Any) -> None:
    p = commands.add_parser("gui", help="open the desktop app (the default with no command)")
    p.add_argument("--model", help="a .gguf path or a built-in name to start with")
    p.add_argument("--profile", help="a profile id to start with")
    p.add_argument("--run", action="store_true", help="start a run on the chosen model and phone as the window opens")
    p.add_argument(
        "--headless-fallback",
        action="store_true",
        help="with no display, say so and run a headless profile instead (what `make run` does)",
    )
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    entry = {ep.name: ep for ep in metadata.entry_points(group="pocketprof.apps")}.get("gui")
    if entry is None:
        raise BadInput(
            "the desktop app is not installed (no 'gui' in the pocketprof.apps entry point): pip install -e ."
        )
    try:
        app = entry.load()
    except ImportError as exc:
        raise BadInput(f"the desktop app cannot start: {exc} (pip install PySide6-Essentials pyqtgraph)") from None
    problem = app.display_problem()
    if problem is None:
        code: int = app.main(
            model=getattr(args, "model", None), profile=getattr(args, "profile", None), run=getattr(args, "run", False)
        )
        return code
    if not getattr(args, "headless_fallback", False):
        raise BadInput(f"cannot open a window: {problem}; `pocketprof run` profiles without one")
    sys.stderr.write(f"pocketprof: {problem}; running a headless profile instead (pocketprof run)\n")
    from profiler.cli import build_parser

    argv = ["run"]
    if args.model:
        argv += ["--model", args.model]
    if args.profile:
        argv += ["--profile", args.profile]
    run_args = build_parser().parse_args(argv)
    result: int = run_args.handler(run_args)
    return result
