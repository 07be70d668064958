"""规划分析: the planner's page — coverage, service gaps, new sites and scenarios.

A thin shell over :mod:`planning`: each tab reads its widgets, calls one planning function
(cached with ``st.cache_data`` on a hashable key: the region's version folder, the parameters
and :func:`geo.settings.settings_digest`), and hands the frames to :mod:`layers` and tables.
Elders appear only as counts; cells with fewer elders than ``settings.suppression_threshold``
are drawn grey without numbers. Every map is made offline (:func:`layers.offline_map_assets`)
before it is shown. Errors of ours (:class:`geo.errors.ElderMapError`) are shown with ``st.error``.

Quick to use: each tab's controls and results run as a fragment (``st.fragment``), so a control
reruns its own part only; the region's base map (roads, outlines) is built once per region version
and settings and copied for each map. New facilities must lie inside the region's extent (plus
``settings.region_margin_m``), whether clicked, typed or uploaded. Every download and scenario save
is audited with the user's role.

The caller (``app.py``) has checked the login and shown the page title.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
import streamlit as st

from batch.rollup import batch_table_zh, table_headers_zh
from data import audit, store
from data.exports import CSV_MIME, GEOJSON_MIME, XLSX_MIME, csv_bytes, geojson_bytes, xlsx_bytes
from data.plan_inputs import add_changes_from_file, read_candidates
from data.store import Region
from geo.errors import ElderMapError, InputFileError
from geo.labels import COMPARE_COLUMNS_ZH, COVERAGE_COLUMNS_ZH, MODE_OF_ZH, SITE_COLUMNS_ZH, mode_zh
from geo.settings import Settings, settings_digest
from layers import (
    add_change_cells,
    add_change_legend,
    add_coverage_cells,
    add_coverage_legend,
    add_facilities,
    add_gap_cells,
    add_layer_control,
    add_need_legend,
    add_sites,
    add_sites_legend,
    map_lon_lat,
)
from layers.basemap import layers_bounds, map_coordinates
from planning.coverage import (
    group_coverage_columns_zh,
    group_coverage_table,
    metres_per_minute,
    population_line_zh,
    present_groups,
    profile_columns_zh,
    profile_coverage,
    profile_label_zh,
    region_coverage,
    unassigned_at,
)
from planning.gaps import gap_columns_zh, gaps, weighted_groups_zh, with_group_weights
from planning.scenario import (
    apply_changes,
    apply_scenario,
    base_scenario,
    check_change,
    compare,
    new_scenario,
    outside_region,
    region_extent,
    region_extent_zh,
)
from planning.sites import CAPACITY_SITE_COLUMNS_ZH, EXISTING_COLUMNS_ZH, site_facilities
from planning.summary import kinds_in_order
from views.access import client_address
from views.context import region_map
from views.data_page import checked_upload, private_upload, upload_name_problem
from views.maps import show_map
from views.text import md_escape, message_zh

ALL_KINDS_ZH = "全部"
CUSTOM_ZH = "自定义"
LEVELS_ZH: dict[str, str] = {"社区": "community", "街道": "street"}
SOLVERS_ZH: dict[str, str] = {"HiGHS（精确求解）": "highs", "贪心加交换改进（快速近似）": "greedy"}
BASE_LABEL_ZH = "现状（base）"
STATUS_ZH: dict[str, str] = {
    "optimal": "已证明最优",
    "time_limit": "达到计算时间上限，给出目前最好的方案",
    "greedy": "贪心算法近似解（未证明最优）",
    "infeasible": "无法达到目标覆盖率，已列出所有能增加覆盖的候选点",
}
OP_ZH: dict[str, str] = {"add": "新增", "close": "关闭", "set": "修改"}
CHANGES_KEY = "planner_changes"
CANDIDATE_SUFFIXES = ["csv", "xlsx", "geojson", "json"]
CANDIDATE_UPLOAD_ZH = "自备候选点"
ADD_LIST_SUFFIXES = ["csv", "xlsx"]
ADD_LIST_UPLOAD_ZH = "新增设施清单"


@dataclass(frozen=True)
class Staff:
    """Who uses the page, for the audit log: account, role, client address and the regions folder holding the log."""

    user: str = ""
    role: str | None = None
    regions_root: Path | None = None
    address: str | None = None


# ---------------------------------------------------------------- helpers without streamlit calls


def capacity_text_zh(summary: dict[str, Any]) -> str:
    """The capacitated siting summary in plain Chinese (numbers only: safe as Markdown)."""
    s = summary
    text = (f"**按名额计**：获得服务的老人 {s['served_before']:g} 人（{s['served_pct_before']:.2f}%）→ "
            f"{s['served_after']:g} 人（{s['served_pct_after']:.2f}%）；未获服务 {s['unserved_elders']:g} 人，"
            f"其中 {s['unserved_in_reach']:g} 人在服务圈内但名额已满。\n\n"
            f"每位老人占 1 个名额；现有设施（按床位数，无床位数时按类型默认名额）与新站点（每处 "
            f"{s['capacity_places_new']:g} 人）一起分配，使获得服务的（加权）老人最多，"
            "不会少于现有设施单独服务的人数。")
    if s.get("existing_unlimited"):
        text += f"另有 {s['existing_unlimited']} 处现有设施的类型没有默认名额，按不限名额计。"
    return text


def kind_options(region: Region, settings: Settings) -> list[str]:
    """"全部" and the facility kinds present in the region, in settings order."""
    return [ALL_KINDS_ZH, *kinds_in_order(region.facilities, settings)]


def change_text_zh(change: dict[str, Any], names: dict[str, str]) -> str:
    """One scenario change in words."""
    fid = change["id"]
    if change["op"] == "add":
        beds = change.get("beds_total")
        return (f"新增 {change.get('name')}（{change.get('kind')}，经度 {change['lon']:.6f}，纬度 {change['lat']:.6f}"
                f"{'' if beds is None else f'，床位 {beds} 张'}）")
    label = f"{names.get(fid, '')}（{fid}）"
    if change["op"] == "close":
        return f"关闭 {label}"
    fields = "、".join(f"{k} = {v}" for k, v in change.get("fields", {}).items())
    return f"修改 {label}：{fields.replace('beds_total', '床位')}"


def _of_kind(facilities: gpd.GeoDataFrame, kind: str | None) -> gpd.GeoDataFrame:
    """The facilities of one kind (all when ``kind`` is None)."""
    return facilities if kind is None else facilities[facilities["kind"] == kind]


def next_facility_id(existing: Sequence[str], changes: Sequence[dict[str, Any]]) -> str:
    """A new facility id "N1", "N2"… not used by the region or the pending changes."""
    used = {str(i) for i in existing} | {str(c.get("id")) for c in changes}
    n = 1
    while f"N{n}" in used:
        n += 1
    return f"N{n}"


# ---------------------------------------------------------------- cached computations


@st.cache_data(show_spinner="正在计算覆盖情况…", max_entries=32)
def _coverage(path: str, kind: str | None, mode: str, minutes: float, level: str, settings_key: str,
              _region: Region, _settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(coverage per area at ``level``, coverage per H3 cell); no per-elder rows leave this function."""
    del path, settings_key  # the cache key
    table, _ = region_coverage(_region, settings=_settings, minutes=minutes, mode=mode, kind=kind, by=level)
    cells, _ = region_coverage(_region, settings=_settings, minutes=minutes, mode=mode, kind=kind, by="h3")
    return table, cells


