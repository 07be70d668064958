"""Offline map assets: Leaflet served by the app itself, never from a public CDN.

folium points every map at public CDNs (Leaflet, jQuery, Bootstrap, Font
Awesome, awesome-markers). streamlit-folium does not bundle Leaflet either:
its component strips the ``<script src>`` and ``<link>`` tags from folium's
header and instead loads, inside its iframe, the URLs it collects from the
``default_js`` and ``default_css`` lists of every folium element of the map
(``JSCSSMixin``), one ``<script>`` tag after another. So a map renders with no
internet exactly when those lists name only URLs that the app serves.

Leaflet reaches the machine as a registry package: the PyPI package
``django-js-lib-leaflet`` (import name ``js_lib_leaflet``) ships Leaflet
1.9.4's ``leaflet.js``, ``leaflet.css`` and ``images/``. Despite its name it
has no Django dependency; we only read its data files and never import its
``apps`` module. :func:`install_static_assets` copies those files into the
app's ``static/`` folder (git-ignored), which Streamlit serves at
``/app/static/...`` when ``server.enableStaticServing`` is on, and
:func:`offline_map_assets` points a map at them.

The maps drawn by :mod:`layers` use only Leaflet itself: popups and tooltips
are bound with Leaflet's own ``bindPopup``/``bindTooltip`` (folium's ``Popup``
needs jQuery), and legends are plain Leaflet controls.
"""

from __future__ import annotations

import filecmp
import importlib
import importlib.resources
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import branca.colormap
import folium
from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import MarkerCluster
from jinja2 import Template

from geo.errors import ElderMapError

log = logging.getLogger(__name__)

LEAFLET_PACKAGE = "js_lib_leaflet"
"""Import name of the PyPI package ``django-js-lib-leaflet`` (pinned 1.9.4.1: Leaflet 1.9.4)."""

LEAFLET_DISTRIBUTION = "django-js-lib-leaflet==1.9.4.1"
"""The pinned requirement that provides the files, named in error messages."""

ASSET_FOLDER = "leaflet"
"""Sub-folder of the app's ``static/`` folder that receives the Leaflet files."""

LEAFLET_FILES: tuple[str, ...] = (
    "leaflet.js",
    "leaflet.css",
    "images/layers.png",
    "images/layers-2x.png",
    "images/marker-icon.png",
    "images/marker-icon-2x.png",
    "images/marker-shadow.png",
)
"""Files copied from the package, relative to its static folder (no source maps)."""

MARKERCLUSTER_PACKAGE = "xstatic.pkg.leaflet_markercluster"
"""Import name of the PyPI package ``XStatic-Leaflet-MarkerCluster`` (Leaflet.markercluster 1.4.1)."""

MARKERCLUSTER_DISTRIBUTION = "XStatic-Leaflet-MarkerCluster==1.4.1.1"

MARKERCLUSTER_FOLDER = "markercluster"
"""Sub-folder of ``static/leaflet/`` that receives the clustering plugin's files."""

MARKERCLUSTER_FILES: tuple[str, ...] = ("leaflet.markercluster.js", "MarkerCluster.css", "MarkerCluster.Default.css")

STREAMLIT_ASSETS_URL = f"../../app/static/{ASSET_FOLDER}"
"""Base URL of the Leaflet files as seen from the streamlit-folium component.

The component runs in an iframe at ``<base>/component/streamlit_folium.st_folium/index.html``;
two levels up is the app's base URL, so this relative URL reaches
``<base>/app/static/leaflet/`` whether or not Streamlit runs under a
``server.baseUrlPath``. For a map saved as a standalone HTML file pass the
folder that holds the files instead.
"""


