"""Exporters are found by format in a registry; the app's PDF writer comes through an entry point."""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path

import pytest

from profiler.errors import BadInput
from profiler.report import exports
from tests import records


def test_the_apps_pdf_writer_is_declared_as_an_entry_point_not_imported_by_name():
    declared = {ep.name: ep.value for ep in metadata.entry_points(group=exports.PLUGIN_GROUP)}
    assert declared == {"pdf": "ui.pdf:write_pdf"}
    assert exports.names()[:4] == ["html", "csv", "llama_bench_json", "llama_bench_csv"] and "pdf" in exports.names()


def test_a_plug_in_that_cannot_load_is_one_line_and_loses_nothing_already_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    broken = metadata.EntryPoint(name="pdf", value="no_such_pocketprof_module:write", group=exports.PLUGIN_GROUP)
    monkeypatch.setattr(exports, "plugins", lambda: {"pdf": broken})
    monkeypatch.delitem(exports.EXPORTERS, "pdf", raising=False)
    html, pdf = tmp_path / "run.html", tmp_path / "run.pdf"
    with pytest.raises(BadInput) as refused:
        exports.export([records.report()], pdf=pdf, html=html)
    assert str(refused.value) == (
        f"{pdf}: pdf export needs no_such_pocketprof_module, which cannot load: "
        "No module named 'no_such_pocketprof_module'"
    )
    assert html.read_text().startswith("<!DOCTYPE html>") and not pdf.exists()  # HTML first, then the plug-in


def test_a_registered_exporter_gets_its_option_its_suffix_and_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def write(reports, path: Path) -> list[Path]:
        path.write_text(f"{len(reports)} run(s): {reports[0]['run_id']}")
        return [path]

    monkeypatch.setitem(exports.EXPORTERS, "txt", exports.Exporter("txt", ".txt", "plain text", write))
    parser = argparse.ArgumentParser()
    exports.add_arguments(parser)
    args = parser.parse_args(["--txt", str(tmp_path / "a.txt")])
    report = records.report()
    assert exports.from_args([report], args) == [tmp_path / "a.txt"]
    assert (tmp_path / "a.txt").read_text() == f"1 run(s): {report['run_id']}"
    assert [exports.option_for(Path(n)) for n in ("x.TXT", "x.json", "x.csv", "x.pdf", "x")] == [
        "txt",
        "llama_bench_json",
        "csv",
        "pdf",
        "html",
    ]


def test_an_unknown_format_is_refused_naming_the_known_ones(tmp_path: Path):
    with pytest.raises(BadInput, match=r"no exporter for 'docx' \(known: html, csv, llama_bench_json"):
        exports.export([records.report()], docx=tmp_path / "a.docx")
