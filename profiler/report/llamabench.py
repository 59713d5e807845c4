"""Run reports as llama-bench output (``llama-bench -o json`` / ``-o csv``), to sit beside real llama-bench results.

Source followed: ``tools/llama-bench/llama-bench.cpp`` of the llama.cpp that ships inside the
llama-cpp-python 0.3.36 source release (``vendor/llama.cpp``, ggml_commit() "0c1e570"), which is the
llama.cpp pocketprof runs. Its field list has ``load_mode``/``lazy_mode`` in place of ``use_mmap``,
``repack``, ``fit_target`` and ``fit_min_ctx``, and ``flash_attn`` as an integer (-1 auto, 0 off, 1 on).
Readers look fields up by name; older llama-bench versions have fewer of them.

One report gives at most two tests, as llama-bench would print them:

* pp (n_prompt = prompt tokens, n_gen = 0) at ``summary.prefill_tokens_per_s`` (prompt tokens / time to first token);
* tg (n_prompt = 0) at ``summary.decode_tokens_per_s``. That figure is (generated - 1) / (last token time - first
  token time): the first token comes out of prefill. So n_gen = generated - 1, which keeps llama-bench's
  identity avg_ts = 1e9 * (n_prompt + n_gen) / avg_ns.

A run is one repetition, so each test has a single sample: samples_ns is that repetition's whole test time, and both
stddevs are 0. A test whose figure is None (a run killed or failed before it) is left out. Settings a report records
(batch, ubatch, flash attention, mmap, threads) come from it; a report written before pocketprof recorded them
gets what its child used then (n_batch = n_ubatch = min(ctx, 512), flash attention off); the rest are
llama-bench's defaults (cpu_mask 0x0, poll 50, f16 KV cache, ...). model_type follows llama_model_desc,
"<arch> <size> <ftype>", but the size label comes from the parameter count (llama.cpp picks it per architecture from
the layer count), so it can differ: "llama 135M Q4_1" here where llama.cpp may print another label.
Each JSON object also has a "pocketprof" key (run_id, profile, status). JSON readers take objects by key and the key
set already changes between llama-bench versions, so an extra key is harmless; pass ``pocketprof=False`` to leave it
out. CSV rows carry llama-bench's columns and nothing else.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from profiler.record import write_atomic

FIELDS: tuple[str, ...] = (  # test::get_fields(), in order
    "build_commit",
    "build_number",
    "cpu_info",
    "gpu_info",
    "backends",
    "model_filename",
    "model_type",
    "model_size",
    "model_n_params",
    "n_batch",
    "n_ubatch",
    "n_threads",
    "cpu_mask",
    "cpu_strict",
    "poll",
    "type_k",
    "type_v",
    "n_gpu_layers",
    "n_cpu_moe",
    "split_mode",
    "main_gpu",
    "no_kv_offload",
    "flash_attn",
    "devices",
    "tensor_split",
    "tensor_buft_overrides",
    "load_mode",
    "lazy_mode",
    "embeddings",
    "no_op_offload",
    "no_host",
    "repack",
    "fit_target",
    "fit_min_ctx",
    "n_prompt",
    "n_gen",
    "n_depth",
    "test_time",
    "avg_ns",
    "stddev_ns",
    "avg_ts",
    "stddev_ts",
)
# test::get_field_type(): BOOL prints as true/false in JSON; no_op_offload and flash_attn are INT there.
BOOL_FIELDS = frozenset({"cpu_strict", "no_kv_offload", "embeddings", "no_host", "repack"})
FLOAT_FIELDS = frozenset({"avg_ts", "stddev_ts"})
INT_FIELDS = frozenset(
    {
        "build_number",
        "model_size",
        "model_n_params",
        "n_batch",
        "n_ubatch",
        "n_threads",
        "poll",
        "n_gpu_layers",
        "n_cpu_moe",
        "main_gpu",
        "flash_attn",
        "no_op_offload",
        "fit_target",
        "fit_min_ctx",
        "n_prompt",
        "n_gen",
        "n_depth",
        "avg_ns",
        "stddev_ns",
    }
)
FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}

# llama_model_ftype_name() (src/llama-model-loader.cpp), keyed by the llama_ftype value in general.file_type.
FTYPE_NAMES: dict[int, str] = {
    0: "all F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K - Medium",
    11: "Q3_K - Small",
    12: "Q3_K - Medium",
    13: "Q3_K - Large",
    14: "Q4_K - Small",
    15: "Q4_K - Medium",
    16: "Q5_K - Small",
    17: "Q5_K - Medium",
    18: "Q6_K",
    19: "IQ2_XXS - 2.0625 bpw",
    20: "IQ2_XS - 2.3125 bpw",
    21: "Q2_K - Small",
    22: "IQ3_XS - 3.3 bpw",
    23: "IQ3_XXS - 3.0625 bpw",
    24: "IQ1_S - 1.5625 bpw",
    25: "IQ4_NL - 4.5 bpw",
    26: "IQ3_S - 3.4375 bpw",
    27: "IQ3_S mix - 3.66 bpw",
    28: "IQ2_S - 2.5 bpw",
    29: "IQ2_M - 2.7 bpw",
    30: "IQ4_XS - 4.25 bpw",
    31: "IQ1_M - 1.75 bpw",
    32: "BF16",
    36: "TQ1_0 - 1.69 bpw ternary",
    37: "TQ2_0 - 2.06 bpw ternary",
    38: "MXFP4 MoE",
    39: "NVFP4",
}
LLAMA_CPP_PYTHON_BATCH = 512  # the child before it recorded its batch: Llama(n_batch=512, n_ubatch=512)


def size_label(n_params: int | None) -> str:
    """A parameter count as llama.cpp's size labels read: 135M, 1.2B; "?B" (LLM_TYPE_UNKNOWN) if unknown."""
    if not n_params or n_params <= 0:
        return "?B"
    if n_params < 999_500_000:
        return f"{round(n_params / 1e6)}M"
    return f"{n_params / 1e9:.1f}".removesuffix(".0") + "B"


