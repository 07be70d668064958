"""`eldermap serve`: pygeoapi's configuration and OpenAPI document built in code, served by waitress.

pygeoapi's Flask app reads both documents when it is imported (``PYGEOAPI_CONFIG``, ``PYGEOAPI_OPENAPI``), so
:func:`make_app` writes them to a private temporary folder (mode 0700), points the two variables at them and
imports the app; one process serves one region.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from api.access import CGCS2000, CRS84, GCJ02_NOTE, GCJ02_URI, AccessMiddleware
from api.collections import COLLECTIONS, current_region, feature_table
from api.provider import settings_for
from data import store

log = logging.getLogger(__name__)

CRS_LIST = [CRS84, CGCS2000, "http://www.opengis.net/def/crs/EPSG/0/4326", GCJ02_URI]
"""Output CRSs of every collection: WGS-84 (CRS84, lon/lat), CGCS2000 (EPSG:4490, lat/lon axis order as the EPSG
definition has it), WGS-84 as EPSG:4326 (lat/lon) and GCJ-02 (our own URI, lon/lat)."""
MAX_ITEMS = 10000
DEFAULT_ITEMS = 100


def region_extent(region: str, *, regions: str | None = None) -> list[float]:
    """WGS-84 bounds of a region's areas, facilities and roads (every collection lies within them)."""
    loaded = current_region(region, root=regions)
    boxes = [layer.total_bounds for layer in (loaded.areas, loaded.facilities, loaded.road_edges) if len(layer)]
    finite = [b for b in boxes if np.isfinite(b).all()]
    if not finite:
        return [-180.0, -90.0, 180.0, 90.0]
    stacked = np.vstack(finite)
    return [float(stacked[:, 0].min()), float(stacked[:, 1].min()), float(stacked[:, 2].max()),
            float(stacked[:, 3].max())]


def build_config(region: str, *, host: str = "127.0.0.1", port: int = 5000, regions: str | None = None,
                 settings: str | None = None, url: str | None = None) -> dict[str, Any]:
    """The pygeoapi configuration for one region: one resource per collection and the processes. ``url``: the
    address clients use (behind a proxy), default ``http://host:port``."""
    settings_obj = settings_for(settings)
    root = regions if regions is None or store.database_url(regions) else str(Path(regions).resolve())
    url_host = f"[{host}]" if ":" in host else host
    url = url or f"http://{url_host}:{int(port)}"
    resources: dict[str, Any] = {}
    extent = region_extent(region, regions=root)
    feature_table("facilities", region, settings_obj, root=root)  # fail now (in Chinese) on a bad region
    for cid, (title, description) in COLLECTIONS.items():
        zh, en = title.split(" ", 1)
        resources[cid] = {
            "type": "collection",
            "title": {"zh": zh, "en": en},
            "description": {"zh": description, "en": description},
            "keywords": ["养老服务", "elderly care", region],
            "links": [],
            "extents": {"spatial": {"bbox": extent, "crs": CRS84}},
            "providers": [{
                "type": "feature",
                "name": "api.provider.RegionProvider",
                "data": region,
                "id_field": "id",
                "crs": CRS_LIST,
                "storage_crs": CRS84,
                "options": {"collection": cid, "regions": root, "settings": settings},
            }],
        }
    for pid, cls in (("recommend", "RecommendProcessor"), ("coverage-summary", "CoverageSummaryProcessor"),
                     ("facility-register", "FacilityRegisterProcessor")):
        resources[pid] = {"type": "process",
                          "processor": {"name": f"api.processes.{cls}", "region": region, "regions": root,
                                        "settings": settings}}
    return {
        "server": {
            "bind": {"host": host, "port": int(port)},
            "url": url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "gzip": False,
            "languages": ["zh-CN", "en-US"],
            "cors": False,
            "pretty_print": False,
            "admin": False,
            "limits": {"default_items": DEFAULT_ITEMS, "max_items": MAX_ITEMS, "on_exceed": "throttle"},
            "map": {"url": "", "attribution": ""},
        },
        "logging": {"level": "ERROR"},  # pygeoapi warns on every request without offset
        "metadata": {
            "identification": {
                "title": {"zh": f"ElderMap 养老服务数据服务（{region}）",
                          "en": f"ElderMap elderly-care data service ({region})"},
                "description": {"zh": "养老服务设施、区划覆盖率、服务圈和网格汇总（OGC API – Features）；推荐和覆盖汇总接口"
                                      "（OGC API – Processes）。不含任何老年人个人数据。" + GCJ02_NOTE,
                                "en": "Elderly-care facilities, area coverage, service circles and H3 aggregates "
                                      "(OGC API - Features); recommendation and coverage summary (OGC API - "
                                      "Processes). No personal data of elders. " + GCJ02_NOTE},
                "keywords": {"zh": ["养老服务", "电子地图"], "en": ["elderly care", "e-map"]},
                "keywords_type": "theme",
                "terms_of_service": "",
                "url": url,
            },
            "license": {"name": "仅限授权使用 Authorised use only", "url": ""},
            "provider": {"name": "ElderMap", "url": ""},
            "contact": {"name": "ElderMap", "position": "", "address": "", "city": "", "stateorprovince": "",
                        "postalcode": "", "country": "CN", "phone": "", "fax": "", "email": "", "url": "",
                        "hours": "", "instructions": "", "role": "pointOfContact"},
        },
        "resources": resources,
    }


