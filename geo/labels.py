"""Chinese labels shown to users: one home for mode, level and layer names, the total and
unassigned rows, and the Chinese column headers of every table the app, the CLI and the
reports show.

Code and identifiers stay English; these dicts turn them into Simplified Chinese at the edge
(``table.rename(columns=COVERAGE_COLUMNS_ZH)``). Plain constants only: this module imports
nothing, so every layer (``geo``, ``data``, ``layers``, ``planning``, ``views``) may use it.
"""

from __future__ import annotations

# ---------------------------------------------------------------- words

MODE_ZH: dict[str, str] = {"walk": "步行", "drive": "驾车"}
"""Travel modes."""
MODE_OF_ZH: dict[str, str] = {zh: mode for mode, zh in MODE_ZH.items()}
"""The inverse of :data:`MODE_ZH`, for widgets that show the Chinese names: "步行" -> "walk"."""

TOTAL_CODE = "合计"
"""Code of the region-total row that ends every per-area table."""
TOTAL_NAME = "全部地区"
"""Name of the region-total row."""
UNASSIGNED = "未归属"
"""Code (and name) of the row of records without an area at the table's level."""

DASH = "—"
"""Shown for a ratio without a denominator (an area without communities or elders)."""

AREA_LEVEL_ZH: dict[str, str] = {"district": "区县", "street": "街道/乡镇", "community": "社区/村"}
"""Area levels as in the data model (``areas.level``)."""
REPORT_LEVEL_ZH: dict[str, str] = {"district": "区县", "street": "街道（乡镇）"}
"""Levels of the official tables (reports, provisioning checks)."""

LAYER_ZH: dict[str, str] = {
    "roads": "道路",
    "road_nodes": "道路节点",
    "road_edges": "道路",
    "buildings": "建筑",
    "facilities": "养老服务设施",
    "elders": "老年人",
    "areas": "区划",
    "service_areas": "上门服务区域",
    "service_items": "服务清单",
    "carers": "服务人员",
    "orders": "服务工单",
}
"""Stored layers (and the keys of ``manifest["synthetic"]``)."""

GRADE_ZH: dict[int, str] = {1: "一级", 2: "二级", 3: "三级", 4: "四级", 5: "五级"}
"""Institution grades of GB/T 37276 (五级 best)."""


def mode_zh(mode: str) -> str:
    """"walk" -> "步行"; an unknown mode is shown as given."""
    return MODE_ZH.get(mode, mode)


# ---------------------------------------------------------------- column headers

COVERAGE_COLUMNS_ZH: dict[str, str] = {
    "code": "区划代码", "name": "名称", "elders": "老年人数", "covered": "覆盖人数", "coverage_pct": "覆盖率(%)",
    "elders_80plus": "80岁及以上人数", "covered_80plus": "80岁及以上覆盖人数", "coverage_80plus_pct": "80岁及以上覆盖率(%)",
    "elders_disabled": "中度及以上失能人数", "covered_disabled": "中度及以上失能覆盖人数",
    "coverage_disabled_pct": "中度及以上失能覆盖率(%)", "weighted_elders": "加权老年人数",
    "weighted_covered": "加权覆盖人数", "weighted_coverage_pct": "加权覆盖率(%)",
}
"""Columns of :func:`planning.coverage.coverage_by_area`."""

GAP_COLUMNS_ZH: dict[str, str] = {
    "rank": "排名", "h3": "H3网格", "code": "社区代码", "name": "社区名称", "elders": "老人数",
    "uncovered": "圈外老人数", "uncovered_pct": "圈外比例（%）", "uncovered_80plus": "其中高龄",
    "uncovered_disabled": "其中失能", "uncovered_alone": "其中独居", "weighted_need": "加权需求",
    "median_time_min": "圈外老人到最近设施中位时间（分钟）", "reason": "说明",
}
"""Columns of :func:`planning.gaps.gaps`."""

SITE_COLUMNS_ZH: dict[str, str] = {
    "rank": "序号", "candidate_id": "候选点编号", "h3": "H3网格", "lon": "经度", "lat": "纬度",
    "community_code": "所在社区代码", "community_name": "所在社区",
    "newly_covered": "新增覆盖老人数", "newly_covered_weight": "新增覆盖加权需求",
    "coverage_pct_after": "累计覆盖率（%）",
}
"""Columns of :attr:`planning.sites.SitePlan.sites`."""

COMPARE_COLUMNS_ZH: dict[str, str] = {
    "code": "区划代码", "name": "名称", "elders": "老年人数", "covered_a": "覆盖人数（方案A）",
    "covered_b": "覆盖人数（方案B）", "covered_delta": "覆盖人数变化", "coverage_pct_a": "覆盖率A(%)",
    "coverage_pct_b": "覆盖率B(%)", "coverage_pct_delta": "覆盖率变化(百分点)",
    "beds_per_1000_a": "千名老人可及床位A", "beds_per_1000_b": "千名老人可及床位B",
    "beds_per_1000_delta": "千名老人可及床位变化",
}
"""Columns of :func:`planning.scenario.compare` (per area)."""

CHECK_FIXED_COLUMNS_ZH: dict[str, str] = {
    "code": "区划代码",
    "name": "名称",
    "elders": "老年人数（人）",
    "beds_total": "床位总数（张）",
    "beds_per_100": "每百名老人床位数（张）",
    "target_beds_per_100": "每百名老人床位目标（张）",
    "beds_ok": "床位达标",
    "institution_beds": "养老机构床位数（张）",
    "nursing_beds": "养老机构护理型床位数（张）",
    "nursing_share_pct": "护理型床位占比（%）",
    "target_nursing_share_pct": "护理型床位占比目标（%）",
    "nursing_ok": "护理型床位达标",
}
"""The columns of :func:`planning.checks.provisioning_checks` that do not depend on the settings
(the tier columns come from :func:`planning.checks.check_columns_zh`)."""

ANNEX_COLUMNS_ZH: dict[str, str] = {
    "code": "区划代码", "name": "名称", "communities": "所辖社区数(个)",
    "fiscal_revenue_10k_yuan": "财政收入(万元)", "registered_population_10k": "户籍人口总数(万人)",
    "elders_10k": "老年人口总数(万人)", "oldest_old_10k": "高龄老年人人数(万人)",
    "disabled_10k": "失能(伤残)老年人人数(万人)", "institutions": "机构数(个)", "institution_beds": "机构床位数(张)",
    "institution_residents": "入住老年人人数(人)", "community_facilities": "社区养老设施数(个)",
    "community_facility_beds": "社区设施床位数(张)", "community_elders_served": "养老服务老年人人数(人)",
    "communities_with_facility": "有设施的社区数(个)", "coverage_rate_pct": "社区养老设施覆盖率(%)",
}
"""Columns of :func:`planning.report.basic_situation` as one-line headers (the app's table; the
workbook and the printable page use the annex's two-level header)."""

AREA_LEVEL_SHORT_ZH: dict[str, str] = {"district": "区县", "street": "街道", "community": "社区", "h3": "H3 网格"}
"""Levels of per-area tables in running text ("没有街道归属")."""
