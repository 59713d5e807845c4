"""How well pocketprof predicts phones it never saw: every score of the phone model, from the dataset.

    .venv/bin/python benchmarks/bench_fidelity.py [--plots docs]

Fits everything from profiles/measurements/ afresh (a few minutes on 2 cores), then prints,
llama.cpp on the CPU first and then each other backend with enough rows:

- within one device, leave one model out: the median absolute error over rows;
- across devices, leave one SoC out: each SoC's rows predicted from the other SoCs and its
  own spec sheet; the median over SoCs of each SoC's median error (rows whose kernel class
  or core tier no other SoC has are not scored, and counted);
- the held-out phones (never fitted);
- memory, like with like: llama.cpp's buffer totals against the predicted buffers;
- power (leave one SoC out) and energy per token (power ÷ speed, both predicted without the SoC);
- where two sources disagree on the same phone, model and type, both, and which the fit trusted.

Targets (issue "Phone fidelity"): within-device decode ≤ 15 %, prefill ≤ 25 %; across devices
decode ≤ 25 %, prefill ≤ 35 %; memory ≤ 15 %; energy: stated, whatever it is.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiler.errors import BadInput  # noqa: E402
from profiler.phone import builds, dataset, fidelity, fit  # noqa: E402
from profiler.report.svgscatter import scatter  # noqa: E402

TARGETS = {
    "cpu decode lomo": 15,
    "cpu prefill lomo": 25,
    "cpu decode lodo": 25,
    "cpu prefill lodo": 35,
    "memory buffers (weights from the file)": 15,
    "memory buffers (weights from params × type)": 15,
}


def line(key: str, doc: dict, *, by_device: bool) -> str:
    stats = doc["scores"].get(key, {"n": 0})
    if not stats.get("n"):
        return f"  {key:46} no rows"
    text = f"  {key:46} n={stats['n']:4}  median {stats['median_pct']:6.1f} %  p90 {stats['p90_pct']:6.1f} %"
    if by_device:
        dev = doc["device_medians"][key]
        text += f"  | median over {dev['devices']} devices {dev['median_pct']:6.1f} %"
        judged = dev["median_pct"]
    else:
        judged = stats["median_pct"]
    if key in TARGETS:
        text += f"  [{'PASS' if judged <= TARGETS[key] else 'MISS'} ≤ {TARGETS[key]} %]"
    return text


def disagreements(rows: list[dataset.Measurement]) -> list[str]:
    """Same SoC, model, type, backend, threads and instruction set, different sources, more than 15 % apart.

    A build without dotprod (``kernels.toml``'s ``isa``) is a different experiment, not a disagreement."""
    table = builds.table()
    groups: dict[tuple, list[dataset.Measurement]] = defaultdict(list)
    for r in rows:
        if r.model_id and r.quant and r.soc_id:
            groups[(r.soc_id, r.model_id, r.quant, r.backend, r.threads, builds.isa_cap(r, table))].append(r)
    out = []
    for key, members in groups.items():
        for a, b in combinations(members, 2):
            if a.source.split(" ")[0:3] == b.source.split(" ")[0:3]:
                continue
            for phase in ("decode_tps", "prefill_tps"):
                va, vb = getattr(a, phase), getattr(b, phase)
                if va and vb and max(va, vb) / min(va, vb) > 1.15:
                    trusted = a if fit.TRUST_WEIGHT[a.trust] >= fit.TRUST_WEIGHT[b.trust] else b
                    verdict = (
                        "equal trust: the fit weighs both alike"
                        if a.trust == b.trust
                        else f"the fit trusts {trusted.where} (grade {trusted.trust}) more"
                    )
                    out.append(
                        f"  {key[0]} {key[1]} {key[2]} {key[3]} t={key[4]} {phase}: {va:g} ({a.trust}, {a.where}) vs "
                        f"{vb:g} ({b.trust}, {b.where}); {verdict}"
                    )
    return out


def readable(key: str) -> str:
    """'cpu decode lodo' → 'left-out SoCs'; 'opencl decode holdout' → 'OpenCL, held-out phone'."""
    words = key.split()
    what = {"lodo": "left-out SoCs", "holdout": "held-out phones", "lomo": "left-out models"}.get(words[-1], "")
    api = {"metal": "Metal", "opencl": "OpenCL", "hexagon": "Hexagon"}.get(words[0], "")
    if words[0] in ("memory", "power"):
        return "left-out SoCs" if words[-1] == "lodo" else "all rows"
    return f"{api}, {what}" if api else what


def plots(scores: fidelity.Scores, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    panels = {
        "fidelity-cpu-decode.svg": (
            "llama.cpp CPU decode: leave one SoC out, and held-out phones",
            "tok/s",
            ["cpu decode lodo", "cpu decode holdout"],
        ),
        "fidelity-cpu-prefill.svg": (
            "llama.cpp CPU prefill: leave one SoC out, and held-out phones",
            "tok/s",
            ["cpu prefill lodo", "cpu prefill holdout"],
        ),
        "fidelity-gpu-npu-decode.svg": (
            "llama.cpp GPU and NPU decode: leave one SoC out, held-out phone",
            "tok/s",
            [
                "metal decode lodo",
                "opencl decode lodo",
                "hexagon decode lodo",
                "opencl decode holdout",
                "hexagon decode holdout",
            ],
        ),
        "fidelity-memory.svg": (
            "llama.cpp buffers: predicted from params × type against the load log",
            "MiB",
            ["memory buffers (weights from params × type)"],
        ),
        "fidelity-power.svg": ("Phone power while decoding: leave one SoC out", "W", ["power lodo"]),
    }
    for name, (title, unit, keys) in panels.items():
        groups = {readable(k): [(m, p) for m, p, _ in scores.points[k]] for k in keys if scores.points.get(k)}
        if groups:
            path = folder / name
            path.write_text(scatter(title, groups, unit=unit) + "\n")
            written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plots", type=Path, help="write the scatter plots (SVG) into this folder")
    args = parser.parse_args()
    try:
        doc, scores = fidelity.build()
        rows = dataset.load()
    except BadInput as exc:  # a bad row or spec sheet: one line naming the file and field
        print(f"bench_fidelity: {exc}", file=sys.stderr)
        return 2
    devices = {r.device for r in rows}
    print(f"dataset: {len(rows)} rows, {len(devices)} devices, fingerprint {doc['dataset_sha256_16']}")
    held = sorted({r.device for r in rows if r.split == "holdout"})
    print(f"held out (never fitted): {', '.join(held)}")
    print("\nllama.cpp on the CPU")
    for key in (
        "cpu decode lomo",
        "cpu prefill lomo",
        "cpu decode lodo",
        "cpu prefill lodo",
        "cpu decode holdout",
        "cpu prefill holdout",
    ):
        print(line(key, doc, by_device=True))
        if key.endswith("holdout"):
            both = doc["device_medians"][f"{key.replace('holdout', 'lodo')} + holdout"]
            print(
                f"      every device left out, held-out phones included: median over {both['devices']} devices "
                f"{both['median_pct']:.1f} %"
            )
        if key.endswith(("lomo", "lodo", "holdout")):
            per = doc["device_medians"].get(key, {}).get("per_device_pct", {})
            print("      " + ", ".join(f"{d} {v:.0f} %" for d, v in per.items()))
    print(f"  not scored (kernel class or core tier no other SoC has): {scores.notes.get('cpu unscored') or 'none'}")
    skipped = ", ".join(f"{why} {n}" for why, n in sorted(doc["cpu"]["skipped"].items()))
    print(f"  not fitted (figures): {skipped}")
    print("\nGPU and NPU (per API; prefill is predicted only on SoCs with measured prefill)")
    for key in sorted(k for k in doc["scores"] if k.split()[0] not in ("cpu", "memory", "power", "energy")):
        print(line(key, doc, by_device=True))
    print("\nmemory (llama.cpp buffers: weights + KV cache + compute buffer)")
    for key in ("memory buffers (weights from the file)", "memory buffers (weights from params × type)"):
        print(line(key, doc, by_device=False))
    print("\npower and energy (CPU decoding)")
    print(line("power lodo", doc, by_device=True))
    print(line("energy lodo", doc, by_device=True))
    print(
        f"  power model: P = {doc['power']['p_base_w']:.2f} W + {doc['power']['p_core_w']:.4f} W × S "
        f"(from {doc['power']['rows']} rows on {len(doc['power']['socs'])} SoCs)"
    )
    found = disagreements(rows)
    same = "the same phone, model, type, threads and instruction set"
    print(f"\nsources that disagree by more than 15 % on {same}: {len(found)}")
    print("\n".join(found[:40]) + ("\n  …" if len(found) > 40 else ""))
    if args.plots:
        for path in plots(scores, args.plots):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
