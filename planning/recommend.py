"""Needs matching and recommendations for elders and families (精准匹配、精准推介).

From a starting point (home, or a child's home) and a short needs form, every facility is either
*left out* — with the plain reason why (it cannot take the stated ability level, has no free bed,
costs more than the budget, is too far) — or *ranked* by fit and network travel time, each with a
one-line reason such as "步行8分钟 · 提供助餐、日间照料 · 空余床位3张 · 四级机构".

Rules (GB/T 42195-2022 ability levels 0 能力完好 … 4 完全失能):

- **Living in** (入住) needs a facility offering 长期托养 or 短期托养 with beds.
- **Moderate to complete disability** (levels 2–4) living in needs nursing-type beds (护理型床位).
- **Severe or complete disability** (levels 3–4) is not served by the kinds of
  ``settings.day_visit_kinds`` (day-care centres, meal points, community stations: they serve elders
  who can come and go); institutions with nursing beds and home-care providers can serve them.
- **Budget**: left out when the facility's lowest monthly fee exceeds it; unknown fees are kept and
  said to be unknown.
- **Free bed** (when asked for): left out without one.
- **Travel**: left out beyond the chosen minutes.
- **Home-care providers** (``settings.home_care_kinds``) come to the home: they are never ranked by
  walking or driving to them. Those that serve the starting point (its declared service area holds
  it, or it is within ``settings.home_care_drive_minutes`` minutes' drive of a provider without one:
  :func:`planning.home_care.serving_point`) are listed apart, in :attr:`Recommendation.home_care`
  (可上门服务), with the same needs rules and a reason such as "上门服务 · 服务区域包含此处 · 提供助浴";
  the others are counted in a note.
- Wanted services are soft: more of them offered ranks higher, and the reason says which are missing.
- **Service ratings** (服务评价, optional ``ratings``: :func:`desk.ratings.rate_providers`' ``provider_id``,
  ``score`` 0–5 and ``followups``): a rating counts when it rests on at least
  ``settings.recommend_rating_min_followups`` follow-ups. Then it moves the facility's score by
  ``100 × settings.recommend_rating_weight × (rating − r̄) / 5`` (kept within 0–100), r̄ being the mean of the
  counted ratings — a provider without a counted rating stays where it was, as an average one would — and
  the reason says "服务评价 4.6 分（32 次回访）" next to the grade. With no counted rating, nothing changes.

All inputs are public facility fields and providers' aggregate ratings; no elder record is read.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from data.schema import ABILITY_LEVELS
from geo.errors import PlanningInputError
from geo.labels import GRADE_ZH, MODE_ZH
from geo.settings import Settings
from planning.incremental import single_catchment
from planning.network import Network, Snap, snap_lonlat

log = logging.getLogger(__name__)

RESIDENTIAL_SERVICES = ("长期托养", "短期托养")
NURSING_SERVICES = ("康复护理", "医养结合")


@dataclass(frozen=True)
class Needs:
    """What an elder (or the family) asks for.

    Attributes
    ----------
    ability_code
        GB/T 42195 level 0–4 (None: not stated).
    services
        Wanted services (tags from ``settings.service_tags``).
    residential
        Wants to live in (入住) rather than visit or be visited.
    budget_yuan_month
        Highest monthly fee the family can pay, yuan (None: no limit).
    need_free_bed
        Only facilities with a free bed now.
    need_nursing_bed
        Only facilities with nursing-type beds (护理型床位).
    kinds, natures
        Only these facility kinds / natures (empty: all).
    min_grade
        Lowest institution grade (1–5) accepted (None: any, ungraded included).
    max_minutes, mode
        Travel limit from the starting point, minutes, walking or driving.
    """

    ability_code: int | None = None
    services: tuple[str, ...] = ()
    residential: bool = False
    budget_yuan_month: float | None = None
    need_free_bed: bool = False
    need_nursing_bed: bool = False
    kinds: tuple[str, ...] = ()
    natures: tuple[str, ...] = ()
    min_grade: int | None = None
    max_minutes: float = 15.0
    mode: str = "walk"

    def __post_init__(self) -> None:
        if self.ability_code is not None and self.ability_code not in range(5):
            raise PlanningInputError("能力等级应为 0（能力完好）到 4（完全失能）", f"bad ability_code {self.ability_code}")
        if self.max_minutes <= 0:
            raise PlanningInputError("出行时间上限应大于 0 分钟", f"bad max_minutes {self.max_minutes}")
        if self.mode not in MODE_ZH:
            raise PlanningInputError("出行方式应为步行或驾车", f"bad mode {self.mode!r}")
        if self.budget_yuan_month is not None and self.budget_yuan_month < 0:
            raise PlanningInputError("预算不能为负", "negative budget")


@dataclass(frozen=True)
class Recommendation:
    """Ranked facilities, the ones left out with reasons, and counts for the page.

    ``ranked``: ``id``, ``name``, ``kind``, ``travel_min``, ``score`` (0–100), ``matched``
    (wanted services offered), ``missing`` (wanted, not offered), ``reason``; best first.
    ``rating`` (0–5) and ``rating_followups``: the counted service rating (None without one).
    ``excluded``: ``id``, ``name``, ``kind``, ``travel_min``, ``why`` (every rule it fails).
    ``filtered_out``: facilities hidden by the user's own filters (kind, nature, grade).
    ``notes``: lines for the page (facilities beyond the travel limit, an origin off the network).
    ``home_care``: home-care providers serving the starting point that meet the needs (可上门服务):
    ``id``, ``name``, ``kind``, ``basis`` ("area"/"drive"), ``drive_min``, ``score``, ``matched``,
    ``missing``, ``how`` ("服务区域包含此处" / "车程约 N 分钟"), ``reason``, ``rating`` and ``rating_followups``;
    best first.
    """

    ranked: pd.DataFrame
    excluded: pd.DataFrame
    filtered_out: int
    origin_snapped: bool
    notes: list[str] = field(default_factory=list)
    home_care: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HOME_CARE_COLUMNS))


HOME_CARE_COLUMNS = ["id", "name", "kind", "basis", "drive_min", "score", "matched", "missing", "how", "reason",
                     "rating", "rating_followups"]
"""Columns of :attr:`Recommendation.home_care`."""
RANKED_COLUMNS = ["id", "name", "kind", "travel_min", "score", "matched", "missing", "reason", "rating",
                  "rating_followups"]
"""Columns of :attr:`Recommendation.ranked`."""
EXCLUDED_COLUMNS = ["id", "name", "kind", "travel_min", "why"]
"""Columns of :attr:`Recommendation.excluded`."""


def counted_ratings(ratings: pd.DataFrame | None, *, min_followups: int) -> dict[str, tuple[float, int]]:
    """``{facility id: (score 0–5, follow-ups)}`` of the rows of ``ratings`` (:func:`desk.ratings.rate_providers`:
    ``provider_id`` — or ``id`` — , ``score``, ``followups``) resting on at least ``min_followups`` follow-ups
    with a finite score; the others are left out (shown as "暂无评价")."""
    if ratings is None or not len(ratings):
        return {}
    id_column = "provider_id" if "provider_id" in ratings.columns else "id"
    missing = [c for c in (id_column, "score", "followups") if c not in ratings.columns]
    if missing:
        raise PlanningInputError("服务评价表缺少列：" + "、".join(missing), f"ratings lack columns {missing}")
    scores = pd.to_numeric(ratings["score"], errors="coerce").to_numpy(dtype=float)
    counts = pd.to_numeric(ratings["followups"], errors="coerce").fillna(0).to_numpy(dtype=float)
    keep = np.isfinite(scores) & (counts >= min_followups)
    ids = ratings[id_column].astype(str).to_numpy()
    return {str(i): (float(sc), int(n)) for i, sc, n in zip(ids[keep], scores[keep], counts[keep], strict=True)}


def rating_reason_zh(score: float, followups: int) -> str:
    """"服务评价 4.6 分（32 次回访）", the part of a recommendation's reason that names its rating."""
    return f"服务评价 {score:.1f} 分（{int(followups)} 次回访）"


