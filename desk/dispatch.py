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
All carers are timed with one search from the elder's point over the reversed network
(:func:`planning.catchments.catchment_matrix`; the same times as searching from each carer). The order of
candidates is by a cost in minutes::

    cost = drive_min + desk_rank_minutes_per_point × (5 − rating score) + desk_rank_minutes_full_load × load

where the rating score (0–5) is :func:`desk.ratings.rate_providers`' and ``load`` is the carer's orders that day
over its ``max_orders_day`` (capped at 1): nearer first, but a provider rated one point higher wins against a
carer up to ``desk_rank_minutes_per_point`` minutes nearer (重点推荐、优先派单 of seed 004). Ties: higher rating,
lower load, shorter drive, carer id. Each candidate carries a plain Chinese reason ("车程 7 分钟；评分 4.6（32 次
回访）；今日已接 2 单"); providers and carers left out carry why.

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
import shapely

from data.store import Region
from desk import orders_db
from desk.errors import DeskError
from desk.orders_db import ACTIVE_STATES, DONE_STATES, split_tags, to_time
from geo.settings import Settings
from planning.catchments import catchment_matrix
from planning.coverage import network_for, remember_per_version, routing_settings
from planning.home_care import home_care_positions, serving_point
from planning.network import Network, Snap, snap_points

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
_REVERSED: dict[tuple[str, Settings], Network] = {}


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


def order_items(region: Region, order: Mapping[str, Any]) -> pd.DataFrame:
    """The service-list rows (``service_items`` layer) of an order's ``item_codes``, in the order's order; codes
    or names; a Chinese error naming those not in the list."""
    items = _table(region, "service_items")
    codes = split_tags(order.get("item_codes"))
    if not codes:
        raise DeskError(f"工单 {order.get('id')} 没有服务项目", f"order {order.get('id')}: no items")
    if items.empty or "code" not in items:
        raise DeskError("本地区还没有服务清单（服务项目），请先导入服务清单", "no service_items layer")
    by_code = {str(c): i for i, c in enumerate(items["code"].astype(str))}
    by_name = {str(n): i for i, n in enumerate(items["name"].astype(str))} if "name" in items else {}
    rows, unknown = [], []
    for code in codes:
        pos = by_code.get(code, by_name.get(code))
        (unknown.append(code) if pos is None else rows.append(pos))
    if unknown:
        raise DeskError(f"服务项目 {'、'.join(unknown)} 不在服务清单中", f"unknown items {unknown}")
    return items.iloc[list(dict.fromkeys(rows))].reset_index(drop=True)


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


def drive_minutes_to(region: Region, origins: gpd.GeoDataFrame, lon: float, lat: float, *, settings: Settings,
                     cutoff_min: float) -> np.ndarray:
    """Minutes' drive from each origin point to (``lon``, ``lat``) over the region's driving network, oneway
    streets honoured; ``inf`` beyond ``cutoff_min`` or where a point cannot be snapped. One search from the
    destination over the reversed network, cached per region version."""
    network = network_for(region, "drive", settings)
    backwards = remember_per_version(_REVERSED, (str(region.path), routing_settings(settings)),
                                     lambda: reversed_network(network))
    target = gpd.GeoDataFrame(geometry=gpd.points_from_xy([lon], [lat]), crs=4326)
    target_snap = snap_points(network, target, settings=settings)
    out = np.full(len(origins), np.inf)
    if not len(origins) or not target_snap.snapped[0]:
        return out
    origin_snap = snap_points(network, origins, settings=settings)
    matrix = catchment_matrix(backwards, reversed_snap(target_snap), reversed_snap(origin_snap),
                              cutoff_min=cutoff_min)
    row = matrix.toarray()[0]
    reached = row > 0
    out[reached] = row[reached]
    return out


# ---------------------------------------------------------------- candidates


RATINGS_TTL_S = 300.0
"""Seconds the desk reuses the providers' ratings read from the order log (a month of follow-ups: minutes late is
nothing, while reading the whole log takes seconds on a large region: per call it would stall a peak of calls)."""
_LOG_RATINGS: dict[tuple[str, str, str, str], tuple[float, pd.DataFrame]] = {}
_LOG_RATINGS_LOCK = threading.Lock()
_LOG_RATINGS_REFRESH = threading.Lock()


def _log_ratings(region: Region, settings: Settings, root: str | Path | None) -> pd.DataFrame:
    """:func:`desk.ratings.provider_ratings` of the region's whole order log, reused for :data:`RATINGS_TTL_S`;
    one thread refreshes them when they are due while the others go on with the previous ones."""
    from desk.ratings import provider_ratings
    from geo.settings import settings_digest

    key = (str(root), region.name, str(region.version), settings_digest(settings))
    with _LOG_RATINGS_LOCK:
        hit = _LOG_RATINGS.get(key)
    if hit is not None and time.monotonic() - hit[0] < RATINGS_TTL_S:
        return hit[1]
    if not _LOG_RATINGS_REFRESH.acquire(blocking=hit is None):
        return hit[1]  # another operator is refreshing them: the previous ratings meanwhile
    try:
        with _LOG_RATINGS_LOCK:
            hit = _LOG_RATINGS.get(key)
        if hit is not None and time.monotonic() - hit[0] < RATINGS_TTL_S:
            return hit[1]
        table = provider_ratings(region, settings, root=root)
        with _LOG_RATINGS_LOCK:
            if len(_LOG_RATINGS) > 16:
                _LOG_RATINGS.clear()
            _LOG_RATINGS[key] = (time.monotonic(), table)
        return table
    finally:
        _LOG_RATINGS_REFRESH.release()


def _ratings_for(orders: pd.DataFrame, providers: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    from desk.ratings import rate_providers

    return rate_providers(orders, None, settings, providers=providers)


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
        log of ``root`` when None.
    ratings
        :func:`desk.ratings.rate_providers` output (``provider_id``, ``score``, ``followups``); computed from
        ``orders`` when None.
    """
    del now
    order_id = _text(order.get("id"))
    start, end = _window(order)
    if orders is None:  # the orders that can hold a carer in this window or count that day: not the history
        orders = orders_db.current_orders(region.name, root=root, day=start.date())
        if ratings is None:
            ratings = _log_ratings(region, settings, root)
    items = order_items(region, order)
    notes: list[str] = []
    excluded: list[dict[str, Any]] = []
    facilities = region.facilities
    providers = facilities.iloc[home_care_positions(facilities, settings)]
    if isinstance(providers, gpd.GeoDataFrame) and providers.crs is not None and len(providers):
        providers = providers.to_crs(4326)
    if ratings is None:
        ratings = _ratings_for(orders, providers, settings)
    point = _order_point(region, order)
    empty = Candidates(pd.DataFrame(columns=list(RANK_COLUMNS)), pd.DataFrame(columns=list(EXCLUDED_COLUMNS)),
                       notes)
    if point is None:
        notes.append("工单没有服务地址坐标，老人编号也不在老年人图层中，无法判断服务范围和车程")
        return empty
    if providers.empty:
        notes.append("本地区没有居家上门服务商")
        return empty
    serving = serving_point(region, point[0], point[1], settings=settings)
    notes += list(serving.attrs.get("notes", []))
    serving_ids = set(serving["id"].astype(str))
    day = start.date()
    book = _Book(orders, day, order_id)
    start_min = start.hour * 60 + start.minute
    end_min = start_min + (end - start).total_seconds() / 60.0
    item_rows = items.to_dict("records")
    ok_providers: dict[str, dict[str, Any]] = {}
    for p in providers.to_dict("records"):
        pid, pname = _text(p.get("id")), _text(p.get("name"))
        services = set(split_tags(p.get("services")))
        missing = [_item_label(it) for it in item_rows
                   if not ({_text(it.get("service_tag")), _text(it.get("name")), _text(it.get("code"))} - {""})
                   & services]
        reasons = []
        if missing:
            reasons.append(f"未提供服务项目 {'、'.join(missing)}")
        if pid not in serving_ids:
            reasons.append("服务范围不含此地址")
        hours = parse_time_range(p.get("hours"))
        if hours is not None and not (hours[0] <= start_min and end_min <= hours[1]):
            reasons.append(f"预约时段不在营业时间 {_clock(hours[0])}–{_clock(hours[1])} 内")
        cap = _number(p.get("capacity_orders_day"))
        taken = book.provider_day.get(pid, 0)
        if cap is not None and taken >= cap:
            reasons.append(f"当天已接 {taken} 单，达到日接单上限 {cap:g} 单")
        if reasons:
            excluded.append({"provider_id": pid, "provider_name": pname, "carer_id": "", "reason": "；".join(reasons)})
        else:
            ok_providers[pid] = p
    carers = _table(region, "carers")
    if carers.empty:
        notes.append("本地区还没有服务人员名单，无法派单到人")
    rows: list[dict[str, Any]] = []
    origins: list[shapely.Point | None] = []
    need_skills = [(_text(it.get("skill")), _number(it.get("min_skill_level")) or 0.0, _item_label(it))
                   for it in item_rows]
    need_level = max((lv for _, lv, _ in need_skills), default=0.0)
    for c in carers.to_dict("records") if len(carers) else []:
        pid = _text(c.get("provider_id"))
        if pid not in ok_providers:
            continue
        p = ok_providers[pid]
        cid = _text(c.get("id"))
        reasons = []
        shift = (_number(c.get("shift_start_min")), _number(c.get("shift_end_min")))
        if None in shift:
            parsed = parse_time_range(c.get("shift"))
            shift = parsed if parsed is not None else (None, None)
        if None not in shift and not (shift[0] <= start_min and end_min <= shift[1]):
            reasons.append(f"预约时段不在其工作时间 {_clock(shift[0])}–{_clock(shift[1])} 内")
        clash = [(a, b, oid) for a, b, oid in book.active.get(cid, ()) if a < end and start < b]
        if clash:
            a, b, oid = min(clash)
            reasons.append(f"{orders_db.window_span_zh(a, b, day=day)} 已有工单 {oid}")
        skills = set(split_tags(c.get("skills")))
        level = _number(c.get("skill_level")) or 0.0
        lacking = [label if label.startswith(skill + "（") else f"{skill}（{label}）"
                   for skill, _, label in need_skills if skill and skill not in skills]
        if lacking:
            reasons.append(f"缺少技能 {'、'.join(lacking)}")
        if level < need_level:
            reasons.append(f"技能等级 {level:g} 低于服务项目要求的 {need_level:g} 级")
        today = book.carer_day.get(cid, [])
        most = _number(c.get("max_orders_day"))
        if most is not None and len(today) >= most:
            reasons.append(f"当天已接 {len(today)} 单，达到日接单上限 {most:g} 单")
        if reasons:
            excluded.append({"provider_id": pid, "provider_name": _text(p.get("name")), "carer_id": cid,
                             "reason": "；".join(reasons)})
            continue
        origin, where = _origin(today, start, c, p)
        origins.append(origin)
        rows.append({"provider_id": pid, "provider_name": _text(p.get("name")), "carer_id": cid, "origin": where,
                     "orders_today": len(today), "max_orders_day": most})
    if rows:
        geoms = gpd.GeoDataFrame(geometry=gpd.GeoSeries(origins, crs=4326), crs=4326)
        minutes = drive_minutes_to(region, geoms, point[0], point[1], settings=settings,
                                   cutoff_min=settings.desk_max_drive_min)
    else:
        minutes = np.zeros(0)
    scores = {str(r["provider_id"]): (float(r["score"]), int(r["followups"]))
              for r in ratings[["provider_id", "score", "followups"]].to_dict("records")} if len(ratings) else {}
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
    ranked = pd.DataFrame(kept, columns=[c for c in RANK_COLUMNS if c != "rank"])
    if len(ranked):
        ranked = ranked.assign(_neg=-ranked["score"].fillna(-1.0)).sort_values(
            ["cost", "_neg", "load", "drive_min", "carer_id"], kind="stable").drop(columns="_neg")
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    ranked = ranked.reset_index(drop=True)
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

    def __init__(self, orders: pd.DataFrame, day: dt.date, order_id: str) -> None:
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


def _origin(today: list[tuple[dt.datetime, float, float]], start: dt.datetime, carer: Mapping[str, Any],
            provider: Mapping[str, Any]) -> tuple[shapely.Point | None, str]:
    """Where the carer sets out from: the place of its previous order that day ending by ``start`` (when it has a
    point), else its base, else the provider's base (WGS-84)."""
    before = [(end, lon, lat) for end, lon, lat in today if end <= start and np.isfinite(lon) and np.isfinite(lat)]
    if before:
        _, lon, lat = max(before)
        return shapely.Point(lon, lat), "上一单地点"
    lon, lat = _number(carer.get("lon")), _number(carer.get("lat"))
    if lon is not None and lat is not None:
        return shapely.Point(lon, lat), "住址"
    geom = carer.get("geometry")
    if isinstance(geom, shapely.Point) and not geom.is_empty:
        return geom, "住址"  # a carers layer with points is in EPSG:4326, as every stored layer
    geom = provider.get("geometry")
    if geom is not None and not geom.is_empty:
        return geom, "服务商驻地"  # providers were brought to EPSG:4326 above
    lon, lat = _number(provider.get("lon")), _number(provider.get("lat"))
    return (shapely.Point(lon, lat), "服务商驻地") if lon is not None and lat is not None else (None, "服务商驻地")


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
