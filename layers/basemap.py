"""The map itself and its plain offline base layers: roads and area outlines.

Without a tile server the region's own road network, drawn as thin grey
lines, is the base map: it needs no internet and no key. A tile URL (天地图
with a key, an internal tile server) can be given instead or as well.

Also here are the small building blocks every layer uses to put text on a
map safely: :func:`escape_text`, :func:`bind_popup`, :func:`bind_tooltip` and
:func:`add_legend`. They bind content with Leaflet's own calls, so maps need
Leaflet alone (folium's ``Popup`` needs jQuery), and all text passes through
:func:`escape_text` so that data can never inject markup or script.

All functions take GeoDataFrames in any CRS (reprojected to EPSG:4326 here)
and return the map they were given, so calls compose::

    m = add_facilities(add_areas(add_roads(new_map(bounds), edges), areas), facilities)
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Sequence

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.template import Template

from geo.errors import NoCrsError
from geo.settings import Settings

log = logging.getLogger(__name__)

MAP_CRS = "EPSG:4326"
COORD_PRECISION_DEG = 1e-5
"""Coordinates drawn on maps are simplified and rounded to this many degrees (about 1 m)."""

AREA_LAYER_ZH = {"district": "区县边界", "street": "街道边界", "community": "社区边界"}


def escape_text(value: object) -> str:
    """HTML-escape a value for a popup, tooltip or legend.

    Besides ``& < > " '`` this escapes the backtick, ``$`` and backslash, so
    the text is also inert inside a JavaScript template literal (folium puts
    some texts in backticks). ``None`` becomes an empty string.
    """
    if value is None:
        return ""
    text = html.escape(str(value), quote=True)
    return text.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")


MAP_COORDINATES = ("wgs84", "gcj02")
"""Coordinate systems of base tiles: WGS-84 (OSM, 天地图, internal servers) or GCJ-02 (Amap, Tencent)."""


def map_coordinates(m: folium.Map) -> str:
    """The coordinate system a map's tiles use ("wgs84" unless :func:`new_map` was told "gcj02")."""
    return getattr(m, "eldermap_coordinates", "wgs84")


def map_lat_lon(m: folium.Map, lon: float, lat: float) -> list[float]:
    """``[lat, lon]`` of a WGS-84 point as drawn on map ``m`` (shifted onto GCJ-02 tiles when they are used)."""
    if map_coordinates(m) == "gcj02":
        from geo.coords import from_wgs84

        x, y = from_wgs84(np.array([lon]), np.array([lat]), "gcj02")
        return [float(y[0]), float(x[0])]
    return [float(lat), float(lon)]


def map_lon_lat(m: folium.Map, lat: float, lon: float) -> tuple[float, float]:
    """WGS-84 ``(lon, lat)`` of a point of map ``m`` (e.g. a click, which Leaflet gives as lat, lng):
    shifted back from GCJ-02 when the map uses such tiles. The inverse of :func:`map_lat_lon`."""
    if map_coordinates(m) == "gcj02":
        from geo.coords import to_wgs84

        x, y = to_wgs84(np.array([lon]), np.array([lat]), "gcj02")
        return float(x[0]), float(y[0])
    return float(lon), float(lat)


def add_layer_control(m: folium.Map) -> folium.Map:
    """Add the (expanded) layer control listing the map's FeatureGroups; add it after the layers."""
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def to_map_crs(gdf: gpd.GeoDataFrame, what: str, *, coordinates: str = "wgs84") -> gpd.GeoDataFrame:
    """``gdf`` in EPSG:4326 (a copy when reprojected); ``what`` names the layer in the error.

    With ``coordinates="gcj02"`` the geometries are then shifted to GCJ-02, so they sit right on
    Amap/Tencent tiles (which are drawn in GCJ-02); the frame keeps its EPSG:4326 label.

    Raises
    ------
    NoCrsError
        The frame has no CRS.
    """
    if gdf.crs is None:
        raise NoCrsError(
            f"图层“{what}”没有坐标参考系（CRS），无法上图。请在数据中声明坐标系（如 EPSG:4326）。",
            f"layer {what!r} has no CRS; set one (e.g. EPSG:4326) before mapping it",
        )
    out = gdf if gdf.crs.to_string() == MAP_CRS else gdf.to_crs(MAP_CRS)
    if coordinates == "gcj02" and len(out):
        from geo.coords import from_wgs84

        def shift(xy: np.ndarray) -> np.ndarray:
            x, y = from_wgs84(xy[:, 0], xy[:, 1], "gcj02")
            return np.column_stack([x, y])

        out = out.copy()
        out["geometry"] = shapely.transform(out.geometry.values, shift)
    elif coordinates not in MAP_COORDINATES:
        raise ValueError(f"coordinates must be one of {MAP_COORDINATES}, got {coordinates!r}")
    return out


