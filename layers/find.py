"""Layers of the public page 找养老服务: the starting-point pin, a facility's reach and its marker.

Every text from the data (place names, facility names) goes through
:func:`layers.basemap.bind_tooltip` / :func:`layers.facilities.popup_html`, which escape it. Points
are WGS-84 (lon, lat); they are shifted onto GCJ-02 tiles by :func:`layers.basemap.map_lat_lon`
when the map uses them.
"""

from __future__ import annotations

from typing import Any

import folium
import geopandas as gpd
import shapely
import shapely.geometry

from geo.labels import mode_zh
from layers.basemap import bind_popup, bind_tooltip, map_coordinates, map_lat_lon, to_map_crs
from layers.facilities import popup_html

REACH_COLOR = "#0072B2"
"""Fill and outline of a facility's reach (blue, colour-blind safe)."""
FACILITY_COLOR = "#D55E00"
"""The chosen facility's marker (orange)."""
ORIGIN_GROUP_ZH = "起点"


def add_origin_pin(m: folium.Map, *, lon: float, lat: float, label: str,
                   group: folium.FeatureGroup | None = None) -> folium.Map:
    """A pin at the starting point (WGS-84 ``lon``, ``lat``) on map ``m``, tooltip "起点：{label}" (escaped).

    With ``group`` the pin goes into that FeatureGroup (drawn over ``m``) instead of onto ``m`` itself;
    ``m`` decides the coordinates either way. Returns ``m``.
    """
    marker = folium.Marker(location=map_lat_lon(m, lon, lat))
    bind_tooltip(marker, f"起点：{label}")
    marker.add_to(m if group is None else group)
    return m


def origin_group(m: folium.Map, origin: dict[str, Any] | None) -> folium.FeatureGroup:
    """A FeatureGroup "起点" holding the pin of ``origin`` (``{"lon", "lat", "label"}``; empty for None),
    to be drawn over map ``m`` without changing the map itself (so its view is kept)."""
    group = folium.FeatureGroup(name=ORIGIN_GROUP_ZH)
    if origin is not None:
        add_origin_pin(m, lon=origin["lon"], lat=origin["lat"], label=origin["label"], group=group)
    return group


def add_reach(m: folium.Map, reach: shapely.Geometry, *, mode: str, minutes: float) -> folium.Map:
    """The area reachable from a facility (a shapely geometry in EPSG:4326) within ``minutes`` by ``mode``."""
    drawn = to_map_crs(gpd.GeoDataFrame(geometry=[reach], crs="EPSG:4326"), "可到达范围",
                       coordinates=map_coordinates(m))
    how = mode_zh(mode)
    area = folium.GeoJson(shapely.geometry.mapping(drawn.geometry.iloc[0]),
                          name=f"{how} {minutes:g} 分钟可到达范围",
                          style_function=lambda _f: {"color": REACH_COLOR, "weight": 1,
                                                     "fillColor": REACH_COLOR, "fillOpacity": 0.2})
    bind_tooltip(area, f"从该设施{how} {minutes:g} 分钟可到达的范围")
    area.add_to(m)
    return m


def add_facility_pin(m: folium.Map, record: dict[str, Any], *, lon: float, lat: float) -> folium.Map:
    """One facility (a :func:`layers.facilities.public_facility_records` row) as a large orange circle at
    WGS-84 ``lon``, ``lat``, with its popup and its name as tooltip."""
    marker = folium.CircleMarker(location=map_lat_lon(m, lon, lat), radius=11, color="#1a1a1a", weight=2,
                                 fill=True, fill_color=FACILITY_COLOR, fill_opacity=0.95)
    bind_popup(marker, popup_html(record))
    bind_tooltip(marker, record.get("name") or "")
    marker.add_to(m)
    return m


__all__ = ["FACILITY_COLOR", "REACH_COLOR", "add_facility_pin", "add_origin_pin", "add_reach", "origin_group"]
