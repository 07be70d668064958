"""Issue 17: a large elders register imported as a stream (validated, assigned to areas and written block by block)
against the same register imported whole.

Every comparison runs the same register both ways, into the file store and into PostGIS, for block sizes that
split duplicates, rejected rows and area-assignment warnings across blocks: the stored elders layer (frame equal),
the report's problems and rejects, the area-assignment summary and the manifest's row counts must be identical.
An import interrupted inside the stream leaves the previous version current and intact. The summary merge
(:meth:`AreaAssignment.merged`) is checked against one :func:`assign_areas` call over the whole table, for
hypothesis-chosen cuts.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pg_support import new_database

from data import ids, store
from data.importer import AreaAssignment, assign_areas, import_region
from geo import coords
from geo.errors import InputFileError, ManifestError
from geo.settings import Settings

TODAY = dt.date(2026, 11, 23)
STREAM = Settings(import_stream_min_mb=0)
WHOLE = Settings()  # 64 MB: these registers are imported whole
# the street grid of conftest.write_zhengzhou_osm: lon 113.610-113.6224, lat 34.740-34.7493
WEST = shapely.box(113.6095, 34.7395, 113.6160, 34.7470)
EAST = shapely.box(113.6160, 34.7395, 113.6230, 34.7470)  # north of 34.747: outside every community


@pytest.fixture(autouse=True)
def _salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELDERMAP_SALT", "cd" * 32)
    monkeypatch.delenv("ELDERMAP_DATABASE_URL", raising=False)


def _areas(path: Path) -> Path:
    gdf = gpd.GeoDataFrame({"区划代码": ["410102001001", "410102001002", "410102001003"],
                            "名称": ["甲社区", "乙社区", "丙社区"]},
                           geometry=[WEST, EAST, None], crs="EPSG:4326")
    gdf.to_file(path, driver="GeoJSON")
    return path


def _pid(k: int) -> str:
    body = f"410102{1930 + k % 30}{k % 12 + 1:02d}{k % 28 + 1:02d}{k % 1000:03d}"
    return body + ids.resident_id_check_char(body)


def write_register(path: Path, n: int, *, seed: int = 7, gcj02: bool = False) -> Path:
    """A GBK elders register of ``n`` rows mixing what the import must treat alike in every block: wrong check
    characters and repeated numbers (rejected, found across blocks), points without position, community codes,
    names (one unknown), codes contradicting the position, and points outside every community. ``gcj02``:
    positions near the streets written in GCJ-02 (a file declared WGS-84 by mistake)."""
    rng = np.random.default_rng(seed)
    lon = 113.6105 + rng.random(n) * 0.0115
    lat = 34.7405 + rng.random(n) * 0.0085
    if gcj02:  # on the streets (every 5th row on a north-south one), then shifted as Amap shifts them
        lat = np.where(np.arange(n) % 2 == 0, 34.740 + 0.0047, lat)
        lon = np.where(np.arange(n) % 2 == 1, 113.610 + 0.0060, lon)
        lon, lat = coords.from_wgs84(lon, lat, "gcj02")
    lines = ["身份证号,性别,社区代码,所属社区,经度,纬度"]
    for k in range(n):
        pid = _pid(k)
        if k % 37 == 0:
            pid = pid[:-1] + ("0" if pid[-1] != "0" else "1")
        if k % 53 == 5:
            pid = _pid(k - 1)  # the row above's number again
        code = name = ""
        x, y = f"{lon[k]:.6f}", f"{lat[k]:.6f}"
        if k % 5 == 0:
            code = "410102001001" if lon[k] < 113.616 else "410102001002"
        elif k % 5 == 1:
            name = "某某社区" if k % 45 == 1 else ("甲社区" if lon[k] < 113.616 else "乙社区")
        elif k % 5 == 2 and k % 3 == 0:
            code = "410102001002" if lon[k] < 113.616 else "410102001001"  # contradicts the position
        if k % 41 == 3:
            x = y = ""
            code = code or "410102001003"
        lines.append(f"{pid},{'男' if k % 2 else '女'},{code},{name},{x},{y}")
    if n > 60:
        lines += lines[30:34]  # repeats of earlier rows at the end: duplicates blocks apart
    path.write_text("\n".join(lines) + "\n", encoding="gbk")
    return path


@pytest.fixture
def region(tmp_path: Path, zhengzhou_osm) -> tuple[Path, Path]:
    """(roads, areas) files of a small real street grid with two community polygons and one without."""
    return zhengzhou_osm[0], _areas(tmp_path / "areas.geojson")


def _import(root: str | Path, roads: Path, areas: Path, register: Path, settings: Settings, reports: Path, **kw):
    return import_region("grid", settings=settings, roads=roads, areas=areas, elders=register, root=root,
                         report_dir=reports, today=TODAY, **kw)


def _same_outcome(root_a: str | Path, a, root_b: str | Path, b) -> None:
    """Two imports of the same register: the same stored elders, problems, rejects, assignment and counts."""
    ra, rb = store.load_region("grid", root=root_a), store.load_region("grid", root=root_b)
    pd.testing.assert_frame_equal(pd.DataFrame(ra.elders.drop(columns="geometry")),
                                  pd.DataFrame(rb.elders.drop(columns="geometry")), check_exact=True)
    assert list(ra.elders.geometry.to_wkb()) == list(rb.elders.geometry.to_wkb())
    assert ra.elders.crs == rb.elders.crs
    (res_a,), (res_b,) = [r for r in a.results if r.table == "elders"], [r for r in b.results if r.table == "elders"]
    pd.testing.assert_frame_equal(res_a.problems, res_b.problems, check_exact=True)
    pd.testing.assert_frame_equal(res_a.rejects, res_b.rejects, check_exact=True)
    assert (res_a.n_read, res_a.n_imported, res_a.n_rejected) == (res_b.n_read, res_b.n_imported, res_b.n_rejected)
    assert a.assignments == b.assignments and a.warnings == b.warnings and a.counts == b.counts
    assert {k: v["rows"] for k, v in ra.manifest["layers"].items()} == \
        {k: v["rows"] for k, v in rb.manifest["layers"].items()}
    src_a = next(s for s in ra.manifest["sources"] if s["layer"] == "elders")
    src_b = next(s for s in rb.manifest["sources"] if s["layer"] == "elders")
    drop = ("report", "streamed")
    assert {k: v for k, v in src_a.items() if k not in drop} == {k: v for k, v in src_b.items() if k not in drop}


def test_streamed_equals_whole_in_the_file_store(tmp_path: Path, region) -> None:
    roads, areas = region
    register = write_register(tmp_path / "elders.csv", 420)
    whole = _import(tmp_path / "whole", roads, areas, register, WHOLE, tmp_path / "rw")
    res = whole.results[-1]
    # the register exercises what it should: rejects, cross-block duplicates, every kind of assignment
    assert res.n_rejected >= 20 and sum("重复" in p for p in res.problems["问题"]) >= 10
    sources = whole.assignments["elders"].sources["community"]
    assert sources.get("code", 0) > 50 and sources.get("name", 0) > 30 and sources.get("polygon:community", 0) > 50
    assert whole.assignments["elders"].unassigned["community"].get("outside", 0) > 5
    assert whole.assignments["elders"].unassigned["community"].get("unmatched", 0) > 0
    assert any("位置落在" in p for p in res.problems["问题"])
    seen: list[tuple[int, int]] = []
    for chunk in (41, 150, 10_000):
        root = tmp_path / f"s{chunk}"
        streamed = _import(root, roads, areas, register, STREAM, tmp_path / f"r{chunk}", chunk_rows=chunk,
                           rows_progress=lambda done, total: seen.append((done, total)))
        assert next(s for s in store.load_region("grid", root=root).manifest["sources"]
                    if s["layer"] == "elders")["streamed"] is True
        _same_outcome(tmp_path / "whole", whole, root, streamed)
        # the layer was written in row groups as the blocks came
        groups = pq.ParquetFile(store.load_region("grid", root=root).path / "elders.parquet").num_row_groups
        assert groups == -(-res.n_read // chunk)  # one per block: every block here has good rows
    total = res.n_read
    assert seen[-1] == (total, total) and all(t == total for _, t in seen)
    assert [d for d, _ in seen[:11]] == sorted(d for d, _ in seen[:11])  # rows read, growing, block by block


def test_streamed_equals_whole_in_postgis(tmp_path: Path, region, postgis_url: str) -> None:
    roads, areas = region
    register = write_register(tmp_path / "elders.csv", 260)
    whole_url, stream_url = new_database(postgis_url), new_database(postgis_url)
    for url in (whole_url, stream_url):
        store.migrate_database(url)
    whole = _import(whole_url, roads, areas, register, WHOLE, tmp_path / "rw")
    streamed = _import(stream_url, roads, areas, register, STREAM, tmp_path / "rs", chunk_rows=57)
    _same_outcome(whole_url, whole, stream_url, streamed)
    # the features projection holds every elder, numbered as the layer's rows
    import psycopg

    with psycopg.connect(stream_url) as conn:
        rows = conn.execute("SELECT row_no, props->>'pid' FROM eldermap.features WHERE layer = 'elders' "
                            "ORDER BY row_no").fetchall()
    elders = store.load_region("grid", root=stream_url).elders
    assert [r[0] for r in rows] == list(range(len(elders)))
    assert [r[1] for r in rows] == list(elders["pid"])
    version = store.current_version("grid", root=stream_url)
    stored = store._pg().stored_layers(stream_url, "grid", version)["elders"]
    assert stored["sha256"] == store.region_manifest("grid", root=stream_url)["layers"]["elders"]["sha256"]


def test_reimport_never_reads_the_previous_elders(tmp_path: Path, region) -> None:
    """The previous elders layer is damaged: loading it raises; a new register replaces it all the same (streamed
    or whole), and the note on the replaced layer counts the previous rows from the manifest."""
    roads, areas = region
    root = tmp_path / "r"
    _import(root, roads, areas, write_register(tmp_path / "a.csv", 120), STREAM, tmp_path / "rep")
    before = store.region_manifest("grid", root=root)
    path = root / "grid" / store.current_version("grid", root=root) / "elders.parquet"
    path.write_bytes(b"damaged" + path.read_bytes()[7:])
    with pytest.raises(ManifestError):
        store.load_region("grid", root=root)
    for settings in (STREAM, WHOLE):
        out = import_region("grid", settings=settings, elders=write_register(tmp_path / "b.csv", 90, seed=3),
                            root=root, report_dir=tmp_path / "rep", today=TODAY)
        after = store.load_region("grid", root=root)  # loads, checksums verified
        assert len(after.elders) == out.counts["elders"] < before["layers"]["elders"]["rows"]
        assert any(f"原有 {before['layers']['elders']['rows']:,} 条" in n for n in out.notes) or settings is WHOLE
        assert after.manifest["layers"]["road_edges"]["rows"] == before["layers"]["road_edges"]["rows"]


def _store_root(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> str | Path:
    """A fresh store: a folder, or a migrated database on the throw-away PostGIS server."""
    if store_kind == "files":
        return tmp_path / "r"
    root = new_database(request.getfixturevalue("postgis_url"))
    store.migrate_database(root)
    return root


@pytest.mark.parametrize("store_kind", ["files", "postgis"])
def test_interrupted_stream_leaves_the_previous_version(tmp_path: Path, region, store_kind: str,
                                                        request: pytest.FixtureRequest) -> None:
    roads, areas = region
    root = _store_root(tmp_path, store_kind, request)
    _import(root, roads, areas, write_register(tmp_path / "a.csv", 100), WHOLE, tmp_path / "rep")
    before = store.load_region("grid", root=root)
    calls = {"n": 0}

    def power_cut(done: int, total: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # two blocks already written into the new version
            raise KeyboardInterrupt("power cut")

    with pytest.raises(KeyboardInterrupt):
        import_region("grid", settings=STREAM, elders=write_register(tmp_path / "b.csv", 200, seed=5), root=root,
                      report_dir=tmp_path / "rep2", today=TODAY, chunk_rows=30, rows_progress=power_cut)
    after = store.load_region("grid", root=root)
    assert after.version == before.version
    pd.testing.assert_frame_equal(pd.DataFrame(after.elders.drop(columns="geometry")),
                                  pd.DataFrame(before.elders.drop(columns="geometry")))
    if store_kind == "files":
        assert not list((tmp_path / "r" / "grid").glob(".partial-*"))  # what was written went with it
        assert sorted(p.name for p in (tmp_path / "r" / "grid").iterdir() if p.name.startswith("v")) == \
            [before.version]
    else:
        assert store._pg().versions(root, "grid") == [before.version]
    assert not list((tmp_path / "rep2").glob("*"))  # no report of an import that did not happen


def test_every_row_rejected_in_a_stream_keeps_the_region(tmp_path: Path, region) -> None:
    roads, areas = region
    root = tmp_path / "r"
    _import(root, roads, areas, write_register(tmp_path / "a.csv", 50), WHOLE, tmp_path / "rep")
    before = store.current_version("grid", root=root)
    bad = tmp_path / "bad.csv"
    bad.write_text("身份证号,经度,纬度\n" + "".join("12345,113.612,34.741\n" for _ in range(70)), encoding="gbk")
    with pytest.raises(InputFileError, match="全部被拒绝"):
        import_region("grid", settings=STREAM, elders=bad, root=root, report_dir=tmp_path / "rep", today=TODAY,
                      chunk_rows=25)
    assert store.current_version("grid", root=root) == before
    assert not list((root / "grid").glob(".partial-*"))


def test_mislabelled_crs_is_caught_on_the_first_block(tmp_path: Path, region) -> None:
    """Points on the streets written in GCJ-02 but declared WGS-84: the streamed import warns as the whole one does
    (the check looks at the first block: the same warning text, file-level)."""
    roads, areas = region
    register = write_register(tmp_path / "gcj.csv", 240, gcj02=True)
    whole = _import(tmp_path / "w", roads, areas, register, WHOLE, tmp_path / "rw")
    streamed = _import(tmp_path / "s", roads, areas, register, STREAM, tmp_path / "rs", chunk_rows=80)

    def crs_warnings(outcome) -> list[str]:
        p = outcome.results[-1].problems
        return list(p.loc[p["字段"] == "坐标系", "问题"])

    assert len(crs_warnings(whole)) == 1 and "GCJ-02" in crs_warnings(whole)[0]
    assert len(crs_warnings(streamed)) == 1 and "GCJ-02" in crs_warnings(streamed)[0]
    # declared right, there is no warning either way
    right = _import(tmp_path / "s2", roads, areas, register, STREAM, tmp_path / "rs2", chunk_rows=80,
                    elder_crs="gcj02")
    assert crs_warnings(right) == []


@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=140), max_size=6))
def test_merged_assignment_equals_one_call(cuts: list[int]) -> None:
    points, areas = _POINTS_AND_AREAS
    whole = assign_areas(points, areas, table="elders")
    bounds = [0, *sorted(set(cuts)), len(points)]
    parts = [assign_areas(points.iloc[a:b], areas, table="elders") for a, b in zip(bounds, bounds[1:], strict=False)
             if b > a]
    merged = AreaAssignment.merged([p[2] for p in parts])
    assert merged == whole[2]
    assert json.dumps(merged.to_dict(), sort_keys=True) == json.dumps(whole[2].to_dict(), sort_keys=True)
    found = [p[1] for p in parts if len(p[1])]  # as the importer gathers them (data.importer._concat_problems)
    pd.testing.assert_frame_equal(pd.concat(found, ignore_index=True), whole[1])
    pd.testing.assert_frame_equal(pd.concat([p[0] for p in parts]), whole[0])


def _points_and_areas() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    rng = np.random.default_rng(11)
    n = 140
    lon = 113.6105 + rng.random(n) * 0.0115
    lat = 34.7405 + rng.random(n) * 0.0085
    geoms = [None if k % 17 == 4 else shapely.Point(x, y) for k, (x, y) in enumerate(zip(lon, lat, strict=True))]
    community = [("410102001001" if k % 7 == 0 else None) for k in range(n)]
    names = [("乙社区" if k % 9 == 1 else ("无此社区" if k % 23 == 2 else None)) for k in range(n)]
    points = gpd.GeoDataFrame({"source_row": np.arange(2, n + 2), "community_code": pd.array(community, "string"),
                               "community_name": pd.array(names, "string")}, geometry=geoms, crs="EPSG:4326")
    areas = gpd.GeoDataFrame({"code": ["410102001001", "410102001002", "410102001", "410102"],
                              "name": ["甲社区", "乙社区", "某街道", "某区"],
                              "level": ["community", "community", "street", "district"],
                              "parent_code": ["410102001", "410102001", "410102", None]},
                             geometry=[WEST, EAST, None, None], crs="EPSG:4326")
    return points, areas


_POINTS_AND_AREAS = _points_and_areas()


def test_merge_refuses_other_tables_and_nothing() -> None:
    points, areas = _POINTS_AND_AREAS
    a = assign_areas(points.iloc[:5], areas, table="elders")[2]
    b = assign_areas(points.iloc[5:9], areas, table="facilities")[2]
    with pytest.raises(ValueError):
        AreaAssignment.merged([a, b])
    with pytest.raises(ValueError):
        AreaAssignment.merged([])


def test_cli_shows_a_rows_bar_for_a_streamed_register(tmp_path: Path, region, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`eldermap import` of a streamed register: a tqdm bar over the rows on stderr (a terminal), reaching every
    row of the file; stdout as for any import."""
    import sys

    import eldermap

    roads, areas = region
    settings_file = tmp_path / "s.toml"
    settings_file.write_text("import_stream_min_mb = 0\n", encoding="utf-8")
    register = write_register(tmp_path / "elders.csv", 150)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code = eldermap.main(["--regions", str(tmp_path / "r"), "--settings", str(settings_file), "import", "grid",
                          "--roads", str(roads), "--areas", str(areas), "--elders", str(register),
                          "--report-dir", str(tmp_path / "rep")])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    n_read = store.load_region("grid", root=tmp_path / "r").manifest["sources"][-1]["rows_read"]
    assert "老年人名册（分块校验并写入）" in err and f"{n_read}/{n_read}" in err and "行" in err
    assert "地区“grid”已保存" in out


