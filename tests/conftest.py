"""Shared fixtures: real databases (a temp SQLite file, or a PostgreSQL database created for the
session), apps built with `create_app`, and a seeded world of users with every role.

PostgreSQL: tests marked `postgres` (the API suite runs on both databases) need the server at
KURULTAI_TEST_PG (default postgres://postgres@127.0.0.1:5432). Without CI they are skipped when it
is unreachable; under CI=true they fail.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import httpx

from kurultai.settings import Settings

PG_SERVER = os.environ.get("KURULTAI_TEST_PG", "postgres://postgres@127.0.0.1:5432")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DB_PARAMS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


def pg_url(db: str) -> str:
    return f"{PG_SERVER}/{db}"


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(pg_url("postgres"), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def service_unavailable(what: str, reason: str) -> None:
    """A service a test needs is missing: fail under CI, skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI but unavailable: {reason}")
    pytest.skip(f"{what} unavailable: {reason}")


def pg_unavailable(reason: str) -> None:
    service_unavailable("PostgreSQL", reason)


@pytest.fixture(scope="module", autouse=True)
def no_database_left_started() -> Iterator[None]:
    """After a module's tests and fixtures, no database is still open: one left started would
    make the next module's queries outside an app ambiguous (NoDatabaseInUse), far from the cause."""
    yield
    from kurultai.db import open_databases

    assert not open_databases(), f"this module left {open_databases()} started"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database for this test session, dropped at the end."""
    name = f"kurultai_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
        pg_unavailable(str(exc))
    yield pg_url(name)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def reset_postgres(url: str) -> None:
    """Empty every table (keeping the applied migrations) and restart the ids."""
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('kurultai_migration', 'migration')")
        if tables:
            names = ", ".join(f'"{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=DB_PARAMS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    base = Settings(data_dir=tmp_path / "data")
    if backend == "postgres":
        return base.with_(database_url=request.getfixturevalue("pg_database"))
    return base


class Clock:
    """A controllable clock in milliseconds (starts at 2026-11-24T10:00:00.000Z)."""

    def __init__(self, now_ms: int = 1_795_514_400_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def server_signer() -> Any:
    """One server key for the session (creating one per test is needless work)."""
    from voting.core.keys import Signer

    return Signer.generate()


@pytest.fixture
async def app(settings: Settings, clock: Clock, server_signer: Any) -> Any:
    from kurultai.web.app import create_app

    if settings.uses_postgres:
        assert settings.database_url
        from kurultai.db import Database

        await Database(settings).migrate()
        await reset_postgres(settings.database_url)
    return create_app(settings, clock=clock, signer=server_signer)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the test's own event loop (the app's lifespan runs here too, so the
    single SQLite writer and the services the tests call share one loop)."""
    from kurultai.web.app import shutdown, startup

    await startup(app)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c
    finally:
        try:
            await asyncio.wait_for(shutdown(app), timeout=30)
        except asyncio.TimeoutError:  # never hang the suite: show what is stuck, then fail
            for task in asyncio.all_tasks():
                task.print_stack()
            raise


@dataclass
class World:
    """A seeded assembly with one user of every role, and a bearer token for each."""

    client: httpx.AsyncClient
    assembly: int
    other_assembly: int
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    provisions: list[int] = field(default_factory=list)
    item: int = 0

    def headers(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    async def call(self, method: str, path: str, who: str | None = None, json: Any = None, **kw: Any) -> Any:
        return await self.client.request(method, path, headers=self.headers(who), json=json, **kw)

    async def ok(self, method: str, path: str, who: str | None = None, json: Any = None, status: int | None = None) -> Any:
        r = await self.call(method, path, who, json)
        want = status or (201 if method == "POST" and r.status_code == 201 else 200)
        assert r.status_code == want, f"{method} {path} as {who}: {r.status_code} {r.text}"
        return r.json() if r.content else None


ROLE_USERS = {
    "admin": None,
    "moderator": "moderator",
    "delegate": "delegate",
    "delegate2": "delegate",
    "observer": "observer",
    "outsider": "delegate",  # a delegate of another assembly
}


@pytest.fixture
async def world(client: httpx.AsyncClient, app: Any) -> World:
    return await seed_world(client, app)


async def seed_world(client: httpx.AsyncClient, app: Any) -> World:
    """Seed through the services (tokens are issued directly: hashing passwords is slow)."""
    from deliberation import accounts, agenda, assemblies, draft

    ctx = app.state.ctx
    a = await assemblies.create_assembly(ctx, "seed", title="Test assembly", cosponsor_threshold=2)
    b = await assemblies.create_assembly(ctx, "seed", title="Other assembly")
    w = World(client=client, assembly=a["id"], other_assembly=b["id"])
    for name, role in ROLE_USERS.items():
        user = await accounts.create_user(ctx, name, None, is_admin=(name == "admin"))
        w.users[name] = user.id
        if role:
            await assemblies.set_member(ctx, b["id"] if name == "outsider" else a["id"], "seed", name, role)
        token, _ = await accounts.issue_token(ctx, user.id, "bearer", 3_600_000)
        w.tokens[name] = token
    for n, text in enumerate(["The first provision text.", "The second provision text.", "The third one."], start=1):
        p = await draft.add_provision(ctx, a["id"], "seed", number=str(n), kind="article", title=f"Title {n}", text=text, after=None)
        w.provisions.append(p["id"])
    item = await agenda.create_item(ctx, a["id"], "seed", title="Item one", provisions=w.provisions[:2])
    w.item = item["id"]
    return w


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser suite last: Playwright's sync API owns the main thread's event loop while a
    browser is open, so no asyncio test may run in between. Before it, the files that hold a test
    marked `slow` come first: `make test` spreads files over workers (pytest-xdist, `--dist
    loadfile`) in this order, so the long runs start at once and the short ones fill in beside
    them."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: ("/tests/e2e/" in str(item.path).replace("\\", "/"), item.path not in slow_files))
