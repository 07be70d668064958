"""找养老服务 (public): search and recommend, for elders and their families.

A starting point (place search in the offline gazetteer, a click on a map, an area, or a family
member's address), one needs form turned into a :class:`planning.recommend.Needs`, ranked
facilities with plain reasons, the home-care providers that serve the starting point (可上门服务:
its declared service area holds it, or it is within ``settings.home_care_drive_minutes`` minutes'
drive — never listed as a walk to them, :mod:`planning.home_care`) and the ones left out with why,
a facility card with its reach on the streets, and a side-by-side comparison of up to three; below,
the map of all facilities, their counts and the full public list.

Home-care providers show their service rating next to the grade (服务评价 "评价 4.6（32 次回访）", or
"暂无评价" below ``settings.recommend_rating_min_followups`` follow-ups) in the list, on their card and in the
可上门服务 section, and well-rated ones come first (``settings.recommend_rating_weight``): aggregates per
provider from the order log (:func:`desk.ratings.public_ratings`, recomputed only when the log changes),
never an order or an elder.

The page reads facilities, areas, roads and buildings only — never elder records. Text from the
data is shown through :func:`views.text.md_escape` in Markdown elements and through
:func:`views.text.plain_table` in every ``st.table`` (which renders Markdown in its cells); map popups
escape it themselves. The maps are drawn by :mod:`layers` (:mod:`layers.find` for the pins and reach).

Quick to use: steps 2–3 are one fragment (查找, 加入对比 and 查看详情 rerun only them) and the list's
kind filter another; the overview map is redrawn only when the starting point changes, and keeps its
place in the page (a moved streamlit-folium frame is rebuilt and can stay blank). Recommendations are
cached on their inputs; after a search the cards' travel times and reaches are computed in a
background thread, so opening a card is a lookup. A card opens right under its result and the browser
scrolls to it; on a phone, 查找 scrolls to the results. On screens narrower than
:data:`LIST_NARROW_PX` the full list is a two-column table (grade, price and phone first).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry
import streamlit as st

from data.provenance import provenance_banner_zh
from data.schema import ABILITY_LEVELS, NATURES
from data.store import Region
from desk.ratings import PublicRatings, public_ratings
from geo.errors import ElderMapError
from geo.gazetteer import Gazetteer, Place, geocode_online
from geo.labels import AREA_LEVEL_ZH, MODE_OF_ZH, mode_zh
from geo.settings import Settings, settings_digest
from layers import add_facilities, add_layer_control, map_lon_lat, public_facility_records
from layers.basemap import to_map_crs
from layers.facilities import format_grade, format_price_yuan_month, service_area_zh
from layers.find import add_facility_pin, add_origin_pin, add_reach, origin_group
from planning.coverage import facility_snap_for, network_for, region_isochrones
from planning.home_care import serving_point
from planning.recommend import (
    Needs,
    Recommendation,
    counted_ratings,
    needs_summary_zh,
    recommend,
    travel_minutes,
)
from planning.scenario import outside_region, region_extent, region_extent_zh
from planning.summary import kind_counts, kinds_in_order
from views.context import region_map
from views.maps import show_map
from views.text import md_escape, plain_table

log = logging.getLogger(__name__)

CLUSTER_ABOVE = 100
"""The overview map groups facilities into clusters (served offline) when it shows more than this many."""
FIND_ORIGIN_WAYS: tuple[str, ...] = ("输入地址或地名", "在地图上点选", "按区域选择")
GRADE_CHOICES: tuple[str, ...] = ("不限", "一级", "二级", "三级", "四级", "五级")
ABILITY_NOT_STATED = "未填写"
ABILITY_EXPLAINED_ZH = (
    "能力等级（GB/T 42195）：能力完好＝日常生活能自理；轻度失能＝洗澡、上下楼等少数事情要人搭把手；"
    "中度失能＝穿衣、如厕、走动等多项要人帮助；重度失能＝大部分日常活动要人照护；完全失能＝完全依靠他人照护（如长期卧床）。"
)
RESULT_LIMIT = 10
COMPARE_MAX = 3
CARD_TRAVEL_LIMIT_MIN = 120.0
"""Search limit of the travel time shown on a facility card (beyond it: "超过 120 分钟")."""
HOME_CARE_EXPLAINED_ZH = ("居家上门服务商到老人家中服务，不需要老人前往。这里列出服务区域包含此处、"
                          "或从服务商驻地驾车 {minutes:g} 分钟以内能到达此处的服务商。")
COMPARE_ROWS: tuple[str, ...] = ("类型", "出行时间", "服务项目", "床位/空余/护理型", "等级", "月收费", "性质", "电话",
                                 "地址")
FIND_STATE_KEYS: tuple[str, ...] = ("find_origin", "find_family_origin", "find_last_click", "find_click_refused",
                                    "find_origin_map",
                                    "find_needs", "find_needs_age", "find_selected", "find_scroll_card",
                                    "find_scroll_results")
"""Session state forgotten when the user switches to another region (version)."""


# ---------------------------------------------------------------- helpers (no streamlit calls)


PUBLIC_LIST_COLUMNS: tuple[str, ...] = ("名称", "类型", "服务项目", "床位", "空余床位", "上门服务范围", "等级",
                                        "服务评价", "月收费", "性质", "电话", "地址")
"""Columns of :func:`public_facility_table` (上门服务范围 and 服务评价 only when some facility has one)."""
NO_RATING_ZH = "暂无评价"
LIST_NARROW_PX = 700
"""Below this screen width the full facility list shows as stacked rows (a table is too wide for a phone)."""
LIST_CSS = (
    "<style>"
    f"@media (max-width: {LIST_NARROW_PX}px) {{ .st-key-find_list_wide {{ display: none !important; }} }}"
    f"@media (min-width: {LIST_NARROW_PX + 1}px) {{ .st-key-find_list_narrow {{ display: none !important; }} }}"
    ".st-key-find_list_narrow table { table-layout: fixed; width: 100% !important; min-width: 0 !important; }"
    ".st-key-find_list_narrow th, .st-key-find_list_narrow td, .st-key-find_list_narrow td *,"
    " .st-key-find_list_narrow th * { white-space: normal !important; overflow-wrap: anywhere;"
    " word-break: break-word; min-width: 0 !important; max-width: 100% !important; width: auto !important; }"
    ".st-key-find_list_narrow th:first-child, .st-key-find_list_narrow td:first-child { width: 38%; }"
    "</style>"
)
"""Constant CSS (no data): the wide table or the stacked rows, by screen width."""
CARD_ANCHOR = "find-card"
RESULTS_ANCHOR = "find-results"


def scroll_script(anchor: str, nonce: str, *, max_width_px: int | None = None) -> str:
    """Inline JS (no outside request) that scrolls the element with id ``anchor`` to the top of the view,
    on screens narrower than ``max_width_px`` when given. ``nonce`` makes each new request a new element
    (the browser runs it again). ``anchor`` and ``nonce`` are our own identifiers, never data text."""
    if not (anchor.replace("-", "").isalnum() and nonce.replace("-", "").replace("_", "").isalnum()):
        raise ValueError("anchor and nonce must be plain identifiers")
    condition = "true" if max_width_px is None else f"window.innerWidth <= {int(max_width_px)}"
    return (f'<script data-nonce="{nonce}">(function () {{ if (!({condition})) return; let tries = 0;'
            f' const go = () => {{ const el = window.parent.document.getElementById("{anchor}")'
            f' || document.getElementById("{anchor}");'
            f' if (el) {{ el.scrollIntoView({{block: "start"}}); }} else if (tries++ < 20) {{ setTimeout(go, 100); }} }};'
            f' setTimeout(go, 50); }})();</script>')


def _is_home_care(kind: Any, settings: Settings | None) -> bool:
    return settings is not None and kind in settings.home_care_kinds


def rated_by_id(ratings: PublicRatings | pd.DataFrame | None,
                settings: Settings) -> dict[str, tuple[float, int]] | None:
    """``{provider id: (score, follow-ups)}`` of the ratings the public may see (at least
    ``settings.recommend_rating_min_followups`` follow-ups); None when there are no ratings at all."""
    if ratings is None:
        return None
    table = ratings.table if isinstance(ratings, PublicRatings) else ratings
    return counted_ratings(table, min_followups=settings.recommend_rating_min_followups)


def rating_text_zh(facility_id: Any, kind: Any, rated: dict[str, tuple[float, int]] | None, *,
                   settings: Settings | None) -> str:
    """A facility's service rating for the public: "评价 4.6（32 次回访）" when ``rated`` (:func:`rated_by_id`) has
    one; "暂无评价" for a home-care provider without one (too few follow-ups to name it); "" for a facility nobody
    rates, or when there are no ratings at all (``rated`` None)."""
    if rated is None:
        return ""
    found = rated.get(str(facility_id))
    if found is not None:
        return f"评价 {found[0]:.1f}（{found[1]} 次回访）"
    return NO_RATING_ZH if _is_home_care(kind, settings) else ""


def public_facility_table(facilities: pd.DataFrame, settings: Settings | None = None, *,
                          rated: dict[str, tuple[float, int]] | None = None) -> pd.DataFrame:
    """Facilities for the public: public fields only, as readable Chinese text (:data:`PUBLIC_LIST_COLUMNS`).

    Kinds that come to the home (``settings.home_care_kinds``) show no beds but their service area
    (:func:`layers.facilities.service_area_zh`), and their service rating (:func:`rating_text_zh` of
    ``rated``) next to the grade."""
    rows = []
    ids = facilities["id"].astype(str).tolist() if "id" in facilities.columns else [""] * len(facilities)
    for facility_id, r in zip(ids, public_facility_records(facilities), strict=True):
        home = _is_home_care(r["kind"], settings)
        rows.append({
            "名称": r["name"] or "",
            "类型": r["kind"] or "",
            "服务项目": "、".join(r["services"] or []),
            "床位": "" if home or r["beds_total"] is None else str(r["beds_total"]),
            "空余床位": "" if home or r["beds_free"] is None else str(r["beds_free"]),
            "上门服务范围": service_area_zh(r, drive_minutes=settings.home_care_drive_minutes) if home else "",
            "等级": format_grade(r["grade"]),
            "服务评价": rating_text_zh(facility_id, r["kind"], rated, settings=settings),
            "月收费": format_price_yuan_month(r["price_min_yuan_month"], r["price_max_yuan_month"]),
            "性质": r["nature"] or "",
            "电话": r["phone"] or "",
            "地址": r["address"] or "",
        })
    table = pd.DataFrame(rows, columns=list(PUBLIC_LIST_COLUMNS))
    for optional in ("上门服务范围", "服务评价"):
        if not (table[optional] != "").any():
            table = table.drop(columns=optional)
    return table


NARROW_LIST_COLUMNS: tuple[str, ...] = ("设施", "等级、收费、电话")


def narrow_facility_table(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`public_facility_table` as two columns that fit a phone: the name and kind, then grade,
    price and phone first, the other fields after them. Pass it through :func:`views.text.plain_table`."""
    rows = []
    for row in table.to_dict("records"):
        fields = [f"{label}：{row[label]}" for label in ("等级", "服务评价", "月收费", "电话", "上门服务范围", "床位",
                                                      "空余床位", "服务项目", "性质", "地址") if row.get(label)]
        rows.append({NARROW_LIST_COLUMNS[0]: f"{row['名称'] or '（未命名）'}（{row['类型']}）",
                     NARROW_LIST_COLUMNS[1]: "；".join(fields)})
    return pd.DataFrame(rows, columns=list(NARROW_LIST_COLUMNS))


