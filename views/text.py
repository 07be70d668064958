"""Text from the data shown in pages: the one Markdown escape every page uses.

Streamlit renders Markdown in ``st.markdown``, ``st.write``, captions, headings and alerts, so a
facility name like ``![x](http://host/y.png)`` would become an outside request from every visitor.
Data text goes into those elements only through :func:`md_escape`, or into plain-text widgets and
tables. (HTML in map popups and tooltips is escaped by :func:`layers.basemap.escape_text`.)
"""

from __future__ import annotations

import html

import pandas as pd

# Characters with a meaning in Markdown or in Streamlit's extensions ($ formulas, :colour[...] directives,
# ~ strike-through) are backslash-escaped (CommonMark allows it for any ASCII punctuation); "<", ">", "&" and
# quotes become HTML entities instead (html.escape), which Markdown shows as the characters themselves.
_MD_ESCAPES = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|~$:=^"})


def md_escape(value: object) -> str:
    """Text from the data (facility names, addresses, place names) made inert for ``st.markdown``.

    Whitespace runs (newlines included) become one space, so a value cannot start a new Markdown
    block; Markdown punctuation is backslash-escaped and ``< > & " '`` become HTML entities, so
    ``<img src=x onerror=alert(1)>`` is shown as those characters, never as a tag, link or formula.
    ``None`` becomes "".
    """
    if value is None:
        return ""
    text = " ".join(str(value).split())
    return html.escape(text.translate(_MD_ESCAPES), quote=True)


def plain_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` safe for ``st.table`` (which renders Markdown in its cells): every text cell and
    every column name through :func:`md_escape`; numbers, booleans and missing values unchanged."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            out[column] = [md_escape(v) if isinstance(v, str) else v for v in values.astype(object)]
    out.columns = [md_escape(c) if isinstance(c, str) else c for c in out.columns]
    return out


__all__ = ["md_escape", "plain_table"]
