"""Inline SVG for the printable report: the coverage-rate bar chart and the community map.

Both return SVG text with no external references (no URLs, no fonts, no tiles), so the report page
stays self-contained and prints as vector graphics. Inputs are plain frames; every data text (area
and facility names, kinds, codes) is escaped.
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Collection

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.labels import DASH, TOTAL_CODE
from geo.settings import Settings

HAS_FACILITY, NO_FACILITY = "#9fd3a8", "#e4e4e4"
INSTITUTION_COLOUR, FACILITY_COLOUR = "#b03a2e", "#1f5fa8"


def _esc(value: object) -> str:
    return html_lib.escape("" if value is None else str(value), quote=True)


def coverage_chart_svg(table: pd.DataFrame) -> str:
    """An inline SVG bar chart of ``coverage_rate_pct`` per area (total row last, no external references).

    Parameters
    ----------
    table
        Rows with ``code``, ``name`` and ``coverage_rate_pct`` (0–100, NaN where not computable), such
        as :func:`planning.report.basic_situation`; the total row (code "合计") is drawn in grey.
    """
    rows = table[["code", "name", "coverage_rate_pct"]].to_dict("records")
    bar_h, gap, label_w, plot_w = 22, 8, 170, 420
    height = 30 + len(rows) * (bar_h + gap)
    parts = [f'<svg class="chart" viewBox="0 0 {label_w + plot_w + 70} {height}" role="img" '
             f'aria-label="社区养老设施覆盖率">']
    for x in (0, 25, 50, 75, 100):
        px = label_w + plot_w * x / 100
        parts.append(f'<line x1="{px:.1f}" y1="10" x2="{px:.1f}" y2="{height - 6}" stroke="#ccc"/>'
                     f'<text x="{px:.1f}" y="8" font-size="10" text-anchor="middle">{x}%</text>')
    for i, row in enumerate(rows):
        y = 16 + i * (bar_h + gap)
        rate = row["coverage_rate_pct"]
        label = _esc(row["name"] or row["code"])
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" font-size="12" '
                     f'text-anchor="end">{label}</text>')
        if pd.notna(rate):
            color = "#555" if row["code"] == TOTAL_CODE else "#2f6fb0"
            parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w * float(rate) / 100:.1f}" height="{bar_h}" '
                         f'fill="{color}"/>')
        text = DASH if pd.isna(rate) else f"{float(rate):.1f}%"
        x = label_w + (plot_w * float(rate) / 100 if pd.notna(rate) else 0) + 4
        parts.append(f'<text x="{x:.1f}" y="{y + bar_h * 0.7:.1f}" font-size="12">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)


def community_map_svg(areas: gpd.GeoDataFrame | None, facilities: gpd.GeoDataFrame,
                      attributed_codes: Collection[str], *, settings: Settings, width_px: int = 640) -> str:
    """An inline SVG map: communities shaded by whether they have a community facility, facilities as dots.

    Drawn from the areas' own polygons (equirectangular, scaled by the cosine of the latitude): it
    needs no tiles and prints as vector graphics.

    Parameters
    ----------
    areas
        The areas layer; its rows with ``level`` "community" and a geometry are drawn.
    facilities
        Facility points (``name``, ``kind``); those of ``settings.institution_kinds`` are squares, the
        others dots.
    attributed_codes
        Codes of the communities that have a community facility (shaded green), e.g.
        :attr:`planning.report.Report.served_communities`.
    settings
        Gives ``institution_kinds``.
    width_px
        Width of the drawing in SVG units.

    Returns
    -------
    The ``<svg>`` followed by its legend; empty when there are no community polygons.
    """
    if areas is None or areas.empty or "level" not in areas or "code" not in areas:
        return ""
    comm = areas[(areas["level"].astype(str) == "community") & areas.geometry.notna()].to_crs("EPSG:4326")
    if comm.empty:
        return ""
    fac = facilities.to_crs("EPSG:4326") if len(facilities) else facilities
    attributed = {str(c) for c in attributed_codes}
    institution_kinds = set(settings.institution_kinds)
    minx, miny, maxx, maxy = comm.total_bounds
    kx = np.cos(np.radians((miny + maxy) / 2))
    scale = width_px / max((maxx - minx) * kx, 1e-12)
    height_px = int((maxy - miny) * scale) + 1

    def xy(coords: np.ndarray) -> list[tuple[float, float]]:
        return [((x - minx) * kx * scale, (maxy - y) * scale) for x, y in coords]

    def points(coords: np.ndarray) -> str:
        return " ".join(f"{px:.1f},{py:.1f}" for px, py in xy(coords))

    parts = [f'<svg class="map" viewBox="-4 -4 {width_px + 8} {height_px + 8}" role="img" '
             f'aria-label="社区养老服务设施分布图">']
    names = comm["name"] if "name" in comm else comm["code"]
    for code, name, geometry in zip(comm["code"], names, comm.geometry, strict=True):
        has = str(code) in attributed
        fill = HAS_FACILITY if has else NO_FACILITY
        for poly in shapely.get_parts(geometry):
            if poly.geom_type != "Polygon":
                continue
            parts.append(f'<polygon points="{points(np.asarray(poly.exterior.coords))}" fill="{fill}" '
                         f'stroke="#555" stroke-width="0.8"><title>{_esc(name)}'
                         f'{"（有社区养老设施）" if has else "（无社区养老设施）"}</title></polygon>')
    fac_names = fac["name"] if "name" in fac else pd.Series([""] * len(fac), index=fac.index)
    fac_kinds = fac["kind"] if "kind" in fac else pd.Series([""] * len(fac), index=fac.index)
    for name, kind, g in zip(fac_names, fac_kinds, fac.geometry, strict=True):
        if g is None or g.is_empty or g.geom_type != "Point":
            continue
        ((px, py),) = xy(np.array([[g.x, g.y]]))
        shape = (f'<rect x="{px - 4:.1f}" y="{py - 4:.1f}" width="8" height="8" fill="{INSTITUTION_COLOUR}"/>'
                 if str(kind) in institution_kinds
                 else f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{FACILITY_COLOUR}"/>')
        parts.append(f"<g><title>{_esc(name)}（{_esc(kind)}）</title>{shape}</g>")
    parts.append("</svg>")
    institutions = _esc("、".join(settings.institution_kinds) or "养老机构")
    legend = (f'<p class="legend"><span style="background:{HAS_FACILITY}"></span>有社区养老设施的社区　'
              f'<span style="background:{NO_FACILITY}"></span>无社区养老设施的社区　'
              f'<span style="background:{FACILITY_COLOUR};border-radius:50%"></span>社区养老服务设施　'
              f'<span style="background:{INSTITUTION_COLOUR}"></span>{institutions}</p>')
    return "".join(parts) + legend


__all__ = ["coverage_chart_svg", "community_map_svg"]
