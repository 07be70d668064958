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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from data.store import atomic_write
from geo.errors import PlanningInputError
from geo.labels import DASH, TOTAL_CODE

# (column of the annex table, header with unit, group header above it, number format, width)
ANNEX_COLUMNS: tuple[tuple[str, str, str | None, str, float], ...] = (
    ("_seq", "序号", None, "0", 6),
    ("code", "区划代码", None, "@", 14),
    ("name", "名称", None, "@", 16),
    ("communities", "所辖社区数(个)", None, "0", 10),
    ("fiscal_revenue_10k_yuan", "财政收入(万元)", None, "#,##0.00", 12),
    ("registered_population_10k", "户籍人口总数(万人)", None, "0.00", 11),
    ("elders_10k", "老年人口总数(万人)", None, "0.00", 11),
    ("oldest_old_10k", "高龄老年人人数(万人)", "其中", "0.00", 11),
    ("disabled_10k", "失能(伤残)老年人人数(万人)", "其中", "0.00", 13),
    ("institutions", "机构数(个)", "机构养老", "0", 9),
    ("institution_beds", "床位数(张)", "机构养老", "0", 9),
    ("institution_residents", "入住老年人人数(人)", "机构养老", "0", 11),
    ("community_facilities", "社区养老设施数(个)", "城镇社区养老", "0", 11),
    ("community_facility_beds", "床位数(张)", "城镇社区养老", "0", 9),
    ("community_elders_served", "养老服务老年人人数(人)", "城镇社区养老", "0", 12),
    ("coverage_rate_pct", "社区养老设施覆盖率(%)", None, "0.0", 12),
)
"""The annex 2 layout: its columns in order, with the two-level header, number formats and widths."""


class ReportTables(Protocol):
    """What the writers read from a report (:class:`planning.report.Report` has all of it)."""

    @property
    def basic(self) -> pd.DataFrame: ...  # the annex table: the columns of ANNEX_COLUMNS, total row last
    @property
    def circle(self) -> pd.DataFrame: ...  # service-circle coverage, ``code`` first
    @property
    def checks(self) -> pd.DataFrame: ...  # provisioning checks, ``code`` first
    @property
    def notes(self) -> Sequence[tuple[str, str]]: ...  # (item, text); item "合成数据" is also shown on top
    @property
    def area(self) -> str: ...  # written after "申报地区："
    @property
    def statistics_date(self) -> dt.date: ...
    @property
    def statistics_date_zh(self) -> str: ...  # written after "填报日期："
    @property
    def minutes(self) -> float: ...
    @property
    def mode_zh(self) -> str: ...
    @property
    def circle_columns_zh(self) -> Mapping[str, str]: ...
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
    return value


def _write_frame(ws, frame: pd.DataFrame, headers: Mapping[str, str], *, pct_format: str = "0.0") -> None:
    """A plain sheet: bold header row, values ("—" for NaN), widths, frozen header."""
    from openpyxl.styles import Alignment, Font

    columns = list(frame.columns)
    ws.append([headers.get(c, c) for c in columns])
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
    """The annex layout: title, area and date line, two-level header, figures, formats."""
    from openpyxl.styles import Alignment, Border, Font, Side

    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
    n = len(ANNEX_COLUMNS)
    ws.cell(row=1, column=1, value=report.title).font = Font(bold=True, size=16)
    ws.cell(row=1, column=1).alignment = centre
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=n)
    ws.cell(row=2, column=1, value=f"申报地区：{report.area}    填报日期：{report.statistics_date_zh}")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=n)
    ws.row_dimensions[1].height = 28
    ws.row_dimensions[4].height = 42
    # row 3: group headers over their columns; row 4: every column's header with its unit
    j = 0
    while j < n:
        group = ANNEX_COLUMNS[j][2]
        end = j
        while end + 1 < n and group is not None and ANNEX_COLUMNS[end + 1][2] == group:
            end += 1
        if group is not None:
            ws.cell(row=3, column=j + 1, value=group)
            if end > j:
                ws.merge_cells(start_row=3, start_column=j + 1, end_row=3, end_column=end + 1)
        j = end + 1
    for j, (_, header, _, _, width) in enumerate(ANNEX_COLUMNS, start=1):
        ws.cell(row=4, column=j, value=header)
        ws.column_dimensions[ws.cell(row=4, column=j).column_letter].width = width
        for r in (3, 4):
            cell = ws.cell(row=r, column=j)
            cell.font, cell.alignment, cell.border = Font(bold=True), centre, border
    for i, row in enumerate(report.basic.to_dict("records")):
        r = 5 + i
        total = row["code"] == TOTAL_CODE
        for j, (key, _, _, fmt, _) in enumerate(ANNEX_COLUMNS, start=1):
            value = ("" if total else i + 1) if key == "_seq" else _cell_value(row[key])
            cell = ws.cell(row=r, column=j, value=value)
            cell.number_format, cell.border = fmt, border
            if total:
                cell.font = Font(bold=True)
    ws.freeze_panes = "D5"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.print_title_rows = "3:4"


