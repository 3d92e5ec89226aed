"""Members from a spreadsheet and their management (issue #18), over the API on SQLite and
PostgreSQL: every import error is a 4xx `{"error", "detail"}` and writes nothing; the preview
names each row's errors; a member's role, weight and activity change; removal before the first
vote only; a new invitation link for a member. The CLI `kurultai import-members` at the end."""

from __future__ import annotations

import io
import re
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.api.voting_helpers import register_and_approve, to_voting
from tests.conftest import World

LIMIT = 256 * 1024
HEADER = "display_name,username,email,role,weight,language"


@pytest.fixture
def settings(settings: Any) -> Any:
    """A small upload limit, so that "too large" is cheap to send."""
    return settings.with_(max_upload_bytes=LIMIT)


@pytest.fixture
async def sec(world: World, app: Any) -> str:
    """A secretary of the world's assembly, with a bearer token."""
    from deliberation import accounts, assemblies

    ctx = app.state.ctx
    user = await accounts.create_user(ctx, "sec", None)
    await assemblies.set_member(ctx, world.assembly, "seed", "sec", "secretary")
    world.tokens["sec"], _ = await accounts.issue_token(ctx, user.id, "bearer", 3_600_000)
    world.users["sec"] = user.id
    return "sec"


def csv_bytes(*lines: str, delimiter: str = ",", bom: bool = False) -> bytes:
    text = "\n".join(line.replace(",", delimiter) for line in lines) + "\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def send(w: World, who: str | None, what: str, data: bytes, filename: str = "members.csv") -> Any:
    return await w.client.post(f"/api/assemblies/{w.assembly}/members/{what}", params={"filename": filename}, content=data, headers=w.headers(who))


async def state(w: World) -> tuple[int, int, int]:
    """(members, users, audit entries): what must not change on a refusal."""
    from deliberation.tables import User

    members = await w.ok("GET", f"/api/assemblies/{w.assembly}/members")
    audit = await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", "admin")
    return len(members), await User.count(), len(audit["entries"])


KAZAKH = csv_bytes(
    "display_name;username;email;role;weight;language;notes",
    "Әсел Нұрланова;;asel@example.kz;;2;kk;первый ряд",
    "Иван Петров;ivan.p;;observer;;ru;",
    ";;;;;;",
    "Жанна Щукина;;;delegate;1;;",
    "Нұрлан Әбенов;;;DELEGATE;3;KK;",
    delimiter=";",
    bom=True,
)


