"""Counts per community for staff pages: facilities, and elders suppressed below a threshold.

Elders appear only as counts per community; a count below ``settings.suppression_threshold`` is
shown as "少于N" so that small groups cannot be singled out. Pure functions of the region's layers.
"""

from __future__ import annotations

import pandas as pd

from data.store import Region
from geo.areas import LEVEL_COLUMN, area_codes, area_list, level_of
from geo.labels import UNASSIGNED
from geo.settings import Settings

UNKNOWN_COMMUNITY_ZH = "（未收录的社区）"
"""Name of a community code found on records but not in the areas layer."""
UNASSIGNED_COMMUNITY_ZH = "（未标注社区）"
"""Name of the row of records without a community code."""


def kinds_in_order(facilities: pd.DataFrame, settings: Settings, *, unknown: bool = True) -> list[str]:
    """Facility kinds present in the data, in ``settings.facility_kinds`` order; kinds not in the settings
    follow, sorted, when ``unknown`` is true."""
    if facilities.empty or "kind" not in facilities.columns:
        return []
    present = set(facilities["kind"].dropna().astype(str))
    known = [k for k in settings.facility_kinds if k in present]
    return known + sorted(present - set(settings.facility_kinds)) if unknown else known


def kind_counts(facilities: pd.DataFrame, kinds: list[str]) -> pd.DataFrame:
    """Number of facilities per kind, as a table with Chinese headers 类型 and 数量."""
    counts = facilities["kind"].astype(str).value_counts() if not facilities.empty else pd.Series(dtype="int64")
    return pd.DataFrame({"类型": kinds, "数量": [int(counts.get(k, 0)) for k in kinds]})


def suppressed_count(n: int, threshold: int) -> str:
    """A count for display, or ``"少于N"`` when it is below the suppression threshold ``N``."""
    return f"少于{threshold}" if n < threshold else str(n)


def community_summary(region: Region, settings: Settings) -> pd.DataFrame:
    """Facilities and (suppressed) elders per community, from counts only.

    Rows are the region's community areas in code order, then any community code found on the
    records but not in the areas layer ("（未收录的社区）"), then one row (code "") for records
    without a community code when there are any. Elder counts below
    ``settings.suppression_threshold`` read "少于N".

    Returns
    -------
    Columns 社区代码, 社区名称, 养老服务设施数 (int), 老年人数 (text).
    """
    column = LEVEL_COLUMN["community"]
    facility_codes = pd.Series(area_codes(region.facilities, column), dtype=object)
    elder_codes = pd.Series(area_codes(region.elders, column), dtype=object)
    facilities = facility_codes.value_counts()
    elders = elder_codes.value_counts()
    areas = region.areas
    communities = (areas[(level_of(areas) == "community").to_numpy()] if not areas.empty and "code" in areas
                   else areas)
    names = (dict(zip(communities["code"].astype(str), communities["name"].astype(str), strict=True))
             if "name" in communities else {})
    codes = area_list(communities, "community", facility_codes, elder_codes)
    threshold = settings.suppression_threshold
    return pd.DataFrame({
        "社区代码": ["" if c == UNASSIGNED else c for c in codes],
        "社区名称": [UNASSIGNED_COMMUNITY_ZH if c == UNASSIGNED else names.get(c, UNKNOWN_COMMUNITY_ZH) for c in codes],
        "养老服务设施数": [int(facilities.get(c, 0)) for c in codes],
        "老年人数": [suppressed_count(int(elders.get(c, 0)), threshold) for c in codes],
    })


__all__ = ["community_summary", "suppressed_count"]
