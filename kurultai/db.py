"""Database engines, migrations and the single writer.

SQLite (the default) is one file in the data directory, in WAL mode. Piccolo's SQLite engine
opens a connection per query, so concurrent write transactions would fail with "database is
locked" (plain reads outside a transaction run instead on a few kept connections, `_Readers`).
Every write therefore goes through `Database.write`, which on SQLite hands the work to one
writer task: it drains a queue and runs a batch of jobs in one IMMEDIATE transaction (group
commit), each job inside its own savepoint so that one failing job does not undo the others. A
job's future resolves only after the batch has committed, so a caller never reports something
that is not durable.

On PostgreSQL, `write` runs the job in its own transaction on the connection pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import importlib.util
import logging
import re
import sqlite3
import os
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from piccolo.apps.migrations.tables import Migration
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType, dict_factory
from piccolo.table import TABLE_REGISTRY, Table

from kurultai.files import private_dir, private_file, tighten
from kurultai.settings import Settings

T = TypeVar("T")
log = logging.getLogger("kurultai.db")
Job = Callable[[], Awaitable[Any]]
#: A domain's table definitions: given an engine and the tables defined on it so far (those of
#: the domains below), its table classes bound to that engine.
TableDefinitions = Callable[[Engine, Mapping[str, type[Table]]], Sequence[type[Table]]]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
MIGRATION_LOCK_KEY = 0x4B55_5255  # "KURU": PostgreSQL advisory lock id for migrations

POOL_CLOSE_TIMEOUT_S = 5
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
BATCH_MAX_JOBS = 500
BATCH_MAX_WAIT_S = 0.002
WRITER_STOP_TIMEOUT_S = 10
_STOP: Any = object()  # queued by stop(): the writer returns after the jobs before it


def _connection_class(synchronous: str) -> type[sqlite3.Connection]:
    """Every connection Piccolo opens (it opens one per query) gets the same pragmas.

    WAL with synchronous=FULL (the default): the WAL is synced to disk before a commit returns,
    so a committed transaction survives a crash of the server, of the OS and a power loss.
    Nothing is published before it is durable, and a receipt or signed tree head handed out for
    a batch that a power loss then undid would let the server sign other leaves at the same
    positions: a fork every observer would see. One fsync a commit; the single writer puts the
    writes that wait (a batch of up to 500 ballots) in one. NORMAL (`KURULTAI_SQLITE_SYNCHRONOUS`)
    syncs only at checkpoints: a commit then survives `kill -9` but not an OS crash.
    """

    class Connection(sqlite3.Connection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.execute(f"PRAGMA synchronous={synchronous}")
            self.execute("PRAGMA foreign_keys=ON")

    return Connection


READER_THREADS = 4


class _Readers:
    """Plain SQLite reads on a few kept connections, one per thread of a small pool.

    Piccolo opens a new connection, and with aiosqlite a new thread, for every query outside a
    transaction: ~1 ms each, and a rendered assembly page runs ~30 queries. In WAL mode readers
    never block the writer, and a SELECT outside BEGIN (the connections are in autocommit, as
    Piccolo's) is its own read transaction, so it sees every write committed before it starts.
    """

    def __init__(self, connection_kwargs: dict[str, Any]) -> None:
        self.kwargs = {**connection_kwargs, "check_same_thread": False}  # closed from stop()'s thread
        self.executor = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="kurultai-sqlite-read")
        self.local = threading.local()
        self.connections: list[sqlite3.Connection] = []
        self.lock = threading.Lock()

    def read(self, query: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        conn: sqlite3.Connection | None = getattr(self.local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(**self.kwargs)
            conn.row_factory = dict_factory
            self.local.conn = conn
            with self.lock:
                self.connections.append(conn)
        cursor = conn.execute(query, args)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        for conn in self.connections:
            conn.close()
        self.connections.clear()


class KurultaiSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine; while the database is started, a statement that starts with
    SELECT and runs outside a transaction goes to `_Readers` instead of a new connection.
    Everything else (writes, DDL, anything inside a transaction) takes Piccolo's path."""

    readers: _Readers | None = None

    async def _run_in_new_connection(self, query: str, args: list[Any] | None = None, query_type: str = "generic", table: Any = None) -> Any:
        readers = self.readers
        if readers is not None and query.lstrip()[:6].upper() == "SELECT":
            try:
                future = asyncio.get_running_loop().run_in_executor(readers.executor, readers.read, query, args or [])
            except RuntimeError:  # stop() shut the readers down after this read looked them up
                pass
            else:
                return await future
        return await super()._run_in_new_connection(query, args, query_type, table)


_VALUES_RE = re.compile(r"(INSERT INTO .+ VALUES )(\((?:\?, )*\?\))", re.DOTALL)
MULTI_ROW_MAX = 500


def _run_sqlite_statements(conn: sqlite3.Connection, statements: Sequence[Statement]) -> None:
    """`(sql, rows)` pairs on a SQLite connection, each INSERT as few multi-row statements.

    sqlite3 releases the GIL around every step and takes it back after: with `executemany` that
    is once per row, and while the event loop's thread is busy each of those waits for the GIL
    (measured: 19 µs a row alone, 1.9 ms a row beside a busy thread). One `INSERT … VALUES
    (…), (…), …` of up to `MULTI_ROW_MAX` rows is one step for all of them."""
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    for sql, rows in statements:
        if not rows:
            continue
        match = _VALUES_RE.fullmatch(sql)
        if match is None or len(rows) == 1:
            conn.executemany(sql, rows)
            continue
        width = len(rows[0])
        step = max(1, min(MULTI_ROW_MAX, limit // width))
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            conn.execute(_multi_row_sql(match[1], match[2], len(part)), [value for row in part for value in row])


@functools.lru_cache(maxsize=64)
def _multi_row_sql(head: str, group: str, count: int) -> str:
    return head + ", ".join([group] * count)


def _dollar_params(sql: str) -> str:
    """`?` placeholders to PostgreSQL's `$1, $2, …` (our bulk SQL has no `?` inside literals)."""
    parts = sql.split("?")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, start=1))


def _private_sqlite_file(settings: Settings) -> None:
    """The data directory (0700) and the database file (0600), created before SQLite opens it:
    SQLite gives the -wal, -shm and -journal files it creates the database file's mode. Side
    files left looser by an older version are tightened."""
    private_dir(settings.data_dir)
    path = settings.sqlite_path
    private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        try:
            tighten(path.with_name(path.name + suffix))
        except FileNotFoundError:
            pass


def _postgres_config(url: str) -> dict[str, Any]:
    return {"dsn": url.replace("postgres://", "postgresql://", 1)}


#: Each domain's table definitions (deliberation/tables.py, voting/tables.py), in import order.
_definitions: list[TableDefinitions] = []
#: The database this context uses (`Database.use`): each app sets it for its requests,
#: websockets and background tasks, so that two apps in one process keep to their own.
_database_in_use: contextvars.ContextVar[Database | None] = contextvars.ContextVar("kurultai_database", default=None)
#: Databases started or migrating: with no database set in the context, the only one of them.
_open_databases: weakref.WeakSet[Database] = weakref.WeakSet()


def describe_database(settings: Settings) -> str:
    """Where the data lives, without credentials: the SQLite file or the PostgreSQL database."""
    if settings.uses_postgres:
        assert settings.database_url is not None
        return f"PostgreSQL database {urlsplit(settings.database_url).path.lstrip('/') or '(the default)'}"
    return f"SQLite file {settings.sqlite_path}"


class NoDatabaseInUse(RuntimeError):
    """A query ran where no database is set (`Database.use`) and not exactly one is open."""


def register_tables(define: TableDefinitions) -> TableDefinitions:
    """Called by each domain's table module as it is imported, with the function that defines
    its tables on an engine: the platform makes every database its own table classes without
    importing the domain above it (.importlinter, "layers")."""
    _definitions.append(define)
    return define


def define_tables(engine: Engine) -> dict[str, type[Table]]:
    """Every registered domain's table classes, bound to `engine` (Piccolo's `db=`), by class name."""
    tables: dict[str, type[Table]] = {}
    for define in _definitions:
        _define_domain(define, engine, tables)
    return tables


def _define_domain(define: TableDefinitions, engine: Engine, tables: dict[str, type[Table]]) -> None:
    for table in define(engine, tables):
        tables[table.__name__] = table


def _forget_tables(tables: dict[str, type[Table]]) -> None:
    """Once its database is gone, its table classes are dropped from Piccolo's list of every
    table class made (`piccolo.table.TABLE_REGISTRY`, read by `piccolo tester`), so that they
    can be collected: ~0.5 MB a database, which a process making many (the test suite) kept."""
    classes = set(tables.values())
    TABLE_REGISTRY[:] = [table for table in TABLE_REGISTRY if table not in classes]


def current_database() -> Database:
    """The database of this context (`Database.use`), else the only one started or migrating."""
    db = _database_in_use.get()
    if db is not None:
        return db
    open_now = list(_open_databases)
    if len(open_now) == 1:
        return open_now[0]
    if not open_now:
        raise NoDatabaseInUse("no database is started here: start one, or run the query inside Database.use()")
    raise NoDatabaseInUse(f"{len(open_now)} databases are started in this process and none is set for this context: run the query inside Database.use()")


def open_databases() -> list[str]:
    """The databases started or migrating now (`Database.describe`)."""
    return sorted(db.describe() for db in _open_databases)


class TableOfDatabaseInUse:
    """A domain table as its module names it (`deliberation.tables.User`): the class of that
    name bound to the database in use (`current_database()`). Attributes, calls and queries go
    to that class, so `User.select().where(User.id == 1)` reads the database of the app, CLI
    command or test that runs it, and two apps in one process each read their own."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __getattribute__(self, attr: str) -> Any:  # every attribute is the class's (half the cost of __getattr__)
        return getattr(current_database().table(object.__getattribute__(self, "_name")), attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return current_database().table(object.__getattribute__(self, "_name"))(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<table {object.__getattribute__(self, '_name')} of the database in use>"


class MigrationUnderWay(RuntimeError):
    """A migration was asked for while one runs on another event loop of this process."""


_migrating_loop: asyncio.AbstractEventLoop | None = None
_migrating_loop_lock = threading.Lock()


@contextlib.contextmanager
def _migration_of_this_loop() -> Iterator[None]:
    """Holds Piccolo's one migration engine for this loop's run; refused while another loop's
    run holds it (the loops' own locks cannot see each other)."""
    global _migrating_loop
    loop = asyncio.get_running_loop()
    with _migrating_loop_lock:
        if _migrating_loop is not None:
            raise MigrationUnderWay("a migration runs on another event loop of this process; migrate once it is done")
        _migrating_loop = loop
    try:
        yield
    finally:
        with _migrating_loop_lock:
            _migrating_loop = None


Statement = tuple[str, Sequence[Sequence[Any]]]
_MIGRATE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


class _Bulk:
    """A queued `write_statements` call."""

    def __init__(self, prepare: Callable[[], Awaitable[tuple[list[Statement], Any]]]) -> None:
        self.prepare = prepare


class _JobFailed(Exception):
    """Raised inside the transaction to roll back a batch of one failed job."""


class Database:
    """One engine, its own table classes (`table`, `use`), plus the write path."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine
        if settings.uses_postgres:
            assert settings.database_url is not None
            self.engine = PostgresEngine(config=_postgres_config(settings.database_url), log_queries=False)
        else:
            _private_sqlite_file(settings)
            self.engine = KurultaiSQLiteEngine(path=str(settings.sqlite_path), timeout=30, factory=_connection_class(settings.sqlite_synchronous))
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._bulk_conn: sqlite3.Connection | None = None
        # The writer's own thread: in the loop's default pool a bulk write queued behind other
        # work (the signature checks of a busy vote used to fill it).
        self._bulk_thread: ThreadPoolExecutor | None = None
        self._started = False  # from the start of `start` to the start of `stop`
        self._migrating = 0  # migrations under way
        # This database's own table classes (Piccolo binds a table class to one engine): the
        # domains' table names (`TableOfDatabaseInUse`) resolve to these in its context.
        self._tables: dict[str, type[Table]] = {}
        self._defined = 0
        weakref.finalize(self, _forget_tables, self._tables)

    @property
    def is_sqlite(self) -> bool:
        return isinstance(self.engine, SQLiteEngine)

    def table(self, name: str) -> type[Table]:
        """This database's table class of that name (`deliberation.tables.User` → its `User`)."""
        table = self._tables.get(name)
        if table is None:
            while self._defined < len(_definitions):  # the domains registered since, each once
                _define_domain(_definitions[self._defined], self.engine, self._tables)
                self._defined += 1
            table = self._tables[name]
        return table

    @contextlib.contextmanager
    def use(self) -> Iterator[Database]:
        """Queries in this block, and in the tasks it starts, go to this database's tables."""
        token = _database_in_use.set(self)
        try:
            yield self
        finally:
            _database_in_use.reset(token)

    def describe(self) -> str:
        return describe_database(self.settings)

    async def start(self) -> None:
        """Open the pool (PostgreSQL) or the writer (SQLite); it counts as open (`current_database`)
        until `stop`, and a start that fails is closed again."""
        if self._started:
            return
        _open_databases.add(self)
        self._started = True
        try:
            if isinstance(self.engine, PostgresEngine):
                await self.engine.start_connection_pool(min_size=2, max_size=20)
            else:
                await self.engine.run_ddl("PRAGMA journal_mode=WAL")
                if isinstance(self.engine, KurultaiSQLiteEngine) and self.engine.readers is None:
                    self.engine.readers = _Readers(self.engine.connection_kwargs)
                self._queue = asyncio.Queue()
                # The writer runs every job queued by `write`: in this database's context,
                # wherever `start` was called from.
                context = contextvars.copy_context()
                context.run(_database_in_use.set, self)
                self._writer = asyncio.create_task(self._write_loop(), name="kurultai-sqlite-writer", context=context)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Finish the writes queued so far and close; it stops counting as open at the very end,
        once nothing of it runs (a stop cut short leaves it open: stop again)."""
        self._started = False
        try:
            await self._close()
        finally:
            self._close_if_idle()

    def _close_if_idle(self) -> None:
        """No longer open once nothing of it runs: not started, not migrating, no writer, no pool."""
        pool_open = isinstance(self.engine, PostgresEngine) and self.engine.pool is not None
        if not self._started and not self._migrating and self._writer is None and not pool_open:
            _open_databases.discard(self)

    async def _close(self) -> None:
        if self._writer is not None:
            # Let the writer finish the jobs queued so far (a transaction cut off by a cancel
            # would leave its connection open), then stop; cancel it only if it hangs.
            if self._queue is not None and not self._writer.done():
                self._queue.put_nowait((_STOP, None))
                await asyncio.wait({self._writer}, timeout=WRITER_STOP_TIMEOUT_S)
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
            self._queue = None
        if isinstance(self.engine, KurultaiSQLiteEngine) and self.engine.readers is not None:
            readers, self.engine.readers = self.engine.readers, None
            await asyncio.get_running_loop().run_in_executor(None, readers.close)  # waits for reads in flight
        if self._bulk_conn is not None:
            self._bulk_conn.close()
            self._bulk_conn = None
        if self._bulk_thread is not None:
            self._bulk_thread.shutdown(wait=True)
            self._bulk_thread = None
        if isinstance(self.engine, PostgresEngine) and self.engine.pool is not None:
            pool = self.engine.pool
            closing = asyncio.ensure_future(pool.close())
            # Graceful: wait for connections in use to come back, but not forever.
            done, _ = await asyncio.wait({closing}, timeout=POOL_CLOSE_TIMEOUT_S)
            if not done:
                log.warning("closing the PostgreSQL pool: a connection was not released within %s s; terminating", POOL_CLOSE_TIMEOUT_S)
                pool.terminate()
                closing.cancel()
            await asyncio.gather(closing, return_exceptions=True)
            self.engine.pool = None

    # -- writes --------------------------------------------------------------------------

    async def write(self, job: Callable[[], Awaitable[T]]) -> T:
        """Run `job` in a write transaction and return its result once it has committed."""
        if self._queue is None:
            if self.is_sqlite:
                raise RuntimeError("Database.start() was not called")
            with self.use():  # the job's queries in this database's transaction, wherever it was asked
                async with self.engine.transaction():
                    return await job()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put((job, future))
        return await future

    async def write_statements(self, prepare: Callable[[], Awaitable[tuple[list[Statement], T]]]) -> T:
        """A bulk write: `prepare()` returns `(statements, result)`; the statements (each
        `(sql, rows)` with `?` placeholders) run in one transaction, and `result` is returned once
        it has committed.

        On SQLite `prepare` runs in the writer task, in write order with every other write, and
        the statements run in one call on the writer's own connection thread (BEGIN IMMEDIATE …
        COMMIT): one hop instead of one per query. On PostgreSQL `prepare` runs inside the
        transaction (so it can lock rows), followed by one `executemany` per statement.
        """
        if self._queue is None:
            if self.is_sqlite:
                raise RuntimeError("Database.start() was not called")
            with self.use():
                async with self.engine.transaction():
                    statements, result = await prepare()
                    await self.execute_many(statements)
                    return result
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put((_Bulk(prepare), future))
        return await future

    async def _write_loop(self) -> None:
        assert self._queue is not None
        queue = self._queue
        stopping = False
        while not stopping:
            batch = [await queue.get()]
            deadline = time.monotonic() + BATCH_MAX_WAIT_S
            # A bulk write goes alone anyway: waiting for company would only delay it.
            while len(batch) < BATCH_MAX_JOBS and batch[-1][0] is not _STOP and not isinstance(batch[0][0], _Bulk):
                try:
                    batch.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    if time.monotonic() >= deadline:
                        break
                    await asyncio.sleep(0)
            # Keep the order: runs of ordinary jobs share a transaction, bulk writes go alone.
            run: list[tuple[Job, asyncio.Future[Any]]] = []
            for item in batch:
                if item[0] is _STOP:
                    stopping = True
                    break
                if isinstance(item[0], _Bulk):
                    if run:
                        await self._run_batch(run)
                        run = []
                    await self._run_bulk(item[0], item[1])
                else:
                    run.append(item)
            if run:
                await self._run_batch(run)

    async def _run_bulk(self, bulk: _Bulk, future: asyncio.Future[Any]) -> None:
        try:
            statements, result = await bulk.prepare()
            if statements:
                if self._bulk_thread is None:
                    self._bulk_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kurultai-sqlite-writer")
                await asyncio.get_running_loop().run_in_executor(self._bulk_thread, self._apply_statements, statements)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)

    def _apply_statements(self, statements: list[Statement]) -> None:
        """On the writer's thread: one IMMEDIATE transaction on the writer's own connection."""
        if self._bulk_conn is None:
            conn = sqlite3.connect(
                str(self.settings.sqlite_path),
                timeout=30,
                isolation_level=None,
                check_same_thread=False,  # used only on the writer's own thread
                factory=_connection_class(self.settings.sqlite_synchronous),
            )
            self._bulk_conn = conn
        conn = self._bulk_conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            _run_sqlite_statements(conn, statements)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def _run_batch(self, batch: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            async with self.engine.transaction(transaction_type=TransactionType.immediate) as tx:
                if len(batch) == 1:  # no savepoint needed: a failure rolls back only this job
                    job, _future = batch[0]
                    try:
                        outcomes.append((True, await job()))
                    except Exception as exc:
                        outcomes.append((False, exc))
                        raise _JobFailed() from exc
                for job, _future in batch if len(batch) > 1 else ():
                    savepoint = await tx.savepoint()
                    try:
                        outcomes.append((True, await job()))
                    except Exception as exc:  # the job's own error, reported to its caller
                        await savepoint.rollback_to()
                        outcomes.append((False, exc))
                    else:
                        await savepoint.release()
        except _JobFailed:
            pass  # the single job's own error, already recorded in outcomes; rolled back
        except Exception as exc:  # the commit itself failed: nothing in the batch is durable
            for _job, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (ok, value), (_job, future) in zip(outcomes, batch):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def execute_many(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """Run `(sql, rows)` pairs inside the current write transaction, each as one prepared
        statement over all its rows (`?` placeholders; rewritten to `$n` for PostgreSQL).

        This is the ballot path's bulk write: building Piccolo objects costs ~60 µs a row, and on
        SQLite each awaited query waits for a turn of a busy event loop, so the whole list runs
        in one call on the connection's thread. Only for trusted SQL.
        """
        tx = self.engine.current_transaction.get()
        if tx is None:
            raise RuntimeError("execute_many runs inside Database.write")
        todo = [(sql, rows) for sql, rows in statements if rows]
        if isinstance(self.engine, PostgresEngine):
            for sql, rows in todo:
                await tx.connection.executemany(_dollar_params(sql), rows)
            return

        aio = tx.connection  # aiosqlite.Connection: run the function on its own thread
        await aio._execute(_run_sqlite_statements, aio._conn, todo)

    # -- migrations ----------------------------------------------------------------------

    async def migrate(self, *, verbose: bool = False) -> list[str]:
        """Apply every migration in `migrations/` not yet applied. Returns the ids applied.

        On PostgreSQL the whole run holds an advisory transaction lock, so several instances
        starting at once apply each migration exactly once. Piccolo's migration machinery has
        one engine per process (the one in `kurultai.piccolo_conf`, and its `Migration`
        table's, which migrations use for raw SQL), pointed at the migrating database for the
        run's duration; no query of an app uses it. So within one process the runs on one event
        loop wait for each other, and a run while another loop's is under way is refused
        (`MigrationUnderWay`).
        """
        lock = _MIGRATE_LOCKS.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            with _migration_of_this_loop():
                return await self._migrate(verbose=verbose)

    async def _migrate(self, *, verbose: bool = False) -> list[str]:
        import kurultai.piccolo_conf as conf

        os.environ["PICCOLO_CONF"] = "kurultai.piccolo_conf"
        conf.DB = Migration._meta.db = self.engine
        _open_databases.add(self)
        self._migrating += 1
        try:
            with self.use():  # a migration's own queries, if any, go to the database it migrates
                return await self._migrate_bound(verbose=verbose)
        finally:
            self._migrating -= 1
            self._close_if_idle()

    async def _migrate_bound(self, *, verbose: bool = False) -> list[str]:
        started_pool = False
        if isinstance(self.engine, PostgresEngine) and self.engine.pool is None:
            await self.engine.start_connection_pool(min_size=1, max_size=4)
            started_pool = True
        try:
            async with self.engine.transaction():
                if isinstance(self.engine, PostgresEngine):
                    await Migration.raw("SELECT pg_advisory_xact_lock({})", MIGRATION_LOCK_KEY)
                await Migration.raw("CREATE TABLE IF NOT EXISTS kurultai_migration (id VARCHAR(64) PRIMARY KEY, applied_ms BIGINT NOT NULL)")
                done = {row["id"] for row in await Migration.raw("SELECT id FROM kurultai_migration")}
                applied: list[str] = []
                for module in load_migrations():
                    if module.ID in done:
                        continue
                    manager = await module.forwards()
                    if not verbose:
                        manager.migration_id = module.ID
                    _quiet_run = _silence(manager.run)
                    await _quiet_run()
                    await Migration.raw(
                        "INSERT INTO kurultai_migration (id, applied_ms) VALUES ({}, {})",
                        module.ID,
                        int(time.time() * 1000),
                    )
                    applied.append(module.ID)
                return applied
        finally:
            if started_pool:
                await self.engine.close_connection_pool()  # type: ignore[union-attr]


def _silence(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """Piccolo's migration manager prints progress; keep stdout for our own output."""

    async def run() -> None:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            await fn()

    return run


def load_migrations() -> list[Any]:
    """The migration modules of `migrations/`, in file-name order (m0001_…, m0002_…)."""
    modules = []
    for path in sorted(MIGRATIONS_DIR.glob("m[0-9]*.py")):
        name = f"kurultai_migrations.{path.stem}"
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        modules.append(module)
    return modules
