"""ElderMap 养老服务电子地图 — the Streamlit shell.

Run with ``streamlit run app.py``. Streamlit executes this file as
``__main__`` on every rerun, so the guard at the bottom starts the app there,
while ``import app`` (tests, tools) runs nothing.

The shell is thin: :func:`main` sets up the page, reads the sidebar (region,
settings) into one :class:`AppContext`, and routes with ``st.navigation`` to
four pages. Pages read widgets, call ``data``/``geo``/``planning`` and hand
results to ``layers``. Elder records never reach the public page; other pages
show elder numbers only as counts per community, suppressed below
``settings.suppression_threshold``.

Environment: ``ELDERMAP_REGIONS`` (regions folder, default ``./regions``) and
``ELDERMAP_SETTINGS`` (settings TOML, default the built-in settings).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from data.store import Region, current_version, list_regions, load_region, regions_root
from geo.errors import ElderMapError
from geo.settings import Settings, load_settings, settings_digest
from layers import (
    add_areas,
    add_facilities,
    add_roads,
    install_static_assets,
    new_map,
    offline_map_assets,
    public_facility_records,
)
from layers.facilities import format_grade, format_price_yuan_month

APP_DIR = Path(__file__).resolve().parent
STATIC_DIR = APP_DIR / "static"
DEFAULT_REGION = "demo"
APP_TITLE = "ElderMap 养老服务电子地图"

# Chinese names of layers and of the keys of ``manifest["synthetic"]``. (No bare strings at module level:
# streamlit's "magic" would print them on the page.)
LAYER_ZH: dict[str, str] = {
    "roads": "道路",
    "road_nodes": "道路节点",
    "road_edges": "道路",
    "buildings": "建筑",
    "facilities": "养老设施",
    "elders": "老年人",
    "areas": "社区边界",
}


@dataclass(frozen=True)
class AppContext:
    """What every page needs, read once per rerun from the sidebar.

    Attributes
    ----------
    settings
        The settings in force (from ``$ELDERMAP_SETTINGS`` or the defaults).
    settings_source
        Where they came from, for display.
    root
        The regions folder.
    region
        The chosen region, or None when there is none (or it failed to load).
    load_error
        The Chinese message of the error that stopped the region from loading, else "".
    """

    settings: Settings
    settings_source: str
    root: Path
    region: Region | None
    load_error: str = ""


# ---------------------------------------------------------------- loading


@st.cache_resource(show_spinner="正在加载地区数据…", max_entries=4)
def _load_region_cached(name: str, root: str, version: str) -> Region:
    """Load a region once per (name, root, version); the Region is shared read-only by all sessions."""
    del version  # only part of the cache key
    return load_region(name, root=root)


@st.cache_resource(show_spinner=False)
def _install_map_assets(static_dir: str) -> Path:
    """Copy Leaflet into ``static/`` once per server process."""
    return install_static_assets(Path(static_dir))


def _read_settings() -> tuple[Settings, str]:
    path = os.environ.get("ELDERMAP_SETTINGS") or None
    return load_settings(path), (path or "内置默认设置")


def _sidebar() -> AppContext | None:
    """Region chooser and settings; None when settings cannot be read (error already shown)."""
    try:
        settings, settings_source = _read_settings()
    except ElderMapError as exc:
        st.error(str(exc))
        return None
    root = regions_root()
    regions = list_regions(root=root)
    region: Region | None = None
    load_error = ""
    with st.sidebar:
        st.markdown(f"**{APP_TITLE}**")
        if regions:
            name = st.selectbox(
                "地区",
                regions,
                index=regions.index(DEFAULT_REGION) if DEFAULT_REGION in regions else 0,
                key="region_name",
            )
            try:
                region = _load_region_cached(name, str(root), current_version(name, root=root))
            except ElderMapError as exc:
                load_error = str(exc)
            if region is not None:
                st.caption(f"数据版本：{region.version}")
        st.caption(f"设置：{settings_source}")
    return AppContext(settings=settings, settings_source=settings_source, root=root, region=region,
                      load_error=load_error)


def _require_region(ctx: AppContext) -> Region | None:
    """The region, or None after telling the user how to create one."""
    if ctx.region is None:
        if ctx.load_error:
            st.error(ctx.load_error)
        elif not list_regions(root=ctx.root):
            st.info(
                f"还没有任何地区数据（数据目录：{ctx.root}）。请先在命令行运行 `eldermap demo` 生成演示地区，"
                "或用 `eldermap import` 导入本地数据，然后刷新本页。"
            )
        return None
    return ctx.region


# ---------------------------------------------------------------- helpers (no streamlit calls)


def _join_zh(items: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a、b与c"``."""
    if len(items) <= 1:
        return "".join(items)
    return "、".join(items[:-1]) + "与" + items[-1]


