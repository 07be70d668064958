"""The demo region's 12349 desk data: a service list, carers and orders — all SYNTHETIC (演示数据，非真实).

Built from the demo's synthetic facilities and elders and the real OpenStreetMap buildings, with
``numpy.random.default_rng([seed, 15])`` (its own stream: the other demo layers do not change), so a seed
always gives the same tables.

* **Service list** (:data:`SERVICE_LIST`): 15 items in the categories of seed 004 (生活照料、家政服务、健康管理、
  紧急救援) plus 精神慰藉, with subsidies of 10–60 元/次 for 特困、低保、失能、高龄、独居 and so on. Prices and
  subsidies are assumptions of the order of local 居家养老服务补贴 lists, not any city's actual list.
* **Carers**: 6–8 per home-care provider (8 for one serving by drive time, without a declared area), each based at a real home building within
  :data:`CARER_BASE_RADIUS_M` of the provider, with a skill profile, a 职业技能等级 (1–5), a shift and a daily
  cap. Pseudonymous ids ("C" + hex); no names, ID numbers or phones are ever created.
* **Orders**: one day (:data:`DEMO_DAY`, seen at :data:`DEMO_NOW`) of about :data:`ORDERS_PER_DAY` orders, plus
  :data:`HISTORY_DAYS` days of completed and followed-up records before it (ratings and settlement). Elders who
  order more are the disabled, the oldest and the poor; every order is scheduled greedily on a carer who has
  the skills, the level, the shift and the time (:data:`TRAVEL_MIN` minutes between visits); orders nobody
  can take stay 待派单. Provider 1 is the punctual, better-rated one; provider 2 is often late.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.schema import CHANNELS, EMERGENCY_CATEGORY
from data.validate import CARER_COLUMNS, ORDER_COLUMNS, SERVICE_ITEM_COLUMNS
from geo.hexes import cells_for_points
from geo.settings import Settings

CRS = "EPSG:4326"
DEMO_DAY = dt.date(2026, 12, 1)
"""The day of the demo's current orders."""
DEMO_NOW = dt.datetime(2026, 12, 1, 16, 0)
"""The moment the demo's orders describe: earlier visits are done, later ones dispatched or waiting."""
ORDERS_PER_DAY = 70
HISTORY_DAYS = 30
TRAVEL_MIN = 20.0
"""Minutes a carer needs between two visits (travel and paperwork), for the synthetic schedule."""
CARER_BASE_RADIUS_M = 2000.0
HOURS = "07:00-19:00"
"""Hours of the demo's home-care providers."""
SHIFTS = ((480, 1020), (420, 900), (660, 1140), (540, 1080))
"""Carers' shifts, minutes after midnight: 08–17, 07–15, 11–19, 09–18."""
PROVIDER_SERVICES = (("助洁", "助浴", "助餐", "助行", "助医", "助急", "康复护理", "精神慰藉", "探访关爱"),
                     ("助洁", "助浴", "助餐", "助行", "助医", "助急", "精神慰藉", "探访关爱"))
"""Service tags of the 1st and 2nd demo provider (the 2nd offers no 康复护理)."""
PUNCTUALITY = ((0.0, 4.0), (15.0, 25.0))
"""Per provider: (mean, spread) of minutes a carer starts after the planned start (2nd provider: often late)."""
QUALITY = (4.5, 3.9)
"""Per provider: mean satisfaction (1–5) of an on-time visit."""

