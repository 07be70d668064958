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

The definitions of annex 2's notes (seed 003), each a setting and each stated in the notes:

- note 1: ages in 周岁 at the statistics date (:func:`elder_ages`, from birth year and month), not the
  flag stored at import; elders under ``settings.elder_min_age`` then are left out and counted; empty
  items are 0 (also the coverage rate of an area without 居委会);
- note 2: elders of ``settings.annex_population`` (default 户籍: ``registered`` True or not said);
- note 4: 失能(伤残) = ability codes ``settings.annex_disabled_ability_codes`` (重度/完全失能) or a
  disability grade in ``settings.annex_disabled_grades`` (一级、二级) or 失智 (:func:`disabled_elders`);
- note 6: the coverage rate counts 居委会 (:func:`geo.areas.community_types`: a type column, else the
  code rule), and 村委会 too with ``settings.annex_include_villages``;
- :func:`annex_elders` applies notes 1–4; :func:`annex_remarks` gives the notes as the annex words
  them; :func:`unassigned_counts` says how many records have no area at the report level, and a
  report over ``settings.unassigned_warn_pct`` carries a warning (:attr:`Report.warnings`).

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
from data.schema import ABILITY_LEVELS
from data.store import Region
from geo.ages import age_at
from geo.areas import (
    LEVEL_COLUMN,
    RESIDENTS_COMMITTEE,
    UNKNOWN_COMMUNITY_TYPE,
    VILLAGE_COMMITTEE,
    ancestor,
    area_codes,
    area_list,
    area_names,
    community_types,
    level_of,
    pct,
    sums_over,
)
from geo.errors import PlanningInputError
from geo.labels import DASH, LAYER_ZH, REPORT_LEVEL_ZH, TOTAL_CODE, UNASSIGNED, mode_zh
from geo.settings import Settings
from planning.checks import check_columns_zh, provisioning_checks
from planning.coverage import (
    compared_profiles,
    group_coverage_sheet,
    in_population,
    metres_per_minute,
    profile_settings,
    region_coverage,
    walk_profile_speed,
)
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
COVERAGE_FORMULA = "社区养老服务设施覆盖率 = 拥有社区养老服务设施的居委会数 ÷ 居委会总数 × 100%"


# ---------------------------------------------------------------- the report


NO_ELDERS = "无老年人数据"
"""The note item (and warning) of a report made for a region without elders."""


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
    extra_sheets
        More (sheet name, table, Chinese headers) tables, written as extra workbook sheets and shown on
        the printable page after the annex (e.g. coverage by priority group).
    remarks
        Notes 1–6 of annex 2 as the annex words them (:func:`annex_remarks`), printed under the table.
    unassigned
        Elders and facilities without an area at level ``by`` (:func:`unassigned_counts`); None when not
        computed.
    title, coverage_formula
        The annex title and the coverage-rate formula as applied (:func:`coverage_formula`).
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
    extra_sheets: tuple[tuple[str, pd.DataFrame, Mapping[str, str]], ...] = ()
    remarks: tuple[str, ...] = ()
    unassigned: Unassigned | None = None
    title: str = ANNEX_TITLE
    coverage_formula: str = COVERAGE_FORMULA

    @property
    def fiscal_year(self) -> int:
        """The year of the "YYYY年度财政收入(万元)" header: the statistics date's."""
        return self.statistics_date.year

    @property
    def circle_rows(self) -> pd.DataFrame:
        """:attr:`circle` one row per area and facility kind (:func:`service_circle_rows`): the form the
        workbook and the printable page show."""
        return service_circle_rows(self.circle)

    @property
    def circle_rows_columns_zh(self) -> dict[str, str]:
        """Chinese headers of :attr:`circle_rows`."""
        return service_circle_rows_columns_zh(self.circle, minutes=self.minutes, mode=self.mode)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Warning lines shown on top of the workbook's first sheet and of the printable page: the
        unassigned share over the threshold, and synthetic data."""
        lines = [self.unassigned.warning_zh()] if self.unassigned is not None and self.unassigned.over else []
        return (*lines, *(f"注意：{text}" for item, text in self.notes if item in ("合成数据", NO_ELDERS)))

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
    service-circle table; the unassigned counts (:func:`unassigned_counts`) go into the notes and, over
    ``settings.unassigned_warn_pct``, into :attr:`Report.warnings`.
    """
    _check_level(by)
    day = statistics_date or dt.date.today()
    served = served_communities(region, settings=settings)
    basic = basic_situation(region, settings=settings, by=by, served=served, statistics_date=day)
    circle = service_circle_table(region, settings=settings, minutes=minutes, by=by, mode=mode,
                                  codes=basic["code"].tolist())
    checks = provisioning_checks(region, settings=settings, by=by, mode=mode)
    notes = report_notes(region, settings=settings, by=by, minutes=minutes, statistics_date=day, mode=mode)
    if region.elders.empty:  # zeros that mean "no data", not "no elders": said on top of every output
        notes.insert(0, (NO_ELDERS, "本地区没有老年人数据：老年人、高龄、失能各栏和服务圈覆盖均按 0 计，不代表实际情况；"
                                    "请先导入老年人登记表再出表"))
    return Report(basic=basic, circle=circle, checks=checks, notes=tuple(notes), area=declared_area(region),
                  statistics_date=day, by=by, minutes=minutes, mode=mode, settings=settings,
                  circle_columns_zh=service_circle_columns_zh(circle, minutes=minutes, mode=mode),
                  check_columns_zh=check_columns_zh(settings, mode), served_communities=served,
                  remarks=annex_remarks(settings=settings, statistics_date=day),
                  unassigned=unassigned_counts(region, settings=settings, by=by),
                  coverage_formula=coverage_formula(settings),
                  extra_sheets=(group_coverage_sheet(region, settings=settings, minutes=minutes, mode=mode, by=by,
                                                     codes=basic["code"].tolist()),))