def over_budget_note(price_min: Any, price_max: Any, budget_yuan_month: float | None) -> str:
    """"价格区间上限超出预算…" when the price range starts within the budget but ends above it, else ""."""
    try:
        low, high = float(price_min), float(price_max)
    except (TypeError, ValueError):
        return ""
    if budget_yuan_month is None or not np.isfinite(high) or high <= budget_yuan_month:
        return ""
    if np.isfinite(low) and low > budget_yuan_month:
        return ""
    return (f"价格区间上限超出预算：最高 {high:,.0f} 元/月，您的预算 {budget_yuan_month:,.0f} 元/月，"
            "入住前请向机构问清实际收费")


def area_choices(areas: gpd.GeoDataFrame) -> dict[str, tuple[float, float]]:
    """Areas with a polygon as ``{label: (lon, lat)}``, in code order (a district, its streets, their
    communities); the point is a representative point inside the area. Labels are "花园社区（社区/村）",
    with the parent's name added when two areas share a name and level."""
    if areas.empty or areas.crs is None or "name" not in areas.columns:
        return {}
    shapes = to_map_crs(areas, "区划")
    shapes = shapes[~(shapes.geometry.isna() | shapes.geometry.is_empty) & shapes["name"].notna()]
    if shapes.empty:
        return {}
    codes = shapes["code"].astype(str) if "code" in shapes.columns else pd.Series("", index=shapes.index)
    shapes = shapes.assign(_code=codes).sort_values("_code", kind="stable")
    names_by_code = dict(zip(shapes["_code"], shapes["name"].astype(str), strict=True))
    levels = shapes["level"].astype(str) if "level" in shapes.columns else pd.Series("", index=shapes.index)
    parents = shapes["parent_code"] if "parent_code" in shapes.columns else pd.Series(None, index=shapes.index)
    base = [f"{n}（{AREA_LEVEL_ZH.get(lv, '区域')}）" for n, lv in zip(shapes["name"].astype(str), levels, strict=True)]
    repeated = pd.Series(base).duplicated(keep=False).to_numpy()
    points = shapes.geometry.representative_point()
    out: dict[str, tuple[float, float]] = {}
    for label, dup, name, level, parent, point in zip(base, repeated, shapes["name"].astype(str), levels, parents,
                                                      points, strict=True):
        if dup and not pd.isna(parent) and str(parent) in names_by_code:
            label = f"{name}（{names_by_code[str(parent)]}，{AREA_LEVEL_ZH.get(level, '区域')}）"
        out.setdefault(label, (float(point.x), float(point.y)))
    return out


