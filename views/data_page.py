"""数据管理 (staff): the region's manifest and sources, upload a file, see and download its validation
report, import the good rows; the audit log for admins; the import commands.

The same functions as ``eldermap validate`` and ``eldermap import`` (:mod:`data.validate`,
:mod:`data.importer`): the upload is validated against the region's roads and — after the user has seen
the report — imported as a new region version (the previous version stays current if anything fails);
after an import the page reruns so that every page uses the new version at once, and shows how the
facilities and elders got their areas (by boundary, code or name) and how many have none, with the
warnings (:func:`render_assignment`). Problems are listed by row and field; personal data never appear
(sensitive fields are masked in the rejects and reports). Imports and report downloads are recorded in
the audit log.

Uploads leave nothing behind: Streamlit keeps an upload in memory; the readers need a file, so each
validation, import or service-area check writes it to its own private temporary folder (mode 0700,
:func:`private_upload`) that is removed when that step ends, whatever the outcome. The validation
report and the rejected rows are kept in memory (bytes in the session) and handed to the browser only
when the user clicks a download button (a deferred download: no copy sits in Streamlit's media store
before that).

Ordinary mistakes get a Chinese answer naming the field and the file (issue 13): the uploads take any
file and refuse other formats themselves (:func:`upload_name_problem`; Streamlit's own refusal is
English), and errors are shown through :func:`views.text.message_zh` (no library English, no server
path). The code paths the uploads take are functions of the name and bytes (:func:`validate_upload`,
:func:`read_service_area_upload`), tested without the widget.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from data import audit, store
from data.importer import ImportOutcome, import_region
from data.provenance import layers_table, provenance_banner_zh, sources_table
from data.schema import PERSONAL_TABLES, TABLE_ZH
from data.validate import validate_table, write_report
from geo import osm
from geo.errors import ElderMapError, InputFileError
from geo.settings import Settings, settings_digest
from views.access import audit_action
from views.text import md_escape, message_zh

CRS_CHOICES = {"wgs84": "WGS-84（GPS、OpenStreetMap）", "cgcs2000": "国家2000（CGCS2000）",
               "gcj02": "GCJ-02（高德、腾讯地图）", "bd09": "BD-09（百度地图）"}
SUFFIXES = ["csv", "xlsx", "geojson", "json", "gpkg", "parquet"]
UPLOAD_PREFIX = "eldermap_upload_"
"""Prefix of the private temporary folder that holds an upload while one step reads it."""
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@contextlib.contextmanager
def private_upload(name: str, data: bytes) -> Iterator[Path]:
    """The uploaded bytes as a file in a new private temporary folder, removed on leaving the block.

    Parameters
    ----------
    name
        The file name the browser sent; only its last component is used (its suffix tells the
        readers the format). A name that is empty or a path step (``.``, ``..``) becomes ``upload``.
    data
        The file's content.

    Yields
    ------
    Path
        The file, in a folder made by :func:`tempfile.mkdtemp` (mode 0700: only this server's user
        can read it). The folder and everything written into it (reports, rejects) are removed when
        the block ends, whether it returns or raises.
    """
    folder = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX))
    try:
        base = Path(str(name).replace("\\", "/")).name
        path = folder / (base if base not in ("", ".", "..") else "upload")
        path.write_bytes(data)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _validate(path: Path, table: str, crs: str, region: store.Region, settings: Settings, root: Path | None):
    """``eldermap validate TABLE FILE --region REGION``: personal tables get the deployment's salt; the home-care
    tables are checked against the region's providers, service list, carers and elders."""
    salt = store.deployment_salt(root=root) if table in PERSONAL_TABLES else b""
    return validate_table(path, table, settings=settings, crs=crs, salt=salt,
                          region_extent=osm.extent(region.road_nodes), roads=region.road_edges,
                          related=region.layers)


DATA_UPLOAD_ZH = "数据文件"
"""The name of the data page's upload field in messages (its label is "选择数据文件")."""
SERVICE_AREA_SUFFIXES = ["geojson", "json", "gpkg"]
SERVICE_AREA_UPLOAD_ZH = "服务区域文件"
_SHAPEFILE_ZH = ("Shapefile 由 .shp、.shx、.dbf、.prj 等几个同名文件组成，单独一个文件无法读取："
                 "请在 GIS 软件中另存为 GeoPackage（.gpkg）或 GeoJSON 后上传。")
