"""Streaming validation of an elder register (issue 17 step 2) against one pass over the whole file.

:func:`data.validate.validate_stream` reads a CSV a block of rows at a time; ``validate_table(...,
chunk_rows=N)`` gathers its blocks. Every test runs the same file both ways and requires identical good rows,
rejects, problems (row numbers are the spreadsheet's), counts and provenance — or the same refusal — for block
sizes that split title rows, duplicates and rejected rows across blocks. The helpers the stream relies on
(vectorised H3 cells, the identifier memory) are checked against brute force.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from test_validate_columns import _write, bench_validate, messy_register

from data import ids
from data.readers import iter_text_chunks, read_table
from data.validate import (
    STREAM_WORKERS_MAX,
    STREAM_WORKERS_MIN_BYTES,
    ValidationResult,
    _SeenKeys,
    stream_workers,
    validate_stream,
    validate_table,
)
from geo import hexes
from geo.errors import ElderMapError
from geo.settings import Settings

TODAY = dt.date(2025, 12, 31)
SALT = b"s" * 32
REGION = (113.55, 34.70, 113.75, 34.85)


def _run(path: Path, **kwargs: object) -> ValidationResult | ElderMapError:
    try:
        return validate_table(path, "elders", **kwargs)
    except ElderMapError as exc:
        return exc


def assert_stream_same(path: Path, chunk_sizes: list[int], workers: tuple[int, ...] = (1,),
                       **kwargs: object) -> ValidationResult | ElderMapError:
    """The whole-file result of ``path`` and the streamed one for every block size (and number of worker
    processes): identical."""
    whole = _run(path, **kwargs)
    for chunk, n in itertools.product(chunk_sizes, workers):
        part = _run(path, chunk_rows=chunk, workers=n, **kwargs)
        if isinstance(whole, Exception) or isinstance(part, Exception):
            assert type(part) is type(whole) and str(part) == str(whole), (chunk, part, whole)
            continue
        assert part.n_read == whole.n_read and part.n_imported == whole.n_imported, chunk
        pd.testing.assert_frame_equal(part.problems, whole.problems, check_exact=True)
        pd.testing.assert_frame_equal(part.rejects, whole.rejects, check_exact=True)
        plain = [c for c in whole.good.columns if c != "geometry"]
        assert list(part.good.columns) == list(whole.good.columns)
        pd.testing.assert_frame_equal(pd.DataFrame(part.good[plain]), pd.DataFrame(whole.good[plain]),
                                      check_exact=True)
        assert list(part.good.geometry.to_wkb()) == list(whole.good.geometry.to_wkb())
        assert part.source == whole.source
    return whole


def _id(body: str) -> str:
    return body + ids.resident_id_check_char(body)


def _wrong(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")


def test_duplicates_across_blocks(tmp_path: Path) -> None:
    """Repeats in every arrangement: good after good, rejected before its only repeat (found blocks later),
    rejected after good, three of one number; with title rows above the header and a blank row."""
    a, b, c, d = (_id(f"4101021945030{k}123") for k in range(4))
    rows = [
        "老年人基本信息登记表",
        "填报单位：某某街道",
        "身份证号,性别,出生日期,社区代码,经度,纬度",
        f"{a},,1945-03-0,410102001001,113.650000,34.750000",  # rejected (bad date) and first of a
        f"{b},,,410102001001,113.651000,34.751000",  # good, first of b
        f"{c},,,410102001001,0,0",  # rejected (placeholder), first of c
        ",,,,,",
        f"{d},,,410102001001,113.652000,34.752000",
        f"{b},,,410102001001,113.653000,34.753000",  # good repeat of b
        f"{a},,,410102001001,113.654000,34.754000",  # good: repeat of a rejected row
        f"{b},,,,,",  # rejected (no position, no area) and repeat of b
        f"{_wrong(d)},,,410102001001,113.655000,34.755000",  # wrong check character
        f"{c},,,410102001001,113.656000,34.756000",
        f"{c},,,410102001001,34.757000,113.657000",  # swapped, third of c
        f"{d},,,410102001001,113.658000,34.758000",
    ]
    path = tmp_path / "elders.csv"
    path.write_text("\n".join(rows) + "\n", encoding="gb18030")
    whole = assert_stream_same(path, [1, 2, 3, 4, 5, 7, 100], settings=Settings(), salt=SALT, today=TODAY,
                               region_extent=REGION)
    # worker processes: every row its own block (blocks alternate between them), and blocks of 3 and 7 rows
    assert_stream_same(path, [1, 3, 7], workers=(2, 3), settings=Settings(), salt=SALT, today=TODAY,
                       region_extent=REGION)
    assert isinstance(whole, ValidationResult)
    reasons = " ".join(whole.problems["问题"])
    assert reasons.count("重复") >= 5 and "填反" in reasons
    on_6 = whole.problems[whole.problems["行号"] == "6"]["问题"].tolist()
    assert on_6[-1] == "与第 13 行重复"  # a rejected row whose only repeat comes blocks later
    assert whole.problems["行号"].iloc[0] == "4"  # spreadsheet rows: two titles and the header above


def test_benchmark_register_streamed(tmp_path: Path) -> None:
    path = tmp_path / "elders.csv"
    bench_validate.make_register(path, 2_500)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:1200] + lines[1:60] + lines[1200:] + lines[1:40:3]))  # repeats across blocks
    whole = assert_stream_same(path, [311, 1_000, 3_000], workers=(1, 2), settings=Settings(), salt=SALT,
                               today=TODAY, region_extent=REGION)
    assert whole.n_rejected >= 100 and sum("重复" in p for p in whole.problems["问题"]) >= 60


def test_projected_register_is_refused_as_a_whole(tmp_path: Path) -> None:
    """A file of metres is refused on its majority, also when the first blocks hold degrees."""
    rows = ["身份证号,社区代码,经度,纬度"]
    rows += [f"{_id(f'4101021945030{k % 10}12{k % 10}')},410102001001,113.65{k},34.75{k}" for k in range(3)]
    rows += [f"{_id(f'4101021950071{k % 10}23{k % 10}')},410102001001,{440000 + k},{3840000 + k}" for k in range(5)]
    path = tmp_path / "elders.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    whole = assert_stream_same(path, [2, 3], workers=(1, 2), settings=Settings(), salt=SALT, today=TODAY,
                               region_extent=REGION)
    assert isinstance(whole, ElderMapError)


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                   HealthCheck.function_scoped_fixture])
@given(register=messy_register(), encodings=st.sampled_from([["utf-8"], ["gb18030"], ["utf-8-sig"],
                                                             ["gb18030", "utf-8"]]),
       region=st.sampled_from([None, REGION]), chunk=st.integers(1, 6), workers=st.sampled_from([1, 2, 3]))
def test_messy_registers_streamed(tmp_path_factory: pytest.TempPathFactory, register, encodings, region,
                                  chunk, workers) -> None:
    rows, _ = register
    path = tmp_path_factory.mktemp("messy") / "elders.csv"
    _write(path, rows, encodings)
    assert_stream_same(path, [chunk], workers=(workers,), settings=Settings(), salt=SALT, today=TODAY,
                       region_extent=region)
    try:  # the first pass's blocks (coordinate columns only): the same rows as the whole file's
        whole = read_table(path, "elders")
    except ElderMapError:
        return
    blocks = list(iter_text_chunks(path, "elders", chunk_rows=chunk, only=("lon", "lat")))
    kept = [c for c in whole.frame.columns if c in ("lon", "lat")]
    got = pd.concat([b.frame for b in blocks], ignore_index=True)
    assert sorted(got.columns) == sorted(kept) and len(got) == whole.n_rows
    for name in kept:
        assert got[name].tolist() == whole.frame[name].tolist()
    assert np.concatenate([b.source_rows for b in blocks]).tolist() == whole.source_rows.tolist()


def test_blocks_are_read_as_the_whole_file(tmp_path: Path) -> None:
    """The reader's blocks put together are the whole-file table (rows, numbers, header, encoding)."""
    path = tmp_path / "elders.csv"
    bench_validate.make_register(path, 500)
    whole = read_table(path, "elders")
    blocks = list(iter_text_chunks(path, "elders", chunk_rows=64))
    assert max(b.n_rows for b in blocks) <= 64 and len(blocks) == 8
    pd.testing.assert_frame_equal(pd.concat([b.frame for b in blocks], ignore_index=True), whole.frame)
    assert np.concatenate([b.source_rows for b in blocks]).tolist() == whole.source_rows.tolist()
    assert {b.encoding for b in blocks} == {whole.encoding} and blocks[0].header_map == whole.header_map


