"""Counties too large for one task: split into parts of their elders, and the parts' tables combined.

A batch task holds a whole county: its road network (with the halo), its facilities and its elders. Memory grows
with the elders (loading them from GeoParquet, their snaps to the network, the per-elder results), so a county of
millions of elders would outgrow a worker's memory limit (``settings.batch_worker_memory_gb``) and the nanny would
kill the worker again and again. Such a county is split before it is submitted:

- :func:`task_memory_mb` estimates a task's peak from the county's manifest (its elders and road edges; no layer is
  read), by a linear model measured on the synthetic province of ``benchmarks/bench_batch.py`` (see the constants);
- :func:`plan_parts`: the number of parts so that each part's estimate stays within
  :data:`MEMORY_PLAN_SHARE` of the limit (or ``settings.batch_task_max_elders`` elders when that is set);
- each part task loads the county with only its slice of the elders (:func:`data.store.load_region` with
  ``elder_rows``: the other row groups are never decoded) and the whole network and facilities, and computes the
  batch kind on it. Every elder's travel time depends only on the network and the facilities, so a part gives
  each of its elders exactly what the whole county would;
- :func:`combine` makes the county's tables from its parts' tables: per area, every figure counted over elders is
  summed over the parts, every figure of facilities or areas (the same in every part) is taken once, and every
  rate, ratio and check is recomputed from the sums as the single-task function does. The combined result is
  stored as the county's result: roll-ups and ``--resume`` do not know it was split.

Tests compare a split county with the same county in one task, table for table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from geo.areas import pct
from geo.labels import TOTAL_CODE, UNASSIGNED
from geo.settings import Settings
from planning.checks import checks_from_counts, tier_covered_column

TASK_BASE_MB = 200.0
"""A worker process with the libraries a task imports (pandas, geopandas, shapely, scipy, ElderMap), MB: 153 MB
measured, rounded up."""
TASK_MB_PER_ROAD_EDGE = 0.012
"""Per road edge of a county (network arrays, snapped facilities, the edges layer), MB: about 11.5 KB measured
(a 14,335-edge county: 318 MB before its elders, less the base), rounded up."""
TASK_MB_PER_ELDER = 0.0011
"""Per elder of a task, MB: 0.9 KB (coverage), 1.0 KB (report), 0.7 KB (check) measured on a county of 1.5 million
elders (loading, snapping, the per-elder results), rounded up to the largest."""
MEMORY_PLAN_SHARE = 0.7
"""Share of the worker memory limit a task's estimate may use: Dask's nanny pauses a worker at 80 % and restarts
it at 95 %, and memory a worker freed after an earlier task is not always returned to the system."""


def task_memory_mb(elders: int, road_edges: int) -> float:
    """Estimated peak memory of one batch task over ``elders`` elders of a county of ``road_edges`` road edges, MB."""
    return TASK_BASE_MB + TASK_MB_PER_ROAD_EDGE * road_edges + TASK_MB_PER_ELDER * elders


def elders_per_task(road_edges: int, settings: Settings) -> int:
    """The most elders one task of a county of ``road_edges`` edges may take: ``settings.batch_task_max_elders``
    when set, else as many as fit :data:`MEMORY_PLAN_SHARE` of ``settings.batch_worker_memory_gb`` by
    :func:`task_memory_mb` (0 when the network alone leaves no room: see :func:`plan_parts`)."""
    if settings.batch_task_max_elders > 0:
        return int(settings.batch_task_max_elders)
    budget_mb = settings.batch_worker_memory_gb * 1024.0 * MEMORY_PLAN_SHARE
    room = budget_mb - task_memory_mb(0, road_edges)
    return max(0, int(room / TASK_MB_PER_ELDER))


def plan_parts(elders: int, road_edges: int, settings: Settings) -> int:
    """Into how many parts of its elders a county is split (1: not split). A county whose network alone leaves no
    room for elders under the limit is not split (its task is run whole, and reported if its worker dies)."""
    per_task = elders_per_task(road_edges, settings)
    if elders <= 0 or per_task <= 0 or elders <= per_task:
        return 1
    return math.ceil(elders / per_task)


def part_rows(elders: int, part: int, parts: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of the elders layer in part ``part`` (0-based) of ``parts``: contiguous, sizes
    differing by at most one."""
    if not 0 <= part < parts:
        raise ValueError(f"part {part} of {parts}")
    return elders * part // parts, elders * (part + 1) // parts


# ---------------------------------------------------------------- combining the parts


def _order(codes: Sequence[str]) -> list[str]:
    """Area codes as every area table orders them (:func:`geo.areas.area_list`): sorted, "未归属" last."""
    every = set(codes) - {TOTAL_CODE}
    return sorted(every - {UNASSIGNED}) + ([UNASSIGNED] if UNASSIGNED in every else [])


