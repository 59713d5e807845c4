"""Turning a dataset row, or a phone profile and a model, into a :class:`cpu_model.Case`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from profiler.model import kernels
from profiler.phone import builds, specs
from profiler.phone.cpu_model import Case, Core
from profiler.phone.dataset import Measurement
from profiler.phone.shape import Shape, kv_bytes_per_position, spec_shape

DEFAULT_GEN_TOKENS = 128  # llama-bench's tg128, for rows that do not say
MIB = 1024 * 1024


def expand(clusters: Sequence[specs.Cluster], core_types: dict[str, specs.CoreType]) -> tuple[Core, ...]:
    """One :class:`Core` per physical core; a cluster's own fields override its core type's."""
    out: list[Core] = []
    for cluster in clusters:
        known = core_types.get(cluster.core)
        pipes = cluster.simd_pipes_128 or (known.simd_pipes_128 if known else None)
        role = cluster.role or (known.role if known else None)
        if pipes is None or role is None:
            raise specs.SpecError(
                f"core type {cluster.core!r} has no known simd_pipes_128 and role: give them in the cluster"
            )
        if cluster.max_ghz is None:
            raise specs.SpecError(f"the {cluster.core} cluster has no clock (max_ghz)")
        if cluster.role is None and known is not None and role == "little" and known.out_of_order:
            role = "mid"  # the little-core factor is for in-order cores; an out-of-order efficiency core is not one
        features = cluster.features or (known.features if known else ())
        out += [Core(cluster.max_ghz, pipes, role, kernels.tier(features), cluster.core)] * cluster.count
    return tuple(out)


def default_threads(cores: Sequence[Core]) -> int:
    """Threads when a source does not say: every core that is not a little one (llama.cpp apps' usual choice)."""
    return max(1, sum(1 for c in cores if c.role != "little"))


def make_case(
    shape: Shape,
    klass: str,
    cores: tuple[Core, ...],
    bandwidth_gbs: float,
    *,
    threads: int | None,
    prompt_tokens: int,
    gen_tokens: int,
    kv_bytes_per_elem: float = 2.0,
    fallback: str | None = None,
) -> Case:
    """The case of decoding ``gen_tokens`` after a ``prompt_tokens`` prompt (or prefilling it)
    with the kernels of class ``klass``; the matrices llama.cpp stored in a fallback type run
    at class ``fallback`` (prefill; decode shares one class, as with repacking)."""
    # decode reads the KV cache written so far: the prompt plus half the generation on average
    kv = kv_bytes_per_position(shape, kv_bytes_per_elem) * (prompt_tokens + gen_tokens / 2)
    share = shape.misfit_share() if fallback else 0.0
    return Case(
        cores=cores,
        bandwidth_gbs=bandwidth_gbs,
        threads=threads or default_threads(cores),
        klass=klass,
        params_matmul=shape.params_matmul,
        bytes_per_token=shape.bytes_multiplied + kv,
        n_layers=shape.n_layers,
        attn_work=float(shape.n_layers * shape.attention_width * prompt_tokens),
        vocab=shape.vocab_size,
        fallback_klass=fallback or "",
        fallback_share=share,
    )


def row_shape(row: Measurement, models: dict[str, specs.ModelSpec]) -> Shape | None:
    spec = models.get(row.model_id)
    if spec is None or not (spec.params_b or row.params_b):
        return None
    if not spec.params_b:
        spec = specs.ModelSpec(**{**spec.__dict__, "params_b": row.params_b})
    bpw = kernels.NOMINAL_BPW.get(kernels.normalize(row.quant), 4.5)
    weights = row.weights_mib * MIB if row.weights_mib else None
    return spec_shape(spec, weights, bpw, row.quant if kernels.class_of(row.quant) else None)


def row_case(
    row: Measurement,
    *,
    models: dict[str, specs.ModelSpec],
    socs: dict[str, specs.Soc],
    core_types: dict[str, specs.CoreType],
    phase: str,
    klass: str | None = None,
    isa: str | None = None,
) -> Case | None:
    """The case of a llama.cpp CPU row for ``phase`` ('decode' or 'prefill'); None when a spec is missing.

    ``klass`` is the kernel class the row's build ran (:func:`profiler.phone.builds.row_class`),
    by default the one its quantization type has now; ``isa`` the highest ARM tier its build
    compiled in (:func:`profiler.phone.builds.isa_cap`), which caps every core's.
    """
    klass = klass or kernels.class_of(row.quant)
    soc = socs.get(row.soc_id)
    shape = row_shape(row, models)
    if soc is None or shape is None or soc.memory_bandwidth_gbs is None or klass is None:
        return None
    try:
        cores = expand(soc.clusters, core_types)
    except specs.SpecError:
        return None
    if isa is not None:
        cores = tuple(replace(c, tier=builds.capped_tier(c.tier, isa)) for c in cores)
    prompt = row.prompt_tokens or 512
    if phase == "decode":  # llama-bench-style decode runs start from an empty cache
        prompt, gen = 0, row.gen_tokens or DEFAULT_GEN_TOKENS
    else:
        gen = 0
    return make_case(
        shape,
        klass,
        cores,
        soc.memory_bandwidth_gbs,
        threads=row.threads,
        prompt_tokens=prompt,
        gen_tokens=gen,
        fallback=kernels.fallback_class(klass) if phase == "prefill" else None,
    )
