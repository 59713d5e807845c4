"""Is pocketprof's child as fast as llama-bench? Side by side, alternating, on this host.

For each model: PAIRS rounds; in each, the pp test and then the tg test, each run by llama-bench
and by pocketprof back to back (who goes first alternates), each side the mean of three timed
repetitions after a warm-up (llama-bench: in one process; pocketprof: as `bench -r 3`, each
repetition its own child), with the same prompt length or generated tokens, threads, n_batch
2048, n_ubatch 512 and flash attention "auto":

  llama-bench -m MODEL -p P -n 0 -t T -r 3 -o json    and  -p 0 -n N
  pocketprof bench -m MODEL -p P -n 0 -t T -r 3        and  -p 0 -n N   (greedy, in llama.cpp's
                                                        sampler chain, from the child's C decode
                                                        loop; every token timed, memory sampled)

It prints each round and the medians of the ratios pocketprof / llama-bench for pp (prefill)
and tg (decode). Targets: >= 0.95 for both. llama-bench is found or built from the llama.cpp
inside the llama-cpp-python source release (profiler.bench.peer).

Usage: .venv/bin/python benchmarks/bench_peer.py [--models smollm2-135m,gemma3-270m] [--pairs 7]
       [--prompt 256] [--gen 96] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profiler.bench import peer, runner  # noqa: E402
from profiler.bench.plan import BenchTest  # noqa: E402
from profiler.bench.result import BenchResult  # noqa: E402
from profiler.model import models  # noqa: E402
from profiler.run import hostinfo  # noqa: E402

TARGET = 0.95


REPS = 3  # repetitions per side and pair: a burst of steal time on a shared host spoils one, not the pair


def ours(model: str, prompt: int, gen: int, threads: int, reps: int = REPS) -> float:
    """One pocketprof test (pp when gen is 0, else tg): its mean t/s over ``reps`` repetitions."""
    test = BenchTest(model=model, profile="host", n_prompt=prompt, n_gen=gen, threads=threads)
    result: BenchResult = runner.Bench([test], runner.Options(reps=reps, keep_history=False)).run()[0]
    if result.status != "completed":
        raise SystemExit(f"pocketprof {test.name} {result.status}: {result.error}")
    return statistics.fmean(result.samples_ts())


def theirs(binary: Path, path: Path, prompt: int, gen: int, threads: int, reps: int = REPS) -> float:
    """One llama-bench test (pp when gen is 0, else tg): its mean t/s (avg_ts) over ``reps``."""
    args = ["-m", str(path), "-p", str(prompt), "-n", str(gen), "-t", str(threads), "-r", str(reps)]
    return float(peer.run_json(binary, args)[0]["avg_ts"])  # type: ignore[arg-type]


def resolve_models(names: str) -> list[tuple[str, Path]]:
    """Each of the comma-separated model names with its GGUF file, all looked up before anything
    is timed; a name that is none exits with its one-line error (status 2)."""
    from profiler.errors import ProfilerError

    found = []
    for name in (m.strip() for m in names.split(",")):
        try:
            found.append((name, models.resolve(name)))
        except ProfilerError as exc:
            print(exc, file=sys.stderr)
            raise SystemExit(2) from None
    return found


def pair(i: int, binary: Path, path: Path, model: str, prompt: int, gen: int, threads: int) -> tuple[float, float]:
    """(llama-bench, pocketprof) for one test, back to back; who goes first alternates."""
    if i % 2 == 0:
        them = theirs(binary, path, prompt, gen, threads)
        return them, ours(model, prompt, gen, threads)
    us = ours(model, prompt, gen, threads)
    return theirs(binary, path, prompt, gen, threads), us


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--prompt", type=int, default=256)
    parser.add_argument("--gen", type=int, default=96)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    parser.add_argument("--threads", type=int, default=cores)
    args = parser.parse_args()
    os.environ.setdefault("POCKETPROF_HOME", tempfile.mkdtemp(prefix="pocketprof-bench-"))
    binary = peer.find()
    if binary is None:
        print("llama-bench not found: building it from the llama-cpp-python source release (minutes)…", flush=True)
        binary = peer.build()
    print(f"llama-bench: {binary}")
    from profiler.run import decode_loop

    print(f"pocketprof's decode loop: {decode_loop.library()[1]}")  # "c", or why the child keeps Python
    summary = []
    for model, path in resolve_models(args.models):
        pp_ratios, tg_ratios, rows = [], [], []
        for i in range(args.pairs):  # each test's two sides back to back: this host's speed drifts by the minute
            theirs_pp, ours_pp = pair(i, binary, path, model, args.prompt, 0, args.threads)
            theirs_tg, ours_tg = pair(i + 1, binary, path, model, 0, args.gen, args.threads)
            pp_ratios.append(ours_pp / theirs_pp)
            tg_ratios.append(ours_tg / theirs_tg)
            rows.append((theirs_pp, ours_pp, theirs_tg, ours_tg))
            print(
                f"{model} pair {i + 1}: pp{args.prompt} llama-bench {theirs_pp:6.1f} pocketprof {ours_pp:6.1f} "
                f"({ours_pp / theirs_pp:.3f})   tg{args.gen} llama-bench {theirs_tg:6.1f} pocketprof {ours_tg:6.1f} "
                f"({ours_tg / theirs_tg:.3f})",
                flush=True,
            )
        med = [statistics.median(col) for col in zip(*rows, strict=True)]
        summary.append((model, statistics.median(pp_ratios), statistics.median(tg_ratios), med))
    print()
    print(
        f"machine: {hostinfo.cpu_model()}, {args.threads} threads, {platform.system()} {platform.release()}, "
        f"llama-cpp-python {peer.version()}; pp{args.prompt}, tg{args.gen}, {args.pairs} alternating pairs"
    )
    for model, pp, tg, med in summary:
        verdict = "PASS" if min(pp, tg) >= TARGET else "MISS"
        print(
            f"{model}: prefill {pp:.3f} x llama-bench (medians {med[1]:.1f} vs {med[0]:.1f} tok/s), "
            f"decode {tg:.3f} x (medians {med[3]:.1f} vs {med[2]:.1f} tok/s)  target >= {TARGET}: {verdict}"
        )


if __name__ == "__main__":
    main()
