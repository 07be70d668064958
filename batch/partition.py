"""Split a province's layers into county regions, each with a cross-border *halo*.

Each child region (one county or district) holds its own elders, its own facilities plus those of the halo
(``halo`` True), the roads of the county plus the halo, and the county's areas. The halo is everything within
:func:`halo_metres` of the county boundary, so that per-elder travel times computed on the child equal those
computed on the whole province, up to the cutoff (the proof is in :func:`halo_metres`).

Everything runs vectorised in one metric CRS (:func:`geo.crs.working_crs` of the counties): elders and facilities
are placed with one STRtree query of the county polygons; the halo's facilities and road edges are found per
county with one STRtree query of the buffered county (prepared ``intersects``). A :class:`SplitResult` holds
row positions, not copies: :meth:`SplitResult.layers` makes one child's layers when asked, so
:func:`save_split` holds one child at a time. Measured: 2 million elders, 355,000 road edges and 49 counties split
in about 5 s on this machine (projecting the points is a third of it).

Nothing is dropped silently: elders and facilities that lie outside every county and carry no county code
(``district_code``) are listed in :attr:`SplitResult.unassigned_elders` / ``unassigned_facilities`` with the
reason in Chinese.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from batch.hierarchy import LEAF_LEVEL, ChildRef, HierarchyError, save_parent
from data import store
from data.vocab import REGION_NAME_RULE_ZH, region_name_ok
from geo.crs import working_crs
from geo.errors import NoCrsError
from geo.settings import Settings

log = logging.getLogger(__name__)

MODES = ("walk", "drive")
HALO_SAFETY = 1.01
"""The halo actually cut is ``halo_metres × HALO_SAFETY``: the buffer polygon approximates its round corners
from inside (quad_segs=16: at most 0.5 % short of the true distance there) and a projected CRS measures
distances up to a few tenths of a percent short of the true ones (UTM's scale factor 0.9996 near its central
meridian), while the networks measure lengths in their own working CRS. 1 % more covers both."""
BUFFER_QUAD_SEGS = 16
SPLIT_LAYERS = ("elders", "facilities", "areas", "road_nodes", "road_edges")
"""Layers split per county; any other layer given is listed in :attr:`SplitResult.not_split` (not copied)."""


def halo_metres(settings: Settings, *, minutes: float | None = None, mode: str = "walk") -> float:
    """Width of the halo, metres: the farthest a trip of ``minutes`` can go, plus the snapping limit.

    ``halo_m = v_max × minutes + settings.snap_limit_m`` with ``v_max`` the fastest speed of the mode:

    - walk: the largest of ``settings.walk_speed_kmh`` and the ``settings.walk_profiles`` speeds; ``minutes``
      defaults to the largest of ``settings.circle_minutes`` and ``settings.tier_minutes``;
    - drive: the largest of ``settings.drive_speeds_kmh`` (and of the walking speeds: the walk from a home to
      the road is paid at walking speed); ``minutes`` defaults to ``settings.home_care_drive_minutes``.

    Why this is enough: every trip of network time ≤ t starting from an elder inside the county — the walk to
    the road, the path along the network, the walk from the road to the facility — is no longer than
    ``v_max × t`` as the crow flies, so it never leaves buffer(county, v_max × t). Every edge it uses and the
    facility it reaches therefore lie in the child. The elder's nearest edge (within ``snap_limit_m``) is in the
    child too, and so is the nearest edge of any facility that reaches an elder within t: that facility lies
    within ``v_max × t`` of the county and its nearest edge within ``snap_limit_m`` of it. Points snap to the
    same edges, the child's network is a subgraph of the province's holding every path that matters, hence the
    per-elder nearest-facility times (and facilities) computed on a child equal those of the whole province up
    to ``t``; beyond ``t`` both are "not reached".
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    walk_kmh = max([settings.walk_speed_kmh, *(v for _, v in settings.walk_profiles)])
    if mode == "walk":
        speed_kmh = walk_kmh
        default_min = max([*settings.circle_minutes, *(m for _, m in settings.tier_minutes)])
    else:
        speed_kmh = max([walk_kmh, *(v for _, v in settings.drive_speeds_kmh)])
        default_min = settings.home_care_drive_minutes
    minutes = default_min if minutes is None else float(minutes)
    if not np.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes must be a finite number ≥ 0, got {minutes!r}")
    return float(speed_kmh * 1000.0 / 60.0 * minutes + settings.snap_limit_m)


