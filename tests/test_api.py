"""The OGC API service (`eldermap serve`, package api/) against real clients: OWSLib, GDAL's OAPIF driver through
pyogrio, and plain HTTP. One server per module on 127.0.0.1:8691 over a copy of the demo region (with three extra
elders in a cell of their own, so that suppression has something to hide); a second one, over a small region in
Zhengzhou, checks GCJ-02 output where GCJ-02 differs from WGS-84."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyogrio
import pytest
import requests
import shapely
from owslib.ogcapi.features import Features
from privacy_support import pids_found
from shapely.geometry import Point, box

PORT = 8691
PORT_ZZ = 8692
BASE = f"http://127.0.0.1:{PORT}"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
GCJ02 = "urn:eldermap:def:crs:GCJ-02"
REPO = Path(__file__).resolve().parents[1]
ELDER_FIELDS = ("pid", "birth_year", "birth", "sex", "ability_level", "ability_code", "groups", "oldest_old",
                "id_number", "id_hash", "身份证")
ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")


def _start(root: Path | str, region: str, port: int, tmp: Path, *more: str) -> subprocess.Popen:
    """``python -m api serve`` over ``root`` (a folder, or a PostGIS URL with local files in ``tmp``); ``more``:
    further options of serve."""
    local = tmp if str(root).startswith("postgresql://") else root
    env = {**os.environ, "ELDERMAP_REGIONS": str(local), "PYTHONPATH": str(REPO)}
    env.pop("ELDERMAP_DATABASE_URL", None)
    env.pop("ELDERMAP_SETTINGS", None)
    env.pop("ELDERMAP_API_KEYS", None)
    with open(tmp / f"server-{port}.log", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "api", "--regions", str(root), "serve", region, "--port",
                                 str(port), *more], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((tmp / f"server-{port}.log").read_text(errors="replace"))
        try:
            if requests.get(f"http://127.0.0.1:{port}/conformance?f=json", timeout=2).ok:
                return proc
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


_SERVER: dict[str, subprocess.Popen] = {}


@pytest.fixture(scope="module")
def served(demo_region, tmp_path_factory):
    """(regions root, region as saved) with the server running on :data:`PORT`."""
    from data import store
    from geo.settings import Settings

    tmp = tmp_path_factory.mktemp("api")
    root = tmp / "regions"  # a copy of the demo region (as conftest.copy_demo_region makes it), three elders added
    region = demo_region
    elders = region.elders
    extra = elders.iloc[:3].copy()
    taken = set(elders["h3"].astype(str))
    minx, miny, maxx, maxy = region.areas.total_bounds
    inside = region.areas.union_all()
    lon, lat = next((x, y) for x in np.linspace(minx, maxx, 40) for y in np.linspace(miny, maxy, 40)
                    if inside.contains(Point(x, y)) and h3.latlng_to_cell(y, x, Settings().h3_resolution) not in taken)
    extra["pid"] = ["P_api_extra_1", "P_api_extra_2", "P_api_extra_3"]
    extra["lon"], extra["lat"] = lon, lat
    extra["geometry"] = [Point(lon, lat)] * 3
    extra["h3"] = h3.latlng_to_cell(lat, lon, Settings().h3_resolution)
    assert (elders["h3"] == extra["h3"].iloc[0]).sum() == 0, "pick a cell with no elder yet"
    layers = dict(region.layers)
    layers["elders"] = gpd.GeoDataFrame(pd.concat([elders, extra], ignore_index=True), crs=elders.crs)
    store.save_region("demo", layers, {k: v for k, v in region.manifest.items() if k == "sources"}, root=root)
    region = store.load_region("demo", root=root)
    proc = _start(root, "demo", PORT, tmp, "--workers", "2", "--threads", "2")  # gunicorn's pre-fork server
    _SERVER["proc"] = proc
    yield root, region
    _stop(proc)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _wait_children(pid: int, n: int) -> list[int]:
    """The children of ``pid`` once there are ``n`` (gunicorn forks its workers one after the other)."""
    deadline = time.monotonic() + 20
    while len(kids := _children(pid)) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return kids


def test_two_worker_processes_answer_alike_and_stop_with_the_master(served, tmp_path):
    """The module's server runs ``--workers 2``: two worker processes under one master answer every request
    the same (the other tests of this module all go through them); a separate one stops with its master."""
    workers = _wait_children(_SERVER["proc"].pid, 2)
    assert len(workers) == 2, workers
    pages = [requests.get(BASE + "/collections/facilities/items", params={"f": "json", "limit": 7, "offset": 3},
                          timeout=30).json() for _ in range(12)]
    for page in pages:
        page.pop("timeStamp")
    assert all(page == pages[0] for page in pages) and len(pages[0]["features"]) == 7
    root, _ = served
    proc = _start(root, "demo", PORT + 5, tmp_path, "--workers", "2")
    try:
        log = (tmp_path / f"server-{PORT + 5}.log").read_text(encoding="utf-8")
        assert "2 个工作进程" in log
        kids = _wait_children(proc.pid, 2)
        assert len(kids) == 2
    finally:
        _stop(proc)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{k}").exists() for k in kids):
        time.sleep(0.1)
    assert not any(Path(f"/proc/{k}/stat").exists() and " Z " not in Path(f"/proc/{k}/stat").read_text()
                   for k in kids)


def _get(path: str, **params) -> requests.Response:
    r = requests.get(BASE + path, params={"f": "json", **params}, timeout=60)
    assert r.status_code == 200, r.text[:500]
    return r


def _all_items(collection: str, **params) -> list[dict]:
    return _get(f"/collections/{collection}/items", limit=10000, **params).json()["features"]


def _norm(value):
    """A cell compared across GeoJSON, GDAL and pandas: missing as None, whole floats as int, arrays as lists."""
    if isinstance(value, np.ndarray | list | tuple):
        return [str(v) for v in value]
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _public(region) -> pd.DataFrame:
    from layers.facilities import public_facility_records

    frame = pd.DataFrame(public_facility_records(region.facilities))
    frame.index = region.facilities["id"].astype(str)
    return frame


# ---------------------------------------------------------------- Part 1 core, with real clients


def test_owslib_lists_collections_and_pages_facilities(served):
    _, region = served
    client = Features(BASE + "/")
    ids = [c["id"] for c in client.collections()["collections"]]
    assert ids == ["facilities", "areas", "isochrones", "coverage-cells"]
    meta = client.collection("facilities")
    assert meta["itemType"] == "feature"
    assert CGCS2000 in meta["crs"] and GCJ02 in meta["crs"]
    minx, miny, maxx, maxy = meta["extent"]["spatial"]["bbox"][0]
    fx, fy = region.facilities.geometry.x, region.facilities.geometry.y
    assert minx <= fx.min() and maxx >= fx.max() and miny <= fy.min() and maxy >= fy.max()

    seen, offset, limit = [], 0, 5
    while True:
        page = client.collection_items("facilities", limit=limit, offset=offset)
        assert page["numberMatched"] == len(region.facilities)
        assert page["numberReturned"] == len(page["features"]) <= limit
        if not page["features"]:
            break
        seen += page["features"]
        offset += limit
    assert [f["id"] for f in seen] == list(region.facilities["id"].astype(str))  # all, once each, in order
    public = _public(region)
    for feature in seen:
        assert set(feature["properties"]) == set(public.columns)
        expected = public.loc[feature["id"]]
        assert {k: _norm(v) for k, v in feature["properties"].items()} == {k: _norm(v) for k, v in expected.items()}
    one = client.collection_item("facilities", seen[3]["id"])
    assert one["properties"] == seen[3]["properties"]
    assert requests.get(BASE + "/collections/facilities/items/NO-SUCH?f=json", timeout=10).status_code == 404


def test_gdal_oapif_reads_the_public_facilities(served):
    _, region = served
    frame = pyogrio.read_dataframe(f"OAPIF:{BASE}/", layer="facilities")
    public = _public(region)
    assert len(frame) == len(public)
    frame = frame.set_index(frame["id"].astype(str)).loc[public.index]
    assert set(public.columns) <= set(frame.columns)
    assert set(frame.columns) - set(public.columns) - {"id", "geometry"} == set()
    for column in public.columns:
        assert [_norm(v) for v in frame[column]] == [_norm(v) for v in public[column]], column
    store_points = region.facilities.set_index(region.facilities["id"].astype(str)).geometry.loc[public.index]
    assert np.allclose(frame.geometry.x, store_points.x, atol=1e-12)
    assert np.allclose(frame.geometry.y, store_points.y, atol=1e-12)
    layers = dict(pyogrio.list_layers(f"OAPIF:{BASE}/"))
    assert set(layers) == {"facilities", "areas", "isochrones", "coverage-cells"}


def test_cgcs2000_request_returns_the_same_points_and_content_crs(served):
    _, region = served
    r = _get("/collections/facilities/items", limit=10000, crs=CGCS2000)
    assert r.headers["Content-Crs"] == f"<{CGCS2000}>"
    plain = _get("/collections/facilities/items", limit=10000)
    assert plain.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    points = region.facilities.set_index(region.facilities["id"].astype(str)).geometry
    features = r.json()["features"]
    assert len(features) == len(points)
    for feature in features:
        lat, lon = feature["geometry"]["coordinates"]  # EPSG:4490 axis order: latitude first
        assert abs(lon - points[feature["id"]].x) < 1e-9 and abs(lat - points[feature["id"]].y) < 1e-9
    single = _get(f"/collections/facilities/items/{features[0]['id']}", crs=CGCS2000)
    assert single.headers["Content-Crs"] == f"<{CGCS2000}>"
    assert single.json()["geometry"]["coordinates"] == features[0]["geometry"]["coordinates"]


def test_bbox_and_property_filters_match_geopandas(served):
    _, region = served
    facilities = region.facilities
    minx, miny, maxx, maxy = facilities.total_bounds
    window = (minx, miny, (minx + maxx) / 2, (miny + maxy) / 2 + 0.002)
    expected = set(facilities[facilities.intersects(box(*window))]["id"].astype(str))
    assert 0 < len(expected) < len(facilities)
    got = _get("/collections/facilities/items", bbox=",".join(f"{v:.12f}" for v in window), limit=1000).json()
    assert {f["id"] for f in got["features"]} == expected and got["numberMatched"] == len(expected)

    kind = "养老机构"
    expected = set(facilities.loc[facilities["kind"] == kind, "id"].astype(str))
    assert 0 < len(expected) < len(facilities)
    got = _get("/collections/facilities/items", kind=kind, limit=1000).json()
    assert {f["id"] for f in got["features"]} == expected and got["numberMatched"] == len(expected)

    both = facilities[(facilities["kind"] != kind) & facilities.intersects(box(*window))]
    other = str(both["kind"].iloc[0]) if len(both) else "日间照料中心"
    expected = set(facilities[(facilities["kind"] == other) & facilities.intersects(box(*window))]["id"].astype(str))
    got = _get("/collections/facilities/items", kind=other, bbox=",".join(map(str, window))).json()
    assert {f["id"] for f in got["features"]} == expected

    service = "助餐"
    expected = set(facilities[[service in list(s) for s in facilities["services"]]]["id"].astype(str))
    assert 0 < len(expected) < len(facilities)
    got = _get("/collections/facilities/items", services=service, limit=1000).json()
    assert {f["id"] for f in got["features"]} == expected


# ---------------------------------------------------------------- no elder data anywhere


def _walk_keys(value, out: set[str]) -> None:
    if isinstance(value, dict):
        out.update(value)
        for v in value.values():
            _walk_keys(v, out)
    elif isinstance(value, list):
        for v in value:
            _walk_keys(v, out)


def _coordinates(value, out: set[tuple[float, float]]) -> None:
    if isinstance(value, list) and len(value) >= 2 and all(isinstance(v, int | float) for v in value[:2]):
        out.add((round(float(value[0]), 9), round(float(value[1]), 9)))
    elif isinstance(value, list):
        for v in value:
            _coordinates(v, out)


def test_no_elder_field_in_any_response(served):
    _, region = served
    bodies = [_get("/").text, _get("/collections").text, _get("/openapi").text, _get("/processes").text]
    keys: set[str] = set()
    coords: set[tuple[float, float]] = set()
    for cid in ("facilities", "areas", "isochrones", "coverage-cells"):
        bodies.append(_get(f"/collections/{cid}").text)
        bodies.append(_get(f"/collections/{cid}/queryables").text)
        r = _get(f"/collections/{cid}/items", limit=10000)
        document = r.json()
        assert document["numberMatched"] == document["numberReturned"] > 0
        bodies.append(r.text)
        for feature in document["features"]:
            _walk_keys(feature["properties"], keys)
            _coordinates(feature["geometry"]["coordinates"] if feature["geometry"] else [], coords)
    r = requests.post(BASE + "/processes/recommend/execution", json={"inputs": {"lon": 24.9415, "lat": 60.169}},
                      timeout=60)
    bodies.append(r.text)
    r = requests.post(BASE + "/processes/coverage-summary/execution", json={"inputs": {"by": "h3"}}, timeout=60)
    bodies.append(r.text)
    assert not keys & set(ELDER_FIELDS)
    assert {"name", "kind", "elders", "covered", "share"} <= keys  # the scan saw the real properties
    elders = region.elders
    text = "\n".join(bodies)
    assert not pids_found(text, elders["pid"])
    assert not ID_NUMBER.search(text)
    elder_points = {(round(x, 9), round(y, 9)) for x, y in zip(elders.geometry.x, elders.geometry.y, strict=True)}
    facility_points = {(round(x, 9), round(y, 9)) for x, y in zip(region.facilities.geometry.x,
                                                                  region.facilities.geometry.y, strict=True)}
    assert facility_points <= coords  # the scan saw the facility points
    assert not elder_points & coords


# ---------------------------------------------------------------- aggregates


def test_coverage_cells_suppress_small_counts(served):
    from geo.settings import Settings
    from planning.coverage import region_coverage

    _, region = served
    settings = Settings()
    threshold = settings.suppression_threshold
    features = _all_items("coverage-cells")
    assert len(features) == _get("/collections/coverage-cells/items", limit=1).json()["numberMatched"]
    for f in features:
        p = f["properties"]
        for n in (p["elders"], p["covered"], None if p["covered"] is None else p["elders"] - p["covered"]):
            assert n is None or n == 0 or n >= threshold, p
        if p["share"] is not None:
            assert p["share"] == round(100 * p["covered"] / p["elders"], 2)
    # reference: per-elder times from the planning function, aggregated here with pandas
    _, per_elder = region_coverage(region, settings=settings, minutes=max(settings.circle_minutes), by="h3")
    frame = pd.DataFrame({"h3": region.elders["h3"].to_numpy(), "t": per_elder["travel_time_min"].to_numpy(),
                          "counted": per_elder["counted"].to_numpy()})
    frame = frame[frame["counted"]]
    got = {(f["properties"]["h3"], f["properties"]["minutes"]): f["properties"] for f in features}
    suppressed = 0
    for minutes in settings.circle_minutes:
        agg = frame.assign(c=frame["t"] <= minutes).groupby("h3").agg(elders=("c", "size"), covered=("c", "sum"))
        assert {h for h, m in got if m == minutes} == set(agg.index)
        for cell, row in agg.iterrows():
            p = got[(cell, float(minutes))]
            e, c = int(row.elders), int(row.covered)
            if e < threshold:
                assert p["elders"] is None and p["covered"] is None and p["suppressed"]
                suppressed += 1
            elif 0 < c < threshold or 0 < e - c < threshold:
                assert p["elders"] == e and p["covered"] is None and p["share"] is None and p["suppressed"]
            else:
                assert (p["elders"], p["covered"], p["suppressed"]) == (e, c, False)
    assert suppressed >= len(settings.circle_minutes)  # the three extra elders' cell, at each minutes


def test_areas_and_isochrones(served):
    from geo.settings import Settings
    from planning.coverage import profile_settings, region_coverage

    _, region = served
    settings = Settings()
    areas = _all_items("areas")
    assert {f["id"] for f in areas} == set(region.areas["code"].astype(str))
    street = next(f for f in areas if f["properties"]["level"] == "street")
    table, _ = region_coverage(region, settings=profile_settings(settings, "体弱"), minutes=10, by="street")
    row = table[table["code"] == street["id"]].iloc[0]
    assert street["properties"]["coverage_pct:any:10min:体弱"] == pytest.approx(row["coverage_pct"], abs=0.01)
    assert street["properties"]["elders"] == int(row["elders"])
    isochrones = _all_items("isochrones", facility_id="F001")
    assert [f["properties"]["minutes"] for f in isochrones] == sorted(float(m) for m in settings.circle_minutes)
    polygons = [shapely.geometry.shape(f["geometry"]) for f in isochrones]
    f001 = region.facilities[region.facilities["id"] == "F001"].geometry.iloc[0]
    assert all(p.buffer(1e-9).contains(f001) for p in polygons)
    assert polygons[0].area < polygons[-1].area


# ---------------------------------------------------------------- GCJ-02


def test_gcj02_output(served, tmp_path):
    from api.access import to_gcj02
    from data import store
    from geo.coords import wgs84_to_gcj02

    zz_lon, zz_lat = 113.6253, 34.7466
    doc = to_gcj02({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [zz_lon, zz_lat]}, "properties": {}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[zz_lon, zz_lat], [zz_lon + 0.01, zz_lat],
                                                                             [zz_lon, zz_lat + 0.01],
                                                                             [zz_lon, zz_lat]]]}, "properties": {}}]})
    ex, ey = wgs84_to_gcj02(zz_lon, zz_lat)
    assert doc["features"][0]["geometry"]["coordinates"] == pytest.approx([float(ex), float(ey)], abs=1e-12)
    assert doc["features"][1]["geometry"]["coordinates"][0][0] == pytest.approx([float(ex), float(ey)], abs=1e-12)
    assert abs(float(ex) - zz_lon) > 1e-4  # GCJ-02 really moves a point in China

    # end to end over a small region in Zhengzhou (facilities only)
    root = tmp_path / "regions"
    facilities = gpd.GeoDataFrame({
        "id": ["Z1", "Z2"], "name": ["金水区养老院", "二七区日间照料中心"], "kind": ["养老机构", "日间照料中心"],
        "services": [["长期托养"], ["日间照料"]]},
        geometry=[Point(zz_lon, zz_lat), Point(zz_lon + 0.012, zz_lat - 0.008)], crs="EPSG:4326")
    store.save_region("zz", {"facilities": facilities}, {}, root=root)
    proc = _start(root, "zz", PORT_ZZ, tmp_path)
    try:
        r = requests.get(f"http://127.0.0.1:{PORT_ZZ}/collections/facilities/items",
                         params={"f": "json", "crs": GCJ02}, timeout=30)
        assert r.status_code == 200, r.text[:300]
        assert r.headers["Content-Crs"] == f"<{GCJ02}>"
        got = {f["id"]: f["geometry"]["coordinates"] for f in r.json()["features"]}
        for fid, point in zip(facilities["id"], facilities.geometry, strict=True):
            gx, gy = wgs84_to_gcj02(point.x, point.y)
            assert got[fid] == pytest.approx([float(gx), float(gy)], abs=1e-12)
        one = requests.get(f"http://127.0.0.1:{PORT_ZZ}/collections/facilities/items/Z1",
                           params={"f": "json", "crs": GCJ02}, timeout=30)
        assert one.headers["Content-Crs"] == f"<{GCJ02}>" and one.json()["geometry"]["coordinates"] == got["Z1"]
        oas = requests.get(f"http://127.0.0.1:{PORT_ZZ}/openapi", params={"f": "json"}, timeout=30).text
        assert GCJ02 in oas
    finally:
        _stop(proc)


# ---------------------------------------------------------------- processes, keys and audit


def test_recommend_process_equals_the_engine(served):
    from api.processes import needs_from
    from geo.settings import Settings
    from planning.coverage import facility_snap_for, network_for
    from planning.home_care import serving_point
    from planning.recommend import recommend

    _, region = served
    settings = Settings()
    inputs = {"lon": 24.9415, "lat": 60.1690, "services": ["助餐", "日间照料"], "max_minutes": 15, "ability_code": 1,
              "budget_yuan_month": 6000}
    r = requests.post(BASE + "/processes/recommend/execution", json={"inputs": inputs}, timeout=60)
    assert r.status_code == 200, r.text[:500]
    got = r.json()
    needs = needs_from(inputs)
    direct = recommend(region.facilities, needs, network=network_for(region, "walk", settings),
                       facility_snap=facility_snap_for(region, "walk", settings), origin=(24.9415, 60.1690),
                       settings=settings, limit=10, home_care=serving_point(region, 24.9415, 60.1690,
                                                                            settings=settings))
    assert len(got["ranked"]) > 0
    assert [x["id"] for x in got["ranked"]] == list(direct.ranked["id"].astype(str))
    assert [x["reason"] for x in got["ranked"]] == list(direct.ranked["reason"])
    assert [x["score"] for x in got["ranked"]] == pytest.approx(list(direct.ranked["score"]))
    assert [x["id"] for x in got["excluded"]] == list(direct.excluded["id"].astype(str))
    assert [x["why"] for x in got["excluded"]] == [_norm(w) if not isinstance(w, str) else w
                                                    for w in direct.excluded["why"]]
    again = requests.post(BASE + "/processes/recommend/execution", json={"inputs": inputs}, timeout=60)
    assert again.json() == got  # from the answer cache: the same answer, exactly
    bad = requests.post(BASE + "/processes/recommend/execution", json={"inputs": {"lon": 24.94, "lat": 60.17,
                                                                               "ability_code": 9}}, timeout=30)
    assert bad.status_code == 400 and "能力等级" in bad.json()["description"]


def test_client_mistakes_get_400_and_leave_no_traceback_on_the_console(served):
    root, _ = served
    log = root.parent / f"server-{PORT}.log"
    before = log.read_text(encoding="utf-8", errors="replace")
    url = BASE + "/processes/recommend/execution"
    answers = [requests.post(url, json={"inputs": {"lon": "x", "lat": 60.17}}, timeout=30),
               requests.post(url, json={"inputs": {"lon": 24.9, "lat": 60.1, "services": 5}}, timeout=30),
               requests.post(url, data=b"not json", headers={"Content-Type": "application/json"}, timeout=30),
               requests.post(BASE + "/processes/coverage-summary/execution", json={"inputs": {"minutes": "abc"}},
                             timeout=30),
               requests.get(BASE + "/collections/facilities/items", params={"f": "json", "bbox": "1,2,3"}, timeout=30),
               requests.get(BASE + "/collections/facilities/items", params={"f": "json", "limit": -5}, timeout=30)]
    assert [a.status_code for a in answers] == [400] * len(answers)
    time.sleep(0.3)
    added = log.read_text(encoding="utf-8", errors="replace")[len(before):]
    assert "应为数字" in added  # the console still says what went wrong, in one line
    assert "Traceback" not in added and 'File "' not in added


def _apikey(root: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api", "--regions", str(root), "apikey", *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_coverage_summary_keys_and_audit(served):
    from data import audit
    from geo.settings import Settings
    from planning.coverage import region_coverage

    root, region = served
    settings = Settings()
    table, _ = region_coverage(region, settings=settings, minutes=10, by="street")
    url = BASE + "/processes/coverage-summary/execution"
    body = {"inputs": {"minutes": 10, "by": "street"}}
    log = audit.log_path(root)
    before = log.read_text(encoding="utf-8").count("\n") if log.exists() else 0

    public = requests.post(url, json=body, timeout=60).json()
    assert public["suppressed_below"] == settings.suppression_threshold
    assert [r["code"] for r in public["rows"]] == list(table["code"])
    assert [r["elders"] for r in public["rows"]] == [int(e) if e >= 5 else None for e in table["elders"]]
    assert "elders_80plus" not in public["rows"][0]

    added = _apikey(root, "add", "planning-bureau", "--role", "planner")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("emk_") and key not in (root / "api_keys.json").read_text()
    partner = _apikey(root, "add", "provincial-platform", "--role", "partner").stdout.strip().splitlines()[-1]

    full = requests.post(url, json=body, headers={"X-API-Key": key}, timeout=60).json()
    assert full["suppressed_below"] is None
    assert [r["covered"] for r in full["rows"]] == [int(c) for c in table["covered"]]
    assert [r["covered_80plus"] for r in full["rows"]] == [int(c) for c in table["covered_80plus"]]
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == before + 1
    entry = json.loads(lines[-1])
    assert (entry["action"], entry["user"], entry["role"], entry["region"], entry["version"], entry["rows"]) == (
        "export", "planning-bureau", "api:planner", "demo", region.version, len(table))

    as_partner = requests.post(url, json=body, headers={"X-API-Key": partner}, timeout=60).json()
    assert as_partner["suppressed_below"] == settings.suppression_threshold  # partners write, they do not read
    assert log.read_text(encoding="utf-8").count("\n") == before + 1

    listed = _apikey(root, "list")
    assert "planning-bureau\tplanner" in listed.stdout and key not in listed.stdout
    assert _apikey(root, "revoke", "planning-bureau").returncode == 0
    refused = requests.post(url, json=body, headers={"X-API-Key": key}, timeout=60)
    assert refused.status_code == 401 and "吊销" in refused.json()["description"]
    wrong = _apikey(root, "add", "x", "--role", "boss")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr


def test_collections_are_read_only(served):
    r = requests.post(BASE + "/collections/facilities/items", json={"type": "Feature"}, timeout=30)
    assert r.status_code == 405
    r = requests.delete(BASE + "/collections/facilities/items/F001", timeout=30)
    assert r.status_code == 405


def test_served_from_the_postgis_store(served, demo_region, postgis_url, tmp_path):
    """The same service over the shared store: a region saved into PostGIS gives the same public facilities."""
    from pg_support import new_database

    from data import store

    url = new_database(postgis_url)
    store.migrate_database(url)  # eldermap db init
    store.save_region("demo", dict(demo_region.layers), {}, root=url)
    port = PORT + 4
    proc = _start(url, "demo", port, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        got = requests.get(f"{base}/collections/facilities/items", params={"f": "json", "limit": 1000,
                                                                           "crs": CGCS2000}, timeout=60)
        assert got.status_code == 200 and got.headers["Content-Crs"] == f"<{CGCS2000}>"
        public = _public(demo_region)
        features = got.json()["features"]
        assert [f["id"] for f in features] == list(public.index)
        for feature in features:
            assert {k: _norm(v) for k, v in feature["properties"].items()} == {
                k: _norm(v) for k, v in public.loc[feature["id"]].items()}
        cells = requests.get(f"{base}/collections/coverage-cells/items", params={"f": "json", "limit": 1},
                             timeout=60).json()
        assert cells["numberMatched"] > 0
    finally:
        _stop(proc)
    assert not (tmp_path / "api_keys.json").exists()  # nothing written beside the database but the server log


def _followed_up(order_id: str, provider_id: str, satisfaction: int) -> dict:
    """An imported order served on time and followed up, without complaint."""
    return {"id": order_id, "elder_id": "E_SECRET_ELDER", "item_codes": ["S01"], "window_start": "2026-11-20 09:00",
            "window_end": "2026-11-20 10:00", "status": "已回访", "provider_id": provider_id, "carer_id": "C_SECRET",
            "dispatched_at": "2026-11-20 08:00", "accepted_at": "2026-11-20 08:02", "started_at": "2026-11-20 09:00",
            "completed_at": "2026-11-20 09:55", "followed_up_at": "2026-11-21 10:00", "satisfaction": satisfaction,
            "complaint": False, "remarks": "REMARK_SECRET"}


def test_recommend_shows_ratings_and_a_new_follow_up_renews_the_answer(served):
    """Before the partner write below (it replaces the facilities): the order log of the served folder store."""
    from desk import orders_db

    root, _ = served
    url = BASE + "/processes/recommend/execution"
    inputs = {"inputs": {"lon": 24.9415, "lat": 60.1690, "max_minutes": 10}}
    before = requests.post(url, json=inputs, timeout=60).json()
    assert before["home_care"], "a provider serves the demo's centre"
    provider = before["home_care"][0]["id"]
    assert all(h["rating"] is None and "服务评价" not in h["reason"] for h in before["home_care"])  # no log yet
    # five follow-ups, all 4, on time, no complaint: S₀ = 4, s̃ = 4; score = 5 × (0.5 × 3/4 + 0.3 + 0.2) = 4.375
    orders_db.ingest_orders("demo", pd.DataFrame([_followed_up(f"ORD_SECRET_{i}", provider, 4) for i in range(5)]),
                            root=root)
    time.sleep(1.1)  # the service looks at the order log at most once a second
    rated = requests.post(url, json=inputs, timeout=60).json()
    row = next(h for h in rated["home_care"] if h["id"] == provider)
    assert row["rating"] == pytest.approx(4.375, abs=0.006) and row["rating_followups"] == 5
    assert "服务评价 4.4 分（5 次回访）" in row["reason"]
    assert rated["ranked"] == before["ranked"]  # nobody rates institutions
    # a sixth follow-up (satisfaction 1): the cached answer is not reused. S₀ = 21/6 = 3.5 = s̃;
    # score = 5 × (0.5 × 2.5/4 + 0.5) = 4.0625
    orders_db.ingest_orders("demo", pd.DataFrame([_followed_up("ORD_SECRET_5", provider, 1)]), root=root)
    time.sleep(1.1)
    again = requests.post(url, json=inputs, timeout=60)
    row = next(h for h in again.json()["home_care"] if h["id"] == provider)
    assert row["rating"] == pytest.approx(4.0625, abs=0.006) and row["rating_followups"] == 6
    assert "服务评价 4.1 分（6 次回访）" in row["reason"]
    assert not re.search("SECRET", again.text)  # aggregates only: no order, elder, carer or remark


def test_partner_register_validates_saves_and_audits(served):
    """Last in the module: it replaces the served region's facilities."""
    from data import audit, store

    root, region = served
    url = BASE + "/processes/facility-register/execution"
    f = region.facilities
    rows = [{"名称": "合作方养老院", "类型": "养老机构", "经度": float(f.geometry.x.iloc[0]), "纬度": float(f.geometry.y.iloc[0]),
             "服务项目": ["长期托养", "助餐"], "床位总数": 80},
            {"名称": "合作方助餐点", "类型": "助餐点", "经度": float(f.geometry.x.iloc[1]), "纬度": float(f.geometry.y.iloc[1])},
            {"名称": "没有类型的设施", "类型": "不存在的类型", "经度": float(f.geometry.x.iloc[2]),
             "纬度": float(f.geometry.y.iloc[2])}]
    assert requests.post(url, json={"inputs": {"rows": rows}}, timeout=60).status_code == 403
    key = _apikey(root, "add", "county-system", "--role", "partner").stdout.strip().splitlines()[-1]
    headers = {"X-API-Key": key}
    before = store.current_version("demo", root=root)

    dry = requests.post(url, json={"inputs": {"rows": rows, "dry_run": True}}, headers=headers, timeout=120).json()
    assert (dry["saved"], dry["read"], dry["imported"], dry["rejected"]) == (False, 3, 2, 1)
    assert any(p["行号"] is not None and "类型" in str(p["字段"]) + str(p["问题"]) for p in dry["problems"])
    assert store.current_version("demo", root=root) == before

    done = requests.post(url, json={"inputs": {"rows": rows}}, headers=headers, timeout=120)
    assert done.status_code == 200, done.text[:500]
    report = done.json()
    assert report["saved"] and report["version"] != before and report["imported"] == 2
    assert store.current_version("demo", root=root) == report["version"]
    time.sleep(1.2)  # the server looks the current version up at most once a second
    items = _get("/collections/facilities/items", limit=100).json()
    assert sorted(x["properties"]["name"] for x in items["features"]) == sorted(["合作方助餐点", "合作方养老院"])
    entry = json.loads(audit.log_path(root).read_text(encoding="utf-8").splitlines()[-1])
    assert (entry["action"], entry["user"], entry["role"], entry["rows"], entry["version"]) == (
        "import", "county-system", "api:partner", 2, report["version"])
    # a recommendation asked before the new version is not answered from the old version's cache
    again = requests.post(BASE + "/processes/recommend/execution", timeout=60, json={"inputs": {
        "lon": 24.9415, "lat": 60.1690, "services": ["助餐", "日间照料"], "max_minutes": 15, "ability_code": 1,
        "budget_yuan_month": 6000}})
    assert again.status_code == 200, again.text[:500]
    again = again.json()
    assert again["version"] == report["version"]
    assert {x["name"] for x in again["ranked"] + again["excluded"]} <= {"合作方助餐点", "合作方养老院"}


