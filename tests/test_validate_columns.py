"""The column engine of validation against the cell-by-cell one (the oracle): same good rows, rejects and problems.

:func:`data.validate.validate_table` checks a file a column at a time by default (``engine="columns"``) and
cell by cell with ``engine="rows"`` (the code the column path replaced, kept as the reference). These tests
run both on the same files — fixtures, the benchmark's register and hypothesis-generated messy registers —
and require identical results, row for row and message for message. The column kernels are also checked one
by one against the cell functions they stand for.
"""

from __future__ import annotations

import datetime as dt
import re
import string
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from data import columns, ids
from data.readers import _EDGE_CHARS, _EDGE_SPACE, cell_text, clean_column, read_table
from data.validate import ValidationResult, validate_table
from geo.errors import ElderMapError
from geo.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_validate

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = dt.date(2025, 12, 31)
SALT = b"s" * 32
REGION = (113.55, 34.70, 113.75, 34.85)
QUICK = hsettings(deadline=None)
"""No per-example deadline: the machine is shared, and a slow example is not a wrong one."""


def _run(path: Path, table: str, engine: str, **kwargs: object) -> ValidationResult | ElderMapError:
    try:
        return validate_table(path, table, engine=engine, **kwargs)
    except ElderMapError as exc:  # a refused file must be refused the same way
        return exc


def assert_same(path: Path, table: str, **kwargs: object) -> ValidationResult | ElderMapError:
    """Both engines on ``path``; fails on the first difference. Returns the column engine's result."""
    ours = _run(path, table, "columns", **kwargs)
    oracle = _run(path, table, "rows", **kwargs)
    if isinstance(oracle, Exception) or isinstance(ours, Exception):
        assert type(ours) is type(oracle) and str(ours) == str(oracle), (ours, oracle)
        return ours
    assert ours.n_read == oracle.n_read
    pd.testing.assert_frame_equal(ours.problems, oracle.problems, check_exact=True)
    pd.testing.assert_frame_equal(ours.rejects, oracle.rejects, check_exact=True)
    plain = [c for c in oracle.good.columns if c != "geometry"]
    pd.testing.assert_frame_equal(pd.DataFrame(ours.good[plain]), pd.DataFrame(oracle.good[plain]), check_exact=True)
    assert list(ours.good.geometry.to_wkb()) == list(oracle.good.geometry.to_wkb())
    assert ours.good.crs == oracle.good.crs
    assert ours.source == oracle.source
    return ours


@pytest.mark.parametrize("path", sorted(p for p in (FIXTURES / "validation").iterdir()
                                        if p.suffix in (".csv", ".geojson", ".shp")), ids=lambda p: p.name)
@pytest.mark.parametrize("table", ["facilities", "elders", "areas"])
def test_engines_agree_on_fixtures(path: Path, table: str) -> None:
    assert_same(path, table, settings=Settings(), salt=SALT, today=TODAY, region_extent=None)


@pytest.mark.parametrize("path", sorted(p for p in (FIXTURES / "readers").iterdir()
                                        if p.suffix in (".csv", ".xlsx")), ids=lambda p: p.name)
def test_readers_agree_on_fixtures(path: Path) -> None:
    for table in ("facilities", "elders"):
        try:
            rows = read_table(path, table, engine="rows")
        except ElderMapError as exc:
            with pytest.raises(type(exc), match=re.escape(str(exc))):
                read_table(path, table, engine="columns")
            continue
        cols = read_table(path, table, engine="columns")
        pd.testing.assert_frame_equal(cols.frame, rows.frame, check_exact=True)
        assert (cols.source_rows == rows.source_rows).all() and cols.source_rows.dtype == rows.source_rows.dtype
        assert (cols.header_map, cols.unknown_headers, cols.n_rows) == (rows.header_map, rows.unknown_headers, rows.n_rows)


def test_engines_agree_on_the_benchmark_register(tmp_path: Path) -> None:
    path = tmp_path / "elders.csv"
    bench_validate.make_register(path, 400)
    result = assert_same(path, "elders", settings=Settings(), salt=SALT, today=TODAY, region_extent=REGION)
    assert result.n_rejected >= 8  # 1 row in 50 has a wrong check character: the test sees rejects too


