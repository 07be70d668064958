"""What every page shares: the settings, the chosen region (loaded once), the login, and the region map.

:func:`sidebar` reads the settings, offers the region chooser and the login box, and returns one
:class:`AppContext` per rerun; pages call :func:`require_region` before they use the region and
:func:`region_map` for a map of its roads and community outlines.

Environment: ``ELDERMAP_REGIONS`` (regions folder, default ``./regions``, see
:func:`data.store.regions_root`) and ``ELDERMAP_SETTINGS`` (settings TOML, default the built-in
settings).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import folium
import streamlit as st

from data import auth
from data.store import Region, current_version, list_regions, load_region, regions_root
from geo.errors import ElderMapError
from geo.settings import Settings, load_settings
from layers.basemap import add_areas, add_roads, layers_bounds, settings_map, to_map_crs
from views.access import auth_sidebar

APP_TITLE = "ElderMap 养老服务电子地图"
DEFAULT_REGION = "demo"
NOTHING_TO_MAP_ZH = "该地区没有可在地图上显示的数据。"


@dataclass(frozen=True)
class AppContext:
    """What every page needs, read once per rerun from the sidebar.

    Attributes
    ----------
    settings
        The settings in force (from ``$ELDERMAP_SETTINGS`` or the defaults).
    settings_source
        Where they came from, for display.
    root
        The regions folder.
    region
        The chosen region, or None when there is none (or it failed to load).
    load_error
        The Chinese message of the error that stopped the region from loading, else "".
    user
        The logged-in staff account, or None.
    users_configured
        Whether the users file holds any account.
    auth_error
        The Chinese message of the error that stopped the users file from loading, else "".
    """

    settings: Settings
    settings_source: str
    root: Path
    region: Region | None
    load_error: str = ""
    user: auth.User | None = None
    users_configured: bool = False
    auth_error: str = ""

    @property
    def user_name(self) -> str:
        """The logged-in user's name, "" when nobody is logged in."""
        return self.user.name if self.user else ""

    @property
    def role(self) -> str:
        """The logged-in user's role, "" when nobody is logged in."""
        return self.user.role if self.user else ""


@st.cache_resource(show_spinner="正在加载地区数据…", max_entries=4)
def _load_region_cached(name: str, root: str, version: str) -> Region:
    """Load a region once per (name, root, version); the Region is shared read-only by all sessions."""
    del version  # only part of the cache key
    return load_region(name, root=root)


def read_settings() -> tuple[Settings, str]:
    """The settings of ``$ELDERMAP_SETTINGS`` (else the built-in ones) and where they came from, for display.

    Raises
    ------
    ElderMapError
        The settings file cannot be read or is invalid (the message is in Chinese).
    """
    path = os.environ.get("ELDERMAP_SETTINGS") or None
    return load_settings(path), (path or "内置默认设置")


def sidebar() -> AppContext | None:
    """The sidebar: region chooser, settings source and login; None when the settings cannot be read
    (the error is already shown)."""
    try:
        settings, settings_source = read_settings()
    except ElderMapError as exc:
        st.error(str(exc))
        return None
    root = regions_root()
    regions = list_regions(root=root)
    region: Region | None = None
    load_error = ""
    with st.sidebar:
        st.markdown(f"**{APP_TITLE}**")
        if regions:
            name = st.selectbox(
                "地区",
                regions,
                index=regions.index(DEFAULT_REGION) if DEFAULT_REGION in regions else 0,
                key="region_name",
            )
            try:
                region = _load_region_cached(name, str(root), current_version(name, root=root))
            except ElderMapError as exc:
                load_error = str(exc)
            if region is not None:
                st.caption(f"数据版本：{region.version}")
        st.caption(f"设置：{settings_source}")
        user, users_configured, auth_error = auth_sidebar(root)
    return AppContext(settings=settings, settings_source=settings_source, root=root, region=region,
                      load_error=load_error, user=user, users_configured=users_configured, auth_error=auth_error)


def require_region(ctx: AppContext) -> Region | None:
    """The region, or None after telling the user why there is none and how to create one."""
    if ctx.region is None:
        if ctx.load_error:
            st.error(ctx.load_error)
        elif not list_regions(root=ctx.root):
            st.info(
                f"还没有任何地区数据（数据目录：{ctx.root}）。请先在命令行运行 `eldermap demo` 生成演示地区，"
                "或用 `eldermap import` 导入本地数据，然后刷新本页。"
            )
        return None
    return ctx.region


def region_map(region: Region, settings: Settings, *, bounds: Sequence[float] | None = None, areas: bool = True,
               empty_zh: str = NOTHING_TO_MAP_ZH) -> folium.Map | None:
    """A map of the region's roads (the offline base map) and community outlines, with the settings' tiles.

    Parameters
    ----------
    bounds
        ``(min_lon, min_lat, max_lon, max_lat)`` in EPSG:4326 to fit the map to, and then only the roads
        around them are drawn (a lighter map); default the bounds of the region's roads, areas and
        facilities.
    areas
        Whether to outline the community areas.
    empty_zh
        What to tell the user (``st.info``) when there is nothing to fit a map to.

    Returns
    -------
    The map, or None when there is nothing to draw (told with ``st.info``) or a layer cannot be drawn
    (our error shown with ``st.error``).
    """
    roads = region.road_edges
    if bounds is None:
        bounds = layers_bounds(region.road_edges, region.areas, region.facilities)
        if bounds is None:
            st.info(empty_zh)
            return None
    elif not roads.empty and roads.crs is not None:  # only the streets around: a lighter map
        roads = to_map_crs(roads, "道路")
        dx, dy = bounds[2] - bounds[0], bounds[3] - bounds[1]
        roads = roads.cx[bounds[0] - dx:bounds[2] + dx, bounds[1] - dy:bounds[3] + dy]
    try:
        m = settings_map(bounds, settings)
        add_roads(m, roads)
        if areas:
            add_areas(m, region.areas, level="community")
    except ElderMapError as exc:
        st.error(str(exc))
        return None
    return m


__all__ = ["APP_TITLE", "AppContext", "read_settings", "region_map", "require_region", "sidebar"]