async def test_preview_writes_nothing_then_import_writes_everything(world: World, sec: str) -> None:
    from deliberation.tables import User

    w = world
    before = await state(w)
    r = await send(w, sec, "preview", KAZAKH)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["format"] == "csv" and preview["delimiter"] == ";" and preview["errors"] == []
    assert preview["columns"] == ["display_name", "username", "email", "role", "weight", "language"] and preview["ignored_columns"] == ["notes"]
    got = [(r["row"], r["display_name"], r["username"], r["username_generated"], r["role"], r["weight"], r["language"], r["email"]) for r in preview["rows"]]
    assert got == [
        (2, "Әсел Нұрланова", "asel.nurlanova", True, "delegate", 2, "kk", "asel@example.kz"),
        (3, "Иван Петров", "ivan.p", False, "observer", 1, "ru", None),
        (5, "Жанна Щукина", "zhanna.shchukina", True, "delegate", 1, None, None),
        (6, "Нұрлан Әбенов", "nurlan.abenov", True, "delegate", 3, "kk", None),
    ]
    assert await state(w) == before

    r = await send(w, sec, "import", KAZAKH)
    assert r.status_code == 201, r.text
    done = r.json()
    assert done["created_users"] == 4 and [m["username"] for m in done["members"]] == ["asel.nurlanova", "ivan.p", "zhanna.shchukina", "nurlan.abenov"]
    members = {m["username"]: m for m in await w.ok("GET", f"/api/assemblies/{w.assembly}/members")}
    assert members["asel.nurlanova"] == {
        "user_id": members["asel.nurlanova"]["user_id"],
        "username": "asel.nurlanova",
        "display_name": "Әсел Нұрланова",
        "role": "delegate",
        "weight": 2,
        "active": True,
    }
    assert (members["ivan.p"]["role"], members["nurlan.abenov"]["weight"]) == ("observer", 3)
    assert members["delegate"]["weight"] == 1 and members["delegate"]["active"] is True  # members from before: weight 1, active
    row = await User.select(User.password_hash, User.email, User.language).where(User.username == "asel.nurlanova").first()
    assert row == {"password_hash": None, "email": "asel@example.kz", "language": "kk"}  # no password: invited later
    audit = await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", sec)
    last = audit["entries"][-1]
    assert last["action"] == "members.imported" and last["actor"] == "sec" and last["payload"]["created_users"] == 4
    assert last["payload"]["members"][0] == {"username": "asel.nurlanova", "role": "delegate", "weight": 2}
    created = [e for e in (await w.ok("GET", "/api/audit", "admin"))["entries"] if e["action"] == "user.created" and e["payload"].get("import")]
    assert [e["payload"]["username"] for e in created] == ["asel.nurlanova", "ivan.p", "zhanna.shchukina", "nurlan.abenov"]

    # The same names again: new usernames are made; the explicit one is a member already.
    r = await send(w, sec, "preview", KAZAKH)
    again = r.json()
    assert [r["username"] for r in again["rows"]] == ["asel.nurlanova2", "ivan.p", "zhanna.shchukina2", "nurlan.abenov2"]
    assert [(e["row"], e["code"]) for e in again["errors"]] == [(3, "already_member")]
    before = await state(w)
    r = await send(w, sec, "import", KAZAKH)
    assert r.status_code == 422 and r.json()["error"] == "invalid_rows" and "row 3 username" in r.json()["detail"]
    assert await state(w) == before


async def test_comma_csv_any_column_order_and_an_xlsx(world: World, sec: str) -> None:
    w = world
    data = csv_bytes("Weight, Display Name ,extra", "5,Alice Example,x", "", ',"Bob, Junior",y')
    preview = (await send(w, sec, "preview", data)).json()
    assert preview["delimiter"] == "," and preview["columns"] == ["weight", "display_name"] and preview["ignored_columns"] == ["extra"]
    assert [(r["username"], r["weight"], r["role"]) for r in preview["rows"]] == [("alice.example", 5, "delegate"), ("bob.junior", 1, "delegate")]
    # An existing user who is no member yet joins; their account is not changed.
    book = xlsx_bytes([["display_name", "username", "role", "weight"], ["Someone Else", "outsider", "observer", 2.0], ["Бақыт Ержанов", None, "delegate", 4]])
    r = await send(w, sec, "preview", book, "list.xlsx")
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["format"] == "xlsx" and preview["errors"] == []
    assert [(r["username"], r["existing_user"], r["weight"]) for r in preview["rows"]] == [("outsider", True, 2), ("baqyt.erzhanov", False, 4)]
    done = (await send(w, sec, "import", book, "list.xlsx")).json()
    assert done["created_users"] == 1
    members = {m["username"]: m for m in await w.ok("GET", f"/api/assemblies/{w.assembly}/members")}
    assert members["outsider"]["display_name"] == "outsider" and members["outsider"]["role"] == "observer"


