"""The board's leaves read back: the inverse of `ballot_leaf_bytes`, one leaf or a board file.

A leaf is read into its data (its hash, the signed message, the signature, the ballot's
fields) by the fast path when it certainly is the layout `ballot_leaf_bytes` writes, by the
core parsers otherwise (which raise the precise message). A board file (board.json as bytes)
is parsed strictly (`parse_board`), or read a range of lines at a time (`BoardLines`), so
that each worker process of the verifier parses its own leaves. The server writes leaves with
`ballot_leaf_bytes`; the verifier and its monitor read them here: the layout lives in this
package only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from .encoding import MAX_SAFE_INTEGER, b64u_decode_matched, jcs, jcs_plain, parse_json_strict, parse_time
from .errors import MalformedError, VotingError
from .merkle import leaf_hash
from .signed import (
    B64U_16_BYTES,
    B64U_64_BYTES,
    BALLOT_LEAF_RE,
    HEX64_BYTES,
    PLAIN_STR,
    TIME_BYTES,
    ballot_leaf_bytes,
    ballot_leaf_pattern,
    parse_ballot_envelope,
    parse_leaf,
)

# The fast path: one pass of the core's fast canonical encoder (`jcs_plain`) gives JCS(leaf)
# (hashed for the tree), the core's leaf pattern (`BALLOT_LEAF_RE`, the layout
# `ballot_leaf_bytes` writes) checks the whole leaf's shape at once, and JCS(ballot.signed),
# the signed message, is a slice of it (JCS of a nested object is the JCS of that object). The
# pattern only accepts text whose every key and value position is fixed (strings, hex, b64u,
# times, positive integers), and the values at those positions are checked to be plain str
# and int (msgspec also writes UUIDs, dates or bytes as JSON strings), which is exactly when
# that output is RFC 8785. Anything else takes the slow path: the core parsers, which raise
# the precise message. tests/unit/test_verifier.py checks that the two paths agree.

_G = BALLOT_LEAF_RE.groupindex
_SIGNATURE, _SIGNED, _VOTER, _SIGNER, _DATE = _G["signature"], _G["signed"], _G["voter"], _G["signer"], _G["date"]


@lru_cache(maxsize=4096)
def date_ok(date: bytes) -> bool:
    """Whether the day exists (and is not before 1970): `parse_time` on its midnight."""
    try:
        parse_time(date.decode("ascii") + "T00:00:00.000Z")
    except MalformedError:
        return False
    return True


class LeafData(NamedTuple):
    leaf_hash: bytes
    message: bytes  # JCS(ballot.signed)
    signature: bytes
    seq: int
    voter: str
    revision: int
    ranking: list[str] | tuple[str, ...]
    election: str
    election_digest: str


def fast_leaf(obj: Any) -> LeafData | None:
    """The leaf's data when it is certainly well formed, else None (then the slow path decides)."""
    fields = fast_fields(obj)
    return LeafData(*fields) if fields is not None else None


