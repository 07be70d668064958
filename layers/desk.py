"""Layers of the 调度 page (the 12349 desk): the service address of a call and carers' daily routes.

Never imports streamlit. Points are WGS-84 (lon, lat) and go onto the map through
:func:`layers.basemap.map_lat_lon` (shifted onto GCJ-02 tiles when the map uses them). Every text
reaches the map through :func:`layers.basemap.bind_tooltip` or :func:`layers.basemap.escape_text`.
Homes are personal data: these layers are for staff pages only, and the page coarsens the points
(:func:`coarse_collection`) before they are drawn.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import folium

from layers.basemap import bind_tooltip, escape_text, map_lat_lon

ROUTE_COLOURS: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
                                  "#8B6D00")
"""Colours of carers' routes, in turn (Okabe–Ito, colour-blind safe; a dark ochre instead of yellow)."""
SERVICE_POINT_ZH = "服务地址"


def route_colours(carer_ids: Sequence[str]) -> dict[str, str]:
    """A colour per carer, in the given order (:data:`ROUTE_COLOURS` in turn)."""
    return {str(c): ROUTE_COLOURS[i % len(ROUTE_COLOURS)] for i, c in enumerate(carer_ids)}


def coarse_collection(collection: Mapping[str, Any], *, decimals: int = 4) -> dict[str, Any]:
    """A copy of a GeoJSON FeatureCollection with every coordinate rounded to ``decimals`` decimals
    (4: about 10 m), so the exact homes of a route plan never reach the browser."""
    out = copy.deepcopy(dict(collection))

    def round_coords(value: Any) -> Any:
        if isinstance(value, list | tuple) and value and isinstance(value[0], int | float):
            return [round(float(v), decimals) for v in value]
        if isinstance(value, list | tuple):
            return [round_coords(v) for v in value]
        return value

    for feature in out.get("features", []):
        geometry = feature.get("geometry") or {}
        if "coordinates" in geometry:
            geometry["coordinates"] = round_coords(geometry["coordinates"])
    return out


def service_point_group(m: folium.Map, point: Mapping[str, Any] | None) -> folium.FeatureGroup:
    """A FeatureGroup "服务地址" with a pin at ``point`` (``{"lon", "lat", "label"}``, WGS-84; empty for None),
    tooltip "服务地址：{label}" (escaped), to be drawn over map ``m`` (whose coordinates it follows)."""
    group = folium.FeatureGroup(name=SERVICE_POINT_ZH)
    if point is not None:
        marker = folium.Marker(location=map_lat_lon(m, float(point["lon"]), float(point["lat"])))
        bind_tooltip(marker, f"{SERVICE_POINT_ZH}：{point.get('label', '')}")
        marker.add_to(group)
    return group


def _stop_icon(seq: int, colour: str) -> folium.DivIcon:
    """A round numbered badge (no image: nothing is fetched)."""
    html = (f'<div style="width:28px;height:28px;border-radius:50%;background:{escape_text(colour)};color:#fff;'
            'border:2px solid #fff;box-shadow:0 0 0 1px #222;font:bold 15px/24px sans-serif;text-align:center">'
            f"{int(seq)}</div>")
    return folium.DivIcon(html=html, icon_size=(28, 28), icon_anchor=(14, 14), class_name="eldermap-stop")


def add_carer_routes(m: folium.Map, collection: Mapping[str, Any], *, colours: Mapping[str, str],
                     carers: Sequence[str] | None = None) -> folium.Map:
    """Carers' routes of :func:`planning.routes.plan_geojson` on map ``m``: per carer one FeatureGroup
    "护理员 {id}" with its route line (tooltip: visits, travel minutes, leave and return times), its base
    (a white circle) and its visits as numbered badges in visiting order (tooltip: order, arrival,
    start of service, departure).

    Parameters
    ----------
    collection
        The plan's FeatureCollection (EPSG:4326, [lon, lat]): features of ``kind`` route, base and visit.
    colours
        Carer id → CSS colour (:func:`route_colours`); other carers get the first colour.
    carers
        Only these carers (default all).
    """
    groups: dict[str, folium.FeatureGroup] = {}
    wanted = None if carers is None else {str(c) for c in carers}
    drawing_order = {"route": 0, "base": 1, "visit": 2}  # lines under the points
    features = sorted(collection.get("features", []), key=lambda f: drawing_order.get(f["properties"].get("kind"), 3))
    for feature in features:
        props = feature["properties"]
        carer = str(props.get("carer_id", ""))
        if wanted is not None and carer not in wanted:
            continue
        colour = colours.get(carer, ROUTE_COLOURS[0])
        group = groups.get(carer)
        if group is None:
            group = groups[carer] = folium.FeatureGroup(name=escape_text(f"护理员 {carer}"))
        geometry = feature["geometry"]
        kind = props.get("kind")
        if kind == "route":
            line = folium.PolyLine([map_lat_lon(m, lon, lat) for lon, lat in geometry["coordinates"]], color=colour,
                                   weight=5, opacity=0.85)
            bind_tooltip(line, f"护理员 {carer}：{props.get('visits')} 单，车程 {props.get('travel_min')} 分钟，"
                               f"{props.get('leave')} 出发，{props.get('return')} 返回驻地")
            line.add_to(group)
        elif kind == "base":
            lon, lat = geometry["coordinates"]
            base = folium.CircleMarker(location=map_lat_lon(m, lon, lat), radius=9, color=colour, weight=4,
                                       fill=True, fill_color="#ffffff", fill_opacity=1.0)
            bind_tooltip(base, f"护理员 {carer} 的驻地（出发和返回）")
            base.add_to(group)
        elif kind == "visit":
            lon, lat = geometry["coordinates"]
            stop = folium.Marker(location=map_lat_lon(m, lon, lat), icon=_stop_icon(int(props.get("seq", 0)), colour))
            bind_tooltip(stop, f"护理员 {carer} 第 {props.get('seq')} 站：工单 {props.get('visit_id')}；"
                               f"到达 {props.get('arrival')}，开始服务 {props.get('start')}，离开 {props.get('departure')}")
            stop.add_to(group)
    for group in groups.values():
        group.add_to(m)
    return m


__all__ = ["ROUTE_COLOURS", "SERVICE_POINT_ZH", "add_carer_routes", "coarse_collection", "route_colours",
           "service_point_group"]