@pytest.mark.parametrize("workers", [1, 2])
def test_stream_hands_out_blocks_and_reports_progress(tmp_path: Path, workers: int) -> None:
    path = tmp_path / "elders.csv"
    bench_validate.make_register(path, 1_000)
    seen: list[int] = []
    stream = validate_stream(path, settings=Settings(), salt=SALT, today=TODAY, chunk_rows=300,
                             progress=lambda done, total: seen.append((done, total)), workers=workers)
    with pytest.raises(RuntimeError):
        stream.result()
    sizes = [len(g) for g in stream]
    result = stream.result()
    assert seen == [(300, 1_000), (600, 1_000), (900, 1_000), (1_000, 1_000)] and all(s <= 300 for s in sizes)
    assert result.n_imported == sum(sizes) and result.n_imported + result.n_rejected == result.n_read == 1_000
    assert len(result.good) == 0
    assert len(stream.worker_peaks_mb) == len(stream.worker_pids) == (workers if workers > 1 else 0)
    assert all(peak > 0 for peak in stream.worker_peaks_mb)
    with pytest.raises(ValueError):
        validate_stream(path, "facilities", settings=Settings())


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_workers_stop_when_the_stream_is_left(tmp_path: Path) -> None:
    """A consumer that stops after the first block (an error while writing it, say): the workers end with the
    stream, none is left running."""
    path = tmp_path / "elders.csv"
    bench_validate.make_register(path, 3_000)
    before = _stream_folders()
    stream = validate_stream(path, settings=Settings(), salt=SALT, today=TODAY, chunk_rows=200, workers=2)
    blocks = iter(stream)
    assert len(next(blocks)) > 0
    pids = stream.worker_pids
    assert len(pids) == 2 and not any(_gone(p) for p in pids)
    blocks.close()  # what a for loop left by an exception does to the generator
    assert all(_gone(p) for p in pids)
    assert _stream_folders() == before == set()  # blocks written for the stream but never read: removed with it


