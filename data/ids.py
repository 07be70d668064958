"""Validation, normalisation and pseudonymisation of Chinese identifiers.

Covers resident identity numbers (GB 11643-1999), unified social credit
codes (GB 32100-2015) and administrative division codes (GB/T 2260 and the
statistical 9/12-digit extensions). Validators return ``None`` when a value
is valid and otherwise a user-facing reason in Simplified Chinese.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import operator
import re
import secrets
from collections.abc import Sequence

import numpy as np

PROVINCE_CODES: frozenset[str] = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
USCC_CHARSET: str = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS: tuple[int, ...] = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ID_WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))  # ISO 7064 MOD 11-2
DIVISION_LEVELS: dict[int, str] = {6: "county", 9: "street", 12: "community"}

_WHITESPACE = re.compile(r"\s+")
_EXCEL_FLOAT_SUFFIX = re.compile(r"\.0+$")
_FULLWIDTH_TABLE: dict[int, int] = {0x3000: 0x20, **{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}}


def fullwidth_to_halfwidth(s: str) -> str:
    """Convert full-width forms (U+FF01..U+FF5E) and U+3000 to half-width ASCII."""
    return s.translate(_FULLWIDTH_TABLE)


def _clean(value: object) -> str:
    """Half-width, whitespace-free, upper-case string form of ``value``."""
    text = "" if value is None else str(value)
    return _WHITESPACE.sub("", fullwidth_to_halfwidth(text)).upper()


def normalise_resident_id(value: str) -> str:
    """Half-width, all whitespace removed, ``x`` -> ``X`` (no validation)."""
    return _clean(value)


def resident_id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character (``"0"``-``"9"`` or ``"X"``).

    Raises
    ------
    ValueError
        If ``first17`` is not exactly 17 ASCII digits.
    """
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError("first17 must be exactly 17 ASCII digits")
    total = sum(map(operator.mul, map(int, first17), _ID_WEIGHTS))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def check_resident_id(
    value: str, *, today: datetime.date | None = None
) -> str | None:
    """Validate an 18-digit resident identity number.

    Parameters
    ----------
    value : str
        Identity number; normalised with :func:`normalise_resident_id`.
    today : datetime.date, optional
        Reference date for the "birth date in the future" check; defaults
        to the current local date.

    Returns
    -------
    str or None
        ``None`` if valid, otherwise a reason in Simplified Chinese.
    """
    rid = normalise_resident_id(value)
    if not rid:
        return "身份证号为空"
    if len(rid) == 15 and rid.isascii() and rid.isdigit():
        return "身份证号应为18位（收到15位）：这是15位旧号码，请先转换为18位新号码"
    if len(rid) != 18:
        return f"身份证号应为18位（收到{len(rid)}位）"
    for pos, ch in enumerate(rid):
        if not (ch in "0123456789" or (pos == 17 and ch == "X")):
            return f"身份证号含非法字符（第{pos + 1}位“{ch}”）"
    if rid[:2] not in PROVINCE_CODES:
        return "身份证号中的地区码无效"
    digits = rid[6:14]
    try:
        birth = datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return f"身份证号中的出生日期无效（{digits}）"
    if birth > (today or datetime.date.today()):
        return "身份证号中的出生日期晚于今天"
    expected = resident_id_check_char(rid[:17])
    if rid[17] != expected:
        return f"身份证号校验位错误（应为{expected}）"
    return None


def _valid_resident_id(value: str) -> str:
    """Return the normalised number or raise ``ValueError`` with the reason."""
    reason = check_resident_id(value)
    if reason is not None:
        raise ValueError(reason)
    return normalise_resident_id(value)


def resident_id_birth_date(value: str) -> datetime.date:
    """Birth date encoded in a valid identity number (raises ``ValueError``)."""
    rid = _valid_resident_id(value)
    return datetime.date(int(rid[6:10]), int(rid[10:12]), int(rid[12:14]))


def resident_id_sex(value: str) -> str:
    """Sex encoded in a valid identity number: ``"男"`` (odd) or ``"女"``."""
    rid = _valid_resident_id(value)
    return "男" if int(rid[16]) % 2 == 1 else "女"


