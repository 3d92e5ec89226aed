"""PROTOCOL §2–3 objects: envelopes, ballots, elections, rolls, tree heads, receipts, results."""

from __future__ import annotations

import copy
import hashlib

import pytest

from voting.core.encoding import b64u_encode, jcs, parse_json_strict
from voting.core.errors import BadKeyError, BadSignatureError, MalformedError, ProofError, WrongElectionError
from voting.core.keys import Signer, check_public_key, key_id, sign_object
from voting.core.merkle import EMPTY_ROOT, CompactRange, MemoryNodeStore, inclusion_proof
from voting.core.signed import (
    Envelope,
    ballot_leaf_bytes,
    compute_leaf_hash,
    digest,
    make_leaf,
    parse_ballot,
    parse_ballot_envelope,
    parse_election,
    parse_envelope,
    parse_leaf,
    parse_receipt,
    parse_result,
    parse_roll,
    parse_sth,
    verify_ballot_election,
    verify_envelope,
    verify_receipt,
)

SERVER = Signer.from_private_bytes(bytes(range(32)))
VOTERS = sorted((Signer.from_private_bytes(bytes([i]) * 32) for i in range(1, 5)), key=lambda s: s.key_id)
TIME = "2026-11-24T10:15:00.123Z"


def roll_signed() -> dict:
    return {"v": 1, "type": "roll", "election": "el-1", "voters": [{"key_id": s.key_id, "public_key": s.public_key_b64u, "weight": 1 + i} for i, s in enumerate(VOTERS)]}


def election_signed(**changes) -> dict:
    signed = {
        "v": 1,
        "type": "election",
        "id": "el-1",
        "assembly": "as-1",
        "agenda_item": "ai-1",
        "title": "Amendments to §2",
        "options": [{"id": "status_quo", "label": "Keep"}, {"id": "am-1", "label": "Amendment 1"}],
        "method": "schulze",
        "visibility": "live",
        "roll_digest": digest(roll_signed()),
        "opened_at": TIME,
    }
    signed.update(changes)
    return signed


ELECTION_DIGEST = digest(election_signed())


def ballot_signed(signer: Signer = VOTERS[0], **changes) -> dict:
    signed = {
        "v": 1,
        "type": "ballot",
        "election": "el-1",
        "election_digest": ELECTION_DIGEST,
        "voter": signer.key_id,
        "revision": 1,
        "ranking": ["am-1", "status_quo"],
        "nonce": b64u_encode(bytes(range(16))),
    }
    signed.update(changes)
    return signed


def without(obj: dict, name: str) -> dict:
    return {k: v for k, v in obj.items() if k != name}


def test_digest_is_hex_sha256_of_jcs():
    signed = election_signed()
    assert digest(signed) == hashlib.sha256(jcs(signed)).hexdigest()
    assert digest(dict(reversed(list(signed.items())))) == digest(signed)


# --- envelopes ------------------------------------------------------------------------------------


def test_envelope_round_trip_and_verify():
    wire = sign_object(VOTERS[0], ballot_signed())
    env = parse_envelope(parse_json_strict(jcs(wire)), "ballot")
    assert isinstance(env, Envelope) and env.signer == VOTERS[0].key_id and len(env.signature) == 64
    assert env.to_json() == wire
    verify_envelope(env, VOTERS[0].public_key_raw)


def test_verify_envelope_failures():
    env = parse_envelope(sign_object(VOTERS[0], ballot_signed()), "ballot")
    with pytest.raises(BadSignatureError, match=f"signer {VOTERS[0].key_id} is not the expected key {VOTERS[1].key_id}"):
        verify_envelope(env, VOTERS[1].public_key_raw)
    tampered = Envelope({**env.signed, "revision": 2}, env.signature, env.signer)
    with pytest.raises(BadSignatureError, match="does not verify") as info:
        verify_envelope(tampered, VOTERS[0].public_key_raw)
    assert info.value.code == "bad_signature"