def _stream_folders() -> set[Path]:
    """The folders this process's streams pass blocks through (shared memory, else the temporary folder)."""
    import tempfile

    return {f for root in (Path("/dev/shm"), Path(tempfile.gettempdir())) if root.is_dir()
            for f in root.glob(f"eldermap-stream-{os.getpid()}-*")}


def test_a_worker_failure_is_the_streams(tmp_path: Path) -> None:
    """A block that cannot be read (bytes that are not UTF-8 in a file read as UTF-8) fails the stream with the
    error the one-process stream gives, wherever the block falls among the workers; no worker is left."""
    path = tmp_path / "elders.csv"
    bench_validate.make_register(path, 2_000)
    lines = path.read_bytes().decode("gbk").encode("utf-8").splitlines(keepends=True)
    lines[1_500] = lines[1_500].replace(b"113.", "１１３。".encode("gbk"))  # GBK bytes, invalid UTF-8
    path.write_bytes(b"".join(lines))
    failures = []
    for workers in (1, 2, 3):
        stream = validate_stream(path, settings=Settings(), salt=SALT, today=TODAY, chunk_rows=250,
                                 encoding="utf-8", workers=workers)
        with pytest.raises(ElderMapError) as caught:
            for _ in stream:
                pass
        failures.append((type(caught.value), str(caught.value)))
        assert all(_gone(p) for p in stream.worker_pids)
    assert failures[1:] == failures[:1] * 2 and "utf-8" in failures[0][1]


def test_stream_workers_setting() -> None:
    assert stream_workers(3) == 3 and stream_workers(1) == 1
    assert 1 <= stream_workers(0) <= STREAM_WORKERS_MAX
    assert stream_workers(0) == min(len(os.sched_getaffinity(0)), STREAM_WORKERS_MAX)
    assert stream_workers(0, STREAM_WORKERS_MIN_BYTES) == stream_workers(0)
    assert stream_workers(0, STREAM_WORKERS_MIN_BYTES - 1) == 1 and stream_workers(2, 10) == 2


@hsettings(max_examples=100, deadline=None)
@given(blocks=st.lists(st.lists(st.sampled_from(["a", "b", "c", "dd", "e", "ff", "g", "h", "12345678a", "12345678b",
                                                 "12345678ab", "1234567", "12345678\x01", "\x01"]), max_size=6),
                       max_size=8))