def normalise_uscc(value: str) -> str:
    """Normalise a unified social credit code (half-width, upper, no spaces)."""
    return _clean(value)


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 MOD 31 check character (from :data:`USCC_CHARSET`).

    Raises
    ------
    ValueError
        If ``first17`` is not 17 characters from :data:`USCC_CHARSET`.
    """
    if len(first17) != 17 or any(ch not in USCC_CHARSET for ch in first17):
        raise ValueError("first17 must be 17 characters from USCC_CHARSET")
    total = sum(USCC_CHARSET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS))
    check = 31 - total % 31
    return USCC_CHARSET[0 if check == 31 else check]


def check_uscc(value: str) -> str | None:
    """Validate a unified social credit code.

    Returns
    -------
    str or None
        ``None`` if valid, otherwise a reason in Simplified Chinese.
    """
    code = normalise_uscc(value)
    if not code:
        return "统一社会信用代码为空"
    if len(code) != 18:
        return f"统一社会信用代码应为18位（收到{len(code)}位）"
    for pos, ch in enumerate(code):
        if ch not in USCC_CHARSET:
            return f"统一社会信用代码含非法字符（第{pos + 1}位“{ch}”）"
    if not code[2:8].isdigit():
        return "统一社会信用代码第3–8位（行政区划码）应为数字"
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return f"统一社会信用代码校验位错误（应为{expected}）"
    return None


def normalise_division_code(value: str) -> str:
    """Normalise a division code, e.g. Excel's ``410102001001.0``.

    Converts full-width characters, removes whitespace and a trailing
    ``.0`` (``int``/``float`` input is tolerated).
    """
    return _EXCEL_FLOAT_SUFFIX.sub("", _clean(value))


def check_division_code(
    value: str, *, levels: tuple[int, ...] = (6, 9, 12)
) -> str | None:
    """Validate an administrative division code.

    Parameters
    ----------
    value : str
        Code; normalised with :func:`normalise_division_code`.
    levels : tuple of int, optional
        Accepted lengths (6 county, 9 street/town, 12 community/village).

    Returns
    -------
    str or None
        ``None`` if valid, otherwise a reason in Simplified Chinese.
    """
    code = normalise_division_code(value)
    if not code:
        return "行政区划代码为空"
    if not (code.isascii() and code.isdigit()):
        return "行政区划代码只能包含数字"
    if len(code) not in levels:
        allowed = "、".join(str(n) for n in sorted(levels))
        return f"行政区划代码应为{allowed}位（收到{len(code)}位）"
    if code[:2] not in PROVINCE_CODES:
        return f"行政区划代码的省级代码无效（{code[:2]}）"
    return None


def _valid_division_code(code: str) -> str:
    """Return the normalised code or raise ``ValueError`` with the reason."""
    reason = check_division_code(code)
    if reason is not None:
        raise ValueError(reason)
    return normalise_division_code(code)


def division_level(code: str) -> str:
    """Level name of a valid code: ``"county"``, ``"street"`` or ``"community"``."""
    return DIVISION_LEVELS[len(_valid_division_code(code))]


def division_parents(code: str) -> dict[str, str]:
    """Map level names to the codes of ``code`` and its ancestors.

    Returns
    -------
    dict of str to str
        Keys ``province``, ``city``, ``county`` and, depending on length,
        ``street`` (9+ digits) and ``community`` (12 digits).
    """
    c = _valid_division_code(code)
    parents = {"province": c[:2] + "0000", "city": c[:4] + "00", "county": c[:6]}
    if len(c) >= 9:
        parents["street"] = c[:9]
    if len(c) == 12:
        parents["community"] = c
    return parents


def new_salt() -> bytes:
    """Return a fresh random 32-byte salt for :func:`pseudonymise`."""
    return secrets.token_bytes(32)


def pseudonymise(value: str, salt: bytes) -> str:
    """Keyed, deterministic pseudonym: ``"P"`` + 20 hex chars of HMAC-SHA256.

    The value is normalised first (half-width, no whitespace, upper case),
    so ``x``/``X`` or full-width variants of one ID map to one pseudonym.

    Use fixed-length salts from :func:`new_salt`: HMAC zero-pads short keys,
    so e.g. ``b"k"`` and ``b"k\\x00"`` would give identical pseudonyms.

    Raises
    ------
    ValueError
        If the salt is not bytes of at least 16 bytes, or the value is empty.
    """
    if not isinstance(salt, (bytes, bytearray)) or len(salt) < 16:
        raise ValueError("salt must be at least 16 bytes")
    norm = _clean(value)
    if not norm:
        raise ValueError("cannot pseudonymise an empty value")
    digest = hmac.new(bytes(salt), norm.encode("utf-8"), hashlib.sha256)
    return "P" + digest.hexdigest()[:20]


# ---------------------------------------------------------------- whole columns

_PROVINCE_TABLE = np.zeros(100, dtype=bool)
_PROVINCE_TABLE[[int(c) for c in PROVINCE_CODES]] = True
_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_ID_WEIGHT_ARRAY = np.array(_ID_WEIGHTS, dtype=np.int64)
_ID_CHECK_CHARS = np.array(list("0123456789X"))


def _codepoints(values: Sequence[str], width: int) -> np.ndarray:
    """(n, width) array of the code points of ``values``, each exactly ``width`` characters long."""
    if not len(values):
        return np.zeros((0, width), dtype=np.uint32)
    return np.array(values, dtype=f"<U{width}").view(np.uint32).reshape(len(values), width)


def resident_id_check_chars(first17: np.ndarray) -> np.ndarray:
    """:func:`resident_id_check_char` of many numbers at once: ``first17`` is an (n, 17) array of digit values
    0–9; returns n one-character strings ("0"–"9" or "X")."""
    digits = np.asarray(first17, dtype=np.int64)
    return _ID_CHECK_CHARS[(12 - (digits @ _ID_WEIGHT_ARRAY) % 11) % 11]


def _eighteen(values: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the values that are text of exactly 18 characters, and their code points (one row each,
    int64)."""
    text = np.empty(len(values), dtype=object)
    text[:] = [v if v.__class__ is str else "" for v in values]
    lengths = np.fromiter(map(len, text), dtype=np.int64, count=len(values))
    at = np.flatnonzero(lengths == 18)
    cp = _codepoints(list(text[at]), 18).astype(np.int64) if len(at) else np.zeros((0, 18), dtype=np.int64)
    return at, cp