def test_type_is_domain_separation():
    wire = sign_object(SERVER, {"v": 1, "type": "sth", "election": "el-1", "tree_size": 0, "root_hash": EMPTY_ROOT.hex(), "timestamp": TIME})
    with pytest.raises(MalformedError, match="ballot.type: want 'ballot', got 'sth'"):
        parse_envelope(wire, "ballot")
    assert parse_envelope(wire, "sth").signed["type"] == "sth"


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda e: e.update(extra=1), "ballot envelope.extra: unexpected field"),
        (lambda e: e.pop("signer"), "ballot envelope.signer: missing field"),
        (lambda e: e.pop("signature"), "ballot envelope.signature: missing field"),
        (lambda e: e.update(signed=[1]), "ballot envelope.signed: want an object, got array"),
        (lambda e: e["signed"].pop("v"), "ballot.v: missing field"),
        (lambda e: e["signed"].pop("type"), "ballot.type: missing field"),
        (lambda e: e["signed"].update(v=2), "ballot.v: want 1, got 2"),
        (lambda e: e["signed"].update(v=True), "ballot.v: want 1, got True"),
        (lambda e: e["signed"].update(v="1"), "ballot.v: want 1, got '1'"),
        (lambda e: e.update(signature="AAAA"), "ballot envelope.signature: wrong size 3, want 64 bytes"),
        (lambda e: e.update(signature=e["signature"] + "="), "ballot envelope.signature: b64u: want only"),
        (lambda e: e.update(signature=7), "ballot envelope.signature: b64u: want a string, got int"),
        (lambda e: e.update(signer=e["signer"].upper()), "ballot envelope.signer: want 64 lowercase hex"),
        (lambda e: e.update(signer=e["signer"][:63]), "ballot envelope.signer: want 64 lowercase hex"),
    ],
)
def test_envelope_errors_name_the_field(mutate, match):
    wire = copy.deepcopy(sign_object(VOTERS[0], ballot_signed()))
    mutate(wire)
    with pytest.raises(MalformedError, match=match) as info:
        parse_envelope(wire, "ballot")
    assert info.value.code == "malformed_ballot"


def test_envelope_must_be_an_object():
    with pytest.raises(MalformedError, match="ballot envelope: want an object, got array"):
        parse_envelope([], "ballot")


# --- ballots --------------------------------------------------------------------------------------


def test_parse_ballot():
    ballot = parse_ballot(ballot_signed(revision=3))
    assert ballot.election == "el-1" and ballot.election_digest == ELECTION_DIGEST
    assert ballot.voter == VOTERS[0].key_id and ballot.revision == 3
    assert ballot.ranking == ("am-1", "status_quo") and ballot.nonce == bytes(range(16))


def test_parse_ballot_leaves_option_checks_to_later():
    # unknown and repeated option ids are PROTOCOL §5 #8/#9, not malformed
    assert parse_ballot(ballot_signed(ranking=["zz", "zz"])).ranking == ("zz", "zz")
    assert parse_ballot(ballot_signed(ranking=[])).ranking == ()


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"revision": 0}, "ballot.revision: want an integer >= 1, got 0"),
        ({"revision": -1}, "ballot.revision: want an integer >= 1, got -1"),
        ({"revision": True}, "ballot.revision: want an integer >= 1, got True"),
        ({"revision": "2"}, "ballot.revision: want an integer >= 1, got '2'"),
        ({"revision": 1.0}, "ballot.revision: want an integer >= 1, got number"),
        ({"ranking": "am-1"}, "ballot.ranking: want an array of strings, got 'am-1'"),
        ({"ranking": ["am-1", 2]}, r"ballot.ranking\[1\]: want a string, got 2"),
        ({"ranking": [["am-1"]]}, r"ballot.ranking\[0\]: want a string, got array"),
        ({"nonce": b64u_encode(bytes(15))}, "ballot.nonce: wrong size 15, want 16 bytes"),
        ({"nonce": b64u_encode(bytes(17))}, "ballot.nonce: wrong size 17, want 16 bytes"),
        ({"nonce": "AAAAAAAAAAAAAAAAAAAAAA=="}, "ballot.nonce: b64u: want only"),
        ({"nonce": "AAAAAAAAAAAAAAAAAAAAAB"}, "ballot.nonce: b64u: not the canonical encoding"),
        ({"election": 5}, "ballot.election: want a string, got 5"),
        ({"election_digest": "AB" * 32}, "ballot.election_digest: want 64 lowercase hex"),
        ({"voter": "0" * 65}, "ballot.voter: want 64 lowercase hex"),
        ({"voter": None}, "ballot.voter: want 64 lowercase hex characters, got null"),
        ({"type": "leaf"}, "ballot.type: want 'ballot', got 'leaf'"),
        ({"extra": 1}, "ballot.extra: unexpected field"),
    ],
)
def test_ballot_errors_name_the_field(changes, match):
    with pytest.raises(MalformedError, match=match):
        parse_ballot(ballot_signed(**changes))


