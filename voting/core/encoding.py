"""Byte-level encodings of PROTOCOL §1: b64u, canonical JSON (RFC 8785), SHA-256, strict JSON, times.

Every function raises :class:`MalformedError` on bad input, never ``ValueError``,
``binascii.Error``, ``UnicodeDecodeError`` or ``RecursionError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import rfc8785

from .errors import MalformedError

__all__ = [
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "b64u_decode",
    "b64u_encode",
    "format_time",
    "jcs",
    "jcs_plain",
    "parse_json_strict",
    "parse_time",
    "sha256",
]

#: Largest integer magnitude allowed anywhere in JSON: 2^53 - 1, the I-JSON / RFC 8785
#: safe range (``rfc8785`` cannot canonicalize 2^53 itself).
MAX_SAFE_INTEGER = 2**53 - 1
#: Default nesting limit of :func:`parse_json_strict` (arrays and objects).
MAX_DEPTH = 32

_B64U_RE = re.compile(r"[A-Za-z0-9_-]*")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# A JSON string, or a bracket outside strings: enough to measure nesting before parsing.
_DEPTH_TOKEN_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_TIME_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{3})Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_TIME_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def sha256(data: bytes) -> bytes:
    """The 32-byte SHA-256 digest ``H(data)``."""
    return hashlib.sha256(data).digest()


# --- base64url ---------------------------------------------------------------------------


def b64u_encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Strict inverse of :func:`b64u_encode`: url alphabet, no padding, canonical trailing bits."""
    if not isinstance(text, str):
        raise MalformedError(f"b64u: want a string, got {type(text).__name__}")
    if _B64U_RE.fullmatch(text) is None:
        raise MalformedError("b64u: want only the characters A-Z a-z 0-9 - _ (no padding)")
    if len(text) % 4 == 1:
        raise MalformedError(f"b64u: impossible length {len(text)}")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - excluded by the checks above
        raise MalformedError(f"b64u: {exc}") from None
    if b64u_encode(raw) != text:
        raise MalformedError("b64u: not the canonical encoding (non-zero trailing bits)")
    return raw


_B64U_TO_B64 = bytes.maketrans(b"-_", b"+/")


def b64u_decode_matched(text: bytes) -> bytes:
    """:func:`b64u_decode` of text that a canonical b64u pattern has already matched in full (a key
    or a signature read from a roll or a leaf): the C decoder alone, without the checks. On other
    text it decodes what it can or raises ValueError: a caller that passes unchecked text (the
    board's scan, a roll key as published) checks the result itself."""
    return binascii.a2b_base64(text.translate(_B64U_TO_B64) + b"==")


# --- canonical JSON ----------------------------------------------------------------------


def _check_jcs_value(obj: Any, depth: int) -> bool:
    """Refuse what JCS cannot carry; return True when every object key is ASCII."""
    if depth > MAX_DEPTH:
        raise MalformedError(f"canonical JSON: nesting deeper than {MAX_DEPTH}")
    if obj is None or isinstance(obj, (bool, str)):
        return True
    if isinstance(obj, int):
        if abs(obj) > MAX_SAFE_INTEGER:
            raise MalformedError(f"canonical JSON: integer {obj} outside ±(2^53-1)")
        return True
    if isinstance(obj, float):
        raise MalformedError(f"canonical JSON: floats are not allowed, got {obj!r}")
    ascii_keys = True
    if isinstance(obj, (list, tuple)):
        for item in obj:
            ascii_keys = _check_jcs_value(item, depth + 1) and ascii_keys
        return ascii_keys
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise MalformedError(f"canonical JSON: object keys must be strings, got {type(key).__name__}")
            ascii_keys = _check_jcs_value(value, depth + 1) and key.isascii() and ascii_keys
        return ascii_keys
    raise MalformedError(f"canonical JSON: cannot encode {type(obj).__name__}")


#: The one fast path to RFC 8785: compact JSON with sorted keys, written by msgspec's C encoder.
#: For a value of objects with ASCII keys, strings, integers within ±(2^53-1), booleans, null
#: and arrays, JCS is exactly that text whenever it holds no escape: JCS sorts keys by UTF-16
#: code units, which agree with code points for ASCII, writes integers in decimal, and leaves
#: every string character but `"`, backslash and controls as it is. Where the output holds a
#: backslash (an escape, whose exact form JCS fixes) the `rfc8785` package writes the value.
#: tests/unit/test_encoding.py proves both byte-equal to `rfc8785.dumps` (hypothesis).
_SORTED_ENCODE = msgspec.json.Encoder(order="sorted").encode