# ---------------------------------------------------------------- messy registers (hypothesis)

_FULL = {c: chr(ord(c) + 0xFEE0) for c in string.digits + string.ascii_letters}
_SPACES = ["", " ", "\u3000", "\t", "\u200b", "\ufeff", " \u3000"]
HEADER = ["身份证号", "老人编号", "姓名", "出生日期", "出生月份", "年龄", "性别", "能力等级", "特殊群体", "人口类型", "本地户籍",
          "常住", "失智", "残疾等级", "社区代码", "街道代码", "经度", "纬度", "备注"]


def _full_width(text: str) -> str:
    return "".join(_FULL.get(c, c) for c in text)


def _id_number(draw: st.DrawFn, pool: list[str]) -> str:
    if pool and draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from(pool))  # a duplicate (maybe written differently below)
    year = draw(st.integers(1900, 2030))
    month = draw(st.sampled_from([1, 2, 6, 12, 2, 13, 0]))
    day = draw(st.sampled_from([1, 15, 28, 29, 30, 31]))
    body = f"{draw(st.sampled_from(['410102', '110105', '990101', '000000']))}{year:04d}{month:02d}{day:02d}" \
           f"{draw(st.integers(0, 999)):03d}"
    check = ids.resident_id_check_char(body)
    if draw(st.integers(0, 6)) == 0:
        check = draw(st.sampled_from("0123456789X"))
    number = body + check
    pool.append(number)
    return number


@st.composite
def _cell_text(draw: st.DrawFn, kind: str, pool: list[str]) -> str:
    if draw(st.integers(0, 7)) == 0:
        return draw(st.sampled_from(["", "=1+1", "'=SUM(A1)", "'-0.12", "@x", "N/A", "-", "  ", "'",
                                     draw(st.text(max_size=6))]))
    if kind == "id":
        text = _id_number(draw, pool)
        mess = draw(st.integers(0, 9))
        if mess == 0:
            text = _full_width(text)
        elif mess == 1:
            text = text[:6] + " " + text[6:14] + " " + text[14:]
        elif mess == 2:
            text = text.replace("X", "x")
        elif mess == 3:
            text = text[:draw(st.sampled_from([15, 17, 10]))]
        elif mess == 4:
            text = text[:5] + "O" + text[6:]
    elif kind == "source":
        text = draw(st.sampled_from(["A001", "a001", "Ａ001", "B 17", "z-9", "src", "档案1"]))
    elif kind == "birth":
        y, m, d = draw(st.integers(1870, 2030)), draw(st.integers(0, 14)), draw(st.integers(0, 32))
        text = draw(st.sampled_from([f"{y}", f"{y}-{m:02d}-{d:02d}", f"{y}年{m}月", f"{y}{m:02d}", f"{y}{m:02d}{d:02d}",
                                     f"{y}/{m}/{d}", f"{y}.{m}", f"{y}-{m}-{d} 00:00:00", "一九五〇"]))
    elif kind == "month":
        text = draw(st.sampled_from(["3", "03", "3月", "三月", "十二月", "13", "0", "腊月", "x"]))
    elif kind == "age":
        text = draw(st.sampled_from(["80", "80岁", "65.5", "-1", "131", "abc", "59", "1,0", "90 "]))
    elif kind == "sex":
        text = draw(st.sampled_from(["男", "女", "M", "f", "male", "男性", "?"]))
    elif kind == "ability":
        text = draw(st.sampled_from(["能力完好", "轻度失能", "完全失能", "0", "4", "2级", "中度", "7"]))
    elif kind == "groups":
        text = draw(st.sampled_from(["独居", "独居、低保", "独居老人,空巢", "高龄", "未知群体", "低保 特困", "失独；留守"]))
    elif kind == "ptype":
        text = draw(st.sampled_from(["户籍常住", "人户分离", "外来", "户籍", "常住", "流动人口", "其他"]))
    elif kind == "yes":
        text = draw(st.sampled_from(["是", "否", "1", "0", "Y", "true", "√", "×", "maybe"]))
    elif kind == "grade":
        text = draw(st.sampled_from(["一级", "二级", "3", "四级残疾", "五级"]))
    elif kind == "community":
        text = draw(st.sampled_from(["410102001001", "410102001002", "410102002001", "410102001001.0", "4101020010",
                                     "990102001001", "41010200100A"]))
    elif kind == "street":
        text = draw(st.sampled_from(["410102001", "410102002", "410103001", "41010200"]))
    elif kind == "lon":
        text = draw(st.sampled_from([f"{draw(st.floats(113.5, 113.8)):.6f}", "34.75", "0", "999", "113", "181.5",
                                     "113.6ｅ", "abc", "1.2e2", "113.650000 "]))
    elif kind == "lat":
        text = draw(st.sampled_from([f"{draw(st.floats(34.6, 34.9)):.6f}", "113.65", "0", "-91", "34", "34.7.1"]))
    else:  # name, remarks
        text = draw(st.text(st.characters(codec="gb18030", exclude_categories=("Cs", "Cc")), max_size=40))
    if draw(st.integers(0, 5)) == 0:
        text = _full_width(text)
    return draw(st.sampled_from(_SPACES)) + text + draw(st.sampled_from(_SPACES))


