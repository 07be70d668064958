"""The official report: annex 2 "试点申报地区基本情况表", service-circle coverage, provisioning checks, notes.

:func:`basic_situation` computes the annex table per district or street (communities, fiscal revenue,
registered population, elders, 80+ and disabled elders, institutions, community facilities and the
community-facility coverage rate) with a total row that reconciles with the area rows;
:func:`service_circle_table` gives the share of elders within N minutes of each facility kind;
:func:`write_report` writes everything into one xlsx workbook (atomically) and, optionally, a
self-contained printable HTML page. This is the function behind ``eldermap report``.

Attribution rules (also written into the notes sheet):

- elders are counted in the area of their own ``district_code``/``street_code``; facilities likewise
  (those without a code go to the "未归属" row);
- a community belongs to the street/district reached through its ``parent_code`` chain, else to the
  one named by its code's first 9/6 digits;
- a community "has a community facility" when at least one facility of
  :data:`COMMUNITY_FACILITY_KINDS` is attributed to it: a facility carrying a ``community_code`` of a
  known community counts for that community (even if its point lies in another polygon, the code
  wins); a facility without such a code counts for the community whose polygon contains it.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import shapely

from data.store import Region, atomic_write
from geo.errors import PlanningInputError
from geo.settings import Settings
from planning.checks import _names, check_columns_zh, provisioning_checks
from planning.coverage import DISABLED_MIN_CODE, LEVEL_COLUMN, UNASSIGNED, region_coverage
from planning.network import Mode

log = logging.getLogger(__name__)

ReportLevel = Literal["district", "street"]
TOTAL_CODE, TOTAL_NAME = "合计", "全部地区"
INSTITUTION_KIND = "养老机构"
COMMUNITY_FACILITY_KINDS: tuple[str, ...] = ("社区养老服务综合体/中心", "日间照料中心", "养老服务站", "助餐点")
"""Facility kinds counted as 城镇社区养老 facilities.

Annex 2 of the pilot application (试点申报地区基本情况表), note 5: community elder-care facilities are
facilities located in the community that provide daily care — day care (日间照料), full-time care
(全托), meal services (助餐) and other services. Home-visit providers (居家上门服务商) have no site
in the community and are not counted; institutions (养老机构) have their own columns.
"""
_CODE_LENGTH = {"district": 6, "street": 9}
LEVEL_ZH = {"district": "区县", "street": "街道（乡镇）"}
MODE_ZH = {"walk": "步行", "drive": "驾车"}
ANY = "any"

BASIC_COLUMNS: tuple[str, ...] = (
    "code", "name", "communities", "communities_with_facility", "coverage_rate_pct", "fiscal_revenue_10k_yuan",
    "registered_population", "registered_population_10k", "elders", "elders_10k", "oldest_old", "oldest_old_10k",
    "disabled", "disabled_10k", "institutions", "institution_beds", "institution_residents",
    "community_facilities", "community_facility_beds", "community_elders_served",
)
_COUNT_COLUMNS = ("communities", "communities_with_facility", "registered_population", "elders", "oldest_old",
                  "disabled", "institutions", "institution_beds", "institution_residents", "community_facilities",
                  "community_facility_beds", "community_elders_served")

# (column of basic_situation, header with unit, group header above it, number format, width)
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
ANNEX_TITLE = "试点申报地区基本情况表"
COVERAGE_FORMULA = "社区养老服务设施覆盖率 = 有社区养老服务设施的社区数 ÷ 社区总数 × 100%"
DASH = "—"


# ---------------------------------------------------------------- the annex table


def _level_of(areas: pd.DataFrame) -> pd.Series:
    """Each area's level: the ``level`` column, else guessed from the code length (6/9/12)."""
    codes = areas["code"].astype(str)
    guessed = codes.str.len().map({6: "district", 9: "street", 12: "community"})
    if "level" in areas:
        return areas["level"].where(areas["level"].notna(), guessed).astype(object)
    return guessed.astype(object)


