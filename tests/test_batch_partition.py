"""A province split into county regions with cross-border halos (batch.partition), and regions in a hierarchy
(batch.hierarchy).

The test province (tests/province_support.py) is the demo region's real Helsinki roads tiled 2×2, one county per
tile, joined at the seams by footways: walking crosses county lines. The main check: per-elder nearest-facility
walking times computed on each child region (loaded back from the store) equal those of the whole province.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pg_support import new_database
from province_support import COUNTY_CODES, OUTSIDE_ELDERS, province_layers, small_province

from batch.hierarchy import ChildRef, HierarchyError, assemble, is_parent, leaf_regions, load_hierarchy, save_parent
from batch.partition import HALO_SAFETY, halo_metres, split_province
from data import store
from geo.settings import Settings
from planning.coverage import elder_access
from planning.network import build_network

SETTINGS = Settings()


# ---------------------------------------------------------------- halo width


def test_halo_metres_by_hand() -> None:
    # walk: the fastest walking speed is the 规划 profile, 3.6 km/h = 60 m/min; default minutes: the largest
    # circle or tier, 15; plus the 300 m snapping limit
    assert halo_metres(SETTINGS, mode="walk") == pytest.approx(60 * 15 + 300)
    assert halo_metres(SETTINGS, minutes=10, mode="walk") == pytest.approx(60 * 10 + 300)
    # drive: motorway 80 km/h = 1333.33 m/min over the 15-minute home-care drive, plus 300 m
    assert halo_metres(SETTINGS, mode="drive") == pytest.approx(80_000 / 60 * 15 + 300)
    faster = dataclasses.replace(SETTINGS, walk_speed_kmh=6.0, snap_limit_m=100.0)
    assert halo_metres(faster, minutes=5, mode="walk") == pytest.approx(100 * 5 + 100)  # 6 km/h = 100 m/min
    with pytest.raises(ValueError, match="mode"):
        halo_metres(SETTINGS, mode="bike")


# ---------------------------------------------------------------- halo equals whole


@pytest.fixture(scope="module")
def province(demo_region):  # type: ignore[no-untyped-def]
    return province_layers(demo_region)


@pytest.fixture(scope="module")
def whole_walk(province):  # type: ignore[no-untyped-def]
    return build_network(province.layers["road_edges"], mode="walk", settings=SETTINGS)


def _access(network, facilities: gpd.GeoDataFrame, elders: gpd.GeoDataFrame, cutoff_min: float) -> pd.DataFrame:
    out = elder_access(network, facilities, elders, settings=SETTINGS, max_minutes=cutoff_min)
    out.index = elders["pid"].to_numpy()
    return out


def _children_access(root: Path, children: list[str], cutoff_min: float) -> pd.DataFrame:
    """Per-elder access computed on each child region, loaded back from the store, one table."""
    parts = []
    for name in children:
        region = store.load_region(name, root=root)
        network = build_network(region.road_edges, mode="walk", settings=SETTINGS)
        parts.append(_access(network, region.facilities, region.elders, cutoff_min))
    return pd.concat(parts)


def _compare(whole: pd.DataFrame, child: pd.DataFrame, cutoff_min: float) -> pd.Series:
    """Bool per elder of the children: True where every group's time and facility agree with the whole."""
    whole = whole.loc[child.index]
    same = pd.Series(True, index=child.index)
    for column in [c for c in whole.columns if c.startswith("time_min:")]:
        group = column.split(":", 1)[1]
        w = whole[column].to_numpy()
        if column not in child:  # no facility of that kind in the child: none may be within reach
            same &= ~(w <= cutoff_min)
            continue
        c = child[column].to_numpy()
        reached = (w <= cutoff_min) | (c <= cutoff_min)
        both = np.isfinite(w) & np.isfinite(c)
        close = both & (np.abs(np.where(both, w, 0.0) - np.where(both, c, 0.0)) <= 1e-9)
        times = np.where(reached, close, np.isinf(w) & np.isinf(c))
        ids = np.where(reached, whole[f"facility_id:{group}"].to_numpy() == child[f"facility_id:{group}"].to_numpy(),
                       True)
        same &= times & ids
    return same


