"""The voting API end to end: keys, elections, ballots with every PROTOCOL §5 error code,
receipts checked from the receipt alone, proofs, tallies and signed results."""

from __future__ import annotations

import asyncio
import gc
import json
import re

import pytest

from tests.api.voting_helpers import Voter, open_amendment_election, register_and_approve, to_voting
from tests.conftest import World
from voting.core.encoding import b64u_decode, b64u_encode, jcs
from voting.core.keys import Signer
from voting.core.merkle import verify_consistency, verify_inclusion
from voting.core.signed import parse_envelope, parse_receipt, verify_envelope, verify_receipt

LOW_ORDER = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"  # the neutral point (y = 1)


async def server_key(w: World) -> bytes:
    body = await w.ok("GET", "/api/server-key")
    assert body["algorithm"] == "ed25519" and len(body["key_id"]) == 64
    return b64u_decode(body["public_key"])


async def cast(w: World, eid: str, envelope: object, raw: bytes | None = None) -> tuple[int, dict]:
    content = raw if raw is not None else json.dumps(envelope).encode()
    r = await w.client.post(f"/api/elections/{eid}/ballots", content=content, headers={"content-type": "application/json"})
    return r.status_code, r.json()


async def test_key_registration_rules(world: World) -> None:
    w = world
    r = await w.call("POST", "/api/me/keys", "delegate", {"assembly": w.assembly, "public_key": LOW_ORDER})
    assert r.status_code == 400 and r.json()["error"] == "bad_key"
    r = await w.call("POST", "/api/me/keys", "delegate", {"assembly": w.assembly, "public_key": "not base64!"})
    assert r.status_code == 400 and r.json()["error"] == "bad_key"
    for who, status in ((None, 401), ("observer", 403), ("outsider", 403), ("moderator", 403)):
        r = await w.call("POST", "/api/me/keys", who, {"assembly": w.assembly, "public_key": b64u_encode(Signer.generate().public_key_raw)})
        assert r.status_code == status, who
    voter = await register_and_approve(w, "delegate")
    # one active key per delegate and assembly
    r = await w.call("POST", "/api/me/keys", "delegate", {"assembly": w.assembly, "public_key": b64u_encode(Signer.generate().public_key_raw)})
    assert r.status_code == 409
    # lost device: revoke (by the delegate), register a new key, approve it
    await w.ok("POST", f"/api/assemblies/{w.assembly}/keys/{voter.key_id}/revoke", "delegate")
    second = await register_and_approve(w, "delegate")
    keys = await w.ok("GET", f"/api/assemblies/{w.assembly}/keys", "moderator")
    assert [(k["key_id"], k["status"]) for k in keys] == [(voter.key_id, "revoked"), (second.key_id, "approved")]
    r = await w.call("GET", f"/api/assemblies/{w.assembly}/keys", "delegate")
    assert r.status_code == 403
    r = await w.call("POST", f"/api/assemblies/{w.assembly}/keys/{second.key_id}/approve", "delegate2")
    assert r.status_code == 403
    audit = await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", "moderator")
    assert [e["action"] for e in audit["entries"] if e["action"].startswith("key.")] == ["key.approved", "key.revoked", "key.approved"]


async def test_a_chair_approves_every_pending_key_at_once(world: World) -> None:
    """Issue #17, point 2: before opening a vote, the chair approves all keys that wait."""
    w = world
    for who in ("delegate", "delegate2"):
        await w.ok("POST", "/api/me/keys", who, {"assembly": w.assembly, "public_key": b64u_encode(Signer.generate().public_key_raw)}, status=201)
    r = await w.call("POST", f"/api/assemblies/{w.assembly}/keys/approve-pending", "delegate")
    assert r.status_code == 403 and set(r.json()) == {"error", "detail"}
    done = await w.ok("POST", f"/api/assemblies/{w.assembly}/keys/approve-pending", "moderator")
    assert sorted(k["username"] for k in done) == ["delegate", "delegate2"] and {k["status"] for k in done} == {"approved"}
    assert await w.ok("POST", f"/api/assemblies/{w.assembly}/keys/approve-pending", "moderator") == []  # nothing waits
    keys = await w.ok("GET", f"/api/assemblies/{w.assembly}/keys", "moderator")
    assert {k["status"] for k in keys} == {"approved"}
    audit = await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", "moderator")
    assert [e["action"] for e in audit["entries"] if e["action"].startswith("key.")] == ["key.approved", "key.approved"]


