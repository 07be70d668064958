"""Field definitions of the staff-supplied tables: facilities, elders, areas, and the home-care tables
(service list, carers, orders).

Each :class:`FieldSpec` names a canonical English column, its type and unit,
whether it is required, and the header aliases (Chinese and English) under
which staff files carry it. The README's data-model tables are generated from
here (``eldermap schema --markdown``), so code and documentation cannot drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from geo.settings import DISABILITY_GRADES

FieldType = Literal["str", "int", "float", "enum", "tags", "year", "division", "uscc", "resident_id", "phone",
                    "bool", "month", "datetime", "time_range", "skill_level", "codes"]

ABILITY_LEVELS: tuple[str, ...] = ("能力完好", "轻度失能", "中度失能", "重度失能", "完全失能")
"""GB/T 42195-2022 ability levels, index = level code 0–4."""

NATURES: tuple[str, ...] = ("公办", "民办", "公建民营")
SEXES: tuple[str, ...] = ("男", "女")
SPECIAL_GROUPS: tuple[str, ...] = ("特困", "低保", "低收入", "重度残疾", "优抚对象", "独居", "空巢", "计划生育特殊家庭",
                                   "留守")
"""Priority groups (seed 004 names the government-purchase groups: 特困、低保/低收入、重度残疾、优抚对象、
独居、空巢、计划生育特殊家庭)."""
GROUP_ALIASES: dict[str, str] = {"低边": "低收入", "低保边缘": "低收入", "低收入家庭": "低收入", "失独": "计划生育特殊家庭",
                                 "计生特殊家庭": "计划生育特殊家庭", "优抚": "优抚对象", "重残": "重度残疾",
                                 "特困供养": "特困", "分散供养特困": "特困", "低保对象": "低保", "留守老人": "留守",
                                 "空巢老人": "空巢", "独居老人": "独居"}
SERVICE_CATEGORIES: tuple[str, ...] = ("生活照料", "家政服务", "健康管理", "紧急救援", "精神慰藉", "其他")
"""Categories of the service list (seed 004's four home-care services plus 精神慰藉 and 其他)."""
EMERGENCY_CATEGORY = "紧急救援"
"""An order with an item of this category is urgent (紧急)."""
ELIGIBLE_GROUPS: tuple[str, ...] = (*SPECIAL_GROUPS, "失能", "高龄", "全体老年人")
"""Groups a service-list item is subsidised for: the priority groups, 失能 (ability level 轻度失能 or worse),
高龄 (aged ``settings.oldest_old_age`` or more) and 全体老年人 (everyone)."""
URGENCIES: tuple[str, ...] = ("普通", "紧急")
CHANNELS: tuple[str, ...] = ("12349热线", "网络平台", "智能终端", "工作人员")
ORDER_STATES: tuple[str, ...] = ("待派单", "已派单", "已接单", "服务中", "已完成", "已回访")
"""The main line of an order, in order (seed 004: 服务确认→企业派单→服务跟踪→服务评价→质量回访)."""
STATE_TIMESTAMPS: tuple[str, ...] = ("created_at", "dispatched_at", "accepted_at", "started_at", "completed_at",
                                     "followed_up_at")
"""Timestamp column of reaching each state of :data:`ORDER_STATES` (same index)."""
CANCELLED = "已取消"
ORDER_STATUSES: tuple[str, ...] = (*ORDER_STATES, CANCELLED)
"""Values of an order's ``status`` column: the main line, or 已取消 (final)."""
ORDER_EVENTS: tuple[str, ...] = ("拒单", "超时", "未上门")
"""Side events an order went through (refused, not accepted in time, no-show): each sent it back to 待派单."""
SKILL_LEVEL_ZH: dict[int, str] = {1: "五级/初级工", 2: "四级/中级工", 3: "三级/高级工", 4: "二级/技师", 5: "一级/高级技师"}
"""职业技能等级 of 养老护理员 (national occupational standard), as our level 1–5 (5 highest)."""
SATISFACTION_ALIASES: dict[str, int] = {"非常满意": 5, "很满意": 5, "满意": 4, "比较满意": 4, "基本满意": 3, "一般": 3,
                                        "不满意": 2, "不太满意": 2, "非常不满意": 1, "很不满意": 1}
URGENCY_ALIASES: dict[str, str] = {"一般": "普通", "正常": "普通", "否": "普通", "急": "紧急", "加急": "紧急",
                                   "特急": "紧急", "是": "紧急", "紧急救援": "紧急"}
CHANNEL_ALIASES: dict[str, str] = {"12349": "12349热线", "热线": "12349热线", "电话": "12349热线", "热线电话": "12349热线",
                                   "12349热线电话": "12349热线", "app": "网络平台", "小程序": "网络平台", "微信": "网络平台",
                                   "网站": "网络平台", "线上": "网络平台", "网络": "网络平台", "平台": "网络平台",
                                   "智能设备": "智能终端", "一键呼叫": "智能终端", "呼叫器": "智能终端", "智能手环": "智能终端",
                                   "终端": "智能终端", "工作人员代下单": "工作人员", "代下单": "工作人员", "社工": "工作人员",
                                   "网格员": "工作人员", "上门登记": "工作人员"}
STATUS_ALIASES: dict[str, str] = {"待分派": "待派单", "未派单": "待派单", "新建": "待派单", "待处理": "待派单",
                                  "已分派": "已派单", "派单": "已派单", "接单": "已接单", "已签到": "服务中",
                                  "服务进行中": "服务中", "进行中": "服务中", "完成": "已完成", "服务完成": "已完成",
                                  "已签退": "已完成", "已评价": "已完成", "回访": "已回访", "已回访完成": "已回访",
                                  "取消": "已取消", "撤单": "已取消", "已撤销": "已取消"}

AREA_LEVELS: tuple[str, ...] = ("district", "street", "community")
COMMUNITY_TYPES: tuple[str, ...] = ("居委会", "村委会")
"""Kind of a community-level area: urban residents' committee or village committee (annex 2 note 6)."""
YES_NO_ALIASES: dict[str, bool] = {"是": True, "否": False, "y": True, "n": False, "yes": True, "no": False,
                                   "true": True, "false": False, "1": True, "0": False, "有": True, "无": False,
                                   "√": True, "✓": True, "×": False}
REGISTRATION_ALIASES: dict[str, tuple[bool | None, bool | None]] = {
    "户籍": (True, None), "本地户籍": (True, None), "户籍人口": (True, None),
    "常住": (None, True), "常住人口": (None, True),
    "户籍常住": (True, True), "户籍且常住": (True, True), "本地户籍常住": (True, True), "人户一致": (True, True),
    "户籍不常住": (True, False), "人户分离": (True, False), "外出": (True, False),
    "常住非户籍": (False, True), "外来": (False, True), "流动人口": (False, True), "非本地户籍": (False, True),
}
"""Values of a single 人口类型 column -> (registered here 户籍, living here 常住); None: not said."""


@dataclass(frozen=True)
class FieldSpec:
    """One column of a staff table.

    Attributes
    ----------
    name
        Canonical column name (English, with unit where there is one).
    type
        How values are parsed and checked.
    zh
        Chinese label used in reports.
    required
        Rows without a value are rejected.
    aliases
        Header names accepted for this field (matched after normalising case,
        spaces, full-width characters and brackets).
    unit
        Unit of the value, empty when it has none.
    choices
        Allowed values of an ``enum`` or ``tags`` field (None: taken from settings).
    minimum, maximum
        Inclusive bounds of numeric fields.
    sensitive
        Personal data: never stored in clear (pseudonymised or dropped at import).
    doc
        One line for the README.
    """

    name: str
    type: FieldType
    zh: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    unit: str = ""
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    sensitive: bool = False
    doc: str = ""


LON = FieldSpec("lon", "float", "经度", aliases=("经度", "longitude", "lng", "long", "x", "东经", "坐标经度"),
                unit="度", minimum=-180, maximum=180,
                doc="经度，坐标系由导入参数声明（WGS-84/CGCS2000/GCJ-02/BD-09），入库前统一转换为 WGS-84")
LAT = FieldSpec("lat", "float", "纬度", aliases=("纬度", "latitude", "y", "北纬", "坐标纬度"),
                unit="度", minimum=-90, maximum=90, doc="纬度，同上")
DISTRICT = FieldSpec("district_code", "division", "区县代码", aliases=("区县代码", "区代码", "县区代码", "区县区划代码"),
                     doc="6 位区县行政区划代码")
STREET = FieldSpec("street_code", "division", "街道代码", aliases=("街道代码", "乡镇代码", "街道乡镇代码", "街道区划代码"),
                   doc="9 位街道/乡镇代码")
COMMUNITY = FieldSpec("community_code", "division", "社区代码",
                      aliases=("社区代码", "村居代码", "居委会代码", "社区区划代码", "村社区代码"),
                      doc="12 位社区/村代码")
DISTRICT_NAME = FieldSpec("district_name", "str", "所属区县",
                          aliases=("所属区县", "区县", "区县名称", "所在区县", "所属区", "所属县"),
                          doc="所属区县的名称或代码；导入时与区划数据匹配，得出区县代码")
STREET_NAME = FieldSpec("street_name", "str", "所属街道",
                        aliases=("所属街道", "街道", "街道名称", "所在街道", "所属乡镇", "乡镇", "所属街道乡镇", "街道乡镇"),
                        doc="所属街道/乡镇的名称或代码；导入时与区划数据匹配（名称可省略“街道”“镇”等后缀）")
COMMUNITY_NAME = FieldSpec("community_name", "str", "所属社区",
                           aliases=("所属社区", "社区", "社区名称", "所在社区", "所属居委会", "居委会", "所属村居",
                                    "村居", "所属村", "所属村委会", "社区村"),
                           doc="所属社区（居委会/村委会）的名称或代码；导入时与区划数据匹配")
AREA_CODE = FieldSpec("area_code", "division", "行政区划代码", aliases=("行政区划代码", "区划代码", "所属区划"),
                      doc="任意层级的区划代码，按位数归入区县（6）、街道（9）或社区（12）")

FACILITY_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("id", "str", "机构编号",
              aliases=("机构编号", "设施编号", "编号", "机构id", "设施id", "id", "序号编码", "机构代码"),
              doc="机构或设施在本地区唯一的编号；缺失时取统一社会信用代码，再缺失时由名称和位置生成"),
    FieldSpec("name", "str", "名称", required=True,
              aliases=("名称", "机构名称", "设施名称", "服务机构名称", "单位名称", "name"), doc="机构或设施名称"),
    FieldSpec("kind", "enum", "类型", required=True,
              aliases=("类型", "机构类型", "设施类型", "类别", "机构类别", "kind", "type"),
              doc="设施类型，取值见设置 facility_kinds"),
    FieldSpec("service_area", "str", "服务区域",
              aliases=("服务区域", "服务范围", "服务社区", "服务街道", "上门服务区域", "service_area"),
              doc="居家上门服务商的服务区域：社区或街道的名称或代码，多个用顿号分隔；缺失时按设置 "
                  "home_care_drive_minutes 分钟车程服务"),
    FieldSpec("services", "tags", "服务项目",
              aliases=("服务项目", "服务内容", "服务类型", "提供服务", "services"),
              doc="服务标签，多个用顿号、逗号或分号分隔，取值见设置 service_tags"),
    FieldSpec("beds_total", "int", "床位总数", aliases=("床位总数", "床位数", "总床位", "核定床位", "床位", "beds"),
              unit="张", minimum=0, maximum=20000, doc="床位总数"),
    FieldSpec("beds_nursing", "int", "护理型床位", aliases=("护理型床位", "护理型床位数", "护理床位"),
              unit="张", minimum=0, maximum=20000, doc="护理型床位数，不大于床位总数"),
    FieldSpec("beds_free", "int", "空余床位", aliases=("空余床位", "空床位", "剩余床位", "空余床位数", "可用床位"),
              unit="张", minimum=0, maximum=20000, doc="当前空余床位数，不大于床位总数"),
    FieldSpec("residents", "int", "在住老人", aliases=("在住老人", "入住人数", "在院人数", "收住人数", "入住老人数"),
              unit="人", minimum=0, maximum=20000, doc="机构在住老人数（基本情况表“收住老人”）"),
    FieldSpec("elders_served", "int", "服务老人数", aliases=("服务老人数", "服务人数", "服务老年人数", "年服务人次"),
              unit="人", minimum=0, maximum=1000000, doc="社区设施服务老人数（基本情况表）"),
    FieldSpec("grade", "int", "等级", aliases=("等级", "评定等级", "机构等级", "星级", "评级"),
              minimum=1, maximum=5, doc="GB/T 37276 等级 1–5（五级最高）；接受“三级”“3星”“★★★”"),
    FieldSpec("price_min_yuan_month", "float", "最低月收费",
              aliases=("最低月收费", "月收费下限", "最低收费", "收费下限"), unit="元/月", minimum=0, maximum=200000,
              doc="月收费下限；“月收费”列写作“2000-4500”时自动拆分"),
    FieldSpec("price_max_yuan_month", "float", "最高月收费",
              aliases=("最高月收费", "月收费上限", "最高收费", "收费上限"), unit="元/月", minimum=0, maximum=200000,
              doc="月收费上限，不小于下限"),
    FieldSpec("price_range", "str", "月收费", aliases=("月收费", "收费标准", "月收费标准", "收费区间", "价格"),
              unit="元/月", doc="月收费区间，如“2000-4500”或“3000”，导入时拆为上下限"),
    FieldSpec("nature", "enum", "性质", aliases=("性质", "机构性质", "运营性质", "经营性质", "举办性质"),
              choices=NATURES, doc="公办 / 民办 / 公建民营"),
    FieldSpec("phone", "phone", "联系电话", aliases=("联系电话", "电话", "咨询电话", "服务电话", "phone"),
              doc="机构对外公开的联系电话"),
    FieldSpec("address", "str", "地址", aliases=("地址", "详细地址", "机构地址", "服务地址", "address"),
              doc="地址"),
    FieldSpec("uscc", "uscc", "统一社会信用代码", aliases=("统一社会信用代码", "信用代码", "社会信用代码", "uscc"),
              doc="18 位统一社会信用代码，按 GB 32100 校验"),
    FieldSpec("hours", "time_range", "营业时间", aliases=("营业时间", "服务时间", "服务时段", "营业时段", "开放时间", "hours"),
              doc="居家上门服务商接单上门的时段，如“08:00-18:00”"),
    FieldSpec("capacity_orders_day", "int", "日接单上限",
              aliases=("日接单上限", "日服务能力", "每日接单上限", "日最大接单量", "日接单量上限"), unit="单/日", minimum=0,
              maximum=100000, doc="居家上门服务商每天最多承接的工单数"),
    DISTRICT, STREET, COMMUNITY, AREA_CODE, DISTRICT_NAME, STREET_NAME, COMMUNITY_NAME, LON, LAT,
)

