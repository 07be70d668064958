"""The store's contract on both backends (a regions folder and a real PostgreSQL + PostGIS), and what only the
database has: schema steps, spatial indexes, immutability enforced by the server."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import psycopg
import pytest
from conftest import SMALL_MANIFEST, small_region_layers
from geopandas.testing import assert_geodataframe_equal
from pg_support import new_database

from data import store
from geo.errors import ManifestError, RegionNotFoundError, ScenarioError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["files", "postgis"])
def root(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str | Path:
    """A fresh, empty store: a regions folder, or a new database with the eldermap schema."""
    monkeypatch.delenv("ELDERMAP_DATABASE_URL", raising=False)
    monkeypatch.delenv("ELDERMAP_SALT", raising=False)
    monkeypatch.setenv("ELDERMAP_REGIONS", str(tmp_path / "local"))
    if request.param == "files":
        return tmp_path / "regions"
    url = new_database(request.getfixturevalue("postgis_url"))
    store.migrate_database(url)
    return url


def _stored_versions(root: str | Path, name: str) -> list[str]:
    url = store.database_url(root)
    if url:
        with psycopg.connect(url) as conn:
            return [r[0] for r in conn.execute(
                "SELECT version FROM eldermap.versions WHERE region = %s ORDER BY version", (name,))]
    return sorted(p.name for p in (Path(root) / name).glob("v*") if p.is_dir())


def test_round_trip_equal_frames_and_manifest(root: str | Path) -> None:
    layers = small_region_layers()
    path = store.save_region("demo", layers, SMALL_MANIFEST, root=root)
    region = store.load_region("demo", root=root)
    assert region.version == path.name == store.current_version("demo", root=root)
    assert str(region.path) == str(path)
    assert list(region.layers) == list(layers) == list(region.manifest["layers"])  # the order they were saved in
    assert store.list_regions(root=root) == ["demo"] and store.region_exists("demo", root=root)
    assert not store.region_exists("nope", root=root)
    for name, frame in layers.items():  # dtypes too (nullable Int64, string, lists)
        assert_geodataframe_equal(region.layer(name), frame.reset_index(drop=True), check_like=False)
    assert region.manifest["demo"] == SMALL_MANIFEST["demo"]
    assert region.manifest["sources"] == SMALL_MANIFEST["sources"]
    # the checksum is of the exact GeoParquet bytes, the same in both stores
    for name, frame in layers.items():
        info = region.manifest["layers"][name]
        assert info["sha256"] == hashlib.sha256(store.parquet_bytes(frame)).hexdigest()
        assert info["rows"] == len(frame)
    with pytest.raises(RegionNotFoundError, match="找不到地区“nope”"):
        store.load_region("nope", root=root)


def test_versions_immutable_pointer_moves_and_old_ones_pruned(root: str | Path) -> None:
    layers = small_region_layers()
    first = store.save_region("demo", layers, SMALL_MANIFEST, root=root).name
    first_manifest = store.read_current_version("demo", root=root)[0]
    fewer = dict(layers, facilities=layers["facilities"].iloc[:2])
    second = store.save_region("demo", fewer, SMALL_MANIFEST, root=root).name
    assert second != first and store.current_version("demo", root=root) == second
    assert len(store.load_region("demo", root=root).facilities) == 2
    # the first version is still stored, unchanged
    assert all(c.ok for c in store.check_version("demo", first_manifest, root=root))
    for _ in range(3):
        store.save_region("demo", fewer, SMALL_MANIFEST, root=root)
    kept = _stored_versions(root, "demo")
    assert len(kept) == store.KEEP_VERSIONS and first not in kept and second not in kept
    assert store.current_version("demo", root=root) == kept[-1]


def _tamper_with_one_layer(root: str | Path, version: str) -> None:
    """Replace the stored facilities bytes by a valid GeoParquet with one name changed."""
    facilities = small_region_layers()["facilities"]
    facilities.loc[0, "name"] = "改过的名字"
    data = store.parquet_bytes(facilities)
    url = store.database_url(root)
    if url:
        with psycopg.connect(url) as conn:
            conn.execute("SET session_replication_role = replica")  # the owner bypasses the immutability trigger
            conn.execute("UPDATE eldermap.layer_blobs SET parquet = %s "
                         "WHERE region = 'demo' AND version = %s AND layer = 'facilities'", (data, version))
    else:
        (Path(root) / "demo" / version / "facilities.parquet").write_bytes(data)


def test_checksums_are_verified_on_load(root: str | Path) -> None:
    version = store.save_region("demo", small_region_layers(), SMALL_MANIFEST, root=root).name
    _tamper_with_one_layer(root, version)
    with pytest.raises(ManifestError, match="facilities.parquet 与清单不符"):
        store.load_region("demo", root=root)
    assert store.load_region("demo", root=root, verify=False).facilities.loc[0, "name"] == "改过的名字"
    with pytest.raises(ManifestError):
        store.read_current_version("demo", root=root)


def test_a_save_failing_halfway_leaves_the_previous_version(root: str | Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layers = small_region_layers()
    before = store.save_region("demo", layers, SMALL_MANIFEST, root=root).name
    calls = []
    if store.database_url(root):  # inside the transaction: after the version row and some layers went in
        from data import store_postgis

        real = store_postgis._copy_features

        def failing(conn, region, version, layer, gdf):  # type: ignore[no-untyped-def]
            calls.append(layer)
            if len(calls) == 3:
                raise OSError("disk full (simulated)")
            return real(conn, region, version, layer, gdf)

        monkeypatch.setattr(store_postgis, "_copy_features", failing)
    else:  # after every layer file and the manifest are written, while moving the pointer
        def failing_write(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(args)
            raise OSError("disk full (simulated)")

        monkeypatch.setattr(store, "atomic_write", failing_write)
    with pytest.raises(OSError, match="simulated"):
        store.save_region("demo", dict(layers, facilities=layers["facilities"].iloc[:1]), SMALL_MANIFEST, root=root)
    assert calls, "the failure was not reached"
    monkeypatch.undo()
    assert store.current_version("demo", root=root) == before
    region = store.load_region("demo", root=root)
    assert region.version == before and len(region.facilities) == 3
    if store.database_url(root):
        assert _stored_versions(root, "demo") == [before]  # nothing of the failed version is visible


def test_scenarios(root: str | Path) -> None:
    with pytest.raises(RegionNotFoundError):
        store.save_scenario("demo", {"name": "a"}, root=root)
    store.save_region("demo", small_region_layers(), SMALL_MANIFEST, root=root)
    body = {"name": "加一站", "base_version": "v1", "changes": [{"op": "add", "lon": 24.9, "lat": 60.1}]}
    store.save_scenario("demo", body, root=root)
    store.save_scenario("demo", {"name": "b", "changes": []}, root=root)
    assert store.list_scenarios("demo", root=root) == sorted(["加一站", "b"])
    assert store.load_scenario("demo", "加一站", root=root) == body
    with pytest.raises(ScenarioError, match="已存在"):
        store.save_scenario("demo", body, root=root)
    store.save_scenario("demo", dict(body, changes=[]), root=root, overwrite=True)
    assert store.load_scenario("demo", "加一站", root=root)["changes"] == []
    store.delete_scenario("demo", "b", root=root)
    assert store.list_scenarios("demo", root=root) == ["加一站"]
    with pytest.raises(ScenarioError, match="没有方案“b”"):
        store.load_scenario("demo", "b", root=root)
    with pytest.raises(ScenarioError):
        store.delete_scenario("demo", "b", root=root)
    # scenarios survive a new version
    store.save_region("demo", small_region_layers(), SMALL_MANIFEST, root=root)
    assert store.list_scenarios("demo", root=root) == ["加一站"]


def test_salt_is_shared_by_every_writer(root: str | Path) -> None:
    salt = store.deployment_salt(root=root)
    assert len(salt) == 32 and store.deployment_salt(root=root) == salt
    code = f"from data import store; print(store.deployment_salt(root={str(root)!r}).hex())"
    other = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert other.stdout.strip() == salt.hex()


def test_store_selection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://u:secret@db.example:5433/city"
    monkeypatch.delenv("ELDERMAP_DATABASE_URL", raising=False)
    monkeypatch.setenv("ELDERMAP_REGIONS", str(tmp_path / "local"))
    assert store.database_url(None) is None and store.database_url(tmp_path) is None
    assert store.database_url(url) == url and store.database_url("postgres://h/db") == "postgres://h/db"
    assert store.regions_root(url) == tmp_path / "local" == store.regions_root(None)
    assert store.regions_root(tmp_path / "x") == tmp_path / "x"
    monkeypatch.setenv("ELDERMAP_DATABASE_URL", url)
    assert store.database_url(None) == url and store.database_url(tmp_path) is None  # an explicit folder wins
    assert "secret" not in store.describe_store(None) and "db.example:5433/city" in store.describe_store(None)


def test_region_paths_tell_databases_apart(postgis_url: str) -> None:
    urls = [new_database(postgis_url), new_database(postgis_url)]
    paths = []
    for url in urls:
        store.migrate_database(url)
        paths.append(store.save_region("demo", small_region_layers(), SMALL_MANIFEST, root=url))
        region = store.load_region("demo", root=url)
        assert region.path == paths[-1] and region.path.name == region.version
    assert str(paths[0].parent) != str(paths[1].parent)
    assert "127.0.0.1_" in str(paths[0]) and "eldermap" not in str(paths[0]).split("_")[0]


def test_schema_steps_upgrade_and_gist_index_on_every_geometry_column(postgis_url: str) -> None:
    url = new_database(postgis_url)
    with pytest.raises(Exception, match="db init"):
        store.list_regions(root=url)
    assert store.migrate_database(url, upto=1) == (0, 1)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('eldermap.features')").fetchone()[0] is None
    with pytest.raises(Exception, match="db upgrade"):
        store.list_regions(root=url)
    assert store.migrate_database(url, upto=2) == (1, 2)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('eldermap.audit')").fetchone()[0] is None
    assert store.migrate_database(url) == (2, 4) and store.migrate_database(url) == (4, 4)
    assert store.database_schema_version(url) == (4, 4)
    store.save_region("demo", small_region_layers(), SMALL_MANIFEST, root=url)
    with psycopg.connect(url) as conn:
        columns = conn.execute("SELECT f_table_schema, f_table_name, f_geometry_column FROM geometry_columns "
                               "WHERE f_table_schema = 'eldermap'").fetchall()
        indexes = conn.execute("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'eldermap'").fetchall()
        counts = dict(conn.execute("SELECT layer, count(*) FROM eldermap.features GROUP BY layer").fetchall())
        srids = {r[0] for r in conn.execute("SELECT DISTINCT ST_SRID(geom) FROM eldermap.features")}
        props = conn.execute("SELECT props FROM eldermap.features WHERE layer = 'elders' LIMIT 1").fetchone()[0]
        near = conn.execute("SELECT props->>'id' FROM eldermap.features WHERE layer = 'facilities' ORDER BY "
                            "geom <-> ST_SetSRID(ST_MakePoint(24.9401, 60.1701), 4326) LIMIT 1").fetchone()[0]
        with pytest.raises(psycopg.errors.RaiseException, match="immutable"):
            conn.execute("UPDATE eldermap.versions SET manifest = '{}'::jsonb")
    assert columns == [("eldermap", "features", "geom")]
    for _schema, table, column in columns:
        assert any(t == table and "USING gist" in d and f"({column})" in d for t, d in indexes), indexes
    assert counts == {k: len(v) for k, v in small_region_layers().items()}
    assert srids == {4326}
    assert set(props) == {"pid", "birth_year", "sex", "ability_level", "community_code", "synthetic"}
    assert near == "F002"


def test_unreachable_database_is_a_chinese_error(tmp_path: Path) -> None:
    from geo.errors import ElderMapError

    with pytest.raises(ElderMapError, match="无法连接数据库") as info:
        store.list_regions(root="postgresql://nobody:pw@127.0.0.1:1/none")
    assert "pw" not in info.value.zh


def test_manifest_dict_equal_across_stores(tmp_path: Path, postgis_url: str) -> None:
    url = new_database(postgis_url)
    store.migrate_database(url)
    store.save_region("demo", small_region_layers(), SMALL_MANIFEST, root=tmp_path)
    version, checks = store.copy_region("demo", source=tmp_path, target=url)
    assert all(c.ok for c in checks) and len(checks) == 4
    on_disk = json.loads((tmp_path / "demo" / version / "manifest.json").read_text(encoding="utf-8"))
    assert store.load_region("demo", root=url).manifest == on_disk
    frames = store.load_region("demo", root=url).layers
    assert isinstance(frames["facilities"], gpd.GeoDataFrame)
