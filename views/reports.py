"""统计报表: the official basic-situation table in the app, with the workbook, the printable page and the PDF.

Opening the page computes only what it shows — the annex table (:func:`planning.report.basic_situation`)
and the notes — which need no road network. The full report (:func:`planning.report.build_report`, the
same function as ``eldermap report``: service-circle coverage of every kind and the provisioning
checks, one network search each) is computed when the user asks for the files, and the files are
written from that :class:`~planning.report.Report` through :mod:`views.report_export`. Each download is
recorded in the audit log.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st

from data.report_files import write_pdf
from data.store import Region
from geo.errors import ElderMapError
from geo.labels import ANNEX_COLUMNS_ZH, TOTAL_CODE
from geo.settings import Settings, settings_digest
from planning.report import (
    ANNEX_TITLE,
    Report,
    annex_remarks,
    basic_situation,
    build_report,
    coverage_formula,
    report_notes,
    total_line,
    unassigned_counts,
)
from planning.summary import community_summary
from views.access import audit_action
from views.report_export import write_report_files
from views.text import md_escape, message_zh

LEVELS_ZH = {"district": "按区县", "street": "按街道（乡镇）"}
REPORT_DATE_MIN = dt.date(2000, 1, 1)
"""Earliest statistics date the page offers (the latest is the end of this year)."""


@st.cache_data(show_spinner="正在统计…", max_entries=16)
def _basic(_region: Region, region_key: str, by: str, day: dt.date, _settings: Settings,
           settings_key: str) -> pd.DataFrame:
    del region_key, settings_key  # cache keys only
    return basic_situation(_region, settings=_settings, by=by, statistics_date=day)


@st.cache_data(show_spinner="正在计算服务圈与配置检查…", max_entries=16)
def _report(_region: Region, region_key: str, by: str, minutes: float, day: dt.date, _settings: Settings,
            settings_key: str) -> Report:
    del region_key, settings_key  # cache keys only
    return build_report(_region, settings=_settings, by=by, minutes=minutes, statistics_date=day)


def _files(report: Report, region: Region, *, pdf: bool) -> dict[str, bytes]:
    """The workbook, the printable page and (when asked for) the PDF of ``report``, as bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        xlsx, html = Path(tmp) / "report.xlsx", Path(tmp) / "report.html"
        write_report_files(report, region, xlsx, html=html)
        files = {"xlsx": xlsx.read_bytes(), "html": html.read_bytes()}
        if pdf:
            files["pdf"] = write_pdf(html, Path(tmp) / "report.pdf").read_bytes()
    return files


def render(region: Region, settings: Settings, *, user: str = "", role: str = "",
           regions_root: Path | None = None) -> None:
    """The reports page body (the caller has checked the login and shown the title)."""
    col_by, col_min, col_day = st.columns(3)
    by = col_by.radio("汇总层级", tuple(LEVELS_ZH), format_func=LEVELS_ZH.get, horizontal=True, key="rep_by")
    minutes = float(col_min.selectbox("服务圈（分钟）", settings.circle_minutes, index=len(settings.circle_minutes) - 1,
                                      key="rep_minutes"))
    today = dt.date.today()
    day = col_day.date_input("统计日期", value=today, min_value=REPORT_DATE_MIN, max_value=dt.date(today.year, 12, 31),
                             key="rep_day", format="YYYY-MM-DD",
                             help=f"按此日计算老人周岁；可选 {REPORT_DATE_MIN:%Y-%m-%d} 至今年 12 月 31 日")
    digest = settings_digest(settings)
    try:
        basic = _basic(region, str(region.path), by, day, settings, digest)
        notes = report_notes(region, settings=settings, by=by, minutes=minutes, statistics_date=day)
        lost = unassigned_counts(region, settings=settings, by=by)
    except ElderMapError as exc:
        st.error(md_escape(message_zh(exc), keep_lines=True))
        render_community_summary(region, settings)  # counts per community: still shown
        return
    if lost.over:
        st.warning(lost.warning_zh() + " 命令行 eldermap report 此时会报错退出（除非加 --allow-unassigned）。")
    st.subheader(ANNEX_TITLE)
    st.caption(total_line(basic))
    st.caption(lost.text_zh() + "。")
    headers = {**ANNEX_COLUMNS_ZH, "fiscal_revenue_10k_yuan": f"{day.year}年度财政收入(万元)"}
    shown = basic[[c for c in headers if c in basic.columns]].rename(columns=headers)
    st.dataframe(shown, hide_index=True, width="stretch")
    st.text("备注：" + "\n".join(annex_remarks(settings=settings, statistics_date=day)))
    rates = basic[basic["code"] != TOTAL_CODE].set_index("name")["coverage_rate_pct"].dropna()
    if not rates.empty:
        st.markdown(f"**社区养老服务设施覆盖率（%）**：{md_escape(coverage_formula(settings))}")
        st.bar_chart(rates, horizontal=True, y_label="覆盖率（%）", x_label="")
    with st.expander("指标说明、统计日期与数据来源"):
        for item, text in notes:
            st.markdown(f"**{md_escape(item)}**：{md_escape(text)}")

    st.subheader("导出")
    want_pdf = st.checkbox("同时生成 PDF（需要服务器安装 Chromium）", key="rep_pdf")
    if st.button("生成报表文件", type="primary", key="rep_make"):
        with st.status("正在生成报表…", expanded=False) as status:
            try:
                report = _report(region, str(region.path), by, minutes, day, settings, digest)
                st.session_state["rep_files"] = _files(report, region, pdf=want_pdf)
                status.update(label="报表已生成", state="complete")
            except ElderMapError as exc:
                status.update(label="生成失败", state="error")
                st.error(md_escape(message_zh(exc), keep_lines=True))
    files = st.session_state.get("rep_files") or {}
    stem = f"{region.name}_基本情况表_{day:%Y%m%d}"

    def exported(kind: str) -> Callable[[], bytes]:
        """The file, handed over when the user clicks (a deferred download: the bytes reach Streamlit's media
        store only then, and no rerun re-registers the button while the browser fetches it); audited."""
        def hand_over() -> bytes:
            audit_action("export", user=user, role=role, settings=settings, region=region.name, root=regions_root,
                         version=region.version, detail=f"统计报表 {kind}（{LEVELS_ZH[by]}，{minutes:g} 分钟）")
            return files[kind]
        return hand_over

    for kind, label, mime in (("xlsx", "下载 Excel 报表", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                              ("html", "下载打印版网页", "text/html"), ("pdf", "下载 PDF", "application/pdf")):
        if kind in files:
            st.download_button(label, exported(kind), file_name=f"{stem}.{kind}", mime=mime, key=f"rep_dl_{kind}",
                               on_click="ignore")
    render_community_summary(region, settings)


def render_community_summary(region: Region, settings: Settings) -> None:
    """Section 各社区养老服务设施数量: facilities and elders per community, small elder counts suppressed."""
    st.subheader("各社区养老服务设施数量")
    st.caption(f"老年人数少于 {settings.suppression_threshold} 人的社区显示为“少于"
               f"{settings.suppression_threshold}”，以保护个人信息。")
    st.dataframe(community_summary(region, settings), hide_index=True, width="stretch")