def _digit_ids(values: Sequence[str | None]) -> tuple[np.ndarray | None, np.ndarray]:
    """:func:`_eighteen` of the values written as 17 ASCII digits and a digit or "X" (the only ones that can
    pass :func:`canonical_valid_resident_ids`), picked by Arrow's regex kernel and read from its byte buffer
    (one byte a character); (None, _) when Arrow cannot take the values (anything but text and missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return None, np.zeros((0, 18), dtype=np.int64)
    mask = pc.fill_null(pc.match_substring_regex(arr, r"^[0-9]{17}[0-9X]$"), False).to_numpy(zero_copy_only=False)
    at = np.flatnonzero(mask)
    if not len(at):
        return at, np.zeros((0, 18), dtype=np.int64)
    picked = arr.filter(pa.array(mask))
    offsets = np.frombuffer(picked.buffers()[1], dtype=np.int64)[picked.offset:picked.offset + len(picked) + 1]
    data = np.frombuffer(picked.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return at, data.reshape(len(at), 18).astype(np.int64)


def canonical_valid_resident_ids(values: Sequence[str | None], *, today: datetime.date) -> np.ndarray:
    """Which values are valid resident ID numbers already in normal form (18 ASCII characters, upper-case X).

    True means :func:`check_resident_id` (``today`` given) returns None and :func:`normalise_resident_id`
    leaves the value unchanged. False covers every other value (missing, messy or wrong): those need
    the one-by-one functions for their normal form or their reason.
    """
    ok = np.zeros(len(values), dtype=bool)
    at, cp = _digit_ids(values)
    if at is None:
        at, cp = _eighteen(values)
    if not len(at):
        return ok
    digit = (cp >= 48) & (cp <= 57)
    good = digit[:, :17].all(axis=1) & (digit[:, 17] | (cp[:, 17] == 88))
    d = np.where(digit, cp - 48, 0)
    good &= _PROVINCE_TABLE[d[:, 0] * 10 + d[:, 1]]
    year = d[:, 6] * 1000 + d[:, 7] * 100 + d[:, 8] * 10 + d[:, 9]
    month = d[:, 10] * 10 + d[:, 11]
    day = d[:, 12] * 10 + d[:, 13]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    limit = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] - ((month == 2) & ~leap)
    good &= (year >= 1) & month_ok & (day >= 1) & (day <= limit)
    good &= year * 10_000 + month * 100 + day <= today.year * 10_000 + today.month * 100 + today.day
    expected = (12 - (d[:, :17] @ _ID_WEIGHT_ARRAY) % 11) % 11
    good &= np.where(cp[:, 17] == 88, 10, d[:, 17]) == expected
    ok[at] = good
    return ok


_USCC_VALUE = np.full(128, -1, dtype=np.int64)
_USCC_VALUE[[ord(c) for c in USCC_CHARSET]] = np.arange(len(USCC_CHARSET))
_USCC_WEIGHT_ARRAY = np.array(USCC_WEIGHTS, dtype=np.int64)


def canonical_valid_usccs(values: Sequence[str | None]) -> np.ndarray:
    """Which values are valid unified social credit codes already in normal form (18 characters of
    :data:`USCC_CHARSET`): True means :func:`check_uscc` returns None and :func:`normalise_uscc` leaves the
    value unchanged; False covers every other value (missing, messy or wrong)."""
    ok = np.zeros(len(values), dtype=bool)
    at, cp = _eighteen(values)
    if not len(at):
        return ok
    value = np.where(cp < 128, _USCC_VALUE[np.minimum(cp, 127)], -1)
    good = (value >= 0).all(axis=1) & ((cp[:, 2:8] >= 48) & (cp[:, 2:8] <= 57)).all(axis=1)
    check = 31 - (np.maximum(value[:, :17], 0) @ _USCC_WEIGHT_ARRAY) % 31
    good &= value[:, 17] == np.where(check == 31, 0, check)
    ok[at] = good
    return ok


def resident_id_parts(numbers: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(birth year, birth month, odd sex digit) of valid, normalised ID numbers (18 characters each)."""
    d = _codepoints(list(numbers), 18)[:, :17].astype(np.int64) - 48
    year = d[:, 6] * 1000 + d[:, 7] * 100 + d[:, 8] * 10 + d[:, 9]
    return year, d[:, 10] * 10 + d[:, 11], d[:, 16] % 2 == 1