def provenance_banner_zh(manifest: dict[str, Any]) -> str:
    """Which layers are real and which synthesised, from ``manifest["synthetic"]``; empty when all are real.

    Real layers name the kind of their source from ``manifest["sources"]``
    (e.g. "OpenStreetMap PBF").
    """
    flags: dict[str, bool] = manifest.get("synthetic") or {}
    if not any(flags.values()):
        return ""
    real = [k for k, v in flags.items() if not v]
    fake = [k for k, v in flags.items() if v]
    parts = []
    if real:
        kinds = list(dict.fromkeys(
            str(s["kind"]) for s in manifest.get("sources", [])
            if isinstance(s, dict) and s.get("layer") in real and s.get("kind")
        ))
        source = f"（来源：{'、'.join(kinds)}）" if kinds else ""
        parts.append(f"{_join_zh([LAYER_ZH.get(k, k) for k in real])}：真实数据{source}")
    parts.append(f"{_join_zh([LAYER_ZH.get(k, k) for k in fake])}：演示用合成数据，不代表任何真实机构或个人")
    return "；".join(parts)


def region_bounds(region: Region) -> tuple[float, float, float, float] | None:
    """``(min_lon, min_lat, max_lon, max_lat)`` of roads, areas and facilities; None when all are empty."""
    boxes = [layer.total_bounds for layer in (region.road_edges, region.areas, region.facilities)
             if not layer.empty and layer.crs is not None]
    boxes = [b for b in boxes if np.isfinite(b).all()]
    if not boxes:
        return None
    stacked = np.vstack(boxes)
    return (float(stacked[:, 0].min()), float(stacked[:, 1].min()),
            float(stacked[:, 2].max()), float(stacked[:, 3].max()))


def kinds_in_order(facilities: pd.DataFrame, settings: Settings) -> list[str]:
    """Kinds present in the data, in settings order, unknown kinds after."""
    if facilities.empty or "kind" not in facilities.columns:
        return []
    present = set(facilities["kind"].dropna().astype(str))
    return [k for k in settings.facility_kinds if k in present] + sorted(present - set(settings.facility_kinds))


def kind_counts(facilities: pd.DataFrame, kinds: list[str]) -> pd.DataFrame:
    """Number of facilities per kind."""
    counts = facilities["kind"].astype(str).value_counts() if not facilities.empty else pd.Series(dtype="int64")
    return pd.DataFrame({"类型": kinds, "数量": [int(counts.get(k, 0)) for k in kinds]})


def public_facility_table(facilities: pd.DataFrame) -> pd.DataFrame:
    """Facilities for the public: public fields only, as readable Chinese text."""
    rows = []
    for r in public_facility_records(facilities):
        rows.append({
            "名称": r["name"] or "",
            "类型": r["kind"] or "",
            "服务项目": "、".join(r["services"] or []),
            "床位": "" if r["beds_total"] is None else str(r["beds_total"]),
            "空余床位": "" if r["beds_free"] is None else str(r["beds_free"]),
            "等级": format_grade(r["grade"]),
            "月收费": format_price_yuan_month(r["price_min_yuan_month"], r["price_max_yuan_month"]),
            "性质": r["nature"] or "",
            "电话": r["phone"] or "",
            "地址": r["address"] or "",
        })
    return pd.DataFrame(rows, columns=["名称", "类型", "服务项目", "床位", "空余床位", "等级", "月收费", "性质",
                                       "电话", "地址"])