ELDER_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("id_number", "resident_id", "身份证号",
              aliases=("身份证号", "身份证号码", "公民身份号码", "证件号码", "身份证", "id_number"), sensitive=True,
              doc="18 位居民身份证号，按 GB 11643 校验；只保存加盐哈希，原值不入库"),
    FieldSpec("source_id", "str", "老人编号", aliases=("老人编号", "档案编号", "人员编号", "编号", "序号编码"),
              sensitive=True, doc="来源系统的人员编号；无身份证号时据此生成假名编号，原值不入库"),
    FieldSpec("name", "str", "姓名", aliases=("姓名", "老人姓名", "name"), sensitive=True,
              doc="姓名：导入时丢弃，从不入库"),
    FieldSpec("birth_year", "year", "出生年份", aliases=("出生年份", "出生日期", "出生年月", "生日", "birth_year"),
              unit="年", doc="出生年份；给出生日期时只保留年份；缺失时取身份证号中的出生年份"),
    FieldSpec("birth_month", "month", "出生月份", aliases=("出生月份", "出生月"), minimum=1, maximum=12,
              doc="出生月份 1–12；给出生日期或身份证号时自动取得（只保留年月，不保留日），用于按统计日期计算周岁"),
    FieldSpec("age", "int", "年龄", aliases=("年龄", "周岁"), unit="岁", minimum=0, maximum=130,
              doc="年龄；无出生年份时按统计日期推算"),
    FieldSpec("sex", "enum", "性别", aliases=("性别", "sex"), choices=SEXES, doc="男 / 女；缺失时取身份证号"),
    FieldSpec("ability_level", "enum", "能力等级",
              aliases=("能力等级", "能力评估等级", "老年人能力等级", "失能等级", "评估等级", "ability_level"),
              choices=ABILITY_LEVELS, doc="GB/T 42195 五级：能力完好、轻度失能、中度失能、重度失能、完全失能（也接受 0–4）"),
    FieldSpec("disability_grade", "enum", "残疾等级", aliases=("残疾等级", "残疾级别", "残疾人证等级", "伤残等级"),
              choices=DISABILITY_GRADES, doc="残疾人证等级 一级–四级（也接受 1–4）；一级、二级为重度残疾（基本情况表注 4）"),
    FieldSpec("dementia", "bool", "失智", aliases=("失智", "是否失智", "认知障碍", "是否认知障碍"),
              doc="是否失智（是/否）"),
    FieldSpec("registered", "bool", "本地户籍", aliases=("本地户籍", "是否本地户籍", "户籍", "是否户籍"),
              doc="是否本地区户籍（是/否）；缺失视为户籍老人（基本情况表注 2 计户籍老人）"),
    FieldSpec("resident", "bool", "常住", aliases=("常住", "是否常住", "是否常住人口", "常住本地"),
              doc="是否在本地区常住（是/否）；缺失视为常住（覆盖分析默认计常住老人）"),
    FieldSpec("population_type", "enum", "人口类型", aliases=("人口类型", "户籍类型", "户口类型", "居住类型", "人户状态"),
              choices=tuple(REGISTRATION_ALIASES),
              doc="户籍/常住合在一列时：户籍常住、户籍不常住（人户分离）、常住非户籍（外来）等，导入时拆为上两列"),
    FieldSpec("groups", "tags", "特殊群体", aliases=("特殊群体", "人员类别", "困难类别", "群体类别", "特殊困难类型"),
              choices=SPECIAL_GROUPS,
              doc="特困、低保、低收入、重度残疾、优抚对象、独居、空巢、计划生育特殊家庭、留守，多个用顿号分隔；高龄按统计日期推算"),
    FieldSpec("address", "str", "居住地址", aliases=("居住地址", "家庭住址", "现住址", "地址", "address"), sensitive=True,
              doc="居住地址：仅用于定位，不入库"),
    DISTRICT, STREET, COMMUNITY, AREA_CODE, DISTRICT_NAME, STREET_NAME, COMMUNITY_NAME, LON, LAT,
)