@pytest.mark.parametrize("cutoff_min", [15.0, 5.0])
def test_halo_partitioned_access_equals_whole_province(demo_region, province, whole_walk, tmp_path: Path,
                                                       cutoff_min: float) -> None:
    prov = small_province(demo_region, tmp_path, SETTINGS, minutes=cutoff_min)
    assert prov.split.halo_m == pytest.approx(halo_metres(SETTINGS, minutes=cutoff_min) * HALO_SAFETY)
    whole = _access(whole_walk, province.layers["facilities"], province.layers["elders"], cutoff_min)
    child = _children_access(tmp_path, prov.children, cutoff_min)
    assert len(child) == len(province.layers["elders"]) - OUTSIDE_ELDERS
    same = _compare(whole, child, cutoff_min)
    assert same.all(), f"{(~same).sum()} elders differ, e.g. {list(same.index[~same][:5])}"
    # the test can fail: many elders are reached, and some by a facility of another county
    reached = whole.loc[child.index, "time_min:any"] <= cutoff_min
    assert reached.sum() > 1000
    elder_county = child.index.str.slice(1, 2)
    facility_county = whole.loc[child.index, "facility_id:any"].astype(str).str.slice(1, 2)
    across = reached & (elder_county != facility_county)
    assert across.sum() > 0
    if cutoff_min == 5.0:  # a 5-minute halo is narrower than a tile: the children really are cut
        edges = prov.split.summary()["road_edges"]
        assert (edges < 0.8 * len(province.layers["road_edges"])).all()


@pytest.mark.parametrize("halo_m", [0.0, 450.0])
def test_a_narrower_halo_gives_some_elder_another_answer(province, whole_walk, halo_m: float) -> None:
    # 450 m is half of 15 minutes' walk at 3.6 km/h: elders far from a facility of some kind lose it
    cutoff_min = 15.0
    split = split_province(province.layers, province.counties, settings=SETTINGS, minutes=cutoff_min,
                           prefix="bare", halo_m=halo_m)
    assert split.halo_m == halo_m
    if halo_m == 0:
        assert split.summary()["halo_facilities"].sum() == 0
    whole = _access(whole_walk, province.layers["facilities"], province.layers["elders"], cutoff_min)
    parts = []
    for part in split.children:
        layers = split.layers(part)
        network = build_network(layers["road_edges"], mode="walk", settings=SETTINGS)
        parts.append(_access(network, layers["facilities"], layers["elders"], cutoff_min))
    same = _compare(whole, pd.concat(parts), cutoff_min)
    assert (~same).sum() > 0


# ---------------------------------------------------------------- placement


def test_every_elder_in_exactly_one_child_and_the_rest_reported(province) -> None:
    layers = province.layers
    split = split_province(layers, province.counties, settings=SETTINGS, minutes=15, prefix="prov")
    placed = np.concatenate([part.elders for part in split.children])
    assert len(placed) == len(np.unique(placed))  # none twice
    unassigned = split.unassigned_elders
    assert sorted(unassigned["id"]) == [f"OUT-{i + 1}" for i in range(OUTSIDE_ELDERS)]
    assert unassigned["reason_zh"].str.contains("所有区县范围之外").all()
    assert len(placed) + len(unassigned) == len(layers["elders"])  # nothing dropped
    for part in split.children:  # an elder's child is its county
        codes = layers["elders"]["district_code"].iloc[part.elders]
        assert (codes == part.code).all()
    assert any("3 名老人未分到任何区县" in note for note in split.notes_zh())
    # facilities: each is the own (halo False) facility of exactly one child; halo copies are of other counties
    own = np.concatenate([part.facilities[~part.facility_halo] for part in split.children])
    assert sorted(own) == list(range(len(layers["facilities"])))
    for part in split.children:
        halo_codes = layers["facilities"]["district_code"].iloc[part.facilities[part.facility_halo]]
        assert (halo_codes != part.code).all() and len(halo_codes) > 0
    # areas: each child's areas are its own, the county polygon is added where missing, the city is in none
    for part in split.children:
        areas = split.layers(part)["areas"]
        assert areas["code"].astype(str).str.startswith(part.code).all()
        assert (areas["code"] == part.code).sum() == 1
    assert split.child("419904").add_county_area and not split.child("419901").add_county_area
    assert list(split.unassigned_areas["code"]) == ["419900"]


