"""Does profiling cost the model speed? Is the sampler fast and cheap enough?

Prints, measured side by side in one run (A, B, C, then B, C, A, then C, A, B ..., medians):
  1. decode tokens/s of a `--profile host` session against the same llama.cpp loop run bare
     (profiler.run.llama_direct in a plain process: same model, threads, context, prompt, greedy
     sampler chain, fixed token count, no sampler thread, no IPC); target >= 0.965;
  2. the same session against llama-cpp-python's high-level ``Llama.generate`` (what the child
     used before it drove llama.cpp directly), for reference;
  3. the sampler's achieved rate while memory moves (50 Hz; target >= 45 Hz), its average over the
     run (it drops to 5 Hz while memory holds still) and its CPU cost; target < 3 % of a core.

Usage: .venv/bin/python benchmarks/bench_overhead.py [--model smollm2-135m] [--rounds 5] [--tokens 256]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profiler.model import models  # noqa: E402
from profiler.run import hostinfo  # noqa: E402
from profiler.run.config import RunConfig  # noqa: E402
from profiler.run.session import Session  # noqa: E402

BARE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[6])
from profiler.run import llama_direct as D
path, threads, ctx, tokens, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
engine = D.Engine(path, D.Settings(n_ctx=ctx, n_threads=threads))
engine.set_sampling(D.Sampling(temperature=0.0))
engine.decode(engine.tokenize(prompt.encode(), add_bos=True, special=False))
stamps = []
while True:
    token = engine.sample()
    stamps.append(time.monotonic())
    if len(stamps) >= tokens:
        break
    engine.decode([token])
engine.close()
print(json.dumps((len(stamps) - 1) / (stamps[-1] - stamps[0])))
"""

HIGH_LEVEL = r"""
import json, sys, time
from llama_cpp import Llama
path, threads, ctx, tokens, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
llm = Llama(model_path=path, n_ctx=ctx, n_threads=threads, n_threads_batch=threads, seed=42, verbose=False)
ids = llm.tokenize(prompt.encode(), add_bos=True, special=False)
stamps = []
for tok in llm.generate(ids, temp=0.0, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.0):
    stamps.append(time.monotonic())
    if len(stamps) >= tokens:
        break
llm.close()
print(json.dumps((len(stamps) - 1) / (stamps[-1] - stamps[0])))
"""


def bare_decode(path: Path, threads: int, ctx: int, tokens: int, prompt: str, script: str = BARE) -> float:
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), str(threads), str(ctx), str(tokens), prompt, str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def profiled(model: str, threads: int, ctx: int, tokens: int, prompt: str) -> tuple[float, float, float, float]:
    config = RunConfig(
        model=model,
        profile="host",
        prompt=prompt,
        max_tokens=tokens,
        ctx=ctx,
        threads=threads,
        temperature=0.0,
        raw=True,
        ignore_eos=True,
    )
    record = Session(config).run()
    wall = record.summary.wall_time_s or 1.0
    sampler_pct = 100.0 * (record.sampler_cpu_s or 0.0) / wall
    moving = [
        b.t - a.t
        for a, b in itertools.pairwise(record.samples)
        if abs(b.rss_mb - a.rss_mb) > 0.5 or abs(b.footprint_mb - a.footprint_mb) > 0.5
    ]
    moving_hz = 1.0 / statistics.median(moving) if moving else 0.0
    return record.summary.decode_tokens_per_s or 0.0, moving_hz, record.summary.sample_rate_hz or 0.0, sampler_pct


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--ctx", type=int, default=2048)
    args = parser.parse_args()
    os.environ.setdefault("POCKETPROF_HOME", tempfile.mkdtemp(prefix="pocketprof-bench-"))
    path = models.resolve(args.model)
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    prompt = "Why is memory the wall for phone LLMs? Explain step by step."
    ratios, high_ratios, bare_all, high_all, prof_all, rates, means, costs = [], [], [], [], [], [], [], []
    jobs = {
        "bare": lambda: bare_decode(path, threads, args.ctx, args.tokens, prompt),
        "profiled": lambda: profiled(args.model, threads, args.ctx, args.tokens, prompt),
        "high": lambda: bare_decode(path, threads, args.ctx, args.tokens, prompt, HIGH_LEVEL),
    }
    for i in range(args.rounds):
        # who goes first rotates: on this host the first of three back-to-back runs tends to be the fastest
        names = list(jobs)[i % 3 :] + list(jobs)[: i % 3]
        got = {name: jobs[name]() for name in names}
        bare, high = got["bare"], got["high"]
        prof, rate, mean, cost = got["profiled"]  # type: ignore[misc]
        bare_all.append(bare)
        high_all.append(high)
        prof_all.append(prof)
        ratios.append(prof / bare)
        high_ratios.append(prof / high)
        rates.append(rate)
        means.append(mean)
        costs.append(cost)
        print(
            f"round {i + 1}: bare {bare:6.1f} tok/s   profiled {prof:6.1f} tok/s   ratio {prof / bare:.3f}   "
            f"Llama.generate {high:6.1f} tok/s   "
            f"sampler {rate:4.1f} Hz moving, {mean:4.1f} Hz mean, {cost:.2f} % of a core",
            flush=True,
        )
    print()
    print(
        f"machine: {hostinfo.cpu_model()}, {threads} threads, {platform.system()} {platform.release()}, "
        f"llama_cpp {hostinfo.package_version('llama_cpp_python')}, model {args.model}, {args.tokens} tokens"
    )
    print(
        f"decode ratio (profiled / bare), median of {args.rounds}: {statistics.median(ratios):.3f}  (target >= 0.965)"
    )
    print(f"decode ratio (profiled / Llama.generate), median: {statistics.median(high_ratios):.3f}  (reference)")
    print(
        f"  medians: bare {statistics.median(bare_all):.1f} tok/s, profiled {statistics.median(prof_all):.1f} tok/s, "
        f"Llama.generate {statistics.median(high_all):.1f} tok/s"
    )
    print(f"sampler rate while memory moved, median: {statistics.median(rates):.1f} Hz  (target >= 45)")
    print(f"sampler rate over the run (5 Hz while memory holds still), median: {statistics.median(means):.1f} Hz")
    print(f"sampler CPU, median: {statistics.median(costs):.2f} % of one core  (target < 3 %)")


if __name__ == "__main__":
    main()
