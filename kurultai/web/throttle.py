"""Login and invitation throttling that a hall can live with (docs/operations.md, "Logins").

Only failures count. A login attempt is admitted or refused (429 with `Retry-After`) by the
windows below before its password is checked; a success then erases every trace of it, a
failure stays on the record:

- per username and client address: `login_failures` in 15 minutes (default 10): guessing one
  password from one address stops at the 11th try;
- per client address, across usernames and invitation tokens: `login_address_failures` a minute
  (default 300): a hall of 500 behind one address with its typos is never stopped, a sprayer of
  usernames is;
- per username, from all addresses together: `login_user_failures` in 15 minutes (default 50):
  guessing from many addresses slows a username down;
- but a browser or client that has logged in as exactly that username before carries a **device token**
  (OWASP's "device cookies": the `kurultai_device` cookie, or `device_token` in the token
  request) and is exempt from the three windows above; it has its own window of
  `login_failures` in 15 minutes. So the owner of a username under attack still logs in.

An attempt in flight counts as a failure in the per-username windows until it ends (so a burst
of parallel guesses cannot overshoot them); in the per-address window only finished failures
count (500 delegates logging in at once are all in flight together).

One address may have at most `MAX_IN_FLIGHT_PER_ADDRESS` attempts being checked at once in a
process (the rest: `503 busy`), so a burst of guesses cannot fill the password pool's queue.

Invitation acceptance (`POST /api/auth/invite`, `POST /invite/{token}`) is limited per client
address by its own `login_address_failures` a minute, counting unknown, used or expired
tokens; never by one key for everybody.

The windows live in this process, or in Redis when `KURULTAI_REDIS_URL` is set (shared by all
workers; while Redis is unreachable each process counts on its own).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from deliberation.passwords import PasswordsBusy

log = logging.getLogger("kurultai")

#: The window of the per-username limits and of device tokens' own limit.
FAILURE_WINDOW_S = 15 * 60.0
#: The window of the per-address limit.
ADDRESS_WINDOW_S = 60.0
#: How long a device token exempts its holder (it is renewed at every successful login).
DEVICE_TOKEN_TTL_S = 365 * 24 * 3600
DEVICE_COOKIE = "kurultai_device"


@dataclass(frozen=True)
class Window:
    """One limit: at most `limit` entries in the last `window_s` seconds under `key`.
    `in_flight`: the attempt is entered when admitted (and erased on success)."""

    key: str
    limit: int
    window_s: float
    in_flight: bool


#: Login attempts of one client address being checked at once, in one process; past it the
#: attempt is answered `503 busy` (Retry-After: 1) so that one address cannot fill the password
#: pool's queue (~8 s of work at 30 checks a second) while everybody else waits.
MAX_IN_FLIGHT_PER_ADDRESS = 256


class Throttled(Exception):
    def __init__(self, retry_after: int, what: str) -> None:
        super().__init__(f"too many failed attempts {what}; retry in {retry_after} s")
        self.retry_after = retry_after


class LocalWindows:
    """The windows of this process: per key, its entries (member -> time) oldest first."""

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, float]] = {}
        self._prune_at = self.MAX_KEYS

    def _live(self, w: Window, now: float) -> dict[str, float]:
        entries = self._keys.get(w.key)
        if entries is None:
            entries = self._keys[w.key] = {}
        cutoff = now - w.window_s
        while entries:
            first = next(iter(entries))
            if entries[first] > cutoff:
                break
            del entries[first]
        return entries

    def admit(self, windows: list[Window], member: str, now: float) -> int:
        """0 and the attempt entered in the in-flight windows, or the seconds to wait."""
        for w in windows:
            entries = self._live(w, now)
            if len(entries) >= w.limit:
                return max(1, int(next(iter(entries.values())) + w.window_s - now) + 1)
        for w in windows:
            if w.in_flight:
                self._keys[w.key][member] = now
        if len(self._keys) > self._prune_at:  # a flood of distinct keys: drop the expired ones
            self._keys = {k: v for k, v in self._keys.items() if v and max(v.values()) > now - FAILURE_WINDOW_S}
            # Amortised: the next sweep waits until the live keys have doubled (never a sweep per attempt).
            self._prune_at = max(self.MAX_KEYS, 2 * len(self._keys))
        return 0

    def record(self, key: str, member: str, now: float) -> None:
        self._keys.setdefault(key, {})[member] = now

    def erase(self, keys: list[str], member: str) -> None:
        for key in keys:
            entries = self._keys.get(key)
            if entries is not None:
                entries.pop(member, None)
                if not entries:
                    del self._keys[key]


# KEYS: the windows' sorted sets; ARGV: now, member, then per key: window, limit, in_flight (0/1).
_ADMIT = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[3 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 * i + 1]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return math.max(1, math.floor(tonumber(oldest[2]) + window - now) + 1)
  end
end
for i, key in ipairs(KEYS) do
  if ARGV[3 * i + 2] == '1' then
    redis.call('ZADD', key, now, ARGV[2])
    redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[3 * i]) * 1000))
  end
end
return 0
"""