@st.cache_data(show_spinner="正在按步行速度档计算…", max_entries=16)
def _profiles(path: str, kind: str | None, minutes: float, level: str, settings_key: str,
              _region: Region, _settings: Settings) -> pd.DataFrame:
    """Walking coverage per area under each profile of ``settings.compare_profiles``."""
    del path, settings_key
    return profile_coverage(_region, settings=_settings, minutes=minutes, kind=kind, by=level)


@st.cache_data(show_spinner="正在按老人群体汇总…", max_entries=16)
def _groups(path: str, kind: str | None, mode: str, minutes: float, level: str, settings_key: str,
            _region: Region, _settings: Settings) -> pd.DataFrame:
    """Coverage of each elder group per area (staff only: the groups are sensitive)."""
    del path, settings_key
    return group_coverage_table(_region, settings=_settings, minutes=minutes, mode=mode, kind=kind, by=level)


@st.cache_data(show_spinner="正在查找服务缺口…", max_entries=32)
def _gaps(path: str, kind: str | None, mode: str, minutes: float, settings_key: str,
          _region: Region, _settings: Settings) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    del path, settings_key
    return gaps(_region, settings=_settings, minutes=minutes, mode=mode, kind=kind)


@st.cache_data(show_spinner=False, max_entries=16)
def _scenario_cells(path: str, scenario_json: str, minutes: float, mode: str, kind: str | None, settings_key: str,
                    _region: Region, _settings: Settings) -> pd.DataFrame:
    """Coverage per H3 cell with a scenario's facilities (keyed by the scenario's JSON, not the region path)."""
    del path, settings_key
    applied = apply_scenario(_region, json.loads(scenario_json), settings=_settings, minutes=minutes, mode=mode)
    cells, _ = region_coverage(applied.region, settings=applied.settings, minutes=applied.minutes, mode=applied.mode,
                               kind=kind, by="h3")
    return cells


@st.cache_data(show_spinner=False, max_entries=16)
def _compare(path: str, a_json: str, b_json: str, minutes: float, mode: str, kind: str | None, level: str,
             settings_key: str, _region: Region, _settings: Settings) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    del path, settings_key
    return compare(_region, json.loads(a_json), json.loads(b_json), settings=_settings, minutes=minutes, mode=mode,
                   kind=kind, by=level)


# ---------------------------------------------------------------- maps


@st.cache_resource(show_spinner=False, max_entries=8)
def _base_map(path: str, settings_key: str, _region: Region, _settings: Settings) -> folium.Map | None:
    """The region's map with its roads and community outlines, built once per region version and
    settings (drawing the roads is the slow part of every planner map). Never shown itself: see
    :func:`_region_map`."""
    del path, settings_key  # the cache key
    return region_map(_region, _settings)


def _region_map(region: Region, settings: Settings) -> folium.Map | None:
    """A fresh copy of :func:`_base_map` to draw on (None, with a message, when there is nothing to fit)."""
    base = _base_map(str(region.path), settings_digest(settings), region, settings)
    return None if base is None else copy.deepcopy(base)


def _overlay_groups(m: folium.Map, draws: Sequence[Callable[[folium.Map], Any]]) -> list[folium.FeatureGroup]:
    """The FeatureGroups that ``draws`` (``add_*`` layer functions) make, drawn on a scratch map in the
    coordinates of ``m``; shown over ``m`` as its changing part (:func:`_show_map`)."""
    scratch = folium.Map(location=m.location, tiles=None)
    scratch.eldermap_coordinates = map_coordinates(m)
    for draw in draws:
        draw(scratch)
    return [child for child in scratch._children.values() if isinstance(child, folium.FeatureGroup)]


def _show_map(m: folium.Map, *, key: str, returned_objects: Sequence[str] = (), height_px: int = 520,
              overlays: Sequence[Callable[[folium.Map], Any]] = ()) -> dict[str, Any] | None:
    """Show a map with its layer control and Leaflet served by the app; panning reruns nothing unless
    ``returned_objects``.

    ``m`` is the part that stays the same between runs (base map, legends); ``overlays`` draw the part
    that changes with the controls (cells, facilities of a kind). A control then swaps those layers in
    the map the browser already shows instead of reloading it (quicker, and the view is kept).
    """
    if not overlays:
        add_layer_control(m)
        return show_map(m, key=key, returned_objects=returned_objects, height_px=height_px)
    return show_map(m, key=key, returned_objects=returned_objects, height_px=height_px,
                    feature_group=_overlay_groups(m, overlays), layer_control=folium.LayerControl(collapsed=False))


# ---------------------------------------------------------------- widgets


def _circle_controls(prefix: str, region: Region, settings: Settings) -> tuple[str | None, str, float]:
    """Kind, mode and minutes of the service circle: (kind or None for all, "walk"/"drive", minutes)."""
    c1, c2, c3 = st.columns(3)
    kind = c1.selectbox("设施类型", kind_options(region, settings), key=f"{prefix}_kind")
    mode_choice = c2.radio("出行方式", list(MODE_OF_ZH), horizontal=True, key=f"{prefix}_mode")
    circles = [f"{m} 分钟" for m in settings.circle_minutes]
    choice = c3.selectbox("服务圈", [*circles, CUSTOM_ZH], index=len(circles) - 1, key=f"{prefix}_circle")
    if choice == CUSTOM_ZH:
        minutes = float(c3.number_input("分钟", min_value=1.0, max_value=120.0, value=20.0, step=1.0,
                                         key=f"{prefix}_minutes"))
    else:
        minutes = float(settings.circle_minutes[circles.index(choice)])
    return (None if kind == ALL_KINDS_ZH else kind), MODE_OF_ZH[mode_choice], minutes