async def test_full_election_flow_with_receipts_and_result(world: World) -> None:
    w = world
    pub = await server_key(w)
    eid, election, (alice, bob), amendments = await open_amendment_election(w)
    env = parse_envelope(election, "election")
    verify_envelope(env, pub)
    assert [o["id"] for o in election["signed"]["options"]] == ["status_quo", f"amendment-{amendments[0]}", f"amendment-{amendments[1]}"]
    roll = await w.ok("GET", f"/api/elections/{eid}/roll")
    assert [v["key_id"] for v in roll["signed"]["voters"]] == sorted([alice.key_id, bob.key_id])

    a1, a2 = (f"amendment-{i}" for i in amendments)
    status, receipt = await cast(w, eid, alice.ballot(election, [a1, "status_quo"]))
    assert status == 201, receipt
    verify_receipt(parse_receipt(receipt), bytes.fromhex(receipt["leaf_hash"]), pub, eid)
    ballot2 = bob.ballot(election, [a2, a1])
    status, r2 = await cast(w, eid, ballot2)
    assert status == 201 and r2["seq"] == 1
    # idempotent: the same signed ballot returns the original receipt, and no second leaf
    status, again = await cast(w, eid, ballot2)
    assert status == 200 and again == r2
    # a revote with a higher revision counts instead of the first
    status, r3 = await cast(w, eid, alice.ballot(election, [a2], revision=2))
    assert status == 201 and r3["seq"] == 2
    status, stale = await cast(w, eid, alice.ballot(election, [a1], revision=2))
    assert status == 409 and stale["error"] == "stale_revision"

    board = await w.ok("GET", f"/api/elections/{eid}/board")
    assert [e["seq"] for e in board["entries"]] == [0, 1, 2]
    from voting.core.merkle import compute_root, leaf_hash

    hashes = [leaf_hash(jcs(e["leaf"])) for e in board["entries"]]
    assert [h.hex() for h in hashes] == [e["leaf_hash"] for e in board["entries"]]
    sth = await w.ok("GET", f"/api/elections/{eid}/sth")
    verify_envelope(parse_envelope(sth, "sth"), pub)
    assert sth["signed"]["tree_size"] == 3 and sth["signed"]["root_hash"] == compute_root(hashes).hex()
    proof = await w.ok("GET", f"/api/elections/{eid}/proof/inclusion?seq=1&tree_size=3")
    verify_inclusion(1, 3, hashes[1], [bytes.fromhex(h) for h in proof["inclusion_proof"]], compute_root(hashes))
    cons = await w.ok("GET", f"/api/elections/{eid}/proof/consistency?first=1&second=3")
    verify_consistency(1, 3, [bytes.fromhex(h) for h in cons["consistency_proof"]], compute_root(hashes[:1]), compute_root(hashes))

    tally = await w.ok("GET", f"/api/elections/{eid}/tally")
    assert tally["tree_size"] == 3 and tally["counted"] == 2 and tally["winner"] == a2

    r = await w.call("GET", f"/api/elections/{eid}/result")
    assert r.status_code == 409
    for who in (None, "delegate", "observer"):
        assert (await w.call("POST", f"/api/elections/{eid}/close", who)).status_code in (401, 403)
    closed = await w.ok("POST", f"/api/elections/{eid}/close", "moderator")
    assert closed["status"] == "closed"
    result = await w.ok("GET", f"/api/elections/{eid}/result")
    verify_envelope(parse_envelope(result, "result"), pub)
    signed = result["signed"]
    assert signed["winner"] == a2 and signed["tree_size"] == 3 and signed["counted"] == 2 and signed["weight_counted"] == 2
    assert signed["election_digest"] == w_digest(election)
    # the winning amendment is adopted into the document; the other is rejected
    doc = await w.ok("GET", f"/api/assemblies/{w.assembly}/document")
    assert doc["provisions"][0]["text"] == "A wholly new first provision."
    a1_row = await w.ok("GET", f"/api/amendments/{amendments[0]}")
    assert a1_row["status"] == "rejected"
    status, late = await cast(w, eid, bob.ballot(election, [a1], revision=5))
    assert status == 409 and late["error"] == "election_not_open"


def w_digest(election: dict) -> str:
    from voting.core.signed import digest

    return digest(election["signed"])


