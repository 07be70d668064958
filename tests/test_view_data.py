"""The data page: upload a staff file, read its validation report, import the good rows."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import open_app, open_staff_page, run

from data import audit, store
from views import data_page
from views.data_page import UPLOAD_PREFIX


def test_upload_validate_and_import(staff_demo_root, demo_region) -> None:
    fac = demo_region.facilities.head(4)
    csv = pd.DataFrame({"机构编号": ["N1", "N2", "N3", "N4"], "名称": ["甲站", "乙站", "丙站", "丁站"],
                        "类型": ["养老服务站", "养老服务站", "不存在的类型", "助餐点"],
                        "经度": fac.geometry.x.round(6).to_list(), "纬度": fac.geometry.y.round(6).to_list()})
    data = csv.to_csv(index=False).encode("gbk")
    before = store.current_version("demo", root=staff_demo_root)
    at = open_app()
    open_staff_page(at, "数据管理")
    at.file_uploader(key="data_upload").set_value(("新设施.csv", data, "text/csv"))
    run(at)
    next(b for b in at.button if b.key == "data_validate").click()
    run(at)
    assert any("读取 4 行" in w.value and "拒绝 1 行" in w.value for w in at.warning)
    problems = next(df.value for df in at.dataframe if "行号" in df.value.columns)
    assert list(problems["行号"].astype(str)) == ["4"] and "类型" in problems.iloc[0]["字段"]
    next(c for c in at.checkbox if c.key == "data_confirm").check()
    run(at)
    next(b for b in at.button if b.key == "data_import").click()
    run(at)
    assert any("已导入" in s.value for s in at.success)
    after = store.current_version("demo", root=staff_demo_root)
    assert after != before
    assert len(store.load_region("demo", root=staff_demo_root).facilities) == 3
    log = audit.read(staff_demo_root)
    assert "import" in set(log["action"]) and "新设施.csv" in str(log[log["action"] == "import"]["detail"].iloc[-1])


def test_admin_sees_the_audit_log_read_only(staff_demo_root) -> None:
    audit.record("export", user="clerk", region="demo", detail="测试导出", root=staff_demo_root)
    at = open_app()
    open_staff_page(at, "数据管理")  # logs in as admin
    assert "操作日志（只读）" in [h.value for h in at.subheader]
    log = next(df.value for df in at.dataframe if "操作" in df.value.columns)
    assert {"导出", "登录"} <= set(log["操作"]) and "测试导出" in set(log["说明"])
    assert any("哈希链校验通过" in c.value for c in at.caption)
    assert not [b for b in at.button if "日志" in b.label]  # nothing on the page changes the log


def test_service_areas_upload_imports_the_polygons(staff_demo_root, demo_region) -> None:
    import geopandas as gpd

    from geo.settings import Settings
    from planning.home_care import home_care_reach

    fac = demo_region.facilities
    provider = fac[fac["kind"] == "居家上门服务商"].iloc[1]  # the demo's second provider: drive rule until now
    streets = demo_region.areas[demo_region.areas["level"] == "street"]
    street = streets[streets["code"] != provider["street_code"]].iloc[0]  # a street its base is not in
    polygons = gpd.GeoDataFrame({"名称": [provider["name"]]}, geometry=[street.geometry], crs="EPSG:4326")
    at = open_app()
    open_staff_page(at, "数据管理")
    at.file_uploader(key="sa_upload").set_value(("服务区域.geojson", polygons.to_json().encode(), "application/geo+json"))
    run(at)
    assert any("1 个服务区域" in s.value for s in at.success), [s.value for s in at.success]
    next(b for b in at.button if b.key == "sa_import").click()
    run(at)
    assert any("已导入" in s.value for s in at.success)
    region = store.load_region("demo", root=staff_demo_root)
    assert len(region.layers["service_areas"]) == 1
    reach = home_care_reach(region, settings=Settings())
    served = reach[f"served:{provider['kind']}"] if f"served:{provider['kind']}" in reach else None
    assert served is not None
    inside = region.elders["street_code"].astype(str).to_numpy() == street["code"]
    assert served.to_numpy()[inside].all()  # every elder of that street is now served


# ---------------------------------------------------------------- uploads leave nothing behind


@pytest.fixture()
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """Point :mod:`tempfile` at an empty test folder and record every folder ``mkdtemp`` makes there
    (path and mode at creation), so a test can check both that the page used a private folder and that
    none is left."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    made: list[tuple[Path, int]] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        folder = real_mkdtemp(*args, **kwargs)
        made.append((Path(folder), stat.S_IMODE(os.stat(folder).st_mode)))
        return folder

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    return {"tmp": [tmp], "made": made}