def _record_download(staff: Staff, region_name: str, file_name: str, version: str = "", rows: int | None = None,
                     ) -> None:
    """Audit one planner download (the button's ``on_click``): who, which file, the region version it was made
    from and its row count."""
    audit.record("export", user=staff.user or "unknown", role=staff.role or None, address=staff.address,
                 region=region_name, version=version or None, rows=rows,
                 detail=f"规划分析下载 {file_name}", root=staff.regions_root)


def _downloads(prefix: str, stem: str, table: pd.DataFrame, geo: gpd.GeoDataFrame | None = None,
               *, staff: Staff, region_name: str, version: str = "", xlsx: bool = True) -> None:
    """CSV, Excel and GeoJSON buttons; the bytes are made only when clicked, and each click is audited."""
    cols = st.columns(3)
    files: list[tuple[int, str, str, Callable[[], bytes], str]] = [
        (0, "下载 CSV", f"{stem}.csv", lambda: csv_bytes(table), CSV_MIME)]
    if xlsx:
        files.append((1, "下载 Excel", f"{stem}.xlsx", lambda: xlsx_bytes(table), XLSX_MIME))
    if geo is not None:
        files.append((2, "下载 GeoJSON", f"{stem}.geojson", lambda: geojson_bytes(geo), GEOJSON_MIME))
    for column, label, file_name, data, mime in files:
        cols[column].download_button(label, data, file_name, mime, key=f"{prefix}_{file_name.rsplit('.', 1)[1]}",
                                     on_click=_record_download,
                                     args=(staff, region_name, file_name, version,
                                           len(geo) if column == 2 and geo is not None else len(table)))


# ---------------------------------------------------------------- tabs


def _group_weight_controls(prefix: str, region: Region, settings: Settings) -> Settings:
    """Which priority groups weigh more in gaps and siting, and by how much: ``settings`` with its
    ``gap_group_weights`` replaced by the planner's choice (80+ and disabled keep their settings)."""
    current = settings.group_weight_table()
    options = list(dict.fromkeys([*present_groups(region.elders), *current]))
    with st.expander(f"需求加权：{weighted_groups_zh(settings)}", expanded=False):
        if not options:
            st.caption("老人数据中没有重点群体（特困、低保、独居等）信息，只按高龄、失能加权。")
            return settings
        chosen = st.multiselect("加权的重点群体", options, default=[g for g in current if g in options],
                                key=f"{prefix}_groups")
        columns = st.columns(max(1, min(4, len(chosen))))
        weights = {g: float(columns[i % len(columns)].number_input(
            f"{g}：每人另加", min_value=0.0, max_value=10.0, value=float(current.get(g, 0.5)), step=0.5,
            key=f"{prefix}_weight_{g}")) for i, g in enumerate(chosen)}
        weighted = with_group_weights(settings, weights)
        st.caption(f"每位圈外老人计 1，另加 {weighted_groups_zh(weighted)}（高龄、失能的权重见设置）。")
    return weighted


@st.cache_resource(show_spinner=False, max_entries=32)
def _unassigned(path: str, level: str, kind: str | None, settings_key: str, _region: Region,
                _settings: Settings) -> Any:
    """:func:`planning.coverage.unassigned_at`, once per region version, level, kind and settings."""
    del path, settings_key
    return unassigned_at(_region, settings=_settings, by=level, kind=kind)


def _unassigned_notice(region: Region, settings: Settings, level: str, kind: str | None) -> None:
    """What has no area at ``level``: a warning when nothing has one, else a caption with the counts."""
    unassigned = _unassigned(str(region.path), level, kind, settings_digest(settings), region, settings)
    warning = unassigned.warning_zh()
    if warning:
        st.warning(warning)
    else:
        st.caption("；".join(unassigned.lines_zh()))


def _profile_section(region: Region, settings: Settings, kind: str | None, minutes: float, level: str,
                     level_zh: str, *, staff: Staff) -> None:
    """Coverage under the compared walking profiles side by side: a metric each and a chart by area."""
    if not settings.compare_profiles:
        return
    table = _profiles(str(region.path), kind, minutes, level, settings_digest(settings), region, settings)
    profiles = list(table.attrs.get("profiles") or settings.compare_profiles)
    st.subheader(f"不同步行速度下的 {minutes:g} 分钟覆盖")
    total = table.iloc[-1]
    first = float(total[f"coverage_pct:{profiles[0]}"]) if pd.notna(total[f"coverage_pct:{profiles[0]}"]) else None
    for column, profile in zip(st.columns(len(profiles)), profiles, strict=True):
        value = total[f"coverage_pct:{profile}"]
        shown = f"{value:.1f}%" if pd.notna(value) else "—"
        delta = (f"{value - first:+.1f} 个百分点" if first is not None and pd.notna(value) and profile != profiles[0]
                 else None)
        column.metric(md_escape(profile_label_zh(settings, profile)), shown, delta=delta,
                      help=f"覆盖 {int(total[f'covered:{profile}'])} / {int(total['elders'])} 人")
    st.caption("规划：GB 50180-2018 按约 60 米/分钟规划生活圈；老年人：65 岁以上平均步速约 0.8 米/秒；"
               "体弱：体弱和 85 岁以上老人约 0.64–0.71 米/秒（见设置 walk_profiles）。")
    areas = table[~table["code"].isin(["合计"])]
    if len(areas):
        chart = pd.DataFrame({profile_label_zh(settings, p): areas[f"coverage_pct:{p}"].to_numpy() for p in profiles},
                             index=[str(n or c) for n, c in zip(areas["name"], areas["code"], strict=True)])
        st.bar_chart(chart, stack=False, x_label=level_zh, y_label="覆盖率（%）")
    shown_table = table.rename(columns=profile_columns_zh(table))
    st.dataframe(shown_table, hide_index=True, width="stretch")
    _downloads("planner_prof", f"步行速度对比_{level_zh}_{minutes:g}分钟", shown_table,
               staff=staff, region_name=region.name, version=region.version)


