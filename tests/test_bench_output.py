"""Bench output in process: llama-bench's fields and formats, and our columns, from hand-built repetitions.

test_bench.py runs real benches through the CLI and checks the same outputs against a real llama-bench.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import statistics

import pytest

from profiler.bench import output
from profiler.bench.plan import BenchTest
from profiler.bench.result import BenchResult
from profiler.report import llamabench


def rep(token_times: list[float], *, status: str = "completed", run_id: str = "r1", **config: object) -> dict:
    """One repetition's report: loaded at 1 s, tokens at the given times, and what llama-bench reads."""
    tokens = [{"index": i, "t": t, "text": "x", "latency_ms": 10.0, "id": 7} for i, t in enumerate(token_times)]
    summary = {
        "prefill_tokens_per_s": 100.0 + len(token_times),
        "decode_tokens_per_s": 50.0 + token_times[-1],
        "ttft_s": token_times[0] - 1.0,
        "itl_p95_ms": 12.5 + len(token_times),
        "peak_footprint_mb": 150.0 + len(token_times),
        "peak_rss_mb": 250.0,
    }
    return {
        "run_id": run_id,
        "status": status,
        "loaded_at_s": 1.0,
        "tokens": tokens,
        "summary": summary,
        "config": {"threads": 2, "ctx": 2048, "temperature": 0.0, "seed": 42, "batch": 2048, "ubatch": 512,
                   "flash_attn": "auto"} | config,
        "model": {"path": "/m/SmolLM2.gguf", "architecture": "llama", "parameters": 134_515_008,
                  "tensor_bytes": 91_000_000, "quantization": "Q4_1"},
        "host": {"cpu": "Test CPU", "logical_cores": 2, "llama_cpp": "0.3.36", "pocketprof": "0.1.0"},
        "profile": {"id": "host"},
    }  # fmt: skip


def result(n_prompt: int, n_gen: int, reps: list[dict], **kwargs: object) -> BenchResult:
    test = BenchTest(model="m", profile=str(kwargs.pop("profile", "host")), n_prompt=n_prompt, n_gen=n_gen, threads=2)
    return BenchResult(test=test, reports=reps, **kwargs)  # type: ignore[arg-type]


def test_a_row_is_llama_benchs_fields_then_samples_then_ours():
    tg = result(0, 2, [rep([1.5, 1.75], run_id="a"), rep([1.5, 2.0], run_id="b"), rep([1.5], status="killed")])
    values = output.row(tg)
    names = list(values)
    assert names[: len(llamabench.FIELDS)] == list(llamabench.FIELDS)
    assert names[len(llamabench.FIELDS) : len(llamabench.FIELDS) + 2] == ["samples_ns", "samples_ts"]
    assert names[len(llamabench.FIELDS) + 2 :] == list(output.EXTRA_FIELDS)
    assert values["samples_ns"] == [750_000_000, 1_000_000_000]
    assert values["samples_ts"] == [round(2 / 0.75, 6), 2.0]
    assert values["avg_ns"] == 875_000_000 and values["stddev_ns"] == int(statistics.stdev([7.5e8, 1e9]))
    assert values["avg_ts"] == round((2 / 0.75 + 2.0) / 2, 6)
    assert values["n_prompt"] == 0 and values["n_gen"] == 2 and values["n_threads"] == 2
    assert values["reps"] == 2 and values["run_ids"] == ["a", "b", "r1"]
    assert values["sampler"] == "greedy" and values["seed"] == 42 and values["ctx"] == 2048
    assert values["host_cpu"] == "Test CPU" and values["host_logical_cores"] == 2
    assert values["llama_cpp_python"] == "0.3.36" and values["pocketprof"] == "0.1.0"
    assert values["emulation"] == "none" and values["status"] == "completed" and values["error"] == ""
    assert values["decode_ts_avg"] == round(statistics.fmean([51.75, 52.0]), 4)
    assert values["decode_ts_sd"] == round(statistics.stdev([51.75, 52.0]), 4)
    assert values["prefill_ts_avg"] is None  # a tg test has no prefill
    assert values["ttft_ms_avg"] == 500.0 and values["ttft_ms_sd"] == 0.0
    assert values["predicted_decode_ts"] is None


