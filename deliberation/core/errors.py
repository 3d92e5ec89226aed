"""Domain errors of the deliberation core.

One base error, ``DeliberationError``, with specific subclasses. Each carries a
machine-readable ``code`` and the HTTP ``status`` the shell maps it to; the
message says what was expected and what was received.
"""

from __future__ import annotations


class DeliberationError(Exception):
    """Base class of every error raised by the deliberation domain."""

    code: str = "deliberation_error"
    status: int = 400

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class IllegalTransition(DeliberationError):
    """A state machine (phase, amendment status, timer) refused a transition."""

    code = "illegal_transition"
    status = 409


class InvalidInput(DeliberationError):
    """Input that is malformed or names something unknown."""

    code = "invalid_input"
    status = 400


class AuditChainError(DeliberationError):
    """The audit chain does not verify; ``index`` is the 0-based offending entry."""

    code = "audit_chain_broken"
    status = 400

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index
