"""Field definitions of the three staff-supplied tables: facilities, elders, areas.

Each :class:`FieldSpec` names a canonical English column, its type and unit,
whether it is required, and the header aliases (Chinese and English) under
which staff files carry it. The README's data-model tables are generated from
here (``eldermap schema --markdown``), so code and documentation cannot drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FieldType = Literal["str", "int", "float", "enum", "tags", "year", "division", "uscc", "resident_id", "phone"]

ABILITY_LEVELS: tuple[str, ...] = ("能力完好", "轻度失能", "中度失能", "重度失能", "完全失能")
"""GB/T 42195-2022 ability levels, index = level code 0–4."""

NATURES: tuple[str, ...] = ("公办", "民办", "公建民营")
SEXES: tuple[str, ...] = ("男", "女")
SPECIAL_GROUPS: tuple[str, ...] = ("特困", "低保", "低边", "独居", "空巢", "失独", "留守", "重度残疾")
AREA_LEVELS: tuple[str, ...] = ("district", "street", "community")


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
    DISTRICT, STREET, COMMUNITY, AREA_CODE, LON, LAT,
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
    FieldSpec("age", "int", "年龄", aliases=("年龄", "周岁"), unit="岁", minimum=0, maximum=130,
              doc="年龄；无出生年份时按统计日期推算"),
    FieldSpec("sex", "enum", "性别", aliases=("性别", "sex"), choices=SEXES, doc="男 / 女；缺失时取身份证号"),
    FieldSpec("ability_level", "enum", "能力等级",
              aliases=("能力等级", "能力评估等级", "老年人能力等级", "失能等级", "评估等级", "ability_level"),
              choices=ABILITY_LEVELS, doc="GB/T 42195 五级：能力完好、轻度失能、中度失能、重度失能、完全失能（也接受 0–4）"),
    FieldSpec("groups", "tags", "特殊群体", aliases=("特殊群体", "人员类别", "困难类别", "群体类别", "特殊困难类型"),
              choices=SPECIAL_GROUPS, doc="特困、低保、独居、空巢等，多个用顿号分隔；高龄由出生年份推算"),
    FieldSpec("address", "str", "居住地址", aliases=("居住地址", "家庭住址", "现住址", "地址", "address"), sensitive=True,
              doc="居住地址：仅用于定位，不入库"),
    DISTRICT, STREET, COMMUNITY, AREA_CODE, LON, LAT,
)

AREA_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("code", "division", "区划代码", required=True,
              aliases=("区划代码", "行政区划代码", "代码", "社区代码", "编码", "code"),
              doc="6/9/12 位行政区划代码"),
    FieldSpec("name", "str", "名称", required=True, aliases=("名称", "区划名称", "社区名称", "街道名称", "name"),
              doc="区县、街道或社区名称"),
    FieldSpec("level", "enum", "层级", aliases=("层级", "级别", "level"), choices=AREA_LEVELS,
              doc="district / street / community（或 区县 / 街道 / 社区）；缺失时由代码位数推断"),
    FieldSpec("parent_code", "division", "上级代码", aliases=("上级代码", "上级区划代码", "parent_code"),
              doc="上级区划代码；缺失时由代码截取，或按空间包含关系推断"),
    FieldSpec("registered_population", "int", "户籍人口", aliases=("户籍人口", "户籍人口数"), unit="人",
              minimum=0, maximum=50_000_000, doc="户籍人口（基本情况表）"),
    FieldSpec("fiscal_revenue_10k_yuan", "float", "财政收入", aliases=("财政收入", "财政收入（万元）", "地方财政收入"),
              unit="万元", minimum=0, doc="财政收入（基本情况表）"),
)

TABLES: dict[str, tuple[FieldSpec, ...]] = {
    "facilities": FACILITY_FIELDS,
    "elders": ELDER_FIELDS,
    "areas": AREA_FIELDS,
}
TABLE_ZH = {"facilities": "养老服务设施", "elders": "老年人", "areas": "区划"}

LEVEL_ALIASES = {"区县": "district", "区": "district", "县": "district", "街道": "street", "乡镇": "street",
                 "街道/乡镇": "street", "社区": "community", "村": "community", "社区/村": "community",
                 "居委会": "community", "村委会": "community"}
NATURE_ALIASES = {"公办民营": "公建民营", "公办公营": "公办", "民营": "民办", "社会办": "民办", "国有": "公办"}
ABILITY_ALIASES = {"0": "能力完好", "1": "轻度失能", "2": "中度失能", "3": "重度失能", "4": "完全失能",
                   "自理": "能力完好", "完好": "能力完好", "轻度": "轻度失能", "中度": "中度失能",
                   "重度": "重度失能", "完全": "完全失能", "失能": "重度失能", "半失能": "中度失能"}
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