AREA_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("code", "division", "区划代码", required=True,
              aliases=("区划代码", "行政区划代码", "代码", "社区代码", "编码", "code", "街道代码", "乡镇代码",
                       "街道乡镇代码", "区县代码", "村居代码", "居委会代码", "村代码"),
              doc="6/9/12 位行政区划代码"),
    FieldSpec("name", "str", "名称", required=True, aliases=("名称", "区划名称", "社区名称", "街道名称", "name", "乡镇名称",
                                                                "区县名称", "村居名称", "居委会名称", "村名称"),
              doc="区县、街道或社区名称"),
    FieldSpec("level", "enum", "层级", aliases=("层级", "级别", "level"), choices=AREA_LEVELS,
              doc="district / street / community（或 区县 / 街道 / 社区）；缺失时由代码位数推断"),
    FieldSpec("parent_code", "division", "上级代码",
              aliases=("上级代码", "上级区划代码", "parent_code", "所属街道代码", "上级街道代码", "所属区县代码"),
              doc="上级区划代码；缺失时由代码截取，或按空间包含关系推断"),
    FieldSpec("community_type", "enum", "村居类型", aliases=("村居类型", "社区类型", "居村类型", "类型", "社区性质"),
              choices=COMMUNITY_TYPES,
              doc="居委会 / 村委会（也接受 社区、村）；缺失时按 12 位代码末三位：001–199 居委会，200–399 村委会"),
    FieldSpec("parent_name", "str", "上级名称", aliases=("上级名称", "上级区划名称", "所属街道", "所属乡镇", "所属街道乡镇",
                                                      "所属区县"),
              doc="上级区划（街道/区县）的名称；无上级代码时据此与区划数据匹配"),
    FieldSpec("registered_population", "int", "户籍人口", aliases=("户籍人口", "户籍人口数"), unit="人",
              minimum=0, maximum=50_000_000, doc="户籍人口（基本情况表）"),
    FieldSpec("resident_population", "int", "常住人口", aliases=("常住人口", "常住人口数"), unit="人",
              minimum=0, maximum=50_000_000, doc="常住人口"),
    FieldSpec("fiscal_revenue_10k_yuan", "float", "财政收入", aliases=("财政收入", "财政收入（万元）", "地方财政收入"),
              unit="万元", minimum=0, doc="财政收入（基本情况表）"),
)

