"""Does an emulated run land on the phone's predicted prefill, time to first token and decode speed?

    .venv/bin/python benchmarks/bench_emulation.py [--rounds 3]

Both default models under the phones slower than this host (galaxy-a25, budget-4gb) and one
faster phone (galaxy-s24-ultra), alternating model and phone in every round, a ~200-token
prompt, 128 greedy tokens. Prints the medians of achieved ÷ predicted for prefill tokens/s,
TTFT and decode tokens/s (target: within ±10 %), and, where the host is slower than the
phone, by how much the report says it lags.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiler.run import calibrate
from profiler.run.config import RunConfig
from profiler.run.session import Session

MODELS = ("smollm2-135m", "gemma3-270m")
PHONES = ("galaxy-a25", "budget-4gb", "galaxy-s24-ultra")


def run(model: str, phone: str) -> dict[str, float | str | None]:
    config = RunConfig(
        model=model, profile=phone, prompt=calibrate.prompt(), max_tokens=128, temperature=0.0, ignore_eos=True
    )
    record = Session(config).run()
    e, s = record.emulation or {}, record.summary
    if record.status != "completed" or not e:
        return {"error": record.error or record.status}

    def ratio(achieved: float | None, target: float | None) -> float | None:
        return achieved / target if achieved and target else None

    return {
        "prefill": ratio(s.prefill_tokens_per_s, e.get("target_prefill_tokens_per_s")),
        "ttft": ratio(s.ttft_s, e.get("target_ttft_s")),
        "decode": ratio(s.decode_tokens_per_s, e.get("target_decode_tokens_per_s")),
        "lags": ", ".join(f"{k} {v:.2f}x" for k, v in (e.get("host_lag_by_phase") or {}).items()) or "none",
        "targets": f"prefill {e.get('target_prefill_tokens_per_s')}, TTFT {e.get('target_ttft_s')} s, "
        f"decode {e.get('target_decode_tokens_per_s')} tok/s",
        "calibration": (e.get("calibration") or {}).get("source"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in range(args.rounds):
        for model in MODELS if r % 2 == 0 else MODELS[::-1]:
            for phone in PHONES:
                results[(model, phone)].append(run(model, phone))
    print(f"{'model':14} {'phone':17} {'prefill':>8} {'TTFT':>8} {'decode':>8}  host lags (report)   targets")
    for (model, phone), rows in results.items():
        ok = [x for x in rows if "error" not in x]

        def med(key: str, ok: list = ok) -> str:
            vals = [x[key] for x in ok if x[key] is not None]
            return f"{statistics.median(vals):.3f}" if vals else "—"

        lags = " / ".join(dict.fromkeys(x["lags"] for x in ok)) if ok else "?"
        targets = ok[-1]["targets"] if ok else rows[-1].get("error")
        print(f"{model:14} {phone:17} {med('prefill'):>8} {med('ttft'):>8} {med('decode'):>8}  {lags:20} {targets}")
    print("(achieved ÷ predicted, medians of", args.rounds, "rounds; within 0.90–1.10 where the host is faster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
