"""The independent verifier (PROTOCOL §7): check a whole election from its five published objects.

`verify_election(bundle)` re-checks every rule of PROTOCOL §2–4 on the election, roll, board,
signed tree head and result that anyone can fetch (or read from an export), and returns a
:class:`Report` listing every failed check with the seq it concerns. It raises nothing on bad
input: whatever the objects hold, a problem is a :class:`Failure`, never an exception.

It depends only on the pure core (`voting.core`), never on the server code or the database.
The board, the bulk of the work (a signature per ballot), is checked in chunks of leaves on
forked worker processes, one per core, while the calling process checks the roll and then
merges the chunks' results in seq order (docs/verifying.md, docs/benchmarks.md). A board given
as the bytes of its file (:class:`BoardFile`) is parsed by those workers too, each its chunks.
"""

from __future__ import annotations

import binascii
import gc
import hashlib
import json
import multiprocessing
import os
import re
import signal
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, NamedTuple

import msgspec

from voting.core.counting import CountingError, WeightedBallot, compute_result, encode_choice, encode_ranking
from voting.core.counting import Rule as CountingRule
from voting.core.encoding import (
    MAX_SAFE_INTEGER,
    _check_jcs_value,
    b64u_decode,
    jcs,
    parse_json_strict,
    parse_time,
    sha256,
)
from voting.core.errors import BadKeyError, BadSignatureError, MalformedError, VotingError
from voting.core.keys import check_public_key, key_id, verify_signature
from voting.core.merkle import compute_root, leaf_hash, node_hash
from voting.core.signed import _fields, _header, _hex64, _int, _str  # the roll's field checks, shared
from voting.core.signed import (
    Election,
    Envelope,
    Result,
    Roll,
    RollVoter,
    parse_ballot_envelope,
    parse_election,
    parse_envelope,
    parse_leaf,
    parse_result,
    parse_sth,
)

__all__ = ["BoardFile", "Bundle", "Failure", "Report", "Summary", "parse_board", "verify_election"]

#: Leaves per task, rounded down to a power of two (a complete subtree of the Merkle tree):
#: large enough that scheduling costs nothing, small enough that the workers end together.
CHUNK_SIZE = 512
#: Boards with fewer leaves are checked in the calling process: forking costs more.
POOL_MIN_LEAVES = 1024
#: Distinct rankings whose check each worker remembers (a few hundred for five options).
RANKINGS_KEPT = 4096
#: The canonical encodings of the eight small-order points, plus the two encodings of x = 0 with
#: the sign bit set (the other non-canonical encodings have y >= p). See `_quick_key_check`.
SMALL_ORDER_KEYS = frozenset(bytes.fromhex(h) for h in (
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
))
_P = 2**255 - 19
_KEY_B64_RE = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")  # 32 bytes: 43 characters, the last 2 bits zero
#: The result fields that must equal the recount, compared as canonical JSON (so that
#: ``true`` never equals ``1``).
RECOUNT_FIELDS = ("ranking", "winner", "ties_broken", "details", "counted", "weight_counted", "abstentions")


@dataclass(frozen=True)
class Failure:
    """One failed check: ``check`` names it (``"ballot.signature"``), ``seq`` is the leaf or None."""

    check: str
    message: str
    seq: int | None = None

    def __str__(self) -> str:
        where = f"seq {self.seq}: " if self.seq is not None else ""
        return f"{where}{self.check}: {self.message}"


@dataclass(frozen=True)
class BoardFile:
    """A board as the bytes of its file (a JSON array of leaves), not yet parsed.

    As a :class:`Bundle`'s board, the verifier parses it with :func:`parse_board`'s rules; a
    large one laid out one leaf per line (as `voting.client.write_bundle` writes it) is parsed
    by the worker processes, each its own chunks of lines, while the checks run. A file that
    does not parse is the failure ``("board", f"{name}: {why}")``, inserted in the bundle's
    ``problems`` at ``problem_index`` (at the end when None), the board then None: exactly as
    if the reader had parsed it.
    """

    data: bytes
    name: str = "board.json"
    problem_index: int | None = None


@dataclass(frozen=True)
class Bundle:
    """The five published objects, as parsed JSON, and the server's raw public key.

    ``board`` is the list of leaf objects in seq order (the ``leaf`` of each board entry), or
    a :class:`BoardFile`. An object that could not be read is None; ``problems`` then says why
    (reading a malformed file is a verification failure, not a crash).
    """

    election: Any
    roll: Any
    board: Any
    sth: Any
    result: Any
    server_public_key: bytes
    problems: tuple[Failure, ...] = ()


@dataclass(frozen=True)
class Summary:
    """What the verifier saw and recounted; None where it could not tell."""

    election: str | None
    method: str | None
    ballots: int  # leaves on the board
    voters: int  # keys on the roll
    counted: int | None  # voters whose ballot the recount counted
    winner: str | None  # the recount's winner
    ranking: tuple[str, ...] | None
    tree_size: int | None
    root_hash: str | None


@dataclass(frozen=True)
class Report:
    failures: tuple[Failure, ...]
    summary: Summary

    @property
    def ok(self) -> bool:
        """True when every check held."""
        return not self.failures