def test_seen_keys_are_a_dictionary(blocks: list[list[str]]) -> None:
    """Keys added block by block (runs merged on the way) are found with the rows they were stored with; also
    keys that share their first 8 bytes (kept as two integers) and short keys (padded with zero bytes)."""
    seen, reference, row = _SeenKeys(), {}, 0
    for block in blocks:
        keys = np.array([k.encode() for k in dict.fromkeys(block)], dtype=bytes) if block else np.array([], "S1")
        first, good, _ = seen.lookup(keys)
        assert first.tolist() == [reference.get(k.decode(), (-1, -1))[0] for k in keys]
        assert good.tolist() == [reference.get(k.decode(), (-1, -1))[1] for k in keys]
        new = np.array([k.decode() not in reference for k in keys], dtype=bool)
        rows = np.arange(row, row + len(keys), dtype=np.int64)
        if new.any():
            seen.add(keys[new], rows[new], rows[new] * 10)
            reference.update({k.decode(): (r, r * 10) for k, r in zip(keys[new], rows[new], strict=True)})
        row += len(keys)


def test_cells_for_points_is_the_per_point_call() -> None:
    rng = np.random.default_rng(3)
    lon, lat = 113.6 + rng.random(400) * 0.2, 34.7 + rng.random(400) * 0.2
    lon[::7], lat[::11] = np.nan, np.nan
    cells = hexes.cells_for_points(lon, lat, 9)
    expected = [None if np.isnan(x) or np.isnan(y) else h3.latlng_to_cell(y, x, 9) for x, y in zip(lon, lat, strict=True)]
    assert list(cells) == expected
    grid = hexes.cells_for_points(lon.reshape(20, 20), lat.reshape(20, 20), 7)
    assert grid.shape == (20, 20)
    assert list(grid.ravel()) == [None if np.isnan(x) or np.isnan(y) else h3.latlng_to_cell(y, x, 7)
                                  for x, y in zip(lon, lat, strict=True)]


@hsettings(max_examples=60, deadline=None)
@given(points=st.lists(st.tuples(st.one_of(st.floats(-180, 180), st.just(float("nan"))),
                                 st.one_of(st.floats(-90, 90), st.just(float("nan")))), max_size=30),
       resolution=st.integers(0, 15))
def test_cell_texts_are_h3s_own(points: list[tuple[float, float]], resolution: int) -> None:
    """The cell ids written for all points at once are h3's own text of each point's cell, at every resolution
    (also the poles, the antimeridian and missing coordinates)."""
    points += [(180.0, 90.0), (-180.0, -90.0), (0.0, 0.0), (113.65, 34.76)]
    lon, lat = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    texts = hexes.cell_texts_for_points(lon, lat, resolution)
    expected = [None if np.isnan(x) or np.isnan(y) else h3.latlng_to_cell(y, x, resolution) for x, y in points]
    assert texts.to_pylist() == expected
    texts.validate(full=True)