async def test_every_ballot_error_code(world: World, settings: object) -> None:
    w = world
    eid, election, (alice, bob), amendments = await open_amendment_election(w)
    a1 = f"amendment-{amendments[0]}"
    stranger = Voter("stranger", Signer.generate())
    before = await w.ok("GET", f"/api/elections/{eid}/sth")

    cases = [
        ("payload_too_large", 413, None, b'{"signed":' + b" " * 70_000 + b"}"),
        ("malformed_ballot", 400, None, b"{not json"),
        ("malformed_ballot", 400, None, b'{"signed":{},"signed":{},"signature":"","signer":""}'),
        ("malformed_ballot", 400, {**alice.ballot(election, [a1]), "extra": 1}, None),
        ("malformed_ballot", 400, None, json.dumps(alice.ballot(election, [a1])).replace('"revision": 1', '"revision": 1.0').encode()),
        ("malformed_ballot", 400, None, json.dumps(alice.ballot(election, [a1])).replace('"revision": 1', f'"revision": {2**53 + 1}').encode()),
        ("malformed_ballot", 400, None, b"\xff\xfe{}"),
        ("wrong_election", 400, alice.ballot(election, [a1], election="999"), None),
        ("wrong_election", 400, alice.ballot(election, [a1], election_digest="0" * 64), None),
        ("not_on_roll", 403, stranger.ballot(election, [a1]), None),
        ("unknown_option", 400, alice.ballot(election, ["amendment-999"]), None),
        ("duplicate_option", 400, alice.ballot(election, [a1, a1]), None),
    ]
    forged = alice.ballot(election, [a1])
    forged["signed"]["ranking"] = ["status_quo"]
    cases.append(("bad_signature", 403, forged, None))
    for code, status, envelope, raw in cases:
        got_status, body = await cast(w, eid, envelope, raw)
        assert (got_status, body["error"]) == (status, code), (code, body)
    # the board is unchanged by all of them
    assert (await w.ok("GET", f"/api/elections/{eid}/sth"))["signed"]["tree_size"] == before["signed"]["tree_size"] == 0
    # a draft election: no digest exists, so nothing matches it
    e2 = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 50}}, status=201)
    status, body = await cast(w, e2["id"], alice.ballot(election, [], election=e2["id"]))
    assert (status, body["error"]) == (400, "wrong_election")


async def test_yes_no_election_records_outcome(world: World) -> None:
    w = world
    voters = [await register_and_approve(w, who) for who in ("delegate", "delegate2")]
    await to_voting(w)
    e = await w.ok(
        "POST",
        f"/api/agenda/{w.item}/elections",
        "moderator",
        {"kind": "yes_no", "visibility": "after_close", "rule": {"majority": "two_thirds", "quorum_percent": 50}, "weights": {"delegate": 3}},
        status=201,
    )
    opened = await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator")
    election = opened["election"]
    assert election["signed"]["rule"] == {"majority": "two_thirds", "quorum_percent": 50}
    s, _ = await cast(w, e["id"], voters[0].ballot(election, ["yes"]))
    assert s == 201
    s, body = await cast(w, e["id"], voters[1].ballot(election, ["yes", "no"]))
    assert (s, body["error"]) == (400, "malformed_ballot")
    s, _ = await cast(w, e["id"], voters[1].ballot(election, ["no"]))
    assert s == 201
    r = await w.call("GET", f"/api/elections/{e['id']}/tally")
    assert r.status_code == 403 and r.json()["error"] == "tally_hidden"
    await w.ok("POST", f"/api/elections/{e['id']}/close", "moderator")
    result = (await w.ok("GET", f"/api/elections/{e['id']}/result"))["signed"]
    assert result["details"] == {"yes": 3, "no": 1, "abstain": 0, "quorum_met": True, "passed": True}
    assert result["winner"] == "yes" and result["weight_counted"] == 4
    item = await w.ok("GET", f"/api/agenda/{w.item}")
    assert item["outcome"]["passed"] is True and item["outcome"]["election"] == e["id"]


