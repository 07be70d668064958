"""Ordinary command-line mistakes get a Chinese answer naming the option and what is allowed (issue 13).

Most cases run in-process through ``eldermap.main``; a few run as real processes to prove that no traceback
reaches a terminal.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from conftest import copy_demo_region

import eldermap
from data import store
from geo.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures" / "validation"
KINDS = Settings().facility_kinds


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, demo_region) -> Path:
    """A writable copy of the demo region."""
    return copy_demo_region(demo_region, tmp_path_factory.mktemp("cli_mistakes"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = eldermap.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command that must fail: exit 2, one Chinese "错误：" message, no English argparse text."""
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert err.lstrip("\n").startswith("错误："), err  # after a cancelled prompt: a new line first
    for english in ("usage:", "invalid choice", "required:", "Traceback", "invalid float", "invalid int"):
        assert english not in err
    return err


# ---------------------------------------------------------------- 1. argparse in Chinese


def test_unknown_choice_lists_the_choices(capsys, root: Path, tmp_path: Path) -> None:
    err = refused(capsys, "--regions", str(root), "coverage", "demo", "--mode", "bike", "--out", str(tmp_path / "c.csv"))
    assert "--mode 不能取“bike”" in err and "walk、drive" in err
    err = refused(capsys, "validate", "tables", "x.csv")
    assert "“tables”" in err and "facilities、elders、areas" in err
    err = refused(capsys, "covrage", "demo")
    assert "没有命令“covrage”" in err and "coverage" in err and "scenario" in err


def test_missing_required_argument_is_named(capsys, root: Path) -> None:
    err = refused(capsys, "--regions", str(root), "coverage", "demo")
    assert "缺少必填参数" in err and "--out" in err
    err = refused(capsys, "--regions", str(root), "coverage")
    assert "region" in err and "--out" in err
    err = refused(capsys)
    assert "缺少命令" in err and "coverage" in err
    err = refused(capsys, "--regions", str(root), "site", "demo", "--out", "s.csv")
    assert "--add" in err and "--target" in err
    err = refused(capsys, "--regions", str(root), "coverage", "demo", "--out")
    assert "--out 后面缺少值" in err


def test_invalid_numbers_name_the_option(capsys, root: Path, tmp_path: Path) -> None:
    err = refused(capsys, "--regions", str(root), "gaps", "demo", "--top", "ten", "--out", str(tmp_path / "g.csv"))
    assert "--top" in err and "整数" in err and "“ten”" in err
    err = refused(capsys, "--regions", str(root), "site", "demo", "--target", "九成", "--out", str(tmp_path / "s.csv"))
    assert "--target" in err and "数字" in err
    err = refused(capsys, "--regions", str(root), "site", "demo", "--add", "0", "--out", str(tmp_path / "s.csv"))
    assert "--add" in err and "大于 0" in err
    err = refused(capsys, "--regions", str(root), "scenario", "new", "demo", "p", "--walk-speed", "40")
    assert "--walk-speed" in err and "公里/小时" in err
    assert not list(tmp_path.iterdir())


