"""Issue 13, pages: every form and input of every page, driven with the ordinary mistakes.

The classes of bad value (the same as the CLI fuzz): an unknown choice, a negative number, zero, an empty
value, a missing file, a wrong extension, an unreadable (corrupt) file, a wrong encoding, a huge cell, and a
name carrying HTML, Markdown or a leading ``=``. Each case ends in a Chinese message (``st.error``,
``st.warning`` or ``st.info``) that names the field and what it takes — never an exception, a traceback,
English, an empty result presented as real, or data rendered as markup; downloads hold no live formula.

Test ids read ``page-field-class``. Numeric widgets are bounded by Streamlit itself: for them the bounds
are checked (no zero or negative where it means nothing) instead of typing what the widget cannot hold.
Uploads are driven through the page (``AppTest.file_uploader``) where the page reads them at once, and
through the function the page calls with the uploaded name and bytes (:func:`views.data_page.validate_upload`,
:func:`views.data_page.read_service_area_upload`, :func:`views.planner.changes_from_upload`,
``views.planner._read_upload``) for the whole matrix of bad files.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import ADMIN, ADMIN_PASSWORD, as_read, button, copy_demo_region, open_app, run, shown_text, switch_page
from streamlit.testing.v1 import AppTest

from data import store
from geo.errors import ElderMapError
from geo.settings import Settings
from views import data_page, planner
from views.text import md_escape, message_zh

PLANNER_SCRIPT = Path(__file__).resolve().parent / "apps" / "planner_app.py"
S = Settings()

HTML = "<script>alert('x')</script>"
HTML_NAME = "<img src=x onerror=alert(1)>"
FORMULA = '=HYPERLINK("http://198.51.100.8/x","点我")'
MARKDOWN = "![t](http://198.51.100.8/x.png)"
MOJIBAKE = "ç¯å¡ç¤¾åº"  # "灯塔社区" in UTF-8 read as Latin-1: the wrong encoding, typed or pasted
HUGE = "甲" * 300

ENGLISH = re.compile(r"[A-Za-z]{2,}(?:[\s,;:'\".()-]+[A-Za-z]{2,}){2,}")
"""Three English words in a row: a library's message or Streamlit's own English."""
MESSAGE_KINDS = ("error", "warning", "info")


# ---------------------------------------------------------------- shared checks


def messages(at: AppTest, kinds: tuple[str, ...] = MESSAGE_KINDS) -> list[str]:
    """The messages shown (as read: Markdown escapes undone)."""
    return [as_read(str(el.value)) for kind in kinds for el in getattr(at, kind)]


def assert_sound(at: AppTest) -> None:
    """No exception, no traceback, no English in any message."""
    assert not at.exception, [e.value for e in at.exception]
    text = shown_text(at)
    assert "Traceback" not in text and "Error:" not in text, text[:500]
    english = [m for m in messages(at, ("error", "warning", "info", "success")) if ENGLISH.search(m)]
    assert not english, english


def told(at: AppTest, *needles: str, kinds: tuple[str, ...] = MESSAGE_KINDS) -> str:
    """The first message (as read) holding every needle; fails listing the messages shown."""
    shown = messages(at, kinds)
    found = [m for m in shown if all(n in m for n in needles)]
    assert found, (needles, shown)
    return found[0]


def assert_zh_message(text: str, *needles: str) -> None:
    """A message in Chinese (no English words, no server path) naming what ``needles`` say."""
    assert re.search(r"[\u4e00-\u9fff]", text), text
    assert not ENGLISH.search(text), text
    assert "/tmp/" not in text and "Traceback" not in text, text
    for needle in needles:
        assert needle in text, (needle, text)


def formula_cells(data: bytes) -> list[str]:
    """Cells of a workbook stored as formulas."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [f"{ws.title}!{c.coordinate}={c.value}" for ws in book.worksheets for row in ws.iter_rows() for c in row
            if c.data_type == "f"]