def grade_from_choice(choice: str) -> int | None:
    """"不限" -> None, "三级" -> 3."""
    return GRADE_CHOICES.index(choice) if choice in GRADE_CHOICES[1:] else None


def travel_text_zh(minutes: float | None, mode: str, kind: str | None, *, limit_min: float, settings: Settings,
                   origin_snapped: bool = True, service_area: str = "") -> str:
    """Travel time for display: "步行约 8 分钟", "步行超过 15 分钟"; kinds that come to the home
    (``settings.home_care_kinds``) never as a trip to them but as "上门服务（{service_area}）"."""
    if kind in settings.home_care_kinds:
        return f"上门服务（{service_area or '按服务商的服务范围'}）"
    how = mode_zh(mode)
    if not origin_snapped:
        text = "无法计算（起点离道路太远）"
    elif minutes is not None and np.isfinite(minutes):
        text = f"{how}约 {max(float(minutes), 1.0):.0f} 分钟"
    else:
        text = f"{how}超过 {limit_min:g} 分钟"
    return text


def _count(value: Any) -> str:
    return "—" if value is None else str(value)


def facility_card_table(record: dict[str, Any], travel: str, *, service_area: str = "",
                        rating: str = "") -> pd.DataFrame:
    """Every public field of one facility (a :func:`public_facility_records` row) and the travel time,
    as rows of 项目/内容 for ``st.table`` (pass it through :func:`views.text.plain_table`); unknown values
    read "未公布". With ``service_area`` (a home-care provider) that row replaces the three bed rows; with
    ``rating`` (:func:`rating_text_zh`) a row 服务评价 follows the grade."""
    unknown = "未公布"
    beds = [("上门服务范围", service_area)] if service_area else [
        ("床位总数", unknown if record.get("beds_total") is None else f"{record['beds_total']} 张"),
        ("护理型床位", unknown if record.get("beds_nursing") is None else f"{record['beds_nursing']} 张"),
        ("空余床位", unknown if record.get("beds_free") is None else f"{record['beds_free']} 张"),
    ]
    rows = [
        ("类型", record.get("kind") or unknown),
        ("出行时间", travel),
        ("服务项目", "、".join(record.get("services") or []) or unknown),
        *beds,
        ("等级", format_grade(record.get("grade")) or "未评级"),
        *([("服务评价", rating)] if rating else []),
        ("月收费", format_price_yuan_month(record.get("price_min_yuan_month"), record.get("price_max_yuan_month"))
         or unknown),
        ("性质", record.get("nature") or unknown),
        ("联系电话", record.get("phone") or unknown),
        ("地址", record.get("address") or unknown),
    ]
    return pd.DataFrame(rows, columns=["项目", "内容"])


def compare_table(records: list[dict[str, Any]], travel: list[str], *, settings: Settings | None = None,
                  ratings: list[str] | None = None) -> pd.DataFrame:
    """Facilities side by side (Care Compare style): rows :data:`COMPARE_ROWS`, one column per facility,
    headed by its name (made unique with "（2）" when two share a name); home-care providers show their
    service area in the bed row. ``ratings``: each facility's :func:`rating_text_zh`; when one is not empty, a
    row 服务评价 follows 等级. Pass it through :func:`views.text.plain_table` for ``st.table``."""
    columns: dict[str, list[str]] = {}
    for record, trip in zip(records, travel, strict=True):
        name = record.get("name") or "（未命名）"
        header, n = name, 1
        while header in columns:
            n += 1
            header = f"{name}（{n}）"
        if _is_home_care(record.get("kind"), settings):
            beds = service_area_zh(record, drive_minutes=settings.home_care_drive_minutes)
        else:
            beds = " / ".join(_count(record.get(f)) for f in ("beds_total", "beds_free", "beds_nursing"))
        columns[header] = [
            record.get("kind") or "",
            trip,
            "、".join(record.get("services") or []),
            beds,
            format_grade(record.get("grade")) or "未评级",
            format_price_yuan_month(record.get("price_min_yuan_month"), record.get("price_max_yuan_month"))
            or "未公布",
            record.get("nature") or "",
            record.get("phone") or "",
            record.get("address") or "",
        ]
    table = pd.DataFrame(columns, index=list(COMPARE_ROWS))
    if ratings is not None and any(ratings):
        at = list(COMPARE_ROWS).index("等级") + 1
        row = pd.DataFrame([list(ratings)], columns=table.columns, index=["服务评价"])
        table = pd.concat([table.iloc[:at], row, table.iloc[at:]])
    return table


def map_bounds_around(points: list[tuple[float, float]], shape: Any = None,
                      pad_deg: float = 0.002) -> tuple[float, float, float, float]:
    """Bounds (min_lon, min_lat, max_lon, max_lat) around (lon, lat) points and an optional shapely shape."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    if shape is not None and not shape.is_empty:
        minx, miny, maxx, maxy = shape.bounds
        xs += [minx, maxx]
        ys += [miny, maxy]
    return (min(xs) - pad_deg, min(ys) - pad_deg, max(xs) + pad_deg, max(ys) + pad_deg)


# ---------------------------------------------------------------- cached

@st.cache_resource(show_spinner=False, max_entries=4)
def cached_gazetteer(name: str, path: str, version: str, _region: Region) -> Gazetteer:
    """The region's place index, built once per (region, version) and shared by all sessions."""
    del name, path, version  # the cache key
    return Gazetteer.from_region(_region)


REACH_CACHE_ENTRIES = 256
"""Facility reaches kept per server process (shared by all sessions; the oldest goes first)."""
_REACHES: dict[tuple[str, str, str, str, float, str], dict[str, Any] | None] = {}
_REACHES_LOCK = threading.Lock()