@dataclass(frozen=True)
class ChildPart:
    """One county of a split: its name and code, and the rows of the province's layers it holds.

    Row arrays are positions (``iloc``) in the province's layers, ascending.
    """

    region: str
    code: str
    name: str
    elders: np.ndarray
    facilities: np.ndarray
    facility_halo: np.ndarray
    """Bool aligned with ``facilities``: True for a facility of the halo (not of this county)."""
    road_edges: np.ndarray
    road_nodes: np.ndarray
    areas: np.ndarray
    add_county_area: bool
    """True when no area of the county carries the county's own code: its polygon is added to ``areas``."""
    stray_elders: int
    """Elders placed here by their ``district_code`` but lying outside the county polygon (the halo is widened
    around them)."""

    def counts(self) -> dict[str, int]:
        return {"elders": len(self.elders), "facilities": int((~self.facility_halo).sum()),
                "halo_facilities": int(self.facility_halo.sum()), "road_nodes": len(self.road_nodes),
                "road_edges": len(self.road_edges), "areas": len(self.areas) + int(self.add_county_area),
                "stray_elders": self.stray_elders}

    def ref(self) -> ChildRef:
        return ChildRef(self.region, self.code, self.name, LEAF_LEVEL)


@dataclass(frozen=True)
class SplitResult:
    """A province split into county parts, and what could not be placed.

    Attributes
    ----------
    children
        One part per county, in the order of ``counties``.
    counties
        ``code``, ``name``, ``region`` and polygon of each county (EPSG:4326).
    halo_m
        Halo width used, metres (:func:`halo_metres` of the widest mode × :data:`HALO_SAFETY`).
    minutes, modes
        The cutoff and modes the halo was made for.
    crs
        The metric CRS the split was computed in.
    unassigned_elders, unassigned_facilities
        Rows placed in no county: ``row`` (position in the layer), ``id`` (``pid`` / ``id`` when present),
        ``district_code`` and ``reason_zh``. Unassigned facilities still serve as halo facilities of the
        counties near them (``in_halo_of``: how many).
    unassigned_areas
        Areas of no county (``row``, ``code``, ``name``, ``reason_zh``), e.g. the city and province polygons.
    not_split
        Layers given but not split (not copied to the children).
    """

    children: list[ChildPart]
    counties: gpd.GeoDataFrame
    halo_m: float
    minutes: float | None
    modes: tuple[str, ...]
    crs: pyproj.CRS
    unassigned_elders: pd.DataFrame
    unassigned_facilities: pd.DataFrame
    unassigned_areas: pd.DataFrame
    not_split: list[str]
    source: Mapping[str, gpd.GeoDataFrame] = field(repr=False)

    def child(self, region_or_code: str) -> ChildPart:
        for part in self.children:
            if region_or_code in (part.region, part.code):
                return part
        raise KeyError(region_or_code)

    def layers(self, part: ChildPart | str) -> dict[str, gpd.GeoDataFrame]:
        """The layers of one child region (copies of the province's rows, same CRS, fresh RangeIndex)."""
        if isinstance(part, str):
            part = self.child(part)
        out: dict[str, gpd.GeoDataFrame] = {}
        src = self.source
        if "elders" in src:
            out["elders"] = src["elders"].iloc[part.elders].reset_index(drop=True)
        if "facilities" in src:
            fac = src["facilities"].iloc[part.facilities].reset_index(drop=True)
            fac["halo"] = part.facility_halo.copy()
            out["facilities"] = fac
        if "road_edges" in src:
            out["road_edges"] = src["road_edges"].iloc[part.road_edges].reset_index(drop=True)
        if "road_nodes" in src:
            out["road_nodes"] = src["road_nodes"].iloc[part.road_nodes].reset_index(drop=True)
        out["areas"] = self._areas(part)
        return out

    def _areas(self, part: ChildPart) -> gpd.GeoDataFrame:
        src = self.source.get("areas")
        county = self.counties[self.counties["code"] == part.code]
        added = gpd.GeoDataFrame({"code": [part.code], "name": [part.name], "level": [LEAF_LEVEL]},
                                 geometry=county.geometry.to_numpy(), crs=self.counties.crs)
        if src is None or src.empty:
            return added if part.add_county_area else added.iloc[:0]
        own = src.iloc[part.areas]
        if not part.add_county_area:
            return own.reset_index(drop=True)
        added = added.to_crs(src.crs) if src.crs is not None else added
        return gpd.GeoDataFrame(pd.concat([added, own], ignore_index=True), geometry=src.geometry.name, crs=src.crs)

    def summary(self) -> pd.DataFrame:
        """One row per child: region, code, name and the counts of :meth:`ChildPart.counts`."""
        return pd.DataFrame([{"region": p.region, "code": p.code, "name": p.name, **p.counts()}
                             for p in self.children])

    def notes_zh(self) -> list[str]:
        """What a user must know about the split, in Chinese (unassigned rows, strays, layers not split)."""
        notes = []
        if len(self.unassigned_elders):
            notes.append(f"{len(self.unassigned_elders)} 名老人未分到任何区县：" + _reasons(self.unassigned_elders))
        if len(self.unassigned_facilities):
            notes.append(f"{len(self.unassigned_facilities)} 个设施未分到任何区县：" + _reasons(self.unassigned_facilities))
        strays = sum(p.stray_elders for p in self.children)
        if strays:
            notes.append(f"{strays} 名老人按区县代码分配，但位置在该区县范围之外（已扩大该区县的周边范围）")
        if self.not_split:
            notes.append(f"以下图层未拆分到区县：{'、'.join(self.not_split)}")
        return notes