def _services_of(value: object) -> set[str]:
    if isinstance(value, str):
        return {s for s in value.replace(",", "、").split("、") if s}
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return set()
    return {str(s) for s in value}


def _int_or_none(value: object) -> int | None:
    try:
        return None if pd.isna(value) else int(value)
    except (TypeError, ValueError):
        return None


def _float_or_nan(value: object) -> float:
    try:
        return float(value) if not pd.isna(value) else np.nan
    except (TypeError, ValueError):
        return np.nan


def travel_minutes(network: Network, facility_snap: Snap, origin: tuple[float, float], *, settings: Settings,
                   max_minutes: float) -> tuple[np.ndarray, bool]:
    """Minutes from ``origin`` (lon, lat) to every facility over the network (inf beyond ``max_minutes``),
    and whether the origin could be snapped (within ``settings.snap_limit_m`` of a road)."""
    source = snap_lonlat(network, origin[0], origin[1], settings=settings)
    minutes = np.full(len(facility_snap), np.inf)
    if not source.snapped[0]:
        return minutes, False
    rows, times = single_catchment(network, source, facility_snap, cutoff_min=max_minutes)
    minutes[rows] = times
    return minutes, True


_MATCH_FIELDS = ("id", "name", "kind", "grade", "nature", "services", "beds_total", "beds_nursing", "beds_free",
                 "price_min_yuan_month", "price_max_yuan_month")


