"""What llama.cpp's greedy sampler chain costs a token, beside llama-bench's tg loop.

llama-bench's tg test feeds a random next token and never reads the logits. pocketprof's child
(``profiler/run/llama_direct.py``) picked each token with llama.cpp's own sampler chain, greedy
(``llama_sampler_sample``), until that cost showed here; it now takes the first maximum of the
logits itself, and this script still measures the chain. Here both loops run in one process on
the child's own llama.cpp libraries, in alternating blocks of GEN tokens after the same prompt,
so their ratio is the sampler's cost alone, without the child's profiling around it. Each round
is a fresh process; the median over rounds is printed per model.

Usage: .venv/bin/python benchmarks/bench_sampler.py [--models smollm2-135m,gemma3-270m]
       [--rounds 5] [--blocks 6] [--gen 96] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profiler.errors import ProfilerError  # noqa: E402
from profiler.model import models  # noqa: E402


def one_round(path: str, blocks: int, gen: int, threads: int) -> dict[str, float]:
    """Median tokens/s of each loop over ``blocks`` alternating blocks, in this process."""
    from profiler.run import llama_direct
    from profiler.run.worker import warm_up

    engine = llama_direct.Engine(path, llama_direct.Settings(n_ctx=gen + 64, n_threads=threads))
    try:
        engine.set_sampling(llama_direct.Sampling())  # temperature 0: greedy
        engine.greedy = False  # through llama.cpp's chain, which this script measures (the child argmaxes)
        prompt = engine.random_prompt(16, seed=1)
        warm_up(engine, prompt, gen)  # as the child warms up
        rng = random.Random(0)
        rates: dict[str, list[float]] = {"sampled": [], "random": []}
        for block in range(blocks):
            for loop in ("sampled", "random") if block % 2 == 0 else ("random", "sampled"):
                engine.clear()
                engine.decode(prompt)
                engine.synchronize()
                started = time.perf_counter()
                for _ in range(gen):
                    token = engine.sample() if loop == "sampled" else rng.randrange(engine.n_vocab)
                    engine.decode([token])
                engine.synchronize()
                rates[loop].append(gen / (time.perf_counter() - started))
        return {loop: statistics.median(values) for loop, values in rates.items()}
    finally:
        engine.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--gen", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--round", metavar="GGUF", help=argparse.SUPPRESS)  # one round, in a child process
    args = parser.parse_args(argv)
    if args.round:
        print(json.dumps(one_round(args.round, args.blocks, args.gen, args.threads)))
        return 0
    print(f"greedy sampler chain against llama-bench's random next token; {args.threads} threads, "
          f"blocks of {args.gen} tokens, {args.blocks} blocks a round, {args.rounds} rounds")  # fmt: skip
    for name in args.models.split(","):
        try:
            path = str(models.resolve(name))
        except ProfilerError as exc:
            print(exc, file=sys.stderr)
            return 2
        ratios = []
        for n in range(args.rounds):
            command = [sys.executable, __file__, "--round", path, "--blocks", str(args.blocks)]
            command += ["--gen", str(args.gen), "--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{name}: round {n + 1} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                return 1
            rates = json.loads(done.stdout.strip().splitlines()[-1])
            ratios.append(rates["sampled"] / rates["random"])
            print(f"{name} round {n + 1}: sampled {rates['sampled']:.1f} tok/s, random {rates['random']:.1f} tok/s "
                  f"({ratios[-1]:.3f})")  # fmt: skip
        print(f"{name}: sampled / random {statistics.median(ratios):.3f} (median of {len(ratios)}; "
              f"{min(ratios):.3f}-{max(ratios):.3f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