def suppressed_count(n: int, threshold: int) -> str:
    """A count for display, or ``"少于N"`` when it is below the suppression threshold."""
    return f"少于{threshold}" if n < threshold else str(n)


def community_summary(region: Region, settings: Settings) -> pd.DataFrame:
    """Facilities and (suppressed) elders per community, from counts only.

    Rows are the region's community areas, plus one row for records without a
    known community. Elder counts below ``settings.suppression_threshold`` are
    shown as "少于N".
    """
    areas = region.areas
    if not areas.empty and "level" in areas.columns:
        comm = areas.loc[areas["level"].astype("string") == "community", ["code", "name"]]
        comm = pd.DataFrame({"code": comm["code"].astype(str), "name": comm["name"].astype(str)})
    else:
        comm = pd.DataFrame({"code": pd.Series(dtype=str), "name": pd.Series(dtype=str)})

    def per_community(layer: gpd.GeoDataFrame) -> pd.Series:
        if layer.empty or "community_code" not in layer.columns:
            return pd.Series(dtype="int64")
        codes = layer["community_code"].astype("string").fillna("")
        return codes.value_counts()

    fac = per_community(region.facilities)
    eld = per_community(region.elders)
    known = set(comm["code"])
    extra_codes = sorted((set(fac.index) | set(eld.index)) - known - {""})
    comm = pd.concat([comm, pd.DataFrame({"code": extra_codes, "name": ["（未收录的社区）"] * len(extra_codes)})],
                     ignore_index=True)
    threshold = settings.suppression_threshold
    table = pd.DataFrame({
        "社区代码": comm["code"],
        "社区名称": comm["name"],
        "养老服务设施数": [int(fac.get(c, 0)) for c in comm["code"]],
        "老年人数": [suppressed_count(int(eld.get(c, 0)), threshold) for c in comm["code"]],
    })
    unassigned_fac, unassigned_eld = int(fac.get("", 0)), int(eld.get("", 0))
    if unassigned_fac or unassigned_eld:
        table.loc[len(table)] = ["", "（未标注社区）", unassigned_fac, suppressed_count(unassigned_eld, threshold)]
    return table


def sources_table(manifest: dict[str, Any]) -> pd.DataFrame:
    """The manifest's data sources: layer, kind, file or place, SHA-256 prefix, rows read/imported/rejected."""
    rows = []
    for s in manifest.get("sources", []):
        if not isinstance(s, dict):
            rows.append({"图层": "", "来源": str(s)})
            continue
        where = s.get("file") or s.get("place") or (Path(str(s["path"])).name if s.get("path") else "")
        row = {
            "图层": LAYER_ZH.get(str(s.get("layer")), str(s.get("layer", ""))),
            "类型": str(s.get("kind", "")),
            "来源": str(where),
            "SHA-256（前 12 位）": str(s.get("sha256") or "")[:12],
        }
        if "rows_read" in s:
            row["读取/导入/拒绝"] = f"{s.get('rows_read')} / {s.get('rows_imported')} / {s.get('rows_rejected')}"
        rows.append(row)
    return pd.DataFrame(rows)


def layers_table(manifest: dict[str, Any]) -> pd.DataFrame:
    """Row count, file and SHA-256 prefix of each stored layer."""
    return pd.DataFrame([
        {"图层": LAYER_ZH.get(name, name), "代码": name, "行数": int(info.get("rows", 0)),
         "文件": str(info.get("file", "")), "SHA-256（前 12 位）": str(info.get("sha256", ""))[:12]}
        for name, info in manifest.get("layers", {}).items()
    ])


