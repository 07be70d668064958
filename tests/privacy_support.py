"""Whether any elder's pseudonym appears in a page or a response, in one scan of the text.

A substring search per pseudonym over a page with maps or a response with every isochrone takes tens of seconds
for the demo's 7,293 elders. Pseudonyms are "P" + 20 lower-case hex characters (:func:`data.ids.pseudonymise`), so
every place one occurs in a text is a match of :data:`PSEUDONYM` (no "P" inside one: matches cannot overlap), and
the set of matches answers for all of them at once; other ids are searched one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PSEUDONYM = re.compile(r"P[0-9a-f]{20}")


def pids_found(text: str, pids: Iterable[object]) -> list[str]:
    """The ids of ``pids`` that occur anywhere in ``text``."""
    pids = [str(p) for p in pids]
    matches = set(PSEUDONYM.findall(text))
    return [p for p in pids if (p in matches if PSEUDONYM.fullmatch(p) else p in text)]
