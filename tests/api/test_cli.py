"""The `kurultai` command line on a SQLite file in a temporary data directory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from click.testing import CliRunner, Result

from kurultai.cli import cli
from kurultai.settings import Settings

T = TypeVar("T")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def run(data_dir: Path, *args: str, input: str | None = None) -> Result:  # noqa: A002
    env = {"KURULTAI_DATA_DIR": str(data_dir), "KURULTAI_DATABASE_URL": ""}
    return CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)


def with_client(data_dir: Path, fn: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run `fn(client)` against an app serving the same data directory."""
    from kurultai.web.app import create_app

    async def main() -> T:
        app = create_app(Settings(data_dir=data_dir))
        await app.state.db.migrate()
        await app.state.db.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
                return await fn(c)
        finally:
            await app.state.db.stop()

    return asyncio.run(main())


async def login(c: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await c.post("/api/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, (username, r.text)
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_migrate_is_idempotent(data_dir: Path) -> None:
    first = run(data_dir, "migrate")
    assert first.exit_code == 0 and first.output.startswith("applied ") and not first.output.startswith("applied 0")
    assert (data_dir / "kurultai.sqlite3").exists()
    second = run(data_dir, "migrate")
    assert second.exit_code == 0 and second.output == "applied 0 migration(s)\n"


def test_user_add_and_invite(data_dir: Path) -> None:
    r = run(data_dir, "user", "add", "root", "--admin", input="root password 1\n")
    assert r.exit_code == 0 and r.output == "created user root (admin)\n"
    r = run(data_dir, "user", "add", "root", input="another password\n")
    assert r.exit_code != 0 and "already taken" in r.output
    r = run(data_dir, "user", "add", "weak", input="short\n")
    assert r.exit_code != 0 and "password must be" in r.output
    r = run(data_dir, "invite", "amina", "--assembly", "1")
    assert r.exit_code != 0 and "no assembly with id 1" in r.output

    async def make_assembly(c: httpx.AsyncClient) -> int:
        h = await login(c, "root", "root password 1")
        me = (await c.get("/api/me", headers=h)).json()
        assert me["is_admin"] is True
        r = await c.post("/api/assemblies", json={"title": "CLI assembly"}, headers=h)
        assert r.status_code == 201
        return int(r.json()["id"])

    aid = with_client(data_dir, make_assembly)
    r = run(data_dir, "invite", "amina", "--assembly", str(aid), "--base-url", "https://kurultai.example/")
    assert r.exit_code == 0, r.output
    link = r.output.strip()
    assert link.startswith("https://kurultai.example/invite/")
    token = link.rsplit("/", 1)[1]

    async def accept(c: httpx.AsyncClient) -> None:
        page = await c.get(f"/invite/{token}")
        assert page.status_code == 200 and "Set your password" in page.text
        r = await c.post("/api/auth/invite", json={"token": token, "password": "amina password"})
        assert r.status_code == 200 and r.json()["username"] == "amina"
        h = await login(c, "amina", "amina password")
        me = (await c.get("/api/me", headers=h)).json()
        assert me["memberships"] == {str(aid): "delegate"}
        r = await c.post("/api/auth/invite", json={"token": token, "password": "amina password"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_input"

    with_client(data_dir, accept)


def test_demo_json_default(data_dir: Path) -> None:
    r = run(data_dir, "demo", "--json")
    assert r.exit_code == 0, r.output
    logins = json.loads(r.output)
    # issue #4 adds "election" to the object; nothing else may appear
    assert {"assembly", "moderator", "delegates", "admin", "secretary"} <= set(logins) <= {"assembly", "moderator", "delegates", "election", "admin", "secretary"}
    assert set(logins["moderator"]) == {"username", "password"}
    assert len(logins["delegates"]) == 12
    assert all(set(d) == {"username", "password"} for d in logins["delegates"])
    names = [logins["moderator"]["username"], *(d["username"] for d in logins["delegates"])]
    assert len(set(names)) == 13
    aid = logins["assembly"]

    async def check(c: httpx.AsyncClient) -> None:
        a = (await c.get(f"/api/assemblies/{aid}")).json()
        assert "Non-Governmental Organizations" in a["title"]
        assert a["titles"]["ru"] and a["titles"]["kk"] and a["titles"]["ru"] != a["titles"]["kk"]
        assert any("\u0400" <= ch <= "\u04ff" for ch in a["titles"]["kk"])
        doc = (await c.get(f"/api/assemblies/{aid}/document")).json()
        assert len(doc["provisions"]) >= 6
        agenda = (await c.get(f"/api/assemblies/{aid}/agenda")).json()
        assert len(agenda) >= 2
        statuses = {x["status"] for x in (await c.get(f"/api/assemblies/{aid}/amendments")).json()}
        assert {"submitted", "admitted"} <= statuses
        assert len((await c.get(f"/api/assemblies/{aid}/comments")).json()) >= 3
        members = {m["username"]: m["role"] for m in (await c.get(f"/api/assemblies/{aid}/members")).json()}
        assert members[logins["moderator"]["username"]] == "moderator"
        assert all(members[d["username"]] == "delegate" for d in logins["delegates"])
        # the printed logins work
        h = await login(c, logins["moderator"]["username"], logins["moderator"]["password"])
        assert (await c.get(f"/api/assemblies/{aid}/audit", headers=h)).json()["verified"] is True
        d = logins["delegates"][-1]
        h = await login(c, d["username"], d["password"])
        me = (await c.get("/api/me", headers=h)).json()
        assert me["memberships"] == {str(aid): "delegate"}
        page = await c.get(f"/assemblies/{aid}")
        assert page.status_code == 200 and "<ins>" in page.text and "<del>" in page.text
        # the set-up logins (issue #18): an administrator, and the assembly's secretary
        h = await login(c, logins["admin"]["username"], logins["admin"]["password"])
        assert (await c.get("/api/me", headers=h)).json()["is_admin"] is True
        h = await login(c, logins["secretary"]["username"], logins["secretary"]["password"])
        assert (await c.get("/api/me", headers=h)).json()["memberships"] == {str(aid): "secretary"}

    with_client(data_dir, check)


def test_demo_twice_with_few_delegates_and_text_output(data_dir: Path) -> None:
    first = json.loads(run(data_dir, "demo", "--json", "--delegates", "2").output)
    assert len(first["delegates"]) == 2
    second = json.loads(run(data_dir, "demo", "--json", "--delegates", "1").output)
    assert second["assembly"] != first["assembly"] and len(second["delegates"]) == 1
    assert second["moderator"]["username"] != first["moderator"]["username"]
    assert second["delegates"][0]["username"] != first["delegates"][0]["username"]
    r = run(data_dir, "demo", "--delegates", "0")
    assert r.exit_code == 0 and "Demo assembly 3 created" in r.output and "moderator" in r.output
    r = run(data_dir, "demo", "--delegates", "-1")
    assert r.exit_code != 0

    async def check(c: httpx.AsyncClient) -> None:
        await login(c, second["moderator"]["username"], second["moderator"]["password"])
        await login(c, second["delegates"][0]["username"], second["delegates"][0]["password"])

    with_client(data_dir, check)


def test_help_lists_commands(data_dir: Path) -> None:
    r = run(data_dir, "--help")
    for command in ("serve", "migrate", "user", "invite", "demo"):
        assert command in r.output


@pytest.mark.parametrize("n", [0, 1, 2, 6, 9])
def test_demo_works_for_any_number_of_delegates(data_dir: Path, n: int) -> None:
    """Every size seeds: the appeal's co-sponsor is never its author."""
    out = json.loads(run(data_dir, "demo", "--json", "--delegates", str(n)).output)
    assert len(out["delegates"]) == n and out["election"]
