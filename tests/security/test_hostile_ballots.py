"""A corpus of hostile ballots (issue #7): each is answered with its exact PROTOCOL §5 error code
and status, and the board is unchanged afterwards (same tree size, root hash and entries).

The corpus is built in code (most cases need a real signature over a mutated object); every case
has a `desc`. Runs on SQLite and PostgreSQL (the `world` fixture is parametrized).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.api.voting_helpers import Voter, open_amendment_election
from tests.conftest import World
from voting.core.encoding import b64u_encode
from voting.core.keys import Signer, sign_object

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
LOW_ORDER = [line.split()[0] for line in (VECTORS / "ed25519" / "low-order-points.txt").read_text().splitlines() if line.strip()]


@dataclass
class Case:
    desc: str
    status: int
    error: str | None  # None: an idempotent replay (200 with the original receipt)
    body: bytes
    election: str


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def resign(who: Voter, envelope: dict[str, Any], /, **changes: Any) -> dict[str, Any]:
    """A correctly signed envelope whose signed object has `changes` applied."""
    return sign_object(who.signer, {**envelope["signed"], **changes})


def with_signed(envelope: dict[str, Any], /, **changes: Any) -> dict[str, Any]:
    """The same signature over a changed signed object (rejected before or at the signature check)."""
    return {**envelope, "signed": {**envelope["signed"], **changes}}


def without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != key}


def nested(depth: int) -> Any:
    value: Any = "status_quo"
    for _ in range(depth):
        value = [value]
    return value


async def board_state(w: World, eid: str) -> tuple[int, str, list[Any]]:
    sth = await w.ok("GET", f"/api/elections/{eid}/sth")
    board = await w.ok("GET", f"/api/elections/{eid}/board")
    return sth["signed"]["tree_size"], sth["signed"]["root_hash"], board["entries"]


async def test_hostile_ballots_get_their_exact_code_and_leave_the_board_unchanged(world: World) -> None:
    w = world
    eid, election, (alice, bob), amendments = await open_amendment_election(w)
    a1, a2 = (f"amendment-{i}" for i in amendments)
    # a second open election (yes/no, same roll) for cross-election ballots, and a closed one
    other = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}}, status=201)
    other_env = (await w.ok("POST", f"/api/elections/{other['id']}/open", "moderator"))["election"]
    closed = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}}, status=201)
    closed_env = (await w.ok("POST", f"/api/elections/{closed['id']}/open", "moderator"))["election"]
    await w.ok("POST", f"/api/elections/{closed['id']}/close", "moderator")
    draft = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}}, status=201)

    # Accepted ballots the attacks replay: alice at revision 2, bob in the other election.
    accepted = alice.ballot(election, [a1, "status_quo"], revision=2)
    r = await w.client.post(f"/api/elections/{eid}/ballots", content=dumps(accepted))
    assert r.status_code == 201, r.text
    receipt = r.json()
    bob_other = bob.ballot(other_env, ["yes"])
    r = await w.client.post(f"/api/elections/{other['id']}/ballots", content=dumps(bob_other))
    assert r.status_code == 201, r.text
    other_receipt = r.json()

    before = {e: await board_state(w, e) for e in (eid, other["id"])}
    keys_before = await w.ok("GET", f"/api/assemblies/{w.assembly}/keys", "moderator")

    stranger = Voter("stranger", Signer.generate())
    good = alice.ballot(election, [a2], revision=3)  # valid, never posted: the base of mutations
    good_text = json.dumps(good)
    E, O = eid, other["id"]  # noqa: E741
    cases: list[Case] = []

    def add(desc: str, status: int, error: str | None, body: Any, election_id: str = E) -> None:
        cases.append(Case(desc, status, error, body if isinstance(body, bytes) else dumps(body), election_id))

    def malformed(desc: str, body: Any, election_id: str = E) -> None:
        add(desc, 400, "malformed_ballot", body, election_id)

    # -- 1: size -------------------------------------------------------------------------------
    add("10 MB body", 413, "payload_too_large", b'{"signed":"' + b"a" * (10 * 1024 * 1024) + b'"}')
    add("65 KiB body of valid JSON (padding in the nonce)", 413, "payload_too_large", dumps(with_signed(good, nonce="A" * 66_000)))

    # -- 2: JSON and shape ---------------------------------------------------------------------
    malformed("empty body", b"")
    malformed("not JSON", b"{not json")
    malformed("JSON null", b"null")
    malformed("a JSON array", b"[]")
    malformed("trailing data after the object", good_text.encode() + b" {}")
    malformed("duplicate key at top level (signer)", good_text[:-1].encode() + b', "signer": "' + alice.key_id.encode() + b'"}')
    malformed("duplicate key at top level (signed)", b'{"signed": {}, ' + good_text[1:].encode())
    malformed("duplicate key nested in signed (revision)", good_text.replace('"revision": 3', '"revision": 3, "revision": 4').encode())
    malformed("duplicate key nested in signed (ranking)", good_text.replace('"ranking": [', '"ranking": ["status_quo"], "ranking": [').encode())
    malformed("float revision 3.0", good_text.replace('"revision": 3', '"revision": 3.0').encode())
    malformed("exponent revision 3e0", good_text.replace('"revision": 3', '"revision": 3e0').encode())
    malformed("negative zero float revision", good_text.replace('"revision": 3', '"revision": -0.0').encode())
    malformed("NaN revision", good_text.replace('"revision": 3', '"revision": NaN').encode())
    malformed("Infinity revision", good_text.replace('"revision": 3', '"revision": Infinity').encode())
    malformed("float v", good_text.replace('"v": 1', '"v": 1.0').encode())
    malformed("integer 2^53 revision", good_text.replace('"revision": 3', f'"revision": {2**53}').encode())
    malformed("integer 2^53+1 revision", good_text.replace('"revision": 3', f'"revision": {2**53 + 1}').encode())
    malformed("integer 2^64 revision", good_text.replace('"revision": 3', f'"revision": {2**64}').encode())
    malformed("4300-digit integer revision", good_text.replace('"revision": 3', '"revision": ' + "9" * 4300).encode())
    malformed("integer below -2^53 in v", good_text.replace('"v": 1', f'"v": {-(2**53) - 5}').encode())
    malformed("deep nesting in ranking (40 levels)", with_signed(good, ranking=nested(40)))
    malformed("deep nesting at top level (30,000 brackets)", b"[" * 30_000 + b"]" * 30_000)
    malformed("deep nesting of objects (5,000)", b'{"a":' * 5_000 + b"1" + b"}" * 5_000)
    malformed("invalid UTF-8 inside a string", good_text.encode().replace(b'"ballot"', b'"ball\xffot"'))
    malformed("invalid UTF-8 bytes at the start", b"\xff\xfe" + good_text.encode())
    malformed("overlong UTF-8 encoding of '/'", good_text.encode().replace(b'"ballot"', b'"ballot\xc0\xaf"'))
    malformed("UTF-8 byte order mark", b"\xef\xbb\xbf" + good_text.encode())
    malformed("UTF-16 encoded body", good_text.encode("utf-16"))
    malformed("lone surrogate escape in the ranking", good_text.replace('"ranking": [', '"ranking": ["\\ud800", ').encode())
    malformed("raw NUL byte inside a string", good_text.encode().replace(b'"ballot"', b'"ball\x00ot"'))
    malformed("NUL byte outside strings", good_text.encode() + b"\x00")
    malformed("v is 2", resign(alice, good, v=2))
    malformed("v is the string '1'", resign(alice, good, v="1"))
    malformed("type is 'sth' (domain separation)", resign(alice, good, type="sth"))
    malformed("type is 'Ballot'", resign(alice, good, type="Ballot"))
    malformed("signer is not the voter", {**resign(bob, good), "signer": bob.key_id})
    malformed("signer is another voter's key id, signature by the voter", {**good, "signer": bob.key_id})
    malformed("nonce is not base64url", resign(alice, good, nonce="!!!not-base64!!!"))
    malformed("nonce with '=' padding", resign(alice, good, nonce=base64.urlsafe_b64encode(b"\x01" * 16).decode()))
    malformed("nonce in standard base64 with '+' and '/'", resign(alice, good, nonce=base64.b64encode(b"\xfb\xff" * 8).decode().rstrip("=")))
    malformed("nonce of 15 bytes", resign(alice, good, nonce=b64u_encode(b"\x01" * 15)))
    malformed("nonce of 17 bytes", resign(alice, good, nonce=b64u_encode(b"\x01" * 17)))
    malformed("empty nonce", resign(alice, good, nonce=""))
    malformed("revision 0", resign(alice, good, revision=0))
    malformed("revision -1", resign(alice, good, revision=-1))
    malformed("revision true", resign(alice, good, revision=True))
    malformed("revision false", resign(alice, good, revision=False))
    malformed("signature of 63 bytes", {**good, "signature": b64u_encode(b"\x00" * 63)})
    malformed("signature is not base64url", {**good, "signature": "****"})
    # wrong types for every field of the envelope and of the signed object
    wrong_types: dict[str, list[Any]] = {
        "signed": [None, "ballot", [good["signed"]], 1],
        "signature": [None, 1, [], {}],
        "signer": [None, 1, [alice.key_id], alice.key_id.upper()],
    }
    for field, values in wrong_types.items():
        for value in values:
            malformed(f"envelope.{field} = {json.dumps(value)[:40]}", {**good, field: value})
    signed_wrong: dict[str, list[Any]] = {
        "v": [None, True, "1", [1]],
        "type": [None, 1, ["ballot"]],
        "election": [None, int(E), [E], {"id": E}],
        "election_digest": [None, 1, good["signed"]["election_digest"].upper(), good["signed"]["election_digest"][:-1]],
        "voter": [None, 1, alice.key_id.upper(), [alice.key_id]],
        "revision": [None, "3", [3]],
        "ranking": [None, "status_quo", {"0": "status_quo"}, [1], [None], [["status_quo"]]],
        "nonce": [None, 16, ["AAAA"]],
    }
    for field, values in signed_wrong.items():
        for value in values:
            malformed(f"signed.{field} = {json.dumps(value)[:40]}", resign(alice, good, **{field: value}))
    for field in ("signed", "signature", "signer"):
        malformed(f"envelope without {field}", without(good, field))
    for field in good["signed"]:
        malformed(f"signed without {field}", sign_object(alice.signer, without(good["signed"], field)))
    malformed("extra top-level field", {**good, "receipt": {}})
    malformed("extra field in signed", resign(alice, good, comment="hi"))
    malformed("extra field in signed with an empty name", resign(alice, good, **{"": 1}))

    # -- 3: wrong election ---------------------------------------------------------------------
    add("cross-election: accepted ballot of election A posted to B", 400, "wrong_election", accepted, O)
    add("cross-election: accepted ballot of B posted to A", 400, "wrong_election", bob_other, E)
    add("cross-election: election id of B, digest of A", 400, "wrong_election", resign(alice, good, election=O), O)
    add("cross-election: election id of A, digest of B", 400, "wrong_election", alice.ballot(election, [a1], revision=3, election_digest=bob_other["signed"]["election_digest"]))
    add("election id with a leading zero", 400, "wrong_election", resign(alice, good, election="0" + E))
    add("election id with trailing whitespace", 400, "wrong_election", resign(alice, good, election=E + " "))
    add("all-zero election digest", 400, "wrong_election", resign(alice, good, election_digest="0" * 64))
    add("ballot for a draft election", 400, "wrong_election", resign(alice, good, election=draft["id"]), draft["id"])
    # -- 4: closed election ---------------------------------------------------------------------
    add("ballot for a closed election", 409, "election_not_open", alice.ballot(closed_env, ["yes"]), closed["id"])
    # -- 5: roll -------------------------------------------------------------------------------
    add("voter not on the roll (self-signed)", 403, "not_on_roll", stranger.ballot(election, [a1]))
    add("moderator-style all-zero voter id", 403, "not_on_roll", {**resign(alice, good, voter="0" * 64), "signer": "0" * 64})
    # -- 6: forged signatures -------------------------------------------------------------------
    add("forged: ranking changed after signing", 403, "bad_signature", with_signed(good, ranking=[a1]))
    add("forged: revision raised after signing", 403, "bad_signature", with_signed(good, revision=99))
    add("forged: bob's signature over alice's ballot", 403, "bad_signature", {**good, "signature": sign_object(bob.signer, good["signed"])["signature"]})
    add("forged: a stranger's signature, alice named as signer", 403, "bad_signature", {**good, "signature": sign_object(stranger.signer, good["signed"])["signature"]})
    add("forged: all-zero signature", 403, "bad_signature", {**good, "signature": b64u_encode(bytes(64))})
    add("forged: signature with S >= L (malleability)", 403, "bad_signature", {**good, "signature": b64u_encode(base64.urlsafe_b64decode(good["signature"] + "==")[:32] + b"\xff" * 32)})
    add("forged: signature of the accepted ballot on a new ranking", 403, "bad_signature", {**with_signed(accepted, ranking=[a2])})
    # -- 7: replays (idempotent) ----------------------------------------------------------------
    add("replay of an accepted ballot", 200, None, accepted)
    add(
        "replay with keys reordered and spaces",
        200,
        None,
        b'{ "signer" : "%s", "signature": "%s", "signed": %s }' % (accepted["signer"].encode(), accepted["signature"].encode(), json.dumps(dict(reversed(list(accepted["signed"].items())))).encode()),
    )
    add("replay in the other election", 200, None, bob_other, O)
    # -- 8: look-alike option ids ---------------------------------------------------------------
    lookalikes = {
        "Cyrillic а in stаtus_quo": "st\u0430tus_quo",
        "Cyrillic о in status_quо": "status_qu\u043e",
        "fullwidth ｓｔａｔｕｓ_ｑｕｏ": "\uff53\uff54\uff41\uff54\uff55\uff53_\uff51\uff55\uff4f",
        "zero-width joiner inside status_quo": "status\u200d_quo",
        "zero-width space after the amendment id": a1 + "\u200b",
        "NUL after status_quo": "status_quo\u0000",
        "upper-case STATUS_QUO": "STATUS_QUO",
        "trailing space": "status_quo ",
        "fullwidth digit in the amendment id": a1[:-1] + chr(0xFF10 + int(a1[-1])),
        "Arabic-Indic digit in the amendment id": a1[:-1] + chr(0x0660 + int(a1[-1])),
        "empty option id": "",
        "amendment of another assembly": "amendment-999999",
    }
    for desc, option in lookalikes.items():
        add(f"look-alike option: {desc}", 400, "unknown_option", alice.ballot(election, [option], revision=3))
    add("yes/no option in an amendment election", 400, "unknown_option", alice.ballot(election, ["yes"], revision=3))
    # -- 9: duplicates ---------------------------------------------------------------------------
    add("duplicate option", 400, "duplicate_option", alice.ballot(election, [a1, "status_quo", a1], revision=3))
    add("two choices in a yes/no ballot", 400, "malformed_ballot", bob.ballot(other_env, ["yes", "no"], revision=2), O)
    # -- 10: stale revisions --------------------------------------------------------------------
    add("stale: a new ballot at the accepted revision", 409, "stale_revision", alice.ballot(election, [a2], revision=2))
    add("stale: a new ballot at a lower revision", 409, "stale_revision", alice.ballot(election, [a2], revision=1))
    add("stale: bob below his accepted revision in B", 409, "stale_revision", bob.ballot(other_env, ["no"], revision=1), O)

    failures = []
    for case in cases:
        r = await w.client.post(f"/api/elections/{case.election}/ballots", content=case.body, headers={"content-type": "application/json"})
        try:
            body = r.json()
        except ValueError:
            failures.append(f"{case.desc}: {r.status_code} non-JSON {r.text[:80]!r}")
            continue
        if case.error is None:
            want = receipt if case.election == E else other_receipt
            if r.status_code != 200 or body != want:
                failures.append(f"{case.desc}: want 200 and the original receipt, got {r.status_code} {str(body)[:120]}")
        elif (r.status_code, body.get("error")) != (case.status, case.error) or not isinstance(body.get("detail"), str):
            failures.append(f"{case.desc}: want {case.status} {case.error}, got {r.status_code} {str(body)[:160]}")
    assert not failures, "\n".join(failures)
    assert len(cases) >= 140, len(cases)  # 147 ballots, plus 19 bad keys below

    # keys: all 14 encodings of the low-order points, and other bad encodings, are refused at registration
    bad_keys = {f"low-order {hexkey}": b64u_encode(bytes.fromhex(hexkey)) for hexkey in LOW_ORDER}
    assert len(bad_keys) == 14
    valid = Signer.generate().public_key_raw
    bad_keys.update(
        {
            "31 bytes": b64u_encode(valid[:31]),
            "33 bytes": b64u_encode(valid + b"\x00"),
            "padded base64url": base64.urlsafe_b64encode(valid).decode(),
            "y >= p (non-canonical, not low order)": b64u_encode((2**255 - 19 + 2).to_bytes(32, "little")),
            "not on the curve": b64u_encode((2).to_bytes(32, "little")),
        }
    )
    for desc, key in bad_keys.items():
        r = await w.call("POST", "/api/me/keys", "delegate", {"assembly": w.assembly, "public_key": key})
        assert (r.status_code, r.json()["error"]) == (400, "bad_key"), (desc, r.text)

    r = await w.call("POST", "/api/me/keys", "delegate", {"assembly": w.assembly, "public_key": ""})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_input")  # the schema refuses it first

    after = {e: await board_state(w, e) for e in (E, O)}
    assert after == before, "a rejected or replayed ballot changed a board"
    assert await w.ok("GET", f"/api/assemblies/{w.assembly}/keys", "moderator") == keys_before
