"""Place search without internet (an offline gazetteer), plus optional online geocoders.

:class:`Gazetteer` indexes a region's own layers once: administrative areas,
street names of the road network, facilities (by name and by address), and
buildings (by street and house number, and by name). :meth:`Gazetteer.search`
finds places by name for the public page ("where is ..."), forgiving full-width
characters, spaces, punctuation, letter case, Latin accents and Chinese
abbreviations (the query's characters in order, e.g. "海港综合" for
"海港街道综合养老服务中心"); :meth:`Gazetteer.reverse` describes a clicked point
("灯塔社区 · Mannerheimintie 附近").

:func:`geocode_online` asks an online service (Nominatim, Amap, 天地图) instead.
It is never called by default: the app and the demo run offline. Response
parsing is done by the pure functions :func:`parse_amap` and
:func:`parse_tianditu`; all coordinates returned are WGS-84 (Amap's GCJ-02 is
converted with :func:`geo.coords.to_wgs84`).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geo.coords import to_wgs84
from geo.crs import transformer, working_crs_at
from geo.errors import ElderMapError

log = logging.getLogger(__name__)

PlaceKind = Literal["area", "street", "facility", "address"]
KIND_PRIORITY: tuple[str, ...] = ("facility", "area", "address", "street")
"""Tie-break order between kinds matched equally well (first wins)."""
OFFLINE = "offline"
AREA_LABELS: dict[str, str] = {"district": "区县", "street": "街道", "community": "社区"}
STREET_LABEL = "道路"
FACILITY_LABEL = "养老服务设施"
ADDRESS_LABEL = "门牌"
BUILDING_LABEL = "建筑"
NEAR_STREET_M = 500.0
"""Default distance within which :meth:`Gazetteer.reverse` names the nearest street."""

ONLINE_SERVICES: tuple[str, ...] = ("nominatim", "amap", "tianditu")
AMAP_URL = "https://restapi.amap.com/v3/geocode/geo"
TIANDITU_URL = "https://api.tianditu.gov.cn/geocoder"
USER_AGENT = "ElderMap/0.1 (elderly-service e-map)"

# Match levels; the score of a match is its level plus a kind bonus plus a small
# bonus for shorter names, so the order is: level, then kind, then length.
EXACT, PREFIX, SUBSTRING, SUBSEQUENCE = 4, 3, 2, 1
_KIND_BONUS = {kind: 0.1 * (len(KIND_PRIORITY) - 1 - i) for i, kind in enumerate(KIND_PRIORITY)}
_LENGTH_BONUS = 0.099  # < 0.1, the step between kinds

_STREET_NUMBER = re.compile(r"^(?P<street>.*?\D)(?P<number>\d[\da-z]*)号?$")
_LEADING_NUMBER = re.compile(r"^\s*(\d+)")
_MAX_QUERY_CHARS = 100
_ASCII_DROP = re.compile(r"[^0-9a-z]+")
_LABEL_KIND = {**dict.fromkeys(AREA_LABELS.values(), "area"), "地区": "area", STREET_LABEL: "street",
               FACILITY_LABEL: "facility", ADDRESS_LABEL: "address", BUILDING_LABEL: "address"}
_LABEL_SUFFIX = re.compile(r"\(\s*(?P<label>" + "|".join(map(re.escape, _LABEL_KIND)) + r")\s*\)\s*$")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_AMAP_AREA_LEVELS = frozenset({"国家", "省", "市", "区县", "开发区", "乡镇", "村庄", "热点商圈"})
_AMAP_STREET_LEVELS = frozenset({"道路", "道路交叉路口"})
_TIANDITU_AREA_LEVELS = frozenset({"国家", "省", "城市", "市", "区县", "乡镇", "村庄", "商圈"})
_TIANDITU_STREET_LEVELS = frozenset({"道路", "交叉路口"})
_SERVICE_ALIASES = {
    **dict.fromkeys(("nominatim", "osm", "openstreetmap"), "nominatim"),
    **dict.fromkeys(("amap", "gaode", "高德", "高德地图"), "amap"),
    **dict.fromkeys(("tianditu", "天地图"), "tianditu"),
}
_SERVICE_LABELS = {"nominatim": "OpenStreetMap Nominatim", "amap": "高德地图", "tianditu": "天地图"}


class GeocodeError(ElderMapError, RuntimeError):
    """An online address lookup failed (network, service error, missing optional package)."""


class GeocodeConfigError(ElderMapError, ValueError):
    """An online address lookup was asked for wrongly (unknown service, missing key)."""


@dataclass(frozen=True)
class Place:
    """A search result.

    Attributes
    ----------
    name
        Display text with its kind in brackets, e.g. ``"灯塔社区（社区）"``,
        ``"Mannerheimintie（道路）"``, ``"Aleksanterinkatu 52（门牌）"``.
    kind
        ``"area"``, ``"street"``, ``"facility"`` or ``"address"``.
    lon, lat
        WGS-84 degrees.
    score
        Higher is better; comparable within one result list only.
    source
        ``"offline"`` or the online service name (``"nominatim"``, ``"amap"``, ``"tianditu"``).
    """

    name: str
    kind: PlaceKind
    lon: float
    lat: float
    score: float
    source: str = OFFLINE


# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------

def _text(value: Any) -> str | None:
    """A value as a stripped string, the first of a list, None if missing or blank."""
    if isinstance(value, list | tuple | np.ndarray):
        value = value[0] if len(value) else None
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def normalise(text: str) -> str:
    """The search key of a text: what :meth:`Gazetteer.search` compares.

    NFKC (full-width letters, digits and punctuation become half-width), case
    folded, accents on Latin letters removed (``"Töölö"`` -> ``"toolo"``), and
    everything that is not a letter, digit or (non-Latin) combining mark dropped:
    spaces, ASCII and Chinese punctuation, symbols.
    """
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    if text.isascii():
        return _ASCII_DROP.sub("", text)
    folded = unicodedata.normalize("NFKD", text)
    out: list[str] = []
    latin_base = False
    for ch in folded:
        category = unicodedata.category(ch)[0]
        if category in "LN":
            out.append(ch)
            latin_base = ord(ch) < 0x250
        elif category == "M" and not latin_base:
            out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def _address_text(street: str, number: str) -> str:
    """Display text of a street address: "Mannerheimintie 22-24", "建设路12号"."""
    if _CJK.search(street):
        return f"{street}{number}" + ("号" if number[-1:].isdigit() else "")
    return f"{street} {number}"


def _labelled(name: str, label: str) -> str:
    return f"{name}（{label}）"


# ---------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------

def _wgs84(layer: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """The layer in EPSG:4326 (a missing CRS is taken as EPSG:4326); None if missing or empty."""
    if layer is None or len(layer) == 0:
        return None
    try:
        crs = layer.crs if isinstance(layer, gpd.GeoDataFrame) else None
    except AttributeError:  # no active geometry column
        crs = None
    return layer.to_crs(4326) if crs is not None and crs.to_epsg() != 4326 else layer


def _column(layer: pd.DataFrame, name: str) -> np.ndarray:
    """A column as stripped strings (None where missing), an object array; all None if the column is absent."""
    if name not in layer:
        return np.full(len(layer), None, dtype=object)
    try:
        codes, uniques = pd.factorize(layer[name], use_na_sentinel=True)
    except TypeError:  # unhashable values, e.g. lists of names
        return np.array([_text(x) for x in layer[name]] + [None], dtype=object)[:-1]
    texts = np.array([_text(u) for u in uniques] + [None], dtype=object)  # code -1 (missing) -> None
    return texts[codes]


def _geometries(layer: pd.DataFrame) -> np.ndarray:
    """The layer's geometry as an object array of shapely geometries (None where missing)."""
    try:
        geoms = layer.geometry if isinstance(layer, gpd.GeoDataFrame) else layer["geometry"]
    except (AttributeError, KeyError):  # no (active) geometry column
        return np.full(len(layer), None, dtype=object)
    return np.asarray(geoms.to_numpy(), dtype=object)


