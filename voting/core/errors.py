"""Errors of the voting core.

Every error carries ``code``, the PROTOCOL §5 error code the HTTP shell answers with
(or the closest one, for objects that are not ballots). Messages say what was expected
and what was received.
"""

from __future__ import annotations


class VotingError(Exception):
    """Base class of every error raised by ``voting.core``."""

    code: str = "voting_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def detail(self) -> str:
        """The human-readable text for the ``detail`` field of an error response."""
        return str(self)


class MalformedError(VotingError):
    """Bad encoding, JSON, field set or field type (PROTOCOL §5 #2)."""

    code = "malformed_ballot"


class WrongElectionError(VotingError):
    """A ballot names another election or another election digest (PROTOCOL §5 #3)."""

    code = "wrong_election"


class BadSignatureError(VotingError):
    """A signature does not verify, or the signer is not the expected key (PROTOCOL §5 #6)."""

    code = "bad_signature"


class BadKeyError(VotingError):
    """A public or private key is unusable: wrong size, not canonical, not on the curve, small order."""

    code = "bad_key"


class ProofError(VotingError):
    """A Merkle inclusion or consistency proof does not verify, or cannot be built."""

    code = "bad_proof"


class BallotRejected(VotingError):
    """A ballot check of PROTOCOL §5 failed; ``code`` is the protocol error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail, code=code)
