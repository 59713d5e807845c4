"""Does a short emulated run land on the phone's decode speed, near and far into its context?

    .venv/bin/python benchmarks/bench_short_runs.py [--models smollm2-135m,gemma3-270m]
        [--phone galaxy-s23] [--tokens 32] [--rounds 4]

The speed governor steers a throttled decode by its token rate over 0.75 s windows, so a decode
shorter than about a second runs on the open-loop factor, phone ÷ host, and the host's decode
rate depends on where the tokens sit in the context. Per model, in a fresh cache, the host is
calibrated once (``profiler/run/calibrate.py``: a long-prompt and a short-prompt run), then
each round runs ``--tokens``-token decodes under the phone on a short prompt ("near") and on
the ~200-token calibration prompt ("far"), each with two calibrations, the order alternating:

  one position   the host's rate timed at one position late in a context (the long prompt's,
                 as every calibration was before it timed two)
  by position    the calibration as it is: the short run's rate, slowed per position

Prints decode tokens/s ÷ the phone's predicted per run and the medians (1.000: on the phone).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ARMS = ("one position", "by position")
PROMPTS = {"near": "Name three colours and say why you like them.", "far": None}  # None: the calibration's


def run_once(model: str, phone: str, tokens: int, prompt: str) -> tuple[float, dict]:
    from profiler.run.config import RunConfig
    from profiler.run.session import Session

    config = RunConfig(model=model, profile=phone, max_tokens=tokens, prompt=prompt, temperature=0.0, ignore_eos=True)
    record = Session(config).run()
    emulation = record.emulation or {}
    target, achieved = emulation.get("target_decode_tokens_per_s"), record.summary.decode_tokens_per_s
    if record.status != "completed" or not target or not achieved:
        raise SystemExit(f"{model} under {phone}: the run ended {record.status} {record.error or ''}".strip())
    return achieved / target, emulation


def one_position(calibration):  # type: ignore[no-untyped-def]
    """The same calibration as if timed on the long prompt alone: its rate there, no slope."""
    from profiler.run import calibrate

    late = calibration.prompt_tokens + calibrate.CALIBRATION_TOKENS / 2
    return dataclasses.replace(
        calibration, decode_tps=calibration.decode_tps_at(late), decode_position=late, ms_per_position=0.0
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--phone", default="galaxy-s23")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    os.environ["POCKETPROF_HOME"] = tempfile.mkdtemp(prefix="pocketprof-short-")
    os.environ["POCKETPROF_CACHE"] = tempfile.mkdtemp(prefix="pocketprof-short-cache-")
    import bench_peer

    from profiler.run import calibrate
    from profiler.run.config import RunConfig
    from profiler.run.session import Session

    print(f"decode tokens/s ÷ the phone's predicted, {args.phone}, tg{args.tokens}, {args.rounds} rounds")
    for model, path in bench_peer.resolve_models(args.models):
        _, emulation = run_once(model, args.phone, 8, PROMPTS["near"] or "")  # calibrates the host
        threads = Session(RunConfig(model=model, profile=args.phone)).plan.threads  # the phone's, as its runs use
        measured, why = calibrate.lookup(path, threads, 2048)
        if measured is None:
            print(f"{model}: no trusted calibration ({why}); run again on a quieter host")
            continue
        print(
            f"{model}: host {measured.decode_tps:.1f} tok/s at position {measured.decode_position:.0f}, "
            f"{measured.decode_tps_at(measured.prompt_tokens + 32):.1f} at {measured.prompt_tokens + 32}; "
            f"phone {emulation['target_decode_tokens_per_s']:.1f}",
            flush=True,
        )
        if emulation.get("host_slower_than_target"):
            print(f"{model}: this host is slower than a {args.phone}: nothing to throttle")
            continue
        found: dict[tuple[str, str], list[float]] = {(w, a): [] for w in PROMPTS for a in ARMS}
        for k in range(args.rounds):
            row = []
            for where, prompt in PROMPTS.items():
                for arm in ARMS if k % 2 == 0 else ARMS[::-1]:
                    calibrate.store(one_position(measured) if arm == "one position" else measured)
                    ratio, _ = run_once(model, args.phone, args.tokens, prompt or calibrate.prompt())
                    found[where, arm].append(ratio)
                    row.append(f"{where} {arm} {ratio:.3f}")
            print(f"{model} round {k + 1}: " + "  ".join(row), flush=True)
        medians = "  ".join(f"{w} {a} {statistics.median(v):.3f}" for (w, a), v in found.items())
        print(f"{model}: medians {medians}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
