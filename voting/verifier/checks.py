"""The checks of one election: the signed server objects, the roll, the tree heads and the recount.

The board's leaves are checked by `voting.verifier.parallel`, which `_Verifier.run` starts
before the roll and merges after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from voting.core.counting import CountingError, WeightedBallot, compute_result
from voting.core.counting import Rule as CountingRule
from voting.core.encoding import MAX_SAFE_INTEGER, _check_jcs_value, jcs, jcs_plain, sha256
from voting.core.errors import BadKeyError, BadSignatureError, VotingError
from voting.core.keys import check_public_key, key_id, verify_signature
from voting.core.leaves import BoardLines
from voting.core.signed import (
    Election,
    Envelope,
    Result,
    Roll,
    parse_election,
    parse_envelope,
    parse_result,
    parse_sth,
    read_roll,
)

from .model import Bundle, Failure, Report, Summary
from .parallel import _BoardCheck

#: The result fields that must equal the recount, compared as canonical JSON (so that
#: ``true`` never equals ``1``).
RECOUNT_FIELDS = ("ranking", "winner", "ties_broken", "details", "counted", "weight_counted", "abstentions")


@dataclass
class _Verifier:
    bundle: Bundle
    workers: int
    failures: list[Failure] = field(default_factory=list)
    progress: Callable[[int], None] | None = None
    lines: BoardLines | None = None  # the board's leaves when it is a file the workers parse

    def fail(self, check: str, message: str, seq: int | None = None) -> None:
        self.failures.append(Failure(check, message, seq))

    # signed server objects

    def server_object(self, name: str, obj: Any, parse: Callable[[Any], Any], key: bytes | None) -> tuple[Envelope | None, Any, str | None]:
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
        """The roll, every entry reported on its own (`voting.core.signed.read_roll`): the usable
        roll and the key ids of entries with an unusable key. The expensive half of
        `check_public_key` (decoding the point) is deferred to :meth:`check_roll_keys`."""
        try:
            return read_roll(signed, self.fail)
        except VotingError as exc:
            self.fail("roll.fields", str(exc))
            return None, set()

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

    def server_key(self) -> bytes | None:
        """The bundle's server key, None (and a failure) when it is not a usable Ed25519 key."""
        key = self.bundle.server_public_key
        try:
            check_public_key(key)
        except BadKeyError as exc:
            self.fail("server_key", str(exc))
            return None
        return key

    def run(self) -> Report:
        b = self.bundle
        self.failures.extend(b.problems)
        key = self.server_key()
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
            result_env, result = None, None
            if b.result is not None or not b.open:  # an open election has no result yet
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
        recount = self.recount(election, roll, counted, result_env.signed if result_env is not None and result is not None else None)
        if b.tally is not None:
            self.check_tally(b.tally, recount, len(leaves), root)

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
            open=b.open and result is None,
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

    def check_result(self, result: Result, election: Election | None, election_digest: str | None, size: int, root: bytes | None) -> None:
        if election is not None:
            if result.election != election.id:
                self.fail("result.election", f"want {election.id!r}, got {result.election!r}")
            if result.method != election.method:
                self.fail("result.method", f"want {election.method!r} (the election's method), got {result.method!r}")
        if election_digest is not None and result.election_digest != election_digest:
            self.fail("result.election_digest", f"want {election_digest}, got {result.election_digest}")
        self.check_tree("result", result.tree_size, result.root_hash, size, root)

    def recount(self, election: Election | None, roll: Roll | None, counted: list[WeightedBallot] | None, signed: dict[str, Any] | None) -> dict[str, Any] | None:
        """Count each voter's highest-revision valid ballot and compare with the signed result."""
        if election is None or roll is None or counted is None:
            return None
        rule = None
        if election.rule is not None:
            rule = CountingRule(election.rule.majority, election.rule.quorum_percent)
        try:
            recount = compute_result(election.method, election.option_ids, counted, rule=rule, roll_weight=roll.total_weight)
        except CountingError as exc:  # pragma: no cover - leaves were checked with the same functions
            self.fail("recount", str(exc))
            return None
        if signed is not None:
            for name in RECOUNT_FIELDS:
                if jcs(recount[name]) != jcs(signed[name]):
                    self.fail(f"result.{name}", f"the recount gives {_short(recount[name])}, the signed result says {_short(signed[name])}")
        return recount

    def check_tally(self, tally: Any, recount: dict[str, Any] | None, size: int, root: bytes | None) -> None:
        """The server's live tally (PROTOCOL §5 `GET /tally`, §6 `tally.updated`) against the recount
        of the tree it names: the same tree size and root hash, the same count."""
        if type(tally) is not dict or not TALLY_FIELDS <= tally.keys():
            self.fail("tally.fields", f"want an object with {', '.join(sorted(TALLY_FIELDS))}, got {_short_any(tally)}")
            return
        if type(tally["tree_size"]) is not int or tally["tree_size"] != size:
            self.fail("tally.tree_size", f"want {size} (the leaves verified), got {_short_any(tally['tree_size'])}")
            return
        if root is not None and tally["root_hash"] != root.hex():
            self.fail("tally.root_hash", f"want {root.hex()} (the Merkle root of the board), got {_short_any(tally['root_hash'])}")
        if recount is None:
            return
        for name in TALLY_RECOUNT_FIELDS:
            try:
                same = jcs(recount[name]) == jcs(tally[name])
            except VotingError:
                same = False
            if not same:
                self.fail(f"tally.{name}", f"the recount gives {_short(recount[name])}, the server's live tally says {_short_any(tally[name])}")


#: The fields of a live tally (PROTOCOL §5), and those that must equal the recount.
TALLY_FIELDS = frozenset({"tree_size", "root_hash", "counted", "ranking", "winner", "ties_broken", "details"})
TALLY_RECOUNT_FIELDS = ("counted", "ranking", "winner", "ties_broken", "details")


def _canonical(signed: Any) -> bytes:
    """`jcs(signed)`, faster for a large roll.

    When every roll entry is a plain object of three plain fields (strings, an integer within
    ±(2^53-1)) and the rest passes the core's JCS check with ASCII keys only, sorted compact
    output is the JCS (`jcs_plain`, the core's fast path); anything else, and any
    other object, goes to `jcs`, which raises the precise error.
    """
    if type(signed) is dict and type(voters := signed.get("voters")) is list and len(voters) > 16:
        rest = {k: v for k, v in signed.items() if k != "voters"}
        try:
            if _check_jcs_value(rest, 0) and _plain_roll_entries(voters):
                return jcs_plain(signed)
        except Exception:  # noqa: BLE001 - a lone surrogate, a float...: `jcs` says what
            pass
    return jcs(signed)


def _plain_roll_entries(voters: list[Any]) -> bool:
    for item in voters:
        if (
            type(item) is not dict
            or len(item) != 3
            or type(item.get("key_id")) is not str
            or type(item.get("public_key")) is not str
            or type(weight := item.get("weight")) is not int
            or not -MAX_SAFE_INTEGER <= weight <= MAX_SAFE_INTEGER
        ):
            return False
    return True


def _short(value: Any) -> str:
    text = jcs(value).decode("utf-8")
    return text if len(text) <= 200 else text[:197] + "..."


def _short_any(value: Any) -> str:
    """`_short` of a value that may not be canonical JSON (a float in an unsigned tally)."""
    try:
        return _short(value)
    except VotingError:
        text = repr(value)
        return text if len(text) <= 200 else text[:197] + "..."
