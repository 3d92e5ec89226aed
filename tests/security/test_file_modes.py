"""Files closed by default (issue #14): the data directory is 0700; the SQLite database, its -wal
and -shm files, the server key, backups and exports are 0600, whatever the umask; files and
directories of ours found open to others are tightened with a warning.

Every test runs under the permissive umask 022, under which the defaults would be 0755 and 0644.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from click.testing import CliRunner, Result

from kurultai.cli import cli
from kurultai.settings import Settings
from voting.core.encoding import b64u_encode
from voting.core.keys import Signer

T = TypeVar("T")
DB = "kurultai.sqlite3"


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run(data_dir: Path, *args: str) -> Result:
    env = {"KURULTAI_DATA_DIR": str(data_dir), "KURULTAI_DATABASE_URL": ""}
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def with_app(data_dir: Path, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run `fn(app)` on an app over `data_dir`, started as the lifespan starts it."""
    from kurultai.web.app import create_app, shutdown, startup

    async def main() -> T:
        app = create_app(Settings(data_dir=data_dir))
        await startup(app)
        try:
            return await fn(app)
        finally:
            await shutdown(app)

    return asyncio.run(main())


def test_the_app_creates_the_data_dir_database_wal_and_key_closed(tmp_path: Path) -> None:
    from deliberation import accounts
    from deliberation.tables import User

    data = tmp_path / "srv" / "data"  # neither exists yet

    async def write_while_open(app: Any) -> dict[str, int]:
        await User.select(User.id).run()  # a kept reader connection: the WAL stays while we look
        await accounts.create_user(app.state.ctx, "amina", "a long password 1")  # a password hash, through the writer
        assert await User.exists().where(User.username == "amina")
        return {name: mode(data / name) for name in (DB, f"{DB}-wal", f"{DB}-shm", "server-key.ed25519")}

    modes = with_app(data, write_while_open)
    assert modes == {DB: 0o600, f"{DB}-wal": 0o600, f"{DB}-shm": 0o600, "server-key.ed25519": 0o600}
    assert mode(data) == 0o700
    assert mode(tmp_path / "srv") == 0o700  # a parent we created
    leftovers = sorted(p.name for p in data.iterdir() if mode(p) & 0o077)
    assert leftovers == []


def test_existing_parent_of_the_data_dir_is_left_alone(tmp_path: Path) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o755)
    run(parent / "data", "migrate")
    assert mode(parent) == 0o755
    assert mode(parent / "data") == 0o700
    assert mode(parent / "data" / DB) == 0o600


def test_an_open_data_dir_database_wal_and_key_are_tightened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    key = data / "server-key.ed25519"
    key.write_bytes(Signer.generate().private_bytes())
    key.chmod(0o644)
    # An older version's database, still open (in WAL mode) while the new app starts.
    old = sqlite3.connect(data / DB, isolation_level=None)
    try:
        old.execute("PRAGMA journal_mode=WAL")
        old.execute("CREATE TABLE older (x INTEGER)")
        old.execute("INSERT INTO older VALUES (1)")
        for name in (DB, f"{DB}-wal", f"{DB}-shm"):
            (data / name).chmod(0o644)
        old.execute("BEGIN IMMEDIATE")  # holds the write lock while the app is built

        from kurultai.web.app import create_app

        with caplog.at_level(logging.WARNING, logger="kurultai.files"):
            create_app(Settings(data_dir=data))
        names = (DB, f"{DB}-wal", f"{DB}-shm", key.name)
        assert {name: mode(data / name) for name in names} == dict.fromkeys(names, 0o600)
        assert mode(data) == 0o700
        warned = [r.getMessage() for r in caplog.records if r.name == "kurultai.files"]
        assert len(warned) == 5 and all("tightened to 0" in m for m in warned), warned
        assert any(f"{data} had mode 0755" in m for m in warned)
        assert any(f"{data / DB} had mode 0644" in m for m in warned)
        old.execute("COMMIT")
    finally:
        old.close()

    # The app runs on the tightened files, and SQLite recreates the -wal and -shm files 0600.
    async def read(app: Any) -> int:
        from deliberation.tables import User

        await User.select(User.id).run()
        return mode(data / f"{DB}-wal") | mode(data / f"{DB}-shm")

    assert with_app(data, read) == 0o600
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kurultai.files"):
        with_app(data, lambda app: asyncio.sleep(0))
    assert not [r for r in caplog.records if r.name == "kurultai.files"]  # tightened once, quiet since