# --- the checks ----------------------------------------------------------------------------


@dataclass
class _Verifier:
    bundle: Bundle
    workers: int
    failures: list[Failure] = field(default_factory=list)
    progress: Callable[[int], None] | None = None
    lines: _BoardLines | None = None  # the board's leaves when it is a file the workers parse

    def fail(self, check: str, message: str, seq: int | None = None) -> None:
        self.failures.append(Failure(check, message, seq))

    # signed server objects

    def server_object(self, name: str, obj: Any, parse: Callable[[Any], Any],
                      key: bytes | None) -> tuple[Envelope | None, Any, str | None]:
        """(envelope, parsed signed object, digest of the signed object), Nones when unusable.

        ``parse_envelope`` checks ``v`` and ``type`` (the domain separation); JCS(signed) is
        computed once, for both the signature and the digest (the roll can be large).
        """
        if obj is None:
            if not any(p.check.startswith(name) for p in self.bundle.problems):
                self.fail(name, "missing")
            return None, None, None
        try:
            env = parse_envelope(obj, name)
            canonical = _canonical(env.signed)
        except VotingError as exc:
            self.fail(f"{name}.envelope", str(exc))
            return None, None, None
        if key is not None:
            try:
                if env.signer != key_id(key):
                    raise BadSignatureError(f"signer {env.signer} is not the expected key {key_id(key)}")
                verify_signature(key, canonical, env.signature)
            except VotingError as exc:
                self.fail(f"{name}.signature", f"server signature: {exc}")
        try:
            parsed = parse(env.signed)
        except VotingError as exc:
            self.fail(f"{name}.fields", str(exc))
            parsed = None
        return env, parsed, sha256(canonical).hex()

    def parse_roll(self, signed: Any) -> tuple[Roll | None, set[str]]:
        """The roll, as `voting.core.signed.parse_roll` checks it, every entry reported on its own.

        Returns the usable roll (entries whose key passed the quick checks) and the key ids of
        entries with an unusable key. The expensive half of `check_public_key` (decoding the
        point) is deferred to :meth:`check_roll_keys`.
        """
        try:
            s = _header(signed, "roll", {"election", "voters"})
            election = _str(s, "roll", "election")
            if not isinstance(s["voters"], list):
                raise MalformedError(f"roll.voters: want an array, got {type(s['voters']).__name__}")
        except VotingError as exc:
            self.fail("roll.fields", str(exc))
            return None, set()
        usable: list[RollVoter] = []
        bad_keys: set[str] = set()
        previous = ""
        for i, item in enumerate(s["voters"]):
            # Fast path: exactly the three fields, canonical b64u of 32 bytes, the matching key id.
            # (The sha256 match implies that key_id is 64 lowercase hex digits.)
            if (type(item) is dict and len(item) == 3 and type(kid := item.get("key_id")) is str
                    and type(b64 := item.get("public_key")) is str and type(weight := item.get("weight")) is int
                    and weight >= 1 and _KEY_B64_RE.fullmatch(b64)
                    and _sha256(raw := _a2b_base64(b64.encode().translate(_URLSAFE) + b"=")).hexdigest() == kid):
                pass
            else:
                kid, raw, weight = self.roll_entry(item, i)
                if not kid:
                    continue
            if kid <= previous:
                self.fail("roll.order", f"roll.voters[{i}].key_id: voters must be sorted strictly by key_id, "
                                        f"{kid} after {previous}")
            else:
                previous = kid
            # y < p unless the top 7 bits are all set; then the full check (and the small-order set)
            problem = _quick_key_check(raw) if raw[31] & 0x7F == 0x7F or raw in SMALL_ORDER_KEYS else None
            if problem is not None:
                self.fail("roll.public_key", f"roll.voters[{i}].public_key: {problem}")
                bad_keys.add(kid)
                continue
            usable.append(RollVoter(kid, raw, weight))
        return Roll(election, tuple(usable)), bad_keys

    def roll_entry(self, item: Any, i: int) -> tuple[str, bytes, int]:
        """A roll entry through the core's field checks; ("", b"", 0) after reporting its problem."""
        at = f"roll.voters[{i}]"
        try:
            _fields(item, at, {"key_id", "public_key", "weight"})
            kid = _hex64(item, at, "key_id")
            weight = _int(item, at, "weight", 1)
            try:
                raw = b64u_decode(item["public_key"])
            except MalformedError as exc:
                raise MalformedError(f"{at}.public_key: {exc}") from None
            if key_id(raw) != kid:
                raise MalformedError(f"{at}.key_id: want {key_id(raw)} (the hash of public_key), got {kid}")
        except VotingError as exc:
            self.fail("roll.voter", str(exc))
            return "", b"", 0
        return kid, raw, weight

    def check_roll_keys(self, roll: Roll, proven: set[str]) -> None:
        """`check_public_key` on every roll key no valid signature has already proven to be a point.

        A key that verified a signature decoded as a curve point (RFC 8032 verification
        decodes it first); with the quick checks (y < p, not one of the small-order
        encodings) that is all `check_public_key` asks. The rest pay the full check.
        """
        if len(proven) == len(roll.voters):  # proven holds only key ids on the roll: every one is proven
            return
        for voter in roll.voters:
            if voter.key_id in proven:
                continue
            try:
                check_public_key(voter.public_key)
            except BadKeyError as exc:
                self.fail("roll.public_key", f"roll key {voter.key_id}: {exc}")

    def run(self) -> Report:
        b = self.bundle
        self.failures.extend(b.problems)
        key: bytes | None = b.server_public_key
        try:
            check_public_key(key)
        except BadKeyError as exc:
            self.fail("server_key", str(exc))
            key = None
        _, election, election_digest = self.server_object("election", b.election, parse_election, key)
        if election is None:
            election_digest = None
        # The board's chunks start now, on the workers; the failures are reported in this
        # order all the same (the chunks only return them, `board.finish` reports them).
        leaves: Sequence[Any] = self.lines if self.lines is not None else b.board if isinstance(b.board, list) else []
        board = _BoardCheck(self, election, election_digest)
        try:
            board.start(leaves, self.workers)
            roll_env, _, roll_digest = self.server_object("roll", b.roll, lambda signed: None, key)
            _, sth, _ = self.server_object("sth", b.sth, parse_sth, key)
            result_env, result, _ = self.server_object("result", b.result, parse_result, key)
            roll, bad_keys = self.parse_roll(roll_env.signed) if roll_env is not None else (None, set())
            self.check_roll_header(election, roll, roll_digest)
            if b.board is None:
                if not any(p.check.startswith("board") for p in b.problems):
                    self.fail("board", "missing")
            elif self.lines is None and not isinstance(b.board, list):
                self.fail("board", f"want an array of leaves, got {type(b.board).__name__}")
            root, counted = board.finish(roll, bad_keys, self.progress)
        finally:
            board.close()
        if roll is not None:
            self.check_roll_keys(roll, board.proven)

        if root is None and leaves:
            self.fail("board.root_hash", "cannot compute the root hash: a leaf cannot be canonicalized")
        if sth is not None:
            if election is not None and sth.election != election.id:
                self.fail("sth.election", f"want {election.id!r}, got {sth.election!r}")
            self.check_tree("sth", sth.tree_size, sth.root_hash, len(leaves), root)
        if result is not None:
            self.check_result(result, election, election_digest, len(leaves), root)
        recount = self.recount(election, roll, counted, result_env.signed if result is not None else None)

        summary = Summary(
            election=election.id if election is not None else None,
            method=election.method if election is not None else None,
            ballots=len(leaves),
            voters=len(roll.voters) if roll is not None else 0,
            counted=recount["counted"] if recount else None,
            winner=recount["winner"] if recount else None,
            ranking=tuple(recount["ranking"]) if recount else None,
            tree_size=len(leaves),
            root_hash=root.hex() if root is not None else None,
        )
        return Report(tuple(self.failures), summary)

    def check_roll_header(self, election: Election | None, roll: Roll | None, roll_digest: str | None) -> None:
        if election is not None and roll_digest is not None:
            if election.roll_digest != roll_digest:
                self.fail("election.roll_digest", f"want {roll_digest} (the digest of the roll), got {election.roll_digest}")
        if election is not None and roll is not None and roll.election != election.id:
            self.fail("roll.election", f"want {election.id!r}, got {roll.election!r}")

    def check_tree(self, name: str, tree_size: int, root_hash: bytes, size: int, root: bytes | None) -> None:
        if tree_size != size:
            self.fail(f"{name}.tree_size", f"want {size} (the leaves on the board), got {tree_size}")
        elif root is not None and root_hash != root:
            self.fail(f"{name}.root_hash", f"want {root.hex()} (the Merkle root of the board), got {root_hash.hex()}")

    def check_result(self, result: Result, election: Election | None, election_digest: str | None,
                     size: int, root: bytes | None) -> None:
        if election is not None:
            if result.election != election.id:
                self.fail("result.election", f"want {election.id!r}, got {result.election!r}")
            if result.method != election.method:
                self.fail("result.method", f"want {election.method!r} (the election's method), got {result.method!r}")
        if election_digest is not None and result.election_digest != election_digest:
            self.fail("result.election_digest", f"want {election_digest}, got {result.election_digest}")
        self.check_tree("result", result.tree_size, result.root_hash, size, root)

    def recount(self, election: Election | None, roll: Roll | None, counted: list[WeightedBallot] | None,
                signed: dict[str, Any] | None) -> dict[str, Any] | None:
        """Count each voter's highest-revision valid ballot and compare with the signed result."""
        if election is None or roll is None or counted is None:
            return None
        rule = None
        if election.rule is not None:
            rule = CountingRule(election.rule.majority, election.rule.quorum_percent)
        try:
            recount = compute_result(election.method, election.option_ids, counted, rule=rule,
                                     roll_weight=roll.total_weight)
        except CountingError as exc:  # pragma: no cover - leaves were checked with the same functions
            self.fail("recount", str(exc))
            return None
        if signed is not None:
            for name in RECOUNT_FIELDS:
                if jcs(recount[name]) != jcs(signed[name]):
                    self.fail(f"result.{name}", f"the recount gives {_short(recount[name])}, "
                                                f"the signed result says {_short(signed[name])}")
        return recount


