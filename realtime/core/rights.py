"""Sessions follow the token (issue #14): what becomes of a socket when its credential changes.

A socket opened with a session cookie or a bearer token keeps the `Credential` it was opened
with (the token's hash and kind, never the token) beside the `Viewer` it resolved to. The rights
watch (realtime/rights.py) reads every such credential back from the database, as a `Grant`,
and `verdict` says what to do with the socket: nothing, close it with SESSION_ENDED (the token
was revoked or expired, or is not of the kind it was opened with), or close it with
RIGHTS_CHANGED (the viewer it would resolve to now differs: another role in the assembly, the
admin flag set or removed). Both are resumable: the client reconnects with `since=<last seq>`
and the new connection sees what its current rights allow.
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime.core.protocol import CloseCode, Viewer


@dataclass(frozen=True)
class Credential:
    """What an authenticated socket was opened with: the token's hash and kind ("session" or
    "bearer")."""

    token_hash: str
    kind: str


@dataclass(frozen=True)
class Grant:
    """A stored token as the database holds it now, with its user's admin flag and roles (only
    those in the assemblies asked about)."""

    kind: str
    expires_ms: int
    user_id: int
    is_admin: bool
    roles: dict[int, str]

    def viewer_in(self, assembly_id: int) -> Viewer:
        return Viewer(user_id=self.user_id, role=self.roles.get(assembly_id), is_admin=self.is_admin)


SESSION_ENDED = "session ended"
RIGHTS_CHANGED = "rights changed"


def verdict(credential: Credential, viewer: Viewer, assembly_id: int, grant: Grant | None, now_ms: int) -> tuple[CloseCode, str, Viewer] | None:
    """None when the socket may stay; else the close code, its reason (without the resume
    position) and the viewer the credential resolves to now (anonymous when the session ended).

    `grant` is None when the token is gone (revoked, or its user deleted)."""
    if grant is None or grant.kind != credential.kind or grant.expires_ms <= now_ms:
        return CloseCode.SESSION_ENDED, SESSION_ENDED, Viewer()
    now = grant.viewer_in(assembly_id)
    if now != viewer:
        return CloseCode.RIGHTS_CHANGED, RIGHTS_CHANGED, now
    return None
