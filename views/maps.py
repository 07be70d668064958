"""Showing a folium map in a page: Leaflet served by the app itself, no rerun on pan or zoom, and a
view that never loses the region.

A map drawn while its container is hidden (a tab that was not open when the page loaded) gets a
size of zero, and Leaflet then fits the region at zoom 0: the whole world. :func:`show_map` adds a
small inline script (:class:`FitWhenShown`, no outside request) that watches the map's container
with a ``ResizeObserver`` and, each time the container goes from hidden to visible, calls
``invalidateSize()`` and fits the map again to the bounds it was made for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folium
import streamlit as st
from branca.element import MacroElement
from folium.map import FitBounds
from jinja2 import Template
from streamlit_folium import st_folium

from geo.errors import ElderMapError
from layers import install_static_assets, offline_map_assets
from views.text import md_escape

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
"""The app's static folder (``server.enableStaticServing``), which receives the Leaflet files."""


class FitWhenShown(MacroElement):
    """Fit the parent map to ``bounds_lat_lon`` whenever its container becomes visible.

    Parameters
    ----------
    bounds_lat_lon
        ``[[south, west], [north, east]]`` in the map's coordinates (lat, lon order, as Leaflet wants).
    options
        Leaflet ``fitBounds`` options (``padding``, ``maxZoom``...), JSON-able.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var m = {{ this._parent.get_name() }};
            var bounds = {{ this.bounds_json }};
            var options = {{ this.options_json }};
            var hidden = true;
            function check() {
                var el = m.getContainer();
                var visible = el.clientWidth > 0 && el.clientHeight > 0;
                if (!visible) { hidden = true; return; }
                m.invalidateSize(false);
                if (hidden) { hidden = false; m.fitBounds(bounds, options); }
            }
            if (typeof ResizeObserver !== "undefined") {
                new ResizeObserver(check).observe(m.getContainer());
            }
            window.addEventListener("resize", check);
            document.addEventListener("visibilitychange", check);
            m.eldermapBounds = bounds;
            check();
        })();
        {% endmacro %}
    """)

    def __init__(self, bounds_lat_lon: Sequence[Sequence[float]], *, options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._name = "FitWhenShown"
        self.bounds_json = json.dumps([[float(v) for v in corner] for corner in bounds_lat_lon])
        self.options_json = json.dumps(options or {})


def fit_when_shown(m: folium.Map) -> folium.Map:
    """Add :class:`FitWhenShown` for the bounds the map was last fitted to (``m.fit_bounds``), once.

    A map without a ``fit_bounds`` is left as it is. Returns ``m``.
    """
    children = list(m._children.values())
    if any(isinstance(c, FitWhenShown) for c in children):
        return m
    fits = [c for c in children if isinstance(c, FitBounds)]
    if fits:
        options = {k: v for k, v in (fits[-1].options or {}).items() if v is not None}
        FitWhenShown(fits[-1].bounds, options=options).add_to(m)
    return m


@st.cache_resource(show_spinner=False)
def _install_map_assets(static_dir: str) -> Path:
    """Copy Leaflet into ``static/`` once per server process."""
    return install_static_assets(Path(static_dir))


def show_map(m: folium.Map, *, key: str, height_px: int = 600, returned_objects: Sequence[str] = (),
             feature_group: folium.FeatureGroup | Sequence[folium.FeatureGroup] | None = None,
             layer_control: folium.LayerControl | None = None) -> dict[str, Any] | None:
    """Show a folium map with Leaflet served by the app (no CDN), fitted to its bounds when it becomes visible.

    By default nothing is returned to Python, so panning or zooming never reruns the page; name
    ``returned_objects`` (e.g. ``["last_clicked"]``) to rerun on those only. ``feature_group`` (one
    or several) is drawn on top without changing the map's identity: when only those groups change
    between runs, the browser swaps them in the map it shows (no reload, the view is kept).
    ``layer_control`` is then drawn after them, so that it lists them too.
    """
    try:
        _install_map_assets(str(STATIC_DIR))
    except ElderMapError as exc:
        st.error(md_escape(str(exc), keep_lines=True))
        return None
    fit_when_shown(m)
    offline_map_assets(m)
    groups = [feature_group] if isinstance(feature_group, folium.FeatureGroup) else list(feature_group or [])
    return st_folium(m, key=key, returned_objects=list(returned_objects), height=height_px,
                     use_container_width=True, feature_group_to_add=groups or None, layer_control=layer_control)
