"""Quantization types and the kernel classes that run them.

llama.cpp multiplies each quantization type with its own kernel, and on ARM some
types are repacked at load into interleaved int8 layouts (Q4_0, IQ4_NL, and since
builds of late 2025 to early 2026 Q4_K, Q5_K, Q6_K and Q8_0: the ``CPU_REPACK``
buffer in the load log) that the ``i8mm`` and ``dotprod`` instructions run much
faster than the other K-quant and I-quant kernels. So speed follows the kernel
class, not the bits per weight: on a Galaxy S23 a Q8_0 model decodes faster per
parameter than its Q5_K_M (profiles/measurements/pocketpal.csv).

A class groups the file types that share a kernel. ``NOMINAL_BPW`` is the bits per
weight of a whole file of that type, for a size-only prediction (``--quant``):
llama.cpp's tools/quantize/README.md measured them on Llama-3.1-8B; types missing
there use the block size of their main tensor type (gguf's GGML_QUANT_SIZES:
Q4_0 18 bytes per 32 weights = 4.5 bits, and so on).
"""

from __future__ import annotations

from profiler.errors import BadInput

CLASSES: dict[str, str] = {
    "Q4_0": "q4_0",
    "Q4_0_4_4": "q4_0",
    "Q4_0_4_8": "q4_0",
    "Q4_0_8_8": "q4_0",
    "IQ4_NL": "q4_0",
    "Q8_0": "q8_0",
    "Q4_1": "q4_1",
    "Q5_0": "q5_0",
    "Q5_1": "q5_0",
    "Q2_K": "q2_k",
    "Q2_K_S": "q2_k",
    "Q3_K_S": "q3_k",
    "Q3_K_M": "q3_k",
    "Q3_K_L": "q3_k",
    "Q4_K_S": "q4_k",
    "Q4_K_M": "q4_k",
    "Q5_K_S": "q5_k",
    "Q5_K_M": "q5_k",
    "Q6_K": "q6_k",
    "IQ1_S": "iq1",
    "IQ1_M": "iq1",
    "IQ2_XXS": "iq2",
    "IQ2_XS": "iq2",
    "IQ2_S": "iq2",
    "IQ2_M": "iq2",
    "IQ3_XXS": "iq3",
    "IQ3_XS": "iq3",
    "IQ3_S": "iq3",
    "IQ3_M": "iq3",
    "IQ4_XS": "iq4_xs",
    "TQ1_0": "tq",
    "TQ2_0": "tq",
    "F16": "f16",
    "BF16": "f16",
    "ALL_F32": "f32",
    "F32": "f32",
}

# Whole-file bits per weight (llama.cpp tools/quantize/README.md, Llama-3.1-8B table),
# else the main tensor type's block size (gguf GGML_QUANT_SIZES).
NOMINAL_BPW: dict[str, float] = {
    "IQ1_S": 2.0042,
    "IQ1_M": 2.1460,
    "IQ2_XXS": 2.3824,
    "IQ2_XS": 2.5882,
    "IQ2_S": 2.7403,
    "IQ2_M": 2.9294,
    "IQ3_XXS": 3.2548,
    "IQ3_XS": 3.4977,
    "IQ3_S": 3.6606,
    "IQ3_M": 3.7628,
    "IQ4_XS": 4.4597,
    "IQ4_NL": 4.6818,
    "Q2_K_S": 2.9697,
    "Q2_K": 3.1593,
    "Q3_K_S": 3.6429,
    "Q3_K_M": 3.9960,
    "Q3_K_L": 4.2979,
    "Q4_K_S": 4.6672,
    "Q4_K_M": 4.8944,
    "Q5_K_S": 5.5704,
    "Q5_K_M": 5.7036,
    "Q6_K": 6.5633,
    "Q8_0": 8.5008,
    "F16": 16.0005,
    "BF16": 16.0005,
    "F32": 32.0,
    "ALL_F32": 32.0,
    "Q4_0": 4.5,
    "Q4_0_4_4": 4.5,
    "Q4_0_4_8": 4.5,
    "Q4_0_8_8": 4.5,
    "Q4_1": 5.0,
    "Q5_0": 5.5,
    "Q5_1": 6.0,
    "TQ1_0": 1.6875,
    "TQ2_0": 2.0625,
}