async def test_every_row_error_is_reported_and_nothing_is_written(world: World, sec: str) -> None:
    w = world
    data = csv_bytes(
        HEADER,
        ",nobody,,,,",  # 2: empty name
        f"{'Я' * 201},,,,,",  # 3: too long
        "Bad Name,bad name!,,,,",  # 4: bad username
        "First,same,,,,",  # 5
        "Second,SAME,,,,",  # 6: the same username again
        "Already,delegate,,,,",  # 7: a member already
        "Role,,,chairman,,",  # 8: unknown role
        "Chair,,,moderator,,",  # 9: only an administrator appoints
        "Weight,,,,0,",  # 10
        "Weight2,,,,1.5,",  # 11
        "Weight3,,,,many,",  # 12
        "Weight4,,,,1000001,",  # 13
        "Lang,,,,,de",  # 14
        "Mail,,not-an-email,,,",  # 15
        "Reserved,preview,,,,",  # 16: the name of a route
        "Case,Admin,,,,",  # 17: differs only in case from a user
    )
    before = await state(w)
    preview = (await send(w, sec, "preview", data)).json()
    got = [(e["row"], e["field"], e["code"]) for e in preview["errors"]]
    assert got == [
        (2, "display_name", "empty_name"),
        (3, "display_name", "name_too_long"),
        (4, "username", "bad_username"),
        (6, "username", "duplicate_username"),
        (7, "username", "already_member"),
        (8, "role", "unknown_role"),
        (9, "role", "appointed_role"),
        (10, "weight", "bad_weight"),
        (11, "weight", "bad_weight"),
        (12, "weight", "bad_weight"),
        (13, "weight", "bad_weight"),
        (14, "language", "bad_language"),
        (15, "email", "bad_email"),
        (16, "username", "bad_username"),
        (17, "username", "duplicate_username"),
    ]
    assert "also on row 5" in preview["errors"][3]["detail"]
    r = await send(w, sec, "import", data)
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"error", "detail"} and body["error"] == "invalid_rows" and body["detail"].startswith("15 errors, nothing was imported: row 2 display_name")
    assert await state(w) == before
    # An administrator may import a chair; the other rows still refuse the file.
    admin = (await send(w, "admin", "preview", data)).json()
    assert (9, "role", "appointed_role") not in [(e["row"], e["field"], e["code"]) for e in admin["errors"]]


def _zip(parts: dict[str, bytes], *, flag: int = 0) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    raw = out.getvalue()
    if flag:  # set the "encrypted" bit of every entry (local and central headers)
        raw = raw.replace(b"PK\x03\x04\x14\x00\x00\x00", b"PK\x03\x04\x14\x00\x01\x00").replace(b"PK\x01\x02\x14\x03\x14\x00\x00\x00", b"PK\x01\x02\x14\x03\x14\x00\x01\x00")
    return raw


def _with_part(book: bytes, name: str, data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(book))
    return _zip({n: (data if n == name else src.read(n)) for n in src.namelist()})


BAD_FILES = [
    ("empty", b"", "members.csv", 400, "empty_document"),
    ("only a BOM", b"\xef\xbb\xbf\n", "members.csv", 400, "empty_document"),
    ("too large", b"display_name\n" + b"x\n" * LIMIT, "members.csv", 413, "document_too_large"),
    ("binary", b"\x00\x01\x02display_name", "members.csv", 415, "unsupported_document"),
    ("not UTF-8", "display_name\nАсель\n".encode("cp1251"), "members.csv", 415, "unsupported_document"),
    ("a PDF", b"%PDF-1.7 ...", "members.pdf", 415, "unsupported_document"),
    ("no display_name", csv_bytes("name,username", "Asel,asel"), "members.csv", 422, "missing_column"),
    ("a repeated column", csv_bytes("display_name,display_name", "a,b"), "members.csv", 422, "missing_column"),
    ("a header only", csv_bytes(HEADER, ",,,,,"), "members.csv", 422, "no_rows"),
    ("too many rows", csv_bytes("display_name", *[f"n{i}" for i in range(10_001)]), "members.csv", 422, "too_many_rows"),
    ("a broken quote", b'display_name\n"Asel\nNo end', "members.csv", 400, "malformed_document"),
    ("named .xlsx, not a ZIP", b"display_name\nAsel\n", "members.xlsx", 400, "malformed_document"),
    ("encrypted (OLE)", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "members.xlsx", 400, "encrypted_document"),
    ("a ZIP, not a workbook", _zip({"word/document.xml": b"<w/>"}), "members.xlsx", 415, "unsupported_document"),
    ("a broken ZIP", b"PK\x03\x04" + b"\x00" * 100, "members.xlsx", 400, "malformed_document"),
    ("an encrypted ZIP entry", _zip({"xl/workbook.xml": b"<w/>"}, flag=1), "members.xlsx", 400, "encrypted_document"),
    ("a zip bomb", _zip({"xl/workbook.xml": b"<w/>", "xl/big.bin": b"\x00" * (8 * 1024 * 1024)}), "members.xlsx", 400, "hostile_document"),
]


