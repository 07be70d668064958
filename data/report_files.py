"""The official report's files: the xlsx workbook, the printable HTML page and its PDF.

These functions render; they compute nothing. They take a report object — any object with the
attributes of :class:`ReportTables`, such as :class:`planning.report.Report` made by
:func:`planning.report.build_report` — and write it atomically (:func:`data.store.atomic_write`).
This module sits below ``planning/`` and does not import it: the protocol below states what it
needs. The inline SVG chart and map of the HTML page are drawn by :mod:`layers.report_svg` and
passed in as text; :mod:`views.report_export` composes the three for the CLI and the app.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from data.exports import neutralise_cell, xml_safe
from data.store import atomic_write
from geo.errors import PlanningInputError
from geo.labels import DASH, TOTAL_CODE

# (column of the annex table, header with unit, group headers above it, number format, width)
ANNEX_COLUMNS: tuple[tuple[str, str, tuple[str, ...], str, float], ...] = (
    ("_seq", "序号", (), "0", 6),
    ("communities", "所辖社区数(个)", (), "0", 10),
    ("fiscal_revenue_10k_yuan", "{year}年度财政收入(万元)", (), "#,##0.00", 13),
    ("registered_population_10k", "户籍人口总数(万人)", (), "0.00", 11),
    ("elders_10k", "老年人口总数(万人)", (), "0.00", 11),
    ("oldest_old_10k", "高龄老年人人数(万人)", ("其中：",), "0.00", 11),
    ("disabled_10k", "失能(伤残)老年人人数(万人)", ("其中：",), "0.00", 13),
    ("institutions", "机构数(个)", ("养老服务发展情况", "机构养老"), "0", 9),
    ("institution_beds", "床位数(张)", ("养老服务发展情况", "机构养老"), "0", 9),
    ("institution_residents", "入住老年人人数(人)", ("养老服务发展情况", "机构养老"), "0", 11),
    ("community_facilities", "社区养老设施数(个)", ("养老服务发展情况", "城镇社区养老"), "0", 11),
    ("community_facility_beds", "床位数(张)", ("养老服务发展情况", "城镇社区养老"), "0", 9),
    ("community_elders_served", "养老服务老年人人数(人)", ("养老服务发展情况", "城镇社区养老"), "0", 12),
    ("coverage_rate_pct", "社区养老设施覆盖率(%)", ("养老服务发展情况",), "0.0", 12),
)
"""The annex 2 layout, as the annex prints it: its 14 numbered columns in order, each with its header
("{year}" is the statistics year), the group headers above it (其中：; 养老服务发展情况 over 机构养老,
城镇社区养老 and the coverage rate), number format and width."""
AREA_COLUMN: tuple[str, str, float] = ("name", "地区", 16)
"""The one column the report adds: left of 序号, not numbered, naming each row's area (the total row
"合计"). The annex's own 14 columns and their numbering are unchanged."""
HEADER_ROWS = 3
"""Rows of the annex's header (group, sub-group, column); the numbering row 1–14 follows."""
SEALS: tuple[str, ...] = ("申报地区财政部门(盖章)", "申报地区民政部门(盖章)")
"""The two lines under the annex's notes."""
REMARKS_LABEL = "备注："


def annex_headers(year: int) -> list[tuple[int, int, int, int, str]]:
    """The annex header cells: (row, column, rows spanned, columns spanned, text), rows 0–2 and
    columns 0 (the 地区 column) to 14, as both the workbook and the printable page draw them."""
    columns = [(AREA_COLUMN[1], ()), *((header.format(year=year), groups)
                                       for _, header, groups, _, _ in ANNEX_COLUMNS)]
    cells = []
    for level in range(HEADER_ROWS - 1):
        j = 0
        while j < len(columns):
            groups = columns[j][1]
            if len(groups) <= level:
                j += 1
                continue
            end = j
            while end + 1 < len(columns) and columns[end + 1][1][:level + 1] == groups[:level + 1]:
                end += 1
            cells.append((level, j, 1, end - j + 1, groups[level]))
            j = end + 1
    for j, (header, groups) in enumerate(columns):
        cells.append((len(groups), j, HEADER_ROWS - len(groups), 1, header))
    return sorted(cells)


