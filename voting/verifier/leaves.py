"""One leaf of the board read into its data: the fast path, and the core parsers' slow path."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

from voting.core.encoding import MAX_SAFE_INTEGER, jcs, jcs_plain, parse_time
from voting.core.errors import MalformedError, VotingError
from voting.core.merkle import leaf_hash
from voting.core.signed import BALLOT_LEAF_RE, parse_ballot_envelope, parse_leaf

# The fast path: one pass of the core's fast canonical encoder (`jcs_plain`) gives JCS(leaf)
# (hashed for the tree), the core's leaf pattern (`BALLOT_LEAF_RE`, the layout
# `ballot_leaf_bytes` writes) checks the whole leaf's shape at once, and JCS(ballot.signed),
# the signed message, is a slice of it (JCS of a nested object is the JCS of that object). The
# pattern only accepts text whose every key and value position is fixed (strings, hex, b64u,
# times, positive integers), and the values at those positions are checked to be plain str
# and int (msgspec also writes UUIDs, dates or bytes as JSON strings), which is exactly when
# that output is RFC 8785. Anything else takes the slow path: the core parsers, which raise
# the precise message. tests/unit/test_verifier.py checks that the two paths agree.

_URLSAFE = bytes.maketrans(b"-_", b"+/")
_a2b_base64 = binascii.a2b_base64
_G = BALLOT_LEAF_RE.groupindex
_SIGNATURE, _SIGNED, _VOTER, _SIGNER, _DATE = _G["signature"], _G["signed"], _G["voter"], _G["signer"], _G["date"]


@lru_cache(maxsize=4096)
def _date_ok(date: bytes) -> bool:
    """Whether the day exists (and is not before 1970): `parse_time` on its midnight."""
    try:
        parse_time(date.decode("ascii") + "T00:00:00.000Z")
    except MalformedError:
        return False
    return True


class _LeafData(NamedTuple):
    leaf_hash: bytes
    message: bytes  # JCS(ballot.signed)
    signature: bytes
    seq: int
    voter: str
    revision: int
    ranking: list[str] | tuple[str, ...]
    election: str
    election_digest: str


def _fast_leaf(obj: Any) -> _LeafData | None:
    """The leaf's data when it is certainly well formed, else None (then the slow path decides)."""
    fields = _fast_fields(obj)
    return _LeafData(*fields) if fields is not None else None


def _fast_fields(obj: Any, parsed: bool = False) -> tuple[bytes, bytes, bytes, int, str, int, list[str], str, str] | None:
    """`_fast_leaf`, as a plain tuple (cheaper, for the board's loop).

    ``parsed``: ``obj`` comes from `_FAST_DECODER` (plain dicts, lists, strs, ints within
    ±(2^53-1), booleans, None), so that the text matching the pattern is enough.
    """
    try:
        data = jcs_plain(obj)
    except Exception:  # noqa: BLE001 - non-string keys, a lone surrogate, an unknown type: the slow path says
        return None
    match = BALLOT_LEAF_RE.fullmatch(data)
    if match is None or match[_VOTER] != match[_SIGNER] or not _date_ok(match[_DATE]):
        return None
    if parsed:
        signed = obj["ballot"]["signed"]
        return (
            leaf_hash(data),
            data[match.start(_SIGNED) : match.end(_SIGNED)],
            _a2b_base64(match[_SIGNATURE].translate(_URLSAFE) + b"=="),
            obj["seq"],
            signed["voter"],
            signed["revision"],
            signed["ranking"],
            signed["election"],
            signed["election_digest"],
        )
    try:
        ballot = obj["ballot"]
        signed = ballot["signed"]
        ranking, revision, seq = signed["ranking"], signed["revision"], obj["seq"]
        election, digest, voter = signed["election"], signed["election_digest"], signed["voter"]
        # Only plain dicts, strs and ints: then the text above is what `json` writes too.
        if (
            type(obj) is not dict
            or type(ballot) is not dict
            or type(signed) is not dict
            or type(ranking) is not list
            or type(revision) is not int
            or type(seq) is not int
            or type(election) is not str
            or type(digest) is not str
            or type(voter) is not str
            or type(ballot["signature"]) is not str
            or type(ballot["signer"]) is not str
            or type(signed["nonce"]) is not str
            or type(signed["type"]) is not str
            or type(signed["v"]) is not int
            or type(obj["received_at"]) is not str
            or type(obj["type"]) is not str
            or type(obj["v"]) is not int
            or revision > MAX_SAFE_INTEGER
            or seq > MAX_SAFE_INTEGER
        ):
            return None
        for option in ranking:
            if type(option) is not str:
                return None
    except (KeyError, TypeError, IndexError):  # a mapping that only encodes like a leaf
        return None
    signature = binascii.a2b_base64(match[_SIGNATURE].replace(b"-", b"+").replace(b"_", b"/") + b"==")
    return (leaf_hash(data), data[match.start(_SIGNED) : match.end(_SIGNED)], signature, seq, voter, revision, ranking, election, digest)


def _slow_leaf(obj: Any, seq: int, fail: Callable[[str, str, int | None], None]) -> tuple[bytes | None, _LeafData | None]:
    """(leaf hash or None, the leaf's data or None) through the core parsers, reporting problems."""
    try:
        hashed: bytes | None = leaf_hash(jcs(obj))
    except VotingError as exc:
        fail("leaf.hash", f"cannot canonicalize the leaf: {exc}", seq)
        hashed = None
    try:
        leaf = parse_leaf(obj)
        env, ballot = parse_ballot_envelope(leaf.ballot)
        message = jcs(env.signed)
    except VotingError as exc:
        fail("leaf.malformed", str(exc), seq)
        return hashed, None
    if hashed is None:  # pragma: no cover - a parsed leaf always canonicalizes
        return None, None
    return hashed, _LeafData(hashed, message, env.signature, leaf.seq, ballot.voter, ballot.revision, ballot.ranking, ballot.election, ballot.election_digest)


def _ignore(check: str, message: str, seq: int | None) -> None:
    pass
