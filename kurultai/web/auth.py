"""Who is asking: bearer tokens for API clients, a cookie session (with CSRF) for browsers.

`resolve_principal` is the only place that reads credentials. Role checks are explicit calls in
the services' callers (`require_*`), so every endpoint names the role it needs and a test can
walk the whole matrix.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from litestar import Request

from deliberation.accounts import UserView, lookup_token
from deliberation.tables import Membership, active_member
from kurultai.web.errors import ApiError

log = logging.getLogger("kurultai")

SESSION_COOKIE = "kurultai_session"
CSRF_COOKIE = "kurultai_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
ROLES = ("moderator", "secretary", "delegate", "observer")


@dataclass(frozen=True)
class Principal:
    user: UserView
    via_cookie: bool
    csrf: str
    csrf_ok: bool

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin


async def resolve_principal(request: Request, now_ms: int) -> Principal | None:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "not_authenticated", "Authorization header must be 'Bearer <token>'")
        found = await lookup_token(token.strip(), "bearer", now_ms)
        if found is None:
            raise ApiError(401, "not_authenticated", "unknown or expired bearer token")
        return Principal(found[0], via_cookie=False, csrf="", csrf_ok=True)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    found = await lookup_token(cookie, "session", now_ms)
    if found is None:
        return None
    user, session_csrf = found
    # The token is the one stored with the session at login, not the CSRF cookie: a cookie can be
    # planted by a neighbouring (sub)domain, a session's own token cannot.
    ok = request.method not in UNSAFE_METHODS or csrf_matches(session_csrf, request.headers.get(CSRF_HEADER, ""))
    return Principal(user, via_cookie=True, csrf=session_csrf, csrf_ok=ok)


def csrf_matches(expected: str, sent: str) -> bool:
    """The value sent in a header or form field equals the expected token (the session's, or the
    CSRF cookie's before login); an empty token never matches."""
    return bool(expected) and bool(sent) and hmac.compare_digest(expected.encode(), sent.encode())


def require_user(principal: Principal | None) -> Principal:
    if principal is None:
        raise ApiError(401, "not_authenticated", "log in first: POST /api/auth/token or the /login page")
    if not principal.csrf_ok:
        raise ApiError(403, "csrf_failed", f"a cookie-authenticated {sorted(UNSAFE_METHODS)} request needs the {CSRF_HEADER} header")
    return principal


def require_admin(principal: Principal | None) -> Principal:
    p = require_user(principal)
    if not p.is_admin:
        raise ApiError(403, "forbidden", "this action needs the admin role")
    return p


async def role_in(assembly_id: int, principal: Principal | None) -> str | None:
    if principal is None:
        return None
    row = await Membership.select(Membership.role).where((Membership.assembly == assembly_id) & (Membership.user == principal.id) & active_member()).first()
    return row["role"] if row else None  # a deactivated member holds no role (issue #18)


def effective_role(role: str | None, is_admin: bool) -> str | None:
    """The role a page is rendered for: the member's role in the assembly; an administrator who
    is no member there acts as its moderator."""
    return (role or "moderator") if is_admin else role


async def require_role(assembly_id: int, principal: Principal | None, *roles: str) -> Principal:
    """The caller must hold one of `roles` in the assembly; admins hold every role."""
    p = require_user(principal)
    if p.is_admin:
        return p
    role = await role_in(assembly_id, p)
    if role not in roles:
        have = f"'{role}'" if role else "no role"
        raise ApiError(403, "forbidden", f"this action needs the role {' or '.join(roles)} in assembly {assembly_id}; you have {have}")
    return p


async def require_moderator(assembly_id: int, principal: Principal | None) -> Principal:
    return await require_role(assembly_id, principal, "moderator")


async def require_secretary(assembly_id: int, principal: Principal | None) -> Principal:
    """Preparing an assembly (draft, agenda, members): its secretary, or its chair, who keeps
    every right it had before secretaries existed (issue #18)."""
    return await require_role(assembly_id, principal, "secretary", "moderator")


async def require_delegate(assembly_id: int, principal: Principal | None) -> Principal:
    """Delegates take part in the debate; moderators may too (chairs often speak)."""
    return await require_role(assembly_id, principal, "delegate", "moderator")


class RateLimiter:
    """A sliding-window limit per key, in process (`RedisRateLimiter` when Redis is configured)."""

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}

    async def hit(self, key: str, now: float | None = None) -> bool:
        """Record an attempt; False when the key is over its limit."""
        return self.hit_now(key, now)

    def hit_now(self, key: str, now: float | None = None) -> bool:
        """`hit`, without a coroutine (the ballot path calls it twice per ballot)."""
        now = time.monotonic() if now is None else now
        q = self._hits.get(key)
        if q is None:
            q = self._hits[key] = deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if len(q) >= self.limit:
            return False
        q.append(now)
        if len(self._hits) > 100_000:  # bound memory under a flood of distinct keys
            self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window_s}
        return True

    async def retry_after(self, key: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        q = self._hits.get(key)
        if not q:
            return 0
        return max(1, int(q[0] + self.window_s - now) + 1)


#: Seconds a Redis round trip (or connecting) may take before the limit counts in the process.
REDIS_TIMEOUT_S = 2.0

#: Hits sent to Redis in one call of the window's script; a larger batch is split into calls in
#: one pipeline (the script holds Redis for a few microseconds per hit).
WINDOW_CALL_MAX = 256

# One call counts a batch of hits, in order, each as if alone. KEYS: each hit's sorted set of
# attempt times (a key once per hit, repeated when hit again); ARGV: window (s), limit, then
# each hit's time and a unique member. Returns one answer per hit: 1 counted, 0 over the limit,
# -1 Redis refused that key (a key of another type): the caller counts that hit in-process.
_SLIDING_WINDOW = """
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local ttl = math.ceil(window * 1000)
local out = {}
for i, key in ipairs(KEYS) do
  local now = tonumber(ARGV[1 + 2 * i])
  local removed = redis.pcall('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if type(removed) == 'table' and removed.err then
    out[i] = -1
  elseif redis.call('ZCARD', key) >= limit then
    out[i] = 0
  else
    redis.call('ZADD', key, now, ARGV[2 + 2 * i])
    redis.call('PEXPIRE', key, ttl)
    out[i] = 1
  end
end
return out
"""


class RedisRateLimiter:
    """The same sliding window, shared by every process through Redis (one sorted set per key).

    Hits that arrive while a round trip to Redis is under way wait and go together in the next
    one: one call of the window's script for up to WINDOW_CALL_MAX hits, which counts them one
    after another in arrival order (the call is atomic), so the limit counts exactly as with one
    call per hit. During a vote that is two round trips per event-loop turn instead of two per ballot: with
    `serve --workers 2` a round trip per hit had cost more CPU than the ballot's own checks
    (docs/benchmarks.md, "Ballot ingestion").

    While Redis cannot be reached (a restart, a network cut) the limit falls back to this
    process's own window instead of failing the request: ballots, logins and the floor never
    depend on Redis being up (tests/services/test_faults.py restarts it mid-vote)."""

    def __init__(self, redis_url: str, prefix: str, limit: int, window_s: float = 60.0) -> None:
        self.redis_url = redis_url
        self.prefix = f"{prefix}ratelimit:"
        self.limit = limit
        self.window_s = window_s
        self._redis: Any = None
        self._sha = ""
        self._local = RateLimiter(limit, window_s)
        self._degraded = False
        self._waiting: list[tuple[str, float, asyncio.Future[bool]]] = []
        self._sending: asyncio.Task[None] | None = None
        # Each hit's member of its key's set: unique across processes and restarts without a call
        # to the system's random source per hit.
        self._member_prefix = secrets.token_hex(6) + ":"
        self._members = itertools.count()

    def _client(self) -> Any:
        if self._redis is None:
            from redis.asyncio import Redis

            # A network cut must end in the fallback below, not in requests that wait for ever.
            self._redis = Redis.from_url(self.redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
        return self._redis

    async def hit(self, key: str, now: float | None = None) -> bool:
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, time.time() if now is None else now, answer))
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send_waiting())
            self._sending.add_done_callback(self._sender_done)
        return await answer

    async def _send_waiting(self) -> None:
        """Send the hits that wait, in one pipeline, until none is left (one sender at a time)."""
        from redis.exceptions import RedisError

        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                answers = await self._run_window(batch)
            except (RedisError, OSError) as exc:
                answers = [exc] * len(batch)
            except BaseException as exc:  # a bug, or the loop's end: no request waits for ever
                _fail(batch, exc)
                raise
            failed = next((a for a in answers if isinstance(a, Exception)), None)
            if failed is not None and not self._degraded:  # once per outage, not once per request
                log.warning("rate limit %s: Redis unavailable (%s); counting in this process", self.prefix, type(failed).__name__)
            self._degraded = failed is not None
            for (key, _, answer), allowed in zip(batch, answers):
                if isinstance(allowed, Exception):  # only the hits Redis did not count
                    allowed = self._local.hit_now(key)
                if not answer.done():  # its request may have been cancelled meanwhile
                    answer.set_result(allowed)

    def _sender_done(self, task: asyncio.Task[None]) -> None:
        """A sender that ended early (cancelled before it ran, or failed) leaves no hit waiting,
        unless a newer sender took them over."""
        if self._sending is not task:
            return
        self._sending = None
        if self._waiting and (task.cancelled() or task.exception() is not None):
            leftover, self._waiting = self._waiting, []
            _fail(leftover, None if task.cancelled() else task.exception())

    async def _run_window(self, batch: list[tuple[str, float, asyncio.Future[bool]]]) -> list[bool | Exception]:
        """The window's answer for each hit, in order, or the error for a hit Redis refused: one
        call of the script per WINDOW_CALL_MAX hits, all in one pipeline."""
        from redis.exceptions import NoScriptError, ResponseError

        redis = self._client()
        calls = [batch[i : i + WINDOW_CALL_MAX] for i in range(0, len(batch), WINDOW_CALL_MAX)]
        for attempt in (1, 2):
            if not self._sha:
                self._sha = await redis.script_load(_SLIDING_WINDOW)
            pipe = redis.pipeline(transaction=False)
            for call in calls:
                keys = [self.prefix + key for key, _, _ in call]
                args: list[Any] = [self.window_s, self.limit]
                for _, at, _ in call:
                    args += (at, f"{at:.6f}:{self._member_prefix}{next(self._members)}")
                pipe.evalsha(self._sha, len(keys), *keys, *args)
            results = await pipe.execute(raise_on_error=False)
            if attempt == 1 and all(isinstance(r, NoScriptError) for r in results):
                self._sha = ""  # Redis restarted and forgot the script: load it and send again
                continue  # no call counted anything: a missing script fails before it runs
            answers: list[bool | Exception] = []
            for call, result in zip(calls, results):
                if isinstance(result, Exception):
                    answers += [result] * len(call)
                elif not isinstance(result, list) or len(result) != len(call):  # never seen: count these hits here
                    answers += [ResponseError(f"the window's script answered {result!r} for {len(call)} hits")] * len(call)
                else:
                    answers += [ResponseError("Redis refused this key") if r < 0 else r == 1 for r in result]
            return answers
        raise NoScriptError("the window's script could not be loaded")

    async def retry_after(self, key: str, now: float | None = None) -> int:
        from redis.exceptions import RedisError

        redis = self._client()
        at = time.time() if now is None else now
        try:
            oldest = await redis.zrange(self.prefix + key, 0, 0, withscores=True)
        except (RedisError, OSError):
            return await self._local.retry_after(key)
        if not oldest:
            return await self._local.retry_after(key)
        return max(1, int(oldest[0][1] + self.window_s - at) + 1)

    async def close(self) -> None:
        sending, self._sending = self._sending, None
        if sending is not None and not sending.done():  # a round trip in flight: its hits are cancelled
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
        leftover, self._waiting = self._waiting, []
        _fail(leftover, None)
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


def _fail(hits: list[tuple[str, float, asyncio.Future[bool]]], exc: BaseException | None) -> None:
    """Answer hits that will not be counted: cancelled (the limiter or the loop stops), or the error."""
    for _, _, answer in hits:
        if not answer.done():
            if exc is None or isinstance(exc, asyncio.CancelledError):
                answer.cancel()
            else:
                answer.set_exception(exc)


def make_rate_limiter(settings: Any, scope: str, limit: int, window_s: float = 60.0) -> RateLimiter | RedisRateLimiter:
    """In process by default; in Redis when `KURULTAI_REDIS_URL` is set, shared by all workers
    and instances. `scope` keeps the keys of different limits apart (an address is a key of both
    the login and the ballot limits)."""
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, f"{settings.redis_prefix}{scope}:", limit, window_s)
    return RateLimiter(limit, window_s)
