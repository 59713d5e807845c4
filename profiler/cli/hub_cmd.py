"""``pocketprof hub search QUERY`` and ``pocketprof hub REPO``: will it fit, before downloading anything."""

from __future__ import annotations

import argparse
import json
from typing import Any

from profiler.errors import BadInput
from profiler.model.hub import names
from profiler.model.hub.client import Hub
from profiler.phone import advice as adv
from profiler.phone.profiles import DEFAULT_PROFILE, Profile, load_profile


def register(commands: Any) -> None:
    p = commands.add_parser(
        "hub",
        help="Hugging Face: `hub search QUERY` finds GGUF models; `hub OWNER/REPO` predicts each file on a phone",
    )
    p.add_argument("what", nargs="+", help="'search QUERY…' or a repository OWNER/REPO (or hf://OWNER/REPO)")
    p.add_argument("--profile", default=DEFAULT_PROFILE, help="the phone to predict for (default %(default)s)")
    p.add_argument("--ctx", type=int, default=2048, help="context size the prediction assumes")
    p.add_argument("--limit", type=int, default=10, help="search: how many repositories")
    p.add_argument("--sort", choices=("downloads", "recent", "trending"), default="downloads", help="search order")
    p.add_argument("--min-params-b", type=float, help="search: smallest model, billions of parameters")
    p.add_argument("--max-params-b", type=float, help="search: largest model, billions of parameters")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=main)


def _tps(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _row(a: adv.FileAdvice, best: adv.FileAdvice | None) -> str:
    mark = "*" if best is not None and a is best else " "
    name = a.file.name + (f" (+{len(a.file.shards) - 1} shards)" if len(a.file.shards) > 1 else "")
    if a.prediction is None:
        return f"{mark} {name[:46]:46} {a.file.quant or '?':7} {a.file.size_mb:9,.0f}  unreadable: {a.error}"
    m, s, e = a.prediction.memory, a.prediction.speed, a.prediction.energy
    jpt = f"{e.j_per_token:.3f}" if e else "—"
    decode = _tps(s.decode_tokens_per_s) + ("" if s.backend == "cpu" else f" {s.backend}")
    return (
        f"{mark} {name[:46]:46} {a.file.quant or '?':7} {a.file.size_mb:9,.0f} {m.total_mb:11,.0f} {m.verdict:7} "
        f"{decode:>9} {_tps(s.prefill_tokens_per_s):>10} {jpt:>8}"
    )


def repo_text(a: adv.RepoAdvice, profile: Profile, ctx: int) -> str:
    lines = [
        f"hf://{a.repo} on {profile.name} ({profile.id}), ctx {ctx}: predicted from headers read remotely "
        "(nothing downloaded)",
        f"  {'file':46} {'type':7} {'size MB':>9} {'footprint':>11} {'verdict':7} {'decode/s':>9} {'prefill/s':>10} "
        f"{'J/token':>8}",
    ]
    lines += [_row(f, a.best) for f in a.files]
    if a.best is not None:
        lines.append(f"* best fit here: {a.best.file.name} (the most precise type that fits the budget)")
        lines.append(f"  run it: pocketprof run --profile {profile.id} --model hf://{a.repo}/{a.best.file.name}")
    elif any(f.prediction for f in a.files):
        lines.append("  none fits this phone's memory budget")
    elif a.files:
        lines.append("  no file's header could be read (see above)")
    return "\n".join(lines)


def search_row(a: adv.RepoAdvice) -> str:
    hit = a.hit
    downloads = f"{hit.downloads:,}" if hit else "?"
    info = a.files[0].info if a.files and a.files[0].info else None
    params = f"{info.parameters / 1e9:.2f}B" if info else (f"{hit.params / 1e9:.2f}B" if hit and hit.params else "?")
    if a.error:
        best = f"— ({a.error})"
    elif a.best is None:
        best = "nothing fits"
    else:
        s = a.best.prediction.speed if a.best.prediction else None
        best = f"{a.best.file.quant or a.best.file.name} · {a.best.file.size_mb:,.0f} MB · fits · " + (
            f"~{s.decode_tokens_per_s:,.0f} tok/s" if s and s.decode_tokens_per_s else "speed not predicted"
        )
    return f"{a.repo[:48]:48} {downloads:>12} {params:>7}  {best}"


def _json(a: adv.RepoAdvice) -> dict[str, Any]:
    return {
        "repo": a.repo,
        "error": a.error or None,
        "downloads": a.hit.downloads if a.hit else None,
        "best": a.best.file.name if a.best else None,
        "files": [
            {
                "name": f.file.name,
                "shards": list(f.file.shards),
                "size": f.file.size,
                "quant": f.file.quant,
                "header_read": not f.from_listing,
                "error": f.error or None,
                "prediction": f.prediction.to_dict() if f.prediction else None,
            }
            for f in a.files
        ],
    }


def main(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    if profile.is_host:
        raise BadInput("pick a phone profile (--profile): the host has no budget to fit")
    hub = Hub()
    if args.what[0] == "search":
        query = " ".join(args.what[1:]).strip()
        if not query:
            raise BadInput("hub search needs words to look for, e.g. `pocketprof hub search qwen 1.5b`")
        if not args.json:
            print(f"{'repository':48} {'downloads':>12} {'params':>7}  best fit on {profile.name}")
        found = adv.search_advice(
            hub,
            query,
            profile,
            limit=args.limit,
            sort=args.sort,
            min_params_b=args.min_params_b,
            max_params_b=args.max_params_b,
            ctx=args.ctx,
            on_repo=None if args.json else (lambda a: print(search_row(a), flush=True)),
        )
        if args.json:
            print(json.dumps([_json(a) for a in found], indent=2, default=str))
        elif not found:
            print("no GGUF repository matches")
        return 0
    if len(args.what) != 1:
        raise BadInput("give one repository (OWNER/REPO), or `search QUERY`")
    ref = names.parse_ref(args.what[0])
    advice = adv.repo_advice(hub, ref.repo, profile, ctx=args.ctx)
    print(json.dumps(_json(advice), indent=2, default=str) if args.json else repo_text(advice, profile, args.ctx))
    return 0