def _ancestor(code: str, by: ReportLevel, parent: dict[str, str], level: dict[str, str]) -> str:
    """The area at level ``by`` a community belongs to: up its ``parent_code`` chain, else its code prefix."""
    seen: set[str] = set()
    current: str | None = parent.get(code)
    while current and current not in seen:
        if level.get(current) == by:
            return current
        seen.add(current)
        current = parent.get(current)
    return code[:_CODE_LENGTH[by]]


def _codes(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A code column as an object array, "未归属" where missing (all of it without the column)."""
    if column not in frame:
        return np.full(len(frame), UNASSIGNED, dtype=object)
    codes = frame[column].astype(object)
    return codes.where(codes.notna() & (codes.astype(str) != ""), UNASSIGNED).astype(str).to_numpy(dtype=object)


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.zeros(len(frame))
    return pd.to_numeric(frame[column], errors="coerce").astype("float64").fillna(0.0).to_numpy()


def facility_communities(region: Region, facilities: pd.DataFrame | None = None) -> np.ndarray:
    """The community each facility is attributed to (None where none).

    A facility carrying the ``community_code`` of a community in ``region.areas`` belongs to it, even
    when its point lies in another community's polygon (the recorded code wins). Otherwise it
    belongs to the community whose polygon contains its point (the first one if polygons overlap).
    """
    facilities = region.facilities if facilities is None else facilities
    areas = region.areas
    out = np.full(len(facilities), None, dtype=object)
    if not len(facilities) or not len(areas) or "code" not in areas:
        return out
    communities = areas[_level_of(areas) == "community"]
    known = set(communities["code"].astype(str))
    if "community_code" in facilities:
        recorded = facilities["community_code"].astype(object).to_numpy()
        for i, code in enumerate(recorded):
            if code is not None and not pd.isna(code) and str(code) in known:
                out[i] = str(code)
    polys = communities[communities.geometry.notna() & ~communities.geometry.is_empty] \
        if "geometry" in communities else communities.iloc[:0]
    todo = np.flatnonzero(pd.isna(out))
    if len(todo) and len(polys):
        points = facilities.geometry.to_crs(polys.crs).to_numpy()[todo] if facilities.crs and polys.crs \
            else facilities.geometry.to_numpy()[todo]
        valid = np.array([p is not None and not shapely.is_empty(p) for p in points], dtype=bool)
        tree = shapely.STRtree(polys.geometry.to_numpy())
        point_idx, poly_idx = tree.query(points[valid], predicate="within")
        poly_codes = polys["code"].astype(str).to_numpy()
        for p, q in zip(point_idx[::-1], poly_idx[::-1], strict=True):  # reversed: the first match wins
            out[todo[valid][p]] = poly_codes[q]
    return out


def basic_situation(region: Region, *, settings: Settings, by: ReportLevel = "district") -> pd.DataFrame:
    """Annex 2 "试点申报地区基本情况表": one row per area at level ``by``, then the total row.

    Parameters
    ----------
    region
        A loaded region (areas with community polygons, facilities, elders).
    settings
        Region settings (kept for symmetry with the other tables; the annex has no parameter).
    by
        "district" or "street".

    Returns
    -------
    Columns :data:`BASIC_COLUMNS`: ``code``, ``name``; ``communities`` (communities of the area in
    ``region.areas``), ``communities_with_facility`` (those with a community facility, see
    :func:`facility_communities`), ``coverage_rate_pct`` (their share, 1 decimal, NaN without
    communities); ``fiscal_revenue_10k_yuan`` (the area's own value, 0 when missing);
    ``registered_population`` (the area's own value, else the sum of its communities', else 0) and
    ``registered_population_10k``; ``elders``, ``oldest_old`` (80+), ``disabled`` (ability codes 2–4)
    and the same in 10,000s; ``institutions``, ``institution_beds``, ``institution_residents``
    (facilities of kind 养老机构); ``community_facilities``, ``community_facility_beds``,
    ``community_elders_served`` (kinds :data:`COMMUNITY_FACILITY_KINDS`). Rows: areas of level ``by``
    in ``region.areas`` and any code found on elders, facilities or communities, sorted, "未归属" last;
    the total row (code "合计", name "全部地区") is the sum of the area rows, its rate recomputed.
    """
    if by not in _CODE_LENGTH:
        raise PlanningInputError(f"报表层级应为 district（区县）或 street（街道），收到 {by!r}",
                                 f"report level must be 'district' or 'street', got {by!r}")
    column = LEVEL_COLUMN[by]
    areas, elders, facilities = region.areas, region.elders, region.facilities
    has_areas = len(areas) > 0 and "code" in areas
    area_code = areas["code"].astype(str) if has_areas else pd.Series([], dtype=object)
    level = _level_of(areas) if has_areas else pd.Series([], dtype=object)
    level_of = dict(zip(area_code, level, strict=True))
    parent_of = ({c: str(p) for c, p in zip(area_code, areas["parent_code"], strict=True) if pd.notna(p)}
                 if has_areas and "parent_code" in areas else {})

    communities = sorted(area_code[level == "community"]) if has_areas else []
    community_area = np.array([_ancestor(c, by, parent_of, level_of) for c in communities], dtype=object)
    fac_comm = facility_communities(region)
    kinds = facilities["kind"].astype(object).to_numpy() if "kind" in facilities else np.full(len(facilities), None)
    is_community = np.isin(kinds, COMMUNITY_FACILITY_KINDS)
    served = {c for c, ok in zip(fac_comm, is_community, strict=True) if ok and c is not None}
    with_facility = np.array([c in served for c in communities], dtype=bool)

    elder_code = _codes(elders, column)
    facility_code = _codes(facilities, column)
    listed = set(area_code[level == by]) if has_areas else set()
    found = listed | set(elder_code) | set(facility_code) | set(community_area)
    codes = sorted(found - {UNASSIGNED}) + ([UNASSIGNED] if UNASSIGNED in found else [])
    index = {code: i for i, code in enumerate(codes)}
    n = len(codes)

    def per_area(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
        sums = (np.bincount([index[k] for k in keys], weights=np.asarray(values, dtype="float64"), minlength=n)
                if len(keys) else np.zeros(n))
        return np.append(sums, sums.sum())

    table = pd.DataFrame({"code": [*codes, TOTAL_CODE], "name": _names([*codes, TOTAL_CODE], region)})
    table["communities"] = per_area(community_area, np.ones(len(communities)))
    table["communities_with_facility"] = per_area(community_area, with_facility)
    table["coverage_rate_pct"] = (100.0 * table["communities_with_facility"]
                                  / table["communities"].where(table["communities"] > 0)).round(1)

    own = areas.set_index(area_code) if has_areas else pd.DataFrame()
    fiscal = np.array([_own_value(own, c, "fiscal_revenue_10k_yuan") for c in codes], dtype="float64")
    comm_pop = pd.Series(_numeric(areas, "registered_population"), index=area_code) if has_areas else pd.Series()
    population = []
    for c in codes:
        value = _own_value(own, c, "registered_population")
        if np.isnan(value):  # missing: the sum of its communities, else 0
            mine = [comm for comm, a in zip(communities, community_area, strict=True) if a == c]
            value = float(comm_pop.reindex(mine).sum()) if mine and "registered_population" in own else 0.0
        population.append(value)
    fiscal = np.nan_to_num(fiscal)
    table["fiscal_revenue_10k_yuan"] = np.append(fiscal, fiscal.sum()).round(4)
    population = np.asarray(population, dtype="float64")
    table["registered_population"] = np.append(population, population.sum())

    old = (elders["oldest_old"].astype("boolean").fillna(False).to_numpy(dtype=bool) if "oldest_old" in elders
           else np.zeros(len(elders), dtype=bool))
    ability = (pd.to_numeric(elders["ability_code"], errors="coerce").to_numpy(dtype="float64")
               if "ability_code" in elders else np.full(len(elders), np.nan))
    disabled = np.nan_to_num(ability, nan=-1) >= DISABLED_MIN_CODE
    table["elders"] = per_area(elder_code, np.ones(len(elders)))
    table["oldest_old"] = per_area(elder_code, old)
    table["disabled"] = per_area(elder_code, disabled)

    institution = kinds == INSTITUTION_KIND
    beds, residents, served_n = (_numeric(facilities, c) for c in ("beds_total", "residents", "elders_served"))
    table["institutions"] = per_area(facility_code, institution)
    table["institution_beds"] = per_area(facility_code, np.where(institution, beds, 0.0))
    table["institution_residents"] = per_area(facility_code, np.where(institution, residents, 0.0))
    table["community_facilities"] = per_area(facility_code, is_community)
    table["community_facility_beds"] = per_area(facility_code, np.where(is_community, beds, 0.0))
    table["community_elders_served"] = per_area(facility_code, np.where(is_community, served_n, 0.0))
    for name in _COUNT_COLUMNS:
        table[name] = table[name].round().astype(np.int64)
    for name in ("registered_population", "elders", "oldest_old", "disabled"):
        table[f"{name}_10k"] = table[name] / 10_000.0
    table.attrs["by"] = by
    log.info("basic situation of %s by %s: %d areas, %d communities, %d with a community facility",
             region.name, by, n, len(communities), int(with_facility.sum()))
    return table[list(BASIC_COLUMNS)]


def _own_value(own: pd.DataFrame, code: str, column: str) -> float:
    """An area's own numeric value in the areas layer (NaN when absent)."""
    if column not in own or code not in own.index:
        return np.nan
    value = own[column].loc[code]
    if isinstance(value, pd.Series):  # a code listed twice: its first row
        value = value.iloc[0]
    try:
        return float(value) if pd.notna(value) else np.nan
    except (TypeError, ValueError):
        return np.nan


# ---------------------------------------------------------------- service circle


def service_circle_table(region: Region, *, settings: Settings, minutes: float, by: ReportLevel = "district",
                         mode: Mode = "walk") -> pd.DataFrame:
    """Share of each area's elders within ``minutes`` of a facility of each kind present and of any kind.

    Returns
    -------
    ``code``, ``name``, ``elders``, then per group g in ``["any", *kinds present in settings order]``:
    ``covered:g`` and ``coverage_pct:g`` (1 decimal, NaN without elders). Rows are the areas of
    :func:`basic_situation` (same order), total row last; it is the sum of the area rows.
    """
    basic_codes = basic_situation(region, settings=settings, by=by)["code"].tolist()
    facilities, elders = region.facilities, region.elders
    present = set(facilities["kind"].dropna()) if "kind" in facilities else set()
    kinds = [k for k in settings.facility_kinds if k in present]
    table = pd.DataFrame({"code": basic_codes, "name": _names(basic_codes, region)})
    codes = _codes(elders, LEVEL_COLUMN[by])
    counts = pd.Series(codes).value_counts()
    table["elders"] = counts.reindex(basic_codes).fillna(0).astype(np.int64).to_numpy()
    table.loc[table["code"] == TOTAL_CODE, "elders"] = len(elders)
    for group in [ANY, *kinds]:
        if len(elders) and len(facilities):
            coverage, _ = region_coverage(region, settings=settings, minutes=minutes, mode=mode,
                                          kind=None if group == ANY else group, by=by)
            covered = coverage.set_index("code")["covered"].reindex(basic_codes).fillna(0).astype(np.int64)
        else:
            covered = pd.Series(0, index=basic_codes, dtype=np.int64)
        table[f"covered:{group}"] = covered.to_numpy()
        table[f"coverage_pct:{group}"] = (100.0 * table[f"covered:{group}"]
                                          / table["elders"].where(table["elders"] > 0)).round(1)
    table.attrs.update(by=by, minutes=minutes, mode=mode, kinds=kinds)
    return table


def service_circle_columns_zh(table: pd.DataFrame, *, minutes: float, mode: Mode = "walk") -> dict[str, str]:
    """Chinese headers (with units) of a :func:`service_circle_table`."""
    travel = f"{MODE_ZH.get(mode, mode)}{minutes:g}分钟内"
    out = {"code": "区划代码", "name": "名称", "elders": "老年人数(人)"}
    for column in table.columns:
        if ":" in column:
            what, group = column.split(":", 1)
            label = "任一设施" if group == ANY else group
            out[column] = f"{travel}{label}覆盖{'老人数(人)' if what == 'covered' else '老人占比(%)'}"
    return out


# ---------------------------------------------------------------- notes


def _date_zh(day: dt.date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def declared_area(region: Region) -> str:
    """The name written after "申报地区：": the districts of the areas layer, else the region's name."""
    areas = region.areas
    if len(areas) and "code" in areas:
        names = areas.loc[_level_of(areas) == "district", "name"].dropna().astype(str).tolist()
        if names:
            return "、".join(names)
    return region.name


def report_notes(region: Region, *, settings: Settings, by: ReportLevel, minutes: float,
                 statistics_date: dt.date, mode: Mode = "walk") -> list[tuple[str, str]]:
    """The notes sheet: (item, text) rows in Chinese."""
    m = region.manifest
    speed = settings.walk_speed_kmh
    rows: list[tuple[str, str]] = [
        ("申报地区", declared_area(region)),
        ("地区数据", f"{region.name}（版本 {region.version}）"),
        ("统计日期", _date_zh(statistics_date)),
        ("生成时间", dt.datetime.now().strftime("%Y-%m-%d %H:%M")),
        ("汇总层级", f"按{LEVEL_ZH[by]}汇总，最后一行“合计”为全部地区，等于各行之和（覆盖率按合计数重新计算）"),
        ("注 1", f"老年人口指 {settings.elder_min_age} 周岁及以上户籍人口，本表按地区老年人数据逐人统计。"),
        ("注 2", f"高龄老年人指 {settings.oldest_old_age} 周岁及以上的老年人。"),
        ("注 3", "失能（伤残）老年人按《老年人能力评估规范》（GB/T 42195-2022）认定，本表计入评估为中度失能、"
                "重度失能、完全失能（能力等级代码 2–4）的老年人。"),
        ("注 4", "机构养老：类型为“养老机构”的设施的机构数、床位总数和入住（在住）老年人数。"),
        ("注 5", "社区养老设施指在社区内为老年人提供日间照料、全托、助餐及其他服务的设施；本表计入类型为"
                + "、".join(COMMUNITY_FACILITY_KINDS) + "的设施，居家上门服务商不计入。床位数为其床位总数，"
                "养老服务老年人人数为其登记的服务老人数。"),
        ("注 6", COVERAGE_FORMULA + "。"),
        ("注 7", "社区是否有社区养老服务设施：设施登记了某社区的社区代码，即计入该社区（代码与坐标所在社区不一致时"
                "以代码为准）；未登记社区代码的设施，计入其坐标所在的社区边界。同一社区有多处设施只计一次。"),
        ("注 8", "各项数据为空的按 0 填报；“—”表示分母为 0（如无所辖社区）无法计算比率。"),
        ("归属口径", "老年人和设施按其登记的区县/街道代码归属；社区按上级区划代码（缺失时按社区代码前 9/6 位）"
                 "归属街道/区县；无代码的记为“未归属”。"),
        ("户籍人口", "取区划数据中该区域的户籍人口；缺失时取其所辖社区户籍人口之和；均缺失按 0。"),
        ("财政收入", "取区划数据中该区域的财政收入（万元）；缺失按 0。"),
        ("服务圈覆盖", f"沿道路网计算老年人住址到最近设施的{MODE_ZH.get(mode, mode)}时间，{minutes:g} 分钟内可达的老年人"
                  f"占比；步行速度 {speed:g} 公里/小时（{speed * 1000 / 60:.0f} 米/分钟），"
                  f"生活圈分级 {'/'.join(f'{x:g}' for x in settings.circle_minutes)} 分钟（GB 50180-2018）。"),
        ("配置检查目标", f"每百名老人床位不少于 {settings.target_beds_per_100_elders:g} 张；养老机构护理型床位占比不低于 "
                    f"{settings.target_nursing_share_pct:g}%；"
                    + "；".join(f"{k}{MODE_ZH.get(mode, mode)} {t:g} 分钟覆盖" for k, t in settings.tier_minutes)
                    + f"的老人占比不低于 {settings.target_tier_share_pct:g}%。"),
    ]
    layers = m.get("layers") or {}
    counts = {name: (info.get("rows") if isinstance(info, dict) else None) for name, info in layers.items()}
    for name, frame in region.layers.items():
        counts.setdefault(name, len(frame))
    layer_zh = {"facilities": "养老服务设施", "elders": "老年人", "areas": "区划", "road_nodes": "道路节点",
                "road_edges": "道路路段", "buildings": "建筑"}
    rows.append(("记录数", "；".join(f"{layer_zh.get(k, k)} {v} 条" for k, v in counts.items()) or "无"))
    for s in m.get("sources") or []:
        where = s.get("file") or s.get("place") or s.get("path", "")
        digest = (s.get("sha256") or "")[:12]
        extra = (f"，读取 {s['rows_read']} 行，导入 {s['rows_imported']} 行，拒绝 {s['rows_rejected']} 行"
                 if "rows_read" in s else "")
        rows.append(("数据来源", f"{layer_zh.get(s.get('layer'), s.get('layer'))}：{where}"
                     f"{('（' + s['kind'] + '）') if s.get('kind') else ''}{('，SHA-256 ' + digest) if digest else ''}{extra}"))
    synthetic = m.get("synthetic") or {}
    fake = [layer_zh.get(k, k) for k, v in synthetic.items() if v]
    if fake:
        rows.append(("合成数据", f"{'、'.join(fake)}为演示用合成数据，不是真实统计数据，不得用于正式申报。"))
    return rows


# ---------------------------------------------------------------- xlsx


def _cell_value(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return DASH
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_frame(ws, frame: pd.DataFrame, headers: dict[str, str], *, pct_format: str = "0.0") -> None:
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


def _write_annex(ws, table: pd.DataFrame, *, area: str, statistics_date: dt.date) -> None:
    """The annex layout: title, area and date line, two-level header, figures, formats."""
    from openpyxl.styles import Alignment, Border, Font, Side

    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
    n = len(ANNEX_COLUMNS)
    ws.cell(row=1, column=1, value=ANNEX_TITLE).font = Font(bold=True, size=16)
    ws.cell(row=1, column=1).alignment = centre
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=n)
    ws.cell(row=2, column=1, value=f"申报地区：{area}    填报日期：{_date_zh(statistics_date)}")
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
    for i, row in enumerate(table.to_dict("records")):
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


def write_report(region: Region, path: str | Path, *, settings: Settings, by: ReportLevel = "district",
                 minutes: float = 15.0, statistics_date: dt.date | None = None, html: str | Path | None = None,
                 mode: Mode = "walk") -> Path:
    """Write the official report workbook (atomically) and optionally a printable HTML page.

    Sheets: "基本情况表" (annex 2 layout, :func:`basic_situation`), "服务圈覆盖"
    (:func:`service_circle_table`), "配置检查" (:func:`planning.checks.provisioning_checks`), "说明"
    (definitions, parameters, date, sources, record counts). ``statistics_date`` defaults to today.
    The HTML (when ``html`` is given) is self-contained: inline CSS, an inline SVG chart and map, no
    URLs; :func:`write_pdf` prints it to PDF (its ``@media print`` style fits A4 landscape).

    Returns the xlsx path.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise PlanningInputError(f"报表文件应为 .xlsx，收到 {path.name}", f"report must be .xlsx, got {path}")
    day = statistics_date or dt.date.today()
    basic = basic_situation(region, settings=settings, by=by)
    circle = service_circle_table(region, settings=settings, minutes=minutes, by=by, mode=mode)
    checks = provisioning_checks(region, settings=settings, by=by, mode=mode)
    notes = report_notes(region, settings=settings, by=by, minutes=minutes, statistics_date=day, mode=mode)
    area = declared_area(region)

    wb = Workbook()
    ws = wb.active
    ws.title = "基本情况表"
    _write_annex(ws, basic, area=area, statistics_date=day)
    _write_frame(wb.create_sheet("服务圈覆盖"), circle, service_circle_columns_zh(circle, minutes=minutes, mode=mode))
    _write_frame(wb.create_sheet("配置检查"), checks, check_columns_zh(settings, mode))
    ns = wb.create_sheet("说明")
    ns.append(["项目", "内容"])
    for item, text in notes:
        ns.append([item, text])
    ns.column_dimensions["A"].width, ns.column_dimensions["B"].width = 14, 110
    for cell in ns[1]:
        cell.font = Font(bold=True)
    for cell in ns["B"]:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    with atomic_write(path, mode="wb") as f:
        wb.save(f)
    if html is not None:
        write_html(Path(html), basic=basic, circle=circle, checks=checks, notes=notes, area=area,
                   statistics_date=day, settings=settings, minutes=minutes, mode=mode,
                   map_svg=community_map_svg(region))
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


def _frame_html(frame: pd.DataFrame, headers: dict[str, str]) -> str:
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


def coverage_chart_svg(table: pd.DataFrame) -> str:
    """An inline SVG bar chart of ``coverage_rate_pct`` per area (total row last, no external references)."""
    rows = table[["code", "name", "coverage_rate_pct"]].to_dict("records")
    bar_h, gap, label_w, plot_w = 22, 8, 170, 420
    height = 30 + len(rows) * (bar_h + gap)
    parts = [f'<svg class="chart" viewBox="0 0 {label_w + plot_w + 70} {height}" role="img" '
             f'aria-label="社区养老设施覆盖率">']
    for x in (0, 25, 50, 75, 100):
        px = label_w + plot_w * x / 100
        parts.append(f'<line x1="{px:.1f}" y1="10" x2="{px:.1f}" y2="{height - 6}" stroke="#ccc"/>'
                     f'<text x="{px:.1f}" y="8" font-size="10" text-anchor="middle">{x}%</text>')
    for i, row in enumerate(rows):
        y = 16 + i * (bar_h + gap)
        rate = row["coverage_rate_pct"]
        label = html_lib.escape(str(row["name"] or row["code"]))
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" font-size="12" text-anchor="end">{label}</text>')
        if pd.notna(rate):
            color = "#555" if row["code"] == TOTAL_CODE else "#2f6fb0"
            parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w * float(rate) / 100:.1f}" height="{bar_h}" '
                         f'fill="{color}"/>')
        text = DASH if pd.isna(rate) else f"{float(rate):.1f}%"
        x = label_w + (plot_w * float(rate) / 100 if pd.notna(rate) else 0) + 4
        parts.append(f'<text x="{x:.1f}" y="{y + bar_h * 0.7:.1f}" font-size="12">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)


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


def community_map_svg(region: Region, *, width_px: int = 640) -> str:
    """An inline SVG map: communities shaded by whether they have a community facility, facilities as dots.

    Drawn from the region's own polygons (equirectangular, scaled by the cosine of the latitude): it
    needs no tiles and prints as vector graphics. Empty when the region has no community polygons.
    """
    import shapely

    areas = region.areas
    if areas is None or areas.empty or "level" not in areas:
        return ""
    comm = areas[(areas["level"].astype(str) == "community") & areas.geometry.notna()].to_crs("EPSG:4326")
    if comm.empty:
        return ""
    fac = region.facilities.to_crs("EPSG:4326") if len(region.facilities) else region.facilities
    attributed = set(facility_communities(region)[np.isin(fac["kind"].astype(str), COMMUNITY_FACILITY_KINDS)]) \
        if len(fac) else set()
    minx, miny, maxx, maxy = comm.total_bounds
    kx = np.cos(np.radians((miny + maxy) / 2))
    scale = width_px / max((maxx - minx) * kx, 1e-12)
    height_px = int((maxy - miny) * scale) + 1

    def xy(coords: np.ndarray) -> str:
        return " ".join(f"{(x - minx) * kx * scale:.1f},{(maxy - y) * scale:.1f}" for x, y in coords)

    parts = [f'<svg class="map" viewBox="-4 -4 {width_px + 8} {height_px + 8}" role="img" '
             f'aria-label="社区养老服务设施分布图">']
    for row in comm.itertuples():
        has = str(row.code) in attributed
        fill = "#9fd3a8" if has else "#e4e4e4"
        for poly in shapely.get_parts(row.geometry):
            if poly.geom_type != "Polygon":
                continue
            parts.append(f'<polygon points="{xy(np.asarray(poly.exterior.coords))}" fill="{fill}" '
                         f'stroke="#555" stroke-width="0.8"><title>{html_lib.escape(str(row.name))}'
                         f'{"（有社区养老设施）" if has else "（无社区养老设施）"}</title></polygon>')
    for row in fac.itertuples():
        g = row.geometry
        if g is None or g.is_empty or g.geom_type != "Point":
            continue
        (px, py), = [tuple(map(float, v.split(","))) for v in xy(np.array([[g.x, g.y]])).split()]
        institution = str(row.kind) == INSTITUTION_KIND
        shape = (f'<rect x="{px - 4:.1f}" y="{py - 4:.1f}" width="8" height="8" fill="#b03a2e"/>' if institution
                 else f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="#1f5fa8"/>')
        parts.append(f'<g><title>{html_lib.escape(str(row.name))}（{html_lib.escape(str(row.kind))}）</title>{shape}</g>')
    parts.append("</svg>")
    legend = ('<p class="legend"><span style="background:#9fd3a8"></span>有社区养老设施的社区　'
              '<span style="background:#e4e4e4"></span>无社区养老设施的社区　'
              '<span style="background:#1f5fa8;border-radius:50%"></span>社区养老服务设施　'
              '<span style="background:#b03a2e"></span>养老机构</p>')
    return "".join(parts) + legend


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


def write_html(path: Path, *, basic: pd.DataFrame, circle: pd.DataFrame, checks: pd.DataFrame,
               notes: Sequence[tuple[str, str]], area: str, statistics_date: dt.date, settings: Settings,
               minutes: float, mode: Mode = "walk", map_svg: str = "") -> Path:
    """The printable, self-contained HTML page of the report (same figures as the workbook)."""
    synthetic = [text for item, text in notes if item == "合成数据"]
    notes_html = "".join(f"<tr><td>{html_lib.escape(a)}</td><td>{html_lib.escape(b)}</td></tr>" for a, b in notes)
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{ANNEX_TITLE}</title><style>{CSS}</style></head>
<body>
<section>
<h1>{ANNEX_TITLE}</h1>
<p class="meta">申报地区：{html_lib.escape(area)}　　填报日期：{_date_zh(statistics_date)}</p>
{''.join(f'<p class="synthetic">{html_lib.escape(t)}</p>' for t in synthetic)}
{_annex_html(basic)}
<h2>社区养老设施覆盖率</h2>
<p>{COVERAGE_FORMULA}</p>
{coverage_chart_svg(basic)}
{('<h2>社区养老服务设施分布</h2>' + map_svg) if map_svg else ''}
</section>
<section>
<h2>服务圈覆盖（{MODE_ZH.get(mode, mode)} {minutes:g} 分钟）</h2>
{_frame_html(circle, service_circle_columns_zh(circle, minutes=minutes, mode=mode))}
<h2>配置检查</h2>
{_frame_html(checks, check_columns_zh(settings, mode))}
</section>
<section>
<h2>说明</h2>
<table class="notes"><tbody>{notes_html}</tbody></table>
</section>
</body></html>
"""
    with atomic_write(path, mode="w", encoding="utf-8") as f:
        f.write(page)
    return path


def total_line(basic: pd.DataFrame) -> str:
    """The one-line Chinese summary of the total row of :func:`basic_situation`."""
    t = basic.iloc[-1]
    rate = DASH if pd.isna(t["coverage_rate_pct"]) else f"{t['coverage_rate_pct']:.1f}%"
    return (f"全部地区：社区 {int(t['communities'])} 个，有社区养老设施的 {int(t['communities_with_facility'])} 个，"
            f"覆盖率 {rate}；老年人 {int(t['elders'])} 人，其中高龄 {int(t['oldest_old'])} 人、"
            f"失能 {int(t['disabled'])} 人；养老机构 {int(t['institutions'])} 个（床位 {int(t['institution_beds'])} 张），"
            f"社区养老设施 {int(t['community_facilities'])} 个")


__all__ = ["ANNEX_COLUMNS", "BASIC_COLUMNS", "COMMUNITY_FACILITY_KINDS", "COVERAGE_FORMULA", "basic_situation",
           "community_map_svg", "coverage_chart_svg", "write_pdf", "facility_communities", "report_notes", "service_circle_columns_zh",
           "service_circle_table", "total_line", "write_html", "write_report"]
