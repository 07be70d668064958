"""Provider ratings (服务评价、质量回访): who to recommend first (重点推荐、优先派单) and who is last (末位淘汰).

Per home-care provider, from its orders (:func:`desk.orders_db.current_orders`) and the order log's events
(:func:`desk.orders_db.all_events`):

- ``orders`` — distinct orders ever dispatched to it (派单 or imported with it; orders refused, timed out or not
  served count too, from the events);
- ``followups`` and ``satisfaction_mean`` — its orders with a follow-up satisfaction (1–5), and their mean;
- ``complaints`` — its orders with a complaint, out of ``complaint_base`` (its orders with a follow-up outcome:
  a satisfaction or a complaint flag);
- ``on_time_rate`` out of ``on_time_base`` verdicts: an order started counts on time when ``started_at ≤
  window_end``; one accepted and not started yet when it was accepted within ``settings.desk_accept_timeout_min``
  of its dispatch; each 超时 (not accepted in time) and 未上门 (no-show) event of the provider counts late.

The three rates are smoothed towards the region's rates (a Bayesian average with a prior of
``k = settings.desk_prior_orders`` orders), so that a provider with two good follow-ups does not outrank one with
fifty::

    satisfaction  s̃ = (k·S₀ + Σ satisfaction) / (k + followups)        S₀ = region mean (4 when none)
    on time       õ = (k·O₀ + on-time verdicts) / (k + on_time_base)   O₀ = region rate (1 when none)
    complaints    c̃ = (k·C₀ + complaints) / (k + complaint_base)       C₀ = region rate (0 when none)
    score = 5 × (w_s·(s̃ − 1)/4 + w_o·õ + w_c·(1 − c̃)) / (w_s + w_o + w_c)

with the weights ``settings.desk_rating_weight_satisfaction``, ``…_on_time`` and ``…_complaints``. The score is
0–5 (5: every follow-up 5, always on time, never a complaint). ``rank`` 1 is the best (ties: more orders, then
id). ``bottom`` (末位淘汰) flags the lowest ``settings.desk_bottom_share`` (rounded up) of the providers with at
least ``settings.desk_bottom_min_orders`` orders, when there are at least two of them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data import store
from data.store import Region
from desk import orders_db
from geo.errors import ElderMapError
from geo.settings import Settings, settings_digest
from planning.home_care import home_care_positions

log = logging.getLogger(__name__)

RATING_COLUMNS: tuple[str, ...] = (
    "provider_id", "provider_name", "score", "satisfaction_mean", "followups", "on_time_rate", "on_time_base",
    "complaints", "complaint_base", "orders", "rank", "bottom")
"""Columns of :func:`rate_providers`."""
RATING_COLUMNS_ZH: dict[str, str] = {
    "provider_id": "服务商编号", "provider_name": "服务商名称", "score": "综合评分(0–5)",
    "satisfaction_mean": "平均满意度(1–5)", "followups": "回访数", "on_time_rate": "准时率",
    "on_time_base": "准时统计单数", "complaints": "投诉数", "complaint_base": "投诉统计单数",
    "orders": "派单数", "rank": "排名", "bottom": "末位"}
PRIOR_SATISFACTION = 4.0
"""S₀ when the region has no follow-up yet."""
LATE_EVENTS: tuple[str, ...] = ("超时", "未上门")


def _counts(ids: pd.Series, mask: np.ndarray | pd.Series) -> pd.Series:
    return ids[np.asarray(mask, dtype=bool)].value_counts()


def rate_providers(orders: pd.DataFrame, events: pd.DataFrame | None, settings: Settings, *,
                   providers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ratings of providers (this module's rules) from orders and, when given, the order log's events.

    Parameters
    ----------
    orders
        Current orders (:data:`desk.orders_db.ORDER_COLUMNS`).
    events
        Events (:data:`desk.orders_db.EVENT_COLUMNS`); None: only the current orders (refusals, timeouts and
        no-shows are then not known).
    providers
        Providers to rate (``id``, ``name``): every one gets a row, those without orders the prior's score.
        None: the providers named in ``orders``.

    Returns
    -------
    DataFrame of :data:`RATING_COLUMNS`, by rank.
    """
    k = float(settings.desk_prior_orders)
    timeout = pd.Timedelta(minutes=settings.desk_accept_timeout_min)
    o = orders[orders["provider_id"].notna()] if len(orders) else orders
    pid = o["provider_id"].astype(str) if len(o) else pd.Series([], dtype=object)
    sat = pd.to_numeric(o["satisfaction"], errors="coerce") if len(o) else pd.Series([], dtype=float)
    complaint = o["complaint"].astype("boolean") if len(o) else pd.Series([], dtype="boolean")
    has_sat = sat.notna().to_numpy()
    complained = complaint.fillna(False).to_numpy(dtype=bool)
    judged_c = has_sat | complaint.notna().to_numpy()
    started = pd.to_datetime(o["started_at"]) if len(o) else pd.Series([], dtype="datetime64[ns]")
    accepted = pd.to_datetime(o["accepted_at"]) if len(o) else pd.Series([], dtype="datetime64[ns]")
    dispatched = pd.to_datetime(o["dispatched_at"]) if len(o) else pd.Series([], dtype="datetime64[ns]")
    window_end = pd.to_datetime(o["window_end"]) if len(o) else pd.Series([], dtype="datetime64[ns]")
    has_start = started.notna().to_numpy()
    start_ok = (started <= window_end).to_numpy() & has_start
    waiting = accepted.notna().to_numpy() & ~has_start & dispatched.notna().to_numpy()
    accept_ok = ((accepted - dispatched) <= timeout).to_numpy() & waiting
    verdict = has_start | waiting
    on_time = start_ok | accept_ok

    sat_sum = pd.Series(sat.to_numpy()[has_sat], index=pid[has_sat].to_numpy()).groupby(level=0).sum() \
        if has_sat.any() else pd.Series(dtype=float)
    followups = _counts(pid, has_sat)
    complaints = _counts(pid, complained)
    complaint_base = _counts(pid, judged_c)
    on_time_n = _counts(pid, on_time)
    verdicts = _counts(pid, verdict)
    dispatched_orders: dict[str, set[str]] = {}
    for p, oid in zip(pid, o["id"].astype(str) if len(o) else [], strict=True):
        dispatched_orders.setdefault(p, set()).add(oid)
    late_events = pd.Series(dtype="int64")
    if events is not None and len(events):
        with_p = events[events["provider_id"].notna()]
        for p, oid in zip(with_p["provider_id"].astype(str), with_p["order_id"].astype(str), strict=True):
            dispatched_orders.setdefault(p, set()).add(oid)
        late = with_p[with_p["event"].isin(LATE_EVENTS)]
        late_events = late["provider_id"].astype(str).value_counts()

    if providers is not None and len(providers):
        ids = providers["id"].astype(str).tolist()
        names = dict(zip(ids, providers["name"].astype(str) if "name" in providers else ids, strict=True))
    else:
        ids = sorted(set(pid) | set(dispatched_orders))
        names = {i: i for i in ids}
    total_f = float(followups.sum())
    s0 = float(sat_sum.sum()) / total_f if total_f else PRIOR_SATISFACTION
    total_v = float(verdicts.sum() + late_events.sum())
    o0 = float(on_time_n.sum()) / total_v if total_v else 1.0
    total_c = float(complaint_base.sum())
    c0 = float(complaints.sum()) / total_c if total_c else 0.0
    ws, wo, wc = (settings.desk_rating_weight_satisfaction, settings.desk_rating_weight_on_time,
                  settings.desk_rating_weight_complaints)
    rows = []
    for p in ids:
        nf = int(followups.get(p, 0))
        ssum = float(sat_sum.get(p, 0.0))
        nv = int(verdicts.get(p, 0)) + int(late_events.get(p, 0))
        non = int(on_time_n.get(p, 0))
        nc = int(complaint_base.get(p, 0))
        ncomp = int(complaints.get(p, 0))
        s_s = (k * s0 + ssum) / (k + nf) if k + nf else s0
        o_s = (k * o0 + non) / (k + nv) if k + nv else o0
        c_s = (k * c0 + ncomp) / (k + nc) if k + nc else c0
        score = 5.0 * (ws * (s_s - 1.0) / 4.0 + wo * o_s + wc * (1.0 - c_s)) / (ws + wo + wc)
        rows.append({"provider_id": p, "provider_name": names.get(p, p), "score": score,
                     "satisfaction_mean": ssum / nf if nf else np.nan, "followups": nf,
                     "on_time_rate": non / nv if nv else np.nan, "on_time_base": nv, "complaints": ncomp,
                     "complaint_base": nc, "orders": len(dispatched_orders.get(p, ()))})
    table = pd.DataFrame(rows, columns=[c for c in RATING_COLUMNS if c not in ("rank", "bottom")])
    table = table.assign(_neg_score=-table["score"], _neg_orders=-table["orders"]).sort_values(
        ["_neg_score", "_neg_orders", "provider_id"], kind="stable").drop(columns=["_neg_score", "_neg_orders"])
    table["rank"] = np.arange(1, len(table) + 1)
    table["bottom"] = False
    eligible = table[table["orders"] >= settings.desk_bottom_min_orders]
    if len(eligible) >= 2 and settings.desk_bottom_share > 0:
        n_bottom = math.ceil(settings.desk_bottom_share * len(eligible) - 1e-9)
        table.loc[eligible.index[len(eligible) - n_bottom:], "bottom"] = True
    return table.reset_index(drop=True)