class RedisWindows:
    """The same windows in Redis, shared by every process; this process's own while Redis
    cannot be reached (logins never depend on Redis being up)."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.redis_url = redis_url
        self.prefix = f"{prefix}throttle:"
        self._redis: Any = None
        self._script: Any = None
        self._local = LocalWindows()
        self._degraded = False

    def _client(self) -> Any:
        if self._redis is None:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(self.redis_url)
            self._script = self._redis.register_script(_ADMIT)
        return self._redis

    def _down(self, exc: Exception) -> None:
        if not self._degraded:  # once per outage, not once per request
            log.warning("login throttle: Redis unavailable (%s); counting in this process", type(exc).__name__)
            self._degraded = True

    async def admit(self, windows: list[Window], member: str, now: float) -> int:
        from redis.exceptions import RedisError

        self._client()
        args: list[Any] = [now, member]
        for w in windows:
            args += [w.window_s, w.limit, "1" if w.in_flight else "0"]
        try:
            wait = int(await self._script(keys=[self.prefix + w.key for w in windows], args=args))
        except (RedisError, OSError) as exc:
            self._down(exc)
            return self._local.admit(windows, member, now)
        self._degraded = False
        return wait

    async def record(self, key: str, member: str, now: float, window_s: float) -> None:
        from redis.exceptions import RedisError

        redis = self._client()
        try:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.zadd(self.prefix + key, {member: now})
                pipe.pexpire(self.prefix + key, int(window_s * 1000) + 1)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._down(exc)
            self._local.record(key, member, now)

    async def erase(self, keys: list[str], member: str) -> None:
        from redis.exceptions import RedisError

        redis = self._client()
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zrem(self.prefix + key, member)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._down(exc)
        self._local.erase(keys, member)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


@dataclass
class Attempt:
    """An admitted attempt: settle it with `LoginThrottle.succeeded` or `failed`."""

    member: str
    in_flight: list[str]  # the keys it was entered under
    address_key: str
    username: str
    address: str = ""  # counted in `LoginThrottle.checking` until settled


class LoginThrottle:
    def __init__(self, settings: Any, device_secret: bytes, *, clock: Any = time.time) -> None:
        self.failures = settings.login_failures
        self.user_failures = settings.login_user_failures
        self.address_failures = settings.login_address_failures
        self._secret = device_secret
        self._clock = clock
        self.store: LocalWindows | RedisWindows = RedisWindows(settings.redis_url, settings.redis_prefix) if settings.redis_url else LocalWindows()
        self.checking: dict[str, int] = {}  # login attempts in flight per address, in this process

    async def _admit(self, windows: list[Window], member: str, now: float) -> int:
        if isinstance(self.store, RedisWindows):
            return await self.store.admit(windows, member, now)
        return self.store.admit(windows, member, now)

    async def begin_login(self, address: str, username: str, device_token: str | None) -> Attempt:
        """Admit a login attempt or raise `Throttled` (429), or `PasswordsBusy` (503) when this
        address already has `MAX_IN_FLIGHT_PER_ADDRESS` attempts being checked."""
        if self.checking.get(address, 0) >= MAX_IN_FLIGHT_PER_ADDRESS:
            raise PasswordsBusy(f"{MAX_IN_FLIGHT_PER_ADDRESS} logins from this address are being checked; retry in a second")
        name = username.lower()
        now = self._clock()
        member = f"{now:.6f}:{secrets.token_hex(6)}"
        device = self.device_id(device_token, username, now) if device_token else None
        if device is not None:
            windows = [Window(f"device:{device}", self.failures, FAILURE_WINDOW_S, True)]
        else:
            windows = [
                Window(f"user-address:{name}|{address}", self.failures, FAILURE_WINDOW_S, True),
                Window(f"address:{address}", self.address_failures, ADDRESS_WINDOW_S, False),
                Window(f"user:{name}", self.user_failures, FAILURE_WINDOW_S, True),
            ]
        wait = await self._admit(windows, member, now)
        if wait:
            raise Throttled(wait, "to log in")
        self.checking[address] = self.checking.get(address, 0) + 1
        return Attempt(member, [w.key for w in windows if w.in_flight], "" if device is not None else f"address:{address}", name, address)

    def _settled(self, attempt: Attempt) -> None:
        if attempt.address:
            left = self.checking.get(attempt.address, 0) - 1
            if left > 0:
                self.checking[attempt.address] = left
            else:
                self.checking.pop(attempt.address, None)
            attempt.address = ""

    async def succeeded(self, attempt: Attempt) -> None:
        self._settled(attempt)
        await self._erase(attempt)

    async def failed(self, attempt: Attempt) -> None:
        self._settled(attempt)
        if attempt.address_key:
            await self._record(attempt.address_key, attempt.member, ADDRESS_WINDOW_S)

    async def abandoned(self, attempt: Attempt) -> None:
        """Neither success nor failure (the server was too busy to check): leaves no trace."""
        self._settled(attempt)
        await self._erase(attempt)

    async def begin_invite(self, address: str) -> Attempt:
        now = self._clock()
        member = f"{now:.6f}:{secrets.token_hex(6)}"
        key = f"invite-address:{address}"
        wait = await self._admit([Window(key, self.address_failures, ADDRESS_WINDOW_S, False)], member, now)
        if wait:
            raise Throttled(wait, "with invitation links from this address")
        return Attempt(member, [], key, "")

    async def _record(self, key: str, member: str, window_s: float) -> None:
        if isinstance(self.store, RedisWindows):
            await self.store.record(key, member, self._clock(), window_s)
        else:
            self.store.record(key, member, self._clock())

    async def _erase(self, attempt: Attempt) -> None:
        if not attempt.in_flight:
            return
        if isinstance(self.store, RedisWindows):
            await self.store.erase(attempt.in_flight, attempt.member)
        else:
            self.store.erase(attempt.in_flight, attempt.member)

    # Device tokens: "<username>.<issued, s>.<nonce>.<mac>", base64url parts, MAC'd with a key
    # derived from the server key (every process of a deployment derives the same one).

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def device_token(self, username: str) -> str:
        parts = [_b64(username.encode()), str(int(self._clock())), secrets.token_urlsafe(12)]
        payload = ".".join(parts)
        return f"{payload}.{_b64(self._mac(payload.encode()))}"

    def device_id(self, token: str, username: str, now: float) -> str | None:
        """The device token's id when it is genuine, for exactly `username` (usernames are
        case-sensitive) and not expired."""
        if len(token) > 512 or not token.isascii():
            return None
        parts = token.split(".")
        if len(parts) != 4:
            return None
        payload = ".".join(parts[:3])
        if not hmac.compare_digest(_b64(self._mac(payload.encode())), parts[3]):
            return None
        if parts[0] != _b64(username.encode()) or not parts[1].isdigit():
            return None
        if int(parts[1]) + DEVICE_TOKEN_TTL_S < now:
            return None
        return parts[2]

    async def close(self) -> None:
        if isinstance(self.store, RedisWindows):
            await self.store.close()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def device_secret(signer: Any) -> bytes:
    """The MAC key of device tokens, derived from the server key: Ed25519 signatures are
    deterministic, so every process holding the key derives the same secret, and the signature
    (never published) reveals nothing of the key."""
    return hashlib.sha256(b"kurultai device tokens v1" + signer.sign(b"kurultai device tokens v1")).digest()
