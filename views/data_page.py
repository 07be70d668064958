"""数据管理 (staff): the region's manifest and sources, upload a file, see and download its validation
report, import the good rows; the audit log for admins; the import commands.

The same functions as ``eldermap validate`` and ``eldermap import`` (:mod:`data.validate`,
:mod:`data.importer`): the upload is written to a private temporary folder, validated against the
region's roads, and — after the user has seen the report — imported as a new region version (the
previous version stays current if anything fails); after an import the page shows how the facilities
and elders got their areas (by boundary, code or name) and how many have none, with the warnings
(:func:`render_assignment`). Problems are listed by row and field; personal
data never appear (sensitive fields are masked in the rejects and reports). Imports and report
downloads are recorded in the audit log.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from data import audit, store
from data.importer import ImportOutcome, import_region
from data.provenance import layers_table, provenance_banner_zh, sources_table
from data.schema import TABLE_ZH
from data.validate import validate_table, write_report
from geo import osm
from geo.errors import ElderMapError
from geo.settings import Settings, settings_digest
from views.text import md_escape

CRS_CHOICES = {"wgs84": "WGS-84（GPS、OpenStreetMap）", "cgcs2000": "国家2000（CGCS2000）",
               "gcj02": "GCJ-02（高德、腾讯地图）", "bd09": "BD-09（百度地图）"}
SUFFIXES = ["csv", "xlsx", "geojson", "json", "gpkg", "parquet"]


def _validate(path: Path, table: str, crs: str, region: store.Region, settings: Settings, root: Path | None):
    salt = store.deployment_salt(root=root) if table == "elders" else b""
    return validate_table(path, table, settings=settings, crs=crs, salt=salt,
                          region_extent=osm.extent(region.road_nodes), roads=region.road_edges)


IMPORT_COMMANDS = (
    "# 校验一个文件（不入库），输出问题报告\n"
    "eldermap validate facilities 养老设施.xlsx --crs gcj02 --region demo\n"
    "eldermap validate elders 老年人.xlsx --region demo\n\n"
    "# 导入为地区的新版本\n"
    "eldermap import 我的地区 --roads 道路.osm.pbf --areas 社区边界.geojson \\\n"
    "    --facilities 养老设施.xlsx --facility-crs gcj02 --elders 老年人.xlsx\n\n"
    "# 只有街道边界时：先导入街道边界，再导入不带边界的社区名单（只替换文件所含层级，两级都保留）\n"
    "eldermap import 我的地区 --areas 街道边界.geojson\n"
    "eldermap import 我的地区 --areas 社区名单.xlsx\n\n"
    "# 居家上门服务商的服务区域边界（按机构编号或名称对应）\n"
    "eldermap import 我的地区 --service-areas 服务区域.geojson\n\n"
    "# 真实形态的示例文件（仅街道边界、社区名单、GBK 设施表、老年人登记表），可照着试导入\n"
    "eldermap samples --out samples\n\n"
    "# 查看地区、生成演示地区\n"
    "eldermap info demo\n"
    "eldermap demo"
)


def render(region: store.Region | None, settings: Settings, *, settings_source: str = "", user: str = "",
           role: str = "", regions_root: Path | None = None) -> None:
    """The data page below its title (the caller checked the login): the region's manifest, the upload
    section, the home-care service areas, the audit log for admins, and the import commands (also without a
    region)."""
    if region is not None:
        render_manifest(region, settings, settings_source=settings_source)
        render_upload(region, settings, user=user, role=role, regions_root=regions_root)
        render_service_areas(region, settings, user=user, role=role, regions_root=regions_root)
        if role == "admin":
            render_audit(regions_root=regions_root)
    render_commands()


def render_manifest(region: store.Region, settings: Settings, *, settings_source: str = "") -> None:
    """Version, dates, CRS and settings digests of the region, the demo banner, its layers and sources."""
    m = region.manifest
    st.subheader(f"地区：{md_escape(region.name)}")
    st.dataframe(pd.DataFrame({
        "项目": ["数据版本", "创建时间（UTC）", "格式", "坐标系", "导入时设置摘要", "当前设置摘要"],
        "内容": [str(m.get("version", region.version)), str(m.get("created_at", "")), str(m.get("format", "")),
               str(m.get("crs", "")), str(m.get("settings_digest", "（未记录）")),
               f"{settings_digest(settings)}（{settings_source}）"],
    }), hide_index=True)
    if m.get("settings_digest") and m["settings_digest"] != settings_digest(settings):
        st.warning("当前设置与导入时的设置不同：校验和统计结果可能与导入时不一致。")
    banner = provenance_banner_zh(m)
    if banner:
        st.warning(banner, icon=":material/info:")
    st.subheader("图层")
    st.dataframe(layers_table(m), hide_index=True, width="stretch")
    sources = sources_table(m)
    if not sources.empty:
        st.subheader("数据来源")
        st.dataframe(sources, hide_index=True, width="stretch")


def render_commands() -> None:
    """How to validate and import from the command line."""
    st.subheader("导入数据（命令行）")
    st.markdown("先校验，按问题报告中的行号改正文件，再导入。导入生成新版本，旧版本保留，中途失败不影响现有数据。")
    st.code(IMPORT_COMMANDS, language="bash")
    st.caption("完整参数见 `eldermap --help`；字段说明见 `eldermap schema`。")


def render_upload(region: store.Region, settings: Settings, *, user: str = "", role: str = "",
                  regions_root: Path | None = None) -> None:
    """The upload–validate–import section of the data page."""
    st.subheader("上传并校验数据文件")
    st.caption("支持 CSV（UTF-8 或 GBK）、Excel（.xlsx）、GeoJSON、GeoPackage、GeoParquet。先校验，看清问题报告，再导入"
               "可导入的行；导入生成新的数据版本，旧版本保留。")
    table = st.radio("数据类型", tuple(TABLE_ZH), format_func=TABLE_ZH.get, horizontal=True, key="data_table")
    crs = st.selectbox("坐标系", tuple(CRS_CHOICES), format_func=CRS_CHOICES.get, key="data_crs")
    upload = st.file_uploader("选择文件", type=SUFFIXES, key="data_upload")
    if upload is None:
        st.session_state.pop("data_checked", None)
        return
    tmp = Path(st.session_state.setdefault("data_tmp", tempfile.mkdtemp(prefix="eldermap_upload_")))
    path = tmp / Path(upload.name).name
    path.write_bytes(upload.getvalue())
    if st.button("校验", type="primary", key="data_validate"):
        with st.status(f"正在校验 {upload.name}…", expanded=False) as status:
            try:
                result = _validate(path, table, crs, region, settings, regions_root)
                report, _ = write_report(result, tmp / f"{path.stem}_校验报告.xlsx")
                st.session_state["data_checked"] = {"file": path.name, "table": table, "crs": crs,
                                                    "summary": result.summary_zh(), "report": str(report),
                                                    "problems": result.problems, "n_rejected": result.n_rejected,
                                                    "n_imported": result.n_imported}
                status.update(label="校验完成", state="complete")
            except ElderMapError as exc:
                status.update(label="无法读取文件", state="error")
                st.error(str(exc))
    checked = st.session_state.get("data_checked")
    if not checked or checked["file"] != path.name or checked["table"] != table or checked["crs"] != crs:
        return
    (st.success if not checked["n_rejected"] else st.warning)(md_escape(checked["summary"]))
    problems: pd.DataFrame = checked["problems"]
    if not problems.empty:
        st.dataframe(problems, hide_index=True, width="stretch")

    def exported() -> None:
        audit.record("export", user=user or "unknown", role=role or None, region=region.name, root=regions_root,
                     detail=f"校验报告 {checked['file']}")

    st.download_button("下载问题报告（Excel）", Path(checked["report"]).read_bytes(),
                       file_name=Path(checked["report"]).name, on_click=exported, key="data_report_dl",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    if checked["n_imported"] == 0:
        st.error("没有可导入的行：请按问题报告改正文件后重新上传。")
        return
    replaced = ("替换区划图层中文件所含的层级，其他层级保留" if table == "areas"
                else f"替换现有的{TABLE_ZH[table]}图层")
    confirm = st.checkbox(f"确认把 {checked['n_imported']} 行可导入的数据导入地区“{region.name}”"
                          f"（{replaced}；被拒绝的 {checked['n_rejected']} 行不导入）",
                          key="data_confirm")
    if st.button("导入", disabled=not confirm, key="data_import"):
        with st.status("正在导入…", expanded=False) as status:
            try:
                outcome = import_region(region.name, settings=settings, root=regions_root,
                                        report_dir=tmp / "reports", **{table: path, _crs_arg(table): crs})
                audit.record("import", user=user or "unknown", role=role or None, region=region.name,
                             root=regions_root, detail=f"{TABLE_ZH[table]} {path.name}：导入 {checked['n_imported']} 行，"
                             f"拒绝 {checked['n_rejected']} 行，新版本 {outcome.version_path.name}")
                status.update(label=f"导入完成：新版本 {outcome.version_path.name}", state="complete")
                st.session_state.pop("data_checked", None)
                st.success(f"已导入。新数据版本：{outcome.version_path.name}。刷新页面后各页使用新版本。")
                render_assignment(outcome)
            except ElderMapError as exc:
                status.update(label="导入失败，现有数据未改变", state="error")
                st.error(str(exc))


def render_assignment(outcome: ImportOutcome) -> None:
    """After an import: how the facilities and elders got their areas (by polygon, code or name) and how
    many have none, per level and why; the warnings (everyone unassigned, too many unassigned) on top."""
    if not outcome.assignments and not outcome.warnings and not outcome.notes:
        return
    st.subheader("区划归属")
    for line in outcome.warnings:
        st.warning(md_escape(line))
    for line in outcome.notes:
        st.caption(md_escape(line))
    lines = [line for summary in outcome.assignments.values() for line in summary.lines_zh()]
    if lines:
        st.caption("优先级：文件所填代码 > 所属区县/街道/社区名称 > 坐标所在边界。逐行提示见校验报告。")
        st.text("\n".join(lines))
        table = pd.concat([summary.table_zh() for summary in outcome.assignments.values()], ignore_index=True)
        if not table.empty:
            st.dataframe(table, hide_index=True, width="stretch")


def render_service_areas(region: store.Region, settings: Settings, *, user: str = "", role: str = "",
                         regions_root: Path | None = None) -> None:
    """Upload the polygons of home-care providers' service areas (:func:`data.service_areas.read_service_areas`):
    checked against the region's facilities, then imported as the ``service_areas`` layer."""
    from data.service_areas import read_service_areas

    with st.expander("居家上门服务商的服务区域（边界文件）"):
        st.caption("GeoJSON、GeoPackage 或 Shapefile（须带坐标系），每个要素一个服务区域，用 机构编号（facility_id）"
                   "或 名称 列对应到已导入的居家上门服务商。未声明服务区域的服务商按车程服务（设置 "
                   f"home_care_drive_minutes = {settings.home_care_drive_minutes:g} 分钟）。")
        upload = st.file_uploader("选择服务区域文件", type=["geojson", "json", "gpkg"], key="sa_upload")
        if upload is None:
            return
        tmp = Path(st.session_state.setdefault("data_tmp", tempfile.mkdtemp(prefix="eldermap_upload_")))
        path = tmp / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        try:
            read = read_service_areas(path, region.facilities, settings=settings)
        except ElderMapError as exc:
            st.error(str(exc))
            return
        st.success(f"{md_escape(path.name)}：{len(read.layer)} 个服务区域，均已对应到设施。")
        for line in read.warnings:
            st.warning(md_escape(line))
        if st.button("导入服务区域", key="sa_import"):
            try:
                outcome = import_region(region.name, settings=settings, root=regions_root,
                                        report_dir=tmp / "reports", service_areas=path)
            except ElderMapError as exc:
                st.error(str(exc))
                return
            audit.record("import", user=user or "unknown", role=role or None, region=region.name,
                         root=regions_root, detail=f"服务区域 {path.name}：{len(read.layer)} 个，新版本 "
                         f"{outcome.version_path.name}")
            st.success(f"已导入。新数据版本：{outcome.version_path.name}。刷新页面后各页使用新版本。")


