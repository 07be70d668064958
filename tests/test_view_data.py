"""The data page: upload a staff file, read its validation report, import the good rows."""

from __future__ import annotations

import pandas as pd
from conftest import open_app, open_staff_page, run

from data import audit, store


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