@dataclass(frozen=True)
class _Metric:
    """The working CRS around the region (:func:`geo.crs.working_crs_at`): WGS-84 geometries to metres and back."""

    crs: pyproj.CRS

    def forward(self, geometries: np.ndarray) -> np.ndarray:
        """WGS-84 (lon, lat) geometries in the working CRS, metres."""
        return _transform(geometries, transformer(4326, self.crs))

    def inverse(self, geometries: np.ndarray) -> np.ndarray:
        """Working-CRS geometries back in WGS-84 (lon, lat)."""
        return _transform(geometries, transformer(self.crs, 4326))


def _transform(geometries: np.ndarray, by: pyproj.Transformer) -> np.ndarray:
    return shapely.transform(geometries, lambda xy: np.column_stack(by.transform(xy[:, 0], xy[:, 1])))


class RegionLayers(Protocol):
    """What :meth:`Gazetteer.from_region` reads: a loaded region (``data.store.Region``) or anything alike."""

    @property
    def areas(self) -> gpd.GeoDataFrame: ...

    @property
    def road_edges(self) -> gpd.GeoDataFrame: ...

    @property
    def facilities(self) -> gpd.GeoDataFrame: ...

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """A layer by name (``"buildings"``), empty when there is none."""
        ...


# ---------------------------------------------------------------------------
# The gazetteer
# ---------------------------------------------------------------------------