@pytest.mark.parametrize("name", ["v", "type", "election", "election_digest", "voter", "revision", "ranking", "nonce"])
def test_ballot_missing_field(name):
    with pytest.raises(MalformedError, match=f"ballot.{name}: missing field"):
        parse_ballot(without(ballot_signed(), name))


def test_ballot_envelope_signer_must_be_the_voter():
    env, ballot = parse_ballot_envelope(sign_object(VOTERS[0], ballot_signed()))
    assert env.signer == ballot.voter
    with pytest.raises(MalformedError, match=f"ballot envelope.signer: want the voter {VOTERS[1].key_id}"):
        parse_ballot_envelope(sign_object(VOTERS[0], ballot_signed(VOTERS[1])))


def test_verify_ballot_election():
    ballot = parse_ballot(ballot_signed())
    verify_ballot_election(ballot, "el-1", ELECTION_DIGEST)
    with pytest.raises(WrongElectionError, match="ballot.election: want 'el-2', got 'el-1'") as info:
        verify_ballot_election(ballot, "el-2", ELECTION_DIGEST)
    assert info.value.code == "wrong_election"
    with pytest.raises(WrongElectionError, match=f"ballot.election_digest: want {'0' * 64}, got {ELECTION_DIGEST}"):
        verify_ballot_election(ballot, "el-1", "0" * 64)


# --- election ------------------------------------------------------------------------------------


def test_parse_election():
    election = parse_election(election_signed())
    assert election.option_ids == ("status_quo", "am-1") and election.rule is None
    assert election.method == "schulze" and election.visibility == "live" and election.opened_at == TIME
    yes_no = parse_election(
        election_signed(
            method="yes_no", rule={"majority": "two_thirds", "quorum_percent": 50}, options=[{"id": "yes", "label": "Yes"}, {"id": "no", "label": "No"}, {"id": "abstain", "label": "Abstain"}]
        )
    )
    assert yes_no.rule is not None and yes_no.rule.majority == "two_thirds" and yes_no.rule.quorum_percent == 50


YES_NO_OPTIONS = [{"id": "yes", "label": ""}, {"id": "no", "label": ""}, {"id": "abstain", "label": ""}]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"method": "approval"}, "election.method: want one of borda, irv, plurality, ranked_pairs, schulze, yes_no"),
        ({"visibility": "never"}, "election.visibility: want one of after_close, live"),
        ({"options": []}, "election.options: want a non-empty array"),
        ({"options": [{"id": "a"}]}, r"election.options\[0\].label: missing field"),
        ({"options": [{"id": "", "label": "x"}]}, r"election.options\[0\].id: want a non-empty string"),
        ({"options": [{"id": "a", "label": "x", "x": 1}]}, r"election.options\[0\].x: unexpected field"),
        ({"options": [{"id": "a", "label": "x"}, {"id": "a", "label": "y"}]}, "option ids must be unique"),
        ({"rule": {"majority": "simple", "quorum_percent": 0}}, "election.rule: unexpected field"),
        ({"method": "yes_no", "options": YES_NO_OPTIONS}, "election.rule: missing field"),
        ({"method": "yes_no", "options": YES_NO_OPTIONS, "rule": {"majority": "most", "quorum_percent": 0}}, "election.rule.majority: want one of absolute, simple, two_thirds"),
        ({"method": "yes_no", "options": YES_NO_OPTIONS, "rule": {"majority": "simple", "quorum_percent": 101}}, "election.rule.quorum_percent: want an integer >= 0 <= 100, got 101"),
        ({"method": "yes_no", "options": YES_NO_OPTIONS, "rule": {"majority": "simple"}}, "election.rule.quorum_percent: missing field"),
        ({"method": "yes_no", "rule": {"majority": "simple", "quorum_percent": 1}}, "yes_no needs the options yes, no, abstain"),
        ({"roll_digest": "x"}, "election.roll_digest: want 64 lowercase hex"),
        ({"opened_at": "2026-11-24T10:15:00Z"}, "election.opened_at: time: want YYYY-MM-DDTHH:MM:SS.mmmZ"),
        ({"title": None}, "election.title: want a string, got null"),
        ({"v": 1, "type": "roll"}, "election.type: want 'election', got 'roll'"),
    ],
)
def test_election_errors_name_the_field(changes, match):
    with pytest.raises(MalformedError, match=match):
        parse_election(election_signed(**changes))


