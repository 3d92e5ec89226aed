"""Each database has its own table classes (kurultai.db): two apps in one process each query
their own, and a query outside any app names its database or finds the only one open."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets

from deliberation.tables import Assembly, User
from kurultai.db import Database, NoDatabaseInUse, describe_database, open_databases
from kurultai.settings import Settings
from tests.conftest import DB_PARAMS, reset_postgres
from tests.ws.conftest import free_port


async def _started(path: Path) -> Database:
    db = Database(Settings(data_dir=path))
    await db.migrate()
    await db.start()
    return db


class Served:
    """An app served by uvicorn on this test's event loop, with an admin's bearer token."""

    def __init__(self, app: Any, server: uvicorn.Server, task: asyncio.Task[None], url: str) -> None:
        self.app, self.server, self.task, self.url = app, server, task, url
        self.token = ""

    async def get(self, path: str) -> Any:
        async with httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}) as c:
            r = await c.get(path)
        assert r.status_code == 200, r.text
        return r.json()

    async def post(self, path: str, body: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}) as c:
            r = await c.post(path, json=body)
        assert r.status_code == 201, r.text
        return r.json()


async def _serve(settings: Settings, admin: str) -> Served:
    from deliberation import accounts
    from kurultai.web.app import create_app

    if settings.uses_postgres:
        assert settings.database_url
        await Database(settings).migrate()
        await reset_postgres(settings.database_url)
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(20):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    served = Served(app, server, task, f"http://127.0.0.1:{port}")
    with app.state.db.use():  # two databases are open: the seed names its own
        user = await accounts.create_user(app.state.ctx, admin, None, is_admin=True)
        served.token, _ = await accounts.issue_token(app.state.ctx, user.id, "bearer", 3_600_000)
    return served


@pytest.fixture(params=DB_PARAMS)
def second_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The second app's database: another SQLite file, or PostgreSQL."""
    second = Settings(data_dir=tmp_path / "b")
    if request.param == "postgres":
        return second.with_(database_url=request.getfixturevalue("pg_database"))
    return second


@pytest.fixture
async def two_apps(tmp_path: Path, second_settings: Settings) -> AsyncIterator[tuple[Served, Served]]:
    """An app on an SQLite file and one on `second_settings`, served side by side in this process."""
    apps: list[Served] = []
    try:
        apps.append(await _serve(Settings(data_dir=tmp_path / "a"), "admin-of-a"))
        apps.append(await _serve(second_settings, "admin-of-b"))
        yield apps[0], apps[1]
    finally:
        for served in apps:
            served.server.should_exit = True
        for served in apps:
            await asyncio.wait_for(served.task, 15)


async def test_two_apps_in_one_process_each_query_their_own_database(two_apps: tuple[Served, Served]) -> None:
    a, b = two_apps
    assert len(open_databases()) == 2
    # Writes through each (on SQLite through its writer task) land in its own database.
    made_in_a = await a.post("/api/assemblies", {"title": "Only in a"})
    made_in_b = await b.post("/api/assemblies", {"title": "Only in b"})
    assert [x["title"] for x in await a.get("/api/assemblies")] == ["Only in a"]
    assert [x["title"] for x in await b.get("/api/assemblies")] == ["Only in b"]
    assert (await a.get(f"/api/assemblies/{made_in_a['id']}"))["title"] == "Only in a"
    assert (await b.get(f"/api/assemblies/{made_in_b['id']}"))["title"] == "Only in b"
    # Each knows only its own admin: a token of one is nobody on the other.
    assert (await a.get("/api/me"))["username"] == "admin-of-a"
    assert (await b.get("/api/me"))["username"] == "admin-of-b"
    async with httpx.AsyncClient(base_url=b.url, headers={"Authorization": f"Bearer {a.token}"}) as c:
        assert (await c.get("/api/me")).status_code == 401
    # Each one's websocket snapshots its own assembly (the live feed reads through the app too).
    for served, made in ((a, made_in_a), (b, made_in_b)):
        async with websockets.connect(served.url.replace("http:", "ws:") + f"/ws/assemblies/{made['id']}", open_timeout=5) as ws:
            snap = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert snap["type"] == "snapshot" and snap["data"]["assembly"]["title"] == made["title"]
    # Outside both apps, a query must name its database.
    with pytest.raises(NoDatabaseInUse, match="2 databases are started"):
        await Assembly.select(Assembly.title)
    with a.app.state.db.use():
        assert [r["username"] for r in await User.select(User.username)] == ["admin-of-a"]
    with b.app.state.db.use():
        assert [r["username"] for r in await User.select(User.username)] == ["admin-of-b"]
        with a.app.state.db.use():  # the innermost wins, and leaving it restores the outer one
            assert await Assembly.count() == 1 and (await Assembly.select(Assembly.title))[0]["title"] == "Only in a"
        assert (await Assembly.select(Assembly.title))[0]["title"] == "Only in b"