UPLOAD_HINTS_ZH: dict[str, str] = {
    **dict.fromkeys(("shp", "shx", "dbf", "prj", "cpg"), _SHAPEFILE_ZH),
    "xls": "旧版 Excel（.xls）请在 Excel 中“另存为” .xlsx 后上传。",
    "xlsm": "请在 Excel 中“另存为”不带宏的 .xlsx 后上传。",
    "doc": "Word 文档不能导入：请把表格复制到 Excel 并保存为 .xlsx，或另存为 CSV。",
    "docx": "Word 文档不能导入：请把表格复制到 Excel 并保存为 .xlsx，或另存为 CSV。",
    "pdf": "PDF 不能导入：请使用原始的 Excel 或 CSV 文件。",
    "txt": "文本表格请把扩展名改为 .csv 后上传（逗号、分号、制表符或竖线分隔均可）。",
    "tsv": "文本表格请把扩展名改为 .csv 后上传（逗号、分号、制表符或竖线分隔均可）。",
    "zip": "请先解压，再上传其中的数据文件。",
    "": "文件名没有扩展名：请确认文件类型，并把扩展名加上后再上传。",
}
"""What to do with a file of a format the upload does not take, by extension."""


def upload_name_problem(name: str, allowed: Sequence[str], *, field_zh: str) -> str:
    """"" when the extension of the uploaded file ``name`` is one of ``allowed`` (without dots, any case);
    otherwise a message in Chinese naming the upload field, the file and the formats allowed, with what to
    do (:data:`UPLOAD_HINTS_ZH`). Uploads take any file (no ``type=``, whose refusal the browser words in
    English); this check refuses the rest before anything is read."""
    base = Path(str(name).replace("\\", "/")).name
    suffix = Path(base).suffix.lower().lstrip(".")
    if suffix in {a.lower() for a in allowed}:
        return ""
    got = f" .{suffix} " if suffix else "没有扩展名的"
    return (f"“{field_zh}”只接受 {'、'.join(f'.{a}' for a in allowed)} 文件；{base or '上传的文件'} 是{got}文件，"
            f"未读取。{UPLOAD_HINTS_ZH.get(suffix, '')}")


def checked_upload(upload: Any, allowed: Sequence[str], *, field_zh: str) -> Any:
    """The upload of a ``st.file_uploader`` when its extension is one of ``allowed``; None (with the reason
    shown by ``st.error``) when not, or when there is no upload."""
    if upload is None:
        return None
    problem = upload_name_problem(upload.name, allowed, field_zh=field_zh)
    if problem:
        st.error(md_escape(problem))
        return None
    return upload


def validate_upload(name: str, data: bytes, *, table: str, crs: str, region: store.Region, settings: Settings,
                    regions_root: Path | None = None) -> dict[str, Any]:
    """Validate an uploaded file — the name the browser sent and its bytes — as ``eldermap validate`` does,
    in a private temporary folder (:func:`private_upload`) removed afterwards.

    Returns
    -------
    dict
        ``file`` (the name's last part), ``table``, ``crs``, ``summary`` (Chinese), ``report_name`` and
        ``report_bytes`` (the validation report workbook), ``rejects_name`` and ``rejects_bytes`` (the
        rejected rows, which the summary mentions; None when no row is rejected), ``problems`` (one row
        per problem: file, row, field, value, reason, level), ``n_rejected`` and ``n_imported``.

    Raises
    ------
    ElderMapError
        The file cannot be read as a whole: an extension not in :data:`SUFFIXES`, an empty, corrupt or
        undecodable file, no recognisable header, a header without rows… (in Chinese, naming the file).
    """
    file = Path(str(name).replace("\\", "/")).name
    problem = upload_name_problem(file, SUFFIXES, field_zh=DATA_UPLOAD_ZH)
    if problem:
        raise InputFileError(problem, f"upload {file!r}: extension not accepted")
    if table == "orders" and region.layer("service_items").empty:
        raise InputFileError(f"地区“{region.name}”还没有服务清单，{file} 中工单的服务项目无法对照：请先在“数据类型”中选"
                             "“服务清单”，上传并导入服务清单，再校验服务工单。",
                             f"upload {file!r}: orders need the region's service list")
    with private_upload(file, data) as path:
        result = _validate(path, table, crs, region, settings, regions_root)
        report, rejects = write_report(result, path.parent / f"{path.stem}_校验报告.xlsx")
        report_bytes = report.read_bytes()
        rejects_bytes = rejects.read_bytes() if rejects is not None else None
    return {"file": file, "table": table, "crs": crs, "summary": result.summary_zh(), "report_name": report.name,
            "report_bytes": report_bytes, "rejects_name": rejects.name if rejects is not None else None,
            "rejects_bytes": rejects_bytes, "problems": result.problems, "n_rejected": result.n_rejected,
            "n_imported": result.n_imported}


