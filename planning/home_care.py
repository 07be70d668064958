"""Home-care providers (居家上门服务商): whom they reach at home.

Home-care providers (the kinds of ``settings.home_care_kinds``) come to the elder; elders never walk
or drive to them. A provider **serves** an elder when

(a) it **declares a service area** and the elder lies in it. A service area is

    - the facility's ``service_area`` text: community (社区/居委会/村委会) or street (街道/镇/乡) names or
      division codes, separated by any of ``、 , ， ; ；`` (for example "花园社区、码头社区" or
      "410105001"). Each item is resolved against the region's areas: a 6/9/12-digit code (full-width
      digits allowed) is that code; a name is matched exactly first, then after normalising both
      (full-width to half-width, no spaces, one suffix such as 街道/街道办事处/镇/乡/社区/居委会/村委会/村
      dropped). When a name fits several areas, those under the provider's own street, then its own
      district, are preferred. An elder lies in the area when its community, street or district code
      (the street and district following from the community's parents when not recorded) is the
      resolved code; or
    - a polygon of the region's service-areas layer (``region.layers["service_areas"]``: columns
      ``facility_id`` and ``geometry``, read by :func:`data.service_areas.read_service_areas`), and the
      elder's point lies in it (boundary included);

(b) it **declares none**, and the elder is within ``settings.home_care_drive_minutes`` minutes' drive
    from the provider's base, over the driving network (from the provider to the elder, oneway
    streets honoured: :func:`planning.coverage.network_for` with mode "drive" and
    :func:`planning.routing.nearest` with the providers as sources). The boundary minute counts as
    served.

Items that cannot be resolved (no area of that name, or several and no way to choose) are never
dropped silently: they are listed in the returned warnings. A provider whose every item fails to
resolve, and that has no polygon, is treated as declaring none (the drive rule applies) and the
warning says so. Well-formed codes missing from the areas layer are still used (elders may carry
them), with a warning.

:func:`home_care_reach` gives, per elder and home-care kind, whether it is served, by which provider
(the nearest by drive time when several serve it) and how that was decided. Coverage
(:func:`planning.coverage.elder_access`) turns that into ``time_min`` 0 (served) or ``inf`` (not), so
"covered within N minutes" means "served", whatever N. :func:`serving_point` answers the same for
one place (the public page's "可上门服务"), without reading any elder record.

用户说明（中文）：居家上门服务商上门为老人服务，老人不需要前往。服务商登记了服务区域（社区、街道的名称或
代码，或服务区域边界）的，区域内的老人视为可获得上门服务；没有登记服务区域的，从其驻地驾车
``home_care_drive_minutes`` 分钟（默认 15 分钟）以内的老人视为可获得上门服务。无法识别的区域名称会列出提示，
不会被悄悄忽略。
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.store import Region
from geo.area_match import AreaIndex, parse_area_code
from geo.areas import CODE_LENGTH, LEVEL_COLUMN
from geo.errors import ElderMapError
from geo.labels import UNASSIGNED
from geo.settings import Settings
from planning.network import Network, Snap, snap_lonlat, snap_points
from planning.routing import nearest

log = logging.getLogger(__name__)

SEPARATORS = "、,，;；"
"""Characters separating the items of a ``service_area`` text."""
_SPLIT = re.compile("[" + re.escape(SEPARATORS) + r"\n\r]+")
BASIS_AREA = "area"
BASIS_DRIVE = "drive"
BASIS_ZH = {BASIS_AREA: "服务区域", BASIS_DRIVE: "车程"}
"""How a provider was found to serve a place: its declared area, or the drive time from its base."""
SERVICE_AREAS_LAYER = "service_areas"
"""Name of the region layer holding service-area polygons (``facility_id``, ``geometry``)."""
GAP_REASON_ZH = "无上门服务覆盖"
"""Reason head of a gap of a home-care kind (:func:`planning.gaps.gaps`)."""

def split_service_area(value: object) -> list[str]:
    """The items of a ``service_area`` value (text separated by :data:`SEPARATORS`, or a list), stripped,
    empty ones dropped, order kept, duplicates removed."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return []
    if isinstance(value, list | tuple | np.ndarray):
        items = [str(v) for v in value]
    else:
        items = _SPLIT.split(str(value))
    return list(dict.fromkeys(s for s in (" ".join(i.split()) for i in items) if s))