# --- roll ----------------------------------------------------------------------------------------


def test_parse_roll():
    roll = parse_roll(roll_signed())
    assert [v.key_id for v in roll.voters] == [s.key_id for s in VOTERS]
    assert roll.voters[0].public_key == VOTERS[0].public_key_raw
    assert roll.get(VOTERS[2].key_id).weight == 3 and roll.get("0" * 64) is None
    assert roll.total_weight == 1 + 2 + 3 + 4
    assert parse_roll({"v": 1, "type": "roll", "election": "e", "voters": []}).voters == ()


def test_parse_roll_without_decoding_the_points_keeps_the_encoding_rules():
    """The server's reload of its own roll (voting/board.py `load_state`) skips only the field
    arithmetic: the same roll, and the small-order rule, the size and y < p still refused."""
    assert parse_roll(roll_signed(), decode_points=False) == parse_roll(roll_signed())
    for raw, problem in (
        (bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "small-order point"),
        (bytes.fromhex("ed" + "ff" * 30 + "7f"), "non-canonical"),
    ):
        signed = _roll_with(1, public_key=b64u_encode(raw), key_id=key_id(raw))  # its own key id: only the key is wrong
        signed["voters"].sort(key=lambda v: v["key_id"])
        at = [v["key_id"] for v in signed["voters"]].index(key_id(raw))
        with pytest.raises(MalformedError, match=rf"roll.voters\[{at}\].public_key: public key: {problem}"):
            parse_roll(signed, decode_points=False)
    off_curve = next(raw for raw in (y.to_bytes(32, "little") for y in range(2, 100)) if _off_curve(raw))
    signed = _roll_with(0, public_key=b64u_encode(off_curve), key_id=key_id(off_curve))
    signed["voters"].sort(key=lambda v: v["key_id"])
    with pytest.raises(MalformedError, match=r"not a point on edwards25519"):
        parse_roll(signed)
    assert off_curve in [v.public_key for v in parse_roll(signed, decode_points=False).voters]  # it can verify no signature


def _off_curve(raw: bytes) -> bool:
    try:
        check_public_key(raw)
    except BadKeyError:
        return True
    return False


def _roll_with(index: int, **changes) -> dict:
    signed = roll_signed()
    signed["voters"][index].update(changes)
    return signed


def test_roll_errors_name_the_field():
    raw = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
    own = _roll_with(1, public_key=b64u_encode(raw), key_id=key_id(raw))
    own["voters"].sort(key=lambda v: v["key_id"])
    at = [v["key_id"] for v in own["voters"]].index(key_id(raw))
    with pytest.raises(MalformedError, match=rf"roll.voters\[{at}\].public_key: public key: small-order point"):
        parse_roll(own)
    # An entry whose key is not its key_id is malformed before its key is judged (`read_roll`).
    with pytest.raises(MalformedError, match=r"roll.voters\[1\].key_id: want .* \(the hash of public_key\)"):
        parse_roll(_roll_with(1, public_key=b64u_encode(raw)))
    with pytest.raises(MalformedError, match=r"roll.voters\[1\].public_key: b64u"):
        parse_roll(_roll_with(1, public_key="*"))
    with pytest.raises(MalformedError, match=r"roll.voters\[0\].key_id: want .* \(the hash of public_key\)"):
        parse_roll(_roll_with(0, public_key=VOTERS[1].public_key_b64u))
    with pytest.raises(MalformedError, match=r"roll.voters\[2\].weight: want an integer >= 1, got 0"):
        parse_roll(_roll_with(2, weight=0))
    with pytest.raises(MalformedError, match=r"roll.voters\[2\].weight: want an integer >= 1, got True"):
        parse_roll(_roll_with(2, weight=True))
    with pytest.raises(MalformedError, match=r"roll.voters\[3\].key_id: want 64 lowercase hex"):
        parse_roll(_roll_with(3, key_id="x"))
    with pytest.raises(MalformedError, match=r"roll.voters\[0\].weight: missing field"):
        parse_roll({**roll_signed(), "voters": [without(roll_signed()["voters"][0], "weight")]})
    unsorted = roll_signed()
    unsorted["voters"].reverse()
    with pytest.raises(MalformedError, match=r"roll.voters\[1\].key_id: voters must be sorted strictly by key_id"):
        parse_roll(unsorted)
    duplicated = roll_signed()
    duplicated["voters"].insert(1, duplicated["voters"][0])
    with pytest.raises(MalformedError, match=r"roll.voters\[1\].key_id: voters must be sorted strictly"):
        parse_roll(duplicated)
    with pytest.raises(MalformedError, match="roll.voters: want an array, got object"):
        parse_roll({**roll_signed(), "voters": {}})


