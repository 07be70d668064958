"""Dispatch (企业派单): which providers and carers can take an order, best first, and the queue of open orders.

A provider is **eligible** for an order when

- it is a home-care provider (a kind of ``settings.home_care_kinds``);
- it offers every requested item: the item's ``service_tag``, name or code is among the provider's ``services``;
- the elder's point is in its service area: :func:`planning.home_care.serving_point` names it (declared area,
  or within ``settings.home_care_drive_minutes`` of its base when it declares none);
- the window lies within its opening hours (``hours``, when given), and it has taken fewer than
  ``capacity_orders_day`` orders that day (when given).

A carer of an eligible provider is **eligible** when the window lies within its shift (``shift_start_min`` –
``shift_end_min``), it has no active order (已派单、已接单、服务中) overlapping the window, it has every skill the
items require at their ``min_skill_level`` or above, it has taken fewer than ``max_orders_day`` orders that day, and
it can drive to the elder within ``settings.desk_max_drive_min`` minutes.

**Ranking.** The drive time is taken over the region's driving network (:func:`planning.coverage.network_for`,
oneway streets honoured, from the carer to the elder) from where the carer will be: the place of its previous
order that day ending before this window starts, else its home base (``lon``/``lat``), else its provider's base.
All carers are timed with one search from the elder's point over the reversed network (the arithmetic of
:func:`planning.catchments.catchment_matrix`, to the bit; the same times as searching from each carer). The order
of candidates is by a cost in minutes::

    cost = drive_min + desk_rank_minutes_per_point × (5 − rating score) + desk_rank_minutes_full_load × load

where the rating score (0–5) is :func:`desk.ratings.rate_providers`' and ``load`` is the carer's orders that day
over its ``max_orders_day`` (capped at 1): nearer first, but a provider rated one point higher wins against a
carer up to ``desk_rank_minutes_per_point`` minutes nearer (重点推荐、优先派单 of seed 004). Ties: higher rating,
lower load, shorter drive, carer id. Each candidate carries a plain Chinese reason ("车程 7 分钟；评分 4.6（32 次
回访）；今日已接 2 单"); providers and carers left out carry why.

**Speed** (issue 15: a peak of calls on the 2,009-facility region). What a call derives from the providers, carers
and service list (records, parsed hours and shifts, service and skill sets, bases and their snaps on the network)
is made once per region version and those very tables (:class:`_Roster`); the order log is read as plain tuples
of the active orders and that day's (:func:`desk.orders_db.day_book_rows`); the reversed network's CSR arrays are
kept, and a call appends its one virtual source node to them. A call does the per-order work only.

:func:`queue` lists the orders waiting for dispatch: 紧急 first, then by window start.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from data.store import Region
from desk import orders_db
from desk.errors import DeskError
from desk.orders_db import ACTIVE_STATES, DONE_STATES, split_tags, to_time
from geo.settings import Settings, settings_digest
from planning.coverage import network_for, remember_per_version, routing_settings
from planning.home_care import home_care_positions, serving_point
from planning.network import MIN_WEIGHT_MIN, Network, Snap, snap_lonlat, snap_points

log = logging.getLogger(__name__)

RANK_COLUMNS: tuple[str, ...] = (
    "rank", "provider_id", "provider_name", "carer_id", "drive_min", "origin", "score", "followups",
    "orders_today", "max_orders_day", "load", "cost", "reason")
"""Columns of :attr:`Candidates.ranked`. ``origin``: 上一单地点, 住址 or 服务商驻地 (where the drive starts)."""
EXCLUDED_COLUMNS: tuple[str, ...] = ("provider_id", "provider_name", "carer_id", "reason")
"""Columns of :attr:`Candidates.excluded` (``carer_id`` empty when the whole provider is left out)."""
QUEUE_COLUMNS_ZH: dict[str, str] = {"id": "工单编号", "urgency": "紧急程度", "window_start": "预约开始时间",
                                    "window_end": "预约结束时间", "item_codes": "服务项目", "channel": "来源渠道",
                                    "created_at": "下单时间"}
_TIME_RANGE = re.compile(r"^\s*(\d{1,2})[:：](\d{2})\s*[-–—~～至到]\s*(\d{1,2})[:：](\d{2})\s*$")
_REVERSED: dict[tuple[str, Settings], _Reversed] = {}


@dataclass(frozen=True)
class Candidates:
    """Who can take an order.

    Attributes
    ----------
    ranked
        Eligible (provider, carer) pairs, best first (:data:`RANK_COLUMNS`, ``rank`` from 1).
    excluded
        Providers and carers left out, with the reason in Chinese (:data:`EXCLUDED_COLUMNS`).
    notes
        Chinese lines about the order as a whole (no point to drive to, no carers in the region…).
    """

    ranked: pd.DataFrame
    excluded: pd.DataFrame
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- small helpers


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _text(value: object) -> str:
    return "" if _missing(value) else str(value).strip()


def _number(value: object) -> float | None:
    if _missing(value):
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def parse_time_range(value: object) -> tuple[int, int] | None:
    """Minutes after midnight of a range such as "08:00-18:00" (None when missing or unreadable)."""
    match = _TIME_RANGE.match(_text(value))
    if not match:
        return None
    h0, m0, h1, m1 = (int(g) for g in match.groups())
    return h0 * 60 + m0, h1 * 60 + m1


def _clock(minutes: float) -> str:
    minutes = int(minutes)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _table(region: Region, name: str) -> pd.DataFrame:
    layers = region.layers
    table = layers.get(name) if hasattr(layers, "get") else None
    return pd.DataFrame() if table is None else table


def _window(order: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    start = to_time(order.get("window_start"), field="预约开始时间")
    end = to_time(order.get("window_end"), field="预约结束时间")
    if start is None or end is None or end <= start:
        raise DeskError(f"工单 {order.get('id')} 的预约时间不完整或结束早于开始",
                        f"order {order.get('id')}: bad window")
    return start, end


def _item_index(items: pd.DataFrame) -> tuple[bool, dict[str, int], dict[str, int]]:
    """(whether the service list is usable, row by code, row by name)."""
    if items.empty or "code" not in items:
        return False, {}, {}
    by_code = {str(c): i for i, c in enumerate(items["code"].astype(str))}
    by_name = {str(n): i for i, n in enumerate(items["name"].astype(str))} if "name" in items else {}
    return True, by_code, by_name


def _item_positions(has_items: bool, by_code: Mapping[str, int], by_name: Mapping[str, int],
                    order: Mapping[str, Any]) -> list[int]:
    codes = split_tags(order.get("item_codes"))
    if not codes:
        raise DeskError(f"工单 {order.get('id')} 没有服务项目", f"order {order.get('id')}: no items")
    if not has_items:
        raise DeskError("本地区还没有服务清单（服务项目），请先导入服务清单", "no service_items layer")
    rows, unknown = [], []
    for code in codes:
        pos = by_code.get(code, by_name.get(code))
        (unknown.append(code) if pos is None else rows.append(pos))
    if unknown:
        raise DeskError(f"服务项目 {'、'.join(unknown)} 不在服务清单中", f"unknown items {unknown}")
    return list(dict.fromkeys(rows))


def order_items(region: Region, order: Mapping[str, Any]) -> pd.DataFrame:
    """The service-list rows (``service_items`` layer) of an order's ``item_codes``, in the order's order; codes
    or names; a Chinese error naming those not in the list."""
    items = _table(region, "service_items")
    return items.iloc[_item_positions(*_item_index(items), order)].reset_index(drop=True)


def _item_label(item: Mapping[str, Any]) -> str:
    return f"{_text(item.get('name')) or _text(item.get('code'))}（{_text(item.get('code'))}）"


def _order_point(region: Region, order: Mapping[str, Any]) -> tuple[float, float] | None:
    lon, lat = _number(order.get("lon")), _number(order.get("lat"))
    if lon is not None and lat is not None:
        return lon, lat
    elders = region.elders
    elder = _text(order.get("elder_id"))
    if elder and len(elders) and "pid" in elders:
        hit = elders[elders["pid"].astype(str) == elder]
        if len(hit) and hit.geometry.iloc[0] is not None and not hit.geometry.iloc[0].is_empty:
            point = hit.geometry.to_crs(4326).iloc[0]
            return float(point.x), float(point.y)
    return None


# ---------------------------------------------------------------- travel


def reversed_network(network: Network) -> Network:
    """``network`` with every edge turned round: a search from a point on it gives the times *to* that point on
    ``network``. Only what :func:`planning.catchments.catchment_matrix` reads is kept (no geometry: snap on
    ``network`` and turn the snaps with :func:`reversed_snap`)."""
    edges = network.edges
    flipped = pd.DataFrame({"u_idx": edges["v_idx"].to_numpy(), "v_idx": edges["u_idx"].to_numpy(),
                            "time_min": edges["time_min"].to_numpy(), "two_way": edges["two_way"].to_numpy()})
    return Network(mode=network.mode, graph=network.graph.T.tocsr(), node_ids=network.node_ids, edges=flipped,
                   crs=network.crs, component=network.component, main_component=network.main_component,
                   walk_speed_m_per_min=network.walk_speed_m_per_min)


def reversed_snap(snap: Snap) -> Snap:
    """A snap on a network as a snap on :func:`reversed_network` (same edge, fraction from the other end)."""
    return Snap(snap.edge, 1.0 - snap.t, snap.access_m, snap.access_min)


@dataclass(frozen=True, eq=False)
class _Reversed:
    """:func:`reversed_network` with what one search from a point needs made once: the edge columns as arrays
    and the graph's CSR arrays, to which a call appends the row of its one virtual source node (instead of
    rebuilding and re-sorting the whole graph per search)."""

    network: Network
    u: np.ndarray
    v: np.ndarray
    time_min: np.ndarray
    two_way: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray

    @classmethod
    def of(cls, forward: Network) -> _Reversed:
        network = reversed_network(forward)
        graph = network.graph.tocsr()  # canonical (min_csr, turned round): no duplicate, no loop
        edges = network.edges
        return cls(network, edges["u_idx"].to_numpy(), edges["v_idx"].to_numpy(), edges["time_min"].to_numpy(),
                   edges["two_way"].to_numpy(dtype=bool), graph.indptr.astype(np.int64),
                   graph.indices.astype(np.int64), np.maximum(graph.data.astype(float), MIN_WEIGHT_MIN))


def _reversed_for(region: Region, settings: Settings) -> tuple[Network, _Reversed]:
    network = network_for(region, "drive", settings)
    backwards = remember_per_version(_REVERSED, (str(region.path), routing_settings(settings)),
                                     lambda: _Reversed.of(network))
    return network, backwards


def _times_to(backwards: _Reversed, target: Snap, origins: Snap, cutoff_min: float) -> np.ndarray:
    """Minutes from each origin (snapped on the forward network) to the one-point ``target``: one search from
    the target over the reversed network, ``inf`` beyond ``cutoff_min`` or where unsnapped.

    Column for column the arithmetic of ``catchment_matrix(reversed, reversed_snap(target),
    reversed_snap(origins), cutoff_min=…)`` (same sums in the same order, so the same floats), with the one
    source's virtual node appended to the cached CSR arrays rather than the whole graph rebuilt."""
    if not (math.isfinite(cutoff_min) and cutoff_min >= 0):
        raise ValueError(f"cutoff_min must be a finite number of minutes >= 0, got {cutoff_min!r}")
    out = np.full(len(origins), np.inf)
    source, targets = reversed_snap(target), reversed_snap(origins)
    tgt = np.flatnonzero(targets.snapped)
    if not len(tgt) or not source.snapped[0]:
        return out
    b = backwards
    n = len(b.indptr) - 1
    # the virtual source node n: to v at a + (1 − t)·T, and to u at a + t·T when the edge may be driven back
    e_s, t_s, a_s = int(source.edge[0]), source.t[:1], source.access_min[:1]
    T_s = b.time_min[[e_s]]
    cols, weights = [b.v[e_s]], [(a_s + (1 - t_s) * T_s)[0]]
    if b.two_way[e_s] or t_s[0] <= 0.0:
        cols.append(b.u[e_s])
        weights.append((a_s + t_s * T_s)[0])
    if len(cols) == 2 and cols[0] == cols[1]:  # a loop edge: the shorter (min_csr keeps the minimum)
        cols, weights = cols[:1], [min(weights)]
    weights = np.maximum(np.array(weights, dtype=float), MIN_WEIGHT_MIN)
    graph = sp.csr_matrix((np.concatenate([b.data, weights]), np.concatenate([b.indices, np.array(cols)]),
                           np.append(b.indptr, len(b.indices) + len(cols))), shape=(n + 1, n + 1))
    dist = dijkstra(graph, directed=True, indices=[n], limit=cutoff_min)[0, :n]
    # each origin hangs off the nodes of its edge: (u, t·T) and, where the edge may be driven so, (v, (1 − t)·T)
    e, t = targets.edge[tgt], targets.t[tgt]
    T = b.time_min[e]
    from_v = b.two_way[e] | (t >= 1.0)
    best = np.full(len(origins), np.inf)
    for nodes, offset, which in ((b.u[e], t * T, tgt), (b.v[e][from_v], ((1 - t) * T)[from_v], tgt[from_v])):
        d = dist[nodes]
        ok = d <= cutoff_min
        time_ = d[ok] + offset[ok]
        time_ += targets.access_min[which[ok]]
        keep = time_ <= cutoff_min
        np.minimum.at(best, which[ok][keep], np.maximum(time_[keep], MIN_WEIGHT_MIN))
    same = tgt[e == e_s]  # a direct trip along the shared edge
    if len(same):
        tt = targets.t[same]
        allowed = (tt >= t_s[0]) | b.two_way[e_s]
        time_ = source.access_min[0] + np.abs(tt - t_s[0]) * b.time_min[e_s]
        time_ = time_ + targets.access_min[same]
        keep = allowed & (time_ <= cutoff_min)
        np.minimum.at(best, same[keep], np.maximum(time_[keep], MIN_WEIGHT_MIN))
    reached = np.isfinite(best)
    out[reached] = best[reached]
    return out