def test_a_sampled_run_says_its_temperature_and_a_single_rep_has_no_spread():
    one = output.row(result(4, 0, [rep([1.25], temperature=0.7, seed=0)]))
    assert one["sampler"] == "temp 0.7" and one["seed"] == 0
    assert one["stddev_ns"] == 0 and one["stddev_ts"] == 0.0 and one["samples_ns"] == [250_000_000]
    assert one["decode_ts_avg"] is None and one["itl_p95_ms_avg"] is None  # pp: one token, no decode
    assert one["prefill_ts_avg"] == 101.0
    empty = output.row(result(4, 0, []))
    assert empty["avg_ns"] == 0 and empty["avg_ts"] == 0.0 and empty["reps"] == 0 and empty["run_ids"] == []
    assert empty["emulation"] == "none" and empty["ctx"] == 0 and empty["sampler"] == "temp None"


def test_predictions_and_emulation_are_carried():
    phone = result(0, 2, [rep([1.5, 1.75]) | {"profile": {"id": "galaxy-a25"}}], profile="galaxy-a25")
    phone.prediction = {"decode_ts": 12.5, "prefill_ts": 40.0, "decode_error_pct": 30.5, "prefill_error_pct": 56.8}
    values = output.row(phone)
    assert values["emulation"] == "phone" and values["profile"] == "galaxy-a25"
    assert (values["predicted_decode_ts"], values["predicted_prefill_error_pct"]) == (12.5, 56.8)
    factor = result(0, 2, [rep([1.5, 1.75], speed_factor=0.5)])
    assert output.row(factor)["emulation"] == "speed_factor"


def test_json_and_jsonl_hold_the_same_rows():
    results = [result(0, 2, [rep([1.5, 1.75])]), result(4, 0, [rep([1.25])])]
    rows = json.loads(output.to_json(results))
    assert rows == [json.loads(line) for line in output.to_jsonl(results).splitlines()]
    assert rows == [json.loads(json.dumps(output.row(r))) for r in results]
    assert output.to_json(results).endswith("]\n") and output.to_jsonl(results).count("\n") == 2


def test_csv_has_llama_benchs_columns_then_ours_and_quotes_ours():
    bad = result(0, 2, [rep([1.5, 1.75], run_id="a"), rep([1.5, 2.0], run_id="b")], error='said "no"')
    text = output.to_csv([bad])
    header, line = text.splitlines()
    assert header.split(",") == [*llamabench.FIELDS, *output.EXTRA_FIELDS]
    parsed = next(csv.DictReader(io.StringIO(text)))
    assert parsed["run_ids"] == "a;b" and parsed["error"] == 'said "no"' and parsed["n_gen"] == "2"
    assert parsed["prefill_ts_avg"] == "" and parsed["reps"] == "2"
    assert '"said ""no"""' in line


def test_sql_loads_into_llama_benchs_table_with_its_types():
    results = [result(0, 2, [rep([1.5, 1.75], flash_attn="on")]), result(4, 0, [rep([1.25], mmap=False)])]
    script = output.to_sql(results)
    assert script.startswith("CREATE TABLE IF NOT EXISTS llama_bench (\n")
    db = sqlite3.connect(":memory:")
    db.executescript(script)
    types = {row[1]: row[2] for row in db.execute("PRAGMA table_info(llama_bench)")}
    assert list(types) == list(llamabench.FIELDS)
    assert types["avg_ts"] == "REAL" and types["n_threads"] == "INTEGER" and types["cpu_strict"] == "INTEGER"
    assert types["model_type"] == "TEXT"
    got = db.execute("SELECT n_prompt, n_gen, flash_attn, cpu_strict, load_mode, avg_ts FROM llama_bench").fetchall()
    assert got == [(0, 2, 1, 0, "mmap", pytest.approx(2 / 0.75)), (4, 0, -1, 0, "none", 16.0)]
    assert "'0.500000'" not in script and f"'{2 / 0.75:f}'" in script  # REAL as %f, as llama-bench prints it


def test_sql_escapes_quotes_in_text():
    quoted = rep([1.5, 1.75])
    quoted["model"]["path"] = "/m/it's.gguf"
    db = sqlite3.connect(":memory:")
    db.executescript(output.to_sql([result(0, 2, [quoted])]))
    assert db.execute("SELECT model_filename FROM llama_bench").fetchone() == ("/m/it's.gguf",)