_PLAIN: dict[int, tuple[weakref.ref, int, dict[str, np.ndarray]]] = {}


def _plain_columns(facilities: pd.DataFrame) -> dict[str, np.ndarray]:
    """The fields :func:`match` reads, as NumPy object arrays, made once per facilities frame (a loaded
    region's layers are never changed in place; a scenario's facilities are a new frame). Reading Arrow-backed
    text through pandas row by row costs far more than the whole recommendation otherwise."""
    key = id(facilities)
    hit = _PLAIN.get(key)
    if hit is not None and hit[0]() is facilities and hit[1] == len(facilities):
        return hit[2]
    columns = {c: _object_array(facilities[c].tolist()) for c in _MATCH_FIELDS if c in facilities.columns}
    columns["_kind"] = (facilities["kind"].astype(str).to_numpy(dtype=object) if "kind" in facilities
                        else np.full(len(facilities), "", dtype=object))
    columns["_id"] = (facilities["id"].astype(str).to_numpy(dtype=object) if "id" in facilities
                      else np.full(len(facilities), "", dtype=object))
    for dead in [k for k, (ref, _, _) in _PLAIN.items() if ref() is None]:
        del _PLAIN[dead]
    _PLAIN[key] = (weakref.ref(facilities), len(facilities), columns)
    return columns


def _object_array(values: list[object]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)  # never 2-D, whatever the values (lists of services, say)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _row_dicts(columns: dict[str, np.ndarray], positions: np.ndarray) -> list[dict[str, object]]:
    """The fields :func:`match` reads of the rows at ``positions``, as plain dicts."""
    fields = [c for c in _MATCH_FIELDS if c in columns]
    picked = [columns[c][positions] for c in fields]
    return [dict(zip(fields, values, strict=True)) for values in zip(*picked, strict=True)]


def match(facilities: pd.DataFrame, needs: Needs, travel_min: np.ndarray, *, settings: Settings,
          home_care: pd.DataFrame | None = None, ratings: pd.DataFrame | None = None) -> Recommendation:
    """Apply the rules of this module to facilities (public fields) and travel times; rank the rest.

    The kinds that come to the home and the kinds serving only elders who can come and go are
    ``settings.home_care_kinds`` and ``settings.day_visit_kinds``. ``home_care``: the providers that
    serve the starting point (:func:`planning.home_care.serving_point`: ``id``, ``basis``,
    ``drive_min``, ``reason``); home-care providers are never ranked with the others, and without
    ``home_care`` none is listed. ``ratings``: providers' service ratings (:func:`counted_ratings`; the rule in
    this module's docstring); None or no counted rating: ranked as without.
    """
    return _frames(_match_rows(facilities, needs, travel_min, settings=settings, home_care=home_care,
                               ratings=ratings))