@pytest.mark.parametrize(("what", "data", "filename", "status", "code"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
async def test_a_bad_file_is_refused_with_a_clear_error(world: World, sec: str, what: str, data: bytes, filename: str, status: int, code: str) -> None:
    w = world
    before = await state(w)
    for step in ("preview", "import"):
        r = await send(w, sec, step, data, filename)
        assert (r.status_code, r.json()["error"]) == (status, code), (what, step, r.text)
        assert set(r.json()) == {"error", "detail"} and r.json()["detail"]
    assert await state(w) == before


async def test_hostile_and_damaged_workbooks(world: World, sec: str) -> None:
    w = world
    book = xlsx_bytes([["display_name"], ["Asel"]])
    entity = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>'
    cases = [
        (_with_part(book, "xl/worksheets/sheet1.xml", entity), 400, "hostile_document"),
        (_with_part(book, "xl/worksheets/sheet1.xml", b"<worksheet><sheetData><row>"), 400, "malformed_document"),
        (_with_part(book, "xl/workbook.xml", b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'), 400, "empty_document"),  # no sheet
    ]
    before = await state(w)
    for data, status, code in cases:
        r = await send(w, sec, "import", data, "list.xlsx")
        assert (r.status_code, r.json()["error"]) == (status, code), r.text
    assert await state(w) == before


async def test_who_may_import(world: World, sec: str) -> None:
    w = world
    data = csv_bytes("display_name", "Asel")
    for who, status in ((None, 401), ("delegate", 403), ("observer", 403), ("outsider", 403)):
        for step in ("preview", "import"):
            r = await send(w, who, step, data)
            assert r.status_code == status, (who, step, r.text)
    r = await w.client.post("/api/assemblies/999/members/preview", content=data, headers=w.headers(sec))
    assert r.status_code == 404
    assert (await send(w, "moderator", "preview", data)).status_code == 200


async def test_change_role_weight_and_activity(world: World, sec: str) -> None:
    w = world
    path = f"/api/assemblies/{w.assembly}/members"
    m = await w.ok("PATCH", f"{path}/delegate2", sec, {"weight": 3})
    assert (m["role"], m["weight"], m["active"]) == ("delegate", 3, True)
    m = await w.ok("PATCH", f"{path}/observer", sec, {"role": "delegate", "weight": 2, "active": False})
    assert (m["role"], m["weight"], m["active"]) == ("delegate", 2, False)
    members = {m["username"]: m for m in await w.ok("GET", path)}
    assert (members["delegate2"]["weight"], members["observer"]["active"]) == (3, False)
    audit = await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", sec)
    assert [e["payload"] for e in audit["entries"] if e["action"] == "member.updated"] == [
        {"username": "delegate2", "weight": 3},
        {"username": "observer", "role": "delegate", "weight": 2, "active": False},
    ]
    bad = [
        ("delegate2", {"weight": 0}, 400, "invalid_input"),
        ("delegate2", {"weight": 1_000_001}, 400, "invalid_input"),
        ("delegate2", {"weight": 2.5}, 400, "invalid_input"),
        ("delegate2", {"role": "king"}, 400, "invalid_input"),
        ("delegate2", {"colour": "red"}, 400, "invalid_input"),
        ("outsider", {"weight": 2}, 404, "not_found"),
        ("no.such.user", {"weight": 2}, 404, "not_found"),
        ("dele%00gate", {"weight": 2}, 404, "not_found"),
        ("delegate2", {"role": "moderator"}, 403, "forbidden"),  # only an administrator appoints
        ("moderator", {"weight": 2}, 403, "forbidden"),  # nor changes a chair
        ("sec", {"active": False}, 403, "forbidden"),  # nor a secretary, even themself
    ]
    for who, body, status, code in bad:
        r = await w.call("PATCH", f"{path}/{who}", sec, body)
        assert (r.status_code, r.json()["error"]) == (status, code), (who, body, r.text)
    for who in (None, "delegate", "observer", "outsider"):
        r = await w.call("PATCH", f"{path}/delegate2", who, {"weight": 5})
        assert r.status_code == (401 if who is None else 403)
    assert (await w.ok("PATCH", f"{path}/moderator", "admin", {"weight": 2}))["weight"] == 2
    r = await w.call("PATCH", "/api/assemblies/999/members/delegate2", "admin", {"weight": 2})
    assert r.status_code == 404


async def test_a_deactivated_member_has_no_rights_and_no_place_on_a_new_roll(world: World, sec: str) -> None:
    w = world
    path = f"/api/assemblies/{w.assembly}/members"
    alice = await register_and_approve(w, "delegate")
    bob = await register_and_approve(w, "delegate2")
    await w.ok("POST", f"/api/assemblies/{w.assembly}/presence", "delegate2", {"present": True})
    await w.ok("PATCH", f"{path}/delegate", sec, {"weight": 4})
    await w.ok("PATCH", f"{path}/delegate2", sec, {"active": False})
    view = await w.ok("GET", f"/api/assemblies/{w.assembly}/presence")
    assert view["present_count"] == 0 and [m["username"] for m in view["members"]] == ["delegate"]  # checked out, not counted
    r = await w.call("POST", f"/api/assemblies/{w.assembly}/comments", "delegate2", {"text": "Still here?", "provision": w.provisions[0]})
    assert r.status_code == 403
    me = await w.ok("GET", "/api/me", "delegate2")
    assert str(w.assembly) not in {str(k) for k in me["memberships"]}
    await to_voting(w)
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}}, status=201)
    await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator")
    roll = await w.ok("GET", f"/api/elections/{e['id']}/roll")
    assert [(v["key_id"], v["weight"]) for v in roll["signed"]["voters"]] == [(alice.key_id, 4)]  # the member's weight; bob is off
    assert bob.key_id not in {v["key_id"] for v in roll["signed"]["voters"]}
    # The election's own weights come first.
    await w.ok("PATCH", f"{path}/delegate2", sec, {"active": True})
    e2 = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}, "weights": {"delegate": 7}}, status=201)
    await w.ok("POST", f"/api/elections/{e2['id']}/open", "moderator")
    roll = await w.ok("GET", f"/api/elections/{e2['id']}/roll")
    assert sorted((v["key_id"], v["weight"]) for v in roll["signed"]["voters"]) == sorted([(alice.key_id, 7), (bob.key_id, 1)])


