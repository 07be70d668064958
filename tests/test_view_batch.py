"""The planner page on a city (a parent region): its counties listed, a batch run from the page on a real Dask
cluster with progress in st.status, the rolled-up table equal to the stored county results, resumed on a second
run, the downloads audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import button, open_app, run, shown_text
from province_support import small_province

from batch.runner import result_key
from data import store
from geo.settings import Settings

SCRIPT = Path(__file__).resolve().parent / "apps" / "planner_parent_app.py"


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory, demo_region):
    root = tmp_path_factory.mktemp("view_batch_regions")
    return root, small_province(demo_region, root, Settings())


def test_city_page_runs_the_county_batch_and_resumes(province, monkeypatch) -> None:
    root, prov = province
    monkeypatch.setenv("ELDERMAP_REGIONS", str(root))
    monkeypatch.setenv("ELDERMAP_TEST_REGION", prov.parent)
    at = open_app(SCRIPT)
    assert not at.exception and not at.error
    page = shown_text(at)
    assert "试验市" in page and "共 4 个区县" in page
    assert set(next(df.value for df in at.dataframe if "子地区" in df.value.columns)["子地区"]) == set(prov.children)

    at.selectbox(key="planner_batch_minutes").select(15)
    button(at, "开始批量计算").click()
    run(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("批量计算完成：4 个区县完成" in s.label for s in at.status)
    key = result_key("coverage", {"minutes": 15.0, "mode": "walk"})
    elders = covered = 0
    for child in prov.children:  # what the page summed is what each county's task stored
        district = store.load_result(child, key, root=root).frames["district"]
        elders += int(district["elders"].iloc[-1])
        covered += int(district["covered"].iloc[-1])
    summary = next(df.value for df in at.dataframe if "区县数" in df.value.columns)
    assert summary.iloc[-1]["老年人数"] == elders and summary.iloc[-1]["覆盖人数"] == covered
    assert elders == len(prov.layers["elders"]) - 3  # every elder but the three outside every county

    button(at, "开始批量计算").click()  # again: every county resumed from its stored result
    run(at)
    assert any("跳过 4 个" in m.value for m in at.markdown)


def test_city_page_report_batch_gives_the_annex_table_and_workbook(province, monkeypatch) -> None:
    """The 附件2 batch from the page: one row per county and the total, with annex 2's Chinese headers, the same
    figures as the stored county rows, and the annex workbook for download."""
    import datetime as dt

    from batch.runner import check_params

    root, prov = province
    monkeypatch.setenv("ELDERMAP_REGIONS", str(root))
    monkeypatch.setenv("ELDERMAP_TEST_REGION", prov.parent)
    at = open_app(SCRIPT)
    at.selectbox(key="planner_batch_kind").select("report")
    at.date_input(key="planner_batch_date").set_value(dt.date(2026, 12, 31))
    button(at, "开始批量计算").click()
    run(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    summary = next(df.value for df in at.dataframe if "老年人口(人)" in df.value.columns)
    assert len(summary) == 5 and summary.iloc[-1]["老年人口(人)"] == summary.iloc[:-1]["老年人口(人)"].sum()
    params = check_params("report", {"minutes": 15.0, "mode": "walk", "date": "2026-12-31"})
    key = result_key("report", params)
    stored = sum(int(store.load_result(c, key, root=root).frames["district"]["elders"].iloc[-1])
                 for c in prov.children)
    assert summary.iloc[-1]["老年人口(人)"] == stored > 0
    assert any(b.label.startswith("下载附件2基本情况表") for b in at.get("download_button"))