# ---------------------------------------------------------------- pages


def show_map(m: folium.Map, *, key: str, height_px: int = 600) -> None:
    """Show a folium map with Leaflet served by the app (no CDN), without rerunning on pan or zoom."""
    try:
        _install_map_assets(str(STATIC_DIR))
    except ElderMapError as exc:
        st.error(str(exc))
        return
    offline_map_assets(m)
    st_folium(m, key=key, returned_objects=[], height=height_px, use_container_width=True)


def page_find(ctx: AppContext) -> None:
    """找养老服务: the public map. Uses facilities, areas and roads only — never elder records."""
    st.title("找养老服务")
    region = _require_region(ctx)
    if region is None:
        return
    banner = provenance_banner_zh(region.manifest)
    if banner:
        st.warning(banner, icon=":material/info:")
        notes = (region.manifest.get("demo") or {}).get("notes_zh")
        if notes:
            st.caption(notes)

    facilities = region.facilities
    kinds = kinds_in_order(facilities, ctx.settings)
    if facilities.empty:
        st.info("该地区还没有养老服务设施数据。工作人员可在“数据管理”页查看导入方法。")
        shown = facilities
    else:
        chosen = st.multiselect("设施类型（可多选）", kinds, default=kinds, key="find_kinds",
                                placeholder="请选择设施类型")
        shown = facilities[facilities["kind"].astype(str).isin(chosen)]

    bounds = region_bounds(region)
    if bounds is None:
        st.info("该地区没有可在地图上显示的数据。")
    else:
        m = new_map(bounds)
        add_roads(m, region.road_edges)
        add_areas(m, region.areas, level="community")
        add_facilities(m, shown, kinds=ctx.settings.facility_kinds)
        folium.LayerControl(collapsed=False).add_to(m)
        show_map(m, key="find_map")

    st.subheader("各类设施数量")
    # st.table (HTML, theme font) rather than st.dataframe (canvas grid, small type): large type for elders
    st.table(kind_counts(facilities, kinds), hide_index=True, width="content")
    st.subheader(f"设施列表（{len(shown)} 家）")
    st.table(public_facility_table(shown), hide_index=True)


def page_planning(ctx: AppContext) -> None:
    """规划分析: placeholder until coverage and siting arrive."""
    st.title("规划分析")
    s = ctx.settings
    minutes = "、".join(str(m) for m in s.circle_minutes)
    st.info(
        f"即将推出：按道路网络计算 {minutes} 分钟步行服务圈（老年人步行速度 {s.walk_speed_kmh:g} 公里/小时）内"
        "老年人（含高龄、失能老人）的覆盖情况；找出服务空白的社区和网格；对比新增或调整设施的规划情景；"
        "为新设施推荐选址（最大覆盖、最少设施数达到目标覆盖率）。",
        icon=":material/construction:",
    )
    if _require_region(ctx) is None:
        return
    st.subheader("当前规划参数")
    st.dataframe(pd.DataFrame({
        "参数": ["老年人步行速度", "服务圈", "设施吸附道路最大距离", "小于此数的人数不公开"],
        "取值": [f"{s.walk_speed_kmh:g} 公里/小时", f"{minutes} 分钟", f"{s.snap_limit_m:g} 米",
               f"{s.suppression_threshold} 人"],
    }), hide_index=True)


