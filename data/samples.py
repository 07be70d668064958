"""Staff files in the shapes real data comes in, written from the demo region — for trying an import.

The demo region always has community polygons and codes on every record; real data rarely does.
:func:`write_staff_samples` writes, from the demo's layers (real OpenStreetMap roads, synthetic
people and facilities), the files a district's staff would bring:

- ``streets.geojson`` — **street (街道) polygons only**, with 户籍人口, 常住人口 and 财政收入 per street;
- ``communities.xlsx`` — a **community list without geometry**: code, name, 类型 (居委会/村委会, one
  left blank so the code rule decides), 所属街道 written as a name; two communities are villages (村);
- ``facilities_gbk.csv`` — a **GBK** register with a title row above the header, coordinates in
  **GCJ-02**, 所属街道 and 所属社区 as **names** (with and without their suffixes), a 服务区域 for one
  home-care provider;
- ``service_areas.geojson`` — the service area of the second home-care provider as a polygon (its
  street's), matched to the register by the provider's name;
- ``elders.xlsx`` — an elder register with **valid resident ID numbers** (synthetic, checksummed),
  出生日期 to the month, 人口类型 (户籍常住 / 常住非户籍 / 户籍不常住), 残疾等级, 失智, 特殊群体, 所属社区 as a name,
  and no coordinates for a few elders (they can only be placed by their community's name).

It also returns the truth the files were written from (each record's street and community), so
tests can compare what an import makes of the files with a computation that does not use ElderMap's
own assignment. Everything is synthetic except the roads, and the files say so in their title row
or a column; none of it describes real people.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from data import ids
from data.store import atomic_write
from geo import coords

VILLAGES: dict[str, tuple[str, str, str]] = {
    "110199003003": ("110199003201", "松林村", "村委会"),
    "110199003004": ("110199003202", "桥头村", ""),
}
"""Demo communities written as villages: demo code -> (sample code, name, 类型 as written; blank: code rule)."""
STREET_SPELLINGS: dict[str, str] = {"海港街道": "海港", "公园街道": "公园街道办事处", "车站街道": "车站街道"}
"""How the facility register writes each street's name (suffix dropped, long form, exact)."""
UNDER_60_BIRTHS: tuple[tuple[int, int], ...] = ((1966, 3), (1966, 7), (1966, 11))
"""Birth (year, month) of elders who are 59 at 31 Dec 2025 but 60 by the end of 2026 (note 1 of annex 2)."""
TITLE = "演示区养老服务设施登记表（合成示例数据，坐标为 GCJ-02）"


@dataclass(frozen=True)
class SampleFiles:
    """The files written and the truth they were written from.

    Attributes
    ----------
    streets, communities, facilities, elders, service_areas
        Paths of the files.
    street_truth, community_truth, facility_truth, elder_truth
        One row per record written, in file order: the street code (and community code) each
        belongs to, and the fields needed to compute the annex table by hand.
    """

    streets: Path
    communities: Path
    facilities: Path
    elders: Path
    service_areas: Path
    street_truth: pd.DataFrame
    community_truth: pd.DataFrame
    facility_truth: pd.DataFrame
    elder_truth: pd.DataFrame


def _sample_code(code: str) -> str:
    return VILLAGES.get(code, (code,))[0]


def _resident_id(used: dict[dt.date, int], birth: dt.date, male: bool) -> str:
    """A checksummed ID number, unique per (birth date, sequence); the sequence's parity gives the sex."""
    used[birth] = used.get(birth, 0) + 1
    seq = 2 * used[birth] + (1 if male else 0)  # odd = male
    first17 = f"110199{birth:%Y%m%d}{seq:03d}"
    return first17 + ids.resident_id_check_char(first17)


def _write_xlsx(frame: pd.DataFrame, path: Path, sheet: str) -> None:
    from data.exports import xlsx_bytes

    with atomic_write(path) as f:
        f.write(xlsx_bytes(frame, sheet_name=sheet))