@dataclass(frozen=True)
class DeclaredAreas:
    """The service areas home-care providers declare.

    Attributes
    ----------
    providers
        One row per home-care provider, in facility order: ``id``, ``name``, ``kind``, ``codes`` (tuple
        of resolved division codes), ``polygon`` (bool: has a service-area polygon), ``declared``
        (bool: codes or polygon; False means the drive rule applies), ``position`` (``iloc`` in the
        facilities given).
    polygons
        One (multi)polygon per provider with one, EPSG:4326: ``facility_id``, ``geometry``.
    warnings
        Chinese lines: items not resolved, codes not in the areas layer, polygons of unknown
        providers, providers that fall back to the drive rule because nothing resolved.
    """

    providers: pd.DataFrame
    polygons: gpd.GeoDataFrame
    warnings: list[str] = field(default_factory=list)


class _AreaNames:
    """The areas layer for service-area items: :class:`geo.area_match.AreaIndex` (exact, then normalised
    names; codes), trying communities then streets, near the provider first."""

    def __init__(self, areas: pd.DataFrame | None) -> None:
        self.index = AreaIndex(areas)

    def level(self, code: str) -> str | None:
        return self.index.level(code) or _level_by_length(code)

    def ancestor(self, code: str, level: str) -> str:
        """The area at ``level`` holding ``code``: up the parent chain, else the code's first digits."""
        if self.level(code) == level:
            return code
        up = self.index.ancestor(code, level)
        if up:
            return up
        n = CODE_LENGTH[level]
        return code[:n] if len(code) > n and code[:n].isdigit() else ""

    def resolve(self, item: str, *, street: str = "", district: str = "") -> tuple[str | None, str]:
        """``(code, "")`` for an item resolved, else ``(None, reason in Chinese)``; a code not in the layer
        comes back with a reason too (it is still used). A community of the provider's own street, then
        of its district, then anywhere; else a street of its district, then anywhere."""
        code = parse_area_code(item)
        if code is not None:
            level = _level_by_length(code)
            if level is None:
                return None, f"代码位数不对（{len(code)} 位）：应为 6、9 或 12 位"
            return code, "" if self.index.knows(code) else "代码不在区划数据中，仍按此代码匹配老人"
        for level, within in (("community", street), ("community", district), ("community", None),
                              ("street", district), ("street", None)):
            if within == "":
                continue
            match = self.index.resolve(item, level, within=within or None)
            if match.matched:
                return match.code, ""
            if match.ambiguous:
                return None, f"对应多个同名区域（{'、'.join(match.candidates)}），无法确定"
        return None, "未能匹配到区划数据中的社区或街道"


def _level_by_length(code: str) -> str | None:
    return {n: level for level, n in CODE_LENGTH.items()}.get(len(code))


def _text(value: object) -> str:
    return "" if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) else str(value)


def home_care_positions(facilities: pd.DataFrame, settings: Settings) -> np.ndarray:
    """Positions (``iloc``) of the facilities of ``settings.home_care_kinds``."""
    if facilities.empty or "kind" not in facilities:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(facilities["kind"].astype(str).isin(list(settings.home_care_kinds)).to_numpy())