def leaflet_source_dir() -> Path:
    """Folder of the installed Leaflet files (inside the ``js_lib_leaflet`` package).

    Raises
    ------
    ElderMapError
        The package is not installed, or lacks a file we need.
    """
    try:
        root = importlib.resources.files(LEAFLET_PACKAGE)
    except ModuleNotFoundError:
        raise ElderMapError(
            f"离线地图组件未安装：缺少 Python 包 {LEAFLET_DISTRIBUTION}。请运行 `pip install {LEAFLET_DISTRIBUTION}` 后重启。",
            f"offline map assets missing: install {LEAFLET_DISTRIBUTION}",
        ) from None
    source = Path(str(root)) / "static" / LEAFLET_PACKAGE
    missing = [name for name in LEAFLET_FILES if not (source / name).is_file()]
    if missing:
        raise ElderMapError(
            f"离线地图组件不完整：{source} 中缺少 {', '.join(missing)}。请重新安装 {LEAFLET_DISTRIBUTION}。",
            f"offline map assets incomplete in {source}: missing {missing}",
        )
    return source


def markercluster_source_dir() -> Path:
    """Folder of the installed Leaflet.markercluster files (inside ``xstatic.pkg.leaflet_markercluster``)."""
    try:
        module = importlib.import_module(MARKERCLUSTER_PACKAGE)
    except ModuleNotFoundError:
        raise ElderMapError(
            f"离线地图聚合组件未安装：缺少 Python 包 {MARKERCLUSTER_DISTRIBUTION}。请运行 "
            f"`pip install {MARKERCLUSTER_DISTRIBUTION}` 后重启。",
            f"offline marker clustering assets missing: install {MARKERCLUSTER_DISTRIBUTION}",
        ) from None
    source = Path(module.BASE_DIR)
    missing = [name for name in MARKERCLUSTER_FILES if not (source / name).is_file()]
    if missing:
        raise ElderMapError(f"离线地图聚合组件不完整：{source} 中缺少 {', '.join(missing)}。",
                            f"marker clustering assets incomplete in {source}: missing {missing}")
    return source


def _copy_files(source: Path, names: tuple[str, ...], target: Path) -> int:
    """Copy ``names`` from ``source`` to ``target`` atomically, skipping identical files; how many were copied."""
    copied = 0
    for name in names:
        src = source / name
        dst = target / name
        if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
        os.close(fd)
        try:
            shutil.copyfile(src, tmp_name)
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, dst)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        copied += 1
    return copied


def install_static_assets(static_dir: Path) -> Path:
    """Copy Leaflet's JS, CSS and images into ``static_dir / "leaflet"``.

    Files already present with the same bytes are left alone; others are
    written to a temporary file and moved into place, so a browser never
    receives half a file. Safe to call on every app start.

    Parameters
    ----------
    static_dir
        The app's static folder (``<app dir>/static``, served by Streamlit at
        ``/app/static/`` when ``server.enableStaticServing`` is true).

    Returns
    -------
    The folder that now holds ``leaflet.js``, ``leaflet.css``, ``images/`` and ``markercluster/``.
    """
    target = Path(static_dir) / ASSET_FOLDER
    copied = _copy_files(leaflet_source_dir(), LEAFLET_FILES, target)
    copied += _copy_files(markercluster_source_dir(), MARKERCLUSTER_FILES, target / MARKERCLUSTER_FOLDER)
    if copied:
        log.info("installed %d Leaflet asset files into %s", copied, target)
    return target


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in element._children.values():
        yield from _walk(child)


def remote_asset_urls(m: folium.Map, *, local_base_url: str = STREAMLIT_ASSETS_URL) -> list[str]:
    """JS and CSS URLs of a map that are not under ``local_base_url``.

    These are the links streamlit-folium (and folium's own HTML) would load;
    an empty list means the map needs nothing from outside the app.
    """
    urls: list[str] = []
    for element in _walk(m):
        if isinstance(element, JSCSSMixin):
            for _, url in [*element.default_js, *element.default_css]:
                if not url.startswith(local_base_url + "/"):
                    urls.append(url)
    return list(dict.fromkeys(urls))