_URLSAFE = bytes.maketrans(b"-_", b"+/")
_a2b_base64 = binascii.a2b_base64
_sha256 = hashlib.sha256


def _b64u_key(text: str) -> bytes:
    """`base64.urlsafe_b64decode(text + "=")`, faster (text: 43 characters of the b64u alphabet)."""
    return binascii.a2b_base64(text.encode("ascii").translate(_URLSAFE) + b"=")


def _quick_key_check(raw: bytes) -> str | None:
    """What `check_public_key` finds without decoding the point: size, y >= p, small order."""
    if len(raw) != 32:
        return f"public key: wrong size {len(raw)}, want 32 bytes"
    if int.from_bytes(raw, "little") & ((1 << 255) - 1) >= _P:
        return "public key: non-canonical encoding (y >= 2^255 - 19)"
    if raw in SMALL_ORDER_KEYS:
        return "public key: small-order point (one of the eight low-order points)"
    return None


def _canonical(signed: Any) -> bytes:
    """`jcs(signed)`, faster for a large roll.

    When every roll entry is a plain object of three plain fields (strings, an integer within
    ±(2^53-1)) and the rest passes the core's JCS check with ASCII keys only, sorted compact
    msgspec output is the JCS (see the board's fast path below); anything else, and any
    other object, goes to `jcs`, which raises the precise error.
    """
    if type(signed) is dict and type(voters := signed.get("voters")) is list and len(voters) > 16:
        rest = {k: v for k, v in signed.items() if k != "voters"}
        try:
            if _check_jcs_value(rest, 0) and _plain_roll_entries(voters):
                return _LEAF_ENCODER.encode(signed)
        except Exception:  # noqa: BLE001 - a lone surrogate, a float...: `jcs` says what
            pass
    return jcs(signed)