_KINDS = ["id", "source", "name", "birth", "month", "age", "sex", "ability", "groups", "ptype", "yes", "yes", "yes",
          "grade", "community", "street", "lon", "lat", "remark"]


def _clean_cells(draw: st.DrawFn, pool: list[str]) -> dict[str, str]:
    """One elder written cleanly: every column agreeing with the ID number (valid, maybe a repeat)."""
    if pool and draw(st.integers(0, 7)) == 0:
        number = draw(st.sampled_from(pool))
    else:
        body = f"410102{draw(st.integers(1920, 1965))}{draw(st.integers(1, 12)):02d}{draw(st.integers(1, 28)):02d}" \
               f"{draw(st.integers(0, 999)):03d}"
        number = body + ids.resident_id_check_char(body)
        pool.append(number)
    year, month = number[6:10], int(number[10:12])
    return {"id": number, "source": draw(st.sampled_from(["A001", "B17", ""])), "name": "张三",
            "birth": draw(st.sampled_from([year, f"{year}-{month:02d}-{number[12:14]}", f"{year}年{month}月", ""])),
            "month": draw(st.sampled_from([str(month), f"{month}月", ""])), "age": "",
            "sex": draw(st.sampled_from(["男" if int(number[16]) % 2 else "女", ""])),
            "ability": draw(st.sampled_from(["能力完好", "轻度失能", "3"])), "groups": draw(st.sampled_from(["独居", ""])),
            "ptype": draw(st.sampled_from(["户籍常住", "外来", ""])), "yes": draw(st.sampled_from(["是", "否", ""])),
            "grade": "", "community": "410102001001", "street": draw(st.sampled_from(["410102001", ""])),
            "lon": f"{draw(st.floats(113.6, 113.7)):.6f}", "lat": f"{draw(st.floats(34.72, 34.83)):.6f}", "remark": ""}


@st.composite
def messy_register(draw: st.DrawFn) -> tuple[list[list[str]], list[int]]:
    """Rows of an elders' file (title rows, header, data with blanks and ragged rows), and the columns kept.

    Each row is an elder written cleanly, with each cell replaced by a messy one at the register's own rate.
    """
    keep = sorted(draw(st.sets(st.integers(0, len(HEADER) - 1), min_size=1)) | {0, 16, 17} if draw(st.booleans())
                  else draw(st.sets(st.integers(0, len(HEADER) - 1), min_size=2)))
    mess = draw(st.sampled_from([0, 1, 3, 10]))  # messy cells per 20
    pool: list[str] = []
    rows = [[HEADER[j] for j in keep]]
    for _ in range(draw(st.integers(1, 14))):
        if draw(st.integers(0, 9)) == 0:
            rows.append([""] * len(keep))  # blank row
            continue
        clean = _clean_cells(draw, pool)
        row = [draw(_cell_text(_KINDS[j], pool)) if draw(st.integers(0, 19)) < mess else clean[_KINDS[j]]
               for j in keep]
        if draw(st.integers(0, 12)) == 0:
            row = row[:draw(st.integers(0, len(row)))]  # ragged
        rows.append(row)
    titles = draw(st.sampled_from([[], [["老年人基本信息登记表"]], [["某某街道"], ["填报日期：2025年12月"]]]))
    return titles + rows, keep


