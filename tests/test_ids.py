"""Tests for data.ids (resident IDs, USCC, division codes, pseudonyms).

Check characters in the property tests are computed by reference
implementations written here independently of the module under test
(Horner-style ISO 7064 recursion and on-the-fly powers of 3 modulo 31).
"""

from __future__ import annotations

import datetime
import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data import ids

PROPERTY = settings(database=None, deadline=None, max_examples=300,
                    suppress_health_check=[HealthCheck.too_slow])

PROVINCES = sorted(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
STANDARD_ID = "11010519491231002X"  # GB 11643-1999 example


# --------------------------------------------------------------------------
# Independent reference implementations
# --------------------------------------------------------------------------

def ref_id_check(first17: str) -> str:
    """ISO 7064 MOD 11-2 via the pure recursive (Horner) method."""
    acc = 0
    for digit in first17:
        acc = ((acc + int(digit)) * 2) % 11
    value = (1 - acc) % 11
    return "X" if value == 10 else str(value)


# Charset built by exclusion, not copied from the module.
REF_USCC_CHARS = string.digits + "".join(
    c for c in string.ascii_uppercase if c not in "IOSVZ"
)


def ref_uscc_check(first17: str) -> str:
    """GB 32100-2015 check: weights are 3**i mod 31, check = -sum mod 31."""
    total, weight = 0, 1
    for ch in first17:
        total += REF_USCC_CHARS.index(ch) * weight
        weight = weight * 3 % 31
    return REF_USCC_CHARS[-total % 31]


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    """Valid 18-digit identity numbers."""
    region = draw(st.sampled_from(PROVINCES)) + draw(
        st.text(string.digits, min_size=4, max_size=4))
    birth = draw(st.dates(datetime.date(1900, 1, 1), datetime.date(2020, 12, 31)))
    seq = draw(st.text(string.digits, min_size=3, max_size=3))
    body = region + birth.strftime("%Y%m%d") + seq
    return body + ref_id_check(body)


@st.composite
def usccs(draw: st.DrawFn) -> str:
    """Valid unified social credit codes."""
    chars = st.sampled_from(REF_USCC_CHARS)
    body = (draw(st.text(chars, min_size=2, max_size=2))
            + draw(st.text(string.digits, min_size=6, max_size=6))
            + draw(st.text(chars, min_size=9, max_size=9)))
    return body + ref_uscc_check(body)


# --------------------------------------------------------------------------
# Resident identity numbers
# --------------------------------------------------------------------------

def test_reference_implementation_agrees_with_standard_example() -> None:
    assert ref_id_check(STANDARD_ID[:17]) == "X"


def test_standard_example_is_valid() -> None:
    assert ids.check_resident_id(STANDARD_ID) is None
    assert ids.resident_id_check_char(STANDARD_ID[:17]) == "X"
    assert ids.resident_id_birth_date(STANDARD_ID) == datetime.date(1949, 12, 31)
    assert ids.resident_id_sex(STANDARD_ID) == "女"


@pytest.mark.parametrize("wrong", list("0123456789"))
def test_wrong_check_char_names_expected(wrong: str) -> None:
    reason = ids.check_resident_id(STANDARD_ID[:17] + wrong)
    assert reason == "身份证号校验位错误（应为X）"


def test_normalisation_of_resident_id() -> None:
    variants = [STANDARD_ID.lower(), f"  {STANDARD_ID}\t",
                "１１０１０５１９４９１２３１００２ｘ",
                "110105 19491231 002X", "110105\u300019491231002X"]
    for v in variants:
        assert ids.normalise_resident_id(v) == STANDARD_ID
        assert ids.check_resident_id(v) is None


def test_sex_from_17th_digit() -> None:
    body = "11010519491231001"
    assert ids.resident_id_sex(body + ids.resident_id_check_char(body)) == "男"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "身份证号为空"),
        ("1101051949123100", "身份证号应为18位（收到16位）"),
        ("11010519491231002X1", "身份证号应为18位（收到19位）"),
        ("1101051949123100AX", "身份证号含非法字符"),
        ("X10105194912310020", "身份证号含非法字符"),
        ("991051194912310020", "身份证号中的地区码无效"),
        ("110105199913320010", "身份证号中的出生日期无效（19991332）"),
        ("110105190002290010", "身份证号中的出生日期无效（19000229）"),
    ],
)
def test_resident_id_rejections(value: str, expected: str) -> None:
    reason = ids.check_resident_id(value)
    assert reason is not None and reason.startswith(expected)