@dataclass
class _Entries:
    """Entries under construction: parallel lists, plus (search key, entry) pairs."""

    names: list[str]
    kinds: list[str]
    lon: list[float]
    lat: list[float]
    keys: list[tuple[str, int]]

    def add(self, name: str, kind: str, lon: float, lat: float, aliases: Iterable[str]) -> None:
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return
        index = len(self.names)
        self.names.append(name)
        self.kinds.append(kind)
        self.lon.append(float(lon))
        self.lat.append(float(lat))
        for key in dict.fromkeys(normalise(a) for a in aliases if a):
            if key:
                self.keys.append((key, index))


class Gazetteer:
    """Offline place index of one region; build once with :meth:`from_layers` or :meth:`from_region`.

    Search keys are kept as one newline-separated string, so a query is matched
    against all of them by a few regular-expression scans (linear time, no
    backtracking) instead of a Python loop over the entries.
    """

    def __init__(
        self,
        entries: _Entries,
        *,
        area_geoms: np.ndarray,
        area_names: Sequence[str],
        area_levels: Sequence[str],
        street_lines: np.ndarray,
        street_line_names: Sequence[str],
        projection: _Metric | None,
        near_street_m: float = NEAR_STREET_M,
    ) -> None:
        self._names = np.asarray(entries.names, dtype=object)
        self._kinds = np.asarray(entries.kinds, dtype=object)
        self._lon = np.asarray(entries.lon, dtype=np.float64)
        self._lat = np.asarray(entries.lat, dtype=np.float64)
        kind_bonus = np.array([_KIND_BONUS[k] for k in entries.kinds], dtype=np.float64)
        name_len = np.array([len(n) for n in entries.names], dtype=np.float64)
        self._bonus = kind_bonus + _LENGTH_BONUS / (1.0 + name_len)
        self._key_count = len(entries.keys)
        # one "key<TAB>entry" line per search key; keys hold only letters, digits and marks
        self._text = "".join(f"\n{key}\t{entry}" for key, entry in entries.keys) + "\n"
        self._exact: dict[str, list[int]] = {}
        for key, entry in entries.keys:
            self._exact.setdefault(key, []).append(entry)
        self._name_rank = np.argsort(np.argsort(self._names.astype(str), kind="stable"), kind="stable")
        self._area_geoms = area_geoms
        self._area_sizes = shapely.area(area_geoms) if len(area_geoms) else np.empty(0)
        self._area_names = list(area_names)
        self._area_levels = list(area_levels)
        self._street_names = list(street_line_names)
        self._projection = projection
        self._street_tree = shapely.STRtree(street_lines) if len(street_lines) else None
        self._near_street_m = float(near_street_m)

    def __len__(self) -> int:
        """Number of places (not counting aliases)."""
        return len(self._names)

    def __repr__(self) -> str:
        counts = pd.Series(self._kinds, dtype=object).value_counts().to_dict() if len(self) else {}
        return f"Gazetteer({len(self)} places: {counts}, {self._key_count} search keys)"

    # -- construction -------------------------------------------------------

    @classmethod
    def from_region(cls, region: RegionLayers, *, near_street_m: float = NEAR_STREET_M) -> Gazetteer:
        """Index a loaded region's areas, road edges, buildings and facilities (:meth:`from_layers`).

        ``region`` is a ``data.store.Region``, or any object with ``areas``, ``road_edges`` and
        ``facilities`` layers and a ``layer("buildings")`` method.
        """
        return cls.from_layers(region.areas, region.road_edges, region.layer("buildings"), region.facilities,
                               near_street_m=near_street_m)

    @classmethod
    def from_layers(
        cls,
        areas: gpd.GeoDataFrame | None,
        road_edges: gpd.GeoDataFrame | None,
        buildings: gpd.GeoDataFrame | None,
        facilities: gpd.GeoDataFrame | None,
        *,
        near_street_m: float = NEAR_STREET_M,
    ) -> Gazetteer:
        """Index plain layers (any may be None or empty; other CRSs are converted to EPSG:4326).

        Parameters
        ----------
        areas
            ``code``, ``name``, ``level`` (district/street/community), polygon
            geometry (may be None: the area is then placed at the mean of its
            facilities, found by their ``<level>_code`` column, or skipped).
        road_edges
            ``name`` and LineString geometry; one entry per distinct name, placed at
            the middle of the longest connected run of its edges.
        buildings
            ``street``, ``housenumber``, ``name`` and polygon geometry; entries for
            "street number" addresses and for named buildings, at the centroid.
        facilities
            ``name``, ``address`` and Point geometry (or ``lon``/``lat``);
            searchable by name and by address.
        near_street_m
            How far (metres) :meth:`reverse` looks for the nearest named street.
        """
        started = time.perf_counter()
        areas, road_edges, buildings, facilities = map(_wgs84, (areas, road_edges, buildings, facilities))
        entries = _Entries([], [], [], [], [])
        fac_lon, fac_lat = _facility_points(facilities)
        _add_facilities(entries, facilities, fac_lon, fac_lat)
        area_geoms, area_names, area_levels = _add_areas(entries, areas, facilities, fac_lon, fac_lat)
        _add_buildings(entries, buildings)
        projection = _projection_for(road_edges, area_geoms, fac_lon, fac_lat)
        lines, line_names = _add_streets(entries, road_edges, projection)
        gazetteer = cls(entries, area_geoms=area_geoms, area_names=area_names, area_levels=area_levels,
                        street_lines=lines, street_line_names=line_names, projection=projection,
                        near_street_m=near_street_m)
        log.info("gazetteer built in %.0f ms: %r", (time.perf_counter() - started) * 1e3, gazetteer)
        return gazetteer

    # -- search -------------------------------------------------------------

    def search(self, query: str, *, limit: int = 10) -> list[Place]:
        """Places whose names (or aliases) match ``query``, best first.

        Match levels, best first: exact, prefix, substring, and all query
        characters in order (a subsequence, for abbreviations such as "灯塔社"
        or "海港综合"); ties go to facilities, then areas, addresses and streets,
        then to shorter names. Text is compared after :func:`normalise`. A
        "street + number" query for which no such address is indexed also
        returns the street itself. A display name given back ("灯塔社区（社区）")
        finds that place: the bracketed label restricts the kind.

        Returns
        -------
        list of Place
            At most ``limit`` places, unique by (name, kind), sorted by
            decreasing score; empty for a blank query or no match.
        """
        text = unicodedata.normalize("NFKC", query or "")
        labelled = _LABEL_SUFFIX.search(text)  # a display name typed or pasted back: "灯塔社区（社区）"
        only_kind = _LABEL_KIND[labelled["label"]] if labelled else None
        key = normalise(text[:labelled.start()] if labelled else text)[:_MAX_QUERY_CHARS]
        if not key or limit <= 0:
            return []
        entries, levels = self._match(key)
        if only_kind is not None:
            keep = self._kinds[entries] == only_kind
            entries, levels = entries[keep], levels[keep]
        scores = levels + self._bonus[entries] if len(entries) else np.empty(0)
        street = self._street_fallback(key, entries, levels) if only_kind in (None, "street") else None
        if street is not None:
            entries = np.concatenate([entries, street[0]])
            scores = np.concatenate([scores, street[1]])
        order = np.lexsort((self._name_rank[entries], -scores))
        out: list[Place] = []
        seen: set[tuple[str, str]] = set()
        for i in order:
            entry = int(entries[i])
            ident = (self._names[entry], self._kinds[entry])
            if ident in seen:
                continue
            seen.add(ident)
            out.append(Place(self._names[entry], self._kinds[entry], float(self._lon[entry]),
                             float(self._lat[entry]), round(float(scores[i]), 6)))
            if len(out) == limit:
                break
        return out

    def _match(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(entry indices, best match level of each) of entries matching a normalised query.

        Each level is one regular-expression scan of the joined "key<TAB>entry" lines that
        starts with a literal (fast in ``re``) and returns the entry numbers as strings:
        no Python code runs per matching line.
        """
        best = np.zeros(len(self._names), dtype=np.int8)
        first, rest = re.escape(key[0]), key[1:]
        # [^\n\tc]*c per later character: the leftmost in-order match, which never backtracks.
        subsequence = first + "".join(f"[^\\n\\t{re.escape(c)}]*{re.escape(c)}" for c in rest)
        scans = [(SUBSEQUENCE, subsequence), (SUBSTRING, re.escape(key)), (PREFIX, "\n" + re.escape(key))]
        if len(key) == 1:
            scans = scans[1:]  # a one-character subsequence is a substring
        for level, pattern in scans:
            found = re.findall(pattern + "[^\\n\\t]*\t(\\d+)", self._text)
            if not found:
                break  # every later level is a subset of this one
            best[np.fromiter(map(int, found), dtype=np.int64, count=len(found))] = level
        else:
            best[self._exact.get(key, [])] = EXACT
        entries = np.flatnonzero(best)
        return entries, best[entries].astype(np.float64)

    def _street_fallback(self, key: str, entries: np.ndarray,
                         levels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Streets named by the street part of a "street + number" query with no exact address hit."""
        parsed = _STREET_NUMBER.match(key)
        if parsed is None or len(parsed["street"]) < 2:
            return None
        if np.any((levels == EXACT) & (self._kinds[entries] == "address")):
            return None
        streets, street_levels = self._match(parsed["street"])
        keep = (self._kinds[streets] == "street") & (street_levels >= PREFIX)
        streets = streets[keep]
        return streets, street_levels[keep] + self._bonus[streets]

    # -- reverse ------------------------------------------------------------

    def reverse(self, lon: float, lat: float) -> str:
        """A short Chinese description of a point, e.g. ``"公园街道灯塔社区 · Mannerheimintie 附近"``.

        Names the street (街道) and community containing the point (when areas
        have polygons; the district only if neither does) and the nearest named
        street within the ``near_street_m`` given at construction. ``""`` when
        nothing is known about the point.
        """
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return ""
        parts: list[str] = []
        if len(self._area_geoms):
            inside = shapely.intersects_xy(self._area_geoms, lon, lat)
            found: dict[str, str] = {}
            for i in np.flatnonzero(inside)[np.argsort(self._area_sizes[inside], kind="stable")]:
                found.setdefault(self._area_levels[i], self._area_names[i])  # the smallest one per level
            admin = "".join(found[level] for level in ("street", "community") if level in found)
            admin = admin or found.get("district", "")
            if admin:
                parts.append(admin)
        street = self._nearest_street(lon, lat)
        if street:
            parts.append(f"{street} 附近")
        return " · ".join(parts)

    def _nearest_street(self, lon: float, lat: float) -> str | None:
        if self._street_tree is None or self._projection is None:
            return None
        point = self._projection.forward(np.array([shapely.Point(lon, lat)]))[0]
        hits = self._street_tree.query_nearest(point, max_distance=self._near_street_m, all_matches=False)
        return self._street_names[int(hits[0])] if len(hits) else None


# ---------------------------------------------------------------------------
# Building the entries
# ---------------------------------------------------------------------------

def _facility_points(facilities: gpd.GeoDataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Facility (lon, lat): the Point geometry, else the ``lon``/``lat`` columns; NaN if neither."""
    if facilities is None:
        return np.empty(0), np.empty(0)
    n = len(facilities)
    lon, lat = (pd.to_numeric(facilities[c], errors="coerce").to_numpy(np.float64, copy=True)
                if c in facilities else np.full(n, np.nan) for c in ("lon", "lat"))
    geoms = _geometries(facilities)
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if usable.any():
        points = shapely.point_on_surface(geoms[usable])
        lon[usable], lat[usable] = shapely.get_x(points), shapely.get_y(points)
    return lon, lat


def _add_facilities(entries: _Entries, facilities: gpd.GeoDataFrame | None,
                    lon: np.ndarray, lat: np.ndarray) -> None:
    if facilities is None:
        return
    for name, address, x, y in zip(_column(facilities, "name"), _column(facilities, "address"), lon, lat,
                                   strict=True):
        if name:
            entries.add(_labelled(name, FACILITY_LABEL), "facility", x, y, (name, address))


def _add_areas(entries: _Entries, areas: gpd.GeoDataFrame | None, facilities: gpd.GeoDataFrame | None,
               fac_lon: np.ndarray, fac_lat: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
    """Add area entries; return the polygons (with names and levels) for :meth:`Gazetteer.reverse`."""
    if areas is None:
        return np.empty(0, dtype=object), [], []
    geoms = _geometries(areas)
    has_polygon = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    points = np.full(len(geoms), None, dtype=object)
    points[has_polygon] = shapely.point_on_surface(geoms[has_polygon])
    names, levels, codes = _column(areas, "name"), _column(areas, "level"), _column(areas, "code")
    for i, (name, level, code) in enumerate(zip(names, levels, codes, strict=True)):
        if not name:
            continue
        if has_polygon[i]:
            x, y = shapely.get_x(points[i]), shapely.get_y(points[i])
        else:
            x, y = _mean_of_facilities(facilities, fac_lon, fac_lat, level, code)
        entries.add(_labelled(name, AREA_LABELS.get(level or "", "地区")), "area", x, y, (name,))
    keep = has_polygon & (names != None)  # noqa: E711 (element-wise)
    return geoms[keep], [n for n, k in zip(names, keep, strict=True) if k], \
        [lv or "" for lv, k in zip(levels, keep, strict=True) if k]


def _mean_of_facilities(facilities: gpd.GeoDataFrame | None, lon: np.ndarray, lat: np.ndarray,
                        level: str | None, code: str | None) -> tuple[float, float]:
    """Mean position of the facilities whose ``<level>_code`` is ``code``; NaN if none."""
    column = f"{level}_code"
    if facilities is None or not code or column not in facilities:
        return math.nan, math.nan
    mine = (_column(facilities, column) == code) & np.isfinite(lon) & np.isfinite(lat)
    if not mine.any():
        return math.nan, math.nan
    return float(lon[mine].mean()), float(lat[mine].mean())


def _add_buildings(entries: _Entries, buildings: gpd.GeoDataFrame | None) -> None:
    if buildings is None:
        return
    geoms = _geometries(buildings)
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    x, y = np.full(len(geoms), np.nan), np.full(len(geoms), np.nan)
    centroids = shapely.centroid(geoms[usable])
    x[usable], y[usable] = shapely.get_x(centroids), shapely.get_y(centroids)
    rows = zip(_column(buildings, "street"), _column(buildings, "housenumber"), _column(buildings, "name"),
               x, y, strict=True)
    for street, number, name, bx, by in rows:
        if street and number:
            text = _address_text(street, number)
            leading = _LEADING_NUMBER.match(number)  # "22-24", "13A", "12号" are also found as "22", "13", "12"
            aliases = [text, f"{street}{number}", f"{street}{leading.group(1)}" if leading else ""]
            entries.add(_labelled(text, ADDRESS_LABEL), "address", bx, by, aliases)
        if name:
            entries.add(_labelled(name, BUILDING_LABEL), "address", bx, by, (name,))


def _projection_for(road_edges: gpd.GeoDataFrame | None, area_geoms: np.ndarray,
                    fac_lon: np.ndarray, fac_lat: np.ndarray) -> _Metric | None:
    """The working CRS at the region's centre (roads first, then areas, then facilities)."""
    for geoms in (None if road_edges is None else _geometries(road_edges), area_geoms):
        if geoms is not None and len(geoms):
            minx, miny, maxx, maxy = shapely.total_bounds(geoms)
            if np.isfinite([minx, miny, maxx, maxy]).all():
                return _Metric(working_crs_at((minx + maxx) / 2.0, (miny + maxy) / 2.0))
    if np.isfinite(fac_lon).any():
        return _Metric(working_crs_at(float(np.nanmean(fac_lon)), float(np.nanmean(fac_lat))))
    return None


def _add_streets(entries: _Entries, road_edges: gpd.GeoDataFrame | None,
                 projection: _Metric | None) -> tuple[np.ndarray, list[str]]:
    """Add one entry per street name; return the named edges in local metres (with names) for reverse."""
    if road_edges is None or projection is None or "name" not in road_edges:
        return np.empty(0, dtype=object), []
    names = _column(road_edges, "name")
    geoms = _geometries(road_edges)
    named = (names != None) & ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))  # noqa: E711
    if not named.any():
        return np.empty(0, dtype=object), []
    names, metric = names[named], projection.forward(geoms[named])
    codes, uniques = pd.factorize(pd.Series(names, dtype=object), sort=False)
    parts, owner = shapely.get_parts(metric, return_index=True)
    part_codes = codes[owner]
    order = np.argsort(part_codes, kind="stable")
    multi = shapely.multilinestrings(parts[order], indices=part_codes[order])
    merged, street = shapely.get_parts(shapely.line_merge(multi), return_index=True)
    lengths = shapely.length(merged)
    longest = np.lexsort((-lengths, street))
    first = np.r_[True, street[longest][1:] != street[longest][:-1]]
    chosen = longest[first]
    middles = projection.inverse(shapely.line_interpolate_point(merged[chosen], 0.5, normalized=True))
    for code, point in zip(street[chosen], middles, strict=True):
        name = uniques[code]
        entries.add(_labelled(name, STREET_LABEL), "street", shapely.get_x(point), shapely.get_y(point), (name,))
    return metric, list(names)