def test_assign_areas_decides_each_record_as_if_alone() -> None:
    """assign_areas decides records alike once: the same as assigning every record by itself (one call each)."""
    points, areas = _POINTS_AND_AREAS
    whole = assign_areas(points, areas, table="elders", file_name="f.csv")
    alone = [assign_areas(points.iloc[[i]], areas, table="elders", file_name="f.csv") for i in range(len(points))]
    pd.testing.assert_frame_equal(pd.concat([a[0] for a in alone]), whole[0])
    pd.testing.assert_frame_equal(pd.concat([a[1] for a in alone if len(a[1])], ignore_index=True), whole[1])
    assert AreaAssignment.merged([a[2] for a in alone]) == whole[2]
    assert len(whole[1]) >= 10  # conflicts and unknown names: warnings to compare


@pytest.mark.parametrize("store_kind", ["files", "postgis"])
def test_carried_elders_are_the_stored_file(tmp_path: Path, region, store_kind: str,
                                            request: pytest.FixtureRequest) -> None:
    """An import without an elders file carries the stored elders over as they are (the same bytes: never loaded
    into a frame), checked against the manifest: a damaged layer stops the import and nothing changes."""
    roads, areas = region
    root = _store_root(tmp_path, store_kind, request)
    _import(root, roads, areas, write_register(tmp_path / "a.csv", 150), STREAM, tmp_path / "rep", chunk_rows=40)
    before = store.load_region("grid", root=root)
    fac = tmp_path / "f.csv"
    fac.write_text("机构编号,名称,类型,经度,纬度\nF1,甲站,养老服务站,113.6131,34.7402\n", encoding="utf-8")
    out = import_region("grid", settings=WHOLE, facilities=fac, root=root, report_dir=tmp_path / "rep", today=TODAY)
    after = store.load_region("grid", root=root)
    assert after.version != before.version and out.counts["elders"] == len(before.elders)
    assert after.manifest["layers"]["elders"] == before.manifest["layers"]["elders"]  # same bytes, same sha256
    pd.testing.assert_frame_equal(pd.DataFrame(after.elders.drop(columns="geometry")),
                                  pd.DataFrame(before.elders.drop(columns="geometry")))
    if store_kind == "files":  # damage the stored layer: the next import refuses to carry it
        path = tmp_path / "r" / "grid" / after.version / "elders.parquet"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.unlink()  # a hard link to the earlier version's file: write a new file, not through the link
        path.write_bytes(bytes(data))
        with pytest.raises(ManifestError):
            import_region("grid", settings=WHOLE, facilities=fac, root=root, report_dir=tmp_path / "rep",
                          today=TODAY)
        assert store.current_version("grid", root=root) == after.version
        assert not list((tmp_path / "r" / "grid").glob(".partial-*"))


