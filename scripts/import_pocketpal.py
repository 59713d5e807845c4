"""Turn PocketPal's benchmark baseline files into rows of the measurement dataset.

PocketPal (github.com/a-ghorbani/pocketpal-ai) publishes llama.cpp benchmark sweeps
of phones in ``e2e/baselines/benchmark/<device>.json`` (pp256 / tg64, three
repetitions, 6 threads, n_ctx 2048, mmap off; one run per model, quantization and
backend). This script reads those files from a checkout or snapshot of that
repository and writes ``profiles/measurements/pocketpal.csv``::

    python scripts/import_pocketpal.py PATH/TO/pocketpal-ai/e2e/baselines/benchmark COMMIT

Conventions (see profiles/measurements/README.md):
- The rung labelled ``iq1_s`` is an IQ2_M file (PocketPal's e2e/README.md: "Static IQ1_S
  rung is substituted with IQ2_M"; e2e/fixtures/benchmark-models.ts lists the files).
- ``memory_mb`` is llama.cpp's buffer total from the load log (weights, KV cache and
  compute buffer), not process memory; the file's ``peak_memory_mb`` is the whole
  device's used RAM and is not imported.
- The two POCO phones are the project's held-out check (``split = holdout``).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "profiles" / "measurements" / "pocketpal.csv"
sys.path.insert(0, str(ROOT))

from profiler.phone.dataset import COLUMNS  # noqa: E402

DEVICES = {
    "samsung-s23": ("Samsung Galaxy S23", "snapdragon-8-gen-2", "fit", "Adreno 740", "Hexagon HTP v73"),
    "poco-myron": ("POCO (codename myron)", "snapdragon-8-elite-gen-5", "holdout", "Adreno 840", "Hexagon HTP v81"),
    "poco-x7-klee": ("POCO X7 Pro (codename klee)", "dimensity-8400", "holdout", "Mali-G720", ""),
}
MODELS = {"lfm2.5-1.2b-instruct": "lfm2.5-1.2b"}
QUANTS = {"iq1_s": "IQ2_M"}
BACKENDS = {"cpu": "cpu", "opencl": "gpu", "hexagon": "npu"}


def _row(device: str, run: dict, meta: dict, commit: str) -> dict[str, object]:
    name, soc, split, gpu, npu = DEVICES[device]
    backend = BACKENDS[run["effective_backend"]]
    detail = {"cpu": "CPU", "gpu": f"OpenCL {gpu}", "npu": npu or "Hexagon"}[backend]
    buffers = run["log_signals"]["memory_buffers"]
    params = run["effective_init_params"]
    quant = QUANTS.get(run["quant"], run["quant"].upper())
    weights = buffers["weights_mib"]
    parts = ", ".join(f"{k} {v:g}" for k, v in sorted(weights.items()))
    offloaded = run["log_signals"].get("offloaded_layers"), run["log_signals"].get("total_layers")
    note = (
        f"PocketPal benchmark (llama.rn {meta['llama_rn_version']}): pp{meta['bench']['pp']} tg{meta['bench']['tg']} "
        f"nr={meta['bench']['nr']}, flash_attn={params['flash_attn_type']}, "
        f"mmap={'on' if params['use_mmap'] else 'off'}, "
        f"n_batch {params['n_batch']}, n_ubatch {params['n_ubatch']}, KV {params['cache_type_k']}; "
        f"weight buffers MiB: {parts}; layers offloaded {offloaded[0]}/{offloaded[1]}"
    )
    if run["quant"] == "iq1_s":
        note += "; rung labelled iq1_s is an IQ2_M file"
    return {
        "device": name,
        "soc_id": soc,
        "backend": backend,
        "backend_detail": detail,
        "runtime": "llama.cpp",
        "runtime_version": f"llama.rn {meta['llama_rn_version']}",
        "model": run["model_id"],
        "model_id": MODELS.get(run["model_id"], run["model_id"]),
        "params_b": "",
        "quant": quant,
        "weights_mib": f"{buffers['weights_total_mib']:g}",
        "threads": params["n_threads"],
        "prompt_tokens": meta["bench"]["pp"],
        "gen_tokens": meta["bench"]["tg"],
        "ctx": params["n_ctx"],
        "prefill_tps": f"{run['pp_avg']:.4g}",
        "decode_tps": f"{run['tg_avg']:.4g}",
        "memory_mb": f"{buffers['total_mib']:g}",
        "memory_kind": "llama_buffers",
        "kv_mib": f"{buffers['kv_cache_total_mib']:g}",
        "compute_mib": f"{buffers['compute_total_mib']:g}",
        "power_w": "",
        "energy_j_per_token": "",
        "power_kind": "",
        "trust": "B",
        "split": split,
        "source": (
            f"github.com/a-ghorbani/pocketpal-ai e2e/baselines/benchmark/{device}.json (commit {commit}) "
            f"runs[] model_id={run['model_id']} quant={run['quant']} backend={run['effective_backend']}"
        ),
        "note": note,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: import_pocketpal.py BENCHMARK_FOLDER COMMIT", file=sys.stderr)
        return 2
    folder, commit = Path(argv[0]), argv[1]
    rows = []
    for device in DEVICES:
        meta = json.loads((folder / f"{device}.json").read_text())
        rows += [_row(device, run, meta, commit) for run in meta["runs"] if run["status"] == "ok"]
    with OUT.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