def read_service_area_upload(name: str, data: bytes, region: store.Region, settings: Settings):
    """The service areas of an uploaded file (:func:`data.service_areas.read_service_areas`), read in a
    private temporary folder removed afterwards; raises our error (in Chinese, naming the file) when the
    extension is not one of :data:`SERVICE_AREA_SUFFIXES` or the file cannot be used."""
    from data.service_areas import read_service_areas

    file = Path(str(name).replace("\\", "/")).name
    problem = upload_name_problem(file, SERVICE_AREA_SUFFIXES, field_zh=SERVICE_AREA_UPLOAD_ZH)
    if problem:
        raise InputFileError(problem, f"upload {file!r}: extension not accepted")
    with private_upload(file, data) as path:
        return read_service_areas(path, region.facilities, settings=settings)


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
    "# 12349 调度：服务清单、服务人员、服务工单（工单对照服务清单，校验工单须给 --region）\n"
    "eldermap validate orders 服务工单.xlsx --region 我的地区\n"
    "eldermap import 我的地区 --service-items 服务清单.xlsx --carers 服务人员.xlsx --orders 服务工单.xlsx\n\n"
    "# 真实形态的示例文件（仅街道边界、社区名单、GBK 设施表、老年人登记表），可照着试导入\n"
    "eldermap samples --out out/samples\n\n"
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
        st.warning(md_escape(banner), icon=":material/info:")
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
               "可导入的行；导入生成新的数据版本，旧版本保留。12349 调度的三张表按顺序导入：先服务清单，再服务人员"
               "（对照居家上门服务商），最后服务工单（对照服务清单、服务商、服务人员和老人）；人员编号和老人编号只保存假名。")
    table = st.radio("数据类型", tuple(TABLE_ZH), format_func=TABLE_ZH.get, horizontal=True, key="data_table")
    crs = st.selectbox("坐标系", tuple(CRS_CHOICES), format_func=CRS_CHOICES.get, key="data_crs",
                       disabled=CRS_ARGS[table] is None, help="服务清单没有坐标，不需要选择" if CRS_ARGS[table] is None
                       else "文件中经纬度所用的坐标系")
    upload = checked_upload(st.file_uploader("选择数据文件", key="data_upload",
                                             help=f"支持的格式：{'、'.join('.' + s for s in SUFFIXES)}"),
                            SUFFIXES, field_zh=DATA_UPLOAD_ZH)
    show_import_done("data_imported")
    if upload is None:
        st.session_state.pop("data_checked", None)
        return
    name = Path(str(upload.name).replace("\\", "/")).name
    if st.button("校验", type="primary", key="data_validate"):
        with st.status(f"正在校验 {md_escape(name)}…", expanded=False) as status:
            try:
                checked = validate_upload(name, upload.getvalue(), table=table, crs=crs, region=region,
                                          settings=settings, regions_root=regions_root)
                st.session_state["data_checked"] = {**checked, "upload_id": upload.file_id}
                status.update(label="校验完成", state="complete")
            except ElderMapError as exc:
                status.update(label="无法读取文件", state="error")
                st.error(md_escape(message_zh(exc), keep_lines=True))
    checked = st.session_state.get("data_checked")
    if (not checked or checked["upload_id"] != upload.file_id or checked["table"] != table
            or checked["crs"] != crs):
        return
    (st.success if not checked["n_rejected"] else st.warning)(md_escape(checked["summary"]))
    problems: pd.DataFrame = checked["problems"]
    if not problems.empty:
        st.dataframe(problems, hide_index=True, width="stretch")

    def exported(what: str, data: bytes):
        """The file, handed over when the user clicks (a deferred download: the bytes reach Streamlit's
        media store only then); recorded in the audit log. Runs outside the script, so no rerun (which
        would re-register the button while the browser fetches it) and no st.* call."""
        def hand_over() -> bytes:
            audit_action("export", user=user, role=role, settings=settings, region=region.name, root=regions_root,
                         version=region.version, detail=f"{what} {checked['file']}")
            return data
        return hand_over

    st.download_button("下载问题报告（Excel）", exported("校验报告", checked["report_bytes"]),
                       file_name=checked["report_name"], on_click="ignore", key="data_report_dl", mime=XLSX_MIME)
    if checked.get("rejects_bytes"):  # the summary above tells what this list is for
        st.download_button("下载被拒绝的行（Excel）", exported("拒绝行清单", checked["rejects_bytes"]),
                           file_name=checked["rejects_name"], on_click="ignore", key="data_rejects_dl",
                           mime=XLSX_MIME)
    if checked["n_imported"] == 0:
        st.error("没有可导入的行：请按问题报告改正文件后重新上传。")
        return
    replaced = ("替换区划图层中文件所含的层级，其他层级保留" if table == "areas"
                else f"替换现有的{TABLE_ZH[table]}图层")
    confirm = st.checkbox(f"确认把 {checked['n_imported']} 行可导入的数据导入地区“{md_escape(region.name)}”"
                          f"（{replaced}；被拒绝的 {checked['n_rejected']} 行不导入）",
                          key="data_confirm")
    if not st.button("导入", disabled=not confirm, key="data_import"):
        return
    with st.status("正在导入…", expanded=True) as status:
        bar = st.progress(0.0, text="正在导入…")
        shown = {"share": 0.0}

        def step(message: str) -> None:  # the step under way (a message naming the file: escaped)
            bar.progress(shown["share"], text=md_escape(message))

        def rows_done(done: int, total: int) -> None:  # a large elders register, imported block by block
            shown["share"] = min(1.0, done / total) if total else 1.0
            bar.progress(shown["share"], text=f"已校验并写入 {done:,} / {total:,} 行")

        try:
            with private_upload(name, upload.getvalue()) as path:
                outcome = import_region(region.name, settings=settings, root=regions_root,
                                        report_dir=path.parent / "reports", progress=step, rows_progress=rows_done,
                                        **import_kwargs(table, path, crs))
        except ElderMapError as exc:
            status.update(label="导入失败，现有数据未改变", state="error")
            st.error(md_escape(message_zh(exc), keep_lines=True))
            return
        audit_action("import", user=user, role=role, settings=settings, region=region.name,
                     version=outcome.version_path.name, rows=int(checked["n_imported"]),
                     root=regions_root, detail=f"{TABLE_ZH[table]} {name}：导入 {checked['n_imported']} 行，"
                     f"拒绝 {checked['n_rejected']} 行，新版本 {outcome.version_path.name}")
        status.update(label=f"导入完成：新版本 {outcome.version_path.name}", state="complete")
    st.session_state.pop("data_checked", None)
    imported_rerun("data_imported", outcome)