def _reach_key(region: Region, facility_id: str, mode: str, minutes: float,
               settings: Settings) -> tuple[str, str, str, str, float, str]:
    return (str(region.path), str(region.version), str(facility_id), str(mode), float(minutes),
            settings_digest(settings))


def _compute_reach(region: Region, settings: Settings, facility_id: str, mode: str,
                   minutes: float) -> dict[str, Any] | None:
    """GeoJSON geometry (EPSG:4326) of the streets reachable from one facility within ``minutes``;
    None when the facility is not on the network."""
    iso = region_isochrones(region, settings=settings, minutes=[minutes], mode=mode, facility_id=facility_id,
                            bands=False)
    geom = iso.geometry.iloc[0] if len(iso) else None
    return None if geom is None or geom.is_empty else shapely.geometry.mapping(geom)


def _remember_reach(key: tuple[str, str, str, str, float, str], value: dict[str, Any] | None) -> None:
    with _REACHES_LOCK:
        _REACHES[key] = value
        while len(_REACHES) > REACH_CACHE_ENTRIES:
            _REACHES.pop(next(iter(_REACHES)))


def _facility_reach(region: Region, settings: Settings, facility_id: str, mode: str,
                    minutes: float) -> dict[str, Any] | None:
    """The reach of one facility (:func:`_compute_reach`), from the process cache when it is there."""
    key = _reach_key(region, facility_id, mode, minutes, settings)
    with _REACHES_LOCK:
        if key in _REACHES:
            return _REACHES[key]
    with st.spinner("正在计算可到达范围…"):
        value = _compute_reach(region, settings, facility_id, mode, minutes)
    _remember_reach(key, value)
    return value


def _prefetch_cards(region: Region, settings: Settings, facility_ids: list[str], mode: str,
                    minutes: float, origin_lon_lat: tuple[float, float]) -> None:
    """Compute what the cards of the listed results need (the travel minutes from the starting point, each
    facility's reach) in a background thread, so the card the user opens next is a lookup. Only ever
    fills the caches: errors are logged, never shown (the card shows them when opened)."""
    def work() -> None:
        try:
            _card_minutes(region, settings, mode, *origin_lon_lat)
        except ElderMapError as exc:
            log.info("card minutes not prefetched: %s", exc.args[-1] if exc.args else exc)
        for facility_id in facility_ids:
            key = _reach_key(region, facility_id, mode, minutes, settings)
            with _REACHES_LOCK:
                if key in _REACHES:
                    continue
            try:
                _remember_reach(key, _compute_reach(region, settings, facility_id, mode, minutes))
            except ElderMapError as exc:  # the card will say it when opened
                log.info("reach of %s not prefetched: %s", facility_id, exc.args[-1] if exc.args else exc)

    threading.Thread(target=work, name="eldermap-reach-prefetch", daemon=True).start()


@st.cache_data(show_spinner="正在查找…", max_entries=128)
def _recommendation(path: str, version: str, needs_key: str, lon: float, lat: float, settings_key: str,
                    ratings_key: str, _region: Region, _needs: Needs, _settings: Settings,
                    _ratings: pd.DataFrame) -> tuple[Recommendation, list[str]]:
    """The recommendation for (region version, needs, starting point, settings, providers' ratings), and the
    home-care notes; computed once and shared by all sessions, so a rerun (a tick, a card) never recomputes it,
    and a new follow-up in the order log (a new ``ratings_key``) does."""
    del path, version, needs_key, settings_key, ratings_key  # the cache key
    network = network_for(_region, _needs.mode, _settings)
    snap = facility_snap_for(_region, _needs.mode, _settings)
    home_care = serving_point(_region, lon, lat, settings=_settings)
    result = recommend(_region.facilities, _needs, network=network, facility_snap=snap, origin=(lon, lat),
                       settings=_settings, limit=RESULT_LIMIT, home_care=home_care, ratings=_ratings)
    return result, list(home_care.attrs.get("notes", []))


_CARD_MINUTES: dict[tuple[str, str, str, float, float, str], tuple[np.ndarray, bool]] = {}


def _card_minutes(region: Region, settings: Settings, mode: str, lon: float, lat: float) -> tuple[np.ndarray, bool]:
    """Travel minutes (up to :data:`CARD_TRAVEL_LIMIT_MIN`) from a starting point to every facility, and
    whether the point reached the network; once per (region version, mode, point, settings) in this process."""
    key = (str(region.path), str(region.version), str(mode), float(lon), float(lat), settings_digest(settings))
    with _REACHES_LOCK:
        if key in _CARD_MINUTES:
            return _CARD_MINUTES[key]
    network = network_for(region, mode, settings)
    snap = facility_snap_for(region, mode, settings)
    value = travel_minutes(network, snap, (lon, lat), settings=settings, max_minutes=CARD_TRAVEL_LIMIT_MIN)
    with _REACHES_LOCK:
        _CARD_MINUTES[key] = value
        while len(_CARD_MINUTES) > REACH_CACHE_ENTRIES:
            _CARD_MINUTES.pop(next(iter(_CARD_MINUTES)))
    return value


# ---------------------------------------------------------------- step 1: the starting point


def _set_origin(state_key: str, lon: float, lat: float, label: str) -> None:
    st.session_state[state_key] = {"lon": float(lon), "lat": float(lat), "label": str(label)}


QUERY_MAX_CHARS = 100
"""Longest place query searched (an address with a house number is far shorter)."""


def query_problem_zh(query: str, label: str, *, example: str) -> str:
    """"" when a place query can be searched, else why not, in Chinese, naming the field ``label`` and what
    it takes: a query of digits and punctuation only ("0", "-1") matches house numbers anywhere, so it
    would pick an arbitrary place; a query longer than :data:`QUERY_MAX_CHARS` is no address."""
    text = query.strip()
    takes = f"请输入本地区的社区名、街道名、路名加门牌号或设施名（例如：{example}），或改用地图点选、按区域选择。"
    if len(text) > QUERY_MAX_CHARS:
        return f"“{label}”最多 {QUERY_MAX_CHARS} 个字，收到 {len(text)} 个字。{takes}"
    if text and not any(ch.isalpha() for ch in text):
        return f"“{label}”中的“{text}”只有数字或符号，无法确定是哪里。{takes}"
    return ""


