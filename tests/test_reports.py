"""Exports and comparisons, checked as a user would: in Chromium, through pdftoppm, with csv.

Two real runs (the two default models) are made once for the module and reused.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

import pytest

from profiler.report import compare, export_csv, report_html
from tests.conftest import run_cli, start_cli

pytestmark = pytest.mark.model
HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(1)>'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("runs")
    env = dict(os.environ, POCKETPROF_HOME=str(folder / "home"))
    paths = []
    for model in ("smollm2-135m", "gemma3-270m"):
        path = folder / f"{model}.json"
        args = ("run", "--model", model, "--profile", "iphone-16", "--max-tokens", "12", "--quiet", "--json", str(path))
        result = run_cli(*args, "--prompt", HOSTILE, env=env)
        assert result.returncode == 0, result.stderr
        paths.append(path)
    return paths


def sweep_args(out: Path, *, max_tokens: int, cool_down: float) -> list[str]:
    """Both default models on the host profile, one after the other."""
    return [
        "sweep",
        "--models",
        "smollm2-135m,gemma3-270m",
        "--profiles",
        "host",
        "--max-tokens",
        str(max_tokens),
        "--cool-down",
        str(cool_down),
        "--out",
        str(out),
    ]


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:  # newline="": a token may hold a line break
        return list(csv.DictReader(handle))


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tempfile.mkdtemp(prefix="pocketprof-chromium-")
    try:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def page_requests(html: Path, tmp_path: Path) -> set[str]:
    """Every URL the page itself asked for (Chromium's own update checks are 'not an origin')."""
    log = tmp_path / "net.json"
    chromium(f"--log-net-log={log}", "--dump-dom", html.as_uri())
    events = json.loads(log.read_text())["events"]
    return {
        e["params"]["url"]
        for e in events
        if "url" in e.get("params", {}) and e["params"].get("initiator") not in (None, "not an origin")
    }


def coloured_pixels(png: Path) -> int:
    from PySide6.QtGui import QImage

    image = QImage(str(png))
    assert not image.isNull(), png
    step = 3
    count = 0
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            c = image.pixelColor(x, y)
            if max(c.red(), c.green(), c.blue()) - min(c.red(), c.green(), c.blue()) > 60:
                count += 1
    return count


def test_cli_compare_prints_the_table_and_writes_html_and_csv(runs: list[Path], tmp_path: Path):
    html, table = tmp_path / "cmp.html", tmp_path / "cmp.csv"
    result = run_cli("compare", *map(str, runs), "--html", str(html), "--csv", str(table))
    assert result.returncode == 0, result.stderr
    assert "[1] SmolLM2-135M-Instruct.Q4_1.gguf · iphone-16" in result.stdout
    assert "[2] gemma-3-270m" in result.stdout.lower()
    assert "decode (tok/s)" in result.stdout and "*" in result.stdout
    reports = [json.loads(p.read_text()) for p in runs]
    rows = {row["metric"]: row for row in rows_of(table)}
    decode = rows["decode"]
    labels = [compare.label(r) for r in reports]
    assert float(decode[labels[0]]) == reports[0]["summary"]["decode_tokens_per_s"]
    expected = reports[1]["summary"]["decode_tokens_per_s"] - reports[0]["summary"]["decode_tokens_per_s"]
    assert float(decode[f"delta vs first: {labels[1]}"]) == pytest.approx(expected)
    assert html.read_text(encoding="utf-8").count("<svg") == 3


def test_csv_files_load_back_to_the_json_numbers(runs: list[Path], tmp_path: Path):
    report = json.loads(runs[0].read_text())
    result = run_cli("report", str(runs[0]), "--csv", str(tmp_path / "csv"))
    assert result.returncode == 0, result.stderr
    samples = list(rows_of(tmp_path / "csv" / f"{report['run_id']}-samples.csv"))
    tokens = list(rows_of(tmp_path / "csv" / f"{report['run_id']}-tokens.csv"))
    assert list(samples[0])[:3] == ["t_s", "rss_mb", "footprint_mb"]
    assert len(samples) == len(report["samples"]) and len(tokens) == len(report["tokens"])
    # every column, named here rather than read from the exporter (a swapped column must fail)
    sample_columns = {"t_s": "t", "rss_mb": "rss_mb", "footprint_mb": "footprint_mb", "file_backed_mb": "file_mb"}
    sample_columns |= {"anon_mb": "anon_mb", "swap_mb": "swap_mb", "cpu_percent": "cpu_percent", "threads": "threads"}
    sample_columns |= {"gpu_mem_mb": "gpu_mem_mb", "gpu_power_w": "gpu_power_w"}
    assert list(samples[0]) == list(sample_columns)
    assert any(s["rss_mb"] != s["anon_mb"] for s in report["samples"])  # else a swap of the two would pass
    for row, sample in zip(samples, report["samples"], strict=True):
        for column, field in sample_columns.items():
            expected = sample.get(field)
            assert (row[column] == "") if expected is None else float(row[column]) == expected, (column, row)
    token_columns = {"index": "index", "t_s": "t", "latency_ms": "latency_ms", "token_id": "id", "text": "text"}
    assert list(tokens[0]) == list(token_columns)
    for row, token in zip(tokens, report["tokens"], strict=True):
        assert row["text"] == token["text"], row
        for column in ("index", "t_s", "latency_ms", "token_id"):
            assert float(row[column]) == token[token_columns[column]], (column, row)


def test_hostile_prompt_text_is_escaped_never_markup(runs: list[Path]):
    report = json.loads(runs[0].read_text())
    assert report["config"]["prompt"] == HOSTILE
    page = report_html.run_html(report)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_hostile_error_in_the_outcome_banner_is_escaped_and_the_page_may_fetch_nothing(runs: list[Path]):
    report = json.loads(runs[0].read_text())
    hostile = "<script>alert(2)</script><img src=x onerror=alert(3)>"
    report |= {"status": "error", "error": f"/models/{hostile}.gguf: not a GGUF file"}
    page = report_html.run_html(report)
    assert "<script" not in page and "<img" not in page and "&lt;script&gt;alert(2)" in page
    banner = page[page.index("<div class='outcome error'>") :].split("</div>", 1)[0]
    assert "&lt;img src=x onerror=alert(3)&gt;" in banner
    csp = re.search(r"<meta http-equiv='Content-Security-Policy' content=\"([^\"]+)\">", page)
    assert csp is not None and "default-src 'none'" in csp.group(1).split(";")[0]
    assert "script-src" not in csp.group(1) and "connect-src" not in csp.group(1)  # nothing may run or fetch


@needs_chromium
def test_the_html_report_renders_in_chromium_with_charts_and_no_network(runs: list[Path], tmp_path: Path):
    html = tmp_path / "report.html"
    assert run_cli("report", str(runs[0]), "--html", str(html)).returncode == 0
    dom = chromium("--dump-dom", html.as_uri()).stdout
    assert dom.count("<svg") == 3 and dom.count('class="series"') >= 4
    assert "<script" not in dom and "<img" not in dom  # the hostile prompt stayed text
    assert "alert(1)" in dom
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,1600", html.as_uri())
    assert coloured_pixels(shot) > 200  # the charts' coloured lines, not a blank page
    assert page_requests(html, tmp_path) == set()


@needs_chromium
def test_the_network_check_itself_sees_a_request(tmp_path: Path):
    """The detector above must be able to fail: a page that fetches something is caught."""
    page = tmp_path / "fetches.html"
    page.write_text("<html><body><img src='http://127.0.0.1:9/pixel.png'></body></html>")
    assert "http://127.0.0.1:9/pixel.png" in page_requests(page, tmp_path)


@needs_chromium
def test_the_comparison_report_renders_overlaid_charts(runs: list[Path], tmp_path: Path):
    html = tmp_path / "cmp.html"
    assert run_cli("compare", *map(str, runs), "--html", str(html)).returncode == 0
    dom = chromium("--dump-dom", html.as_uri()).stdout
    assert dom.count("<svg") == 3
    assert dom.count("✓") >= 3  # better values marked in the delta table
    assert page_requests(html, tmp_path) == set()


@needs_poppler
def test_the_pdf_turns_into_pages_and_the_first_shows_the_summary_and_a_chart(runs: list[Path], tmp_path: Path):
    pdf = tmp_path / "report.pdf"
    result = run_cli("report", str(runs[0]), "--pdf", str(pdf))
    assert result.returncode == 0, result.stderr
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2
    text = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "TTFT" in text and "decode" in text and "peak footprint" in text
    assert coloured_pixels(pages[0]) > 30  # the charts' coloured lines are on page 1 (a page without one has none)


def test_llama_bench_files_from_a_real_run(runs: list[Path], tmp_path: Path):
    out_json, out_csv = tmp_path / "lb.json", tmp_path / "lb.csv"
    result = run_cli("report", str(runs[0]), "--llama-bench-json", str(out_json), "--llama-bench-csv", str(out_csv))
    assert result.returncode == 0, result.stderr
    report = json.loads(runs[0].read_text())
    tests = json.loads(out_json.read_text())
    tg = next(t for t in tests if t["n_gen"] > 0)
    assert tg["avg_ts"] == report["summary"]["decode_tokens_per_s"]
    rows = list(rows_of(out_csv))
    assert len(rows) == len(tests) == 2


def test_sweep_runs_every_pair_and_writes_a_comparison(tmp_path: Path):
    out = tmp_path / "sweep"
    result = run_cli(*sweep_args(out, max_tokens=6, cool_down=0.5))
    assert result.returncode == 0, result.stderr
    reports = sorted(out.glob("0*.json"))
    assert [p.name for p in reports] == ["01-smollm2-135m-host.json", "02-gemma3-270m-host.json"]
    assert (out / "comparison.html").is_file() and (out / "comparison.csv").is_file()
    assert sorted(p.name for p in out.glob("0*.html")) == ["01-smollm2-135m-host.html", "02-gemma3-270m-host.html"]
    first, second = (json.loads(p.read_text()) for p in reports)
    start = [datetime.fromisoformat(r["started_at"]).timestamp() for r in (first, second)]
    assert start[1] >= start[0] + first["summary"]["wall_time_s"] - 0.002  # one after another, never together


def test_bad_report_files_are_one_line_exit_2(tmp_path: Path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    for path, needle in (
        (broken, "not a pocketprof JSON report"),
        (other, "no schema_version"),
        (tmp_path / "none.json", "report not found"),
    ):
        result = run_cli("report", str(path), "--html", str(tmp_path / "x.html"))
        assert result.returncode == 2
        assert result.stderr.strip() == result.stderr.strip().splitlines()[0]
        assert str(path) in result.stderr and needle in result.stderr


def test_export_csv_of_a_comparison_has_units_in_the_header(runs: list[Path]):
    reports = [json.loads(p.read_text()) for p in runs]
    header = next(csv.reader(export_csv.comparison_csv(reports).splitlines()))
    assert header[:3] == ["metric", "unit", "better"]
    assert next(csv.reader(export_csv.samples_csv(reports[0]).splitlines()))[2] == "footprint_mb"


def test_model_metadata_profile_names_and_output_are_escaped_everywhere(runs: list[Path]):
    """A GGUF's name, a profile's name and generated text are data, in every HTML the project writes."""
    from profiler.report import ladder_html

    report = json.loads(runs[0].read_text())
    report["model"]["name"] = "<script>steal()</script>"
    report["model"]["file_name"] = '"><img src=x onerror=alert(2)>.gguf'
    report["profile"]["name"] = "<iframe src=//evil>"
    report["output_text"] = "</pre><script>alert(3)</script>"
    ladder = {
        "source": {"path": report["model"]["file_name"]},
        "profile": report["profile"],
        "entries": [{"quant": "<b>Q4</b>", "fits": True}],
        "best_fitting_quant": "<b>Q4</b>",
    }
    for page in (
        report_html.run_html(report),
        report_html.comparison_html([report, report]),
        ladder_html.ladder_html(ladder),
    ):
        for tag in ("<script", "<img", "<iframe", "<b>Q4"):
            assert tag not in page, tag
    assert "&lt;script&gt;steal()&lt;/script&gt;" in report_html.run_html(report)


def test_a_lone_carriage_return_in_a_token_round_trips_through_csv(tmp_path: Path):
    report = {
        "tokens": [
            {"index": 0, "t": 1.5, "latency_ms": 2.0, "id": 5, "text": "a\rb"},
            {"index": 1, "t": 1.6, "latency_ms": 3.0, "id": 6, "text": "c\nd"},
        ]
    }
    path = tmp_path / "tokens.csv"
    path.write_text(export_csv.tokens_csv(report), encoding="utf-8", newline="")
    assert [row["text"] for row in rows_of(path)] == ["a\rb", "c\nd"]


def test_malformed_report_fields_are_one_line_exit_2(runs: list[Path], tmp_path: Path):
    good = json.loads(runs[0].read_text())
    cases = {
        "model": (dict(good, model="x"), "field 'model' must be an object"),
        "summary": (
            dict(good, summary=dict(good["summary"], ttft_s="fast")),
            "field 'summary.ttft_s' must be a number",
        ),
        "limits": (dict(good, limits={"dram": {"value": 1}}), "field 'limits.dram' needs value, unit and mechanism"),
    }
    for name, (data, needle) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        result = run_cli("compare", str(runs[0]), str(path))
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().startswith(f"error: {path}: {needle}")
        assert len(result.stderr.strip().splitlines()) == 1


def test_ctrl_c_during_a_sweep_cool_down_stops_before_the_next_run(tmp_path: Path):
    import signal
    import time

    out = tmp_path / "sweep"
    args = sweep_args(out, max_tokens=4, cool_down=20)
    proc = start_cli(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "01-smollm2-135m-host.html").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # now in the 20 s cool-down
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "stopped; the runs so far are kept" in err
    assert sorted(p.name for p in out.glob("0*.json")) == ["01-smollm2-135m-host.json"]