SERVICE_ITEM_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("code", "str", "项目编码", required=True,
              aliases=("项目编码", "服务项目编码", "项目代码", "编码", "代码", "项目编号", "code"),
              doc="服务清单项目编码，本地区唯一（工单的服务项目写编码或名称均可）"),
    FieldSpec("name", "str", "项目名称", required=True,
              aliases=("项目名称", "服务项目名称", "服务项目", "名称", "服务名称", "name"), doc="服务项目名称，本地区唯一"),
    FieldSpec("category", "enum", "服务类别", aliases=("服务类别", "类别", "项目类别", "服务分类", "分类", "category"),
              choices=SERVICE_CATEGORIES, doc="生活照料、家政服务、健康管理、紧急救援、精神慰藉、其他；缺失时为其他"),
    FieldSpec("service_tag", "enum", "对应服务标签", aliases=("对应服务标签", "服务标签", "对应服务", "service_tag"),
              doc="对应的设施服务标签（设置 service_tags）：服务商的服务项目含此标签即提供本项目"),
    FieldSpec("eligible_groups", "tags", "补贴对象",
              aliases=("补贴对象", "享受对象", "适用对象", "补贴人群", "服务对象", "eligible_groups"), choices=ELIGIBLE_GROUPS,
              doc="可享受补贴的群体：特困、低保、低收入、重度残疾、优抚对象、独居、空巢、计划生育特殊家庭、留守、失能、高龄、全体老年人，"
                  "多个用顿号分隔"),
    FieldSpec("subsidy_yuan", "float", "补贴标准", aliases=("补贴标准", "补贴金额", "补贴", "政府补贴", "补贴标准元次"),
              unit="元/次", minimum=0, maximum=100000, doc="每次服务的政府补贴"),
    FieldSpec("price_yuan", "float", "收费标准", aliases=("收费标准", "服务价格", "价格", "单价", "收费"), unit="元/次",
              minimum=0, maximum=100000, doc="每次服务的收费"),
    FieldSpec("duration_min", "int", "标准时长", aliases=("标准时长", "服务时长", "时长", "标准服务时长"), unit="分钟",
              minimum=5, maximum=480, doc="每次服务的标准时长，5–480 分钟"),
    FieldSpec("skill", "enum", "所需技能", aliases=("所需技能", "技能要求", "所需技能类别", "skill"),
              doc="服务人员须具备的技能（设置 carer_skills）"),
    FieldSpec("min_skill_level", "skill_level", "最低技能等级",
              aliases=("最低技能等级", "技能等级要求", "最低职业技能等级", "min_skill_level"), minimum=1, maximum=5,
              doc="服务人员职业技能等级的最低要求，1–5（同服务人员的职业技能等级）"),
)

