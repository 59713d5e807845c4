"""Fit the phone model to the measurement dataset and write profiler/data/fit.json.

    python scripts/fit_phone_model.py        (or: make fit)

The predictor reads only that file at run time; this script is how it is made, from
profiles/measurements/ alone (profiler.phone.fidelity says what is fitted and scored).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiler.errors import BadInput  # noqa: E402
from profiler.phone import fidelity  # noqa: E402

OUT = ROOT / "profiler" / "data" / "fit.json"


def main() -> int:
    try:
        doc, _ = fidelity.build()
    except BadInput as exc:  # a bad row or spec sheet: one line naming the file and field, nothing written
        print(f"fit_phone_model: {exc}", file=sys.stderr)
        return 2
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    cpu = doc["cpu"]["errors"]
    print(f"wrote {OUT.relative_to(ROOT)} from {doc['dataset_rows']} rows (dataset {doc['dataset_sha256_16']})")
    for phase in ("decode", "prefill"):
        print(f"  CPU {phase}, leave one SoC out: median error {cpu[phase]['all'].get('median_pct')} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