# --- board, tree heads, receipts --------------------------------------------------------------------


def sth_signed(**changes) -> dict:
    signed = {"v": 1, "type": "sth", "election": "el-1", "tree_size": 0, "root_hash": EMPTY_ROOT.hex(), "timestamp": TIME}
    signed.update(changes)
    return signed


def test_parse_sth():
    sth = parse_sth(sth_signed(tree_size=5))
    assert sth.tree_size == 5 and sth.root_hash == EMPTY_ROOT and sth.timestamp == TIME
    with pytest.raises(MalformedError, match="sth.tree_size: want an integer >= 0, got -1"):
        parse_sth(sth_signed(tree_size=-1))
    with pytest.raises(MalformedError, match="sth.root_hash: want 64 lowercase hex"):
        parse_sth(sth_signed(root_hash=EMPTY_ROOT.hex()[:-2]))
    with pytest.raises(MalformedError, match="sth.timestamp: time"):
        parse_sth(sth_signed(timestamp="yesterday"))


def test_leaves_and_receipts_end_to_end():
    compact, store, leaves = CompactRange(), MemoryNodeStore(), []
    for seq in range(7):
        voter = VOTERS[seq % len(VOTERS)]
        leaf = make_leaf(seq, sign_object(voter, ballot_signed(voter, revision=1 + seq)), TIME)
        assert parse_leaf(parse_json_strict(jcs(leaf))).seq == seq
        leaves.append(leaf)
        store.add(compact.append(compute_leaf_hash(leaf)))
    sth = sign_object(SERVER, sth_signed(tree_size=compact.size, root_hash=compact.root().hex()))
    for seq, leaf in enumerate(leaves):
        wire = {"seq": seq, "leaf_hash": compute_leaf_hash(leaf).hex(), "sth": sth, "inclusion_proof": [h.hex() for h in inclusion_proof(seq, compact.size, store)]}
        receipt = parse_receipt(parse_json_strict(jcs(wire)))
        assert verify_receipt(receipt, compute_leaf_hash(leaf), SERVER.public_key_raw, "el-1").tree_size == 7
    receipt = parse_receipt(wire)
    with pytest.raises(MalformedError, match="receipt.leaf_hash: want"):
        verify_receipt(receipt, compute_leaf_hash(leaves[0]), SERVER.public_key_raw, "el-1")
    with pytest.raises(BadSignatureError):
        verify_receipt(receipt, receipt.leaf_hash, VOTERS[0].public_key_raw, "el-1")
    with pytest.raises(WrongElectionError, match="sth.election: want 'el-2'"):
        verify_receipt(receipt, receipt.leaf_hash, SERVER.public_key_raw, "el-2")
    bad_proof = parse_receipt({**wire, "inclusion_proof": wire["inclusion_proof"][:-1]})
    with pytest.raises(ProofError, match="wrong proof size"):
        verify_receipt(bad_proof, receipt.leaf_hash, SERVER.public_key_raw, "el-1")
    late = parse_receipt({**wire, "seq": 7})
    with pytest.raises(MalformedError, match="sth.tree_size: want more than seq 7, got 7"):
        verify_receipt(late, receipt.leaf_hash, SERVER.public_key_raw, "el-1")
    with pytest.raises(MalformedError, match=r"receipt.inclusion_proof\[0\]: want 64 lowercase hex"):
        parse_receipt({**wire, "inclusion_proof": ["00"]})
    with pytest.raises(MalformedError, match="sth.type: want 'sth', got 'ballot'"):
        parse_receipt({**wire, "sth": leaves[0]["ballot"]})