CARER_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("id", "str", "人员编号",
              aliases=("人员编号", "服务人员编号", "护理员编号", "工号", "员工编号", "编号", "id"), sensitive=True,
              doc="服务人员编号；入库时换成假名编号（C 开头），原值不入库；工单的服务人员编号须与此一致"),
    FieldSpec("name", "str", "姓名", aliases=("姓名", "服务人员姓名", "护理员姓名", "name"), sensitive=True,
              doc="姓名：导入时丢弃，从不入库"),
    FieldSpec("id_number", "resident_id", "身份证号", aliases=("身份证号", "身份证号码", "公民身份号码", "证件号码"),
              sensitive=True, doc="身份证号：只校验，导入时丢弃；无人员编号时据此生成假名编号"),
    FieldSpec("phone", "phone", "联系电话", aliases=("联系电话", "电话", "手机", "手机号", "phone"), sensitive=True,
              doc="联系电话：导入时丢弃，从不入库"),
    FieldSpec("provider_id", "str", "所属服务商编号", required=True,
              aliases=("所属服务商编号", "服务商编号", "所属机构编号", "机构编号", "所属服务商", "服务商", "所属机构",
                       "provider_id"),
              doc="所属居家上门服务商的机构编号（也接受其名称），须是本地区的居家上门服务商"),
    FieldSpec("skills", "tags", "技能", aliases=("技能", "服务技能", "专长", "技能特长", "skills"),
              doc="技能，多个用顿号分隔，取值见设置 carer_skills"),
    FieldSpec("skill_level", "skill_level", "职业技能等级",
              aliases=("职业技能等级", "技能等级", "护理员等级", "skill_level"), minimum=1, maximum=5,
              doc="1–5：1 五级/初级工、2 四级/中级工、3 三级/高级工、4 二级/技师、5 一级/高级技师；接受这些中文写法"),
    FieldSpec("experience_years", "float", "从业年限", aliases=("从业年限", "工作年限", "从业经历", "工龄"), unit="年",
              minimum=0, maximum=60, doc="从事养老服务的年限"),
    FieldSpec("shift", "time_range", "工作时间", aliases=("工作时间", "上班时间", "班次", "工作时段", "shift"),
              doc="每天的工作时间，如“08:00-17:00”，入库为 shift_start_min、shift_end_min（零点起的分钟数）"),
    FieldSpec("max_orders_day", "int", "日接单上限", aliases=("日接单上限", "每日最多接单", "日最多单数", "max_orders_day"),
              unit="单/日", minimum=0, maximum=50, doc="每天最多承接的工单数"),
    FieldSpec("lon", "float", "经度", aliases=("经度", "住址经度", "出发点经度", "longitude", "lng", "x"), unit="度",
              minimum=-180, maximum=180, doc="出发点（住处或驻点）经度，不公开；缺失时取所属服务商的位置"),
    FieldSpec("lat", "float", "纬度", aliases=("纬度", "住址纬度", "出发点纬度", "latitude", "y"), unit="度",
              minimum=-90, maximum=90, doc="出发点纬度，同上"),
)