def _id(body: str) -> str:
    return body + ids.resident_id_check_char(body)


def test_engines_agree_on_every_elder_rule(tmp_path: Path) -> None:
    """A hand-made register with one row per path of the elders' rules (each kind of conflict, warning and fill)."""
    a, b, c = _id("41010219450308123"), _id("41010219500715234"), _id("41010219700101345")  # 男, 女, 男 (too young)
    d = _id("41010219510101002")  # 女
    rows = [
        "身份证号,老人编号,出生日期,出生月份,年龄,性别,人口类型,本地户籍,常住,社区代码,街道代码,区县代码,经度,纬度",
        f"{a},,1945-03-08,3,,男,户籍常住,,,410102001001,,,113.650000,34.750000",  # clean
        f"{b},,1949,7,,,,,,410102001001,,,113.651000,34.751000",  # year against the ID
        f"{d},,1951,,,男,,,,410102001001,,,113.651500,34.751500",  # sex against the ID
        f"{b.lower()[:-1] + b[-1].lower()},,1950-08-01,9,,,,,,410102001001,,,113.652000,34.752000",  # months; repeat
        ",E01,1944年5月,6,,女,外来,是,,410102002001,410102001,,113.653000,34.753000",  # month, 外来 vs 户籍 是
        ",e 02,,,85,女,人户分离,,是,,,410102,,",  # year from age; 人户分离 vs 常住 是; area, no point
        ",,1940,,,,,,,,,,113.654000,34.754000",  # no identifier
        ",E03,,,,女,,,,410102001001,,,113.655000,34.755000",  # no birth year at all
        f"{c},,,,,,,,,410102001001,,,113.656000,34.756000",  # too young
        f"{a},,,,,,,,,410102001001,,,113.657000,34.757000",  # repeat of row 2
        f"{_id('41010219451308123')},,,,,,,,,,,,113.658000,34.758000",  # impossible date in the ID
        f"{a[:-1] + ('0' if a[-1] != '0' else '1')},E09,,,,,,,,,,,,",  # wrong check character
        ",E10,1948,,,,,,,,410102001,410103,113.659000,34.759000",  # street not under district
    ]
    path = tmp_path / "elders.csv"
    path.write_text("\n".join(rows) + "\n", encoding="gb18030")
    result = assert_same(path, "elders", settings=Settings(), salt=SALT, today=TODAY, region_extent=REGION)
    assert result.n_imported >= 2 and result.n_rejected >= 6
    reasons = " ".join(result.problems["问题"])
    for phrase in ("出生年份（1950）不一致", "与身份证号中的性别不一致", "不一致", "意为", "至少填写一项", "缺少出生年份",
                   "不属于老年人", "重复", "出生日期无效", "校验位错误", "街道代码前 6 位"):
        assert phrase in reasons, phrase


def _write(path: Path, rows: list[list[str]], encodings: list[str]) -> None:
    import csv
    import io

    data = b""
    for k, row in enumerate(rows):
        buffer = io.StringIO(newline="")
        csv.writer(buffer).writerow(row)
        data += buffer.getvalue().encode(encodings[k % len(encodings)], errors="replace")
    path.write_bytes(data)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                   HealthCheck.function_scoped_fixture])
@given(register=messy_register(), encodings=st.sampled_from([["utf-8"], ["gb18030"], ["utf-8-sig"], ["utf-8"],
                                                             ["gb18030"], ["gb18030", "utf-8"]]),
       region=st.sampled_from([None, REGION]), max_text=st.sampled_from([200, 200, 12]))
