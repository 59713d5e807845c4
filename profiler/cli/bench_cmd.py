"""``pocketprof bench``: llama-bench's tests and options, each repetition a profiled run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from profiler.bench import output, plan, runner, threads
from profiler.bench.html import bench_html
from profiler.bench.result import BenchResult
from profiler.cli.interrupt import stop_on_signals
from profiler.errors import BadInput
from profiler.model.models import DEFAULT_MODEL
from profiler.paths import cli_path
from profiler.record import write_atomic, write_problem

EXIT = {"completed": 0, "stopped": 130, "skipped": 130, "killed": 3, "error": 1}


def register(commands: Any) -> None:
    p = commands.add_parser(
        "bench",
        help="llama-bench's tests (pp, tg, pp+tg) with repetitions, in the phone-capped child",
        description="Options read as llama-bench's: -p is a prompt length in tokens. Lists take 1,2,4 or "
        "ranges 1-8, 1-8+2, 1-16*2. Each repetition is a normal profiled run and lands in the history.",
    )
    p.add_argument("-m", "--model", action="append", help=f"a model (repeatable, or comma-separated; {DEFAULT_MODEL})")
    p.add_argument("-p", "--n-prompt", default="512", help="prompt lengths in tokens (pp tests; 0: none)")
    p.add_argument("-n", "--n-gen", default="128", help="generated token counts (tg tests; 0: none)")
    p.add_argument("-pg", action="append", default=[], metavar="PP,TG", help="a combined test (repeatable)")
    p.add_argument("-t", "--threads", help="thread counts (default: the profile's)")
    p.add_argument("-b", "--batch-size", default="2048", help="n_batch values")
    p.add_argument("-ub", "--ubatch-size", default="512", help="n_ubatch values")
    p.add_argument("-fa", "--flash-attn", choices=("auto", "on", "off"), default="auto")
    p.add_argument("-ngl", "--n-gpu-layers", type=int, default=0, help="layers offloaded to a GPU")
    p.add_argument("-r", "--repetitions", type=int, default=5)
    p.add_argument("--profiles", default="host", help="comma-separated profile ids or .toml paths (default: host)")
    p.add_argument("--no-mmap", action="store_true")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--delay", type=float, default=0.0, help="seconds to rest between tests")
    p.add_argument("-o", "--output", choices=output.FORMATS, default="md", help="stdout format")
    p.add_argument("--json", type=cli_path, help="also write the results as JSON (what `check` reads)")
    p.add_argument("--html", type=cli_path, help="also write an HTML page: the table and the thread sweeps")
    p.add_argument("--progress", action="store_true", help="one line on stderr per repetition")
    p.add_argument("--no-history", action="store_true", help="do not store the runs in the history database")
    p.set_defaults(handler=main)


def tests_from(args: argparse.Namespace) -> list[plan.BenchTest]:
    models = [m.strip() for spec in (args.model or [DEFAULT_MODEL]) for m in spec.split(",") if m.strip()]
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    if not models or not profiles:
        raise BadInput("bench needs at least one model and one profile")
    counts = plan.parse_ints(args.threads, "-t", minimum=1) if args.threads else [None]
    return plan.expand(
        models,
        profiles,
        prompts=plan.parse_ints(args.n_prompt, "-p"),
        gens=plan.parse_ints(args.n_gen, "-n"),
        pairs=plan.parse_pairs(args.pg, "-pg"),
        threads=list(counts),
        batches=plan.parse_ints(args.batch_size, "-b", minimum=1),
        ubatches=plan.parse_ints(args.ubatch_size, "-ub", minimum=1),
    )


def options_from(args: argparse.Namespace) -> runner.Options:
    if args.repetitions < 1:
        raise BadInput(f"-r must be at least 1, got {args.repetitions}")
    if not args.delay >= 0:
        raise BadInput(f"--delay must be 0 or more seconds, got {args.delay}")
    return runner.Options(
        reps=args.repetitions,
        delay_s=args.delay,
        seed=args.seed,
        mmap=not args.no_mmap,
        gpu_layers=args.n_gpu_layers,
        flash_attn=args.flash_attn,
        keep_history=not args.no_history,
    )


def sweeps(results: list[BenchResult], bench: runner.Bench | None = None) -> list[tuple[str, list[threads.Curve]]]:
    """Each thread sweep's measured curves and, under a phone profile, the phone's predicted ones."""
    found = []
    for group in threads.groups(results):
        test = group[0].test
        curves = threads.measured(group)
        first = group[0].first
        if first and test.profile != "host":
            from profiler.model import gguf_meta
            from profiler.phone.profiles import load_profile

            try:
                profile = load_profile(test.profile)
                model = gguf_meta.read_metadata(Path(first["config"]["model_path"]))
                ctx = int(first["config"]["ctx"])
                phases = {c.phase for c in curves}
                curves += [
                    c
                    for c in threads.predicted(profile, model, ctx=ctx, prompt_tokens=max(test.n_prompt, 1))
                    if c.phase in phases
                ]
            except (BadInput, OSError, KeyError):
                pass
        if curves:
            found.append((f"{Path(test.model).name} {test.name} on {test.profile}", curves))
    return found


def _write(path: Path, text: str, what: str) -> bool:
    try:
        write_atomic(path, text)
    except OSError as exc:
        sys.stderr.write(f"error: cannot write the {what}: {write_problem(path, exc)}\n")
        return False
    sys.stderr.write(f"pocketprof bench: {what} written to {path}\n")
    return True


def main(args: argparse.Namespace) -> int:
    tests = tests_from(args)
    options = options_from(args)
    for path in (args.json, args.html):
        if path is not None and (path.is_dir() or not path.parent.is_dir()):
            raise BadInput(f"{path}: not a file in an existing folder; nothing was run")
    progress = (lambda text: sys.stderr.write(f"pocketprof bench: {text}\n")) if args.progress else None
    bench = runner.Bench(tests, options, on_progress=progress)
    bench.prepare()  # every model, profile and option checked before the first run
    with stop_on_signals(bench.stop):
        results = bench.run()
    for problem in bench.problems[:1]:
        sys.stderr.write(f"warning: {problem}\n")
    sys.stdout.write(output.render(results, args.output))
    found = sweeps(results)
    if found and args.output == "md":
        for title, curves in found:
            sys.stdout.write(f"\nthread sweep: {title}\n{threads.table(curves)}\n")
    sys.stdout.flush()
    code = 0
    if args.json is not None and not _write(args.json, output.to_json(results), "JSON results"):
        code = 1
    if args.html is not None and not _write(args.html, bench_html(results, found), "HTML page"):
        code = 1
    worst = max((EXIT.get(r.status, 1) for r in results), default=0)
    return code or worst