def _reasons(table: pd.DataFrame) -> str:
    counts = table["reason_zh"].value_counts()
    return "；".join(f"{reason}（{n}）" for reason, n in counts.items())


def _code_text(values: pd.Series) -> np.ndarray:
    """Division codes as text ("" when missing): 410102, 410102.0 and " 410102 " all read "410102"."""
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    text = text.where(~text.str.fullmatch(r"\d+\.0"), text.str[:-2])
    return text.to_numpy(dtype=object)


def _ids(frame: gpd.GeoDataFrame, rows: np.ndarray) -> np.ndarray:
    for column in ("pid", "id"):
        if column in frame:
            return frame[column].iloc[rows].astype(object).to_numpy()
    return np.full(len(rows), None, dtype=object)


def _check_counties(counties: gpd.GeoDataFrame, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """County codes and names as text; raises HierarchyError listing every problem."""
    problems: list[str] = []
    if counties.crs is None:
        raise NoCrsError("区县边界没有坐标系信息", "counties have no CRS")
    for column in ("code", "name"):
        if column not in counties:
            problems.append(f"缺少 {column} 列")
    if problems:
        raise HierarchyError("区县边界数据有问题：" + "；".join(problems), f"counties: missing columns {problems}")
    codes = _code_text(counties["code"])
    names = counties["name"].astype(str).to_numpy(dtype=object)
    if len(codes) == 0:
        problems.append("没有任何区县")
    empty = np.flatnonzero(codes == "")
    if len(empty):
        problems.append(f"第 {', '.join(str(i + 1) for i in empty[:10])} 行没有区划代码")
    values, counts = np.unique(codes[codes != ""], return_counts=True)
    for value in values[counts > 1]:
        problems.append(f"区划代码 {value} 重复")
    geoms = counties.geometry.to_numpy()
    bad = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms)
                         | ~np.isin(shapely.get_type_id(geoms), [3, 6]))
    if len(bad):
        problems.append(f"第 {', '.join(str(i + 1) for i in bad[:10])} 行不是面（Polygon/MultiPolygon）")
    invalid = [c for c in codes if c and not region_name_ok(f"{prefix}-{c}")]
    if invalid:
        problems.append(f"区县地区名称“{prefix}-{invalid[0]}”无效：{REGION_NAME_RULE_ZH}")
    if problems:
        raise HierarchyError(f"区县边界数据有 {len(problems)} 个问题：" + "；".join(problems),
                             "invalid counties: " + "; ".join(problems))
    return codes, names


