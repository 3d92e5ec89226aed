"""One leaf of the board read into its data: the fast path, and the core parsers' slow path."""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

import msgspec

from voting.core.encoding import MAX_SAFE_INTEGER, jcs, parse_time
from voting.core.errors import MalformedError, VotingError
from voting.core.merkle import leaf_hash
from voting.core.signed import parse_ballot_envelope, parse_leaf

# The fast path: one C-encoder pass (msgspec, sorted keys) gives JCS(leaf) (hashed for the
# tree), one regex over it checks the whole leaf's shape at once, and JCS(ballot.signed), the
# signed message, is a slice of it (JCS of a nested object is the JCS of that object). The
# regex only accepts text whose every key and value position is fixed (strings, hex, b64u,
# times, positive integers), and the values at those positions are checked to be plain str
# and int (msgspec also writes UUIDs, dates or bytes as JSON strings), which is exactly when
# compact sorted JSON output is RFC 8785 (encoding.jcs says why; msgspec escapes strings
# exactly as `json` does, tests/unit/test_verifier_pool.py checks every code point). Anything
# else takes the slow path: the core parsers, which raise the precise message.
# tests/unit/test_verifier.py checks that the two paths agree.

_URLSAFE = bytes.maketrans(b"-_", b"+/")
_a2b_base64 = binascii.a2b_base64
_LEAF_ENCODER = msgspec.json.Encoder(order="sorted")
_STR = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
_B64U_16 = rb"[A-Za-z0-9_-]{21}[AQgw]"  # 16 bytes: 22 characters, the last 4 bits zero
_B64U_64 = rb"[A-Za-z0-9_-]{85}[AQgw]"  # 64 bytes: 86 characters, the last 4 bits zero
_HEX = rb"[0-9a-f]{64}"
_LEAF_RE = re.compile(
    rb'{"ballot":{"signature":"(' + _B64U_64 + rb')","signed":('
    rb'{"election":' + _STR + rb',"election_digest":"(' + _HEX + rb')","nonce":"' + _B64U_16 + rb'",'
    rb'"ranking":\[(?:' + _STR + rb'(?:,' + _STR + rb')*)?\],"revision":[1-9][0-9]{0,15},"type":"ballot","v":1,'
    rb'"voter":"(' + _HEX + rb')"})'
    rb',"signer":"(' + _HEX + rb')"},"received_at":"(([0-9]{4}-[0-9]{2}-[0-9]{2})T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]'
    rb'\.[0-9]{3}Z)","seq":(?:0|[1-9][0-9]{0,15}),"type":"leaf","v":1}'
)


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
        data = _LEAF_ENCODER.encode(obj)
    except Exception:  # noqa: BLE001 - non-string keys, a lone surrogate, an unknown type: the slow path says
        return None
    match = _LEAF_RE.fullmatch(data)
    # groups: 1 signature, 2 JCS(signed), 3 election_digest, 4 voter, 5 signer, 6 received_at, 7 its date
    if match is None or match[4] != match[5] or not _date_ok(match[7]):
        return None
    if parsed:
        signed = obj["ballot"]["signed"]
        return (leaf_hash(data), data[match.start(2):match.end(2)],
                _a2b_base64(match[1].translate(_URLSAFE) + b"=="), obj["seq"], signed["voter"],
                signed["revision"], signed["ranking"], signed["election"], signed["election_digest"])
    try:
        ballot = obj["ballot"]
        signed = ballot["signed"]
        ranking, revision, seq = signed["ranking"], signed["revision"], obj["seq"]
        election, digest, voter = signed["election"], signed["election_digest"], signed["voter"]
        # Only plain dicts, strs and ints: then the text above is what `json` writes too.
        if (type(obj) is not dict or type(ballot) is not dict or type(signed) is not dict
                or type(ranking) is not list or type(revision) is not int or type(seq) is not int
                or type(election) is not str or type(digest) is not str or type(voter) is not str
                or type(ballot["signature"]) is not str or type(ballot["signer"]) is not str
                or type(signed["nonce"]) is not str or type(signed["type"]) is not str
                or type(signed["v"]) is not int or type(obj["received_at"]) is not str
                or type(obj["type"]) is not str or type(obj["v"]) is not int
                or revision > MAX_SAFE_INTEGER or seq > MAX_SAFE_INTEGER):
            return None
        for option in ranking:
            if type(option) is not str:
                return None
    except (KeyError, TypeError, IndexError):  # a mapping that only encodes like a leaf
        return None
    signature = binascii.a2b_base64(match[1].replace(b"-", b"+").replace(b"_", b"/") + b"==")
    return (leaf_hash(data), data[match.start(2):match.end(2)], signature, seq, voter, revision, ranking,
            election, digest)


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
    return hashed, _LeafData(hashed, message, env.signature, leaf.seq, ballot.voter, ballot.revision,
                             ballot.ranking, ballot.election, ballot.election_digest)


def _ignore(check: str, message: str, seq: int | None) -> None:
    pass