class _BoundContent(MacroElement):
    """Leaflet ``bindPopup``/``bindTooltip`` on the parent layer, content as a JSON string."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.{{ this.method }}({{ this.content|tojson }}, {{ this.options|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, method: str, content: str, options: dict[str, object]) -> None:
        super().__init__()
        self._name = "BoundContent"
        self.method = method
        self.content = content
        self.options = options


def bind_popup(layer: Element, content_html: str, *, max_width_px: int = 360) -> None:
    """Attach a popup to a folium layer, without jQuery.

    Parameters
    ----------
    layer
        A marker, vector layer or GeoJson added (or about to be added) to a map.
    content_html
        Ready-made HTML: every piece of data in it must already have gone
        through :func:`escape_text`. It is embedded as a JSON string, so it
        cannot end the surrounding script.
    """
    layer.add_child(_BoundContent("bindPopup", content_html, {"maxWidth": max_width_px}))


def bind_tooltip(layer: Element, text: object, *, sticky: bool = True) -> None:
    """Attach a plain-text tooltip (escaped here) to a folium layer, without jQuery."""
    layer.add_child(_BoundContent("bindTooltip", escape_text(text), {"sticky": sticky}))


class _Legend(MacroElement):
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function () {
                var legend = L.control({position: {{ this.position|tojson }}});
                legend.onAdd = function () {
                    var div = L.DomUtil.create("div", "eldermap-legend");
                    div.innerHTML = {{ this.content|tojson }};
                    return div;
                };
                legend.addTo({{ this._parent.get_name() }});
            })();
        {% endmacro %}
        """
    )

    def __init__(self, content: str, position: str) -> None:
        super().__init__()
        self._name = "Legend"
        self.content = content
        self.position = position


def add_legend(m: folium.Map, title: str, entries: Sequence[tuple[str, str]], *,
               position: str = "bottomright") -> folium.Map:
    """Add a legend box: a title and (label, CSS colour) swatches. Labels are escaped."""
    rows = "".join(
        '<div style="margin:2px 0;white-space:nowrap">'
        f'<span style="display:inline-block;width:14px;height:14px;border-radius:50%;'
        f'border:1px solid #222;background:{escape_text(colour)};margin-right:6px;vertical-align:-2px"></span>'
        f"{escape_text(label)}</div>"
        for label, colour in entries
    )
    content = (
        '<div style="background:#fff;color:#111;padding:6px 10px;border:1px solid #555;'
        'border-radius:4px;font-size:16px;line-height:1.4">'
        f'<div style="font-weight:bold;margin-bottom:4px">{escape_text(title)}</div>{rows}</div>'
    )
    m.add_child(_Legend(content, position))
    return m