def _place(points: np.ndarray, codes: np.ndarray, county_codes: np.ndarray, polys: np.ndarray,
           tree: shapely.STRtree) -> tuple[np.ndarray, np.ndarray]:
    """Home county of each point (-1: none) and whether it was placed by its code.

    By ``district_code`` when it is a county's code, else the county whose polygon holds the point (the
    lowest-numbered one for a point on a shared border).
    """
    index = pd.Index(county_codes)
    home = index.get_indexer(codes) if len(codes) else np.zeros(0, dtype=np.int64)
    by_code = home >= 0
    rest = np.flatnonzero(~by_code & ~(shapely.is_missing(points) | shapely.is_empty(points)))
    if len(rest):
        hit_pt, hit_poly = tree.query(points[rest], predicate="intersects")
        if len(hit_pt):
            first = np.full(len(rest), np.iinfo(np.int64).max)
            np.minimum.at(first, hit_pt, hit_poly)
            found = first < np.iinfo(np.int64).max
            home[rest[found]] = first[found]
    return home.astype(np.int64), by_code


def _reason_zh(codes: np.ndarray, missing_geom: np.ndarray) -> np.ndarray:
    out = np.where(missing_geom, "没有坐标", "位于所有区县范围之外").astype(object)
    suffix = np.where(codes == "", "，且没有区县代码（district_code）",
                      "，且区县代码不是本次拆分的任何区县")
    return np.char.add(out.astype(str), suffix.astype(str)).astype(object)


def _project(frame: gpd.GeoDataFrame, crs: pyproj.CRS, what_zh: str) -> np.ndarray:
    if frame.crs is None:
        raise NoCrsError(f"{what_zh}没有坐标系信息", f"{what_zh} has no CRS")
    return np.asarray(frame.geometry.to_crs(crs).to_numpy(), dtype=object)


