"""The quantization ladder: one model at many precisions, profiled, predicted and scored for quality.

For each quantization (most precise first): quantize from the source (cached by content),
profile it under the phone profile with the weights read into memory (``mmap`` off, so the
footprint counts them, as the phone's budget does), predict it, then score every member
against the most precise one (:mod:`profiler.model.quality`). ``DIR/ladder.json`` is rewritten
after each member, so an interrupted ladder keeps what it finished, and a rerun with the
same source and settings picks up from there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from profiler.errors import BadInput, ProfilerError
from profiler.model import gguf_meta, models, quality, quantize
from profiler.phone import predict
from profiler.phone.profiles import load_profile
from profiler.record import write_atomic, write_json
from profiler.report import history
from profiler.run.config import RunConfig
from profiler.run.session import Session

SCHEMA = "pocketprof-ladder/1"
Report = Callable[[str, str, float], None]  # (stage, quant, fraction)


@dataclass(frozen=True, kw_only=True)
class LadderConfig:
    model: str
    profile: str
    quants: tuple[str, ...]
    out: Path
    prompt: str = "Why is memory the wall for phone LLMs?"
    max_tokens: int = 64
    ctx: int = 2048
    quality_tokens: int = 512

    def settings(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "prompt": self.prompt,
            "max_tokens": self.max_tokens,
            "ctx": self.ctx,
            "quality_tokens": self.quality_tokens,
        }


@dataclass
class Ladder:
    config: LadderConfig
    on_progress: Report = field(default=lambda stage, quant, fraction: None)
    stopped: bool = False
    session: Session | None = None
    cache_hits: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.stopped = True
        if self.session is not None:
            self.session.stop()

    # -- the steps -------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        c = self.config
        source = models.resolve(c.model)
        info = gguf_meta.read_metadata(source)
        profile = load_profile(c.profile)
        if c.quality_tokens < 16:
            raise BadInput(f"--quality-tokens must be at least 16, got {c.quality_tokens}")
        source_hash = quantize.file_hash(source)
        result = self._resume(source_hash) or {
            "schema": SCHEMA,
            "source": {
                "path": str(source),
                "quantization": info.quantization,
                "sha256": source_hash,
                "parameters": info.parameters,
            },
            "requantized": info.quantization not in quantize.HIGH_PRECISION,
            "profile": profile.to_dict(),
            "settings": c.settings(),
            "entries": [],
        }
        result["complete"] = False
        done = {e["quant"] for e in result["entries"]}
        members: dict[str, Path] = {}
        for quant in c.quants:
            if self.stopped:
                break
            self.on_progress("quantizing", quant, 0.0)
            try:
                path, hit = quantize.quantize(
                    source,
                    quant,
                    source_hash=source_hash,
                    params=info.parameters,
                    on_progress=lambda f, q=quant: self.on_progress("quantizing", q, f),
                    should_stop=lambda: self.stopped,
                )
            except InterruptedError:
                break  # Stop while quantizing: the members done are kept
            except ProfilerError:
                if self.stopped:
                    break
                raise
            if hit:
                self.cache_hits.append(quant)
            members[quant] = path
            if quant in done:
                continue
            entry = self._profile(quant, path, profile)
            if entry is None:
                break
            result["entries"].append(entry)
            self._write(result)
        if not self.stopped and len(members) == len(c.quants):
            self._quality(result, members)
            result["complete"] = not self.stopped
        result["entries"].sort(key=lambda e: c.quants.index(e["quant"]))
        result["best_fitting_quant"] = best_fitting(result["entries"])
        self._write(result)
        return result

    def _resume(self, source_hash: str) -> dict[str, Any] | None:
        try:
            old = json.loads((self.config.out / "ladder.json").read_text())
        except (OSError, ValueError):
            return None
        same = old.get("schema") == SCHEMA and old.get("source", {}).get("sha256") == source_hash
        if not same or old.get("settings") != self.config.settings():
            return None
        keep = [e for e in old.get("entries", []) if e["quant"] in self.config.quants and e.get("status") != "error"]
        old["entries"] = keep
        return dict(old)

    def _profile(self, quant: str, path: Path, profile: Any) -> dict[str, Any] | None:
        c = self.config
        self.on_progress("profiling", quant, 0.0)
        config = RunConfig(
            model=str(path),
            profile=c.profile,
            prompt=c.prompt,
            max_tokens=c.max_tokens,
            ctx=c.ctx,
            mmap=False,
            ignore_eos=True,
        )
        self.session = Session(config)
        if self.stopped:  # Stop came while the session was being built
            self.session = None
            return None
        record = self.session.run()
        self.session = None
        if record.status == "stopped" and self.stopped:
            return None
        write_json(record, c.out / "runs" / f"{quant}.json")
        history.keep(record)  # the report in the ladder's folder is what counts; no history is no loss
        meta = gguf_meta.read_metadata(path)
        prediction = None if profile.is_host else predict.predict(profile, model=meta, ctx=c.ctx)
        s, energy = record.summary, record.energy or {}
        self.on_progress("profiling", quant, 1.0)
        return {
            "quant": quant,
            "path": str(path),
            "file_size_mb": round(meta.file_size_bytes / 2**20, 2),
            "weights_mb": round(meta.tensor_bytes / 2**20, 2),
            "bits_per_weight": meta.bits_per_weight,
            "status": record.status,
            "fits": record.status in ("completed", "stopped"),  # a run that failed did not show it fits
            "peak_footprint_mb": s.peak_footprint_mb,
            "decode_tokens_per_s": s.decode_tokens_per_s,
            "prefill_tokens_per_s": s.prefill_tokens_per_s,
            "j_per_token": energy.get("j_per_token"),
            "battery_pct_per_1k_tokens": energy.get("battery_pct_per_1k_tokens"),
            "predicted": asdict(prediction.memory) | asdict(prediction.speed) if prediction else None,
            "run_id": record.run_id,
            "perplexity": None,
            "kl_divergence": None,
            "top1_agreement": None,
        }

    def _quality(self, result: dict[str, Any], members: dict[str, Path]) -> None:
        reference = self.config.quants[0]
        self.on_progress("scoring quality", reference, 0.0)
        hashes = {p: quantize.file_hash(p) for p in members.values()}
        try:
            scores = quality.compare_to_reference(
                members[reference],
                list(members.values()),
                self.config.quality_tokens,
                hashes=hashes,
                should_stop=lambda: self.stopped,
            )
        except InterruptedError:
            return
        except ProfilerError as exc:
            result["quality_error"] = str(exc)
            return
        for entry in result["entries"]:
            entry.update({k: v for k, v in scores[members[entry["quant"]]].items() if k != "tokens"})
        result["quality"] = {
            "reference": reference,
            "text": "profiler/data/declaration.txt",
            "tokens": self.config.quality_tokens,
        }
        self.on_progress("scoring quality", reference, 1.0)

    def _write(self, result: dict[str, Any]) -> None:
        write_atomic(self.config.out / "ladder.json", json.dumps(result, indent=1) + "\n")


def best_fitting(entries: list[dict[str, Any]]) -> str | None:
    """The most faithful quantization that was not killed (lowest KL; else the most bits)."""
    fits = [e for e in entries if e.get("fits")]
    if not fits:
        return None
    scored = [e for e in fits if e.get("kl_divergence") is not None]
    if scored:
        return str(min(scored, key=lambda e: (e["kl_divergence"], e["file_size_mb"]))["quant"])
    return str(max(fits, key=lambda e: e["weights_mb"])["quant"])