def declared_service_areas(region: Region, *, settings: Settings,
                           facilities: pd.DataFrame | None = None) -> DeclaredAreas:
    """Resolve the service areas the region's home-care providers declare (this module's rules).

    Parameters
    ----------
    region
        Areas (``code``, ``name``, ``level``, ``parent_code``) and the optional
        :data:`SERVICE_AREAS_LAYER` layer are read from it.
    facilities
        The facilities to use instead of ``region.facilities`` (a scenario's).
    """
    facilities = region.facilities if facilities is None else facilities
    positions = home_care_positions(facilities, settings)
    providers = facilities.iloc[positions]
    names = _AreaNames(region.areas)
    warnings: list[str] = []
    polygons = _polygons(region, providers, warnings)
    with_polygon = set(polygons["facility_id"].astype(str))
    rows = []
    for position, (_, f) in zip(positions, providers.iterrows(), strict=True):
        fid, fname = _text(f.get("id")), _text(f.get("name"))
        who = f"居家上门服务商“{fname}”（编号 {fid}）"
        street, district = _text(f.get("street_code")), _text(f.get("district_code"))
        codes: list[str] = []
        items = split_service_area(f.get("service_area"))
        for item in items:
            code, reason = names.resolve(item, street=street, district=district)
            if reason:
                warnings.append(f"{who}的服务区域“{item}”{reason}" + ("" if code else "，已忽略此项"))
            if code and code not in codes:
                codes.append(code)
        polygon = fid in with_polygon
        if items and not codes and not polygon:
            warnings.append(f"{who}登记的服务区域都无法识别，按驻地驾车 {settings.home_care_drive_minutes:g} 分钟"
                            "范围计算其上门服务覆盖")
        rows.append({"id": fid, "name": fname, "kind": _text(f.get("kind")), "codes": tuple(codes),
                     "polygon": polygon, "declared": bool(codes) or polygon, "position": int(position)})
    table = pd.DataFrame(rows, columns=["id", "name", "kind", "codes", "polygon", "declared", "position"])
    for line in warnings:
        log.warning("service areas: %s", line)  # Chinese text of staff data: provider names, no elder data
    return DeclaredAreas(table, polygons, warnings)


def _polygons(region: Region, providers: pd.DataFrame, warnings: list[str]) -> gpd.GeoDataFrame:
    """The region's service-area polygons of these providers, one per provider, EPSG:4326."""
    empty = gpd.GeoDataFrame({"facility_id": pd.Series([], dtype=object)}, geometry=gpd.GeoSeries([], crs=4326),
                             crs=4326)
    layer = region.layers.get(SERVICE_AREAS_LAYER) if hasattr(region.layers, "get") else None
    if layer is None or len(layer) == 0 or "facility_id" not in layer:
        return empty
    if layer.crs is None:
        warnings.append("服务区域边界数据没有坐标系信息，已忽略")
        return empty
    layer = layer.to_crs(4326)
    ids = layer["facility_id"].astype(str)
    known = set(providers["id"].astype(str)) if "id" in providers else set()
    unknown = sorted(set(ids) - known)
    if unknown:
        warnings.append(f"服务区域边界中的设施编号 {'、'.join(unknown[:10])}{'等' if len(unknown) > 10 else ''}"
                        "不是本地区的居家上门服务商，已忽略")
    keep = ids.isin(known).to_numpy() & ~(layer.geometry.isna() | layer.geometry.is_empty).to_numpy()
    if not keep.any():
        return empty
    kept = gpd.GeoDataFrame({"facility_id": ids[keep].to_numpy()}, geometry=layer.geometry.values[keep], crs=4326)
    merged = kept.dissolve(by="facility_id", as_index=False)
    return gpd.GeoDataFrame({"facility_id": merged["facility_id"].astype(str).to_numpy()},
                            geometry=merged.geometry.values, crs=4326)


def _point_codes(points: pd.DataFrame, names: _AreaNames, level: str) -> np.ndarray:
    """Each point's code at ``level`` (recorded, else from its finer code's parents); "" where none."""
    def column(level: str) -> np.ndarray:
        name = LEVEL_COLUMN[level]
        if name not in points:
            return np.full(len(points), "", dtype=object)
        values = points[name].astype(object)
        return values.where(values.notna(), "").astype(str).str.strip().replace(UNASSIGNED, "").to_numpy(dtype=object)

    codes = column(level)
    for finer in [lv for lv in ("community", "street") if CODE_LENGTH[lv] > CODE_LENGTH[level]]:
        missing = codes == ""
        if not missing.any():
            break
        fine = column(finer)[missing]
        lookup = {c: names.ancestor(c, level) for c in set(fine) if c}
        codes[missing] = np.array([lookup.get(c, "") for c in fine], dtype=object)
    return codes


