"""The domain's context: the platform's unit of work (`kurultai.unit_of_work`: the database,
the clock, the publisher of committed events, the outbox and the audit chain) with the services
the domain adds, the password hashers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from deliberation.passwords import Passwords
from deliberation.passwords import passwords as default_passwords
from kurultai.db import Database
from kurultai.settings import Settings
from kurultai.unit_of_work import UnitOfWork, wall_clock

T = TypeVar("T")


@dataclass
class Ctx(UnitOfWork):
    passwords: Passwords = default_passwords  # argon2 off the event loop (deliberation/passwords.py)


async def on_started_database(settings: Settings, fn: Callable[[Ctx], Awaitable[T]]) -> T:
    """`fn(ctx)` on the settings' database, migrated and started, in its context (`Database.use`);
    stopped after. The CLI commands run their work this way."""
    db = Database(settings)
    with db.use():
        await db.migrate()
        await db.start()
        try:
            return await fn(Ctx(db=db, clock=wall_clock))
        finally:
            await db.stop()