def _coverage_tab(region: Region, settings: Settings, *, staff: Staff) -> None:
    kind, mode, minutes = _circle_controls("planner_cov", region, settings)
    level_zh = st.radio("统计单元", list(LEVELS_ZH), horizontal=True, key="planner_cov_level")
    level = LEVELS_ZH[level_zh]
    table, cells = _coverage(str(region.path), kind, mode, minutes, level, settings_digest(settings),
                             region, settings)
    total = table.iloc[-1]
    speed = f"，步速 {metres_per_minute(settings.walk_speed_kmh):.0f} 米/分钟" if mode == "walk" else ""
    st.markdown(f"**{minutes:g} 分钟{mode_zh(mode)}服务圈**"
                f"（{md_escape(kind or '全部类型设施')}{speed}）：覆盖老年人 {int(total['covered'])} / {int(total['elders'])} 人，"
                f"覆盖率 {total['coverage_pct']:.2f}%")
    st.caption(population_line_zh(settings.coverage_population, len(region.elders), table.attrs.get("left_out", 0)))
    _unassigned_notice(region, settings, level, kind)
    m = _region_map(region, settings)
    if m is not None:
        add_coverage_legend(m, threshold=settings.suppression_threshold)
        _show_map(m, key="planner_cov_map", overlays=[
            lambda o: add_coverage_cells(o, cells, threshold=settings.suppression_threshold),
            lambda o: add_facilities(o, _of_kind(region.facilities, kind), kinds=settings.facility_kinds, legend=False,
                               home_care_kinds=settings.home_care_kinds,
                               home_care_drive_minutes=settings.home_care_drive_minutes)])
    st.subheader(f"按{level_zh}统计")
    shown_table = table.rename(columns=COVERAGE_COLUMNS_ZH)
    st.dataframe(shown_table, hide_index=True, width="stretch")
    _downloads("planner_cov", f"覆盖分析_{level_zh}_{minutes:g}分钟", shown_table,
               staff=staff, region_name=region.name, version=region.version)
    if mode == "walk" and (kind is None or kind not in settings.home_care_kinds):
        _profile_section(region, settings, kind, minutes, level, level_zh, staff=staff)
    with st.expander("按老人群体统计（高龄、失能和重点群体；含敏感信息，仅供工作人员）"):
        groups = _groups(str(region.path), kind, mode, minutes, level, settings_digest(settings), region, settings)
        totals = groups[groups["code"] == "合计"]
        st.dataframe(totals[["group", "elders", "covered", "coverage_pct"]].rename(
            columns=group_coverage_columns_zh(minutes=minutes, mode=mode)), hide_index=True, width="stretch")
        shown_groups = groups.rename(columns=group_coverage_columns_zh(minutes=minutes, mode=mode))
        st.dataframe(shown_groups, hide_index=True, width="stretch")
        _downloads("planner_groups", f"重点群体覆盖_{level_zh}_{minutes:g}分钟", shown_groups,
               staff=staff, region_name=region.name, version=region.version)


def _gaps_tab(region: Region, settings: Settings, *, staff: Staff) -> None:
    kind, mode, minutes = _circle_controls("planner_gap", region, settings)
    settings = _group_weight_controls("planner_gap", region, settings)
    cells, comm = _gaps(str(region.path), kind, mode, minutes, settings_digest(settings), region, settings)
    if comm.empty:
        st.success(f"{minutes:g} 分钟服务圈内没有服务缺口：所有老年人都能到达设施。")
        return
    top = comm.iloc[0]
    st.markdown(f"缺口最大的社区：**{md_escape(top['name'] or top['code'])}** — {md_escape(top['reason'])}")
    m = _region_map(region, settings)
    if m is not None:
        add_need_legend(m)
        _show_map(m, key="planner_gap_map", overlays=[
            lambda o: add_gap_cells(o, cells, threshold=settings.suppression_threshold),
            lambda o: add_facilities(o, _of_kind(region.facilities, kind), kinds=settings.facility_kinds, legend=False,
                               home_care_kinds=settings.home_care_kinds,
                               home_care_drive_minutes=settings.home_care_drive_minutes)])
    st.subheader("社区排名")
    comm_table = pd.DataFrame(comm.drop(columns="geometry")).rename(columns=gap_columns_zh(comm))
    st.dataframe(comm_table, hide_index=True, width="stretch")
    _downloads("planner_gap_comm", f"服务缺口_社区_{minutes:g}分钟", comm_table, comm[comm.geometry.notna()],
               staff=staff, region_name=region.name, version=region.version)
    st.subheader("网格排名")
    cell_table = pd.DataFrame(cells.drop(columns="geometry")).rename(columns=gap_columns_zh(cells))
    st.dataframe(cell_table, hide_index=True, width="stretch")
    _downloads("planner_gap_cells", f"服务缺口_网格_{minutes:g}分钟", cell_table, cells,
               staff=staff, region_name=region.name, version=region.version)


def _read_upload(upload: Any) -> gpd.GeoDataFrame:
    """Candidates from an uploaded CSV/XLSX/GeoJSON (anything with ``name`` and ``getvalue()``), through a
    private temporary file of the same name (messages name the user's file); our error when the extension
    is not one of :data:`CANDIDATE_SUFFIXES` or the file cannot be read."""
    problem = upload_name_problem(upload.name, CANDIDATE_SUFFIXES, field_zh=CANDIDATE_UPLOAD_ZH)
    if problem:
        raise InputFileError(problem, f"candidates upload {upload.name!r}: extension not accepted")
    with private_upload(upload.name, upload.getvalue()) as path:
        return read_candidates(path)


def changes_from_upload(name: str, data: bytes, *, region: Region, settings: Settings) -> list[dict[str, Any]]:
    """"add" changes from an uploaded list of new facilities — the name the browser sent and its bytes —
    (:func:`data.plan_inputs.add_changes_from_file`, points checked against the region's extent), read in a
    private temporary folder; our error (in Chinese, naming the file) when the extension is not one of
    :data:`ADD_LIST_SUFFIXES` or the file cannot be read."""
    problem = upload_name_problem(name, ADD_LIST_SUFFIXES, field_zh=ADD_LIST_UPLOAD_ZH)
    if problem:
        raise InputFileError(problem, f"changes upload {name!r}: extension not accepted")
    with private_upload(name, data) as path:
        changes = add_changes_from_file(path, region_extent=_extent(str(region.path), region),
                                        margin_m=settings.region_margin_m)
    if not changes:
        raise InputFileError(f"{Path(name).name} 只有表头，没有任何设施行：请在表头下逐行填写编号、名称、类型、经度、纬度、床位后"
                             "重新上传。", f"changes upload {name!r}: no rows")
    return changes


