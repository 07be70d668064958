"""ElderMap 养老服务电子地图 — the Streamlit shell.

Run with ``streamlit run app.py``. Streamlit executes this file as
``__main__`` on every rerun, so the guard at the bottom starts the app there,
while ``import app`` (tests, tools) runs nothing.

The shell only routes: :func:`main` sets up the page, reads the sidebar
(settings, region, login) into one :class:`views.context.AppContext`, and
routes with ``st.navigation`` to five pages. Each page function checks the
role (:mod:`views.access`), requires a region (:mod:`views.context`) and
calls its view:

- 找养老服务 (public, no login): :mod:`views.find`;
- 规划分析 (planners): :mod:`views.planner`;
- 统计报表 (staff): :mod:`views.reports`;
- 数据管理 (staff): :mod:`views.data_page`;
- 调度 (dispatchers): the 12349 desk, :mod:`views.desk_page`.

Elder records never reach the public page; staff pages show elder numbers
only as counts per community, suppressed below
``settings.suppression_threshold``.

Environment: ``ELDERMAP_REGIONS`` (regions folder, default ``./regions``),
``ELDERMAP_SETTINGS`` (settings TOML, default the built-in settings),
``ELDERMAP_USERS`` (users file, default ``./config/users.toml``) and
``ELDERMAP_LOGIN_DELAY_S`` (see :mod:`views.access`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st

from data.store import Region
from views import data_page, desk_page, find, planner, reports
from views.access import PAGE_ROLES, require_role
from views.context import APP_TITLE, AppContext, require_region, sidebar
from views.style import apply_style


def _staff_page(ctx: AppContext, url_path: str, title: str) -> Region | None:
    """The region for a staff page after the role check and the title; None when the page stops there."""
    if not require_role(ctx, PAGE_ROLES[url_path]):
        return None
    st.title(title)
    return require_region(ctx)


def page_find(ctx: AppContext) -> None:
    """找养老服务: search and recommend (public). Reads facilities, areas, roads and buildings only."""
    st.title("找养老服务")
    region = require_region(ctx)
    if region is not None:
        find.render(region, ctx.settings)


def page_planning(ctx: AppContext) -> None:
    """规划分析: coverage, gaps, siting and scenarios."""
    region = _staff_page(ctx, "planning", "规划分析")
    if region is not None:
        planner.render(region, ctx.settings, user=ctx.user_name, role=ctx.role, regions_root=ctx.root)


def page_reports(ctx: AppContext) -> None:
    """统计报表: the official basic-situation table and its files, and counts per community."""
    region = _staff_page(ctx, "reports", "统计报表")
    if region is not None:
        reports.render(region, ctx.settings, user=ctx.user_name, role=ctx.role, regions_root=ctx.root)


def page_data(ctx: AppContext) -> None:
    """数据管理: the region's manifest, uploads and imports, the audit log (admins), the import commands."""
    if not require_role(ctx, PAGE_ROLES["data"]):
        return
    st.title("数据管理")
    data_page.render(require_region(ctx), ctx.settings, settings_source=ctx.settings_source, user=ctx.user_name,
                     role=ctx.role, regions_root=ctx.root)


def page_dispatch(ctx: AppContext) -> None:
    """调度: the 12349 desk — take calls, dispatch, track, follow up, ratings, settlement, carers' routes."""
    region = _staff_page(ctx, "dispatch", "调度")
    if region is not None:
        desk_page.render(region, ctx.settings, user=ctx.user_name, role=ctx.role, regions_root=ctx.root)


# (page function, title, url path, icon); the first page is the default.
PAGES: tuple[tuple[Callable[[AppContext], None], str, str, str], ...] = (
    (page_find, "找养老服务", "find", ":material/map:"),
    (page_planning, "规划分析", "planning", ":material/insights:"),
    (page_reports, "统计报表", "reports", ":material/table_chart:"),
    (page_data, "数据管理", "data", ":material/database:"),
    (page_dispatch, "调度", "dispatch", ":material/support_agent:"),
)


def pin_address_lookups() -> None:
    """Keep Streamlit from asking outside hosts for this machine's addresses.

    Streamlit finds its external IP at checkip.amazonaws.com, and its LAN address with a UDP socket
    "connected" to 8.8.8.8, when it prints its URLs at start (prevented by the explicit
    ``server.address`` in .streamlit/config.toml) and whenever a WebSocket arrives from another origin
    (its CORS allow-list, ``streamlit.web.server.server_util.is_url_from_allowed_origins``). An intranet
    server makes no outside request, so both answers are pinned to loopback, which that allow-list
    accepts already: no origin is allowed that was not before. Streamlit caches the two addresses in
    module globals of ``streamlit.net_util``; this fills them from the first page run of the process on.
    """
    from streamlit import net_util

    for name in ("_external_ip", "_internal_ip"):
        if getattr(net_util, name, "") is None:
            setattr(net_util, name, "127.0.0.1")


def main() -> None:
    """Build the sidebar and route to the chosen page."""
    pin_address_lookups()
    # An emoji favicon becomes a data: URL; a ":material/...:" one would be fetched from a public font CDN.
    st.set_page_config(page_title=APP_TITLE, page_icon="🧓", layout="wide")
    apply_style()  # large type and targets, Chinese labels: once per run, before any page
    ctx = sidebar()
    if ctx is None:
        st.stop()
    pages = [
        st.Page(functools.partial(fn, ctx), title=title, url_path=url_path, icon=icon, default=(i == 0))
        for i, (fn, title, url_path, icon) in enumerate(PAGES)
    ]
    st.navigation(pages).run()


if __name__ == "__main__":
    main()