async def test_election_lifecycle_errors(world: World) -> None:
    w = world
    r = await w.call("POST", f"/api/agenda/{w.item}/elections", "moderator", {})
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"
    await to_voting(w)
    r = await w.call("POST", f"/api/agenda/{w.item}/elections", "moderator", {"method": "condorcet"})
    assert r.status_code == 400
    r = await w.call("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no"})
    assert r.status_code == 400 and "rule" in r.json()["detail"]
    r = await w.call("POST", f"/api/agenda/{w.item}/elections", "delegate", {"provision": w.provisions[0]})
    assert r.status_code == 403
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"provision": w.provisions[0]}, status=201)
    r = await w.call("POST", f"/api/elections/{e['id']}/open", "moderator")
    assert r.status_code == 409 and "approved key" in r.json()["detail"]
    r = await w.call("POST", f"/api/elections/{e['id']}/close", "moderator")
    assert r.status_code == 409
    for path in ("/api/elections/999", "/api/elections/999/roll", "/api/elections/99999999999999/sth"):
        assert (await w.call("GET", path)).status_code == 404, path
    r = await w.call("GET", f"/api/elections/{e['id']}/roll")
    assert r.status_code == 409
    got = await w.ok("GET", f"/api/elections/{e['id']}")
    assert got["status"] == "draft" and got["election"] is None


async def test_concurrent_ballots_never_fork_the_board(world: World) -> None:
    w = world
    from deliberation import accounts, assemblies

    ctx = w.client._transport.app.state.ctx  # type: ignore[attr-defined]
    names = [f"voter{i:02d}" for i in range(24)]
    for name in names:
        user = await accounts.create_user(ctx, name, None)
        await assemblies.set_member(ctx, w.assembly, "seed", name, "delegate")
        w.tokens[name], _ = await accounts.issue_token(ctx, user.id, "bearer", 3_600_000)
    eid, election, voters, amendments = await open_amendment_election(w, voters=tuple(names))
    options = [o["id"] for o in election["signed"]["options"]]
    ballots = [v.ballot(election, options[: 1 + i % 3], revision=rev) for i, v in enumerate(voters) for rev in (1, 2)]
    results = await asyncio.gather(*(cast(w, eid, b) for b in ballots))
    statuses = sorted(s for s, _ in results)
    assert all(s in (201, 409) for s in statuses)
    seqs = sorted(r["seq"] for s, r in results if s == 201)
    assert seqs == list(range(len(seqs)))  # no fork, no repeat, no gap
    board = await w.ok("GET", f"/api/elections/{eid}/board")
    assert [e["seq"] for e in board["entries"]] == seqs
    sth = await w.ok("GET", f"/api/elections/{eid}/sth")
    assert sth["signed"]["tree_size"] == len(seqs)


async def test_snapshot_section_shows_elections(world: World) -> None:
    """The websocket snapshot's `elections` section: turnout, the tree head and the live tally."""
    from voting.live import elections_snapshot

    w = world
    eid, election, (alice, _bob), amendments = await open_amendment_election(w)
    status, _ = await cast(w, eid, alice.ballot(election, [f"amendment-{amendments[0]}"]))
    assert status == 201
    board = w.client._transport.app.state.board  # type: ignore[attr-defined]
    section = await elections_snapshot(board, w.assembly)
    (view,) = section
    assert view["id"] == eid and view["status"] == "open"
    assert view["turnout"] == {"election": eid, "voted": 1, "roll_size": 2, "ballots": 1}
    assert view["sth"]["signed"]["tree_size"] == 1
    assert view["tally"]["winner"] == f"amendment-{amendments[0]}" and view["tally"]["tree_size"] == 1


async def test_metrics_count_ballots_and_tree_sizes(world: World) -> None:
    w = world
    eid, election, (alice, bob), amendments = await open_amendment_election(w)
    ballot = alice.ballot(election, [f"amendment-{amendments[0]}"])
    assert (await cast(w, eid, ballot))[0] == 201
    assert (await cast(w, eid, ballot))[0] == 200
    assert (await cast(w, eid, bob.ballot(election, ["nope"])))[0] == 400
    r = await w.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'kurultai_ballots_accepted_total{kind="new"} 1.0' in text
    assert 'kurultai_ballots_accepted_total{kind="repeat"} 1.0' in text
    assert 'kurultai_ballots_rejected_total{code="unknown_option"} 1.0' in text
    assert f'kurultai_tree_size{{election="{eid}"}} 1.0' in text
    assert "kurultai_websocket_connections" in text
    assert "kurultai_event_delay_seconds_count" in text
    gc.collect()  # every collection is timed, by generation
    text = (await w.client.get("/metrics")).text
    count = re.search(r'kurultai_gc_pause_seconds_count\{generation="2"\} (\d+)', text)
    assert count is not None and int(count.group(1)) >= 1


