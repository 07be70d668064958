"""Map layers: composable, escaped, offline, and free of streamlit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from geo import hexes
from geo.errors import NoCrsError
from layers import (
    add_areas,
    add_change_cells,
    add_change_legend,
    add_coverage_cells,
    add_coverage_legend,
    add_facilities,
    add_gap_cells,
    add_layer_control,
    add_need_legend,
    add_roads,
    add_sites,
    add_sites_legend,
    escape_text,
    install_static_assets,
    map_lat_lon,
    map_lon_lat,
    new_map,
    offline_map_assets,
    public_facility_records,
    remote_asset_urls,
)
from layers.assets import ASSET_FOLDER, LEAFLET_FILES, MARKERCLUSTER_FILES, STREAMLIT_ASSETS_URL
from layers.basemap import road_lines_lat_lon
from layers.facilities import format_grade, format_price_yuan_month, json_safe
from layers.planning import (
    COVERAGE_CLASSES,
    GAIN_COLOR,
    LOSS_COLOR,
    NEED_COLORS,
    SITE_COLOR,
    SUPPRESSED_COLOR,
    cells_layer,
    coverage_color,
    need_color,
)

REPO = Path(__file__).resolve().parents[1]
EVIL = "<img src=x onerror=alert(1)>"
BOUNDS = (24.93, 60.16, 24.96, 60.18)


def facilities_frame(names: list[str] | None = None) -> gpd.GeoDataFrame:
    names = names or ["第一福利院", "花园日间照料中心", EVIL]
    n = len(names)
    lons = np.linspace(24.935, 24.955, n)
    lats = np.linspace(60.165, 60.175, n)
    return gpd.GeoDataFrame(
        {
            "id": [f"F{i:03d}" for i in range(n)],
            "name": pd.array(names, dtype="string"),
            "kind": pd.array((["养老机构", "日间照料中心", "助餐点"] * n)[:n], dtype="string"),
            "services": [np.array(["助餐", "助浴"], dtype=object)] + [[]] * (n - 1),
            "beds_total": pd.array([120] + [None] * (n - 1), dtype="Int64"),
            "beds_nursing": pd.array([60] + [None] * (n - 1), dtype="Int64"),
            "beds_free": pd.array([7] + [None] * (n - 1), dtype="Int64"),
            "grade": pd.array([3] + [None] * (n - 1), dtype="Int64"),
            "price_min_yuan_month": [2000.0] + [np.nan] * (n - 1),
            "price_max_yuan_month": [4500.0] + [np.nan] * (n - 1),
            "nature": pd.array(["公办"] * n, dtype="string"),
            "phone": pd.array(["010-12345678"] * n, dtype="string"),
            "address": pd.array([f"`${{alert(2)}}` 路 {i} 号" for i in range(n)], dtype="string"),
            "uscc": pd.array(["12110000MB0000000X"] * n, dtype="string"),
            "community_code": pd.array(["110199001001"] * n, dtype="string"),
        },
        geometry=[Point(x, y) for x, y in zip(lons, lats, strict=True)],
        crs="EPSG:4326",
    )


def roads_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"u": [1, 2], "v": [2, 3], "highway": ["residential", "footway"], "name": ["A", None],
         "length_m": [500.0, 300.0]},
        geometry=[LineString([(24.93, 60.16), (24.9400001, 60.1650001), (24.95, 60.17)]),
                  LineString([(24.95, 60.17), (24.96, 60.18)])],
        crs="EPSG:4326",
    )


def areas_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["110199001001", "110199001002", "110199001"],
         "name": ["花园社区", "<b>码头</b>社区", "海港街道"],
         "level": ["community", "community", "street"],
         "parent_code": ["110199001", "110199001", "110199"]},
        geometry=[box(24.93, 60.16, 24.945, 60.18), box(24.945, 60.16, 24.96, 60.18), box(24.93, 60.16, 24.96, 60.18)],
        crs="EPSG:4326",
    )


def full_map() -> folium.Map:
    m = new_map(BOUNDS)
    add_roads(m, roads_frame())
    add_areas(m, areas_frame())
    add_facilities(m, facilities_frame(), kinds=["养老机构", "日间照料中心", "助餐点"])
    return m


def decoded(html: str) -> str:
    """Map HTML with JSON ``\\uXXXX`` escapes (folium's tojson escapes all non-ASCII) turned back into text."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda g: chr(int(g.group(1), 16)), html)


def bound_strings(html: str, method: str) -> list[str]:
    """The JSON string arguments of every ``.bindPopup(...)`` / ``.bindTooltip(...)`` in a map's HTML."""
    return [json.loads(s) for s in re.findall(rf'\.{method}\(("(?:[^"\\]|\\.)*")', html)]


# ---------------------------------------------------------------- composition


def test_layers_return_the_map_they_were_given():
    m = new_map(BOUNDS)
    assert isinstance(m, folium.Map)
    assert add_roads(m, roads_frame()) is m
    assert add_areas(m, areas_frame(), level="community") is m
    assert add_facilities(m, facilities_frame()) is m
    folium.LayerControl().add_to(m)
    html = decoded(m.get_root().render())
    for name in ("道路", "社区边界", "养老服务设施"):
        assert name in html


def test_new_map_has_no_tiles_unless_given_a_url():
    html = new_map(BOUNDS).get_root().render()
    assert "tileLayer" not in html
    m = new_map(BOUNDS, tiles_url="http://tiles.example.internal/{z}/{x}/{y}.png", attribution="内部底图")
    assert "tiles.example.internal" in m.get_root().render()
    with pytest.raises(ValueError, match="attribution"):
        new_map(BOUNDS, tiles_url="http://tiles.example.internal/{z}/{x}/{y}.png")
    with pytest.raises(ValueError, match="bounds"):
        new_map((np.nan, np.nan, np.nan, np.nan))


def test_layers_do_not_mutate_their_inputs():
    fac, roads, areas = facilities_frame(), roads_frame(), areas_frame()
    copies = fac.copy(), roads.copy(), areas.copy()
    m = new_map(BOUNDS)
    add_roads(m, roads)
    add_areas(m, areas)
    add_facilities(m, fac)
    for before, after in zip(copies, (fac, roads, areas), strict=True):
        pd.testing.assert_frame_equal(before, after)


def test_layers_reproject_and_require_a_crs():
    projected = facilities_frame().to_crs("EPSG:3067")
    html = add_facilities(new_map(BOUNDS), projected).get_root().render()
    assert re.search(r"\[60\.16\d+, 24\.93\d+\]", html)
    with pytest.raises(NoCrsError, match="坐标参考系"):
        add_roads(new_map(BOUNDS), roads_frame().set_crs(None, allow_override=True))


def test_roads_are_simplified_and_rounded():
    lines = road_lines_lat_lon(roads_frame())
    assert lines[0] == [[60.16, 24.93], [60.17, 24.95]]  # the near-collinear middle vertex is dropped
    assert all(len(str(v).split(".")[1]) <= 5 for line in lines for pt in line for v in pt)
    assert road_lines_lat_lon(roads_frame().iloc[0:0]) == []


def test_areas_only_of_the_requested_level_with_names():
    html = decoded(add_areas(new_map(BOUNDS), areas_frame(), level="community").get_root().render())
    assert "花园社区" in html
    assert "海港街道" not in html
    html = decoded(add_areas(new_map(BOUNDS), areas_frame(), level="street").get_root().render())
    assert "海港街道" in html


def test_empty_layers_are_fine():
    m = new_map(BOUNDS)
    add_facilities(m, facilities_frame().iloc[0:0])
    add_roads(m, roads_frame().iloc[0:0])
    add_areas(m, areas_frame().iloc[0:0])
    assert "<html>" in m.get_root().render()


def test_facilities_coloured_by_kind_with_legend():
    html = full_map().get_root().render()
    assert html.count("L.circleMarker(") == 3
    assert "eldermap-legend" in html
    legend = "".join(re.findall(r'div\.innerHTML = ("(?:[^"\\]|\\.)*")', html))
    assert "日间照料中心" in json.loads(legend)


# ---------------------------------------------------------------- escaping and public fields


def test_facility_names_are_escaped_in_popups_and_tooltips():
    html = full_map().get_root().render()
    assert EVIL not in html
    assert "<img" not in decoded(html)  # not even once the JSON escapes are undone
    popups = bound_strings(html, "bindPopup")
    tooltips = bound_strings(html, "bindTooltip")
    assert len(popups) == len(tooltips) == 3
    evil_popup = next(p for p in popups if "onerror" in p)
    assert "&lt;img src=x onerror=alert(1)&gt;" in evil_popup
    assert "<img" not in evil_popup
    assert any("&lt;img src=x onerror=alert(1)&gt;" in t for t in tooltips)
    # template-literal breakers in the address are inert too
    assert "${alert(2)}" not in decoded(html)
    assert all("`" not in p for p in popups)


def test_area_names_are_escaped():
    html = add_areas(new_map(BOUNDS), areas_frame()).get_root().render()
    assert "<b>" not in decoded(html)
    assert "&lt;b&gt;码头&lt;/b&gt;" in json.dumps(json.loads(
        re.search(r"_add\((\{.*?\})\);", html, flags=re.S).group(1)), ensure_ascii=False)


def test_escape_text():
    assert escape_text(EVIL) == "&lt;img src=x onerror=alert(1)&gt;"
    assert escape_text("`${x}`\\") == "&#96;&#36;{x}&#96;&#92;"
    assert escape_text(None) == ""
    assert escape_text("老人 & 家属") == "老人 &amp; 家属"


def test_only_public_fields_reach_the_map():
    html = full_map().get_root().render()
    assert "12110000MB0000000X" not in html  # credit code
    assert "110199001001" not in html  # community code
    assert "F001" not in html  # internal id
    records = public_facility_records(facilities_frame())
    assert "uscc" not in records[0] and "id" not in records[0]


def test_records_are_json_safe():
    records = public_facility_records(facilities_frame())
    json.dumps(records, ensure_ascii=False)  # no numpy, NA or arrays left
    assert records[0]["services"] == ["助餐", "助浴"]
    assert records[0]["beds_total"] == 120 and type(records[0]["beds_total"]) is int
    assert records[1]["beds_total"] is None and records[1]["price_min_yuan_month"] is None
    assert json_safe(np.float64(1.5)) == 1.5 and json_safe(pd.NA) is None and json_safe(np.bool_(True)) is True


def test_formatting():
    assert format_price_yuan_month(2000.0, 4500.0) == "2000–4500 元/月"
    assert format_price_yuan_month(3000.0, None) == "3000 元/月"
    assert format_price_yuan_month(None, None) == ""
    assert format_grade(3) == "★★★（三级）"
    assert format_grade(None) == ""


# ---------------------------------------------------------------- offline assets


def test_offline_map_needs_no_cdn():
    m = full_map()
    assert remote_asset_urls(m)  # folium's defaults point at CDNs
    offline_map_assets(m)
    assert remote_asset_urls(m) == []
    assert m.default_js == [("leaflet", f"{STREAMLIT_ASSETS_URL}/leaflet.js")]
    html = m.get_root().render()
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\"' ]+", html)
    assert "jquery" not in html.lower() and "$(" not in html
    # folium's class-level lists are untouched: other maps are not affected by accident
    assert any("cdn" in url for _, url in folium.Map.default_js)


