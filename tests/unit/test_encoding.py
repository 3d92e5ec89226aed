"""PROTOCOL §1 encodings: b64u, RFC 8785 canonical JSON, strict JSON parsing, times."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from voting.core.encoding import (
    MAX_SAFE_INTEGER,
    b64u_decode,
    b64u_encode,
    format_time,
    jcs,
    parse_json_strict,
    parse_time,
    sha256,
)
from voting.core.errors import MalformedError, VotingError

JCS_CASES = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "jcs" / "cases.json").read_text("utf-8"))


# --- RFC 8785 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", JCS_CASES, ids=[case["desc"][:60] for case in JCS_CASES])
def test_jcs_vectors(case):
    if case["want_error"]:
        with pytest.raises(MalformedError):
            jcs(parse_json_strict(case["input"].encode("utf-8")))
    else:
        assert jcs(parse_json_strict(case["input"].encode("utf-8"))) == case["want"].encode("utf-8")


def test_jcs_refuses_what_json_cannot_carry():
    with pytest.raises(MalformedError, match="floats are not allowed, got 1.5"):
        jcs({"a": [1.5]})
    with pytest.raises(MalformedError, match="floats are not allowed"):
        jcs(float("nan"))
    with pytest.raises(MalformedError, match=r"integer 9007199254740992 outside"):
        jcs({"n": 2**53})
    with pytest.raises(MalformedError, match="object keys must be strings, got int"):
        jcs({1: "a"})
    with pytest.raises(MalformedError, match="cannot encode bytes"):
        jcs({"a": b"x"})
    with pytest.raises(MalformedError, match="non-UTF-8"):
        jcs({"a": "\ud800"})
    with pytest.raises(MalformedError, match="non-UTF-8"):
        jcs({"\u00e9": "\ud800"})  # the rfc8785 path (non-ASCII key)
    with pytest.raises(MalformedError, match="nesting deeper than 32"):
        jcs(_nested(40))
    assert jcs({"n": MAX_SAFE_INTEGER, "m": -MAX_SAFE_INTEGER, "t": (1, True, None)}) == (b'{"m":-9007199254740991,"n":9007199254740991,"t":[1,true,null]}')


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


ASCII_KEYED_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(alphabet=st.characters(max_codepoint=127), max_size=5), children, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_jcs_agrees_with_the_rfc8785_package(value):
    # jcs() takes the C encoder when every key is ASCII; the package is the reference.
    assert jcs(value) == rfc8785.dumps(value)


@given(ASCII_KEYED_VALUES)
def test_jcs_fast_path_agrees_with_the_rfc8785_package(value):
    assert jcs(value) == rfc8785.dumps(value)


@given(st.dictionaries(st.text(alphabet="a\u00e9\ue000\uffff\U00010000\U0001f600", max_size=3), st.integers(0, 9)))
def test_jcs_sorts_by_utf16_code_units(value):
    want = sorted(value, key=lambda k: k.encode("utf-16-be"))
    assert list(json.loads(jcs(value))) == want


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@given(JSON_VALUES)
def test_jcs_round_trips_through_the_strict_parser(value):
    text = jcs(value)
    assert parse_json_strict(text) == value
    assert jcs(parse_json_strict(text)) == text
    # for ASCII-free-of-surprises data the stdlib agrees (STACK-NOTES): compare on parsed values
    assert json.loads(text) == value


# --- strict JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"a": {"b": [{"c": 1, "c": 1}]}}', "duplicate key 'c'"),
        (b"[1.5]", "non-integer numbers are not allowed, got 1.5"),
        (b"[1e3]", "got 1e3"),
        (b"[1E+3]", "got 1E\\+3"),
        (b"[-0.0]", "non-integer"),
        (b"[NaN]", "NaN is not allowed"),
        (b"[Infinity]", "Infinity is not allowed"),
        (b"[-Infinity]", "-Infinity is not allowed"),
        (b"[9007199254740993]", "integer 9007199254740993 outside"),
        (b"[-9007199254740993]", "outside"),
        (b"[9007199254740992]", "outside"),
        (b"[" + b"9" * 5000 + b"]", "outside"),
        (b'["\xff"]', "invalid UTF-8 at byte 2"),
        (b'["\xc0\xaf"]', "invalid UTF-8"),  # overlong "/"
        (b'["\xed\xa0\x80"]', "invalid UTF-8"),  # an encoded surrogate
        (b'["\\ud800"]', "lone surrogate"),
        (b'{"\\udc00": 1}', "lone surrogate"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b"[" * 33 + b"]" * 33, "nesting deeper than 32"),
        (b'{"a":' * 33 + b"1" + b"}" * 33, "nesting deeper than 32"),
        (b"[" * 100000, "nesting deeper than 32"),
        (b"", "Expecting value"),
        (b'{"a": 1} x', "Extra data"),
        (b'{"a": 1}{}', "Extra data"),
        (b"{'a': 1}", "Expecting property name"),
        (b"[01]", "Expecting"),
        (b'["a\tb"]', "Invalid control character"),
        (b"[1,]", "Expecting value"),
        (b"\x00", "Expecting value"),
    ],
)
def test_parse_json_strict_refuses(data, match):
    with pytest.raises(MalformedError, match=match) as info:
        parse_json_strict(data)
    assert info.value.code == "malformed_ballot"


def test_parse_json_strict_accepts():
    assert parse_json_strict(b' {"a": [1, -2, "x", true, false, null], "b": {}} \n') == {"a": [1, -2, "x", True, False, None], "b": {}}
    assert parse_json_strict(b"[9007199254740991, -9007199254740991, -0]") == [2**53 - 1, -(2**53 - 1), 0]
    assert parse_json_strict(b'["\\ud83d\\ude00", "\xc3\xa9"]') == ["\U0001f600", "\u00e9"]
    assert parse_json_strict(bytearray(b'"a"')) == "a"
    assert parse_json_strict(b"[" * 32 + b"]" * 32) == _nested(32)
    # brackets inside strings do not count as nesting
    assert parse_json_strict(b'["' + b"[" * 100 + b'\\"{"]') == ["[" * 100 + '"{']
    # strings are kept as received: no Unicode normalization
    assert parse_json_strict('["e\u0301"]'.encode()) == ["e\u0301"]


def test_parse_json_strict_wants_bytes():
    with pytest.raises(MalformedError, match="want bytes, got str"):
        parse_json_strict("{}")  # type: ignore[arg-type]
    with pytest.raises(MalformedError, match="want bytes, got int"):
        parse_json_strict(5)  # type: ignore[arg-type]


@given(st.binary(max_size=64))
def test_parse_json_strict_only_raises_malformed(data):
    try:
        parse_json_strict(data)
    except MalformedError:
        pass


@given(st.text(alphabet='[]{}",:0123456789.eE-+ \\abtrufnlsNI\u00e9\ud800', max_size=60))
def test_parse_json_strict_only_raises_malformed_on_json_like_text(text):
    try:
        parse_json_strict(text.encode("utf-8", "surrogatepass"))
    except MalformedError:
        pass


# --- b64u -------------------------------------------------------------------------------------


def test_b64u_known_values():
    assert b64u_encode(b"") == ""
    assert b64u_encode(b"\xfb\xff") == "-_8"
    assert b64u_encode(bytes(16)) == "AAAAAAAAAAAAAAAAAAAAAA"
    assert b64u_decode("-_8") == b"\xfb\xff"
    assert b64u_decode("") == b""


@given(st.binary(max_size=80))
def test_b64u_round_trip(data):
    text = b64u_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert text == base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert b64u_decode(text) == data


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("AAAA=", "no padding"),
        ("AA==", "no padding"),
        ("+/8", "no padding"),  # standard alphabet
        ("AA A", "no padding"),
        ("AA\n", "no padding"),
        ("AAAAA", "impossible length 5"),
        ("AB", "non-zero trailing bits"),  # canonical is "AA"
        ("AAB", "non-zero trailing bits"),  # canonical is "AAA"
        ("\u0660AAA", "no padding"),  # a non-ASCII digit
    ],
)
def test_b64u_decode_is_strict(text, match):
    with pytest.raises(MalformedError, match=match):
        b64u_decode(text)


def test_b64u_decode_wants_str():
    with pytest.raises(MalformedError, match="want a string, got bytes"):
        b64u_decode(b"AAAA")  # type: ignore[arg-type]


# --- hashes and times ----------------------------------------------------------------------------


def test_sha256():
    assert sha256(b"abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256(b"x") == hashlib.sha256(b"x").digest()


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1795601700123, "2026-11-25T10:15:00.123Z"),
        (1795601700000, "2026-11-25T10:15:00.000Z"),
        (951782400007, "2000-02-29T00:00:00.007Z"),
        (253402300799999, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_time_round_trip(ms, text):
    assert format_time(ms) == text
    assert parse_time(text) == ms


@given(st.integers(0, 253402300799999))
def test_time_round_trip_property(ms):
    assert parse_time(format_time(ms)) == ms


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("2026-11-24T10:15:00Z", "want YYYY-MM-DDTHH:MM:SS.mmmZ"),
        ("2026-11-24T10:15:00.12Z", "want YYYY"),
        ("2026-11-24T10:15:00.1234Z", "want YYYY"),
        ("2026-11-24T10:15:00.123+00:00", "want YYYY"),
        ("2026-11-24t10:15:00.123z", "want YYYY"),
        ("2026-11-24 10:15:00.123Z", "want YYYY"),
        ("2026-11-24T10:15:00.123Z\n", "want YYYY"),
        ("\u0662026-11-24T10:15:00.123Z", "want YYYY"),  # a non-ASCII digit
        ("2026-02-30T10:15:00.123Z", "day is out of range"),
        ("2026-13-01T10:15:00.123Z", "month must be in 1..12"),
        ("2026-11-24T24:00:00.000Z", "hour must be in 0..23"),
        ("2026-12-31T23:59:60.000Z", "second must be in 0..59"),
        ("1969-12-31T23:59:59.999Z", "before 1970"),
    ],
)
def test_parse_time_is_strict(text, match):
    with pytest.raises(MalformedError, match=match):
        parse_time(text)


def test_time_type_errors():
    with pytest.raises(MalformedError, match="want a string, got int"):
        parse_time(5)  # type: ignore[arg-type]
    with pytest.raises(MalformedError, match="want integer milliseconds, got bool"):
        format_time(True)
    with pytest.raises(MalformedError, match="want integer milliseconds, got float"):
        format_time(1.5)  # type: ignore[arg-type]
    with pytest.raises(MalformedError, match="outside years 1970-9999"):
        format_time(-1)
    with pytest.raises(MalformedError, match="outside years 1970-9999"):
        format_time(253402300800000)


def test_errors_share_the_base_class():
    assert issubclass(MalformedError, VotingError)
    assert MalformedError("x").detail == "x"
    assert VotingError("x", code="other").code == "other"