def _plain_roll_entries(voters: list[Any]) -> bool:
    for item in voters:
        if (type(item) is not dict or len(item) != 3 or type(item.get("key_id")) is not str
                or type(item.get("public_key")) is not str or type(weight := item.get("weight")) is not int
                or not -MAX_SAFE_INTEGER <= weight <= MAX_SAFE_INTEGER):
            return False
    return True


def _short(value: Any) -> str:
    text = jcs(value).decode("utf-8")
    return text if len(text) <= 200 else text[:197] + "..."


# --- the board -----------------------------------------------------------------------------
#
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


# --- the board file ----------------------------------------------------------------------------
#
# `read_bundle` can hand over board.json unparsed (a BoardFile): parsing 57 MB in the calling
# process before any worker starts was the last serial part of a large verification, and the
# workers' touching of an inherited parsed board cost a copy-on-write fault per page. Laid out
# one leaf per line, each chunk of leaves is a range of lines that its worker parses itself.
#
# That is the whole file's parse, piece by piece: the line breaks are whitespace between
# values (a JSON string holds no raw line break), so when the file is "[\n", lines, "\n]\n",
# every range but the last ends in a comma, and "[" + range + "]" parses to one value per
# line, the file is the array of those values, each parsed by the same rules. Anything else
# (another layout, a range that does not parse or has more or fewer values than lines) parses
# the whole file in the calling process (`parse_board`), which gives the board or the precise
# error of `parse_json_strict`: the report is the one the reader would have caused.