@dataclass(frozen=True)
class RecommendationRows:
    """:class:`Recommendation` as plain lists of dicts (the rows of its frames, in their order; NaN where a
    frame has NaN, None for a missing rating), for a service answering many requests a second, where building
    and sorting small frames costs more than the ranking itself."""

    ranked: list[dict[str, object]]
    excluded: list[dict[str, object]]
    filtered_out: int
    origin_snapped: bool
    notes: list[str]
    home_care: list[dict[str, object]]


def _frames(rows: RecommendationRows) -> Recommendation:
    return Recommendation(_with_rating_columns(pd.DataFrame(rows.ranked, columns=RANKED_COLUMNS)),
                          pd.DataFrame(rows.excluded, columns=EXCLUDED_COLUMNS), rows.filtered_out,
                          rows.origin_snapped, rows.notes,
                          _with_rating_columns(pd.DataFrame(rows.home_care, columns=HOME_CARE_COLUMNS)))


def _nan_key(value: object, *, nan_first: bool) -> tuple[bool, float]:
    v = float(value)  # type: ignore[arg-type]
    if np.isnan(v):
        return (not nan_first, 0.0)
    return (nan_first, v)


def _match_rows(facilities: pd.DataFrame, needs: Needs, travel_min: np.ndarray, *, settings: Settings,
                home_care: pd.DataFrame | None = None, ratings: pd.DataFrame | None = None) -> RecommendationRows:
    """:func:`match` on plain rows: ranked by score, then travel time (NaN last); home-care providers by score,
    then drive time (NaN, a declared area, first); both sorts stable."""
    if len(travel_min) != len(facilities):
        raise PlanningInputError("出行时间个数与设施数不一致", "travel_min does not align with facilities")
    mode_zh = MODE_ZH[needs.mode]
    wanted = list(dict.fromkeys(needs.services))
    ranked, excluded, visiting = [], [], []
    filtered = 0
    level = needs.ability_code
    plain = _plain_columns(facilities)
    kinds = plain["_kind"]
    home_care_kinds, day_visit_kinds = set(settings.home_care_kinds), set(settings.day_visit_kinds)
    is_home_care = np.isin(kinds, list(home_care_kinds))
    serving = ({} if home_care is None or not len(home_care) else
               {str(r["id"]): r for r in _frame_records(home_care)})
    ids = plain["_id"]
    rated = counted_ratings(ratings, min_followups=settings.recommend_rating_min_followups)
    mean_rating = float(np.mean([r for r, _ in rated.values()])) if rated else np.nan
    serves = is_home_care & np.isin(ids, list(serving))
    reachable = (np.isfinite(travel_min) & ~is_home_care) | serves
    too_far = int((~reachable & ~is_home_care).sum())  # beyond the travel limit: counted, not listed one by one
    not_serving = int((is_home_care & ~serves).sum())
    positions = np.flatnonzero(reachable)
    rows = _row_dicts(plain, positions)
    for position, f in zip(positions, rows, strict=True):
        t = travel_min[position]
        kind = str(f.get("kind", ""))
        grade = _int_or_none(f.get("grade"))
        if ((needs.kinds and kind not in needs.kinds) or (needs.natures and str(f.get("nature")) not in needs.natures)
                or (needs.min_grade is not None and (grade is None or grade < needs.min_grade))):
            filtered += 1
            continue
        services = _services_of(f.get("services"))
        beds_total = _int_or_none(f.get("beds_total")) or 0
        beds_nursing = _int_or_none(f.get("beds_nursing")) or 0
        beds_free = _int_or_none(f.get("beds_free"))
        price_min = _float_or_nan(f.get("price_min_yuan_month"))
        price_max = _float_or_nan(f.get("price_max_yuan_month"))
        comes_home = kind in home_care_kinds
        why = []
        residential_ok = bool(services & set(RESIDENTIAL_SERVICES)) and beds_total > 0
        if needs.residential and not residential_ok:
            why.append("不提供入住（托养）服务")
        if level is not None and level >= 2 and needs.residential and residential_ok and beds_nursing <= 0:
            why.append(f"没有护理型床位，不能接收{ABILITY_LEVELS[level]}老人入住")
        if level is not None and level >= 3 and kind in day_visit_kinds:
            why.append(f"{kind}服务能自行往来的老人，{ABILITY_LEVELS[level]}老人建议选择有护理型床位的机构或上门服务")
        if needs.budget_yuan_month is not None and not np.isnan(price_min) and price_min > needs.budget_yuan_month:
            why.append(f"月收费最低 {price_min:,.0f} 元，超出预算 {needs.budget_yuan_month:,.0f} 元")
        if needs.need_free_bed and (beds_free is None or beds_free <= 0):
            why.append("暂无空余床位")
        if needs.need_nursing_bed and beds_nursing <= 0:
            why.append("没有护理型床位")
        reach = serving.get(str(f.get("id"))) if comes_home else None
        if comes_home:
            t = float(reach["drive_min"]) if reach is not None and pd.notna(reach["drive_min"]) else np.nan
        record = {"id": str(f.get("id")), "name": str(f.get("name")), "kind": kind,
                  "travel_min": np.nan if comes_home else (round(float(t), 1) if np.isfinite(t) else np.nan)}
        if why:
            excluded.append({**record, "why": "；".join(why)})
            continue
        matched = [s for s in wanted if s in services]
        missing = [s for s in wanted if s not in services]
        service_fit = len(matched) / len(wanted) if wanted else 1.0
        if comes_home:  # declared area: as good as next door; by car: nearer is better
            time_fit = 1.0 - min(t / settings.home_care_drive_minutes, 1.0) if np.isfinite(t) else 1.0
        else:
            time_fit = 1.0 - min(float(t) / needs.max_minutes, 1.0) if np.isfinite(t) else 0.5
        grade_fit = grade / 5.0 if grade else 0.5
        bed_fit = (1.0 if (beds_free or 0) > 0 else 0.0) if needs.residential else 0.5
        score = 100.0 * (0.45 * service_fit + 0.35 * time_fit + 0.10 * grade_fit + 0.10 * bed_fit)
        rating = rated.get(record["id"])
        if rating is not None:  # better or worse than the mean rated provider: up or down
            score = min(100.0, max(0.0, score + 100.0 * settings.recommend_rating_weight
                                   * (rating[0] - mean_rating) / 5.0))
        parts = []
        how = str(reach["reason"]) if reach is not None else ""
        if comes_home:
            parts.append("上门服务" + (f" · {how}" if how else ""))
        else:
            parts.append(f"{mode_zh}{max(t, 1):.0f}分钟")
        offered = matched or sorted(services, key=lambda s: (s not in RESIDENTIAL_SERVICES, s))[:3]
        if offered:
            parts.append("提供" + "、".join(offered))
        if missing:
            parts.append("不提供" + "、".join(missing))
        if needs.residential or beds_total > 0:
            if beds_free is not None and beds_free > 0:
                parts.append(f"空余床位{beds_free}张")
            elif beds_total > 0:
                parts.append("床位已满")
        if level is not None and level >= 2 and beds_nursing > 0:
            parts.append(f"护理型床位{beds_nursing}张")
        if grade:
            parts.append(f"{GRADE_ZH.get(grade, str(grade))}机构")
        if rating is not None:
            parts.append(rating_reason_zh(*rating))
        if not np.isnan(price_min):
            parts.append(f"月收费{price_min:,.0f}" + (f"–{price_max:,.0f}" if not np.isnan(price_max) and price_max > price_min
                                                   else "") + "元")
        elif needs.budget_yuan_month is not None:
            parts.append("收费未公布")
        row = {**record, "score": round(score, 1), "matched": "、".join(matched), "missing": "、".join(missing),
               "reason": " · ".join(parts), "rating": None if rating is None else round(rating[0], 2),
               "rating_followups": None if rating is None else rating[1]}
        if comes_home:
            visiting.append({**row, "basis": reach["basis"], "drive_min": t, "how": how})
        else:
            ranked.append(row)
    ranked.sort(key=lambda r: (-float(r["score"]), *_nan_key(r["travel_min"], nan_first=False)))
    visiting.sort(key=lambda r: (-float(r["score"]), *_nan_key(r["drive_min"], nan_first=True)))
    notes = [f"另有 {too_far} 家超出{mode_zh} {needs.max_minutes:g} 分钟，未列出"] if too_far else []
    if home_care is not None and not_serving:
        notes.append(f"另有 {not_serving} 家上门服务商的服务范围不含此处，未列出")
    return RecommendationRows(ranked, excluded, filtered, True, notes, visiting)