# code, name, category, service tag, eligible groups, subsidy 元/次, price 元/次, minutes, skill, min level, weight
SERVICE_LIST: tuple[tuple[Any, ...], ...] = (
    ("SC0101", "上门助浴", "生活照料", "助浴", ("特困", "低保", "失能"), 60.0, 100.0, 60, "助浴", 2, 8),
    ("SC0102", "助餐配送", "生活照料", "助餐", ("特困", "低保", "高龄", "独居"), 10.0, 18.0, 15, "助餐配送", 1, 14),
    ("SC0103", "助行陪护（户外散步、出行协助）", "生活照料", "助行", ("失能", "高龄"), 20.0, 40.0, 60, "生活照料", 1, 5),
    ("SC0104", "个人清洁护理（洗发、剪甲、擦身）", "生活照料", "助洁", ("特困", "低保", "失能"), 30.0, 50.0, 45, "生活照料",
     2, 7),
    ("SC0201", "居室清洁", "家政服务", "助洁", ("特困", "低保", "重度残疾"), 40.0, 60.0, 90, "家政服务", 1, 12),
    ("SC0202", "衣物洗涤整理", "家政服务", "助洁", ("特困", "低保"), 20.0, 40.0, 60, "家政服务", 1, 6),
    ("SC0203", "家电清洗", "家政服务", "助洁", ("特困",), 30.0, 80.0, 120, "家政服务", 1, 2),
    ("SC0301", "健康监测（血压、血糖测量）", "健康管理", "助医", ("全体老年人",), 15.0, 20.0, 30, "健康管理", 2, 9),
    ("SC0302", "陪同就医", "健康管理", "助医", ("特困", "低保", "失能", "独居"), 40.0, 80.0, 180, "陪医陪护", 2, 4),
    ("SC0303", "康复训练指导", "健康管理", "康复护理", ("失能",), 50.0, 120.0, 60, "康复护理", 3, 4),
    ("SC0304", "用药指导", "健康管理", "助医", ("失能", "高龄"), 20.0, 30.0, 30, "健康管理", 3, 3),
    ("SC0401", "紧急呼叫上门响应", "紧急救援", "助急", ("全体老年人",), 50.0, 50.0, 60, "紧急救援", 2, 2),
    ("SC0402", "跌倒应急处置", "紧急救援", "助急", ("全体老年人",), 50.0, 60.0, 45, "紧急救援", 3, 1),
    ("SC0501", "探访关爱", "精神慰藉", "探访关爱", ("独居", "空巢", "特困"), 30.0, 30.0, 60, "精神慰藉", 1, 6),
    ("SC0502", "心理疏导与陪伴聊天", "精神慰藉", "精神慰藉", ("独居", "空巢", "计划生育特殊家庭"), 30.0, 50.0, 60,
     "精神慰藉", 2, 3),
)
SKILL_PROFILES = (("生活照料", "助浴", "家政服务"), ("家政服务", "助餐配送", "生活照料"), ("康复护理", "健康管理", "陪医陪护"),
                  ("精神慰藉", "生活照料", "助餐配送"), ("紧急救援", "健康管理", "陪医陪护"))
SUBSIDY_ORDER = ("特困", "低保", "低收入", "重度残疾", "优抚对象", "计划生育特殊家庭", "失能", "高龄", "独居", "空巢", "留守",
                 "全体老年人")
"""The group an order is subsidised under when the elder belongs to several: the first that applies."""
REMARKS = {5: ("服务认真细致，老人很满意", "准时上门，态度好", "老人说护理员很耐心"),
           4: ("服务较好", "按时完成，老人满意", "总体不错"),
           3: ("基本满意，希望更准时", "服务一般", "希望增加服务时长"),
           2: ("上门迟到，服务不够细致", "老人反映态度一般"),
           1: ("迟到一个多小时，老人不满意", "服务敷衍，要求更换护理员")}


def service_items_layer() -> gpd.GeoDataFrame:
    """The demo service list (a table: its geometry is empty)."""
    rows = [dict(zip(SERVICE_ITEM_COLUMNS, (c, n, cat, tag, list(g), s, p, d, skill, lvl), strict=True))
            for c, n, cat, tag, g, s, p, d, skill, lvl, _ in SERVICE_LIST]
    frame = pd.DataFrame(rows).astype({"duration_min": "int64", "min_skill_level": "int64"})
    return gpd.GeoDataFrame(frame.assign(synthetic=True), geometry=gpd.GeoSeries([None] * len(frame), crs=CRS),
                            crs=CRS)