class _Fallback(Exception):
    """The fast path met something only the whole file's strict parse should judge."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Fallback
    return obj


def _refuse(text: str) -> Any:
    raise _Fallback


def _int_in_range(text: str) -> int:
    value = int(text)
    if len(text) > 15 and abs(value) > MAX_SAFE_INTEGER:
        raise _Fallback
    return value


_FAST_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=_refuse, parse_constant=_refuse,
                                 parse_int=_int_in_range, strict=True)
# A \uD800-\uDFFF escape, possibly a lone surrogate (or an escaped backslash before "ud8": harmless).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]")


def _parse_fast(text: str) -> Any:
    """The common case of `parse_json_strict` (no BOM, surrogate escape, duplicate key, float or
    big integer); raises _Fallback, ValueError or RecursionError on anything else."""
    if text.startswith("\ufeff") or _SURROGATE_ESCAPE.search(text):
        raise _Fallback
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
    except (_Fallback, ValueError, RecursionError):
        return parse_json_strict(data)


def _line_breaks(data: bytes) -> list[int] | None:
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


class _BoardLines(Sequence[Any]):
    """A board file's leaves, parsed on demand, a slice at a time: ``board[lo:hi]`` parses lines
    lo..hi as one array and raises _Fallback unless that is one leaf per line."""

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
                raise _Fallback
            end -= 1
        try:
            leaves = _parse_fast("[" + data[start:end].decode("utf-8") + "]")
        except (ValueError, RecursionError):
            raise _Fallback from None
        if len(leaves) != hi - lo:
            raise _Fallback
        return leaves

    def raw(self, lo: int, hi: int) -> list[tuple[Any, ...]] | None:
        """`_fast_fields` of lines lo..hi read straight from the bytes, without parsing them,
        when every line is a leaf in one of the two layouts of `_raw_fields`; else None (then
        the caller parses the range: a range that does not parse must still end in _Fallback)."""
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
            found = _raw_fields(data, at, to)
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
_PLAIN_STR = rb'"[^"\\\x00-\x1f]*"'
_RAW_RANKING = rb'\[(?P<ranking>' + _PLAIN_STR + rb'(?:,' + _PLAIN_STR + rb')*)?\]'
_RAW_SEQ = rb'(?P<seq>0|[1-9][0-9]{0,14})'
_RAW_REVISION = rb'(?P<revision>[1-9][0-9]{0,14})'
_RAW_TIME = (rb'"(?P<received_at>(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]'
             rb'\.[0-9]{3}Z)"')
_RAW_SORTED_RE = re.compile(
    rb' *(?P<leaf>{"ballot":{"signature":"(?P<signature>' + _B64U_64 + rb')","signed":(?P<signed>'
    rb'{"election":(?P<election>' + _PLAIN_STR + rb'),"election_digest":"(?P<digest>' + _HEX + rb')",'
    rb'"nonce":"' + _B64U_16 + rb'","ranking":' + _RAW_RANKING + rb',"revision":' + _RAW_REVISION + rb','
    rb'"type":"ballot","v":1,"voter":"(?P<voter>' + _HEX + rb')"}),"signer":"(?P<signer>' + _HEX + rb')"},'
    rb'"received_at":' + _RAW_TIME + rb',"seq":' + _RAW_SEQ + rb',"type":"leaf","v":1})'
)
_RAW_CLIENT_RE = re.compile(
    rb' *{"v":1,"type":"leaf","seq":' + _RAW_SEQ + rb',"ballot":{"signed":{"v":1,"type":"ballot",'
    rb'"election":(?P<election>' + _PLAIN_STR + rb'),"election_digest":"(?P<digest>' + _HEX + rb')",'
    rb'"voter":"(?P<voter>' + _HEX + rb')","revision":' + _RAW_REVISION + rb',"ranking":' + _RAW_RANKING + rb','
    rb'"nonce":"(?P<nonce>' + _B64U_16 + rb')"},"signature":"(?P<signature>' + _B64U_64 + rb')",'
    rb'"signer":"(?P<signer>' + _HEX + rb')"},"received_at":' + _RAW_TIME + rb'}'
)


def _raw_fields(data: bytes, at: int, to: int) -> tuple[Any, ...] | None:
    """`_fast_fields` of the leaf in data[at:to], from its bytes (see the patterns above), with
    the ranking as the bytes between its brackets (`_Scan.ranked` reads them); None when the
    line is not one of the two layouts (or the leaf is not certainly well formed)."""
    match = _RAW_SORTED_RE.fullmatch(data, at, to)
    if match is not None:
        leaf, signature, message, election, digest, ranking, revision, voter, signer, _, date, seq = match.groups()
    else:
        match = _RAW_CLIENT_RE.fullmatch(data, at, to)
        if match is None:
            return None
        seq, election, digest, voter, revision, ranking, nonce, signature, signer, received_at, date = match.groups()
        message = b"".join((b'{"election":', election, b',"election_digest":"', digest, b'","nonce":"', nonce,
                            b'","ranking":[', ranking or b"", b'],"revision":', revision,
                            b',"type":"ballot","v":1,"voter":"', voter, b'"}'))
        leaf = b"".join((b'{"ballot":{"signature":"', signature, b'","signed":', message, b',"signer":"', signer,
                         b'"},"received_at":"', received_at, b'","seq":', seq, b',"type":"leaf","v":1}'))
    if voter != signer or not _date_ok(date):
        return None
    return (leaf_hash(leaf), message, _a2b_base64(signature.translate(_URLSAFE) + b"=="), int(seq),
            voter.decode("ascii"), int(revision), ranking or b"", election[1:-1].decode("utf-8"), digest.decode("ascii"))


def _board_lines(board: BoardFile, workers: int) -> _BoardLines | None:
    """The board file's leaves for the workers, or None when it is to be parsed here (small,
    no pool, or not one leaf per line)."""
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    breaks = _line_breaks(board.data)
    if breaks is None or len(breaks) - 1 < max(POOL_MIN_LEAVES, 1):
        return None
    return _BoardLines(board.data, breaks)


def _parsed(bundle: Bundle) -> Bundle:
    """The bundle with its BoardFile parsed here (the board, or None and its problem)."""
    board = bundle.board
    assert type(board) is BoardFile
    try:
        return replace(bundle, board=parse_board(board.data))
    except MalformedError as exc:
        problems = list(bundle.problems)
        at = len(problems) if board.problem_index is None else board.problem_index
        problems.insert(at, Failure("board", f"{board.name}: {exc}"))
        return replace(bundle, board=None, problems=tuple(problems))


# --- the board, in chunks ----------------------------------------------------------------------
#
# The per-leaf work that needs nothing but the leaf, the election and a key (canonicalizing,
# hashing, the leaf's own checks, the signature) runs over chunks of CHUNK_SIZE leaves, on
# worker processes when the board is large (forked: they inherit the parsed board, and they
# share no GIL with the caller), in the calling thread otherwise. The calling thread meanwhile
# checks the roll, then merges the chunks' small results in seq order: the revision order,
# the roll checks, the failures (exactly as one pass over the board would report them), the
# latest ballot of each voter.
#
# The workers start before the roll is checked, so they take each voter's key from the roll
# as published (the last entry with that key_id); each record carries the key a signature was
# checked with, and the merge re-checks, in-process, any ballot whose key is not the one the
# checked roll holds (a tampered roll; never an honest one).
#
# A chunk is a power of two of aligned leaves: a complete subtree of the Merkle tree (RFC 6962
# splits at the largest power of two), so a worker returns its root, not its leaf hashes.


@dataclass
class _Scan:
    """What a chunk's worker needs: the board, the election's facts and the published roll."""

    leaves: Sequence[Any]  # a list, or a board file's _BoardLines
    election_id: str | None
    election_digest: str | None
    yes_no: bool
    index: dict[str, int]
    roll_voters: list[Any] | None  # the roll's `voters` array as published, or None
    _keys: dict[str, str] | None = None
    _ranked: dict[bytes, tuple[Any, Any]] = field(default_factory=dict)

    def keys(self) -> dict[str, str]:
        """key_id -> public_key (b64u) of the published roll, the last entry winning, unchecked."""
        keys = self._keys
        if keys is None:
            keys = {}
            for item in self.roll_voters or ():
                if type(item) is dict:
                    kid, b64 = item.get("key_id"), item.get("public_key")
                    if type(kid) is str and type(b64) is str:
                        keys[kid] = b64
            self._keys = keys
        return keys

    def ranked(self, raw: bytes) -> tuple[bytes | tuple[Any, ...] | None, tuple[str, str] | None]:
        """(`check_ranking` of a ranking read from a line, as the bytes between its brackets
        (plain strings), or None; the failure it raises, or None), remembered for each ranking."""
        known = self._ranked.get(raw)
        if known is None:
            ranking = raw[1:-1].decode("utf-8").split('","') if raw else []
            try:
                known = (self.check_ranking(ranking), None)
            except CountingError as exc:
                known = (None, (f"ballot.{exc.code}", str(exc)))
            if len(self._ranked) < RANKINGS_KEPT:
                self._ranked[raw] = known
        return known

    def check_ranking(self, ranking: Sequence[str]) -> bytes | tuple[Any, ...]:
        """The ranking as option indexes (or as a tuple); raises CountingError for an unknown or
        repeated option (the same checks as the count)."""
        if self.yes_no:
            encode_choice(ranking, "ballot")
        else:
            index = self.index
            try:
                codes = bytes(map(index.__getitem__, ranking))
            except (KeyError, TypeError, ValueError):
                codes = None
            if codes is not None and len(set(codes)) == len(codes):
                return codes
            encode_ranking(ranking, index, "ballot")
        try:
            return bytes(map(self.index.__getitem__, ranking))
        except (KeyError, TypeError, ValueError):
            return tuple(ranking)

    def chunk(self, lo: int, hi: int) -> tuple[bytes | None, list[tuple[Any, ...]]]:
        """(Merkle root of leaves lo..hi or None when one cannot be hashed, a record per leaf).

        A record is ``(None, failures)`` for a leaf that does not parse, else ``(voter,
        revision, ranking, key, bad, before, after)``: the ranking as option indexes (bytes) or
        a tuple, None when invalid; the key the signature was checked with (None when not
        checked) and why it failed (None when it holds); the leaf's own failures that one pass
        reports before the revision check and after it (None when there are none).
        """
        keys = self.keys()
        parsed = type(self.leaves) is _BoardLines
        # A board file's lines: read from their bytes, or parsed here (raising _Fallback)
        raw = self.leaves.raw(lo, hi) if parsed else None  # type: ignore[attr-defined]
        leaves = raw if raw is not None else self.leaves[lo:hi]
        election_id, election_digest = self.election_id, self.election_digest
        check_election = election_id is not None and election_digest is not None
        check_ranking, ranked = self.check_ranking, self.ranked
        hashes: list[bytes] | None = []
        records: list[tuple[Any, ...]] = []
        append = records.append
        for seq, obj in enumerate(leaves, lo):
            data = obj if raw is not None else _fast_fields(obj, parsed)
            if data is None:
                problems: list[tuple[str, str]] = []
                hashed, slow = _slow_leaf(obj, seq, lambda check, message, _seq: problems.append((check, message)))
                if hashed is None:
                    hashes = None
                elif hashes is not None:
                    hashes.append(hashed)
                if slow is None:
                    append((None, problems))
                    continue
                data = tuple(slow)
            elif hashes is not None:
                hashes.append(data[0])
            _, message, signature, leaf_seq, voter, revision, ranking, election, digest = data
            before = after = None
            if leaf_seq != seq:
                before = (("leaf.seq", f"want {seq} (the leaf's position on the board), got {leaf_seq}"),)
            codes: bytes | tuple[Any, ...] | None = None
            if check_election:
                if type(ranking) is bytes:  # read from the line: the same bytes, the same answer
                    codes, problem = ranked(ranking)
                else:
                    try:
                        codes, problem = check_ranking(ranking), None
                    except CountingError as exc:
                        codes, problem = None, (f"ballot.{exc.code}", str(exc))
                if election == election_id and digest == election_digest:
                    if problem is not None:
                        after = (problem,)
                else:
                    codes = None
                    problems = []
                    if election != election_id:
                        problems.append(("ballot.election", f"ballot.election: want {election_id!r}, got {election!r}"))
                    if digest != election_digest:
                        problems.append(("ballot.election", f"ballot.election_digest: want {election_digest}, "
                                                            f"got {digest}"))
                    if problem is not None:
                        problems.append(problem)
                    after = tuple(problems)
            key: bytes | None = None
            bad: str | None = None
            b64 = keys.get(voter)
            if b64 is not None:
                try:
                    key = _b64u_key(b64)
                    verify_signature(key, message, signature)
                except VotingError as exc:
                    bad = str(exc)
                except Exception:  # noqa: BLE001 - an undecodable key: the merge checks it if it matters
                    key = None
            append((voter, revision, codes, key, bad, before, after))
        return (_subtree_root(hashes) if hashes is not None else None), records


def _subtree_root(hashes: list[bytes]) -> bytes:
    """`compute_root`, level by level when the count is a power of two (a full chunk)."""
    n = len(hashes)
    if n < 2 or n & (n - 1):
        return compute_root(hashes)
    while len(hashes) > 1:
        hashes = [node_hash(left, right) for left, right in zip(hashes[::2], hashes[1::2])]
    return hashes[0]


#: The scans the worker processes inherit (by fork), by token.
_SCANS: dict[int, _Scan] = {}


def _chunk_in_worker(token: int, lo: int, hi: int) -> tuple[bytes | None, list[Any]]:
    return _SCANS[token].chunk(lo, hi)


def _worker_init() -> None:
    # Ctrl-C reaches the whole process group: the caller handles it (and shuts the pool down).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Deferred:
    """A chunk computed in the calling thread when its result is asked for."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args

    def result(self) -> Any:
        return self.fn(*self.args)