def test_carried_elders_reassigned_to_new_areas_by_row_group(tmp_path: Path, region) -> None:
    """New areas re-assign the carried elders one row group at a time: the same as assign_areas over all of them."""
    roads, areas = region
    root = tmp_path / "r"
    _import(root, roads, areas, write_register(tmp_path / "a.csv", 300), STREAM, tmp_path / "rep", chunk_rows=45)
    before = store.load_region("grid", root=root)
    assert pq.ParquetFile(before.path / "elders.parquet").num_row_groups > 5
    moved = gpd.GeoDataFrame({"区划代码": ["410102001001", "410102001002"], "名称": ["甲社区", "乙社区"]},
                             geometry=[shapely.box(113.6095, 34.7395, 113.6178, 34.7490),
                                       shapely.box(113.6178, 34.7395, 113.6230, 34.7490)], crs="EPSG:4326")
    moved.to_file(tmp_path / "moved.geojson", driver="GeoJSON")
    out = import_region("grid", settings=WHOLE, areas=tmp_path / "moved.geojson", root=root,
                        report_dir=tmp_path / "rep", today=TODAY)
    after = store.load_region("grid", root=root)
    expected, problems, summary = assign_areas(before.elders, after.areas, table="elders")
    summary.carried = True
    pd.testing.assert_frame_equal(pd.DataFrame(after.elders.drop(columns="geometry")),
                                  pd.DataFrame(expected.drop(columns="geometry")), check_exact=True)
    assert out.assignments["elders"] == summary
    assert (f"{len(problems):,} 条归属提示" in " ".join(out.warnings)) == bool(len(problems))
    changed = (after.elders["community_code"] != before.elders["community_code"]).fillna(False)
    assert changed.sum() > 5  # the moved boundary moved some elders


