"""Ages in 周岁 at a statistics date, from birth year and month (the day is never stored).

Annex 2 note 1 counts people as of the statistics date; 周岁 is the number of birthdays passed.
With the birth month kept (and not the day), the age is exact except in the birth month itself,
where a birthday counts as passed only when the statistics date is the last day of that month
(so no elder is counted older than they are). Without a month, the age is the difference of years,
exact for a statistics date of 31 December (the annex's own date).
"""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np
import pandas as pd

_PLAIN_NUMBER_TYPES = frozenset({int, float, type(None)})


def numbers(values: object) -> np.ndarray:
    """New float64 array of ``values`` as ``pandas.to_numeric(..., errors="coerce")`` reads them (NaN where missing
    or not a number). Python ints, floats and None (what the parsers give) are converted by numpy at once;
    anything else goes through pandas (a numeric array is simply copied as floats)."""
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "iuf":
        return values.astype(np.float64)
    if (not isinstance(values, np.ndarray) or values.dtype == object) and set(
            map(type, values)) <= _PLAIN_NUMBER_TYPES:  # type: ignore[call-overload]
        try:
            return np.array(values, dtype=np.float64)
        except OverflowError:  # an int beyond float: as pandas reads it
            pass
    return pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce").to_numpy("float64", copy=True)


def age_at(birth_year: object, birth_month: object, day: dt.date) -> np.ndarray:
    """Age in 周岁 at ``day`` of each person (NaN where the birth year is missing).

    Parameters
    ----------
    birth_year, birth_month
        Array-likes of the same length (missing values allowed; a missing month means "year only").
    day
        The statistics date.
    """
    year, month = numbers(np.asarray(birth_year, dtype=object)), numbers(np.asarray(birth_month, dtype=object))
    if month.shape != year.shape:
        month = np.full(year.shape, np.nan)
    last_day = day.day == calendar.monthrange(day.year, day.month)[1]
    not_yet = np.where(np.isnan(month), False, (month > day.month) | ((month == day.month) & (not last_day)))
    return (day.year - year) - not_yet.astype("float64")


__all__ = ["age_at", "numbers"]