def imported_rerun(key: str, outcome: ImportOutcome) -> None:
    """Keep what an import did for the next run and rerun now: the sidebar then loads the new version
    (the region cache is keyed on it), so every page, this one included, uses it at once."""
    st.session_state[key] = dataclasses.replace(outcome, results=[], reports=[])
    st.rerun()


def show_import_done(key: str) -> None:
    """After :func:`imported_rerun`: say the import succeeded and that the pages use the new version, and
    show how the points got their areas (once)."""
    outcome: ImportOutcome | None = st.session_state.pop(key, None)
    if outcome is None:
        return
    st.success(f"已导入。新数据版本：{outcome.version_path.name}。各页已改用新版本，无需刷新页面或重新登录。")
    render_assignment(outcome)


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
    show_import_done("sa_imported")  # outside the (collapsed) expander, so that it is seen
    with st.expander("居家上门服务商的服务区域（边界文件）"):
        st.caption("GeoJSON、GeoPackage 或 Shapefile（须带坐标系），每个要素一个服务区域，用 机构编号（facility_id）"
                   "或 名称 列对应到已导入的居家上门服务商。未声明服务区域的服务商按车程服务（设置 "
                   f"home_care_drive_minutes = {settings.home_care_drive_minutes:g} 分钟）。")
        upload = checked_upload(st.file_uploader("选择服务区域文件", key="sa_upload",
                                                 help="支持的格式：.geojson、.json、.gpkg"),
                                SERVICE_AREA_SUFFIXES, field_zh=SERVICE_AREA_UPLOAD_ZH)
        if upload is None:
            return
        name = Path(str(upload.name).replace("\\", "/")).name
        try:
            read = read_service_area_upload(name, upload.getvalue(), region, settings)
        except ElderMapError as exc:
            st.error(md_escape(message_zh(exc), keep_lines=True))
            return
        st.success(f"{md_escape(name)}：{len(read.layer)} 个服务区域，均已对应到设施。")
        for line in read.warnings:
            st.warning(md_escape(line))
        if not st.button("导入服务区域", key="sa_import"):
            return
        try:
            with private_upload(name, upload.getvalue()) as path:
                outcome = import_region(region.name, settings=settings, root=regions_root,
                                        report_dir=path.parent / "reports", service_areas=path)
        except ElderMapError as exc:
            st.error(md_escape(message_zh(exc), keep_lines=True))
            return
        audit_action("import", user=user, role=role, settings=settings, region=region.name,
                     version=outcome.version_path.name, rows=len(read.layer),
                     root=regions_root, detail=f"服务区域 {name}：{len(read.layer)} 个，新版本 "
                     f"{outcome.version_path.name}")
    imported_rerun("sa_imported", outcome)


