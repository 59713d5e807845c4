"""Which throttle lands on its target? Duty cycle against CPU quota, side by side.

For each round: an unthrottled run, then ``--speed-factor F`` with the
SIGSTOP/SIGCONT duty cycle, then with a cgroup CPU quota (where the machine
allows one), all greedy and fixed-length on the host profile. Prints the
achieved/unthrottled decode ratio of each (medians), and the p95 inter-token
latency against the unthrottled p95 scaled by 1/F (what a phone that slow
would show).

Usage: .venv/bin/python benchmarks/bench_throttle.py [--factor 0.5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from profiler.run import hostinfo
from profiler.run.config import RunConfig
from profiler.run.session import Session


def one(model: str, factor: float | None, throttle: str, tokens: int) -> tuple[float, float, str]:
    config = RunConfig(
        model=model,
        profile="host",
        max_tokens=tokens,
        temperature=0.0,
        ignore_eos=True,
        speed_factor=factor,
        throttle=throttle,
    )
    record = Session(config).run()
    return (
        record.summary.decode_tokens_per_s or 0.0,
        record.summary.itl_p95_ms or 0.0,
        record.limits["speed"].mechanism,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--factor", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("POCKETPROF_HOME", tempfile.mkdtemp(prefix="pocketprof-bench-"))
    ratios: dict[str, list[float]] = {"duty": [], "quota": []}
    p95: dict[str, list[float]] = {"full": [], "duty": [], "quota": []}
    mechanisms: dict[str, str] = {}
    for i in range(args.rounds):
        full, full_p95, _ = one(args.model, None, "duty", args.tokens)
        p95["full"].append(full_p95)
        line = f"round {i + 1}: full {full:6.1f} tok/s"
        for kind in ("duty", "quota"):
            tps, lat, mechanism = one(args.model, args.factor, kind, args.tokens)
            mechanisms[kind] = mechanism
            ratios[kind].append(tps / full)
            p95[kind].append(lat)
            line += f"   {kind} ({mechanism}) {tps:6.1f} tok/s ratio {tps / full:.3f} p95 {lat:.1f} ms"
        print(line, flush=True)
    print()
    print(
        f"machine: {hostinfo.cpu_model()}, llama_cpp {hostinfo.package_version('llama_cpp_python')}, "
        f"model {args.model}, target factor {args.factor}"
    )
    expected = statistics.median(p95["full"]) / args.factor
    for kind in ("duty", "quota"):
        print(
            f"{kind:5} via {mechanisms[kind]}: median ratio {statistics.median(ratios[kind]):.3f} "
            f"(target {args.factor}), p95 latency {statistics.median(p95[kind]):.1f} ms "
            f"(a phone at {args.factor}x: ~{expected:.1f} ms)"
        )


if __name__ == "__main__":
    main()