def test_legacy_15_digit_number_rejected_with_hint() -> None:
    reason = ids.check_resident_id("110105491231002")
    assert reason is not None
    assert reason.startswith("身份证号应为18位（收到15位）") and "18位新号码" in reason


def test_future_birth_date() -> None:
    body = "11010520100101001"
    value = body + ref_id_check(body)
    assert ids.check_resident_id(value, today=datetime.date(2030, 1, 1)) is None
    assert ids.check_resident_id(value, today=datetime.date(2010, 1, 1)) is None
    assert (ids.check_resident_id(value, today=datetime.date(2009, 12, 31))
            == "身份证号中的出生日期晚于今天")


def test_helpers_raise_on_invalid() -> None:
    with pytest.raises(ValueError, match="校验位"):
        ids.resident_id_birth_date(STANDARD_ID[:17] + "0")
    with pytest.raises(ValueError):
        ids.resident_id_check_char("1101051949123100")


@PROPERTY
@given(resident_ids())
def test_generated_ids_accepted(value: str) -> None:
    assert ids.resident_id_check_char(value[:17]) == value[17]
    assert ids.check_resident_id(value) is None
    assert ids.resident_id_birth_date(value).strftime("%Y%m%d") == value[6:14]
    assert ids.resident_id_sex(value) == ("男" if int(value[16]) % 2 else "女")


@PROPERTY
@given(resident_ids(), st.integers(0, 17), st.data())
def test_single_substitution_detected(value: str, pos: int, data: st.DataObject) -> None:
    alphabet = string.digits + ("X" if pos == 17 else "")
    new = data.draw(st.sampled_from([c for c in alphabet if c != value[pos]]))
    mutated = value[:pos] + new + value[pos + 1:]
    assert ids.resident_id_check_char(mutated[:17]) != mutated[17]
    assert ids.check_resident_id(mutated) is not None


# --------------------------------------------------------------------------
# Unified social credit codes
# --------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L"])
def test_published_uscc_examples(code: str) -> None:
    assert ref_uscc_check(code[:17]) == code[17]
    assert ids.uscc_check_char(code[:17]) == code[17]
    assert ids.check_uscc(code) is None
    assert ids.check_uscc(" " + code.lower() + " ") is None


def test_uscc_fullwidth_normalised() -> None:
    assert ids.normalise_uscc("９１１１００００６０００３７３４１ｌ") == "91110000600037341L"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "统一社会信用代码为空"),
        ("91110000600037341", "统一社会信用代码应为18位（收到17位）"),
        ("91110000600037341I", "统一社会信用代码含非法字符（第18位“I”）"),
        ("9111000060003734OL", "统一社会信用代码含非法字符（第17位“O”）"),
        ("911A0000600037341L", "统一社会信用代码第3–8位"),
        ("9111000A600037341L", "统一社会信用代码第3–8位"),
        ("91110000600037341M", "统一社会信用代码校验位错误（应为L）"),
    ],
)
def test_uscc_rejections(value: str, expected: str) -> None:
    reason = ids.check_uscc(value)
    assert reason is not None and reason.startswith(expected)


def test_uscc_charset_constant() -> None:
    assert ids.USCC_CHARSET == REF_USCC_CHARS and len(ids.USCC_CHARSET) == 31
    assert list(ids.USCC_WEIGHTS) == [pow(3, i, 31) for i in range(17)]
    with pytest.raises(ValueError):
        ids.uscc_check_char("9111000060003734I")


@PROPERTY
@given(usccs())
def test_generated_uscc_accepted(code: str) -> None:
    assert ids.uscc_check_char(code[:17]) == code[17]
    assert ids.check_uscc(code) is None


