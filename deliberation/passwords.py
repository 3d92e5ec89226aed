"""Password hashing: argon2id with parameters chosen on purpose, off the event loop.

**Parameters.** argon2id, memory 19 MiB (19,456 KiB), 2 passes, 1 lane: the first of the
equivalent configurations that the OWASP Password Storage Cheat Sheet recommends for argon2id.
RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes; argon2-cffi's default) costs
~0.17 s of CPU per login on a two-core machine of the kind we run on, so a hall of 500 delegates
logging in at once would wait over a minute on one process; the OWASP configuration costs
~0.03 s, and 500 logins take under ten seconds. Stored hashes name their own parameters: a
hash made with other parameters (argon2-cffi's default, which earlier versions used) still
verifies, and is replaced by a hash with these parameters at the next successful login
(`Verdict.rehash`, argon2-cffi's `check_needs_rehash`).

**Off the loop.** argon2 runs in a small thread pool (the C code releases the GIL), never on the
event loop: a login costs the loop a hand-off, not 30-170 ms of CPU, so ballots, websockets and
pages of everybody else go on while a hall logs in. The pool is bounded twice: by its threads
(`KURULTAI_PASSWORD_THREADS`, by default one less than the cores, at least one) and by the work
that may wait for them (`max_waiting`); past that a login is refused at once with `503 busy`
and `Retry-After` instead of queueing without end. The threads run at niceness 10, below the
event loop, so that a login wave on a busy machine takes CPU from argon2, not from the loop.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from deliberation.core.errors import DeliberationError

#: argon2id, OWASP's first recommended configuration (see the module docstring).
TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1


#: The niceness of the hashing threads: below the event loop's, so that when the cores are
#: scarce the kernel runs the loop (ballots, websockets, pages) before argon2 (bench/logins.py:
#: the loop's time waiting for a core during a login wave went from 10-30 % to the quiet level).
HASHING_NICENESS = 10


def _lower_priority() -> None:
    """In each hashing thread: lower its own priority (Linux schedules threads one by one)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
    except (OSError, AttributeError):  # not Linux, or not allowed: the default priority
        pass


def default_threads() -> int:
    """One less than the cores, at least one: a core stays free for the event loop."""
    return max(1, (os.cpu_count() or 2) - 1)


class PasswordsBusy(DeliberationError):
    code = "busy"
    status = 503
    headers = {"retry-after": "1"}


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rehash: str | None = None  # a new hash with today's parameters, to store (only when ok)


class Passwords:
    """Hash and verify passwords in a bounded thread pool."""

    def __init__(self, threads: int | None = None, max_waiting: int = 2000, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM, type=Type.ID)
        self.threads = threads or default_threads()
        self.max_waiting = max_waiting
        self._waiting = 0
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._dummy: str | None = None

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="kurultai-argon2", initializer=_lower_priority)
            return self._pool

    async def _run(self, fn, *args):  # type: ignore[no-untyped-def]
        if self._waiting >= self.max_waiting:
            raise PasswordsBusy(f"{self._waiting} password checks are waiting; retry in a second")
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor(), fn, *args)
        finally:
            self._waiting -= 1

    # The blocking halves, for the pool (and for the CLI, which has no loop to protect).

    def hash_now(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify_now(self, stored: str | None, password: str) -> Verdict:
        """Check `password` against `stored`. An account without a password (invited, not yet
        accepted) or an unknown user costs the same time as a wrong password: a dummy hash with
        today's parameters is checked instead."""
        if stored is None:
            if self._dummy is None:
                self._dummy = self.hasher.hash("kurultai-dummy-password")
            try:
                self.hasher.verify(self._dummy, password)
            except (VerificationError, InvalidHashError):
                pass
            return Verdict(False)
        try:
            self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return Verdict(False)
        try:
            needs = self.hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            needs = True
        return Verdict(True, self.hasher.hash(password) if needs else None)

    async def hash(self, password: str) -> str:
        return await self._run(self.hash_now, password)

    async def verify(self, stored: str | None, password: str) -> Verdict:
        return await self._run(self.verify_now, stored, password)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


#: The process's pool (a pool is per process: each worker of `serve --workers N` has its own).
passwords = Passwords()
