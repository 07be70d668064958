"""Validation throughput on a synthetic elder register (GBK CSV), against a bare pandas read of the same file.

    python benchmarks/bench_validate.py [--rows 100000] [--engine columns|rows] [--chunk-rows 200000] [--workers 2]
                                        [--runs 3]

Prints seconds, rows per second and the ratios to `pandas.read_csv(encoding="gb18030", dtype=str)`, the
floor any validator pays for reading the file, and to `pyarrow.csv.read_csv` of the same file, in the same run.
Ours and each peer run ``--runs`` times (default 3), in turn (ours, pandas, pyarrow, ours...), and the best of each
counts: the same treatment for all, and a slower spell of the machine meets all of them (the same read took
0.95-1.5 s for 1 M rows on the 2-core machine within a day). Every run of ours starts its workers afresh (a new
fork server, as each import does); all its times are printed.
`--engine rows` runs the cell-by-cell validator (the reference the default column engine is tested
against). `--chunk-rows N` validates the file as a stream of N-row blocks (`validate_stream`; the good rows
of each block are written to a GeoParquet file as row groups by `data.store.write_layer_blocks`, in the time
reported), the way a province register is read with flat memory; `--workers N` validates the blocks in N
worker processes at once (the peak memory then also counts the workers'). The peak memory (VmHWM) is the
validation's: reset after the register is written, read before the peers run. The register is written a block
of rows at a time with whole-array arithmetic (10 million rows in well under a minute). Identity numbers are distinct and valid, except 1 row in 50 with a wrong check character and 1 in
500 repeating the row above (a duplicate): 2.2 % bad rows at any size.
Run from the repository with the project installed (`.venv/bin/python benchmarks/bench_validate.py`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from data.columns import peak_memory_mb
from data.ids import resident_id_check_chars
from data.store import write_layer_blocks
from data.validate import validate_stream, validate_table
from geo.settings import Settings

HEADER = ["身份证号", "姓名", "性别", "能力等级", "特殊群体", "社区代码", "经度", "纬度"]


def make_register(path: Path, rows: int, *, seed: int = 1, block_rows: int = 200_000) -> None:
    """The synthetic register, written a block of rows at a time with whole-array arithmetic (a 10-million-row
    file in seconds). Row k: a distinct valid ID number built from k (year, month, day, sequence), 1 in 50 with
    a wrong check character, 1 in 500 repeating the row above's number; lon/lat from ``seed``'s stream."""
    rng = np.random.default_rng(seed)
    previous = ""
    with path.open("wb") as f:
        f.write((",".join(HEADER) + "\r\n").encode("gbk"))
        for start in range(0, rows, block_rows):
            k = np.arange(start, min(rows, start + block_rows), dtype=np.int64)
            r = rng.random(2 * len(k))  # two draws a row, lon then lat, as one call after another gives them
            day, seq = np.divmod(k, 1000)
            year, rest = np.divmod(day, 12 * 28)
            parts = (4, 1, 0, 1, 0, 2, 1925 + year % 40, rest // 28 + 1, rest % 28 + 1, seq)
            widths = (1, 1, 1, 1, 1, 1, 4, 2, 2, 3)
            digits = np.column_stack([np.broadcast_to(np.asarray(p), k.shape) // 10 ** e % 10
                                      for p, w in zip(parts, widths, strict=True) for e in range(w - 1, -1, -1)])
            check = resident_id_check_chars(digits)
            wrong = k % 50 == 0  # 2 % with a wrong check character
            check[wrong] = np.where(check[wrong] != "0", "0", "1")
            body = (digits.astype(np.uint8) + 48).tobytes().decode("ascii")
            number = np.array([body[i:i + 17] for i in range(0, len(body), 17)], dtype=object) + check.astype(object)
            dup = np.flatnonzero(k % 500 == 499)  # the row above's number again, a duplicate (0.2 %)
            above = number[np.maximum(dup - 1, 0)]
            above[dup == 0] = previous  # the row above is the previous block's last
            number[dup] = above
            level = np.array(["能力完好", "轻度失能", "中度失能"], dtype=object)[k % 3]
            community = np.array([f"410102001{j + 1:03d}" for j in range(20)], dtype=object)[k % 20]
            lon = list(map("{:.6f}".format, (113.6 + r[0::2] * 0.05).tolist()))
            lat = list(map("{:.6f}".format, (34.74 + r[1::2] * 0.05).tolist()))
            lines = [f"{a},张三,,{b},独居,{c},{x},{y}\r\n"
                     for a, b, c, x, y in zip(number, level, community, lon, lat, strict=True)]
            f.write("".join(lines).encode("gbk"))
            previous = number[-1]


def _tree_pids(root: int) -> list[int]:
    """``root`` and every process descended from it (Linux /proc; the validation workers are children of
    multiprocessing's fork server, itself a child of this process)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [root], [root]
    while todo:
        here = todo.pop()
        children = [pid for pid, ppid in parent.items() if ppid == here]
        found += children
        todo += children
    return found


def tree_pss_mb(root: int | None = None) -> float:
    """Memory of a process and all its descendants, MB: the sum of their proportional set sizes (PSS: a page
    shared by n processes counts 1/n in each, so pages a fork server shares with its workers count once), plus
    the blocks the validation workers have left in shared memory for the stream to read (/dev/shm files)."""
    root = root or os.getpid()
    total = sum(f.stat().st_size for f in Path("/dev/shm").glob(f"eldermap-stream-{root}-*/*")
                if f.is_file()) / 2**20 if Path("/dev/shm").is_dir() else 0.0
    for pid in _tree_pids(root):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
                    break
        except OSError:
            continue  # ended meanwhile
    return total


class PeakSampler(threading.Thread):
    """The peak of :func:`tree_pss_mb` while it runs, sampled every ``every`` seconds (a peak between two samples
    can be missed: the figure is a lower bound of the true peak, and VmHWM per process an upper bound)."""

    def __init__(self, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.every, self.peak_mb, self._stop_event = every, 0.0, threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.peak_mb = max(self.peak_mb, tree_pss_mb())
            except OSError:
                pass
            self._stop_event.wait(self.every)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return self.peak_mb


def reset_peak_rss() -> bool:
    """Reset the process's peak resident memory (Linux: VmHWM, by writing 5 to /proc/self/clear_refs); False where
    it cannot be (then the peak includes what ran before)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def stop_fork_server() -> None:
    """Stop the validation workers' fork server if one runs, so that the next stream starts one (and imports the
    validator in it) as the first stream of a process does (multiprocessing's own stop, which its tests use)."""
    import multiprocessing.forkserver as forkserver

    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if stop is not None:
        stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--engine", choices=("columns", "rows"), default="columns",
                        help="validation engine: columns (default) or rows (the cell-by-cell reference)")
    parser.add_argument("--chunk-rows", type=int, default=None,
                        help="validate as a stream of blocks of this many rows (columns engine)")
    parser.add_argument("--workers", type=int, default=1,
                        help="with --chunk-rows: worker processes validating blocks at once (1: none)")
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of ours and of each peer; the best of each counts (default 3)")
    args = parser.parse_args()
    runs = max(1, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "elders.csv"
        t0 = time.perf_counter()
        make_register(path, args.rows)
        make_s, size_mb = time.perf_counter() - t0, path.stat().st_size / 2**20
        times, cpu_times, peaks, tree_peaks = [], [], [], []
        peer_s = arrow_s = float("inf")
        for _ in range(runs):  # ours, then each peer, in turn: a slower spell of the machine meets all of them
            stop_fork_server()  # each run starts its workers as an import does
            reset_peak_rss()  # the peak below is the validation's, not the register writer's (nor a run before)
            sampler = PeakSampler()
            sampler.start()
            t0, cpu0 = time.perf_counter(), time.process_time()
            if args.chunk_rows:
                stream = validate_stream(path, settings=Settings(), salt=b"b" * 32, chunk_rows=args.chunk_rows,
                                         workers=args.workers, tables=True)  # the rows as they are written
                layer = Path(tmp) / "elders.parquet"
                written = write_layer_blocks(stream, layer)  # the good rows, as GeoParquet row groups
                result = stream.result()
            else:
                result = validate_table(path, "elders", settings=Settings(), salt=b"b" * 32, engine=args.engine)
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - cpu0)
            peaks.append(peak_memory_mb())  # ours first: its own peak
            tree_peaks.append(sampler.stop())
            if len(times) == 1:  # the memory of the first run: the peers' reads after it leave freed memory behind
                worker_peaks = stream.worker_peaks_mb if args.chunk_rows else []
            n_imported, n_rejected, n_read = result.n_imported, result.n_rejected, result.n_read
            del result
            t0 = time.perf_counter()
            pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False)
            peer_s = min(peer_s, time.perf_counter() - t0)
            t0 = time.perf_counter()
            pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(encoding="gb18030"),
                            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(HEADER, pa.string())))
            arrow_s = min(arrow_s, time.perf_counter() - t0)
        best = int(np.argmin(times))
        ours_s, ours_cpu_s, peak_mb, tree_peak_mb = times[best], cpu_times[best], peaks[0], tree_peaks[0]
    what = f"validate_stream ({args.chunk_rows:,}-row blocks)" if args.chunk_rows else "validate_table (whole file)"
    print(f"rows                         {args.rows:>12,}")
    print(f"file                         {size_mb:>12.0f} MB (GBK CSV)")
    print(f"eldermap {what}: {ours_s:.2f} s   {args.rows / ours_s:,.0f} rows/s   (best of {runs}: "
          f"{', '.join(f'{t:.2f}' for t in times)} s)")
    print(f"pandas.read_csv (peer floor) {peer_s:>12.2f} s   (best of {runs})")
    print(f"pyarrow.csv.read_csv (peer)  {arrow_s:>12.2f} s   (best of {runs})")
    print(f"ratio ours / pandas.read_csv {ours_s / peer_s:>12.1f} x")
    print(f"ratio ours / pyarrow.csv     {ours_s / arrow_s:>12.1f} x")
    print(f"peak resident memory (VmHWM) {peak_mb:>10.0f} MB   (of the validation's first run: reset after writing "
          "the register, read before any peer ran)")
    print(f"peak memory of all processes {tree_peak_mb:>10.0f} MB   (first run; sum of PSS of this process, the fork "
          "server and the workers, and blocks in shared memory, sampled every 0.2 s)")
    if worker_peaks:
        print(f"worker processes             {len(worker_peaks):>12}   peaks {' + '.join(f'{p:.0f}' for p in worker_peaks)} MB;"
              f" all processes {peak_mb + sum(worker_peaks):,.0f} MB")
    print(f"imported {n_imported:,} + rejected {n_rejected:,} = read {n_read:,}")
    print(f"engine                       {args.engine:>12}")
    print(f"blocks of rows (stream)      {args.chunk_rows or 'whole file':>12}")
    if args.chunk_rows:
        print(f"good rows written as GeoParquet row groups (in the time above): {written['rows']:,}")
    print(f"validation CPU time          {ours_cpu_s:>12.2f} s   {args.rows / ours_cpu_s:,.0f} rows/CPU-s"
          f"{'   (this process only)' if worker_peaks else ''}")
    print(f"register written in          {make_s:>12.2f} s")

if __name__ == "__main__":
    main()