def test_leaf_errors():
    leaf = make_leaf(0, {}, TIME)
    assert compute_leaf_hash(leaf) == hashlib.sha256(b"\x00" + jcs(leaf)).digest()
    with pytest.raises(MalformedError, match="leaf.seq: want an integer >= 0, got -1"):
        parse_leaf({**leaf, "seq": -1})
    with pytest.raises(MalformedError, match="leaf.ballot: want an object, got 'x'"):
        parse_leaf({**leaf, "ballot": "x"})
    with pytest.raises(MalformedError, match="leaf.received_at: missing field"):
        parse_leaf(without(leaf, "received_at"))


# --- result --------------------------------------------------------------------------------------


def result_signed(**changes) -> dict:
    signed = {
        "v": 1,
        "type": "result",
        "election": "el-1",
        "election_digest": ELECTION_DIGEST,
        "tree_size": 3,
        "root_hash": EMPTY_ROOT.hex(),
        "method": "schulze",
        "counted": 3,
        "weight_counted": 6,
        "abstentions": 1,
        "ranking": ["am-1", "status_quo"],
        "winner": "am-1",
        "ties_broken": [["am-1", "status_quo"]],
        "details": {"pairwise": {}},
    }
    signed.update(changes)
    return signed


def test_parse_result():
    result = parse_result(result_signed())
    assert result.winner == "am-1" and result.ranking == ("am-1", "status_quo")
    assert result.ties_broken == (("am-1", "status_quo"),) and result.root_hash == EMPTY_ROOT
    assert parse_result(result_signed(method="yes_no", winner="no", ranking=["yes", "no", "abstain"])).winner == "no"


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"winner": "status_quo"}, "result.winner: want the first option of ranking, got 'status_quo'"),
        ({"ranking": [], "winner": "x"}, "result.winner: want the first option of ranking"),
        ({"method": "yes_no", "winner": "abstain"}, "result.winner: want 'yes' or 'no' for yes_no"),
        ({"abstentions": 4}, "result.abstentions: want an integer >= 0 <= 3, got 4"),
        ({"counted": -1}, "result.counted: want an integer >= 0, got -1"),
        ({"weight_counted": "6"}, "result.weight_counted: want an integer >= 0, got '6'"),
        ({"ties_broken": [["a"], "b"]}, r"result.ties_broken\[1\]: want an array of strings, got 'b'"),
        ({"ties_broken": {}}, "result.ties_broken: want an array of arrays, got object"),
        ({"details": []}, "result.details: want an object, got array"),
        ({"method": "coin"}, "result.method: want one of"),
        ({"tree_size": None}, "result.tree_size: want an integer >= 0, got null"),
        ({"root_hash": 1}, "result.root_hash: want 64 lowercase hex characters, got 1"),
    ],
)
def test_result_errors_name_the_field(changes, match):
    with pytest.raises(MalformedError, match=match):
        parse_result(result_signed(**changes))


@pytest.mark.parametrize("name", ["election_digest", "ties_broken", "details", "abstentions"])
def test_result_missing_field(name):
    with pytest.raises(MalformedError, match=f"result.{name}: missing field"):
        parse_result(without(result_signed(), name))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"ranking": []},
        {"ranking": ["é", "status_quo", 'a"b', "\\", "\u2028", "\x01", "😀"]},  # escapes inside signed
        {"election": 'élection "x"', "revision": 2**53 - 1},
        {"extra": {"nested": [1, -2, True, None]}},
    ],
)
@pytest.mark.parametrize("seq", [0, 7, 2**40])
def test_ballot_leaf_bytes_is_the_leafs_jcs(changes: dict, seq: int) -> None:
    """The ballot path's leaf, put together from JCS(signed), equals JCS of the leaf object."""
    envelope = sign_object(VOTERS[1], ballot_signed(VOTERS[1], **changes))
    obj = parse_json_strict(jcs(envelope))
    parse_envelope(obj, "ballot")  # the parts are what the parser accepted
    got = ballot_leaf_bytes(seq, obj["signature"], jcs(obj["signed"]), obj["signer"], TIME)
    assert got == jcs(make_leaf(seq, obj, TIME))
    assert parse_json_strict(got) == make_leaf(seq, obj, TIME)