@dataclass
class _Carer:
    id: str
    provider: str
    skills: frozenset[str]
    level: int
    shift: tuple[int, int]
    cap: int
    busy_until: dt.datetime = dt.datetime.min
    n: int = 0
    day: dt.date | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _carers(providers: gpd.GeoDataFrame, homes: gpd.GeoDataFrame, rng: np.random.Generator,
            settings: Settings) -> gpd.GeoDataFrame:
    """6–8 carers per provider, based at real home buildings near it (``homes``: EPSG:4326 footprints)."""
    utm = homes.estimate_utm_crs()
    spots = homes.geometry.representative_point()
    spots_m = spots.to_crs(utm).to_numpy()
    rows = []
    for prov in providers.itertuples():
        here = gpd.GeoSeries([prov.geometry], crs=CRS).to_crs(utm).iloc[0]
        dist = shapely.distance(spots_m, here)
        near = np.flatnonzero(dist <= CARER_BASE_RADIUS_M)
        near = near if len(near) >= 8 else np.argsort(dist)[:8]
        n = int(rng.integers(6, 9)) if isinstance(prov.service_area, str) and prov.service_area else 8
        start = int(rng.integers(len(SKILL_PROFILES)))
        for k in range(n):
            profile = SKILL_PROFILES[(start + k) % len(SKILL_PROFILES)]
            skills = [s for s in settings.carer_skills if s in profile]
            extra = str(rng.choice(settings.carer_skills))
            skills += [extra] if extra not in skills and rng.random() < 0.4 else []
            level = int(rng.choice([1, 2, 3, 4, 5], p=[0.2, 0.4, 0.25, 0.1, 0.05]))
            level = max(level, 3) if ("康复护理" in skills or "紧急救援" in skills) else max(level, 2)
            start_min, end_min = SHIFTS[int(rng.integers(len(SHIFTS)))]
            rows.append({"id": "C" + rng.bytes(10).hex(), "provider_id": prov.id, "skills": skills, "skill_level": level,
                         "experience_years": float(min(30.0, round(rng.gamma(2.0, 2.5), 1))),
                         "shift_start_min": start_min, "shift_end_min": end_min,
                         "max_orders_day": int(rng.integers(6, 10)),
                         "geometry": spots.iloc[int(rng.choice(near))]})
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)
    lon, lat = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    gdf = gdf.assign(lon=lon, lat=lat, h3=cells_for_points(lon, lat, settings.h3_resolution), synthetic=True)
    return gdf[[*(["id"] + CARER_COLUMNS[1:]), "lon", "lat", "h3", "geometry", "synthetic"]]


def _subsidy_group(elder: dict[str, Any], codes: list[str], eligible: dict[str, frozenset[str]]) -> str | None:
    have = set(elder["groups"]) | ({"失能"} if elder["ability_code"] >= 1 else set()) | (
        {"高龄"} if elder["oldest_old"] else set()) | {"全体老年人"}
    offered = set().union(*(eligible[c] for c in codes))
    return next((g for g in SUBSIDY_ORDER if g in have and g in offered), None)


def _minutes(rng: np.random.Generator, low: float, high: float) -> dt.timedelta:
    return dt.timedelta(minutes=int(round(rng.uniform(low, high))))