def _search_place(gazetteer: Gazetteer, label: str, *, key: str, placeholder: str,
                  settings: Settings, state_key: str) -> Place | None:
    """A text box searched in the gazetteer (then the configured online geocoder), then a choice. A query
    that cannot be searched or finds nothing says so and forgets the starting point it had set
    (``state_key``), so no earlier place is used in its name."""
    query = st.text_input(label, key=key, placeholder=placeholder)
    if not query.strip():
        return None
    problem = query_problem_zh(query, label, example=placeholder.removeprefix("例如："))
    if problem:
        st.session_state.pop(state_key, None)
        st.warning(md_escape(problem))
        return None
    places: dict[str, Place] = {}
    for place in gazetteer.search(query, limit=10):
        places.setdefault(place.name, place)
    if not places and settings.geocoder:  # nothing offline: ask the configured online service
        try:
            for place in geocode_online(query, service=settings.geocoder, key=settings.geocoder_key or None):
                places.setdefault(f"{place.name}（在线）", place)
        except ElderMapError as exc:
            st.warning(md_escape(str(exc)))
    if not places:
        st.session_state.pop(state_key, None)
        st.warning(f"{md_escape(label)}：本地区没有找到“{md_escape(query)}”。请换个说法（如社区名、路名加门牌号、设施名），"
                   "或改用地图点选、按区域选择。")
        return None
    choice = st.selectbox("找到以下地点，请选择最符合的一项", list(places), key=f"{key}_place")
    return places.get(choice)


@st.cache_data(show_spinner=False, max_entries=8)
def _extent(path: str, version: str, _region: Region) -> tuple[float, float, float, float] | None:
    """The region's extent (:func:`planning.scenario.region_extent`, its roads), once per region version."""
    del path, version  # the cache key
    return region_extent(_region)


def _click_origin(region: Region, gazetteer: Gazetteer, settings: Settings) -> None:
    """A small map; a click sets the starting point (only a click reruns the page). A click outside the
    region (farther than ``settings.region_margin_m`` from its roads) is refused with a message: no
    facility could be reached from there, and an empty result would not say why."""
    extent = _extent(str(region.path), str(region.version), region)

    def take(clicked: Any) -> bool:
        if not isinstance(clicked, dict) or clicked.get("lat") is None or clicked.get("lng") is None:
            return False
        raw = (round(float(clicked["lng"]), 6), round(float(clicked["lat"]), 6))
        if raw == st.session_state.get("find_last_click"):
            return False
        st.session_state["find_last_click"] = raw
        lon, lat = map_lon_lat(m, raw[1], raw[0])  # back from GCJ-02 tiles if the map uses them
        if extent is not None and outside_region(lon, lat, extent, margin_m=settings.region_margin_m):
            st.session_state["find_click_refused"] = (lon, lat)
            st.session_state.pop("find_origin", None)
            return True
        st.session_state.pop("find_click_refused", None)
        _set_origin("find_origin", lon, lat, gazetteer.reverse(lon, lat) or f"地图上选定的位置（{lat:.5f}, {lon:.5f}）")
        return True

    m = region_map(region, settings, empty_zh="该地区没有可在地图上显示的数据，请改用其他方式选择起点。")
    if m is None:
        return
    st.caption("在地图上点一下出发的位置（可先放大地图），图钉即为起点。")
    # the click of the last rerun arrives in session state before the map is drawn: take it first, so
    # the pin is drawn where the user clicked
    take((st.session_state.get("find_origin_map") or {}).get("last_clicked"))
    pin = origin_group(m, st.session_state.get("find_origin"))  # over the map: moving the pin keeps the view
    result = show_map(m, key="find_origin_map", height_px=420, returned_objects=["last_clicked"], feature_group=pin)
    if take((result or {}).get("last_clicked")):
        st.rerun()
    refused = st.session_state.get("find_click_refused")
    if refused and extent is not None:
        st.warning(f"地图上点选的位置（经度 {refused[0]:.5f}，纬度 {refused[1]:.5f}）在本地区范围之外，未采用。"
                   f"本地区范围：{region_extent_zh(extent, margin_m=settings.region_margin_m)}。请在本地区内点选。")


def _area_origin(region: Region) -> None:
    """A district, street or community as the starting point (a point inside it)."""
    try:
        choices = area_choices(region.areas)
    except ElderMapError as exc:
        st.error(md_escape(str(exc)))
        return
    if not choices:
        st.info("该地区没有带边界的区划数据，请改用其他方式选择起点。")
        return
    chosen = st.selectbox("选择区县、街道或社区", list(choices), index=None, key="find_area",
                          placeholder="请选择区域")
    if chosen is not None:
        _set_origin("find_origin", *choices[chosen], chosen)


def _choose_origin(region: Region, gazetteer: Gazetteer, settings: Settings) -> dict[str, Any] | None:
    """Section 起点: the starting point (own, or the family's address), kept in session state."""
    st.subheader("第一步：从哪里出发")
    way = st.radio("选择起点的方式", FIND_ORIGIN_WAYS, horizontal=True, key="find_origin_way")
    if way == FIND_ORIGIN_WAYS[0]:
        place = _search_place(gazetteer, "地址或地名", key="find_query",
                              placeholder="例如：灯塔社区、海港街道、第一福利院", settings=settings,
                              state_key="find_origin")
        if place is not None:
            _set_origin("find_origin", place.lon, place.lat, place.name)
    elif way == FIND_ORIGIN_WAYS[1]:
        _click_origin(region, gazetteer, settings)
    else:
        _area_origin(region)

    use_family = bool(st.session_state.get("find_use_family"))
    with st.expander("家人住址（可选）：找离子女家近的服务", expanded=use_family):
        family = _search_place(gazetteer, "家人住址", key="find_family_query",
                               placeholder="例如：子女家所在的社区、路名和门牌号", settings=settings,
                               state_key="find_family_origin")
        if family is not None:
            _set_origin("find_family_origin", family.lon, family.lat, family.name)
        else:
            st.session_state.pop("find_family_origin", None)
        use_family = st.checkbox("以家人住址为起点", key="find_use_family")

    if use_family:
        family_origin = st.session_state.get("find_family_origin")
        if family_origin is None:
            st.warning("已勾选“以家人住址为起点”，请先在上面输入并选择家人住址。")
            return None
        origin = {**family_origin, "label": f"家人住址：{family_origin['label']}"}
    else:
        origin = st.session_state.get("find_origin")
    if origin is not None:
        st.success(f"当前起点：{md_escape(origin['label'])}", icon=":material/location_on:")
    return origin


# ---------------------------------------------------------------- step 2: the needs