def _sites_tab(region: Region, settings: Settings, *, staff: Staff) -> None:
    kinds = kind_options(region, settings)
    circles = list(settings.circle_minutes)
    settings = _group_weight_controls("planner_sites", region, settings)
    with st.form("planner_sites_form"):
        c1, c2, c3 = st.columns(3)
        goal = c1.radio("目标", ["新增站点数", "目标覆盖率"], key="planner_sites_goal")
        k = c1.number_input("新增站点数", min_value=1, max_value=20, value=3, step=1, key="planner_sites_k")
        target = c1.number_input("目标覆盖率（%）", min_value=1.0, max_value=100.0, value=95.0, step=1.0,
                                 key="planner_sites_target")
        kind = c2.selectbox("设施类型", kinds, key="planner_sites_kind")
        minutes = c2.selectbox("服务圈（分钟）", circles, index=len(circles) - 1, key="planner_sites_minutes")
        mode_choice = c2.radio("出行方式", list(MODE_OF_ZH), horizontal=True, key="planner_sites_mode")
        weighted = c3.toggle("按需求加权（高龄、失能和所选重点群体）", value=True, key="planner_sites_weighted")
        solver_zh = c3.radio("求解方法", list(SOLVERS_ZH), key="planner_sites_solver")
        capacity = c3.toggle("按名额选址（设施容量有限）", value=False, key="planner_sites_capacity",
                             help="每位老人占 1 个名额：现有设施（按床位数，无床位数时按类型默认名额）与新站点一起"
                                  "分配，使获得服务的（加权）老人最多；只适用于“新增站点数”")
        places = c3.number_input("新站点名额（人；0 表示按类型默认）", min_value=0, max_value=100_000, value=0, step=10,
                                 key="planner_sites_places")
        upload = st.file_uploader("自备候选点（可选：含“经度”“纬度”列的 CSV/XLSX，或 GeoJSON）",
                                  key="planner_sites_upload",
                                  help=f"支持的格式：{'、'.join('.' + s for s in CANDIDATE_SUFFIXES)}")
        run = st.form_submit_button("计算选址", type="primary")
    kind_value = None if kind == ALL_KINDS_ZH else kind
    mode = MODE_OF_ZH[mode_choice]
    if run:
        if capacity and goal != "新增站点数":
            st.error("按名额选址只支持“新增站点数”，请改选目标或关闭“按名额选址”。")
            return
        try:
            with st.status("正在计算覆盖矩阵…", expanded=False) as status:
                candidates = _read_upload(upload) if upload is not None else None
                status.update(label="正在求解…")
                plan = site_facilities(region, settings=settings, k=int(k) if goal == "新增站点数" else None,
                                       target_pct=float(target) if goal == "目标覆盖率" else None,
                                       minutes=float(minutes), mode=mode, kind=kind_value, candidates=candidates,
                                       weighted=weighted, solver=SOLVERS_ZH[solver_zh], capacity=bool(capacity),
                                       capacity_places=float(places) if places else None)
                status.update(label="计算完成", state="complete")
        except ElderMapError as exc:
            st.error(md_escape(message_zh(exc), keep_lines=True))
            return
        # only the sites, the existing facilities' loads and the summary are kept: never the per-elder list (pids)
        st.session_state["planner_sites_result"] = {"sites": plan.sites, "summary": plan.summary,
                                                    "existing": plan.existing, "path": str(region.path),
                                                    "weights": weighted_groups_zh(settings) if weighted else "不加权"}
    result = st.session_state.get("planner_sites_result")
    if not result or result["path"] != str(region.path):
        st.caption("设置参数后点击“计算选址”。")
        return
    sites, summary = result["sites"], result["summary"]
    gap = summary.get("gap")
    status_zh = STATUS_ZH.get(summary["status"], summary["status"])
    gap_zh = f"，与最优解的差距不超过 {gap * 100:.2f}%" if summary["status"] == "time_limit" and gap == gap else ""
    st.markdown(
        f"**选址结果**：新增 {len(sites)} 处；{summary['minutes']:g} 分钟服务圈覆盖率 "
        f"{summary['coverage_pct_before']:.2f}% → {summary['coverage_pct_after']:.2f}%"
        f"（新增覆盖 {summary['covered_after'] - summary['covered_before']} 人）\n\n"
        f"求解：{'HiGHS' if summary['solver'] == 'highs' else '贪心算法'}，{status_zh}{gap_zh}"
        f"（候选点 {summary['candidates_used']} 个，用时 {summary['seconds']:g} 秒）\n\n"
        f"需求加权：{md_escape(result.get('weights', ''))}"
    )
    if summary.get("capacity"):
        st.markdown(capacity_text_zh(summary))
    m = _region_map(region, settings)
    if m is not None:
        cells, _ = _gaps(str(region.path), summary["kind"] if summary["kind"] in kinds[1:] else None,
                         summary["mode"], float(summary["minutes"]), settings_digest(settings), region, settings)
        add_gap_cells(m, cells, threshold=settings.suppression_threshold, ranked=False)
        add_facilities(m, region.facilities, kinds=settings.facility_kinds, legend=False,
                               home_care_kinds=settings.home_care_kinds,
                               home_care_drive_minutes=settings.home_care_drive_minutes)
        add_sites(m, sites)
        add_sites_legend(m)
        _show_map(m, key="planner_sites_map")
    table = pd.DataFrame(sites.drop(columns="geometry")).rename(columns=SITE_COLUMNS_ZH | CAPACITY_SITE_COLUMNS_ZH)
    st.dataframe(table, hide_index=True, width="stretch")
    _downloads("planner_sites", "新设施选址", table, sites,
               staff=staff, region_name=region.name, version=region.version)
    existing = result.get("existing")
    if summary.get("capacity") and existing is not None and len(existing):
        with st.expander(f"现有设施的名额与分配服务（{len(existing)} 处）"):
            st.dataframe(existing.rename(columns=EXISTING_COLUMNS_ZH), hide_index=True, width="stretch")


# ---- scenarios


def _changes() -> list[dict[str, Any]]:
    return st.session_state.setdefault(CHANGES_KEY, [])


def _remove_change(index: int) -> None:
    changes = _changes()
    if 0 <= index < len(changes):
        changes.pop(index)


@st.cache_data(show_spinner=False, max_entries=8)
def _extent(path: str, _region: Region) -> tuple[float, float, float, float] | None:
    """The region's extent (:func:`planning.scenario.region_extent`), once per region version."""
    del path  # the cache key
    return region_extent(_region)