def test_engines_agree_on_messy_registers(tmp_path_factory: pytest.TempPathFactory, register, encodings, region,
                                          max_text) -> None:
    rows, _ = register
    path = tmp_path_factory.mktemp("messy") / "elders.csv"
    _write(path, rows, encodings)
    assert_same(path, "elders", settings=Settings(max_text_length=max_text), salt=SALT, today=TODAY,
                region_extent=region)


# ---------------------------------------------------------------- kernels against the cell functions

def test_edge_characters_are_exactly_what_the_cell_regex_trims() -> None:
    trimmed = {chr(c) for c in range(0x110000) if 0xD800 > c or c > 0xDFFF if _EDGE_SPACE.fullmatch(chr(c))}
    assert trimmed == set(_EDGE_CHARS)


_CELL_CHARS = st.sampled_from(list(" \t\n\u3000\u200b\ufeff\xa0'=+-@ab1中") + ["\r", "\x1c", "\u2028"])


@QUICK
@given(st.lists(st.one_of(st.none(), st.text(_CELL_CHARS, max_size=6), st.integers(-5, 5), st.floats(-2, 2),
                          st.booleans(), st.just(dt.date(2025, 1, 2))), max_size=30))
def test_clean_column_is_cell_by_cell(values: list[object]) -> None:
    assert clean_column(values) == [cell_text(v) for v in values]


@QUICK
@given(st.lists(st.lists(st.integers(0, 9), min_size=17, max_size=17), min_size=1, max_size=20))
def test_vectorised_check_characters(bodies: list[list[int]]) -> None:
    expected = [ids.resident_id_check_char("".join(map(str, b))) for b in bodies]
    assert list(ids.resident_id_check_chars(np.array(bodies))) == expected


@st.composite
def _id_like(draw: st.DrawFn) -> str | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    year, month, day = draw(st.integers(0, 2100)), draw(st.integers(0, 13)), draw(st.integers(0, 32))
    body = f"{draw(st.sampled_from(['41', '11', '99', '00', '82']))}0102{year:04d}{month:02d}{day:02d}" \
           f"{draw(st.integers(0, 999)):03d}"
    check = ids.resident_id_check_char(body) if draw(st.booleans()) else draw(st.sampled_from("0123456789Xx"))
    text = body + check
    mess = draw(st.integers(0, 6))
    if mess == 0:
        text = _full_width(text)
    elif mess == 1:
        text = " " + text
    elif mess == 2:
        text = text[: draw(st.integers(0, 19))] + draw(st.sampled_from(["", "1", "A", "٣"]))
    return text


@QUICK
@given(st.lists(_id_like(), max_size=30), st.dates(dt.date(1950, 1, 1), dt.date(2100, 1, 1)))
def test_canonical_valid_ids_are_the_ones_the_checker_passes_unchanged(values: list[str | None], today: dt.date) -> None:
    expected = [v is not None and ids.check_resident_id(v, today=today) is None and ids.normalise_resident_id(v) == v
                for v in values]
    assert list(ids.canonical_valid_resident_ids(values, today=today)) == expected


@QUICK
@given(st.lists(st.one_of(st.none(), st.from_regex(r"\A-?[0-9]{1,5}(\.[0-9]{0,17})?\Z"),
                          st.floats(-200, 200).map(repr), st.text("0123456789.-e ", max_size=8)), max_size=30))
def test_plain_decimals_read_as_float_does(values: list[str | None]) -> None:
    mask, numbers = columns.plain_decimals(values)
    for text, ok, number in zip(values, mask, numbers, strict=True):
        assert ok == bool(text is not None and re.fullmatch(columns.PLAIN_DECIMAL, text))
        if ok:
            assert number == float(text) and np.signbit(number) == np.signbit(float(text))