def provider_ratings(region: Region, settings: Settings, *, root: str | Path | None = None) -> pd.DataFrame:
    """:func:`rate_providers` of every home-care provider of ``region``, from the region's order log (``root``:
    the store, as in :mod:`data.store`)."""
    facilities = region.facilities
    providers = facilities.iloc[home_care_positions(facilities, settings)]
    orders = orders_db.current_orders(region.name, root=root)
    events = orders_db.all_events(region.name, root=root)
    return rate_providers(orders, events, settings, providers=providers)


# ---------------------------------------------------------------- providers' ratings for the public

PUBLIC_RATING_COLUMNS: tuple[str, ...] = ("provider_id", "score", "followups")
"""Columns of :attr:`PublicRatings.table`: aggregates per provider, never an order or an elder."""


@dataclass(frozen=True)
class PublicRatings:
    """Providers' service ratings as the public page and the API use them.

    ``table``: :data:`PUBLIC_RATING_COLUMNS` of every home-care provider of the region
    (:func:`desk.ratings.provider_ratings`; empty when the region has no order log yet or it could not be read).
    ``key``: a short digest of ``table``'s content, for cache keys (the same ratings, the same key).
    """

    table: pd.DataFrame
    key: str


RATINGS_CACHE_ENTRIES = 16
RATINGS_RECHECK_S = 10.0
"""After a failure to read the order log, the ratings are tried again after this many seconds."""
_RATINGS: dict[tuple[str, str, str, str], tuple[object, PublicRatings, float]] = {}
_RATINGS_LOCK = threading.Lock()