def _needs_form(facilities: gpd.GeoDataFrame, settings: Settings) -> None:
    """Section 需求: one form; "查找" stores the Needs (and age) in session state."""
    st.subheader("第二步：需要什么服务")
    with st.form("find_needs_form", border=True):
        age = st.number_input("年龄（岁）", min_value=1, max_value=120, value=70, step=1, key="find_age")
        ability = st.selectbox("身体状况（能力等级）", (ABILITY_NOT_STATED, *ABILITY_LEVELS), key="find_ability")
        st.caption(ABILITY_EXPLAINED_ZH)
        residential = st.toggle("需要入住养老机构（长住或短住）", key="find_residential")
        services = st.multiselect("需要的服务（可多选，可不选）", list(settings.service_tags), default=[],
                                  key="find_services", placeholder="例如：助餐、日间照料、康复护理")
        budget = st.number_input("每月最多能付多少钱（元，填 0 表示不限）", min_value=0, value=0, step=500,
                                 key="find_budget")
        free_bed = st.checkbox("需要现在有空余床位", key="find_free_bed")
        nursing_bed = st.checkbox("需要护理型床位", key="find_nursing_bed")
        travel_mode_zh = st.radio("怎么过去", tuple(MODE_OF_ZH), horizontal=True, key="find_mode")
        minutes = st.slider("路上最多花多少分钟", min_value=5, max_value=60, value=15, step=5, key="find_minutes")
        with st.expander("更多筛选"):
            kinds = st.multiselect("设施类型（不选表示全部）", kinds_in_order(facilities, settings), default=[],
                                   key="find_kind_filter", placeholder="全部类型")
            natures = st.multiselect("性质（不选表示全部）", list(NATURES), default=[], key="find_natures",
                                     placeholder="全部")
            grade = st.selectbox("最低等级", GRADE_CHOICES, key="find_min_grade")
            st.caption("选择等级后，尚未评级的设施不再显示。")
        submitted = st.form_submit_button("查找", type="primary", key="find_submit", width="stretch")
    if submitted:
        try:
            st.session_state["find_needs"] = Needs(
                ability_code=ABILITY_LEVELS.index(ability) if ability in ABILITY_LEVELS else None,
                services=tuple(services),
                residential=bool(residential),
                budget_yuan_month=float(budget) if budget else None,
                need_free_bed=bool(free_bed),
                need_nursing_bed=bool(nursing_bed),
                kinds=tuple(kinds),
                natures=tuple(natures),
                min_grade=grade_from_choice(grade),
                max_minutes=float(minutes),
                mode=MODE_OF_ZH[travel_mode_zh],
            )
            st.session_state["find_needs_age"] = int(age)
            st.session_state["find_scroll_results"] = st.session_state.get("find_scroll_results_n", 0) + 1
            st.session_state["find_scroll_results_n"] = st.session_state["find_scroll_results"]
        except ElderMapError as exc:
            st.error(md_escape(str(exc)))


# ---------------------------------------------------------------- step 3: results, card, comparison


def _limit_compare(key: str) -> None:
    """At most COMPARE_MAX facilities ticked for comparison: a further tick is undone, with a warning."""
    ticked = [k for k, v in st.session_state.items() if str(k).startswith("find_cmp_") and v is True]
    if st.session_state.get(key) and len(ticked) > COMPARE_MAX:
        st.session_state[key] = False
        st.session_state["find_compare_warning"] = key


def _toggle_card(facility_id: str) -> None:
    """查看详情 / 收起详情: open this facility's card (closing any other), or close it; ask for a scroll to it."""
    if st.session_state.get("find_selected") == facility_id:
        st.session_state.pop("find_selected", None)
    else:
        st.session_state["find_selected"] = facility_id
        st.session_state["find_scroll_card"] = st.session_state.get("find_scroll_card", 0) + 1


def _needs_key(needs: Needs) -> str:
    return repr(needs)


@st.fragment
def _search(region: Region, settings: Settings, origin: dict[str, Any] | None, root: str | Path | None) -> None:
    """Steps 2 and 3 — a fragment: pressing 查找, ticking 加入对比 or opening a card reruns only this part
    of the page (the overview map below is left as it is)."""
    _needs_form(region.facilities, settings)
    _results(region, settings, origin, root)


def _results(region: Region, settings: Settings, origin: dict[str, Any] | None, root: str | Path | None) -> None:
    """Sections 结果 (each card opening right under its result), 对比, 可上门服务 and the ones left out."""
    st.subheader("第三步：为您推荐", anchor=RESULTS_ANCHOR)
    needs: Needs | None = st.session_state.get("find_needs")
    if origin is None:
        st.info("请先在“第一步”选择出发位置：输入地址或地名（如社区名），在地图上点一下，或按区域选择。"
                "也可以用家人的住址作为起点。")
        return
    if needs is None:
        st.info("请在“第二步”填写需求，然后点“查找”。")
        return
    facilities = region.facilities
    if facilities.empty:
        st.info("该地区还没有养老服务设施数据。")
        return
    ratings = public_ratings(region, settings, root=root)  # a file check unless the order log changed
    rated = rated_by_id(ratings, settings)
    try:
        result, home_care_notes = _recommendation(
            str(region.path), str(region.version), _needs_key(needs), float(origin["lon"]), float(origin["lat"]),
            settings_digest(settings), ratings.key, region, needs, settings, ratings.table)
    except ElderMapError as exc:
        st.error(md_escape(str(exc)))
        return
    searched = st.session_state.pop("find_scroll_results", None)
    if searched is not None:  # after 查找 on a phone: the results start below the fold, bring them up
        st.html(scroll_script(RESULTS_ANCHOR, f"r{searched}", max_width_px=LIST_NARROW_PX),
                unsafe_allow_javascript=True)

    age = st.session_state.get("find_needs_age")
    st.markdown(f"**您的需求**：{'' if age is None else f'{age} 岁；'}{md_escape(needs_summary_zh(needs))}")
    st.markdown(f"**起点**：{md_escape(origin['label'])}")
    for note in result.notes:
        st.info(md_escape(note))
    if result.filtered_out:
        st.caption(f"按您的筛选条件隐去 {result.filtered_out} 家")

    ranked = result.ranked
    prefetch = (_needs_key(needs), float(origin["lon"]), float(origin["lat"]), str(region.path))
    if not ranked.empty and st.session_state.get("find_prefetched") != prefetch:
        st.session_state["find_prefetched"] = prefetch  # once per result list, not on every tick
        _prefetch_cards(region, settings, [str(i) for i in ranked["id"]], needs.mode, float(needs.max_minutes),
                        (float(origin["lon"]), float(origin["lat"])))
    if ranked.empty:
        st.warning("没有找到符合全部条件的设施。可以试试：延长出行时间、改为驾车、提高预算，或减少筛选条件。")
    prices = _prices_by_id(facilities)
    selected = st.session_state.get("find_selected")
    if selected is not None and selected not in set(ranked["id"].astype(str)):
        selected = None
    for rank, row in enumerate(ranked.itertuples(index=False), start=1):
        facility_id = str(row.id)
        with st.container(border=True):
            st.markdown(f"#### {rank}\\. {md_escape(row.name)}（{md_escape(row.kind)}）")
            st.markdown(md_escape(row.reason))
            budget_note = over_budget_note(*prices.get(facility_id, (None, None)), needs.budget_yuan_month)
            if budget_note:
                st.warning(md_escape(budget_note), icon=":material/payments:")
            is_open = selected == facility_id
            st.button("收起详情" if is_open else "查看详情", key=f"find_detail_{facility_id}",
                      icon=":material/expand_less:" if is_open else ":material/info:",
                      on_click=_toggle_card, args=(facility_id,))
            st.checkbox("加入对比", key=f"find_cmp_{facility_id}", on_change=_limit_compare,
                        args=(f"find_cmp_{facility_id}",))
            if st.session_state.get("find_compare_warning") == f"find_cmp_{facility_id}":
                st.warning(f"最多比较 {COMPARE_MAX} 家", icon=":material/block:")  # next to the box just ticked
            if is_open:  # the card right under the result that was clicked
                _facility_card(region, settings, needs, origin, facility_id, rated)
    st.session_state.pop("find_compare_warning", None)
    ticked = [str(i) for i in ranked["id"] if st.session_state.get(f"find_cmp_{i}")][:COMPARE_MAX]
    if len(ticked) == 1:
        st.caption("再勾选 1–2 家“加入对比”，即可并排比较。")
    elif len(ticked) >= 2:
        _compare(facilities, ranked, needs, ticked, settings, rated)
    _home_care(result.home_care, home_care_notes, settings, rated)

    if not result.excluded.empty:
        with st.expander(f"不符合条件的设施及原因（{len(result.excluded)} 家）"):
            excluded = result.excluded
            st.table(plain_table(pd.DataFrame({
                "名称": excluded["name"].astype(str),
                "类型": excluded["kind"].astype(str),
                "原因": excluded["why"].astype(str),
            })), hide_index=True)


