"""Outputs of the video-call reports (VC-19…28): ``.xlsx`` files streamed from a write-only workbook
(Vietnamese headers, typed cells: numbers, dates, percentages) and small server-side SVG charts
(grouped bars, lines) drawn into the report pages without any script."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.responses import FileResponse
from markupsafe import Markup, escape
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from starlette.background import BackgroundTask

from ketnoi.settings import get_settings
from ketnoi.videocall.reports import tz

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"int": "#,##0", "float": "#,##0.0", "seconds": "#,##0.0", "datetime": "dd/mm/yyyy hh:mm:ss",
           "percent": "0.0%"}
COLORS = ("#1f6feb", "#2da44e", "#d29922", "#cf222e", "#8250df")


@dataclass
class Col:
    header: str
    key: str
    kind: str = "text"  # text | int | float | seconds | datetime | percent
    width: float = 16


def _value(v: Any, kind: str) -> Any:
    if v is None or v == "":
        return None
    if kind == "datetime" and isinstance(v, datetime):
        return v.astimezone(tz()).replace(tzinfo=None)
    if kind == "percent":
        return float(v) / 100
    if kind == "int":
        return int(v)
    if kind in ("float", "seconds"):
        return float(v)
    return ILLEGAL_CHARACTERS_RE.sub("", str(v))[:32767]


def write_xlsx(path: Path, title: str, filters: str, cols: list[Col], rows: Iterable[dict[str, Any]],
               sheet: str = "Báo cáo") -> int:
    """Rows 1–2: title and filters; row 4: headers; data from row 5. Returns the number of rows."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet[:31])
    for i, c in enumerate(cols, start=1):
        ws.column_dimensions[get_column_letter(i)].width = c.width
    head = WriteOnlyCell(ws, value=title)
    head.font = Font(bold=True, size=14)
    ws.append([head])
    ws.append([WriteOnlyCell(ws, value=filters)])
    ws.append([])
    fill = PatternFill("solid", fgColor="DDE7F5")
    header = []
    for c in cols:
        cell = WriteOnlyCell(ws, value=c.header)
        cell.font, cell.fill = Font(bold=True), fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        header.append(cell)
    ws.append(header)
    n = 0
    for row in rows:
        cells = []
        for c in cols:
            cell = WriteOnlyCell(ws, value=_value(row.get(c.key), c.kind))
            if c.kind in FORMATS:
                cell.number_format = FORMATS[c.kind]
            cells.append(cell)
        ws.append(cells)
        n += 1
    wb.save(path)
    return n


def xlsx_response(title: str, filters: str, cols: list[Col], rows: Iterable[dict[str, Any]], name: str) -> FileResponse:
    """Writes the workbook to a temporary file and streams it; the file is removed after sending."""
    folder = get_settings().data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".xlsx", delete=False) as tmp:
        path = Path(tmp.name)
    write_xlsx(path, title, filters, cols, rows)
    stamp = datetime.now(tz()).strftime("%Y%m%d-%H%M")
    filename = f"{name}-{stamp}.xlsx"
    return FileResponse(path, media_type=XLSX, background=BackgroundTask(path.unlink, missing_ok=True),
                        headers={"Content-Disposition": f"attachment; filename=\"{name}.xlsx\"; "
                                                        f"filename*=UTF-8''{quote(filename)}"})


# --- SVG charts ----------------------------------------------------------------------------------
def _nice_max(v: float) -> float:
    if v <= 0:
        return 1
    step = 10 ** (len(str(int(v))) - 1)
    return float(((int(v) // step) + 1) * step) if v > step else float(max(1, int(v) + 1))


def _frame(labels: list[str], top: float, width: int, height: int, unit: str) -> tuple[list[str], float, float]:
    left, bottom = 48, 56
    plot_w, plot_h = width - left - 12, height - bottom - 24
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="vc-chart" viewBox="0 0 {width} {height}" '
              f'width="100%" style="max-width:{width}px">')]
    for i in range(5):
        y = 24 + plot_h - plot_h * i / 4
        value = top * i / 4
        parts.append(f'<line x1="{left}" x2="{width - 12}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de" '
                     f'stroke-width="1"/><text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
                     f'fill="#57606a">{value:g}{escape(unit)}</text>')
    slot = plot_w / max(1, len(labels))
    step = max(1, len(labels) // 16)
    for i, label in enumerate(labels):
        if i % step:
            continue
        x = left + slot * (i + 0.5)
        parts.append(f'<text x="{x:.1f}" y="{24 + plot_h + 16}" font-size="11" text-anchor="end" fill="#24292f" '
                     f'transform="rotate(-30 {x:.1f} {24 + plot_h + 16})">{escape(str(label)[:18])}</text>')
    return parts, slot, plot_h


def _legend(parts: list[str], names: list[str], width: int) -> None:
    x = 52
    for i, name in enumerate(names):
        parts.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{COLORS[i % len(COLORS)]}"/>'
                     f'<text x="{x + 14}" y="13" font-size="11" fill="#24292f">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    parts.append("</svg>")


def bar_chart(labels: list[str], series: list[tuple[str, list[float]]], *, width: int = 760, height: int = 280,
              unit: str = "") -> Markup:
    """Grouped vertical bars, one colour per series."""
    top = _nice_max(max((v or 0 for _, vals in series for v in vals), default=0))
    parts, slot, plot_h = _frame(labels, top, width, height, unit)
    bar = slot * 0.8 / max(1, len(series))
    for s, (name, values) in enumerate(series):
        for i, v in enumerate(values):
            h = plot_h * (v or 0) / top
            x = 48 + slot * i + slot * 0.1 + bar * s
            parts.append(f'<rect x="{x:.1f}" y="{24 + plot_h - h:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}" '
                         f'fill="{COLORS[s % len(COLORS)]}"><title>{escape(labels[i])} – {escape(name)}: '
                         f'{v or 0:g}{escape(unit)}</title></rect>')
    _legend(parts, [n for n, _ in series], width)
    return Markup("".join(parts))


def line_chart(labels: list[str], series: list[tuple[str, list[float | None]]], *, width: int = 760,
               height: int = 280, unit: str = "") -> Markup:
    """Lines with points over ordered labels (periods); gaps where a value is None."""
    top = _nice_max(max((v or 0 for _, vals in series for v in vals), default=0))
    parts, slot, plot_h = _frame(labels, top, width, height, unit)
    for s, (name, values) in enumerate(series):
        color = COLORS[s % len(COLORS)]
        points = [(48 + slot * (i + 0.5), 24 + plot_h - plot_h * v / top, v, i) for i, v in enumerate(values)
                  if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y, v, i in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{escape(labels[i])} – '
                         f'{escape(name)}: {v:g}{escape(unit)}</title></circle>')
    _legend(parts, [n for n, _ in series], width)
    return Markup("".join(parts))
