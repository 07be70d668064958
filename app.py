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

The public page 找养老服务 (:func:`page_find`) is a search-and-recommend page:
a starting point (place search in the offline gazetteer, a click on a map, an
area, or a family member's address), one needs form turned into a
:class:`planning.recommend.Needs`, ranked facilities with plain reasons and the
ones left out with why, a facility card with its reach on the streets, and a
side-by-side comparison of up to three. Text from the data is shown through
:func:`md_escape` (Markdown) or in tables and map popups (escaped there).

The other three pages are for staff: they require a login (sidebar) with a
role from :data:`PAGE_ROLES` (accounts in the users file, see :mod:`data.auth`).
Logins, failed logins and logouts go to the audit log (:mod:`data.audit`).
Optionally, when ``.streamlit/secrets.toml`` has an ``[auth]`` section (OIDC),
the sidebar also offers ``st.login()``; the identity provider's e-mail must then
equal a user name in the users file, which gives the role.

Environment: ``ELDERMAP_REGIONS`` (regions folder, default ``./regions``),
``ELDERMAP_SETTINGS`` (settings TOML, default the built-in settings),
``ELDERMAP_USERS`` (users file, default ``./config/users.toml``) and
``ELDERMAP_LOGIN_DELAY_S`` (delay after a wrong password, seconds, default 1;
doubled per further failure in the session, at most :data:`LOGIN_DELAY_MAX_S`).
"""

from __future__ import annotations

import functools
import html
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry
import streamlit as st

from data import audit, auth
from data.schema import ABILITY_LEVELS, AREA_LEVEL_ZH, NATURES
from data.store import Region, current_version, list_regions, load_region, regions_root
from geo.coords import to_wgs84
from geo.errors import ElderMapError
from geo.gazetteer import Gazetteer, Place, geocode_online
from geo.settings import Settings, load_settings, settings_digest
from layers import (
    add_areas,
    add_facilities,
    add_roads,
    bind_popup,
    bind_tooltip,
    new_map,
    public_facility_records,
)
from layers.basemap import map_coordinates, map_lat_lon, to_map_crs
from layers.facilities import format_grade, format_price_yuan_month, popup_html
from planning.coverage import facility_snap_for, network_for, region_isochrones
from planning.recommend import HOME_CARE_KIND, MODE_ZH, Needs, needs_summary_zh, recommend, travel_minutes
from views.maps import show_map

APP_DIR = Path(__file__).resolve().parent
DEFAULT_REGION = "demo"
CLUSTER_ABOVE = 100
"""The overview map groups facilities into clusters (served offline) when it shows more than this many."""
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
    user
        The logged-in staff account, or None.
    users_configured
        Whether the users file holds any account.
    auth_error
        The Chinese message of the error that stopped the users file from loading, else "".
    """

    settings: Settings
    settings_source: str
    root: Path
    region: Region | None
    load_error: str = ""
    user: auth.User | None = None
    users_configured: bool = False
    auth_error: str = ""


# ---------------------------------------------------------------- loading


@st.cache_resource(show_spinner="正在加载地区数据…", max_entries=4)
def _load_region_cached(name: str, root: str, version: str) -> Region:
    """Load a region once per (name, root, version); the Region is shared read-only by all sessions."""
    del version  # only part of the cache key
    return load_region(name, root=root)


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
        user, users_configured, auth_error = _auth_sidebar(root)
    return AppContext(settings=settings, settings_source=settings_source, root=root, region=region,
                      load_error=load_error, user=user, users_configured=users_configured, auth_error=auth_error)


# ---------------------------------------------------------------- access control

PAGE_ROLES: dict[str, tuple[str, ...]] = {
    "planning": ("planner", "admin"),
    "reports": ("staff", "admin"),
    "data": ("staff", "admin"),
}
"""Roles allowed on each staff page (by url path); the public page needs none."""
LOGIN_DELAY_MAX_S = 8.0
LOGIN_PROMPT_ZH = "请先在左侧登录"
NO_PERMISSION_ZH = "您的账号没有权限访问此页面"
WRONG_LOGIN_ZH = "用户名或密码不正确"
NO_USERS_ZH = "尚未配置工作人员账号：请管理员运行 `eldermap user add 用户名 --role admin`"


def _login_delay_s(failures: int) -> float:
    """Seconds to wait after the n-th failed login of a session: base, doubled per failure, capped."""
    base = float(os.environ.get("ELDERMAP_LOGIN_DELAY_S") or 1.0)
    return min(base * 2 ** max(failures - 1, 0), LOGIN_DELAY_MAX_S)


def _login(users: dict[str, auth.User], root: Path) -> None:
    """Callback of the login form: check the password, remember the user, audit either way."""
    name = str(st.session_state.get("login_name") or "").strip()
    password = str(st.session_state.get("login_password") or "")
    st.session_state["login_password"] = ""  # the password never stays in the session
    user = auth.authenticate(users, name, password)
    if user is None:
        failures = int(st.session_state.get("auth_failures", 0)) + 1
        st.session_state["auth_failures"] = failures
        known = name in users  # an unknown "name" may be a password typed in the wrong box: not logged
        audit.record("login_failed", user=name if known else "（未知用户）", role=users[name].role if known else None,
                     root=root)
        time.sleep(_login_delay_s(failures))
        st.session_state["auth_message"] = WRONG_LOGIN_ZH
        return
    st.session_state["auth_user"] = user.name
    st.session_state["auth_failures"] = 0
    audit.record("login", user=user.name, role=user.role, root=root)


def _logout(user: auth.User, root: Path) -> None:
    """Callback of 退出登录."""
    st.session_state.pop("auth_user", None)
    audit.record("logout", user=user.name, role=user.role, root=root)
    if _oidc_configured() and st.user.is_logged_in:
        st.logout()


def _oidc_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` configures OIDC login (an ``[auth]`` section)."""
    if not any((base / ".streamlit" / "secrets.toml").is_file() for base in (APP_DIR, Path.cwd(), Path.home())):
        return False
    return "auth" in st.secrets


def _auth_sidebar(root: Path) -> tuple[auth.User | None, bool, str]:
    """Login box or the logged-in user with 退出登录; returns (user, users configured, users-file error)."""
    try:
        users = auth.load_users()
    except auth.AuthError as exc:
        st.session_state.pop("auth_user", None)
        return None, False, str(exc)
    if not users:
        st.session_state.pop("auth_user", None)
        return None, False, ""
    # the account is looked up again on every rerun: a removed account or changed role applies at once
    user = users.get(str(st.session_state.get("auth_user", "")))
    if user is None and _oidc_configured() and st.user.is_logged_in:
        user = users.get(str(st.user.get("email") or ""))
    if user is None:
        st.session_state.pop("auth_user", None)
        with st.form("login_form"):
            st.markdown("**工作人员登录**")
            st.text_input("用户名", key="login_name", autocomplete="username")
            st.text_input("密码", type="password", key="login_password", autocomplete="current-password")
            st.form_submit_button("登录", on_click=_login, args=(users, root))
            message = st.session_state.pop("auth_message", None)
            if message:
                st.error(message)
        if _oidc_configured():
            st.button("使用单位统一身份认证登录", on_click=st.login)
        return None, True, ""
    st.caption(f"已登录：{user.label_zh}")
    st.button("退出登录", key="logout", on_click=_logout, args=(user, root))
    return user, True, ""


def _require_role(ctx: AppContext, roles: Sequence[str]) -> bool:
    """Whether the logged-in user may see a staff page; otherwise show why (and nothing else) and return False."""
    if ctx.auth_error:
        st.error(ctx.auth_error)
        return False
    if not ctx.users_configured:
        st.info(NO_USERS_ZH)
        return False
    if ctx.user is None:
        st.info(LOGIN_PROMPT_ZH)
        return False
    if ctx.user.role != "admin" and ctx.user.role not in roles:
        st.error(NO_PERMISSION_ZH)
        return False
    return True


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


# ---------------------------------------------------------------- find page: helpers (no streamlit calls)

FIND_ORIGIN_WAYS: tuple[str, ...] = ("输入地址或地名", "在地图上点选", "按区域选择")
TRAVEL_MODES_ZH: dict[str, str] = {"步行": "walk", "驾车": "drive"}
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
COMPARE_ROWS: tuple[str, ...] = ("类型", "出行时间", "服务项目", "床位/空余/护理型", "等级", "月收费", "性质", "电话",
                                 "地址")
ISOCHRONE_COLOR = "#0072B2"

# Characters with a meaning in Markdown or in Streamlit's extensions ($ formulas, :colour[...] directives,
# ~ strike-through) are backslash-escaped (CommonMark allows it for any ASCII punctuation); "<", ">", "&" and
# quotes become HTML entities instead (html.escape), which Markdown shows as the characters themselves.
_MD_ESCAPES = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|~$:=^"})


def md_escape(value: object) -> str:
    """Text from the data (facility names, addresses, place names) made inert for ``st.markdown``.

    Whitespace runs (newlines included) become one space, so a value cannot start a new Markdown
    block; Markdown punctuation is backslash-escaped and ``< > & " '`` become HTML entities, so
    ``<img src=x onerror=alert(1)>`` is shown as those characters, never as a tag, link or formula.
    ``None`` becomes "".
    """
    if value is None:
        return ""
    text = " ".join(str(value).split())
    return html.escape(text.translate(_MD_ESCAPES), quote=True)


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


def travel_text_zh(minutes: float | None, mode: str, kind: str | None, *, limit_min: float,
                   origin_snapped: bool = True) -> str:
    """Travel time for display: "步行约 8 分钟", "步行超过 15 分钟", home care as "上门服务（…）"."""
    mode_zh = MODE_ZH.get(mode, mode)
    if not origin_snapped:
        text = "无法计算（起点离道路太远）"
    elif minutes is not None and np.isfinite(minutes):
        text = f"{mode_zh}约 {max(float(minutes), 1.0):.0f} 分钟"
    else:
        text = f"{mode_zh}超过 {limit_min:g} 分钟"
    return f"上门服务（距您{text}）" if kind == HOME_CARE_KIND else text


def _count(value: Any) -> str:
    return "—" if value is None else str(value)


def facility_card_table(record: dict[str, Any], travel: str) -> pd.DataFrame:
    """Every public field of one facility (a :func:`public_facility_records` row) and the travel time,
    as rows of 项目/内容 for ``st.table``; unknown values read "未公布"."""
    unknown = "未公布"
    rows = [
        ("类型", record.get("kind") or unknown),
        ("出行时间", travel),
        ("服务项目", "、".join(record.get("services") or []) or unknown),
        ("床位总数", unknown if record.get("beds_total") is None else f"{record['beds_total']} 张"),
        ("护理型床位", unknown if record.get("beds_nursing") is None else f"{record['beds_nursing']} 张"),
        ("空余床位", unknown if record.get("beds_free") is None else f"{record['beds_free']} 张"),
        ("等级", format_grade(record.get("grade")) or "未评级"),
        ("月收费", format_price_yuan_month(record.get("price_min_yuan_month"), record.get("price_max_yuan_month"))
         or unknown),
        ("性质", record.get("nature") or unknown),
        ("联系电话", record.get("phone") or unknown),
        ("地址", record.get("address") or unknown),
    ]
    return pd.DataFrame(rows, columns=["项目", "内容"])


def compare_table(records: list[dict[str, Any]], travel: list[str]) -> pd.DataFrame:
    """Facilities side by side (Care Compare style): rows :data:`COMPARE_ROWS`, one column per facility,
    headed by its name (made unique with "（2）" when two share a name)."""
    columns: dict[str, list[str]] = {}
    for record, trip in zip(records, travel, strict=True):
        name = record.get("name") or "（未命名）"
        header, n = name, 1
        while header in columns:
            n += 1
            header = f"{name}（{n}）"
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
    return pd.DataFrame(columns, index=list(COMPARE_ROWS))


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


# ---------------------------------------------------------------- pages


@st.cache_resource(show_spinner=False, max_entries=4)
def _gazetteer_cached(name: str, path: str, version: str, _region: Region) -> Gazetteer:
    """The region's place index, built once per (region, version) and shared by all sessions."""
    del name, path, version  # the cache key
    return Gazetteer.from_region(_region)


@st.cache_data(show_spinner="正在计算可到达范围…", max_entries=64)
def _facility_isochrone(path: str, version: str, facility_id: str, mode: str, minutes: float, settings_key: str,
                        _region: Region, _settings: Settings) -> dict[str, Any] | None:
    """GeoJSON geometry (EPSG:4326) of the streets reachable from one facility within ``minutes``;
    None when the facility is not on the network."""
    del path, version, settings_key  # the cache key
    iso = region_isochrones(_region, settings=_settings, minutes=[minutes], mode=mode, facility_id=facility_id,
                            bands=False)
    geom = iso.geometry.iloc[0] if len(iso) else None
    return None if geom is None or geom.is_empty else shapely.geometry.mapping(geom)


def _new_map(bounds: Sequence[float], settings: Settings) -> folium.Map:
    """An empty map fitted to ``bounds`` with the base tiles of the settings (none by default: works offline)."""
    return new_map(bounds, tiles_url=settings.tiles_url or None, attribution=settings.tiles_attribution,
                   coordinates=settings.tiles_coordinates)


def _origin_marker(group: folium.FeatureGroup | folium.Map, origin: dict[str, Any], m: folium.Map) -> None:
    """A pin at the starting point on map ``m``; its label (a place name from the data) is escaped by bind_tooltip."""
    marker = folium.Marker(location=map_lat_lon(m, origin["lon"], origin["lat"]))
    bind_tooltip(marker, f"起点：{origin['label']}")
    marker.add_to(group)


def _set_origin(state_key: str, lon: float, lat: float, label: str) -> None:
    st.session_state[state_key] = {"lon": float(lon), "lat": float(lat), "label": str(label)}


def _search_place(gazetteer: Gazetteer, label: str, *, key: str, placeholder: str,
                  settings: Settings) -> Place | None:
    """A text box searched in the gazetteer (then the configured online geocoder), then a choice."""
    query = st.text_input(label, key=key, placeholder=placeholder)
    if not query.strip():
        return None
    places: dict[str, Place] = {}
    for place in gazetteer.search(query, limit=10):
        places.setdefault(place.name, place)
    if not places and settings.geocoder:  # nothing offline: ask the configured online service
        try:
            for place in geocode_online(query, service=settings.geocoder, key=settings.geocoder_key or None):
                places.setdefault(f"{place.name}（在线）", place)
        except ElderMapError as exc:
            st.warning(str(exc))
    if not places:
        st.warning(f"没有找到“{md_escape(query)}”。请换个说法（如社区名、路名加门牌号、设施名），或改用地图点选、按区域选择。")
        return None
    choice = st.selectbox("找到以下地点，请选择最符合的一项", list(places), key=f"{key}_place")
    return places.get(choice)


def _click_origin(region: Region, gazetteer: Gazetteer, settings: Settings) -> None:
    """A small map; a click sets the starting point (only a click reruns the page)."""
    def take(clicked: Any) -> bool:
        if not isinstance(clicked, dict) or clicked.get("lat") is None or clicked.get("lng") is None:
            return False
        raw = (round(float(clicked["lng"]), 6), round(float(clicked["lat"]), 6))
        if raw == st.session_state.get("find_last_click"):
            return False
        st.session_state["find_last_click"] = raw
        lon, lat = raw
        if settings.tiles_coordinates == "gcj02":  # the click is on GCJ-02 tiles: back to WGS-84
            x, y = to_wgs84([lon], [lat], "gcj02")
            lon, lat = float(x[0]), float(y[0])
        _set_origin("find_origin", lon, lat, gazetteer.reverse(lon, lat) or f"地图上选定的位置（{lat:.5f}, {lon:.5f}）")
        return True

    bounds = region_bounds(region)
    if bounds is None:
        st.info("该地区没有可在地图上显示的数据，请改用其他方式选择起点。")
        return
    st.caption("在地图上点一下出发的位置（可先放大地图），图钉即为起点。")
    # the click of the last rerun arrives in session state before the map is drawn: take it first, so
    # the pin is drawn where the user clicked
    take((st.session_state.get("find_origin_map") or {}).get("last_clicked"))
    try:
        m = _new_map(bounds, settings)
        add_roads(m, region.road_edges)
        add_areas(m, region.areas, level="community")
    except ElderMapError as exc:
        st.error(str(exc))
        return
    pin = folium.FeatureGroup(name="起点")  # drawn over the map: moving the pin keeps the map's view
    if st.session_state.get("find_origin"):
        _origin_marker(pin, st.session_state["find_origin"], m)
    result = show_map(m, key="find_origin_map", height_px=420, returned_objects=["last_clicked"], feature_group=pin)
    if take((result or {}).get("last_clicked")):
        st.rerun()


def _area_origin(region: Region) -> None:
    """A district, street or community as the starting point (a point inside it)."""
    try:
        choices = area_choices(region.areas)
    except ElderMapError as exc:
        st.error(str(exc))
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
                              placeholder="例如：灯塔社区、海港街道、第一福利院", settings=settings)
        if place is not None:
            _set_origin("find_origin", place.lon, place.lat, place.name)
    elif way == FIND_ORIGIN_WAYS[1]:
        _click_origin(region, gazetteer, settings)
    else:
        _area_origin(region)

    use_family = bool(st.session_state.get("find_use_family"))
    with st.expander("家人住址（可选）：找离子女家近的服务", expanded=use_family):
        family = _search_place(gazetteer, "家人住址", key="find_family_query",
                               placeholder="例如：子女家所在的社区、路名和门牌号", settings=settings)
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


def _needs_form(facilities: gpd.GeoDataFrame, settings: Settings) -> None:
    """Section 需求: one form; "查找" stores the Needs (and age) in session state."""
    st.subheader("第二步：需要什么服务")
    with st.form("find_needs_form", border=True):
        age = st.number_input("年龄（岁）", min_value=0, max_value=120, value=70, step=1, key="find_age")
        ability = st.selectbox("身体状况（能力等级）", (ABILITY_NOT_STATED, *ABILITY_LEVELS), key="find_ability")
        st.caption(ABILITY_EXPLAINED_ZH)
        residential = st.toggle("需要入住养老机构（长住或短住）", key="find_residential")
        services = st.multiselect("需要的服务（可多选，可不选）", list(settings.service_tags), default=[],
                                  key="find_services", placeholder="例如：助餐、日间照料、康复护理")
        budget = st.number_input("每月最多能付多少钱（元，填 0 表示不限）", min_value=0, value=0, step=500,
                                 key="find_budget")
        free_bed = st.checkbox("需要现在有空余床位", key="find_free_bed")
        nursing_bed = st.checkbox("需要护理型床位", key="find_nursing_bed")
        mode_zh = st.radio("怎么过去", tuple(TRAVEL_MODES_ZH), horizontal=True, key="find_mode")
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
                mode=TRAVEL_MODES_ZH[mode_zh],
            )
            st.session_state["find_needs_age"] = int(age)
        except ElderMapError as exc:
            st.error(str(exc))


def _limit_compare(key: str) -> None:
    """At most COMPARE_MAX facilities ticked for comparison: a further tick is undone, with a warning."""
    ticked = [k for k, v in st.session_state.items() if str(k).startswith("find_cmp_") and v is True]
    if st.session_state.get(key) and len(ticked) > COMPARE_MAX:
        st.session_state[key] = False
        st.session_state["find_compare_warning"] = key


def _results(region: Region, settings: Settings, origin: dict[str, Any] | None) -> None:
    """Sections 结果, 设施详情 and 对比."""
    st.subheader("第三步：为您推荐")
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
    try:
        network = network_for(region, needs.mode, settings)
        snap = facility_snap_for(region, needs.mode, settings)
        result = recommend(facilities, needs, network=network, facility_snap=snap,
                           origin=(origin["lon"], origin["lat"]), settings=settings, limit=RESULT_LIMIT)
    except ElderMapError as exc:
        st.error(str(exc))
        return

    age = st.session_state.get("find_needs_age")
    st.markdown(f"**您的需求**：{'' if age is None else f'{age} 岁；'}{md_escape(needs_summary_zh(needs))}")
    st.markdown(f"**起点**：{md_escape(origin['label'])}")
    for note in result.notes:
        st.info(md_escape(note))
    if result.filtered_out:
        st.caption(f"按您的筛选条件隐去 {result.filtered_out} 家")

    ranked = result.ranked
    if ranked.empty:
        st.warning("没有找到符合全部条件的设施。可以试试：延长出行时间、改为驾车、提高预算，或减少筛选条件。")
    selected = st.session_state.get("find_selected")
    for rank, row in enumerate(ranked.itertuples(index=False), start=1):
        with st.container(border=True):
            st.markdown(f"#### {rank}\\. {md_escape(row.name)}（{md_escape(row.kind)}）")
            st.markdown(md_escape(row.reason))
            if st.button("查看详情", key=f"find_detail_{row.id}", icon=":material/info:"):
                st.session_state["find_selected"] = selected = str(row.id)
            if selected == str(row.id):
                st.caption("已选中，详情见下方“设施详情”。")
            st.checkbox("加入对比", key=f"find_cmp_{row.id}", on_change=_limit_compare, args=(f"find_cmp_{row.id}",))
            if st.session_state.get("find_compare_warning") == f"find_cmp_{row.id}":
                st.warning(f"最多比较 {COMPARE_MAX} 家", icon=":material/block:")  # next to the box just ticked
    st.session_state.pop("find_compare_warning", None)

    if not result.excluded.empty:
        with st.expander(f"不符合条件的设施及原因（{len(result.excluded)} 家）"):
            excluded = result.excluded
            st.table(pd.DataFrame({
                "名称": excluded["name"].astype(str),
                "类型": excluded["kind"].astype(str),
                "原因": excluded["why"].astype(str),
            }), hide_index=True)

    if selected is not None:
        _facility_card(region, settings, needs, origin, str(selected))
    ticked = [str(i) for i in ranked["id"] if st.session_state.get(f"find_cmp_{i}")][:COMPARE_MAX]
    if len(ticked) == 1:
        st.caption("再勾选 1–2 家“加入对比”，即可并排比较。")
    elif len(ticked) >= 2:
        _compare(facilities, ranked, needs, ticked)


def _facility_card(region: Region, settings: Settings, needs: Needs, origin: dict[str, Any],
                   facility_id: str) -> None:
    """Section 设施详情: every public field, the travel time, and a map with the facility's reach."""
    facilities = region.facilities
    found = np.flatnonzero(facilities["id"].astype(str).to_numpy() == facility_id) if "id" in facilities.columns \
        else np.array([], dtype=int)
    if len(found) == 0:
        return
    position = int(found[0])
    row = facilities.iloc[position:position + 1]
    record = public_facility_records(row)[0]
    try:
        network = network_for(region, needs.mode, settings)
        snap = facility_snap_for(region, needs.mode, settings)
        minutes, snapped = travel_minutes(network, snap, (origin["lon"], origin["lat"]), settings=settings,
                                          max_minutes=CARD_TRAVEL_LIMIT_MIN)
        travel = travel_text_zh(float(minutes[position]), needs.mode, record.get("kind"),
                                limit_min=CARD_TRAVEL_LIMIT_MIN, origin_snapped=snapped)
        reach = _facility_isochrone(str(region.path), str(region.version), facility_id, needs.mode,
                                    float(needs.max_minutes), settings_digest(settings), region, settings)
    except ElderMapError as exc:
        st.error(str(exc))
        return
    st.subheader(f"设施详情：{md_escape(record.get('name'))}")
    st.table(facility_card_table(record, travel), hide_index=True)
    try:
        _card_map(region, settings, row, record, needs, origin, reach)
    except ElderMapError as exc:
        st.error(str(exc))


def _card_map(region: Region, settings: Settings, row: gpd.GeoDataFrame, record: dict[str, Any], needs: Needs,
              origin: dict[str, Any], reach: dict[str, Any] | None) -> None:
    """The facility, the starting point and the facility's reach on the streets around."""
    mode_zh = MODE_ZH[needs.mode]
    point = to_map_crs(row, "养老设施").geometry.iloc[0]
    if point is None or point.is_empty:
        st.caption("该设施没有位置坐标，无法在地图上显示。")
        return
    lonlat = (float(point.x), float(point.y))
    shape = shapely.geometry.shape(reach) if reach else None
    bounds = map_bounds_around([lonlat, (origin["lon"], origin["lat"])], shape)
    m = _new_map(bounds, settings)
    roads = to_map_crs(region.road_edges, "道路") if not region.road_edges.empty else region.road_edges
    if not roads.empty:  # the streets around, not the whole region: a lighter map
        dx, dy = bounds[2] - bounds[0], bounds[3] - bounds[1]
        add_roads(m, roads.cx[bounds[0] - dx:bounds[2] + dx, bounds[1] - dy:bounds[3] + dy])
    if shape is not None:
        drawn = to_map_crs(gpd.GeoDataFrame(geometry=[shape], crs="EPSG:4326"), "可到达范围",
                           coordinates=map_coordinates(m))
        area = folium.GeoJson(shapely.geometry.mapping(drawn.geometry.iloc[0]),
                              name=f"{mode_zh} {needs.max_minutes:g} 分钟可到达范围",
                              style_function=lambda _f: {"color": ISOCHRONE_COLOR, "weight": 1,
                                                         "fillColor": ISOCHRONE_COLOR, "fillOpacity": 0.2})
        bind_tooltip(area, f"从该设施{mode_zh} {needs.max_minutes:g} 分钟可到达的范围")
        area.add_to(m)
    facility_marker = folium.CircleMarker(location=map_lat_lon(m, *lonlat), radius=11, color="#1a1a1a", weight=2,
                                          fill=True, fill_color="#D55E00", fill_opacity=0.95)
    bind_popup(facility_marker, popup_html(record))
    bind_tooltip(facility_marker, record.get("name") or "")
    facility_marker.add_to(m)
    _origin_marker(m, origin, m)
    show_map(m, key="find_card_map", height_px=420)
    note = "" if reach else "（该设施离道路太远，无法计算可到达范围）"
    st.caption(f"橙色圆点为该设施，图钉为起点，蓝色区域为从该设施{mode_zh} {needs.max_minutes:g} 分钟"
               f"沿道路可到达的范围。{note}")


def _compare(facilities: gpd.GeoDataFrame, ranked: pd.DataFrame, needs: Needs, ids: list[str]) -> None:
    """Section 对比: the ticked facilities side by side."""
    st.subheader(f"对比（{len(ids)} 家）")
    by_id = facilities.assign(_id=facilities["id"].astype(str)).set_index("_id")
    records = public_facility_records(by_id.loc[ids])
    minutes = ranked.assign(_id=ranked["id"].astype(str)).set_index("_id")["travel_min"]
    kinds = [r.get("kind") for r in records]
    travel = [travel_text_zh(float(minutes.get(i, np.nan)), needs.mode, k, limit_min=needs.max_minutes)
              for i, k in zip(ids, kinds, strict=True)]
    st.table(compare_table(records, travel))


def _overview(region: Region, settings: Settings, origin: dict[str, Any] | None) -> None:
    """The map of all facilities (filterable by kind), their counts and the full public list."""
    st.subheader("全部养老服务设施")
    facilities = region.facilities
    kinds = kinds_in_order(facilities, settings)
    if facilities.empty:
        st.info("该地区还没有养老服务设施数据。工作人员可在“数据管理”页查看导入方法。")
        shown = facilities
    else:
        chosen = st.multiselect("地图上显示的设施类型（可多选）", kinds, default=kinds, key="find_kinds",
                                placeholder="请选择设施类型")
        shown = facilities[facilities["kind"].astype(str).isin(chosen)]

    bounds = region_bounds(region)
    if bounds is None:
        st.info("该地区没有可在地图上显示的数据。")
    else:
        try:
            m = _new_map(bounds, settings)
            add_roads(m, region.road_edges)
            add_areas(m, region.areas, level="community")
            add_facilities(m, shown, kinds=settings.facility_kinds, cluster=len(shown) > CLUSTER_ABOVE)
        except ElderMapError as exc:
            st.error(str(exc))
        else:
            folium.LayerControl(collapsed=False).add_to(m)
            # the pin goes in a feature group drawn over the map: choosing a starting point leaves the map
            # itself (and so its view) unchanged
            pin = folium.FeatureGroup(name="起点")
            if origin is not None:
                _origin_marker(pin, origin, m)
            show_map(m, key="find_map", feature_group=pin)

    st.subheader("各类设施数量")
    # st.table (HTML, theme font) rather than st.dataframe (canvas grid, small type): large type for elders
    st.table(kind_counts(facilities, kinds), hide_index=True, width="content")
    st.subheader(f"设施列表（{len(shown)} 家）")
    st.table(public_facility_table(shown), hide_index=True)


def _reset_find_state_for(region: Region) -> None:
    """Forget the starting point, needs and selections when the user switches to another region (version)."""
    if st.session_state.get("find_region") != str(region.path):
        for key in ("find_origin", "find_family_origin", "find_last_click", "find_origin_map", "find_needs",
                    "find_needs_age", "find_selected"):
            st.session_state.pop(key, None)
        st.session_state["find_region"] = str(region.path)


def page_find(ctx: AppContext) -> None:
    """找养老服务: search and recommend. Reads facilities, areas, roads and buildings only — never elder records."""
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
    _reset_find_state_for(region)
    try:
        gazetteer = _gazetteer_cached(region.name, str(region.path), str(region.version), region)
    except ElderMapError as exc:
        st.error(str(exc))
        return
    origin = _choose_origin(region, gazetteer, ctx.settings)
    _needs_form(region.facilities, ctx.settings)
    _results(region, ctx.settings, origin)
    _overview(region, ctx.settings, origin)


def page_planning(ctx: AppContext) -> None:
    """规划分析: coverage, gaps, siting and scenarios (views.planner)."""
    if not _require_role(ctx, PAGE_ROLES["planning"]):
        return
    st.title("规划分析")
    region = _require_region(ctx)
    if region is None:
        return
    from views import planner

    planner.render(region, ctx.settings, user=ctx.user.name if ctx.user else "", regions_root=ctx.root)


def page_reports(ctx: AppContext) -> None:
    """统计报表: the official basic-situation table and its files (views.reports), and counts per community."""
    if not _require_role(ctx, PAGE_ROLES["reports"]):
        return
    st.title("统计报表")
    region = _require_region(ctx)
    if region is None:
        return
    from views import reports

    reports.render(region, ctx.settings, user=ctx.user.name if ctx.user else "",
                   role=ctx.user.role if ctx.user else "", regions_root=ctx.root)
    st.subheader("各社区养老服务设施数量")
    table = community_summary(region, ctx.settings)
    st.caption(f"老年人数少于 {ctx.settings.suppression_threshold} 人的社区显示为“少于"
               f"{ctx.settings.suppression_threshold}”，以保护个人信息。")
    st.dataframe(table, hide_index=True, width="stretch")


def page_data(ctx: AppContext) -> None:
    """数据管理: the region's manifest and how to import data."""
    if not _require_role(ctx, PAGE_ROLES["data"]):
        return
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
    if region is not None:
        from views import data_page

        data_page.render(region, ctx.settings, user=ctx.user.name if ctx.user else "",
                         role=ctx.user.role if ctx.user else "", regions_root=ctx.root)
        if ctx.user is not None and ctx.user.role == "admin":
            data_page.render_audit(regions_root=ctx.root)
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
