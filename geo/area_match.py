"""Matching the area a staff file names — a name or a code, at any level — to the region's areas.

Staff registers carry columns such as 所属区县, 所属街道, 所属社区 holding what the clerk typed:
"东风街道", "东风街道办事处", "东风", "410105001", "４１０１０５００１" (full-width digits), or
"幸福社区" where two streets each have a 幸福社区. :class:`AreaIndex` resolves such a value at a
level (district, street, community), optionally within a known parent area, to one code — or to a
reason in Chinese why it could not (未匹配, 多个同名 with the codes).

Rules
-----
- **Codes**: a value of digits only (after full-width → half-width and removing spaces) is a code.
  It must have the level's length (6/9/12 digits). A known code is used; an unknown but well-formed
  code is still used, and the match says so (:attr:`AreaMatch.note`). A code outside the known
  parent area does not match.
- **Names**, tried in three tiers, each restricted to the parent area when one is given: the exact
  name (outer spaces stripped); then the normalised name (:func:`normalise_area_name`); then the
  *loose keys* (:func:`name_keys`: the name with one suffix stripped even where what remains itself
  ends in a suffix, so that "新村社区" meets "新村居委会" and "张庄村村委会" meets "张庄村"). The
  first tier with candidates decides: one candidate is a match, several are ambiguous (多个同名,
  listing the codes) — names of communities repeat across streets, and the parent area resolves them.

Lives in ``geo`` (no ``data`` import): the full-width folding is done here. Nothing here mutates
its input frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from geo.areas import CODE_LENGTH, LEVEL_OF_LENGTH, level_of

LEVELS: tuple[str, ...] = ("district", "street", "community")
"""Area levels, coarse to fine."""
LEVEL_SHORT_ZH: dict[str, str] = {"district": "区县", "street": "街道", "community": "社区"}
"""Short level names for messages ("所属街道", "多个同名社区")."""
AREA_SUFFIXES: tuple[str, ...] = ("街道办事处", "社区居委会", "居委会", "村委会", "街道", "社区", "镇", "乡", "村")
"""Suffixes of area names that staff may write or leave out, longest first."""

_FULLWIDTH = {0x3000: 0x20, **{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}}


def _basic(text: object) -> str:
    """Half-width (U+FF01–FF5E and the ideographic space U+3000), all whitespace removed."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    return "".join(str(text).translate(_FULLWIDTH).split())


def _strip_once(text: str) -> str:
    """``text`` without its longest area suffix, when something is left (no other check)."""
    for suffix in AREA_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def normalise_area_name(text: object) -> str:
    """The key an area name is compared by: half-width, no whitespace, at most one suffix stripped.

    Full-width characters become half-width, all whitespace (the ideographic space U+3000 included)
    is removed, and the longest of :data:`AREA_SUFFIXES` (街道办事处, 社区居委会, 居委会, 村委会, 街道,
    社区, 镇, 乡, 村) is stripped once — never down to an empty string, and not when what remains itself
    ends in a suffix ("新村社区" stays whole: "新村" may be the name itself). That last rule makes the
    function idempotent (``normalise_area_name(normalise_area_name(x)) == normalise_area_name(x)``);
    the matcher's third tier (:func:`name_keys`) covers the names it leaves whole.

    Examples
    --------
    "东风街道", "东风街道办事处", " 东风 ", "东风镇" → "东风"; "幸福社区居委会", "幸福居委会" → "幸福".
    """
    text = _basic(text)
    stripped = _strip_once(text)
    if stripped != text and not stripped.endswith(AREA_SUFFIXES):
        return stripped
    return text


def name_keys(text: object) -> frozenset[str]:
    """The keys of a name for the loose tier: its half-width form and that form with one suffix
    stripped (even when what remains ends in a suffix, e.g. "新村社区" → "新村")."""
    text = _basic(text)
    return frozenset({text, _strip_once(text)}) if text else frozenset()


def parse_area_code(text: object) -> str | None:
    """The digits of a value that is a code (only digits once half-width and without spaces), else None."""
    text = _basic(text)
    return text if text and text.isascii() and text.isdigit() else None