def _in_polygon(points: gpd.GeoDataFrame, polygon: shapely.Geometry) -> np.ndarray:
    """Points (any CRS) inside or on the edge of an EPSG:4326 polygon."""
    if points.crs is None or len(points) == 0:
        return np.zeros(len(points), dtype=bool)
    geoms = points.geometry.to_crs(4326).values
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    inside = np.zeros(len(points), dtype=bool)
    inside[present] = shapely.covers(polygon, geoms[present])
    return inside


def _area_members(points: gpd.GeoDataFrame, declared: DeclaredAreas, names: _AreaNames,
                  codes_at: dict[str, np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """Per declaring provider (its row in ``declared.providers``): the boolean mask of the points in its
    declared area (codes or polygon)."""
    if codes_at is None:
        codes_at = {level: _point_codes(points, names, level) for level in CODE_LENGTH}
    polygons = dict(zip(declared.polygons["facility_id"], declared.polygons.geometry, strict=True))
    members: dict[int, np.ndarray] = {}
    for row, p in declared.providers[declared.providers["declared"]].iterrows():
        mask = np.zeros(len(points), dtype=bool)
        for code in p["codes"]:
            level = names.level(code)
            if level in codes_at:
                mask |= codes_at[level] == code
        if p["polygon"] and p["id"] in polygons:
            mask |= _in_polygon(points, polygons[p["id"]])
        members[int(row)] = mask
    return members


def _drive(region: Region, settings: Settings) -> tuple[Network | None, str]:
    """The driving network, or None with the reason (in Chinese) when the roads have none."""
    from planning.coverage import network_for

    try:
        return network_for(region, "drive", settings), ""
    except ElderMapError as exc:
        return None, f"无法建立驾车路网（{exc}），未登记服务区域的上门服务商无法按车程计算覆盖"


def _subset(snap: Snap, rows: np.ndarray) -> Snap:
    return Snap(snap.edge[rows], snap.t[rows], snap.access_m[rows], snap.access_min[rows])


def _only(snap: Snap, mask: np.ndarray) -> Snap:
    """Sources outside ``mask`` unsnapped (positions kept)."""
    return Snap(np.where(mask, snap.edge, -1), snap.t, snap.access_m, snap.access_min)


def home_care_reach(region: Region, *, settings: Settings, facilities: pd.DataFrame | None = None) -> pd.DataFrame:
    """Which home-care provider serves each elder at home, per home-care kind (this module's rules).

    Parameters
    ----------
    region
        A loaded region: elders (``community_code``, ``street_code``, ``district_code``, points), areas,
        roads (the driving network) and the optional service-areas layer.
    facilities
        Facilities to use instead of ``region.facilities`` (a scenario's).

    Returns
    -------
    DataFrame aligned with ``region.elders`` (same index); per home-care kind k of
    ``settings.home_care_kinds`` present among the facilities:

    - ``served:k`` (bool) — some provider of kind k serves the elder;
    - ``provider_id:k`` — the serving provider, the nearest by drive time when several serve it
      (None when not served);
    - ``drive_min:k`` — minutes' drive from that provider to the elder; when not served, from the
      nearest provider of kind k (``inf``: not reachable by car);
    - ``basis:k`` — how it was decided: "area" (the provider's declared area holds the elder),
      "drive" (within ``settings.home_care_drive_minutes`` of a provider without a declared area),
      None when not served.

    ``result.attrs["warnings"]`` lists, in Chinese, the service-area items that could not be
    resolved and other problems (also :attr:`DeclaredAreas.warnings`).
    """
    facilities = region.facilities if facilities is None else facilities
    elders = region.elders
    out = pd.DataFrame(index=elders.index)
    declared = declared_service_areas(region, settings=settings, facilities=facilities)
    warnings = list(declared.warnings)
    providers = declared.providers
    kinds = [k for k in settings.home_care_kinds if (providers["kind"] == k).any()]
    if not kinds:
        out.attrs["warnings"] = warnings
        return out
    names = _AreaNames(region.areas)
    members = _area_members(elders, declared, names)
    network, problem = _drive(region, settings)
    if problem:
        warnings.append(problem)
    n = len(elders)
    if network is not None:
        from planning.coverage import elder_snap_for

        eld_snap = elder_snap_for(region, "drive", settings) if n else None
        pro_snap = snap_points(network, facilities.iloc[providers["position"].to_numpy()], settings=settings)
        unsnapped = providers["id"][~pro_snap.snapped].tolist()
        if unsnapped:
            warnings.append(f"居家上门服务商 {'、'.join(unsnapped)} 的驻地离可驾车道路太远，无法按车程计算")
        if not n:
            network = None
    ids = providers["id"].astype(object).to_numpy()
    for kind in kinds:
        of_kind = (providers["kind"] == kind).to_numpy()
        area_any = np.zeros(n, dtype=bool)
        area_first = np.full(n, -1, dtype=np.int64)
        area_time = np.full(n, np.inf)
        area_src = np.full(n, -1, dtype=np.int64)
        for pos in np.flatnonzero(of_kind & providers["declared"].to_numpy()):
            mask = members[int(pos)]
            area_first = np.where(mask & (area_first < 0), pos, area_first)
            area_any |= mask
            rows = np.flatnonzero(mask)
            if network is None or not len(rows) or not pro_snap.snapped[pos]:
                continue
            single = _only(pro_snap, np.arange(len(ids)) == pos)
            t = nearest(network, single, _subset(eld_snap, rows)).time_min
            better = t < area_time[rows]
            area_time[rows[better]] = t[better]
            area_src[rows[better]] = pos
        drive_time = np.full(n, np.inf)
        drive_src = np.full(n, -1, dtype=np.int64)
        fallback = of_kind & ~providers["declared"].to_numpy()
        if network is not None and fallback.any():
            result = nearest(network, _only(pro_snap, fallback), eld_snap, max_minutes=settings.home_care_drive_minutes)
            drive_time, drive_src = result.time_min, result.source
        by_drive = np.isfinite(drive_time) & (~area_any | (drive_time < area_time))
        served = area_any | by_drive
        source = np.where(by_drive, drive_src, np.where(area_src >= 0, area_src, area_first))
        minutes = np.where(by_drive, drive_time, area_time)
        unserved = np.flatnonzero(~served)
        if network is not None and len(unserved):
            far = nearest(network, _only(pro_snap, of_kind), _subset(eld_snap, unserved))
            minutes[unserved] = far.time_min
        out[f"served:{kind}"] = served
        provider = np.where(served, ids[np.clip(source, 0, None)] if len(ids) else None, None)
        out[f"provider_id:{kind}"] = pd.Series(provider, index=out.index, dtype=object)
        out[f"drive_min:{kind}"] = minutes
        basis = np.where(by_drive, BASIS_DRIVE, np.where(area_any, BASIS_AREA, None))
        out[f"basis:{kind}"] = pd.Series(basis, index=out.index, dtype=object)
        log.info("home care %s: %d of %d elders served (%d by declared area, %d by %g min drive)", kind,
                 int(served.sum()), n, int((served & ~by_drive).sum()), int(by_drive.sum()),
                 settings.home_care_drive_minutes)
    out.attrs["warnings"] = warnings
    return out


def reach_reason_zh(basis: str, drive_min: float | None) -> str:
    """Why a provider serves a place, for users: "服务区域包含此处" or "车程约 N 分钟"."""
    if basis == BASIS_AREA:
        return "服务区域包含此处"
    minutes = float(drive_min) if drive_min is not None and np.isfinite(drive_min) else 0.0
    return f"车程约 {max(minutes, 1.0):.0f} 分钟"


_SERVING: dict[tuple[str, Settings], _PlaceIndex] = {}
"""Per region version and settings: what :func:`serving_point` needs for the region's own providers."""


@dataclass
class _PlaceIndex:
    """What answering "who serves this place" needs, resolved once (per region version for the region's own
    providers: the API asks many times a second): the declared areas as (row, id, name, kind, [(level, code)],
    polygon or None), the area polygons in an STR tree, and the drive-rule providers with their searches."""

    declared: list[tuple[int, str, str, str, list[tuple[str | None, str]], shapely.Geometry | None]]
    names: _AreaNames
    area_tree: shapely.STRtree | None
    area_codes: np.ndarray
    fallback: pd.DataFrame
    fallback_positions: np.ndarray
    facilities: pd.DataFrame
    _reach: object = None

    @classmethod
    def build(cls, region: Region, settings: Settings, facilities: pd.DataFrame) -> _PlaceIndex:
        declared = declared_service_areas(region, settings=settings, facilities=facilities)
        names = _AreaNames(region.areas)
        polygons = dict(zip(declared.polygons["facility_id"], declared.polygons.geometry, strict=True))
        providers = declared.providers
        if providers.empty:  # no home-care provider at all
            return cls([], names, None, np.zeros(0, dtype=object), pd.DataFrame(columns=["id", "name", "kind"]),
                       np.zeros(0, dtype=np.int64), facilities)
        rows = [(int(row), p["id"], p["name"], p["kind"], [(names.level(c), c) for c in p["codes"]],
                 polygons.get(p["id"]) if p["polygon"] else None)
                for row, p in providers[providers["declared"]].iterrows()]
        tree, codes = None, np.zeros(0, dtype=object)
        areas = region.areas
        if not (areas is None or areas.empty or "code" not in areas or areas.crs is None):
            shapes = areas[~(areas.geometry.isna() | areas.geometry.is_empty)].to_crs(4326)
            if len(shapes):
                tree = shapely.STRtree(shapes.geometry.values)
                codes = shapes["code"].astype(str).to_numpy(dtype=object)
        fallback = providers[~providers["declared"]].reset_index(drop=True)
        return cls(rows, names, tree, codes, fallback, fallback["position"].to_numpy(dtype=np.int64), facilities)

    def codes_holding(self, point: shapely.Geometry) -> list[str]:
        """Codes of the areas whose polygon holds the point (boundary included), finest level first."""
        if self.area_tree is None:
            return []
        hit = self.area_tree.query(point, predicate="covered_by")
        return sorted(self.area_codes[hit], key=len, reverse=True)

    def reach(self, network: Network, settings: Settings) -> object:
        """The drive-rule providers' searches (:func:`planning.catchments.source_reach`), made on first use."""
        if self._reach is None:
            from planning.catchments import source_reach

            self._reach = source_reach(network, snap_points(network, self.facilities.iloc[self.fallback_positions],
                                                            settings=settings),
                                       cutoff_min=settings.home_care_drive_minutes)
        return self._reach


def serving_point(region: Region, lon: float, lat: float, *, settings: Settings,
                  facilities: pd.DataFrame | None = None) -> pd.DataFrame:
    """The home-care providers that serve a place (WGS-84 ``lon``, ``lat``), for the public page.

    The place lies in a declared area when an area polygon of the region holding it (any level, its
    parents included) is among the provider's resolved codes, or a service-area polygon holds it;
    providers without a declared area serve it within ``settings.home_care_drive_minutes`` minutes'
    drive from their base. No elder record is read.

    Returns
    -------
    ``id``, ``name``, ``kind``, ``basis`` ("area"/"drive"), ``drive_min`` (NaN for area), ``reason``
    (:func:`reach_reason_zh`); declared areas first (by name), then by drive time. ``attrs["notes"]``:
    Chinese lines, for example when the place is too far from any road to drive to.
    """
    columns = ["id", "name", "kind", "basis", "drive_min", "reason"]
    from planning.coverage import remember_per_version

    own = facilities is None or facilities is region.facilities
    facilities = region.facilities if facilities is None else facilities
    if own:  # the region's own providers: resolved once per region version
        index = remember_per_version(_SERVING, (str(region.path), settings),
                                     lambda: _PlaceIndex.build(region, settings, facilities))
    else:  # a scenario's facilities: resolved for this call
        index = _PlaceIndex.build(region, settings, facilities)
    notes: list[str] = []
    rows: list[dict[str, object]] = []
    if not index.declared and index.fallback.empty:
        frame = pd.DataFrame(rows, columns=columns)
        frame.attrs["notes"] = notes
        return frame
    point = shapely.Point(float(lon), float(lat))
    codes_at: dict[str, str] = {}
    for code in index.codes_holding(point):  # finest first
        for level in CODE_LENGTH:
            up = index.names.ancestor(code, level)
            if up and level not in codes_at:
                codes_at[level] = up
    for _, fid, fname, fkind, codes, polygon in index.declared:
        inside = any(level is not None and codes_at.get(level) == code for level, code in codes)
        if not inside and polygon is not None:
            inside = bool(shapely.covers(polygon, point))
        if inside:
            rows.append({"id": fid, "name": fname, "kind": fkind, "basis": BASIS_AREA,
                         "drive_min": np.nan, "reason": reach_reason_zh(BASIS_AREA, None)})
    if len(index.fallback):
        network, problem = _drive(region, settings)
        if problem:
            notes.append("暂时无法按车程计算上门服务范围")
        else:
            from planning.catchments import times_to_target

            origin = snap_lonlat(network, lon, lat, settings=settings)
            if not origin.snapped[0]:
                notes.append(f"此处距可驾车道路超过 {settings.snap_limit_m:g} 米，无法按车程判断上门服务范围")
            else:
                times = times_to_target(index.reach(network, settings), network, origin)
                fallback = index.fallback
                for k in np.flatnonzero(times > 0):
                    t = float(times[k])
                    rows.append({"id": fallback["id"].iat[k], "name": fallback["name"].iat[k],
                                 "kind": fallback["kind"].iat[k], "basis": BASIS_DRIVE, "drive_min": t,
                                 "reason": reach_reason_zh(BASIS_DRIVE, t)})
    # declared areas first (by name), then by drive time, then name; sorted before the frame is built (cheaper)
    rows.sort(key=lambda r: (r["basis"] != BASIS_AREA, 0.0 if r["basis"] == BASIS_AREA else r["drive_min"],
                             str(r["name"])))
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs["notes"] = notes
    return frame


def gap_reasons_zh(table: pd.DataFrame) -> list[str]:
    """Reasons of the rows of a gap table of a home-care kind (:func:`planning.gaps.gaps`): who is
    not served (80+, disabled, living alone and each weighted ``uncovered:<group>``) and the median
    drive from the nearest provider (``median_time_min``)."""
    detail = [("uncovered_80plus", "高龄"), ("uncovered_disabled", "失能"), ("uncovered_alone", "独居")]
    groups = [(c, c.split(":", 1)[1]) for c in table.columns if str(c).startswith("uncovered:")]
    if "uncovered:独居" in table.columns:
        detail = detail[:2]
    out = []
    for row in table.to_dict("records"):
        median = row.get("median_time_min")
        out.append(gap_reason_zh(row["uncovered"], [(label, row.get(col) or 0) for col, label in [*detail, *groups]],
                                 float(median) if median is not None and pd.notna(median) else np.inf))
    return out


def gap_reason_zh(uncovered: int, detail: Sequence[tuple[str, int]], median_drive_min: float) -> str:
    """Reason of a gap of a home-care kind: "无上门服务覆盖老人 N 人（高龄 a、失能 b）；到最近服务商车程中位 M 分钟"."""
    head = f"{GAP_REASON_ZH}老人 {int(uncovered)} 人"
    parts = [f"{label} {int(count)}" for label, count in detail if count]
    if parts:
        head += "（" + "、".join(parts) + "）"
    if np.isfinite(median_drive_min):
        return f"{head}；到最近上门服务商车程中位 {median_drive_min:.0f} 分钟"
    return f"{head}；附近没有可驾车到达的上门服务商"


__all__ = [
    "BASIS_AREA",
    "BASIS_DRIVE",
    "BASIS_ZH",
    "GAP_REASON_ZH",
    "SEPARATORS",
    "SERVICE_AREAS_LAYER",
    "DeclaredAreas",
    "declared_service_areas",
    "gap_reason_zh",
    "gap_reasons_zh",
    "home_care_positions",
    "home_care_reach",
    "reach_reason_zh",
    "serving_point",
    "split_service_area",
]
