"""Gaps in the service circle: where elders are left outside it, ranked by need.

An elder outside the circle (no facility of the chosen kind within ``minutes``) counts 1, plus
``settings.gap_weight_80plus`` when aged 80+, ``gap_weight_disabled`` when moderately to completely
disabled (ability codes 2–4), and the weight of each priority group it is in
(``settings.gap_group_weights``, default 独居 0.5; any priority group can be weighted: the planner
page and ``--weight 特困=1`` replace that table through :func:`with_group_weights`). Cells (H3) and
communities are ranked by that weighted count; each gets a short reason in Chinese naming the 80+,
disabled and weighted-group elders among those outside the circle.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from data.schema import GROUP_ALIASES, SPECIAL_GROUPS
from data.store import Region
from geo import hexes
from geo.areas import area_key, area_names, point_cells
from geo.errors import PlanningInputError
from geo.labels import GAP_COLUMNS_ZH, mode_zh
from geo.settings import Settings
from planning.coverage import ANY, elder_access, elder_flags, elder_snap_for, group_members, in_population, network_for
from planning.home_care import gap_reasons_zh, home_care_reach
from planning.network import Mode

log = logging.getLogger(__name__)


def elders_in_group(elders: pd.DataFrame, group: str) -> np.ndarray:
    """True for the elders whose ``groups`` list holds ``group`` (all False without the column)."""
    return group_members(elders, [group])[group]


def elder_need(elders: gpd.GeoDataFrame, settings: Settings) -> pd.DataFrame:
    """Need of every elder, for gap ranking and weighted siting.

    Returns
    -------
    Per elder (same index as ``elders``): ``oldest_old``, ``disabled`` (ability codes 2–4), ``alone``
    (独居), ``counted`` (in ``settings.coverage_population``: :func:`planning.coverage.in_population`),
    ``weight`` (1 plus ``gap_weight_80plus``, ``gap_weight_disabled`` and the weight of each group of
    ``settings.gap_group_weights`` that applies; it does not look at ``counted``) and, for each group
    with a positive weight but 独居 (that is ``alone``), ``group:<group>`` (bool): the weighted groups
    that reasons name.
    """
    old, disabled = elder_flags(elders)
    table = settings.group_weight_table()
    members = group_members(elders, list(dict.fromkeys(["独居", *table])))
    weight = 1.0 + settings.gap_weight_80plus * old + settings.gap_weight_disabled * disabled
    for group, extra in table.items():
        weight = weight + extra * members[group]
    out = {"oldest_old": old, "disabled": disabled, "alone": members["独居"],
           "counted": in_population(elders, settings.coverage_population), "weight": weight}
    out.update({f"group:{g}": members[g] for g, extra in table.items() if extra > 0 and g != "独居"})
    return pd.DataFrame(out, index=elders.index)


def parse_group_weights(texts: Sequence[str]) -> dict[str, float]:
    """Group weights written as "特困=1" (also "特困:1", "特困＝1"), e.g. from ``--weight``.

    Group names may be written as the aliases of :data:`data.schema.GROUP_ALIASES` (低保边缘 → 低收入).
    Raises :class:`geo.errors.PlanningInputError` naming the text when it is not of that form, the
    group is unknown or the weight is not a non-negative number.
    """
    weights: dict[str, float] = {}
    for text in texts:
        parts = re.split(r"[=＝:：]", str(text).strip(), maxsplit=1)
        if len(parts) != 2 or not parts[0].strip():
            raise PlanningInputError(f"权重“{text}”的写法应为 群体=权重，如 特困=1",
                                     f"group weight {text!r} is not GROUP=WEIGHT")
        name, value = parts[0].strip(), parts[1].strip()
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not np.isfinite(weight) or weight < 0:
            raise PlanningInputError(f"权重“{text}”中的 {value} 不是非负数",
                                     f"group weight {text!r}: {value!r} is not a non-negative number")
        weights[_group_name(name)] = weight
    return weights


def _group_name(name: str) -> str:
    group = GROUP_ALIASES.get(name, name)
    if group not in SPECIAL_GROUPS:
        raise PlanningInputError(f"没有名为“{name}”的重点群体（可选：{'、'.join(SPECIAL_GROUPS)}）",
                                 f"unknown priority group {name!r}")
    return group


def with_group_weights(settings: Settings, weights: Mapping[str, float]) -> Settings:
    """``settings`` whose ``gap_group_weights`` table is replaced by ``weights`` (group → extra weight).

    The planner page and ``eldermap gaps/site --weight`` use it; unknown groups and negative
    weights are refused (:class:`geo.errors.PlanningInputError`).
    """
    table: dict[str, float] = {}
    for name, weight in weights.items():
        if not np.isfinite(float(weight)) or float(weight) < 0:
            raise PlanningInputError(f"重点群体“{name}”的权重 {weight} 不是非负数",
                                     f"negative or non-finite weight for {name!r}: {weight}")
        table[_group_name(str(name))] = float(weight)
    return dataclasses.replace(settings, gap_group_weights=tuple(table.items()))


def weighted_groups_zh(settings: Settings) -> str:
    """The gap weights in words: "高龄 +1、失能 +1、独居 +0.5" ("不加权" when none)."""
    parts = [f"{label} +{w:g}" for label, w in (("高龄", settings.gap_weight_80plus),
                                                ("失能", settings.gap_weight_disabled)) if w > 0]
    parts += [f"{g} +{w:g}" for g, w in settings.gap_group_weights if w > 0]
    return "、".join(parts) or "不加权"


def gap_columns_zh(table: pd.DataFrame) -> dict[str, str]:
    """Chinese headers of a gap table: :data:`geo.labels.GAP_COLUMNS_ZH` and "其中<群体>" for the
    ``uncovered:<group>`` columns of weighted groups."""
    out = dict(GAP_COLUMNS_ZH)
    out.update({c: f"其中{c.split(':', 1)[1]}" for c in table.columns if str(c).startswith("uncovered:")})
    return out


def _reason(row: Mapping[str, object], minutes: float, mode: str) -> str:
    """The reason of one gap row: how many elders are outside the circle, of whom how many are 80+,
    disabled or in each weighted group (``uncovered:<group>`` columns; 独居 from ``uncovered_alone``
    when it has no column of its own), and how far the nearest facility is."""
    parts = [f"{minutes:g} 分钟{mode_zh(mode)}圈外老人 {int(row['uncovered'])} 人"]
    labels = [("uncovered_80plus", "高龄"), ("uncovered_disabled", "失能")]
    groups = [(c, c.split(":", 1)[1]) for c in row if str(c).startswith("uncovered:")]
    if "uncovered:独居" not in row:
        groups.insert(0, ("uncovered_alone", "独居"))
    detail = [f"{label} {int(row[col])}" for col, label in [*labels, *groups] if row.get(col)]
    if detail:
        parts[0] += "（" + "、".join(detail) + "）"
    t = float(row["median_time_min"])
    if np.isfinite(t):
        parts.append(f"到最近设施中位 {t:.0f} 分钟")
    else:
        parts.append("多数无法经路网到达任何设施")
    return "；".join(parts)


def _rank(table: pd.DataFrame, minutes: float, mode: str) -> pd.DataFrame:
    table = table[table["uncovered"] > 0].sort_values(["weighted_need", "uncovered"], ascending=False, kind="stable")
    table = table.reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["uncovered_pct"] = (100.0 * table["uncovered"] / table["elders"]).round(1)
    table["weighted_need"] = table["weighted_need"].round(2)
    table["reason"] = [_reason(r, minutes, mode) for r in table.to_dict("records")] if len(table) else []
    table["median_time_min"] = table["median_time_min"].where(np.isfinite(table["median_time_min"]))  # inf: none
    columns = [c for c in GAP_COLUMNS_ZH if c in table.columns]
    groups = [c for c in table.columns if str(c).startswith("uncovered:")]
    at = columns.index("weighted_need") if "weighted_need" in columns else len(columns)
    return table[columns[:at] + groups + columns[at:]]


def gaps(region: Region, *, settings: Settings, minutes: float = 15.0, mode: Mode = "walk",
         kind: str | None = None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Elders outside the service circle, per H3 cell and per community, ranked by weighted need.

    Parameters
    ----------
    region
        A loaded region (elders with ``h3``, ``community_code``, ``oldest_old``, ``ability_code``, ``groups``).
    minutes
        The service circle, minutes of travel.
    kind
        Only facilities of this kind count (default: any kind elders visit). A home-care kind
        (``settings.home_care_kinds``) ranks the elders no provider serves at home
        (:mod:`planning.home_care`), whatever ``minutes`` and ``mode``; the reason then reads
        "无上门服务覆盖老人 N 人…" and ``median_time_min`` is the drive from the nearest provider.

    Returns
    -------
    (cells, communities), EPSG:4326 GeoDataFrames ranked by ``weighted_need``, only areas with at
    least one elder outside the circle: ``rank``, ``h3`` (cells: hexagon geometry) or ``code`` and
    ``name`` (communities: the community polygon when the region has one), ``elders``,
    ``uncovered``, ``uncovered_pct``, ``uncovered_80plus``, ``uncovered_disabled``,
    ``uncovered_alone``, ``weighted_need``, ``median_time_min`` (of the uncovered, to the nearest
    facility; inf when unreachable) and ``reason``.
    """
    elders = region.elders
    facilities = region.facilities if kind is None else region.facilities[region.facilities["kind"] == kind]
    network = network_for(region, mode, settings)
    home = kind is not None and kind in settings.home_care_kinds  # served at home or not, whatever the minutes
    reach = home_care_reach(region, settings=settings, facilities=facilities) if home else None
    group = kind if home else ANY
    access = elder_access(network, facilities, elders, settings=settings, kinds=[group] if home else [],
                          elder_snap=elder_snap_for(region, mode, settings), home_care=reach)
    times = access[f"time_min:{group}"].to_numpy()
    out = times > minutes
    if home:  # the median of the unserved: minutes' drive from the nearest provider
        column = f"drive_min:{kind}"
        times = reach[column].to_numpy(dtype="float64") if column in reach else np.full(len(elders), np.inf)
    need = elder_need(elders, settings)
    counted = need["counted"].to_numpy(dtype=bool)  # settings.coverage_population, as region_coverage counts
    out = out & counted
    frame = pd.DataFrame({
        "elders": counted.astype(np.int64), "uncovered": out.astype(np.int64),
        "uncovered_80plus": (out & need["oldest_old"].to_numpy()).astype(np.int64),
        "uncovered_disabled": (out & need["disabled"].to_numpy()).astype(np.int64),
        "uncovered_alone": (out & need["alone"].to_numpy()).astype(np.int64),
        "weighted_need": np.where(out, need["weight"].to_numpy(), 0.0),
        "time_out": np.where(out, times, np.nan),
    })
    for column in [c for c in need.columns if c.startswith("group:")]:  # the weighted groups, named in reasons
        frame[f"uncovered:{column[6:]}"] = (out & need[column].to_numpy()).astype(np.int64)
    sums = ["elders", "uncovered", "uncovered_80plus", "uncovered_disabled", "uncovered_alone", "weighted_need",
            *[c for c in frame.columns if c.startswith("uncovered:")]]

    def aggregate(key: np.ndarray) -> pd.DataFrame:
        grouped = frame.groupby(key, sort=True)
        table = grouped[sums].sum()
        table["median_time_min"] = grouped["time_out"].median().round(1)
        return table

    cells = aggregate(point_cells(elders, settings.h3_resolution).astype(object).fillna("").to_numpy())
    cells = cells.rename_axis("h3").reset_index()
    cells = cells[cells["h3"] != ""]
    cells = _rank(cells, minutes, mode)
    if home:
        cells["reason"] = gap_reasons_zh(cells)
    cells = gpd.GeoDataFrame(cells, geometry=[hexes.cell_polygon(c) for c in cells["h3"]], crs="EPSG:4326")

    comm = aggregate(area_key(elders, "community")).rename_axis("code").reset_index()
    comm = _rank(comm, minutes, mode)
    if home:
        comm["reason"] = gap_reasons_zh(comm)
    comm.insert(2, "name", area_names(comm["code"], region.areas))
    areas = region.areas
    geometry = None
    if areas is not None and len(areas) and "code" in areas:
        shapes = areas.drop_duplicates("code").set_index("code").geometry
        geometry = [shapes.get(c) for c in comm["code"]]
    comm = gpd.GeoDataFrame(comm, geometry=geometry if geometry is not None else [None] * len(comm), crs="EPSG:4326")
    log.info("gaps: %d of %d elders outside %g min (%s); %d cells, %d communities with gaps",
             int(out.sum()), len(elders), minutes, mode, len(cells), len(comm))
    return cells, comm
