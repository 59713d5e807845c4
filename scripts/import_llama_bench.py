"""Turn llama-bench's JSON output into rows of the measurement dataset.

    llama-bench -m model.gguf -t 4,6 -p 256 -n 64 -r 3 -o json > bench.json
    python scripts/import_llama_bench.py bench.json --device "My Phone" --soc-id snapdragon-8-gen-3 \\
        --source "measured by me, 2026-12-01" --out profiles/measurements/mine.csv

A pp test and a tg test of the same model, threads and backend become one row (prefill from
the pp test, decode from the tg test). The model's dataset id comes from --model-id, or
from the file name ("SmolLM2-135M-Instruct.Q4_1.gguf" → smollm2-135m) when it is known to
profiles/measurements/models.csv. Run `make fit` afterwards so the predictor learns from it.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiler.model import kernels  # noqa: E402
from profiler.phone import specs  # noqa: E402
from profiler.phone.dataset import COLUMNS  # noqa: E402

MIB = 1024 * 1024


def model_id(filename: str, known: set[str]) -> str:
    """The longest dataset id the file name starts with ("gemma-3-270m-q4_k_m.gguf" → gemma-3-270m)."""
    name = re.sub(r"[\s_.]+", "-", Path(filename).name.lower())
    matches = [k for k in known if name.startswith(k.replace(".", "-")) or name.startswith(k)]
    return max(matches, key=len) if matches else ""


def quant_of(filename: str) -> str:
    stem = Path(filename).stem.upper().replace("-", "_").replace(".", "_")
    for name in sorted(kernels.CLASSES, key=len, reverse=True):
        if stem.endswith(name) or f"_{name}_" in stem:
            return name
    return ""


def rows(tests: list[dict[str, Any]], args: argparse.Namespace, known: set[str]) -> list[dict[str, Any]]:
    grouped: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    for t in tests:
        key = (t["model_filename"], t["n_threads"], t.get("backends", ""), t.get("n_gpu_layers", 0))
        grouped[key]["pp" if t["n_gen"] == 0 else "tg"] = t
    out = []
    for (filename, threads, backends, ngl), pair in grouped.items():
        first = pair.get("pp") or pair["tg"]
        backend = "cpu" if not ngl or backends.upper() in ("CPU", "BLAS") else args.backend
        out.append(
            dict.fromkeys(COLUMNS, "")
            | {
                "device": args.device,
                "soc_id": args.soc_id,
                "backend": backend,
                "backend_detail": backends or "CPU",
                "runtime": "llama.cpp",
                "runtime_version": f"llama-bench build {first['build_commit']} ({first['build_number']})",
                "model": Path(filename).name,
                "model_id": args.model_id or model_id(filename, known),
                "params_b": f"{first['model_n_params'] / 1e9:.4g}",
                "quant": quant_of(filename),
                "weights_mib": f"{first['model_size'] / MIB:.2f}",
                "threads": threads,
                "prompt_tokens": pair["pp"]["n_prompt"] if "pp" in pair else "",
                "gen_tokens": pair["tg"]["n_gen"] if "tg" in pair else "",
                "prefill_tps": f"{pair['pp']['avg_ts']:.2f}" if "pp" in pair else "",
                "decode_tps": f"{pair['tg']['avg_ts']:.2f}" if "tg" in pair else "",
                "trust": args.trust,
                "split": args.split,
                "source": args.source,
                "note": (
                    f"llama-bench -r {len(first.get('samples_ns') or []) or '?'}; cpu_info {first.get('cpu_info')}; "
                    f"sd pp {pair['pp']['stddev_ts']:.1f}, "
                    if "pp" in pair
                    else "llama-bench; "
                )
                + (f"sd tg {pair['tg']['stddev_ts']:.1f} tok/s. " if "tg" in pair else "")
                + args.note,
            }
        )
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="llama-bench -o json output")
    parser.add_argument("--device", required=True)
    parser.add_argument("--soc-id", default="", help="a key of profiles/measurements/socs.toml")
    parser.add_argument("--source", required=True, help="who measured, where and when")
    parser.add_argument("--trust", default="C", choices="ABCD")
    parser.add_argument("--split", default="fit", choices=("fit", "holdout", "context", "decode-only"))
    parser.add_argument("--backend", default="gpu", choices=("gpu", "npu"), help="for runs with -ngl > 0")
    parser.add_argument("--model-id", default="")
    parser.add_argument("--note", default="")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        tests = json.loads(args.json.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: {args.json}: not llama-bench JSON ({exc})", file=sys.stderr)
        return 2
    new = rows(tests, args, set(specs.models()))
    exists = args.out.exists()
    with args.out.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        if not exists:
            writer.writeheader()
        writer.writerows(new)
    print(f"added {len(new)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
