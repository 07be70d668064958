"""AppTest entry point: app.py's own ``main()``, opened on the page whose title is in session state
``test_page`` (set by :func:`conftest.switch_page`).

``AppTest.switch_page`` reaches only pages that are files; ours are functions. So, before the app
runs, this script asks Streamlit to switch with ``st.switch_page`` and a page of the same url path —
what a click in the navigation menu does (a page's identity is its url path). The switch reruns the
script at once, so the page left behind is not drawn again.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import streamlit as st  # noqa: E402

import app  # noqa: E402

title = st.session_state.pop("test_page", None)
if title is not None:
    url_paths = {page_title: url_path for _, page_title, url_path, _ in app.PAGES}
    st.switch_page(st.Page(lambda: None, title=title, url_path=url_paths[title]))
app.main()