def split_province(layers: Mapping[str, gpd.GeoDataFrame], counties: gpd.GeoDataFrame, *, settings: Settings,
                   minutes: float | None = None, modes: Sequence[str] = ("walk",), prefix: str,
                   halo_m: float | None = None) -> SplitResult:
    """Split a province's layers into one part per county, each with the halo of the widest mode.

    Parameters
    ----------
    layers
        The province's layers (any CRS; EPSG:4326 as stored): ``elders``, ``facilities``, ``areas``,
        ``road_nodes``, ``road_edges``; other layers are listed in :attr:`SplitResult.not_split`.
    counties
        One row per county: ``code`` (division code), ``name`` and a (Multi)Polygon (any CRS).
    minutes
        The largest travel-time cutoff the batches will use (default: :func:`halo_metres`'s per mode).
    modes
        Travel modes the batches will use ("walk", "drive"); the halo is the widest.
    prefix
        Child regions are named ``{prefix}-{code}``.
    halo_m
        A halo width in metres to use instead of the one of ``minutes`` and ``modes`` (as given, without
        :data:`HALO_SAFETY`): a narrower halo loses cross-border service, which tests show.

    How rows are placed:

    - elders: by ``district_code`` when it matches a county's code, else by the county polygon holding them;
    - facilities: placed the same way in their home county (``halo`` False), and copied to every other county
      whose buffer(county, halo) holds them (``halo`` True) — also those of no county;
    - road edges intersecting buffer(county, halo) and their end nodes;
    - areas whose code starts with the county's code; areas without such a code whose representative point lies
      in the county; areas whose code is a prefix of a county code (a city, the province) and district-level areas
      of other codes go to no county. The county polygon is added when no area carries the county's own code.

    Elders placed by code outside their county polygon widen that county's halo around them (a trip from them
    must fit in the child too).
    """
    modes = tuple(modes)
    if not modes or any(m not in MODES for m in modes):
        raise ValueError(f"modes must be a non-empty subset of {MODES}, got {modes!r}")
    county_codes, county_names = _check_counties(counties, prefix)
    if halo_m is None:
        halo_m = max(halo_metres(settings, minutes=minutes, mode=m) for m in modes) * HALO_SAFETY
    elif not np.isfinite(halo_m) or halo_m < 0:
        raise ValueError(f"halo_m must be a finite number ≥ 0, got {halo_m!r}")
    crs = working_crs(counties, settings, what_zh="区县边界", what_en="counties")
    polys = _project(counties, crs, "区县边界")
    tree = shapely.STRtree(polys)
    n_counties = len(polys)
    log.info("splitting into %d counties, halo %.0f m (%s), CRS %s", n_counties, halo_m, "/".join(modes), crs)

    empty_rows = np.zeros(0, dtype=np.int64)
    elders = layers.get("elders")
    if elders is not None and len(elders):
        eld_pts = _project(elders, crs, "老人数据")
        eld_codes = _code_text(elders["district_code"]) if "district_code" in elders else np.full(len(elders), "",
                                                                                                    dtype=object)
        eld_home, eld_by_code = _place(eld_pts, eld_codes, county_codes, polys, tree)
        # elders placed by code but outside their county's polygon: the halo must reach around them
        coded = np.flatnonzero(eld_by_code & ~(shapely.is_missing(eld_pts) | shapely.is_empty(eld_pts)))
        inside = shapely.intersects(eld_pts[coded], polys[eld_home[coded]]) if len(coded) else np.zeros(0, bool)
        stray = coded[~inside]
    else:
        eld_pts, eld_codes = np.zeros(0, dtype=object), np.zeros(0, dtype=object)
        eld_home, stray = np.zeros(0, dtype=np.int64), empty_rows
    eld_order = np.argsort(eld_home, kind="stable")
    eld_bounds = np.searchsorted(eld_home[eld_order], np.arange(n_counties + 1))
    stray_by_county = pd.Series(stray).groupby(eld_home[stray]).apply(np.asarray).to_dict() if len(stray) else {}

    facilities = layers.get("facilities")
    if facilities is not None and len(facilities):
        fac_pts = _project(facilities, crs, "设施数据")
        fac_codes = (_code_text(facilities["district_code"]) if "district_code" in facilities
                     else np.full(len(facilities), "", dtype=object))
        fac_home, _ = _place(fac_pts, fac_codes, county_codes, polys, tree)
        fac_tree = shapely.STRtree(fac_pts)
    else:
        fac_pts, fac_codes, fac_home, fac_tree = np.zeros(0, dtype=object), np.zeros(0, dtype=object), empty_rows, None

    fac_order = np.argsort(fac_home, kind="stable")
    fac_bounds = np.searchsorted(fac_home[fac_order], np.arange(n_counties + 1))

    edges = layers.get("road_edges")
    edge_tree = shapely.STRtree(_project(edges, crs, "道路数据")) if edges is not None and len(edges) else None
    edge_u = edges["u"].to_numpy() if edge_tree is not None else empty_rows
    edge_v = edges["v"].to_numpy() if edge_tree is not None else empty_rows
    nodes = layers.get("road_nodes")
    node_index = pd.Index(nodes["node_id"].to_numpy()) if nodes is not None and len(nodes) else None

    area_home, area_reason = _place_areas(layers.get("areas"), county_codes, crs, tree)

    children: list[ChildPart] = []
    halo_count = np.zeros(len(fac_pts), dtype=np.int64)
    for i in range(n_counties):
        core = polys[i]
        strays_here = stray_by_county.get(i, empty_rows)
        if len(strays_here):  # elders of the county outside its polygon: the halo reaches around them too
            core = shapely.union_all([core, *_cells(eld_pts[strays_here])])
        zone = shapely.buffer(core, halo_m, quad_segs=BUFFER_QUAD_SEGS)
        home_fac = np.sort(fac_order[fac_bounds[i]:fac_bounds[i + 1]])
        if fac_tree is not None:
            halo_fac = np.setdiff1d(fac_tree.query(zone, predicate="intersects"), home_fac)
            halo_count[halo_fac] += 1
        else:
            halo_fac = empty_rows
        fac_rows = np.concatenate([home_fac, halo_fac])
        order = np.argsort(fac_rows, kind="stable")
        fac_rows = fac_rows[order]
        fac_halo = np.concatenate([np.zeros(len(home_fac), bool), np.ones(len(halo_fac), bool)])[order]
        if edge_tree is not None:
            edge_rows = np.sort(edge_tree.query(zone, predicate="intersects"))
            used = np.union1d(edge_u[edge_rows], edge_v[edge_rows])
            node_rows = np.sort(node_index.get_indexer(used)) if node_index is not None else empty_rows
            node_rows = node_rows[node_rows >= 0]
        else:
            edge_rows = node_rows = empty_rows
        area_rows = np.flatnonzero(area_home == i)
        areas = layers.get("areas")
        has_own = bool(len(area_rows)) and bool((_code_text(areas["code"].iloc[area_rows]) == county_codes[i]).any()) \
            if areas is not None and "code" in areas else False
        children.append(ChildPart(
            region=f"{prefix}-{county_codes[i]}", code=str(county_codes[i]), name=str(county_names[i]),
            elders=np.sort(eld_order[eld_bounds[i]:eld_bounds[i + 1]]), facilities=fac_rows, facility_halo=fac_halo,
            road_edges=edge_rows, road_nodes=node_rows, areas=area_rows, add_county_area=not has_own,
            stray_elders=len(stray_by_county.get(i, empty_rows))))

    unassigned_elders = _unassigned(elders, eld_home, eld_codes, eld_pts)
    unassigned_facilities = _unassigned(facilities, fac_home, fac_codes, fac_pts)
    if len(unassigned_facilities):
        unassigned_facilities["in_halo_of"] = halo_count[unassigned_facilities["row"].to_numpy()]
    areas = layers.get("areas")
    no_area = np.flatnonzero(area_home < 0)
    unassigned_areas = pd.DataFrame({
        "row": no_area,
        "code": _code_text(areas["code"].iloc[no_area]) if areas is not None and "code" in areas else None,
        "name": areas["name"].iloc[no_area].to_numpy() if areas is not None and "name" in areas else None,
        "reason_zh": area_reason[no_area]})
    county_frame = gpd.GeoDataFrame({"code": county_codes.astype(str), "name": county_names.astype(str),
                                     "region": [p.region for p in children]},
                                    geometry=gpd.GeoSeries(polys, crs=crs).to_crs(store.STORAGE_CRS).to_numpy(),
                                    crs=store.STORAGE_CRS)
    result = SplitResult(children=children, counties=county_frame, halo_m=float(halo_m), minutes=minutes,
                         modes=modes, crs=crs, unassigned_elders=unassigned_elders,
                         unassigned_facilities=unassigned_facilities, unassigned_areas=unassigned_areas,
                         not_split=sorted(set(layers) - set(SPLIT_LAYERS)), source=dict(layers))
    for note in result.notes_zh():
        log.warning("%s", note)
    log.info("split into %d counties: %d elders placed, %d unassigned; %d facilities (+%d halo copies)",
             n_counties, int((eld_home >= 0).sum()), len(unassigned_elders), int((fac_home >= 0).sum()),
             int(halo_count.sum()))
    return result