@PROPERTY
@given(usccs(), st.integers(0, 17), st.data())
def test_uscc_single_substitution_detected(code: str, pos: int, data: st.DataObject) -> None:
    alphabet = string.digits if 2 <= pos <= 7 else REF_USCC_CHARS
    new = data.draw(st.sampled_from([c for c in alphabet if c != code[pos]]))
    mutated = code[:pos] + new + code[pos + 1:]
    assert ids.uscc_check_char(mutated[:17]) != mutated[17]
    assert ids.check_uscc(mutated) is not None


# --------------------------------------------------------------------------
# Administrative division codes
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("code", "level"),
    [("410102", "county"), ("410102001", "street"), ("410102001001", "community")],
)
def test_valid_division_codes(code: str, level: str) -> None:
    assert ids.check_division_code(code) is None
    assert ids.division_level(code) == level


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "行政区划代码为空"),
        ("41010", "行政区划代码应为6、9、12位（收到5位）"),
        ("4101020010", "行政区划代码应为6、9、12位（收到10位）"),
        ("990102", "行政区划代码的省级代码无效（99）"),
        ("100102", "行政区划代码的省级代码无效（10）"),
        ("41010200100A", "行政区划代码只能包含数字"),
        ("-410102", "行政区划代码只能包含数字"),
    ],
)
def test_invalid_division_codes(value: str, expected: str) -> None:
    assert ids.check_division_code(value) == expected


def test_division_levels_parameter() -> None:
    assert ids.check_division_code("410102", levels=(12,)) == "行政区划代码应为12位（收到6位）"
    assert ids.check_division_code("410102001001", levels=(12,)) is None


@pytest.mark.parametrize(
    "raw", ["410102001001.0", 410102001001.0, 410102001001, " 410102001001 ", "４１０１０２００１００１"]
)
def test_division_normalisation(raw: object) -> None:
    assert ids.normalise_division_code(raw) == "410102001001"  # type: ignore[arg-type]
    assert ids.check_division_code(raw) is None  # type: ignore[arg-type]


def test_division_parents() -> None:
    assert ids.division_parents("410102001001") == {
        "province": "410000", "city": "410100", "county": "410102",
        "street": "410102001", "community": "410102001001",
    }
    assert ids.division_parents("410102") == {
        "province": "410000", "city": "410100", "county": "410102"}
    assert ids.division_parents("410102001.0") == {
        "province": "410000", "city": "410100", "county": "410102", "street": "410102001"}
    with pytest.raises(ValueError):
        ids.division_parents("41010")
    with pytest.raises(ValueError):
        ids.division_level("990102")


# --------------------------------------------------------------------------
# Pseudonymisation
# --------------------------------------------------------------------------

def test_new_salt() -> None:
    a, b = ids.new_salt(), ids.new_salt()
    assert isinstance(a, bytes) and len(a) == 32 and a != b


def test_pseudonymise_normalises_input() -> None:
    salt = b"s" * 32
    assert ids.pseudonymise(STANDARD_ID, salt) == ids.pseudonymise(
        " " + STANDARD_ID.lower(), salt)
    for bad_salt in (b"", b"short", "not-bytes"):
        with pytest.raises(ValueError):
            ids.pseudonymise(STANDARD_ID, bad_salt)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ids.pseudonymise("  ", salt)


@PROPERTY
@given(resident_ids() | usccs()
       | st.text(min_size=8).filter(lambda s: len(ids.normalise_resident_id(s)) >= 8),
       st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_pseudonymise_properties(value: str, salt_a: bytes, salt_b: bytes) -> None:
    p = ids.pseudonymise(value, salt_a)
    assert re.fullmatch(r"P[0-9a-f]{20}", p)
    assert p == ids.pseudonymise(value, salt_a)
    assert value not in p and ids.normalise_resident_id(value) not in p
    if salt_a != salt_b:
        assert p != ids.pseudonymise(value, salt_b)
    assert ids.check_resident_id(p) is not None and ids.check_uscc(p) is not None
