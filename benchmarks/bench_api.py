"""Load on the OGC API service (`eldermap serve`): concurrent clients against 127.0.0.1, p50/p95 and errors.

    python benchmarks/bench_api.py                 # L: 2,009 facilities on 287k walk nodes, 50 clients, 60 s each
    python benchmarks/bench_api.py --quick         # demo region, 10 clients, 3 s each
    python benchmarks/bench_api.py --database-url postgresql://…   # also the same region copied into PostGIS
    python benchmarks/bench_api.py --postgis-temp                  # … into a throw-away PostGIS started for the run

Three loads, one after the other, each with ``--clients`` threads that send their next request as soon as the
last one is answered (closed loop) for ``--seconds``:

- **items page**: ``GET /collections/facilities/items?limit=100&offset=<random>`` (GeoJSON, 100 facilities);
- **recommendation**: ``POST /processes/recommend/execution`` from one of 500 seeded homes with one of four
  needs (those of ``bench_recommend.py``): 2,000 distinct requests, so after the first minute most are asked
  again and the service answers them from its answer cache (``api.processes.ANSWER_CACHE_SIZE``: the same
  answer, exactly, for the same region version and request), as a family re-asking or a gazetteer place would;
- **rec. new places**: the same, but each origin moved by a random offset of up to ~150 m, so no request repeats
  and every answer is computed: the service's cold cost.

The server is a separate process (``python -m api serve``) with ``--workers`` processes (default: one per core,
as a deployment runs it; gunicorn's pre-fork server; ``--workers 1``: one waitress process) of ``--threads``
threads each, over a region in a
temporary folder: the demo region, or bench_coverage's tiled L with the facilities' public fields (as
``bench_recommend.py`` builds it; roads and facilities only: the loads read nothing else). Before timing,
one request of each kind warms the caches (the network and the facility snaps, as after the first visitor).
Errors are non-200 answers and failed connections. Targets (issue 14): p95 ≤ 150 ms for an items page of 100,
≤ 300 ms for a recommendation (both recommendation loads are held to it), zero errors. With ``--database-url``
the region is copied into that PostGIS store (``data.store.copy_region``) and the loads run again against a server reading it: the table shows both
stores side by side.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(Path(__file__).resolve().parent)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from geo.settings import Settings  # noqa: E402

SEED = 20261123
PORT = 8693
TARGETS_MS = {"items page": 150.0, "recommendation": 300.0, "rec. new places": 300.0}
NEEDS = [
    {"services": ["助餐"], "max_minutes": 15},
    {"ability_code": 3, "residential": True, "services": ["康复护理"], "budget_yuan_month": 6000, "max_minutes": 15},
    {"ability_code": 1, "services": ["日间照料", "助餐", "助浴"], "max_minutes": 15},
    {"residential": True, "need_free_bed": True, "min_grade": 2, "max_minutes": 15},
]


def build_region(size: str, root: Path) -> tuple[int, list[tuple[float, float]]]:
    """Save the benchmark region "bench" under ``root``; returns (facilities, starting points)."""
    from bench_coverage import SIZES, demo_layers, tiled_inputs
    from bench_recommend import facilities_with_fields

    from data import store

    settings = Settings()
    layers = demo_layers(settings)
    if size == "demo":
        saved = {k: layers[k] for k in ("facilities", "road_nodes", "road_edges", "areas")}
        homes = layers["elders"].geometry
    else:
        inputs, _ = tiled_inputs(layers, SIZES[size], settings)
        saved = {"facilities": facilities_with_fields(inputs.facilities, layers["facilities"]),
                 "road_nodes": inputs.road_nodes, "road_edges": inputs.road_edges}
        homes = inputs.elders.geometry
    store.save_region("bench", saved, {"sources": {"benchmark": f"bench_api {size}"}}, root=root)
    rng = np.random.default_rng(SEED)
    picks = homes.iloc[rng.choice(len(homes), 500, replace=False)]
    return len(saved["facilities"]), [(float(p.x), float(p.y)) for p in picks]


def start_server(regions: str, port: int, threads: int, log_path: Path, workers: int = 1) -> subprocess.Popen:
    import requests

    env = {**os.environ, "PYTHONPATH": str(ROOT), "ELDERMAP_REGIONS": str(log_path.parent)}  # local files
    env.pop("ELDERMAP_DATABASE_URL", None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "api", "--regions", regions, "serve", "bench", "--port",
                                 str(port), "--threads", str(threads), "--workers", str(workers)], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log_path.read_text(errors="replace"))
        try:
            if requests.get(f"http://127.0.0.1:{port}/conformance?f=json", timeout=5).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start")


def load(kind: str, base: str, *, clients: int, seconds: float, n_facilities: int,
         origins: list[tuple[float, float]]) -> dict:
    """Closed-loop load of one kind; latencies (ms) of the answered requests and the error count."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    host, port = base.removeprefix("http://").rsplit(":", 1)

    def client(k: int) -> None:
        # http.client with keep-alive: a light client, so that the load generator takes little of the CPU it
        # shares with the server; every answer is still parsed and checked
        rng = np.random.default_rng(SEED + k)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        start.wait()
        i = 0
        while time.perf_counter() < stop_at[0]:
            t = time.perf_counter()
            try:
                if kind == "items page":
                    offset = int(rng.integers(0, max(1, n_facilities - 100)))
                    conn.request("GET", f"/collections/facilities/items?f=json&limit=100&offset={offset}")
                    r = conn.getresponse()
                    body = r.read()
                    ok = r.status == 200 and len(json.loads(body)["features"]) == min(100, n_facilities - offset)
                else:
                    lon, lat = origins[int(rng.integers(0, len(origins)))]
                    if kind == "rec. new places":  # never asked before: up to ~150 m from a home, a new float
                        lon, lat = lon + float(rng.uniform(-0.0015, 0.0015)), lat + float(rng.uniform(-0.001, 0.001))
                    payload = json.dumps({"inputs": {"lon": lon, "lat": lat, **NEEDS[(k + i) % len(NEEDS)]}})
                    conn.request("POST", "/processes/recommend/execution", body=payload.encode("utf-8"),
                                 headers={"Content-Type": "application/json"})
                    r = conn.getresponse()
                    body = r.read()
                    ok = r.status == 200 and "ranked" in json.loads(body)
            except (OSError, http.client.HTTPException, ValueError):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
            latencies[k].append(1000 * (time.perf_counter() - t))
            if not ok:
                errors[k] += 1
            i += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    start.wait()
    for thread in threads:
        thread.join()
    ms = np.array([v for per in latencies for v in per])
    return {"kind": kind, "requests": len(ms), "errors": int(sum(errors)), "p50": float(np.percentile(ms, 50)),
            "p95": float(np.percentile(ms, 95)), "rps": len(ms) / seconds}


