"""WSGI layer in front of pygeoapi: API keys, read-only collections and the GCJ-02 output option.

- **API keys** (``X-API-Key`` header, :mod:`api.keys`): the public collections and the public parts of the
  processes need none; a key that is given must be valid (else 401). The caller of the current request is kept in
  a thread-local (:func:`caller`) for the processes, which run in the request's thread (pygeoapi's synchronous
  manager).
- **Protected processes** (:data:`PROTECTED`): the partner write path needs a key whose role may write (403).
- **Read-only collections**: any method other than GET/HEAD/OPTIONS on ``/collections`` is refused (405).
- **GCJ-02** has no EPSG code, so pygeoapi cannot transform to it. It is requested as ``crs=`` :data:`GCJ02_URI`
  (listed in every collection's ``crs`` and described in the OpenAPI document): the request is passed on in CRS84,
  then every coordinate of the GeoJSON answer is converted with :func:`geo.coords.wgs84_to_gcj02` and
  ``Content-Crs`` names :data:`GCJ02_URI`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import numpy as np

from api import keys
from geo.coords import wgs84_to_gcj02

log = logging.getLogger(__name__)

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
GCJ02_URI = "urn:eldermap:def:crs:GCJ-02"
"""Our own CRS URI for GCJ-02 (Amap/Tencent coordinates, longitude first); GCJ-02 has no EPSG code."""
GCJ02_NOTE = (f"GCJ-02（高德/腾讯坐标，经度在前）没有 EPSG 编号：用 crs={GCJ02_URI} 请求，坐标由 WGS-84 按公开公式换算。"
              f" GCJ-02 (Amap/Tencent, longitude first) has no EPSG code: request it with crs={GCJ02_URI}.")

_LOCAL = threading.local()

PROTECTED: dict[str, str] = {"/processes/facility-register/execution": "write_facilities"}
"""Paths (POST) that need an API key with a permission of :data:`api.keys.PERMISSIONS`."""


class Caller:
    """Who makes the current request: the API key (None: anonymous) and the client address."""

    def __init__(self, key: keys.ApiKey | None, address: str | None) -> None:
        self.key = key
        self.address = address

    @property
    def user(self) -> str:
        return self.key.name if self.key else "anonymous"

    @property
    def role(self) -> str | None:
        return f"api:{self.key.role}" if self.key else None


def caller() -> Caller:
    """The caller of the request being served in this thread (anonymous outside a request)."""
    return getattr(_LOCAL, "caller", None) or Caller(None, None)


def _json_error(start_response: Callable, status: str, code: str, zh: str) -> list[bytes]:
    body = json.dumps({"code": code, "description": zh}, ensure_ascii=False).encode("utf-8")
    start_response(status, [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def _gcj(coords: Any) -> Any:
    """Coordinates of any GeoJSON nesting depth, converted to GCJ-02."""
    arr = np.asarray(coords, dtype="float64")
    if arr.size == 0:
        return coords
    flat = arr.reshape(-1, arr.shape[-1]) if arr.ndim > 1 else arr.reshape(1, -1)
    if flat.shape[-1] >= 2 and arr.dtype != object:
        lon, lat = wgs84_to_gcj02(flat[:, 0], flat[:, 1])
        out = flat.copy()
        out[:, 0], out[:, 1] = lon, lat
        return out.reshape(arr.shape).tolist()
    return [_gcj(c) for c in coords]  # pragma: no cover - ragged input


def _gcj_geometry(geometry: dict[str, Any] | None) -> None:
    if not geometry:
        return
    if geometry.get("type") == "GeometryCollection":
        for g in geometry.get("geometries", []):
            _gcj_geometry(g)
        return
    coords = geometry.get("coordinates")
    if geometry.get("type") in ("Polygon", "MultiLineString"):
        geometry["coordinates"] = [_gcj(ring) for ring in coords]
    elif geometry.get("type") == "MultiPolygon":
        geometry["coordinates"] = [[_gcj(ring) for ring in polygon] for polygon in coords]
    else:
        geometry["coordinates"] = _gcj(coords)


def to_gcj02(document: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON Feature or FeatureCollection (in CRS84) with its coordinates in GCJ-02, in place."""
    for feature in document.get("features", [document] if document.get("type") == "Feature" else []):
        _gcj_geometry(feature.get("geometry"))
    return document


def _json_only(environ: dict[str, Any], params: list[tuple[str, str]]) -> dict[str, Any]:
    """The request as one for JSON: pygeoapi's HTML pages (and its Swagger page) load scripts from public
    CDNs, and no page of ours makes an outside request. ``f=html`` becomes ``f=json``; a browser's
    ``Accept: text/html`` without ``f`` is answered with JSON too."""
    formats = [v for k, v in params if k == "f"]
    if formats and not any(v.lower() == "html" for v in formats):
        return environ
    inner = dict(environ)
    inner["QUERY_STRING"] = urlencode([(k, v) for k, v in params if k != "f"] + [("f", "json")])
    inner["HTTP_ACCEPT"] = "application/json"
    return inner


class AccessMiddleware:
    """Wraps pygeoapi's WSGI app (see the module docstring)."""

    def __init__(self, app: Callable, *, root: str | None = None) -> None:
        self.app = app
        self.root = root

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        address = environ.get("REMOTE_ADDR")
        presented = environ.get("HTTP_X_API_KEY")
        key = None
        if presented:
            key = keys.lookup(presented, root=self.root)
            if key is None:
                return _json_error(start_response, "401 Unauthorized", "Unauthorized", "API 密钥无效或已吊销")
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path.startswith("/collections") and method not in ("GET", "HEAD", "OPTIONS"):
            return _json_error(start_response, "405 Method Not Allowed", "MethodNotAllowed",
                               "数据集合只读；设施登记请用合作方写入接口")
        if path.startswith(("/admin", "/jobs")):
            return _json_error(start_response, "404 Not Found", "NotFound", "没有这个地址")
        for prefix, permission in PROTECTED.items():
            if path.startswith(prefix) and method == "POST" and not keys.allowed(key, permission):
                return _json_error(start_response, "403 Forbidden", "Forbidden",
                                   f"此接口需要 {'、'.join(sorted(keys.PERMISSIONS[permission]))} 角色的 API 密钥"
                                   "（请求头 X-API-Key；用 eldermap apikey add 生成）")
        _LOCAL.caller = Caller(key, address)
        try:
            params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            environ = _json_only(environ, params)
            params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            if any(k == "crs" and v == GCJ02_URI for k, v in params):
                return self._gcj02(environ, start_response, params)
            return self.app(environ, start_response)
        finally:
            _LOCAL.caller = None

    def _gcj02(self, environ: dict[str, Any], start_response: Callable, params: list[tuple[str, str]]) -> list[bytes]:
        inner = dict(environ)
        inner["QUERY_STRING"] = urlencode([(k, CRS84 if k == "crs" else v) for k, v in params])
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = self.app(inner, capture)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() not in ("content-length", "content-crs")]
        if captured["status"].startswith("200"):
            try:
                document = json.loads(body)
            except ValueError:
                return _json_error(start_response, "400 Bad Request", "InvalidParameterValue",
                                   "GCJ-02 坐标只能以 GeoJSON 返回（f=json）")
            body = json.dumps(to_gcj02(document), ensure_ascii=False).encode("utf-8")
            headers.append(("Content-Crs", f"<{GCJ02_URI}>"))
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]


__all__ = ["CGCS2000", "CRS84", "GCJ02_NOTE", "GCJ02_URI", "AccessMiddleware", "caller", "to_gcj02"]