@QUICK
@given(st.lists(st.one_of(st.none(), st.integers(-10**20, 10**20), st.floats(), st.booleans(), st.just(pd.NA),
                          st.sampled_from(["1945", " 3 ", "1_000", "x", "inf", ""]), st.decimals(allow_nan=False)),
                max_size=20), st.booleans())
def test_numbers_read_as_to_numeric_does(values: list[object], as_array: bool) -> None:
    """columns.numbers (numpy at once for ints, floats and None) against pandas.to_numeric of the values."""
    given_values = columns.object_array(values) if as_array else values
    want = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy("float64")
    np.testing.assert_array_equal(columns.numbers(given_values), want)


@QUICK
@given(st.lists(st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.integers(2**63, 2**70), st.booleans()),
                max_size=20), st.sampled_from(["birth_year", "oldest_old"]))
def test_typed_int_and_bool_columns_are_pandas_arrays(values: list[object], name: str) -> None:
    """_typed_column's masked arrays built at once equal pd.array of the values (or both refuse them)."""
    from data.validate import _typed_column

    dtype = "Int64" if name == "birth_year" else "boolean"
    try:
        want = pd.array(columns.object_array(values), dtype=dtype)
    except (TypeError, ValueError):
        want = None  # left to the cell-by-cell code
    except OverflowError:  # beyond int64: refused, as pandas refuses it
        with pytest.raises(OverflowError):
            _typed_column(name, values)
        return
    got = _typed_column(name, values)
    if want is None:
        assert got is None
    else:
        assert got is not None and got.dtype == want.dtype and got.equals(want)


@QUICK
@given(st.lists(st.one_of(st.none(), st.text(max_size=3), st.integers(), st.floats(allow_nan=True),
                          st.lists(st.text(max_size=2), max_size=2), st.tuples(st.integers(), st.integers())),
                max_size=12), st.booleans())
def test_object_array_keeps_each_element(values: list[object], as_tuple: bool) -> None:
    """object_array of a list or tuple: a new 1-D object array holding the very elements (nested lists too)."""
    given_values = tuple(values) if as_tuple else values
    arr = columns.object_array(given_values)
    assert arr.dtype == object and arr.shape == (len(values),)
    assert all(a is v for a, v in zip(arr, values, strict=True))
    want = pd.Series(values, dtype=object).to_numpy(copy=True)
    assert all(a is b or (a != a and b != b) for a, b in zip(arr, want, strict=True))


@QUICK
@given(st.lists(st.one_of(st.none(), st.sampled_from("abcd")), max_size=30))
def test_first_two_rows_brute_force(keys: list[str | None]) -> None:
    first, second = columns.first_two_rows(columns.object_array(keys))
    for i, key in enumerate(keys):
        rows = [j for j, k in enumerate(keys) if key is not None and k == key]
        assert first[i] == (rows[0] if rows else -1)
        assert second[i] == (rows[1] if len(rows) > 1 else -1)


@QUICK
@given(st.lists(st.text(st.sampled_from(["a", "A", "1", " ", "\u3000", "Ａ", "ß", "-", ":", "中"]), min_size=1,
                        max_size=6), max_size=10), st.binary(min_size=16, max_size=100))
def test_pseudonymise_many_is_pseudonymise(values: list[str], salt: bytes) -> None:
    values = [v for v in values if ids._clean(v)]
    assert ids.pseudonymise_many(values, salt) == [ids.pseudonymise(v, salt) for v in values]
    assert ids.pseudonymise_many(["SRC:" + v for v in values], salt) == [ids.pseudonymise("src:" + v, salt)
                                                                        for v in values]


