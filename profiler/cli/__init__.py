"""The ``pocketprof`` command: one subcommand per small module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from profiler.errors import BadInput, ProfilerError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from profiler.cli import (
        bench_cmd,
        calibrate_cmd,
        check_cmd,
        compare_cmd,
        gui_cmd,
        history_cmd,
        hub_cmd,
        ladder_cmd,
        predict_cmd,
        profiles_cmd,
        report_cmd,
        run_cmd,
        sweep_cmd,
    )

    parser = _Parser(prog="pocketprof", description="What will this model do on that phone?")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    for module in (
        gui_cmd,
        run_cmd,
        compare_cmd,
        sweep_cmd,
        bench_cmd,
        check_cmd,
        ladder_cmd,
        report_cmd,
        history_cmd,
        profiles_cmd,
        predict_cmd,
        calibrate_cmd,
        hub_cmd,
    ):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        from profiler.cli import gui_cmd

        args.handler = gui_cmd.main  # a bare `pocketprof` opens the app
    try:
        code: int = args.handler(args)
        return code
    except BadInput as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except ProfilerError as exc:  # a failure that is not the input's fault: still one line
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except BrokenPipeError:
        return 0
    finally:
        from profiler.report import history

        for notice in history.NOTICES:
            sys.stderr.write(f"pocketprof: {notice}\n")
        history.NOTICES.clear()


def entry() -> None:
    sys.exit(main())