def test_serve_refuses_mistakes_in_chinese(tmp_path):
    run = [sys.executable, "-m", "api", "--regions", str(tmp_path), "serve"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    missing = subprocess.run([*run, "nowhere", "--port", "8694"], cwd=REPO, capture_output=True, text=True,
                             timeout=60, env=env, check=False)
    assert missing.returncode == 2 and missing.stderr.startswith("错误：") and "nowhere" in missing.stderr
    assert "Traceback" not in missing.stderr and "已启动" not in missing.stdout
    bad_port = subprocess.run([*run, "demo", "--port", "99999"], cwd=REPO, capture_output=True, text=True,
                              timeout=60, env=env, check=False)
    assert bad_port.returncode == 2 and "--port" in bad_port.stderr and "65535" in bad_port.stderr
    assert "Traceback" not in bad_port.stderr


def test_load_benchmark_runs(capsys):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_api

    rows = bench_api.main(["--quick", "--seconds", "1", "--clients", "3"])
    assert [r["kind"] for r in rows] == ["items page", "recommendation", "rec. new places"]
    assert all(r["requests"] > 0 and r["errors"] == 0 and 0 < r["p50"] <= r["p95"] for r in rows)
    assert "p95 ms" in capsys.readouterr().out


def test_html_is_answered_with_json_so_no_page_loads_outside_scripts(served):
    """pygeoapi's HTML pages and its Swagger page load scripts from public CDNs: the service answers JSON."""
    for path in ("/", "/collections", "/collections/facilities/items?limit=2", "/openapi"):
        for params, headers in (({"f": "html"}, {}), ({}, {"Accept": "text/html,application/xhtml+xml"})):
            reply = requests.get(f"{BASE}{path}", params=params, headers=headers, timeout=30)
            assert reply.status_code == 200, (path, params, reply.text[:200])
            assert "json" in reply.headers.get("Content-Type", ""), (path, params)
            assert "<script" not in reply.text and "unpkg.com" not in reply.text and "cdnjs" not in reply.text