def test_help_texts_stay(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        eldermap.main(["coverage", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "服务圈分钟数" in out and "--settings" in out


def test_unknown_option(capsys) -> None:
    err = refused(capsys, "list", "--bogus")
    assert "无法识别的参数：--bogus" in err


# ---------------------------------------------------------------- 2. global options before or after


def test_global_options_after_the_subcommand(capsys, root: Path, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "list", "--regions", str(root))
    assert code == 0 and out.strip() == "demo"
    code, out, _ = run(capsys, "list", "--regions", str(tmp_path / "none"), "-v")
    assert code == 0 and "尚无地区" in out
    code, out, _ = run(capsys, "--regions", str(root), "list")
    assert code == 0 and out.strip() == "demo"
    # the value given after the subcommand wins; one given only before is kept
    code, out, _ = run(capsys, "--regions", str(tmp_path / "none"), "list", "--regions", str(root))
    assert code == 0 and out.strip() == "demo"
    err = refused(capsys, "--regions", str(root), "coverage", "demo", "--out", str(tmp_path / "c.csv"),
                  "--settings", str(tmp_path / "missing.toml"))
    assert "missing.toml" in err
    args = eldermap.build_parser().parse_args(["info", "demo"])
    assert args.regions is None and args.settings is None and args.verbose is False


# ---------------------------------------------------------------- 3. --kind


@pytest.mark.parametrize(("typed", "kind"), [
    ("养老院", "养老机构"), ("敬老院", "养老机构"), ("福利院", "养老机构"), ("护理院", "养老机构"), ("养老公寓", "养老机构"),
    ("日照中心", "日间照料中心"), ("日间照料", "日间照料中心"), ("驿站", "养老服务站"), ("服务站", "养老服务站"),
    ("饭堂", "助餐点"), ("助餐", "助餐点"), ("长者饭堂", "助餐点"), ("养老机构", "养老机构"), (" 助餐点 ", "助餐点"),
])
def test_kind_synonyms(capsys, typed: str, kind: str) -> None:
    args = argparse.Namespace(kind=typed)
    assert eldermap._kind(args, Settings()) == kind and args.kind == kind
    out = capsys.readouterr().out
    assert (f"按“{typed.strip()}”理解为“{kind}”" in out) == (typed.strip() != kind)


def test_kind_none_and_unknown(capsys) -> None:
    assert eldermap._kind(argparse.Namespace(kind=None), Settings()) is None
    from geo.errors import PlanningInputError

    with pytest.raises(PlanningInputError, match="--kind 不能取“火星站”.*养老机构、"):
        eldermap._kind(argparse.Namespace(kind="火星站"), Settings())


def test_kind_synonym_gives_the_same_coverage(capsys, root: Path, tmp_path: Path) -> None:
    code, out, err = run(capsys, "--regions", str(root), "coverage", "demo", "--minutes", "10", "--kind", "养老院",
                         "--out", str(tmp_path / "a.csv"))
    assert code == 0, err
    assert "按“养老院”理解为“养老机构”" in out and "“养老机构”覆盖" in out
    code, _, _ = run(capsys, "--regions", str(root), "coverage", "demo", "--minutes", "10", "--kind", "养老机构",
                     "--out", str(tmp_path / "b.csv"))
    assert code == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


@pytest.mark.parametrize("command", [
    ["coverage", "demo", "--out", "{tmp}/x.csv"],
    ["access", "demo", "--out", "{tmp}/x.csv"],
    ["isochrones", "demo", "--out", "{tmp}/x.geojson"],
    ["gaps", "demo", "--out", "{tmp}/x.geojson"],
    ["site", "demo", "--add", "1", "--out", "{tmp}/x.csv"],
    ["scenario", "compare", "demo", "base", "base", "--out", "{tmp}/x.csv"],
    ["scenario", "show", "demo", "base"],
])
def test_unknown_kind_is_refused_before_computing(capsys, root: Path, tmp_path: Path, monkeypatch,
                                                  command: list[str]) -> None:
    def no_load(*args, **kwargs):
        raise AssertionError("the region was loaded before the kind was checked")

    monkeypatch.setattr(store, "load_region", no_load)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in command]
    err = refused(capsys, "--regions", str(root), *argv, "--kind", "火星站")
    assert "--kind 不能取“火星站”" in err and "、".join(KINDS) in err
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- 4. --minutes


@pytest.mark.parametrize("value", ["0", "-5", "abc", "121", "nan", ""])
@pytest.mark.parametrize("command", [
    ["coverage", "demo", "--out", "{tmp}/x.csv"],
    ["access", "demo", "--out", "{tmp}/x.csv"],
    ["gaps", "demo", "--out", "{tmp}/x.csv"],
    ["site", "demo", "--add", "1", "--out", "{tmp}/x.csv"],
    ["report", "demo", "--out", "{tmp}/x.xlsx"],
    ["scenario", "new", "demo", "p"],
])
def test_bad_minutes(capsys, root: Path, tmp_path: Path, command: list[str], value: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in command]
    err = refused(capsys, "--regions", str(root), *argv, "--minutes", value)
    assert "--minutes" in err and "120" in err and (f"“{value}”" in err if value else "值是空的" in err)
    assert not list(tmp_path.iterdir())
    assert "p" not in store.list_scenarios("demo", root=root)


@pytest.mark.parametrize("value", ["-5,10", "5,0,15", "5,,10", "5,ten", "0", ","])
def test_bad_minutes_list(capsys, root: Path, tmp_path: Path, value: str) -> None:
    err = refused(capsys, "--regions", str(root), "isochrones", "demo", "--minutes", value,
                  "--out", str(tmp_path / "i.geojson"))
    assert "--minutes" in err and "120" in err
    assert "缺少值" not in err  # "-5,10" is a value, not a missing one
    assert not list(tmp_path.iterdir())


def test_a_flag_followed_by_a_negative_number(capsys, root: Path, tmp_path: Path) -> None:
    err = refused(capsys, "--regions", str(root), "isochrones", "demo", "--cumulative", "-5",
                  "--out", str(tmp_path / "i.geojson"))
    assert "--cumulative 不带值（收到“-5”）" in err


def test_good_minutes_list_parses() -> None:
    args = eldermap.build_parser().parse_args(["isochrones", "demo", "--minutes", "5，10, 15", "--out", "i.geojson"])
    assert args.minutes == [5.0, 10.0, 15.0]


# ---------------------------------------------------------------- 5. output extensions


@pytest.mark.parametrize(("command", "option", "allowed"), [
    (["coverage", "demo", "--out", "{tmp}/c.txt"], "--out", ".xlsx、.csv"),
    (["coverage", "demo", "--out", "{tmp}/c.csv", "--per-elder", "{tmp}/p.json"], "--per-elder", ".xlsx、.csv"),
    (["access", "demo", "--out", "{tmp}/a.geojson"], "--out", ".xlsx、.csv"),
    (["isochrones", "demo", "--out", "{tmp}/i.xlsx"], "--out", ".geojson、.json、.gpkg"),
    (["gaps", "demo", "--out", "{tmp}/g.shp"], "--out", ".gpkg"),
    (["gaps", "demo", "--out", "{tmp}/g"], "--out", ".geojson"),
    (["site", "demo", "--add", "1", "--out", "{tmp}/s.doc"], "--out", ".geojson"),
    (["site", "demo", "--add", "1", "--out", "{tmp}/s.csv", "--elders-out", "{tmp}/e.txt"], "--elders-out", ".csv"),
    (["check", "demo", "--out", "{tmp}/c.pdf"], "--out", ".xlsx、.csv"),
    (["scenario", "compare", "demo", "base", "base", "--out", "{tmp}/x.txt"], "--out", ".xlsx、.csv"),
    (["scenario", "compare", "demo", "base", "base", "--out", "{tmp}/x.csv", "--cells", "{tmp}/c.csv"], "--cells",
     ".geojson"),
    (["scenario", "show", "demo", "base", "--out", "{tmp}/x.geojson"], "--out", ".xlsx、.csv"),
    (["report", "demo", "--out", "{tmp}/r.xlsx", "--html", "{tmp}/r.txt"], "--html", ".html"),
    (["report", "demo", "--out", "{tmp}/r.xlsx", "--pdf", "{tmp}/r.docx"], "--pdf", ".pdf"),
    (["validate", "facilities", str(FIX / "facilities_valid.csv"), "--report", "{tmp}/r.txt"], "--report", ".xlsx"),
])
def test_output_extension_checked_before_computing(capsys, root: Path, tmp_path: Path, monkeypatch,
                                                   command: list[str], option: str, allowed: str) -> None:
    def no_load(*args, **kwargs):
        raise AssertionError("work started before the output extension was checked")

    monkeypatch.setattr(store, "load_region", no_load)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in command]
    err = refused(capsys, "--regions", str(root), *argv)
    assert option in err and "可用：" in err and allowed in err
    assert not list(tmp_path.iterdir())


def test_output_that_is_a_folder(capsys, root: Path, tmp_path: Path) -> None:
    err = refused(capsys, "--regions", str(root), "coverage", "demo", "--out", str(tmp_path))
    assert "--out" in err and "无法写入" in err and "文件夹" in err


def test_a_refused_write_is_said_in_chinese(capsys, root: Path, tmp_path: Path, monkeypatch) -> None:
    def refuse(df, path, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(store, "write_table", refuse)
    err = refused(capsys, "--regions", str(root), "check", "demo", "--out", str(tmp_path / "c.csv"))
    assert "无法读写文件" in err and "没有权限" in err and "c.csv" in err


def test_schema_readme_missing(capsys, tmp_path: Path) -> None:
    err = refused(capsys, "schema", "--readme", str(tmp_path / "nope.md"))
    assert "--readme" in err and "不存在" in err and "nope.md" in err


def test_shapefile_refusal_says_what_to_use(capsys, root: Path, tmp_path: Path) -> None:
    err = refused(capsys, "--regions", str(root), "gaps", "demo", "--out", str(tmp_path / "g.shp"))
    assert "Shapefile" in err and ".gpkg" in err


def test_isochrones_write_a_geopackage(capsys, root: Path, tmp_path: Path) -> None:
    code, out, err = run(capsys, "--regions", str(root), "isochrones", "demo", "--minutes", "5,10",
                         "--out", str(tmp_path / "i.gpkg"))
    assert code == 0, err
    layer = gpd.read_file(tmp_path / "i.gpkg", layer="等时圈")
    assert len(layer) == 2 and layer.crs == "EPSG:4326"
    assert tmp_path.joinpath("i.gpkg").read_bytes()[:15] == b"SQLite format 3"
    # each band says how many elders it holds, as the coverage table counts them
    from planning.coverage import region_coverage

    region = store.load_region("demo", root=root)
    ten, _ = region_coverage(region, settings=Settings(), minutes=10.0, mode="walk", by="district")
    five, _ = region_coverage(region, settings=Settings(), minutes=5.0, mode="walk", by="district")
    assert list(layer["elders"]) == [int(five["covered"].iloc[-1]), int(ten["covered"].iloc[-1] - five["covered"].iloc[-1])]
    assert f"老年人 {int(layer['elders'].iloc[0]):,} 人" in out
    # the former street buffer on request: narrower streets-only polygons
    code, out, err = run(capsys, "--regions", str(root), "isochrones", "demo", "--minutes", "5", "--method", "buffer",
                         "--buffer-m", "20", "--out", str(tmp_path / "b.geojson"))
    assert code == 0, err
    assert gpd.read_file(tmp_path / "b.geojson")["area_km2"].iloc[0] < layer["area_km2"].iloc[0]


# ---------------------------------------------------------------- 6. scenarios


@pytest.mark.parametrize("action", ["new", "show", "delete", "compare"])
def test_scenario_without_a_name(capsys, root: Path, action: str) -> None:
    before = store.list_scenarios("demo", root=root)
    err = refused(capsys, "--regions", str(root), "scenario", action, "demo")
    assert "需要方案名称" in err and f"scenario {action}" in err
    assert store.list_scenarios("demo", root=root) == before
    assert "None" not in store.list_scenarios("demo", root=root)


def test_scenario_add_kind_synonym(capsys, root: Path) -> None:
    code, out, err = run(capsys, "--regions", str(root), "scenario", "new", "demo", "日照方案", "--add",
                         "N7,日照中心,24.9461,60.1671")
    assert code == 0, err
    assert "按“日照中心”理解为“日间照料中心”" in out
    saved = store.load_scenario("demo", "日照方案", root=root)
    assert saved["changes"][0]["kind"] == "日间照料中心" and "_typed" not in saved["changes"][0]
    store.delete_scenario("demo", "日照方案", root=root)
    err = refused(capsys, "--regions", str(root), "scenario", "new", "demo", "火星", "--add", "N8,火星站,24.9461,60.1671")
    assert "--add N8 的类型 不能取“火星站”" in err and "日间照料中心" in err
    assert "火星" not in store.list_scenarios("demo", root=root)


@pytest.mark.parametrize("name", ["=1+1", "<b>x</b>", "a b"])
def test_scenario_name_with_markup_or_formula(capsys, root: Path, name: str) -> None:
    before = store.list_scenarios("demo", root=root)
    err = refused(capsys, "--regions", str(root), "scenario", "new", "demo", name, "--close", "F005")
    assert f"方案名称“{name}”无效" in err
    assert store.list_scenarios("demo", root=root) == before


def test_scenario_compare_needs_two_names_and_an_out(capsys, root: Path, tmp_path: Path) -> None:
    err = refused(capsys, "--regions", str(root), "scenario", "compare", "demo", "base", "--out",
                  str(tmp_path / "c.csv"))
    assert "两个方案名称" in err
    err = refused(capsys, "--regions", str(root), "scenario", "compare", "demo", "base", "base")
    assert "--out" in err


def test_scenario_show_in_words_and_compare_names_the_speed(capsys, root: Path, tmp_path: Path) -> None:
    code, out, err = run(capsys, "--regions", str(root), "scenario", "new", "demo", "慢步", "--add",
                         "N1,日间照料中心,24.9461,60.1671,20,灯塔日照", "--close", "F005",
                         "--set", "F001:beds_total=300", "--walk-speed", "2.5", "--minutes", "10")
    assert code == 0, err
    code, out, err = run(capsys, "--regions", str(root), "scenario", "show", "demo", "慢步")
    assert code == 0, err
    assert "{" not in out and "'op'" not in out
    for line in ("方案：慢步", "基于数据版本：v", "服务圈：10 分钟", "步行速度：2.5 公里/小时",
                 "新增日间照料中心“灯塔日照”（编号 N1，经度 24.9461、纬度 60.1671，床位 20 张）",
                 "关闭设施 F005", "修改设施 F001：床位改为 300"):
        assert line in out, out
    code, out, err = run(capsys, "--regions", str(root), "scenario", "compare", "demo", "base", "慢步",
                         "--out", str(tmp_path / "c.csv"))
    assert code == 0, err
    assert "方案“慢步”步速 2.5 公里/小时，现状 3 公里/小时：差异部分来自步速" in out
    assert "两者都按 10 分钟计算" in out
    run(capsys, "--regions", str(root), "scenario", "delete", "demo", "慢步")


def test_scenario_compare_same_speed_says_nothing_about_speed(capsys, root: Path, tmp_path: Path) -> None:
    code, out, err = run(capsys, "--regions", str(root), "scenario", "compare", "demo", "base", "base",
                         "--minutes", "5", "--out", str(tmp_path / "c.csv"))
    assert code == 0, err
    assert "步速" not in out and "两者都按" not in out


def test_scenario_lines_for_a_bare_scenario() -> None:
    lines = eldermap.scenario_lines_zh({"name": "x", "base_version": "v1", "changes": []}, Settings())
    assert lines == ["方案：x", "基于数据版本：v1", "服务圈：未指定（按设置 15 分钟）", "出行方式：未指定（步行）",
                     "步行速度：未指定（按设置 3 公里/小时）", "没有修改设施（与现状相同）"]


# ---------------------------------------------------------------- site --target says what it means


def test_site_target_already_reached(capsys, root: Path, tmp_path: Path) -> None:
    code, out, err = run(capsys, "--regions", str(root), "site", "demo", "--target", "0.5",
                         "--out", str(tmp_path / "s.csv"))
    assert code == 0, err
    assert "目标 50% 按需求加权覆盖率计算" in out and "--unweighted" in out
    assert "现状已达到目标 50%，不需要新增站点" in out and "已证明最优" not in out
    assert re.search(r"加权覆盖率 [\d.]+% → [\d.]+%；按人数 [\d.]+% → [\d.]+%", out)


def test_site_target_out_of_reach_says_how_far(capsys, root: Path, tmp_path: Path) -> None:
    candidates = tmp_path / "候选点.csv"
    pd.DataFrame({"编号": ["A"], "经度": [24.946111], "纬度": [60.167069]}).to_csv(candidates, index=False)
    code, out, err = run(capsys, "--regions", str(root), "site", "demo", "--target", "99", "--unweighted",
                         "--candidates", str(candidates), "--out", str(tmp_path / "s.csv"))
    assert code == 1, err
    assert "目标 99% 按覆盖人数比例计算（不加权）" in out
    assert re.search(r"候选点全部启用后最多达到 [\d.]+%，达不到目标 99%", out)


def test_target_lines_weighted_and_not() -> None:
    summary = {"weighted": True, "weight_total": 200.0, "weight_before": 150.0, "weight_after": 190.0,
               "coverage_pct_before": 80.0, "coverage_pct_after": 96.0}
    lines = eldermap._target_lines_zh(summary, 95, reached_already=False, infeasible=False)
    assert lines[1] == "  加权覆盖率 75.00% → 95.00%；按人数 80.0% → 96.0%"
    lines = eldermap._target_lines_zh({**summary, "weighted": False}, 95, reached_already=True, infeasible=False)
    assert lines == ["目标 95% 按覆盖人数比例计算（不加权）：按人数 80.0% → 96.0%", "现状已达到目标 95%，不需要新增站点。"]


# ---------------------------------------------------------------- 7. user add without a terminal


def test_user_add_without_a_terminal(capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    err = refused(capsys, "user", "add", "clerk", "--role", "staff", "--users", str(tmp_path / "u.toml"))
    assert "没有终端" in err and "--password-stdin" in err
    assert not (tmp_path / "u.toml").exists()


@pytest.mark.parametrize("interrupt", [EOFError, KeyboardInterrupt])
def test_user_add_cancelled_at_the_prompt(capsys, monkeypatch, tmp_path: Path, interrupt: type) -> None:
    import getpass

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)

    def prompt(text: str = "") -> str:
        raise interrupt()

    monkeypatch.setattr(getpass, "getpass", prompt)
    err = refused(capsys, "user", "add", "clerk", "--role", "staff", "--users", str(tmp_path / "u.toml"))
    assert "已取消" in err and "未保存" in err
    assert not (tmp_path / "u.toml").exists()


def test_user_add_password_stdin_at_eof(capsys, monkeypatch, tmp_path: Path) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    err = refused(capsys, "user", "add", "clerk", "--role", "staff", "--password-stdin",
                  "--users", str(tmp_path / "u.toml"))
    assert "密码太短" in err
    assert not (tmp_path / "u.toml").exists()


# ---------------------------------------------------------------- 8. import exit status


def test_import_with_rejected_rows_exits_0_and_says_so(capsys, tmp_path: Path) -> None:
    from geo.osm import demo_pbf_path

    code, out, err = run(capsys, "--regions", str(tmp_path / "r"), "import", "x", "--roads", str(demo_pbf_path()),
                         "--facilities", str(FIX / "facilities_bad_rows.csv"), "--report-dir", str(tmp_path / "rep"))
    assert code == 0, err
    assert "已保存为版本" in out
    rejected = int(re.search(r"有 (\d+) 行被拒绝，没有导入", out).group(1))
    assert rejected > 0 and "替换该图层" in out
    assert store.region_exists("x", root=tmp_path / "r")


def test_import_says_when_a_layer_is_replaced(capsys, tmp_path: Path) -> None:
    from geo.osm import demo_pbf_path

    regions, reports = str(tmp_path / "r"), str(tmp_path / "rep")
    code, out, err = run(capsys, "--regions", regions, "import", "x", "--roads", str(demo_pbf_path()),
                         "--facilities", str(FIX / "facilities_valid.csv"), "--report-dir", reports)
    assert code == 0, err
    assert "图层已整体替换" not in out  # a new region replaces nothing
    lines = (FIX / "facilities_valid.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    two = tmp_path / "two.csv"
    two.write_text("".join(lines[:3]), encoding="utf-8")
    code, out, err = run(capsys, "--regions", regions, "import", "x", "--facilities", str(two), "--report-dir", reports)
    assert code == 0, err
    assert "注意：养老服务设施图层已整体替换为本次文件的内容：原有 3 条 → 现在 2 条" in out


def test_import_help_documents_the_exit_status(capsys) -> None:
    with pytest.raises(SystemExit):
        eldermap.main(["import", "--help"])
    assert "退出状态：0 已保存新版本" in capsys.readouterr().out


def test_validate_says_what_the_rejects_file_is_for(capsys, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "validate", "facilities", str(FIX / "facilities_bad_rows.csv"),
                       "--report", str(tmp_path / "r.xlsx"))
    assert code == 1 and "改正后可直接导入本文件" in out


# ---------------------------------------------------------------- 9. README examples write into out/


def test_readme_examples_write_into_out() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Command line 命令行", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    outputs = re.findall(r"--(?:out|per-elder|elders-out|html|pdf) (\S+)", block)
    assert len(outputs) >= 12
    assert all(p.startswith("out/") for p in outputs), outputs
    assert any(line.strip() in ("/out/", "out/") for line in (ROOT / ".gitignore").read_text().splitlines())


# ---------------------------------------------------------------- real processes: nothing reaches a terminal


@pytest.mark.parametrize("argv", [
    ["coverage", "demo", "--kind", "火星站", "--out", "{tmp}/c.csv"],
    ["coverage", "demo", "--minutes", "-5", "--out", "{tmp}/c.csv"],
    ["isochrones", "demo", "--minutes", "-5,10", "--out", "{tmp}/i.geojson"],
    ["isochrones", "demo", "--out", "{tmp}/i.xlsx"],
    ["scenario", "show", "demo"],
    ["user", "add", "clerk", "--role", "staff", "--users", "{tmp}/u.toml"],
    ["coverage", "demo", "--mode", "bike", "--out", "{tmp}/c.csv"],
    ["scenario", "new", "demo", "<b>x</b>", "--close", "F005"],
    ["gaps", "demo", "--out", "{tmp}/g.shp"],
])
def test_real_process_no_traceback(root: Path, tmp_path: Path, argv: list[str]) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    done = subprocess.run([sys.executable, "eldermap.py", *args, "--regions", str(root)], cwd=ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("错误："), done.stderr
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- 8. found by the fuzz test (tests/test_cli_fuzz.py)


def test_help_headings_are_chinese(capsys) -> None:
    with pytest.raises(SystemExit):
        eldermap.main(["site", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("用法：eldermap site")
    assert "位置参数" in out and "选项" in out and "显示本帮助并退出" in out
    for english in ("usage:", "positional arguments", "options:", "show this help"):
        assert english not in out


def test_import_where_every_row_is_rejected_keeps_the_region(capsys, tmp_path: Path) -> None:
    """A file whose rows are all bad must not replace a layer by nothing; the region stays as it was."""
    from geo.osm import demo_pbf_path

    regions, reports = str(tmp_path / "r"), tmp_path / "rep"
    code, _, err = run(capsys, "--regions", regions, "import", "x", "--roads", str(demo_pbf_path()),
                       "--facilities", str(FIX / "facilities_valid.csv"), "--report-dir", str(reports))
    assert code == 0, err
    version = store.current_version("x", root=regions)
    bad = tmp_path / "all_bad.csv"
    bad.write_text("名称,类型,经度,纬度\n甲,养老机构,abc,def\n乙,养老机构,,\n", encoding="utf-8")
    err = refused(capsys, "--regions", regions, "import", "x", "--facilities", str(bad), "--report-dir", str(reports))
    assert "--facilities" in err and "2 行全部被拒绝" in err and "未更新" in err and "第 2 行" in err
    assert store.current_version("x", root=regions) == version
    assert len(store.load_region("x", root=regions).facilities) == 3
    assert (reports / "all_bad_校验报告.xlsx").exists()  # the report that says why is kept


def test_a_failed_import_leaves_no_report_of_its_other_files(capsys, tmp_path: Path) -> None:
    from geo.osm import demo_pbf_path

    regions, reports = str(tmp_path / "r"), tmp_path / "rep"
    corrupt = tmp_path / "elders.xlsx"
    corrupt.write_bytes(b"not a workbook" * 50)
    err = refused(capsys, "--regions", regions, "import", "x", "--roads", str(demo_pbf_path()),
                  "--facilities", str(FIX / "facilities_valid.csv"), "--elders", str(corrupt),
                  "--report-dir", str(reports))
    assert err.startswith("错误：--elders（elders.xlsx）：无法读取文件 elders.xlsx")
    assert not store.region_exists("x", root=regions)
    assert not reports.exists() or not list(reports.iterdir())


def test_commands_refuse_a_region_without_elders(capsys, tmp_path: Path, demo_region) -> None:
    layers = dict(demo_region.layers)
    layers["elders"] = layers["elders"].iloc[0:0]
    store.save_region("demo", layers, {}, root=tmp_path / "r")
    for argv in (["coverage", "demo", "--out", str(tmp_path / "c.csv")], ["gaps", "demo", "--out", str(tmp_path / "g.csv")],
                 ["site", "demo", "--add", "1", "--out", str(tmp_path / "s.csv")],
                 ["access", "demo", "--out", str(tmp_path / "a.csv")]):
        err = refused(capsys, "--regions", str(tmp_path / "r"), *argv)
        assert "没有老年人数据" in err and "--elders" in err
    code, out, err = run(capsys, "--regions", str(tmp_path / "r"), "report", "demo", "--out", str(tmp_path / "r.xlsx"),
                         "--allow-unassigned")
    assert code == 0 and "本地区没有老年人数据" in out + err
    import openpyxl

    first = openpyxl.load_workbook(tmp_path / "r.xlsx").worksheets[0]
    assert any("本地区没有老年人数据" in str(c.value) for row in first.iter_rows(max_row=4) for c in row)


def test_site_with_nothing_to_choose_says_why(capsys, root: Path, tmp_path: Path) -> None:
    far = tmp_path / "cand.csv"  # a candidate on the region's edge covers nobody outside the circle in 1 minute
    far.write_text("名称,经度,纬度\n边角,24.93520,60.16420\n", encoding="utf-8")
    code, out, err = run(capsys, "--regions", str(root), "site", "demo", "--add", "1", "--minutes", "1",
                         "--candidates", str(far), "--solver", "greedy", "--out", str(tmp_path / "s.csv"))
    assert code == 0, err
    assert "（0 处新站点）" in out and "覆盖不到圈外老人" in out and "已证明最优" not in out


def test_settings_file_mistakes_in_chinese(capsys, tmp_path: Path) -> None:
    broken = tmp_path / "s.toml"
    broken.write_text("walk_speed_kmh = = 3\n", encoding="utf-8")
    err = refused(capsys, "list", "--settings", str(broken))
    assert "--settings" in err and "第 1 行" in err and "TOML" in err and "Invalid" not in err
    broken.write_bytes('region_name = "东城"\n'.encode("gbk"))
    err = refused(capsys, "--settings", str(broken), "list")
    assert "不是 UTF-8" in err


def test_output_piped_into_head_is_not_an_error(root: Path) -> None:
    done = subprocess.run(f"{sys.executable} {ROOT / 'eldermap.py'} --regions {root} info demo | head -1",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("地区：demo") and "错误" not in done.stderr and "Traceback" not in done.stderr


def test_exports_say_yes_no_and_keep_internal_columns_out(capsys, root: Path, tmp_path: Path) -> None:
    """Yes/no cells read 是/否 in every CSV and workbook; the coverage table has no "elders:特困" columns (the
    groups have their own sheet)."""
    import openpyxl

    for suffix in (".csv", ".xlsx"):
        out, per, check = (tmp_path / f"c{suffix}", tmp_path / f"pe{suffix}", tmp_path / f"k{suffix}")
        assert run(capsys, "--regions", str(root), "coverage", "demo", "--by-group", "--out", str(out),
                   "--per-elder", str(per))[0] == 0
        assert run(capsys, "--regions", str(root), "check", "demo", "--out", str(check))[0] == 0
        for path in (out, per, check):
            if suffix == ".csv":
                cells = {c for line in path.read_text(encoding="utf-8-sig").splitlines() for c in line.split(",")}
            else:
                cells = {str(c.value) for ws in openpyxl.load_workbook(path) for row in ws.iter_rows() for c in row}
            assert not cells & {"True", "False"}, path
        header = (pd.read_csv(out, nrows=0).columns if suffix == ".csv"
                  else pd.read_excel(out, sheet_name="覆盖率", nrows=0).columns)
        assert not [c for c in header if ":" in str(c)]
    assert set(pd.read_csv(tmp_path / "pe.csv")["已接入路网"]) <= {"是", "否"}


def test_every_cli_export_is_audited_with_version_and_rows(capsys, root: Path, tmp_path: Path) -> None:
    """Issue 14: coverage, gaps, site, check, isochrones, access and scenario outputs each write an audit entry
    naming the region version and the row count."""
    from data import audit

    version = store.current_version("demo", root=root)
    before = len(audit.read(root))
    commands = [
        (["coverage", "demo", "--out", str(tmp_path / "c.csv"), "--per-elder", str(tmp_path / "pe.csv")], 2),
        (["gaps", "demo", "--out", str(tmp_path / "g.csv")], 1),
        (["site", "demo", "--add", "1", "--solver", "greedy", "--out", str(tmp_path / "s.csv")], 1),
        (["check", "demo", "--out", str(tmp_path / "k.csv")], 1),
        (["isochrones", "demo", "--minutes", "5", "--out", str(tmp_path / "i.geojson")], 1),
        (["access", "demo", "--out", str(tmp_path / "a.csv")], 1),
    ]
    expected = 0
    for argv, entries in commands:
        code, _, err = run(capsys, "--regions", str(root), *argv)
        assert code == 0, (argv, err)
        expected += entries
    log = audit.read(root).iloc[before:]
    assert len(log) == expected and set(log["action"]) == {"export"}
    assert set(log["version"]) == {version}
    assert (log["rows"].astype(int) > 0).all()
    coverage_rows = len(pd.read_csv(tmp_path / "c.csv"))
    assert int(log.iloc[0]["rows"]) == coverage_rows and "c.csv" in log.iloc[0]["detail"]
    assert int(log.iloc[1]["rows"]) == len(pd.read_csv(tmp_path / "pe.csv"))
    assert not audit.verify_chain(root)


# ---------------------------------------------------------------- the 12349 desk's tables (issue 15)


def test_validate_orders_needs_a_region(capsys, tmp_path: Path) -> None:
    orders = tmp_path / "工单.csv"
    orders.write_text("工单编号,老人编号,服务项目\nW01,E001,SC01\n", encoding="utf-8")
    err = refused(capsys, "validate", "orders", str(orders), "--out", str(tmp_path / "out"))
    assert "--region" in err and "服务清单" in err and "工单.csv" in err
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["工单.csv"]  # no report written


def test_validate_home_care_tables_against_the_region(capsys, root: Path, tmp_path: Path) -> None:
    """Carers and orders are personal (the salt is used, the rejects are masked) and are checked against the
    region given by --region: carers against its providers, orders against its service list."""
    region = store.load_region("demo", root=root)
    provider = region.facilities[region.facilities["kind"] == "居家上门服务商"]["id"].iloc[0]
    item = region.layer("service_items")["code"].iloc[0]
    carers = tmp_path / "服务人员.csv"
    carers.write_text(f"人员编号,姓名,所属服务商编号,技能\nA01,王芳,{provider},生活照料\nA02,李强,不存在的服务商,生活照料\n",
                      encoding="utf-8")
    code, out, err = run(capsys, "--regions", str(root), "validate", "carers", str(carers), "--region", "demo",
                         "--report", str(tmp_path / "c.xlsx"))
    assert code == 1, err
    assert "第 3 行 所属服务商编号" in out and "第 2 行" not in out
    assert "个人信息已遮盖" in out and "王芳" not in out and "李强" not in out
    point = region.elders.geometry.iloc[0]
    orders = tmp_path / "服务工单.csv"
    orders.write_text("工单编号,老人编号,服务项目,预约开始时间,预约结束时间,经度,纬度\n"
                      f"W01,E001,{item},2026-12-01 09:00,2026-12-01 10:00,{point.x:.6f},{point.y:.6f}\n"
                      f"W02,E002,理发,2026-12-01 09:00,2026-12-01 10:00,{point.x:.6f},{point.y:.6f}\n", encoding="utf-8")
    code, out, err = run(capsys, "--regions", str(root), "validate", "orders", str(orders), "--region", "demo",
                         "--report", str(tmp_path / "o.xlsx"))
    assert code == 1, err
    assert "第 3 行 服务项目“理发”" in out and "读取 2 行" in out and "个人信息已遮盖" in out
    code, out, err = run(capsys, "validate", "service_items", str(tmp_path / "nope.csv"))
    assert code == 2 and "不存在" in err  # the new tables' files get the same checks as the others


def test_demo_says_the_home_care_tables_are_synthetic(capsys, monkeypatch, demo_region, tmp_path: Path) -> None:
    from data import demo

    from desk import orders_db

    monkeypatch.setattr(demo, "build_demo_layers", lambda *a, **k: (dict(demo_region.layers), {}))
    code, out, err = run(capsys, "--regions", str(tmp_path), "demo", "--name", "d2")
    assert code == 0, err
    assert all(f"{name} {len(demo_region.layers[name])}" in out for name in ("service_items", "carers", "orders"))
    assert "服务清单、服务人员、服务工单" in out and "均为合成数据" in out
    # the desk's order log holds the demo's orders at once (ratings and the queue work on a fresh demo)
    n = len(demo_region.layers["orders"])
    assert f"载入 {n} 条演示工单" in out and len(orders_db.current_orders("d2", root=tmp_path)) == n


@pytest.mark.parametrize("value", ["zz", "abcd"])
def test_a_malformed_salt_variable_is_refused_in_chinese(value, tmp_path, monkeypatch, capsys) -> None:
    """$ELDERMAP_SALT that is not hex, or too short, is named in Chinese (it used to end in a traceback)."""
    import eldermap

    monkeypatch.setenv("ELDERMAP_SALT", value)
    src = tmp_path / "elders.csv"
    src.write_text("身份证号,经度,纬度\n110101195001011237,24.94,60.17\n", encoding="utf-8")
    code = eldermap.main(["--regions", str(tmp_path / "regions"), "validate", "elders", str(src),
                          "--report", str(tmp_path / "r.xlsx")])
    err = capsys.readouterr().err
    assert code == 2 and "ELDERMAP_SALT" in err and "十六进制" in err and "Traceback" not in err
