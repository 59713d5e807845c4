"""How much slower a first timed repetition runs than the ones after it, by warm-up.

Each process loads the model with pocketprof's own engine (``profiler/run/llama_direct.py``,
greedy, the child's pick), warms up, then times three repetitions of a ``gen``-token decode (as
llama-bench's tg test, the memory cleared between them) and stamps every token. Two warm-ups,
alternating process by process:

  one token   llama-bench's: the prompt and one generated token
  the child's ``profiler.run.worker.warm_up``: the prompt, then the test's tokens for up to 1 s

llama-bench reports the mean of its repetitions, all in one process after its one-token
warm-up; pocketprof's bench gives each repetition its own child, so each is a first one. This
prints, per warm-up, the time of repetition 1 over the mean of repetitions 2 and 3 for spans of
token positions, and for the whole decode (medians over the processes; 1.000 = no first-repetition
penalty).

Usage: .venv/bin/python benchmarks/bench_first_rep.py [--models smollm2-135m,gemma3-270m]
       [--processes 10] [--gen 96] [--threads 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WARM_UPS = ("one token", "the child's")
SPANS = ((0, 1), (1, 4), (4, 16), (16, 48), (48, None))
REPS = 3


def one_process(path: str, warm: str, gen: int, threads: int) -> list[list[float]]:
    """Per-token times (s) of REPS repetitions after the named warm-up, in this process."""
    from profiler.run import llama_direct
    from profiler.run.worker import warm_up

    engine = llama_direct.Engine(path, llama_direct.Settings(n_ctx=gen + 9, n_threads=threads))
    try:
        engine.set_sampling(llama_direct.Sampling())  # temperature 0: the child's greedy pick
        prompt = engine.random_prompt(1, seed=42)  # a bench tg test's one-token prompt
        warm_up(engine, prompt, 1 if warm == "one token" else gen - 1)
        reps = []
        for _ in range(REPS):
            engine.clear()
            stamps = [time.monotonic()]
            engine.decode(prompt)
            for i in range(gen):
                token = engine.sample()
                stamps.append(time.monotonic())
                if i < gen - 1:
                    engine.decode([token])
            reps.append([b - a for a, b in itertools.pairwise(stamps)])
        return reps
    finally:
        engine.close()


def ratio(reps: list[list[float]], lo: int, hi: int | None) -> float:
    """Repetition 1's time over the mean of the others' for token positions lo..hi."""
    first = sum(reps[0][lo:hi])
    return first / statistics.fmean(sum(r[lo:hi]) for r in reps[1:])


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(one_process(argv[1], argv[2], int(argv[3]), int(argv[4]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--gen", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import bench_peer

    models = bench_peer.resolve_models(args.models)
    print(f"tg{args.gen}, {args.threads} threads, {args.processes} processes per warm-up, {REPS} repetitions each")
    for model, path in models:
        found: dict[str, list[list[list[float]]]] = {w: [] for w in WARM_UPS}
        for k in range(args.processes):
            for warm in WARM_UPS if k % 2 == 0 else WARM_UPS[::-1]:
                command = [sys.executable, __file__, "--one", str(path), warm, str(args.gen), str(args.threads)]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise SystemExit(f"{warm} failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
                found[warm].append(json.loads(done.stdout.strip().splitlines()[-1]))
        for warm, processes in found.items():
            medians = [statistics.median(ratio(p, lo, hi) for p in processes) for lo, hi in SPANS]
            spans = "  ".join(f"{lo}-{hi or args.gen} {m:.3f}" for (lo, hi), m in zip(SPANS, medians, strict=True))
            whole = statistics.median(ratio(p, 0, None) for p in processes)
            print(f"{model}, {warm} warm-up: repetition 1 ÷ 2–3 by token position: {spans}; whole {whole:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