# Kernel classes that llama.cpp repacks into int8 layouts on ARM (``CPU_REPACK``). Q4_0 and
# IQ4_NL since late 2024; the K-quants and Q8_0 only since builds of late 2025 to early 2026
# (``REPACKED_LATE``; profiles/measurements/kernels.toml). A measurement of an older build
# runs their plain kernels: its class is ``<class>-plain`` (profiler/phone/builds.py).
REPACKED_LATE = frozenset({"q4_k", "q5_k", "q6_k", "q8_0"})
REPACKED = frozenset({"q4_0"}) | REPACKED_LATE
PLAIN = "-plain"

# llama.cpp's quantizer cannot store a 256-weight-block type in a tensor whose rows are not a
# multiple of 256 long: it stores that tensor in a 32-block type instead (src/llama-quant.cpp,
# ``tensor_type_fallback``), and those tensors run that type's kernel. A Q4_K_M file of Gemma 3
# 1B (width 1152) is two thirds Q5_0, which llama.cpp never repacks: its prefill on a Galaxy
# S23 is 62.5 tokens/s where its Q6_K file, whose fallback is the repacked Q8_0, makes 135.7
# (profiles/measurements/pocketpal.csv). Keyed by kernel class, the types as that function names them.
BLOCK_256 = 256
FALLBACK = {
    "q2_k": "Q4_0",
    "q3_k": "Q4_0",
    "tq": "Q4_0",
    "q4_k": "Q5_0",
    "q5_k": "Q5_1",
    "q6_k": "Q8_0",
    "iq1": "IQ4_NL",
    "iq2": "IQ4_NL",
    "iq3": "IQ4_NL",
    "iq4_xs": "IQ4_NL",
}


def fallback_type(klass: str) -> str | None:
    """The GGUF type llama.cpp stores a 256-block class's misfit tensors in (None: no fallback)."""
    return FALLBACK.get(klass.removesuffix(PLAIN))


def fallback_class(klass: str) -> str | None:
    """The kernel class those tensors run, following the build (``-plain`` stays plain)."""
    stored = fallback_type(klass)
    other = class_of(stored) if stored else None
    if other is None:
        return None
    return other + PLAIN if klass.endswith(PLAIN) and other in REPACKED_LATE else other


def normalize(quant: str) -> str:
    """``q4_k_m`` / ``MOSTLY_Q4_K_M`` / ``Q4_K_M`` → ``Q4_K_M``."""
    return quant.strip().upper().removeprefix("MOSTLY_")


def class_of(quant: str) -> str | None:
    """The kernel class of a GGUF file type, or None for a type llama.cpp does not run as one."""
    return CLASSES.get(normalize(quant))


def nominal_bpw(quant: str) -> float:
    name = normalize(quant)
    if name not in NOMINAL_BPW:
        known = ", ".join(sorted(n for n in NOMINAL_BPW if "_0_" not in n and n != "ALL_F32"))
        raise BadInput(f"--quant {quant!r} is not a GGUF type name (known: {known})")
    return NOMINAL_BPW[name]


# llama.cpp's quantizer stores the output matrix (the tied token table when there is no
# output.weight) as Q6_K, as Q8_0 for Q8_0 files, as Q5_K for the 1- to 2-bit I-quants
# (src/llama-quant.cpp, the output/TOKEN_EMBD branch); float files keep it as they are.
_OUTPUT_Q5_K = frozenset({"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS"})


def output_bpw(quant: str) -> float:
    """Bits per weight llama.cpp's quantizer gives a file's output matrix."""
    name = normalize(quant)
    if name in ("Q8_0", "F16", "BF16", "F32", "ALL_F32"):
        return NOMINAL_BPW[name]
    return 5.5 if name in _OUTPUT_Q5_K else 6.5625


def file_bytes(params: float, quant: str, output_params: float) -> float:
    """Weight bytes of a ``quant`` file: the output matrix at its own type, the rest at the type's bits."""
    body = max(params - output_params, 0.0)
    return (body * nominal_bpw(quant) + output_params * output_bpw(quant)) / 8


def tier(features: tuple[str, ...] | frozenset[str]) -> str:
    """The instruction tier a core runs llama.cpp's int8 kernels with."""
    f = set(features)
    if "i8mm" in f:
        return "i8mm"
    if "dotprod" in f:
        return "dotprod"
    if "avx512" in f or "avx512_vnni" in f:
        return "avx512"
    if "avx2" in f:
        return "avx2"
    return "neon"