def _day_orders(day: dt.date, n: int, *, now: dt.datetime, elders: pd.DataFrame, weights: np.ndarray,
                served_by: list[np.ndarray], providers: list[str], carers: list[_Carer],
                rng: np.random.Generator, history: bool = False) -> list[dict[str, Any]]:
    """One day's orders, scheduled greedily on carers; states as seen at ``now``. ``history``: an order nobody
    could take was cancelled (not left waiting)."""
    items = {c: (name, cat, tag, frozenset(g), dur, skill, lvl)
             for c, name, cat, tag, g, _, _, dur, skill, lvl, _ in SERVICE_LIST}
    popularity = np.array([row[-1] for row in SERVICE_LIST], dtype=float)
    codes_all = [row[0] for row in SERVICE_LIST]
    eligible = {c: v[3] for c, v in items.items()}
    provider_tags = dict(zip(providers, (set(t) for t in PROVIDER_SERVICES), strict=False))
    picks = rng.choice(len(elders), size=n, p=weights / weights.sum())
    drafts = []
    for k, e in enumerate(picks):
        options = [p for p, mask in zip(providers, served_by, strict=True) if mask[e]]
        provider = options[0] if len(options) == 1 else str(rng.choice(options, p=[0.8, 0.2][:len(options)]))
        offered = [j for j, c in enumerate(codes_all) if items[c][2] in provider_tags[provider]]
        w = popularity[offered] / popularity[offered].sum()
        chosen = [codes_all[int(rng.choice(offered, p=w))]]
        same_skill = [c for c in (codes_all[j] for j in offered) if items[c][5] == items[chosen[0]][5] and c != chosen[0]]
        if same_skill and rng.random() < 0.2:  # two items one carer can do in one visit (居室清洁 + 衣物洗涤)
            chosen.append(str(rng.choice(same_skill)))
        urgent = any(items[c][1] == EMERGENCY_CATEGORY for c in chosen)
        if urgent:
            chosen = [c for c in chosen if items[c][1] == EMERGENCY_CATEGORY][:1]
            created = dt.datetime.combine(day, dt.time(7)) + _minutes(rng, 0, 11 * 60)
            start = created + _minutes(rng, 5, 20)
            end = start + dt.timedelta(minutes=60)
            channel = str(rng.choice(["智能终端", "12349热线"]))
        else:
            slot = int(rng.choice(np.arange(24), p=_SLOT_WEIGHTS))  # half hours from 07:00
            start = dt.datetime.combine(day, dt.time(7)) + dt.timedelta(minutes=30 * slot)
            end = min(start + dt.timedelta(minutes=int(rng.choice([60, 120, 180], p=[0.3, 0.5, 0.2]))),
                      dt.datetime.combine(day, dt.time(19)))
            created = start - _minutes(rng, 120, 48 * 60)
            channel = str(rng.choice(CHANNELS, p=[0.45, 0.25, 0.15, 0.15]))
        duration = sum(items[c][4] for c in chosen)
        drafts.append({"elder": int(e), "provider": provider, "options": options, "codes": chosen, "urgent": urgent, "start": start,
                       "end": end, "created": created, "channel": channel, "duration": duration,
                       "skills": {items[c][5] for c in chosen}, "level": max(items[c][6] for c in chosen)})
    drafts.sort(key=lambda d: d["start"])
    for c in carers:
        c.busy_until, c.n = dt.datetime.combine(day, dt.time(0)), 0
    p_index = {p: i for i, p in enumerate(providers)}
    out = []
    for seq, d in enumerate(sorted(drafts, key=lambda d: d["created"]), start=1):
        d["id"] = f"GD{day:%Y%m%d}{seq:04d}"
    for d in drafts:
        if d["created"] > now:  # a call not yet received at the moment the demo describes
            continue
        elder = elders.iloc[d["elder"]]
        row: dict[str, Any] = {name: None for name in ORDER_COLUMNS}
        row.update(id=d["id"], elder_id=elder["pid"], item_codes=d["codes"], window_start=d["start"],
                   window_end=d["end"], urgency="紧急" if d["urgent"] else "普通", channel=d["channel"],
                   created_at=d["created"], events=[], complaint=False, provider_id=None, carer_id=None,
                   lon=float(elder["lon"]), lat=float(elder["lat"]))
        row["subsidy_group"] = _subsidy_group(elder, d["codes"], eligible)
        if rng.random() < 0.015:  # cancelled by the family before dispatch
            row.update(status="已取消")
            out.append(row)
            continue
        carer, begin = _pick_carer(d, carers, rng)
        for other in d["options"]:  # the desk's fallback: another provider serving this elder that offers the items
            if carer is None and other != d["provider"] and all(items[c][2] in provider_tags[other] for c in d["codes"]):
                carer, begin = _pick_carer({**d, "provider": other}, carers, rng)
                d["provider"] = other if carer is not None else d["provider"]
        if carer is None and (history or d["end"] <= now):  # nobody could take it, and its time has passed
            row.update(status="已取消")
            out.append(row)
            continue
        dispatch_at = max(d["created"] + _minutes(rng, 2, 20), d["start"] - dt.timedelta(hours=20))
        dispatch_at = min(dispatch_at, d["start"] - dt.timedelta(minutes=3)) if not d["urgent"] else \
            d["created"] + _minutes(rng, 1, 4)
        dispatch_at = max(dispatch_at, d["created"] + dt.timedelta(minutes=1))
        waiting = carer is None or (dispatch_at > now) or (d["start"] > now and rng.random() < 0.12)
        if waiting:
            row["status"] = "待派单"
            if carer is not None and dispatch_at <= now and rng.random() < 0.4:  # refused: back in the queue
                row.update(events=["拒单"], dispatched_at=dispatch_at, provider_id=d["provider"])
            out.append(row)
            continue
        row.update(provider_id=d["provider"], carer_id=carer.id, dispatched_at=dispatch_at)
        roll = rng.random()
        if roll < 0.05:
            row["events"] = ["拒单"]
        elif roll < 0.09:
            row["events"] = ["超时"]
        elif roll < 0.10:
            row["events"] = ["未上门"]
        wait = (11, 25) if row["events"] == ["超时"] else (1, 9)
        accepted = dispatch_at + _minutes(rng, *wait)
        mean_late, spread = PUNCTUALITY[p_index[d["provider"]] % len(PUNCTUALITY)]
        late = max(-5.0, rng.normal(mean_late, spread)) if not d["urgent"] else rng.uniform(0, 8)
        started = max(begin + dt.timedelta(minutes=round(late)), accepted + dt.timedelta(minutes=5))
        completed = started + dt.timedelta(minutes=round(d["duration"] * rng.uniform(0.9, 1.15)))
        carer.busy_until, carer.n = completed, carer.n + 1
        followed = completed + (_minutes(rng, 60, 26 * 60) if history else _minutes(rng, 20, 150))
        stamps = {"accepted_at": accepted, "started_at": started, "completed_at": completed,
                  "followed_up_at": followed}
        reached = [name for name, t in stamps.items() if t <= now]
        row.update({name: stamps[name] for name in reached})
        row["status"] = {0: "已派单", 1: "已接单", 2: "服务中", 3: "已完成", 4: "已回访"}[len(reached)]
        if row["status"] == "已回访":
            on_time = started <= d["end"]
            quality = QUALITY[p_index[d["provider"]] % len(QUALITY)] - (0.0 if on_time else 1.2)
            score = int(np.clip(round(rng.normal(quality, 0.7)), 1, 5))
            row.update(satisfaction=score, complaint=bool(rng.random() < (0.25 if score <= 2 else 0.01)),
                       remarks=str(rng.choice(REMARKS[score])) if rng.random() < 0.6 else None)
        out.append(row)
    return out


