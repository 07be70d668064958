"""Validation throughput on a synthetic elder register (GBK CSV), against a bare pandas read of the same file.

    python benchmarks/bench_validate.py [--rows 100000] [--engine columns|rows]

Prints seconds, rows per second and the ratio to `pandas.read_csv(encoding="gb18030", dtype=str)`, the
floor any validator pays for reading the file (and `pyarrow.csv.read_csv` of the same file beside it).
`--engine rows` runs the cell-by-cell validator (the reference the default column engine is tested
against). Identity numbers are generated with valid check characters; 1 row in 50 has a wrong one
(and a few collide, as duplicates).
Run from the repository with the project installed (`.venv/bin/python benchmarks/bench_validate.py`).
"""

from __future__ import annotations

import argparse
import csv
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from data.ids import resident_id_check_char
from data.validate import validate_table
from geo.settings import Settings

HEADER = ["身份证号", "姓名", "性别", "能力等级", "特殊群体", "社区代码", "经度", "纬度"]


def make_register(path: Path, rows: int, *, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w", encoding="gbk", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for k in range(rows):
            body = f"410102{rng.integers(1925, 1965)}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}{k % 1000:03d}"
            check = resident_id_check_char(body)
            if k % 50 == 0:
                check = "0" if check != "0" else "1"
            w.writerow([body + check, "张三", "", ("能力完好", "轻度失能", "中度失能")[k % 3], "独居",
                        f"410102001{k % 20 + 1:03d}", f"{113.6 + rng.random() * 0.05:.6f}",
                        f"{34.74 + rng.random() * 0.05:.6f}"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--engine", choices=("columns", "rows"), default="columns",
                        help="validation engine: columns (default) or rows (the cell-by-cell reference)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "elders.csv"
        make_register(path, args.rows)
        t0 = time.perf_counter()
        pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False)
        peer_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(encoding="gb18030"),
                        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(HEADER, pa.string())))
        arrow_s = time.perf_counter() - t0
        t0, cpu0 = time.perf_counter(), time.process_time()
        result = validate_table(path, "elders", settings=Settings(), salt=b"b" * 32, engine=args.engine)
        ours_s, ours_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows                         {args.rows:>12,}")
    print(f"pandas.read_csv (peer floor) {peer_s:>12.2f} s")
    print(f"eldermap validate_table      {ours_s:>12.2f} s   {args.rows / ours_s:,.0f} rows/s")
    print(f"ratio ours / read_csv        {ours_s / peer_s:>12.1f} x")
    print(f"peak resident memory (process) {peak_mb:>10.0f} MB")
    print(f"imported {result.n_imported:,} + rejected {result.n_rejected:,} = read {result.n_read:,}")
    print(f"pyarrow.csv.read_csv (peer)  {arrow_s:>12.2f} s")
    print(f"engine                       {args.engine:>12}")
    print(f"validate_table CPU time      {ours_cpu_s:>12.2f} s   {args.rows / ours_cpu_s:,.0f} rows/CPU-s")


if __name__ == "__main__":
    main()