def _prices_by_id(facilities: pd.DataFrame) -> dict[str, tuple[Any, Any]]:
    """``{id: (price_min_yuan_month, price_max_yuan_month)}`` of the facilities (None where absent)."""
    if "id" not in facilities.columns:
        return {}
    low = facilities["price_min_yuan_month"] if "price_min_yuan_month" in facilities.columns else None
    high = facilities["price_max_yuan_month"] if "price_max_yuan_month" in facilities.columns else None
    ids = facilities["id"].astype(str).to_list()
    lows = [None] * len(ids) if low is None else low.to_list()
    highs = [None] * len(ids) if high is None else high.to_list()
    return {i: (a, b) for i, a, b in zip(ids, lows, highs, strict=True)}


def _home_care(serving: pd.DataFrame, notes: list[str], settings: Settings,
               rated: dict[str, tuple[float, int]] | None) -> None:
    """Section 可上门服务: the home-care providers that serve the starting point and meet the needs, each
    with why (服务区域包含此处 / 车程约 N 分钟, and its service rating) — never as a walk or drive to them; a
    provider without a rating the public may see says "暂无评价"."""
    st.subheader("可上门服务")
    st.caption(HOME_CARE_EXPLAINED_ZH.format(minutes=settings.home_care_drive_minutes))
    for note in notes:
        st.info(md_escape(note))
    if serving.empty:
        st.info("此处暂无符合您需求的上门服务商。")
        return
    for row in serving.itertuples(index=False):
        with st.container(border=True):
            st.markdown(f"**{md_escape(row.name)}**（{md_escape(row.kind)}）")
            st.markdown(md_escape(row.reason))
            if rating_text_zh(row.id, row.kind, rated, settings=settings) == NO_RATING_ZH:  # rated: in the reason
                st.caption(f"服务评价：{NO_RATING_ZH}（回访不足 {settings.recommend_rating_min_followups} 次）")


def _facility_card(region: Region, settings: Settings, needs: Needs, origin: dict[str, Any],
                   facility_id: str, rated: dict[str, tuple[float, int]] | None = None) -> None:
    """The card 设施详情: every public field, the travel time, and a map with the facility's reach; the
    browser scrolls to its heading when it was just opened."""
    facilities = region.facilities
    found = np.flatnonzero(facilities["id"].astype(str).to_numpy() == facility_id) if "id" in facilities.columns \
        else np.array([], dtype=int)
    if len(found) == 0:
        return
    position = int(found[0])
    row = facilities.iloc[position:position + 1]
    record = public_facility_records(row)[0]
    home = _is_home_care(record.get("kind"), settings)
    area = service_area_zh(record, drive_minutes=settings.home_care_drive_minutes) if home else ""
    try:
        if home:  # comes to the home: its service area, never a trip to it
            travel, reach = travel_text_zh(None, needs.mode, record.get("kind"), limit_min=CARD_TRAVEL_LIMIT_MIN,
                                           settings=settings, service_area=area), None
        else:
            minutes, snapped = _card_minutes(region, settings, needs.mode, float(origin["lon"]),
                                             float(origin["lat"]))
            travel = travel_text_zh(float(minutes[position]), needs.mode, record.get("kind"),
                                    limit_min=CARD_TRAVEL_LIMIT_MIN, settings=settings, origin_snapped=snapped)
            reach = _facility_reach(region, settings, facility_id, needs.mode, float(needs.max_minutes))
    except ElderMapError as exc:
        st.error(md_escape(str(exc)))
        return
    st.subheader(f"设施详情：{md_escape(record.get('name'))}", anchor=CARD_ANCHOR)
    opened = st.session_state.pop("find_scroll_card", None)
    if opened is not None:
        st.html(scroll_script(CARD_ANCHOR, f"c{opened}"), unsafe_allow_javascript=True)
    rating = rating_text_zh(facility_id, record.get("kind"), rated, settings=settings)
    st.table(plain_table(facility_card_table(record, travel, service_area=area, rating=rating)), hide_index=True)
    if home:
        return
    try:
        _card_map(region, settings, row, record, needs, origin, reach)
    except ElderMapError as exc:
        st.error(md_escape(str(exc)))