# ---------------------------------------------------------------------------
# Online geocoders (never used unless asked for)
# ---------------------------------------------------------------------------

def _failure(reason: str, en: str) -> GeocodeError:
    return GeocodeError(f"在线地址查询失败：{reason}，请检查网络或改用离线搜索", f"online geocoding failed: {en}")


def geocode_online(
    query: str,
    *,
    service: str,
    key: str | None = None,
    timeout_s: float = 5.0,
    limit: int = 5,
    city: str | None = None,
) -> list[Place]:
    """Look an address up with an online service (needs internet; never called by default).

    Parameters
    ----------
    query
        Address or place name.
    service
        ``"nominatim"`` (OpenStreetMap, via the optional ``geopy`` package),
        ``"amap"`` (高德 Web 服务 API, needs ``key``) or ``"tianditu"`` (天地图,
        needs ``key`` = tk). Chinese names (``"高德"``, ``"天地图"``) work too.
    key
        The service key; for Nominatim, an optional user agent naming your
        deployment (its usage policy asks for one).
    timeout_s
        Seconds to wait for the service.
    limit
        Most places returned.
    city
        Amap only: restrict the search to a city (name, citycode or adcode).

    Returns
    -------
    list of Place
        WGS-84 places with ``source`` set to the service name; empty if nothing found.

    Raises
    ------
    GeocodeConfigError
        Unknown service, or no key for a service that needs one.
    GeocodeError
        Network failure, a service error, or ``geopy`` missing for Nominatim.
    """
    name = _SERVICE_ALIASES.get(str(service).strip().casefold())
    if name is None:
        raise GeocodeConfigError(
            f"未知的在线地址查询服务“{service}”。可用：nominatim（OpenStreetMap）、amap（高德地图）、tianditu（天地图）",
            f"unknown geocoding service {service!r}; allowed: {', '.join(ONLINE_SERVICES)}")
    text = (query or "").strip()
    if not text or limit <= 0:
        return []
    if name in ("amap", "tianditu") and not (key or "").strip():
        raise GeocodeConfigError(f"使用{_SERVICE_LABELS[name]}在线查询需要填写 Key（在其开放平台申请）",
                                 f"the {name} geocoder needs a key")
    log.info("online geocoding with %s (%d characters)", name, len(text))
    if name == "nominatim":
        return _nominatim(text, user_agent=key, timeout_s=timeout_s, limit=limit)
    if name == "amap":
        params = {"address": text, "key": key, "output": "JSON", **({"city": city} if city else {})}
        return parse_amap(_fetch_json(f"{AMAP_URL}?{urllib.parse.urlencode(params)}", timeout_s, name))[:limit]
    ds = json.dumps({"keyWord": text}, ensure_ascii=False)
    url = f"{TIANDITU_URL}?{urllib.parse.urlencode({'ds': ds, 'tk': key})}"
    return parse_tianditu(_fetch_json(url, timeout_s, name))[:limit]