def _frame_records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """``frame.to_dict("records")``, column by column (much cheaper on a few rows)."""
    names = list(frame.columns)
    return [dict(zip(names, values, strict=True))
            for values in zip(*(frame[c].tolist() for c in names), strict=True)]


def _with_rating_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``rating`` as floats (NaN: none) and ``rating_followups`` as nullable integers."""
    return frame.assign(rating=pd.to_numeric(frame["rating"], errors="coerce").astype(float),
                        rating_followups=pd.to_numeric(frame["rating_followups"], errors="coerce").astype("Int64"))


def recommend(facilities: gpd.GeoDataFrame, needs: Needs, *, network: Network, facility_snap: Snap,
              origin: tuple[float, float], settings: Settings, limit: int | None = 10,
              home_care: pd.DataFrame | None = None, ratings: pd.DataFrame | None = None) -> Recommendation:
    """Travel times from ``origin`` (lon, lat), then :func:`match`; at most ``limit`` ranked rows.

    ``home_care``: the providers serving ``origin`` (:func:`planning.home_care.serving_point`); ``ratings``:
    providers' service ratings (:func:`desk.ratings.rate_providers`; :func:`match`).
    """
    return _frames(recommend_rows(facilities, needs, network=network, facility_snap=facility_snap, origin=origin,
                                  settings=settings, limit=limit, home_care=home_care, ratings=ratings))


def recommend_rows(facilities: gpd.GeoDataFrame, needs: Needs, *, network: Network, facility_snap: Snap,
                   origin: tuple[float, float], settings: Settings, limit: int | None = 10,
                   home_care: pd.DataFrame | None = None, ratings: pd.DataFrame | None = None) -> RecommendationRows:
    """:func:`recommend` as plain rows (:class:`RecommendationRows`): the same answer without building frames."""
    minutes, snapped = travel_minutes(network, facility_snap, origin, settings=settings, max_minutes=needs.max_minutes)
    result = _match_rows(facilities, needs, minutes, settings=settings, home_care=home_care, ratings=ratings)
    notes = list(result.notes)
    if not snapped:
        notes.append(f"起点距最近道路超过 {settings.snap_limit_m:g} 米，无法计算出行时间；请在地图上选一个靠近道路的位置")
    ranked = result.ranked if limit is None else result.ranked[:max(int(limit), 0)]
    return RecommendationRows(ranked, result.excluded, result.filtered_out, snapped, notes, result.home_care)


def needs_summary_zh(needs: Needs, services: Sequence[str] = ()) -> str:
    """The needs in one Chinese line, to repeat back above the results."""
    parts = [f"{MODE_ZH[needs.mode]} {needs.max_minutes:g} 分钟内"]
    if needs.ability_code is not None:
        parts.append(ABILITY_LEVELS[needs.ability_code])
    parts.append("需要入住" if needs.residential else "不入住")
    if needs.services:
        parts.append("需要" + "、".join(needs.services))
    if needs.budget_yuan_month is not None:
        parts.append(f"月预算 {needs.budget_yuan_month:,.0f} 元以内")
    if needs.need_free_bed:
        parts.append("要有空余床位")
    if needs.need_nursing_bed:
        parts.append("要有护理型床位")
    return "；".join(parts)