def test_clustered_facilities_render_offline(demo_region):
    m = new_map(BOUNDS)
    add_facilities(m, demo_region.facilities, cluster=True)
    assert any("markercluster" in url for url in remote_asset_urls(m))  # folium's plugin points at a CDN
    offline_map_assets(m)
    assert remote_asset_urls(m) == []
    html = m.get_root().render()
    assert "L.markerClusterGroup(" in html and f"{STREAMLIT_ASSETS_URL}/markercluster/leaflet.markercluster.js" in html
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\"' ]+", html)
    assert html.count("L.circleMarker(") == len(demo_region.facilities)


def test_offline_map_refuses_jquery_popups():
    m = new_map(BOUNDS)
    folium.CircleMarker([60.17, 24.94], popup="folium popup").add_to(m)
    with pytest.raises(ValueError, match="jQuery"):
        offline_map_assets(m)


def test_install_static_assets(tmp_path):
    target = install_static_assets(tmp_path / "static")
    assert target == tmp_path / "static" / ASSET_FOLDER
    for name in LEAFLET_FILES:
        assert (target / name).stat().st_size > 0
    assert "Leaflet 1.9.4" in (target / "leaflet.js").read_text(encoding="utf-8")[:200]
    for name in MARKERCLUSTER_FILES:
        assert (target / "markercluster" / name).stat().st_size > 0
    before = (target / "leaflet.js").stat().st_mtime_ns
    install_static_assets(tmp_path / "static")  # second call leaves identical files alone
    assert (target / "leaflet.js").stat().st_mtime_ns == before