def page_reports(ctx: AppContext) -> None:
    """统计报表: placeholder plus facilities and suppressed elder counts per community."""
    st.title("统计报表")
    st.info(
        "即将推出：按民政统计口径导出的养老服务基本情况表（社区数、户籍人口、老年人、高龄、失能老人、"
        "养老机构与社区养老服务设施的数量、床位和服务人数），以及按街道、区县汇总的社区养老服务设施覆盖率"
        "（有社区养老服务设施的社区数 ÷ 社区总数 × 100%），可导出 Excel。",
        icon=":material/construction:",
    )
    region = _require_region(ctx)
    if region is None:
        return
    st.subheader("各社区养老服务设施数量")
    table = community_summary(region, ctx.settings)
    st.caption(f"老年人数少于 {ctx.settings.suppression_threshold} 人的社区显示为“少于"
               f"{ctx.settings.suppression_threshold}”，以保护个人信息。")
    st.dataframe(table, hide_index=True, width="stretch")


def page_data(ctx: AppContext) -> None:
    """数据管理: the region's manifest and how to import data."""
    st.title("数据管理")
    region = _require_region(ctx)
    if region is not None:
        m = region.manifest
        st.subheader(f"地区：{region.name}")
        st.dataframe(pd.DataFrame({
            "项目": ["数据版本", "创建时间（UTC）", "格式", "坐标系", "导入时设置摘要", "当前设置摘要"],
            "内容": [str(m.get("version", region.version)), str(m.get("created_at", "")), str(m.get("format", "")),
                   str(m.get("crs", "")), str(m.get("settings_digest", "（未记录）")),
                   f"{settings_digest(ctx.settings)}（{ctx.settings_source}）"],
        }), hide_index=True)
        if m.get("settings_digest") and m["settings_digest"] != settings_digest(ctx.settings):
            st.warning("当前设置与导入时的设置不同：校验和统计结果可能与导入时不一致。")
        banner = provenance_banner_zh(m)
        if banner:
            st.warning(banner, icon=":material/info:")
        st.subheader("图层")
        st.dataframe(layers_table(m), hide_index=True, width="stretch")
        sources = sources_table(m)
        if not sources.empty:
            st.subheader("数据来源")
            st.dataframe(sources, hide_index=True, width="stretch")
    st.subheader("导入数据（命令行）")
    st.markdown("先校验，按问题报告中的行号改正文件，再导入。导入生成新版本，旧版本保留，中途失败不影响现有数据。")
    st.code(
        "# 校验一个文件（不入库），输出问题报告\n"
        "eldermap validate facilities 养老设施.xlsx --crs gcj02 --region demo\n"
        "eldermap validate elders 老年人.xlsx --region demo\n\n"
        "# 导入为地区的新版本\n"
        "eldermap import 我的地区 --roads 道路.osm.pbf --areas 社区边界.geojson \\\n"
        "    --facilities 养老设施.xlsx --facility-crs gcj02 --elders 老年人.xlsx\n\n"
        "# 查看地区、生成演示地区\n"
        "eldermap info demo\n"
        "eldermap demo",
        language="bash",
    )
    st.caption("完整参数见 `eldermap --help`；字段说明见 `eldermap schema`。")


# ---------------------------------------------------------------- routing

# (page function, title, url path, icon); the first page is the default.
PAGES: tuple[tuple[Callable[[AppContext], None], str, str, str], ...] = (
    (page_find, "找养老服务", "find", ":material/map:"),
    (page_planning, "规划分析", "planning", ":material/insights:"),
    (page_reports, "统计报表", "reports", ":material/table_chart:"),
    (page_data, "数据管理", "data", ":material/database:"),
)


def main() -> None:
    """Build the sidebar and route to the chosen page."""
    # An emoji favicon becomes a data: URL; a ":material/...:" one would be fetched from a public font CDN.
    st.set_page_config(page_title=APP_TITLE, page_icon="🧓", layout="wide")
    ctx = _sidebar()
    if ctx is None:
        st.stop()
    pages = [
        st.Page(functools.partial(fn, ctx), title=title, url_path=url_path, icon=icon, default=(i == 0))
        for i, (fn, title, url_path, icon) in enumerate(PAGES)
    ]
    st.navigation(pages).run()


if __name__ == "__main__":
    main()
