"""llama-bench-compatible export: the field list, the CSV and JSON shapes, and the figures they carry."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from profiler.report import llamabench

# test::get_fields() in tools/llama-bench/llama-bench.cpp of the llama.cpp inside the llama-cpp-python 0.3.36
# source release (vendor/llama.cpp, ggml_commit "0c1e570"): the llama.cpp pocketprof runs.
LLAMA_BENCH_FIELDS = [
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
]
# test::get_field_type(): the INT and BOOL fields (no_op_offload is INT there), the rest STRING but avg_ts/stddev_ts.
INT_FIELDS = {
    "build_number",
    "n_batch",
    "n_ubatch",
    "n_threads",
    "poll",
    "model_size",
    "model_n_params",
    "n_gpu_layers",
    "main_gpu",
    "n_prompt",
    "n_gen",
    "n_depth",
    "avg_ns",
    "stddev_ns",
    "no_op_offload",
    "n_cpu_moe",
    "fit_target",
    "fit_min_ctx",
    "flash_attn",
}
BOOL_FIELDS = {"no_kv_offload", "cpu_strict", "embeddings", "no_host", "repack"}
FLOAT_FIELDS = {"avg_ts", "stddev_ts"}

LOADED_AT = 0.25
FIRST_TOKEN_AT = 1.25  # 40 prompt tokens in 1.0 s
TOKEN_GAPS = [0.05, 0.5, 0.125, 0.2, 0.0625]  # 5 decode steps after the first token, 0.9375 s in all


def make_report(
    run_id: str = "20261126-185653-521ed8",
    started_at: str = "2026-11-26T18:56:53+00:00",
    model_path: str = "/models/SmolLM2-135M-Instruct.Q4_1.gguf",
    gaps: list[float] | None = None,
    prompt_tokens: int = 40,
    ctx: int = 2048,
) -> dict:
    """A report like profiler.record writes, its summary computed here from the token times."""
    gaps = TOKEN_GAPS if gaps is None else gaps
    times = [FIRST_TOKEN_AT]
    for gap in gaps:
        times.append(times[-1] + gap)
    tokens = [{"index": i, "t": t, "text": "x", "latency_ms": 0.0, "id": i} for i, t in enumerate(times)]
    span = times[-1] - times[0]
    return {
        "schema_version": 1,
        "run_id": run_id,
        "started_at": started_at,
        "config": {
            "model": "smollm2-135m",
            "profile": "iphone-16",
            "prompt": "hi",
            "max_tokens": 24,
            "ctx": ctx,
            "threads": 2,
            "mmap": True,
            "seed": 42,
            "temperature": 0.7,
            "gpu_layers": 0,
        },
        "model": {
            "path": model_path,
            "file_name": Path(model_path).name,
            "file_size_bytes": 98362432,
            "name": "Smollm2 135M",
            "architecture": "llama",
            "parameters": 134515008,
            "quantization": "Q4_1",
            "file_type": 3,
            "tensor_bytes": 96576768,
            "n_layers": 30,
        },
        "profile": {"id": "iphone-16", "name": "Apple iPhone 16"},
        "host": {
            "cpu": "AMD EPYC 7R13 Processor",
            "logical_cores": 2,
            "os": "Linux 6.1",
            "python": "3.11.7",
            "llama_cpp": "0.3.36",
            "pocketprof": "0.1.0",
        },
        "status": "completed",
        "summary": {
            "load_time_s": 0.1,
            "ttft_s": FIRST_TOKEN_AT - LOADED_AT,
            "prompt_tokens": prompt_tokens,
            "generated_tokens": len(tokens),
            "prefill_tokens_per_s": prompt_tokens / (FIRST_TOKEN_AT - LOADED_AT),
            "decode_tokens_per_s": (len(tokens) - 1) / span if len(tokens) > 1 else None,
            "itl_p50_ms": 125.0,
            "itl_p95_ms": 450.0,
            "peak_footprint_mb": 90.5,
        },
        "tokens": tokens,
        "samples": [],
        "limits": {},
        "loaded_at_s": LOADED_AT,
    }


def killed_report() -> dict:
    report = make_report(run_id="20261126-185920-f407bf", gaps=[])
    report["status"] = "killed"
    report["tokens"] = []
    report["summary"].update(ttft_s=None, prompt_tokens=0, generated_tokens=0, prefill_tokens_per_s=None)
    report["summary"]["decode_tokens_per_s"] = None
    return report


@pytest.fixture
def reports(tmp_path: Path) -> list[dict]:
    """Reports as pocketprof leaves them on disk: written out, then read back."""
    loaded = []
    for i, report in enumerate([make_report(), killed_report()]):
        path = tmp_path / f"report-{i}.json"
        path.write_text(json.dumps(report, indent=1), encoding="utf-8")
        loaded.append(json.loads(path.read_text(encoding="utf-8")))
    return loaded


def test_csv_header_is_llama_bench_field_list(reports):
    header = llamabench.to_csv(reports).splitlines()[0]
    assert header == ",".join(LLAMA_BENCH_FIELDS)  # unquoted, as csv_printer::print_header writes it
    assert list(llamabench.FIELDS) == LLAMA_BENCH_FIELDS


def test_csv_rows_parse_back_with_the_reports_figures(reports):
    text = llamabench.to_csv(reports)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2  # pp and tg of the completed run; nothing from the killed one
    for line in text.splitlines()[1:]:
        assert line.startswith('"') and line.endswith('"') and line.count('","') == len(LLAMA_BENCH_FIELDS) - 1
    pp, tg = rows
    summary = reports[0]["summary"]
    assert (pp["n_prompt"], pp["n_gen"], tg["n_prompt"], tg["n_gen"]) == ("40", "0", "0", "5")
    assert float(pp["avg_ts"]) == pytest.approx(summary["prefill_tokens_per_s"], abs=5e-7)  # %f: 6 decimals
    assert float(tg["avg_ts"]) == pytest.approx(summary["decode_tokens_per_s"], abs=5e-7)
    assert pp["stddev_ts"] == "0.000000" and pp["stddev_ns"] == "0"
    # std::to_string(bool) and (int) flash_attn; a report from before batch and FA were recorded: the old child's
    assert (pp["load_mode"], pp["flash_attn"], pp["no_op_offload"], pp["repack"]) == ("mmap", "0", "0", "1")
    assert (pp["n_batch"], pp["n_ubatch"]) == ("512", "512")


def test_csv_quotes_like_llama_bench():
    path = '/models/a "quoted", name.gguf'
    text = llamabench.to_csv([make_report(model_path=path)])
    assert '"/models/a ""quoted"", name.gguf"' in text.splitlines()[1]
    assert next(csv.DictReader(io.StringIO(text)))["model_filename"] == path


def test_json_array_has_llama_bench_keys_and_types(reports):
    tests = json.loads(llamabench.to_json(reports))
    assert isinstance(tests, list) and len(tests) == 2
    for test in tests:
        assert list(test) == [*LLAMA_BENCH_FIELDS, "samples_ns", "samples_ts", "pocketprof"]
        for name in LLAMA_BENCH_FIELDS:
            value = test[name]
            if name in INT_FIELDS:
                assert type(value) is int, name
            elif name in BOOL_FIELDS:
                assert type(value) is bool, name
            elif name in FLOAT_FIELDS:
                assert type(value) is float, name
            else:
                assert type(value) is str, name
        assert [type(v) for v in test["samples_ns"]] == [int]
        assert [type(v) for v in test["samples_ts"]] == [float]
        assert test["pocketprof"] == {"run_id": "20261126-185653-521ed8", "profile": "iphone-16", "status": "completed"}


def test_json_can_leave_out_the_pocketprof_key(reports):
    tests = json.loads(llamabench.to_json(reports, pocketprof=False))
    assert [list(test) for test in tests] == [[*LLAMA_BENCH_FIELDS, "samples_ns", "samples_ts"]] * 2


def test_killed_report_yields_no_tests():
    assert llamabench.entries(killed_report()) == []
    assert json.loads(llamabench.to_json([killed_report()])) == []
    assert llamabench.to_csv([killed_report()]) == ",".join(LLAMA_BENCH_FIELDS) + "\n"


def test_run_killed_before_decoding_keeps_only_prompt_processing():
    report = make_report(gaps=[])  # one token: prefill measured, no decode speed
    assert report["summary"]["decode_tokens_per_s"] is None
    tests = llamabench.entries(report)
    assert [(t["n_prompt"], t["n_gen"]) for t in tests] == [(40, 0)]


def test_times_match_the_token_timeline(reports):
    pp, tg = llamabench.entries(reports[0])
    # llama-bench: a sample is one repetition's whole test time; avg_ts = 1e9 * (n_prompt + n_gen) / sample.
    assert pp["samples_ns"] == [pp["avg_ns"]] == [round((FIRST_TOKEN_AT - LOADED_AT) * 1e9)] == [1_000_000_000]
    assert tg["samples_ns"] == [tg["avg_ns"]] == [round(sum(TOKEN_GAPS) * 1e9)] == [937_500_000]
    for test in (pp, tg):
        n = test["n_prompt"] + test["n_gen"]
        assert test["avg_ns"] == round(1e9 * n / test["avg_ts"])
        assert test["samples_ts"][0] == pytest.approx(1e9 * n / test["samples_ns"][0], rel=1e-9)
        assert test["avg_ts"] == pytest.approx(sum(test["samples_ts"]) / len(test["samples_ts"]))
        assert (test["stddev_ns"], test["stddev_ts"]) == (0, 0.0)
    assert tg["avg_ts"] == pytest.approx(5 / 0.9375)


def test_fields_filled_from_the_report():
    test = llamabench.entries(make_report(started_at="2026-11-26T20:56:53.5+02:00", ctx=256))[0]
    assert test["test_time"] == "2026-11-26T18:56:53Z"  # strftime("%FT%TZ", gmtime(...))
    assert test["model_type"] == "llama 135M Q4_1"  # llama_model_desc: arch, size, ftype name
    assert (test["model_size"], test["model_n_params"]) == (96576768, 134515008)
    assert (test["n_batch"], test["n_ubatch"]) == (256, 256)  # llama-cpp-python caps its 512 at n_ctx
    assert (test["n_threads"], test["n_gpu_layers"], test["load_mode"]) == (2, 0, "mmap")
    assert test["cpu_info"] == "AMD EPYC 7R13 Processor"
    assert test["model_filename"] == "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (test["type_k"], test["type_v"], test["build_commit"], test["build_number"]) == ("f16", "f16", "unknown", 0)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"architecture": "gemma3", "parameters": 268098176, "file_type": 15}, "gemma3 268M Q4_K - Medium"),
        ({"architecture": "qwen2", "parameters": 1_543_714_304, "file_type": 7}, "qwen2 1.5B Q8_0"),
        ({"architecture": "llama", "parameters": 8_030_261_248, "file_type": 1}, "llama 8B F16"),
        ({"architecture": "llama", "file_type": 99}, "llama ?B unknown, may not work"),
        ({"architecture": "phi3", "parameters": 3_821_079_552, "quantization": "Q4_K"}, "phi3 3.8B Q4_K (guessed)"),
    ],
)
def test_model_type(model, expected):
    assert llamabench.model_type(model) == expected


def test_write_json_and_csv(tmp_path, reports):
    json_path, csv_path = tmp_path / "out" / "bench.json", tmp_path / "out" / "bench.csv"
    llamabench.write_json(reports, json_path)
    llamabench.write_csv(reports, csv_path)
    assert json_path.read_text(encoding="utf-8") == llamabench.to_json(reports)
    assert csv_path.read_text(encoding="utf-8") == llamabench.to_csv(reports)
    assert len(json.loads(json_path.read_text(encoding="utf-8"))) == 2


def test_a_report_with_the_childs_account_uses_it():
    report = make_report()
    report["config"] |= {"batch": 2048, "ubatch": 256, "flash_attn": "auto", "mmap": False}
    engine = {
        "build_commit": "0c1e570-dirty",
        "cpu_info": "AMD EPYC 7B13",
        "backends": "CPU",
        "model_type": "llama 256M Q4_1",
        "model_size": 96576768,
        "model_n_params": 134515008,
    }
    report["child"] = {"engine": engine}
    pp = llamabench.entries(report)[0]
    assert {k: pp[k] for k in engine} == engine
    assert (pp["n_batch"], pp["n_ubatch"], pp["flash_attn"], pp["load_mode"]) == (2048, 256, -1, "none")