class _ChineseControls(MacroElement):
    """A metric-only scale bar, zoom buttons titled in Chinese, and ``lang="zh-CN"`` on the map's page.

    Leaflet's own scale shows feet and miles beside metres, and its zoom buttons read "Zoom in" and
    "Zoom out" to screen readers; folium offers no options for either, so the map is made with both
    off and this element adds them. It also keeps Leaflet's credit as plain text (no link to an outside
    site, no English title) and labels the layer control's button 图层 and the popups' close button 关闭.
    The texts are constants: no data goes into this script.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            L.control.scale({metric: true, imperial: false}).addTo({{ this._parent.get_name() }});
            L.control.zoom({zoomInTitle: "放大", zoomOutTitle: "缩小"}).addTo({{ this._parent.get_name() }});
            if ({{ this._parent.get_name() }}.attributionControl) {  // credit without a link out of the intranet
                {{ this._parent.get_name() }}.attributionControl.setPrefix("Leaflet");
            }
            {{ this._parent.get_name() }}.on("popupopen", function (e) {
                var close = e.popup.getElement().querySelector(".leaflet-popup-close-button");
                if (close) { close.setAttribute("aria-label", "关闭"); close.setAttribute("title", "关闭"); }
            });
            setTimeout(function () {  // after the map's other controls (the layer control) are added
                var toggle = {{ this._parent.get_name() }}.getContainer()
                    .querySelector(".leaflet-control-layers-toggle");
                if (toggle) { toggle.setAttribute("title", "图层"); toggle.setAttribute("aria-label", "图层"); }
            }, 0);
            document.documentElement.lang = "zh-CN";
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "ChineseControls"


def new_map(bounds: Sequence[float], *, tiles_url: str | None = None, attribution: str = "",
            font_size_px: int = 18, coordinates: str = "wgs84") -> folium.Map:
    """An empty map fitted to ``bounds``, with no base tiles unless a URL is given.

    The map carries a metric scale bar (no feet or miles) and zoom buttons titled 放大/缩小.

    Parameters
    ----------
    bounds
        ``(min_lon, min_lat, max_lon, max_lat)`` in EPSG:4326, as
        ``GeoDataFrame.total_bounds`` gives them.
    tiles_url
        XYZ tile URL template (``https://.../{z}/{x}/{y}.png``) of a tile
        server the users can reach, or None for no tiles (the roads drawn by
        :func:`add_roads` then serve as the base map).
    attribution
        Attribution shown for the tiles; required with ``tiles_url``.
    font_size_px
        Font size of popups, tooltips and controls, in CSS pixels (large type).
    coordinates
        "wgs84" (default) or "gcj02" when the tiles are Amap's or Tencent's: every layer added
        with this module then shifts its WGS-84 data onto them (:func:`map_coordinates`).

    Raises
    ------
    ValueError
        Bounds are not four finite numbers, or tiles come without attribution.
    """
    values = [float(v) for v in bounds]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"bounds must be four finite numbers (min_lon, min_lat, max_lon, max_lat), got {bounds!r}")
    min_lon, min_lat, max_lon, max_lat = values
    if min_lon > max_lon or min_lat > max_lat:
        raise ValueError(f"bounds must be (min_lon, min_lat, max_lon, max_lat), got {bounds!r}")
    if tiles_url and not attribution:
        raise ValueError("tiles_url needs an attribution (the tile provider's required credit)")
    if coordinates not in MAP_COORDINATES:
        raise ValueError(f"coordinates must be one of {MAP_COORDINATES}, got {coordinates!r}")
    if coordinates == "gcj02":
        from geo.coords import from_wgs84

        xs, ys = from_wgs84(np.array([min_lon, max_lon]), np.array([min_lat, max_lat]), "gcj02")
        min_lon, max_lon, min_lat, max_lat = float(xs[0]), float(xs[1]), float(ys[0]), float(ys[1])
    center_lat_lon = [(min_lat + max_lat) / 2, (min_lon + max_lon) / 2]
    m = folium.Map(
        location=center_lat_lon,
        tiles=None,
        zoom_start=14,
        control_scale=False,  # metric only, added by _ChineseControls
        zoom_control=False,  # titled in Chinese, added by _ChineseControls
        prefer_canvas=True,
        font_size=f"{font_size_px}px",
        zoomSnap=0.5,  # half zoom steps: the region fills the view more tightly
    )
    m.eldermap_coordinates = coordinates
    m.add_child(_ChineseControls())
    if tiles_url:
        folium.TileLayer(tiles=tiles_url, attr=attribution, name="底图", overlay=False, control=True).add_to(m)
    m.fit_bounds([[min_lat, min_lon], [max_lat, max_lon]])
    return m


def layers_bounds(*frames: gpd.GeoDataFrame) -> tuple[float, float, float, float] | None:
    """``(min_lon, min_lat, max_lon, max_lat)`` in EPSG:4326 over the non-empty layers with a CRS; None when
    there is nothing to fit a map to."""
    boxes = [(frame if frame.crs.to_epsg() == 4326 else frame.to_crs("EPSG:4326")).total_bounds for frame in frames
             if frame is not None and not frame.empty and frame.crs is not None]
    boxes = [b for b in boxes if np.isfinite(b).all()]
    if not boxes:
        return None
    stacked = np.vstack(boxes)
    return (float(stacked[:, 0].min()), float(stacked[:, 1].min()),
            float(stacked[:, 2].max()), float(stacked[:, 3].max()))


def settings_map(bounds: Sequence[float], settings: Settings) -> folium.Map:
    """An empty map fitted to ``bounds`` with the base tiles of the settings (``tiles_url``,
    ``tiles_attribution``, ``tiles_coordinates``; no tiles by default: works offline)."""
    return new_map(bounds, tiles_url=settings.tiles_url or None, attribution=settings.tiles_attribution,
                   coordinates=settings.tiles_coordinates)


def _simplified(geoms: gpd.GeoSeries, precision_deg: float) -> np.ndarray:
    """Geometries simplified to ``precision_deg`` degrees, without empties."""
    arr = np.asarray(geoms.values, dtype=object)
    arr = arr[~(shapely.is_missing(arr) | shapely.is_empty(arr))]
    return shapely.simplify(arr, tolerance=precision_deg, preserve_topology=True)


def road_lines_lat_lon(road_edges: gpd.GeoDataFrame, *, coordinates: str = "wgs84",
                       precision_deg: float = COORD_PRECISION_DEG) -> list[list[list[float]]]:
    """Road geometries as lists of ``[lat, lon]`` vertices, simplified and rounded.

    Parameters
    ----------
    road_edges
        Line geometries (LineString or MultiLineString) in any CRS.
    precision_deg
        Simplification tolerance and rounding step, in degrees.

    Returns
    -------
    One list of ``[lat, lon]`` pairs per line part, in folium's (lat, lon) order.
    """
    if road_edges.empty:
        return []
    edges = to_map_crs(road_edges, "道路", coordinates=coordinates)
    parts = shapely.get_parts(_simplified(edges.geometry, precision_deg))
    parts = parts[shapely.get_type_id(parts) == shapely.GeometryType.LINESTRING]
    if len(parts) == 0:
        return []
    coords, index = shapely.get_coordinates(parts, return_index=True)
    decimals = max(0, round(-math.log10(precision_deg)))
    lat_lon = np.round(coords[:, ::-1], decimals)
    splits = np.flatnonzero(np.diff(index)) + 1
    return [chunk.tolist() for chunk in np.split(lat_lon, splits) if len(chunk) >= 2]


def add_roads(m: folium.Map, road_edges: gpd.GeoDataFrame, *, name: str = "道路", color: str = "#7a7a7a",
              weight_px: float = 1.5, precision_deg: float = COORD_PRECISION_DEG) -> folium.Map:
    """Draw the region's roads as thin grey lines: a plain base map that works offline.

    All roads go into one multi-part polyline (one Leaflet layer) inside a
    FeatureGroup called ``name``; geometry is simplified and rounded to
    ``precision_deg`` degrees to keep the page light. Roads are not clickable.
    """
    lines = road_lines_lat_lon(road_edges, precision_deg=precision_deg, coordinates=map_coordinates(m))
    group = folium.FeatureGroup(name=name, control=True)
    if lines:
        folium.PolyLine(lines, color=color, weight=weight_px, opacity=0.8, interactive=False).add_to(group)
    group.add_to(m)
    log.info("map: %d road lines drawn", len(lines))
    return m


def add_areas(m: folium.Map, areas: gpd.GeoDataFrame, *, level: str = "community", name: str | None = None,
              color: str = "#1f4e79", precision_deg: float = COORD_PRECISION_DEG) -> folium.Map:
    """Outline the areas of one level (district / street / community), names as tooltips.

    Parameters
    ----------
    areas
        Polygons with columns ``name`` and ``level`` (as stored), any CRS.
    level
        Which level to draw; areas of other levels are left out.
    name
        Layer name in the layer control; default from the level ("社区边界").
    """
    group = folium.FeatureGroup(name=name or AREA_LAYER_ZH.get(level, "区划边界"), control=True)
    if not areas.empty and "level" in areas.columns:
        chosen = to_map_crs(areas, "区划", coordinates=map_coordinates(m))
        chosen = chosen[chosen["level"].astype("string") == level]
        chosen = chosen[~(chosen.geometry.isna() | chosen.geometry.is_empty)]
        if not chosen.empty:
            geoms = shapely.set_precision(
                shapely.simplify(np.asarray(chosen.geometry.values, dtype=object), precision_deg), precision_deg
            )
            names = chosen["name"] if "name" in chosen.columns else chosen["code"]
            labels = [escape_text("" if pd.isna(v) else v) for v in names]
            shapes = gpd.GeoDataFrame({"label": labels}, geometry=list(geoms), crs=MAP_CRS)
            folium.GeoJson(
                shapes.__geo_interface__,
                name=name or AREA_LAYER_ZH.get(level, "区划边界"),
                style_function=lambda _feature: {"color": color, "weight": 2, "fillColor": color,
                                                 "fillOpacity": 0.04},
                highlight_function=lambda _feature: {"weight": 4, "fillOpacity": 0.12},
                tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False, sticky=True),
            ).add_to(group)
            log.info("map: %d %s outlines drawn", len(shapes), level)
    group.add_to(m)
    return m


__all__ = [
    "COORD_PRECISION_DEG",
    "add_areas",
    "add_legend",
    "add_roads",
    "bind_popup",
    "bind_tooltip",
    "escape_text",
    "new_map",
    "road_lines_lat_lon",
    "map_coordinates",
    "map_lat_lon",
    "to_map_crs",
]
