"""Text from the data shown in pages: the one Markdown escape every page uses.

Streamlit renders Markdown in ``st.markdown``, ``st.write``, captions, headings, alerts, ``st.status``
and expander labels, widget labels (checkbox, radio, button) and ``st.table`` cells, so a facility name
like ``![x](http://host/y.png)`` would become an outside request from every visitor, and a bare
``http://…`` or ``www.…`` a live link. Data text goes into those elements only through
:func:`md_escape` (error messages, which name files and values, with ``keep_lines=True``), tables for
``st.table`` through :func:`plain_table`; otherwise into plain-text elements (``st.text``, ``st.code``,
``st.dataframe`` without link or image columns). (HTML in map popups and tooltips is escaped by
:func:`layers.basemap.escape_text`.)
"""

from __future__ import annotations

import html
import re

import pandas as pd

# Characters with a meaning in Markdown or in Streamlit's extensions ($ formulas, :colour[...] directives,
# :emoji: and :material/...: short codes, ~ strike-through) are backslash-escaped (CommonMark allows it for
# any ASCII punctuation). "<", ">", "&" and quotes become HTML entities instead (html.escape), which
# Markdown shows as the characters themselves: no tag, no autolink "<http://…>".
_MD_ESCAPES = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|~$:=^"})
# Escapes are not enough everywhere: remark-gfm (which Streamlit's Markdown uses) finds "http://…",
# "www.…" and "name@host.tld" in the text *after* escapes are resolved, and links them only when the
# character before is a space, punctuation or the start; Streamlit turns ":material/x:" in the source
# (escaped colons or not) and ":smile:" short codes in the text into icons. An invisible WORD JOINER
# (U+2060) before each URL start and "@", and after the first ":" of a short code, keeps the text as it
# reads and no link or icon is made.
WORD_JOINER = "\u2060"
_INERT_AT = re.compile(r"(?i)(?=https?:|www\.|@)|(?<=:)(?=[\w+-]+:|material/)")


def md_escape(value: object, *, keep_lines: bool = False) -> str:
    """Text from the data (facility names, addresses, place names) made inert for ``st.markdown``.

    Whitespace runs (newlines included) become one space, so a value cannot start a new Markdown
    block; Markdown punctuation is backslash-escaped and ``< > & " '`` become HTML entities, so
    ``<img src=x onerror=alert(1)>`` is shown as those characters, never as a tag, link, image or
    formula; ``http://host/x``, ``www.host`` or ``a@host.org`` never as a link and ``:smile:`` never
    as an icon (an invisible word joiner, U+2060, breaks each: see :data:`WORD_JOINER`). ``None``
    becomes "".

    With ``keep_lines=True`` (messages of several lines, such as our errors, which name files and
    values from them) each line is escaped alone and the lines are joined by Markdown hard breaks.
    """
    if value is None:
        return ""
    if keep_lines:
        lines = (md_escape(line) for line in str(value).splitlines())
        return "  \n".join(line for line in lines if line)
    text = _INERT_AT.sub(WORD_JOINER, " ".join(str(value).split()))
    return html.escape(text.translate(_MD_ESCAPES), quote=True)


# A parenthesised detail with no Chinese in it and at least three English words: a library's own message
# (GDAL, openpyxl, pyarrow) that our readers quote after the Chinese one. Staff cannot act on it, and it
# may carry server paths; the logs keep it (``ElderMapError.en``).
_ENGLISH_DETAIL = re.compile(r"[（(](?P<body>[^（）()]*)[）)]")
_CJK = re.compile(r"[\u3400-\u9fff]")
_ENGLISH_WORDS = re.compile(r"[A-Za-z]{2,}(?:[^A-Za-z\u3400-\u9fff]+[A-Za-z]{2,}){2,}")


def message_zh(value: object) -> str:
    """An error message for a page: parenthesised details in English (a library's own words, quoted
    after our Chinese message) left out, and server paths cut down to file names
    (:func:`views.context.hide_paths`). Escape the result with :func:`md_escape` like any other text."""
    from views.context import hide_paths  # views.context imports this module

    def keep(match: re.Match[str]) -> str:
        body = match.group("body")
        return match.group(0) if _CJK.search(body) or not _ENGLISH_WORDS.search(body) else ""

    return hide_paths(_ENGLISH_DETAIL.sub(keep, str(value)))


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


__all__ = ["WORD_JOINER", "md_escape", "message_zh", "plain_table"]
