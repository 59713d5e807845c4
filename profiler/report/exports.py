"""Writing a run (or several runs, as a comparison) to any export format, found by name in a registry.

The engine registers HTML, CSV and llama-bench's JSON and CSV here. Other packages add formats
through the ``pocketprof.exporters`` entry point (name → a ``write(reports, path)`` function):
the app declares its Qt PDF writer there (``pyproject.toml``), so ``--pdf`` works wherever the
app is installed and the engine never imports ``ui`` (ARCHITECTURE.md, "A new exporter").
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from profiler.errors import BadInput
from profiler.paths import cli_path
from profiler.record import write_atomic, write_problem
from profiler.report import export_csv, llamabench, report_html

Reports = Sequence[Mapping[str, Any]]
PLUGIN_GROUP = "pocketprof.exporters"


@dataclass(frozen=True)
class Exporter:
    """One format: ``write`` puts the reports at a path and returns every file it wrote."""

    name: str  # the export() keyword; its CLI option is --name with dashes
    suffix: str  # the file name ending that chooses it in a save dialog ("" for none)
    help: str
    write: Callable[[Reports, Path], list[Path]]


EXPORTERS: dict[str, Exporter] = {}


def register(exporter: Exporter) -> None:
    EXPORTERS[exporter.name] = exporter


def html_for(reports: Reports) -> str:
    return report_html.run_html(reports[0]) if len(reports) == 1 else report_html.comparison_html(reports)


def _html(reports: Reports, path: Path) -> list[Path]:
    write_atomic(path, html_for(reports))
    return [path]


def _csv(reports: Reports, path: Path) -> list[Path]:
    if path.suffix.lower() == ".csv" and len(reports) > 1:
        write_atomic(path, export_csv.comparison_csv(reports))
        return [path]
    path.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for report in reports:
        written += export_csv.write_run(report, path)
    if len(reports) > 1:
        written.append(path / "comparison.csv")
        write_atomic(written[-1], export_csv.comparison_csv(reports))
    return written


def _one_file(write: Callable[[list[Any], Path], None]) -> Callable[[Reports, Path], list[Path]]:
    """An exporter from a writer of one file (llama-bench's, a plug-in's)."""

    def exporter(reports: Reports, path: Path) -> list[Path]:
        write([dict(report) for report in reports], path)
        return [path]

    return exporter


register(Exporter("html", ".html", "a self-contained HTML report", _html))
register(Exporter("csv", ".csv", "a folder for the samples and tokens CSV files", _csv))
register(
    Exporter(
        "llama_bench_json", ".json", "throughput as llama-bench -o json writes it", _one_file(llamabench.write_json)
    )
)
register(Exporter("llama_bench_csv", "", "throughput as llama-bench -o csv writes it", _one_file(llamabench.write_csv)))


@functools.cache
def _declared() -> tuple[metadata.EntryPoint, ...]:
    return tuple(metadata.entry_points(group=PLUGIN_GROUP))  # read once: installed packages do not change


def plugins() -> dict[str, metadata.EntryPoint]:
    """Formats other installed packages offer, not yet loaded (loading the app's imports Qt)."""
    return {ep.name: ep for ep in _declared() if ep.name not in EXPORTERS}


def names() -> list[str]:
    return list(EXPORTERS) + list(plugins())


def find(name: str, path: Path) -> Exporter:
    """The exporter for a format, loading a plug-in's on first use; a one-line BadInput if it cannot load."""
    if name in EXPORTERS:
        return EXPORTERS[name]
    entry = plugins().get(name)
    if entry is None:
        raise BadInput(f"{path}: no exporter for {name!r} is installed (known: {', '.join(names())})")
    try:
        write = entry.load()
    except ImportError as exc:
        raise BadInput(f"{path}: {name} export needs {entry.value.split(':')[0]}, which cannot load: {exc}") from None
    register(Exporter(name, f".{name}", _plugin_help(name, entry), _one_file(write)))
    return EXPORTERS[name]


def _plugin_help(name: str, entry: metadata.EntryPoint) -> str:
    return f"the same report as {name.upper()} ({entry.value})"


def export(reports: Reports, **targets: Path | None) -> list[Path]:
    """Write each asked-for format (``html=PATH``, ``pdf=PATH``…); returns the files written.

    Formats are written in registry order, plug-ins last (a plug-in that cannot load loses nothing
    the others wrote). A failed write is a one-line BadInput naming the file.
    """
    known = names()
    unknown = [name for name in targets if name not in known]
    if unknown:
        raise BadInput(f"no exporter for {', '.join(map(repr, unknown))} (known: {', '.join(known)})")
    written: list[Path] = []
    for name in known:
        target = targets.get(name)
        if target is None:
            continue
        target = Path(target)
        exporter = find(name, target)
        try:
            written += exporter.write(reports, target)
        except OSError as exc:
            raise BadInput(f"cannot write: {write_problem(target, exc)}") from None
    return written


def option_for(path: Path) -> str:
    """The ``export`` keyword a file name asks for (.pdf, .csv, .json for llama-bench's), else HTML."""
    suffix = Path(path).suffix.lower()
    by_suffix = {e.suffix: e.name for e in reversed(EXPORTERS.values()) if e.suffix}
    by_suffix |= {f".{name}": name for name in plugins()}
    return by_suffix.get(suffix, "html")


def add_arguments(parser: Any, *, csv_help: str | None = None) -> None:
    """An option per format (``--html``, ``--llama-bench-json``…, and each plug-in's, as ``--pdf``)."""
    for exporter in EXPORTERS.values():
        text = csv_help if exporter.name == "csv" and csv_help else exporter.help
        parser.add_argument(f"--{exporter.name.replace('_', '-')}", type=cli_path, help=text)
    for name, entry in plugins().items():
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=cli_path, help=f"the report as {name.upper()} ({entry.value})"
        )


def from_args(reports: Reports, args: Any) -> list[Path]:
    return export(reports, **{name: getattr(args, name, None) for name in names()})