class DefaultIconPath(MacroElement):
    """Sets ``L.Icon.Default.imagePath`` to the served ``images/`` folder before any marker is drawn.

    Without it Leaflet 1.9 guesses the folder from ``leaflet.css``: from the stylesheet's rules once it
    has loaded, and before that from the ``<link href>``, cutting "leaflet.css" and one more character —
    so a marker drawn while the stylesheet is still loading asks for ``/app/static/leafletmarker-icon.png``
    (a 404: the missing slash and the missing ``images/``). The folder is given explicitly instead.
    """

    _template = Template("{% macro script(this, kwargs) %}L.Icon.Default.imagePath = {{ this.path|tojson }};"
                         "{% endmacro %}")

    def __init__(self, path: str) -> None:
        super().__init__()
        self._name = "DefaultIconPath"
        self.path = path


def _put_first(m: folium.Map, element: MacroElement) -> None:
    """Make ``element`` the first child of ``m`` (its script runs right after the map is created)."""
    element._parent = m
    others = [(k, v) for k, v in m._children.items() if not isinstance(v, DefaultIconPath)]
    m._children.clear()
    m._children[element.get_name()] = element
    m._children.update(others)


def offline_map_assets(m: folium.Map, *, base_url: str = STREAMLIT_ASSETS_URL) -> folium.Map:
    """Make a map load Leaflet from the app instead of public CDNs.

    Replaces the map's ``default_js`` and ``default_css`` (on this instance;
    folium's class-level lists are left alone) with only ``leaflet.js`` and
    ``leaflet.css`` under ``base_url`` — and those of marker clusters with the
    served Leaflet.markercluster files —, sets the default marker icon's folder
    to ``base_url/images/`` (:class:`DefaultIconPath`), then checks the whole map.

    Parameters
    ----------
    m
        The map, after all layers were added.
    base_url
        Where the files of :func:`install_static_assets` are served; the
        default suits maps shown with ``streamlit_folium.st_folium``.

    Raises
    ------
    ValueError
        The map holds something that would still need the internet or jQuery:
        a plugin with CDN links, a ``folium.Popup`` (its script calls ``$``),
        a branca colormap (streamlit-folium then adds d3 from a CDN), or
        objects kept in front (folium calls ``$(document).ready``). Bring such
        a plugin's files in the same way as Leaflet's before using it.
    """
    m.default_js = [("leaflet", f"{base_url}/leaflet.js")]
    m.default_css = [("leaflet_css", f"{base_url}/leaflet.css")]
    _put_first(m, DefaultIconPath(f"{base_url}/images/"))
    cluster = f"{base_url}/{MARKERCLUSTER_FOLDER}"
    for element in _walk(m):
        if isinstance(element, MarkerCluster):
            element.default_js = [("markerclusterjs", f"{cluster}/leaflet.markercluster.js")]
            element.default_css = [("markerclustercss", f"{cluster}/MarkerCluster.css"),
                                   ("markerclusterdefaultcss", f"{cluster}/MarkerCluster.Default.css")]
    problems: list[str] = []
    remote = remote_asset_urls(m, local_base_url=base_url)
    if remote:
        problems.append("remote JS/CSS: " + ", ".join(remote))
    for element in _walk(m):
        if isinstance(element, folium.Popup):
            problems.append("folium.Popup needs jQuery: bind popups with layers.facilities.bind_popup")
        if isinstance(element, branca.colormap.ColorMap):
            problems.append("branca colormaps make streamlit-folium load d3 from a CDN")
    if getattr(m, "objects_to_stay_in_front", None):
        problems.append("Map.keep_in_front needs jQuery")
    if problems:
        raise ValueError("map cannot render offline: " + "; ".join(dict.fromkeys(problems)))
    return m


__all__ = [
    "ASSET_FOLDER",
    "DefaultIconPath",
    "LEAFLET_DISTRIBUTION",
    "LEAFLET_FILES",
    "MARKERCLUSTER_DISTRIBUTION",
    "MARKERCLUSTER_FILES",
    "STREAMLIT_ASSETS_URL",
    "install_static_assets",
    "leaflet_source_dir",
    "markercluster_source_dir",
    "offline_map_assets",
    "remote_asset_urls",
]