def test_gcj02_tiles_shift_every_layer():
    from geo.coords import from_wgs84

    lon, lat = 113.6654, 34.7579  # Zhengzhou: GCJ-02 is a few hundred metres off WGS-84 here
    gx, gy = from_wgs84(np.array([lon]), np.array([lat]), "gcj02")
    assert abs(gx[0] - lon) + abs(gy[0] - lat) > 1e-3
    fac = gpd.GeoDataFrame({"id": ["F1"], "name": ["甲"], "kind": ["养老机构"]}, geometry=[Point(lon, lat)], crs=4326)
    roads = gpd.GeoDataFrame({"u": [1], "v": [2]}, geometry=[LineString([(lon, lat), (lon + 0.001, lat)])], crs=4326)
    bounds = (lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
    m = new_map(bounds, tiles_url="https://tiles.example/{z}/{x}/{y}.png", attribution="© 高德", coordinates="gcj02")
    add_facilities(add_roads(m, roads), fac)
    html = m.get_root().render()
    assert f"[{gy[0]:.4f}" in html or f"{gy[0]:.5f}" in html  # the facility sits at its GCJ-02 position
    assert f"{lat}, {lon}" not in html
    assert map_lat_lon(m, lon, lat) == pytest.approx([gy[0], gx[0]])
    plain = new_map(bounds)
    assert map_lat_lon(plain, lon, lat) == [lat, lon]
    with pytest.raises(ValueError, match="coordinates"):
        new_map(bounds, coordinates="bd09")


# ---------------------------------------------------------------- planner layers: cells, sites, legends


def h3_codes(n: int) -> list[str]:
    """``n`` distinct H3 cells (resolution 9) inside :data:`BOUNDS`."""
    lons = np.linspace(24.935, 24.955, n)
    lats = np.linspace(60.165, 60.175, n)
    codes = list(dict.fromkeys(hexes.cells_for_points(lons, lats, 9)))
    assert len(codes) == n
    return codes


def coverage_table() -> pd.DataFrame:
    """Coverage per H3 cell as region_coverage(by="h3") gives it: cells, then unassigned and total rows."""
    codes = h3_codes(3)
    return pd.DataFrame({
        "code": [*codes, "未归属", "合计"],
        "name": ["", "", "", "未归属", "全部地区"],
        "elders": [40, 12, 3, 5, 60],
        "covered": [39, 6, 3, 0, 48],
        "coverage_pct": [97.5, 50.0, 100.0, 0.0, 80.0],
    })


def gap_cells(reason: str = "圈外老人多") -> gpd.GeoDataFrame:
    codes = h3_codes(3)
    return gpd.GeoDataFrame({
        "rank": [1, 2, 3], "h3": codes, "elders": [30, 20, 2], "weighted_need": [8.0, 2.5, 1.0],
        "reason": [reason, "较远", "少"],
    }, geometry=[hexes.cell_polygon(c) for c in codes], crs="EPSG:4326")


def change_cells() -> gpd.GeoDataFrame:
    codes = h3_codes(3)
    return gpd.GeoDataFrame({
        "h3": codes, "elders": [30, 20, 2], "covered_a": [0, 20, 0], "covered_b": [25, 5, 2],
        "covered_delta": [25, -15, 2], "change": ["增加覆盖", "失去覆盖", "增加覆盖"],
    }, geometry=[hexes.cell_polygon(c) for c in codes], crs="EPSG:4326")


def cell_features(html: str) -> list[dict]:
    """Properties of every GeoJSON feature drawn on a map (folium embeds the data as JSON)."""
    props = []
    for blob in re.findall(r"_add\((\{.*?\})\);", html, flags=re.S):
        props += [f["properties"] for f in json.loads(blob).get("features", [])]
    return props


def test_coverage_and_need_colours():
    assert [coverage_color(p) for p in (100.0, 95.0, 94.9, 80.0, 50.0, 49.9, 0.0)] == [
        COVERAGE_CLASSES[0][1], COVERAGE_CLASSES[0][1], COVERAGE_CLASSES[1][1], COVERAGE_CLASSES[1][1],
        COVERAGE_CLASSES[2][1], COVERAGE_CLASSES[3][1], COVERAGE_CLASSES[3][1]]
    assert [need_color(n, 8.0) for n in (0.0, 1.9, 2.0, 4.0, 6.0, 7.9, 8.0)] == [
        NEED_COLORS[0], NEED_COLORS[0], NEED_COLORS[1], NEED_COLORS[2], NEED_COLORS[3], NEED_COLORS[3], NEED_COLORS[3]]
    assert need_color(3.0, 0.0) == NEED_COLORS[0]


def test_cells_with_few_elders_are_grey_and_show_no_numbers():
    cells = gap_cells(reason=EVIL)
    layer = cells_layer(cells, fill=lambda r: "#123456", label=lambda r: f"{r.reason} {r.elders} 人", threshold=10)
    assert list(layer["fill"]) == ["#123456", "#123456", SUPPRESSED_COLOR]
    assert layer["label"].iloc[0] == f"{escape_text(EVIL)} 30 人"
    assert layer["label"].iloc[2] == "老年人少于 10 人，不显示数字"
    assert layer.crs == cells.crs and layer.geometry.equals(cells.geometry)


def test_coverage_cells_leave_out_total_and_unassigned_rows():
    table = coverage_table()
    before = table.copy()
    m = new_map(BOUNDS)
    assert add_coverage_cells(m, table, threshold=10) is m
    assert add_coverage_legend(m, threshold=10) is m
    add_layer_control(m)
    html = m.get_root().render()
    pd.testing.assert_frame_equal(table, before)
    props = cell_features(html)
    assert [p["fill"] for p in props] == [COVERAGE_CLASSES[0][1], COVERAGE_CLASSES[2][1], SUPPRESSED_COLOR]
    assert props[0]["label"] == "覆盖率 97.5%（39/40 人）"
    assert props[2]["label"] == "老年人少于 10 人，不显示数字"  # 3 elders: no counts, not even 100%
    text = decoded(html)
    assert "网格覆盖率" in text and "合计" not in text and "未归属" not in text
    assert "老年人少于 10 人" in text and "95% 及以上" in text  # the legend


def test_gap_cells_ranked_or_by_reason_escaped():
    m = add_gap_cells(new_map(BOUNDS), gap_cells(reason=EVIL), threshold=10)
    html = m.get_root().render()
    props = cell_features(html)
    assert [p["fill"] for p in props] == [NEED_COLORS[3], NEED_COLORS[1], SUPPRESSED_COLOR]
    assert props[0]["label"] == f"第 1 位：{escape_text(EVIL)}；加权需求 8"
    assert "<img" not in decoded(html)
    props = cell_features(add_gap_cells(new_map(BOUNDS), gap_cells(), threshold=10, ranked=False)
                          .get_root().render())
    assert props[1]["label"] == "服务缺口：较远"
    legend = decoded(add_need_legend(new_map(BOUNDS)).get_root().render())
    assert all(word in legend for word in ("加权需求", "较低", "中等", "较高", "最高"))


def test_change_cells_green_for_gain_red_for_loss():
    m = add_change_legend(add_change_cells(new_map(BOUNDS), change_cells(), threshold=10), threshold=10)
    html = m.get_root().render()
    props = cell_features(html)
    assert [p["fill"] for p in props] == [GAIN_COLOR, LOSS_COLOR, SUPPRESSED_COLOR]
    assert [p["label"] for p in props[:2]] == ["增加覆盖 +25 人", "失去覆盖 -15 人"]
    assert "失去覆盖" in decoded(html) and "覆盖变化" in decoded(html)


def test_sites_are_escaped_markers_in_their_own_group():
    sites = pd.DataFrame({"rank": [1, 2], "lon": [24.94, 24.95], "lat": [60.17, 60.175],
                          "community_name": [EVIL, ""], "newly_covered": [12, 3]})
    m = new_map(BOUNDS)
    assert add_sites(m, sites) is m
    add_sites_legend(m)
    add_layer_control(m)
    html = m.get_root().render()
    assert html.count("L.circleMarker(") == 2
    assert SITE_COLOR in html
    tooltips = bound_strings(html, "bindTooltip")
    assert tooltips == [f"推荐新址 1：{escape_text(EVIL)}，新增覆盖 12 人", "推荐新址 2：（社区外），新增覆盖 3 人"]
    assert "<img" not in decoded(html)
    assert "推荐新址" in decoded(html) and "服务缺口（颜色越深需求越大）" in decoded(html)


def test_each_planner_layer_is_its_own_group_in_the_layer_control():
    m = new_map(BOUNDS)
    add_coverage_cells(m, coverage_table(), threshold=10, name="甲层")
    add_gap_cells(m, gap_cells(), threshold=10, name="乙层")
    add_change_cells(m, change_cells(), threshold=10, name="丙层")
    add_sites(m, pd.DataFrame({"rank": [1], "lon": [24.94], "lat": [60.17], "community_name": ["花园社区"],
                               "newly_covered": [1]}), name="丁层")
    assert add_layer_control(m) is m
    html = decoded(m.get_root().render())
    assert html.count("L.featureGroup(") == 4
    overlays = re.search(r"overlays\s*:\s*\{(.*?)\}", html, flags=re.S).group(1)
    assert re.findall(r'"(.+?)"\s*:\s*feature_group_', overlays) == ["甲层", "乙层", "丙层", "丁层"]


def test_empty_planner_layers_are_fine():
    m = new_map(BOUNDS)
    add_coverage_cells(m, coverage_table().iloc[3:], threshold=10)  # only the unassigned and total rows
    add_gap_cells(m, gap_cells().iloc[0:0], threshold=10)
    add_change_cells(m, change_cells().iloc[0:0], threshold=10)
    add_sites(m, pd.DataFrame(columns=["rank", "lon", "lat", "community_name", "newly_covered"]))
    html = m.get_root().render()
    assert cell_features(html) == [] and "L.circleMarker(" not in html


def test_map_lon_lat_undoes_map_lat_lon():
    lon, lat = 113.6654, 34.7579
    bounds = (lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
    gcj = new_map(bounds, tiles_url="https://tiles.example/{z}/{x}/{y}.png", attribution="© 高德", coordinates="gcj02")
    drawn_lat, drawn_lon = map_lat_lon(gcj, lon, lat)
    assert abs(drawn_lon - lon) + abs(drawn_lat - lat) > 1e-3
    assert map_lon_lat(gcj, drawn_lat, drawn_lon) == pytest.approx((lon, lat), abs=1e-6)
    assert map_lon_lat(new_map(bounds), lat, lon) == (lon, lat)