def _table(text: str) -> tuple[list[str], list[list[str]]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return cells[0], cells[2:]


def test_markdown_shows_only_the_columns_that_differ_from_llama_benchs_defaults():
    plain = output.to_markdown([result(0, 2, [rep([1.5, 1.75])])])
    header, rows = _table(plain)
    assert header == ["model", "size", "params", "backend", "threads", "test", "t/s", "TTFT ms", "p95 ms",
                      "footprint MB"]  # fmt: skip
    assert rows[0][5] == "tg2" and rows[0][6] == f"{2 / 0.75:.2f} ± 0.00" and rows[0][4] == "2"
    assert rows[0][1] == f"{91_000_000 / 1024**2:.2f} MiB" and rows[0][2] == "134.52 M"
    assert plain.endswith("\n\nbuild: unknown (0)\n")
    separator = plain.splitlines()[1]
    assert separator.startswith("| -----------------------------") and ":" in separator
    odd = rep([1.25], batch=256, ubatch=128, flash_attn="on", gpu_layers=99)
    header, rows = _table(output.to_markdown([result(4, 0, [odd], profile="pixel-8"), result(4, 2, [rep([1.5, 2])])]))
    for column in ("ngl", "n_batch", "n_ubatch", "fa", "profile", "prefill t/s", "decode t/s"):
        assert column in header, column
    assert rows[0][header.index("n_batch")] == "256" and rows[0][header.index("fa")] == "1"
    assert rows[0][header.index("profile")] == "pixel-8" and rows[1][header.index("test")] == "pp4+tg2"
    assert rows[0][header.index("ngl")] == "99" and rows[0][header.index("backend")] == "unknown"


def test_markdown_of_a_failed_test_says_its_status():
    failed = result(0, 2, [rep([1.5], status="killed")], status="killed")
    _, rows = _table(output.to_markdown([failed]))
    assert rows[0][6] == "killed" and rows[0][7] == "—"


@pytest.mark.parametrize(
    ("n", "size", "params"),
    [
        (1023 * 1024**2, "1023.00 MiB", "1.07 B"),
        (1024**3, "1.00 GiB", "1.07 B"),
        (999_999_999, "953.67 MiB", "1000.00 M"),
    ],
)
def test_sizes_switch_units_where_llama_bench_does(n: int, size: str, params: str):
    assert output._size(n) == size and output._params(n) == params


def test_render_picks_the_format():
    results = [result(0, 2, [rep([1.5, 1.75])])]
    for fmt in output.FORMATS:
        assert output.render(results, fmt) == getattr(output, f"to_{ {'md': 'markdown'}.get(fmt, fmt) }")(results)


def test_markdown_is_llama_benchs_table_to_the_character():
    results = [result(0, 2, [rep([1.5, 1.75])]), result(0, 2, [rep([1.5, 2.0])])]
    md = output.to_markdown(results)
    widths = [("model", -30), ("size", 10), ("params", 10), ("backend", -10), ("threads", 7), ("test", 15),
              ("t/s", 20), ("TTFT ms", 15), ("p95 ms", 13), ("footprint MB", 13)]  # fmt: skip

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(c.ljust(-w) if w < 0 else c.rjust(w) for c, (_, w) in zip(cells, widths, strict=True))
            + " |"
        )

    rows = [output.row(r) for r in results]
    expected = [
        line([name for name, _ in widths]),
        "| " + " | ".join("-" * (abs(w) - 1) + (":" if w > 0 else "-") for _, w in widths) + " |",
        *(
            line([
                "llama 135M Q4_1 (guessed)", "86.78 MiB", "134.52 M", "CPU", "2", "tg2",
                f"{r['avg_ts']:.2f} ± {r['stddev_ts']:.2f}", f"{r['ttft_ms_avg']:.1f} ± 0.0",
                f"{r['itl_p95_ms_avg']:.1f} ± 0.0", f"{r['peak_footprint_mb_avg']:.0f} ± 0",
            ])
            for r in rows
        ),
    ]  # fmt: skip
    assert md == "\n".join(expected) + "\n\nbuild: unknown (0)\n"
    assert output.to_markdown([]) == "\n".join(expected[:2]) + "\n\nbuild: unknown (0)\n"


