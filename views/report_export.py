"""The official report's files from a region: :func:`planning.report.build_report` composed with the writers.

Why this module, and why here: the tables are pure (:mod:`planning.report`, which does no file I/O),
the files are rendered by :mod:`data.report_files` (which sits below ``planning/`` and so cannot
call :func:`~planning.report.build_report`) and the inline chart and map are drawn by
:mod:`layers.report_svg`. Composing the three is the job of the callers — ``eldermap report`` and
the 统计报表 page — and this small module is that composition, written once for both. It never
imports streamlit, so the CLI can use it.

Callers that need the figures too (the summary line) call :func:`~planning.report.build_report`
themselves and hand the :class:`~planning.report.Report` to :func:`write_report_files`, so the
annex table is computed once per report; :func:`write_report` is the one-call convenience.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from data.report_files import report_path, write_report_html, write_report_workbook
from data.store import Region
from geo.settings import Settings
from layers.report_svg import community_map_svg, coverage_chart_svg
from planning.network import Mode
from planning.report import Report, ReportLevel, build_report


def write_report_files(report: Report, region: Region, path: str | Path, *,
                       html: str | Path | None = None) -> Path:
    """Write a computed report as the xlsx workbook (atomically) and, when ``html`` is given, the
    printable page with its inline coverage chart and community map (drawn from ``region``'s areas and
    facilities). Returns the xlsx path."""
    path = write_report_workbook(report, path)
    if html is not None:
        map_svg = community_map_svg(region.areas, region.facilities, report.served_communities,
                                    settings=report.settings)
        write_report_html(report, html, map_svg=map_svg, chart_svg=coverage_chart_svg(report.basic))
    return path


def write_report(region: Region, path: str | Path, *, settings: Settings, by: ReportLevel = "district",
                 minutes: float = 15.0, statistics_date: dt.date | None = None, html: str | Path | None = None,
                 mode: Mode = "walk") -> Path:
    """Compute the official report (:func:`planning.report.build_report`) and write its workbook and,
    optionally, its printable HTML page (:func:`write_report_files`). ``statistics_date`` defaults to
    today. Returns the xlsx path; a wrong suffix is refused before anything is computed."""
    report_path(path)
    report = build_report(region, settings=settings, by=by, minutes=minutes, statistics_date=statistics_date,
                          mode=mode)
    return write_report_files(report, region, path, html=html)


__all__ = ["write_report", "write_report_files"]
