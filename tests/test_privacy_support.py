"""The one-scan pseudonym search of tests/privacy_support.py finds what a substring search per id finds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from privacy_support import pids_found

HEX = "0123456789abcdef"
pid = st.text(HEX, min_size=20, max_size=20).map(lambda h: "P" + h)
filler = st.text("P0123456789abcdefxyz_\"{}:, \n", max_size=30)


@given(pids=st.lists(pid, min_size=1, max_size=6, unique=True), others=st.lists(st.text("ABC_-123", min_size=1,
                                                                                         max_size=8), max_size=3),
       pieces=st.lists(st.tuples(filler, st.integers(0, 8)), max_size=8))
@settings(max_examples=300, deadline=None)
def test_the_scan_equals_a_substring_search_per_id(pids: list[str], others: list[str],
                                                   pieces: list[tuple[str, int]]) -> None:
    ids = pids + others
    text = "".join(f + (ids[k % len(ids)] if k < len(ids) else "") for f, k in pieces)
    assert pids_found(text, ids) == [p for p in ids if p in text]


def test_by_hand() -> None:
    a, b = "P" + "0" * 20, "P" + "a1" * 10
    assert pids_found(f'{{"x": "{a}f", "y": "PP{b}"}}', [a, b, "P_extra_1"]) == [a, b]
    assert pids_found("P" + "0" * 19, [a]) == [] and pids_found("x P_extra_1 y", ["P_extra_1"]) == ["P_extra_1"]