def test_engines_agree_on_the_home_care_tables(tmp_path: Path, zhengzhou_osm) -> None:
    """Service list, carers (GBK, title row) and orders (xlsx, typed cells, every cross-table rule) of the desk's
    own tests; the related layers come from the column engine, which the facilities/elders checks vouch for."""
    from test_homecare_data import _carers_gbk, _elders_csv, _facilities_csv, _items_csv, _orders_xlsx

    _, lon, lat = zhengzhou_osm
    base = {"settings": Settings(), "salt": SALT, "today": TODAY}
    facilities = assert_same(_facilities_csv(tmp_path / "f.csv", lon, lat), "facilities", **base).good
    elders = assert_same(_elders_csv(tmp_path / "e.csv", lon, lat), "elders", **base).good
    items = assert_same(_items_csv(tmp_path / "s.csv"), "service_items", **base).good
    carers = assert_same(_carers_gbk(tmp_path / "c.csv", lon, lat), "carers", related={"facilities": facilities},
                         **base).good
    orders = assert_same(_orders_xlsx(tmp_path / "o.xlsx"), "orders", **base, related={
        "facilities": facilities, "elders": elders, "service_items": items, "carers": carers})
    assert orders.n_rejected >= 10 and len(carers) == 2


@st.composite
def _uscc_like(draw: st.DrawFn) -> str | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    body = draw(st.text(st.sampled_from(ids.USCC_CHARSET), min_size=2, max_size=2)) \
        + draw(st.text(st.sampled_from("0123456789A"), min_size=6, max_size=6)) \
        + draw(st.text(st.sampled_from(ids.USCC_CHARSET + "IOSVZ"), min_size=9, max_size=9))
    valid_body = all(c in ids.USCC_CHARSET for c in body)
    check = ids.uscc_check_char(body) if valid_body and draw(st.booleans()) else draw(
        st.sampled_from(ids.USCC_CHARSET + "io "))
    text = body + check
    mess = draw(st.integers(0, 5))
    if mess == 0:
        text = text.lower()
    elif mess == 1:
        text = _full_width(text)
    elif mess == 2:
        text = text[: draw(st.integers(0, 19))]
    return text


@QUICK
@given(st.lists(_uscc_like(), max_size=30))
def test_canonical_valid_usccs_are_the_ones_the_checker_passes_unchanged(values: list[str | None]) -> None:
    expected = [v is not None and ids.check_uscc(v) is None and ids.normalise_uscc(v) == v for v in values]
    assert list(ids.canonical_valid_usccs(values)) == expected


FACILITY_HEADER = ["机构编号", "名称", "类型", "服务项目", "床位总数", "护理型床位", "空余床位", "等级", "月收费", "最低月收费",
                   "性质", "联系电话", "统一社会信用代码", "营业时间", "行政区划代码", "社区代码", "经度", "纬度"]


def _uscc(draw: st.DrawFn) -> str:
    body = "91" + draw(st.sampled_from(["410102", "110105"])) + draw(
        st.text(st.sampled_from(ids.USCC_CHARSET), min_size=9, max_size=9))
    check = ids.uscc_check_char(body) if draw(st.integers(0, 4)) else draw(st.sampled_from(ids.USCC_CHARSET))
    text = body + check
    return draw(st.sampled_from([text, text, text.lower(), _full_width(text), text[:17]]))