def _chunk_size() -> int:
    return 1 << (max(CHUNK_SIZE, 1).bit_length() - 1)  # a power of two: a complete subtree


class _BoardCheck:
    """Every leaf: shape, seq, ballot, roll, election, options, revisions, signature, leaf hash.

    :meth:`start` hands the chunks to the workers (before the roll is checked), :meth:`finish`
    merges them once the roll is known. Failures are reported only by :meth:`finish`, in the
    order of one pass over the board.
    """

    def __init__(self, v: _Verifier, election: Election | None, election_digest: str | None) -> None:
        self.v = v
        self.election = election
        self.proven: set[str] = set()  # voters with at least one valid signature
        self.pool: Executor | None = None
        self.token = 0
        self.futures: list[Any] = []
        self.bounds: list[tuple[int, int]] = []
        self.leaves: Sequence[Any] = []
        self.scan = _Scan(
            leaves=[],
            election_id=election.id if election is not None else None,
            election_digest=election_digest,
            yes_no=election is not None and election.method == "yes_no",
            index={o: i for i, o in enumerate(election.option_ids)} if election is not None else {},
            roll_voters=_published_voters(v.bundle.roll),
        )

    def start(self, leaves: Sequence[Any], workers: int) -> None:
        """Submit every chunk: to forked processes for a large board, else computed in-process."""
        self.leaves = self.scan.leaves = leaves
        size = _chunk_size()
        bounds = [(lo, min(lo + size, len(leaves))) for lo in range(0, len(leaves), size)]
        self.bounds = bounds
        workers = min(workers, len(bounds))
        if workers > 1 and len(leaves) >= POOL_MIN_LEAVES:
            try:
                if "fork" in multiprocessing.get_all_start_methods():
                    self.token = id(self.scan)
                    _SCANS[self.token] = self.scan
                    self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                                    initializer=_worker_init)
                    self.futures = [self.pool.submit(_chunk_in_worker, self.token, lo, hi) for lo, hi in bounds]
                else:  # pragma: no cover - no fork (Windows): threads, which share the GIL
                    self.pool = ThreadPoolExecutor(workers, thread_name_prefix="verify")
                    self.futures = [self.pool.submit(self.scan.chunk, lo, hi) for lo, hi in bounds]
                return
            except Exception:  # noqa: BLE001 - no pool here (a daemonic process...): in-process, then
                self.close()
        self.futures = [_Deferred(self.scan.chunk, lo, hi) for lo, hi in bounds]

    def close(self) -> None:
        """Stop the workers (pending chunks are cancelled); safe to call twice."""
        _SCANS.pop(self.token, None)
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def finish(
        self, roll: Roll | None, bad_keys: set[str], progress: Callable[[int], None] | None = None
    ) -> tuple[bytes | None, list[WeightedBallot] | None]:
        """(Merkle root or None when a leaf cannot be hashed, counted ballots or None when unknowable)."""
        fail = self.v.fail
        election, leaves = self.election, self.leaves
        # voter -> (revision, ranking as option indexes or a tuple, weight) of the highest valid revision so far
        latest: dict[str, tuple[int, Any, int]] = {}
        last_revision: dict[str, int] = {}
        bad_signatures: list[tuple[int, str]] = []
        proven = self.proven
        roll_get = roll._by_key_id.get if roll is not None else None  # = roll.get, without a call per leaf
        roots: list[bytes] | None = []
        seq = 0
        for future, (lo, hi) in zip(self.futures, self.bounds):
            try:
                root, records = future.result()
            except BrokenExecutor:  # a worker died (killed, out of memory): this chunk in-process
                root, records = self.scan.chunk(lo, hi)
            if root is None:
                roots = None
            elif roots is not None:
                roots.append(root)
            checked = 0
            for record in records:
                voter = record[0]
                if voter is None:  # the leaf did not parse
                    for check, message in record[1]:
                        fail(check, message, seq)
                    seq += 1
                    continue
                _, revision, ranking, key, bad, before, after = record
                ok = True
                if before is not None:
                    for check, message in before:
                        fail(check, message, seq)
                    ok = False
                previous = last_revision.get(voter)
                if previous is not None and revision <= previous:
                    fail("ballot.revision", f"want a revision above {previous} (this voter's previous ballot), "
                                            f"got {revision}", seq)
                    ok = False
                    last_revision[voter] = previous
                else:
                    last_revision[voter] = revision
                if after is not None:
                    for check, message in after:
                        fail(check, message, seq)
                    ok = False
                entry = roll_get(voter) if roll_get is not None else None
                if voter in bad_keys:
                    fail("ballot.bad_key", f"voter {voter} has an unusable key on the roll", seq)
                    ok = False
                elif roll_get is not None and entry is None:
                    fail("ballot.not_on_roll", f"voter {voter} is not on the roll", seq)
                    ok = False
                if entry is not None:
                    checked += 1
                    if key != entry.public_key:  # checked with another key (or not at all): check here
                        bad = _check_signature(leaves[seq], seq, entry.public_key)
                    if bad is not None:
                        bad_signatures.append((seq, bad))
                    else:
                        proven.add(voter)
                        if ok and election is not None:
                            current = latest.get(voter)
                            if current is None or revision > current[0]:
                                latest[voter] = (revision, ranking, entry.weight)
                seq += 1
            if progress is not None and checked:
                progress(checked)
        for seq, message in bad_signatures:
            fail("ballot.signature", message, seq)
        root = compute_root(roots) if roots is not None else None
        if election is None or roll is None:
            return root, None
        return root, _counted(latest.values(), election.option_ids)