ORDER_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("id", "str", "工单编号",
              aliases=("工单编号", "工单号", "订单编号", "订单号", "服务单号", "记录编号", "编号", "id"), required=True,
              doc="工单（服务记录）编号，本地区唯一"),
    FieldSpec("elder_id", "str", "老人编号",
              aliases=("老人编号", "服务对象编号", "老人身份证号", "身份证号", "老人id", "elder_id"), required=True,
              sensitive=True,
              doc="老人的身份证号或老人编号（与老年人文件所用的相同）；入库时换成与老年人图层相同的假名编号，原值不入库"),
    FieldSpec("elder_name", "str", "老人姓名", aliases=("老人姓名", "姓名", "服务对象姓名", "服务对象"), sensitive=True,
              doc="姓名：导入时丢弃，从不入库"),
    FieldSpec("address", "str", "服务地址", aliases=("服务地址", "地址", "居住地址", "上门地址"), sensitive=True,
              doc="地址：导入时丢弃，从不入库"),
    FieldSpec("phone", "phone", "联系电话", aliases=("联系电话", "电话", "手机", "phone"), sensitive=True,
              doc="联系电话：导入时丢弃，从不入库"),
    FieldSpec("item_codes", "codes", "服务项目",
              aliases=("服务项目", "服务项目编码", "项目编码", "服务内容", "项目名称", "item_codes"), required=True,
              doc="服务清单的项目编码或名称，多个用顿号分隔；入库为编码"),
    FieldSpec("window_start", "datetime", "预约开始时间",
              aliases=("预约开始时间", "预约时间", "预约上门时间", "期望上门时间", "window_start"),
              doc="预约时段开始，本地时间如“2026-12-01 09:00”；写作“2026-12-01 09:00-11:00”时拆为开始和结束"),
    FieldSpec("window_end", "datetime", "预约结束时间", aliases=("预约结束时间", "预约截止时间", "window_end"),
              doc="预约时段结束，须晚于开始"),
    FieldSpec("urgency", "enum", "紧急程度", aliases=("紧急程度", "是否紧急", "紧急", "urgency"), choices=URGENCIES,
              doc="普通 / 紧急；含紧急救援类项目的工单为紧急"),
    FieldSpec("channel", "enum", "来源渠道", aliases=("来源渠道", "渠道", "来源", "下单渠道", "channel"), choices=CHANNELS,
              doc="12349热线、网络平台、智能终端、工作人员"),
    FieldSpec("status", "enum", "状态", aliases=("状态", "工单状态", "订单状态", "status"), choices=ORDER_STATUSES,
              doc="待派单、已派单、已接单、服务中、已完成、已回访，或已取消；须与各时间一致"),
    FieldSpec("events", "tags", "异常记录", aliases=("异常记录", "异常", "异常情况", "events"), choices=ORDER_EVENTS,
              doc="工单经历过的拒单、超时、未上门（各自退回待派单），多个用顿号分隔"),
    FieldSpec("provider_id", "str", "服务商编号",
              aliases=("服务商编号", "承接服务商编号", "服务机构编号", "服务商", "承接服务商", "服务机构", "provider_id"),
              doc="承接的居家上门服务商机构编号（也接受其名称）；已派单及以后的工单必填"),
    FieldSpec("carer_id", "str", "服务人员编号", aliases=("服务人员编号", "护理员编号", "人员编号", "工号", "carer_id"),
              sensitive=True, doc="服务人员编号（同服务人员文件）；入库时换成其假名编号；已接单及以后的工单必填"),
    FieldSpec("created_at", "datetime", "下单时间", aliases=("下单时间", "创建时间", "受理时间", "来电时间", "created_at"),
              doc="工单受理时间"),
    FieldSpec("dispatched_at", "datetime", "派单时间", aliases=("派单时间", "分派时间", "dispatched_at"), doc="派单时间"),
    FieldSpec("accepted_at", "datetime", "接单时间", aliases=("接单时间", "accepted_at"), doc="服务人员接单时间"),
    FieldSpec("started_at", "datetime", "开始服务时间",
              aliases=("开始服务时间", "签到时间", "上门时间", "服务开始时间", "started_at"), doc="上门签到时间"),
    FieldSpec("completed_at", "datetime", "完成时间",
              aliases=("完成时间", "服务完成时间", "签退时间", "服务结束时间", "completed_at"), doc="服务完成时间"),
    FieldSpec("followed_up_at", "datetime", "回访时间", aliases=("回访时间", "followed_up_at"), doc="质量回访时间"),
    FieldSpec("satisfaction", "int", "满意度", aliases=("满意度", "评分", "满意度评分", "satisfaction"), minimum=1,
              maximum=5, doc="回访满意度 1–5（5 最满意）；也接受“非常满意”“满意”“基本满意”“不满意”“非常不满意”"),
    FieldSpec("complaint", "bool", "投诉", aliases=("投诉", "是否投诉", "有无投诉", "complaint"), doc="是否被投诉（是/否）"),
    FieldSpec("remarks", "str", "回访意见", aliases=("回访意见", "评价内容", "回访记录", "评价", "remarks"),
              doc="回访意见（纯文本）"),
    FieldSpec("subsidy_group", "enum", "补贴类别", aliases=("补贴类别", "补贴对象类别", "享受补贴类别", "subsidy_group"),
              choices=ELIGIBLE_GROUPS, doc="本单享受补贴所依据的群体（取自服务项目的补贴对象）；空为自费"),
    FieldSpec("lon", "float", "经度", aliases=("经度", "服务地址经度", "longitude", "lng", "x"), unit="度",
              minimum=-180, maximum=180, doc="服务地址经度，不公开；缺失时取老年人图层中该老人的位置"),
    FieldSpec("lat", "float", "纬度", aliases=("纬度", "服务地址纬度", "latitude", "y"), unit="度", minimum=-90,
              maximum=90, doc="服务地址纬度，同上"),
)