def test_an_existing_database_is_tightened_without_being_opened(tmp_path: Path) -> None:
    """Closing a descriptor of a SQLite file drops every lock this process holds on it: the
    lock another connection of ours holds must survive `private_file`."""
    from kurultai.files import private_file

    path = tmp_path / DB
    held = sqlite3.connect(path, isolation_level=None)  # rollback journal: the locks are on the file itself
    try:
        held.execute("CREATE TABLE t (x INTEGER)")
        path.chmod(0o644)
        held.execute("BEGIN IMMEDIATE")
        private_file(path)
        assert mode(path) == 0o600
        writer = "import sqlite3, sys; sqlite3.connect(sys.argv[1], timeout=0).execute('BEGIN IMMEDIATE')"
        other = subprocess.run([sys.executable, "-c", writer, str(path)], capture_output=True, text=True, timeout=60)
        assert other.returncode != 0 and "database is locked" in other.stderr, other.stderr
        held.execute("COMMIT")
    finally:
        held.close()


def test_a_file_that_cannot_be_tightened_is_warned_about_once(tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from kurultai.files import tighten

    path = tmp_path / "not-ours"
    path.write_text("")
    path.chmod(0o644)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    with caplog.at_level(logging.WARNING, logger="kurultai.files"):
        tighten(path)
        tighten(path)
    monkeypatch.undo()
    warned = [r.getMessage() for r in caplog.records if r.name == "kurultai.files"]
    assert len(warned) == 1 and "could not be tightened" in warned[0] and "0644" in warned[0]
    assert mode(path) == 0o644


def test_backup_is_0600_in_a_0700_directory_it_creates(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run(data, "migrate")
    dest = tmp_path / "backups" / "nightly" / "kurultai-backup.sqlite3"
    assert "backed up" in run(data, "backup", str(dest)).output
    assert mode(dest) == 0o600
    assert mode(dest.parent) == 0o700 and mode(dest.parent.parent) == 0o700  # created by the backup
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]  # no journal left behind
    assert sqlite3.connect(dest).execute("PRAGMA integrity_check").fetchone() == ("ok",)

    # Into an existing directory: the file is 0600, the directory (the user's) is left as it is.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    run(data, "backup", str(shared / "copy.sqlite3"))
    assert mode(shared / "copy.sqlite3") == 0o600
    assert mode(shared) == 0o755


def test_export_is_a_0700_directory_of_0600_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    demo = json.loads(run(data, "demo", "--json", "--delegates", "1").output)
    aid, eid = demo["assembly"], demo["election"]

    async def open_and_close(app: Any) -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:

            async def login(cred: dict[str, str]) -> dict[str, str]:
                r = await c.post("/api/auth/token", json={"username": cred["username"], "password": cred["password"]})
                assert r.status_code == 200, r.text
                return {"Authorization": f"Bearer {r.json()['token']}"}

            delegate, moderator = await login(demo["delegates"][0]), await login(demo["moderator"])
            signer = Signer.generate()
            r = await c.post("/api/me/keys", json={"assembly": aid, "public_key": b64u_encode(signer.public_key_raw)}, headers=delegate)
            assert r.status_code == 201, r.text
            r = await c.post(f"/api/assemblies/{aid}/keys/{signer.key_id}/approve", headers=moderator)
            assert r.status_code == 200, r.text
            for step in ("open", "close"):
                r = await c.post(f"/api/elections/{eid}/{step}", headers=moderator)
                assert r.status_code == 200, r.text

    with_app(data, open_and_close)

    out = tmp_path / "exports" / "election"
    run(data, "export", str(eid), str(out))
    assert mode(out) == 0o700 and mode(out.parent) == 0o700
    files = {p.name: mode(p) for p in out.iterdir()}
    assert files == dict.fromkeys(["board.json", "election.json", "result.json", "roll.json", "server-key.json", "sth.json"], 0o600)

    # Into an existing directory (the user's, left as it is), replacing an older export's files.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    (shared / "election.json").write_text("{}")
    run(data, "export", str(eid), str(shared))
    assert mode(shared) == 0o755
    assert {p.name: mode(p) for p in shared.iterdir()} == files
    assert run(data, "verify", "--offline", str(shared)).exit_code == 0