def _counted(latest: Iterable[tuple[int, Any, int]], option_ids: Sequence[str]) -> list[WeightedBallot]:
    """The counted ballots: one per ranking, standing for the voters who chose it (``voters``)
    with their summed weight, in the order the rankings first appear.

    The same count as a ballot per voter: every method sums weights, and the tally CLI's
    `"count": k` means the same thing (tests/unit/test_verifier_fast_paths.py compares them).
    """
    totals: dict[Any, list[int]] = {}
    for _, ranking, weight in latest:
        total = totals.get(ranking)
        if total is None:
            totals[ranking] = [weight, 1]
        else:
            total[0] += weight
            total[1] += 1
    return [WeightedBallot(tuple(option_ids[i] for i in ranking) if type(ranking) is bytes else tuple(ranking),
                           weight, voters)
            for ranking, (weight, voters) in totals.items()]


def _published_voters(roll: Any) -> list[Any] | None:
    """The roll's voters array as published, when it is where it should be (for the workers' keys)."""
    if type(roll) is dict and type(signed := roll.get("signed")) is dict and type(voters := signed.get("voters")) is list:
        return voters
    return None


def _check_signature(obj: Any, seq: int, public_key: bytes) -> str | None:
    """Why the leaf's ballot signature fails with ``public_key``, None when it holds."""
    data = _fast_leaf(obj)
    if data is None:
        data = _slow_leaf(obj, seq, _ignore)[1]
    assert data is not None  # the worker parsed this leaf
    try:
        verify_signature(public_key, data.message, data.signature)
    except VotingError as exc:
        return str(exc)
    return None


def verify_election(bundle: Bundle, *, workers: int | None = None, progress: Callable[[int], None] | None = None) -> Report:
    """Check every rule of PROTOCOL §2–4 on ``bundle``; never raises on bad input.

    ``workers`` is the number of worker processes for the board (default: the CPU count;
    1, or a board under POOL_MIN_LEAVES leaves, checks it in the calling thread);
    ``progress(n)`` is called from the calling thread as each chunk of n signatures is checked
    (again from the start, should a board file turn out to need parsing as a whole).
    """
    workers = workers or os.cpu_count() or 1
    gc_was_enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of small, acyclic objects: the collector only slows it down
    try:
        if type(bundle.board) is BoardFile:
            lines = _board_lines(bundle.board, workers)
            if lines is not None:
                try:
                    return _Verifier(bundle, workers, progress=progress, lines=lines).run()
                except _Fallback:  # a chunk of lines is not one leaf per line: the whole file, here
                    pass
            bundle = _parsed(bundle)
        return _Verifier(bundle, workers, progress=progress).run()
    finally:
        if gc_was_enabled:
            gc.enable()