def _annex_value(value: object) -> object:
    """A figure of the annex: empty items are 0 (note 1)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return 0
    if isinstance(value, np.generic):
        return value.item()
    return value


def annex_rows(basic: pd.DataFrame) -> list[tuple[str, str, list[object]]]:
    """The data rows of the annex: (area label, 序号, the 13 figures of columns 2–14) per row of
    ``basic``; the total row is labelled "合计" and not numbered; empty figures are 0."""
    out = []
    for i, row in enumerate(basic.to_dict("records")):
        total = row["code"] == TOTAL_CODE
        label = TOTAL_CODE if total else str(row.get("name") or row["code"])
        out.append((label, "" if total else str(i + 1), [_annex_value(row[key]) for key, *_ in ANNEX_COLUMNS[1:]]))
    return out


class ReportTables(Protocol):
    """What the writers read from a report (:class:`planning.report.Report` has all of it)."""

    @property
    def basic(self) -> pd.DataFrame: ...  # the annex table: the columns of ANNEX_COLUMNS, total row last
    @property
    def circle_rows(self) -> pd.DataFrame: ...  # service-circle coverage, one row per area and kind, ``code`` first
    @property
    def checks(self) -> pd.DataFrame: ...  # provisioning checks, ``code`` first
    @property
    def notes(self) -> Sequence[tuple[str, str]]: ...  # (item, text): the 说明 sheet
    @property
    def remarks(self) -> Sequence[str]: ...  # notes 1–6 as the annex words them, under the table
    @property
    def warnings(self) -> Sequence[str]: ...  # lines shown on top of the first sheet and of the page
    @property
    def extra_sheets(self) -> Sequence[tuple[str, pd.DataFrame, Mapping[str, str]]]: ...  # (name, table, headers)
    @property
    def area(self) -> str: ...  # written after "申报地区："
    @property
    def statistics_date(self) -> dt.date: ...
    @property
    def statistics_date_zh(self) -> str: ...  # written after "填报日期："
    @property
    def fiscal_year(self) -> int: ...  # the year of "YYYY年度财政收入(万元)"
    @property
    def minutes(self) -> float: ...
    @property
    def mode_zh(self) -> str: ...
    @property
    def circle_rows_columns_zh(self) -> Mapping[str, str]: ...
    @property
    def check_columns_zh(self) -> Mapping[str, str]: ...
    @property
    def title(self) -> str: ...
    @property
    def coverage_formula(self) -> str: ...


def report_path(path: str | Path) -> Path:
    """``path`` as a Path; a Chinese error unless it ends in .xlsx."""
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise PlanningInputError(f"报表文件应为 .xlsx，收到 {path.name}", f"report must be .xlsx, got {path}")
    return path


# ---------------------------------------------------------------- xlsx


def _cell_value(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return DASH
    if isinstance(value, np.generic):
        return value.item()
    return xml_safe(value)


def _write_frame(ws, frame: pd.DataFrame, headers: Mapping[str, str], *, pct_format: str = "0.0") -> None:
    """A plain sheet: bold header row, values ("—" for NaN), widths, frozen header."""
    from openpyxl.styles import Alignment, Font

    columns = list(frame.columns)
    ws.append([xml_safe(headers.get(c, c)) for c in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    for row in frame.itertuples(index=False):
        ws.append([_cell_value(v) for v in row])
    for j, column in enumerate(columns, start=1):
        letter = ws.cell(row=1, column=j).column_letter
        width = 40 if column == "flags" else max(10, min(24, len(headers.get(column, column)) * 1.6))
        ws.column_dimensions[letter].width = width
        if "pct" in column or column.startswith("tier:"):
            for cell in ws[letter][1:]:
                cell.number_format = pct_format
    ws.freeze_panes = "C2"


def _write_annex(ws, report: ReportTables) -> None:
    """The annex layout: warnings, title, area and date line, the annex's three-row header with its
    merged group headers, the numbering row 1–14, the figures (empty items 0), notes 1–6 and the two
    seal lines."""
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
    left = Alignment(horizontal="left", vertical="center", wrap_text=True)
    n = len(ANNEX_COLUMNS) + 1  # the 地区 column, then the annex's 14

    def line(r: int, text: str, *, font: Font | None = None, align: Alignment = left, height: float = 0) -> None:
        cell = ws.cell(row=r, column=1, value=xml_safe(text))
        cell.alignment = align
        if font is not None:
            cell.font = font
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=n)
        if height:
            ws.row_dimensions[r].height = height

    r = 1
    for text in report.warnings:
        line(r, text, font=Font(bold=True, color="C00000"), height=32)
        r += 1
    line(r, report.title, font=Font(bold=True, size=16), align=centre, height=28)
    line(r + 1, f"申报地区：{report.area}    填报日期：{report.statistics_date_zh}")
    top = r + 2
    for row, col, rows, cols, text in annex_headers(report.fiscal_year):
        ws.cell(row=top + row, column=col + 1, value=text)
        if rows > 1 or cols > 1:
            ws.merge_cells(start_row=top + row, start_column=col + 1, end_row=top + row + rows - 1,
                           end_column=col + cols)
    numbers = top + HEADER_ROWS
    for j in range(1, len(ANNEX_COLUMNS) + 1):
        ws.cell(row=numbers, column=j + 1, value=j)
    for rr in range(top, numbers + 1):
        for j in range(1, n + 1):
            cell = ws.cell(row=rr, column=j)
            cell.font, cell.alignment, cell.border = Font(bold=True), centre, border
    ws.row_dimensions[top + HEADER_ROWS - 1].height = 42
    ws.column_dimensions["A"].width = AREA_COLUMN[2]
    for j, (*_, width) in enumerate(ANNEX_COLUMNS, start=2):
        ws.column_dimensions[get_column_letter(j)].width = width
    first = numbers + 1
    for i, (label, seq, figures) in enumerate(annex_rows(report.basic)):
        rr = first + i
        total = label == TOTAL_CODE and seq == ""
        values = [xml_safe(label), int(seq) if seq else "", *figures]
        formats = ["@", "0", *(fmt for _, _, _, fmt, _ in ANNEX_COLUMNS[1:])]
        for j, (value, fmt) in enumerate(zip(values, formats, strict=True), start=1):
            cell = ws.cell(row=rr, column=j, value=value)
            cell.number_format, cell.border = fmt, border
            if total:
                cell.font = Font(bold=True)
    r = first + len(report.basic)
    for k, text in enumerate(report.remarks):  # "备注：1. …", then 2.–6. indented under "1."
        line(r + k, (REMARKS_LABEL if k == 0 else "") + text, height=30,
             align=left if k == 0 else Alignment(horizontal="left", vertical="center", wrap_text=True, indent=3))
    r += len(report.remarks) + 1
    for k, text in enumerate(SEALS):
        line(r + 2 * k, text, font=Font(size=12), height=24)
    ws.freeze_panes = f"C{first}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.print_title_rows = f"{top}:{numbers}"


def _no_formulas(ws) -> None:
    """Every text cell through :func:`data.exports.neutralise_cell`, the one rule of every workbook the
    project writes: the report writes no formulas, so a text starting with ``= + - @``, tab or CR (a
    name, an area, a note) is stored with a leading quote, as text, never evaluated."""
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                safe = neutralise_cell(cell.value)
                if safe is not cell.value:  # a text openpyxl took for a formula is among these
                    cell.value = safe  # re-typed by openpyxl: "s", a quoted text


def _sheet_name(name: str, taken: Collection[str]) -> str:
    """A valid, unused sheet name (at most 31 characters, none of []:*?/\\)."""
    clean = "".join("_" if ch in '[]:*?/\\' else ch for ch in str(name)).strip("'") or "表"
    clean = clean[:31]
    candidate, k = clean, 2
    while candidate in taken:
        suffix = f"({k})"
        candidate, k = clean[:31 - len(suffix)] + suffix, k + 1
    return candidate


def write_report_workbook(report: ReportTables, path: str | Path) -> Path:
    """Write the official report workbook atomically; returns its path.

    Sheets: "基本情况表" (the annex 2 layout of :data:`ANNEX_COLUMNS`, with ``report.warnings`` on top
    and the annex's notes and seal lines under it), "服务圈覆盖" (``report.circle_rows``), "配置检查"
    (``report.checks``), one sheet per ``report.extra_sheets``, and "说明" (``report.notes``:
    definitions, parameters, date, sources, record counts).
    """
    from openpyxl import Workbook

    path = report_path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "基本情况表"
    _write_annex(ws, report)
    _write_frame(wb.create_sheet("服务圈覆盖"), report.circle_rows, report.circle_rows_columns_zh)
    _write_frame(wb.create_sheet("配置检查"), report.checks, report.check_columns_zh)
    for name, frame, headers in report.extra_sheets:
        _write_frame(wb.create_sheet(_sheet_name(name, [*wb.sheetnames, "说明"])), frame, headers)
    return save_workbook(wb, path, report.notes)


def save_workbook(wb, path: Path, notes: Sequence[tuple[str, str]], *, item_width: float = 18) -> Path:
    """Finish a workbook the way every report of the project ends: a "说明" sheet of (项目, 内容) notes, every
    text cell through :func:`_no_formulas`, saved atomically to ``path``."""
    from openpyxl.styles import Alignment, Font

    ns = wb.create_sheet("说明")
    ns.append(["项目", "内容"])
    for item, text in notes:
        ns.append([xml_safe(item), xml_safe(text)])
    ns.column_dimensions["A"].width, ns.column_dimensions["B"].width = item_width, 110
    for cell in ns[1]:
        cell.font = Font(bold=True)
    for cell in ns["B"]:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for sheet in wb.worksheets:
        _no_formulas(sheet)
    with atomic_write(path, mode="wb") as f:
        wb.save(f)
    return path


# ---------------------------------------------------------------- html


def _fmt(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return DASH
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        decimals = {"0.00": 2, "#,##0.00": 2, "0.0": 1}.get(fmt)
        return f"{float(value):,.{decimals}f}" if decimals is not None else f"{int(round(float(value))):,}"
    return html_lib.escape(str(value))


def _annex_html(report: ReportTables) -> str:
    """The annex table: the three header rows with their spans, the numbering row, the figures."""
    head: list[list[str]] = [[] for _ in range(HEADER_ROWS)]
    for row, _, rows, cols, text in annex_headers(report.fiscal_year):
        span = (f' rowspan="{rows}"' if rows > 1 else "") + (f' colspan="{cols}"' if cols > 1 else "")
        head[row].append(f"<th{span}>{html_lib.escape(text)}</th>")
    numbering = "<th></th>" + "".join(f"<th>{j}</th>" for j in range(1, len(ANNEX_COLUMNS) + 1))
    body = []
    for label, seq, figures in annex_rows(report.basic):
        total = label == TOTAL_CODE and seq == ""
        cells = [f'<td class="area">{html_lib.escape(label)}</td>', f"<td>{seq}</td>"]
        cells += [f"<td>{_fmt(v, fmt)}</td>" for v, (_, _, _, fmt, _) in zip(figures, ANNEX_COLUMNS[1:], strict=True)]
        body.append(f'<tr{" class=total" if total else ""}>{"".join(cells)}</tr>')
    rows_html = "".join(f"<tr>{''.join(cells)}</tr>" for cells in head)
    return (f'<table class="annex"><thead>{rows_html}<tr class="numbering">{numbering}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _frame_html(frame: pd.DataFrame, headers: Mapping[str, str]) -> str:
    head = "".join(f"<th>{html_lib.escape(headers.get(c, c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.to_dict("records"):
        cells = []
        for c in frame.columns:
            v = row[c]
            fmt = "0.0" if ("pct" in c or c.startswith("tier:") or "target" in c) else "0"
            cells.append(f"<td>{'是' if v is True else '否' if v is False else _fmt(v, fmt)}</td>")
        rows.append(f'<tr{" class=total" if row.get("code") == TOTAL_CODE else ""}>{"".join(cells)}</tr>')
    return f'<table class="plain"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


CSS = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 24px; color: #111; }
h1 { text-align: center; font-size: 22px; margin: 8px 0; }
h2 { font-size: 16px; margin: 24px 0 8px; border-left: 4px solid #2f6fb0; padding-left: 6px; }
.meta { margin: 4px 0 12px; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin-bottom: 8px; }
th, td { border: 1px solid #444; padding: 3px 5px; text-align: center; }
th { background: #eef2f7; }
tr.total td { font-weight: bold; background: #f6f6f6; }
tr.numbering th { background: #fff; font-weight: normal; }
.chart { width: 100%; max-width: 720px; height: auto; }
.map { width: 100%; max-width: 640px; max-height: 520px; display: block; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 8px; vertical-align: middle; }
.annex td.area, table.plain td:nth-child(2) { white-space: nowrap; }
.remarks p { margin: 2px 0; font-size: 13px; }
.remarks p + p { padding-left: 3em; }
.seal { margin: 18px 0 0; font-size: 14px; }
.notes td:first-child { white-space: nowrap; font-weight: bold; }
.notes td { text-align: left; }
.warning { color: #b00; font-weight: bold; border: 2px solid #b00; padding: 6px 8px; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { margin: 0; }
  h2 { break-after: avoid; }
  table, .chart, .map { break-inside: avoid; }
  section { break-before: page; }
  section:first-of-type { break-before: auto; }
}
"""
"""Style of the printable page; ``@media print`` fits it to A4 landscape."""


def write_report_html(report: ReportTables, path: str | Path, *, map_svg: str = "", chart_svg: str = "") -> Path:
    """Write the printable, self-contained HTML page of the report (same figures as the workbook).

    ``report.warnings`` on top; the annex as printed (title, 申报地区/填报日期, the three-row header,
    numbering row, figures, 备注 1–6, the two seal lines); inline CSS and the inline SVG ``chart_svg``
    (coverage rates) and ``map_svg`` (communities and facilities, see :mod:`layers.report_svg`; left
    out when empty); the service-circle, check and extra tables; the 说明 notes. No URLs. Every data
    text is escaped here; the SVGs must come escaped. :func:`write_pdf` prints the page to PDF.
    """
    title = html_lib.escape(report.title)
    notes_html = "".join(f"<tr><td>{html_lib.escape(a)}</td><td>{html_lib.escape(b)}</td></tr>"
                         for a, b in report.notes)
    remarks = "".join(f"<p>{REMARKS_LABEL if k == 0 else ''}{html_lib.escape(t)}</p>"
                      for k, t in enumerate(report.remarks))
    seals = "".join(f'<p class="seal">{html_lib.escape(s)}</p>' for s in SEALS)
    extras = "".join(f"<h2>{html_lib.escape(str(name))}</h2>{_frame_html(frame, headers)}"
                     for name, frame, headers in report.extra_sheets)
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title><style>{CSS}</style></head>
<body>
<section>
{''.join(f'<p class="warning">{html_lib.escape(t)}</p>' for t in report.warnings)}
<h1>{title}</h1>
<p class="meta">申报地区：{html_lib.escape(report.area)}　　填报日期：{html_lib.escape(report.statistics_date_zh)}</p>
{_annex_html(report)}
<div class="remarks">{remarks}</div>
{seals}
</section>
<section>
<h2>社区养老设施覆盖率</h2>
<p>{html_lib.escape(report.coverage_formula)}</p>
{chart_svg}
{('<h2>社区养老服务设施分布</h2>' + map_svg) if map_svg else ''}
</section>
<section>
<h2>服务圈覆盖（{html_lib.escape(report.mode_zh)} {report.minutes:g} 分钟）</h2>
{_frame_html(report.circle_rows, report.circle_rows_columns_zh)}
<h2>配置检查</h2>
{_frame_html(report.checks, report.check_columns_zh)}
{extras}
</section>
<section>
<h2>说明</h2>
<table class="notes"><tbody>{notes_html}</tbody></table>
</section>
</body></html>
"""
    with atomic_write(path, mode="w", encoding="utf-8") as f:
        f.write(page)
    return Path(path)


# ---------------------------------------------------------------- pdf


def write_pdf(html_path: str | Path, pdf_path: str | Path, *, timeout_s: float = 120.0) -> Path:
    """Print the report's HTML page to PDF with headless Chromium (fonts embedded by Chromium).

    Uses Debian's ``chromium`` (``make test`` installs it). Without it, a Chinese error says to
    open the HTML page and print it from any browser instead.
    """
    import shutil
    import subprocess
    import tempfile

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise PlanningInputError("输出 PDF 需要 Chromium 浏览器（Debian：apt-get install chromium）；也可以用 --html "
                                 "生成网页后在浏览器中打印为 PDF", "chromium not found for PDF output")
    pdf_path = Path(pdf_path)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.pdf"
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--no-pdf-header-footer", f"--print-to-pdf={out}", Path(html_path).resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            raise PlanningInputError("Chromium 未能生成 PDF；可以用 --html 生成网页后在浏览器中打印",
                                     f"chromium failed to print PDF: {done.stderr[-500:]!r}")
        with atomic_write(pdf_path, mode="wb") as f:
            f.write(out.read_bytes())
    return pdf_path


__all__ = ["ANNEX_COLUMNS", "AREA_COLUMN", "CSS", "DASH", "HEADER_ROWS", "SEALS", "ReportTables", "annex_headers",
           "annex_rows", "report_path", "write_pdf", "write_report_html", "write_report_workbook"]
