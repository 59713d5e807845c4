"""PDF reports through Qt's own PDF writer: the HTML report's content, paginated.

QTextDocument lays out a subset of HTML and cannot draw inline SVG, so each chart is
rendered to an image with QSvgRenderer and handed to the document as a resource.
Works without a display (the offscreen platform) for ``pocketprof report --pdf``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from profiler.record import atomic_target

CHART_WIDTH_PX = 1720  # twice the SVG's 860-unit width, for a sharp print


_KEEP: list[Any] = []  # the application this module made, kept alive while the process runs


def _app() -> Any:
    from PySide6.QtGui import QGuiApplication

    if QGuiApplication.instance() is None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        _KEEP.append(QGuiApplication(["pocketprof"]))
    return QGuiApplication.instance()


def write_pdf(reports: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Write the report (one run) or the comparison (several) as a PDF, atomically."""
    _app()
    from PySide6.QtCore import QByteArray, QMarginsF, QSizeF, QUrl
    from PySide6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument
    from PySide6.QtSvg import QSvgRenderer

    from profiler.report import report_html

    document = QTextDocument()
    images: list[QImage] = []

    def embed(svg: str) -> str:
        renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
        size = renderer.defaultSize()
        height = round(CHART_WIDTH_PX * size.height() / max(1, size.width()))
        image = QImage(CHART_WIDTH_PX, height, QImage.Format.Format_ARGB32)
        image.fill(QColor("white"))
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        name = f"chart{len(images)}.png"
        images.append(image)
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
        return f"<p><img src='{name}' width='640'></p>"

    html = (
        report_html.run_html(reports[0], embed=embed)
        if len(reports) == 1
        else report_html.comparison_html(reports, embed=embed)
    )
    document.setHtml(html)
    with atomic_target(Path(path)) as tmp:
        writer = QPdfWriter(str(tmp))
        writer.setResolution(96)
        writer.setPageLayout(
            QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait, QMarginsF(12, 12, 12, 12))
        )
        writer.setTitle(f"pocketprof report ({len(reports)} run{'s' if len(reports) > 1 else ''})")
        writer.setCreator("pocketprof")
        page = writer.pageLayout().paintRectPixels(writer.resolution())
        document.setPageSize(QSizeF(page.width(), page.height()))
        document.print_(writer)
        del writer  # flushes and closes the file
        if tmp.stat().st_size == 0:
            raise OSError(f"Qt wrote an empty PDF to {tmp}")