def fast_fields(obj: Any, parsed: bool = False) -> tuple[bytes, bytes, bytes, int, str, int, list[str], str, str] | None:
    """`fast_leaf`, as a plain tuple (cheaper, for the board's loop).

    ``parsed``: ``obj`` comes from `_FAST_DECODER` (plain dicts, lists, strs, ints within
    ±(2^53-1), booleans, None), so that the text matching the pattern is enough.
    """
    try:
        data = jcs_plain(obj)
    except Exception:  # noqa: BLE001 - non-string keys, a lone surrogate, an unknown type: the slow path says
        return None
    match = BALLOT_LEAF_RE.fullmatch(data)
    if match is None or match[_VOTER] != match[_SIGNER] or not date_ok(match[_DATE]):
        return None
    if parsed:
        signed = obj["ballot"]["signed"]
        return (
            leaf_hash(data),
            data[match.start(_SIGNED) : match.end(_SIGNED)],
            b64u_decode_matched(match[_SIGNATURE]),
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
    signature = b64u_decode_matched(match[_SIGNATURE])
    return (leaf_hash(data), data[match.start(_SIGNED) : match.end(_SIGNED)], signature, seq, voter, revision, ranking, election, digest)


def slow_leaf(obj: Any, seq: int, fail: Callable[[str, str, int | None], None]) -> tuple[bytes | None, LeafData | None]:
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
    return hashed, LeafData(hashed, message, env.signature, leaf.seq, ballot.voter, ballot.revision, ballot.ranking, ballot.election, ballot.election_digest)


def ignore_problem(check: str, message: str, seq: int | None) -> None:
    pass


# board.json as bytes. The verifier can take it unparsed (`voting.verifier.BoardFile`): parsing
# 57 MB in the calling process before any worker starts was the last serial part of a large
# verification, and the workers' touching of an inherited parsed board cost a copy-on-write
# fault per page. Laid out one leaf per line, each chunk of leaves is a range of lines that its
# worker parses itself (`BoardLines`).
#
# That is the whole file's parse, piece by piece: the line breaks are whitespace between
# values (a JSON string holds no raw line break), so when the file is "[\n", lines, "\n]\n",
# every range but the last ends in a comma, and "[" + range + "]" parses to one value per
# line, the file is the array of those values, each parsed by the same rules. Anything else
# (another layout, a range that does not parse or has more or fewer values than lines) parses
# the whole file in the calling process (`parse_board`), which gives the board or the precise
# error of `parse_json_strict`: the report is the one the reader would have caused.


class NotOneLeafPerLine(Exception):
    """The fast path met something only the whole file's strict parse should judge."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise NotOneLeafPerLine
    return obj


def _refuse(text: str) -> Any:
    raise NotOneLeafPerLine


def _int_in_range(text: str) -> int:
    value = int(text)
    if len(text) > 15 and abs(value) > MAX_SAFE_INTEGER:
        raise NotOneLeafPerLine
    return value


_FAST_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=_refuse, parse_constant=_refuse, parse_int=_int_in_range, strict=True)
# A \uD800-\uDFFF escape, possibly a lone surrogate (or an escaped backslash before "ud8": harmless).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]")


def _parse_fast(text: str) -> Any:
    """The common case of `parse_json_strict` (no BOM, surrogate escape, duplicate key, float or
    big integer); raises NotOneLeafPerLine, ValueError or RecursionError on anything else."""
    if text.startswith("\ufeff") or _SURROGATE_ESCAPE.search(text):
        raise NotOneLeafPerLine
    return _FAST_DECODER.decode(text)


def parse_board(data: bytes) -> Any:
    """`parse_json_strict` for a large board or roll, faster on the common case.

    The same rules, except that it skips the up-front nesting scan (the verifier refuses any
    leaf that is not exactly the PROTOCOL shape, and the C parser guards its own recursion)
    and scans the text once for surrogate escapes instead of walking every string. Anything
    unusual (a duplicate key, a float, a big integer, a surrogate escape, a syntax error) is
    handed to `parse_json_strict`, which raises its precise :class:`MalformedError`.
    """
    try:
        return _parse_fast(data.decode("utf-8"))
    except (NotOneLeafPerLine, ValueError, RecursionError):
        return parse_json_strict(data)


def line_breaks(data: bytes) -> list[int] | None:
    """The offsets of the line breaks around the leaves of a file laid out as "[\n", one leaf
    per line, "\n]\n" (leaf i is data[breaks[i] + 1:breaks[i + 1]]), else None."""
    if not (data.startswith(b"[\n") and data.endswith(b"\n]\n")) or len(data) < 6:
        return None
    breaks: list[int] = []
    append, find, end = breaks.append, data.find, len(data) - 2  # the last break is at end - 1
    at = 1
    while at >= 0:
        append(at)
        at = find(b"\n", at + 1, end)
    return breaks


class BoardLines(Sequence[Any]):
    """A board file's leaves, parsed on demand, a slice at a time: ``board[lo:hi]`` parses lines
    lo..hi as one array and raises NotOneLeafPerLine unless that is one leaf per line."""

    def __init__(self, data: bytes, breaks: list[int]) -> None:
        self.data, self.breaks = data, breaks

    def __len__(self) -> int:
        return len(self.breaks) - 1

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            lo, hi, _ = index.indices(len(self))
            return self.parse(lo, hi)
        return self.parse(index, index + 1)[0]

    def parse(self, lo: int, hi: int) -> list[Any]:
        if lo >= hi:
            return []
        data, breaks = self.data, self.breaks
        start, end = breaks[lo] + 1, breaks[hi]
        if hi < len(breaks) - 1:  # lines follow: this range ends in the comma before them
            if data[end - 1] != 0x2C:  # ","
                raise NotOneLeafPerLine
            end -= 1
        try:
            leaves: list[Any] = _parse_fast("[" + data[start:end].decode("utf-8") + "]")
        except (ValueError, RecursionError):
            raise NotOneLeafPerLine from None
        if len(leaves) != hi - lo:
            raise NotOneLeafPerLine
        return leaves

    def raw(self, lo: int, hi: int) -> list[tuple[Any, ...]] | None:
        """`fast_fields` of lines lo..hi read straight from the bytes, without parsing them,
        when every line is a leaf in one of the two layouts of `raw_fields`; else None (then
        the caller parses the range: a range that does not parse must still end in NotOneLeafPerLine)."""
        data, breaks, last = self.data, self.breaks, len(self.breaks) - 2
        start, end = breaks[lo] + 1, breaks[hi]
        if end <= start:
            return None
        text = data[start:end]
        if not text.isascii():
            try:
                text.decode("utf-8")  # the patterns take any byte above 0x7f: it must be UTF-8
            except UnicodeDecodeError:
                return None
        fields: list[tuple[Any, ...]] = []
        append = fields.append
        for i in range(lo, hi):
            at, to = breaks[i] + 1, breaks[i + 1]
            if i < last:  # lines follow: this one ends in the comma before them
                if data[to - 1] != 0x2C:  # ","
                    return None
                to -= 1
            found = raw_fields(data, at, to)
            if found is None:
                return None
            append(found)
        return fields


# Reading a line without parsing it: a line that matches one of these patterns in full is
# one JSON object with exactly these members, each once, whose strings hold no escape and no
# control character, and whose integers have at most 15 digits (so within ±(2^53-1)): the
# strict parse of such a line could not fail, and gives the values the groups spell. Since
# no string needs an escape, the JCS of the leaf and of its ballot are these very bytes (in
# the server's layout: the leaves as stored, keys sorted) or these bytes in sorted order (in
# the layout of `make_leaf` with the ballot's fields in the order the client signs them).
# Everything else (another order, an escape, a bigger integer) is parsed as before.
_RAW_RANKING = rb"\[(?P<ranking>" + PLAIN_STR + rb"(?:," + PLAIN_STR + rb")*)?\]"
_RAW_SORTED_RE = re.compile(rb" *" + ballot_leaf_pattern(PLAIN_STR, digits=15))
_RAW_CLIENT_RE = re.compile(
    rb' *{"v":1,"type":"leaf","seq":(?P<seq>0|[1-9][0-9]{0,14}),"ballot":{"signed":{"v":1,"type":"ballot",'
    rb'"election":(?P<election>' + PLAIN_STR + rb'),"election_digest":"(?P<digest>' + HEX64_BYTES + rb')",'
    rb'"voter":"(?P<voter>' + HEX64_BYTES + rb')","revision":(?P<revision>[1-9][0-9]{0,14}),"ranking":' + _RAW_RANKING + rb","
    rb'"nonce":"(?P<nonce>' + B64U_16_BYTES + rb')"},"signature":"(?P<signature>' + B64U_64_BYTES + rb')",'
    rb'"signer":"(?P<signer>' + HEX64_BYTES + rb')"},"received_at":"(?P<received_at>' + TIME_BYTES + rb')"}'
)
_SORTED_GROUPS = ("leaf", "signature", "signed", "election", "digest", "ranking", "revision", "voter", "signer", "date", "seq")


def raw_fields(data: bytes, at: int, to: int) -> tuple[Any, ...] | None:
    """`fast_fields` of the leaf in data[at:to], from its bytes (see the patterns above), with
    the ranking as the bytes between its brackets (`board_checks.LeafScan.ranked` reads them); None when the
    line is not one of the two layouts (or the leaf is not certainly well formed)."""
    match = _RAW_SORTED_RE.fullmatch(data, at, to)
    if match is not None:
        leaf, signature, message, election, digest, ranking, revision, voter, signer, date, seq = match.group(*_SORTED_GROUPS)
    else:
        match = _RAW_CLIENT_RE.fullmatch(data, at, to)
        if match is None:
            return None
        seq, election, digest, voter, revision, ranking, nonce, signature, signer, received_at, date = match.groups()
        message = b"".join(
            (
                b'{"election":',
                election,
                b',"election_digest":"',
                digest,
                b'","nonce":"',
                nonce,
                b'","ranking":[',
                ranking or b"",
                b'],"revision":',
                revision,
                b',"type":"ballot","v":1,"voter":"',
                voter,
                b'"}',
            )
        )
        leaf = ballot_leaf_bytes(int(seq), signature, message, signer, received_at)
    if voter != signer or not date_ok(date):
        return None
    return (
        leaf_hash(leaf),
        message,
        b64u_decode_matched(signature),
        int(seq),
        voter.decode("ascii"),
        int(revision),
        ranking or b"",
        election[1:-1].decode("utf-8"),
        digest.decode("ascii"),
    )