def model_type(model: dict[str, Any]) -> str:
    """llama_model_desc(): "<arch> <size> <ftype name>"."""
    file_type = model.get("file_type")
    if isinstance(file_type, int):
        ftype = FTYPE_NAMES.get(file_type, "unknown, may not work")
    elif model.get("quantization") not in (None, "", "unknown"):
        ftype = f"{model['quantization']} (guessed)"  # llama.cpp guesses from the tensors when the key is missing
    else:
        ftype = "unknown, may not work"
    return f"{model.get('architecture') or 'unknown'} {size_label(model.get('parameters'))} {ftype}"


def bench_time(started_at: Any) -> str:
    """An ISO timestamp as llama-bench writes test_time: strftime("%FT%TZ", gmtime(...))."""
    try:
        when = datetime.fromisoformat(str(started_at))
    except ValueError:
        return "" if started_at is None else str(started_at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # pocketprof writes UTC
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _test(base: dict[str, Any], n_prompt: int, n_gen: int, tokens_per_s: float) -> dict[str, Any]:
    ns = round(1e9 * (n_prompt + n_gen) / tokens_per_s)  # the one repetition's whole test time
    timing = {"avg_ns": ns, "stddev_ns": 0, "avg_ts": float(tokens_per_s), "stddev_ts": 0.0}
    test = {**base, "n_prompt": n_prompt, "n_gen": n_gen, **timing}
    return {**{name: test[name] for name in FIELDS}, "samples_ns": [ns], "samples_ts": [float(tokens_per_s)]}


def settings(report: dict[str, Any]) -> dict[str, Any]:
    """The llama-bench fields a run report fixes (all but the test and its timings).

    The child's own account of llama.cpp (``child.engine``: llama_model_desc, llama_model_size,
    ggml_commit, the CPU backend's description) is used where the report has it.
    """
    config, model = report.get("config") or {}, report.get("model") or {}
    host, engine = report.get("host") or {}, (report.get("child") or {}).get("engine") or {}
    ctx = int(config.get("ctx") or 0)
    if config.get("batch"):  # as llama-bench prints it: the setting asked for (llama.cpp caps it at n_ctx)
        n_batch = int(config["batch"])
    else:
        n_batch = min(ctx, LLAMA_CPP_PYTHON_BATCH) if ctx > 0 else LLAMA_CPP_PYTHON_BATCH
    backends = engine.get("backends") or ("unknown" if config.get("gpu_layers") else "CPU")
    return {
        "build_commit": str(engine.get("build_commit") or "unknown"),
        "build_number": 0,  # llama-cpp-python does not carry llama.cpp's build number
        "cpu_info": str(engine.get("cpu_info") or host.get("cpu") or ""),
        "gpu_info": str(engine.get("gpu_info") or ""),
        "backends": str(backends),
        "model_filename": str(model.get("path") or config.get("model_path") or ""),
        "model_type": str(engine.get("model_type") or model_type(model)),
        "model_size": int(engine.get("model_size") or model.get("tensor_bytes") or model.get("file_size_bytes") or 0),
        "model_n_params": int(engine.get("model_n_params") or model.get("parameters") or 0),
        "n_batch": n_batch,
        "n_ubatch": min(int(config.get("ubatch") or n_batch), n_batch),
        "n_threads": int(config.get("threads") or 0),
        "cpu_mask": "0x0",
        "cpu_strict": False,
        "poll": 50,
        "type_k": "f16",
        "type_v": "f16",
        "n_gpu_layers": int(config.get("gpu_layers") or 0),
        "n_cpu_moe": 0,
        "split_mode": "layer",
        "main_gpu": 0,
        "no_kv_offload": False,
        "flash_attn": FLASH_ATTN.get(str(config.get("flash_attn") or "off"), 0),
        "devices": "auto",
        "tensor_split": "0.00",
        "tensor_buft_overrides": "none",
        "load_mode": "mmap" if config.get("mmap", True) else "none",
        "lazy_mode": "auto",
        "embeddings": False,
        "no_op_offload": 0,
        "no_host": False,
        "repack": str(engine.get("weight_repack") or "on") == "on",  # off only on an AMX build (llama_direct)
        "fit_target": 0,
        "fit_min_ctx": 0,
        "n_depth": 0,
        "test_time": bench_time(report.get("started_at")),
    }


def entries(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The llama-bench tests (pp, then tg) one pocketprof report holds; none for a figure it lacks."""
    summary = report.get("summary") or {}
    base = settings(report)
    profile = report.get("profile") or {}
    extra = {"run_id": report.get("run_id"), "profile": profile.get("id"), "status": report.get("status")}
    tests = []
    prompt, prefill = int(summary.get("prompt_tokens") or 0), summary.get("prefill_tokens_per_s")
    if prefill is not None and prefill > 0 and prompt > 0:
        tests.append(_test(base, prompt, 0, prefill))
    decoded, decode = int(summary.get("generated_tokens") or 0) - 1, summary.get("decode_tokens_per_s")
    if decode is not None and decode > 0 and decoded > 0:
        tests.append(_test(base, 0, decoded, decode))
    return [{**test, "pocketprof": extra} for test in tests]


def to_json(reports: list[dict[str, Any]], *, pocketprof: bool = True) -> str:
    """A JSON array of tests, as ``llama-bench -o json`` prints it."""
    tests = [test for report in reports for test in entries(report)]
    if not pocketprof:
        tests = [{k: v for k, v in test.items() if k != "pocketprof"} for test in tests]
    return json.dumps(tests, indent=2, ensure_ascii=False) + "\n"


def csv_value(name: str, value: Any) -> str:
    """test::get_values() (std::to_string: bools 0/1, floats %f), quoted as csv_printer::escape_csv does."""
    if name in BOOL_FIELDS:
        text = "1" if value else "0"
    elif name in FLOAT_FIELDS:
        text = f"{value:f}"
    else:
        text = str(value)
    return '"' + text.replace('"', '""') + '"'


def to_csv(reports: list[dict[str, Any]]) -> str:
    """llama-bench's CSV: an unquoted header, then one row per test with every value quoted."""
    lines = [",".join(FIELDS)]
    for report in reports:
        lines += [",".join(csv_value(name, test[name]) for name in FIELDS) for test in entries(report)]
    return "\n".join(lines) + "\n"


def write_json(reports: list[dict[str, Any]], path: Path) -> None:
    write_atomic(Path(path), to_json(reports))


def write_csv(reports: list[dict[str, Any]], path: Path) -> None:
    write_atomic(Path(path), to_csv(reports))