def test_cli_import_with_worker_processes(tmp_path: Path, region) -> None:
    """The `eldermap` program itself (a new process, as a user runs it: the workers' fork server re-imports its
    main module) imports a streamed register with two worker processes: the stored elders, the report and the
    counts are those of an import in one process."""
    import os
    import subprocess
    import sys

    roads, areas = region
    register = write_register(tmp_path / "elders.csv", 400)
    stored = {}
    for workers in (1, 2):
        settings_file = tmp_path / f"s{workers}.toml"
        settings_file.write_text(f"import_stream_min_mb = 0\nimport_workers = {workers}\n", encoding="utf-8")
        root = tmp_path / f"r{workers}"
        done = subprocess.run(
            [str(Path(sys.executable).with_name("eldermap")), "--regions", str(root), "--settings",
             str(settings_file), "import", "grid", "--roads", str(roads), "--areas", str(areas), "--elders",
             str(register), "--report-dir", str(tmp_path / f"rep{workers}")],
            capture_output=True, text=True, timeout=300, env={**os.environ, "ELDERMAP_SALT": "cd" * 32}, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        region_ = store.load_region("grid", root=root)
        stored[workers] = (region_.layers["elders"], region_.manifest["sources"][-1])
    (one, source_one), (two, source_two) = stored[1], stored[2]
    pd.testing.assert_frame_equal(pd.DataFrame(one.drop(columns="geometry")),
                                  pd.DataFrame(two.drop(columns="geometry")))
    assert list(one.geometry.to_wkb()) == list(two.geometry.to_wkb())
    keep = ("rows_read", "rows_imported", "rows_rejected", "sha256", "encoding")
    assert {k: source_one[k] for k in keep} == {k: source_two[k] for k in keep} and source_one["rows_rejected"] > 0
    reports = [sorted(p.name for p in (tmp_path / f"rep{w}").rglob("*")) for w in (1, 2)]
    assert reports[0] == reports[1] and reports[0]