def _uploads_made(private_tmp) -> list[tuple[Path, int]]:
    return [(p, mode) for p, mode in private_tmp["made"] if p.name.startswith(UPLOAD_PREFIX)]


def assert_nothing_left(private_tmp, *, used: int) -> None:
    """At least ``used`` private upload folders were made (mode 0700), and none of them, nor any other
    upload folder or file, is left in the temp folder."""
    tmp = private_tmp["tmp"][0]
    made = _uploads_made(private_tmp)
    assert len(made) >= used, made
    assert all(mode == 0o700 for _, mode in made), [oct(m) for _, m in made]
    assert not [p for p, _ in made if p.exists()]
    assert not list(tmp.glob("eldermap*")), list(tmp.iterdir())
    assert not [p for p in tmp.rglob("*") if p.suffix in (".csv", ".xlsx", ".geojson")], list(tmp.rglob("*"))


def _facility_csv(demo_region, kinds=("养老服务站", "养老服务站", "不存在的类型", "助餐点")) -> bytes:
    fac = demo_region.facilities.head(len(kinds))
    csv = pd.DataFrame({"机构编号": [f"N{i}" for i in range(len(kinds))], "名称": ["甲站", "乙站", "丙站", "丁站"][:len(kinds)],
                        "类型": list(kinds), "经度": fac.geometry.x.round(6).to_list(),
                        "纬度": fac.geometry.y.round(6).to_list()})
    return csv.to_csv(index=False).encode("gbk")


def _upload_and_validate(at, name: str, data: bytes, mime: str = "text/csv"):
    at.file_uploader(key="data_upload").set_value((name, data, mime))
    run(at)
    next(b for b in at.button if b.key == "data_validate").click()
    return run(at)


def test_validation_leaves_no_upload_and_the_report_stays_in_memory(staff_demo_root, demo_region,
                                                                    private_tmp) -> None:
    at = open_app()
    open_staff_page(at, "数据管理")
    _upload_and_validate(at, "新设施.csv", _facility_csv(demo_region))
    assert any("拒绝 1 行" in w.value for w in at.warning)
    assert_nothing_left(private_tmp, used=1)
    checked = at.session_state["data_checked"]
    assert checked["report_bytes"][:2] == b"PK"  # the xlsx, in memory
    assert not any(isinstance(v, str) and "eldermap_upload_" in v for v in checked.values())
    for _ in range(3):  # reruns make no folder at all
        run(at)
    assert len(_uploads_made(private_tmp)) == 1
    assert_nothing_left(private_tmp, used=1)


def test_validation_error_leaves_no_upload(staff_demo_root, private_tmp) -> None:
    at = open_app()
    open_staff_page(at, "数据管理")
    _upload_and_validate(at, "坏文件.xlsx", b"not a workbook at all", "application/octet-stream")
    assert at.error, "a broken workbook must be reported"
    assert "data_checked" not in at.session_state
    assert_nothing_left(private_tmp, used=1)


