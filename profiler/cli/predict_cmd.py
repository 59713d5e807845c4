"""``pocketprof predict``: fit, speed and energy of a model on a phone, before loading anything."""

from __future__ import annotations

import argparse
import json
from typing import Any

from profiler.cli.table import rows_to_text
from profiler.errors import BadInput
from profiler.model.gguf_meta import ModelInfo, read_metadata
from profiler.model.hub import names
from profiler.model.hub.client import remote_metadata
from profiler.model.models import resolve
from profiler.phone import predict as predictor
from profiler.phone.profiles import BACKENDS, Profile, load_all, load_profile

HOW = (
    "predicted: a llama.cpp model per kernel class and core type, fitted to published phone "
    "measurements (docs/FIDELITY.md); ± is the median error on phones the fit never saw"
)


def register(commands: Any) -> None:
    p = commands.add_parser("predict", help="will this model fit, how fast, at what energy cost (no loading)")
    p.add_argument("--profile", help="a profile id or a path to a profile .toml")
    p.add_argument("--all-profiles", action="store_true", help="one row per phone profile")
    p.add_argument(
        "--model", help="a .gguf path, a built-in name or hf://OWNER/REPO[/FILE.gguf|:QUANT] (its header only is read)"
    )
    p.add_argument("--params-b", type=float, help="model size in billions of parameters (instead of --model)")
    p.add_argument("--quant", help="GGUF type of a size-only model: Q4_0, Q4_K_M, Q8_0, IQ2_M, F16 ...")
    p.add_argument("--bits-per-weight", type=float, help="bits per stored weight, if the type is unknown")
    p.add_argument("--threads", type=int, help="CPU threads (default: the profile's)")
    p.add_argument("--prompt-tokens", type=int, default=predictor.DEFAULT_PROMPT_TOKENS, help="prompt length")
    p.add_argument("--backend", choices=BACKENDS, help="cpu, gpu or npu (default: what the phone's apps use)")
    p.add_argument("--ctx", type=int, default=2048, help="context size in tokens (sizes the KV cache)")
    p.add_argument("--decode-tps", type=float, help="price energy at this decode speed instead of the predicted one")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=main)


def _model(args: argparse.Namespace) -> ModelInfo | None:
    if args.model is None:
        return None
    if names.is_ref(args.model):  # read its header over the network: nothing is downloaded
        return remote_metadata(args.model)
    return read_metadata(resolve(args.model))


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MB"