def test_elder_without_code_is_placed_by_position_and_bad_counties_are_refused(province) -> None:
    layers = dict(province.layers)
    elders = layers["elders"].copy()
    elders.loc[:99, "district_code"] = None  # the first 100 elders lose their code: placed by point in polygon
    layers["elders"] = elders
    split = split_province(layers, province.counties, settings=SETTINGS, minutes=5, prefix="prov")
    first = split.child("419901")
    assert set(range(100)) <= set(first.elders)  # they lie in county 1's tile
    assert len(split.unassigned_elders) == OUTSIDE_ELDERS
    counties = province.counties.copy()
    counties.loc[1, "code"] = "419901"
    counties.loc[2, "geometry"] = shapely.Point(24.9, 60.1)
    with pytest.raises(HierarchyError, match="区划代码 419901 重复") as caught:
        split_province(layers, counties, settings=SETTINGS, prefix="prov")
    assert "第 3 行不是面" in caught.value.zh


# ---------------------------------------------------------------- hierarchy


@pytest.fixture(params=["files", "postgis"])
def root(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str | Path:
    monkeypatch.delenv("ELDERMAP_DATABASE_URL", raising=False)
    monkeypatch.setenv("ELDERMAP_REGIONS", str(tmp_path / "local"))
    if request.param == "files":
        return tmp_path / "regions"
    url = new_database(request.getfixturevalue("postgis_url"))
    store.migrate_database(url)
    return url


def _tiny_counties(province, root: str | Path) -> list[ChildRef]:  # type: ignore[no-untyped-def]
    """Four tiny county regions (their district polygon and five elders each) in ``root``."""
    refs = []
    elders = province.layers["elders"]
    for code, name, geom in zip(province.counties["code"], province.counties["name"], province.counties.geometry,
                                strict=True):
        areas = gpd.GeoDataFrame({"code": [code], "name": [name], "level": ["district"]}, geometry=[geom],
                                 crs="EPSG:4326")
        mine = elders[elders["district_code"] == code].iloc[:5][["pid", "district_code", "geometry"]]
        store.save_region(f"c-{code}", {"areas": areas, "elders": mine}, {}, root=root)
        refs.append(ChildRef(f"c-{code}", code, name))
    return refs


def test_hierarchy_round_trip_and_errors_in_chinese(province, root: str | Path) -> None:
    refs = _tiny_counties(province, root)
    save_parent("city", level="city", children=refs[:2], areas=province.counties, root=root, code="419900",
                title="试验市")
    save_parent("city2", level="city", children=refs[2:], areas=province.counties, root=root)
    loaded = load_hierarchy("city", root=root)
    assert (loaded.level, loaded.code, loaded.title) == ("city", "419900", "试验市")
    assert loaded.children == refs[:2]
    assert list(loaded.areas["code"]) == ["419901", "419902"]
    assert (shapely.area(loaded.areas.geometry.to_numpy()) > 0).all()
    province_refs = [ChildRef("city", "419900", "试验市", "city"), ChildRef("city2", "419800", "试验二市", "city")]
    save_parent("prov", level="province", children=province_refs, areas=province.counties, root=root)
    assert leaf_regions("prov", root=root) == refs
    assert leaf_regions("city2", root=root) == refs[2:]
    assert is_parent("prov", root=root) and is_parent("city", root=root)
    assert not is_parent("c-419901", root=root) and not is_parent("nowhere", root=root)

    with pytest.raises(HierarchyError, match="子地区“nope”不存在"):
        save_parent("bad", level="city", children=[*refs[:1], ChildRef("nope", "419909", "无")],
                    areas=province.counties, root=root)
    with pytest.raises(HierarchyError, match="区划代码 419901 重复") as caught:
        save_parent("bad", level="city", children=[refs[0], dataclasses.replace(refs[1], code="419901")],
                    areas=province.counties, root=root)
    assert "duplicate code" in caught.value.en
    with pytest.raises(HierarchyError, match="循环"):
        save_parent("prov", level="province", children=[*province_refs, ChildRef("prov", "410000", "省", "city")],
                    areas=province.counties, root=root)
    with pytest.raises(HierarchyError, match="不是上级地区"):
        save_parent("bad", level="province", children=[ChildRef("c-419901", "419901", "x", "city")],
                    areas=province.counties, root=root)
    with pytest.raises(HierarchyError, match="不是上级地区"):
        load_hierarchy("c-419901", root=root)
    with pytest.raises(HierarchyError, match="层级应为"):
        save_parent("bad", level="county", children=refs, areas=province.counties, root=root)
    assert not store.region_exists("bad", root=root)


def test_assemble_reads_codes_from_the_children(province, tmp_path: Path) -> None:
    root = tmp_path / "regions"
    refs = _tiny_counties(province, root)
    # a region without a district-level area: named after itself, code from its elders
    region = store.load_region("c-419904", root=root)
    store.save_region("loose", {"elders": region.elders, "areas": region.areas.iloc[:0]}, {}, root=root)
    made = assemble("asm", ["c-419901", "c-419902", "loose"], level="city", root=root)
    assert [m.child for m in made] == [*refs[:2], ChildRef("loose", "419904", "loose")]
    assert "区县级区划“试验一县”（419901）" in made[0].source_zh
    assert "区划数据中没有区县级区划" in made[2].source_zh
    assert leaf_regions("asm", root=root) == [m.child for m in made]
    # a province of assembled cities
    assemble("asm2", ["c-419903"], level="city", root=root, code="419800", title="二市")
    made = assemble("asmp", ["asm", "asm2"], level="province", root=root)
    assert [m.child.code for m in made] == ["asm", "419800"]
    assert [r.region for r in leaf_regions("asmp", root=root)] == ["c-419901", "c-419902", "loose", "c-419903"]
    with pytest.raises(HierarchyError, match="子地区“gone”不存在"):
        assemble("asm3", ["c-419901", "gone"], level="city", root=root)


def test_saved_children_hold_their_county_and_halo(demo_region, tmp_path: Path) -> None:
    prov = small_province(demo_region, tmp_path, SETTINGS, minutes=5)
    assert prov.children == [f"prov-{c}" for c in COUNTY_CODES]
    hierarchy = load_hierarchy("prov", root=tmp_path)
    assert [c.region for c in hierarchy.children] == prov.children and hierarchy.level == "city"
    region = store.load_region("prov-419902", root=tmp_path)
    assert region.manifest["partition"]["parent"] == "prov"
    assert region.manifest["partition"]["halo_m"] == pytest.approx(prov.split.halo_m)
    facilities = region.facilities
    assert facilities["halo"].dtype == bool and facilities["halo"].any() and not facilities["halo"].all()
    assert (facilities.loc[~facilities["halo"], "district_code"] == "419902").all()
    assert (region.elders["district_code"] == "419902").all()
    used = np.union1d(region.road_edges["u"], region.road_edges["v"])
    assert set(region.road_nodes["node_id"]) == set(used)
    parent = store.load_region("prov", root=tmp_path)
    assert set(parent.layers) == {"areas"}
    assert parent.manifest["partition"]["unassigned_elders"] == {
        "位于所有区县范围之外，且没有区县代码（district_code）": OUTSIDE_ELDERS}
