"""``pocketprof predict``: fit, speed and energy of a model on a phone, before loading anything."""

from __future__ import annotations

import argparse
import json
from typing import Any

from profiler import predict as predictor
from profiler.cli.table import rows_to_text
from profiler.errors import BadInput
from profiler.gguf_meta import ModelInfo, read_metadata
from profiler.models import resolve
from profiler.profiles import Profile, load_all, load_profile


def register(commands: Any) -> None:
    p = commands.add_parser("predict", help="will this model fit, how fast, at what energy cost (no loading)")
    p.add_argument("--profile", help="a profile id or a path to a profile .toml")
    p.add_argument("--all-profiles", action="store_true", help="one row per phone profile")
    p.add_argument("--model", help="a .gguf path or a built-in name (its metadata is read, not its weights)")
    p.add_argument("--params-b", type=float, help="model size in billions of parameters (instead of --model)")
    p.add_argument("--bits-per-weight", type=float, help="bits per stored weight: 16 f16, 8 Q8_0, ~4.5 Q4_K_M")
    p.add_argument("--ctx", type=int, default=2048, help="context size in tokens (sizes the KV cache)")
    p.add_argument("--decode-tps", type=float, help="price energy at this decode speed instead of the predicted one")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=main)


def _model(args: argparse.Namespace) -> ModelInfo | None:
    return None if args.model is None else read_metadata(resolve(args.model))


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MB"


def _tps(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def single_text(pred: predictor.Prediction, profile: Profile) -> str:
    m, s, e, i = pred.memory, pred.speed, pred.energy, pred.inputs
    what = i["model"] or f"{i['params'] / 1e9:g}B parameters"
    bits = f"{i['bits_per_weight']:g} bits/weight" if i["bits_per_weight"] else ""
    shape = f"{i['n_layers']} layers, {i['n_kv_heads']} KV heads × {i['head_dim_k']}"
    shape += " (estimated from the size)" if i["architecture_estimated"] else ""
    priced = "given" if i["decode_tps_given"] else "predicted"
    rows = [
        ("model", f"{what} · {bits} · {shape}"),
        ("profile", f"{profile.name} ({profile.id})"),
        ("verdict", f"{m.verdict.upper()}: {_mb(m.total_mb)} of a {_mb(m.budget_mb)} budget"),
        ("  weights", _mb(m.weights_mb)),
        ("  KV cache", f"{_mb(m.kv_cache_mb)} (ctx {i['ctx']}, {i['kv_bytes_per_elem']:g} bytes/element)"),
        ("  runtime", _mb(m.overhead_mb)),
        ("prefill", f"{_tps(s.prefill_tokens_per_s)} tokens/s (compute-bound)"),
        ("decode", f"{_tps(s.decode_tokens_per_s)} tokens/s (bandwidth-bound)"),
        ("energy", f"{e.j_per_token:.3g} J/token at {_tps(i['decode_tokens_per_s_used'])} tokens/s ({priced})"),
        ("battery", f"{e.battery_pct_per_1k_tokens:.3g} % per 1,000 tokens; {e.hours_continuous:.2f} h continuous"),
    ]
    return rows_to_text(rows) + "\n  (estimates for the phone from profiler.predict and profiler.energy)"


def table_text(preds: list[tuple[Profile, predictor.Prediction]]) -> str:
    head = (
        f"{'profile':18} {'verdict':7} {'total MB':>9} {'budget MB':>9} {'decode t/s':>10} "
        f"{'prefill t/s':>11} {'J/token':>8} {'%/1k tok':>8}"
    )
    lines = []
    if preds:
        i = preds[0][1].inputs
        what = i["model"] or f"{i['params'] / 1e9:g}B parameters"
        bits = f" · {i['bits_per_weight']:g} bits/weight" if i["bits_per_weight"] else ""
        lines.append(f"{what}{bits} · ctx {i['ctx']} (phone estimates; the host profile is left out)")
    lines.append(head)
    for profile, p in preds:
        m, s, e = p.memory, p.speed, p.energy
        budget = "—" if m.budget_mb is None else f"{m.budget_mb:,.0f}"
        lines.append(
            f"{profile.id:18} {m.verdict:7} {m.total_mb:>9,.0f} {budget:>9} {_tps(s.decode_tokens_per_s):>10} "
            f"{_tps(s.prefill_tokens_per_s):>11} {e.j_per_token:>8.3g} {e.battery_pct_per_1k_tokens:>8.3g}"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if args.all_profiles == (args.profile is not None):
        raise BadInput("give --profile ID or --all-profiles (one of them)")
    model = _model(args)
    options = {
        "model": model,
        "params_b": args.params_b,
        "bits_per_weight": args.bits_per_weight,
        "ctx": args.ctx,
        "decode_tps": args.decode_tps,
    }
    if args.all_profiles:
        phones = sorted((p for p in load_all() if not p.is_host), key=lambda p: (p.platform, p.id))
        preds = [(p, predictor.predict(p, **options)) for p in phones]
        if args.json:
            print(json.dumps([p.to_dict() for _, p in preds], indent=2))
        else:
            print(table_text(preds))
        return 0
    profile = load_profile(args.profile)
    pred = predictor.predict(profile, **options)
    print(json.dumps(pred.to_dict(), indent=2) if args.json else single_text(pred, profile))
    return 0