STRAY_CELL_M = 50.0
"""Elders outside their county widen its halo around the 50 m grid cells holding them: thousands of strays along a
border add a few squares to the county polygon before it is buffered."""


def _cells(points: np.ndarray) -> np.ndarray:
    """Squares of the :data:`STRAY_CELL_M` grid holding ``points`` (projected), one per occupied cell."""
    keys = np.unique(np.floor(shapely.get_coordinates(points) / STRAY_CELL_M), axis=0)
    return shapely.box(keys[:, 0] * STRAY_CELL_M, keys[:, 1] * STRAY_CELL_M, (keys[:, 0] + 1) * STRAY_CELL_M,
                       (keys[:, 1] + 1) * STRAY_CELL_M)


def _unassigned(frame: gpd.GeoDataFrame | None, home: np.ndarray, codes: np.ndarray,
                points: np.ndarray) -> pd.DataFrame:
    rows = np.flatnonzero(home < 0)
    if frame is None or not len(rows):
        return pd.DataFrame({"row": np.zeros(0, dtype=np.int64), "id": [], "district_code": [], "reason_zh": []})
    missing = shapely.is_missing(points[rows]) | shapely.is_empty(points[rows])
    return pd.DataFrame({"row": rows, "id": _ids(frame, rows), "district_code": codes[rows],
                         "reason_zh": _reason_zh(codes[rows], missing)})