TABLES: dict[str, tuple[FieldSpec, ...]] = {
    "facilities": FACILITY_FIELDS,
    "elders": ELDER_FIELDS,
    "areas": AREA_FIELDS,
    "service_items": SERVICE_ITEM_FIELDS,
    "carers": CARER_FIELDS,
    "orders": ORDER_FIELDS,
}
TABLE_ZH = {"facilities": "养老服务设施", "elders": "老年人", "areas": "区划", "service_items": "服务清单",
            "carers": "服务人员", "orders": "服务工单"}
HOME_CARE_TABLES: tuple[str, ...] = ("service_items", "carers", "orders")
"""Tables of the 12349 desk, imported after facilities and elders (they refer to them)."""
PERSONAL_TABLES: frozenset[str] = frozenset({"elders", "carers", "orders"})
"""Tables of personal data: positions coarsened in reports, sensitive values masked in rejects files."""

LEVEL_ALIASES = {"区县": "district", "区": "district", "县": "district", "街道": "street", "乡镇": "street",
                 "街道/乡镇": "street", "社区": "community", "村": "community", "社区/村": "community",
                 "居委会": "community", "村委会": "community"}
NATURE_ALIASES = {"公办民营": "公建民营", "公办公营": "公办", "民营": "民办", "社会办": "民办", "国有": "公办"}
ABILITY_ALIASES = {"0": "能力完好", "1": "轻度失能", "2": "中度失能", "3": "重度失能", "4": "完全失能",
                   "自理": "能力完好", "完好": "能力完好", "轻度": "轻度失能", "中度": "中度失能",
                   "重度": "重度失能", "完全": "完全失能", "失能": "重度失能", "半失能": "中度失能"}