def _crs_arg(table: str) -> str:
    return {"facilities": "facility_crs", "elders": "elder_crs", "areas": "area_crs"}[table]


ACTION_ZH = {"login": "登录", "login_failed": "登录失败", "logout": "退出", "import": "导入", "export": "导出",
             "scenario_save": "保存方案", "scenario_delete": "删除方案", "user_add": "新增账号"}


def render_audit(*, regions_root: Path | None, limit: int = 200) -> None:
    """Admins only: the latest audit entries, read-only, and whether the hash chain is intact."""
    st.subheader("操作日志（只读）")
    problems = audit.verify_chain(regions_root)
    if problems:
        st.error("操作日志校验未通过（可能被修改或删除）：" + "；".join(problems[:5]))
    else:
        st.caption("操作日志逐行哈希链校验通过：未发现修改或删除。")
    log = audit.read(regions_root, limit=limit)
    if log.empty:
        st.info("还没有操作记录。")
        return
    shown = log.iloc[::-1].rename(columns={"time": "时间（UTC）", "user": "用户", "role": "角色", "action": "操作",
                                           "region": "地区", "detail": "说明"})
    shown["操作"] = shown["操作"].map(lambda a: ACTION_ZH.get(a, a))
    st.dataframe(shown[[c for c in ("时间（UTC）", "用户", "角色", "操作", "地区", "说明") if c in shown.columns]],
                 hide_index=True, width="stretch")
