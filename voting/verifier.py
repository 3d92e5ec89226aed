"""The independent verifier (PROTOCOL §7): check a whole election from its five published objects.

`verify_election(bundle)` re-checks every rule of PROTOCOL §2–4 on the election, roll, board,
signed tree head and result that anyone can fetch (or read from an export), and returns a
:class:`Report` listing every failed check with the seq it concerns. It raises nothing on bad
input: whatever the objects hold, a problem is a :class:`Failure`, never an exception.

It depends only on the pure core (`voting.core`), never on the server code or the database.
Signature checks, the bulk of the work, run on a thread pool over chunks of leaves:
`cryptography` releases the GIL while it verifies, so they use every core while the calling
thread keeps parsing the next leaves (docs/verifying.md, docs/benchmarks.md).
"""

from __future__ import annotations

import base64
import binascii
import gc
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from voting.core.counting import CountingError, WeightedBallot, compute_result, encode_choice, encode_ranking
from voting.core.counting import Rule as CountingRule
from voting.core.encoding import MAX_SAFE_INTEGER, b64u_decode, jcs, parse_time, sha256
from voting.core.errors import BadKeyError, BadSignatureError, MalformedError, VotingError
from voting.core.keys import check_public_key, key_id, verify_signature
from voting.core.merkle import compute_root, leaf_hash
from voting.core.signed import _fields, _header, _hex64, _int, _str  # the roll's field checks, shared
from voting.core.signed import (
    Election,
    Envelope,
    Result,
    Roll,
    RollVoter,
    Sth,
    parse_ballot_envelope,
    parse_election,
    parse_envelope,
    parse_leaf,
    parse_result,
    parse_sth,
)

__all__ = ["Bundle", "Failure", "Report", "Summary", "verify_election"]

