"""Issue #4, "an outside program written only from PROTOCOL.md agrees with our server on every
ballot, proof and result": tests/outside/protocol_client.py, which shares no code with the
project, votes and audits through a real `kurultai serve` on SQLite and on PostgreSQL.

For every method it casts ballots with revotes, partial rankings, abstentions and roll weights,
checks each receipt alone, checks consistency between successive tree heads, compares the
server's proofs with its own RFC 6962 ones, recounts the live tally and the signed result, and
sends the hostile ballots of PROTOCOL §5 expecting exactly their codes. It then shows that its
audit is not vacuous: tampered boards, results and rolls each fail."""

from __future__ import annotations

import ast
import base64
import copy
import json
import random
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import api, run
from tests.outside import protocol_client as outside

RANKED_METHODS = ("schulze", "ranked_pairs", "irv", "borda", "plurality")
VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "merkle"


def test_the_outside_client_imports_nothing_of_ours() -> None:
    source = Path(outside.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add((node.module or "").split(".")[0])
    third_party = imported - set(sys.stdlib_module_names)
    assert third_party == {"cryptography", "rfc8785", "httpx"}, third_party
    assert "__future__" in imported


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.mark.parametrize("kind", ["inclusion", "consistency"])
def test_the_outside_proof_checks_pass_the_rfc6962_vectors(kind: str) -> None:
    cases = [json.loads(p.read_text()) for p in sorted((VECTORS / kind).rglob("*.json"))]
    assert len(cases) > 20 and any(c["wantErr"] for c in cases)
    for case in cases:
        proof = [_b64(p) for p in case["proof"] or []]
        try:
            if kind == "inclusion":
                ok = outside.verify_inclusion(case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), proof, _b64(case["root"]))
            else:
                ok = outside.verify_consistency(case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), proof)
        except (ValueError, IndexError):
            ok = False
        assert ok is not case["wantErr"], case["desc"]


def test_the_outside_small_order_check() -> None:
    lines = (Path(__file__).resolve().parents[1] / "vectors" / "ed25519" / "low-order-points.txt").read_text().splitlines()
    points = [bytes.fromhex(x.split()[0]) for x in lines if x.strip() and not x.startswith("#")]
    assert len(points) >= 8
    assert not any(outside.acceptable_roll_key(p) for p in points)
    assert all(outside.acceptable_roll_key(outside.Device().public) for _ in range(20))


class Assembly:
    """A demo assembly driven over HTTP: its moderator, its delegates with their devices, and its
    second agenda item (Article 4) taken to the voting phase with five admitted amendments, so
    that an election on it has six options."""

    def __init__(self, url: str, env: dict[str, str], delegates: int) -> None:
        demo = json.loads(run(env, "demo", "--json", "--delegates", str(delegates)).stdout)
        self.id = demo["assembly"]
        self.mod = api(url, "POST", "/api/auth/token", body=demo["moderator"])["token"]
        self.names = [d["username"] for d in demo["delegates"]]
        self.devices = []
        tokens = []
        for cred in demo["delegates"]:
            tokens.append(token := api(url, "POST", "/api/auth/token", body=cred)["token"])
            device = outside.Device()
            r = api(url, "POST", "/api/me/keys", token, {"assembly": self.id, "public_key": outside.b64u(device.public)})
            assert r == {"key_id": device.key_id, "status": "pending"}
            api(url, "POST", f"/api/assemblies/{self.id}/keys/{device.key_id}/approve", self.mod)
            self.devices.append(device)
        self.item = api(url, "GET", f"/api/assemblies/{self.id}/agenda")[1]
        [provision] = self.item["provisions"]
        api(url, "POST", f"/api/agenda/{self.item['id']}/phase", self.mod, {"phase": "amendments"})
        for i, token in enumerate(tokens[:4]):
            body = {"provision": provision, "kind": "replace", "text": f"Funding, version {i}.", "title": f"Version {i}", "submit": True}
            api(url, "POST", f"/api/assemblies/{self.id}/amendments", token, body)
        for amendment in api(url, "GET", f"/api/assemblies/{self.id}/amendments"):
            if amendment["provision"] == provision and amendment["status"] == "submitted":
                api(url, "POST", f"/api/amendments/{amendment['id']}/admit", self.mod, {})
        api(url, "POST", f"/api/agenda/{self.item['id']}/phase", self.mod, {"phase": "voting"})


