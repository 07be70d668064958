"""Settings: one frozen dataclass, loaded from a TOML file users can edit.

Planning parameters taken from standards (walking speed, circle minutes,
targets) live here with the standard's value as the default, never in code.
Settings are passed explicitly to every function that needs them, so that
``st.cache_data`` and ``st.cache_resource`` hash them.

The defaults are written out, with comments, in ``geo/settings.default.toml``;
``eldermap settings`` prints them. A user file may set any subset of fields.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from geo.errors import SettingsError

DEFAULT_SETTINGS_FILE = Path(__file__).with_name("settings.default.toml")

FACILITY_KINDS: tuple[str, ...] = (
    "养老机构",
    "社区养老服务综合体/中心",
    "日间照料中心",
    "养老服务站",
    "助餐点",
    "居家上门服务商",
)

SERVICE_TAGS: tuple[str, ...] = (
    "助餐",
    "助浴",
    "助洁",
    "助行",
    "助医",
    "助急",
    "日间照料",
    "短期托养",
    "长期托养",
    "康复护理",
    "医养结合",
    "认知症照护",
    "精神慰藉",
    "探访关爱",
)

CARER_SKILLS: tuple[str, ...] = (
    "生活照料",
    "家政服务",
    "助浴",
    "助餐配送",
    "康复护理",
    "健康管理",
    "陪医陪护",
    "精神慰藉",
    "紧急救援",
)
"""Skills of home-care workers (养老护理员 and 家政服务员), as service-list items require them."""


DRIVE_SPEEDS_KMH: tuple[tuple[str, float], ...] = (
    ("motorway", 80.0), ("motorway_link", 40.0), ("trunk", 60.0), ("trunk_link", 35.0),
    ("primary", 40.0), ("primary_link", 30.0), ("secondary", 35.0), ("secondary_link", 25.0),
    ("tertiary", 30.0), ("tertiary_link", 20.0), ("unclassified", 25.0), ("residential", 20.0),
    ("living_street", 10.0), ("service", 15.0), ("road", 20.0),
)
"""Typical urban driving speeds by OSM road class (km/h, assumptions for congested city traffic).
Road classes missing here are not driven on."""

WALK_EXCLUDED_HIGHWAYS: tuple[str, ...] = ("motorway", "motorway_link", "trunk", "trunk_link")

INSTITUTION_KINDS: tuple[str, ...] = ("养老机构",)
"""Kinds counted as elder-care institutions (机构养老 of the annex-2 table; nursing-bed share)."""
COMMUNITY_FACILITY_KINDS: tuple[str, ...] = ("社区养老服务综合体/中心", "日间照料中心", "养老服务站", "助餐点")
"""Kinds counted as community elder-care facilities (城镇社区养老 of the annex-2 table, note 5: facilities
in the community giving day care, full-time care, meals and other services)."""
DAY_VISIT_KINDS: tuple[str, ...] = ("日间照料中心", "助餐点", "养老服务站")
"""Kinds elders visit in the day and go home from (not suited to severely disabled elders on their own)."""
HOME_CARE_KINDS: tuple[str, ...] = ("居家上门服务商",)
"""Kinds that serve elders at home and have no site to visit (not counted as community facilities)."""

TIER_MINUTES: tuple[tuple[str, float], ...] = (("养老机构", 15.0), ("日间照料中心", 5.0))
"""Life-circle tier of facility kinds, minutes (GB 50180-2018)."""

WALK_PROFILES: tuple[tuple[str, float], ...] = (("规划", 3.6), ("老年人", 2.88), ("体弱", 2.4))
"""Named walking speeds, km/h: the planning speed of GB 50180-2018 (60 m/min); the mean gait speed
measured for people over 65 (about 0.8 m/s); frail elders and people over 85 (0.64–0.71 m/s, 0.67 m/s
taken)."""
POPULATIONS: tuple[str, ...] = ("户籍", "常住", "全部")
"""Which elders a table counts: registered here (户籍), living here (常住), or every imported elder."""
GAP_GROUP_WEIGHTS: tuple[tuple[str, float], ...] = (("独居", 0.5),)
"""Extra gap/siting weight of an uncovered elder per priority group (群体)."""
SITING_CAPACITY_PLACES: tuple[tuple[str, float], ...] = (
    ("养老机构", 100.0), ("社区养老服务综合体/中心", 50.0), ("日间照料中心", 30.0), ("养老服务站", 20.0),
    ("助餐点", 60.0), ("居家上门服务商", 100.0),
)
"""Places (elders served) per facility kind assumed by capacitated siting when a facility records no beds."""


@dataclass(frozen=True)
class Settings:
    """All tunable parameters of ElderMap.

    Attributes
    ----------
    walk_speed_kmh
        Walking speed of elders in km/h. GB 50180-2018 plans with 60 m/min
        (3.6 km/h); elders walk slower, so the default is 3.0 km/h (50 m/min).
    circle_minutes
        Service-circle sizes in minutes (5/10/15-minute life circles of GB 50180).
    h3_resolution
        H3 resolution for facilities and elders (9: cells of about 0.1 km²).
    snap_limit_m
        Largest distance in metres from a point to the road network at which it
        is still snapped to it; farther points are reported, not snapped.
    suppression_threshold
        Counts of elders below this number are suppressed on public pages and
        in exports meant for the public.
    elder_min_age
        Age in years from which a person counts as an elder (60 in China).
    oldest_old_age
        Age in years from which an elder counts as 高龄 (80).
    duplicate_radius_m
        Two facilities with the same name closer than this, in metres, are
        reported as duplicates.
    region_margin_m
        Points farther than this, in metres, outside the region's road network
        extent are rejected as "outside the region".
    mislabel_offset_m
        A file's coordinate system is reported as probably mislabelled when
        reading it in another system (GCJ-02 instead of WGS-84, say) brings the
        median distance of its points to the nearest road down by at least this
        many metres (and by half, with 70 % of points closer).
    working_crs
        Projected CRS for metric work ("EPSG:32650", say); empty means the
        local UTM zone estimated from the data.
    walk_steps_factor
        Elders climb steps slower: walking speed on ``highway=steps`` is
        multiplied by this (0.5).
    walk_excluded_highways
        Road classes pedestrians may not use (unless tagged ``foot=yes``).
    drive_speeds_kmh
        Driving speed per OSM road class, km/h; classes not listed are not
        driven on. A lower posted ``maxspeed`` caps the speed.
    facility_kinds
        Allowed facility kinds, in display order.
    institution_kinds, community_facility_kinds, day_visit_kinds, home_care_kinds
        The role of facility kinds, each a subset of ``facility_kinds``: institutions (机构养老
        columns of the annex-2 table, nursing-type bed share), community facilities (城镇社区养老
        columns and the community facility coverage rate, annex 2 note 5), kinds visited in the day
        (not recommended to severely disabled elders on their own), and home-care providers (serve
        at home: travel time is theirs to the elder, never a visit). Renaming a kind in
        ``facility_kinds`` needs the same name here, or the settings are rejected.
    service_tags
        Allowed service tags.
    carer_skills
        Allowed skills of carers (服务人员的技能) and of the service list's 所需技能 (生活照料、家政服务、助浴、
        助餐配送、康复护理、健康管理、陪医陪护、精神慰藉、紧急救援).
    gap_weight_80plus, gap_weight_disabled
        Extra weight of an uncovered elder aged 80+, or moderately to completely disabled (ability
        codes 2–4), in gap ranking and weighted siting: an elder counts 1 plus each weight that
        applies (defaults 1, 1).
    gap_group_weights
        Extra weight per priority group (特困、低保、独居…), added like the two above (default 独居 0.5).
    walk_profiles
        Named walking speeds, km/h (规划 3.6 = GB 50180's 60 m/min; 老年人 2.88 = 0.8 m/s; 体弱 2.4 ≈
        0.67 m/s). ``compare_profiles`` names the two shown side by side in the report's
        service-circle sheet and on the planner page.
    compare_profiles
        The walking profiles compared side by side (default 规划 and 体弱).
    home_care_drive_minutes
        A home-care provider (``home_care_kinds``) without a declared service area serves the elders
        within this many minutes' drive of its base.
    annex_population, coverage_population
        Which elders the annex-2 table counts (default 户籍, note 2) and which coverage analyses
        count (default 常住, seed 000 ties services to the resident population): 户籍, 常住 or 全部.
        Elders without the flag are counted as both.
    annex_include_villages
        Annex 2 note 6 counts 居委会 only; True also counts 村委会 in the coverage rate.
    annex_disabled_ability_codes, annex_disabled_grades, annex_disabled_dementia
        Annex 2 note 4, 失能(伤残) elders: ability codes counted (GB/T 42195: 3 重度失能, 4 完全失能),
        disability grades counted (一级, 二级), and whether 失智 counts.
    unassigned_warn_pct
        A report whose elders or facilities without an area at the report level exceed this share
        (%) carries a warning, and ``eldermap report`` fails unless ``--allow-unassigned``.
    max_text_length
        Longest text accepted in a field of a staff file (characters); longer rows are rejected.
    import_stream_min_mb
        An elders register (CSV) at least this large (MB) is imported as a stream
        (:func:`data.importer.import_region`): validated, assigned to areas and written to the store
        block by block, memory flat in its length. 0 streams every register (64 MB: about 900,000 rows).
    import_workers
        Worker processes that validate the blocks of a streamed register at once
        (:class:`data.validate.ValidationStream`); 0: one per CPU core, at most 4 (none for a file under 8 MB);
        1: none (one process).
    target_beds_per_100_elders
        Provisioning check: elder-care beds per 100 elders an area should have (4.0, i.e. 40 per
        1,000 — a common target of local plans; set your plan's).
    target_nursing_share_pct
        Provisioning check: nursing-type beds as a share of institution beds, % (55, the national
        14th five-year target for institutions).
    tier_minutes
        Provisioning check: each facility kind's life-circle tier, minutes of travel (GB 50180-2018:
        institutions in the 15-minute circle, day-care centres in the 5-minute one).
    target_tier_share_pct
        Provisioning check: share of an area's elders that should live within their tier's
        minutes of a facility of that kind, % (80).
    siting_capacity_places
        Capacitated siting (``eldermap site --capacity``, the planner page): places, i.e. elders one
        facility can serve, per facility kind — used for a new site of that kind (unless a number is
        given) and for an existing facility that records no beds (``beds_total`` missing or 0). Planning
        assumptions, set your city's: 养老机构 100, 社区养老服务综合体/中心 50, 日间照料中心 30,
        养老服务站 20, 助餐点 60, 居家上门服务商 100. Every kind must be in ``facility_kinds``; a kind
        missing here has unlimited places. Setting this table replaces it whole.
    geocoder, geocoder_key
        Online address lookup used when the offline gazetteer finds nothing: "" (default: offline
        only), "nominatim" (geopy; the key is the user agent), "amap" (高德, GCJ-02 converted) or
        "tianditu" (天地图), with the service's key.
    tiles_url, tiles_attribution, tiles_coordinates
        Base map tiles: an XYZ URL template of a tile server the users can reach (天地图 with a
        key, an internal server), the credit to show, and the tiles' coordinate system ("wgs84",
        or "gcj02" for Amap/Tencent tiles: points are then shifted onto them). Empty URL (default):
        no tiles, the region's own roads and areas are the base map — works with no internet.
    login_max_failures, login_lockout_minutes
        Staff login: failed logins of one account name (known or not) within ``login_lockout_minutes``
        that lock it for ``login_lockout_minutes`` minutes (5 in 15 minutes). Counted in the regions
        root, so the count holds across sessions, processes and restarts.
    login_address_max_failures
        Failed logins from one client address, over all names, within ``login_lockout_minutes`` that
        lock that address (20). Offices behind one NAT share an address: keep this well above
        ``login_max_failures``.
    login_trust_proxy
        False (default): the client address is the connection's peer address, and a local peer (the
        app used on its own machine, or through a reverse proxy on it) is recorded as 本机 and not
        throttled by address. True, only behind a reverse proxy on the same machine that appends the
        client address to ``X-Forwarded-For``: the last address of that header is used.
    session_hours
        A staff login lasts this many hours, also across reloads and new tabs (a signed cookie);
        退出登录 ends it at once (8).
    display_timezone
        IANA time zone in which pages show times (the audit log), e.g. "Asia/Shanghai" (default);
        empty: the server's local zone. Stored times stay in UTC.
    batch_worker_memory_gb
        Province batches (``eldermap batch``): the memory limit of each local Dask worker, GB (3). A county whose
        task would need more (estimated from its elders and road edges) is split into parts of its elders, each
        computed on its own task against the county's whole network and facilities.
    batch_task_max_elders
        Province batches: the most elders one task handles (0, the default: as many as the memory limit allows).
        A county with more is split into parts of at most this many elders.
    desk_accept_timeout_min
        Service desk (调度): an order dispatched and not accepted within this many minutes is overdue
        (超时) and may be reassigned (10).
    desk_rating_weight_satisfaction, desk_rating_weight_on_time, desk_rating_weight_complaints
        Weights of a provider's rating (:mod:`desk.ratings`): mean follow-up satisfaction, on-time rate and
        the share of follow-ups without a complaint (0.5, 0.3, 0.2; only their ratios matter).
    desk_prior_orders
        Strength of the rating's prior, in orders (5): each rate is smoothed towards the region's rate as
        if the provider had this many more orders at that rate (Bayesian average), so a provider with 2
        good follow-ups does not outrank one with 50.
    desk_bottom_share, desk_bottom_min_orders
        末位淘汰: the lowest-rated share of providers (0.1, rounded up) among those with at least
        ``desk_bottom_min_orders`` orders (10) is flagged.
    desk_rank_minutes_per_point
        Dispatch ranking: minutes of drive one rating point is worth (3): a provider rated one point higher
        wins against a carer up to 3 minutes nearer (重点推荐、优先派单).
    desk_rank_minutes_full_load
        Dispatch ranking: minutes of drive a carer's full day (orders today = max_orders_day) is worth (5).
    desk_max_drive_min
        Dispatch: carers farther than this many minutes' drive from an order are not proposed (60).
    route_mode
        Network of carers' daily routes (:mod:`planning.routes`): "drive" (default; e-bikes and cars on
        the road classes of ``drive_speeds_kmh``) or "walk".
    route_service_min_default
        Minutes of service of an order whose service-list items give no standard duration (60).
    route_solver_time_limit_s
        Longest time the route solver (VROOM) may search, seconds (5); the best plan found by then is used.
    route_solver_effort
        VROOM's exploration level, 0–5 (5, its most thorough search); days of more than 300 orders
        run at 0, as its start heuristics ignore the time limit (``planning.routes.solver_effort``).
    route_matrix_cutoff_min
        Travel longer than this many minutes between two stops is treated as unreachable (120).
    recommend_rating_weight
        How much a provider's service rating (0–5, :mod:`desk.ratings`) moves its recommendation score on the
        public page and in the API (:func:`planning.recommend.match`): score + 100 × weight × (rating − the mean
        rating of the rated providers) / 5, kept within 0–100 (0.2: one rating point above the mean is worth 4
        points of 100, about 2 minutes' travel; 0: ratings are shown but reorder nothing). 0–1.
    recommend_rating_min_followups
        A provider's rating is shown to the public and used in recommendations only when it rests on at least
        this many follow-ups (回访, 5); below it the public page says "暂无评价", so that one unhappy elder
        cannot single a provider out.
    """

    walk_speed_kmh: float = 3.0
    circle_minutes: tuple[int, ...] = (5, 10, 15)
    h3_resolution: int = 9
    snap_limit_m: float = 300.0
    suppression_threshold: int = 5
    elder_min_age: int = 60
    oldest_old_age: int = 80
    duplicate_radius_m: float = 50.0
    region_margin_m: float = 1000.0
    mislabel_offset_m: float = 30.0
    working_crs: str = ""
    walk_steps_factor: float = 0.5
    walk_excluded_highways: tuple[str, ...] = WALK_EXCLUDED_HIGHWAYS
    drive_speeds_kmh: tuple[tuple[str, float], ...] = DRIVE_SPEEDS_KMH
    facility_kinds: tuple[str, ...] = FACILITY_KINDS
    service_tags: tuple[str, ...] = SERVICE_TAGS
    carer_skills: tuple[str, ...] = CARER_SKILLS
    institution_kinds: tuple[str, ...] = INSTITUTION_KINDS
    community_facility_kinds: tuple[str, ...] = COMMUNITY_FACILITY_KINDS
    day_visit_kinds: tuple[str, ...] = DAY_VISIT_KINDS
    home_care_kinds: tuple[str, ...] = HOME_CARE_KINDS
    gap_weight_80plus: float = 1.0
    gap_weight_disabled: float = 1.0
    gap_group_weights: tuple[tuple[str, float], ...] = GAP_GROUP_WEIGHTS
    walk_profiles: tuple[tuple[str, float], ...] = WALK_PROFILES
    compare_profiles: tuple[str, ...] = ("规划", "体弱")
    home_care_drive_minutes: float = 15.0
    annex_population: str = "户籍"
    coverage_population: str = "常住"
    annex_include_villages: bool = False
    annex_disabled_ability_codes: tuple[int, ...] = (3, 4)
    annex_disabled_grades: tuple[str, ...] = ("一级", "二级")
    annex_disabled_dementia: bool = True
    unassigned_warn_pct: float = 1.0
    max_text_length: int = 200
    import_stream_min_mb: float = 64.0
    import_workers: int = 0
    target_beds_per_100_elders: float = 4.0
    target_nursing_share_pct: float = 55.0
    tier_minutes: tuple[tuple[str, float], ...] = TIER_MINUTES
    target_tier_share_pct: float = 80.0
    siting_capacity_places: tuple[tuple[str, float], ...] = SITING_CAPACITY_PLACES
    geocoder: str = ""
    geocoder_key: str = ""
    tiles_url: str = ""
    tiles_attribution: str = ""
    tiles_coordinates: str = "wgs84"
    login_max_failures: int = 5
    login_lockout_minutes: float = 15.0
    login_address_max_failures: int = 20
    login_trust_proxy: bool = False
    session_hours: float = 8.0
    display_timezone: str = "Asia/Shanghai"
    desk_accept_timeout_min: float = 10.0
    batch_worker_memory_gb: float = 3.0
    batch_task_max_elders: int = 0
    desk_rating_weight_satisfaction: float = 0.5
    desk_rating_weight_on_time: float = 0.3
    desk_rating_weight_complaints: float = 0.2
    desk_prior_orders: float = 5.0
    desk_bottom_share: float = 0.1
    desk_bottom_min_orders: int = 10
    desk_rank_minutes_per_point: float = 3.0
    desk_rank_minutes_full_load: float = 5.0
    desk_max_drive_min: float = 60.0
    route_mode: str = "drive"
    route_service_min_default: float = 60.0
    route_solver_time_limit_s: float = 5.0
    route_solver_effort: int = 5
    route_matrix_cutoff_min: float = 120.0
    recommend_rating_weight: float = 0.2
    recommend_rating_min_followups: int = 5

    def __post_init__(self) -> None:
        problems = []
        if not 0.5 <= self.walk_speed_kmh <= 10:
            problems.append(f"walk_speed_kmh 应在 0.5–10 之间（收到 {self.walk_speed_kmh}）")
        if not self.circle_minutes or any(m <= 0 or m > 120 for m in self.circle_minutes):
            problems.append(f"circle_minutes 应为 1–120 的分钟数（收到 {list(self.circle_minutes)}）")
        if not 0 <= self.h3_resolution <= 15:
            problems.append(f"h3_resolution 应在 0–15 之间（收到 {self.h3_resolution}）")
        if self.snap_limit_m <= 0:
            problems.append(f"snap_limit_m 应大于 0（收到 {self.snap_limit_m}）")
        if self.suppression_threshold < 0:
            problems.append(f"suppression_threshold 不能为负（收到 {self.suppression_threshold}）")
        if not 0 < self.walk_steps_factor <= 1:
            problems.append(f"walk_steps_factor 应在 0–1 之间（收到 {self.walk_steps_factor}）")
        if any(v <= 0 or v > 150 for _, v in self.drive_speeds_kmh):
            problems.append("drive_speeds_kmh 的车速应在 0–150 km/h 之间")
        if not self.facility_kinds:
            problems.append("facility_kinds 不能为空")
        if not self.carer_skills:
            problems.append("carer_skills 不能为空")
        for name in ("institution_kinds", "community_facility_kinds", "day_visit_kinds", "home_care_kinds"):
            unknown = [k for k in getattr(self, name) if k not in self.facility_kinds]
            if unknown:
                problems.append(f"{name} 中的{'、'.join(unknown)}不在 facility_kinds 中（请同时修改两处）")
        if set(self.institution_kinds) & set(self.community_facility_kinds):
            problems.append("同一设施类型不能既是 institution_kinds 又是 community_facility_kinds")
        if set(self.home_care_kinds) & (set(self.institution_kinds) | set(self.community_facility_kinds)):
            problems.append("home_care_kinds 不能与 institution_kinds 或 community_facility_kinds 重复")
        tier_unknown = [k for k, _ in self.tier_minutes if k not in self.facility_kinds]
        if tier_unknown:
            problems.append(f"tier_minutes 中的{'、'.join(tier_unknown)}不在 facility_kinds 中")
        for name in ("gap_weight_80plus", "gap_weight_disabled", "target_beds_per_100_elders"):
            if getattr(self, name) < 0:
                problems.append(f"{name} 不能为负（收到 {getattr(self, name)}）")
        if any(w < 0 for _, w in self.gap_group_weights):
            problems.append("gap_group_weights 的权重不能为负")
        if any(not 0.5 <= v <= 10 for _, v in self.walk_profiles):
            problems.append("walk_profiles 的步行速度应在 0.5–10 km/h 之间")
        unknown_profiles = [p for p in self.compare_profiles if p not in dict(self.walk_profiles)]
        if unknown_profiles:
            problems.append(f"compare_profiles 中的{'、'.join(unknown_profiles)}不在 walk_profiles 中")
        if not 0 < self.home_care_drive_minutes <= 120:
            problems.append(f"home_care_drive_minutes 应在 0–120 之间（收到 {self.home_care_drive_minutes}）")
        for name in ("annex_population", "coverage_population"):
            if getattr(self, name) not in POPULATIONS:
                problems.append(f"{name} 应为 {'、'.join(POPULATIONS)} 之一（收到 {getattr(self, name)}）")
        if any(c not in (0, 1, 2, 3, 4) for c in self.annex_disabled_ability_codes):
            problems.append("annex_disabled_ability_codes 应为 0–4 的能力等级代码")
        if any(g not in DISABILITY_GRADES for g in self.annex_disabled_grades):
            problems.append(f"annex_disabled_grades 应取自 {'、'.join(DISABILITY_GRADES)}")
        if not 0 <= self.unassigned_warn_pct <= 100:
            problems.append(f"unassigned_warn_pct 应在 0–100 之间（收到 {self.unassigned_warn_pct}）")
        if not 10 <= self.max_text_length <= 100_000:
            problems.append(f"max_text_length 应在 10–100000 之间（收到 {self.max_text_length}）")
        if not 0 <= self.import_stream_min_mb <= 1_000_000:
            problems.append(f"import_stream_min_mb 应在 0–1000000 之间（收到 {self.import_stream_min_mb}）")
        if not 0 <= self.import_workers <= 64:
            problems.append(f"import_workers 应在 0–64 之间（收到 {self.import_workers}）")
        for name in ("target_nursing_share_pct", "target_tier_share_pct"):
            if not 0 <= getattr(self, name) <= 100:
                problems.append(f"{name} 应在 0–100 之间（收到 {getattr(self, name)}）")
        if self.geocoder not in ("", "nominatim", "amap", "tianditu"):
            problems.append(f"geocoder 应为空、nominatim、amap 或 tianditu（收到 {self.geocoder}）")
        if self.geocoder in ("amap", "tianditu") and not self.geocoder_key:
            problems.append(f"使用 {self.geocoder} 在线地址查询需要填写 geocoder_key")
        if self.tiles_coordinates not in ("wgs84", "gcj02"):
            problems.append(f"tiles_coordinates 应为 wgs84 或 gcj02（收到 {self.tiles_coordinates}）")
        if self.tiles_url and not self.tiles_attribution:
            problems.append("设置了 tiles_url 时必须填写 tiles_attribution（底图版权说明）")
        if any(m <= 0 or m > 120 for _, m in self.tier_minutes):
            problems.append("tier_minutes 的分钟数应在 0–120 之间")
        capacity_unknown = [k for k, _ in self.siting_capacity_places if k not in self.facility_kinds]
        if capacity_unknown:
            problems.append(f"siting_capacity_places 中的{'、'.join(capacity_unknown)}不在 facility_kinds 中（请同时修改两处）")
        if any(not 0 < v <= 1_000_000 for _, v in self.siting_capacity_places):
            problems.append("siting_capacity_places 的名额应在 1–1000000 之间")
        if not 1 <= self.login_max_failures <= 100:
            problems.append(f"login_max_failures 应在 1–100 之间（收到 {self.login_max_failures}）")
        if not 1 <= self.login_address_max_failures <= 10_000:
            problems.append(f"login_address_max_failures 应在 1–10000 之间（收到 {self.login_address_max_failures}）")
        if not 1 <= self.login_lockout_minutes <= 24 * 60:
            problems.append(f"login_lockout_minutes 应在 1–1440 分钟之间（收到 {self.login_lockout_minutes}）")
        if not 0.1 <= self.session_hours <= 24 * 30:
            problems.append(f"session_hours 应在 0.1–720 小时之间（收到 {self.session_hours}）")
        if self.display_timezone:
            try:
                zoneinfo.ZoneInfo(self.display_timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                problems.append(f"display_timezone 不是有效的时区名（收到 {self.display_timezone}），"
                                "例如 Asia/Shanghai；留空表示服务器本地时区")
        if not 0.25 <= self.batch_worker_memory_gb <= 1024:
            problems.append(f"batch_worker_memory_gb 应在 0.25–1024 GB 之间（收到 {self.batch_worker_memory_gb}）")
        if self.batch_task_max_elders < 0:
            problems.append(f"batch_task_max_elders 不能为负（收到 {self.batch_task_max_elders}；0 表示按内存上限自动确定）")
        if not 1 <= self.desk_accept_timeout_min <= 24 * 60:
            problems.append(f"desk_accept_timeout_min 应在 1–1440 分钟之间（收到 {self.desk_accept_timeout_min}）")
        desk_weights = ("desk_rating_weight_satisfaction", "desk_rating_weight_on_time", "desk_rating_weight_complaints")
        if any(getattr(self, n) < 0 for n in desk_weights) or not sum(getattr(self, n) for n in desk_weights) > 0:
            problems.append("desk_rating_weight_* 不能为负，且不能全为 0")
        for name in ("desk_prior_orders", "desk_bottom_min_orders", "desk_rank_minutes_per_point",
                     "desk_rank_minutes_full_load"):
            if getattr(self, name) < 0:
                problems.append(f"{name} 不能为负（收到 {getattr(self, name)}）")
        if not 0 <= self.desk_bottom_share <= 1:
            problems.append(f"desk_bottom_share 应在 0–1 之间（收到 {self.desk_bottom_share}）")
        if not 1 <= self.desk_max_drive_min <= 24 * 60:
            problems.append(f"desk_max_drive_min 应在 1–1440 分钟之间（收到 {self.desk_max_drive_min}）")
        if self.route_mode not in ("drive", "walk"):
            problems.append(f"route_mode 应为 drive（驾车）或 walk（步行）（收到 {self.route_mode}）")
        if not 5 <= self.route_service_min_default <= 480:
            problems.append(f"route_service_min_default 应在 5–480 分钟之间（收到 {self.route_service_min_default}）")
        if not 0.1 <= self.route_solver_time_limit_s <= 600:
            problems.append(f"route_solver_time_limit_s 应在 0.1–600 秒之间（收到 {self.route_solver_time_limit_s}）")
        if not 0 <= self.route_solver_effort <= 5:
            problems.append(f"route_solver_effort 应在 0–5 之间（收到 {self.route_solver_effort}）")
        if not 1 <= self.route_matrix_cutoff_min <= 24 * 60:
            problems.append(f"route_matrix_cutoff_min 应在 1–1440 分钟之间（收到 {self.route_matrix_cutoff_min}）")
        if not 0 <= self.recommend_rating_weight <= 1:
            problems.append(f"recommend_rating_weight 应在 0–1 之间（收到 {self.recommend_rating_weight}）")
        if self.recommend_rating_min_followups < 1:
            problems.append(f"recommend_rating_min_followups 应至少为 1（收到 {self.recommend_rating_min_followups}）")
        if problems:
            raise SettingsError(
                "设置无效：" + "；".join(problems),
                "invalid settings: " + "; ".join(problems),
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples as lists, pair tables as dicts), for manifests and TOML."""
        out: dict[str, Any] = {}
        for k, v in dataclasses.asdict(self).items():
            if k in _TABLE_FIELDS:
                out[k] = {key: value for key, value in v}
            else:
                out[k] = list(v) if isinstance(v, tuple) else v
        return out

    def drive_speed_table(self) -> dict[str, float]:
        """``drive_speeds_kmh`` as a dict."""
        return dict(self.drive_speeds_kmh)

    def tier_table(self) -> dict[str, float]:
        """``tier_minutes`` as a dict: facility kind → minutes."""
        return dict(self.tier_minutes)

    def capacity_table(self) -> dict[str, float]:
        """``siting_capacity_places`` as a dict: facility kind → places."""
        return dict(self.siting_capacity_places)

    def walk_profile_table(self) -> dict[str, float]:
        """``walk_profiles`` as a dict: profile name → km/h."""
        return dict(self.walk_profiles)

    def group_weight_table(self) -> dict[str, float]:
        """``gap_group_weights`` as a dict: priority group → extra weight."""
        return dict(self.gap_group_weights)


DISABILITY_GRADES: tuple[str, ...] = ("一级", "二级", "三级", "四级")
"""Disability grades of the disability certificate (残疾人证), 一级 most severe."""

_TABLE_FIELDS = frozenset({"drive_speeds_kmh", "tier_minutes", "walk_profiles", "gap_group_weights",
                           "siting_capacity_places"})


def settings_from_dict(values: dict[str, Any], *, source: str = "<dict>") -> Settings:
    """Build settings from a mapping, rejecting unknown keys and wrong types.

    Parameters
    ----------
    values
        Field names to values; missing fields keep their defaults.
    source
        Where the values came from, named in error messages.
    """
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SettingsError(
            f"设置文件 {source} 含未知项：{', '.join(unknown)}；可用项：{', '.join(known)}",
            f"{source}: unknown settings {unknown}",
        )
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        default = getattr(Settings(), name)
        try:
            if name in _TABLE_FIELDS:
                if not isinstance(value, dict):
                    raise TypeError
                kwargs[name] = tuple((str(k), float(v)) for k, v in value.items())
            elif isinstance(default, tuple):
                if not isinstance(value, list | tuple):
                    raise TypeError
                kind = type(default[0]) if default else str
                kwargs[name] = tuple(kind(v) for v in value)
            elif isinstance(default, bool):
                kwargs[name] = bool(value)
            elif isinstance(default, int | float) and isinstance(value, bool):
                raise TypeError
            else:
                kwargs[name] = type(default)(value)
        except (TypeError, ValueError):
            raise SettingsError(
                f"设置文件 {source} 的 {name} 类型错误：收到 {value!r}，应为 {type(default).__name__}",
                f"{source}: setting {name} has wrong type: {value!r}",
            ) from None
    return Settings(**kwargs)


def load_settings(path: str | Path | None = None) -> Settings:
    """Load settings from a TOML file, or the defaults when ``path`` is None.

    The file may hold the fields at top level or under a ``[eldermap]`` table.
    """
    if path is None:
        return Settings()
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise SettingsError(f"找不到设置文件：{path}", f"settings file not found: {path}") from None
    except IsADirectoryError:
        raise SettingsError(f"设置文件 {path} 是一个文件夹", f"settings file is a folder: {path}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"设置文件 {path.name} 不是 UTF-8 编码的文本：请用文本编辑器另存为 UTF-8",
                            f"settings file {path} is not UTF-8: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"at line (\d+), column (\d+)", str(exc))
        at = f"第 {where.group(1)} 行第 {where.group(2)} 列附近" if where else "文件中"
        raise SettingsError(
            f"设置文件 {path.name} 不是有效的 TOML：{at}写法有误（应为 名称 = 值，文字加英文双引号，如 "
            'walk_speed_kmh = 3.6、region_name = "某区"）',
            f"settings file {path} is not valid TOML: {exc}") from None
    return settings_from_dict(raw.get("eldermap", raw), source=str(path))


ACCESS_FIELDS: frozenset[str] = frozenset({"login_max_failures", "login_lockout_minutes", "login_address_max_failures",
                                           "login_trust_proxy", "session_hours", "display_timezone"})
"""Settings of logins and display only: they change no figure, so :func:`settings_digest` leaves them out."""


_DIGESTS: dict[int, tuple[Settings, str]] = {}


def settings_digest(settings: Settings) -> str:
    """Short stable hash of the settings that shape data and figures (not :data:`ACCESS_FIELDS`), for cache
    keys and manifests. Settings are frozen, so the digest is made once per settings object (request paths ask
    for it many times a second; making it walks every field)."""
    import hashlib
    import json

    seen = _DIGESTS.get(id(settings))
    if seen is not None and seen[0] is settings:
        return seen[1]
    values = {k: v for k, v in settings.to_dict().items() if k not in ACCESS_FIELDS}
    blob = json.dumps(values, sort_keys=True, ensure_ascii=False).encode()
    digest = hashlib.sha256(blob).hexdigest()[:16]
    if len(_DIGESTS) > 64:
        _DIGESTS.clear()
    _DIGESTS[id(settings)] = (settings, digest)
    return digest


__all__ = [
    "DEFAULT_SETTINGS_FILE",
    "DISABILITY_GRADES",
    "POPULATIONS",
    "WALK_PROFILES",
    "FACILITY_KINDS",
    "SERVICE_TAGS",
    "Settings",
    "load_settings",
    "settings_digest",
    "settings_from_dict",
]
