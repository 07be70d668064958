"""Large type, large tap targets and Chinese throughout: the look every page shares.

:func:`apply_style` is called once per script run by ``app.main`` (before the page runs). It adds

- :data:`ELDER_CSS`, our own static style sheet: text at least 18 px (``.streamlit/config.toml`` sets
  a 21 px base, so Streamlit's labels, captions, tables and its canvas data grid, drawn at 0.875 of the
  base, come out at 18.4 px; the CSS raises what is drawn smaller still), body text at a contrast of at
  least 7:1 on its background, and every checkbox, radio option, button, input and link in the
  navigation at least 44 px tall (WCAG 2.5.5);
- :data:`LOCALE_JS`, our own static script: it sets ``<html lang="zh-CN">`` and replaces the few English
  words that Streamlit's own widgets carry and Python cannot reach (screen-reader labels such as "Open",
  "Increment" and "Decrement", the file uploader's "Upload" and "200MB per file", "Press Enter to
  apply"), now and whenever Streamlit redraws them;
- the Altair theme of :func:`enable_chart_theme`: chart axes and legends at :data:`CHART_FONT_PX`.

The style sheet and the script are constants of this module: no data, user input or setting ever goes into
them, so ``unsafe_allow_javascript`` runs only our own code. What Python can say itself it says: selectboxes and
multiselects take ``placeholder=PLACEHOLDER_ZH`` (or a more specific Chinese hint) instead of
"Choose an option", and maps draw a metric-only scale (:func:`layers.basemap.new_map`).
"""

from __future__ import annotations

import streamlit as st

PLACEHOLDER_ZH = "请选择"
"""Placeholder for selectboxes and multiselects, instead of Streamlit's "Choose an option"."""

MIN_FONT_PX = 18
"""Smallest text size on any page, in CSS pixels."""

MIN_TARGET_PX = 44
"""Smallest height (and, for icon buttons, width) of anything one taps or clicks, in CSS pixels."""

CAPTION_COLOUR = "#333333"
"""Captions and other secondary text: dark grey, 12.6:1 on white (Streamlit fades them to about 4.9:1)."""

ELDER_CSS = f"""
/* ElderMap: large type and large targets for elders (views/style.py). */
:root {{ --eldermap-min-font: {MIN_FONT_PX}px; --eldermap-target: {MIN_TARGET_PX}px; }}

/* Type: nothing below 18 px. Streamlit's small print is 0.75 of the base (15.75 px); inline code is 0.75em. */
.stApp code, .stApp small, .stApp [data-testid="stTooltipContent"], .stApp [data-testid="stCaptionContainer"] *,
.stApp [data-testid="stFileUploaderDropzoneInstructions"] *, .stApp [data-testid="stWidgetLabel"] *,
.stApp [data-testid="stSidebarNavSeparator"], .stApp [data-testid="stMarkdownContainer"] small,
.stApp [data-testid="stSidebarNavLink"] *, .stApp [data-testid="stTable"] *, .stApp [data-testid="stText"],
.stApp [data-testid="stExpander"] summary *, .stApp [data-testid="stAlertContentInfo"] *,
.stApp [data-testid="stMetricLabel"] *, .stApp [data-testid="stMetricDelta"] *,
.stApp [data-testid="InputInstructions"], .stApp [data-testid="stRadioCaption"] *,
.stApp [data-testid="stImageCaption"], .stApp [data-testid="stDataFrameTooltipContent"] * {{
    font-size: max(var(--eldermap-min-font), 1em);
}}
.stApp input, .stApp textarea {{ font-size: max(var(--eldermap-min-font), 1rem); }}

/* Contrast: captions and placeholders dark grey instead of faded (at least 7:1 on white and on the
   light grey of forms and sidebar). */
.stApp [data-testid="stCaptionContainer"], .stApp [data-testid="stCaptionContainer"] *,
.stApp [data-testid="InputInstructions"], .stApp [data-testid="stRadioCaption"] *,
.stApp [data-testid="stImageCaption"], .stApp [data-testid="stFileUploaderDropzoneInstructions"] * {{
    color: {CAPTION_COLOUR}; opacity: 1;
}}
/* Code blocks (commands for staff): dark text; comments dark grey and italic instead of pale colours
   (!important: Streamlit's highlighter colours carry more specific selectors.) */
.stApp pre .token {{ color: #111111 !important; }}
.stApp pre .token.comment {{ color: {CAPTION_COLOUR} !important; font-style: italic; }}
.stApp input::placeholder, .stApp textarea::placeholder {{ color: #444444; opacity: 1; }}
.stApp [data-testid="stWidgetLabel"], .stApp [data-testid="stWidgetLabel"] * {{ color: #111111; }}

/* Tap targets: at least 44 px. */
.stApp [data-testid="stCheckbox"] label, .stApp [data-testid="stRadioOption"],
.stApp [data-testid="stToggle"] label {{
    min-height: var(--eldermap-target); display: flex; align-items: center;
}}
.stApp [data-testid="stRadioGroup"] {{ row-gap: 0; }}
.stApp button {{ min-height: var(--eldermap-target); min-width: var(--eldermap-target); }}
.stApp input:not([type="checkbox"]):not([type="radio"]):not([type="range"]):not([type="file"]) {{
    min-height: var(--eldermap-target);
}}
/* The date input's calendar pops up outside .stApp; its days are role="button" elements. */
[data-testid="stDateInputCalendar"] button, [data-testid="stDateInputCalendar"] [role="button"] {{
    min-height: var(--eldermap-target); min-width: var(--eldermap-target);
}}
.stApp [data-testid="stSidebarNavLink"], .stApp [data-testid="stExpander"] summary,
.stApp [role="tab"] {{
    min-height: var(--eldermap-target); display: flex; align-items: center;
}}

/* Little that an elder needs and all in English or too small to tap: the heading anchors that appear on
   hover, and Streamlit's main menu (rerun, settings, print, about). */
.stApp [data-testid="stHeaderActionElements"], .stApp [data-testid="stMainMenu"] {{ display: none; }}

/* The element that carries LOCALE_JS takes no room. */
.stApp [data-testid="stElementContainer"]:has(#eldermap-locale) {{ display: none; }}
"""
"""Our static style sheet (no data is ever formatted into it)."""

