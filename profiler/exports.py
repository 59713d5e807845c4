"""Writing a run (or several runs, as a comparison) to every export format at once.

HTML, CSV and llama-bench files are written here; the PDF goes through Qt's PDF writer
in ``ui.pdf``, loaded by name so the engine never imports Qt.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from profiler import export_csv, llamabench, report_html
from profiler.errors import BadInput
from profiler.paths import cli_path
from profiler.record import write_atomic, write_problem


def html_for(reports: Sequence[Mapping[str, Any]]) -> str:
    return report_html.run_html(reports[0]) if len(reports) == 1 else report_html.comparison_html(reports)


def write_pdf(reports: Sequence[Mapping[str, Any]], path: Path) -> None:
    try:
        pdf = importlib.import_module("ui.pdf")
    except ImportError as exc:
        raise BadInput(f"{path}: PDF export needs the app's Qt libraries: {exc}") from None
    pdf.write_pdf(list(reports), Path(path))


def export(
    reports: Sequence[Mapping[str, Any]],
    *,
    html: Path | None = None,
    pdf: Path | None = None,
    csv: Path | None = None,
    llama_bench_json: Path | None = None,
    llama_bench_csv: Path | None = None,
) -> list[Path]:
    """Write the asked-for files; returns them. A failed write is a one-line BadInput naming the file."""
    written: list[Path] = []
    target: Path | None = None
    try:
        if html is not None:
            target = Path(html)
            write_atomic(target, html_for(reports))
            written.append(target)
        if csv is not None:
            target = Path(csv)
            if target.suffix.lower() == ".csv" and len(reports) > 1:
                write_atomic(target, export_csv.comparison_csv(reports))
                written.append(target)
            else:
                target.mkdir(parents=True, exist_ok=True)
                for report in reports:
                    written += export_csv.write_run(report, target)
                if len(reports) > 1:
                    written.append(target / "comparison.csv")
                    write_atomic(written[-1], export_csv.comparison_csv(reports))
        if llama_bench_json is not None:
            target = Path(llama_bench_json)
            llamabench.write_json(list(reports), target)
            written.append(target)
        if llama_bench_csv is not None:
            target = Path(llama_bench_csv)
            llamabench.write_csv(list(reports), target)
            written.append(target)
        if pdf is not None:
            target = Path(pdf)
            write_pdf(reports, target)
            written.append(target)
    except OSError as exc:
        raise BadInput(f"cannot write: {write_problem(target or Path('.'), exc)}") from None
    return written


def option_for(path: Path) -> str:
    """The ``export`` keyword a file name asks for: .pdf, .csv, .json (llama-bench), else HTML."""
    return {".pdf": "pdf", ".csv": "csv", ".json": "llama_bench_json"}.get(Path(path).suffix.lower(), "html")


def add_arguments(parser: Any, *, csv_help: str = "a folder for the samples and tokens CSV files") -> None:
    parser.add_argument("--html", type=cli_path, help="a self-contained HTML report")
    parser.add_argument("--pdf", type=cli_path, help="the same report as a PDF")
    parser.add_argument("--csv", type=cli_path, help=csv_help)
    parser.add_argument("--llama-bench-json", type=cli_path, help="throughput as llama-bench -o json writes it")
    parser.add_argument("--llama-bench-csv", type=cli_path, help="throughput as llama-bench -o csv writes it")


def from_args(reports: Sequence[Mapping[str, Any]], args: Any) -> list[Path]:
    return export(
        reports,
        html=args.html,
        pdf=args.pdf,
        csv=args.csv,
        llama_bench_json=args.llama_bench_json,
        llama_bench_csv=args.llama_bench_csv,
    )