def test_layer_written_block_by_block(tmp_path: Path) -> None:
    """The stream's blocks written as row groups read back as the whole file's good rows; checksum of the bytes."""
    from data import store

    path = tmp_path / "elders.csv"
    bench_validate.make_register(path, 700)
    whole = validate_table(path, "elders", settings=Settings(), salt=SALT, today=TODAY)
    blocks = validate_stream(path, settings=Settings(), salt=SALT, today=TODAY, chunk_rows=97)
    out = tmp_path / "elders.parquet"
    entry = store.write_layer_blocks(blocks, out, row_group_rows=40)
    back = gpd.read_parquet(out)
    assert entry == {"file": "elders.parquet", "rows": whole.n_imported, "sha256": store.file_sha256(out)}
    stored = gpd.read_parquet(io.BytesIO(store.parquet_bytes(whole.good)))  # the whole layer as save_region writes it
    plain = [c for c in whole.good.columns if c not in ("geometry", "groups")]
    pd.testing.assert_frame_equal(pd.DataFrame(back[plain]), pd.DataFrame(stored[plain]), check_exact=True)
    assert back["groups"].map(list).tolist() == stored["groups"].map(list).tolist()
    assert list(back.geometry.to_wkb()) == list(stored.geometry.to_wkb()) and back.crs == stored.crs
    import pyarrow.parquet as pq

    group = pq.ParquetFile(out).metadata.row_group(0)  # dictionaries for repeated values only (judged on block 1)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)}
    assert "RLE_DICTIONARY" in encodings["ability_level"] and "RLE_DICTIONARY" in encodings["groups.list.element"]
    assert "RLE_DICTIONARY" not in encodings["pid"] and "RLE_DICTIONARY" not in encodings["source_row"]
    part, total = store._read_rows(out, (100, 333))
    assert total == whole.n_imported and part["source_row"].tolist() == whole.good["source_row"].iloc[100:333].tolist()
    # the blocks handed out as Arrow tables (made in the workers when there are some): the same bytes
    for workers, tables in ((1, True), (2, False), (2, True)):
        again = tmp_path / f"again-{workers}-{tables}.parquet"
        stream = validate_stream(path, settings=Settings(), salt=SALT, today=TODAY, chunk_rows=97, workers=workers,
                                 tables=tables)
        assert store.write_layer_blocks(stream, again, row_group_rows=40)["sha256"] == entry["sha256"]
        assert again.read_bytes() == out.read_bytes()
        assert stream.result().n_good == whole.n_imported
    # a list column empty all through the first block, filled later
    first = whole.good.iloc[:5].copy()
    first["groups"] = [[] for _ in range(5)]
    entry = store.write_layer_blocks(iter([first, whole.good.iloc[5:50]]), out)
    assert gpd.read_parquet(out)["groups"].map(list).tolist() == [[]] * 5 + whole.good["groups"].iloc[5:50].map(
        list).tolist()


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(missing=st.lists(st.booleans(), max_size=9))
def test_point_layer_table_is_the_layer_table(tmp_path: Path, missing: list[bool]) -> None:
    """A point layer's table made without shapely points is geopandas' own, metadata and written bytes alike:
    rows without coordinates, all without, none at all."""
    from data import store

    n = len(missing)
    rng = np.random.default_rng(n)
    lon, lat = 113.6 + rng.random(n) * 0.1, 34.7 + rng.random(n) * 0.1
    lon[missing], lat[missing] = np.nan, np.nan
    alone, none = ["独居"], []  # lists shared by rows, as a validated block's (and one list of its own)
    frame = pd.DataFrame({"pid": pd.array([f"P{i}" for i in range(n)], dtype="string"),
                          "groups": [alone if i % 2 else none for i in range(n)], "lon": lon, "lat": lat})
    if n > 2:
        frame.at[2, "groups"] = ["空巢", "失独"]
    points = gpd.GeoDataFrame(frame.copy(), geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    points.loc[np.isnan(lon), "geometry"] = None
    points["source_row"] = np.arange(n, dtype=np.int64)
    frame["geometry"] = None
    frame["source_row"] = np.arange(n, dtype=np.int64)
    fast = store.point_layer_table(frame)
    assert fast.equals(store.layer_table(points), check_metadata=True)
    fast.validate(full=True)
    if n:
        a, b = tmp_path / f"a{n}.parquet", tmp_path / f"b{n}.parquet"
        assert store.write_layer_blocks([fast], a)["sha256"] == store.write_layer_blocks([points], b)["sha256"]
    with pytest.raises(ValueError):
        store.point_layer_table(points)  # geometries of its own: not a plain frame of points


@hsettings(max_examples=60, deadline=None)
@given(keys=st.lists(st.sampled_from(["a", "b", "c", None]), max_size=12), good=st.lists(st.booleans(), min_size=12,
                                                                                          max_size=12))
def test_first_two_rows_of_codes_is_of_keys(keys: list[str | None], good: list[bool]) -> None:
    """first_two_rows of factorized codes (masked with -1 as the stream masks them) against the keys' own."""
    from data import columns

    arr = columns.object_array(keys)
    mask = np.array(good[:len(keys)], dtype=bool)
    codes, _ = columns.factorize(arr)
    for got, want in ((columns.first_two_rows(codes, codes=True), columns.first_two_rows(arr)),
                      (columns.first_two_rows(np.where(mask, codes, -1), codes=True),
                       columns.first_two_rows(np.where(mask, arr, None)))):
        assert [g.tolist() for g in got] == [w.tolist() for w in want]


def test_benchmark_register_is_the_row_by_row_one(tmp_path: Path) -> None:
    """bench_validate.make_register (whole-array blocks) writes byte for byte the register its docstring
    describes, written here row by row with csv (a block boundary falls on a repeated row)."""
    import csv

    rng = np.random.default_rng(1)
    buffer = io.StringIO(newline="")
    w = csv.writer(buffer)
    w.writerow(bench_validate.HEADER)
    number = ""
    for k in range(1_234):
        if k % 500 != 499:
            day, seq = divmod(k, 1000)
            year, rest = divmod(day, 12 * 28)
            body = f"410102{1925 + year % 40}{rest // 28 + 1:02d}{rest % 28 + 1:02d}{seq:03d}"
            check = ids.resident_id_check_char(body)
            number = body + (("0" if check != "0" else "1") if k % 50 == 0 else check)
        w.writerow([number, "张三", "", ("能力完好", "轻度失能", "中度失能")[k % 3], "独居",
                    f"410102001{k % 20 + 1:03d}", f"{113.6 + rng.random() * 0.05:.6f}",
                    f"{34.74 + rng.random() * 0.05:.6f}"])
    path = tmp_path / "elders.csv"
    bench_validate.make_register(path, 1_234, block_rows=499)
    assert path.read_bytes() == buffer.getvalue().encode("gbk")


def test_without_worker_processes_the_stream_runs_in_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Workers asked for but not to be had (a process limit, no shared memory): the same result from one process,
    and a warning in the log."""
    import data.validate as validate_module

    path = tmp_path / "elders.csv"
    bench_validate.make_register(path, 900)
    want = validate_table(path, "elders", settings=Settings(), salt=SALT, today=TODAY, chunk_rows=200)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(validate_module, "_StreamWorkers", refuse)
    with caplog.at_level("WARNING", logger="data.validate"):
        got = validate_table(path, "elders", settings=Settings(), salt=SALT, today=TODAY, chunk_rows=200, workers=2)
    pd.testing.assert_frame_equal(pd.DataFrame(got.good.drop(columns="geometry")),
                                  pd.DataFrame(want.good.drop(columns="geometry")))
    pd.testing.assert_frame_equal(got.problems, want.problems)
    assert got.worker_peaks_mb == [] and "in one process" in caplog.text


def test_a_killed_worker_ends_the_stream_with_a_message(tmp_path: Path) -> None:
    """A worker killed mid-file (the system out of memory, say): the stream ends with a Chinese message that says
    what to do, never hangs or shows a traceback; the other worker is stopped."""
    import signal

    path = tmp_path / "elders.csv"
    bench_validate.make_register(path, 3_000)
    stream = validate_stream(path, settings=Settings(), salt=SALT, today=TODAY, chunk_rows=200, workers=2)
    blocks = iter(stream)
    next(blocks)
    os.kill(stream.worker_pids[1], signal.SIGKILL)
    with pytest.raises(ElderMapError, match="工作进程意外退出.*import_workers"):
        for _ in blocks:
            pass
    assert all(_gone(p) for p in stream.worker_pids)


def test_background_work_gives_its_value_or_its_error() -> None:
    """The stream's file checksum runs in a thread: its value, or its exception raised where it is asked for."""
    from data.store import file_sha256
    from data.validate import _Background

    assert _Background(sum, [1, 2, 3]).result() == 6
    missing = _Background(file_sha256, Path("/nonexistent/elders.csv"))
    with pytest.raises(OSError):
        missing.result()


@hsettings(max_examples=150, deadline=None)
@given(columns=st.lists(st.lists(st.one_of(st.none(), st.text(max_size=3), st.integers(-3, 2**70), st.floats(),
                                           st.booleans(), st.dates()), max_size=6), min_size=1, max_size=4),
       rows=st.integers(0, 6))
def test_rejects_typed_as_by_map(columns: list[list[object]], rows: int) -> None:
    """The whole file's rejected rows get their column types as ``map(_yes_no)`` gives them (是/否 for yes/no
    values), also where only the types are inferred."""
    from data.validate import _yes_no, _yes_no_frame

    frame = pd.DataFrame({f"c{k}": pd.Series((values * 6)[:rows] if values else [None] * rows, dtype=object)
                          for k, values in enumerate(columns)})
    got, want = _yes_no_frame(frame), frame.astype(object).map(_yes_no)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