def openapi_document(config: dict[str, Any]) -> dict[str, Any]:
    """pygeoapi's OpenAPI 3.0 document for ``config``, with the GCJ-02 option and the API key described."""
    from pygeoapi.openapi import get_oas

    document = get_oas(config)
    document.setdefault("info", {})["description"] = (document["info"].get("description") or "") + " " + GCJ02_NOTE
    document.setdefault("components", {}).setdefault("securitySchemes", {})["apiKey"] = {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": "eldermap apikey add 生成的密钥；公开集合不需要。Keys from `eldermap apikey add`; "
                       "public collections need none."}
    for path, item in document.get("paths", {}).items():
        for operation in item.values() if isinstance(item, dict) else []:
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if isinstance(parameter, dict) and parameter.get("name") == "crs":
                    parameter["description"] = (parameter.get("description") or "") + " " + GCJ02_NOTE
            if path.startswith("/processes/coverage-summary"):
                operation["security"] = [{}, {"apiKey": []}]  # open; more with a key
            elif path.startswith("/processes/facility-register"):
                operation["security"] = [{"apiKey": []}]
    return document


def write_documents(config: dict[str, Any], folder: str | Path | None = None) -> tuple[Path, Path]:
    """Write the configuration (YAML) and OpenAPI document (JSON) into ``folder`` (default: a new private temp
    folder, removed at exit); returns their paths."""
    import json

    if folder is None:
        folder = tempfile.mkdtemp(prefix="eldermap-api-")
        atexit.register(shutil.rmtree, folder, True)
    folder = Path(folder)
    os.chmod(folder, 0o700)
    config_path, openapi_path = folder / "pygeoapi-config.yml", folder / "openapi.json"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    openapi_path.write_text(json.dumps(openapi_document(config), ensure_ascii=False), encoding="utf-8")
    return config_path, openapi_path


class _NoClientTracebacks(logging.Filter):
    """pygeoapi logs a client's mistake (a bad bbox, a negative limit, a process input we refuse) as an error
    with its traceback; the client gets a 400 with the reason, the console gets the one line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("pygeoapi") and record.exc_info:
            exc = record.exc_info[1]
            if isinstance(exc, ValueError) or type(exc).__name__ in ("ProcessorExecuteError", "ProviderQueryError",
                                                                     "ProviderInvalidQueryError"):
                record.exc_info, record.exc_text = None, None
        return True


def make_app(region: str, *, host: str = "127.0.0.1", port: int = 5000, regions: str | None = None,
             settings: str | None = None, url: str | None = None) -> Any:
    """The WSGI app serving ``region``: pygeoapi's Flask app behind :class:`api.access.AccessMiddleware`."""
    config = build_config(region, host=host, port=port, regions=regions, settings=settings, url=url)
    config_path, openapi_path = write_documents(config)
    os.environ["PYGEOAPI_CONFIG"] = str(config_path)
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi_path)
    flask_app = importlib.import_module("pygeoapi.flask_app")  # sets up logging (logging.basicConfig)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _NoClientTracebacks) for f in handler.filters):
            handler.addFilter(_NoClientTracebacks())
    return AccessMiddleware(flask_app.APP.wsgi_app, root=config["resources"]["recommend"]["processor"]["regions"])