def write_staff_samples(layers: dict[str, gpd.GeoDataFrame], out_dir: str | Path, *, seed: int = 11,
                        n_elders: int = 1500) -> SampleFiles:
    """Write the four real-shaped staff files from demo layers into ``out_dir``.

    Parameters
    ----------
    layers
        Demo layers (:func:`data.demo.build_demo_layers`): areas with codes, facilities, elders.
    out_dir
        Folder to write into (created).
    seed
        Seed of the random choices (which elders, ID sequence numbers, registration, disability).
    n_elders
        Elders written (a sample of the demo's, plus three aged 59 at the end of 2025).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    areas = layers["areas"]
    streets = areas[areas["level"] == "street"].sort_values("code").reset_index(drop=True)
    communities = areas[areas["level"] == "community"].sort_values("code").reset_index(drop=True)
    street_name = dict(zip(streets["code"], streets["name"], strict=True))

    # streets.geojson: polygons only at street level, populations per street
    pop = streets["registered_population"].astype("int64").to_numpy()
    street_file = gpd.GeoDataFrame({
        "街道代码": streets["code"].to_numpy(), "街道名称": streets["name"].to_numpy(),
        "户籍人口": pop, "常住人口": (pop * 1.1).round().astype("int64"),
        "财政收入（万元）": np.round(rng.uniform(8000, 30000, len(streets)), 1),
    }, geometry=streets.geometry.to_numpy(), crs="EPSG:4326")
    street_path = out / "streets.geojson"
    with atomic_write(street_path, mode="w", encoding="utf-8") as f:
        f.write(street_file.to_json(ensure_ascii=False, drop_id=True))
    street_truth = street_file.drop(columns="geometry").rename(columns={
        "街道代码": "code", "街道名称": "name", "户籍人口": "registered_population", "常住人口": "resident_population",
        "财政收入（万元）": "fiscal_revenue_10k_yuan"})

    # communities.xlsx: a list, no geometry; villages recoded
    rows, truth = [], []
    for code, name, parent in zip(communities["code"], communities["name"], communities["parent_code"], strict=True):
        sample_code, sample_name, written_type = VILLAGES.get(code, (code, name, "居委会"))
        rows.append({"社区代码": sample_code, "社区名称": sample_name, "类型": written_type,
                     "所属街道": street_name[parent]})
        truth.append({"code": sample_code, "name": sample_name, "street_code": parent,
                      "type": "村委会" if code in VILLAGES else "居委会"})
    community_path = out / "communities.xlsx"
    _write_xlsx(pd.DataFrame(rows), community_path, "社区名单")
    community_truth = pd.DataFrame(truth)
    name_of = dict(zip(community_truth["code"], community_truth["name"], strict=True))

    # facilities_gbk.csv: GBK, title row, GCJ-02, street and community by name
    fac = layers["facilities"].reset_index(drop=True)
    lon, lat = coords.from_wgs84(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy(), "gcj02")
    fac_street = [c[:9] for c in fac["street_code"]]
    fac_comm = [_sample_code(c) for c in fac["community_code"]]
    community_name_written = []
    for i, (kind, comm) in enumerate(zip(fac["kind"], fac_comm, strict=True)):
        if kind == "居家上门服务商" or i == 5:  # providers, and one day-care centre left without its community
            community_name_written.append("")
        elif i % 3 == 1:
            community_name_written.append(name_of[comm].removesuffix("社区").removesuffix("村"))
        else:
            community_name_written.append(name_of[comm])
    service_area = ["" for _ in range(len(fac))]
    providers = np.flatnonzero(fac["kind"].to_numpy() == "居家上门服务商")
    if len(providers):
        service_area[providers[0]] = "、".join(community_truth["name"].iloc[:3])
    register = pd.DataFrame({
        "机构名称": fac["name"], "机构类型": fac["kind"],
        "所属街道": [STREET_SPELLINGS.get(street_name[s], street_name[s]) for s in fac_street],
        "所属社区": community_name_written,
        "床位数": fac["beds_total"].astype("Int64"), "在住老人": fac["residents"].astype("Int64"),
        "服务老人数": fac["elders_served"].astype("Int64"),
        "经度": [f"{v:.6f}" for v in lon], "纬度": [f"{v:.6f}" for v in lat], "服务区域": service_area,
    })
    facility_path = out / "facilities_gbk.csv"
    with atomic_write(facility_path, mode="w", encoding="gbk") as f:
        f.write(TITLE + "\n")
        register.to_csv(f, index=False, lineterminator="\n")
    area_path = out / "service_areas.geojson"
    if len(providers) > 1:
        second = providers[1]
        polygon = streets.geometry[streets["code"] == fac_street[second]].iloc[0]
        polygons = gpd.GeoDataFrame({"名称": [fac["name"].iloc[second]]}, geometry=[polygon], crs="EPSG:4326")
        with atomic_write(area_path, mode="w", encoding="utf-8") as f:
            f.write(polygons.to_json(ensure_ascii=False, drop_id=True))
    facility_truth = pd.DataFrame({
        "name": fac["name"], "kind": fac["kind"], "street_code": fac_street,
        "community_code": [c if w else None for c, w in zip(fac_comm, community_name_written, strict=True)],
        "beds_total": fac["beds_total"].fillna(0).astype("int64"),
        "residents": fac["residents"].fillna(0).astype("int64"),
        "elders_served": fac["elders_served"].fillna(0).astype("int64")})

    # elders.xlsx: valid IDs, birth to the month, registration, disability, names of communities
    el = layers["elders"]
    pick = np.sort(rng.choice(len(el), size=min(n_elders, len(el)), replace=False))
    el = el.iloc[pick].reset_index(drop=True)
    n = len(el)
    months = rng.integers(1, 13, n)
    birth_year = el["birth_year"].astype("int64").to_numpy().copy()
    ability = el["ability_level"].astype(str).to_numpy().copy()
    ability_code = el["ability_code"].astype("int64").to_numpy().copy()
    male = (el["sex"] == "男").to_numpy()
    groups = ["、".join(g) for g in el["groups"]]
    comm = [_sample_code(c) for c in el["community_code"]]
    for (year, month), i in zip(UNDER_60_BIRTHS, range(3), strict=False):  # three who are 59 at 2025-12-31
        birth_year[i], months[i], ability[i], ability_code[i] = year, month, "能力完好", 0
    births = [dt.date(int(y), int(m), int(rng.integers(1, 29))) for y, m in zip(birth_year, months, strict=True)]
    used: dict[dt.date, int] = {}
    ptype = rng.choice(["户籍常住", "常住非户籍", "户籍不常住"], size=n, p=[0.88, 0.07, 0.05])
    grade = np.where(rng.random(n) < 0.06, rng.choice(["一级", "二级", "三级", "四级"], size=n), "")
    dementia = np.where(rng.random(n) < 0.03, "是", "否")
    located = rng.random(n) >= 0.04
    x = el.geometry.x.to_numpy()
    y = el.geometry.y.to_numpy()
    register = pd.DataFrame({
        "身份证号": [_resident_id(used, b, bool(m)) for b, m in zip(births, male, strict=True)],
        "出生日期": [f"{b.year}-{b.month:02d}" for b in births],
        "能力等级": ability, "残疾等级": grade, "失智": dementia, "人口类型": ptype, "特殊群体": groups,
        "所属社区": [name_of[c] for c in comm],
        "经度": [f"{v:.6f}" if ok else "" for v, ok in zip(x, located, strict=True)],
        "纬度": [f"{v:.6f}" if ok else "" for v, ok in zip(y, located, strict=True)],
        "备注": "合成示例数据",
    })
    elder_path = out / "elders.xlsx"
    _write_xlsx(register, elder_path, "老年人")
    elder_truth = pd.DataFrame({
        "street_code": [c[:9] for c in el["community_code"]], "community_code": comm,
        "birth_year": birth_year, "birth_month": months, "ability_code": ability_code,
        "disability_grade": grade, "dementia": dementia == "是",
        "registered": ptype != "常住非户籍", "resident": ptype != "户籍不常住", "located": located,
        "groups": list(el["groups"]), "lon": np.where(located, x, np.nan), "lat": np.where(located, y, np.nan)})
    return SampleFiles(street_path, community_path, facility_path, elder_path, area_path, street_truth,
                       community_truth, facility_truth, elder_truth)


__all__ = ["SampleFiles", "TITLE", "VILLAGES", "write_staff_samples"]
