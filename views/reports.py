"""统计报表: the official basic-situation table in the app, with the workbook, the printable page and the PDF.

Everything is computed by :mod:`planning.report` (the same functions as ``eldermap report``); this
view reads the options, shows the table, the coverage-rate chart and the notes, and offers the files.
Each download is recorded in the audit log.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from data import audit
from data.store import Region
from geo.errors import ElderMapError
from geo.settings import Settings
from planning.report import basic_situation, report_notes, total_line, write_pdf, write_report

LEVELS_ZH = {"district": "按区县", "street": "按街道（乡镇）"}

ANNEX_COLUMNS_ZH = {
    "code": "区划代码", "name": "名称", "communities": "所辖社区数(个)",
    "fiscal_revenue_10k_yuan": "财政收入(万元)", "registered_population_10k": "户籍人口总数(万人)",
    "elders_10k": "老年人口总数(万人)", "oldest_old_10k": "高龄老年人人数(万人)",
    "disabled_10k": "失能(伤残)老年人人数(万人)", "institutions": "机构数(个)", "institution_beds": "机构床位数(张)",
    "institution_residents": "入住老年人人数(人)", "community_facilities": "社区养老设施数(个)",
    "community_facility_beds": "社区设施床位数(张)", "community_elders_served": "养老服务老年人人数(人)",
    "communities_with_facility": "有设施的社区数(个)", "coverage_rate_pct": "社区养老设施覆盖率(%)",
}


@st.cache_data(show_spinner="正在统计…", max_entries=16)
def _basic(_region: Region, region_key: str, by: str, _settings: Settings, settings_key: str) -> pd.DataFrame:
    del region_key, settings_key  # cache keys only
    return basic_situation(_region, settings=_settings, by=by)


def _files(region: Region, settings: Settings, *, by: str, minutes: float, day: dt.date,
           pdf: bool) -> dict[str, bytes]:
    """The workbook, the printable page and (when Chromium is there and asked for) the PDF, as bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        xlsx, html = Path(tmp) / "report.xlsx", Path(tmp) / "report.html"
        write_report(region, xlsx, settings=settings, by=by, minutes=minutes, statistics_date=day, html=html)
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
    day = col_day.date_input("统计日期", value=dt.date.today(), key="rep_day")
    try:
        basic = _basic(region, str(region.path), by, settings, repr(settings))
    except ElderMapError as exc:
        st.error(str(exc))
        return
    st.subheader("试点申报地区基本情况表")
    st.caption(total_line(basic))
    shown = basic[[c for c in ANNEX_COLUMNS_ZH if c in basic.columns]].rename(columns=ANNEX_COLUMNS_ZH)
    st.dataframe(shown, hide_index=True, width="stretch")
    rates = basic[basic["code"] != "合计"].set_index("name")["coverage_rate_pct"].dropna()
    if not rates.empty:
        st.markdown("**社区养老服务设施覆盖率（%）** = 有社区养老服务设施的社区数 ÷ 社区总数 × 100%")
        st.bar_chart(rates, horizontal=True, y_label="覆盖率（%）", x_label="")
    with st.expander("指标说明、统计日期与数据来源"):
        for item, text in report_notes(region, settings=settings, by=by, minutes=minutes, statistics_date=day):
            st.markdown(f"**{item}**：{text}")

    st.subheader("导出")
    want_pdf = st.checkbox("同时生成 PDF（需要服务器安装 Chromium）", key="rep_pdf")
    if st.button("生成报表文件", type="primary", key="rep_make"):
        with st.status("正在生成报表…", expanded=False) as status:
            try:
                st.session_state["rep_files"] = _files(region, settings, by=by, minutes=minutes, day=day,
                                                       pdf=want_pdf)
                status.update(label="报表已生成", state="complete")
            except ElderMapError as exc:
                status.update(label="生成失败", state="error")
                st.error(str(exc))
    files = st.session_state.get("rep_files") or {}
    stem = f"{region.name}_基本情况表_{day:%Y%m%d}"

    def exported(kind: str) -> None:
        audit.record("export", user=user or "unknown", role=role or None, region=region.name, root=regions_root,
                     detail=f"统计报表 {kind}（{LEVELS_ZH[by]}，{minutes:g} 分钟）")

    for kind, label, mime in (("xlsx", "下载 Excel 报表", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                              ("html", "下载打印版网页", "text/html"), ("pdf", "下载 PDF", "application/pdf")):
        if kind in files:
            st.download_button(label, files[kind], file_name=f"{stem}.{kind}", mime=mime, key=f"rep_dl_{kind}",
                               on_click=exported, args=(kind,))