# ---------------------------------------------------------------- annex definitions (notes 1–4 and 6)

DISABLED_CRITERIA_ZH: dict[str, str] = {"ability": "能力评估等级", "grade": "残疾等级", "dementia": "失智"}
"""The note-4 criteria in Chinese (:func:`disabled_elders`)."""
POPULATION_COLUMN: dict[str, str] = {"户籍": "registered", "常住": "resident"}
"""The elder flag read for each value of ``settings.annex_population`` (全部 reads none)."""


@dataclass(frozen=True, eq=False)
class AnnexElders:
    """Which elders annex 2 counts at a statistics date (notes 1–4), made by :func:`annex_elders`.

    Attributes
    ----------
    counted
        Per elder: counted in the annex — aged ``settings.elder_min_age`` or more (周岁) at the
        statistics date and of ``settings.annex_population``.
    oldest_old
        Per elder: counted and aged ``settings.oldest_old_age`` or more at the date.
    disabled
        Per elder: counted and 失能(伤残) by note 4 (:func:`disabled_elders`).
    under_age
        Elders left out as younger than ``settings.elder_min_age`` at the date.
    other_population
        Elders of age left out as not of ``settings.annex_population``.
    unknown_age
        Counted elders without a birth year (kept as elders; 80+ from their stored ``oldest_old``).
    population
        ``settings.annex_population`` (户籍, 常住 or 全部).
    population_column
        The flag read ("registered", "resident"), "" when none was (全部, or the layer lacks it).
    disabled_criteria
        The note-4 criteria applied ("ability", "grade", "dementia").
    disabled_missing
        The criteria of the settings the data could not apply (the column is absent).
    """

    counted: np.ndarray
    oldest_old: np.ndarray
    disabled: np.ndarray
    under_age: int
    other_population: int
    unknown_age: int
    population: str
    population_column: str
    disabled_criteria: tuple[str, ...]
    disabled_missing: tuple[str, ...]


def _bool_column(frame: pd.DataFrame, column: str, missing: bool) -> np.ndarray:
    """A boolean column as a numpy array, ``missing`` where NA."""
    return frame[column].astype("boolean").fillna(missing).to_numpy(dtype=bool)


def disabled_elders(elders: pd.DataFrame, *, settings: Settings) -> tuple[np.ndarray, tuple[str, ...],
                                                                           tuple[str, ...]]:
    """Annex 2 note 4, 失能(伤残) elders: any of the criteria of the settings that the data carries.

    - ``ability_code`` in ``settings.annex_disabled_ability_codes`` (default 3 重度失能, 4 完全失能 of
      GB/T 42195; 中度失能 is not counted);
    - ``disability_grade`` in ``settings.annex_disabled_grades`` (default 一级, 二级: 重度残疾);
    - ``dementia`` True, when ``settings.annex_disabled_dementia``.

    Returns
    -------
    ``(mask, applied, missing)``: per elder, disabled by at least one criterion; the criteria applied
    ("ability", "grade", "dementia"); the criteria of the settings whose column the layer lacks
    (only the others count then).
    """
    n = len(elders)
    mask = np.zeros(n, dtype=bool)
    applied: list[str] = []
    missing: list[str] = []
    wanted = {"ability": ("ability_code", bool(settings.annex_disabled_ability_codes)),
              "grade": ("disability_grade", bool(settings.annex_disabled_grades)),
              "dementia": ("dementia", settings.annex_disabled_dementia)}
    for criterion, (column, on) in wanted.items():
        if not on:
            continue
        if column not in elders:
            missing.append(criterion)
            continue
        applied.append(criterion)
        if criterion == "ability":
            codes = pd.to_numeric(elders[column], errors="coerce").to_numpy(dtype="float64")
            mask |= np.isin(codes, [float(c) for c in settings.annex_disabled_ability_codes])
        elif criterion == "grade":
            grades = elders[column].astype(object).where(elders[column].notna(), None)
            mask |= grades.isin(list(settings.annex_disabled_grades)).to_numpy(dtype=bool)
        else:
            mask |= _bool_column(elders, column, False)
    return mask, tuple(applied), tuple(missing)