async def test_remove_only_before_the_first_vote(world: World, sec: str) -> None:
    w = world
    path = f"/api/assemblies/{w.assembly}/members"
    assert (await w.call("DELETE", f"{path}/observer", sec)).status_code == 204
    await register_and_approve(w, "delegate")
    await to_voting(w)
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}}, status=201)
    assert (await w.call("DELETE", f"{path}/delegate2", sec)).status_code == 204  # a draft election is no vote yet
    await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator")
    r = await w.call("DELETE", f"{path}/delegate", sec)
    assert (r.status_code, r.json()["error"]) == (409, "illegal_transition") and "deactivate" in r.json()["detail"]
    assert "delegate" in {m["username"] for m in await w.ok("GET", path)}
    assert (await w.ok("PATCH", f"{path}/delegate", sec, {"active": False}))["active"] is False


async def test_a_new_invitation_link_for_a_member(world: World, sec: str, app: Any) -> None:
    from deliberation import accounts

    w = world
    ctx = app.state.ctx
    base = f"/api/assemblies/{w.assembly}/members"
    uid = w.users["delegate"]
    first = await w.ok("POST", f"{base}/{uid}/invite", sec, status=201)
    assert first["username"] == "delegate" and first["url"].endswith(f"/invite/{first['token']}")
    await accounts.accept_invite(ctx, first["token"], "the first password")
    second = await w.ok("POST", f"{base}/{uid}/invite", sec, status=201)
    assert await accounts.authenticate(ctx, "delegate", "the first password") is not None  # kept until a new one is set
    third = await w.ok("POST", f"{base}/{uid}/invite", "moderator", status=201)
    r = await w.call("POST", "/api/auth/invite", None, {"token": second["token"], "password": "the second password"})
    assert r.status_code == 400  # the earlier link stopped working
    await w.ok("POST", "/api/auth/invite", None, {"token": third["token"], "password": "the third password"})
    assert await accounts.authenticate(ctx, "delegate", "the first password") is None
    audit = await w.ok("GET", "/api/audit", "admin")
    assert [e["actor"] for e in audit["entries"] if e["action"] == "user.invited"][-3:] == ["sec", "sec", "moderator"]
    for target, who, status in (
        (w.users["outsider"], sec, 404),  # no member here
        (99999, sec, 404),
        (2**40, sec, 404),
        (w.users["moderator"], sec, 403),  # the chair's link: an administrator's
        (uid, "delegate", 403),
        (uid, "observer", 403),
        (uid, None, 401),
    ):
        r = await w.call("POST", f"{base}/{target}/invite", who)
        assert r.status_code == status, (target, who, r.text)
    assert (await w.call("POST", f"{base}/{w.users['moderator']}/invite", "admin")).status_code == 201


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_cli_import_members(settings: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kurultai.cli import cli

    env = {"KURULTAI_DATA_DIR": str(settings.data_dir), "KURULTAI_DATABASE_URL": "", "KURULTAI_MAX_UPLOAD_BYTES": str(LIMIT)}

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    aid = json.loads(run("demo", "--delegates", "0", "--json").output)["assembly"]
    good = tmp_path / "делегаты.csv"
    good.write_bytes(KAZAKH)
    dry = run("import-members", str(aid), str(good), "--dry-run")
    assert dry.exit_code == 0, dry.output
    found = json.loads(dry.output)
    assert [r["username"] for r in found["rows"]] == ["asel.nurlanova", "ivan.p", "zhanna.shchukina", "nurlan.abenov"] and found["errors"] == []

    bad = tmp_path / "bad.csv"
    for content, reason in (
        (b"", "the file is empty"),
        (b"name\nAsel\n", "no display_name column"),
        (b"x" * (LIMIT + 1), "the limit is"),
        (csv_bytes(HEADER, "Asel,,,,0,"), "row 2 weight: weight must be an integer"),
    ):
        bad.write_bytes(content)
        proc = run("import-members", str(aid), str(bad))
        assert proc.exit_code == 2 and reason in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, (proc.exit_code, proc.stderr)
    proc = run("import-members", str(aid), str(tmp_path / "missing.csv"))
    assert proc.exit_code == 2 and "cannot read" in proc.stderr
    proc = run("import-members", "9999", str(good))
    assert proc.exit_code == 2 and "no assembly" in proc.stderr

    done = run("import-members", str(aid), str(good))
    assert done.exit_code == 0 and done.output.startswith(f"imported 4 members into assembly {aid} (4 new users"), done.output
    again = run("import-members", str(aid), str(good))
    assert again.exit_code == 2 and "already_member" not in again.stderr and "is a member of this assembly already" in again.stderr
    assert "import-members" in run("--help").output


async def test_the_members_pages(world: World, sec: str, app: Any) -> None:
    """The set-up page's members section with a browser session (in Russian): upload, preview,
    confirm; the table's forms; errors answered in the page's language, nothing written."""
    from tests.api.test_setup_pages import browser

    w = world
    a = w.assembly
    c, csrf = await browser(w, app, "sec", "ru")
    async with c:
        page = (await c.get(f"/assemblies/{a}/setup")).text
        assert 'id="members-list"' in page and "Список делегатов (.csv или .xlsx" in page
        assert f'action="/assemblies/{a}/member/moderator/edit' not in page  # the chair's row: an administrator's
        r = await c.post(f"/assemblies/{a}/members/upload", data={"csrf_token": csrf}, files={"members": ("list.csv", b"name\nAsel\n", "text/csv")})
        assert r.status_code == 422 and 'data-error="missing_column"' in r.text and "В первой строке должны быть названия столбцов" in r.text
        r = await c.post(f"/assemblies/{a}/members/upload", data={"csrf_token": "forged"}, files={"members": ("list.csv", KAZAKH, "text/csv")})
        assert r.status_code == 403
        r = await c.post(f"/assemblies/{a}/members/upload", data={"csrf_token": csrf}, files={"members": ("list.csv", KAZAKH, "text/csv")})
        assert r.status_code == 303, r.text
        preview = await c.get(r.headers["location"])
        assert preview.status_code == 200 and preview.text.count('class="member-row') == 4 and 'id="confirm-members"' in preview.text
        assert "составлено из имени" in preview.text
        token = re.search(r'name="token" value="([^"]+)"', preview.text).group(1)
        r = await c.post(f"/assemblies/{a}/members/confirm", data={"csrf_token": csrf, "token": token, "name": "list.csv"})
        assert r.status_code == 303 and r.headers["location"].endswith("done=members&n=4#members")
        assert "Участники импортированы: 4" in (await c.get(r.headers["location"])).text
        r = await c.post(f"/assemblies/{a}/members/confirm", data={"csrf_token": csrf, "token": token})
        assert r.status_code == 404 and 'data-error="expired"' in r.text  # used once

        r = await c.post(f"/assemblies/{a}/member/asel.nurlanova/edit", data={"csrf_token": csrf, "role": "observer", "weight": "7"})
        assert r.status_code == 303
        m = {m["username"]: m for m in (await w.client.get(f"/api/assemblies/{a}/members")).json()}["asel.nurlanova"]
        assert (m["role"], m["weight"], m["active"]) == ("observer", 7, False)  # the box was not ticked
        for form, status, code in (
            ({"role": "observer", "weight": "0", "active": "on"}, 400, "member_weight"),
            ({"role": "king", "weight": "1"}, 400, "member_role"),
            ({"role": "moderator", "weight": "1"}, 403, "appointed"),
        ):
            r = await c.post(f"/assemblies/{a}/member/ivan.p/edit", data={"csrf_token": csrf, **form})
            assert r.status_code == status and f'data-error="{code}"' in r.text, (form, r.status_code)
        r = await c.post(f"/assemblies/{a}/member/moderator/edit", data={"csrf_token": csrf, "role": "delegate", "weight": "1"})
        assert r.status_code == 403 and "Председателя и секретарей меняет только администратор." in r.text
        r = await c.post(f"/assemblies/{a}/member/nobody.here/remove", data={"csrf_token": csrf})
        assert r.status_code == 404
        r = await c.post(f"/assemblies/{a}/member/ivan.p/invite", data={"csrf_token": csrf})
        assert r.status_code == 200 and 'id="member-invite"' in r.text and "/invite/" in r.text
        r = await c.post(f"/assemblies/{a}/member/ivan.p/remove", data={"csrf_token": csrf})
        assert r.status_code == 303 and "ivan.p" not in {m["username"] for m in (await w.client.get(f"/api/assemblies/{a}/members")).json()}
        await register_and_approve(w, "delegate")
        await to_voting(w)
        e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}}, status=201)
        await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator")
        r = await c.post(f"/assemblies/{a}/member/zhanna.shchukina/remove", data={"csrf_token": csrf})
        assert r.status_code == 409 and 'data-error="vote_opened"' in r.text
    d, dcsrf = await browser(w, app, "delegate", "ru")
    async with d:
        r = await d.post(f"/assemblies/{a}/member/delegate2/edit", data={"csrf_token": dcsrf, "role": "observer", "weight": "1"})
        assert r.status_code == 403