@st.composite
def _facility_cell(draw: st.DrawFn, j: int) -> str:
    name = FACILITY_HEADER[j]
    if draw(st.integers(0, 8)) == 0:
        return draw(st.sampled_from(["", "=HYPERLINK(1)", "'+1", "无", " "]))
    options = {
        "机构编号": lambda: draw(st.sampled_from(["F1", "F2", "F3", "f1", ""])),
        "名称": lambda: draw(st.sampled_from(["甲养老院", "乙服务站", "丙中心", "助餐点一"])),
        "类型": lambda: draw(st.sampled_from(["养老机构", "助餐点", "敬老院", "日间照料", "居家上门服务商", "未知类", "乙服务站"])),
        "服务项目": lambda: draw(st.sampled_from(["助餐、助浴", "助洁,助急", "飞行", "助餐 助医"])),
        "床位总数": lambda: draw(st.sampled_from(["100", "50张", "-3", "1.5", "２００", "x"])),
        "护理型床位": lambda: draw(st.sampled_from(["60", "120", "0", ""])),
        "空余床位": lambda: draw(st.sampled_from(["10", "80", "200"])),
        "等级": lambda: draw(st.sampled_from(["三级", "3", "★★★", "☆", "6", "五星"])),
        "月收费": lambda: draw(st.sampled_from(["2000-4500", "3000", "5000~2000", "面议", "1-2-3", "２０００至３０００"])),
        "最低月收费": lambda: draw(st.sampled_from(["1800", "6000元/月", ""])),
        "性质": lambda: draw(st.sampled_from(["公办", "民营", "公办民营", "合资"])),
        "联系电话": lambda: draw(st.sampled_from(["0371-12345678", "138 0000 0000", "电话", "12"])),
        "统一社会信用代码": lambda: _uscc(draw),
        "营业时间": lambda: draw(st.sampled_from(["8:00-18:00", "08:00～17:30", "全天", "18:00-08:00", "25:00-26:00"])),
        "行政区划代码": lambda: draw(st.sampled_from(["410102", "410102001", "410102001001", "4101", "410103001001"])),
        "社区代码": lambda: draw(st.sampled_from(["410102001001", "410102002003", ""])),
        "经度": lambda: draw(st.sampled_from([f"{draw(st.floats(113.6, 113.7)):.6f}", "113.650000", "34.7", "0"])),
        "纬度": lambda: draw(st.sampled_from([f"{draw(st.floats(34.7, 34.8)):.6f}", "34.750000", "113.6", ""])),
    }
    return draw(st.sampled_from(_SPACES[:3])) + options[name]()


@st.composite
def messy_facilities(draw: st.DrawFn) -> list[list[str]]:
    keep = sorted(draw(st.sets(st.integers(0, len(FACILITY_HEADER) - 1))) | {1, 2, 16, 17})
    rows = [[FACILITY_HEADER[j] for j in keep]]
    clean = {"名称": st.sampled_from(["甲养老院", "乙服务站"]), "类型": st.just("养老机构"),
             "经度": st.sampled_from(["113.650000", "113.651000", "113.700000"]),
             "纬度": st.sampled_from(["34.750000", "34.750500"])}
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.booleans()):  # a plain row: same names near each other make suspected repeats
            rows.append([draw(clean[FACILITY_HEADER[j]]) if FACILITY_HEADER[j] in clean else "" for j in keep])
        else:
            rows.append([draw(_facility_cell(j)) if draw(st.integers(0, 6)) else "" for j in keep])
    return rows


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                   HealthCheck.function_scoped_fixture])
@given(rows=messy_facilities(), encoding=st.sampled_from(["utf-8", "gb18030"]), region=st.sampled_from([None, REGION]))
def test_engines_agree_on_messy_facility_files(tmp_path_factory: pytest.TempPathFactory, rows, encoding,
                                               region) -> None:
    path = tmp_path_factory.mktemp("facilities") / "facilities.csv"
    _write(path, rows, [encoding])
    assert_same(path, "facilities", settings=Settings(), today=TODAY, region_extent=region)


@pytest.mark.parametrize("dtype", ["string", "Int64", "boolean", "datetime64[ns]", "float64"])
@pytest.mark.parametrize("n", [0, 1, 5])
def test_missing_typed_columns_are_pandas_own(dtype: str, n: int) -> None:
    """The all-missing column of a field the file lacks, and the h3 column: what pd.array makes of them."""
    import pyarrow as pa

    from data.validate import _missing_column
    from geo import hexes

    got = _missing_column(dtype, n)
    want = np.full(n, np.nan) if dtype == "float64" else pd.array([None] * n, dtype=dtype)
    pd.testing.assert_series_equal(pd.Series(got), pd.Series(want), check_exact=True)
    lon, lat = np.array([113.6, np.nan, 113.7, 113.8, np.nan])[:n], np.array([34.7, 34.8, np.nan, 34.9, np.nan])[:n]
    h3_column = pd.arrays.ArrowStringArray(pa.chunked_array([hexes.cell_texts_for_points(lon, lat, 9)]))
    pd.testing.assert_series_equal(pd.Series(h3_column),
                                   pd.Series(pd.array(list(hexes.cells_for_points(lon, lat, 9)), dtype="string")),
                                   check_exact=True)