async def test_fast_path_limits_a_chunked_body_and_passes_other_methods_on(world: World) -> None:
    w = world
    eid, election, (alice, _bob), amendments = await open_amendment_election(w)

    async def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(20):
            yield b" " * 4096

    r = await w.client.post(f"/api/elections/{eid}/ballots", content=chunks())
    assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")
    assert r.headers["content-security-policy"] and r.headers["x-content-type-options"] == "nosniff"
    r = await w.client.get(f"/api/elections/{eid}/ballots")
    assert (r.status_code, r.json()["error"]) == (405, "method_not_allowed")
    r = await w.client.post(f"/api/elections/{eid}x/ballots", content=b"{}")
    assert r.status_code == 404
    assert (await w.ok("GET", f"/api/elections/{eid}/sth"))["signed"]["tree_size"] == 0


async def test_a_cancelled_request_leaves_its_batch_answered(world: World, app: object) -> None:
    """A request cancelled while its ballot waits to be written (as at shutdown) must not cost
    the other ballots of the batch their receipts: they are durable."""
    from kurultai.web.voting_api import cast_ballot

    eid, election, voters, _ = await open_amendment_election(world)
    bodies = [json.dumps(v.ballot(election, ["status_quo"])).encode() for v in voters]
    state = app.state  # type: ignore[attr-defined]
    state.signature_checks.processes = 1  # one worker: the two checks answer in order, so the batch is [0, 1]
    board = state.board
    await board.state(int(eid))  # loaded before the commit lock is held below
    async with board._committing.setdefault(int(eid), asyncio.Lock()):  # the batch waits here
        tasks = [asyncio.create_task(cast_ballot(state, "127.0.0.1", body, int(eid))) for body in bodies]
        async with asyncio.timeout(10):  # both checked and queued (or taken by the drain)
            while board.states[int(eid)].queue is None or board.states[int(eid)].worker is None:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)
        assert not any(t.done() for t in tasks)
        tasks[0].cancel()
        await asyncio.sleep(0)
    status, receipt = await asyncio.wait_for(tasks[1], 10)
    assert status == 201 and json.loads(receipt)["seq"] in (0, 1)
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    # The board went on: the cancelled voter's ballot was appended too, and a repeat says so.
    r = await world.call("POST", f"/api/elections/{eid}/ballots", json=json.loads(bodies[0]))
    assert r.status_code == 200, r.text


async def test_a_title_the_chair_does_not_give_is_made_in_the_chairs_language(world: World) -> None:
    """Issue #17, point 8: generated titles follow the chair's language and name the article."""
    w = world
    for phase in ("debate", "amendments", "voting"):
        await w.ok("POST", f"/api/agenda/{w.item}/phase", "moderator", {"phase": phase})
    number = (await w.ok("GET", f"/api/provisions/{w.provisions[0]}"))["number"]
    headers = {**w.headers("moderator"), "accept-language": "ru-RU,ru;q=0.9"}
    r = await w.client.post(f"/api/agenda/{w.item}/elections", json={"kind": "amendments", "provision": w.provisions[0]}, headers=headers)
    assert r.status_code == 201 and r.json()["title"] == f"Поправки к статье {number}", r.text
    headers["accept-language"] = "kk"
    r = await w.client.post(f"/api/agenda/{w.item}/elections", json={"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 50}}, headers=headers)
    assert r.status_code == 201 and r.json()["title"] == "Қорытынды дауыс беру: Item one", r.text
    r = await w.client.post(f"/api/agenda/{w.item}/elections", json={"kind": "yes_no", "title": "As typed", "rule": {"majority": "simple", "quorum_percent": 50}}, headers=headers)
    assert r.json()["title"] == "As typed"


def test_a_decision_the_server_wrote_is_shown_in_the_page_language() -> None:
    from kurultai.i18n import Lang

    assert Lang("ru").reason("not adopted: election 2 chose status_quo") == "не принята: в голосовании 2 выбран вариант «Сохранить действующий текст»"
    assert Lang("kk").reason("not adopted: election 3 chose amendment-7") == "қабылданбады: 3-дауыс беру «7-түзету» нұсқасын таңдады"
    assert Lang("ru").reason("Out of scope of this law") == "Out of scope of this law"  # typed by a chair: as typed
    assert Lang("en").reason(None) == ""