def jcs(obj: Any) -> bytes:
    """RFC 8785 canonical bytes of ``obj`` (no floats, integers within ±(2^53-1)).

    Values with ASCII keys only take the fast path (:func:`jcs_plain`), anything else the
    ``rfc8785`` package. Both refuse lone surrogates.
    """
    try:
        if _check_jcs_value(obj, 0):
            return jcs_plain(obj)
        return rfc8785.dumps(obj)
    except UnicodeEncodeError:
        raise MalformedError("canonical JSON: input contains non-UTF-8 codepoints (a lone surrogate)") from None
    except rfc8785.CanonicalizationError as exc:
        raise MalformedError(f"canonical JSON: {exc}") from None


def jcs_plain(obj: Any) -> bytes:
    """`jcs(obj)` for a value already known to hold only objects with ASCII keys, strings,
    integers within ±(2^53-1), booleans, null and arrays (a checked ballot envelope, a leaf, a
    roll), without checking it again: msgspec's sorted output, or `rfc8785` where that output
    holds an escape."""
    out = _SORTED_ENCODE(obj)
    return rfc8785.dumps(obj) if b"\\" in out else out


# --- strict JSON parsing -----------------------------------------------------------------


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise MalformedError(f"JSON: duplicate key {key!r}")
        obj[key] = value
    return obj


def _parse_int(text: str) -> int:
    # Digits beyond 16 (plus a sign) are out of range anyway; refuse before converting.
    if len(text.lstrip("-")) > 16 or abs(value := int(text)) > MAX_SAFE_INTEGER:
        raise MalformedError(f"JSON: integer {text[:40]} outside ±(2^53-1)")
    return value


def _parse_float(text: str) -> float:
    raise MalformedError(f"JSON: non-integer numbers are not allowed, got {text[:40]}")


def _parse_constant(text: str) -> float:
    raise MalformedError(f"JSON: {text} is not allowed")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs_hook,
    parse_float=_parse_float,
    parse_int=_parse_int,
    parse_constant=_parse_constant,
    strict=True,
)


def _check_depth(text: str, max_depth: int) -> None:
    depth = 0
    for match in _DEPTH_TOKEN_RE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                raise MalformedError(f"JSON: nesting deeper than {max_depth}")
        elif token in "]}":
            depth -= 1


def _check_strings(value: Any) -> None:
    """Reject lone surrogates (``"\\ud800"``) in keys and strings: they are not Unicode text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE_RE.search(item):
                raise MalformedError("JSON: string holds a lone surrogate escape")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_json_strict(data: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON text (RFC 8259) strictly.

    Rejected: invalid UTF-8, a byte order mark, duplicate keys at any depth, numbers
    with a fraction or exponent, NaN/Infinity, integers outside ±(2^53-1), lone
    surrogates, nesting deeper than ``max_depth``, and anything after the value.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedError(f"JSON: want bytes, got {type(data).__name__}")
    try:
        text = bytes(data).decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"JSON: invalid UTF-8 at byte {exc.start}") from None
    if text.startswith("\ufeff"):
        raise MalformedError("JSON: byte order mark not allowed")
    _check_depth(text, max_depth)
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise MalformedError(f"JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:  # pragma: no cover - _check_depth comes first
        raise MalformedError(f"JSON: nesting deeper than {max_depth}") from None
    except ValueError as exc:  # e.g. int() digit limits; defensive
        raise MalformedError(f"JSON: {exc}") from None
    _check_strings(value)
    return value


# --- times -------------------------------------------------------------------------------


def format_time(epoch_ms: int) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``, e.g. ``2026-11-24T10:15:00.123Z``."""
    if isinstance(epoch_ms, bool) or not isinstance(epoch_ms, int):
        raise MalformedError(f"time: want integer milliseconds, got {type(epoch_ms).__name__}")
    if not 0 <= epoch_ms <= _MAX_TIME_MS:
        raise MalformedError(f"time: {epoch_ms} ms is outside years 1970-9999")
    seconds, millis = divmod(epoch_ms, 1000)
    moment = _EPOCH + timedelta(seconds=seconds)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{millis:03d}Z"


def parse_time(text: str) -> int:
    """Strict inverse of :func:`format_time`: milliseconds since the Unix epoch."""
    if not isinstance(text, str):
        raise MalformedError(f"time: want a string, got {type(text).__name__}")
    match = _TIME_RE.fullmatch(text)
    if match is None:
        raise MalformedError(f"time: want YYYY-MM-DDTHH:MM:SS.mmmZ, got {text[:40]!r}")
    year, month, day, hour, minute, second, millis = (int(part) for part in match.groups())
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError as exc:
        raise MalformedError(f"time: {exc} in {text!r}") from None
    if year < 1970:
        raise MalformedError(f"time: {text!r} is before 1970")
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + millis