def drive_minutes_to(region: Region, origins: gpd.GeoDataFrame, lon: float, lat: float, *, settings: Settings,
                     cutoff_min: float) -> np.ndarray:
    """Minutes' drive from each origin point to (``lon``, ``lat``) over the region's driving network, oneway
    streets honoured; ``inf`` beyond ``cutoff_min`` or where a point cannot be snapped. One search from the
    destination over the reversed network, cached per region version."""
    network, backwards = _reversed_for(region, settings)
    target_snap = snap_lonlat(network, lon, lat, settings=settings)
    if not len(origins) or not target_snap.snapped[0]:
        return np.full(len(origins), np.inf)
    return _times_to(backwards, target_snap, snap_points(network, origins, settings=settings), cutoff_min)


# ---------------------------------------------------------------- candidates


RATINGS_TTL_S = 300.0
"""Seconds the desk reuses the providers' ratings read from the order log (a month of follow-ups: minutes late is
nothing, while reading the whole log takes seconds on a large region: per call it would stall a peak of calls)."""
_LOG_RATINGS: dict[tuple[str, str, str, str], tuple[float, pd.DataFrame]] = {}
_LOG_RATINGS_LOCK = threading.Lock()
_LOG_RATINGS_REFRESH = threading.Lock()


RATINGS_RETRY_S = 10.0
"""After a failed refresh of the ratings, the previous ones are kept and the refresh is tried again after this."""