def _fetch_json(url: str, timeout_s: float, service: str) -> dict[str, Any]:
    """GET a JSON object; any failure becomes a GeocodeError (the URL, holding the key, is not shown)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    label = _SERVICE_LABELS[service]
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (fixed https URLs)
            payload = json.loads(response.read().decode("utf-8-sig"))
    except urllib.error.HTTPError as exc:
        raise _failure(f"{label}返回 HTTP {exc.code}", f"{service}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _failure(f"无法连接{label}（{reason}）", f"{service}: {reason}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _failure(f"{label}返回的内容无法解析", f"{service}: invalid JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise _failure(f"{label}返回的内容无法解析", f"{service}: JSON is not an object")
    return payload


def _nominatim(query: str, *, user_agent: str | None, timeout_s: float, limit: int) -> list[Place]:
    try:
        from geopy.exc import GeopyError
        from geopy.geocoders import Nominatim
    except ImportError as exc:
        raise GeocodeError("未安装 geopy，无法使用 OpenStreetMap 在线地址查询；请运行 pip install geopy，或改用离线搜索",
                           "geopy is not installed; run pip install geopy") from exc
    geocoder = Nominatim(user_agent=user_agent or USER_AGENT, timeout=timeout_s)
    try:
        found = geocoder.geocode(query, exactly_one=False, limit=limit, language="zh-CN")
    except GeopyError as exc:
        raise _failure(f"OpenStreetMap Nominatim 出错（{exc}）", f"nominatim: {exc}") from exc
    places = []
    for rank, location in enumerate(found or []):
        raw = getattr(location, "raw", {}) or {}
        category = str(raw.get("class") or raw.get("category") or "")
        kind = "street" if category == "highway" else "area" if category in ("boundary", "place") else "address"
        importance = raw.get("importance")
        score = float(importance) if isinstance(importance, int | float) else 1.0 / (1 + rank)
        places.append(Place(str(location.address), kind, float(location.longitude), float(location.latitude),
                            score, "nominatim"))
    return places


def parse_amap(payload: dict[str, Any]) -> list[Place]:
    """Places of an Amap ``/v3/geocode/geo`` JSON response, converted from GCJ-02 to WGS-84.

    Raises
    ------
    GeocodeError
        The response reports an error (``status`` not ``"1"``, e.g. an invalid key).
    """
    if str(payload.get("status")) != "1":
        info = _text(payload.get("info")) or "未知错误"
        raise _failure(f"高德地图返回错误 {info}（{payload.get('infocode', '')}）",
                       f"amap: {info} ({payload.get('infocode', '')})")
    places = []
    for rank, item in enumerate(payload.get("geocodes") or []):
        try:
            glon, glat = (float(v) for v in str(_text(item.get("location")) or "").split(","))
        except ValueError:
            continue
        lon, lat = to_wgs84(glon, glat, "gcj02")
        level = _text(item.get("level")) or ""
        kind = "area" if level in _AMAP_AREA_LEVELS else "street" if level in _AMAP_STREET_LEVELS else "address"
        address = _text(item.get("formatted_address")) or ""
        places.append(Place(_labelled(address, level) if level else address, kind, float(lon), float(lat),
                            1.0 / (1 + rank), "amap"))
    return places


def parse_tianditu(payload: dict[str, Any]) -> list[Place]:
    """Places of a 天地图 ``geocoder?ds=...`` JSON response (CGCS2000, taken as WGS-84).

    Raises
    ------
    GeocodeError
        The response reports an error (``status`` not ``"0"``).
    """
    if str(payload.get("status")) != "0":
        msg = _text(payload.get("msg")) or "未知错误"
        raise _failure(f"天地图返回错误（{msg}）", f"tianditu: {msg}")
    location = payload.get("location") or {}
    try:
        lon, lat = float(location["lon"]), float(location["lat"])
    except (KeyError, TypeError, ValueError):
        return []
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return []
    level = _text(location.get("level")) or ""
    kind = "area" if level in _TIANDITU_AREA_LEVELS else "street" if level in _TIANDITU_STREET_LEVELS else "address"
    name = _text(location.get("keyWord")) or ""
    try:
        score = float(location.get("score")) / 100.0
    except (TypeError, ValueError):
        score = 1.0
    return [Place(_labelled(name, level) if level else name, kind, lon, lat, score, "tianditu")]


__all__ = ["ADDRESS_LABEL", "AREA_LABELS", "BUILDING_LABEL", "FACILITY_LABEL", "KIND_PRIORITY", "ONLINE_SERVICES",
           "STREET_LABEL", "GeocodeConfigError", "GeocodeError", "Gazetteer", "Place", "RegionLayers",
           "geocode_online", "normalise", "parse_amap", "parse_tianditu"]
