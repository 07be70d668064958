"""Areas at any level, by position, code or name (issue 11): name normalisation, the matcher, assigning
points with street polygons only, community lists without geometry, conflicts, and the import summary.

Every expected value below is worked out by hand from the small frames and files written here.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from shapely.geometry import Point, box, mapping

import eldermap
from data import store
from data.importer import assign_areas, import_region, merge_areas
from geo.area_match import AREA_SUFFIXES, AreaIndex, name_keys, normalise_area_name
from geo.settings import Settings

TODAY = dt.date(2026, 11, 23)

# ---------------------------------------------------------------- a hand-made region: two streets, three
# communities named in a list (no community polygons), "幸福社区" in both streets

D = "410105"
A, B = "410105001", "410105002"  # 东风街道 (west, x 0–1), 红旗街道 (east, x 1–2)
A1, B1, B2 = "410105001001", "410105002001", "410105002002"  # 幸福社区 (A), 幸福社区 (B), 新村社区 (B)


def _areas() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [D, A, B, A1, B1, B2], "name": ["金水区", "东风街道", "红旗街道", "幸福社区", "幸福社区", "新村社区"],
         "level": ["district", "street", "street", "community", "community", "community"],
         "parent_code": [None, D, D, A, B, B]},
        geometry=[None, box(0, 0, 1, 1), box(1, 0, 2, 1), None, None, None], crs="EPSG:4326")


# ---------------------------------------------------------------- normalisation

@pytest.mark.parametrize("variants, key", [
    (("东风街道", "东风街道办事处", "东风", " 东 风 ", "东风镇", "东风乡", "东风\u3000街道"), "东风"),
    (("幸福社区", "幸福居委会", "幸福社区居委会", "幸福", "幸福村委会", "幸福村"), "幸福"),
    (("ＡＢ社区", "AB 社区", "AB"), "AB"),
])
def test_suffix_and_width_variants_share_a_key(variants: tuple[str, ...], key: str) -> None:
    assert {normalise_area_name(v) for v in variants} == {key}


def test_normalising_strips_one_suffix_and_never_to_empty() -> None:
    assert normalise_area_name("街道") == "街道" and normalise_area_name("社区") == "社区"
    assert normalise_area_name("村") == "村" and normalise_area_name("\u3000") == ""
    # what remains would itself end in a suffix: the name is kept whole ("新村" may be the name)
    assert normalise_area_name("新村社区") == "新村社区"
    assert normalise_area_name("张庄村村委会") == "张庄村村委会"
    # ... and the loose keys still carry the one-suffix form, so the matcher finds them
    assert "新村" in name_keys("新村社区") and "新村" in name_keys("新村居委会")
    assert "张庄村" in name_keys("张庄村村委会")


_NAME_CHARS = "东风红旗幸福新华金水花园中原建设林山寨二七绿城村镇乡社区街道居委会办事处 \u3000ＡＢ１２AB12"


@given(st.text(alphabet=_NAME_CHARS, max_size=14) | st.text(max_size=14))
def test_normalising_is_idempotent(text: str) -> None:
    once = normalise_area_name(text)
    assert normalise_area_name(once) == once
    assert (once == "") == ("".join(text.translate({0x3000: 0x20}).split()) == "")  # never stripped to empty


_CORE_CHARS = "东风红旗幸福新华金水花园中原建设林山寨二七绿城张庄AB12"


def _decorate(text: str, spaces: list[int], wide: bool) -> str:
    """Spaces (ASCII or U+3000) inserted at the given positions; ASCII as full-width when ``wide``."""
    if wide:
        text = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    for k, pos in enumerate(sorted(spaces, reverse=True)):
        pos = min(pos, len(text))
        text = text[:pos] + (" " if k % 2 else "\u3000") + text[pos:]
    return text


@given(core=st.text(alphabet=_CORE_CHARS, min_size=1, max_size=8),
       suffixes=st.lists(st.sampled_from(("", *AREA_SUFFIXES)), min_size=2, max_size=2),
       spaces=st.lists(st.integers(0, 12), max_size=3), wide=st.booleans())
def test_suffix_variants_map_to_the_same_key(core: str, suffixes: list[str], spaces: list[int], wide: bool) -> None:
    assume(not core.endswith(AREA_SUFFIXES))
    first, second = (_decorate(core + s, spaces, wide) for s in suffixes)
    assert normalise_area_name(first) == normalise_area_name(second) == core


# ---------------------------------------------------------------- the matcher

def test_matcher_exact_normalised_and_codes() -> None:
    index = AreaIndex(_areas())
    exact = index.resolve("东风街道", "street")
    assert (exact.code, exact.how, exact.note) == (A, "exact", "")
    for written in ("东风", "东风街道办事处", " 东风 街道", "东风镇"):
        match = index.resolve(written, "street")
        assert (match.code, match.how) == (A, "normalised"), written
    assert index.resolve("新村居委会", "community").code == B2
    wide = index.resolve("４１０１０５００２", "street")  # full-width digits
    assert (wide.code, wide.how, wide.note) == (B, "code", "")
    assert index.resolve("410105002 ", "street").code == B
    unknown = index.resolve("410105009", "street")  # well formed, not in the areas: usable, and said so
    assert unknown.code == "410105009" and "不在区划数据中" in unknown.note
    short = index.resolve("4101050", "street")
    assert short.code is None and "应为 9 位" in short.note


def test_matcher_ambiguous_name_needs_the_street() -> None:
    index = AreaIndex(_areas())
    both = index.resolve("幸福社区", "community")
    assert both.code is None and both.ambiguous and set(both.candidates) == {A1, B1}
    assert both.note.startswith("多个同名社区") and A1 in both.note and B1 in both.note
    assert index.resolve("幸福社区", "community", within=A).code == A1
    assert index.resolve("幸福", "community", within=B).code == B1
    assert index.resolve(f"{B1}", "community", within=B).code == B1
    outside = index.resolve(B1, "community", within=A)  # a code outside the known street
    assert outside.code is None and "不在" in outside.note


def test_matcher_says_why_a_name_is_unmatched() -> None:
    index = AreaIndex(_areas())
    nowhere = index.resolve("火星街道", "street")
    assert nowhere.code is None and nowhere.note == "未匹配：区划数据中没有名为“火星街道”的街道"
    elsewhere = index.resolve("新村社区", "community", within=A)
    assert elsewhere.code is None and "410105001（东风街道）内没有名为“新村社区”的社区" in elsewhere.note
    assert B2 in elsewhere.note  # where a community of that name does exist
    streets_only = AreaIndex(_areas().iloc[:3])
    assert "没有社区一级的区划" in streets_only.resolve("幸福社区", "community").note
    assert streets_only.resolve(A1, "community").code == A1  # a code is still usable


def test_matcher_hierarchy_follows_parent_codes_then_prefixes() -> None:
    areas = _areas()
    odd = pd.DataFrame({"code": ["410105001900"], "name": ["外挂社区"], "level": ["community"], "parent_code": [B]})
    index = AreaIndex(pd.concat([areas.drop(columns="geometry"), odd], ignore_index=True))
    assert index.ancestor("410105001900", "street") == B  # the recorded parent, not the prefix
    assert index.ancestor("410105003777", "street") == "410105003"  # unknown code: the prefix
    assert index.lineage(A1) == {"district": D, "street": A, "community": A1}
    assert index.ancestor(A, "community") is None


# ---------------------------------------------------------------- assign_areas: street polygons only

def _points() -> gpd.GeoDataFrame:
    """Eight elders; the comment on each row gives the expected outcome."""
    rows = [
        # position,       street_name, community_name, community_code
        (Point(0.5, 0.5), None, None, None),              # e0: A by polygon, no community (no polygons)
        (Point(1.5, 0.5), None, "幸福社区", None),         # e1: ambiguous name settled by position -> B1
        (None, "东风", "幸福", None),                      # e2: street by name, community within it -> A1
        (Point(0.5, 0.5), None, None, B2),                 # e3: code B2 but lies in A: warning, code kept
        (Point(5.0, 5.0), None, None, None),              # e4: outside every polygon
        (None, None, None, None),                          # e5: no position
        (Point(0.4, 0.6), None, "火星社区", None),          # e6: unmatched community name, A by polygon
        (Point(1.6, 0.4), "东风街道", None, None),          # e7: name A, lies in B: warning, name kept
    ]
    geometry, streets, communities, codes = zip(*rows, strict=True)
    return gpd.GeoDataFrame(
        {"street_name": pd.array(streets, dtype="string"), "community_name": pd.array(communities, dtype="string"),
         "community_code": pd.array(codes, dtype="string"), "source_row": np.arange(2, 10)},
        geometry=list(geometry), crs="EPSG:4326")


def test_street_polygons_only_fill_street_and_district_community_from_name_or_code() -> None:
    out, _, summary = assign_areas(_points(), _areas(), table="elders", file_name="老人.csv")
    assert list(out["district_code"].fillna("")) == [D, D, D, D, "", "", D, D]
    assert list(out["street_code"].fillna("")) == [A, B, A, B, "", "", A, A]
    assert list(out["community_code"].fillna("")) == ["", B1, A1, B2, "", "", "", ""]
    assert list(out["street_source"].fillna("")) == ["polygon:street", "name", "name", "code", "", "", "polygon:street",
                                                     "name"]
    assert list(out["community_source"].fillna("")) == ["", "name", "name", "code", "", "", "", ""]
    # exact counts, per level
    assert summary.levels == ("district", "street", "community")
    assert summary.sources["street"] == {"polygon:street": 2, "name": 3, "code": 1}
    assert summary.sources["district"] == summary.sources["street"]
    assert summary.unassigned["street"] == {"outside": 1, "no_position": 1}
    assert summary.sources["community"] == {"name": 2, "code": 1}
    assert summary.unassigned["community"] == {"no_polygons": 2, "no_position": 1, "unmatched": 1, "conflict": 1}
    assert summary.lines_zh()[1] == "老年人 8 · 街道：按街道边界 2，按代码 1，按名称 3，未归属 2（无坐标 1、不在任何边界内 1）"
    assert summary.lines_zh()[2] == ("老年人 8 · 社区：按代码 1，按名称 2，未归属 5（无坐标 1、名称未匹配 1、"
                                     "与所填代码或名称矛盾 1、无该级边界且未填名称或代码 2）")
    # the input is not changed
    assert "street_code" not in _points()


def test_conflicts_and_unmatched_names_are_row_warnings_with_both_values() -> None:
    _, problems, _ = assign_areas(_points(), _areas(), table="elders", file_name="老人.csv")
    assert list(problems.columns) == ["文件", "行号", "字段", "值", "问题", "级别"]
    assert set(problems["级别"]) == {"警告"} and set(problems["文件"]) == {"老人.csv"}
    by_row = problems.set_index("行号")
    assert list(by_row.index) == ["5", "8", "9"]  # e3, e6, e7
    assert by_row.loc["5", "问题"] == ("社区代码 410105002002（新村社区）与位置不一致：位置落在 410105001（东风街道）内；"
                                      "以所填代码为准，请核对")
    assert by_row.loc["8", "字段"] == "所属社区" and by_row.loc["8", "值"] == "火星社区"
    assert "未匹配" in by_row.loc["8", "问题"] and "火星社区" in by_row.loc["8", "问题"]
    assert by_row.loc["9", "问题"].startswith("所属街道“东风街道”对应 410105001（东风街道），但位置落在 410105002（红旗街道）内")


def test_name_against_recorded_code_keeps_the_code() -> None:
    points = gpd.GeoDataFrame({"street_code": pd.array([B], dtype="string"), "street_name": ["东风街道"],
                               "community_name": ["幸福社区"], "source_row": [2]}, geometry=[None], crs="EPSG:4326")
    out, problems, _ = assign_areas(points, _areas())
    assert out.loc[0, "street_code"] == B and out.loc[0, "street_source"] == "code"
    assert out.loc[0, "community_code"] == B1  # the name resolved within the recorded street
    assert problems["问题"].tolist() == ["所属街道“东风街道”对应 410105001（东风街道），但街道代码为 410105002（红旗街道）；以代码为准"]


def test_community_polygons_win_over_street_polygons_and_first_polygon_wins() -> None:
    areas = _areas()
    areas.loc[areas["code"] == B1, "geometry"] = box(1, 0, 1.5, 1)
    points = gpd.GeoDataFrame({"source_row": [2, 3]}, geometry=[Point(1.2, 0.5), Point(1.8, 0.5)], crs="EPSG:4326")
    out, problems, summary = assign_areas(points, areas, table="facilities")
    assert list(out["community_code"].fillna("")) == [B1, ""]
    assert list(out["street_source"]) == ["polygon:community", "polygon:street"]
    assert summary.unassigned["community"] == {"outside": 1}  # community polygons exist; this point is in none
    assert problems.empty


def test_everyone_unassigned_always_warns() -> None:
    points = gpd.GeoDataFrame({"source_row": [2, 3]}, geometry=[Point(9, 9), None], crs="EPSG:4326")
    _, _, summary = assign_areas(points, _areas(), table="elders")
    warnings = summary.warnings_zh(warn_pct=100.0)  # even with the share check off
    assert len(warnings) == 1 and "全部未归属" in warnings[0] and "不在任何边界内 1" in warnings[0]
    _, _, bare = assign_areas(points, None, table="elders")
    assert bare.levels == () and "地区没有区划数据" in bare.warnings_zh(warn_pct=1.0)[0]
    _, _, some = assign_areas(_points(), _areas(), table="elders")
    assert some.warnings_zh(warn_pct=30.0) == [("警告：老年人未归属比例超过 30%（设置 unassigned_warn_pct）：社区 62.5%；"
                                               "原因见上一行和校验报告")]
    assert some.warnings_zh(warn_pct=70.0) == []


def test_reassigning_keeps_recorded_codes_and_recomputes_the_rest() -> None:
    first, _, _ = assign_areas(_points(), _areas().iloc[:3])  # before the community list
    assert list(first["community_code"].fillna("")) == ["", "", "", B2, "", "", "", ""]
    again, _, summary = assign_areas(first, _areas())
    assert list(again["community_code"].fillna("")) == ["", B1, A1, B2, "", "", "", ""]
    assert again.loc[3, "community_source"] == "code" and again.loc[1, "community_source"] == "name"
    assert summary.sources["community"] == {"name": 2, "code": 1}


# ---------------------------------------------------------------- merging areas files

def test_community_list_after_street_polygons_keeps_both_levels() -> None:
    streets = _areas().iloc[:3]
    listed = gpd.GeoDataFrame(
        {"code": [A1, B2, "410105003001"], "name": ["幸福社区", "新村社区", "绿东村社区"], "level": ["community"] * 3,
         "parent_code": [A, B, "410105003"], "parent_name": ["东风街道", "东风", "绿东村街道"], "source_row": [2, 3, 4]},
        geometry=[None] * 3, crs="EPSG:4326")
    merged, problems = merge_areas(streets, listed, file_name="社区名单.csv")
    by_code = merged.set_index("code")
    assert set(by_code.index) == {D, A, B, A1, B2, "410105003001", "410105003"}
    assert by_code.loc[A].geometry.equals(box(0, 0, 1, 1))  # street polygons kept
    assert by_code.loc["410105003", "name"] == "绿东村街道"  # a missing parent named from 上级名称
    assert by_code.loc["410105003", "level"] == "street"
    assert list(problems["行号"]) == ["3"]  # 新村社区's 上级名称 "东风" is street A, its code says B
    assert "上级名称“东风”对应 410105001（东风街道），但代码 410105002002 的上级为 410105002（红旗街道）" in problems["问题"][0]
    # a later street file replaces the streets only
    new_streets = gpd.GeoDataFrame({"code": [A], "name": ["东风街道"], "level": ["street"], "parent_code": [D]},
                                   geometry=[box(0, 0, 3, 1)], crs="EPSG:4326")
    again, _ = merge_areas(merged, new_streets)
    levels = again.set_index("code")["level"]
    assert set(levels[levels == "community"].index) == {A1, B2, "410105003001"}
    assert set(levels[levels == "street"].index) == {A, B, "410105003"}  # B and 410105003 come back from the codes
    assert again.set_index("code").loc[A].geometry.equals(box(0, 0, 3, 1))


# ---------------------------------------------------------------- a full import on the Zhengzhou grid

ZD = "410102"
ZA, ZB = "410102001", "410102002"  # 林山寨街道 (west of 113.616), 建设路街道 (east)
ZA1, ZB1, ZB2, ZB3 = "410102001001", "410102002001", "410102002002", "410102002201"


def _write_streets(path: Path) -> Path:
    features = [
        {"type": "Feature", "properties": {"区划代码": ZA, "名称": "林山寨街道"},
         "geometry": mapping(box(113.605, 34.735, 113.616, 34.755))},
        {"type": "Feature", "properties": {"区划代码": ZB, "名称": "建设路街道"},
         "geometry": mapping(box(113.616, 34.735, 113.628, 34.755))},
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def _write_communities(path: Path) -> Path:
    pd.DataFrame({"区划代码": [ZA1, ZB1, ZB2, ZB3],
                  "名称": ["幸福社区", "幸福社区", "新村社区", "张庄村"],
                  "村居类型": ["居委会", "居委会", "居委会", "村委会"],
                  "上级名称": ["林山寨街道", "建设路", "建设路街道", "建设路街道"]}).to_excel(path, index=False)
    return path


ELDER_NAMES = ["幸福社区", "幸福", None, "张庄村村委会", None, None, None, None, "新村居委会", "幸福社区",
               "４１０１０２００２００２", "火星社区"]
"""所属社区 of the 12 grid points (0–7 west in 林山寨街道, 8–11 east in 建设路街道)."""


def _write_elders(path: Path, lon: np.ndarray, lat: np.ndarray) -> Path:
    frame = pd.DataFrame({"老人编号": [f"E{i:03d}" for i in range(12)], "出生年份": [1940 + i for i in range(12)],
                          "经度": lon.round(6), "纬度": lat.round(6), "所属街道": [None, "林山寨"] + [None] * 10,
                          "所属社区": ELDER_NAMES})
    frame.to_csv(path, index=False, encoding="gbk")
    return path


@pytest.fixture
def _salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELDERMAP_SALT", "ab" * 32)


def _needs_names_from_validate(tmp_path: Path, lon: np.ndarray, lat: np.ndarray) -> None:
    from data.validate import validate_table

    result = validate_table(_write_elders(tmp_path / "probe.csv", lon, lat), "elders", settings=Settings(),
                            salt=b"x" * 32, today=TODAY)
    if "community_name" not in result.good:
        pytest.skip("data.validate does not yet pass 所属社区 through to the good rows (helper C)")


@pytest.mark.usefixtures("_salt")
def test_street_polygons_then_community_list_then_named_files(tmp_path: Path, zhengzhou_osm) -> None:
    osm_path, lon, lat = zhengzhou_osm
    _needs_names_from_validate(tmp_path, lon, lat)
    root, reports = tmp_path / "regions", tmp_path / "reports"
    common = {"settings": Settings(), "root": root, "report_dir": reports, "today": TODAY}
    import_region("zy", roads=osm_path, areas=_write_streets(tmp_path / "街道边界.geojson"), **common)
    # elders before the community list: streets by polygon, community names cannot match yet
    early = import_region("zy", elders=_write_elders(tmp_path / "老人.csv", lon, lat), **common)
    summary = early.assignments["elders"]
    assert summary.sources["street"] == {"polygon:street": 10, "name": 2}  # 林山寨 (row 1), a code (row 10)
    assert summary.sources["community"] == {"name": 1}  # the full-width code is usable without the list
    assert summary.unassigned["community"] == {"unmatched": 6, "no_polygons": 5}
    # the community list (no geometry) keeps the street polygons, and re-assigns the elders carried over
    late = import_region("zy", areas=_write_communities(tmp_path / "社区名单.xlsx"), **common)
    region = store.load_region("zy", root=root)
    areas = region.areas.set_index("code")
    assert set(areas.index) == {ZD, ZA, ZB, ZA1, ZB1, ZB2, ZB3}
    assert areas.loc[ZA].geometry is not None and areas.loc[ZA1].geometry is None
    assert areas.loc[ZB3, "community_type"] == "村委会"
    list_problems = late.results[0].problems
    assert list_problems[list_problems["字段"] == "上级名称"]["行号"].tolist() == []  # "建设路" is 建设路街道
    carried = late.assignments["elders"]
    assert carried.carried and "沿用已有数据" in carried.lines_zh()[0]
    elders = region.elders.sort_values("source_row").reset_index(drop=True)
    assert list(elders["community_code"].fillna("")) == [ZA1, ZA1, "", ZB3, "", "", "", "", ZB2, ZB1, ZB2, ""]
    assert list(elders["street_code"]) == [ZA, ZA, ZA, ZB, ZA, ZA, ZA, ZA, ZB, ZB, ZB, ZB]
    assert set(elders["district_code"]) == {ZD}
    assert carried.sources["community"] == {"name": 6}
    assert carried.unassigned["community"] == {"no_polygons": 5, "unmatched": 1}
    assert carried.sources["street"] == {"name": 6, "polygon:street": 6}
    # row 3 (张庄村村委会) names a village of the east street but lies in the west one: a warning line
    assert any("归属提示" in w for w in late.warnings)
    # a facility file with names only
    pd.DataFrame({"名称": ["甲站", "乙站", "丙站"], "类型": ["养老服务站"] * 3,
                  "经度": lon[[0, 8, 9]].round(6), "纬度": lat[[0, 8, 9]].round(6),
                  "所属街道": ["林山寨街道办事处", "410102002", None], "所属社区": [None, None, "新村"]}
                 ).to_csv(tmp_path / "设施.csv", index=False)
    outcome = import_region("zy", facilities=tmp_path / "设施.csv", **common)
    facilities = store.load_region("zy", root=root).facilities.sort_values("source_row")
    assert list(facilities["street_code"]) == [ZA, ZB, ZB]
    assert list(facilities["community_code"].fillna("")) == ["", "", ZB2]
    assert outcome.assignments["facilities"].sources["street"] == {"name": 3}
    problems = outcome.results[0].problems
    assert problems[problems["字段"].isin(["所属街道", "所属社区"])].empty


@pytest.mark.usefixtures("_salt")
def test_conflict_rows_reach_the_validation_report(tmp_path: Path, zhengzhou_osm) -> None:
    osm_path, lon, lat = zhengzhou_osm
    _needs_names_from_validate(tmp_path, lon, lat)
    common = {"settings": Settings(), "root": tmp_path / "r", "report_dir": tmp_path / "rep", "today": TODAY}
    import_region("zy", roads=osm_path, areas=_write_streets(tmp_path / "s.geojson"), **common)
    import_region("zy", areas=_write_communities(tmp_path / "c.xlsx"), **common)
    outcome = import_region("zy", elders=_write_elders(tmp_path / "e.csv", lon, lat), **common)
    problems = outcome.results[0].problems
    row = problems[problems["行号"] == "5"]  # data row 4 (张庄村村委会), after the header line
    assert row["问题"].tolist() == [("所属社区“张庄村村委会”对应 410102002201（张庄村），但位置落在 410102001（林山寨街道）内；"
                                  "以所填名称为准，请核对")]
    unmatched = problems[problems["值"] == "火星社区"]
    assert unmatched["问题"].str.startswith("未匹配").tolist() == [True]
    # and the report file holds them
    report = pd.read_excel(outcome.reports[0], sheet_name="问题清单", dtype=str)
    assert "火星社区" in set(report["值"]) and report["问题"].str.contains("张庄村村委会").any()


@pytest.mark.usefixtures("_salt")
def test_cli_import_prints_the_assignment_and_warns_when_nobody_is_assigned(
        tmp_path: Path, zhengzhou_osm, capsys: pytest.CaptureFixture[str]) -> None:
    osm_path, lon, lat = zhengzhou_osm
    pd.DataFrame({"名称": ["甲站", "乙站"], "类型": ["养老服务站"] * 2, "经度": lon[:2].round(6), "纬度": lat[:2].round(6)}
                 ).to_csv(tmp_path / "设施.csv", index=False)
    regions = str(tmp_path / "regions")
    code = eldermap.main(["--regions", regions, "import", "zy", "--roads", str(osm_path), "--facilities",
                          str(tmp_path / "设施.csv"), "--report-dir", str(tmp_path / "rep")])
    captured = capsys.readouterr()
    assert code == 0, captured
    assert "警告：养老服务设施 2 条全部未归属任何区域" in captured.err
    code = eldermap.main(["--regions", regions, "import", "zy", "--areas", str(_write_streets(tmp_path / "s.geojson")),
                          "--report-dir", str(tmp_path / "rep")])
    captured = capsys.readouterr()
    assert code == 0, captured
    assert "养老服务设施 2（沿用已有数据，按新的区划重新归属） · 街道：按街道边界 2，未归属 0" in captured.out
    assert "全部未归属" not in captured.err


def test_import_help_says_areas_replace_only_their_levels(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        eldermap.main(["import", "--help"])
    assert "只替换文件中出现的层级" in capsys.readouterr().out


# ---------------------------------------------------------------- the data page shows the summary

def test_data_page_shows_the_assignment_after_an_import(staff_demo_root, demo_region) -> None:
    from conftest import open_app, open_staff_page, run

    fac = demo_region.facilities.head(2)
    csv = pd.DataFrame({"名称": ["甲站", "乙站"], "类型": ["养老服务站", "助餐点"],
                        "经度": fac.geometry.x.round(6).to_list(), "纬度": fac.geometry.y.round(6).to_list()})
    at = open_app()
    open_staff_page(at, "数据管理")
    at.file_uploader(key="data_upload").set_value(("新设施.csv", csv.to_csv(index=False).encode("utf-8"), "text/csv"))
    run(at)
    next(b for b in at.button if b.key == "data_validate").click()
    run(at)
    next(c for c in at.checkbox if c.key == "data_confirm").check()
    run(at)
    next(b for b in at.button if b.key == "data_import").click()
    run(at)
    assert "区划归属" in [h.value for h in at.subheader]
    lines = "\n".join(t.value for t in at.text)
    assert "养老服务设施 2 · 社区：按社区边界 2，未归属 0" in lines
    assert not [w.value for w in at.warning if "未归属" in w.value]
    table = next(df.value for df in at.dataframe if "按社区边界" in df.value.columns)
    assert table.set_index("层级").loc["社区", "按社区边界"] == 2