_CLEAN_ALREADY = re.compile(r"[\x21-\x60\x7b-\x7e]*")
"""Text :func:`_clean` leaves unchanged for sure: printable ASCII without spaces and lower-case letters."""


def pseudonymise_many(values: Sequence[str], salt: bytes) -> list[str]:
    """``[pseudonymise(v, salt) for v in values]`` with the key set up once (same pseudonyms, same errors).

    HMAC-SHA256 (RFC 2104) spelled out on hashlib's state copies: the keyed inner and outer states are
    built once, and each value costs two copies and two short updates.
    """
    if not isinstance(salt, (bytes, bytearray)) or len(salt) < 16:
        raise ValueError("salt must be at least 16 bytes")
    key = bytes(salt)
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    full = _CLEAN_ALREADY.fullmatch
    try:  # every value text that _clean leaves as it is (a character class: the values joined tell at once)
        all_clean = full("".join(values)) is not None
    except TypeError:  # not all text
        all_clean = False
    out = []
    for value in values:
        norm = value if all_clean or (value.__class__ is str and full(value)) else _clean(value)
        if not norm:
            raise ValueError("cannot pseudonymise an empty value")
        h = inner.copy()
        h.update(norm.encode("utf-8"))
        o = outer.copy()
        o.update(h.digest())
        out.append("P" + o.hexdigest()[:20])
    return out
