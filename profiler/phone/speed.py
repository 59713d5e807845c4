"""Predicted prefill and decode speed of a model on a phone, with the error the fit measured.

The constants come from ``profiler/data/fit.json``, written by ``scripts/fit_phone_model.py``
from the measurement dataset (see docs/FIDELITY.md for how well they predict phones the fit
never saw). A prediction carries that measured error: the median and 90th-percentile
relative error of leave-one-SoC-out predictions for its kernel class, widened to the
90th percentile when the phone's core types are not in the dataset.
"""

from __future__ import annotations

from typing import Any

from profiler.errors import BadInput
from profiler.model import kernels
from profiler.phone import cases, specs
from profiler.phone.cpu_model import Constants, Core, constants_from_dict, predict_one
from profiler.phone.fitted import BORROW, SpeedEstimate, load_fit
from profiler.phone.shape import Shape


def phone_cores(clusters: Any, where: str) -> tuple[Core, ...]:
    """The profile's cores, by core type (profiles/measurements/cores.toml)."""
    as_specs = [
        specs.Cluster(c.count, c.core, c.max_ghz, tuple(c.features), c.simd_pipes_128, c.role) for c in clusters
    ]
    missing = [c.kind for c in clusters if not c.core]
    if missing:
        raise BadInput(f"{where}: cpu_clusters need a core type (core = 'cortex-x3' ...; see profiles/README.md)")
    try:
        return cases.expand(as_specs, specs.cores())
    except specs.SpecError as exc:
        raise BadInput(f"{where}: {exc}") from None


def class_for(quant: str | None, bits_per_weight: float | None) -> tuple[str, str]:
    """(kernel class, how it was chosen) for a file type, or the nearest type by bits per weight."""
    if quant:
        klass = kernels.class_of(quant)
        if klass is None:
            raise BadInput(f"quantization {quant!r} has no known llama.cpp kernel; give --quant with a GGUF type")
        return klass, kernels.normalize(quant)
    common = ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")
    bpw = bits_per_weight or 4.9
    nearest = min(common, key=lambda q: abs(kernels.NOMINAL_BPW[q] - bpw))
    return kernels.CLASSES[nearest], f"{nearest} (assumed from {bpw:g} bits per weight)"


def _errors(section: dict[str, Any], phase: str, klass: str) -> tuple[float | None, float | None, bool]:
    """(the error to state, the 90th percentile, whether the class has its own across-device score).

    A class never predicted for a phone left out of the fit states the 90th percentile of the
    rows that were, not their median.
    """
    table = section.get("errors", {}).get(phase, {})
    own = table.get("by_class", {}).get(klass)
    entry = own or table.get("all")
    if not entry:
        return None, None, False
    p90 = entry.get("p90_pct")
    return (entry.get("median_pct") if own else p90), p90, bool(own)


def _fallback(klass: str, shape: Shape, k: Constants, notes: list[str]) -> str | None:
    """The class the prefill of the file's misfit matrices runs at (a class the fit has), said in
    ``notes``; None when the file has none."""
    stored, wanted = kernels.fallback_type(klass), kernels.fallback_class(klass)
    share = shape.misfit_share() if wanted else 0.0
    if not (stored and wanted and share > 0):
        return None
    used = wanted if wanted in k.classes else BORROW.get(wanted, klass)
    how = (
        f"their prefill is predicted at {wanted}'s kernels"
        if used == wanted
        else f"no phone measured {wanted}'s kernels, speed borrowed from {used}"
    )
    notes.append(
        f"{share:.0%} of the weights are in matrices whose rows are not a multiple of "
        f"{kernels.BLOCK_256}, which llama.cpp stores as {stored}: {how}"
    )
    return used