CRS_ARGS: dict[str, str | None] = {"facilities": "facility_crs", "elders": "elder_crs", "areas": "area_crs",
                                   "service_items": None, "carers": "carer_crs", "orders": "order_crs"}
"""import_region's coordinate-system keyword of each table (None: the service list has no coordinates)."""


def import_kwargs(table: str, path: Path, crs: str) -> dict[str, Any]:
    """The keywords of :func:`data.importer.import_region` that import ``path`` as ``table`` in ``crs``."""
    crs_arg = CRS_ARGS[table]
    return {table: path, **({crs_arg: crs} if crs_arg else {})}


ACTION_ZH = {"login": "登录", "login_failed": "登录失败", "account_locked": "账号锁定",
             "address_locked": "来源地址锁定", "session_resumed": "恢复登录（刷新或新标签页）", "logout": "退出",
             "import": "导入", "export": "导出",
             "scenario_save": "保存方案", "scenario_delete": "删除方案", "user_add": "新增账号",
             "dispatch": "调度工单"}
AUDIT_ROLE_ZH = {"planner": "规划人员", "staff": "工作人员", "admin": "管理员", "dispatcher": "调度员",
                 audit.CLI_ROLE: "命令行"}


def _audit_role_zh(role: object, address: object) -> str:
    """A role in Chinese; a record without one: 命令行 (no client address) or —."""
    if isinstance(role, str) and role:
        return AUDIT_ROLE_ZH.get(role, role)
    return "命令行" if not isinstance(address, str) or not address else "—"


def render_audit(*, regions_root: Path | None, limit: int = 200, timezone: str | None = None) -> None:
    """Admins only: the latest audit entries, newest first, read-only (times in ``timezone``, an IANA name,
    "" for the server's zone, default the settings' ``display_timezone``; actions and roles in Chinese;
    never "None"), and whether the hash chain is intact."""
    if timezone is None:
        from views.context import read_settings

        timezone = read_settings()[0].display_timezone
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
    log = log.iloc[::-1].reset_index(drop=True)
    zone = {"Asia/Shanghai": "北京时间", "": "服务器本地时间"}.get(timezone, timezone)
    shown = pd.DataFrame({
        f"时间（{zone}）": audit.local_times(log["time"], timezone),
        "用户": log["user"].map(lambda v: str(v) if isinstance(v, str) and v else "—"),
        "角色": [_audit_role_zh(r, a) for r, a in zip(log["role"], log["address"], strict=True)],
        "操作": log["action"].map(lambda a: ACTION_ZH.get(a, str(a))),
        "地区": log["region"].map(lambda v: str(v) if isinstance(v, str) and v else "—"),
        "数据版本": log["version"].map(lambda v: str(v) if isinstance(v, str) and v else "—"),
        "行数": log["rows"].map(lambda v: "—" if v is None or v != v else f"{int(v):,}"),
        "说明": log["detail"].map(lambda v: str(v) if isinstance(v, str) and v else "—"),
        "来源地址": log["address"].map(lambda v: str(v) if isinstance(v, str) and v else "—"),
    })
    st.dataframe(shown, hide_index=True, width="stretch")