def _place_areas(areas: gpd.GeoDataFrame | None, county_codes: np.ndarray, crs: pyproj.CRS,
                 tree: shapely.STRtree) -> tuple[np.ndarray, np.ndarray]:
    """Home county of each area (-1: none) and, for those of none, why (Chinese)."""
    if areas is None or not len(areas):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    n = len(areas)
    home = np.full(n, -1, dtype=np.int64)
    reason = np.full(n, "", dtype=object)
    codes = _code_text(areas["code"]) if "code" in areas else np.full(n, "", dtype=object)
    index = pd.Index(county_codes)
    for length in sorted({len(c) for c in county_codes}):
        head = np.array([c[:length] if len(c) >= length else "" for c in codes], dtype=object)
        found = index.get_indexer(head)
        take = (home < 0) & (found >= 0)
        home[take] = found[take]
    prefixes = {c[:k] for c in county_codes for k in range(1, len(c))}
    levels = areas["level"].astype(str).to_numpy() if "level" in areas else np.full(n, "", dtype=object)
    above = (np.array([bool(c) and (c in prefixes or c.rstrip("0") in prefixes) for c in codes])
             | np.isin(levels, ["city", "province"])) & (home < 0)
    reason[above] = "区划代码属于上级（市、省）区划，不属于任何区县"
    # a district-level area of another code is a peer of the counties, not a part of one (it would give a child two
    # districts): none
    peer = (levels == LEAF_LEVEL) & (home < 0) & ~above
    reason[peer] = "区县级区划，但代码不是本次拆分的任何区县"
    rest = np.flatnonzero((home < 0) & ~above & ~peer)
    if len(rest):
        geoms = _project(areas.iloc[rest], crs, "区划数据")
        located = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        points = np.full(len(rest), None, dtype=object)
        points[located] = shapely.point_on_surface(geoms[located])
        pos = np.flatnonzero(located)
        if len(pos):
            hit_pt, hit_poly = tree.query(points[pos], predicate="intersects")
            first = np.full(len(pos), np.iinfo(np.int64).max)
            np.minimum.at(first, hit_pt, hit_poly)
            ok = first < np.iinfo(np.int64).max
            home[rest[pos[ok]]] = first[ok]
        left = rest[home[rest] < 0]
        reason[left] = "区划代码不属于任何区县，且位置在所有区县范围之外"
    return home, reason


def save_split(result: SplitResult, *, parent: str, level: str = "city", root: str | Path | None = None,
               manifest_extra: Mapping[str, Any] | None = None, code: str | None = None,
               title: str | None = None, progress: Callable[[ChildPart], None] | None = None) -> list[ChildRef]:
    """Save every child region of a split, then the parent over them; returns the children.

    ``progress`` (optional) is called with each child part once its region is saved (a progress bar's hook).

    Each child's manifest holds ``manifest_extra`` (sources, synthetic flags) and ``partition`` (parent, code,
    name, halo metres, minutes, modes, counts). The parent's manifest holds the split's parameters, the
    counts of unassigned rows per reason, and its ``hierarchy`` (:func:`batch.hierarchy.save_parent`).
    """
    extra = dict(manifest_extra or {})
    params = {"halo_m": result.halo_m, "minutes": result.minutes, "modes": list(result.modes),
              "crs": result.crs.to_string()}
    for part in result.children:
        manifest = {**extra, "partition": {"parent": parent, "code": part.code, "name": part.name, **params,
                                           "counts": part.counts()}}
        store.save_region(part.region, result.layers(part), manifest, root=root)
        if progress is not None:
            progress(part)
    refs = [part.ref() for part in result.children]
    summary = {**params,
               "unassigned_elders": result.unassigned_elders["reason_zh"].value_counts().to_dict(),
               "unassigned_facilities": result.unassigned_facilities["reason_zh"].value_counts().to_dict(),
               "not_split": result.not_split}
    save_parent(parent, level=level, children=refs, areas=result.counties, root=root, code=code, title=title,
                manifest_extra={**extra, "partition": summary})
    return refs


__all__ = ["HALO_SAFETY", "ChildPart", "SplitResult", "halo_metres", "save_split", "split_province"]