@dataclass(frozen=True)
class AreaMatch:
    """What a value written by staff resolved to.

    Attributes
    ----------
    value
        The value as written.
    level
        The level it was resolved at.
    code
        The area code, or None when it did not resolve.
    how
        "code" (the value is a code), "exact" (exact name), "normalised" (normalised or loose name),
        "" when unresolved.
    note
        Chinese: why it did not resolve (未匹配…, 多个同名…, 代码位数不对…), or a remark on a usable
        code (代码不在区划数据中). "" when clean.
    candidates
        The codes of an ambiguous name (several areas of that name).
    """

    value: str
    level: str
    code: str | None = None
    how: str = ""
    note: str = ""
    candidates: tuple[str, ...] = field(default=())

    @property
    def matched(self) -> bool:
        return self.code is not None

    @property
    def ambiguous(self) -> bool:
        return self.code is None and len(self.candidates) > 1


class AreaIndex:
    """The areas of a region (codes, names, levels, parents) for resolving staff-written values.

    Parameters
    ----------
    areas
        A frame with ``code`` and ``name``, and optionally ``level`` (else guessed from the code
        length) and ``parent_code`` (else the first 6/9 digits of the code). Geometry is not needed.
    """

    def __init__(self, areas: pd.DataFrame | None) -> None:
        self._name: dict[str, str] = {}
        self._level: dict[str, str] = {}
        self._parent: dict[str, str] = {}
        self._by_level: dict[str, list[str]] = {level: [] for level in LEVELS}
        self._exact: dict[str, dict[str, list[str]]] = {level: {} for level in LEVELS}
        self._norm: dict[str, dict[str, list[str]]] = {level: {} for level in LEVELS}
        self._loose: dict[str, dict[str, list[str]]] = {level: {} for level in LEVELS}
        self._cache: dict[tuple[str, str, str | None], AreaMatch] = {}
        self._lineage: dict[str, dict[str, str]] = {}
        if areas is None or areas.empty or "code" not in areas:
            return
        levels = level_of(areas).to_numpy()
        names = areas["name"].astype(object).to_numpy() if "name" in areas else [None] * len(areas)
        parents = areas["parent_code"].astype(object).to_numpy() if "parent_code" in areas else [None] * len(areas)
        for code, name, level, parent in zip(areas["code"].astype(str), names, levels, parents, strict=True):
            if level not in self._by_level or code in self._level:
                continue
            self._level[code] = level
            self._by_level[level].append(code)
            if parent is not None and not pd.isna(parent) and str(parent):
                self._parent[code] = str(parent)
            if name is None or pd.isna(name) or not str(name).strip():
                continue
            self._name[code] = str(name)
            self._exact[level].setdefault(str(name).strip(), []).append(code)
            self._norm[level].setdefault(normalise_area_name(name), []).append(code)
            for key in name_keys(name):
                self._loose[level].setdefault(key, []).append(code)

    # ------------------------------------------------------------ lookups

    def codes(self, level: str) -> list[str]:
        """Codes of the known areas of a level, in the frame's order."""
        return list(self._by_level.get(level, []))

    def knows(self, code: str) -> bool:
        return code in self._level

    def name(self, code: str) -> str:
        """The area's name ("" when unknown or unnamed)."""
        return self._name.get(code, "")

    def level(self, code: str) -> str | None:
        """The area's level: from the areas frame, else from the code length."""
        return self._level.get(code) or LEVEL_OF_LENGTH.get(len(code))

    def label(self, code: str) -> str:
        """"410105001（东风街道）", or the code alone when it has no name."""
        name = self.name(code)
        return f"{code}（{name}）" if name else code

    def ancestor(self, code: str, level: str) -> str | None:
        """The area at ``level`` that ``code`` lies in (``code`` itself at its own level): up the
        ``parent_code`` chain, else the first 6/9 digits. None when ``level`` is finer than the code's."""
        own = self.level(code)
        if own == level:
            return code
        if own not in LEVELS or LEVELS.index(level) > LEVELS.index(own):
            return None
        seen: set[str] = set()
        current = self._parent.get(code)
        while current and current not in seen:
            if self.level(current) == level:
                return current
            seen.add(current)
            current = self._parent.get(current)
        return code[: CODE_LENGTH[level]] if len(code) > CODE_LENGTH[level] else None

    def lineage(self, code: str) -> dict[str, str]:
        """Level -> code of the area and all its ancestors (a new dict)."""
        if code not in self._lineage:
            found = {level: self.ancestor(code, level) for level in LEVELS}
            self._lineage[code] = {level: c for level, c in found.items() if c}
        return dict(self._lineage[code])

    def contains(self, outer: str, code: str) -> bool:
        """Whether area ``code`` lies in area ``outer`` (or is it)."""
        level = self.level(outer)
        return level is not None and self.ancestor(code, level) == outer

    # ------------------------------------------------------------ resolving

    def resolve(self, value: object, level: str, *, within: str | None = None) -> AreaMatch:
        """Resolve a value written by staff (a name or a code) at ``level``.

        Parameters
        ----------
        value
            What the file holds: "东风街道", "东风", "410105001", "４１０１０５００１".
        level
            "district", "street" or "community".
        within
            Code of a known coarser area (the district or street the record belongs to): only areas
            inside it are considered. None: the whole region.

        Returns
        -------
        AreaMatch
            The code, or the reason in Chinese (未匹配…, 多个同名… with the codes).
        """
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
        key = (text, level, within)
        if key not in self._cache:
            self._cache[key] = self._resolve(text, level, within)
        return self._cache[key]

    def _resolve(self, text: str, level: str, within: str | None) -> AreaMatch:
        zh = LEVEL_SHORT_ZH[level]
        if not _basic(text):
            return AreaMatch(text, level, note="未填写")
        code = parse_area_code(text)
        if code is not None:
            return self._resolve_code(text, code, level, within)
        pool = self._by_level[level]
        if not pool:
            return AreaMatch(text, level, note=f"未匹配：区划数据中没有{zh}一级的区划（请先导入{zh}名单或边界）")
        inside = (lambda c: True) if within is None else (lambda c: self.contains(within, c))
        tiers = ((self._exact[level].get(text.strip(), []), "exact"),
                 (self._norm[level].get(normalise_area_name(text), []), "normalised"),
                 (sorted({c for k in name_keys(text) for c in self._loose[level].get(k, [])}), "normalised"))
        for found, how in tiers:
            candidates = tuple(dict.fromkeys(c for c in found if inside(c)))
            if len(candidates) == 1:
                return AreaMatch(text, level, candidates[0], how)
            if len(candidates) > 1:
                parent = LEVEL_SHORT_ZH[LEVELS[LEVELS.index(level) - 1]] if level != "district" else ""
                hint = f"请填写所属{parent}或{zh}代码" if parent else f"请填写{zh}代码"
                return AreaMatch(text, level, note=f"多个同名{zh}：{'、'.join(self.label(c) for c in candidates)}；{hint}",
                                 candidates=candidates)
        where = f"{self.label(within)}内" if within else "区划数据中"
        note = f"未匹配：{where}没有名为“{text.strip()}”的{zh}"
        if within is not None:
            elsewhere = self.resolve(text, level)
            others = elsewhere.candidates or ((elsewhere.code,) if elsewhere.code else ())
            if others:
                note += f"（同名{zh}在 {'、'.join(self.label(c) for c in others)}）"
        return AreaMatch(text, level, note=note)

    def _resolve_code(self, text: str, code: str, level: str, within: str | None) -> AreaMatch:
        zh = LEVEL_SHORT_ZH[level]
        expected = CODE_LENGTH[level]
        if len(code) != expected:
            return AreaMatch(text, level, note=f"代码位数不对：{zh}代码应为 {expected} 位，收到 {len(code)} 位")
        if within is not None and not self.contains(within, code):
            return AreaMatch(text, level, note=f"代码 {code} 不在 {self.label(within)} 内")
        if code in self._level:
            return AreaMatch(text, level, code, "code")
        return AreaMatch(text, level, code, "code", note=f"代码 {code} 不在区划数据中，仍按此代码归属")


__all__ = ["AREA_SUFFIXES", "LEVELS", "LEVEL_SHORT_ZH", "AreaIndex", "AreaMatch", "name_keys", "normalise_area_name",
           "parse_area_code"]