def elder_ages(elders: pd.DataFrame, statistics_date: dt.date) -> np.ndarray:
    """Each elder's age in 周岁 at ``statistics_date`` (:func:`geo.ages.age_at` on ``birth_year`` and
    ``birth_month``); NaN without a birth year (all NaN without the column)."""
    n = len(elders)
    if "birth_year" not in elders:
        return np.full(n, np.nan)
    year = pd.to_numeric(elders["birth_year"], errors="coerce").astype("float64").to_numpy()
    month = (pd.to_numeric(elders["birth_month"], errors="coerce").astype("float64").to_numpy()
             if "birth_month" in elders else np.full(n, np.nan))
    return age_at(year, month, statistics_date)


def annex_elders(elders: pd.DataFrame, *, settings: Settings, statistics_date: dt.date) -> AnnexElders:
    """The elders annex 2 counts at ``statistics_date``, with its 80+ and 失能(伤残) elders.

    Note 1: ages in 周岁 at the statistics date (:func:`elder_ages`), not the ``oldest_old`` flag
    stored at import; elders younger than ``settings.elder_min_age`` then are left out; an elder
    without a birth year is kept (80+ from the stored flag). Note 2: only elders of
    ``settings.annex_population`` count — 户籍: ``registered`` True or not said; 常住: ``resident``
    True or not said; 全部: all (a missing column counts everyone). Notes 3 and 4: 80+ at the date
    (``settings.oldest_old_age``) and :func:`disabled_elders`, among the counted elders.
    """
    n = len(elders)
    age = elder_ages(elders, statistics_date)
    known = ~np.isnan(age)
    of_age = ~known | (np.nan_to_num(age, nan=0.0) >= settings.elder_min_age)
    column = POPULATION_COLUMN.get(settings.annex_population, "")
    if column and column in elders:
        of_population = _bool_column(elders, column, True)
    else:
        column, of_population = "", np.ones(n, dtype=bool)
    counted = of_age & of_population
    stored_old = _bool_column(elders, "oldest_old", False) if "oldest_old" in elders else np.zeros(n, dtype=bool)
    old = np.where(known, np.nan_to_num(age, nan=0.0) >= settings.oldest_old_age, stored_old)
    disabled, applied, missing = disabled_elders(elders, settings=settings)
    return AnnexElders(counted=counted, oldest_old=counted & old, disabled=counted & disabled,
                       under_age=int((~of_age).sum()), other_population=int((of_age & ~of_population).sum()),
                       unknown_age=int((counted & ~known).sum()), population=settings.annex_population,
                       population_column=column, disabled_criteria=applied, disabled_missing=missing)


