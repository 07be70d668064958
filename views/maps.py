"""Showing a folium map in a page: Leaflet served by the app itself, and no rerun on pan or zoom."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folium
import streamlit as st
from streamlit_folium import st_folium

from geo.errors import ElderMapError
from layers import install_static_assets, offline_map_assets

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
"""The app's static folder (``server.enableStaticServing``), which receives the Leaflet files."""


@st.cache_resource(show_spinner=False)
def _install_map_assets(static_dir: str) -> Path:
    """Copy Leaflet into ``static/`` once per server process."""
    return install_static_assets(Path(static_dir))


def show_map(m: folium.Map, *, key: str, height_px: int = 600, returned_objects: Sequence[str] = (),
             feature_group: folium.FeatureGroup | None = None) -> dict[str, Any] | None:
    """Show a folium map with Leaflet served by the app (no CDN).

    By default nothing is returned to Python, so panning or zooming never reruns the page; name
    ``returned_objects`` (e.g. ``["last_clicked"]``) to rerun on those only. ``feature_group`` is
    drawn on top without changing the map's identity (a moved marker does not reset the view).
    """
    try:
        _install_map_assets(str(STATIC_DIR))
    except ElderMapError as exc:
        st.error(str(exc))
        return None
    offline_map_assets(m)
    return st_folium(m, key=key, returned_objects=list(returned_objects), height=height_px,
                     use_container_width=True, feature_group_to_add=feature_group)
