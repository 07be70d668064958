"""Pages and the page shell, called by app.py's router.

- ``find`` — the public page 找养老服务 (facilities, areas, roads and buildings only — never elder records);
- ``planner``, ``reports``, ``data_page`` — the staff pages 规划分析, 统计报表, 数据管理;
- ``context`` — what every page shares: settings, the chosen region (loaded once per version), the base map;
- ``access`` — login, roles, OIDC and the login throttle;
- ``text`` — the one way data text reaches Markdown (:func:`views.text.md_escape`);
- ``maps`` — showing a folium map with Leaflet served by the app;
- ``report_export`` — the official report's files, shared with ``eldermap report`` (no streamlit).

Pages read widgets, call ``planning``/``data``, and hand results to ``layers``. They get the region,
the settings and the user as arguments, never from module-level state.
"""