def _log_ratings(region: Region, settings: Settings, root: str | Path | None) -> pd.DataFrame:
    """:func:`desk.ratings.provider_ratings` of the region's whole order log, reused for :data:`RATINGS_TTL_S`.
    When they are due, one background thread reads them afresh while every call (the one that noticed included)
    goes on with the previous ones: no caller waits seconds for the whole log. Only the very first call of a
    region version waits for them."""
    key = (str(root), region.name, str(region.version), settings_digest(settings))
    with _LOG_RATINGS_LOCK:
        hit = _LOG_RATINGS.get(key)
    if hit is not None:
        if time.monotonic() - hit[0] >= RATINGS_TTL_S and _LOG_RATINGS_REFRESH.acquire(blocking=False):
            threading.Thread(target=_refresh_ratings, args=(key, region, settings, root, hit[1]), daemon=True,
                             name="desk-ratings-refresh").start()
        return hit[1]  # fresh, or due and being refreshed by one thread meanwhile
    with _LOG_RATINGS_REFRESH:
        with _LOG_RATINGS_LOCK:
            hit = _LOG_RATINGS.get(key)
        if hit is not None:  # another call read them meanwhile
            return hit[1]
        return _keep_ratings(key, _read_ratings(region, settings, root))


def _read_ratings(region: Region, settings: Settings, root: str | Path | None) -> pd.DataFrame:
    from desk.ratings import provider_ratings

    return provider_ratings(region, settings, root=root)


