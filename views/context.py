"""What every page shares: the settings, the chosen region (loaded once), the login, and the region map.

:func:`sidebar` reads the settings, offers the region chooser and the login box, and returns one
:class:`AppContext` per rerun; pages call :func:`require_region` before they use the region and
:func:`region_map` for a map of its roads and community outlines. The public sees the region's name and
the date of its data; staff also see its version and the settings digest. No page shows a server path
(:func:`hide_paths` cuts them out of error messages).

Environment: ``ELDERMAP_REGIONS`` (regions folder, default ``./regions``, see
:func:`data.store.regions_root`) and ``ELDERMAP_SETTINGS`` (settings TOML, default the built-in
settings).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import folium
import streamlit as st

from data import auth
from data.store import Region, current_version, default_root, list_regions, load_region
from geo.errors import ElderMapError
from geo.settings import Settings, load_settings, settings_digest
from layers.basemap import add_areas, add_roads, layers_bounds, settings_map, to_map_crs
from views.access import auth_sidebar
from views.style import PLACEHOLDER_ZH
from views.text import md_escape

log = logging.getLogger(__name__)

APP_TITLE = "ElderMap 养老服务电子地图"
DEFAULT_REGION = "demo"
NOTHING_TO_MAP_ZH = "该地区没有可在地图上显示的数据。"
DEFAULT_SETTINGS_ZH = "内置默认设置"

_PATH_RE = re.compile(r"(?<![\w:/.~])(?:/[^\s/：，。；、（）()“”\"'`]+)+/?|\b[A-Za-z]:\\[^\s：，。；、（）()“”\"'`]+")
"""A POSIX absolute path (not the tail of a URL or of "GB/T") or a Windows one, in a message."""


@dataclass(frozen=True)
class AppContext:
    """What every page needs, read once per rerun from the sidebar.

    Attributes
    ----------
    settings
        The settings in force (from ``$ELDERMAP_SETTINGS`` or the defaults).
    settings_source
        Where they came from, for staff pages: "内置默认设置" or "设置文件 <file name>" — never a path.
    root
        The regions folder.
    region
        The chosen region, or None when there is none (or it failed to load).
    load_error
        The Chinese message of the error that stopped the region from loading (server paths cut down
        to file names), else "".
    user
        The logged-in staff account, or None.
    users_configured
        Whether the users file holds any account.
    auth_error
        The Chinese message of the error that stopped the users file from loading (server paths cut down
        to file names), else "".
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
    """The settings of ``$ELDERMAP_SETTINGS`` (else the built-in ones) and where they came from, for display:
    "内置默认设置" or "设置文件 <file name>" (never the server path).

    Raises
    ------
    ElderMapError
        The settings file cannot be read or is invalid (the message is in Chinese).
    """
    path = os.environ.get("ELDERMAP_SETTINGS") or None
    return load_settings(path), (f"设置文件 {PurePath(path).name}" if path else DEFAULT_SETTINGS_ZH)


def hide_paths(message: str) -> str:
    """``message`` with every server filesystem path cut down to its last part (the file or folder name).

    Error messages name the file they are about, which helps staff; the folders above it describe the
    server and are nobody's business on a web page.
    """
    return _PATH_RE.sub(lambda m: re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1] or "…", message)


def data_date_zh(region: Region, settings: Settings) -> str:
    """The day the region's data was saved, in Chinese ("2026年12月1日"), in the settings' display time zone
    (the server's local zone when none is set); "" when the manifest does not record it."""
    created = str(region.manifest.get("created_at") or "")
    try:
        when = dt.datetime.fromisoformat(created)
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    zone = settings.display_timezone
    local = when.astimezone(zoneinfo.ZoneInfo(zone)) if zone else when.astimezone()
    return f"{local.year}年{local.month}月{local.day}日"


def sidebar() -> AppContext | None:
    """The sidebar: region chooser, what the data is, and the login; None when the settings cannot be read
    (the error is already shown).

    Everybody sees the region's name and the plain date of its data; logged-in staff also see the data
    version and the settings digest with their source. No server path is shown to anyone.
    """
    try:
        settings, settings_source = read_settings()
    except ElderMapError as exc:
        log.error("settings cannot be read: %s", exc)
        st.error(hide_paths(str(exc)))
        return None
    root = default_root()  # $ELDERMAP_DATABASE_URL when set, else the regions folder
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
                placeholder=PLACEHOLDER_ZH,
            )
            try:
                region = _load_region_cached(name, str(root), current_version(name, root=root))
            except ElderMapError as exc:
                log.error("region %s cannot be loaded: %s", name, exc)
                load_error = hide_paths(str(exc))
        about_data = st.container()  # filled once the login below says who is looking
        user, users_configured, auth_error = auth_sidebar(root, settings)
    with about_data:
        if region is not None:
            day = data_date_zh(region, settings)
            if day:
                st.caption(f"数据日期：{day}")
            if user is not None:
                st.caption(f"数据版本：{region.version}")
        if user is not None:
            st.caption(f"设置摘要：{settings_digest(settings)}（{md_escape(settings_source)}）")
    return AppContext(settings=settings, settings_source=settings_source, root=root, region=region,
                      load_error=load_error, user=user, users_configured=users_configured,
                      auth_error=hide_paths(auth_error))


def require_region(ctx: AppContext) -> Region | None:
    """The region, or None after telling the user why there is none and how to create one (no server path)."""
    if ctx.region is None:
        if ctx.load_error:
            st.error(md_escape(ctx.load_error, keep_lines=True))
        elif not list_regions(root=ctx.root):
            st.info("还没有任何地区数据。请先在服务器的命令行运行 `eldermap demo` 生成演示地区，"
                    "或用 `eldermap import` 导入本地数据，然后刷新本页。")
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
        st.error(md_escape(str(exc), keep_lines=True))
        return None
    return m


__all__ = ["APP_TITLE", "AppContext", "data_date_zh", "hide_paths", "read_settings", "region_map", "require_region",
           "sidebar"]
