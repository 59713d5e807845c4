"""What reads a finished run, in process: the CSV files, the comparison table and the HTML reports.

The runs are hand-built (tests/records.py: every column its own value); test_reports.py does the
same through the CLI on real runs, in Chromium and pdftoppm.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from profiler.errors import BadInput
from profiler.report import compare, export_csv, history, report_html, svgchart
from tests import records


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _num(cell: str) -> float | None:
    return None if cell == "" else float(cell)


# -- CSV ----------------------------------------------------------------------------------------------


def test_every_sample_column_loads_back_to_the_reports_number():
    report = records.report()
    report["samples"][3]["gpu_mem_mb"], report["samples"][3]["gpu_power_w"] = 512.25, 78.35
    text = export_csv.samples_csv(report)
    assert text.splitlines()[0] == (
        "t_s,rss_mb,footprint_mb,file_backed_mb,anon_mb,swap_mb,cpu_percent,threads,gpu_mem_mb,gpu_power_w"
    )
    assert "\r\n" in text and text.endswith("\r\n")
    rows = _rows(text)
    assert len(rows) == len(report["samples"])
    for row, sample in zip(rows, report["samples"], strict=True):
        for key, column in export_csv.SAMPLE_COLUMNS:
            assert _num(row[column]) == sample[key], (column, row[column], sample[key])
    assert rows[0]["gpu_mem_mb"] == "" and rows[3]["gpu_power_w"] == "78.35"
    assert repr(report["samples"][1]["footprint_mb"]) in text  # floats as repr: exact round trip


def test_tokens_load_back_with_awkward_text_intact():
    report = records.report(tokens=4)
    report["tokens"][1]["text"] = 'a "quoted", comma\nand\rreturn'
    rows = _rows(export_csv.tokens_csv(report))
    assert list(rows[0]) == ["index", "t_s", "latency_ms", "token_id", "text"]
    for row, token in zip(rows, report["tokens"], strict=True):
        assert int(row["index"]) == token["index"] and float(row["t_s"]) == token["t"]
        assert float(row["latency_ms"]) == token["latency_ms"] and int(row["token_id"]) == token["id"]
        assert row["text"] == token["text"]


def test_an_empty_run_writes_headers_only():
    assert export_csv.samples_csv({}).count("\r\n") == 1 and export_csv.tokens_csv({}).startswith("index,")


def test_the_comparison_csv_has_a_value_and_delta_per_run():
    fast, slow = records.report("a", latency_ms=20.0), records.report("b", latency_ms=40.0, profile="pixel-8")
    rows = _rows(export_csv.comparison_csv([fast, slow]))
    labels = [compare.label(fast), compare.label(slow)]
    assert list(rows[0]) == ["metric", "unit", "better", *labels, f"delta vs first: {labels[1]}"]
    decode = next(r for r in rows if r["metric"] == "decode")
    assert decode["unit"] == "tok/s" and decode["better"] == "higher"
    a, b = fast["summary"]["decode_tokens_per_s"], slow["summary"]["decode_tokens_per_s"]
    assert float(decode[labels[0]]) == a and float(decode[labels[1]]) == b
    assert float(decode[f"delta vs first: {labels[1]}"]) == pytest.approx(b - a)
    assert [r["metric"] for r in rows] == [row.metric.label for row in compare.table([fast, slow])]


def test_write_run_names_both_files_after_the_run(tmp_path: Path):
    report = records.report("20261201-130000-cafe00")
    written = export_csv.write_run(report, tmp_path)
    assert [p.name for p in written] == ["20261201-130000-cafe00-samples.csv", "20261201-130000-cafe00-tokens.csv"]
    assert written[0].read_bytes().decode() == export_csv.samples_csv(report)
    assert written[1].read_bytes().decode() == export_csv.tokens_csv(report)
    named = export_csv.write_run(report, tmp_path, "mine")
    assert [p.name for p in named] == ["mine-samples.csv", "mine-tokens.csv"]
    assert export_csv.write_run({}, tmp_path)[0].name == "run-samples.csv"


# -- the comparison table ------------------------------------------------------------------------------


def test_value_at_follows_a_dotted_path_and_takes_only_numbers():
    report = {"summary": {"a": 3, "b": 2.5, "flag": True, "text": "7", "none": None}, "energy": None}
    assert compare.value_at(report, "summary.a") == 3.0 and isinstance(compare.value_at(report, "summary.a"), float)
    assert compare.value_at(report, "summary.b") == 2.5
    for key in ("summary.flag", "summary.text", "summary.none", "summary.missing", "energy.j", "summary.b.c", "x"):
        assert compare.value_at(report, key) is None, key


def test_label_prefers_the_file_name_then_the_name():
    assert compare.label({"model": {"file_name": "m.gguf", "name": "M"}, "profile": {"id": "p"}}) == "m.gguf · p"
    assert compare.label({"model": {"name": "M"}, "profile": {"id": "p"}}) == "M · p"
    assert compare.label({}) == "? · ?"


def _row(reports: list[dict], label: str) -> compare.Row:
    return next(r for r in compare.table(reports) if r.metric.label == label)


def test_the_better_value_is_marked_on_the_right_side():
    fast, slow = records.report("a", latency_ms=20.0), records.report("b", latency_ms=40.0)
    decode, p95 = _row([slow, fast], "decode"), _row([slow, fast], "inter-token p95")
    assert decode.best == 1 and p95.best == 1  # higher decode and lower latency: the fast run, second
    assert _row([fast, slow], "decode").best == 0
    base = slow["summary"]["decode_tokens_per_s"]
    assert decode.deltas[0] == 0.0 and decode.deltas[1] == pytest.approx(fast["summary"]["decode_tokens_per_s"] - base)
    assert decode.percents[1] == pytest.approx(100 * decode.deltas[1] / base)
    assert _row([slow, fast], "generated tokens").best is None  # no better side
    assert _row([fast, fast], "decode").best is None  # equal: nothing to mark


def test_a_killed_run_never_wins_and_missing_metrics_are_left_out():
    fast = records.report("a", latency_ms=20.0, status="killed", kill_at=6)
    slow = records.report("b", latency_ms=40.0)
    assert _row([slow, fast], "decode").best is None  # only one finished run has a figure
    stopped = records.report("c", latency_ms=30.0, status="stopped")
    assert _row([slow, fast, stopped], "decode").best == 2
    labels = [row.metric.label for row in compare.table([slow])]
    assert "energy per token" not in labels and "decode" in labels  # no energy in either: no row
    lone = _row([slow], "decode")
    assert lone.best is None and lone.deltas == (0.0,)


def test_deltas_against_a_missing_or_zero_first_value():
    first, second = records.report("a"), records.report("b")
    first["summary"]["ttft_s"] = None
    row = _row([first, second], "time to first token")
    assert row.deltas == (None, None) and row.percents == (None, None)
    first["summary"]["ttft_s"] = 0.0
    row = _row([first, second], "time to first token")
    assert row.deltas[1] == second["summary"]["ttft_s"] and row.percents[1] is None
    assert compare.fmt_delta(row, 1) == f"{second['summary']['ttft_s']:+,.3f}"
    assert compare.fmt_delta(row, 0) == ""


def test_values_and_deltas_are_formatted_with_the_metrics_digits():
    a, b = records.report("a", peak_mb=150.0), records.report("b", peak_mb=180.0)
    row = _row([a, b], "peak footprint")
    assert compare.fmt_value(row, 1234.4) == "1,234" and compare.fmt_value(row, None) == "—"
    assert compare.fmt_delta(row, 1) == f"{row.deltas[1]:+,.0f} ({row.percents[1]:+.1f} %)"


# -- reading report files ------------------------------------------------------------------------------


def _write(tmp_path: Path, data: object, name: str = "r.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_report_files_and_run_ids_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    good = records.report()
    assert compare.load_reports([_write(tmp_path, good)]) == [json.loads(json.dumps(good))]
    db = tmp_path / "h.sqlite3"
    history.save(records.record("20261201-140000-beef00"), db)
    monkeypatch.setattr(history.paths, "history_db", lambda: db)
    (loaded,) = compare.load_reports([Path("beef00")])
    assert loaded["run_id"] == "20261201-140000-beef00"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda r: r.pop("summary"), "not a pocketprof JSON report (no schema_version and summary)"),
        (lambda r: r.update(schema_version=99), "report schema version 99 is not supported (1 is)"),
        (lambda r: r.update(model=[]), "field 'model' must be an object in a pocketprof report"),
        (lambda r: r["summary"].update(ttft_s="soon"), "field 'summary.ttft_s' must be a number, got 'soon'"),
        (lambda r: r["summary"].update(ttft_s=True), "field 'summary.ttft_s' must be a number, got True"),
        (lambda r: r["limits"].update(cores={"value": 1}), "field 'limits.cores' needs value, unit and mechanism"),
        (lambda r: r.update(tokens=[1, 2]), "field 'tokens' must be a list of objects"),
        (lambda r: r.update(samples={}), "field 'samples' must be a list of objects"),
    ],
)
def test_a_bad_report_is_one_line_naming_the_file_and_field(tmp_path: Path, change, says: str):
    data = records.report()
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(BadInput) as caught:
        compare.load_reports([path])
    assert str(caught.value) == f"{path}: {says}"


def test_unreadable_files_are_one_line(tmp_path: Path):
    with pytest.raises(BadInput, match=r"/none\.json: report not found$"):
        compare.load_reports([tmp_path / "none.json"])
    broken = tmp_path / "broken.json"
    broken.write_text("{\n  oops")
    with pytest.raises(BadInput, match=r"broken\.json: not a pocketprof JSON report \(.* at line 2\)$"):
        compare.load_reports([broken])
    with pytest.raises(BadInput, match=r"list\.json: not a pocketprof JSON report"):
        compare.load_reports([_write(tmp_path, [1], "list.json")])
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BadInput, match=r"bin\.json: cannot read the report: "):
        compare.load_reports([binary])


# -- HTML --------------------------------------------------------------------------------------------


def _section(html: str, title: str) -> str:
    start = html.index(f"<h2>{title}</h2>")
    end = html.find("<h2>", start + 1)
    return html[start : end if end > 0 else len(html)]


def test_the_run_page_has_its_policy_title_and_every_section():
    report = records.report()
    html = report_html.run_html(report)
    assert html.startswith("<!DOCTYPE html>") and f'content="{report_html.CSP}"' in html
    assert "<title>pocketprof · SmolLM2 135M Instruct on Galaxy A25</title>" in html
    for title in ("Charts", "Run", "Model", "Phone profile", "Limits and how they were enforced", "Prompt", "Output"):
        assert f"<h2>{title}</h2>" in html
    assert "What the predictor expected" not in html  # no prediction in this report
    assert html.count("<div class='chart'><svg") == 3
    assert "<pre>Why &lt;b&gt;?</pre>" in html and f"<pre>{report['output_text']}</pre>" in html
    assert "<div class='outcome completed'>" in html


def test_cards_come_four_to_a_row():
    items = [(f"k{i}", f"v{i}") for i in range(9)]
    table = report_html._cards(items)
    assert table.count("<tr>") == 3 and table.count("<td class='card'>") == 9
    first_row = table.split("</tr>")[0]
    assert first_row.count("<td") == 4 and "k3" in first_row and "k4" not in first_row
    assert report_html._cards(items, per_row=5).count("<tr>") == 2


def test_limits_model_and_profile_rows_say_what_they_hold():
    report = records.report()
    report["limits"]["speed"] = {"value": None, "unit": "×", "mechanism": "none", "note": "host"}
    report["limits"]["memory_budget"]["value"] = 12345.678
    limits = _section(report_html.run_html(report), "Limits and how they were enforced")
    assert "<td class='num'>1.235e+04 MB</td><td>watchdog</td>" in limits
    assert "<td class='num'>— ×</td><td>none</td><td>host</td>" in limits
    model = report_html._model({"name": "M", "has_chat_template": True, "n_layers": 30, "n_heads": 9, "n_kv_heads": 3})
    assert "<th>chat template</th><td>yes</td>" in model and "<td>30 / 9 / 3</td>" in model
    assert "<th>chat template</th><td>no</td>" in report_html._model({})
    clusters = [{"count": 2, "core": "cortex-a76", "max_ghz": 2.2}, {"count": 6, "kind": "little", "max_ghz": 2.0}]
    assert report_html._cores({"cpu_clusters": clusters}) == "2× cortex-a76 @ 2.2 GHz + 6× little @ 2.0 GHz"
    assert report_html._cores({}) == "—"
    profile = report_html._profile({"id": "p", "name": "P", "backends": ["cpu", "gpu"], "default_backend": "gpu"})
    assert "<td>cpu, gpu (apps default: gpu)</td>" in profile and "<td>— GB/s</td>" in profile
    assert "<td>cpu (apps default: cpu)</td>" in report_html._profile({})


def test_phone_energy_and_the_prediction_show_when_the_report_has_them():
    report = records.report()
    report["energy"] = {"j_total": 1.23456, "battery_pct": 0.001234, "error_pct": 8.4, "speed_basis": "the run"}
    report["prediction"] = {"decode_tokens_per_s": 20.0}
    html = report_html.run_html(report)
    assert "1.23 J (0.0012 % of the battery; an estimate ±8 % at the run: the phone power model)" in html
    assert "<h2>What the predictor expected of this phone</h2>" in html
    report["energy"] = None
    assert "<td>none (host profile)</td>" in report_html.run_html(report)
    assert report_html._pm(None) == "" and report_html._pm(12.4) == " ±12 %"


def test_charts_go_through_the_embedding_function():
    seen: list[str] = []

    def embed(svg: str) -> str:
        seen.append(svg)
        return f"<img n='{len(seen)}'>"

    html = report_html.run_html(records.report(), embed=embed)
    assert len(seen) == 3 and all(s.startswith("<svg") for s in seen)
    assert "<div class='chart'><img n='1'></div><div class='chart'><img n='2'></div>" in html


def test_the_comparison_page_marks_the_better_cell_and_lists_each_run():
    fast, slow = records.report("a", latency_ms=20.0), records.report("b", latency_ms=40.0, profile="pixel-8")
    slow["config"]["prompt"] = "another"
    html = report_html.comparison_html([slow, fast])
    assert "<h1>Comparison of 2 runs</h1>" in html and html.count("<li><span class='swatch'") == 2
    assert f"background:{svgchart.PALETTE[0]}" in html and f"background:{svgchart.PALETTE[1]}" in html
    decode = re.search(r"<tr><th>decode .*?</tr>", html)
    assert decode is not None
    cells = re.findall(r"<td class='([^']*)'>(.*?)</td>", decode.group(0))
    assert [c[0] for c in cells] == ["num", "num best"] and cells[1][1].endswith(" ✓") and "✓" not in cells[0][1]
    assert "(higher is better)" in decode.group(0) and "<span class='muted'>+" in cells[1][1]
    assert "<pre>Why &lt;b&gt;?</pre><pre>another</pre>" in html  # both prompts, once each, sorted
    assert html.count("<h3>") == 2 and html.count("<div class='chart'><svg") == 3
    generated = re.search(r"<tr><th>generated tokens .*?</tr>", html)
    assert generated is not None and "is better" not in generated.group(0)


def _pairs(html: str) -> dict[str, str]:
    """Every <tr><th>key</th><td>value</td></tr> of a page, unescaped."""
    import html as html_lib

    return {
        html_lib.unescape(k): html_lib.unescape(v)
        for k, v in re.findall(r"<tr><th>([^<]*)</th><td>(.*?)</td></tr>", html, flags=re.S)
    }


def test_every_row_of_the_run_page_holds_its_own_field():
    from profiler.phone.profiles import load_profile
    from profiler.report import describe

    report = records.report()
    report["model"] |= {
        "architecture": "llama", "bits_per_weight": 5.03, "n_layers": 30, "n_heads": 9, "n_kv_heads": 3,
        "context_length": 8192, "has_chat_template": True, "parameters": 134_515_008,
    }  # fmt: skip
    report["profile"] = load_profile("galaxy-a25").to_dict()
    report["host"] = {"cpu": "AMD EPYC <test>", "logical_cores": 2}
    report["child"] = {"pid": 4242, "llama_cpp": "0.3.36", "sandbox": "landlock ABI 7"}
    report["energy"] = {"j_total": 2.5, "battery_pct": 0.0125, "error_pct": 8.2, "speed_basis": "the run",
                        "basis": "CPU power model"}  # fmt: skip
    report["prediction"] = {"memory": {"total_mb": 181.0}, "speed": {"decode_tokens_per_s": 24.5}}
    rows = _pairs(report_html.run_html(report))
    profile = report["profile"]
    assert rows["name"] == "SmolLM2 135M Instruct" and rows["file"] == report["model"]["file_name"]
    assert rows["architecture"] == "llama" and rows["bits per weight"] == "5.03"
    assert rows["parameters"] == describe.model_line(report["model"])
    assert rows["layers / heads / KV heads"] == "30 / 9 / 3" and rows["trained context"] == "8192"
    assert rows["device"] == f"{profile['name']} (galaxy-a25)" and rows["SoC"] == profile["soc"]
    assert rows["summary"] == describe.profile_line(profile)
    assert rows["memory bandwidth"] == f"{profile['memory_bandwidth_gbs']} GB/s"
    assert rows["CPU"] == report_html._cores(profile) and "cortex-" in rows["CPU"]
    assert rows["backends"] == f"{', '.join(profile['backends'])} (apps default: {profile['default_backend']})"
    assert rows["status"] == describe.outcome(report) and rows["limits"] == describe.limits_line(report["limits"])
    assert rows["speed"] == (describe.speed_line(report) or "—")
    assert rows["host calibration"] == (describe.calibration_line(report) or "—")
    assert rows["phone energy"] == ("2.50 J (0.0125 % of the battery; an estimate ±8 % at the run: CPU power model)")
    assert rows["child"] == "pid 4242 · llama-cpp-python 0.3.36 · sandbox: landlock ABI 7"
    assert rows["cpu"] == "AMD EPYC <test>" and rows["logical_cores"] == "2"
    for key, value in describe.prediction_items(report["prediction"]):
        assert rows[key] == value
    html = report_html.run_html(report)
    assert f"<h1>SmolLM2 135M Instruct on {profile['name']}</h1>" in html
    assert f"<div class='muted'>run {report['run_id']} · {report['started_at']}</div>" in html
    assert "<p class='muted'>pocketprof report, schema version 1.</p>" in html
    for key, value in describe.summary_items(report):
        assert f"<div class='k'>{key}</div><div class='v'>{value}</div>" in html


def test_a_bare_report_still_renders_with_placeholders():
    html = report_html.run_html({})
    assert "<title>pocketprof · ? on ?</title>" in html and "<h1> on </h1>" in html
    rows = _pairs(html)
    assert rows["SoC"] == "—" and rows["CPU"] == "—" and rows["phone energy"] == "none (host profile)"
    assert rows["child"] == "pid None · llama-cpp-python None · sandbox: none"
    assert rows["speed"] == "—" and rows["host calibration"] == "—"
    assert "<div class='outcome '>" in html and "<th>limit</th><th>value</th><th>enforced by</th><th>note</th>" in html
    energy_only_total = records.report()
    energy_only_total["energy"] = {"j_total": 1.0}
    text = _pairs(report_html.run_html(energy_only_total))["phone energy"]
    assert text == "1.00 J (0.0000 % of the battery; an estimate at the predicted speed: the phone power model)"


def test_the_comparison_charts_are_labelled_by_run():
    a, b = records.report("a"), records.report("b", profile="pixel-8")
    html = report_html.comparison_html([a, b])
    for name in (compare.label(a), compare.label(b)):
        assert f"<h3>{name}</h3>" in html and name in html.split("<h2>Charts</h2>")[1].split("<h2>Prompt</h2>")[0]
    assert f"({a['run_id']})" in html and "<title>pocketprof · comparison of 2 runs</title>" in html


def test_the_comparison_page_names_each_run_its_outcome_output_and_units():
    from html import escape

    from profiler.report import describe

    a = records.report("a")
    b = records.report("b", status="killed", kill_at=5, profile="pixel-8")
    b["output_text"] = "second <output>"
    html = report_html.comparison_html([a, b])
    head = f"<tr><th>metric</th><th>{compare.label(a)}</th><th>{compare.label(b)}</th></tr>"
    assert head in html
    assert f"{compare.label(b)} — {escape(describe.outcome(b))}" in html
    assert f"<h3>{compare.label(b)}</h3><pre>second &lt;output&gt;</pre>" in html
    assert "<tr><th>peak footprint <span class='muted'>MB (lower is better)</span></th>" in html
    decode = _row([a, b], "decode")
    first_cell = re.search(r"<tr><th>decode .*?</tr>", html).group(0)  # type: ignore[union-attr]
    assert f"<td class='num'>{compare.fmt_value(decode, decode.values[0])}</td>" in first_cell
