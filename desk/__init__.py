"""The service desk (服务调度): the live order log, dispatch ranking, provider ratings and subsidy settlement.

The 12349 flow of seed 004 — 服务确认 → 企业派单 → 服务跟踪 → 服务评价 → 质量回访 → 费用结算 — as functions of a
region and the settings, so the app, the CLI and the API call the same code:

- :mod:`desk.orders_db` — the order log in the region's store (an append-only event table and a current-state
  table; SQLite beside a folder region, tables of the ``eldermap`` schema in PostGIS);
- :mod:`desk.dispatch` — eligible providers and carers of an order, ranked by drive time, rating and load;
- :mod:`desk.ratings` — providers' ratings from follow-ups, punctuality and complaints (重点推荐、末位淘汰);
- :mod:`desk.settlement` — the monthly subsidy settlement per provider, as a workbook.
"""
