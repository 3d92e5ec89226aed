"""The ballot checks of PROTOCOL §5, in their order: `check_ballot`, and one function per rule.

`check_ballot` is the order; each rule is a function of its own, which the server, the
verifier and the clients call wherever they apply that rule (the verifier reports every
failure of a published board instead of the first, so it calls the rules, not the order).

Three steps need more than the ballot, and `check_ballot` takes them as arguments so that it
stays pure and the caller keeps its own way of doing them:

- ``election()``: the election as it stands (after the body parsed: an unknown election is the
  caller's answer, e.g. 404, after a malformed body's 400);
- ``verify(voter, message, signature)``: check 6, the one expensive step (the server batches it
  on worker processes, `voting.signatures`);
- ``board(election)``: the board as it stands once the signature has been checked (another
  ballot may have committed meanwhile), for checks 7 and 10.

The board answers check 7 only for ballots that are durable, and may leave check 10 open
(``highest_revision`` None) while a batch commits: the board then runs `check_on_board` again
at commit, under its lock (voting/board.py), against what is durable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .counting import CountingError, encode_choice, encode_ranking
from .encoding import sha256
from .errors import BallotRejected
from .fastjson import parse_ballot_body
from .signed import Ballot, Envelope, Roll, RollVoter, verify_ballot_election

__all__ = [
    "BALLOT_MAX_BYTES",
    "BallotBoard",
    "BallotElection",
    "CheckedBallot",
    "check_ballot",
    "check_ballot_size",
    "check_election",
    "check_on_board",
    "check_on_roll",
    "check_open",
    "check_ranking",
    "check_revision",
    "check_signature",
    "revision_supersedes",
]

#: Check 1: the largest ballot body accepted (PROTOCOL §5 allows 16 to 64 KiB).
BALLOT_MAX_BYTES = 64 * 1024


class BallotElection(Protocol):
    """What the checks need of an election (the server's `ElectionState` is one)."""

    @property
    def election_id(self) -> str: ...
    @property
    def digest(self) -> str: ...  # "" while a draft
    @property
    def status(self) -> str: ...
    @property
    def roll(self) -> Roll | None: ...
    @property
    def known_options(self) -> Collection[str]: ...  # what a ranking may name
    @property
    def method(self) -> str: ...


class BallotBoard(Protocol):
    """What checks 7 and 10 need of the board."""

    def repeat_of(self, signed_digest: bytes) -> int | None:
        """The seq of an accepted ballot whose ``signed`` is this one's (H(JCS(signed))), or None."""
        ...

    def highest_revision(self, voter: str) -> int | None:
        """The voter's highest accepted revision (0 when none); None when it is decided at commit."""
        ...


@dataclass(frozen=True)
class CheckedBallot:
    """A ballot that passed the checks: to append, or (``repeat_of``) answered with its stored receipt."""

    envelope_json: dict[str, Any]  # the envelope as received (parsed JSON)
    envelope: Envelope
    ballot: Ballot
    signed_jcs: bytes  # JCS(signed), the bytes the signature covers
    signed_digest: bytes  # H(JCS(signed))
    repeat_of: int | None  # check 7: the seq of the identical accepted ballot


# --- the rules, one function each ----------------------------------------------------------------


def check_ballot_size(size: int) -> None:
    """Check 1 (`payload_too_large`)."""
    if size > BALLOT_MAX_BYTES:
        raise BallotRejected("payload_too_large", f"a ballot body holds at most {BALLOT_MAX_BYTES} bytes, got {size}")


def check_election(ballot: Ballot, election: BallotElection) -> None:
    """Check 3 (`wrong_election`): the ballot names this election and its digest."""
    if not election.digest:
        raise BallotRejected("wrong_election", f"election {election.election_id} is a draft; there is no election digest to vote on yet")
    verify_ballot_election(ballot, election.election_id, election.digest)


def check_open(election: BallotElection) -> None:
    """Check 4 (`election_not_open`)."""
    if election.status != "open":
        raise BallotRejected("election_not_open", f"election {election.election_id} is {election.status}")


def check_on_roll(ballot: Ballot, election: BallotElection) -> RollVoter:
    """Check 5 (`not_on_roll`): the voter's roll entry."""
    voter = election.roll.get(ballot.voter) if election.roll is not None else None
    if voter is None:
        raise BallotRejected("not_on_roll", f"voter {ballot.voter} is not on the roll of election {election.election_id}")
    return voter


def check_signature(verifies: bool, ballot: Ballot) -> None:
    """Check 6 (`bad_signature`), given whether the signature verified with the roll key."""
    if not verifies:
        raise BallotRejected("bad_signature", f"the signature does not verify with the roll key of {ballot.voter}")


def check_ranking(ranking: Sequence[str], known_options: Collection[str], method: str, election_id: str) -> None:
    """Checks 8 (`unknown_option`) and 9 (`duplicate_option`), then the yes_no shape (at most
    one choice, `malformed_ballot`): the counting's own rules (`encode_ranking`, `encode_choice`),
    so that the server, the count and the verifier refuse exactly the same rankings."""
    where = f"the ranking of a ballot for election {election_id}"
    try:
        if method == "yes_no":
            encode_choice(ranking, where)
        else:
            encode_ranking(ranking, {o: i for i, o in enumerate(sorted(known_options))}, where)
    except CountingError as exc:
        raise BallotRejected(exc.code, str(exc)) from None


def revision_supersedes(revision: int, highest: int | None) -> bool:
    """PROTOCOL §3 revoting: a ballot counts over a voter's earlier ones only with a revision above
    the highest accepted one (None or 0: none yet). The one statement of the rule."""
    return highest is None or revision > highest


def check_revision(revision: int, highest: int) -> None:
    """Check 10 (`stale_revision`)."""
    if not revision_supersedes(revision, highest):
        raise BallotRejected("stale_revision", f"revision {revision} is not above {highest}, the highest accepted for this voter")


def check_on_board(ballot: Ballot, signed_digest: bytes, election: BallotElection, board: BallotBoard) -> int | None:
    """Checks 7 to 10, the ones that read the board: the seq of an identical accepted ballot
    (check 7: answer with its receipt), or None when the ballot is to be appended."""
    seq = board.repeat_of(signed_digest)
    if seq is not None:
        return seq
    check_ranking(ballot.ranking, election.known_options, election.method, election.election_id)
    highest = board.highest_revision(ballot.voter)
    if highest is not None:
        check_revision(ballot.revision, highest)
    return None


# --- the order ----------------------------------------------------------------------------------


async def check_ballot(
    body: bytes,
    election: Callable[[], Awaitable[BallotElection]],
    verify: Callable[[RollVoter, bytes, bytes], Awaitable[bool]],
    board: Callable[[BallotElection], Awaitable[BallotBoard]],
) -> CheckedBallot:
    """PROTOCOL §5: the checks in their order; the first failure raises its error code
    (`BallotRejected`, `MalformedError`, `WrongElectionError`)."""
    check_ballot_size(len(body))  # 1
    obj, env, ballot, signed_jcs = parse_ballot_body(body)  # 2 (MalformedError)
    current = await election()
    check_election(ballot, current)  # 3
    check_open(current)  # 4
    voter = check_on_roll(ballot, current)  # 5
    check_signature(await verify(voter, signed_jcs, env.signature), ballot)  # 6
    signed_digest = sha256(signed_jcs)
    seq = check_on_board(ballot, signed_digest, current, await board(current))  # 7-10
    return CheckedBallot(obj, env, ballot, signed_jcs, signed_digest, seq)