def _by_code(tables: Sequence[pd.DataFrame], summed: Sequence[str]) -> pd.DataFrame:
    """One table from the parts' tables of one kind: a row per code found in any part (area order), then the total
    row. Columns ``summed`` are summed over the parts (0 where a part has no such row); every other column is taken
    from the first part that has the row (figures of facilities and areas: the same in every part)."""
    columns = list(tables[0].columns)
    keyed = [t.assign(code=t["code"].astype(str)).set_index("code") for t in tables]
    codes = [*_order([c for t in keyed for c in t.index]), TOTAL_CODE]
    rows = []
    for code in codes:
        having = [t.loc[code] for t in keyed if code in t.index]
        row = having[0].to_dict()
        for c in summed:
            row[c] = sum(r[c] for r in having)
        rows.append({"code": code, **row})
    out = pd.DataFrame(rows, columns=columns)
    for c in columns:
        if c != "code" and pd.api.types.is_numeric_dtype(tables[0][c]) and not pd.api.types.is_bool_dtype(tables[0][c]):
            out[c] = out[c].astype(tables[0][c].dtype)
    return out


def _coverage_table(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """A :func:`planning.coverage.coverage_by_area` table from the parts' (counts summed, rates recomputed)."""
    counts = [c for c in tables[0].columns if c.startswith(("elders", "covered", "weighted_elders", "weighted_covered"))]
    out = _by_code(tables, counts)
    left_out = sum(int(t.attrs.get("left_out", 0)) for t in tables)
    if left_out:  # with elders outside the counted population, areas without a counted elder get no row
        out = out[(out["elders"] > 0) | (out["code"] == TOTAL_CODE)].reset_index(drop=True)
    for c in out.columns:
        if c.startswith("coverage") and c.endswith("_pct") or c.startswith("coverage_pct:"):
            part, whole = _coverage_rate_inputs(c)
            out[c] = pct(out[part], out[whole])
    unassigned = out.loc[out["code"] == UNASSIGNED, "elders"]
    out.attrs.update(tables[0].attrs)
    out.attrs.update(elders_total=sum(int(t.attrs.get("elders_total", 0)) for t in tables), left_out=left_out,
                     unassigned=int(unassigned.iloc[0]) if len(unassigned) else 0)
    return out


def _coverage_rate_inputs(rate: str) -> tuple[str, str]:
    if rate.startswith("coverage_pct:"):
        group = rate.split(":", 1)[1]
        return f"covered:{group}", f"elders:{group}"
    if rate == "weighted_coverage_pct":
        return "weighted_covered", "weighted_elders"
    suffix = rate[len("coverage"):-len("_pct")]
    return f"covered{suffix}", f"elders{suffix}"


BASIC_ELDER_COUNTS: tuple[str, ...] = ("elders", "oldest_old", "disabled")
"""Figures of the annex-2 table counted over elders (the others count facilities, communities and areas)."""


def _basic_table(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    out = _by_code(tables, BASIC_ELDER_COUNTS)
    for c in BASIC_ELDER_COUNTS:
        out[f"{c}_10k"] = out[c] / 10_000.0
    out.attrs.update(tables[0].attrs)
    return out


def _circle_table(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    counts = ["elders", *(c for c in tables[0].columns if c.startswith("covered:"))]
    out = _by_code(tables, counts)
    for c in out.columns:
        if c.startswith("coverage_pct:"):
            out[c] = pct(out["covered:" + c.split(":", 1)[1]], out["elders"], decimals=1)
    out.attrs.update(tables[0].attrs)
    return out


def _checks_table(tables: Sequence[pd.DataFrame], *, settings: Settings, mode: str) -> pd.DataFrame:
    covered = [tier_covered_column(kind) for kind, _ in settings.tier_minutes]
    out = _by_code(tables, ["elders", *covered])
    counts = out[["code", "name", "elders", "beds_total", "institution_beds", "nursing_beds", *covered]]
    present = set().union(*(set(t.attrs.get("present", ())) for t in tables))
    table = checks_from_counts(counts, settings=settings, mode=mode, present=present, keep_counts=True)
    table.attrs.update(tables[0].attrs)
    table.attrs.update(tier_covered={kind: table[tier_covered_column(kind)].tolist()
                                     for kind, _ in settings.tier_minutes})
    return table


def combine(kind: str, parts: Sequence[Mapping[str, pd.DataFrame]], *, settings: Settings,
            params: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """A county's frames of batch ``kind`` from those of its parts (in part order): equal to the frames one task
    over the whole county gives. ``coverage``: the per-elder rows in order, the area tables summed; ``report``: the
    annex-2 rows (elders, 80+ and 失能 summed; facilities, beds, communities and population once) and the service
    circle (elders and covered summed, rates recomputed); ``check``: counts summed, every check recomputed."""
    if not parts:
        raise ValueError("no parts to combine")
    if len(parts) == 1:
        return dict(parts[0])
    if kind == "coverage":
        out = {"elders": pd.concat([p["elders"] for p in parts], ignore_index=True)}
        for level in [name for name in parts[0] if name != "elders"]:
            out[level] = _coverage_table([p[level] for p in parts])
        return out
    if kind == "report":
        return {"district": _basic_table([p["district"] for p in parts]),
                "circle": _circle_table([p["circle"] for p in parts])}
    if kind == "check":
        return {"district": _checks_table([p["district"] for p in parts], settings=settings, mode=params["mode"])}
    raise ValueError(f"unknown batch kind {kind!r}")


__all__ = ["BASIC_ELDER_COUNTS", "MEMORY_PLAN_SHARE", "TASK_BASE_MB", "TASK_MB_PER_ELDER", "TASK_MB_PER_ROAD_EDGE",
           "combine", "elders_per_task", "part_rows", "plan_parts", "task_memory_mb"]

