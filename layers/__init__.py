"""Map layers: composable functions that draw on a ``folium.Map`` and return it.

Never imports streamlit: pages hand results to these functions and show the
map with ``streamlit_folium``. See :mod:`layers.assets` for how maps render
without internet access.
"""

from layers.assets import install_static_assets, offline_map_assets, remote_asset_urls
from layers.basemap import (
    add_areas,
    add_layer_control,
    add_legend,
    add_roads,
    bind_popup,
    bind_tooltip,
    escape_text,
    map_coordinates,
    map_lat_lon,
    map_lon_lat,
    new_map,
)
from layers.facilities import PUBLIC_FACILITY_FIELDS, add_facilities, public_facility_records
from layers.planning import (
    add_change_cells,
    add_change_legend,
    add_coverage_cells,
    add_coverage_legend,
    add_gap_cells,
    add_need_legend,
    add_sites,
    add_sites_legend,
)

__all__ = [
    "PUBLIC_FACILITY_FIELDS",
    "add_areas",
    "add_change_cells",
    "add_change_legend",
    "add_coverage_cells",
    "add_coverage_legend",
    "add_facilities",
    "add_gap_cells",
    "add_layer_control",
    "add_legend",
    "add_need_legend",
    "add_roads",
    "add_sites",
    "add_sites_legend",
    "bind_popup",
    "bind_tooltip",
    "escape_text",
    "install_static_assets",
    "map_coordinates",
    "map_lat_lon",
    "map_lon_lat",
    "new_map",
    "offline_map_assets",
    "public_facility_records",
    "remote_asset_urls",
]
