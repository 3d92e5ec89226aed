"""The ballot body's strict parse (PROTOCOL §5 check 2), fast.

`parse_json_strict` and `parse_ballot_envelope` are the reference; `parse_ballot_body` gives
the same answers for every body (tests/unit/test_fastjson.py compares them), in about a tenth
of the time: a ballot arrives thousands of times a second.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import msgspec

from .encoding import MAX_SAFE_INTEGER, jcs, jcs_plain, parse_json_strict
from .signed import Ballot, Envelope, parse_ballot_envelope

_ENVELOPE_KEYS = frozenset({"signed", "signature", "signer"})
_BALLOT_KEYS = frozenset({"v", "type", "election", "election_digest", "voter", "revision", "ranking", "nonce"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
# The canonical b64u of 16 and 64 bytes: the last character's unused low 4 bits are zero.
_B64U_16_BYTES = re.compile(r"[A-Za-z0-9_-]{21}[AQgw]")
_B64U_64_BYTES = re.compile(r"[A-Za-z0-9_-]{85}[AQgw]")
_COMPACT_ENCODER = msgspec.json.Encoder()


def parse_ballot_body(body: bytes) -> tuple[dict[str, Any], Envelope, Ballot, bytes]:
    """A ballot request body (PROTOCOL §5 #2): the envelope as parsed JSON, the envelope, the
    ballot, and `JCS(signed)`, the bytes its signature covers.

    The same as `parse_json_strict`, `parse_ballot_envelope` and `jcs` in turn, raising the same
    `MalformedError` for the same body. A body written compactly (as `JSON.stringify` and our
    clients write it) takes a fast path: msgspec parses it, and when encoding the result gives
    back exactly the body there was no duplicate key, escape or whitespace, and nothing that
    msgspec reads more loosely than the strict parser: a byte order mark, invalid UTF-8, a lone
    surrogate and trailing data fail msgspec's parse; floats and integers past 2^53-1 fail the
    ballot's own checks (`_checked_envelope`, the checks of `parse_ballot_envelope` written for
    the valid case). Anything else, valid or not, takes the strict path, whose error is the
    answer.
    """
    fast = _fast_ballot_body(body)
    if fast is not None:
        return fast
    obj = parse_json_strict(body)
    env, ballot = parse_ballot_envelope(obj)
    return obj, env, ballot, jcs(env.signed)


def _fast_ballot_body(body: bytes) -> tuple[dict[str, Any], Envelope, Ballot, bytes] | None:
    try:
        obj = msgspec.json.decode(body)
    except (ValueError, RecursionError):  # msgspec.DecodeError; UnicodeDecodeError (invalid UTF-8 in a string); deep nesting
        return None
    if type(obj) is not dict or _COMPACT_ENCODER.encode(obj) != body:
        return None
    checked = _checked_envelope(obj)
    if checked is None:
        return None
    return obj, checked[0], checked[1], jcs_plain(checked[0].signed)


def _checked_envelope(obj: dict[str, Any]) -> tuple[Envelope, Ballot] | None:
    """`parse_ballot_envelope(obj)` when it would succeed (and the revision is within
    ±(2^53-1), which the strict parser also demands), else None."""
    signed = obj.get("signed")
    if obj.keys() != _ENVELOPE_KEYS or type(signed) is not dict or signed.keys() != _BALLOT_KEYS:
        return None
    v, revision, ranking = signed["v"], signed["revision"], signed["ranking"]
    election, election_digest, voter, nonce = signed["election"], signed["election_digest"], signed["voter"], signed["nonce"]
    signature, signer = obj["signature"], obj["signer"]
    if not (
        type(v) is int
        and v == 1
        and signed["type"] == "ballot"
        and type(revision) is int
        and 1 <= revision <= MAX_SAFE_INTEGER
        and type(election) is str
        and type(ranking) is list
        and type(voter) is str
        and type(signer) is str
        and signer == voter
        and _HEX64.fullmatch(voter)
        and type(election_digest) is str
        and _HEX64.fullmatch(election_digest)
        and type(nonce) is str
        and _B64U_16_BYTES.fullmatch(nonce)
        and type(signature) is str
        and _B64U_64_BYTES.fullmatch(signature)
    ):
        return None
    for option in ranking:
        if type(option) is not str:
            return None
    return (
        Envelope(signed, base64.urlsafe_b64decode(signature + "=="), signer),
        Ballot(election, election_digest, voter, revision, tuple(ranking), base64.urlsafe_b64decode(nonce + "==")),
    )