_SLOT_WEIGHTS = np.array([3, 4, 5, 6, 6, 6, 5, 5, 4, 3, 3, 4, 5, 5, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1], dtype=float)
_SLOT_WEIGHTS /= _SLOT_WEIGHTS.sum()
"""Half-hour start slots from 07:00 to 18:30: a morning peak and a smaller afternoon one."""


def _pick_carer(d: dict[str, Any], carers: list[_Carer], rng: np.random.Generator,
                ) -> tuple[_Carer | None, dt.datetime]:
    """The provider's carer who can start this visit earliest inside its window (None when nobody can)."""
    best: tuple[dt.datetime, float, _Carer] | None = None
    day0 = dt.datetime.combine(d["start"].date(), dt.time(0))
    for c in carers:
        if c.provider != d["provider"] or not d["skills"] <= c.skills or c.level < d["level"] or c.n >= c.cap:
            continue
        begin = max(d["start"], c.busy_until + dt.timedelta(minutes=TRAVEL_MIN), day0 + dt.timedelta(minutes=c.shift[0]))
        if begin > d["end"] or begin + dt.timedelta(minutes=d["duration"]) > day0 + dt.timedelta(minutes=c.shift[1]):
            continue
        key = (begin, float(rng.random()), c)
        if best is None or key[:2] < best[:2]:
            best = key
    return (best[2], best[0]) if best else (None, d["start"])