def _keep_ratings(key: tuple[str, str, str, str], table: pd.DataFrame, *, at: float | None = None) -> pd.DataFrame:
    with _LOG_RATINGS_LOCK:
        if len(_LOG_RATINGS) > 16:
            _LOG_RATINGS.clear()
        _LOG_RATINGS[key] = (time.monotonic() if at is None else at, table)
    return table


def _refresh_ratings(key: tuple[str, str, str, str], region: Region, settings: Settings, root: str | Path | None,
                     previous: pd.DataFrame) -> None:
    """The background refresh (holding :data:`_LOG_RATINGS_REFRESH`, released at the end); on a failure the
    previous ratings stay, tried again after :data:`RATINGS_RETRY_S`."""
    try:
        _keep_ratings(key, _read_ratings(region, settings, root))
    except Exception as exc:  # noqa: BLE001 - a thread of its own: logged, the desk goes on with the previous
        log.warning("refreshing the providers' ratings failed (the previous ones kept): %s: %s",
                    type(exc).__name__, exc)
        _keep_ratings(key, previous, at=time.monotonic() - RATINGS_TTL_S + RATINGS_RETRY_S)
    finally:
        _LOG_RATINGS_REFRESH.release()


def _ratings_for(orders: pd.DataFrame, providers: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    from desk.ratings import rate_providers

    return rate_providers(orders, None, settings, providers=providers)


def _score_map(ratings: pd.DataFrame) -> dict[str, tuple[float, int]]:
    return {str(r["provider_id"]): (float(r["score"]), int(r["followups"]))
            for r in ratings[["provider_id", "score", "followups"]].to_dict("records")} if len(ratings) else {}


_SCORES: dict[int, tuple[pd.DataFrame, int, dict[str, tuple[float, int]]]] = {}
_SCORES_LOCK = threading.Lock()


def _scores(ratings: pd.DataFrame, *, shared: bool) -> dict[str, tuple[float, int]]:
    """provider → (score, followups) of a ratings table; with ``shared`` (the log's ratings of
    :func:`_log_ratings`: one object, never changed, for :data:`RATINGS_TTL_S`) made once per table object."""
    if not shared:
        return _score_map(ratings)
    with _SCORES_LOCK:
        hit = _SCORES.get(id(ratings))
    if hit is not None and hit[0] is ratings and hit[1] == len(ratings):
        return hit[2]
    scores = _score_map(ratings)
    with _SCORES_LOCK:
        if len(_SCORES) > 16:
            _SCORES.clear()
        _SCORES[id(ratings)] = (ratings, len(ratings), scores)
    return scores


# ---------------------------------------------------------------- the roster (per region version)


@dataclass(frozen=True, eq=False)
class _Provider:
    pid: str
    name: str
    services: frozenset[str]
    hours: tuple[int, int] | None
    cap: float | None
    base: shapely.Geometry | None
    """Where its carers without a base of their own set out from (:func:`_origin`'s last two choices)."""


@dataclass(frozen=True, eq=False)
class _Carer:
    pid: str
    cid: str
    shift: tuple[float | None, float | None]
    skills: frozenset[str]
    level: float
    most: float | None
    base: shapely.Geometry | None
    """Its own base (住址), or None: its provider's then."""


class _Roster:
    """What candidates reads of a region's providers and carers, made once per (region version, settings, the
    facilities, carers and service-list tables themselves): the providers of ``settings.home_care_kinds`` in
    facilities order with their services, hours, capacity and base; the carers in table order with shift,
    skills, level, daily limit and base; the service list's rows by code and name; and the snaps of origin points
    on the drive network (a point's snap does not depend on the other points snapped with it).

    The cache is checked against the very table objects it was made from (a region with another facilities or
    carers table, even under the same version path, gets a fresh roster); the tables of a loaded region are never
    changed in place."""

    def __init__(self, region: Region, settings: Settings, sources: tuple[Any, Any, Any]) -> None:
        self.sources = sources
        facilities = region.facilities
        providers = facilities.iloc[home_care_positions(facilities, settings)]
        if isinstance(providers, gpd.GeoDataFrame) and providers.crs is not None and len(providers):
            providers = providers.to_crs(4326)
        self.providers_frame = providers
        self.providers: list[_Provider] = []
        for p in providers.to_dict("records"):
            self.providers.append(_Provider(
                _text(p.get("id")), _text(p.get("name")), frozenset(split_tags(p.get("services"))),
                parse_time_range(p.get("hours")), _number(p.get("capacity_orders_day")), _provider_base(p)))
        carers = _table(region, "carers")
        self.has_carers = not carers.empty
        self.carers: list[_Carer] = []
        for c in carers.to_dict("records") if len(carers) else []:
            shift = (_number(c.get("shift_start_min")), _number(c.get("shift_end_min")))
            if None in shift:
                parsed = parse_time_range(c.get("shift"))
                shift = parsed if parsed is not None else (None, None)
            self.carers.append(_Carer(
                _text(c.get("provider_id")), _text(c.get("id")), shift, frozenset(split_tags(c.get("skills"))),
                _number(c.get("skill_level")) or 0.0, _number(c.get("max_orders_day")), _carer_base(c)))
        items = _table(region, "service_items")
        self.items_frame = items
        self.has_items, self.by_code, self.by_name = _item_index(items)
        self.item_rows = items.to_dict("records") if self.has_items else []
        self._snaps: tuple[Network | None, dict[tuple[float, float], tuple[int, float, float, float]]] = (None, {})
        self._snaps_lock = threading.Lock()

    def item_positions(self, order: Mapping[str, Any]) -> list[int]:
        """Rows of the service list for the order's ``item_codes`` (:func:`order_items`' rules and errors)."""
        return _item_positions(self.has_items, self.by_code, self.by_name, order)

    def snap(self, network: Network, origins: list[shapely.Geometry | None], settings: Settings) -> Snap:
        """:func:`planning.network.snap_points` of the origins (WGS-84) on ``network``, each point snapped once
        (the same snap whatever else is snapped with it); a full memo is replaced, never emptied under a reader."""
        with self._snaps_lock:
            first = self._snaps[0] is not network or len(self._snaps[1]) > 200_000
            if first:
                self._snaps = (network, {})
            known = self._snaps[1]
        keys = [_point_key(g) for g in origins]
        bases = [_point_key(x.base) for x in (*self.carers, *self.providers)] if first else []
        todo = list(dict.fromkeys(k for k in (*keys, *bases) if k is not None and k not in known))  # bases: once
        fresh: dict[tuple[float, float], tuple[int, float, float, float]] = {}
        if todo:  # a few new points one by one (no frame); many (a first call) in one batch: the same snaps
            parts = [snap_lonlat(network, x, y, settings=settings) for x, y in todo] if len(todo) <= 8 else \
                [snap_points(network, gpd.GeoDataFrame(geometry=gpd.points_from_xy(
                    [x for x, _ in todo], [y for _, y in todo]), crs=4326), settings=settings)]
            snap = Snap(*(np.concatenate([getattr(part, f) for part in parts])
                          for f in ("edge", "t", "access_m", "access_min")))
            for k, key in enumerate(todo):
                fresh[key] = (int(snap.edge[k]), float(snap.t[k]), float(snap.access_m[k]), float(snap.access_min[k]))
            with self._snaps_lock:
                known.update(fresh)
        unsnapped = (-1, math.nan, math.nan, math.nan)
        rows = [unsnapped if k is None else fresh[k] if k in fresh else known[k] for k in keys]
        others = [i for i, k in enumerate(keys) if k is None and origins[i] is not None]
        if others:  # not points (a provider drawn as an area): snapped as snap_points does them
            other = snap_points(network, gpd.GeoDataFrame(
                geometry=gpd.GeoSeries([origins[i] for i in others], crs=4326), crs=4326), settings=settings)
            for j, i in enumerate(others):
                rows[i] = (int(other.edge[j]), float(other.t[j]), float(other.access_m[j]),
                           float(other.access_min[j]))
        if not rows:
            return Snap(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
        edge, t, access_m, access_min = (np.array(col) for col in zip(*rows, strict=True))
        return Snap(edge.astype(np.int64), t.astype(float), access_m.astype(float), access_min.astype(float))


def _point_key(geom: shapely.Geometry | None) -> tuple[float, float] | None:
    return (geom.x, geom.y) if isinstance(geom, shapely.Point) and not geom.is_empty else None


_ROSTERS: dict[tuple[str, str], _Roster] = {}
_ROSTERS_LOCK = threading.Lock()


def _roster(region: Region, settings: Settings) -> _Roster:
    layers = region.layers
    get = layers.get if hasattr(layers, "get") else (lambda _name: None)
    sources = (region.facilities, get("carers"), get("service_items"))
    key = (str(region.path), settings_digest(settings))
    with _ROSTERS_LOCK:
        hit = _ROSTERS.get(key)
    if hit is not None and all(a is b for a, b in zip(hit.sources, sources, strict=True)):
        return hit
    roster = _Roster(region, settings, sources)
    with _ROSTERS_LOCK:
        if len(_ROSTERS) >= 16:
            _ROSTERS.pop(next(iter(_ROSTERS)))
        _ROSTERS[key] = roster
    return roster


def _provider_base(provider: Mapping[str, Any]) -> shapely.Geometry | None:
    geom = provider.get("geometry")
    if geom is not None and not geom.is_empty:
        return geom  # providers were brought to EPSG:4326
    lon, lat = _number(provider.get("lon")), _number(provider.get("lat"))
    return shapely.Point(lon, lat) if lon is not None and lat is not None else None


def _carer_base(carer: Mapping[str, Any]) -> shapely.Geometry | None:
    lon, lat = _number(carer.get("lon")), _number(carer.get("lat"))
    if lon is not None and lat is not None:
        return shapely.Point(lon, lat)
    geom = carer.get("geometry")
    if isinstance(geom, shapely.Point) and not geom.is_empty:
        return geom  # a carers layer with points is in EPSG:4326, as every stored layer
    return None


def candidates(region: Region, order: Mapping[str, Any], settings: Settings, now: dt.datetime | None = None, *,
               orders: pd.DataFrame | None = None, ratings: pd.DataFrame | None = None,
               root: str | Path | None = None) -> Candidates:
    """Eligible providers and carers for ``order``, ranked (this module's rules).

    Parameters
    ----------
    region
        Facilities (providers: ``services``, ``hours``, ``capacity_orders_day``), the ``service_items`` and
        ``carers`` layers, elders (the order's point when it has none), areas, service areas and roads.
    order
        An order's fields (a row of :func:`desk.orders_db.current_orders` or :func:`desk.orders_db.get_order`).
    now
        Unused for eligibility (the window decides); kept so callers pass the desk's clock explicitly.
    orders
        The region's current orders (busy carers, today's counts, previous jobs, ratings); read from the order
        log of ``root`` when None (only the active orders and that day's, :func:`desk.orders_db.day_book_rows`).
    ratings
        :func:`desk.ratings.rate_providers` output (``provider_id``, ``score``, ``followups``); computed from
        ``orders`` when None.

    What a call derives from the region's providers, carers and service list is made once per region version
    (:class:`_Roster`); a call does the per-order work only.
    """
    del now
    shared = False  # ratings of the log's cache (never changed in place) or the caller's
    order_id = _text(order.get("id"))
    start, end = _window(order)
    day = start.date()
    if orders is None:  # the orders that can hold a carer in this window or count that day: not the history
        book = _Book.of_rows(orders_db.day_book_rows(region.name, day, root=root), day, order_id)
        if ratings is None:
            ratings, shared = _log_ratings(region, settings, root), True
    else:
        book = _Book(orders, day, order_id)
    roster = _roster(region, settings)
    item_rows = [roster.item_rows[i] for i in roster.item_positions(order)]
    notes: list[str] = []
    excluded: list[dict[str, Any]] = []
    if ratings is None:
        ratings = _ratings_for(orders, roster.providers_frame, settings)
    point = _order_point(region, order)
    empty = Candidates(pd.DataFrame(columns=list(RANK_COLUMNS)), pd.DataFrame(columns=list(EXCLUDED_COLUMNS)),
                       notes)
    if point is None:
        notes.append("工单没有服务地址坐标，老人编号也不在老年人图层中，无法判断服务范围和车程")
        return empty
    if not roster.providers:
        notes.append("本地区没有居家上门服务商")
        return empty
    serving = serving_point(region, point[0], point[1], settings=settings)
    notes += list(serving.attrs.get("notes", []))
    serving_ids = set(serving["id"].astype(str))
    start_min = start.hour * 60 + start.minute
    end_min = start_min + (end - start).total_seconds() / 60.0
    item_tags = [({_text(it.get("service_tag")), _text(it.get("name")), _text(it.get("code"))} - {""},
                  _item_label(it)) for it in item_rows]
    ok_providers: dict[str, _Provider] = {}
    for p in roster.providers:
        pid = p.pid
        missing = [label for tags, label in item_tags if not tags & p.services]
        reasons = []
        if missing:
            reasons.append(f"未提供服务项目 {'、'.join(missing)}")
        if pid not in serving_ids:
            reasons.append("服务范围不含此地址")
        hours = p.hours
        if hours is not None and not (hours[0] <= start_min and end_min <= hours[1]):
            reasons.append(f"预约时段不在营业时间 {_clock(hours[0])}–{_clock(hours[1])} 内")
        cap = p.cap
        taken = book.provider_day.get(pid, 0)
        if cap is not None and taken >= cap:
            reasons.append(f"当天已接 {taken} 单，达到日接单上限 {cap:g} 单")
        if reasons:
            excluded.append({"provider_id": pid, "provider_name": p.name, "carer_id": "", "reason": "；".join(reasons)})
        else:
            ok_providers[pid] = p
    if not roster.has_carers:
        notes.append("本地区还没有服务人员名单，无法派单到人")
    rows: list[dict[str, Any]] = []
    origins: list[shapely.Geometry | None] = []
    need_skills = [(_text(it.get("skill")), _number(it.get("min_skill_level")) or 0.0, _item_label(it))
                   for it in item_rows]
    need_level = max((lv for _, lv, _ in need_skills), default=0.0)
    for c in roster.carers:
        pid = c.pid
        p = ok_providers.get(pid)
        if p is None:
            continue
        cid = c.cid
        reasons = []
        shift = c.shift
        if None not in shift and not (shift[0] <= start_min and end_min <= shift[1]):
            reasons.append(f"预约时段不在其工作时间 {_clock(shift[0])}–{_clock(shift[1])} 内")
        clash = [(a, b, oid) for a, b, oid in book.active.get(cid, ()) if a < end and start < b]
        if clash:
            a, b, oid = min(clash)
            reasons.append(f"{orders_db.window_span_zh(a, b, day=day)} 已有工单 {oid}")
        lacking = [label if label.startswith(skill + "（") else f"{skill}（{label}）"
                   for skill, _, label in need_skills if skill and skill not in c.skills]
        if lacking:
            reasons.append(f"缺少技能 {'、'.join(lacking)}")
        if c.level < need_level:
            reasons.append(f"技能等级 {c.level:g} 低于服务项目要求的 {need_level:g} 级")
        today = book.carer_day.get(cid, [])
        most = c.most
        if most is not None and len(today) >= most:
            reasons.append(f"当天已接 {len(today)} 单，达到日接单上限 {most:g} 单")
        if reasons:
            excluded.append({"provider_id": pid, "provider_name": p.name, "carer_id": cid,
                             "reason": "；".join(reasons)})
            continue
        origin, where = _origin(today, start, c, p)
        origins.append(origin)
        rows.append({"provider_id": pid, "provider_name": p.name, "carer_id": cid, "origin": where,
                     "orders_today": len(today), "max_orders_day": most})
    minutes = np.zeros(0)
    if rows:
        network, backwards = _reversed_for(region, settings)
        target = snap_lonlat(network, point[0], point[1], settings=settings)
        minutes = np.full(len(rows), np.inf)
        if target.snapped[0]:
            minutes = _times_to(backwards, target, roster.snap(network, origins, settings),
                                settings.desk_max_drive_min)
    scores = _scores(ratings, shared=shared)
    kept = []
    for row, t in zip(rows, minutes, strict=True):
        if not np.isfinite(t):
            excluded.append({**{k: row[k] for k in ("provider_id", "provider_name", "carer_id")},
                             "reason": f"从{row['origin']}驾车 {settings.desk_max_drive_min:g} 分钟内到不了"
                                       "（或离可驾车道路太远）"})
            continue
        score, followups = scores.get(row["provider_id"], (float("nan"), 0))
        most = row["max_orders_day"]
        load = min(1.0, row["orders_today"] / most) if most else 0.0
        cost = (float(t) + settings.desk_rank_minutes_per_point * (5.0 - (score if np.isfinite(score) else 0.0))
                + settings.desk_rank_minutes_full_load * load)
        reason = f"车程 {max(1, round(float(t)))} 分钟" + ("（从上一单地点出发）" if row["origin"] == "上一单地点" else "")
        reason += f"；评分 {score:.1f}（{followups} 次回访）" if np.isfinite(score) else "；暂无评分"
        reason += f"；今日已接 {row['orders_today']} 单"
        kept.append({**row, "drive_min": float(t), "score": score, "followups": followups, "load": load,
                     "cost": cost, "reason": reason})
    # best first: cost, then higher rating (none counts as −1), lower load, shorter drive, carer id (a stable sort)
    kept.sort(key=lambda r: (r["cost"], -(-1.0 if math.isnan(r["score"]) else r["score"]), r["load"],
                             r["drive_min"], r["carer_id"]))
    ranked = pd.DataFrame(kept, columns=[c for c in RANK_COLUMNS if c != "rank"])
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    if not len(ranked):
        notes.append("没有符合条件的服务商和护理员，请查看未入选原因")
    log.info("dispatch candidates for an order: %d ranked, %d left out", len(ranked), len(excluded))
    return Candidates(ranked, pd.DataFrame(excluded, columns=list(EXCLUDED_COLUMNS)), notes)


class _Book:
    """The day's orders as plain lookups (one pass over the order table, then dict reads per carer):

    - ``active``: carer → [(window start, window end, order id)] of its active orders (any day), this order left out;
    - ``carer_day``: carer → [(window end, lon, lat)] of its orders that day holding it (active or done);
    - ``provider_day``: provider → number of its orders that day (active or done).
    """

    def __init__(self, orders: pd.DataFrame | None, day: dt.date, order_id: str) -> None:
        self.active: dict[str, list[tuple[dt.datetime, dt.datetime, str]]] = {}
        self.carer_day: dict[str, list[tuple[dt.datetime, float, float]]] = {}
        self.provider_day: dict[str, int] = {}
        if orders is None or not len(orders):
            return
        ids = orders["id"].astype(str).to_numpy()
        status = orders["status"].astype(str).to_numpy()
        mine = ids != order_id
        starts = pd.to_datetime(orders["window_start"]).to_numpy()
        ends = pd.to_datetime(orders["window_end"]).to_numpy()
        holding = np.isin(status, ACTIVE_STATES + DONE_STATES) & mine
        active = np.isin(status, ACTIVE_STATES) & mine
        today = holding & (starts.astype("datetime64[D]") == np.datetime64(day, "D"))
        carer = orders["carer_id"].astype(object).to_numpy()
        provider = orders["provider_id"].astype(object).to_numpy()
        lon = pd.to_numeric(orders["lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(orders["lat"], errors="coerce").to_numpy(dtype=float)
        for i in np.flatnonzero(active):
            if not _missing(carer[i]):
                self.active.setdefault(str(carer[i]), []).append(
                    (pd.Timestamp(starts[i]).to_pydatetime(), pd.Timestamp(ends[i]).to_pydatetime(), str(ids[i])))
        for i in np.flatnonzero(today):
            if not _missing(carer[i]):
                self.carer_day.setdefault(str(carer[i]), []).append(
                    (pd.Timestamp(ends[i]).to_pydatetime(), float(lon[i]), float(lat[i])))
            if not _missing(provider[i]):
                self.provider_day[str(provider[i])] = self.provider_day.get(str(provider[i]), 0) + 1

    @classmethod
    def of_rows(cls, rows: list[tuple[Any, ...]], day: dt.date, order_id: str) -> _Book:
        """The same lookups from :func:`desk.orders_db.day_book_rows` (plain tuples: no frame per call)."""
        book = cls(None, day, order_id)
        holding, active_states = set(ACTIVE_STATES + DONE_STATES), set(ACTIVE_STATES)
        active, carer_day, provider_day = book.active, book.carer_day, book.provider_day
        for oid, status, start, end, provider, carer, lon, lat in rows:
            oid = oid if type(oid) is str else str(oid)
            if oid == order_id or str(status) not in holding:
                continue
            carer = None if _missing(carer) else carer if type(carer) is str else str(carer)
            if carer is not None and status in active_states:
                active.setdefault(carer, []).append((start, end, oid))
            if start.date() == day:
                if carer is not None:
                    carer_day.setdefault(carer, []).append((end, float(lon), float(lat)))
                if not _missing(provider):
                    provider = provider if type(provider) is str else str(provider)
                    provider_day[provider] = provider_day.get(provider, 0) + 1
        return book


def _origin(today: list[tuple[dt.datetime, float, float]], start: dt.datetime, carer: _Carer,
            provider: _Provider) -> tuple[shapely.Geometry | None, str]:
    """Where the carer sets out from: the place of its previous order that day ending by ``start`` (when it has a
    point), else its base, else the provider's base (WGS-84)."""
    before = [(end, lon, lat) for end, lon, lat in today if end <= start and np.isfinite(lon) and np.isfinite(lat)]
    if before:
        _, lon, lat = max(before)
        return shapely.Point(lon, lat), "上一单地点"
    if carer.base is not None:
        return carer.base, "住址"
    return provider.base, "服务商驻地"


# ---------------------------------------------------------------- queue


def queue_of(orders: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``orders`` waiting for dispatch (待派单): 紧急 first, then by window start, then creation time
    and id."""
    waiting = orders[orders["status"] == "待派单"].copy()
    waiting["_urgent"] = waiting["urgency"] != "紧急"
    waiting = waiting.sort_values(["_urgent", "window_start", "created_at", "id"], kind="stable")
    return waiting.drop(columns="_urgent").reset_index(drop=True)


def queue(region: str, *, root: str | Path | None = None) -> pd.DataFrame:
    """The orders of a region waiting for dispatch (:func:`queue_of` of the order log)."""
    return queue_of(orders_db.current_orders(region, root=root, status=["待派单"]))


__all__ = [
    "Candidates",
    "EXCLUDED_COLUMNS",
    "QUEUE_COLUMNS_ZH",
    "RANK_COLUMNS",
    "candidates",
    "drive_minutes_to",
    "order_items",
    "parse_time_range",
    "queue",
    "queue_of",
    "reversed_network",
    "reversed_snap",
]