def run(size: str, *, clients: int, seconds: float, threads: int, database_url: str | None,
        workers: int = 1) -> list[dict]:
    import requests

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="eldermap-bench-api-") as tmp:
        folder = Path(tmp) / "regions"
        t0 = time.perf_counter()
        n_facilities, origins = build_region(size, folder)
        print(f"region {size}: {n_facilities} facilities, built in {time.perf_counter() - t0:.1f} s", flush=True)
        stores = [("files", str(folder))]
        if database_url:
            from data import store

            store.migrate_database(database_url)  # eldermap db init / upgrade
            store.copy_region("bench", source=str(folder), target=database_url)
            stores.append(("postgis", database_url))
        for store_name, regions in stores:
            t0 = time.perf_counter()
            proc = start_server(regions, PORT, threads, Path(tmp) / f"server-{store_name}.log", workers)
            try:
                base = f"http://127.0.0.1:{PORT}"
                requests.get(f"{base}/collections/facilities/items", params={"f": "json", "limit": 100}, timeout=600)
                requests.post(f"{base}/processes/recommend/execution",
                              json={"inputs": {"lon": origins[0][0], "lat": origins[0][1], **NEEDS[0]}}, timeout=600)
                print(f"{store_name}: server ready and warm in {time.perf_counter() - t0:.1f} s", flush=True)
                for kind in TARGETS_MS:
                    row = load(kind, base, clients=clients, seconds=seconds, n_facilities=n_facilities,
                               origins=origins)
                    rows.append({"store": store_name, "size": size, "clients": clients, "seconds": seconds,
                                 "workers": workers, "threads": threads, **row})
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    return rows


def print_table(rows: list[dict]) -> None:
    print()
    if rows and "workers" in rows[0]:
        print(f"server: {rows[0]['workers']} process(es) × {rows[0]['threads']} threads; load generator: "
              f"{rows[0]['clients']} client threads in one process, on the same {os.cpu_count()}-core machine; "
              f"load average at the end {os.getloadavg()[0]:.2f}")
    print(f"{'store':8} {'size':5} {'load':15} {'clients':>7} {'s':>4} {'requests':>8} {'req/s':>7} "
          f"{'p50 ms':>8} {'p95 ms':>8} {'errors':>6}  target p95")
    for r in rows:
        target = TARGETS_MS[r["kind"]]
        ok = "ok" if r["p95"] <= target and r["errors"] == 0 else "MISSED"
        print(f"{r['store']:8} {r['size']:5} {r['kind']:15} {r['clients']:>7} {r['seconds']:>4g} {r['requests']:>8} "
              f"{r['rps']:>7.1f} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['errors']:>6}  ≤ {target:g} ms {ok}")


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=("demo", "S", "M", "L"), default=None, help="region size (default L; --quick: demo)")
    p.add_argument("--clients", type=int, default=None, help="concurrent clients (default 50; --quick: 10)")
    p.add_argument("--seconds", type=float, default=None, help="seconds per load (default 60; --quick: 3)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads per server process (default 1: gunicorn's sync workers, one request at a time each)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="server processes (default: one per core of this machine)")
    p.add_argument("--database-url", default=None, help="also run against this PostGIS store (postgresql://…)")
    p.add_argument("--postgis-temp", action="store_true",
                   help="also run against a throw-away PostgreSQL + PostGIS started for the run (127.0.0.1, a temporary "
                        "folder; Debian's postgresql-15-postgis-3, as `make test` installs)")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.postgis_temp and not args.database_url:
        sys.path.insert(0, str(ROOT / "tests"))
        from pg_support import rerun_with_throwaway_postgis

        return rerun_with_throwaway_postgis(main, argv)
    size = args.size or ("demo" if args.quick else "L")
    clients = args.clients or (10 if args.quick else 50)
    seconds = args.seconds or (3.0 if args.quick else 60.0)
    rows = run(size, clients=clients, seconds=seconds, threads=args.threads, database_url=args.database_url,
               workers=args.workers)
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
