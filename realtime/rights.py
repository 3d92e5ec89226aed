"""The rights watch: an open websocket follows the token it was opened with (issue #14).

A socket resolves its viewer (user, role in the assembly, admin flag) once, when it opens. Each
process runs one `RightsWatch`: every `interval_s` (0.5 s) it takes the authenticated sockets
the hub holds (`Hub.signed_in`; anonymous observers are not there and cost nothing), reads
their tokens back in one query per `CHUNK` (token, assembly) pairs, with each user's admin flag
and roles in those assemblies, and closes every socket whose token is gone or expired with
SESSION_ENDED (4401) and every socket whose viewer would now resolve differently with
RIGHTS_CHANGED (4403) (core/rights.py decides). Both close codes are resumable: the client
reconnects with `since=<last seq>` and the replay is filtered by its current rights.

The watch reads the database, not a signal: a logout, an expiry or a role change made by
another server process (`kurultai serve --workers N`) or by the CLI is seen the same way. Only
the sockets taken *before* the query are judged, so each is compared with data at least as
new as the data it resolved its viewer from. With no authenticated socket nothing is read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from deliberation.tables import AuthToken
from realtime.core.protocol import resume_reason
from realtime.core.rights import Grant, verdict
from realtime.hub import Connection, ConnState, Hub

log = logging.getLogger("kurultai.realtime")

#: How often the open sockets' tokens and rights are compared with the database (seconds).
RIGHTS_CHECK_S = 0.5
#: (token, assembly) pairs per query: at most 2 × CHUNK parameters, under SQLite's oldest limit
#: (999) and far under PostgreSQL's (32,767).
CHUNK = 400

_GRANTS_SQL = """SELECT t.token_hash, t.kind, t.expires_ms, t."user" AS user_id, u.is_admin,
       m.assembly AS assembly_id, m.role
FROM auth_token t
JOIN kurultai_user u ON u.id = t."user"
LEFT JOIN membership m ON m."user" = t."user" AND m.assembly IN ({aids}) AND m.active = TRUE
WHERE t.token_hash IN ({hashes})"""


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


async def read_grants(pairs: Iterable[tuple[str, int]]) -> dict[str, Grant]:
    """The stored tokens among the pairs' token hashes, each with its user's admin flag and
    roles in the pairs' assemblies (a deactivated member holds none: issue #18). A hash that is not returned has no token (revoked)."""
    ordered = sorted(set(pairs))
    grants: dict[str, Grant] = {}
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        hashes = sorted({h for h, _ in chunk})
        aids = sorted({a for _, a in chunk})
        sql = _GRANTS_SQL.format(aids=", ".join(["{}"] * len(aids)), hashes=", ".join(["{}"] * len(hashes)))
        # Piccolo's raw placeholders are `{}`; the format above only writes them.
        for row in await AuthToken.raw(sql, *aids, *hashes):
            grant = grants.get(row["token_hash"])
            if grant is None:
                grant = grants[row["token_hash"]] = Grant(kind=row["kind"], expires_ms=int(row["expires_ms"]), user_id=int(row["user_id"]), is_admin=bool(row["is_admin"]), roles={})
            if row["assembly_id"] is not None:
                grant.roles[int(row["assembly_id"])] = row["role"]
    return grants


class RightsWatch:
    """One per process, started and stopped with the hub (`Realtime.running`)."""

    def __init__(self, hub: Hub, clock: Callable[[], int] = wall_clock_ms, interval_s: float = RIGHTS_CHECK_S) -> None:
        self.hub = hub
        self.clock = clock
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kurultai-rights-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except Exception:  # keep watching whatever happens; the next round retries
                log.exception("checking the rights of open websockets failed")

    async def check(self) -> int:
        """Compare every authenticated socket with the database once; return how many it closed."""
        sockets = [(conn, aid) for conn, aid in self.hub.signed_in.items() if _open(conn)]
        if not sockets:
            return 0
        grants = await read_grants((conn.credential.token_hash, aid) for conn, aid in sockets if conn.credential is not None)
        now = self.clock()
        closed = 0
        for conn, aid in sockets:
            credential = conn.credential
            if credential is None or not _open(conn):
                continue
            found = verdict(credential, conn.viewer, aid, grants.get(credential.token_hash), now)
            if found is None:
                continue
            code, why, viewer = found
            conn.viewer = viewer  # whatever is still offered to it is judged by its new rights
            conn.request_close(code, resume_reason(conn.last_sent, why))
            closed += 1
        if closed:
            log.info("closed %d websocket(s) whose session ended or whose rights changed", closed)
        return closed


def _open(conn: Connection) -> bool:
    return conn.state is not ConnState.CLOSING and conn.close_request is None