def build_home_care(facilities: gpd.GeoDataFrame, elders: gpd.GeoDataFrame, areas: gpd.GeoDataFrame,
                    homes: gpd.GeoDataFrame, *, settings: Settings, seed: int,
                    ) -> tuple[gpd.GeoDataFrame, dict[str, gpd.GeoDataFrame]]:
    """Demo providers' hours and capacity, and the ``service_items``, ``carers`` and ``orders`` layers.

    Parameters
    ----------
    facilities, elders, areas
        The demo's synthetic layers (EPSG:4326).
    homes
        Real home buildings' footprints (EPSG:4326): carers' bases.
    seed
        The demo seed; this module draws from ``default_rng([seed, 15])``.

    Returns
    -------
    facilities
        A copy with ``hours`` and ``capacity_orders_day`` (home-care providers only) and the providers'
        services widened to :data:`PROVIDER_SERVICES`.
    layers
        ``service_items``, ``carers`` and ``orders``, every row ``synthetic=True``.
    """
    rng = np.random.default_rng([seed, 15])
    facilities = facilities.copy()
    is_provider = facilities["kind"].isin(settings.home_care_kinds).to_numpy()
    at = list(facilities.columns).index("service_area") + 1
    facilities.insert(at, "hours", pd.array([HOURS if p else None for p in is_provider], dtype="string"))
    facilities.insert(at + 1, "capacity_orders_day", pd.array([80 if p else None for p in is_provider], dtype="Int64"))
    tags = set(settings.service_tags)
    for n, i in enumerate(np.flatnonzero(is_provider)):
        wanted = PROVIDER_SERVICES[n % len(PROVIDER_SERVICES)]
        facilities.at[facilities.index[i], "services"] = [t for t in dict.fromkeys(
            [*facilities["services"].iloc[i], *wanted]) if t in tags]
    providers = facilities[is_provider].reset_index(drop=True)
    items = service_items_layer()
    if providers.empty or elders.empty:  # a tiny extract: the tables exist, empty
        empty = {name: gpd.GeoDataFrame({c: [] for c in columns}, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
                 for name, columns in (("carers", ["id", *CARER_COLUMNS[1:], "lon", "lat", "h3", "synthetic"]),
                                       ("orders", [*ORDER_COLUMNS, "lon", "lat", "h3", "synthetic"]))}
        return facilities, {"service_items": items, **empty}
    carers = _carers(providers, homes, rng, settings)
    pool = [_Carer(r.id, r.provider_id, frozenset(r.skills), int(r.skill_level), (r.shift_start_min, r.shift_end_min),
                   int(r.max_orders_day)) for r in carers.itertuples()]
    e = pd.DataFrame({"pid": elders["pid"], "lon": elders["lon"], "lat": elders["lat"], "groups": elders["groups"],
                      "ability_code": elders["ability_code"], "oldest_old": elders["oldest_old"]})
    names = dict(zip(areas["name"], areas["code"], strict=True))
    served_by = []
    for prov in providers.itertuples():
        area = prov.service_area if isinstance(prov.service_area, str) and prov.service_area else ""
        codes = {names[n] for n in area.split("、") if n in names}
        served_by.append(elders["community_code"].isin(codes).to_numpy() if codes else np.ones(len(elders), bool))
    weights = (1.0 + 2.0 * e["ability_code"].to_numpy() + 1.5 * e["oldest_old"].to_numpy()
               + np.array([2.0 if {"特困", "低保"} & set(g) else 0.5 if "独居" in g else 0.0 for g in e["groups"]]))
    rows: list[dict[str, Any]] = []
    for back in range(HISTORY_DAYS, 0, -1):  # a month of records, all seen long after
        day = DEMO_DAY - dt.timedelta(days=back)
        n = int(rng.poisson(ORDERS_PER_DAY * 0.7))
        rows += _day_orders(day, n, now=dt.datetime.combine(DEMO_DAY, dt.time(0)) + dt.timedelta(days=2),
                            elders=e, weights=weights, served_by=served_by, providers=list(providers["id"]),
                            carers=pool, rng=rng, history=True)
    rows += _day_orders(DEMO_DAY, ORDERS_PER_DAY, now=DEMO_NOW, elders=e, weights=weights, served_by=served_by,
                        providers=list(providers["id"]), carers=pool, rng=rng)
    orders = pd.DataFrame(rows)
    history = orders["window_start"] < dt.datetime.combine(DEMO_DAY, dt.time(0))
    followed_late = history & orders["followed_up_at"].notna() & (orders["followed_up_at"] > DEMO_NOW)
    orders.loc[followed_late, ["followed_up_at", "satisfaction", "complaint", "remarks"]] = [None, None, False, None]
    orders.loc[followed_late, "status"] = "已完成"
    for name in ("window_start", "window_end", "created_at", "dispatched_at", "accepted_at", "started_at",
                 "completed_at", "followed_up_at"):
        orders[name] = pd.to_datetime(orders[name]).astype("datetime64[ns]")
    orders = orders.astype({"satisfaction": "Int64", "complaint": "boolean"})
    for name in ("id", "elder_id", "urgency", "channel", "status", "provider_id", "carer_id", "remarks",
                 "subsidy_group"):
        orders[name] = pd.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                                 for v in orders[name]], dtype="string")
    orders = orders.sort_values(["window_start", "id"], kind="stable").reset_index(drop=True)
    lon, lat = orders["lon"].to_numpy(float), orders["lat"].to_numpy(float)
    orders = gpd.GeoDataFrame(orders[ORDER_COLUMNS].assign(lon=lon, lat=lat, h3=cells_for_points(
        lon, lat, settings.h3_resolution), synthetic=True), geometry=gpd.points_from_xy(lon, lat), crs=CRS)
    return facilities, {"service_items": items, "carers": carers, "orders": orders}


__all__ = ["DEMO_DAY", "DEMO_NOW", "SERVICE_LIST", "build_home_care", "service_items_layer"]