async def test_a_secretary_cannot_take_over_an_account_that_is_not_the_assemblys(world: World, sec: str, app: Any) -> None:
    """The review's reproduction: a secretary imports the administrator (an existing account) as a
    delegate, then asks for a new link for them. Refused, as for the chair of another assembly and
    a member of two assemblies; an account of this assembly alone gets its link. Cards and
    revocation follow the same rule."""
    from deliberation import assemblies

    w = world
    ctx = app.state.ctx
    done = (await send(w, sec, "import", csv_bytes("display_name,username", "Anybody,admin", "Two Homes,outsider"))).json()
    assert done["created_users"] == 0
    await assemblies.set_member(ctx, w.other_assembly, "seed", "delegate2", "moderator")  # a chair elsewhere
    for name in ("admin", "outsider", "delegate2"):
        for method, path in (("POST", "invite"), ("DELETE", "invite")):
            r = await w.call(method, f"/api/assemblies/{w.assembly}/members/{w.users[name]}/{path}", sec)
            assert r.status_code == 403 and r.json()["error"] == "forbidden", (name, method, r.text)
    r = await w.call("POST", f"/api/assemblies/{w.assembly}/invitations.pdf?lang=en", sec)
    assert r.status_code == 200 and r.headers["x-cards"] == "2"  # delegate and observer only
    link = (await w.ok("POST", f"/api/assemblies/{w.assembly}/members/{w.users['delegate']}/invite", sec, status=201))["url"]
    assert "/invite/" in link
    admin_link = await w.ok("POST", f"/api/assemblies/{w.assembly}/members/{w.users['outsider']}/invite", "admin", status=201)
    assert admin_link["username"] == "outsider"  # an administrator may