ATTRIBUTE_ZH = {
    "Open": "展开选项",
    "Close": "关闭",
    "Increment": "加一档",
    "Decrement": "减一档",
    "Clear all": "全部清除",
    "Clear": "清除",
    "Selected values": "已选项",
    "Show password": "显示密码",
    "Hide password": "隐藏密码",
    "Collapse sidebar": "收起侧栏",
    "Expand sidebar": "展开侧栏",
    "Open sidebar": "展开侧栏",
    "Main menu": "主菜单",
    "App pages": "页面导航",
    "Sidebar": "侧栏",
    "Link to heading": "本标题的链接",
    "Copy to clipboard": "复制",
    "Download as CSV": "下载为 CSV 文件",
    "Search": "搜索",
    "Fullscreen": "全屏",
    "Close fullscreen": "退出全屏",
    "Show/hide columns": "显示或隐藏列",
    "file upload": "上传文件",
    "Choose an option": PLACEHOLDER_ZH,
    "Choose options": PLACEHOLDER_ZH,
    "No options to select": "没有可选项",
    "Delete": "删除",
    "Remove file": "移除文件",
    "Choose date": "选择日期",
    "Show data": "查看数据",
    "Hide data": "隐藏数据",
    "Download as PNG": "下载为 PNG 图片",
    "Download as SVG": "下载为 SVG 图片",
    "Copy Vega-Lite spec": "复制图表定义",
    "Previous month": "上个月",
    "Next month": "下个月",
    "Vega visualization": "图表",
}
"""English labels of Streamlit's widgets (aria-label, title, placeholder) and their Chinese."""

TEXT_ZH = {
    "Upload": "上传文件",
    "Upload directories": "上传文件夹",
    "Browse files": "选择文件",
    "Drag and drop file here": "把文件拖到这里",
    "Drag and drop a file here": "把文件拖到这里",
    "Drag and drop files here": "把文件拖到这里",
    "Skip to main content": "跳到正文",
    "Press Enter to apply": "按回车键确认",
    "Press Enter to submit form": "按回车键提交",
    "Press ⌘+Enter to apply": "按 ⌘+回车键确认",
    "Press Ctrl+Enter to apply": "按 Ctrl+回车键确认",
    "No results": "没有匹配的选项",
    "No options to select": "没有可选项",
    "Running...": "正在计算…",
    "Stop": "停止",
    "Connecting": "正在连接",
    "Use arrow keys to navigate dates. Enter to select. Escape to close.": "用方向键挑选日期，回车键确认，Esc 键关闭。",
}
"""English texts of Streamlit's widgets and their Chinese."""

_JS_RULES = """
  const attrs = %(attrs)s;
  const texts = %(texts)s;
  const patterns = [
    [/^(\\d+(?:\\.\\d+)?)\\s*([KMGT]?B) per file$/, (m) => "每个文件不超过 " + m[1] + " " + m[2]],
    [/^Remove (.+)$/, (m) => "移除 " + m[1]],
    [/^Choose date, (.+)$/, (m) => "选择日期，" + m[1]],
    [/^Selected Date: (.+)$/, (m) => "已选日期：" + m[1]],
    [/^(year|month|day), (.+)$/, (m) => ({year: "年", month: "月", day: "日"})[m[1]] + "，" + m[2]],
  ];
"""


