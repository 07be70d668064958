"""The pages on the shared PostGIS store: with ``ELDERMAP_DATABASE_URL`` set, every page reads the region from the
database, an import through the data page saves a new version there, and the audit log is the database's
append-only table (one log for every server of a bureau), shown on the admin view with its chain checked."""

from __future__ import annotations

import pandas as pd
import psycopg
import pytest
from conftest import copy_demo_region, open_app, open_staff_page, run, shown_text
from pg_support import new_database

from data import audit, store
from data.auth import add_user

PAGES = ["规划分析", "统计报表", "数据管理", "调度", "找养老服务"]


@pytest.fixture()
def pg_pages(postgis_url, demo_region, tmp_path, monkeypatch):
    """The demo region copied into a new PostGIS database that the app uses; local folder for login state only."""
    url = new_database(postgis_url)
    store.migrate_database(url)
    files = copy_demo_region(demo_region, tmp_path / "files")
    store.copy_region("demo", source=str(files), target=url)
    local = tmp_path / "local"
    local.mkdir()
    users = tmp_path / "users.toml"
    add_user(users, "admin", "admin", "admin-pass-1")
    monkeypatch.setenv("ELDERMAP_DATABASE_URL", url)
    monkeypatch.setenv("ELDERMAP_REGIONS", str(local))
    monkeypatch.setenv("ELDERMAP_USERS", str(users))
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "0")
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    return url, local


def test_every_page_renders_from_the_database(pg_pages, demo_region) -> None:
    url, local = pg_pages
    at = open_app()
    assert at.title[0].value == "找养老服务"
    assert at.sidebar.selectbox[0].value == "demo"
    facilities = at.table[1].value
    assert set(facilities["名称"]) <= set(demo_region.facilities["name"].astype(str)) and len(facilities) > 0
    for title in PAGES:
        open_staff_page(at, title)
        assert at.title[0].value == title
        assert not at.exception
    open_staff_page(at, "统计报表")
    annex = next(df.value for df in at.dataframe if "社区养老设施覆盖率(%)" in df.value.columns)
    assert annex.iloc[-1]["名称"] == "全部地区"
    assert not (local / "demo").exists()  # nothing of the region (not even the desk's order log) written locally
    with psycopg.connect(url) as conn:  # the 调度 page loaded the demo's orders into the database's order log
        stored = conn.execute("SELECT count(*) FROM eldermap.orders_current WHERE region = 'demo'").fetchone()[0]
    assert stored == len(demo_region.layers["orders"]) > 0


def test_page_import_saves_a_version_in_the_database_and_audits_there(pg_pages, demo_region) -> None:
    url, local = pg_pages
    fac = demo_region.facilities.head(3)
    csv = pd.DataFrame({"机构编号": ["N1", "N2", "N3"], "名称": ["甲站", "乙站", "丙站"],
                        "类型": ["养老服务站", "助餐点", "不存在的类型"],
                        "经度": fac.geometry.x.round(6).to_list(), "纬度": fac.geometry.y.round(6).to_list()})
    before = store.current_version("demo", root=url)
    at = open_app()
    open_staff_page(at, "数据管理")
    at.file_uploader(key="data_upload").set_value(("新设施.csv", csv.to_csv(index=False).encode("gbk"), "text/csv"))
    run(at)
    next(b for b in at.button if b.key == "data_validate").click()
    run(at)
    next(c for c in at.checkbox if c.key == "data_confirm").check()
    run(at)
    next(b for b in at.button if b.key == "data_import").click()
    run(at)
    assert any("已导入" in s.value for s in at.success)
    after = store.current_version("demo", root=url)
    assert after != before
    assert sorted(store.load_region("demo", root=url).facilities["name"]) == ["乙站", "甲站"]

    # the audit log is the database's table: the login and the import, chained, and no local file
    log = audit.read(url)
    imports = log[log["action"] == "import"]
    assert len(imports) == 1 and imports["version"].iloc[0] == after and "新设施.csv" in imports["detail"].iloc[0]
    assert "login" in set(log["action"])
    assert audit.verify_chain(url) == []
    assert not audit.log_path(local).exists()
    open_staff_page(at, "数据管理")
    shown = next(df.value for df in at.dataframe if "操作" in df.value.columns)
    assert "导入" in set(shown["操作"]) and after in set(shown["数据版本"])
    assert any("哈希链校验通过" in c.value for c in at.caption)
    assert "新设施.csv" in shown_text(at)


def test_the_database_audit_log_is_append_only_and_its_chain_finds_a_forged_line(pg_pages) -> None:
    url, _ = pg_pages
    for n in range(3):
        audit.record("export", user="clerk", region="demo", detail=f"导出 {n}", rows=n, root=url)
    assert list(audit.read(url)["rows"]) == [0, 1, 2]
    assert audit.verify_chain(url) == []
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in ("UPDATE eldermap.audit SET line = '{}'", "DELETE FROM eldermap.audit",
                          "TRUNCATE eldermap.audit"):
            with pytest.raises(psycopg.Error, match="append-only"):
                conn.execute(statement)
        # a line slipped in by someone who can write the table, but not the chain: it is found
        conn.execute("INSERT INTO eldermap.audit (line) VALUES (%s)",
                     ('{"time":"2026-12-01T00:00:00+00:00","user":"x","action":"export","prev":"' + "0" * 64 + '"}',))
    problems = audit.verify_chain(url)
    assert len(problems) == 1 and "第 4 行" in problems[0] and "审计表" in problems[0]