def test_import_leaves_no_upload_and_pages_use_the_new_version(staff_demo_root, demo_region,
                                                               private_tmp) -> None:
    at = open_app()
    open_staff_page(at, "数据管理")
    _upload_and_validate(at, "新设施.csv", _facility_csv(demo_region))
    next(c for c in at.checkbox if c.key == "data_confirm").check()
    run(at)
    next(b for b in at.button if b.key == "data_import").click()
    run(at)
    after = store.current_version("demo", root=staff_demo_root)
    done = [s.value for s in at.success if "已导入" in s.value]
    assert done and after in done[0], [s.value for s in at.success]
    assert "刷新页面后" not in done[0] and "各页已改用新版本" in done[0]  # a reload would log staff out
    manifest = next(df.value for df in at.dataframe if "项目" in df.value.columns and "内容" in df.value.columns)
    assert manifest.set_index("项目").loc["数据版本", "内容"] == after  # this very page shows the new version
    assert "auth_user" in at.session_state  # still logged in
    assert_nothing_left(private_tmp, used=2)  # one folder to validate, one to import


def test_failing_import_leaves_no_upload(staff_demo_root, demo_region, private_tmp,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from geo.errors import ElderMapError

    seen: list[Path] = []

    def failing_import(name, **kwargs):  # gets the upload as a file, writes a report, then fails
        upload = Path(kwargs["facilities"])
        assert upload.read_bytes() == _facility_csv(demo_region)
        report = Path(kwargs["report_dir"]) / f"{upload.stem}_校验报告.xlsx"
        report.parent.mkdir(parents=True)
        report.write_bytes(b"PK")
        seen.extend([upload, report])
        raise ElderMapError("磁盘已满（测试）", "disk full (test)")

    before = store.current_version("demo", root=staff_demo_root)
    at = open_app()
    open_staff_page(at, "数据管理")
    _upload_and_validate(at, "新设施.csv", _facility_csv(demo_region))
    monkeypatch.setattr(data_page, "import_region", failing_import)
    next(c for c in at.checkbox if c.key == "data_confirm").check()
    run(at)
    next(b for b in at.button if b.key == "data_import").click()
    run(at)
    assert any("磁盘已满" in e.value for e in at.error)
    assert seen, "the failing import wrote no report: the test would prove nothing"
    assert not any(p.exists() for p in seen)
    assert_nothing_left(private_tmp, used=2)

    def crashing_import(name, **kwargs):  # a bug, not our error: the folder goes all the same
        raise RuntimeError("boom")

    monkeypatch.setattr(data_page, "import_region", crashing_import)
    next(b for b in at.button if b.key == "data_import").click()
    at.run(timeout=60)
    assert at.exception
    assert_nothing_left(private_tmp, used=3)
    assert store.current_version("demo", root=staff_demo_root) == before  # nothing changed


def test_service_areas_upload_leaves_nothing(staff_demo_root, demo_region, private_tmp) -> None:
    import geopandas as gpd

    fac = demo_region.facilities
    provider = fac[fac["kind"] == "居家上门服务商"].iloc[0]
    street = demo_region.areas[demo_region.areas["level"] == "street"].iloc[0]
    polygons = gpd.GeoDataFrame({"名称": [provider["name"]]}, geometry=[street.geometry], crs="EPSG:4326")
    at = open_app()
    open_staff_page(at, "数据管理")
    at.file_uploader(key="sa_upload").set_value(("服务区域.geojson", polygons.to_json().encode(), "application/geo+json"))
    run(at)
    assert any("1 个服务区域" in s.value for s in at.success)
    assert_nothing_left(private_tmp, used=1)
    next(b for b in at.button if b.key == "sa_import").click()
    run(at)
    assert any("已导入" in s.value and "刷新页面后" not in s.value for s in at.success)
    assert_nothing_left(private_tmp, used=2)


@pytest.mark.parametrize("name", ["../../etc/passwd.csv", "..\\..\\x.csv", "..", ""])
def test_private_upload_keeps_the_file_inside_its_folder(name, private_tmp) -> None:
    with data_page.private_upload(name, b"a,b\n1,2\n") as path:
        folder = path.parent
        assert folder.parent == private_tmp["tmp"][0] and path.read_bytes() == b"a,b\n1,2\n"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not folder.exists()
    with pytest.raises(ValueError), data_page.private_upload("x.csv", b"") as path:
        folder = path.parent
        raise ValueError("inside")
    assert not folder.exists()


def test_report_download_is_deferred(staff_demo_root, demo_region) -> None:
    """The report's bytes are not put in Streamlit's media store (served at /media/<id> to anyone with
    the URL) until the user clicks: the button carries a deferred id, not a URL."""
    at = open_app()
    open_staff_page(at, "数据管理")
    _upload_and_validate(at, "新设施.csv", _facility_csv(demo_region))
    button = next(b for b in at.get("download_button") if "问题报告" in b.proto.label)
    assert button.proto.deferred_file_id and not button.proto.url


# ---------------------------------------------------------------- the 12349 desk's tables (issue 15)


def _home_care_files(demo_region) -> dict[str, bytes]:
    """A service list, carers and orders written by hand against the demo region: each has one good row and one
    row whose single problem is known (row numbers are spreadsheet rows: the header is row 1)."""
    fac = demo_region.facilities
    provider = fac[fac["kind"] == "居家上门服务商"].iloc[0]
    point = demo_region.elders.geometry.iloc[0]
    items = ("项目编码,项目名称,服务类别,补贴对象,补贴标准,收费标准,标准时长,所需技能,最低技能等级\n"
             "XT01,上门理发,生活照料,特困、低保,20,30,30分钟,生活照料,五级/初级工\n"  # 2 good
             "XT01,重复理发,生活照料,,,,30,,\n")  # 3 the code of row 2 again
    carers = ("人员编号,姓名,联系电话,所属服务商编号,技能,职业技能等级,工作时间,日接单上限\n"
              f"A901,王芳,13800000001,{provider['id']},生活照料,三级/高级工,08:00-17:00,6\n"  # 2 good
              "A902,李强,13800000002,不存在的服务商,生活照料,2,08:00-17:00,6\n")  # 3 no such provider
    orders = ("工单编号,老人编号,老人姓名,服务项目,预约开始时间,预约结束时间,状态,来源渠道,经度,纬度\n"
              f"W901,E901,张大爷,上门理发,2026-12-01 09:00,2026-12-01 10:00,待派单,12349,{point.x:.6f},{point.y:.6f}\n"
              f"W902,E902,李奶奶,不在清单的项目,2026-12-01 09:00,2026-12-01 10:00,待派单,12349,{point.x:.6f},"
              f"{point.y:.6f}\n")  # 3 an item not in the service list
    return {"service_items": items.encode("utf-8"), "carers": carers.encode("gbk"), "orders": orders.encode("utf-8")}


def test_home_care_tables_upload_validate_and_import_in_order(staff_demo_root, demo_region) -> None:
    """Service list, then carers (against the providers), then orders (against the new list): each problem shows
    by row and field, the good rows are imported, and no name, phone or source id reaches the page."""
    files = _home_care_files(demo_region)
    expected = {"service_items": ("3", "项目编码"), "carers": ("3", "所属服务商编号"), "orders": ("3", "服务项目")}
    at = open_app()
    open_staff_page(at, "数据管理")
    for table, name in (("service_items", "服务清单.csv"), ("carers", "服务人员.csv"), ("orders", "服务工单.csv")):
        at.radio(key="data_table").set_value(table)
        run(at)
        _upload_and_validate(at, name, files[table])
        assert not at.error, [e.value for e in at.error]
        assert any("读取 2 行" in w.value and "拒绝 1 行" in w.value for w in at.warning), (table, at.warning)
        problems = next(df.value for df in at.dataframe if "行号" in df.value.columns)
        errors = problems[problems["级别"] == "错误"]
        assert list(zip(errors["行号"].astype(str), errors["字段"], strict=True)) == [expected[table]], problems
        shown = problems.to_csv()
        assert not [v for v in ("王芳", "李强", "13800000002", "A902", "李奶奶", "E902") if v in shown], shown
        next(c for c in at.checkbox if c.key == "data_confirm").check()
        run(at)
        next(b for b in at.button if b.key == "data_import").click()
        run(at)
        assert any("已导入" in s.value for s in at.success), (table, [e.value for e in at.error])
    region = store.load_region("demo", root=staff_demo_root)
    assert list(region.layer("service_items")["code"]) == ["XT01"]  # the file replaced the demo's list
    carers = region.layer("carers")
    assert len(carers) == 1 and carers["id"].iloc[0].startswith("C") and "A901" not in carers["id"].iloc[0]
    assert not {"name", "phone", "id_number"} & set(carers.columns)
    orders = region.layer("orders")
    assert list(orders["id"]) == ["W901"] and list(orders["item_codes"].iloc[0]) == ["XT01"]
    assert orders["elder_id"].iloc[0].startswith("P")  # the pseudonym, never E901
    log = audit.read(staff_demo_root)
    details = " ".join(log[log["action"] == "import"]["detail"].astype(str))
    assert "服务清单 服务清单.csv" in details and "服务工单 服务工单.csv" in details


def test_orders_upload_without_a_service_list_says_what_to_import_first(staff_demo_root, demo_region) -> None:
    import dataclasses

    from geo.errors import InputFileError
    from geo.settings import Settings

    region = dataclasses.replace(demo_region, layers={k: v for k, v in demo_region.layers.items()
                                                      if k != "service_items"})
    with pytest.raises(InputFileError, match="请先在“数据类型”中选“服务清单”") as caught:
        data_page.validate_upload("服务工单.csv", _home_care_files(demo_region)["orders"], table="orders", crs="wgs84",
                                  region=region, settings=Settings(), regions_root=staff_demo_root)
    assert "服务工单.csv" in caught.value.zh and "--service-items" not in caught.value.zh


def test_every_table_of_the_picker_has_its_import_keywords(tmp_path: Path) -> None:
    from data.schema import TABLE_ZH

    path = tmp_path / "x.csv"
    assert {t: data_page.import_kwargs(t, path, "gcj02") for t in TABLE_ZH} == {
        "facilities": {"facilities": path, "facility_crs": "gcj02"},
        "elders": {"elders": path, "elder_crs": "gcj02"},
        "areas": {"areas": path, "area_crs": "gcj02"},
        "service_items": {"service_items": path},  # a list without coordinates
        "carers": {"carers": path, "carer_crs": "gcj02"},
        "orders": {"orders": path, "order_crs": "gcj02"},
    }


def test_streamed_elders_import_shows_a_rows_bar(staff_demo_root, demo_region, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An elders register streamed (settings: import_stream_min_mb = 0): the import's status shows a progress bar
    with the rows read and written, ending at all of them; the region gets the file's elders."""
    from streamlit.delta_generator import DeltaGenerator

    from data import ids

    settings_file = tmp_path / "settings.toml"
    settings_file.write_text("import_stream_min_mb = 0\n", encoding="utf-8")
    monkeypatch.setenv("ELDERMAP_SETTINGS", str(settings_file))
    points = demo_region.elders.geometry.head(30)
    lines = ["身份证号,经度,纬度"]
    for k, p in enumerate(points):
        body = f"4101021940{k % 12 + 1:02d}{k % 28 + 1:02d}{k:03d}"
        lines.append(f"{body}{ids.resident_id_check_char(body)},{p.x:.6f},{p.y:.6f}")
    texts: list[str] = []
    real = DeltaGenerator.progress

    def recorded(self, value, text=None):  # the bar's updates (the page reruns after the import)
        texts.append(str(text))
        return real(self, value, text=text)

    monkeypatch.setattr(DeltaGenerator, "progress", recorded)
    at = open_app()
    open_staff_page(at, "数据管理")
    next(r for r in at.radio if r.key == "data_table").set_value("elders")
    run(at)
    _upload_and_validate(at, "老人.csv", ("\n".join(lines) + "\n").encode("gbk"))
    next(c for c in at.checkbox if c.key == "data_confirm").check()
    run(at)
    next(b for b in at.button if b.key == "data_import").click()
    run(at)
    assert any("已导入" in s.value for s in at.success)
    assert "已校验并写入 30 / 30 行" in texts, texts
    region = store.load_region("demo", root=staff_demo_root)
    assert len(region.elders) == 30
    assert next(s for s in region.manifest["sources"] if s["layer"] == "elders")["streamed"] is True
