"""The role matrix (issue #7): every operation of the OpenAPI schema × anonymous, observer,
delegate, delegate of another assembly (`outsider`), secretary (issue #18), moderator and admin, against the explicit
table below. The test fails when the schema has an operation the table does not list.

Phase 1 sends every request that the table denies, checking 401 (anonymous) or 403 and that the
database is byte-for-byte unchanged after each one (zero escalations). Phase 2 sends the allowed
ones and checks that none is refused for its role (401/403). SQLite only.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from tests.api.voting_helpers import register_and_approve, to_voting
from tests.conftest import World
from voting.core.encoding import b64u_encode
from voting.core.keys import Signer

ROLES = ("anonymous", "observer", "outsider", "delegate", "secretary", "moderator", "admin")
ANYONE = frozenset(ROLES)
USERS = ANYONE - {"anonymous"}
ADMIN = frozenset({"admin"})
MOD = frozenset({"moderator", "admin"})
SETUP = frozenset({"secretary", "moderator", "admin"})  # require_secretary: preparing the assembly (issue #18)
DEBATERS = frozenset({"delegate", "moderator", "admin"})  # require_delegate: moderators speak too
DELEGATE = frozenset({"delegate", "admin"})
AUTHOR = frozenset({"delegate"})  # the amendment is the delegate's own; not even an admin edits it

#: (method, path) -> the roles allowed. Everything else is denied with 401 or 403.
EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/api/health"): ANYONE,
    ("GET", "/api/server-key"): ANYONE,
    ("POST", "/api/auth/token"): ANYONE,
    ("DELETE", "/api/auth/token"): USERS,
    ("POST", "/api/auth/invite"): ANYONE,  # the invite token is the credential
    ("GET", "/api/me"): USERS,
    ("POST", "/api/users"): ADMIN,
    ("GET", "/api/users/{uid}"): ADMIN,
    ("POST", "/api/users/{uid}/invite"): ADMIN,
    ("GET", "/api/audit"): ADMIN,
    # assemblies
    ("GET", "/api/assemblies"): ANYONE,
    ("POST", "/api/assemblies"): ADMIN,
    ("GET", "/api/assemblies/{aid}"): ANYONE,
    ("PATCH", "/api/assemblies/{aid}"): SETUP,
    ("GET", "/api/assemblies/{aid}/members"): ANYONE,
    ("POST", "/api/assemblies/{aid}/members"): SETUP,  # appointing a chair or a secretary: admin (tests/api/test_draft_import.py)
    ("DELETE", "/api/assemblies/{aid}/members/{username}"): SETUP,
    ("PATCH", "/api/assemblies/{aid}/members/{username}"): SETUP,  # a chair's or a secretary's: admin (tests/api/test_members_import.py)
    ("POST", "/api/assemblies/{aid}/members/preview"): SETUP,  # issue #18: members from a spreadsheet
    ("POST", "/api/assemblies/{aid}/members/import"): SETUP,
    ("POST", "/api/assemblies/{aid}/members/{uid}/invite"): SETUP,  # a new link (reset a password); a chair's or a secretary's: admin
    ("GET", "/api/assemblies/{aid}/audit"): SETUP,
    # draft
    ("GET", "/api/assemblies/{aid}/document"): ANYONE,
    ("GET", "/api/assemblies/{aid}/document.md"): ANYONE,
    ("GET", "/api/assemblies/{aid}/document.html"): ANYONE,
    ("GET", "/api/assemblies/{aid}/document.pdf"): ANYONE,  # the record (issue #19): what observers see
    ("GET", "/api/assemblies/{aid}/document.docx"): ANYONE,
    ("GET", "/api/assemblies/{aid}/archive.zip"): ANYONE,
    ("GET", "/api/assemblies/{aid}/minutes.pdf"): ANYONE,
    ("GET", "/api/assemblies/{aid}/minutes.docx"): ANYONE,
    ("GET", "/api/assemblies/{aid}/table.pdf"): ANYONE,
    ("GET", "/api/assemblies/{aid}/table.docx"): ANYONE,
    ("POST", "/api/assemblies/{aid}/provisions"): SETUP,
    ("POST", "/api/assemblies/{aid}/draft/preview"): SETUP,
    ("POST", "/api/assemblies/{aid}/draft/import"): SETUP,
    ("GET", "/api/provisions/{pid}"): ANYONE,
    ("PATCH", "/api/provisions/{pid}"): SETUP,
    # agenda and speakers
    ("GET", "/api/assemblies/{aid}/agenda"): ANYONE,
    ("POST", "/api/assemblies/{aid}/agenda"): SETUP,
    ("POST", "/api/assemblies/{aid}/agenda/from-provisions"): SETUP,
    ("GET", "/api/agenda/{iid}"): ANYONE,
    ("PATCH", "/api/agenda/{iid}"): SETUP,
    ("POST", "/api/agenda/{iid}/merge"): SETUP,  # issue #18: reshaping the agenda (409 here: the item is in debate)
    ("POST", "/api/agenda/{iid}/split"): SETUP,
    ("POST", "/api/agenda/{iid}/phase"): MOD,
    ("POST", "/api/assemblies/{aid}/current"): MOD,
    ("GET", "/api/assemblies/{aid}/presence"): ANYONE,  # like the members list
    ("POST", "/api/assemblies/{aid}/presence"): DELEGATE,  # a delegate checks themself in or out
    ("POST", "/api/assemblies/{aid}/presence/{username}"): MOD,  # the chair checks a delegate in or out
    ("DELETE", "/api/assemblies/{aid}/presence"): MOD,  # the chair checks everybody out
    ("GET", "/api/agenda/{iid}/speakers"): ANYONE,
    ("POST", "/api/agenda/{iid}/speakers"): DEBATERS,
    ("POST", "/api/speakers/{sid}/withdraw"): frozenset({"delegate", "moderator", "admin"}),
    ("POST", "/api/agenda/{iid}/speakers/next"): MOD,
    ("POST", "/api/agenda/{iid}/speakers/end"): MOD,
    ("POST", "/api/agenda/{iid}/speakers/order"): MOD,
    ("POST", "/api/agenda/{iid}/timer"): MOD,
    # amendments and comments
    ("GET", "/api/assemblies/{aid}/amendments"): ANYONE,
    ("POST", "/api/assemblies/{aid}/amendments"): DEBATERS,
    ("GET", "/api/amendments/{mid}"): ANYONE,
    ("PATCH", "/api/amendments/{mid}"): AUTHOR,
    ("POST", "/api/amendments/{mid}/submit"): AUTHOR,
    ("POST", "/api/amendments/{mid}/withdraw"): AUTHOR,
    ("POST", "/api/amendments/{mid}/admit"): MOD,
    ("POST", "/api/amendments/{mid}/reject"): MOD,
    ("POST", "/api/amendments/{mid}/adopt"): MOD,
    ("POST", "/api/amendments/{mid}/cosponsors"): DEBATERS,
    ("DELETE", "/api/amendments/{mid}/cosponsors"): DEBATERS,
    ("GET", "/api/assemblies/{aid}/comments"): ANYONE,
    ("POST", "/api/assemblies/{aid}/comments"): DEBATERS,
    ("POST", "/api/comments/{cid}/hide"): MOD,
    # keys
    ("GET", "/api/me/keys"): USERS,
    ("POST", "/api/me/keys"): DELEGATE,
    ("GET", "/api/assemblies/{aid}/keys"): MOD,
    ("POST", "/api/assemblies/{aid}/keys/{key_id}/approve"): MOD,
    ("POST", "/api/assemblies/{aid}/keys/approve-pending"): MOD,
    ("GET", "/api/assemblies/{aid}/keys/pending"): MOD,  # issue #18: keys at scale, the list first
    ("POST", "/api/assemblies/{aid}/keys/approve-present"): MOD,
    ("POST", "/api/assemblies/{aid}/keys/{key_id}/revoke"): MOD | {"delegate"},  # the delegate's own key
    # invitations (issue #18)
    ("POST", "/api/assemblies/{aid}/invitations.pdf"): SETUP,
    ("DELETE", "/api/assemblies/{aid}/members/{uid}/invite"): SETUP,
    # elections
    ("GET", "/api/assemblies/{aid}/elections"): ANYONE,
    ("POST", "/api/agenda/{iid}/elections"): MOD,
    ("GET", "/api/elections/{eid}"): ANYONE,
    ("PATCH", "/api/elections/{eid}"): MOD,
    ("POST", "/api/elections/{eid}/open"): MOD,
    ("POST", "/api/elections/{eid}/close"): MOD,
    ("GET", "/api/elections/{eid}/roll"): ANYONE,
    ("GET", "/api/elections/{eid}/board"): ANYONE,
    ("GET", "/api/elections/{eid}/sth"): ANYONE,
    ("GET", "/api/elections/{eid}/proof/inclusion"): ANYONE,
    ("GET", "/api/elections/{eid}/proof/consistency"): ANYONE,
    ("GET", "/api/elections/{eid}/tally"): ANYONE,
    ("GET", "/api/elections/{eid}/register"): ANYONE,
    ("GET", "/api/elections/{eid}/result"): ANYONE,
    ("POST", "/api/elections/{eid}/ballots"): ANYONE,  # no session: the signature is the credential
}

#: Operations whose allowed calls change who may do what: they run last in phase 2.
LAST = [("DELETE", "/api/assemblies/{aid}/members/{username}"), ("DELETE", "/api/auth/token")]


async def schema_operations(w: World) -> set[tuple[str, str]]:
    schema = await w.ok("GET", "/schema/openapi.json")
    return {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops if m in ("get", "post", "put", "patch", "delete")}


def snapshot(path: Any) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables}
    finally:
        conn.close()


async def build_targets(w: World, app: Any) -> tuple[dict[str, Any], dict[tuple[str, str], tuple[str, Any]]]:
    """Objects the requests point at, and for each operation the concrete path and body."""
    from deliberation import accounts, agenda, assemblies

    ctx = app.state.ctx
    secretary = await accounts.create_user(ctx, "secretary", None)
    await assemblies.set_member(ctx, w.assembly, "seed", "secretary", "secretary")
    w.tokens["secretary"], _ = await accounts.issue_token(ctx, secretary.id, "bearer", 3_600_000)
    extra = await accounts.create_user(ctx, "extra", None)
    await assemblies.set_member(ctx, w.assembly, "seed", "extra", "delegate")
    await accounts.create_user(ctx, "pw", "correct horse battery staple")
    await register_and_approve(w, "delegate2")
    pending_key = b64u_encode(Signer.generate().public_key_raw)
    key = await w.ok("POST", "/api/me/keys", "delegate", {"assembly": w.assembly, "public_key": pending_key}, status=201)
    await w.ok("POST", f"/api/agenda/{w.item}/phase", "moderator", {"phase": "debate"})
    queue = (await w.ok("POST", f"/api/agenda/{w.item}/speakers", "delegate", {}, status=201))["queue"]
    speaker = queue[0]
    amendment = await w.ok("POST", f"/api/assemblies/{w.assembly}/amendments", "delegate", {"provision": w.provisions[0], "kind": "replace", "text": "New text.", "title": "t"}, status=201)
    comment = await w.ok("POST", f"/api/assemblies/{w.assembly}/comments", "delegate", {"text": "A comment.", "provision": w.provisions[0]}, status=201)
    item2 = await agenda.create_item(ctx, w.assembly, "seed", title="Item two", provisions=[w.provisions[2]])
    saved_item, w.item = w.item, item2["id"]
    await to_voting(w)
    w.item = saved_item
    draft = await w.ok("POST", f"/api/agenda/{item2['id']}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}}, status=201)
    opened = await w.ok("POST", f"/api/agenda/{item2['id']}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}}, status=201)
    await w.ok("POST", f"/api/elections/{opened['id']}/open", "moderator")
    a, i, e, o = w.assembly, w.item, draft["id"], opened["id"]
    requests: dict[tuple[str, str], tuple[str, Any]] = {
        ("GET", "/api/health"): ("/api/health", None),
        ("GET", "/api/server-key"): ("/api/server-key", None),
        ("POST", "/api/auth/token"): ("/api/auth/token", {"username": "pw", "password": "correct horse battery staple"}),
        ("DELETE", "/api/auth/token"): ("/api/auth/token", None),
        ("POST", "/api/auth/invite"): ("/api/auth/invite", {"token": "no-such-invite-token", "password": "long enough password"}),
        ("GET", "/api/me"): ("/api/me", None),
        ("POST", "/api/users"): ("/api/users", {"username": "created-by-{role}"}),
        ("GET", "/api/users/{uid}"): (f"/api/users/{extra.id}", None),
        ("POST", "/api/users/{uid}/invite"): (f"/api/users/{extra.id}/invite", {"assembly": a, "role": "delegate"}),
        ("GET", "/api/audit"): ("/api/audit", None),
        ("GET", "/api/assemblies"): ("/api/assemblies", None),
        ("POST", "/api/assemblies"): ("/api/assemblies", {"title": "Made by {role}"}),
        ("GET", "/api/assemblies/{aid}"): (f"/api/assemblies/{a}", None),
        ("PATCH", "/api/assemblies/{aid}"): (f"/api/assemblies/{a}", {"description": "changed by {role}"}),
        ("GET", "/api/assemblies/{aid}/members"): (f"/api/assemblies/{a}/members", None),
        ("POST", "/api/assemblies/{aid}/members"): (f"/api/assemblies/{a}/members", {"username": "pw", "role": "observer"}),
        ("DELETE", "/api/assemblies/{aid}/members/{username}"): (f"/api/assemblies/{a}/members/extra", None),
        ("PATCH", "/api/assemblies/{aid}/members/{username}"): (f"/api/assemblies/{a}/members/extra", {"weight": 2}),
        ("POST", "/api/assemblies/{aid}/members/preview"): (f"/api/assemblies/{a}/members/preview", "display_name;role\nImported Member;observer\n".encode()),
        ("POST", "/api/assemblies/{aid}/members/import"): (f"/api/assemblies/{a}/members/import", "display_name;role\nImported Member;observer\n".encode()),
        ("POST", "/api/assemblies/{aid}/members/{uid}/invite"): (f"/api/assemblies/{a}/members/{extra.id}/invite", None),
        ("GET", "/api/assemblies/{aid}/audit"): (f"/api/assemblies/{a}/audit", None),
        ("GET", "/api/assemblies/{aid}/document"): (f"/api/assemblies/{a}/document", None),
        ("GET", "/api/assemblies/{aid}/document.md"): (f"/api/assemblies/{a}/document.md", None),
        ("GET", "/api/assemblies/{aid}/document.html"): (f"/api/assemblies/{a}/document.html", None),
        ("GET", "/api/assemblies/{aid}/document.pdf"): (f"/api/assemblies/{a}/document.pdf?lang=kk", None),
        ("GET", "/api/assemblies/{aid}/document.docx"): (f"/api/assemblies/{a}/document.docx?lang=ru", None),
        ("GET", "/api/assemblies/{aid}/archive.zip"): (f"/api/assemblies/{a}/archive.zip", None),
        ("GET", "/api/assemblies/{aid}/minutes.pdf"): (f"/api/assemblies/{a}/minutes.pdf?lang=kk", None),
        ("GET", "/api/assemblies/{aid}/minutes.docx"): (f"/api/assemblies/{a}/minutes.docx?lang=en", None),
        ("GET", "/api/assemblies/{aid}/table.pdf"): (f"/api/assemblies/{a}/table.pdf?lang=ru", None),
        ("GET", "/api/assemblies/{aid}/table.docx"): (f"/api/assemblies/{a}/table.docx?lang=kk", None),
        ("POST", "/api/assemblies/{aid}/provisions"): (f"/api/assemblies/{a}/provisions", {"text": "Added by {role}.", "title": "x"}),
        ("POST", "/api/assemblies/{aid}/draft/preview"): (f"/api/assemblies/{a}/draft/preview", "Article 101. Imported\nBy {role}.".encode()),
        ("POST", "/api/assemblies/{aid}/draft/import"): (f"/api/assemblies/{a}/draft/import", "Article 101. Imported\nBy {role}.".encode()),
        ("GET", "/api/provisions/{pid}"): (f"/api/provisions/{w.provisions[1]}", None),
        ("PATCH", "/api/provisions/{pid}"): (f"/api/provisions/{w.provisions[1]}", {"text": "Edited by {role}."}),
        ("GET", "/api/assemblies/{aid}/agenda"): (f"/api/assemblies/{a}/agenda", None),
        ("POST", "/api/assemblies/{aid}/agenda"): (f"/api/assemblies/{a}/agenda", {"title": "Item by {role}"}),
        ("POST", "/api/assemblies/{aid}/agenda/from-provisions"): (f"/api/assemblies/{a}/agenda/from-provisions", {"per": "article"}),
        ("GET", "/api/agenda/{iid}"): (f"/api/agenda/{i}", None),
        ("PATCH", "/api/agenda/{iid}"): (f"/api/agenda/{i}", {"description": "by {role}"}),
        ("POST", "/api/agenda/{iid}/merge"): (f"/api/agenda/{i}/merge", {"into": item2["id"]}),
        ("POST", "/api/agenda/{iid}/split"): (f"/api/agenda/{i}/split", {"provisions": [w.provisions[0]], "title": "by {role}"}),
        ("POST", "/api/agenda/{iid}/phase"): (f"/api/agenda/{i}/phase", {"phase": "amendments"}),
        ("POST", "/api/assemblies/{aid}/current"): (f"/api/assemblies/{a}/current", {"item": i}),
        ("GET", "/api/assemblies/{aid}/presence"): (f"/api/assemblies/{a}/presence", None),
        ("POST", "/api/assemblies/{aid}/presence"): (f"/api/assemblies/{a}/presence", {"present": True}),
        ("POST", "/api/assemblies/{aid}/presence/{username}"): (f"/api/assemblies/{a}/presence/delegate2", {"present": True}),
        ("DELETE", "/api/assemblies/{aid}/presence"): (f"/api/assemblies/{a}/presence", None),
        ("GET", "/api/agenda/{iid}/speakers"): (f"/api/agenda/{i}/speakers", None),
        ("POST", "/api/agenda/{iid}/speakers"): (f"/api/agenda/{i}/speakers", {"speech_type": "pro"}),
        ("POST", "/api/speakers/{sid}/withdraw"): (f"/api/speakers/{speaker['id']}/withdraw", None),
        ("POST", "/api/agenda/{iid}/speakers/next"): (f"/api/agenda/{i}/speakers/next", {}),
        ("POST", "/api/agenda/{iid}/speakers/end"): (f"/api/agenda/{i}/speakers/end", None),
        ("POST", "/api/agenda/{iid}/speakers/order"): (f"/api/agenda/{i}/speakers/order", {"order": [speaker["id"]]}),
        ("POST", "/api/agenda/{iid}/timer"): (f"/api/agenda/{i}/timer", {"action": "pause"}),
        ("GET", "/api/assemblies/{aid}/amendments"): (f"/api/assemblies/{a}/amendments", None),
        ("POST", "/api/assemblies/{aid}/amendments"): (f"/api/assemblies/{a}/amendments", {"provision": w.provisions[0], "kind": "replace", "text": "By {role}.", "title": "t"}),
        ("GET", "/api/amendments/{mid}"): (f"/api/amendments/{amendment['id']}", None),
        ("PATCH", "/api/amendments/{mid}"): (f"/api/amendments/{amendment['id']}", {"title": "retitled by {role}"}),
        ("POST", "/api/amendments/{mid}/submit"): (f"/api/amendments/{amendment['id']}/submit", None),
        ("POST", "/api/amendments/{mid}/withdraw"): (f"/api/amendments/{amendment['id']}/withdraw", None),
        ("POST", "/api/amendments/{mid}/admit"): (f"/api/amendments/{amendment['id']}/admit", {}),
        ("POST", "/api/amendments/{mid}/reject"): (f"/api/amendments/{amendment['id']}/reject", {"reason": "no"}),
        ("POST", "/api/amendments/{mid}/adopt"): (f"/api/amendments/{amendment['id']}/adopt", {}),
        ("POST", "/api/amendments/{mid}/cosponsors"): (f"/api/amendments/{amendment['id']}/cosponsors", None),
        ("DELETE", "/api/amendments/{mid}/cosponsors"): (f"/api/amendments/{amendment['id']}/cosponsors", None),
        ("GET", "/api/assemblies/{aid}/comments"): (f"/api/assemblies/{a}/comments", None),
        ("POST", "/api/assemblies/{aid}/comments"): (f"/api/assemblies/{a}/comments", {"text": "By {role}.", "provision": w.provisions[0]}),
        ("POST", "/api/comments/{cid}/hide"): (f"/api/comments/{comment['id']}/hide", {"reason": "off topic"}),
        ("GET", "/api/me/keys"): ("/api/me/keys", None),
        ("POST", "/api/me/keys"): ("/api/me/keys", {"assembly": a, "public_key": "{key}"}),
        ("GET", "/api/assemblies/{aid}/keys"): (f"/api/assemblies/{a}/keys", None),
        ("POST", "/api/assemblies/{aid}/keys/{key_id}/approve"): (f"/api/assemblies/{a}/keys/{key['key_id']}/approve", None),
        ("POST", "/api/assemblies/{aid}/keys/approve-pending"): (f"/api/assemblies/{a}/keys/approve-pending", None),
        ("GET", "/api/assemblies/{aid}/keys/pending"): (f"/api/assemblies/{a}/keys/pending?present=1", None),
        ("POST", "/api/assemblies/{aid}/keys/approve-present"): (f"/api/assemblies/{a}/keys/approve-present", {"key_ids": [key["key_id"]]}),
        ("POST", "/api/assemblies/{aid}/invitations.pdf"): (f"/api/assemblies/{a}/invitations.pdf?lang=kk", None),
        ("DELETE", "/api/assemblies/{aid}/members/{uid}/invite"): (f"/api/assemblies/{a}/members/{extra.id}/invite", None),
        ("POST", "/api/assemblies/{aid}/keys/{key_id}/revoke"): (f"/api/assemblies/{a}/keys/{key['key_id']}/revoke", None),
        ("GET", "/api/assemblies/{aid}/elections"): (f"/api/assemblies/{a}/elections", None),
        ("POST", "/api/agenda/{iid}/elections"): (f"/api/agenda/{item2['id']}/elections", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}}),
        ("GET", "/api/elections/{eid}"): (f"/api/elections/{o}", None),
        ("PATCH", "/api/elections/{eid}"): (f"/api/elections/{e}", {"title": "by {role}"}),
        ("POST", "/api/elections/{eid}/open"): (f"/api/elections/{e}/open", None),
        ("POST", "/api/elections/{eid}/close"): (f"/api/elections/{o}/close", None),
        ("GET", "/api/elections/{eid}/roll"): (f"/api/elections/{o}/roll", None),
        ("GET", "/api/elections/{eid}/board"): (f"/api/elections/{o}/board", None),
        ("GET", "/api/elections/{eid}/sth"): (f"/api/elections/{o}/sth", None),
        ("GET", "/api/elections/{eid}/proof/inclusion"): (f"/api/elections/{o}/proof/inclusion?seq=0&tree_size=1", None),
        ("GET", "/api/elections/{eid}/proof/consistency"): (f"/api/elections/{o}/proof/consistency?first=0&second=0", None),
        ("GET", "/api/elections/{eid}/tally"): (f"/api/elections/{o}/tally", None),
        ("GET", "/api/elections/{eid}/register"): (f"/api/elections/{o}/register", None),
        ("GET", "/api/elections/{eid}/result"): (f"/api/elections/{o}/result", None),
        ("POST", "/api/elections/{eid}/ballots"): (f"/api/elections/{o}/ballots", {"signed": {}, "signature": "", "signer": ""}),
    }
    return {"extra": extra.id}, requests


def fill(body: Any, role: str) -> Any:
    if isinstance(body, dict):
        return {k: fill(v, role) for k, v in body.items()}
    if body == "{key}":
        return b64u_encode(Signer.generate().public_key_raw)
    if isinstance(body, str):
        return body.replace("{role}", role)
    return body


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_every_operation_against_the_role_matrix(world: World, app: Any, settings: Any) -> None:
    w = world
    w.tokens["anonymous"] = ""
    operations = await schema_operations(w)
    assert operations - EXPECTED.keys() == set(), "operations missing from the role table"
    assert EXPECTED.keys() - operations == set(), "the role table lists operations the schema lacks"
    _, requests = await build_targets(w, app)
    assert requests.keys() == EXPECTED.keys()

    async def send(op: tuple[str, str], role: str) -> Any:
        path, body = requests[op]
        who = None if role == "anonymous" else role
        if isinstance(body, bytes):  # a document upload: the raw body
            return await w.client.request(op[0], path, headers=w.headers(who), content=body)
        return await w.call(op[0], path, who, fill(body, role) if body is not None else None)

    # Phase 1: every denied call is refused for its role and changes nothing.
    escalations = []
    denied = 0
    before = snapshot(settings.sqlite_path)
    for op in sorted(EXPECTED):
        for role in ROLES:
            if role in EXPECTED[op]:
                continue
            r = await send(op, role)
            denied += 1
            want = 401 if role == "anonymous" else 403
            if r.status_code != want or r.json().get("error") not in ("not_authenticated", "forbidden"):
                escalations.append(f"{op[0]} {op[1]} as {role}: want {want}, got {r.status_code} {r.text[:120]}")
            elif (after := snapshot(settings.sqlite_path)) != before:
                changed = [t for t in after if after[t] != before.get(t)]
                escalations.append(f"{op[0]} {op[1]} as {role}: refused but changed {changed}")
                before = after
    assert not escalations, "\n".join(escalations)

    # Phase 2: every allowed call gets past the role check (its answer may still be a 4xx of the
    # object's state, e.g. 409 for a second open).
    refused = []
    allowed = succeeded = 0
    order = [op for op in sorted(EXPECTED) if op not in LAST] + LAST
    for op in order:
        for role in ROLES:
            if role not in EXPECTED[op]:
                continue
            r = await send(op, role)
            allowed += 1
            succeeded += r.status_code < 300
            if r.status_code in (401, 403) or r.status_code >= 500:
                refused.append(f"{op[0]} {op[1]} as {role}: got {r.status_code} {r.text[:120]}")
    assert not refused, "\n".join(refused)
    assert denied + allowed == len(EXPECTED) * len(ROLES)
    assert succeeded > allowed * 2 // 3, (succeeded, allowed)  # the allowed calls mostly did their work