def _card_map(region: Region, settings: Settings, row: gpd.GeoDataFrame, record: dict[str, Any], needs: Needs,
              origin: dict[str, Any], reach: dict[str, Any] | None) -> None:
    """The facility, the starting point and the facility's reach on the streets around (its own map, key
    ``find_card_map``: the overview map is left as it is)."""
    point = to_map_crs(row, "养老设施").geometry.iloc[0]
    if point is None or point.is_empty:
        st.caption("该设施没有位置坐标，无法在地图上显示。")
        return
    lon, lat = float(point.x), float(point.y)
    shape = shapely.geometry.shape(reach) if reach else None
    bounds = map_bounds_around([(lon, lat), (origin["lon"], origin["lat"])], shape)
    m = region_map(region, settings, bounds=bounds, areas=False)  # the streets around: a lighter map
    if m is None:
        return
    if shape is not None:
        add_reach(m, shape, mode=needs.mode, minutes=needs.max_minutes)
    add_facility_pin(m, record, lon=lon, lat=lat)
    add_origin_pin(m, lon=origin["lon"], lat=origin["lat"], label=origin["label"])
    show_map(m, key="find_card_map", height_px=420)
    note = "" if reach else "（该设施离道路太远，无法计算可到达范围）"
    st.caption(f"橙色圆点为该设施，图钉为起点，蓝色区域为从该设施{mode_zh(needs.mode)} {needs.max_minutes:g} 分钟"
               f"沿道路可到达的范围。{note}")


def _compare(facilities: gpd.GeoDataFrame, ranked: pd.DataFrame, needs: Needs, ids: list[str],
             settings: Settings, rated: dict[str, tuple[float, int]] | None = None) -> None:
    """Section 对比: the ticked facilities side by side."""
    st.subheader(f"对比（{len(ids)} 家）")
    by_id = facilities.assign(_id=facilities["id"].astype(str)).set_index("_id")
    records = public_facility_records(by_id.loc[ids])
    minutes = ranked.assign(_id=ranked["id"].astype(str)).set_index("_id")["travel_min"]
    travel = [travel_text_zh(float(minutes.get(i, np.nan)), needs.mode, r.get("kind"), limit_min=needs.max_minutes,
                             settings=settings,
                             service_area=service_area_zh(r, drive_minutes=settings.home_care_drive_minutes))
              for i, r in zip(ids, records, strict=True)]
    ratings = [rating_text_zh(i, r.get("kind"), rated, settings=settings) for i, r in zip(ids, records, strict=True)]
    st.table(plain_table(compare_table(records, travel, settings=settings, ratings=ratings)))


# ---------------------------------------------------------------- all facilities


def _overview_map(region: Region, settings: Settings, origin: dict[str, Any] | None) -> None:
    """The map of all facilities, one layer per kind (shown or hidden in the browser, no rerun), and the
    starting point's pin over it. Redrawn only on a full rerun (a new starting point), never by the
    search, the card or the list's filter."""
    st.subheader("全部养老服务设施")
    facilities = region.facilities
    if facilities.empty:
        st.info("该地区还没有养老服务设施数据。工作人员可在“数据管理”页查看导入方法。")
    m = region_map(region, settings)
    if m is None:
        return
    try:
        add_facilities(m, facilities, kinds=settings.facility_kinds, cluster=len(facilities) > CLUSTER_ABOVE,
                       home_care_kinds=settings.home_care_kinds,
                       home_care_drive_minutes=settings.home_care_drive_minutes, by_kind=True)
    except ElderMapError as exc:
        st.error(md_escape(str(exc)))
        return
    add_layer_control(m)
    # the pin goes in a feature group drawn over the map: choosing a starting point leaves the map
    # itself (and so its view) unchanged
    show_map(m, key="find_map", feature_group=origin_group(m, origin))
    if not facilities.empty:
        st.caption("点地图右上角的图层按钮，可按类型显示或隐藏设施。")


@st.fragment
def _overview_list(region: Region, settings: Settings, root: str | Path | None) -> None:
    """The counts per kind and the full public list, filtered by kind — a fragment: the filter reruns only
    this part. A table on wide screens, stacked rows (grade, price, phone first) on a phone."""
    facilities = region.facilities
    kinds = kinds_in_order(facilities, settings)
    st.subheader("各类设施数量")
    # st.table (HTML, theme font) rather than st.dataframe (canvas grid, small type): large type for elders
    st.table(plain_table(kind_counts(facilities, kinds)), hide_index=True, width="content")
    if facilities.empty:
        return
    chosen = st.multiselect("列表中显示的设施类型（可多选）", kinds, default=kinds, key="find_kinds",
                            placeholder="请选择设施类型")
    if not chosen:  # an empty list would read as "no facility here"
        st.info("“列表中显示的设施类型”一项也没有选：请至少选择一种设施类型，列表才会显示设施。")
        return
    shown = facilities[facilities["kind"].astype(str).isin(chosen)]
    st.subheader(f"设施列表（{len(shown)} 家）")
    rated = rated_by_id(public_ratings(region, settings, root=root), settings)
    table = public_facility_table(shown, settings, rated=rated)
    st.html(LIST_CSS)  # constant CSS: the table on wide screens, stacked rows on a phone
    with st.container(key="find_list_wide"):
        st.table(plain_table(table), hide_index=True)
    with st.container(key="find_list_narrow"):
        st.table(plain_table(narrow_facility_table(table)), hide_index=True)


def _reset_find_state_for(region: Region) -> None:
    """Forget the starting point, needs and selections when the user switches to another region (version)."""
    if st.session_state.get("find_region") != str(region.path):
        for key in FIND_STATE_KEYS:
            st.session_state.pop(key, None)
        st.session_state["find_region"] = str(region.path)


def render(region: Region, settings: Settings, *, regions_root: str | Path | None = None) -> None:
    """The page body below its title: the demo banner, the three steps and the overview. ``regions_root``: the
    store (as in :mod:`data.store`; None: :func:`data.store.default_root`), whose order log gives the providers'
    ratings."""
    banner = provenance_banner_zh(region.manifest)
    with st.container():
        if banner:
            st.warning(md_escape(banner), icon=":material/info:")
            notes = (region.manifest.get("demo") or {}).get("notes_zh")
            if notes:
                st.caption(md_escape(notes))
    _reset_find_state_for(region)
    try:
        gazetteer = cached_gazetteer(region.name, str(region.path), str(region.version), region)
    except ElderMapError as exc:
        st.error(md_escape(str(exc)))
        return
    # every part above the overview map is one container of its own, so what they show (a starting point,
    # results, a card) never moves the map to another position in the page: moved, the browser would
    # rebuild the map's frame, and a rebuilt streamlit-folium frame can stay blank
    with st.container():
        origin = _choose_origin(region, gazetteer, settings)
    _search(region, settings, origin, regions_root)
    _overview_map(region, settings, origin)
    _overview_list(region, settings, regions_root)


__all__ = ["COMPARE_ROWS", "PUBLIC_LIST_COLUMNS", "area_choices", "compare_table", "facility_card_table",
           "grade_from_choice", "map_bounds_around", "over_budget_note", "public_facility_table", "rated_by_id",
           "rating_text_zh", "render", "narrow_facility_table", "scroll_script", "travel_text_zh"]
