"""Column kernels for validation: whole-column operations on the parsed cells of a staff file.

:mod:`data.validate` checks a file either cell by cell (the reference, ``engine="rows"``) or a column at a
time (``engine="columns"``, the default). The column path uses these helpers; every one of them is exact
(gives what the cell-by-cell code gives, value for value), so the two engines agree row for row and message
for message. The usual pattern: a vectorised pre-check settles the common, clean cells; the cells it cannot
settle (messy or wrong ones, which are few) go to the cell-by-cell code. Columns with few distinct values
(enumerations, tags, codes, years) are parsed once per distinct value and the result spread to the rows.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.ages import numbers

PLAIN_DECIMAL = r"^-?[0-9]{1,4}(\.[0-9]{1,15})?$"
"""A number as a clean cell writes it: what ``float`` reads exactly as Arrow's cast does (at most 20 characters)."""


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, MB; NaN where the platform does not say (Windows).

    On Linux it is the process's own high-water mark (``VmHWM``): ``ru_maxrss`` also keeps the peak of the program
    that started it (kept across ``exec``), so a worker spawned by a large driver would report the driver's."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


@contextlib.contextmanager
def cyclic_gc_paused(pause: bool = True) -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (restored after, also on errors).

    Reading a register creates millions of small lists and strings and no reference cycles; the collector
    would scan them all again and again as they pile up (a third of the time at 150,000 rows). Memory is
    still freed as usual (reference counting): only the search for cycles waits until the block ends.
    """
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def object_array(values: Sequence[Any]) -> np.ndarray:
    """New, writable 1-D object array of ``values`` (lists and tuples stay single elements, never a second
    dimension)."""
    if isinstance(values, (list, tuple)):  # each element as it is (fromiter never nests a list), 2x faster
        return np.fromiter(values, dtype=object, count=len(values))
    return pd.Series(values, dtype=object).to_numpy(copy=True)


def present(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Boolean mask of the values that are not None (nor NaN, pd.NA)."""
    if isinstance(values, np.ndarray) and values.ndim == 1:
        return ~pd.isna(values)
    return pd.Series(values, dtype=object).notna().to_numpy()


def present_text(values: np.ndarray) -> np.ndarray:
    """:func:`present` of a 1-D object array holding only text and None (cells as the readers give them): a
    comparison with None, several times faster than pandas' general test (which also knows NaN and NA)."""
    return np.not_equal(values, None)


def factorize(values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """(code of each value, distinct values in order of appearance); missing values get code -1."""
    codes, uniques = pd.factorize(values if isinstance(values, np.ndarray) else object_array(values))
    return codes, list(uniques)


def map_unique(values: Sequence[Any] | np.ndarray, func: Callable[[Any], Any], *, missing: Any = None) -> np.ndarray:
    """Object array of ``func(v)`` for every value (``missing`` where it is missing), ``func`` called once per
    distinct value: for pure functions of columns with few distinct values."""
    codes, uniques = factorize(values)
    table = np.empty(len(uniques) + 1, dtype=object)
    for k, u in enumerate(uniques):
        table[k] = func(u)
    table[-1] = missing
    return table[codes]


def plain_decimals(values: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(mask, numbers): which cells are plain decimals (:data:`PLAIN_DECIMAL`) and their value as ``float``
    reads it (NaN elsewhere), parsed by Arrow's string kernels."""
    arr = pa.array(values, type=pa.string())
    mask = pc.fill_null(pc.match_substring_regex(arr, PLAIN_DECIMAL), False).to_numpy(zero_copy_only=False)
    numbers = np.full(len(values), np.nan)
    if mask.any():
        numbers[mask] = pc.cast(arr.filter(pa.array(mask)), pa.float64()).to_numpy(zero_copy_only=False)
    return mask, numbers


def lengths(values: np.ndarray) -> np.ndarray:
    """Length of each string of an object array of strings."""
    return np.fromiter(map(len, values), dtype=np.int64, count=len(values))


def first_two_rows(keys: np.ndarray, *, codes: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the first and second row (-1 when there is none) holding the same key (keys: object
    array, None for no key; rows without a key get -1, -1). ``codes=True``: ``keys`` are already integer codes
    (:func:`factorize`'s, -1 for no key)."""
    n = len(keys)
    codes = np.asarray(keys, dtype=np.int64) if codes else pd.factorize(keys)[0]
    first = np.full(n, -1, dtype=np.int64)
    second = np.full(n, -1, dtype=np.int64)
    has = codes >= 0
    if not has.any():
        return first, second
    rows = np.flatnonzero(has)
    order = np.argsort(codes[rows], kind="stable")
    sorted_rows, sorted_codes = rows[order], codes[rows][order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    counts = np.diff(np.r_[starts, len(sorted_rows)])
    first_of = np.full(codes.max() + 1, -1, dtype=np.int64)
    second_of = np.full(codes.max() + 1, -1, dtype=np.int64)
    first_of[sorted_codes[starts]] = sorted_rows[starts]
    two = counts > 1
    second_of[sorted_codes[starts[two]]] = sorted_rows[starts[two] + 1]
    first[has] = first_of[codes[has]]
    second[has] = second_of[codes[has]]
    return first, second


__all__ = ["PLAIN_DECIMAL", "cyclic_gc_paused", "factorize", "first_two_rows", "lengths", "map_unique", "numbers",
           "object_array", "plain_decimals", "present", "present_text"]