async def test_a_write_runs_in_its_own_database_whoever_asks(tmp_path: Path) -> None:
    """`b.write(job)` runs the job on b even when called where a is in use (SQLite: b's writer
    task; PostgreSQL: b's transaction), so a job never mixes two databases."""
    a = await _started(tmp_path / "a")
    b = await _started(tmp_path / "b")
    try:

        async def insert() -> None:
            await User.insert(User(username="meant-for-b", display_name=""))

        with a.use():
            await b.write(insert)
            assert await User.count() == 0
        with b.use():
            assert [r["username"] for r in await User.select(User.username)] == ["meant-for-b"]
    finally:
        await a.stop()
        await b.stop()


async def test_the_only_open_database_needs_no_naming(tmp_path: Path) -> None:
    """A CLI command or a test with one database started queries it without `use()`; none
    started, a query says so instead of reaching for some engine."""
    with pytest.raises(NoDatabaseInUse, match="no database is started"):
        await User.count()
    db = await _started(tmp_path / "a")
    try:
        await User.insert(User(username="in-a", display_name=""))
        assert User._meta.db is db.engine
        assert [r["username"] for r in await User.select(User.username)] == ["in-a"]
    finally:
        await db.stop()
    assert open_databases() == []
    with pytest.raises(NoDatabaseInUse):
        await User.count()


async def test_a_migration_leaves_the_apps_tables_alone(tmp_path: Path) -> None:
    """Migrating another database while one is in use does not move the first one's queries."""
    a = await _started(tmp_path / "a")
    try:
        with a.use():
            await User.insert(User(username="in-a", display_name=""))
            migrating = asyncio.create_task(Database(Settings(data_dir=tmp_path / "b")).migrate())
            await asyncio.sleep(0)
            assert not migrating.done()
            assert [r["username"] for r in await User.select(User.username)] == ["in-a"]
            assert await migrating
            assert [r["username"] for r in await User.select(User.username)] == ["in-a"]
    finally:
        await a.stop()


@pytest.mark.filterwarnings("ignore:.*Unable to connect:Warning")
async def test_a_start_that_fails_leaves_nothing_open(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "a", database_url="postgresql://postgres@127.0.0.1:1/nothing")  # nothing listens
    broken = await asyncio.to_thread(Database, settings)  # Piccolo asks for the server's version on a loop of its own
    with pytest.raises(OSError):
        await broken.start()
    assert open_databases() == []


async def test_a_stopping_database_is_open_until_its_writes_are_done(tmp_path: Path) -> None:
    """A write queued before the stop lands in its own file, and until then it counts as open."""
    first = await _started(tmp_path / "a")

    async def insert() -> None:
        await User.insert(User(username="meant-for-a", display_name=""))

    writing = asyncio.create_task(first.write(insert))
    await asyncio.sleep(0)  # queued
    stopping = asyncio.create_task(first.stop())
    await asyncio.sleep(0)  # draining
    assert not stopping.done() and not writing.done()
    assert open_databases() == [first.describe()]
    await stopping
    await writing
    assert open_databases() == []
    again = await _started(tmp_path / "a")
    try:
        assert [r["username"] for r in await User.select(User.username)] == ["meant-for-a"]
    finally:
        await again.stop()


def test_descriptions_name_no_password(tmp_path: Path) -> None:
    for url in ("postgresql://kurultai:s3cret@db.example:5432", "postgresql://kurultai:s3cret@db.example:5432/kurultai?sslmode=require"):
        described = describe_database(Settings(data_dir=tmp_path, database_url=url))
        assert "s3cret" not in described and "kurultai:" not in described, described
    assert describe_database(Settings(data_dir=tmp_path, database_url="postgresql://u:p@h/kurultai")) == "PostgreSQL database kurultai"


async def test_cached_rolls_are_per_database(tmp_path: Path) -> None:
    """A roll cached for one database is not answered from another's."""
    from voting import elections

    a = await _started(tmp_path / "a")
    b = await _started(tmp_path / "b")
    try:
        with a.use():
            assert await elections.roll_key_ids(1) == frozenset()  # no such election: nothing cached
            elections._ROLL_KEYS[a][1] = frozenset({"key-of-a"})  # as an open election of a would be
            assert await elections.roll_key_ids(1) == frozenset({"key-of-a"})
        with b.use():
            assert await elections.roll_key_ids(1) == frozenset()  # election 1 of b: none
    finally:
        await a.stop()
        await b.stop()


async def test_a_migration_while_another_loop_migrates_is_refused(tmp_path: Path) -> None:
    """Piccolo's migration engine is one per process: a second loop (a thread) does not migrate
    under the first one's run, it is told to wait; afterwards it migrates its own database."""
    import threading

    import kurultai.db as kdb

    first = Database(Settings(data_dir=tmp_path / "a"))
    second = Database(Settings(data_dir=tmp_path / "b"))
    applied: list[list[str]] = []
    other_loop = threading.Thread(target=lambda: applied.append(asyncio.run(first.migrate())))
    other_loop.start()
    try:
        async with asyncio.timeout(20):
            while kdb._migrating_loop is None:  # the thread's run has begun
                await asyncio.sleep(0.001)
        with pytest.raises(kdb.MigrationUnderWay, match="another event loop"):
            await second.migrate()
    finally:
        await asyncio.to_thread(other_loop.join)
    assert applied and applied[0]  # the first run was not disturbed
    assert await second.migrate() == applied[0]  # and the second may run once it is done