#: Leaves per signature-checking task: large enough that scheduling costs nothing, small
#: enough that the pool starts while the calling thread is still parsing.
CHUNK_SIZE = 2048
#: Seconds a thread may hold the GIL while another waits, during verification.
SWITCH_INTERVAL = 0.00005
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
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
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
class Bundle:
    """The five published objects, as parsed JSON, and the server's raw public key.

    ``board`` is the list of leaf objects in seq order (the ``leaf`` of each board entry).
    An object that could not be read is None; ``problems`` then says why (reading a
    malformed file is a verification failure, not a crash).
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
            canonical = jcs(env.signed)
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
            if (type(item) is dict and len(item) == 3 and type(kid := item.get("key_id")) is str
                    and type(b64 := item.get("public_key")) is str and type(weight := item.get("weight")) is int
                    and weight >= 1 and _HEX64_RE.fullmatch(kid) and _KEY_B64_RE.fullmatch(b64)
                    and sha256(raw := base64.urlsafe_b64decode(b64 + "=")).hex() == kid):
                pass
            else:
                kid, raw, weight = self.roll_entry(item, i)
                if not kid:
                    continue
            if kid <= previous:
                self.fail("roll.order", f"roll.voters[{i}].key_id: voters must be sorted strictly by key_id, "
                                        f"{kid} after {previous}")
            previous = max(previous, kid)
            problem = _quick_key_check(raw)
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
        for i, voter in enumerate(roll.voters):
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
        roll_env, _, roll_digest = self.server_object("roll", b.roll, lambda signed: None, key)
        _, sth, _ = self.server_object("sth", b.sth, parse_sth, key)
        result_env, result, _ = self.server_object("result", b.result, parse_result, key)
        roll, bad_keys = self.parse_roll(roll_env.signed) if roll_env is not None else (None, set())

        if election is None:
            election_digest = None
        if election is not None and roll_digest is not None:
            if election.roll_digest != roll_digest:
                self.fail("election.roll_digest", f"want {roll_digest} (the digest of the roll), got {election.roll_digest}")
        if election is not None and roll is not None and roll.election != election.id:
            self.fail("roll.election", f"want {election.id!r}, got {roll.election!r}")

        leaves = b.board
        if leaves is None:
            if not any(p.check.startswith("board") for p in b.problems):
                self.fail("board", "missing")
            leaves = []
        elif not isinstance(leaves, list):
            self.fail("board", f"want an array of leaves, got {type(leaves).__name__}")
            leaves = []
        board = _BoardCheck(self, election, election_digest, roll, bad_keys)
        hashes, counted = board.run(leaves, self.workers, self.progress)
        if roll is not None:
            self.check_roll_keys(roll, board.proven)

        root: bytes | None = compute_root(hashes) if hashes is not None else None
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


def _quick_key_check(raw: bytes) -> str | None:
    """What `check_public_key` finds without decoding the point: size, y >= p, small order."""
    if len(raw) != 32:
        return f"public key: wrong size {len(raw)}, want 32 bytes"
    if int.from_bytes(raw, "little") & ((1 << 255) - 1) >= _P:
        return "public key: non-canonical encoding (y >= 2^255 - 19)"
    if raw in SMALL_ORDER_KEYS:
        return "public key: small-order point (one of the eight low-order points)"
    return None


def _short(value: Any) -> str:
    text = jcs(value).decode("utf-8")
    return text if len(text) <= 200 else text[:197] + "..."


# --- the board -----------------------------------------------------------------------------
#
# The fast path: one C-encoder pass gives JCS(leaf) (hashed for the tree), one regex over it
# checks the whole leaf's shape and types at once, and JCS(ballot.signed), the signed message,
# is a slice of it (JCS of a nested object is the JCS of that object). The regex only accepts
# text whose every key and value position is fixed (strings, hex, b64u, times, positive
# integers), which is exactly when compact sorted `json` output is RFC 8785 (encoding.jcs says
# why). Anything else takes the slow path: the core parsers, which raise the precise message.
# tests/unit/test_verifier.py checks that the two paths agree.

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"))
_STR = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_B64U_16 = r"[A-Za-z0-9_-]{21}[AQgw]"  # 16 bytes: 22 characters, the last 4 bits zero
_B64U_64 = r"[A-Za-z0-9_-]{85}[AQgw]"  # 64 bytes: 86 characters, the last 4 bits zero
_HEX = r"[0-9a-f]{64}"
_LEAF_RE = re.compile(
    '{"ballot":{"signature":"(' + _B64U_64 + ')","signed":('
    '{"election":' + _STR + ',"election_digest":"(' + _HEX + ')","nonce":"' + _B64U_16 + '",'
    '"ranking":\\[(?:' + _STR + '(?:,' + _STR + ')*)?\\],"revision":[1-9][0-9]{0,15},"type":"ballot","v":1,'
    '"voter":"(' + _HEX + ')"})'
    ',"signer":"(' + _HEX + ')"},"received_at":"(([0-9]{4}-[0-9]{2}-[0-9]{2})T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]'
    '\\.[0-9]{3}Z)","seq":(?:0|[1-9][0-9]{0,15}),"type":"leaf","v":1}'
)


@lru_cache(maxsize=4096)
def _date_ok(date: str) -> bool:
    """Whether the day exists (and is not before 1970): `parse_time` on its midnight."""
    try:
        parse_time(date + "T00:00:00.000Z")
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
    try:
        text = _ENCODER.encode(obj)
        data = text.encode("utf-8")
    except (TypeError, ValueError):  # non-string keys, NaN, a lone surrogate, an unknown type
        return None
    match = _LEAF_RE.fullmatch(text)
    # groups: 1 signature, 2 JCS(signed), 3 election_digest, 4 voter, 5 signer, 6 received_at, 7 its date
    if match is None or match[4] != match[5] or not _date_ok(match[7]):
        return None
    signed = obj["ballot"]["signed"]
    ranking, revision, seq = signed["ranking"], signed["revision"], obj["seq"]
    if type(ranking) is not list or revision > MAX_SAFE_INTEGER or seq > MAX_SAFE_INTEGER:
        return None
    message = match[2].encode("utf-8") if not text.isascii() else data[match.start(2):match.end(2)]
    signature = binascii.a2b_base64(match[1].replace("-", "+").replace("_", "/") + "==")
    return _LeafData(leaf_hash(data), message, signature, seq, match[4], revision, ranking,
                     signed["election"], match[3])


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


def _check_chunk(chunk: list[tuple[int, bytes, bytes, bytes]]) -> list[tuple[int, str]]:
    """Verify (seq, public key, message, signature) items; return the failures. Runs in the pool."""
    bad: list[tuple[int, str]] = []
    for seq, public_key, message, signature in chunk:
        try:
            verify_signature(public_key, message, signature)
        except VotingError as exc:
            bad.append((seq, str(exc)))
    return bad


class _BoardCheck:
    """Every leaf in one pass: shape, seq, ballot, roll, election, options, revisions, leaf hash."""

    def __init__(self, v: _Verifier, election: Election | None, election_digest: str | None,
                 roll: Roll | None, bad_keys: set[str]) -> None:
        self.v = v
        self.election = election
        self.election_digest = election_digest
        self.roll = roll
        self.bad_keys = bad_keys
        self.proven: set[str] = set()  # voters with at least one valid signature
        self.yes_no = election is not None and election.method == "yes_no"
        self.index = {o: i for i, o in enumerate(election.option_ids)} if election is not None else {}

    def check_ranking(self, ranking: Sequence[str]) -> None:
        """Raises CountingError for an unknown or repeated option (the same checks as the count)."""
        if self.yes_no:
            encode_choice(ranking, "ballot")
            return
        index = self.index
        if len(ranking) > len(index) or len(set(ranking)) != len(ranking) or not all(o in index for o in ranking):
            encode_ranking(ranking, index, "ballot")

    def run(
        self, leaves: Sequence[Any], workers: int, progress: Callable[[int], None] | None = None
    ) -> tuple[list[bytes] | None, list[WeightedBallot] | None]:
        """(leaf hashes or None when one cannot be computed, counted ballots or None when unknowable)."""
        fail = self.v.fail
        hashes: list[bytes] | None = []
        # voter -> (revision, ranking, weight) of the highest valid revision so far
        latest: dict[str, tuple[int, Sequence[str], int]] = {}
        last_revision: dict[str, int] = {}
        valid: list[tuple[int, str, int, Sequence[str]]] = []  # (seq, voter, revision, ranking) of valid leaves
        futures: list[Future[list[tuple[int, str]]]] = []
        chunk: list[tuple[int, bytes, bytes, bytes]] = []
        signed_by: list[tuple[int, str]] = []
        election, roll, bad_keys = self.election, self.roll, self.bad_keys
        election_id = election.id if election is not None else None
        election_digest = self.election_digest
        roll_get = roll.get if roll is not None else None
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
            for seq, obj in enumerate(leaves):
                data = _fast_leaf(obj)
                if data is None:
                    hashed, data = _slow_leaf(obj, seq, fail)
                    if hashes is not None:
                        if hashed is None:
                            hashes = None
                        else:
                            hashes.append(hashed)
                    if data is None:
                        continue
                elif hashes is not None:
                    hashes.append(data.leaf_hash)
                ok = True
                voter, revision = data.voter, data.revision
                if data.seq != seq:
                    fail("leaf.seq", f"want {seq} (the leaf's position on the board), got {data.seq}", seq)
                    ok = False
                previous = last_revision.get(voter)
                if previous is not None and revision <= previous:
                    fail("ballot.revision", f"want a revision above {previous} (this voter's previous ballot), "
                                            f"got {revision}", seq)
                    ok = False
                    revision = previous
                last_revision[voter] = revision
                if election_id is not None and election_digest is not None:
                    if data.election != election_id:
                        fail("ballot.election", f"ballot.election: want {election_id!r}, got {data.election!r}", seq)
                        ok = False
                    if data.election_digest != election_digest:
                        fail("ballot.election", f"ballot.election_digest: want {election_digest}, "
                                                f"got {data.election_digest}", seq)
                        ok = False
                    try:
                        self.check_ranking(data.ranking)
                    except CountingError as exc:
                        fail(f"ballot.{exc.code}", str(exc), seq)
                        ok = False
                entry = roll_get(voter) if roll_get is not None else None
                if voter in bad_keys:
                    fail("ballot.bad_key", f"voter {voter} has an unusable key on the roll", seq)
                    ok = False
                elif roll_get is not None and entry is None:
                    fail("ballot.not_on_roll", f"voter {voter} is not on the roll", seq)
                    ok = False
                if entry is not None:
                    chunk.append((seq, entry.public_key, data.message, data.signature))
                    signed_by.append((seq, voter))
                    if len(chunk) >= CHUNK_SIZE:
                        futures.append(_submit(pool, chunk, progress))
                        chunk = []
                if ok and entry is not None:
                    valid.append((seq, voter, data.revision, data.ranking))
            if chunk:
                futures.append(_submit(pool, chunk, progress))
            bad_signatures = [item for future in futures for item in future.result()]
        bad_seqs = {seq for seq, _ in bad_signatures}
        for seq, message in bad_signatures:
            fail("ballot.signature", message, seq)
        self.proven = {voter for seq, voter in signed_by if seq not in bad_seqs}
        if election is None or roll is None:
            return hashes, None
        assert roll_get is not None
        for seq, voter, revision, ranking in valid:
            if seq in bad_seqs:
                continue
            current = latest.get(voter)
            if current is None or revision > current[0]:
                latest[voter] = (revision, ranking, roll_get(voter).weight)  # type: ignore[union-attr]
        counted = [WeightedBallot(tuple(ranking), weight) for _, ranking, weight in latest.values()]
        return hashes, counted


def _submit(pool: ThreadPoolExecutor, chunk: list[tuple[int, bytes, bytes, bytes]], progress: Callable[[int], None] | None) -> Future[list[tuple[int, str]]]:
    future = pool.submit(_check_chunk, chunk)
    if progress is not None:
        future.add_done_callback(lambda _f, n=len(chunk): progress(n))
    return future


def verify_election(bundle: Bundle, *, workers: int | None = None, progress: Callable[[int], None] | None = None) -> Report:
    """Check every rule of PROTOCOL §2–4 on ``bundle``; never raises on bad input.

    ``workers`` is the size of the signature-checking thread pool (default: the CPU count);
    ``progress(n)`` is called (from the pool's threads) as each chunk of n signatures is checked.
    """
    gc_was_enabled = gc.isenabled()
    interval = sys.getswitchinterval()
    # The pool's threads need the GIL for a moment between two verifications; with the default
    # 5 ms switch interval they would wait for the parsing thread far longer than they verify.
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.disable()  # hundreds of thousands of small, acyclic objects: the collector only slows it down
    try:
        return _Verifier(bundle, workers or os.cpu_count() or 1, progress=progress).run()
    finally:
        sys.setswitchinterval(interval)
        if gc_was_enabled:
            gc.enable()
