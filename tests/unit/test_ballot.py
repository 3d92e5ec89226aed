"""PROTOCOL §5: `check_ballot` runs the ballot checks in their order, and the first failure is
the answer; each rule is a function of `voting.core.ballot`."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from voting.core.ballot import (
    BALLOT_MAX_BYTES,
    CheckedBallot,
    check_ballot,
    check_on_board,
    check_revision,
    revision_supersedes,
)
from voting.core.encoding import sha256
from voting.core.errors import VotingError
from voting.core.keys import Signer, sign_object
from voting.core.signed import Roll, RollVoter

VOTER = Signer.generate()
OTHER = Signer.generate()
DIGEST = "ab" * 32


@dataclass
class Election:
    election_id: str = "7"
    digest: str = DIGEST
    status: str = "open"
    roll: Roll | None = field(default_factory=lambda: Roll("7", (RollVoter(VOTER.key_id, VOTER.public_key_raw, 1),)))
    known_options: frozenset[str] = frozenset({"a", "b", "status_quo"})
    method: str = "schulze"


@dataclass
class Board:
    accepted: dict[bytes, int] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)
    committing: bool = False

    def repeat_of(self, signed_digest: bytes) -> int | None:
        return self.accepted.get(signed_digest)

    def highest_revision(self, voter: str) -> int | None:
        return None if self.committing else self.revisions.get(voter, 0)


def body(signer: Signer = VOTER, *, sign_with: Signer | None = None, **changes: Any) -> bytes:
    signed = {"v": 1, "type": "ballot", "election": "7", "election_digest": DIGEST, "voter": signer.key_id, "revision": 2, "ranking": ["a", "status_quo"], "nonce": "AAAAAAAAAAAAAAAAAAAAAA"}
    signed.update(changes)
    env = sign_object(sign_with or signer, signed)
    env["signer"] = signer.key_id
    return json.dumps(env, separators=(",", ":")).encode()


def run(data: bytes, election: Election | None = None, board: Board | None = None, verifies: bool | None = None) -> CheckedBallot:
    election = election or Election()
    board = board or Board()
    calls: list[str] = []

    async def get_election() -> Election:
        calls.append("election")
        return election

    async def verify(voter: RollVoter, message: bytes, signature: bytes) -> bool:
        calls.append("verify")
        if verifies is not None:
            return verifies
        from voting.core.keys import verify_signature

        try:
            verify_signature(voter.public_key, message, signature)
        except VotingError:
            return False
        return True

    async def get_board(_election: Any) -> Board:
        calls.append("board")
        return board

    return asyncio.run(check_ballot(data, get_election, verify, get_board))


def code_of(data: bytes, **kwargs: Any) -> str:
    with pytest.raises(VotingError) as info:
        run(data, **kwargs)
    return info.value.code


def test_a_good_ballot_is_accepted():
    checked = run(body())
    assert checked.repeat_of is None
    assert checked.ballot.revision == 2 and checked.ballot.ranking == ("a", "status_quo")
    assert checked.signed_digest == sha256(checked.signed_jcs)


# Each check alone, in §5's order, with the code the server answers.


def test_1_payload_too_large():
    with pytest.raises(VotingError, match=f"at most {BALLOT_MAX_BYTES} bytes") as info:
        run(b" " * (BALLOT_MAX_BYTES + 1))
    assert info.value.code == "payload_too_large"


def test_2_malformed():
    with pytest.raises(VotingError, match="JSON") as info:
        run(b"{")
    assert info.value.code == "malformed_ballot"


def test_3_wrong_election():
    with pytest.raises(VotingError, match=r"ballot.election: want '7', got '8'") as info:
        run(body(election="8"))
    assert info.value.code == "wrong_election"
    assert code_of(body(election_digest="cd" * 32)) == "wrong_election"
    with pytest.raises(VotingError, match="is a draft") as info:
        run(body(), election=Election(digest="", status="draft", roll=None))
    assert info.value.code == "wrong_election"


def test_4_election_not_open():
    with pytest.raises(VotingError, match="election 7 is closed") as info:
        run(body(), election=Election(status="closed"))
    assert info.value.code == "election_not_open"


def test_5_not_on_roll():
    with pytest.raises(VotingError, match="is not on the roll of election 7") as info:
        run(body(OTHER))
    assert info.value.code == "not_on_roll"


def test_6_bad_signature():
    with pytest.raises(VotingError, match="does not verify with the roll key") as info:
        run(body(sign_with=OTHER))
    assert info.value.code == "bad_signature"


def test_7_a_repeat_is_answered_with_its_seq():
    data = body()
    first = run(data)
    again = run(data, board=Board(accepted={first.signed_digest: 41}, revisions={VOTER.key_id: 2}))
    assert again.repeat_of == 41  # not stale: the identical ballot gets its receipt


def test_8_unknown_option():
    with pytest.raises(VotingError, match=r"election 7: unknown option 'zz' at ranking\[1\], want one of \['a', 'b', 'status_quo'\]") as info:
        run(body(ranking=["a", "zz"]))
    assert info.value.code == "unknown_option"


def test_9_duplicate_option():
    with pytest.raises(VotingError, match="election 7: option 'a' appears twice in the ranking") as info:
        run(body(ranking=["a", "b", "a"]))
    assert info.value.code == "duplicate_option"


def test_yes_no_holds_one_choice():
    election = Election(known_options=frozenset({"yes", "no", "abstain"}), method="yes_no")
    with pytest.raises(VotingError, match=r"a yes_no ranking holds at most one of yes, no, abstain, got \['yes', 'no'\]") as info:
        run(body(ranking=["yes", "no"]), election=election)
    assert info.value.code == "malformed_ballot"
    assert run(body(ranking=[]), election=election).ballot.ranking == ()


def test_10_stale_revision():
    with pytest.raises(VotingError, match="revision 2 is not above 2, the highest accepted for this voter") as info:
        run(body(), board=Board(revisions={VOTER.key_id: 2}))
    assert info.value.code == "stale_revision"
    assert run(body(revision=3), board=Board(revisions={VOTER.key_id: 2})).repeat_of is None


def test_10_is_left_to_the_commit_while_a_batch_commits():
    assert run(body(), board=Board(revisions={VOTER.key_id: 5}, committing=True)).repeat_of is None


# A ballot failing checks k and k+1 gets k's code.

ROLL_CLOSED = {"election": Election(status="closed")}
PAIRS = [
    ("payload_too_large", b"{" * (BALLOT_MAX_BYTES + 1), {}),
    ("malformed_ballot", body(election="8")[:-1], {}),  # 2 and (would be) 3
    ("wrong_election", body(election="8"), ROLL_CLOSED),  # 3 and 4
    ("election_not_open", body(OTHER), ROLL_CLOSED),  # 4 and 5
    ("not_on_roll", body(OTHER, sign_with=VOTER), {}),  # 5 and 6
    ("bad_signature", body(sign_with=OTHER, ranking=["zz"]), {}),  # 6 and 8
    ("unknown_option", body(ranking=["zz", "zz"]), {}),  # 8 and 9
    ("duplicate_option", body(ranking=["a", "a"]), {"board": Board(revisions={VOTER.key_id: 9})}),  # 9 and 10
]


@pytest.mark.parametrize(("want", "data", "kwargs"), PAIRS, ids=[p[0] for p in PAIRS])
def test_the_first_failure_is_the_answer(want: str, data: bytes, kwargs: dict[str, Any]):
    assert code_of(data, **kwargs) == want


def test_7_comes_before_8_to_10():
    """An accepted ballot repeated is answered with its receipt even if the board would now call
    it stale (the same ballot, not a second one)."""
    data = body()
    digest = run(data).signed_digest
    assert run(data, board=Board(accepted={digest: 3}, revisions={VOTER.key_id: 7})).repeat_of == 3


def test_the_signature_is_not_checked_for_a_ballot_that_fails_before_it():
    calls: list[str] = []

    async def never(*_args: Any) -> bool:
        calls.append("verify")
        return True

    async def election() -> Election:
        return Election(status="closed")

    async def board(_e: Any) -> Board:
        return Board()

    with pytest.raises(VotingError):
        asyncio.run(check_ballot(body(), election, never, board))
    assert calls == []


def test_the_revision_rule():
    assert revision_supersedes(1, None) and revision_supersedes(1, 0) and revision_supersedes(3, 2)
    assert not revision_supersedes(2, 2) and not revision_supersedes(1, 2)
    check_revision(3, 2)
    with pytest.raises(VotingError, match="revision 1 is not above 2"):
        check_revision(1, 2)


def test_check_on_board_alone():
    """The board runs checks 7-10 again at commit with the same function."""
    checked = run(body())
    election = Election()
    assert check_on_board(checked.ballot, checked.signed_digest, election, Board()) is None
    assert check_on_board(checked.ballot, checked.signed_digest, election, Board(accepted={checked.signed_digest: 0})) == 0
    with pytest.raises(VotingError, match="not above 2"):
        check_on_board(checked.ballot, checked.signed_digest, election, Board(revisions={VOTER.key_id: 2}))


@pytest.mark.parametrize(
    ("ranking", "code"),
    [(["yes", "maybe"], "unknown_option"), (["yes", "yes"], "duplicate_option"), (["yes", "no"], "malformed_ballot")],
)
def test_yes_no_checks_8_and_9_come_before_its_shape_and_the_count_agrees(ranking: list[str], code: str) -> None:
    """PROTOCOL §5's order for a yes_no ranking too; the count (and so the verifier) refuses the
    same ranking with the same code, since the server's check is the count's own rule."""
    from voting.core.counting import CountingError, encode_choice

    election = Election(known_options=frozenset({"yes", "no", "abstain"}), method="yes_no")
    with pytest.raises(VotingError) as info:
        run(body(ranking=ranking), election=election)
    assert info.value.code == code
    with pytest.raises(CountingError) as counted:
        encode_choice(ranking, "ballots[0]")
    assert counted.value.code == code