def cpu_estimate(
    cores: tuple[Core, ...],
    bandwidth_gbs: float,
    shape: Shape,
    quant_label: str,
    klass: str,
    *,
    threads: int,
    prompt_tokens: int,
    gen_tokens: int,
    kv_bytes_per_elem: float = 2.0,
) -> SpeedEstimate:
    fit = load_fit()["cpu"]
    k = constants_from_dict(fit["constants"])
    notes = []
    used_class = klass
    if klass not in k.classes:
        used_class = BORROW.get(klass, "q4_k")
        notes.append(f"no phone measurement of {klass} kernels: speed borrowed from {used_class}")
    fallback = _fallback(klass, shape, k, notes)  # the file's own type decides, not a borrowed class
    decode_case, prefill_case = (
        cases.make_case(
            shape,
            used_class,
            cores,
            bandwidth_gbs,
            threads=threads,
            prompt_tokens=prompt_tokens,
            gen_tokens=gen,
            kv_bytes_per_elem=kv_bytes_per_elem,
            fallback=fallback if not gen else None,
        )
        for gen in (gen_tokens, 0)
    )
    prefill, _ = predict_one(prefill_case, k)
    _, decode = predict_one(decode_case, k)
    dec_med, dec_p90, dec_own = _errors(fit, "decode", used_class)
    pp_med, pp_p90, pp_own = _errors(fit, "prefill", used_class)
    for phase, own in (("decode", dec_own), ("prefill", pp_own)):
        if not own and used_class == klass:
            notes.append(
                f"{klass} {phase} was never predicted for a phone left out of the fit: "
                f"its ± is the 90th percentile of the {phase} rows that were"
            )
    seen = set(fit.get("tiers_seen", ()))
    unseen = sorted({c.tier for c in decode_case.used()} - seen)
    new_kinds = sorted({c.kind for c in decode_case.used()} - set(k.kinds))
    if unseen:
        notes.append(f"no measured phone has {', '.join(unseen)} cores")
    if new_kinds:
        notes.append(f"no measurement of {', '.join(new_kinds)} cores: their speed is their spec sheet's")
    if unseen or new_kinds or used_class != klass:
        notes.append("error widened to the 90th percentile")
        dec_med, pp_med = dec_p90, pp_p90
    return SpeedEstimate(
        prefill_tokens_per_s=prefill,
        decode_tokens_per_s=decode,
        backend="cpu",
        threads=threads,
        kernel_class=klass,
        decode_error_pct=dec_med,
        prefill_error_pct=pp_med,
        decode_error_p90_pct=dec_p90,
        prefill_error_p90_pct=pp_p90,
        basis=f"llama.cpp CPU model fitted to {fit.get('rows', '?')} phone measurements ({quant_label})",
        note="; ".join(notes),
    )


def estimate(
    profile: Any,
    shape: Shape,
    quant: str | None,
    *,
    bits_per_weight: float | None,
    backend: str | None,
    threads: int,
    prompt_tokens: int,
    gen_tokens: int,
    kv_bytes_per_elem: float = 2.0,
) -> SpeedEstimate:
    """The phone's speed on ``backend`` (None: the one its apps use by default).

    A GPU or NPU is predicted only where the dataset measured that backend on that SoC;
    asked for explicitly elsewhere, the estimate has no speed and says why; as the phone's
    default, the CPU estimate is shown instead and says so.
    """
    from profiler.phone import accel

    chosen = backend or profile.default_backend
    if chosen not in profile.backends:
        raise BadInput(f"{profile.name} has no {chosen} backend here (it has: {', '.join(profile.backends)})")
    klass, label = class_for(quant, bits_per_weight)
    if profile.memory_bandwidth_gbs is None:
        raise BadInput(f"profile '{profile.id}' lacks memory_bandwidth_gbs")
    cores = phone_cores(profile.cpu_clusters, profile.path)
    cpu = cpu_estimate(
        cores,
        profile.memory_bandwidth_gbs,
        shape,
        label,
        klass,
        threads=threads,
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
        kv_bytes_per_elem=kv_bytes_per_elem,
    )
    if chosen == "cpu":
        return cpu
    found = accel.estimate(profile, shape, klass, chosen, cpu, prompt_tokens=prompt_tokens, gen_tokens=gen_tokens)
    if found is not None:
        return found
    why = f"no {chosen} measurement of {profile.soc_id or profile.soc} in the dataset to predict it from"
    if backend is None:  # the phone's default: fall back to the CPU, and say so
        return SpeedEstimate(
            **{
                **cpu.__dict__,
                "note": "; ".join(
                    filter(
                        None, [f"apps default to the {chosen} here, but {why}: llama.cpp's CPU path is shown", cpu.note]
                    )
                ),
            }
        )
    return SpeedEstimate(
        None, None, backend=chosen, threads=threads, kernel_class=klass, basis="not predicted", note=why
    )
