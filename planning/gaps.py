"""Gaps in the service circle: where elders are left outside it, ranked by need.

An elder outside the circle (no facility of the chosen kind within ``minutes``) counts 1, plus
``settings.gap_weight_80plus`` when aged 80+, ``gap_weight_disabled`` when moderately to completely
disabled (ability codes 2–4), and the weight of each priority group it is in
(``settings.gap_group_weights``, default 独居 0.5). Cells (H3) and
communities are ranked by that weighted count; each gets a short reason in Chinese.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from data.store import Region
from geo import hexes
from geo.areas import area_key, area_names, point_cells
from geo.labels import GAP_COLUMNS_ZH, mode_zh
from geo.settings import Settings
from planning.coverage import ANY, elder_access, elder_flags, elder_snap_for, network_for
from planning.network import Mode

log = logging.getLogger(__name__)


def elders_in_group(elders: pd.DataFrame, group: str) -> np.ndarray:
    """True for the elders whose ``groups`` list holds ``group`` (all False without the column)."""
    if "groups" not in elders:
        return np.zeros(len(elders), dtype=bool)
    return elders["groups"].astype(object).map(
        lambda g: group in (g if isinstance(g, list | tuple | np.ndarray) else str(g or "").split("、"))
    ).to_numpy(dtype=bool)


def elder_need(elders: gpd.GeoDataFrame, settings: Settings) -> pd.DataFrame:
    """Per elder: ``oldest_old``, ``disabled``, ``alone`` (bool) and ``weight`` (1 plus the weights that apply)."""
    n = len(elders)
    old, disabled = elder_flags(elders)
    weight = 1.0 + settings.gap_weight_80plus * old + settings.gap_weight_disabled * disabled
    for group, extra in settings.group_weight_table().items():
        weight = weight + extra * elders_in_group(elders, group)
    alone = elders_in_group(elders, "独居") if n else np.zeros(0, dtype=bool)
    return pd.DataFrame({"oldest_old": old, "disabled": disabled, "alone": alone, "weight": weight},
                        index=elders.index)


def _reason(row: tuple, minutes: float, mode: str) -> str:
    parts = [f"{minutes:g} 分钟{mode_zh(mode)}圈外老人 {int(row.uncovered)} 人"]
    detail = [f"{label} {int(getattr(row, col))}" for col, label in
              (("uncovered_80plus", "高龄"), ("uncovered_disabled", "失能"), ("uncovered_alone", "独居")) if getattr(row, col)]
    if detail:
        parts[0] += "（" + "、".join(detail) + "）"
    t = row.median_time_min
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
    table["reason"] = [_reason(r, minutes, mode) for r in table.itertuples()] if len(table) else []
    table["median_time_min"] = table["median_time_min"].where(np.isfinite(table["median_time_min"]))  # inf: none
    return table[[c for c in GAP_COLUMNS_ZH if c in table.columns]]


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
        Only facilities of this kind count (default: any kind).

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
    access = elder_access(network, facilities, elders, settings=settings, kinds=[],
                          elder_snap=elder_snap_for(region, mode, settings))
    times = access[f"time_min:{ANY}"].to_numpy()
    out = times > minutes
    need = elder_need(elders, settings)
    frame = pd.DataFrame({
        "elders": 1, "uncovered": out.astype(np.int64),
        "uncovered_80plus": (out & need["oldest_old"].to_numpy()).astype(np.int64),
        "uncovered_disabled": (out & need["disabled"].to_numpy()).astype(np.int64),
        "uncovered_alone": (out & need["alone"].to_numpy()).astype(np.int64),
        "weighted_need": np.where(out, need["weight"].to_numpy(), 0.0),
        "time_out": np.where(out, times, np.nan),
    })
    sums = ["elders", "uncovered", "uncovered_80plus", "uncovered_disabled", "uncovered_alone", "weighted_need"]

    def aggregate(key: np.ndarray) -> pd.DataFrame:
        grouped = frame.groupby(key, sort=True)
        table = grouped[sums].sum()
        table["median_time_min"] = grouped["time_out"].median().round(1)
        return table

    cells = aggregate(point_cells(elders, settings.h3_resolution).astype(object).fillna("").to_numpy())
    cells = cells.rename_axis("h3").reset_index()
    cells = cells[cells["h3"] != ""]
    cells = _rank(cells, minutes, mode)
    cells = gpd.GeoDataFrame(cells, geometry=[hexes.cell_polygon(c) for c in cells["h3"]], crs="EPSG:4326")

    comm = aggregate(area_key(elders, "community")).rename_axis("code").reset_index()
    comm = _rank(comm, minutes, mode)
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