def _tps(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _pm(value: float | None, error: float | None) -> str:
    if value is None:
        return "not predicted"
    return f"{_tps(value)} tokens/s" + (f" ± {error:.0f} %" if error is not None else "")


def _measured(pred: predictor.Prediction) -> list[tuple[str, str]]:
    rows = []
    for m in pred.measured:
        prefill = f"prefill {_tps(m.prefill_tps)} (pp{m.prompt_tokens or '?'}), " if m.prefill_tps else ""
        what = f"{prefill}decode {_tps(m.decode_tps)} tokens/s"
        text = f"{what}, {m.threads or '?'} threads, on {m.device} ({m.runtime}); {m.source}"
        rows.append(("measured", f"{text}; {m.caveat}" if m.caveat else text))
    return rows


def single_text(pred: predictor.Prediction, profile: Profile) -> str:
    m, s, e, i = pred.memory, pred.speed, pred.energy, pred.inputs
    what = i["model"] or f"{i['params'] / 1e9:g}B parameters"
    bits = i["quant"] or (f"{i['bits_per_weight']:g} bits/weight" if i["bits_per_weight"] else "")
    shape = f"{i['n_layers']} layers, {i['n_kv_heads']} KV heads × {i['head_dim_k']}"
    shape += " (estimated from the size)" if i["architecture_estimated"] else ""
    rows = [
        ("model", f"{what} · {bits} · {shape}"),
        ("profile", f"{profile.name} ({profile.id})"),
        ("verdict", f"{m.verdict.upper()}: {_mb(m.total_mb)} of a {_mb(m.budget_mb)} budget (predicted footprint)"),
        ("  weights", _mb(m.weights_mb)),
        ("  KV cache", f"{_mb(m.kv_cache_mb)} (ctx {i['ctx']}, {i['kv_bytes_per_elem']:g} bytes/element)"),
        ("  runtime", _mb(m.overhead_mb)),
        (
            "  llama.cpp buffers",
            f"{_mb(m.buffers_mb)} (as its load log counts them: + {_mb(m.compute_buffer_mb)} compute)",
        ),
        ("backend", f"{s.backend} · {s.threads} threads · {s.kernel_class} kernels"),
        ("prefill", f"{_pm(s.prefill_tokens_per_s, s.prefill_error_pct)} (prompt of {i['prompt_tokens']})"),
        ("decode", _pm(s.decode_tokens_per_s, s.decode_error_pct)),
    ]
    if e is not None:
        priced = "given" if i["decode_tps_given"] else "predicted"
        err = f" ± {e.error_pct:.0f} %" if e.error_pct is not None else ""
        rows += [
            (
                "energy",
                f"{e.j_per_token:.3g} J/token{err} at {_tps(i['decode_tokens_per_s_used'])} tokens/s ({priced}), "
                f"{e.power_w:.1f} W",
            ),
            ("battery", f"{e.battery_pct_per_1k_tokens:.3g} % per 1,000 tokens; {e.hours_continuous:.2f} h continuous"),
        ]
    rows += _measured(pred)
    text = rows_to_text(rows)
    return text + "".join(f"\n  note: {n}" for n in pred.notes()) + f"\n  ({HOW})"


def table_text(preds: list[tuple[Profile, predictor.Prediction]]) -> str:
    head = (
        f"{'profile':18} {'verdict':7} {'total MB':>9} {'budget MB':>9} {'backend':>7} {'decode t/s':>12} "
        f"{'prefill t/s':>13} {'J/token':>8} {'%/1k tok':>8}"
    )
    lines = []
    if preds:
        i = preds[0][1].inputs
        what = i["model"] or f"{i['params'] / 1e9:g}B parameters"
        bits = f" · {i['quant'] or i['bits_per_weight']}" if (i["quant"] or i["bits_per_weight"]) else ""
        lines.append(f"{what}{bits} · ctx {i['ctx']} (predicted for each phone; the host profile is left out)")
    lines.append(head)
    for profile, p in preds:
        m, s, e = p.memory, p.speed, p.energy
        budget = "—" if m.budget_mb is None else f"{m.budget_mb:,.0f}"
        dec = _tps(s.decode_tokens_per_s) + (f"±{s.decode_error_pct:.0f}%" if s.decode_error_pct is not None else "")
        pre = _tps(s.prefill_tokens_per_s) + (f"±{s.prefill_error_pct:.0f}%" if s.prefill_error_pct is not None else "")
        jpt = f"{e.j_per_token:>8.3g}" if e else f"{'—':>8}"
        pct = f"{e.battery_pct_per_1k_tokens:>8.3g}" if e else f"{'—':>8}"
        head_cells = f"{profile.id:18} {m.verdict:7} {m.total_mb:>9,.0f} {budget:>9} {s.backend:>7}"
        lines.append(f"{head_cells} {dec:>12} {pre:>13} {jpt} {pct}")
    lines.append(f"({HOW})")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if args.all_profiles == (args.profile is not None):
        raise BadInput("give --profile ID or --all-profiles (one of them)")
    model = _model(args)
    options = {
        "model": model,
        "params_b": args.params_b,
        "bits_per_weight": args.bits_per_weight,
        "quant": args.quant,
        "ctx": args.ctx,
        "threads": args.threads,
        "prompt_tokens": args.prompt_tokens,
        "backend": args.backend,
        "decode_tps": args.decode_tps,
    }
    if args.all_profiles:
        phones = sorted((p for p in load_all() if not p.is_host), key=lambda p: (p.platform, p.id))
        preds = []
        for p in phones:
            phone_options = options | {"threads": min(args.threads, p.cores or args.threads) if args.threads else None}
            if args.backend and args.backend not in p.backends:
                phone_options["backend"] = None
            preds.append((p, predictor.predict(p, **phone_options)))
        if args.json:
            print(json.dumps([p.to_dict() for _, p in preds], indent=2))
        else:
            print(table_text(preds))
        return 0
    profile = load_profile(args.profile)
    pred = predictor.predict(profile, **options)
    print(json.dumps(pred.to_dict(), indent=2) if args.json else single_text(pred, profile))
    return 0