def workbook_text(data: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return "\n".join(str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row
                     if c.value is not None)


@pytest.fixture(scope="module")
def module_env() -> Iterator[pytest.MonkeyPatch]:
    """Environment set for a whole module (module-scoped AppTests read it on every run)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ELDERMAP_LOGIN_DELAY_S", "0")
        patch.delenv("ELDERMAP_SETTINGS", raising=False)
        yield patch


def _demo_copy(demo_region, root: Path, *, renamed: dict[str, str] | None = None,
               street_name: str | None = None, keep_facilities: int | None = None) -> Path:
    """The demo region saved under ``root``, facilities renamed (id -> name) or only the first
    ``keep_facilities`` kept, and the first street renamed."""
    layers = {name: layer.copy() for name, layer in demo_region.layers.items()}
    if keep_facilities is not None:
        layers["facilities"] = layers["facilities"].head(keep_facilities).copy()
    fac = layers["facilities"]
    for fid, name in (renamed or {}).items():
        fac.loc[fac["id"] == fid, "name"] = name
    if street_name is not None:
        areas = layers["areas"]
        first = areas.index[areas["level"] == "street"][0]
        areas.loc[first, "name"] = street_name
    kept = ("synthetic", "sources", "demo")
    store.save_region("demo", layers, {k: v for k, v in demo_region.manifest.items() if k in kept}, root=root)
    return root


def _users(path: Path) -> Path:
    from data.auth import add_user

    add_user(path, ADMIN, "admin", ADMIN_PASSWORD)
    return path


# ---------------------------------------------------------------- 找养老服务 (public)

FIND_NAMES = {"F001": HTML_NAME, "F002": FORMULA, "F003": MARKDOWN}


@pytest.fixture(scope="module")
def find_app(tmp_path_factory, demo_region, module_env) -> tuple[AppTest, dict[str, str]]:
    """The public page on the demo region with three facilities named with HTML, a formula and Markdown."""
    root = _demo_copy(demo_region, tmp_path_factory.mktemp("mistakes_find"), renamed=FIND_NAMES)
    env = {"ELDERMAP_REGIONS": str(root)}
    _apply(module_env, env)
    return open_app(), env


def _apply(patch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        patch.setenv(name, value)


@pytest.fixture()
def find_at(find_app, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """:func:`find_app`, its environment set for this test (module-scoped AppTests share the process)."""
    _apply(monkeypatch, find_app[1])
    return find_app[0]


def _type(at: AppTest, key: str, value: str) -> AppTest:
    at.text_input(key=key).input(value)
    return run(at)


NO_PLACE = "只有数字或符号，无法确定是哪里"
NOT_FOUND = "本地区没有找到"
QUERY_CASES = [
    pytest.param("-1", NO_PLACE, id="negative"),
    pytest.param("0", NO_PLACE, id="zero"),
    pytest.param("  ", None, id="empty"),
    pytest.param("北京市东城区天安门广场", NOT_FOUND, id="unknown_outside_region"),
    pytest.param(HTML, NOT_FOUND, id="html"),
    pytest.param('=cmd|" /C calc"!A0', NOT_FOUND, id="formula"),
    pytest.param("[点这里](http://203.0.113.5/a)", NOT_FOUND, id="markdown"),
    pytest.param(MOJIBAKE, NOT_FOUND, id="wrong_encoding"),
    pytest.param(HUGE, "最多 100 个字", id="huge"),
]


@pytest.mark.parametrize(("query", "why"), QUERY_CASES)
def test_find_address(find_at: AppTest, query: str, why: str | None) -> None:
    """地址或地名: a query that cannot be searched or finds nothing says so, naming the field and what it
    takes, and leaves no earlier starting point in use (step 3 asks for one)."""
    at = find_at
    at.radio(key="find_origin_way").set_value("输入地址或地名")
    at.checkbox(key="find_use_family").uncheck()
    _type(at, "find_query", "灯塔社区")
    assert "find_origin" in at.session_state  # a real place first: the mistake must not keep it silently
    _type(at, "find_query", query)
    assert_sound(at)
    if why is None:  # an empty box: the starting point stays and is stated, nothing else is claimed
        told(at, "当前起点：灯塔社区", kinds=("success",))
        return
    message = told(at, "地址或地名", why)
    assert "社区名" in message or "换个说法" in message  # what the field takes
    assert "find_origin" not in at.session_state
    told(at, "请先在“第一步”选择出发位置")
    assert not told_any(at, "当前起点", kinds=("success",))
    raw = " ".join(str(w.value) for w in at.warning)
    assert "<script" not in raw and "](http" not in raw and '"=HYPERLINK' not in raw


def told_any(at: AppTest, needle: str, kinds: tuple[str, ...] = MESSAGE_KINDS) -> bool:
    return any(needle in m for m in messages(at, kinds))


def test_find_address_empty_from_the_start(find_app, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty box on a fresh page: step 3 says a starting point is needed; no result is shown."""
    _apply(monkeypatch, find_app[1])
    at = open_app()
    _type(at, "find_query", "")
    assert_sound(at)
    told(at, "请先在“第一步”选择出发位置", "输入地址或地名")
    assert not [m.value for m in at.markdown if str(m.value).startswith("#### ")]


@pytest.mark.parametrize(("query", "why"), [p for p in QUERY_CASES if p.id != "empty"] + [
    pytest.param("", "请先在上面输入并选择家人住址", id="empty")])
def test_find_family_address(find_at: AppTest, query: str, why: str) -> None:
    """家人住址 with 以家人住址为起点 ticked: the same classes; the page says why there is no starting point."""
    at = find_at
    at.radio(key="find_origin_way").set_value("输入地址或地名")
    at.text_input(key="find_query").input("灯塔社区")
    at.checkbox(key="find_use_family").check()
    at.session_state["find_family_origin"] = {"lon": 24.94, "lat": 60.17, "label": "海港街道（街道）"}  # found before
    _type(at, "find_family_query", query)
    assert_sound(at)
    told(at, "家人住址", why)
    told(at, "已勾选“以家人住址为起点”，请先在上面输入并选择家人住址")
    assert "find_family_origin" not in at.session_state
    told(at, "请先在“第一步”选择出发位置")
    assert not told_any(at, "家人住址：海港街道", kinds=("success",))
    at.checkbox(key="find_use_family").uncheck()
    at.text_input(key="find_family_query").input("")  # taken by the next run


@pytest.mark.parametrize(("key", "low"), [
    pytest.param("find_age", 1, id="age-zero_negative"),
    pytest.param("find_budget", 0, id="budget-negative"),
])
def test_find_number_bounds(find_at: AppTest, key: str, low: int) -> None:
    """年龄 and 月预算 are bounded: no zero age; a budget of 0 means 不限 (said in the label), never below."""
    widget = find_at.number_input(key=key)
    assert widget.min == low and widget.max is None or widget.max >= 100
    if key == "find_budget":
        assert "0 表示不限" in widget.label


def test_find_minutes_bounds(find_at: AppTest) -> None:
    """路上最多花多少分钟: a slider from 5 minutes, so zero or negative minutes cannot be asked for."""
    slider = find_at.slider(key="find_minutes")
    assert slider.min >= 5 and slider.max <= 120


def test_find_empty_result_says_why(find_at: AppTest) -> None:
    """Needs that no facility meets: a warning with what to change, never an empty list shown as the answer."""
    at = find_at
    at.radio(key="find_origin_way").set_value("输入地址或地名")
    at.checkbox(key="find_use_family").uncheck()
    _type(at, "find_query", "灯塔社区")
    at.slider(key="find_minutes").set_value(5)
    at.checkbox(key="find_free_bed").check()
    at.checkbox(key="find_nursing_bed").check()
    at.toggle(key="find_residential").set_value(True)
    at.number_input(key="find_budget").set_value(500)
    at.selectbox(key="find_min_grade").select("五级")
    at.button(key="find_submit").click()
    run(at)
    assert_sound(at)
    told(at, "没有找到符合全部条件的设施", "延长出行时间")
    assert not [m.value for m in at.markdown if str(m.value).startswith("#### ")]
    # reset the form for the next tests (taken by the next run, the next test's first)
    at.slider(key="find_minutes").set_value(15)
    at.checkbox(key="find_free_bed").uncheck()
    at.checkbox(key="find_nursing_bed").uncheck()
    at.toggle(key="find_residential").set_value(False)
    at.number_input(key="find_budget").set_value(0)
    at.selectbox(key="find_min_grade").select("不限")


@pytest.mark.parametrize(("lon", "lat"), [pytest.param(0.0, 0.0, id="zero"),
                                          pytest.param(-24.94, -60.17, id="negative"),
                                           pytest.param(116.397, 39.909, id="outside_region")])
def test_find_map_click(find_at: AppTest, monkeypatch: pytest.MonkeyPatch, lon: float, lat: float) -> None:
    """在地图上点选 far outside the region (zero, negative, Beijing): refused with the region's extent, and no
    starting point (an empty result from there would not say why); a click inside is taken."""
    from views import find as find_view

    clicks = {"find_origin_map": {"lat": lat, "lng": lon}}
    real = find_view.show_map

    def fake_show_map(m, *, key: str, **kwargs):
        real(m, key=key, **kwargs)
        return {"last_clicked": clicks[key]} if key in clicks else None

    monkeypatch.setattr(find_view, "show_map", fake_show_map)
    at = find_at
    at.checkbox(key="find_use_family").uncheck()
    at.radio(key="find_origin_way").set_value("在地图上点选")
    at.session_state["find_origin"] = {"lon": 24.94, "lat": 60.17, "label": "灯塔社区（社区）"}  # set before
    run(at)
    assert_sound(at)
    told(at, f"地图上点选的位置（经度 {lon:.5f}，纬度 {lat:.5f}）在本地区范围之外", "本地区范围：经度",
         kinds=("warning",))
    assert "find_origin" not in at.session_state
    told(at, "请先在“第一步”选择出发位置")
    if lon > 100:  # once: a click inside is taken
        clicks["find_origin_map"] = {"lat": 60.1699, "lng": 24.9384}
        run(at)
        assert "find_origin" in at.session_state and not told_any(at, "本地区范围之外")
    monkeypatch.undo()
    at.radio(key="find_origin_way").set_value("输入地址或地名")  # taken by the next run: the next tests type there


def test_find_list_no_kind_chosen(find_at: AppTest) -> None:
    """列表中显示的设施类型 emptied: the page says to choose one, instead of a list of 0 facilities."""
    at = find_at
    kinds = list(at.multiselect(key="find_kinds").value)
    at.multiselect(key="find_kinds").set_value([])
    run(at)
    assert_sound(at)
    told(at, "列表中显示的设施类型", "请至少选择一种设施类型", kinds=("info",))
    assert not [h for h in at.subheader if str(h.value).startswith("设施列表（0")]
    at.multiselect(key="find_kinds").set_value(kinds)  # taken by the next run


@pytest.mark.parametrize("fid", [pytest.param(k, id=f"facility_name-{c}") for k, c in
                                 (("F001", "html"), ("F002", "formula"), ("F003", "markdown"))])
def test_find_names_from_the_data_are_text(find_at: AppTest, fid: str) -> None:
    """A facility named with HTML, a formula or Markdown is listed as those characters: the list's cells
    hold the escaped text, and no Markdown element carries the raw name."""
    name = FIND_NAMES[fid]
    at = find_at
    run(at)
    assert_sound(at)
    cells = [str(v) for t in at.table for v in t.value.to_numpy().ravel()]
    assert md_escape(name) in cells or any(md_escape(name) in c for c in cells), name
    assert not any(name in c for c in cells)
    rendered = [str(el.value) for kind in ("markdown", "caption", "info", "warning", "error", "success", "subheader")
                for el in getattr(at, kind)]
    assert not any(name in r for r in rendered)


# ---------------------------------------------------------------- 规划分析 (planner)


@pytest.fixture(scope="module")
def planner_root(tmp_path_factory, demo_region) -> Path:
    return copy_demo_region(demo_region, tmp_path_factory.mktemp("mistakes_planner"))


@pytest.fixture(scope="module")
def planner_region(planner_root: Path):
    return store.load_region("demo", root=planner_root)


@pytest.fixture(scope="module")
def planner_app(planner_root: Path, module_env) -> AppTest:
    module_env.setenv("ELDERMAP_REGIONS", str(planner_root))
    return open_app(PLANNER_SCRIPT)


@pytest.fixture()
def planner_at(planner_app: AppTest, planner_root: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ELDERMAP_REGIONS", str(planner_root))
    return planner_app


@pytest.fixture()
def fresh_changes(planner_at: AppTest) -> AppTest:
    planner_at.session_state["planner_changes"] = []
    return planner_at


def _inside(region) -> tuple[float, float]:
    point = region.facilities.geometry.iloc[3]
    return round(float(point.x), 6), round(float(point.y), 6)


@pytest.mark.parametrize("name", [pytest.param(HTML_NAME, id="html"), pytest.param(FORMULA, id="formula"),
                                  pytest.param(MARKDOWN, id="markdown")])
def test_planner_add_facility_name(fresh_changes: AppTest, planner_region, name: str) -> None:
    """设施名称 with markup or a formula: added, and listed as text (escaped), never rendered."""
    at = fresh_changes
    lon, lat = _inside(planner_region)
    at.text_input(key="planner_add_name").input(name)
    at.number_input(key="planner_add_lon").set_value(lon)
    at.number_input(key="planner_add_lat").set_value(lat)
    button(at, "添加").click()
    run(at)
    assert_sound(at)
    assert [c["name"] for c in at.session_state["planner_changes"]] == [name]
    listed = [str(m.value) for m in at.markdown if "新增" in str(m.value)]
    assert any(md_escape(name) in v for v in listed), listed
    assert not any(name in v for v in listed)


def test_planner_add_facility_name_empty(fresh_changes: AppTest, planner_region) -> None:
    """设施名称 left empty: the facility gets a stated default name (新增设施N1), shown in the list."""
    at = fresh_changes
    lon, lat = _inside(planner_region)
    at.text_input(key="planner_add_name").input("   ")
    at.number_input(key="planner_add_lon").set_value(lon)
    at.number_input(key="planner_add_lat").set_value(lat)
    button(at, "添加").click()
    run(at)
    assert_sound(at)
    name = at.session_state["planner_changes"][0]["name"]
    assert name.startswith("新增设施N")
    assert any(name in as_read(str(m.value)) for m in at.markdown)


@pytest.mark.parametrize(("lon", "lat"), [
    pytest.param(0.0, 0.0, id="lon_lat-zero"),
    pytest.param(-24.94, 60.17, id="lon-negative"),
    pytest.param(24.94, -60.17, id="lat-negative"),
    pytest.param(180.0, 90.0, id="lon_lat-edge"),
])
def test_planner_add_facility_coordinates(fresh_changes: AppTest, lon: float, lat: float) -> None:
    """经度/纬度 outside the region (zero, negative, the edge of the world): refused, naming the point as
    typed and the region's extent (what is allowed); nothing is added."""
    at = fresh_changes
    at.text_input(key="planner_add_name").input("测试站")
    at.number_input(key="planner_add_lon").set_value(lon)
    at.number_input(key="planner_add_lat").set_value(lat)
    button(at, "添加").click()
    run(at)
    assert_sound(at)
    message = told(at, "测试站", f"经度 {lon:.6f}，纬度 {lat:.6f}", "本地区范围之外", kinds=("error",))
    assert "本地区范围：经度" in message
    assert not at.session_state["planner_changes"]


@pytest.mark.parametrize(("key", "low", "high"), [
    pytest.param("planner_add_lon", -180.0, 180.0, id="lon-bounds"),
    pytest.param("planner_add_lat", -90.0, 90.0, id="lat-bounds"),
    pytest.param("planner_add_beds", 0, None, id="beds-negative"),
    pytest.param("planner_beds_value", 0, None, id="set_beds-negative"),
    pytest.param("planner_sites_k", 1, 20, id="sites_k-zero_negative"),
    pytest.param("planner_sites_target", 1.0, 100.0, id="sites_target-zero_negative"),
])
def test_planner_number_bounds(planner_at: AppTest, key: str, low: float, high: float | None) -> None:
    """Numbers the planner types are bounded by their widgets (no negative beds, no zero sites or target)."""
    widget = planner_at.number_input(key=key)
    assert widget.min == low and widget.max == high


def test_planner_custom_minutes_bounds(planner_at: AppTest) -> None:
    """服务圈 自定义: the minutes start at 1 (zero or negative minutes cannot be asked for)."""
    at = planner_at
    at.selectbox(key="planner_cov_circle").select("自定义")
    run(at, errors=False)
    widget = at.number_input(key="planner_cov_minutes")
    assert widget.min == 1.0 and widget.max == 120.0
    assert_sound(at)
    at.selectbox(key="planner_cov_circle").select(f"{S.circle_minutes[-1]} 分钟")  # taken by the next run


@pytest.mark.parametrize("name", [pytest.param("", id="empty"), pytest.param(HTML_NAME, id="html"),
                                  pytest.param(FORMULA, id="formula"), pytest.param("../../etc/x", id="path")])
def test_planner_scenario_name(fresh_changes: AppTest, planner_region, planner_root: Path, name: str) -> None:
    """方案名称 empty, with markup, a formula or a path: refused with the naming rule; nothing saved."""
    at = fresh_changes
    lon, lat = _inside(planner_region)
    at.session_state["planner_changes"] = [{"op": "add", "id": "N1", "name": "方案测试站", "kind": "日间照料中心",
                                            "lon": lon, "lat": lat, "beds_total": 0}]  # as 添加 leaves it
    before = store.list_scenarios("demo", root=planner_root)
    at.text_input(key="planner_save_name").input(name)
    button(at, "保存方案").click()
    run(at)
    assert_sound(at)
    told(at, "方案名称", kinds=("error",))
    assert store.list_scenarios("demo", root=planner_root) == before
    raw = " ".join(str(e.value) for e in at.error)
    assert name == "" or name not in raw


def test_planner_scenario_without_changes(fresh_changes: AppTest) -> None:
    """保存方案 with no change: a warning, nothing saved."""
    at = fresh_changes
    at.text_input(key="planner_save_name").input("空方案")
    button(at, "保存方案").click()
    run(at)
    assert_sound(at)
    told(at, "方案还没有任何修改", kinds=("warning",))


def _listed(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["编号", "名称", "类型", "经度", "纬度", "床位"])


def bad_files(tmp_path: Path, good: pd.DataFrame) -> dict[str, tuple[str, bytes]]:
    """The classes of bad file, as (file name, bytes), written to ``tmp_path`` first (real files)."""
    csv = good.to_csv(index=False)
    files = {
        "wrong_extension_txt": ("清单.txt", csv.encode()),
        "wrong_extension_docx": ("清单.docx", b"PK\x03\x04" + bytes(range(256))),
        "wrong_extension_shp_alone": ("清单.shp", b"\x00\x00'\n" + bytes(96)),
        "no_extension": ("清单", csv.encode()),
        "corrupt_xlsx": ("清单.xlsx", bytes(range(256)) * 4),
        "wrong_encoding_shift_jis": ("清单.csv",
                                     "機構編号,名称,類型,経度,緯度\nA1,甲,養老,24.9,60.1\n".encode("shift_jis")),
        "empty": ("清单.csv", b""),
        "header_only": ("清单.csv", (",".join(good.columns) + "\n").encode()),
    }
    for case, (name, data) in files.items():
        (tmp_path / case).mkdir()
        (tmp_path / case / name).write_bytes(data)
    return {case: (name, (tmp_path / case / name).read_bytes()) for case, (name, data) in files.items()}


BAD_FILE_CASES = ["wrong_extension_txt", "wrong_extension_docx", "wrong_extension_shp_alone", "no_extension",
                  "corrupt_xlsx", "wrong_encoding_shift_jis", "empty", "header_only"]
WHY = {"wrong_extension_txt": "只接受", "wrong_extension_docx": "Word 文档不能导入",
       "wrong_extension_shp_alone": "Shapefile", "no_extension": "没有扩展名", "corrupt_xlsx": "",
       "wrong_encoding_shift_jis": "", "empty": "", "header_only": "表头"}


@pytest.mark.parametrize("case", BAD_FILE_CASES)
def test_planner_add_list_bad_files(tmp_path: Path, planner_region, case: str) -> None:
    """新增设施清单 (the function the page calls with the upload): each bad file ends in our error, in
    Chinese, naming the file; the extension classes also name the field and the formats taken."""
    lon, lat = _inside(planner_region)
    good = _listed([{"编号": "L1", "名称": "清单站", "类型": "日间照料中心", "经度": lon, "纬度": lat, "床位": 5}])
    name, data = bad_files(tmp_path, good)[case]
    with pytest.raises(ElderMapError) as caught:
        planner.changes_from_upload(name, data, region=planner_region, settings=S)
    message = message_zh(caught.value)
    assert_zh_message(message, name, WHY[case])
    if case.startswith(("wrong_extension", "no_extension")):
        assert_zh_message(message, "新增设施清单", ".csv、.xlsx")


@pytest.mark.parametrize("case", ["wrong_extension_txt", "corrupt_xlsx", "empty"])
def test_planner_add_list_page(fresh_changes: AppTest, tmp_path: Path, planner_region, case: str) -> None:
    """The page with a bad list: our error naming the file, no "已从清单加入" success, nothing added."""
    at = fresh_changes
    lon, lat = _inside(planner_region)
    name, data = bad_files(tmp_path, _listed([{"编号": "L1", "名称": "甲", "类型": "日间照料中心", "经度": lon,
                                                "纬度": lat, "床位": 5}]))[case]
    at.file_uploader(key="planner_add_upload").set_value((name, data, "application/octet-stream"))
    run(at)
    go = [b for b in at.button if b.key == "planner_add_upload_go"]
    if go:
        go[0].click()
        run(at)
    assert_sound(at)
    told(at, name, kinds=("error",))
    assert not told_any(at, "已从清单加入", kinds=("success",))
    assert not at.session_state["planner_changes"]


@pytest.mark.parametrize(("case", "row", "why"), [
    pytest.param("beds_negative", {"床位": -5}, "床位", id="beds-negative"),
    pytest.param("zero_point", {"经度": 0, "纬度": 0}, "本地区范围之外", id="lon_lat-zero"),
    pytest.param("unknown_kind", {"类型": "养老宫殿"}, "养老宫殿", id="kind-unknown"),
    pytest.param("huge_name", {"名称": "甲" * 5000}, "设施名称最多 200 个字", id="name-huge"),
])
def test_planner_add_list_bad_rows(fresh_changes: AppTest, planner_region, case: str, row: dict, why: str) -> None:
    """A list whose row holds a bad value: the row is refused with a message naming the file's row and
    the value; nothing else is claimed."""
    at = fresh_changes
    lon, lat = _inside(planner_region)
    values = {"编号": "L9", "名称": "清单站", "类型": "日间照料中心", "经度": lon, "纬度": lat, "床位": 5, **row}
    data = _listed([values]).to_csv(index=False).encode()
    at.file_uploader(key="planner_add_upload").set_value(("新增清单.csv", data, "text/csv"))
    run(at)
    next(b for b in at.button if b.key == "planner_add_upload_go").click()
    run(at)
    assert_sound(at)
    message = " ".join(messages(at, ("error",)) + [as_read(str(c.value)) for c in at.caption])
    assert why in message and ("第 2 行" in message or "新增清单.csv" in message), message
    assert not at.session_state["planner_changes"]
    assert not told_any(at, "已从清单加入", kinds=("success",))


class _Upload:
    """What ``st.file_uploader`` returns, as far as the page uses it."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


@pytest.mark.parametrize("case", BAD_FILE_CASES)
def test_planner_candidates_bad_files(tmp_path: Path, case: str) -> None:
    """自备候选点 (read by the page's ``_read_upload``): our error naming the user's file, not a temporary
    name, in Chinese."""
    good = pd.DataFrame({"编号": ["A1"], "经度": [24.94], "纬度": [60.17]})
    name, data = bad_files(tmp_path, good)[case]
    if case == "wrong_extension_txt":
        name = "候选点.txt"
    with pytest.raises(ElderMapError) as caught:
        planner._read_upload(_Upload(name, data))
    message = message_zh(caught.value)
    assert_zh_message(message, name)
    assert "candidates" not in message


def test_planner_candidates_page(planner_at: AppTest) -> None:
    """The siting form with a corrupt candidates file: our error naming it; no result presented."""
    at = planner_at
    at.file_uploader(key="planner_sites_upload").set_value(
        ("候选点.xlsx", b"not a workbook", "application/octet-stream"))
    next(b for b in at.button if b.label == "计算选址").click()
    run(at)
    assert_sound(at)
    told(at, "候选点.xlsx", kinds=("error",))
    assert not told_any(at, "选址结果", kinds=("success",))
    assert not [m for m in at.markdown if "选址结果" in str(m.value)]


# ---------------------------------------------------------------- 数据管理 (data page)


@pytest.fixture(scope="module")
def data_region(tmp_path_factory, demo_region):
    root = copy_demo_region(demo_region, tmp_path_factory.mktemp("mistakes_data"))
    return store.load_region("demo", root=root)


def _facilities_csv(region, **override: list) -> pd.DataFrame:
    fac = region.facilities.head(2)
    frame = pd.DataFrame({"机构编号": ["N1", "N2"], "名称": ["甲站", "乙站"], "类型": ["养老服务站", "助餐点"],
                          "经度": fac.geometry.x.round(6).to_list(), "纬度": fac.geometry.y.round(6).to_list(),
                          "床位总数": [10, 0]})
    for column, values in override.items():
        frame[column] = values
    return frame


DATA_FILE_CASES = [*BAD_FILE_CASES, "wrong_encoding_utf16_unknown_header", "corrupt_geojson", "corrupt_gpkg"]


@pytest.mark.parametrize("case", DATA_FILE_CASES)
def test_data_upload_bad_files(tmp_path: Path, data_region, case: str) -> None:
    """数据文件 (:func:`views.data_page.validate_upload`, what the page calls with the upload's name and
    bytes): every bad file ends in our error, in Chinese, naming the file (and the field and formats for
    the extension classes); no English library message, no server path."""
    files = bad_files(tmp_path, _facilities_csv(data_region))
    files["wrong_encoding_utf16_unknown_header"] = ("设施.csv", "甲,乙\n1,2\n".encode("utf-16"))
    files["corrupt_geojson"] = ("设施.geojson", b"{\"type\": \"FeatureCollection\", \"features\": [")
    files["corrupt_gpkg"] = ("设施.gpkg", bytes(range(256)))
    name, data = files[case]
    with pytest.raises(ElderMapError) as caught:
        data_page.validate_upload(name, data, table="facilities", crs="wgs84", region=data_region, settings=S)
    message = message_zh(caught.value)
    assert_zh_message(message, name, WHY.get(case, ""))
    if case.startswith(("wrong_extension", "no_extension")):
        assert_zh_message(message, "数据文件", ".csv、.xlsx")


def test_data_upload_wrong_encoding_says_encoding(data_region) -> None:
    """A CSV in Shift-JIS: the message says the header looks garbled because of the encoding, and how to fix it."""
    data = "機構編号,名称,類型,経度,緯度\nA1,甲,養老,24.9,60.1\n".encode("shift_jis")
    with pytest.raises(ElderMapError) as caught:
        data_page.validate_upload("设施.csv", data, table="facilities", crs="wgs84", region=data_region, settings=S)
    assert_zh_message(message_zh(caught.value), "设施.csv", "编码", "CSV UTF-8")


@pytest.mark.parametrize(("case", "override", "field", "why"), [
    pytest.param("kind-unknown", {"类型": ["养老宫殿", "助餐点"]}, "类型", "养老宫殿", id="kind-unknown"),
    pytest.param("beds-negative", {"床位总数": [-5, 0]}, "床位总数", "不能为负数", id="beds-negative"),
    pytest.param("lon_lat-zero", {"经度": [0.0, 24.94], "纬度": [0.0, 60.17]}, "经纬度", "占位坐标", id="lon_lat-zero"),
    pytest.param("name-empty", {"名称": ["", "乙站"]}, "名称", "必填", id="name-empty"),
    pytest.param("name-huge", {"名称": ["甲" * 100000, "乙站"]}, "名称", "内容过长", id="name-huge"),
])
def test_data_upload_bad_rows(data_region, case: str, override: dict, field: str, why: str) -> None:
    """A row with a bad value is named by row and field, with what is wrong; the summary counts it."""
    frame = _facilities_csv(data_region, **override)
    checked = data_page.validate_upload("设施.csv", frame.to_csv(index=False).encode("utf-8-sig"), table="facilities",
                                        crs="wgs84", region=data_region, settings=S)
    problems = checked["problems"]
    hit = problems[(problems["字段"].astype(str).str.contains(field)) & (problems["行号"].astype(str) == "2")]
    assert not hit.empty, problems.to_dict("records")
    assert why in " ".join(hit["问题"].astype(str)) + " ".join(hit["值"].astype(str))
    assert_zh_message(checked["summary"], "设施.csv", "读取 2 行")


@pytest.mark.parametrize("name", [pytest.param(HTML_NAME, id="name-html"), pytest.param(FORMULA, id="name-formula"),
                                  pytest.param(MARKDOWN, id="name-markdown")])
def test_data_upload_names_reach_the_report_as_text(data_region, name: str) -> None:
    """Names with markup or a formula: the validation report and the rejected rows (the page's downloads)
    hold them as text, never as a formula."""
    frame = _facilities_csv(data_region, 名称=[name, "乙站"], 床位总数=[-1, 0])  # the name's row is rejected
    checked = data_page.validate_upload("设施.csv", frame.to_csv(index=False).encode(), table="facilities",
                                        crs="wgs84", region=data_region, settings=S)
    assert checked["report_bytes"][:2] == b"PK" and checked["rejects_bytes"][:2] == b"PK"
    for data in (checked["report_bytes"], checked["rejects_bytes"]):
        assert not [c for c in formula_cells(data) if "HYPERLINK" in c or "198.51" in c]
    assert name in workbook_text(checked["rejects_bytes"]).replace("'=", "=")  # it is there, as text


@pytest.fixture(scope="module")
def staff_env(tmp_path_factory, demo_region) -> dict[str, str]:
    """A demo copy with a street named with a formula, and an admin account."""
    base = tmp_path_factory.mktemp("mistakes_staff")
    root = _demo_copy(demo_region, base / "regions", street_name=FORMULA)
    return {"ELDERMAP_REGIONS": str(root), "ELDERMAP_USERS": str(_users(base / "users.toml"))}


def _staff_app(env: dict[str, str], patch: pytest.MonkeyPatch, title: str) -> AppTest:
    from conftest import login

    _apply(patch, env)
    at = open_app()
    login(at, ADMIN, ADMIN_PASSWORD)
    return switch_page(at, title)


@pytest.fixture(scope="module")
def data_app(staff_env, module_env) -> AppTest:
    return _staff_app(staff_env, module_env, "数据管理")


@pytest.fixture()
def data_at(data_app: AppTest, staff_env, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    _apply(monkeypatch, staff_env)
    return data_app


@pytest.fixture()
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Every download a page offers in this test: file name -> data (bytes or the deferred callable)."""
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    seen: dict[str, object] = {}
    real_method, real_st = DeltaGenerator.download_button, st.download_button

    def method(self, label, data, file_name=None, *args, **kwargs):
        seen[str(file_name or label)] = data
        return real_method(self, label, data, file_name, *args, **kwargs)

    def function(label, data, file_name=None, *args, **kwargs):
        seen[str(file_name or label)] = data
        return real_st(label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", method)
    monkeypatch.setattr(st, "download_button", function)
    return seen


def _bytes(data: object) -> bytes:
    return data() if callable(data) else data  # type: ignore[return-value]


@pytest.mark.parametrize(("name", "why"), [
    pytest.param("设施.txt", "只接受", id="file-wrong_extension_txt"),
    pytest.param("设施.shp", "Shapefile", id="file-wrong_extension_shp_alone"),
    pytest.param("设施.docx", "Word 文档不能导入", id="file-wrong_extension_docx"),
])
def test_data_page_wrong_extension(data_at: AppTest, name: str, why: str) -> None:
    """选择数据文件 with a file of another format: the page names the field, the file and the formats it
    takes (Streamlit's own refusal would be English); nothing is validated."""
    at = data_at
    at.file_uploader(key="data_upload").set_value((name, b"a,b\n1,2\n", "application/octet-stream"))
    run(at)
    assert_sound(at)
    told(at, "数据文件", name, why, ".csv、.xlsx", kinds=("error",))
    assert not [b for b in at.button if b.key == "data_validate"]


def test_data_page_missing_file(data_at: AppTest) -> None:
    """No file chosen: no 校验 button, and the page says which formats it takes."""
    at = data_at
    at.file_uploader(key="data_upload").set_value(None)
    run(at)
    assert_sound(at)
    assert not [b for b in at.button if b.key == "data_validate"]
    assert any("支持 CSV" in str(c.value) for c in at.caption)


@pytest.mark.parametrize(("name", "data", "why"), [
    pytest.param("坏表.xlsx", bytes(range(256)) * 4, "不是有效的 .xlsx 文件", id="file-corrupt_xlsx"),
    pytest.param("空表.csv", b"", "空的", id="file-empty"),
    pytest.param("表头.csv", "机构编号,名称,类型,经度,纬度\n".encode(), "只有表头", id="file-header_only"),
])
def test_data_page_unreadable_file(data_at: AppTest, name: str, data: bytes, why: str) -> None:
    """校验 of a file that cannot be read: our message in Chinese naming the file, without the library's
    English; no report or import offered."""
    at = data_at
    at.file_uploader(key="data_upload").set_value((name, data, "application/octet-stream"))
    run(at)
    next(b for b in at.button if b.key == "data_validate").click()
    run(at)
    assert_sound(at)
    message = told(at, name, why, kinds=("error",))
    assert "zip" not in message.lower()
    assert not [b for b in at.button if b.key == "data_import"]


def test_data_page_formula_names_report_download(data_at: AppTest, data_region, downloads) -> None:
    """Names with a formula and markup through the page: the problems table shows them as values, the
    report offered for download holds no formula."""
    at = data_at
    frame = _facilities_csv(data_region, 名称=[FORMULA, HTML_NAME], 床位总数=[-1, -2])
    at.file_uploader(key="data_upload").set_value(("设施.csv", frame.to_csv(index=False).encode(), "text/csv"))
    run(at)
    next(b for b in at.button if b.key == "data_validate").click()
    run(at)
    assert_sound(at)
    told(at, "设施.csv", "读取 2 行", kinds=("warning", "success", "error"))
    offered = {k: _bytes(v) for k, v in downloads.items() if k.endswith(".xlsx")}
    assert len(offered) == 2, list(offered)  # the report and the rejected rows the summary mentions
    assert any("HYPERLINK" in workbook_text(data) for data in offered.values())
    for data in offered.values():
        assert not [c for c in formula_cells(data) if "HYPERLINK" in c]


@pytest.mark.parametrize("case", ["wrong_extension_shp_alone", "wrong_extension_txt", "corrupt_geojson", "empty",
                                  "no_crs_unknown_name"])
def test_data_service_areas_bad_files(data_region, case: str) -> None:
    """服务区域文件 (:func:`views.data_page.read_service_area_upload`): each bad file, our error in Chinese
    naming the file."""
    import geopandas as gpd
    from shapely.geometry import box

    unknown = gpd.GeoDataFrame({"名称": [HTML_NAME]}, geometry=[box(24.9, 60.1, 24.95, 60.2)], crs="EPSG:4326")
    files = {
        "wrong_extension_shp_alone": ("服务区域.shp", b"\x00\x00'\n" + bytes(96), "Shapefile"),
        "wrong_extension_txt": ("服务区域.txt", b"{}", "服务区域文件"),
        "corrupt_geojson": ("服务区域.geojson", b"{\"type\": \"Feat", ""),
        "empty": ("服务区域.geojson", b"", ""),
        "no_crs_unknown_name": ("服务区域.geojson", unknown.to_json().encode(), ""),
    }
    name, data, why = files[case]
    with pytest.raises(ElderMapError) as caught:
        data_page.read_service_area_upload(name, data, data_region, S)
    assert_zh_message(message_zh(caught.value), name, why)


def test_data_page_import_that_replaces_a_layer_says_so(tmp_path: Path, demo_region,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing 2 facilities into a region that has 3 replaces the layer: the page says 原有 3 条 → 现在 2 条."""
    from conftest import login

    root = _demo_copy(demo_region, tmp_path / "regions", keep_facilities=3)
    monkeypatch.setenv("ELDERMAP_REGIONS", str(root))
    monkeypatch.setenv("ELDERMAP_USERS", str(_users(tmp_path / "users.toml")))
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "0")
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    assert len(store.load_region("demo", root=root).facilities) == 3
    fac = demo_region.facilities.head(2)
    frame = pd.DataFrame({"机构编号": ["F001", "F002"], "名称": ["第一站", "第二站"], "类型": ["养老服务站", "助餐点"],
                          "经度": fac.geometry.x.round(6).to_list(), "纬度": fac.geometry.y.round(6).to_list()})
    at = open_app()
    login(at, ADMIN, ADMIN_PASSWORD)
    switch_page(at, "数据管理")
    at.file_uploader(key="data_upload").set_value(("两处设施.csv", frame.to_csv(index=False).encode(), "text/csv"))
    run(at)
    next(b for b in at.button if b.key == "data_validate").click()
    run(at)
    next(c for c in at.checkbox if c.key == "data_confirm").check()
    run(at)
    next(b for b in at.button if b.key == "data_import").click()
    run(at)
    assert_sound(at)
    assert len(store.load_region("demo", root=root).facilities) == 2
    shown = as_read(shown_text(at))
    assert "设施图层已整体替换为本次文件的内容：原有 3 条 → 现在 2 条" in shown, shown[-2000:]


# ---------------------------------------------------------------- 统计报表 (reports)


@pytest.fixture(scope="module")
def reports_app(staff_env, module_env) -> AppTest:
    return _staff_app(staff_env, module_env, "统计报表")


@pytest.fixture()
def reports_at(reports_app: AppTest, staff_env, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    _apply(monkeypatch, staff_env)
    return reports_app


def test_reports_date_bounds(reports_at: AppTest) -> None:
    """统计日期 is bounded: not before 2000, not after the end of this year."""
    import datetime as dt

    widget = reports_at.date_input(key="rep_day")
    assert widget.min == dt.date(2000, 1, 1) and widget.max == dt.date(dt.date.today().year, 12, 31)
    assert_sound(reports_at)


def test_reports_formula_area_name_is_text_and_no_formula_downloads(reports_at: AppTest, downloads) -> None:
    """A street named with a formula: shown as a value; the Excel report holds it as text, not a formula."""
    at = reports_at
    at.radio(key="rep_by").set_value("street")
    run(at)
    assert_sound(at)
    annex = next(df.value for df in at.dataframe if "所辖社区数(个)" in df.value.columns)
    assert FORMULA in annex["名称"].astype(str).tolist()
    assert not any(FORMULA in str(m.value) for m in at.markdown)
    button(at, "生成报表文件").click()
    run(at)
    assert_sound(at)
    xlsx = next(v for k, v in downloads.items() if k.endswith(".xlsx"))
    data = _bytes(xlsx)
    assert "HYPERLINK" in workbook_text(data)
    assert not [c for c in formula_cells(data) if "HYPERLINK" in c or "198.51" in c]


# ---------------------------------------------------------------- login (views.access)


@pytest.fixture(scope="module")
def login_app(login_env: dict[str, str], module_env) -> AppTest:
    """The public page with the login box, on :func:`login_env` (nobody logs in: every attempt fails)."""
    _apply(module_env, login_env)
    return open_app()


@pytest.fixture(scope="module")
def login_env(tmp_path_factory) -> dict[str, str]:
    """A small region and an admin account of its own (failed logins are counted in this root)."""
    from conftest import SMALL_MANIFEST, small_region_layers

    base = tmp_path_factory.mktemp("mistakes_login")
    root = base / "regions"
    store.save_region("demo", small_region_layers(), SMALL_MANIFEST, root=root)
    return {"ELDERMAP_REGIONS": str(root), "ELDERMAP_USERS": str(_users(base / "users.toml"))}


@pytest.mark.parametrize(("name", "password", "why"), [
    pytest.param("", "", "请填写用户名和密码", id="name_password-empty"),
    pytest.param(ADMIN, "", "请填写密码", id="password-empty"),
    pytest.param("", ADMIN_PASSWORD, "请填写用户名", id="name-empty"),
    pytest.param(HTML_NAME, "x", "用户名或密码不正确", id="name-html"),
    pytest.param(FORMULA, "x", "用户名或密码不正确", id="name-formula"),
    pytest.param("不存在的账号", "x", "用户名或密码不正确", id="name-unknown"),
])
def test_login_form(login_app: AppTest, login_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, name: str,
                    password: str, why: str) -> None:
    """登录 with an empty field, an unknown name or a name with markup: a Chinese message naming the fields;
    an empty field is not counted as a failed attempt; the name never shows as markup."""
    from conftest import login

    from data import audit

    _apply(monkeypatch, login_env)
    login_root = Path(login_env["ELDERMAP_REGIONS"])
    at = login_app
    before = audit.read(login_root)
    login(at, name, password)
    assert_sound(at)
    told(at, why, kinds=("error",))
    assert "auth_user" not in at.session_state
    rendered = " ".join(str(el.value) for kind in ("markdown", "caption", "error") for el in getattr(at.sidebar, kind))
    assert not (name and name in rendered and name != ADMIN)
    after = audit.read(login_root)
    failed = after.iloc[len(before):]
    if why.startswith("请填写"):
        assert "login_failed" not in set(failed.get("action", pd.Series(dtype=str)))
    else:
        assert "login_failed" in set(failed["action"])