COMMUNITY_TYPE_ALIASES = {"社区": "居委会", "居委": "居委会", "社区居委会": "居委会", "居民委员会": "居委会", "城镇": "居委会",
                          "村": "村委会", "村委": "村委会", "行政村": "村委会", "村民委员会": "村委会", "农村": "村委会"}
DISABILITY_GRADE_ALIASES = {"1": "一级", "2": "二级", "3": "三级", "4": "四级", "一": "一级", "二": "二级", "三": "三级",
                            "四": "四级"}
SEX_ALIASES = {"m": "男", "male": "男", "f": "女", "female": "女", "1": "男", "2": "女"}


def normalise_header(header: object) -> str:
    """Fold a header for alias matching: half-width, lower case, no spaces or bracketed units."""
    text = str(header)
    text = "".join(chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else c for c in text)
    text = text.replace("\u3000", " ").strip().lower()
    text = re.sub(r"[\(（\[【].*?[\)）\]】]", "", text)  # drop "(张)" "（元/月）" unit suffixes
    text = re.sub(r"[\s_\-*:：]", "", text)
    return text


def header_map(headers: list[str], table: str) -> tuple[dict[str, str], list[str]]:
    """Map a file's headers to canonical field names.

    Returns
    -------
    mapping
        Original header -> canonical name, for recognised headers.
    unknown
        Headers that match no field (kept out of the import, listed as a warning).

    The first header matching a field wins; a later duplicate is reported as unknown.
    """
    specs = TABLES[table]
    lookup: dict[str, str] = {}
    for spec in specs:
        for alias in (spec.name, spec.zh, *spec.aliases):
            lookup.setdefault(normalise_header(alias), spec.name)
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    taken: set[str] = set()
    for h in headers:
        canonical = lookup.get(normalise_header(h))
        if canonical is None or canonical in taken:
            unknown.append(str(h))
        else:
            mapping[str(h)] = canonical
            taken.add(canonical)
    return mapping, unknown


def field_spec(table: str, name: str) -> FieldSpec:
    """The spec of one field of a table."""
    for spec in TABLES[table]:
        if spec.name == name:
            return spec
    raise KeyError(f"{table} has no field {name!r}")


def markdown_table(table: str) -> str:
    """The data-model table of ``table`` in Markdown, for the README."""
    rows = ["| 字段 field | 类型 type | 单位 unit | 必填 required | 中文表头别名 header aliases | 说明 |",
            "|---|---|---|---|---|---|"]
    for s in TABLES[table]:
        aliases = "、".join(dict.fromkeys((s.zh, *[a for a in s.aliases if not a.isascii()])))
        rows.append(f"| `{s.name}` | {s.type} | {s.unit or '—'} | {'是' if s.required else '否'} | {aliases} | {s.doc} |")
    return "\n".join(rows)
