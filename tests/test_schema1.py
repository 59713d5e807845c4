"""Reports and a history written before RunRecord had typed fields (schema 1) still load and compare.

tests/data/ holds what pocketprof wrote at commit fecb919, when a run's findings lived in an
untyped ``extra`` dict flattened into the report: a host run and an emulated iPhone 16 run of
SmolLM2 (``run --json``), and the history database those two runs were kept in.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from profiler.record import OPTIONAL, Kill, Limit, RunRecord, Sample, Token
from profiler.report import compare, exports, history
from tests.conftest import run_cli

DATA = Path(__file__).parent / "data"
HOST, PHONE = DATA / "schema1-host.json", DATA / "schema1-iphone-16.json"


def old(path: Path) -> dict:
    return json.loads(path.read_text())


def test_the_old_history_lists_and_loads_each_run_as_its_report_file(tmp_path: Path):
    db = tmp_path / "history.sqlite3"
    shutil.copy(DATA / "schema1-history.sqlite3", db)
    runs = history.list_runs(path=db)
    assert [r["profile"] for r in runs] == ["iphone-16", "host"]  # newest first
    for path in (HOST, PHONE):
        report = old(path)
        assert history.load(report["run_id"], db) == report


def test_old_reports_compare_and_export_beside_a_report_written_today(tmp_path: Path):
    today = _today_from(old(PHONE)).to_dict()
    reports = [*compare.load_reports([HOST, PHONE]), today]
    rows = {row.metric.key: row for row in compare.table(reports)}
    assert {"summary.decode_tokens_per_s", "summary.peak_footprint_mb", "energy.j_per_token"} <= set(rows)
    decode = [compare.value_at(r, "summary.decode_tokens_per_s") for r in reports]
    assert all(v is not None and v > 0 for v in decode) and decode[1] == decode[2]
    written = exports.export(reports, html=tmp_path / "c.html", csv=tmp_path / "c.csv")
    assert written == [tmp_path / "c.html", tmp_path / "c.csv"]
    page = (tmp_path / "c.html").read_text()
    assert all(r["run_id"] in page for r in reports[:2])


def test_a_record_written_today_has_the_same_report_keys_as_schema_1():
    for path in (HOST, PHONE):
        report = old(path)
        today = _today_from(report).to_dict()
        assert set(today) == set(report), set(today) ^ set(report)
        for key in ("emulation", "throttle", "prediction", "energy", "host_energy", "sampler_cpu_s", "warnings"):
            assert today.get(key) == report.get(key), key


def test_unset_findings_are_left_out_but_energy_is_always_written():
    bare = RunRecord(run_id="r", started_at="t", config={}, model={}, profile={}, host={}).to_dict()
    assert not set(OPTIONAL) & set(bare)
    assert bare["energy"] is None and bare["host_energy"] is None


@pytest.mark.model
def test_the_cli_reports_and_compares_the_old_files(tmp_path: Path):
    result = run_cli("compare", str(HOST), str(PHONE), "--html", str(tmp_path / "c.html"))
    assert result.returncode == 0, result.stderr
    assert "iphone-16" in result.stdout and "host" in result.stdout
    result = run_cli("report", str(PHONE), "--html", str(tmp_path / "r.html"))
    assert result.returncode == 0, result.stderr
    assert "iPhone 16" in (tmp_path / "r.html").read_text()


def _today_from(report: dict) -> RunRecord:
    """The same run as a RunRecord of today's code, its findings in the typed fields."""
    fields = {f.name for f in dataclasses.fields(RunRecord)}
    rows = ("limits", "summary", "kill", "samples", "tokens")
    record = RunRecord(**{k: v for k, v in report.items() if k in fields and k not in rows})
    record.limits = {name: Limit(**limit) for name, limit in report["limits"].items()}
    for key, value in report["summary"].items():
        setattr(record.summary, key, value)
    record.kill = Kill(**report["kill"]) if report["kill"] else None
    record.samples = [Sample(**s) for s in report["samples"]]
    record.tokens = [Token(**t) for t in report["tokens"]]
    return record
