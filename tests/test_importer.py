"""Importing regions: real OSM roads plus staff files; atomic updates; manifests; the CLI."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
from privacy_support import pids_found

import eldermap
from data import store
from data.importer import import_region, region_summary
from geo.errors import ManifestError, RegionNotFoundError, RoadNetworkError
from geo.osm import demo_pbf_path
from geo.settings import Settings

FIX = Path(__file__).parent / "fixtures" / "validation"
TODAY = dt.date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELDERMAP_SALT", "ab" * 32)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("regions")
    mp = pytest.MonkeyPatch()
    mp.setenv("ELDERMAP_SALT", "ab" * 32)
    outcome = import_region(
        "hel", settings=Settings(), roads=demo_pbf_path(), areas=FIX / "areas_valid.geojson",
        facilities=FIX / "facilities_bad_rows.csv", elders=FIX / "elders_gbk.csv",
        report_dir=root / "reports", root=root, today=TODAY,
    )
    mp.undo()
    return root, outcome


def test_import_builds_region_from_real_roads_and_staff_files(built) -> None:
    root, outcome = built
    region = store.load_region("hel", root=root)
    assert len(region.road_edges) > 5000 and len(region.road_nodes) > 2000
    assert sorted(region.facilities["id"]) == ["H001", "H002", "H021"]
    assert len(region.elders) == 3
    # area hierarchy completed from codes: 3 communities -> street 110199001 -> district 110199
    levels = region.areas.set_index("code")["level"].to_dict()
    assert levels["110199001"] == "street" and levels["110199"] == "district"
    street = region.areas.set_index("code").loc["110199001"]
    assert street.geometry is not None and street.geometry.area > 0
    # rows read = imported + rejected, per source, in the manifest
    sources = {s["layer"]: s for s in region.manifest["sources"]}
    for layer in ("facilities", "elders", "areas"):
        s = sources[layer]
        assert s["rows_read"] == s["rows_imported"] + s["rows_rejected"]
        assert len(s["sha256"]) == 64
    assert sources["facilities"]["rows_rejected"] == 13
    assert sources["roads"]["sha256"] == store.file_sha256(demo_pbf_path())
    assert region.manifest["synthetic"] == {"roads": False, "areas": False, "facilities": False, "elders": False}
    assert outcome.n_rejected == 13 + 6 + 0
    assert all(p.exists() for p in outcome.reports)


def test_points_without_codes_are_assigned_by_polygon(built) -> None:
    root, outcome = built
    fac = store.load_region("hel", root=root).facilities.set_index("id")
    assert fac.loc["H021", "community_code"] == "110199001002"  # east half, from its position
    assert fac.loc["H001", "community_code"] == "110199001001"  # given in the file, kept
    assert fac.loc["H021", "community_source"] == "polygon:community" and fac.loc["H001", "community_source"] == "code"
    # the import says how each table was assigned, per level
    assert outcome.assignments["facilities"].sources["community"] == {"code": 2, "polygon:community": 1}
    assert outcome.assignments["elders"].sources["community"] == {"code": 3}
    assert "养老服务设施 3 · 社区：按社区边界 1，按代码 2，未归属 0" in outcome.assignment_lines_zh()
    assert outcome.warnings == []


def test_code_contradicting_position_is_warned(tmp_path: Path) -> None:
    src = (FIX / "facilities_valid.csv").read_text(encoding="utf-8")
    # H002 lies in the east community (…002) but is declared in the west one (…001)
    (tmp_path / "f.csv").write_text(src.replace("110199001002", "110199001001"), encoding="utf-8")
    outcome = import_region("w", settings=Settings(), roads=demo_pbf_path(), areas=FIX / "areas_valid.geojson",
                            facilities=tmp_path / "f.csv", root=tmp_path / "r", report_dir=tmp_path, today=TODAY)
    problems = outcome.results[-1].problems
    # both values named: the recorded code (kept) and the community the position falls in
    hit = problems[problems["问题"].str.contains("位置落在 110199001002（码头社区）内", regex=False)]
    assert list(hit["行号"]) == ["3"] and list(hit["级别"]) == ["警告"]
    assert "社区代码 110199001001（议会社区）与位置不一致" in hit["问题"].iloc[0] and "以所填代码为准" in hit["问题"].iloc[0]
    assert outcome.n_rejected == 0


def test_update_one_layer_keeps_the_rest(built, tmp_path: Path) -> None:
    root, _ = built
    before = store.load_region("hel", root=root)
    import_region("hel", settings=Settings(), facilities=FIX / "facilities_valid.csv", root=root,
                  report_dir=tmp_path, today=TODAY)
    after = store.load_region("hel", root=root)
    assert after.version != before.version
    assert sorted(after.facilities["id"]) == ["H001", "H002", "H003"]
    assert after.elders.drop(columns="geometry").equals(before.elders.drop(columns="geometry"))
    assert len(after.road_edges) == len(before.road_edges)


def test_interrupted_import_leaves_previous_region(built, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root, _ = built
    before = store.load_region("hel", root=root)
    calls = {"n": 0}
    real = gpd.GeoDataFrame.to_parquet

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("power cut")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(gpd.GeoDataFrame, "to_parquet", flaky)
    with pytest.raises(KeyboardInterrupt):
        import_region("hel", settings=Settings(), facilities=FIX / "facilities_bad_rows.csv", root=root,
                      report_dir=tmp_path, today=TODAY)
    monkeypatch.undo()
    after = store.load_region("hel", root=root)
    assert after.version == before.version
    assert after.facilities.drop(columns="geometry").equals(before.facilities.drop(columns="geometry"))
    assert list((root / "hel").glob(".partial-*"))  # the half-written version is there, not current
    import_region("hel", settings=Settings(), facilities=FIX / "facilities_valid.csv", root=root,
                  report_dir=tmp_path, today=TODAY)
    assert not list((root / "hel").glob(".partial-*"))  # and cleaned by the next save


def test_tampered_layer_is_refused(built, tmp_path: Path) -> None:
    root, _ = built
    region = store.load_region("hel", root=root)
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(root / "hel", copy / "hel")
    version = copy / "hel" / region.version
    (version / "facilities.parquet").write_bytes((version / "facilities.parquet").read_bytes() + b"x")
    with pytest.raises(ManifestError, match="与清单不符"):
        store.load_region("hel", root=copy)


def test_gbk_gcj02_file_imports_into_a_chinese_region(tmp_path: Path, zhengzhou_osm) -> None:
    import numpy as np
    import pandas as pd

    from geo.coords import haversine_m

    osm_path, _, _ = zhengzhou_osm
    outcome = import_region("zhongyuan", settings=Settings(), roads=osm_path, facilities=FIX / "facilities_gbk_gcj02.csv",
                            facility_crs="gcj02", root=tmp_path, report_dir=tmp_path / "rep", today=TODAY)
    assert outcome.n_rejected == 0
    fac = store.load_region("zhongyuan", root=tmp_path).facilities.set_index("id")
    truth = pd.read_csv(FIX / "facilities_gbk_gcj02_truth_wgs84.csv").set_index("id").loc[fac.index]
    assert np.all(haversine_m(fac["lon"], fac["lat"], truth["lon"], truth["lat"]) < 1.0)
    assert np.allclose(fac.geometry.x, fac["lon"]) and set(fac["source_crs"]) == {"gcj02"}
    assert set(fac["community_code"]) == {"410102001001"} and set(fac["district_code"]) == {"410102"}


def test_new_region_needs_roads(tmp_path: Path) -> None:
    with pytest.raises(RoadNetworkError, match="须提供道路数据"):
        import_region("empty", settings=Settings(), facilities=FIX / "facilities_valid.csv", root=tmp_path)
    with pytest.raises(RegionNotFoundError, match="eldermap demo"):
        store.load_region("nowhere", root=tmp_path)


def test_region_summary_has_no_personal_data(built) -> None:
    root, _ = built
    region = store.load_region("hel", root=root)
    text = region_summary(region).to_csv()
    assert "图层 elders" in text and "设施：养老机构" in text
    assert not pids_found(text, region.elders["pid"])


def test_cli_validate_exit_codes_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = eldermap.main(["--regions", str(tmp_path), "validate", "facilities", str(FIX / "facilities_bad_rows.csv"),
                         "--report", str(tmp_path / "r.xlsx")])
    out = capsys.readouterr().out
    assert bad == 1
    assert "读取 16 行 = 可导入" in out and "第 3 行 床位总数" in out
    assert (tmp_path / "r.xlsx").exists() and (tmp_path / "r_拒绝行.xlsx").exists()
    good = eldermap.main(["--regions", str(tmp_path), "validate", "facilities", str(FIX / "facilities_valid.csv"),
                          "--report", str(tmp_path / "ok.csv")])
    assert good == 0
    failed = eldermap.main(["validate", "facilities", str(FIX / "facilities_missing_columns.csv")])
    assert failed == 2
    assert "缺少必填列" in capsys.readouterr().err


def test_cli_import_creates_region(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = eldermap.main(["--regions", str(tmp_path / "r"), "import", "cli", "--roads", str(demo_pbf_path()),
                          "--facilities", str(FIX / "facilities_valid.csv"), "--report-dir", str(tmp_path / "rep")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "地区“cli”已保存" in out and "facilities 3" in out
    assert store.load_region("cli", root=tmp_path / "r").facilities["id"].tolist() == ["H001", "H002", "H003"]


def test_cli_import_and_info(built, capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = built
    assert eldermap.main(["--regions", str(root), "info", "hel"]) == 0
    out = capsys.readouterr().out
    assert "地区：hel" in out and "数据来源" in out
    assert re.search(r"facilities: facilities_\w+\.csv sha256 [0-9a-f]{12} 读取 \d+ = 导入 \d+ \+ 拒绝 \d+", out)
    assert eldermap.main(["--regions", str(root), "info", "nope"]) == 2
    assert eldermap.main(["--regions", str(root), "list"]) == 0
    assert "hel" in capsys.readouterr().out


def test_manifest_is_json_with_settings(built) -> None:
    root, _ = built
    region = store.load_region("hel", root=root)
    manifest = json.loads((region.path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["settings"]["walk_speed_kmh"] == Settings().walk_speed_kmh
    assert manifest["crs"] == "EPSG:4326" and manifest["format"] == store.FORMAT
    assert set(manifest["layers"]) >= {"facilities", "elders", "areas", "road_nodes", "road_edges"}


# ---------------------------------------------------------------- the 12349 desk's tables from the CLI (issue 15)


def test_cli_imports_the_home_care_tables_with_their_crs(tmp_path: Path, zhengzhou_osm,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """``--service-items --carers --orders`` in one import, the carers' and orders' points in GCJ-02
    (``--carer-crs/--order-crs``): stored in WGS-84 within a metre of the true points; then an orders file alone
    is checked against the service list stored by the first import."""
    from data.validate import carer_pseudonym
    from geo.coords import haversine_m, wgs84_to_gcj02

    osm_path, lon, lat = zhengzhou_osm
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    assert haversine_m(gcj_lon[0], gcj_lat[0], lon[0], lat[0]) > 100  # the CRS matters here
    (tmp_path / "f.csv").write_text(f"机构编号,名称,类型,服务项目,经度,纬度\nF1,甲居家服务公司,居家上门服务商,助洁,{lon[2]:.7f},"
                                    f"{lat[2]:.7f}\n", encoding="utf-8")
    (tmp_path / "s.csv").write_text("项目编码,项目名称,服务类别,标准时长\nSC03,居室清洁,家政服务,90\n", encoding="utf-8")
    (tmp_path / "c.csv").write_text(f"人员编号,姓名,所属服务商编号,技能,工作时间,经度,纬度\nA01,王芳,F1,家政服务,08:00-17:00,"
                                    f"{gcj_lon[5]:.7f},{gcj_lat[5]:.7f}\n", encoding="utf-8")
    header = "工单编号,老人编号,服务项目,预约开始时间,预约结束时间,服务商编号,服务人员编号,派单时间,接单时间,经度,纬度\n"
    (tmp_path / "o.csv").write_text(header + f"W01,E001,居室清洁,2026-12-01 09:00,2026-12-01 11:00,F1,A01,2026-12-01 08:00,"
                                    f"2026-12-01 08:05,{gcj_lon[0]:.7f},{gcj_lat[0]:.7f}\n", encoding="utf-8")
    regions, reports = tmp_path / "r", tmp_path / "rep"
    code = eldermap.main(["--regions", str(regions), "import", "zz", "--roads", str(osm_path), "--facilities",
                          str(tmp_path / "f.csv"), "--service-items", str(tmp_path / "s.csv"), "--carers",
                          str(tmp_path / "c.csv"), "--carer-crs", "gcj02", "--orders", str(tmp_path / "o.csv"),
                          "--order-crs", "gcj02", "--report-dir", str(reports)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "service_items 1" in out and "carers 1" in out and "orders 1" in out and "被拒绝" not in out
    region = store.load_region("zz", root=regions)
    carer = region.layer("carers").iloc[0]
    assert carer["id"] == carer_pseudonym("A01", bytes.fromhex("ab" * 32)) and "王芳" not in out
    assert haversine_m(carer["lon"], carer["lat"], lon[5], lat[5]) < 1.0
    order = region.layer("orders").iloc[0]
    assert haversine_m(order["lon"], order["lat"], lon[0], lat[0]) < 1.0
    assert (order["status"], order["carer_id"], list(order["item_codes"])) == ("已接单", carer["id"], ["SC03"])
    (tmp_path / "o2.csv").write_text(header + f"W02,E001,SC03,2026-12-02 09:00,2026-12-02 11:00,,,,,{lon[1]:.7f},"
                                     f"{lat[1]:.7f}\nW03,E001,理发,2026-12-02 09:00,2026-12-02 11:00,,,,,{lon[1]:.7f},"
                                     f"{lat[1]:.7f}\n", encoding="utf-8")
    code = eldermap.main(["--regions", str(regions), "import", "zz", "--orders", str(tmp_path / "o2.csv"),
                          "--report-dir", str(reports)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "第 3 行 服务项目“理发”" in out and "有 1 行被拒绝" in out
    assert list(store.load_region("zz", root=regions).layer("orders")["id"]) == ["W02"]  # the layer replaced


def test_cli_orders_into_a_region_without_a_service_list_is_refused(tmp_path: Path, zhengzhou_osm,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    osm_path, lon, lat = zhengzhou_osm
    orders = tmp_path / "工单.csv"
    orders.write_text(f"工单编号,老人编号,服务项目,经度,纬度\nW01,E001,SC03,{lon[0]:.7f},{lat[0]:.7f}\n", encoding="utf-8")
    code = eldermap.main(["--regions", str(tmp_path / "r"), "import", "zz", "--roads", str(osm_path), "--orders",
                          str(orders), "--report-dir", str(tmp_path / "rep")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("错误：") and "Traceback" not in err
    assert "工单.csv" in err and "请先导入服务清单（--service-items）" in err
    assert not store.region_exists("zz", root=tmp_path / "r")
