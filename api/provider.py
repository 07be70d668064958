"""A pygeoapi feature provider over the region store (:func:`data.store.load_region` through
:mod:`api.collections`).

A resource's provider definition names the region in ``data`` and the collection in ``options``::

    providers:
      - type: feature
        name: api.provider.RegionProvider
        data: demo
        id_field: id
        options: {collection: facilities, regions: /srv/regions, settings: /etc/eldermap.toml}

pygeoapi builds a provider object for every request; the features come from a per-version cache in
:mod:`api.collections`, so a request costs a filter over a list. Coordinates are stored in WGS-84 (CRS84); other
output CRSs are applied by pygeoapi's ``crs_transform`` decorator (EPSG:4490 CGCS2000), GCJ-02 by
:mod:`api.access`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
    SchemaType,
)
from pygeoapi.util import crs_transform

from api.collections import FeatureTable, collection_fields, feature_table
from geo.errors import ElderMapError
from geo.settings import Settings, load_settings

log = logging.getLogger(__name__)

_SETTINGS: dict[str, Settings] = {}


def settings_for(path: str | None) -> Settings:
    """Settings from a TOML file (None: $ELDERMAP_SETTINGS or the defaults), loaded once per path."""
    key = path or os.environ.get("ELDERMAP_SETTINGS") or ""
    if key not in _SETTINGS:
        _SETTINGS[key] = load_settings(key or None)
    return _SETTINGS[key]


def _matches(value: Any, wanted: str, kind: str) -> bool:
    """Whether a property value equals a query parameter's text (an array matches when it holds the text)."""
    if value is None:
        return wanted == ""
    if kind == "array":
        return wanted in [str(v) for v in value]
    if kind in ("integer", "number"):
        try:
            return float(value) == float(wanted)
        except ValueError:
            return False
    if kind == "boolean":
        return str(value).lower() == wanted.strip().lower()
    return str(value) == wanted


class RegionProvider(BaseProvider):
    """One collection of one region, read-only."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        options = self.options or {}
        self.collection = str(options.get("collection", "facilities"))
        self.root = options.get("regions")
        self.settings_path = options.get("settings")
        self.id_field = self.id_field or "id"
        self._fields = self.get_fields()

    # -------------------------------------------------------------- data

    def _table(self) -> FeatureTable:
        try:
            return feature_table(self.collection, str(self.data), settings_for(self.settings_path), root=self.root)
        except ElderMapError as exc:
            log.error("api: %s", exc.en)
            raise ProviderQueryError(exc.zh) from None

    def get_fields(self) -> dict[str, dict[str, str]]:
        try:  # declared without computing the collection: pygeoapi asks on every request and at start-up
            return collection_fields(self.collection, str(self.data), settings_for(self.settings_path),
                                     root=self.root)
        except ElderMapError as exc:
            log.error("api: %s", exc.en)
            raise ProviderQueryError(exc.zh) from None

    def get_schema(self, schema_type: SchemaType = SchemaType.item) -> tuple[str, dict[str, Any]]:
        props = {name: {"type": spec["type"], "title": name} for name, spec in self.fields.items()}
        geometry = {"$ref": "https://geojson.org/schema/Geometry.json"}
        return "application/geo+json", {"type": "object", "properties": {"geometry": geometry, **props}}

    # -------------------------------------------------------------- queries

    @crs_transform
    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results", bbox: list | None = None,
              datetime_: str | None = None, properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False, q: str | None = None,
              filterq: Any = None, **kwargs: Any) -> dict[str, Any]:
        if filterq is not None:
            raise ProviderInvalidQueryError("CQL filters are not supported; use property=value parameters")
        table = self._table()
        keep = np.ones(len(table.features), dtype=bool)
        if bbox:
            if len(bbox) != 4:
                raise ProviderInvalidQueryError("bbox must have four numbers (minx, miny, maxx, maxy)")
            minx, miny, maxx, maxy = (float(v) for v in bbox)
            b = table.bounds
            keep &= (b[:, 0] <= maxx) & (b[:, 2] >= minx) & (b[:, 1] <= maxy) & (b[:, 3] >= miny)
        for name, wanted in properties or []:
            kind = table.fields.get(name, {}).get("type", "string")
            keep &= np.array([_matches(f["properties"].get(name), str(wanted), kind) for f in table.features],
                             dtype=bool)
        if q:
            words = str(q).lower().split()
            keep &= np.array([all(w in " ".join(str(v) for v in f["properties"].values()).lower() for w in words)
                              for f in table.features], dtype=bool)
        chosen = [f for f, k in zip(table.features, keep, strict=True) if k]
        for sort in reversed(sortby or []):
            name, reverse = sort["property"], sort.get("order") == "-"
            present = [f for f in chosen if f["properties"].get(name) is not None]
            missing = [f for f in chosen if f["properties"].get(name) is None]
            present.sort(key=lambda f: f["properties"][name], reverse=reverse)
            chosen = present + missing
        matched = len(chosen)
        if resulttype == "hits":
            page: list[dict[str, Any]] = []
        else:
            page = [self._out(f, select_properties, skip_geometry) for f in chosen[offset:offset + limit]]
        return {"type": "FeatureCollection", "features": page, "numberMatched": matched,
                "numberReturned": len(page)}

    @crs_transform
    def get(self, identifier: Any, **kwargs: Any) -> dict[str, Any]:
        table = self._table()
        k = table.index.get(str(identifier))
        if k is None:
            raise ProviderItemNotFoundError(f"no item {identifier!r} in {self.collection}")
        return self._out(table.features[k], None, False)

    @staticmethod
    def _out(feature: dict[str, Any], select: list | None, skip_geometry: bool) -> dict[str, Any]:
        """A copy of a cached feature (the CRS transform replaces the geometry of what it is given)."""
        props = feature["properties"]
        if select:
            props = {k: v for k, v in props.items() if k in select}
        return {"type": "Feature", "id": feature["id"], "geometry": None if skip_geometry else feature["geometry"],
                "properties": dict(props)}

    def __repr__(self) -> str:
        return f"<RegionProvider> {self.data}/{self.collection}"


__all__ = ["RegionProvider", "settings_for"]