def _add_change(region: Region, settings: Settings, change: dict[str, Any]) -> None:
    """Append a change after checking that all changes still apply to the region and that an added
    facility lies inside the region's extent (plus ``settings.region_margin_m``)."""
    changes = _changes()
    extent = _extent(str(region.path), region)
    name = str(change.get("name") or (change.get("fields") or {}).get("name") or "")
    if len(name) > settings.max_text_length:
        st.error(f"设施名称最多 {settings.max_text_length} 个字（设置 max_text_length），收到 {len(name)} 个字"
                 f"（“{md_escape(name[:20])}…”）：请缩短后再添加。")
        return
    try:
        checked = check_change(change, len(changes), extent=extent, margin_m=settings.region_margin_m)
        apply_changes(region.facilities, [*changes, checked], settings=settings, extent=extent)
    except ElderMapError as exc:
        st.error(md_escape(str(exc), keep_lines=True))
        return
    changes.append(checked)


def _pick_point_map(region: Region, settings: Settings) -> None:
    """A map to click: the click fills the longitude and latitude of the new facility."""
    m = _region_map(region, settings)
    if m is None:
        return
    add_facilities(m, region.facilities, kinds=settings.facility_kinds, legend=False,
                               home_care_kinds=settings.home_care_kinds,
                               home_care_drive_minutes=settings.home_care_drive_minutes)
    result = _show_map(m, key="planner_pick_map", returned_objects=["last_clicked"], height_px=380)
    clicked = (result or {}).get("last_clicked")
    if clicked and clicked != st.session_state.get("planner_last_click"):
        st.session_state["planner_last_click"] = clicked
        lon, lat = map_lon_lat(m, float(clicked["lat"]), float(clicked["lng"]))  # back from GCJ-02 tiles if any
        extent = _extent(str(region.path), region)
        if extent is not None and outside_region(lon, lat, extent, margin_m=settings.region_margin_m):
            st.session_state["planner_pick_refused"] = (lon, lat)
        else:
            st.session_state.pop("planner_pick_refused", None)
            st.session_state["planner_add_lon"] = round(lon, 6)
            st.session_state["planner_add_lat"] = round(lat, 6)
    refused = st.session_state.get("planner_pick_refused")
    extent = _extent(str(region.path), region)
    if refused and extent is not None:
        st.error(f"地图上点选的位置（经度 {refused[0]:.6f}，纬度 {refused[1]:.6f}）在本地区范围之外，未采用。"
                 f"本地区范围：{region_extent_zh(extent, margin_m=settings.region_margin_m)}。请在本地区内点选。")


def _scenario_editor(region: Region, settings: Settings, *, staff: Staff) -> None:
    regions_root = staff.regions_root
    fac = region.facilities
    names = dict(zip(fac["id"].astype(str), fac["name"].astype(str), strict=True)) if len(fac) else {}
    saved = store.list_scenarios(region.name, root=regions_root)
    message = st.session_state.pop("planner_saved_message", None)
    if message:
        st.success(message)
    st.caption(f"已保存的方案：{md_escape('、'.join(saved)) if saved else '无'}")
    bounds = layers_bounds(region.road_edges, region.areas, region.facilities) or (0.0, 0.0, 0.0, 0.0)
    st.session_state.setdefault("planner_add_lon", round((bounds[0] + bounds[2]) / 2, 6))
    st.session_state.setdefault("planner_add_lat", round((bounds[1] + bounds[3]) / 2, 6))

    st.markdown("**新增设施**（可在地图上点击选取位置）")
    _pick_point_map(region, settings)
    with st.form("planner_add_form"):
        c1, c2 = st.columns(2)
        name = c1.text_input("设施名称", key="planner_add_name", max_chars=settings.max_text_length)
        kind = c1.selectbox("设施类型", list(settings.facility_kinds), key="planner_add_kind")
        beds = c1.number_input("床位（张）", min_value=0, value=0, step=1, key="planner_add_beds")
        lon = c2.number_input("经度", min_value=-180.0, max_value=180.0, format="%.6f", key="planner_add_lon")
        lat = c2.number_input("纬度", min_value=-90.0, max_value=90.0, format="%.6f", key="planner_add_lat")
        if st.form_submit_button("添加"):
            fid = next_facility_id(list(names), _changes())
            _add_change(region, settings, {"op": "add", "id": fid, "name": name.strip() or f"新增设施{fid}",
                                           "kind": kind, "lon": lon, "lat": lat, "beds_total": int(beds)})

    choices = [f"{fid} {name}" for fid, name in names.items()]
    c1, c2 = st.columns(2)
    with c1.form("planner_close_form"):
        closing = st.selectbox("关闭现有设施", choices, key="planner_close_pick")
        if st.form_submit_button("关闭该设施") and closing:
            _add_change(region, settings, {"op": "close", "id": closing.split(" ", 1)[0]})
    with c2.form("planner_beds_form"):
        target = st.selectbox("调整床位和服务", choices, key="planner_beds_pick")
        new_beds = st.number_input("床位（张）", min_value=0, value=0, step=1, key="planner_beds_value")
        new_services = st.multiselect("服务项目（不选表示不改）", list(settings.service_tags), default=[],
                                      key="planner_services_value")
        if st.form_submit_button("设置") and target:
            fields: dict[str, Any] = {"beds_total": int(new_beds)}
            if new_services:
                fields["services"] = list(new_services)
            _add_change(region, settings, {"op": "set", "id": target.split(" ", 1)[0], "fields": fields})

    upload = checked_upload(st.file_uploader("或上传新增设施清单（CSV/XLSX：编号、名称、类型、经度、纬度、床位…）",
                                             key="planner_add_upload", help="支持的格式：.csv、.xlsx"),
                            ADD_LIST_SUFFIXES, field_zh=ADD_LIST_UPLOAD_ZH)
    if upload is not None and st.button("把清单中的设施加入方案", key="planner_add_upload_go"):
        try:
            listed = changes_from_upload(upload.name, upload.getvalue(), region=region, settings=settings)
        except ElderMapError as exc:
            st.error(md_escape(message_zh(exc), keep_lines=True))
            listed = None
        taken = set(names) | {c["id"] for c in _changes()}
        added = 0
        for change in listed or []:
            row = change.pop("_row")
            if change["id"] in taken:
                st.error(f"{md_escape(upload.name)} 第 {row} 行：设施编号 {md_escape(change['id'])} 已存在")
                continue
            before = len(_changes())
            _add_change(region, settings, change)
            if len(_changes()) > before:
                added += 1
                taken.add(change["id"])
            else:
                st.caption(f"（上面的问题来自 {md_escape(upload.name)} 第 {row} 行）")
        if listed is None:
            pass  # the file could not be read: said above, nothing was added
        elif added:
            st.success(f"已从清单加入 {added} 处新增设施（共 {len(listed)} 行）")
        else:
            st.warning(f"{md_escape(upload.name)}：清单共 {len(listed)} 行，没有加入任何新增设施（原因见上）。")

    changes = _changes()
    st.markdown(f"**本方案的修改（{len(changes)} 项）**")
    for i, change in enumerate(changes):
        c1, c2 = st.columns([6, 1])
        c1.markdown(md_escape(f"{i + 1}. {change_text_zh(change, names)}"))
        c2.button("删除", key=f"planner_change_del_{i}", on_click=_remove_change, args=(i,))

    with st.form("planner_save_form"):
        scenario_name = st.text_input("方案名称", key="planner_save_name")
        description = st.text_area("方案说明", key="planner_save_description")
        if st.form_submit_button("保存方案", type="primary"):
            try:
                if not changes:
                    st.warning("方案还没有任何修改。")
                    return
                scenario = new_scenario(scenario_name.strip(), base_version=region.path.name,
                                        description=description.strip(), changes=list(changes))
                apply_changes(fac, scenario["changes"], settings=settings, extent=_extent(str(region.path), region))
                store.save_scenario(region.name, scenario, root=regions_root)
                audit.record("scenario_save", user=staff.user, role=staff.role or None, address=staff.address,
                             region=region.name,
                             detail=f"方案 {scenario['name']}：{len(changes)} 项修改", root=regions_root)
            except ElderMapError as exc:
                st.error(md_escape(str(exc), keep_lines=True))
            else:
                st.session_state[CHANGES_KEY] = []
                st.session_state["planner_saved_message"] = (
                    f"方案“{md_escape(scenario['name'])}”已保存（{len(changes)} 项修改）。")
                st.rerun()  # the whole page: the comparison below lists the new scenario


