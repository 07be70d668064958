"""Validation throughput on a synthetic elder register (GBK CSV), against a bare pandas read of the same file.

    python benchmarks/bench_validate.py [--rows 100000] [--engine columns|rows] [--chunk-rows 200000]

Prints seconds, rows per second and the ratio to `pandas.read_csv(encoding="gb18030", dtype=str)`, the
floor any validator pays for reading the file (and `pyarrow.csv.read_csv` of the same file beside it).
`--engine rows` runs the cell-by-cell validator (the reference the default column engine is tested
against). `--chunk-rows N` validates the file as a stream of N-row blocks (`validate_stream`; the good rows
of each block are written to a GeoParquet file as row groups by `data.store.write_layer_blocks`, in the time
reported), the way a province register is read with flat memory. The peak memory is measured before the
peers run. Identity numbers are distinct and valid, except 1 row in 50 with a wrong check character and 1 in
500 repeating the row above (a duplicate): 2.2 % bad rows at any size.
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
from data.store import write_layer_blocks
from data.validate import validate_stream, validate_table
from geo.settings import Settings

HEADER = ["身份证号", "姓名", "性别", "能力等级", "特殊群体", "社区代码", "经度", "纬度"]


def make_register(path: Path, rows: int, *, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w", encoding="gbk", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        number = ""
        for k in range(rows):
            if k % 500 != 499:  # distinct numbers (13.4 million of them: year, month, day, sequence), valid
                day, seq = divmod(k, 1000)
                year, rest = divmod(day, 12 * 28)
                body = f"410102{1925 + year % 40}{rest // 28 + 1:02d}{rest % 28 + 1:02d}{seq:03d}"
                check = resident_id_check_char(body)
                if k % 50 == 0:  # 2 % with a wrong check character
                    check = "0" if check != "0" else "1"
                number = body + check
            # else: the row above's number again, a duplicate (0.2 %)
            w.writerow([number, "张三", "", ("能力完好", "轻度失能", "中度失能")[k % 3], "独居",
                        f"410102001{k % 20 + 1:03d}", f"{113.6 + rng.random() * 0.05:.6f}",
                        f"{34.74 + rng.random() * 0.05:.6f}"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--engine", choices=("columns", "rows"), default="columns",
                        help="validation engine: columns (default) or rows (the cell-by-cell reference)")
    parser.add_argument("--chunk-rows", type=int, default=None,
                        help="validate as a stream of blocks of this many rows (columns engine)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "elders.csv"
        make_register(path, args.rows)
        t0, cpu0 = time.perf_counter(), time.process_time()
        if args.chunk_rows:
            stream = validate_stream(path, settings=Settings(), salt=b"b" * 32, chunk_rows=args.chunk_rows)
            layer = Path(tmp) / "elders.parquet"
            written = write_layer_blocks(stream, layer)  # the good rows, as GeoParquet row groups
            result = stream.result()
        else:
            result = validate_table(path, "elders", settings=Settings(), salt=b"b" * 32, engine=args.engine)
        ours_s, ours_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ours first: its own peak
        n_imported, n_rejected, n_read = result.n_imported, result.n_rejected, result.n_read
        del result
        t0 = time.perf_counter()
        pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False)
        peer_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(encoding="gb18030"),
                        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(HEADER, pa.string())))
        arrow_s = time.perf_counter() - t0
    print(f"rows                         {args.rows:>12,}")
    print(f"pandas.read_csv (peer floor) {peer_s:>12.2f} s")
    print(f"eldermap validate_table      {ours_s:>12.2f} s   {args.rows / ours_s:,.0f} rows/s")
    print(f"ratio ours / read_csv        {ours_s / peer_s:>12.1f} x")
    print(f"peak resident memory (process) {peak_mb:>10.0f} MB   (validation run first: its own peak)")
    print(f"imported {n_imported:,} + rejected {n_rejected:,} = read {n_read:,}")
    print(f"pyarrow.csv.read_csv (peer)  {arrow_s:>12.2f} s")
    print(f"engine                       {args.engine:>12}")
    print(f"blocks of rows (stream)      {args.chunk_rows or 'whole file':>12}")
    if args.chunk_rows:
        print(f"good rows written as GeoParquet row groups (in the time above): {written['rows']:,}")
    print(f"validate_table CPU time      {ours_cpu_s:>12.2f} s   {args.rows / ours_cpu_s:,.0f} rows/CPU-s")


if __name__ == "__main__":
    main()