def order_log_state(region_name: str, *, root: str | Path | None = None) -> tuple:
    """Something that changes whenever the region's order log changes, read cheaply (no order is read): the number
    of events of the append-only log (:func:`desk.orders_db.log_version`); ``("none",)`` when a folder region has
    no log yet (the public page never creates it)."""
    if store.database_url(root) is None and not (store.regions_root(root) / region_name / orders_db.ORDERS_FILE).exists():
        return ("none",)
    return ("events", orders_db.log_version(region_name, root=root))


def _ratings_key(table: pd.DataFrame) -> str:
    blob = "\n".join(f"{p}\t{s!r}\t{n}" for p, s, n in zip(table["provider_id"], table["score"], table["followups"],
                                                          strict=True))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_ratings(region: Region, settings: Settings, root: str | Path | None,
                  state: object | None) -> PublicRatings:
    if state == ("none",):  # no order log yet: nobody rated (and the public page never creates the log)
        table = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in zip(PUBLIC_RATING_COLUMNS,
                                                                        (object, float, "int64"), strict=True)})
    else:
        full = provider_ratings(region, settings, root=root)
        table = full.loc[:, list(PUBLIC_RATING_COLUMNS)].reset_index(drop=True)
        table["provider_id"] = table["provider_id"].astype(str)
    return PublicRatings(table, _ratings_key(table))


def public_ratings(region: Region, settings: Settings, *, root: str | Path | None = None,
                   max_age_s: float = 0.0) -> PublicRatings:
    """The home-care providers' service ratings of ``region`` for the public (:class:`PublicRatings`), from the
    region's order log in the store ``root`` (as in :mod:`data.store`; None: :func:`data.store.default_root`).

    Computed once per state of the order log (:func:`order_log_state`), region version and settings, and shared
    by all callers in this process: a new follow-up is seen on the next call, an unchanged log costs a file
    check (or a count of events). When the order log cannot be read the ratings are empty (every provider
    "暂无评价"), a warning is logged and the log is tried again after :data:`RATINGS_RECHECK_S` seconds: the
    public page never fails for it. ``max_age_s``: ratings checked less than this long ago are returned without
    looking at the log (the API, answering many requests a second, checks at most once a second).
    """
    root = store.default_root() if root is None else root
    key = (str(root), region.name, str(region.version), settings_digest(settings))
    bucket = int(time.monotonic() // RATINGS_RECHECK_S)
    with _RATINGS_LOCK:
        hit = _RATINGS.get(key)
    now = time.monotonic()
    if hit is not None and (hit[0] == ("failed", bucket) or now - hit[2] < max_age_s):
        return hit[1]
    try:
        state = order_log_state(region.name, root=root)
        if hit is not None and hit[0] == state:
            with _RATINGS_LOCK:
                _RATINGS[key] = (state, hit[1], now)
            return hit[1]
        ratings = _read_ratings(region, settings, root, state)
    except ElderMapError as exc:
        log.warning("providers' ratings not read for %s: %s", region.name, exc.args[-1] if exc.args else exc)
        state, ratings = ("failed", bucket), _read_ratings(region, settings, root, ("none",))
    with _RATINGS_LOCK:
        _RATINGS[key] = (state, ratings, now)
        while len(_RATINGS) > RATINGS_CACHE_ENTRIES:
            _RATINGS.pop(next(iter(_RATINGS)))
    log.info("providers' ratings read for %s: %d providers", region.name, len(ratings.table))
    return ratings

__all__ = ["LATE_EVENTS", "PUBLIC_RATING_COLUMNS", "RATING_COLUMNS", "RATING_COLUMNS_ZH", "PublicRatings", "order_log_state",
           "provider_ratings", "public_ratings", "rate_providers"]
