"""HTTP statuses of the voting error codes (PROTOCOL §5) and shell-level voting errors."""

from __future__ import annotations

from voting.core.errors import BallotRejected, VotingError

__all__ = ["STATUS", "BallotRejected", "BallotRetry", "status_of"]

STATUS = {
    "payload_too_large": 413,
    "malformed_ballot": 400,
    "wrong_election": 400,
    "election_not_open": 409,
    "not_on_roll": 403,
    "bad_signature": 403,
    "unknown_option": 400,
    "duplicate_option": 400,
    "stale_revision": 409,
    "bad_key": 400,
    "bad_proof": 400,
    "tally_hidden": 403,
    "election_secret": 409,
    "counting_error": 400,
    "try_again": 503,
}


def status_of(exc: VotingError) -> int:
    return STATUS.get(exc.code, 400)


class BallotRetry(VotingError):
    """The server cannot answer this ballot yet (what it repeats is still being written): send it
    again, unchanged; an identical ballot is never counted twice (PROTOCOL §5 check 7)."""

    headers = {"retry-after": "1"}

    def __init__(self, detail: str) -> None:
        super().__init__(detail, code="try_again")
