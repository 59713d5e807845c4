"""``pocketprof run``: profile one model under one phone profile, headless."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from profiler.cli.interrupt import stop_on_signals
from profiler.cli.table import summary_text
from profiler.errors import BadInput
from profiler.model.models import DEFAULT_MODEL
from profiler.paths import cli_path
from profiler.phone.profiles import DEFAULT_PROFILE
from profiler.record import RunRecord, write_json, write_problem
from profiler.report import exports, history
from profiler.run import events, mechanisms
from profiler.run.config import RunConfig
from profiler.run.session import Event, Session

EXIT = {"completed": 0, "stopped": 130, "killed": 3, "error": 1}
BAD_INPUT_KINDS = ("bad_input", "model_load", "model_template")  # the input's fault: exit 2, one line


def register(commands: Any) -> None:
    p = commands.add_parser("run", help="profile a model in a phone-capped child process")
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="a .gguf path, a built-in name (smollm2-135m, gemma3-270m) or hf://OWNER/REPO/FILE.gguf "
        "(or hf://OWNER/REPO:QUANT), downloaded into the Hugging Face cache once",
    )
    p.add_argument("--profile", default=DEFAULT_PROFILE, help="a profile id or a path to a profile .toml")
    given = p.add_mutually_exclusive_group()  # both at once used to prefer the file without a word
    given.add_argument("--prompt", default=RunConfig.prompt)
    given.add_argument("--prompt-file", type=cli_path, help="read the prompt from a file")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--ctx", type=int, default=2048, help="context size in tokens")
    p.add_argument("--threads", type=int, help="llama.cpp threads (default: the profile's)")
    p.add_argument("--no-mmap", action="store_true", help="read the weights into memory (they count in the footprint)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--raw", action="store_true", help="plain completion, without the model's chat template")
    p.add_argument("--memory-budget-mb", type=float, help="kill past this footprint (default: the profile's)")
    p.add_argument("--dram-mb", type=float, help="hard memory cap (default: the profile's DRAM)")
    p.add_argument("--speed-factor", type=float, help="fraction of host speed, 0 < F <= 1")
    ways = "; ".join(f"{name}: {cls.help}" for name, cls in mechanisms.REGISTRY.items())
    p.add_argument("--throttle", choices=mechanisms.names(), default="duty", help=f"how to slow the child ({ways})")
    p.add_argument("--gpu-layers", type=int, default=0, help="layers to offload to a GPU (llama.cpp)")
    p.add_argument(
        "--logits-all",
        action="store_true",
        help="keep every position's logits (as logprob and perplexity tools do): n_vocab × 4 bytes per token",
    )
    p.add_argument(
        "--ignore-eos", action="store_true", help="always generate --max-tokens tokens (as llama-bench does)"
    )
    p.add_argument("-b", "--batch-size", type=int, default=2048, help="llama.cpp n_batch (llama-bench's default)")
    p.add_argument("-ub", "--ubatch-size", type=int, default=512, help="llama.cpp n_ubatch")
    p.add_argument("-fa", "--flash-attn", choices=("auto", "on", "off"), default="auto", help="flash attention")
    p.add_argument("--load-timeout", type=float, default=300.0, help="seconds to wait for the model to load")
    p.add_argument("--json", type=cli_path, help="write the report here (schema version 1)")
    exports.add_arguments(p)
    p.add_argument("--quiet", action="store_true", help="do not stream the output text")
    p.add_argument("--no-history", action="store_true", help="do not store the run in the history database")
    p.set_defaults(handler=main)


def config_from(args: argparse.Namespace) -> RunConfig:
    prompt = args.prompt
    if args.prompt_file is not None:
        try:
            prompt = args.prompt_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"{args.prompt_file}: cannot read the prompt file: {exc}") from None
    return RunConfig(
        model=args.model,
        profile=args.profile,
        prompt=prompt,
        max_tokens=args.max_tokens,
        ctx=args.ctx,
        threads=args.threads,
        mmap=not args.no_mmap,
        seed=args.seed,
        temperature=args.temperature,
        raw=args.raw,
        memory_budget_mb=args.memory_budget_mb,
        dram_mb=args.dram_mb,
        speed_factor=args.speed_factor,
        throttle=args.throttle,
        gpu_layers=args.gpu_layers,
        logits_all=args.logits_all,
        ignore_eos=args.ignore_eos,
        load_timeout_s=args.load_timeout,
        batch=args.batch_size,
        ubatch=args.ubatch_size,
        flash_attn=args.flash_attn,
    )


def _printer(quiet: bool) -> Any:
    def on_event(event: Event) -> None:
        if isinstance(event, events.Warned):  # on stderr even with --quiet, which quiets the output text
            sys.stderr.write(f"warning: {event.text}\n")
        if quiet:
            return
        if isinstance(event, events.TokenStreamed):
            sys.stdout.write(event.token.text)
            sys.stdout.flush()
        elif isinstance(event, events.StatusChanged) and event.text.startswith("measuring"):
            sys.stderr.write(f"pocketprof: {event.text}…\n")  # a pause the user should not wonder about

    return on_event


def finish(record: RunRecord, args: argparse.Namespace) -> int:
    """Store the run in the history, then write the report; return the exit code.

    The history comes first: a report path that fails (a full disk, a bad folder) must
    not lose the measurement.
    """
    if record.error_kind in BAD_INPUT_KINDS and not record.tokens:
        # the input's fault, found before anything was measured: like every other bad input, write nothing
        # (a report already at --json stays as it was)
        sys.stderr.write(f"error: {record.error}\n")
        return 2
    code = 0
    problem = None if args.no_history else history.keep(record)
    if problem:
        sys.stderr.write(f"warning: {problem}\n")
    if args.json is not None:
        try:
            write_json(record, args.json)
            print(f"\n  report written to {args.json}")
        except OSError as exc:  # the old report, if any, is untouched (atomic write)
            sys.stderr.write(f"error: cannot write the report: {write_problem(args.json, exc)}\n")
            code = 1
    try:
        for path in exports.from_args([record.to_dict()], args):
            print(f"  wrote {path}")
    except BadInput as exc:
        sys.stderr.write(f"error: {exc}\n")
        code = 1
    if record.error_kind in BAD_INPUT_KINDS:
        sys.stderr.write(f"error: {record.error}\n")
        return 2
    return code or EXIT.get(record.status, 1)


def main(args: argparse.Namespace) -> int:
    session = Session(config_from(args), on_event=_printer(args.quiet))
    with stop_on_signals(session.stop) as caught:
        record = session.run()
    print("\n")
    print(summary_text(record.to_dict()))
    code = finish(record, args)
    return caught.exit_code(code) if record.status == "stopped" else code