def _annex_communities(areas: pd.DataFrame, by: ReportLevel, settings: Settings
                       ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The community codes (sorted), the area at level ``by`` each belongs to, whether note 6 counts it
    (居委会 and unknown types; 村委会 too with ``settings.annex_include_villages``), its type and the
    rule that gave the type (:func:`geo.areas.community_types`)."""
    communities, community_area = _community_areas(areas, by)
    if not communities:
        empty = np.array([], dtype=object)
        return communities, community_area, np.array([], dtype=bool), empty, empty
    rows = areas[(level_of(areas) == "community").to_numpy()]
    types, rules = community_types(rows)
    codes = rows["code"].astype(str).to_numpy()
    type_of = dict(zip(codes[::-1], types.to_numpy()[::-1], strict=True))  # reversed: the first row wins
    rule_of = dict(zip(codes[::-1], rules.to_numpy()[::-1], strict=True))
    kind = np.array([type_of[c] for c in communities], dtype=object)
    rule = np.array([rule_of[c] for c in communities], dtype=object)
    counted = np.ones(len(communities), dtype=bool) if settings.annex_include_villages \
        else kind != VILLAGE_COMMITTEE
    return communities, community_area, counted, kind, rule


def coverage_formula(settings: Settings) -> str:
    """The coverage-rate formula of note 6 as the report applies it (居委会; and 村委会 when the
    settings include villages)."""
    if settings.annex_include_villages:
        return ("社区养老服务设施覆盖率 = 拥有社区养老服务设施的居委会和村委会数 ÷ 居委会和村委会总数 × 100%"
                "（按设置计入村委会）")
    return COVERAGE_FORMULA


def annex_remarks(*, settings: Settings, statistics_date: dt.date) -> tuple[str, ...]:
    """Notes 1–6 of annex 2 as the annex words them, printed under the table ("备注：1. …").

    Only the statistics date (note 1) and the two ages (notes 2 and 3, from the settings, 60 and 80 by
    default) are filled in; the report's own explanations are on the 说明 sheet (:func:`report_notes`).
    """
    return (
        f"1. 填报数据为截至{date_zh(statistics_date)}的统计数据，空缺项请填写“0”。",
        f"2. 老年人是指{settings.elder_min_age}周岁(含)以上本地区户籍老年人。",
        f"3. 高龄老年人是指{settings.oldest_old_age}周岁(含)以上本地区户籍老年人。",
        "4. 失能(伤残)老年人是指依据《老年人能力评估》行业标准或其他标准评定的失能、失智和残疾等级为一级、二级的重度残疾老年人。",
        "5. 城镇居家和社区养老服务设施主要是指在社区中为老年人提供生活照料服务的设施，包括社区日间托养服务设施、"
        "社区全天候托养服务设施、老年餐桌服务设施及其它服务设施。",
        "6. 社区养老服务设施覆盖率= (拥有社区养老服务设施的居委会数/居委会总数) *100%。",
    )


# ---------------------------------------------------------------- unassigned records


@dataclass(frozen=True)
class Unassigned:
    """Elders and facilities without an area at the report's level (code "未归属"), by :func:`unassigned_counts`.

    ``over`` is True when either share exceeds ``warn_pct`` (``settings.unassigned_warn_pct``).
    """

    by: ReportLevel
    elders: int
    elders_total: int
    facilities: int
    facilities_total: int
    warn_pct: float

    @property
    def elders_pct(self) -> float:
        """Share of the elders without an area, %."""
        return 100.0 * self.elders / self.elders_total if self.elders_total else 0.0

    @property
    def facilities_pct(self) -> float:
        """Share of the facilities without an area, %."""
        return 100.0 * self.facilities / self.facilities_total if self.facilities_total else 0.0

    @property
    def over(self) -> bool:
        """Either share is over the threshold."""
        return self.elders_pct > self.warn_pct or self.facilities_pct > self.warn_pct

    def text_zh(self) -> str:
        """The counts in one Chinese sentence."""
        return (f"未归属到{REPORT_LEVEL_ZH[self.by]}的老年人 {self.elders} 人（共 {self.elders_total} 人，"
                f"占 {self.elders_pct:.1f}%），养老服务设施 {self.facilities} 个（共 {self.facilities_total} 个，"
                f"占 {self.facilities_pct:.1f}%）")

    def warning_zh(self) -> str:
        """The warning shown on top of the report when :attr:`over` ("" otherwise)."""
        if not self.over:
            return ""
        return (f"警告：{self.text_zh()}，超过设定的 {self.warn_pct:g}%。这些记录列在“{UNASSIGNED}”行，未计入任何"
                f"{REPORT_LEVEL_ZH[self.by]}，各地区数字偏低。请在数据中补充所属区县/街道（代码或名称）或导入区划边界后"
                "重新导入，再生成报表。")


def unassigned_counts(region: Region, *, settings: Settings, by: ReportLevel = "district") -> Unassigned:
    """How many elders and facilities of ``region`` have no area at level ``by`` (no ``district_code`` /
    ``street_code``), against ``settings.unassigned_warn_pct``."""
    _check_level(by)
    column = LEVEL_COLUMN[by]
    elders, facilities = region.elders, region.facilities
    return Unassigned(by=by, elders=int((area_codes(elders, column) == UNASSIGNED).sum()), elders_total=len(elders),
                      facilities=int((area_codes(facilities, column) == UNASSIGNED).sum()),
                      facilities_total=len(facilities), warn_pct=float(settings.unassigned_warn_pct))


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
                    served: Collection[str] | None = None, statistics_date: dt.date | None = None) -> pd.DataFrame:
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
    statistics_date
        The statistics date at which ages are computed (note 1); today when None.

    Returns
    -------
    Columns :data:`BASIC_COLUMNS`: ``code``, ``name``; ``communities`` (the communities of the area in
    ``region.areas`` that note 6 counts: 居委会, see :func:`geo.areas.community_types`, and 村委会 too
    with ``settings.annex_include_villages``), ``communities_with_facility`` (those with a community
    facility, see :func:`facility_communities`), ``coverage_rate_pct`` (their share, 1 decimal; 0
    without such communities, note 1: empty items are 0); ``fiscal_revenue_10k_yuan`` (the area's own
    value, 0 when missing); ``registered_population`` (the area's own value, else the sum of its
    communities', else 0) and ``registered_population_10k``; ``elders``, ``oldest_old`` (80+) and
    ``disabled`` (失能(伤残)) as :func:`annex_elders` counts them at the statistics date, and the same
    in 10,000s; ``institutions``, ``institution_beds``, ``institution_residents``
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

    day = statistics_date or dt.date.today()
    communities, community_area, counted, _, _ = _annex_communities(areas, by, settings)
    if served is None:
        served = served_communities(region, settings=settings)
    with_facility = counted & np.array([c in served for c in communities], dtype=bool)
    kinds = _kinds(facilities)
    is_community = np.isin(kinds, list(settings.community_facility_kinds))

    elder_code = area_codes(elders, column)
    facility_code = area_codes(facilities, column)
    codes = area_list(areas, by, elder_code, facility_code, community_area)

    def per_area(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
        return sums_over(codes, keys, values)

    table = pd.DataFrame({"code": [*codes, TOTAL_CODE],
                          "name": area_names([*codes, TOTAL_CODE], areas, unassigned=UNASSIGNED)})
    table["communities"] = per_area(community_area, counted)
    table["communities_with_facility"] = per_area(community_area, with_facility)
    table["coverage_rate_pct"] = pct(table["communities_with_facility"], table["communities"],
                                     decimals=1).fillna(0.0)  # no 居委会: 0 (note 1), said in the notes

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

    chosen = annex_elders(elders, settings=settings, statistics_date=day)
    table["elders"] = per_area(elder_code, chosen.counted)
    table["oldest_old"] = per_area(elder_code, chosen.oldest_old)
    table["disabled"] = per_area(elder_code, chosen.disabled)

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
    table.attrs.update(by=by, statistics_date=day.isoformat())
    log.info("basic situation of %s by %s at %s: %d areas, %d communities counted, %d with a community facility",
             region.name, by, day, len(codes), int(counted.sum()), int(with_facility.sum()))
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
    """Share of each area's elders within ``minutes`` of a facility of each kind present and of any kind,
    on foot under each compared walking profile.

    Counts the elders of ``settings.coverage_population`` (常住 by default; the annex table counts
    ``settings.annex_population``). On foot, coverage is computed under each profile of
    ``settings.compare_profiles`` (default 规划 3.6 km/h, GB 50180's 60 m/min, and 体弱 2.4 km/h ≈
    0.67 m/s, the measured speed of frail elders and people over 85; see
    :func:`planning.coverage.walk_profile_speed`) and shown side by side; by car (or with no compared
    profile) once, with the settings as they are.

    Parameters
    ----------
    codes
        The area rows, e.g. ``basic_situation(...)["code"]`` (a total row among them is ignored: it is
        always added last); :func:`report_codes` when None.

    Returns
    -------
    ``code``, ``name``, ``elders``, then per group g in ``["any", *kinds present in settings order]``:
    on foot with profiles p1, p2…: ``covered:g:p1``, ``covered:g:p2``…, then ``coverage_pct:g:p1``,
    ``coverage_pct:g:p2``… (1 decimal, NaN without elders); otherwise ``covered:g`` and
    ``coverage_pct:g``. Rows are the areas of :func:`basic_situation` (same order), total row last; it
    is the sum of the area rows. ``attrs``: ``by``, ``minutes``, ``mode``, ``kinds``, ``profiles``
    (profile → km/h, empty when none), ``population``, ``left_out`` (elders not counted).
    """
    rows = report_codes(region, by=by) if codes is None else [str(c) for c in codes if c != TOTAL_CODE]
    rows = [*rows, TOTAL_CODE]
    facilities, elders = region.facilities, region.elders
    kinds = kinds_in_order(facilities, settings, unknown=False)
    profiles = compared_profiles(settings) if mode == "walk" else []
    variants = [(p, profile_settings(settings, p)) for p in profiles] or [(None, settings)]
    counted = in_population(elders, settings.coverage_population)
    table = pd.DataFrame({"code": rows, "name": area_names(rows, region.areas, unassigned=UNASSIGNED)})
    counts = pd.Series(area_codes(elders, LEVEL_COLUMN[by])[counted]).value_counts()
    table["elders"] = counts.reindex(rows).fillna(0).astype(np.int64).to_numpy()
    table.loc[table["code"] == TOTAL_CODE, "elders"] = int(counted.sum())
    for group in [ANY, *kinds]:
        names = [group if p is None else f"{group}:{p}" for p, _ in variants]
        for name, (_, variant) in zip(names, variants, strict=True):
            if counted.any() and len(facilities):
                coverage, _ = region_coverage(region, settings=variant, minutes=minutes, mode=mode,
                                              kind=None if group == ANY else group, by=by)
                covered = coverage.set_index("code")["covered"].reindex(rows).fillna(0).astype(np.int64)
            else:
                covered = pd.Series(0, index=rows, dtype=np.int64)
            table[f"covered:{name}"] = covered.to_numpy()
        for name in names:
            table[f"coverage_pct:{name}"] = pct(table[f"covered:{name}"], table["elders"], decimals=1)
    table.attrs.update(by=by, minutes=minutes, mode=mode, kinds=kinds,
                       profiles={p: walk_profile_speed(settings, p) for p in profiles},
                       population=settings.coverage_population, left_out=int((~counted).sum()))
    return table


def service_circle_columns_zh(table: pd.DataFrame, *, minutes: float, mode: Mode = "walk") -> dict[str, str]:
    """Chinese headers (with units) of a :func:`service_circle_table`; a profile's columns name the
    profile and its speed: "步行15分钟内任一设施覆盖老人占比(%)（体弱 40米/分钟）"."""
    travel = f"{mode_zh(mode)}{minutes:g}分钟内"
    speeds = table.attrs.get("profiles") or {}
    out = {"code": "区划代码", "name": "名称", "elders": "老年人数(人)"}
    for column in table.columns:
        if ":" in column:
            what, group, *profile = column.split(":", 2)
            label = "任一设施" if group == ANY else group
            text = f"{travel}{label}覆盖{'老人数(人)' if what == 'covered' else '老人占比(%)'}"
            if profile:
                speed = speeds.get(profile[0])
                text += (f"（{profile[0]} {metres_per_minute(speed):.0f}米/分钟）" if speed
                         else f"（{profile[0]}）")
            out[column] = text
    return out


def service_circle_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`service_circle_table` with one row per area and facility kind ("any" first), so that the
    profiles sit side by side in a few readable columns.

    Returns
    -------
    ``code``, ``name``, ``kind`` ("任一设施" or the kind), ``elders``, then per compared profile p (or once
    without profiles) ``covered:p`` and ``coverage_pct:p`` (``covered`` and ``coverage_pct``). Rows: the
    areas of ``table`` in order, the kinds in ``table.attrs["kinds"]`` order within each.
    """
    profiles = list(table.attrs.get("profiles") or {})
    groups = [ANY, *table.attrs.get("kinds", [])]
    suffixes = [f":{p}" for p in profiles] or [""]
    parts = []
    for group in groups:
        part = table[["code", "name", "elders"]].copy()
        part.insert(2, "kind", "任一设施" if group == ANY else group)
        part["_order"] = np.arange(len(table))
        part["_group"] = groups.index(group)
        for suffix in suffixes:
            key = suffix[1:] if suffix else ""
            part[f"covered{':' + key if key else ''}"] = table[f"covered:{group}{suffix}"].to_numpy()
            part[f"coverage_pct{':' + key if key else ''}"] = table[f"coverage_pct:{group}{suffix}"].to_numpy()
        parts.append(part)
    out = pd.concat(parts, ignore_index=True).sort_values(["_order", "_group"], kind="stable")
    return out.drop(columns=["_order", "_group"]).reset_index(drop=True)


def service_circle_rows_columns_zh(table: pd.DataFrame, *, minutes: float, mode: Mode = "walk") -> dict[str, str]:
    """Chinese headers of :func:`service_circle_rows` of ``table``: "覆盖老人数(人)（规划 60米/分钟）"."""
    speeds = table.attrs.get("profiles") or {}
    travel = f"{mode_zh(mode)}{minutes:g}分钟内"
    out = {"code": "区划代码", "name": "名称", "kind": "设施类型", "elders": "老年人数(人)"}
    for p, speed in speeds.items():
        label = f"（{p} {metres_per_minute(speed):.0f}米/分钟）"
        out[f"covered:{p}"] = f"{travel}覆盖老人数(人){label}"
        out[f"coverage_pct:{p}"] = f"{travel}覆盖老人占比(%){label}"
    if not speeds:
        out["covered"] = f"{travel}覆盖老人数(人)"
        out["coverage_pct"] = f"{travel}覆盖老人占比(%)"
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


def _list_zh(items: Sequence[str], limit: int = 20) -> str:
    shown = "、".join(items[:limit])
    return shown + (f"等 {len(items)} 个" if len(items) > limit else "")


def _elders_note(chosen: AnnexElders, settings: Settings, day: dt.date) -> str:
    text = (f"按统计日期{date_zh(day)}计算周岁（按出生年月，出生月份缺失的按出生年份之差），"
            f"{settings.elder_min_age}周岁(含)以上计入（不用导入时的年龄或高龄标记）；统计日期时未满"
            f"{settings.elder_min_age}周岁的 {chosen.under_age} 人未计入。")
    if chosen.unknown_age:
        text += f"无出生年份的 {chosen.unknown_age} 人按老年人计入。"
    population = chosen.population
    if population == "全部":
        return text + "统计口径：全部老年人，不区分户籍与常住（设置 annex_population = 全部；附件2备注2为户籍老年人）。"
    flag = {"户籍": "本地户籍", "常住": "常住"}[population]
    if not chosen.population_column:
        return text + (f"统计口径：{population}老年人（设置 annex_population = {population}）；老年人数据没有“{flag}”"
                       f"标记，全部按{population}老年人计入。")
    remark = "附件2备注2" if population == "户籍" else "附件2备注2为户籍老年人"
    return text + (f"统计口径：{population}老年人（设置 annex_population = {population}，{remark}），"
                   f"即标记为{flag}或未注明的老年人；非{population}的 {chosen.other_population} 人未计入。")


def _disabled_note(chosen: AnnexElders, settings: Settings) -> str:
    parts = []
    codes = sorted(settings.annex_disabled_ability_codes)
    if codes:
        names = "、".join(ABILITY_LEVELS[c] for c in codes)
        not_counted = "、".join(ABILITY_LEVELS[c] for c in range(1, len(ABILITY_LEVELS)) if c not in codes)
        parts.append(f"能力评估为{names}（GB/T 42195-2022，能力等级代码 {'、'.join(map(str, codes))}"
                     + (f"；{not_counted}不计入" if not_counted else "") + "）")
    if settings.annex_disabled_grades:
        parts.append(f"残疾等级为{'、'.join(settings.annex_disabled_grades)}")
    if settings.annex_disabled_dementia:
        parts.append("失智")
    if not parts:
        return "设置中没有任何认定条件，失能(伤残)老年人数按 0 填报。"
    text = f"计入符合下列任一情形的老年人：{'；'.join(parts)}。"
    if chosen.disabled_missing:
        missing = "、".join(f"“{DISABLED_CRITERIA_ZH[c]}”" for c in chosen.disabled_missing)
        applied = "、".join(f"“{DISABLED_CRITERIA_ZH[c]}”" for c in chosen.disabled_criteria)
        text += (f"本地区老年人数据没有{missing}字段，" + (f"只按{applied}认定" if applied else "无法认定，按 0 填报")
                 + "，实际人数可能更多。")
    return text


def _communities_note(region: Region, settings: Settings, by: ReportLevel) -> list[tuple[str, str]]:
    areas = region.areas
    has = len(areas) > 0 and "code" in areas
    rows_ = areas[(level_of(areas) == "community").to_numpy()] if has else pd.DataFrame({"code": []})
    types, rules = community_types(rows_)

    def n(kind: str, rule: str | None = None) -> int:
        return int(((types == kind) & ((rules == rule) if rule else True)).sum())

    text = ("居委会与村委会按区划数据的“村居类型”列区分；未填类型的按12位区划代码末三位（统计用区划代码规则："
            f"001–199 为居委会，200–399 为村委会）区分。本地区共有社区 {len(rows_)} 个：居委会 "
            f"{n(RESIDENTS_COMMITTEE)} 个（按类型列 {n(RESIDENTS_COMMITTEE, 'column')} 个、按代码规则 "
            f"{n(RESIDENTS_COMMITTEE, 'code')} 个），村委会 {n(VILLAGE_COMMITTEE)} 个（按类型列 "
            f"{n(VILLAGE_COMMITTEE, 'column')} 个、按代码规则 {n(VILLAGE_COMMITTEE, 'code')} 个）")
    unknown = types == UNKNOWN_COMMUNITY_TYPE
    if unknown.any():
        names = [f"{name}（{code}）" for code, name in zip(rows_.loc[unknown, "code"].astype(str),
                                                         rows_.loc[unknown, "name"].astype(str), strict=True)]
        text += f"，类型无法判断的 {int(unknown.sum())} 个（{_list_zh(names)}），按居委会计入"
    if settings.annex_include_villages:
        text += "。按设置（annex_include_villages）村委会也计入“所辖社区数”和覆盖率（附件2备注6只计居委会）。"
    else:
        text += "。“所辖社区数”和覆盖率只计居委会（附件2备注6），村委会不计入。"
    out = [("社区类型（备注6）", text)]
    communities, community_area, counted, _, _ = _annex_communities(areas, by, settings)
    with_counted = set(community_area[counted]) if len(communities) else set()
    empty = [c for c in report_codes(region, by=by) if c != UNASSIGNED and c not in with_counted]
    if empty:
        names = [f"{name or code}" for code, name in zip(empty, area_names(empty, areas), strict=True)]
        what = "居委会或村委会" if settings.annex_include_villages else "居委会"
        out.append(("覆盖率为 0 的地区", f"{_list_zh(names)}没有所辖{what}，覆盖率按空缺项填 0（附件2备注1），"
                                   "不表示有居委会而没有设施。"))
    return out


def _differences(settings: Settings) -> list[str]:
    """The settings that make the table differ from the annex's definitions."""
    default = Settings()
    out = []
    if settings.annex_population != "户籍":
        out.append(f"老年人按{settings.annex_population}统计（备注2、3为户籍老年人）")
    if settings.annex_include_villages:
        out.append("覆盖率计入村委会（备注6只计居委会）")
    if (tuple(sorted(settings.annex_disabled_ability_codes)) != default.annex_disabled_ability_codes
            or tuple(settings.annex_disabled_grades) != default.annex_disabled_grades
            or not settings.annex_disabled_dementia):
        out.append("失能(伤残)的认定条件与备注4不同")
    if settings.elder_min_age != 60 or settings.oldest_old_age != 80:
        out.append(f"老年人、高龄老年人的起始年龄为 {settings.elder_min_age}、{settings.oldest_old_age} 周岁"
                   "（附件2为 60、80 周岁）")
    return out


def report_notes(region: Region, *, settings: Settings, by: ReportLevel, minutes: float,
                 statistics_date: dt.date, mode: Mode = "walk") -> list[tuple[str, str]]:
    """The 说明 sheet: (item, text) rows in Chinese — how each figure was counted (the definitions the
    annex's notes 1–6 leave to the filer, with the counts left out), parameters, date, sources, record
    counts. The notes themselves, as the annex words them, are :func:`annex_remarks`."""
    m = region.manifest
    speed = settings.walk_speed_kmh
    travel = mode_zh(mode)
    home_care = f"{'、'.join(settings.home_care_kinds)}不计入。" if settings.home_care_kinds else ""
    chosen = annex_elders(region.elders, settings=settings, statistics_date=statistics_date)
    lost = unassigned_counts(region, settings=settings, by=by)
    rows: list[tuple[str, str]] = [
        ("申报地区", declared_area(region)),
        ("地区数据", f"{region.name}（版本 {region.version}）"),
        ("统计日期", f"{date_zh(statistics_date)}（年龄按该日计算；财政收入栏为 {statistics_date.year} 年度）"),
        ("生成时间", dt.datetime.now().strftime("%Y-%m-%d %H:%M")),
        ("汇总层级", f"按{REPORT_LEVEL_ZH[by]}汇总，最后一行“合计”为全部地区，等于各行之和（覆盖率按合计数重新计算）"),
        ("表格格式", "基本情况表按附件2原表格式，编号 1–14 的栏目不变；最左侧不编号的“地区”列标明每行的区县/街道"
                 f"（“{UNASSIGNED}”行为没有所属区域的记录）。表下“备注”为附件2原文（统计日期和年龄按本表设置填入），"
                 "本页为本表的统计口径说明。"),
    ]
    different = _differences(settings)
    if different:
        rows.append(("与附件2口径不同", f"本表按设置：{'；'.join(different)}。正式申报前请确认。"))
    rows += [
        ("老年人（备注1、2）", _elders_note(chosen, settings, statistics_date)),
        ("高龄老年人（备注3）", f"统计日期时{settings.oldest_old_age}周岁(含)以上的计入老年人"
                        + ("；无出生年份的按导入时的高龄标记。" if chosen.unknown_age else "。")),
        ("失能(伤残)老年人（备注4）", _disabled_note(chosen, settings)),
        ("机构养老", f"类型为{_kinds_zh(settings.institution_kinds)}的设施的机构数、床位总数和入住（在住）老年人数。"),
        ("社区养老设施（备注5）", "社区养老设施指在社区内为老年人提供日间照料、全托、助餐及其他服务的设施；本表计入类型为"
                          + "、".join(settings.community_facility_kinds) + "的设施" + ("，" if home_care else "。")
                          + home_care + "床位数为其床位总数，养老服务老年人人数为其登记的服务老人数。"),
        ("覆盖率（备注6）", coverage_formula(settings) + "。“所辖社区数”即其分母。"),
        *_communities_note(region, settings, by),
        ("社区设施归属", "社区是否有社区养老服务设施：设施登记了某社区的社区代码，即计入该社区（代码与坐标所在社区不一致时"
                   "以代码为准）；未登记社区代码的设施，计入其坐标所在的社区边界。同一社区有多处设施只计一次。"),
        ("空缺项", "按附件2备注1，空缺项填 0：没有数据的项目和没有所辖居委会的地区的覆盖率都填 0。"),
        ("归属口径", "老年人和设施的区县/街道/社区：导入时依次取文件所填代码、所属区县/街道/社区名称（与区划数据"
                 "匹配）、坐标所在的最细一级边界；社区按上级区划代码（缺失时按社区代码前 9/6 位）归属街道/区县；"
                 f"都没有的记为“{UNASSIGNED}”。"),
        ("未归属", lost.text_zh() + (f"，超过设定的 {lost.warn_pct:g}%，报表顶部有警告。" if lost.over
                                    else f"，未超过设定的 {lost.warn_pct:g}%。")),
        ("户籍人口", "取区划数据中该区域的户籍人口；缺失时取其所辖社区户籍人口之和；均缺失按 0。"),
        ("财政收入", f"取区划数据中该区域的财政收入（万元），作为 {statistics_date.year} 年度数；缺失按 0。"),
        ("服务圈覆盖", f"沿道路网计算老年人住址到最近设施的{travel}时间，{minutes:g} 分钟内可达的老年人"
                  f"占比；步行速度 {speed:g} 公里/小时（{speed * 1000 / 60:.0f} 米/分钟），"
                  f"生活圈分级 {'/'.join(f'{x:g}' for x in settings.circle_minutes)} 分钟（GB 50180-2018）。"
                  + ("步行时另按" + "、".join(f"“{p}”{v:g} 公里/小时（{v * 1000 / 60:.0f} 米/分钟）"
                                           for p, v in settings.walk_profiles if p in settings.compare_profiles)
                     + "并列计算：规划速度取 GB 50180-2018 的 60 米/分钟，老年人步速实测均值约 0.8 米/秒，"
                     "体弱及 85 岁以上老人约 0.64–0.71 米/秒。" if mode == "walk" and settings.compare_profiles else "")
                  + f"覆盖分析计入{settings.coverage_population}老年人（未标注户籍/常住的视为两者皆是）。"
                  + (f"居家上门服务商不按到访计算：声明服务区域的，区域内老人计为覆盖；未声明的，按服务商驾车 "
                     f"{settings.home_care_drive_minutes:g} 分钟内可达计为覆盖；“任一设施”不含居家上门服务商。"
                     if settings.home_care_kinds else "")),
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


__all__ = ["ANNEX_TITLE", "ANY", "BASIC_COLUMNS", "COVERAGE_FORMULA", "DASH", "AnnexElders", "Report", "ReportLevel",
           "Unassigned", "annex_elders", "annex_remarks", "basic_situation", "build_report", "coverage_formula",
           "date_zh", "declared_area", "disabled_elders", "elder_ages", "facility_communities", "report_codes",
           "report_notes", "served_communities", "service_circle_columns_zh", "service_circle_rows",
           "service_circle_rows_columns_zh", "service_circle_table", "total_line", "unassigned_counts"]