def write_report_workbook(report: ReportTables, path: str | Path) -> Path:
    """Write the official report workbook atomically; returns its path.

    Sheets: "基本情况表" (the annex 2 layout of :data:`ANNEX_COLUMNS`), "服务圈覆盖" (``report.circle``),
    "配置检查" (``report.checks``), "说明" (``report.notes``: definitions, parameters, date, sources,
    record counts).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    path = report_path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "基本情况表"
    _write_annex(ws, report)
    _write_frame(wb.create_sheet("服务圈覆盖"), report.circle, report.circle_columns_zh)
    _write_frame(wb.create_sheet("配置检查"), report.checks, report.check_columns_zh)
    ns = wb.create_sheet("说明")
    ns.append(["项目", "内容"])
    for item, text in report.notes:
        ns.append([item, text])
    ns.column_dimensions["A"].width, ns.column_dimensions["B"].width = 14, 110
    for cell in ns[1]:
        cell.font = Font(bold=True)
    for cell in ns["B"]:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
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


def _annex_html(table: pd.DataFrame) -> str:
    top, second = [], []
    j, n = 0, len(ANNEX_COLUMNS)
    while j < n:
        key, header, group, _, _ = ANNEX_COLUMNS[j]
        if group is None:
            top.append(f'<th rowspan="2">{html_lib.escape(header)}</th>')
            j += 1
            continue
        end = j
        while end + 1 < n and ANNEX_COLUMNS[end + 1][2] == group:
            end += 1
        top.append(f'<th colspan="{end - j + 1}">{html_lib.escape(group)}</th>')
        second += [f"<th>{html_lib.escape(c[1])}</th>" for c in ANNEX_COLUMNS[j:end + 1]]
        j = end + 1
    body = []
    for i, row in enumerate(table.to_dict("records")):
        total = row["code"] == TOTAL_CODE
        cells = [f"<td>{'' if total else i + 1}</td>"]
        cells += [f"<td>{_fmt(row[key], fmt)}</td>" for key, _, _, fmt, _ in ANNEX_COLUMNS[1:]]
        body.append(f'<tr{" class=total" if total else ""}>{"".join(cells)}</tr>')
    return (f'<table class="annex"><thead><tr>{"".join(top)}</tr><tr>{"".join(second)}</tr></thead>'
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
        rows.append(f'<tr{" class=total" if row["code"] == TOTAL_CODE else ""}>{"".join(cells)}</tr>')
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
.chart { width: 100%; max-width: 720px; height: auto; }
.map { width: 100%; max-width: 640px; max-height: 520px; display: block; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 8px; vertical-align: middle; }
.annex td:nth-child(3), table.plain td:nth-child(2) { white-space: nowrap; }
.notes td:first-child { white-space: nowrap; font-weight: bold; }
.notes td { text-align: left; }
.synthetic { color: #b00; font-weight: bold; }
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

    Inline CSS and the inline SVG ``chart_svg`` (coverage rates) and ``map_svg`` (communities and
    facilities, see :mod:`layers.report_svg`; left out when empty); no URLs. Every data text is
    escaped here; the SVGs must come escaped. :func:`write_pdf` prints the page to PDF.
    """
    title = html_lib.escape(report.title)
    synthetic = [text for item, text in report.notes if item == "合成数据"]
    notes_html = "".join(f"<tr><td>{html_lib.escape(a)}</td><td>{html_lib.escape(b)}</td></tr>"
                         for a, b in report.notes)
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title><style>{CSS}</style></head>
<body>
<section>
<h1>{title}</h1>
<p class="meta">申报地区：{html_lib.escape(report.area)}　　填报日期：{html_lib.escape(report.statistics_date_zh)}</p>
{''.join(f'<p class="synthetic">{html_lib.escape(t)}</p>' for t in synthetic)}
{_annex_html(report.basic)}
<h2>社区养老设施覆盖率</h2>
<p>{html_lib.escape(report.coverage_formula)}</p>
{chart_svg}
{('<h2>社区养老服务设施分布</h2>' + map_svg) if map_svg else ''}
</section>
<section>
<h2>服务圈覆盖（{html_lib.escape(report.mode_zh)} {report.minutes:g} 分钟）</h2>
{_frame_html(report.circle, report.circle_columns_zh)}
<h2>配置检查</h2>
{_frame_html(report.checks, report.check_columns_zh)}
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


__all__ = ["ANNEX_COLUMNS", "CSS", "DASH", "ReportTables", "report_path", "write_pdf", "write_report_html",
           "write_report_workbook"]