def _scenario_compare(region: Region, settings: Settings, *, staff: Staff) -> None:
    regions_root = staff.regions_root
    st.subheader("比较")
    options = [BASE_LABEL_ZH, *store.list_scenarios(region.name, root=regions_root)]
    c1, c2 = st.columns(2)
    a_name = c1.selectbox("方案 A", options, index=0, key="planner_cmp_a")
    b_name = c2.selectbox("方案 B", options, index=len(options) - 1, key="planner_cmp_b")
    kind, mode, minutes = _circle_controls("planner_cmp", region, settings)
    level_zh = st.radio("统计单元", list(LEVELS_ZH), index=1, horizontal=True, key="planner_cmp_level")
    if st.button("比较", key="planner_cmp_run", type="primary"):
        st.session_state["planner_cmp_params"] = (a_name, b_name, kind, mode, minutes, LEVELS_ZH[level_zh])
    params = st.session_state.get("planner_cmp_params")
    if not params:
        st.caption("选择两个方案后点击“比较”。")
        return
    a_name, b_name, kind, mode, minutes, level = params
    try:
        a, b = (base_scenario(region) if n == BASE_LABEL_ZH else store.load_scenario(region.name, n, root=regions_root)
                for n in (a_name, b_name))
        with st.spinner("正在比较两个方案…"):
            areas, cells = _compare(str(region.path), json.dumps(a, ensure_ascii=False, sort_keys=True),
                                    json.dumps(b, ensure_ascii=False, sort_keys=True), minutes, mode, kind, level,
                                    settings_digest(settings), region, settings)
    except ElderMapError as exc:
        st.error(md_escape(str(exc), keep_lines=True))
        return
    total = areas.iloc[-1]
    st.markdown(f"**{md_escape(b_name)} 相对 {md_escape(a_name)}**：覆盖人数 {int(total['covered_a'])} → {int(total['covered_b'])}"
                f"（{int(total['covered_delta']):+d} 人），覆盖率变化 {total['coverage_pct_delta']:+.2f} 个百分点")
    m = _region_map(region, settings)
    if m is not None:
        add_change_legend(m, threshold=settings.suppression_threshold)
        _show_map(m, key="planner_cmp_map",
                  overlays=[lambda o: add_change_cells(o, cells, threshold=settings.suppression_threshold)])
    # side by side: each scenario's coverage per cell, same colours
    digest = settings_digest(settings)
    for side_key, column, name, scenario in zip("ab", st.columns(2), (a_name, b_name), (a, b), strict=True):
        with column:
            st.markdown(f"**{md_escape(name)}**")
            shown = _scenario_cells(str(region.path), json.dumps(scenario, ensure_ascii=False, sort_keys=True),
                                    minutes, mode, kind, digest, region, settings)
            side = _region_map(region, settings)
            if side is not None:
                _show_map(side, key=f"planner_cmp_side_{side_key}", height_px=360, overlays=[
                    lambda o, cells=shown: add_coverage_cells(o, cells, threshold=settings.suppression_threshold)])
    table = areas.rename(columns=COMPARE_COLUMNS_ZH)
    st.dataframe(table, hide_index=True, width="stretch")
    _downloads("planner_cmp", f"方案比较_{a_name}_{b_name}".replace(BASE_LABEL_ZH, "现状"), table, cells,
               staff=staff, region_name=region.name, version=region.version)


# ---------------------------------------------------------------- the page


def render(region: Region, settings: Settings, *, user: str = "", role: str | None = None,
           regions_root: Path | None = None) -> None:
    """The planner page 规划分析 for a logged-in planner: four tabs over one region.

    Parameters
    ----------
    region
        The loaded region (its version folder keys every cache).
    settings
        The settings in force.
    user
        The logged-in account, recorded in the audit log when a scenario is saved or a file downloaded.
    role
        Its role (``AppContext.role``), recorded with it.
    regions_root
        The regions folder (scenarios and the audit log live there); default ``$ELDERMAP_REGIONS``.
    """
    if region.manifest.get("hierarchy"):  # a city or province: its counties are computed as a batch
        _province_batch(region, settings, staff=Staff(user=user, role=role, regions_root=regions_root,
                                                      address=client_address(settings)))
        return
    if region.elders.empty:
        st.info("该地区没有老年人数据，无法进行覆盖和缺口分析。请先在“数据管理”页导入老年人数据。")
        return
    if st.session_state.get("planner_region") != str(region.path):  # another region or version: start afresh
        for key in (CHANGES_KEY, "planner_sites_result", "planner_cmp_params", "planner_last_click",
                    "planner_add_lon", "planner_add_lat", "planner_pick_refused"):
            st.session_state.pop(key, None)
        st.session_state["planner_region"] = str(region.path)
    staff = Staff(user=user, role=role, regions_root=regions_root, address=client_address(settings))
    tabs = st.tabs(["覆盖分析", "服务缺口", "新设施选址", "规划方案"])
    # each tab's controls and results are fragments: a control reruns its own part only; the scenario
    # tab has two (editing, comparing) so that adding a change does not recompute the comparison
    parts: list[list[Callable[..., None]]] = [[_coverage_tab], [_gaps_tab], [_sites_tab],
                                              [_scenario_editor, _scenario_compare]]
    for tab, sections in zip(tabs, parts, strict=True):
        with tab:
            for section in sections:
                with st.container():  # one call site (fragment id) per part
                    _tab(section, region, settings, staff)


