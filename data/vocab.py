"""Words users type: the rules for region, scenario and account names, and the facility-kind synonyms.

Light on purpose (no pandas, no GDAL): the command line checks every typed name and kind with it before any
heavy module is imported, and the store, the accounts file, validation and the pages use the same rules.
"""

from __future__ import annotations

import re

NAME_MAX_CHARS = 64
FORMULA_CHARS = "=+-@\t\r"
"""A name starting with one of these would be a formula in a spreadsheet (OWASP CSV injection)."""

SCENARIO_NAME = re.compile(r"^[\w\u4e00-\u9fff][\w\u4e00-\u9fff.\-]{0,63}$")
USER_NAME = re.compile(r"^[\w\u4e00-\u9fff.@\-]{1,64}$")  # "@": OIDC logins match by e-mail
REGION_NAME_RULE_ZH = "只能用中文、字母、数字、- 或 _，最多 64 个字符"
SCENARIO_NAME_RULE_ZH = "只能用中文、字母、数字、下划线、点和短横线，以中文、字母或数字开头，最多 64 个字符"
USER_NAME_RULE_ZH = "只能用中文、字母、数字、下划线、点、@ 和短横线，1–64 个字符"
DISPLAY_NAME_RULE_ZH = "最多 64 个字符，不含 < > 等标记符号，不以 = + - @ 开头"


def region_name_ok(name: str) -> bool:
    """Letters (any script), digits, "-" and "_", 1-64 characters: a region is a folder and a URL part."""
    return 0 < len(name) <= NAME_MAX_CHARS and all(c.isalnum() or c in "-_" for c in name)


def scenario_name_ok(name: str) -> bool:
    return bool(SCENARIO_NAME.match(name))


def user_name_ok(name: str) -> bool:
    return bool(USER_NAME.match(name))


def display_name_ok(name: str) -> bool:
    """A person's name as shown on pages and in the audit log: plain text, never markup or a formula."""
    text = name.strip()
    return (0 < len(text) <= NAME_MAX_CHARS and not any(c in text for c in "<>[]`\\|")
            and text[0] not in FORMULA_CHARS and text.isprintable())


KIND_ALIASES: dict[str, str] = {
    "养老院": "养老机构", "敬老院": "养老机构", "福利院": "养老机构", "社会福利院": "养老机构",
    "老年养护院": "养老机构", "护理院": "养老机构", "养老公寓": "养老机构", "特困供养服务机构": "养老机构",
    "社区养老服务综合体": "社区养老服务综合体/中心", "社区养老服务中心": "社区养老服务综合体/中心",
    "街道养老服务中心": "社区养老服务综合体/中心", "综合体": "社区养老服务综合体/中心",
    "日间照料": "日间照料中心", "社区日间照料中心": "日间照料中心", "托老所": "日间照料中心", "日照中心": "日间照料中心",
    "日照": "日间照料中心", "日间照料站": "日间照料中心", "助餐": "助餐点", "饭堂": "助餐点", "食堂": "助餐点",
    "养老服务驿站": "养老服务站", "驿站": "养老服务站", "社区养老服务站": "养老服务站", "服务站": "养老服务站",
    "老年助餐点": "助餐点", "长者饭堂": "助餐点", "老年食堂": "助餐点", "助餐服务点": "助餐点",
    "居家养老服务商": "居家上门服务商", "上门服务商": "居家上门服务商", "居家养老服务机构": "居家上门服务商",
}
KIND_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("日间照料", "日间照料中心"), ("托老", "日间照料中心"), ("助餐", "助餐点"), ("饭堂", "助餐点"), ("食堂", "助餐点"),
    ("驿站", "养老服务站"), ("服务站", "养老服务站"), ("综合体", "社区养老服务综合体/中心"),
    ("养老服务中心", "社区养老服务综合体/中心"), ("上门", "居家上门服务商"), ("居家养老服务", "居家上门服务商"),
    ("养老院", "养老机构"), ("敬老院", "养老机构"), ("福利院", "养老机构"), ("护理院", "养老机构"),
    ("养护院", "养老机构"), ("养老公寓", "养老机构"), ("供养", "养老机构"),
)
"""Keyword -> kind, tried in order when a kind is neither allowed nor an exact alias (reported as a warning)."""


def kind_from_words(text: str, allowed: tuple[str, ...] | list[str]) -> tuple[str | None, bool]:
    """A facility kind typed by a user, as one of ``allowed``: (kind, exact). ``exact`` is False when the kind
    came from a synonym or a keyword (the caller says how it understood the text); (None, False) when none."""
    text = text.strip()
    if text in allowed:
        return text, True
    alias = KIND_ALIASES.get(text)
    if alias in allowed:
        return alias, False
    if text:
        guess = next((k for word, k in KIND_KEYWORDS if word in text and k in allowed), None)
        if guess is not None:
            return guess, False
    return None, False