def _locale_js() -> str:
    import json

    rules = _JS_RULES % {"attrs": json.dumps(ATTRIBUTE_ZH, ensure_ascii=False),
                         "texts": json.dumps(TEXT_ZH, ensure_ascii=False)}
    return """<script id="eldermap-locale">
(function () {
  document.documentElement.lang = "zh-CN";
  if (window.__eldermapLocale) return;  // one observer per page, however often Streamlit remounts this
  window.__eldermapLocale = true;
%s
  const NAMES = ["aria-label", "title", "placeholder", "alt"];
  function zh(value, table) {
    const key = value.trim();
    if (Object.prototype.hasOwnProperty.call(table, key)) return value.replace(key, table[key]);
    for (const [re, make] of patterns) {
      const m = key.match(re);
      if (m) return value.replace(key, make(m));
    }
    return null;
  }
  function fixElement(el) {
    for (const name of NAMES) {
      const v = el.getAttribute(name);
      if (v) {
        const t = zh(v, attrs);
        if (t !== null && t !== v) el.setAttribute(name, t);
      }
    }
  }
  function fixText(node) {
    const v = node.nodeValue;
    if (!v || !/[A-Za-z]/.test(v)) return;
    const t = zh(v, texts);
    if (t !== null && t !== v) node.nodeValue = t;
  }
  function fix(node) {
    if (node.nodeType === Node.TEXT_NODE) { fixText(node); return; }
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    fixElement(node);
    for (const el of node.querySelectorAll("[aria-label],[title],[placeholder],[alt]")) fixElement(el);
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) fixText(walker.currentNode);
  }
  function fixAll() {
    if (document.documentElement.lang !== "zh-CN") document.documentElement.lang = "zh-CN";
    fix(document.body);
  }
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "attributes") fixElement(r.target);
      else if (r.type === "characterData") fixText(r.target);
      else for (const n of r.addedNodes) fix(n);
    }
    if (document.documentElement.lang !== "zh-CN") document.documentElement.lang = "zh-CN";
  }).observe(document.documentElement, {subtree: true, childList: true, characterData: true,
                                        attributes: true, attributeFilter: NAMES.concat(["lang"])});
  fixAll();
})();
</script>""" % rules


LOCALE_JS = _locale_js()
"""Our static script: ``lang="zh-CN"`` and Chinese for Streamlit's own English labels (no data in it)."""


CHART_THEME = "eldermap"
"""Name of the Altair theme that :func:`enable_chart_theme` registers."""

CHART_FONT_PX = 19
"""Axis, legend and header text of charts, in CSS pixels (Streamlit's chart theme draws axis labels at
0.75 of the base size, and no theme option reaches them)."""


def enable_chart_theme() -> None:
    """Make every chart (``st.bar_chart`` and the like, which build Altair charts) draw its axis, legend and
    header text at :data:`CHART_FONT_PX` in :data:`CAPTION_COLOUR` (Streamlit's chart theme greys it).

    Registers and enables the Altair theme :data:`CHART_THEME` for the process (Altair's theme registry is
    global). Streamlit keeps an enabled non-default Altair theme and lays its own chart theme beneath the
    chart's config, so only these sizes and colours change.
    """
    import altair as alt

    if alt.theme.active == CHART_THEME:
        return

    @alt.theme.register(CHART_THEME, enable=True)
    def _large_type() -> alt.theme.ThemeConfig:
        text = {"labelFontSize": CHART_FONT_PX, "titleFontSize": CHART_FONT_PX, "labelColor": CAPTION_COLOUR,
                "titleColor": CAPTION_COLOUR}
        # aria: Vega describes charts in generated English ("X-axis titled ... for a linear scale"); our
        # charts repeat tables shown beside them, so screen readers skip them instead.
        return {"config": {"axis": text, "legend": text, "header": text, "title": {"fontSize": CHART_FONT_PX + 2},
                           "aria": False}}


def apply_style() -> None:
    """Add :data:`ELDER_CSS` and :data:`LOCALE_JS` to the page and enable the large-type chart theme; call
    once per script run, before the page.

    The style sheet goes to Streamlit's event container (a style-only ``st.html`` takes no room); the
    script runs in the page itself (``unsafe_allow_javascript``: both are constants of this module).
    """
    st.html(f"<style>{ELDER_CSS}</style>")
    st.html(LOCALE_JS, unsafe_allow_javascript=True)
    enable_chart_theme()


__all__ = ["ATTRIBUTE_ZH", "CHART_FONT_PX", "ELDER_CSS", "LOCALE_JS", "MIN_FONT_PX", "MIN_TARGET_PX", "PLACEHOLDER_ZH",
           "TEXT_ZH", "apply_style", "enable_chart_theme"]