BATCH_KEY = "planner_batch_result"
"""Session state: the last batch of the parent shown (:class:`batch.runner.BatchResult`) with its parent path."""


def _province_batch(region: Region, settings: Settings, *, staff: Staff) -> None:
    """A city or province (a parent region): its children, and a batch over its counties on Dask (the same
    :func:`batch.runner.run_batch` as ``eldermap batch``), with progress, the rolled-up table and downloads."""
    from batch.hierarchy import leaf_regions, load_hierarchy
    from batch.runner import KIND_ZH, KINDS, run_batch

    try:
        tree = load_hierarchy(region.name, root=staff.regions_root)
        leaves = leaf_regions(region.name, root=staff.regions_root)
    except ElderMapError as exc:
        st.error(md_escape(message_zh(exc), keep_lines=True))
        return
    level_zh = {"city": "市", "province": "省"}.get(tree.level, tree.level)
    st.subheader(f"{md_escape(tree.title or region.name)}（{level_zh}级，下属 {len(tree.children)} 个地区，"
                 f"共 {len(leaves)} 个区县）")
    st.caption("上级地区由各区县地区组成，覆盖和统计按区县分别计算（每个区县含边界外服务半径内的道路和设施，"
               "边界附近的老人可由邻县设施服务），再逐级汇总：人数相加，比率由合计数重新计算。")
    st.dataframe(pd.DataFrame([{"子地区": c.region, "区划代码": c.code, "名称": c.name,
                                "层级": {"district": "区县", "city": "市"}.get(c.level, c.level)}
                               for c in tree.children]), hide_index=True, width="stretch")
    with st.form("planner_batch_form"):
        c1, c2, c3 = st.columns(3)
        kind = c1.selectbox("计算内容", list(KINDS), format_func=lambda k: KIND_ZH.get(k, k), key="planner_batch_kind")
        minutes = c2.selectbox("服务圈（分钟）", sorted(settings.circle_minutes), index=len(settings.circle_minutes) - 1,
                               key="planner_batch_minutes")
        mode = c3.radio("出行方式", ["walk", "drive"], format_func=mode_zh, horizontal=True, key="planner_batch_mode")
        c1, c2 = st.columns(2)
        day = c1.date_input("统计日期（附件2基本情况表按此日计算年龄）", value=dt.date.today(), key="planner_batch_date",
                            format="YYYY-MM-DD")
        resume = c2.checkbox("跳过已有相同输入结果的区县（续算）", value=True, key="planner_batch_resume")
        go = st.form_submit_button("开始批量计算", type="primary")
    if go:
        with st.status(f"批量计算中：{len(leaves)} 个区县……", expanded=True) as status:
            bar = st.progress(0.0)

            def progress(done: int, total: int, message: str) -> None:
                bar.progress(done / total if total else 1.0, text=f"{done}/{total} 个区县：{md_escape(message[:80])}")

            try:
                result = run_batch(region.name, kind, root=staff.regions_root, settings=settings,
                                   params={"minutes": float(minutes), "mode": mode,
                                           **({"date": day.isoformat()} if kind == "report" else {})}, resume=resume,
                                   progress=progress)
            except ElderMapError as exc:
                status.update(label="批量计算未能完成", state="error")
                st.error(md_escape(message_zh(exc), keep_lines=True))
                return
            failed = result.with_status("failed")
            status.update(label=f"批量计算完成：{len(result.children) - len(failed)} 个区县完成"
                                + (f"，{len(failed)} 个失败" if failed else ""),
                          state="error" if failed else "complete", expanded=bool(failed))
        st.session_state[BATCH_KEY] = (str(region.path), result)
    shown = st.session_state.get(BATCH_KEY)
    if shown is None or shown[0] != str(region.path):
        return
    result = shown[1]
    st.markdown("  \n".join(md_escape(line.strip()) for line in result.summary_zh()))
    summary, detail = (batch_table_zh(result.kind, result.params, t, settings=settings)
                       for t in (result.children_table, result.table))
    st.subheader("按下属地区汇总" + ("（末行为合计）" if len(summary) else ""))
    st.dataframe(summary, hide_index=True, width="stretch")
    _downloads("planner_batch", f"批量汇总_{region.name}_{result.key}", summary, staff=staff, region_name=region.name,
               version=region.version)
    if result.kind == "report":
        circle = result.frames["circle:children"]
        st.subheader(f"{result.params['minutes']:g} 分钟服务圈覆盖（按下属地区）")
        st.dataframe(circle.rename(columns=table_headers_zh("circle", circle, settings=settings,
                                                            minutes=result.params["minutes"],
                                                            mode=result.params["mode"])), hide_index=True,
                     width="stretch")
        st.download_button("下载附件2基本情况表（Excel，含说明）", lambda: _batch_workbook(result, settings, staff),
                           f"基本情况表_{region.name}_{result.params['date']}.xlsx", XLSX_MIME,
                           key="planner_batch_annex", on_click=_record_download,
                           args=(staff, region.name, f"基本情况表_{region.name}.xlsx", region.version, len(summary)))
    with st.expander("各区县明细"):
        st.dataframe(detail, hide_index=True, width="stretch")
        _downloads("planner_batch_detail", f"区县明细_{region.name}_{result.key}", detail, staff=staff,
                   region_name=region.name, version=region.version)


def _batch_workbook(result: Any, settings: Settings, staff: Staff) -> bytes:
    """The annex-2 workbook of a report batch (:func:`batch.runner.write_batch_report`), as bytes."""
    import tempfile

    from batch.runner import write_batch_report

    with tempfile.TemporaryDirectory(prefix="eldermap-annex-") as tmp:
        path = write_batch_report(result, Path(tmp) / "annex.xlsx", settings=settings, root=staff.regions_root)
        return path.read_bytes()


@st.fragment
def _tab(section: Callable[..., None], region: Region, settings: Settings, staff: Staff) -> None:
    """One part of a tab as a fragment: a control inside it reruns this part only, not the whole page."""
    try:
        section(region, settings, staff=staff)
    except ElderMapError as exc:
        st.error(md_escape(message_zh(exc), keep_lines=True))


__all__ = ["render"]