def serve(region: str, *, host: str = "127.0.0.1", port: int = 5000, regions: str | None = None,
          settings: str | None = None, threads: int = 8, url: str | None = None, workers: int = 1) -> None:
    """Serve until interrupted.

    ``workers == 1``: one process (waitress, ``threads`` worker threads). ``workers > 1``: gunicorn's pre-fork
    server with that many worker processes of ``threads`` threads each (``threads == 1``: gunicorn's sync workers,
    one request at a time per process, taken in arrival order: the shortest tail for CPU-bound answers; put a
    buffering proxy in front of them for slow clients), sharing one listening socket; the app,
    the region and its networks are loaded once in the master before the workers fork (:func:`warm`), so every
    worker answers its first request as fast as its thousandth and the pages of memory stay shared. A Python
    process computes on one core at a time (the GIL): workers are how the service uses the machine's cores.
    """
    app = make_app(region, host=host, port=port, regions=regions, settings=settings, url=url)
    shown = f"[{host}]" if ":" in host else host
    if workers > 1:
        warm(region, regions=regions, settings=settings)
    print(f"数据服务已启动：http://{shown}:{port}/ （OpenAPI：/openapi?f=json；按 Ctrl+C 停止）"
          + (f"；对外地址 {url}/" if url else "") + (f"；{workers} 个工作进程" if workers > 1 else ""), flush=True)
    if workers > 1:
        _PreforkServer(app, {"bind": f"{shown}:{int(port)}", "workers": int(workers), "threads": int(threads),
                             "worker_class": "gthread" if threads > 1 else "sync"}).run()
        return
    import waitress

    waitress.serve(app, host=host, port=int(port), threads=threads, ident="eldermap", _quiet=True)


def warm(region: str, *, regions: str | None = None, settings: str | None = None) -> None:
    """Build what the first requests would build: the collections, the walking and driving networks with the
    facilities snapped to them, and the home-care providers' index (per region version, in this process)."""
    from api.collections import current_region
    from planning.coverage import facility_snap_for
    from planning.home_care import serving_point

    settings_obj = settings_for(settings)
    root = regions if regions is None or store.database_url(regions) else str(Path(regions).resolve())
    feature_table("facilities", region, settings_obj, root=root)  # the others (coverage) are made on first use
    loaded = current_region(region, root=root)
    if len(loaded.road_edges):
        for mode in ("walk", "drive"):
            facility_snap_for(loaded, mode, settings_obj)
        extent = region_extent(region, regions=root)
        serving_point(loaded, (extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2, settings=settings_obj)


class _PreforkServer:
    """gunicorn's pre-fork server around a WSGI app already loaded in this (master) process."""

    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        from gunicorn.app.base import BaseApplication

        class _App(BaseApplication):
            def load_config(self) -> None:
                defaults = {"preload_app": True, "loglevel": "error", "accesslog": None, "errorlog": "-",
                            "timeout": 300, "graceful_timeout": 10, "keepalive": 5, "proc_name": "eldermap-api",
                            "control_socket_disable": True}
                for key, value in {**defaults, **options}.items():
                    if key in self.cfg.settings:
                        self.cfg.set(key, value)

            def load(self) -> Any:
                return app

        self._app = _App()

    def run(self) -> None:
        self._app.run()


__all__ = ["CRS_LIST", "build_config", "make_app", "openapi_document", "serve", "warm", "write_documents"]