class Voting:
    """One open election as the outside client sees it."""

    def __init__(self, http: httpx.Client, server_key: bytes, election_env: dict[str, Any]) -> None:
        self.http, self.server_key = http, server_key
        self.election = outside.open_envelope(election_env, "election", server_key)
        self.eid = self.election["id"]
        self.revisions: dict[str, int] = {}
        self.sent: dict[int, dict[str, Any]] = {}  # seq -> the envelope we sent
        self.sth: dict[str, Any] | None = None
        self.last: tuple[dict[str, Any], dict[str, Any]] | None = None  # (envelope, receipt)

    def cast(self, device: outside.Device, ranking: list[str]) -> dict[str, Any]:
        revision = self.revisions.get(device.key_id, 0) + 1
        envelope = device.ballot(self.election, ranking, revision)
        r = device.post(self.http, self.eid, envelope)
        assert r.status_code == 201, r.text
        receipt = outside.strict_loads(r.content)
        sth = outside.check_receipt(receipt, self.server_key, self.eid)
        if self.sth is not None:  # the new head extends the one before it
            first, second = self.sth["tree_size"], sth["tree_size"]
            assert second >= first
            if first:
                proof = self.http.get(f"/api/elections/{self.eid}/proof/consistency", params={"first": first, "second": second}).json()["consistency_proof"]
                assert outside.verify_consistency(first, second, bytes.fromhex(self.sth["root_hash"]), bytes.fromhex(sth["root_hash"]), [bytes.fromhex(h) for h in proof])
        self.sth = sth
        self.revisions[device.key_id] = revision
        self.sent[receipt["seq"]] = envelope
        self.last = (envelope, receipt)
        return receipt

    def refused(self, envelope: Any, status: int, code: str, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(envelope, separators=(",", ":")).encode()
        r = self.http.post(f"/api/elections/{self.eid}/ballots", content=body, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["error"]) == (status, code), (code, r.status_code, r.text)
        assert set(r.json()) == {"error", "detail"}


def _random_ballots(voting: Voting, devices: list[outside.Device], options: list[str], seed: str, longest: int | None = None) -> None:
    """Three rounds in which each device votes or revotes with probability 0.7: random partial
    rankings (empty ones are abstentions) of at most `longest` options."""
    rng = random.Random(seed)
    for _round in range(3):
        for device in devices:
            if rng.random() < 0.7:
                ranking = rng.sample(options, rng.randint(0, longest if longest is not None else len(options)))
                voting.cast(device, ranking)


def _hostile(voting: Voting, a: Assembly, options: list[str]) -> None:
    """PROTOCOL §5, from outside: each refusal has its code, a repeat gets its receipt back."""
    before = voting.http.get(f"/api/elections/{voting.eid}/sth").json()
    first, second = a.devices[0], a.devices[1]
    assert voting.last is not None
    envelope, receipt = voting.last
    r = first.post(voting.http, voting.eid, envelope)
    assert r.status_code == 200 and outside.strict_loads(r.content) == receipt
    revision = voting.revisions[first.key_id]
    election = voting.election
    voting.refused(first.ballot(election, options[:1], revision), 409, "stale_revision")
    voting.refused(first.ballot(election, ["no-such-option"], revision + 1), 400, "unknown_option")
    voting.refused(first.ballot(election, [options[0], options[0]], revision + 1), 400, "duplicate_option")
    forged = first.ballot(election, options[:1], revision + 1)
    forged["signature"] = second.ballot(election, options[:1], revision + 1)["signature"]
    voting.refused(forged, 403, "bad_signature")
    voting.refused(outside.Device().ballot(election, options[:1], 1), 403, "not_on_roll")
    voting.refused(first.ballot(election, options[:1], revision + 1, election_digest="0" * 64), 400, "wrong_election")
    voting.refused(first.ballot(election, options[:1], revision + 1, extra="field"), 400, "malformed_ballot")
    signed = first.ballot(election, options[:1], revision + 1)
    raw = json.dumps(signed, separators=(",", ":")).replace(f'"revision":{revision + 1}', f'"revision":{revision + 1}.0').encode()
    voting.refused(None, 400, "malformed_ballot", raw=raw)
    voting.refused(None, 413, "payload_too_large", raw=b'{"signed":"' + b"x" * 70_000 + b'"}')
    assert voting.http.get(f"/api/elections/{voting.eid}/sth").json() == before  # nothing was appended


def _check_against_board(voting: Voting, observer: outside.Observer) -> outside.Audit:
    """The outside audit of the open election, its proofs and its live tally."""
    result, sth_env = observer.audit(voting.server_key, voting.eid)
    assert result.problems == [], result.problems
    n = sth_env["signed"]["tree_size"]
    assert n == len(voting.sent) and n > 0
    entries = observer.board(voting.eid, n)
    for seq, envelope in voting.sent.items():  # every ballot sent is on the board as sent
        assert entries[seq]["leaf"]["ballot"] == envelope
    hashes = result.leaf_hashes
    for size in sorted({1, n // 2 or 1, n - 1 or 1, n}):
        for seq in range(size):
            got = observer.get(f"/api/elections/{voting.eid}/proof/inclusion", seq=seq, tree_size=size)["inclusion_proof"]
            assert got == [h.hex() for h in outside.audit_path(seq, hashes[:size])], (seq, size)
    for first in range(1, n + 1):
        for second in sorted({first, (first + n) // 2, n}):
            got = observer.get(f"/api/elections/{voting.eid}/proof/consistency", first=first, second=second)["consistency_proof"]
            assert got == [h.hex() for h in outside.consistency(first, hashes[:second])], (first, second)
    return result


def _check_tally(voting: Voting, observer: outside.Observer, options: list[str]) -> None:
    tally = observer.get(f"/api/elections/{voting.eid}/tally")
    size = tally["tree_size"]
    entries = observer.board(voting.eid, size)
    hashes = [outside.leaf_hash(e["leaf"]) for e in entries]
    assert tally["root_hash"] == outside.mth(hashes).hex()
    latest: dict[str, list[str]] = {}
    for e in entries:
        latest[e["leaf"]["ballot"]["signed"]["voter"]] = e["leaf"]["ballot"]["signed"]["ranking"]
    weights = {v["key_id"]: v["weight"] for v in observer.get(f"/api/elections/{voting.eid}/roll")["signed"]["voters"]}
    mine = outside.count(voting.election["method"], options, [(r, weights[v]) for v, r in latest.items()], voting.election.get("rule"), sum(weights.values()))
    theirs = {k: tally[k] for k in ("counted", "ranking", "winner", "ties_broken", "details")}
    assert theirs == {"counted": mine.counted, "ranking": mine.ranking, "winner": mine.winner, "ties_broken": mine.ties_broken, "details": mine.details}


def _tampering_is_caught(server_key: bytes, observer: outside.Observer, eid: str) -> None:
    view = observer.get(f"/api/elections/{eid}")
    sth = observer.get(f"/api/elections/{eid}/sth")
    roll = observer.get(f"/api/elections/{eid}/roll")
    result = observer.get(f"/api/elections/{eid}/result")
    entries = observer.board(eid, sth["signed"]["tree_size"])
    assert outside.audit(server_key, view["election"], roll, entries, sth, result).problems == []

    def problems(**changed: Any) -> list[str]:
        args = {"election_env": view["election"], "roll_env": roll, "entries": entries, "sth_env": sth, "result_env": result}
        args.update({k: copy.deepcopy(v) for k, v in changed.items()})
        return outside.audit(server_key, **args).problems

    changed = copy.deepcopy(entries)
    ballot = changed[1]["leaf"]["ballot"]["signed"]
    ballot["ranking"] = list(reversed(ballot["ranking"])) if len(ballot["ranking"]) > 1 else ["status_quo"]
    assert any(p.startswith("seq 1:") for p in problems(entries=changed))
    assert any("sth:" in p for p in problems(entries=entries[:-1]))
    assert any(p.startswith("seq 0:") for p in problems(entries=[entries[1], entries[0], *entries[2:]]))
    forged = copy.deepcopy(result)
    forged["signed"]["winner"] = "status_quo" if result["signed"]["winner"] != "status_quo" else forged["signed"]["ranking"][1]
    assert any(p.startswith("result:") for p in problems(result_env=forged))
    extra = copy.deepcopy(roll)
    extra["signed"]["voters"].append({"key_id": outside.Device().key_id, "public_key": outside.b64u(outside.Device().public), "weight": 1})
    assert problems(roll_env=extra)


@pytest.mark.slow
def test_the_outside_client_agrees_with_the_server(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    with outside.Observer(url) as observer, httpx.Client(base_url=url, timeout=30) as http:
        _agree(url, env, observer, http)


def _agree(url: str, env: dict[str, str], observer: outside.Observer, http: httpx.Client) -> None:
    server_key = observer.server_key()
    for method in RANKED_METHODS:
        a = Assembly(url, env, delegates=9)
        weights = {a.names[0]: 3, a.names[1]: 2}
        draft = api(url, "POST", f"/api/agenda/{a.item['id']}/elections", a.mod, {"method": method, "weights": weights})
        order = [o["id"] for o in draft["options"]][::-1]  # the moderator's order: status_quo last
        assert len(order) == 6
        api(url, "PATCH", f"/api/elections/{draft['id']}", a.mod, {"order": order})
        opened = api(url, "POST", f"/api/elections/{draft['id']}/open", a.mod)
        voting = Voting(http, server_key, opened["election"])
        options = [o["id"] for o in voting.election["options"]]
        assert options == order and voting.election["method"] == method

        _random_ballots(voting, a.devices, options, seed=method)
        voting.cast(a.devices[2], [])  # an abstention, which also makes sure there is a revote
        _hostile(voting, a, options)
        _check_tally(voting, observer, options)
        _check_against_board(voting, observer)

        closed = api(url, "POST", f"/api/elections/{voting.eid}/close", a.mod)
        assert closed["status"] == "closed"
        audited, _sth = observer.audit(server_key, voting.eid, with_result=True)
        assert audited.problems == [], (method, audited.problems)
        assert audited.count is not None and audited.count.counted == len(voting.revisions)

        if method != "schulze":
            continue
        _tampering_is_caught(server_key, observer, voting.eid)
        # final yes/no votes on the same agenda item under each majority rule, hidden until close
        for majority in ("simple", "absolute", "two_thirds"):
            rule = {"majority": majority, "quorum_percent": 50}
            spec = {"kind": "yes_no", "rule": rule, "visibility": "after_close", "weights": weights}
            created = api(url, "POST", f"/api/agenda/{a.item['id']}/elections", a.mod, spec)
            yes_no = Voting(http, server_key, api(url, "POST", f"/api/elections/{created['id']}/open", a.mod)["election"])
            choices = [o["id"] for o in yes_no.election["options"]]
            assert yes_no.election["rule"] == rule and set(choices) <= {"yes", "no", "abstain"}
            _random_ballots(yes_no, a.devices, ["yes", "yes", "no", "abstain"], seed=majority, longest=1)
            yes_no.cast(a.devices[3], ["abstain"])
            assert http.get(f"/api/elections/{yes_no.eid}/tally").status_code in (403, 409)
            _check_against_board(yes_no, observer)
            api(url, "POST", f"/api/elections/{yes_no.eid}/close", a.mod)
            audited, _sth = observer.audit(server_key, yes_no.eid, with_result=True)
            assert audited.problems == [], audited.problems
            _check_tally(yes_no, observer, choices)  # visible after close