def test_markdown_spread_uses_the_sample_sd():
    two = result(0, 2, [rep([1.5, 1.75]), rep([1.5, 2.0], run_id="b")])
    _, rows = _table(output.to_markdown([two]))
    values = output.row(two)
    assert rows[0][7] == f"{values['ttft_ms_avg']:.1f} ± {values['ttft_ms_sd']:.1f}"
    assert rows[0][6] == f"{values['avg_ts']:.2f} ± {values['stddev_ts']:.2f}" and values["stddev_ts"] > 0
    assert output._pm(2.0, None, 1) == "2.0 ± 0.0" and output._pm(None, 1.0, 1) == "—"


def test_json_is_indented_and_keeps_unicode_jsonl_is_one_line_each():
    named = result(0, 2, [rep([1.5, 1.75])], error="tête")
    text = output.to_json([named])
    assert text.startswith('[\n  {\n    "build_commit": "unknown",\n') and '"error": "tête"' in text
    lines = output.to_jsonl([named, named]).splitlines()
    assert len(lines) == 2 and lines[0].startswith('{"build_commit": "unknown", ') and '"error": "tête"' in lines[0]


def test_our_figures_are_rounded_to_four_places_and_llama_benchs_to_six():
    fine = rep([1.5, 1.75])
    fine["summary"]["decode_tokens_per_s"] = 51.123456789
    values = output.row(result(0, 2, [fine, rep([1.5, 1.8], run_id="b")]))
    assert values["decode_ts_avg"] == round((51.123456789 + 51.8) / 2, 4)
    assert values["stddev_ts"] == round(statistics.stdev([2 / 0.75, 2 / 0.8]), 6)
    assert output._int(float("inf")) == 0 and output._int(float("nan")) == 0 and output._int(2.9) == 2


def test_sql_writes_booleans_as_ones_and_zeros():
    assert output._sql_value("cpu_strict", True) == "'1'" and output._sql_value("cpu_strict", False) == "'0'"
    assert output._sql_value("avg_ts", 2.5) == "'2.500000'" and output._sql_value("model_type", "a'b") == "'a''b'"
    assert output._csv_cell("n_prompt", 4) == llamabench.csv_value("n_prompt", 4)


def test_markdown_with_every_optional_column_keeps_llama_benchs_widths():
    odd = rep([1.25, 1.5], batch=256, ubatch=128, flash_attn="on", gpu_layers=99)
    md = output.to_markdown([result(4, 2, [odd], profile="pixel-8")])
    header, separator, line = md.splitlines()[:3]
    widths = [
        ("model", -30), ("size", 10), ("params", 10), ("backend", -10), ("ngl", 3), ("threads", 7), ("n_batch", 7),
        ("n_ubatch", 8), ("fa", 3), ("profile", -16), ("test", 15), ("t/s", 20), ("prefill t/s", 17),
        ("decode t/s", 15), ("TTFT ms", 15), ("p95 ms", 13), ("footprint MB", 13),
    ]  # fmt: skip
    assert header == "| " + " | ".join(n.ljust(-w) if w < 0 else n.rjust(w) for n, w in widths) + " |"
    assert separator == "| " + " | ".join("-" * (abs(w) - 1) + (":" if w > 0 else "-") for _, w in widths) + " |"
    cells = [c.strip() for c in line.strip("|").split("|")]
    values = output.row(result(4, 2, [odd], profile="pixel-8"))
    assert cells[4:10] == ["99", "2", "256", "128", "1", "pixel-8"]
    assert (
        cells[12] == f"{values['prefill_ts_avg']:.2f} ± 0.00" and cells[13] == f"{values['decode_ts_avg']:.2f} ± 0.00"
    )
    assert line.split("|")[10] == " " + "pixel-8".ljust(16) + " "  # left-aligned, as llama-bench's text columns


def test_sizes_and_parameter_counts_at_their_unit_boundaries():
    assert output._params(1_000_000_000) == "1.00 B" and output._params(999_999_999) == "1000.00 M"
    assert output._size(3 * 1024**3) == "3.00 GiB" and output._cell("x", -3) == "x  " and output._cell("x", 3) == "  x"
    assert output._cell("x", 0) == "x"
