"""The official report's tables: annex 2 "试点申报地区基本情况表", service-circle coverage, provisioning
checks and notes — pure tables, no files.

:func:`basic_situation` computes the annex table per district or street (communities, fiscal revenue,
registered population, elders, 80+ and disabled elders, institutions, community facilities and the
community-facility coverage rate) with a total row that reconciles with the area rows;
:func:`service_circle_table` gives the share of elders within N minutes of each facility kind;
:func:`build_report` computes every table of one report exactly once into a :class:`Report`, which
:mod:`data.report_files` writes as a workbook, a printable HTML page and a PDF (and
:mod:`layers.report_svg` draws as an inline chart and map). ``eldermap report`` and the 统计报表 page
compose the two through :mod:`views.report_export`.

Attribution rules (also written into the notes):

- elders are counted in the area of their own ``district_code``/``street_code``; facilities likewise
  (those without a code go to the "未归属" row);
- a community belongs to the street/district reached through its ``parent_code`` chain, else to the
  one named by its code's first 9/6 digits;
- a community "has a community facility" when at least one facility of a kind in
  ``settings.community_facility_kinds`` is attributed to it: a facility carrying a ``community_code``
  of a known community counts for that community (even if its point lies in another polygon, the
  code wins); a facility without such a code counts for the community whose polygon contains it.

Facility-kind roles come from the settings. Annex 2 of the pilot application (试点申报地区基本情况表),
note 5: community elder-care facilities (城镇社区养老, ``settings.community_facility_kinds``) are
facilities located in the community that provide daily care — day care (日间照料), full-time care
(全托), meal services (助餐) and other services. Home-visit providers (``settings.home_care_kinds``,
居家上门服务商) have no site in the community and are not counted; institutions
(``settings.institution_kinds``, 养老机构) have their own columns (机构养老).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import shapely

from data.provenance import manifest_sources, source_text_zh, synthetic_layers
from data.store import Region
from geo.areas import LEVEL_COLUMN, ancestor, area_codes, area_list, area_names, level_of, pct, sums_over
from geo.errors import PlanningInputError
from geo.labels import DASH, LAYER_ZH, REPORT_LEVEL_ZH, TOTAL_CODE, UNASSIGNED, mode_zh
from geo.settings import Settings
from planning.checks import check_columns_zh, provisioning_checks
from planning.coverage import elder_flags, region_coverage
from planning.network import Mode
from planning.summary import kinds_in_order

log = logging.getLogger(__name__)

ReportLevel = Literal["district", "street"]
ANY = "any"
"""Group name of the service-circle columns for facilities of any kind."""

BASIC_COLUMNS: tuple[str, ...] = (
    "code", "name", "communities", "communities_with_facility", "coverage_rate_pct", "fiscal_revenue_10k_yuan",
    "registered_population", "registered_population_10k", "elders", "elders_10k", "oldest_old", "oldest_old_10k",
    "disabled", "disabled_10k", "institutions", "institution_beds", "institution_residents",
    "community_facilities", "community_facility_beds", "community_elders_served",
)
_COUNT_COLUMNS = ("communities", "communities_with_facility", "registered_population", "elders", "oldest_old",
                  "disabled", "institutions", "institution_beds", "institution_residents", "community_facilities",
                  "community_facility_beds", "community_elders_served")

ANNEX_TITLE = "试点申报地区基本情况表"
COVERAGE_FORMULA = "社区养老服务设施覆盖率 = 有社区养老服务设施的社区数 ÷ 社区总数 × 100%"


# ---------------------------------------------------------------- the report


@dataclass(frozen=True, eq=False)
class Report:
    """Every table of one official report, computed once by :func:`build_report`.

    Attributes
    ----------
    basic
        :func:`basic_situation` (annex 2), total row last.
    circle
        :func:`service_circle_table`, same rows as ``basic``.
    checks
        :func:`planning.checks.provisioning_checks`.
    notes
        :func:`report_notes`: (item, text) rows in Chinese.
    area
        :func:`declared_area`: the name written after "申报地区：".
    statistics_date
        The statistics date (填报日期).
    by, minutes, mode
        Level of the rows, service-circle minutes and travel mode.
    settings
        The settings the tables were computed with.
    circle_columns_zh, check_columns_zh
        Chinese headers (with units) of ``circle`` and ``checks``.
    served_communities
        Codes of the communities with at least one community facility (:func:`served_communities`).
    title, coverage_formula
        The annex title and the coverage-rate formula as printed.
    """

    basic: pd.DataFrame
    circle: pd.DataFrame
    checks: pd.DataFrame
    notes: tuple[tuple[str, str], ...]
    area: str
    statistics_date: dt.date
    by: ReportLevel
    minutes: float
    mode: Mode
    settings: Settings
    circle_columns_zh: Mapping[str, str]
    check_columns_zh: Mapping[str, str]
    served_communities: frozenset[str]
    title: str = ANNEX_TITLE
    coverage_formula: str = COVERAGE_FORMULA

    @property
    def statistics_date_zh(self) -> str:
        """The statistics date as written on the report: "2026年11月23日"."""
        return date_zh(self.statistics_date)

    @property
    def mode_zh(self) -> str:
        """The travel mode in Chinese ("步行")."""
        return mode_zh(self.mode)


def build_report(region: Region, *, settings: Settings, by: ReportLevel = "district", minutes: float = 15.0,
                 statistics_date: dt.date | None = None, mode: Mode = "walk") -> Report:
    """Compute every table of the official report once.

    Parameters
    ----------
    region
        A loaded region (areas with community polygons, facilities, elders, roads).
    settings
        Region settings (facility-kind roles, travel speeds, targets).
    by
        "district" or "street": the level of the rows.
    minutes
        Service-circle minutes of :func:`service_circle_table`.
    statistics_date
        The statistics date; today when None.
    mode
        "walk" or "drive": how elders reach facilities (service circle and tier checks).

    Returns
    -------
    A :class:`Report`: the annex table is computed once and its rows are reused by the
    service-circle table.
    """
    _check_level(by)
    day = statistics_date or dt.date.today()
    served = served_communities(region, settings=settings)
    basic = basic_situation(region, settings=settings, by=by, served=served)
    circle = service_circle_table(region, settings=settings, minutes=minutes, by=by, mode=mode,
                                  codes=basic["code"].tolist())
    checks = provisioning_checks(region, settings=settings, by=by, mode=mode)
    notes = report_notes(region, settings=settings, by=by, minutes=minutes, statistics_date=day, mode=mode)
    return Report(basic=basic, circle=circle, checks=checks, notes=tuple(notes), area=declared_area(region),
                  statistics_date=day, by=by, minutes=minutes, mode=mode, settings=settings,
                  circle_columns_zh=service_circle_columns_zh(circle, minutes=minutes, mode=mode),
                  check_columns_zh=check_columns_zh(settings, mode), served_communities=served)


# ---------------------------------------------------------------- the annex table


def _check_level(by: str) -> None:
    if by not in REPORT_LEVEL_ZH:
        raise PlanningInputError(f"报表层级应为 district（区县）或 street（街道），收到 {by!r}",
                                 f"report level must be 'district' or 'street', got {by!r}")


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.zeros(len(frame))
    return pd.to_numeric(frame[column], errors="coerce").astype("float64").fillna(0.0).to_numpy()


def _kinds(facilities: pd.DataFrame) -> np.ndarray:
    return (facilities["kind"].astype(object).to_numpy() if "kind" in facilities
            else np.full(len(facilities), None, dtype=object))


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
    communities = areas[level_of(areas) == "community"]
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


def served_communities(region: Region, *, settings: Settings) -> frozenset[str]:
    """Codes of the communities with at least one facility of ``settings.community_facility_kinds``
    attributed to them (:func:`facility_communities`)."""
    is_community = np.isin(_kinds(region.facilities), list(settings.community_facility_kinds))
    return frozenset(c for c, ok in zip(facility_communities(region), is_community, strict=True)
                     if ok and c is not None)


def _community_areas(areas: pd.DataFrame, by: ReportLevel) -> tuple[list[str], np.ndarray]:
    """The community codes (sorted) and the area at level ``by`` each belongs to."""
    if not len(areas) or "code" not in areas:
        return [], np.array([], dtype=object)
    code = areas["code"].astype(str)
    level = level_of(areas)
    levels = dict(zip(code, level, strict=True))
    parents = ({c: str(p) for c, p in zip(code, areas["parent_code"], strict=True) if pd.notna(p)}
               if "parent_code" in areas else {})
    communities = sorted(code[(level == "community").to_numpy()])
    return communities, np.array([ancestor(c, by, parents, levels) for c in communities], dtype=object)


def report_codes(region: Region, *, by: ReportLevel = "district") -> list[str]:
    """The area rows of the report tables at level ``by`` (without the total row): areas of that level in
    ``region.areas`` and any code found on elders, facilities or communities, sorted, "未归属" last."""
    _check_level(by)
    _, community_area = _community_areas(region.areas, by)
    column = LEVEL_COLUMN[by]
    return area_list(region.areas, by, area_codes(region.elders, column), area_codes(region.facilities, column),
                     community_area)


def basic_situation(region: Region, *, settings: Settings, by: ReportLevel = "district",
                    served: Collection[str] | None = None) -> pd.DataFrame:
    """Annex 2 "试点申报地区基本情况表": one row per area at level ``by``, then the total row.

    Parameters
    ----------
    region
        A loaded region (areas with community polygons, facilities, elders).
    settings
        Region settings: ``institution_kinds`` and ``community_facility_kinds`` say which facilities
        fill the 机构养老 and 城镇社区养老 columns.
    by
        "district" or "street".
    served
        The communities with a community facility when already known (:func:`served_communities`);
        computed when None.

    Returns
    -------
    Columns :data:`BASIC_COLUMNS`: ``code``, ``name``; ``communities`` (communities of the area in
    ``region.areas``), ``communities_with_facility`` (those with a community facility, see
    :func:`facility_communities`), ``coverage_rate_pct`` (their share, 1 decimal, NaN without
    communities); ``fiscal_revenue_10k_yuan`` (the area's own value, 0 when missing);
    ``registered_population`` (the area's own value, else the sum of its communities', else 0) and
    ``registered_population_10k``; ``elders``, ``oldest_old`` (80+), ``disabled`` (ability codes 2–4)
    and the same in 10,000s; ``institutions``, ``institution_beds``, ``institution_residents``
    (facilities of ``settings.institution_kinds``); ``community_facilities``,
    ``community_facility_beds``, ``community_elders_served`` (kinds ``settings.community_facility_kinds``).
    Rows: :func:`report_codes`; the total row (code "合计", name "全部地区") is the sum of the area
    rows, its rate recomputed.
    """
    _check_level(by)
    column = LEVEL_COLUMN[by]
    areas, elders, facilities = region.areas, region.elders, region.facilities
    has_areas = len(areas) > 0 and "code" in areas
    area_code = areas["code"].astype(str) if has_areas else pd.Series([], dtype=object)

    communities, community_area = _community_areas(areas, by)
    if served is None:
        served = served_communities(region, settings=settings)
    with_facility = np.array([c in served for c in communities], dtype=bool)
    kinds = _kinds(facilities)
    is_community = np.isin(kinds, list(settings.community_facility_kinds))

    elder_code = area_codes(elders, column)
    facility_code = area_codes(facilities, column)
    codes = area_list(areas, by, elder_code, facility_code, community_area)

    def per_area(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
        return sums_over(codes, keys, values)

    table = pd.DataFrame({"code": [*codes, TOTAL_CODE],
                          "name": area_names([*codes, TOTAL_CODE], areas, unassigned=UNASSIGNED)})
    table["communities"] = per_area(community_area, np.ones(len(communities)))
    table["communities_with_facility"] = per_area(community_area, with_facility)
    table["coverage_rate_pct"] = pct(table["communities_with_facility"], table["communities"], decimals=1)

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

    old, disabled = elder_flags(elders)
    table["elders"] = per_area(elder_code, np.ones(len(elders)))
    table["oldest_old"] = per_area(elder_code, old)
    table["disabled"] = per_area(elder_code, disabled)

    institution = np.isin(kinds, list(settings.institution_kinds))
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
             region.name, by, len(codes), len(communities), int(with_facility.sum()))
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
                         mode: Mode = "walk", codes: Sequence[str] | None = None) -> pd.DataFrame:
    """Share of each area's elders within ``minutes`` of a facility of each kind present and of any kind.

    Parameters
    ----------
    codes
        The area rows, e.g. ``basic_situation(...)["code"]`` (a total row among them is ignored: it is
        always added last); :func:`report_codes` when None.

    Returns
    -------
    ``code``, ``name``, ``elders``, then per group g in ``["any", *kinds present in settings order]``:
    ``covered:g`` and ``coverage_pct:g`` (1 decimal, NaN without elders). Rows are the areas of
    :func:`basic_situation` (same order), total row last; it is the sum of the area rows.
    """
    rows = report_codes(region, by=by) if codes is None else [str(c) for c in codes if c != TOTAL_CODE]
    rows = [*rows, TOTAL_CODE]
    facilities, elders = region.facilities, region.elders
    kinds = kinds_in_order(facilities, settings, unknown=False)
    table = pd.DataFrame({"code": rows, "name": area_names(rows, region.areas, unassigned=UNASSIGNED)})
    counts = pd.Series(area_codes(elders, LEVEL_COLUMN[by])).value_counts()
    table["elders"] = counts.reindex(rows).fillna(0).astype(np.int64).to_numpy()
    table.loc[table["code"] == TOTAL_CODE, "elders"] = len(elders)
    for group in [ANY, *kinds]:
        if len(elders) and len(facilities):
            coverage, _ = region_coverage(region, settings=settings, minutes=minutes, mode=mode,
                                          kind=None if group == ANY else group, by=by)
            covered = coverage.set_index("code")["covered"].reindex(rows).fillna(0).astype(np.int64)
        else:
            covered = pd.Series(0, index=rows, dtype=np.int64)
        table[f"covered:{group}"] = covered.to_numpy()
        table[f"coverage_pct:{group}"] = pct(table[f"covered:{group}"], table["elders"], decimals=1)
    table.attrs.update(by=by, minutes=minutes, mode=mode, kinds=kinds)
    return table


def service_circle_columns_zh(table: pd.DataFrame, *, minutes: float, mode: Mode = "walk") -> dict[str, str]:
    """Chinese headers (with units) of a :func:`service_circle_table`."""
    travel = f"{mode_zh(mode)}{minutes:g}分钟内"
    out = {"code": "区划代码", "name": "名称", "elders": "老年人数(人)"}
    for column in table.columns:
        if ":" in column:
            what, group = column.split(":", 1)
            label = "任一设施" if group == ANY else group
            out[column] = f"{travel}{label}覆盖{'老人数(人)' if what == 'covered' else '老人占比(%)'}"
    return out


# ---------------------------------------------------------------- notes


def date_zh(day: dt.date) -> str:
    """A date as written on the report: "2026年11月23日"."""
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def declared_area(region: Region) -> str:
    """The name written after "申报地区：": the districts of the areas layer, else the region's name."""
    areas = region.areas
    if len(areas) and "code" in areas:
        names = areas.loc[level_of(areas) == "district", "name"].dropna().astype(str).tolist()
        if names:
            return "、".join(names)
    return region.name


def _kinds_zh(kinds: Sequence[str]) -> str:
    return "、".join(f"“{k}”" for k in kinds) or "（未设置）"


def report_notes(region: Region, *, settings: Settings, by: ReportLevel, minutes: float,
                 statistics_date: dt.date, mode: Mode = "walk") -> list[tuple[str, str]]:
    """The notes sheet: (item, text) rows in Chinese (definitions, parameters, date, sources, record counts)."""
    m = region.manifest
    speed = settings.walk_speed_kmh
    travel = mode_zh(mode)
    home_care = f"{'、'.join(settings.home_care_kinds)}不计入。" if settings.home_care_kinds else ""
    rows: list[tuple[str, str]] = [
        ("申报地区", declared_area(region)),
        ("地区数据", f"{region.name}（版本 {region.version}）"),
        ("统计日期", date_zh(statistics_date)),
        ("生成时间", dt.datetime.now().strftime("%Y-%m-%d %H:%M")),
        ("汇总层级", f"按{REPORT_LEVEL_ZH[by]}汇总，最后一行“合计”为全部地区，等于各行之和（覆盖率按合计数重新计算）"),
        ("注 1", f"老年人口指 {settings.elder_min_age} 周岁及以上户籍人口，本表按地区老年人数据逐人统计。"),
        ("注 2", f"高龄老年人指 {settings.oldest_old_age} 周岁及以上的老年人。"),
        ("注 3", "失能（伤残）老年人按《老年人能力评估规范》（GB/T 42195-2022）认定，本表计入评估为中度失能、"
                "重度失能、完全失能（能力等级代码 2–4）的老年人。"),
        ("注 4", f"机构养老：类型为{_kinds_zh(settings.institution_kinds)}的设施的机构数、床位总数和入住（在住）老年人数。"),
        ("注 5", "社区养老设施指在社区内为老年人提供日间照料、全托、助餐及其他服务的设施；本表计入类型为"
                + "、".join(settings.community_facility_kinds) + "的设施" + ("，" if home_care else "。")
                + home_care + "床位数为其床位总数，养老服务老年人人数为其登记的服务老人数。"),
        ("注 6", COVERAGE_FORMULA + "。"),
        ("注 7", "社区是否有社区养老服务设施：设施登记了某社区的社区代码，即计入该社区（代码与坐标所在社区不一致时"
                "以代码为准）；未登记社区代码的设施，计入其坐标所在的社区边界。同一社区有多处设施只计一次。"),
        ("注 8", f"各项数据为空的按 0 填报；“{DASH}”表示分母为 0（如无所辖社区）无法计算比率。"),
        ("归属口径", "老年人和设施按其登记的区县/街道代码归属；社区按上级区划代码（缺失时按社区代码前 9/6 位）"
                 "归属街道/区县；无代码的记为“未归属”。"),
        ("户籍人口", "取区划数据中该区域的户籍人口；缺失时取其所辖社区户籍人口之和；均缺失按 0。"),
        ("财政收入", "取区划数据中该区域的财政收入（万元）；缺失按 0。"),
        ("服务圈覆盖", f"沿道路网计算老年人住址到最近设施的{travel}时间，{minutes:g} 分钟内可达的老年人"
                  f"占比；步行速度 {speed:g} 公里/小时（{speed * 1000 / 60:.0f} 米/分钟），"
                  f"生活圈分级 {'/'.join(f'{x:g}' for x in settings.circle_minutes)} 分钟（GB 50180-2018）。"),
        ("配置检查目标", f"每百名老人床位不少于 {settings.target_beds_per_100_elders:g} 张；养老机构护理型床位占比不低于 "
                    f"{settings.target_nursing_share_pct:g}%；"
                    + "；".join(f"{k}{travel} {t:g} 分钟覆盖" for k, t in settings.tier_minutes)
                    + f"的老人占比不低于 {settings.target_tier_share_pct:g}%。"),
    ]
    layers = m.get("layers") or {}
    counts = {name: (info.get("rows") if isinstance(info, dict) else None) for name, info in layers.items()}
    for name, frame in region.layers.items():
        counts.setdefault(name, len(frame))
    rows.append(("记录数", "；".join(f"{LAYER_ZH.get(k, k)} {v} 条" for k, v in counts.items()) or "无"))
    rows += [("数据来源", source_text_zh(s)) for s in manifest_sources(m)]
    fake = [LAYER_ZH.get(k, k) for k in synthetic_layers(m)[1]]
    if fake:
        rows.append(("合成数据", f"{'、'.join(fake)}为演示用合成数据，不是真实统计数据，不得用于正式申报。"))
    return rows


def total_line(basic: pd.DataFrame) -> str:
    """The one-line Chinese summary of the total row of :func:`basic_situation`."""
    t = basic.iloc[-1]
    rate = DASH if pd.isna(t["coverage_rate_pct"]) else f"{t['coverage_rate_pct']:.1f}%"
    return (f"全部地区：社区 {int(t['communities'])} 个，有社区养老设施的 {int(t['communities_with_facility'])} 个，"
            f"覆盖率 {rate}；老年人 {int(t['elders'])} 人，其中高龄 {int(t['oldest_old'])} 人、"
            f"失能 {int(t['disabled'])} 人；养老机构 {int(t['institutions'])} 个（床位 {int(t['institution_beds'])} 张），"
            f"社区养老设施 {int(t['community_facilities'])} 个")


__all__ = ["ANNEX_TITLE", "ANY", "BASIC_COLUMNS", "COVERAGE_FORMULA", "DASH", "Report", "ReportLevel",
           "basic_situation", "build_report", "date_zh", "declared_area", "facility_communities", "report_codes",
           "report_notes", "served_communities", "service_circle_columns_zh", "service_circle_table", "total_line"]
