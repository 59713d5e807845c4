"""Where pocketprof's decode loses to llama-bench's tg test: five loops side by side, in rotation.

  llama-bench   ``llama-bench -p 0 -n GEN -t T -r 3`` (a random next token; C++)
  bare random   the same loop from Python on pocketprof's own llama.cpp libraries (``Engine`` in
                ``profiler/run/llama_direct.py``): a fresh process, the child's warm-up, three
                timed repetitions, a random next token
  bare chain    the same, each token picked by llama.cpp's greedy sampler chain
                (``llama_sampler_sample``)
  bare greedy   the same, each token the first maximum of the logits, as the child picks it
  pocketprof    ``pocketprof bench -p 0 -n GEN -t T -r 3 --profile host``: each repetition a
                profiled child (memory sampled, every token stamped and handed to the parent)

Each step down the list adds one thing, so the ratios of neighbours split the gap: llama-bench →
bare random is the Python host process, bare random → bare greedy the greedy pick, bare greedy
→ pocketprof the profiling around the child; bare chain beside bare greedy is what picking the
token without llama.cpp's chain saves. Each round runs the five in a rotated order; the
medians of the per-round ratios to llama-bench are printed per model.

Usage: .venv/bin/python benchmarks/bench_decode_gap.py [--models smollm2-135m,gemma3-270m]
       [--rounds 8] [--gen 96] [--threads 2]
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
sys.path.insert(0, str(ROOT / "benchmarks"))

ARMS = ("llama-bench", "bare random", "bare chain", "bare greedy", "pocketprof")
REPS = 3


def bare(path: str, pick: str, gen: int, threads: int) -> float:
    """Mean tokens/s of REPS timed repetitions of a ``gen``-token decode after the child's warm-up (worker.warm_up)."""
    from profiler.run import llama_direct
    from profiler.run.worker import warm_up

    engine = llama_direct.Engine(path, llama_direct.Settings(n_ctx=gen + 9, n_threads=threads))
    try:
        engine.set_sampling(llama_direct.Sampling())  # temperature 0: greedy
        engine.greedy = pick == "bare greedy"  # else llama.cpp's chain picks (unused by bare random)
        prompt = engine.random_prompt(1, seed=42)  # a bench tg test's one-token prompt, as the child's
        warm_up(engine, prompt, gen - 1)  # as the child warms up: as many decodes as a repetition, at most 1 s
        rng, rates = random.Random(0), []
        for _ in range(REPS):
            engine.clear()
            started = time.monotonic()
            engine.decode(prompt)
            for i in range(gen):  # gen decodes in all, as llama-bench's tg: the prompt's and gen - 1 more
                token = rng.randrange(engine.n_vocab) if pick == "bare random" else engine.sample()
                if i < gen - 1:
                    engine.decode([token])
            engine.synchronize()
            rates.append(gen / (time.monotonic() - started))
        return statistics.fmean(rates)
    finally:
        engine.close()


def arm(name: str, binary: Path, model: str, path: Path, gen: int, threads: int) -> float:
    import bench_peer

    if name == "llama-bench":
        return bench_peer.theirs(binary, path, 0, gen, threads)
    if name == "pocketprof":
        return bench_peer.ours(model, 0, gen, threads)
    command = [sys.executable, __file__, "--bare", str(path), name, str(gen), str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    if argv[:1] == ["--bare"]:
        path, name, gen, threads = argv[1], argv[2], int(argv[3]), int(argv[4])
        print(json.dumps(bare(path, name, gen, threads)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--gen", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import os
    import tempfile

    import bench_peer

    from profiler.bench import peer

    os.environ.setdefault("POCKETPROF_HOME", tempfile.mkdtemp(prefix="pocketprof-gap-"))
    binary = peer.find() or peer.build()
    print(f"tg{args.gen}, {args.threads} threads, {args.rounds} rounds; each figure the mean of {REPS} repetitions")
    for model, path in bench_peer.resolve_models(args.models):
        rates: dict[str, list[float]] = {name: [] for name in ARMS}
        for k in range(args.rounds):
            order = ARMS[k % len(ARMS) :] + ARMS[: k % len(ARMS)]
            for name in order if k % 2 == 0 else order[::-1]:
                rates[name].append(arm(name, binary, model, path, args.gen, args.threads))
            row = "  ".join(f"{name} {rates[name][-1]:6.1f}" for name in ARMS)
            print(f"{model} round {k + 1}: {row}", flush=True)
        ratios = {
            n: statistics.median(a / b for a, b in zip(rates[n], rates["llama-bench"], strict=True)) for n in ARMS
        }
        steps = "  ".join(f"{name} {ratios[name]:.3f}" for name in ARMS[1:])
        print(f"{model}: × llama-bench (median of {args.rounds} rounds): {steps}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