def test_a_weight_with_a_thousands_separator_is_refused_not_read_as_one() -> None:
    from deliberation.members_import import _weight

    assert [_weight(t) for t in ("", "7", "2.0", "2,0", "1,000", "1.000", "1.00", "1 000")] == [1, 7, 2, 2, None, None, None, None]


async def test_the_invitation_form_sent_again_issues_no_other_link(world: World, sec: str, app: Any, clock: Any) -> None:
    """A refresh that posts "New invitation link" once more (the same showing of the page) shows
    that a link was issued since and issues none: the link handed out keeps working. From a
    page shown after it, the button issues a new one."""
    from deliberation import accounts
    from deliberation.tables import User
    from tests.api.test_setup_pages import browser

    w = world
    a = w.assembly
    invite_form = re.compile(rf'action="/assemblies/{a}/member/delegate/invite#members">.*?name="shown_ms" value="(\d+)"')

    async def stored_hash() -> str | None:
        return (await User.select(User.invite_hash).where(User.id == w.users["delegate"]).first())["invite_hash"]

    c, csrf = await browser(w, app, "sec", "ru")
    async with c:
        shown = invite_form.search((await c.get(f"/assemblies/{a}/setup")).text).group(1)
        clock.advance(1000)
        r = await c.post(f"/assemblies/{a}/member/delegate/invite", data={"csrf_token": csrf, "shown_ms": shown})
        assert r.status_code == 200 and 'id="member-invite"' in r.text
        first = re.search(r'value="http://testserver/invite/([^"]+)"', r.text).group(1)
        assert await stored_hash() == accounts.token_hash(first)
        clock.advance(1000)
        r = await c.post(f"/assemblies/{a}/member/delegate/invite", data={"csrf_token": csrf, "shown_ms": shown})  # the refresh
        assert r.status_code == 200 and 'id="member-invite-again"' in r.text and 'id="member-invite"' not in r.text
        assert "была выдана уже после того, как эта страница была показана" in r.text and "/invite/" not in r.text.split('id="member-invite-again"')[1].split("</p>")[0]
        assert await stored_hash() == accounts.token_hash(first)  # the link handed out still works
        shown = invite_form.search(r.text).group(1)  # the page as shown now
        clock.advance(1000)
        r = await c.post(f"/assemblies/{a}/member/delegate/invite", data={"csrf_token": csrf, "shown_ms": shown})
        second = re.search(r'value="http://testserver/invite/([^"]+)"', r.text).group(1)
        assert second != first and await stored_hash() == accounts.token_hash(second)
    r = await w.call("POST", "/api/auth/invite", None, {"token": first, "password": "the first password"})
    assert r.status_code == 400  # replaced by the second
    await w.ok("POST", "/api/auth/invite", None, {"token": second, "password": "the second password"})
