import dataclasses
import hashlib

import pytest
import rfc8785

from deliberation.core.audit import (
    GENESIS,
    AuditEntry,
    chain_head,
    check_payload,
    compute_entry_hash,
    entry_from_dict,
    entry_to_dict,
    next_entry,
    verify_chain,
)
from deliberation.core.errors import AuditChainError, DeliberationError, InvalidInput


def make_chain(n=5):
    entries = []
    prev = None
    for i in range(n):
        prev = next_entry(
            prev,
            actor=None if i == 0 else f"moderator{i % 2}",
            action=["phase.change", "amendment.admit", "comment.hide", "speaker.give_floor", "timer.start"][i % 5],
            payload={"item": i, "to": "debate", "ok": True, "tags": ["a", i], "nested": {"x": None}, "note": "Қазақ"},
            created_at=f"2025-01-0{i + 1}T10:00:00Z",
        )
        entries.append(prev)
    return entries


def test_error_class():
    assert AuditChainError.code == "audit_chain_broken"
    assert AuditChainError.status == 400
    assert issubclass(AuditChainError, DeliberationError)
    assert AuditChainError("x", 3).index == 3


def test_hash_is_sha256_of_rfc8785_json():
    payload = {"b": 1, "a": "é"}
    want = hashlib.sha256(rfc8785.dumps({"prev": GENESIS, "seq": 1, "actor": "mod", "action": "x", "payload": payload, "at": "t"})).hexdigest()
    assert compute_entry_hash(GENESIS, 1, "mod", "x", payload, "t") == want
    # canonical: key order does not matter
    assert compute_entry_hash(GENESIS, 1, "mod", "x", {"a": "é", "b": 1}, "t") == want
    assert len(want) == 64 and GENESIS == "0" * 64


def test_hash_covers_every_field():
    base = (GENESIS, 1, "mod", "act", {"k": 1}, "t")
    h = compute_entry_hash(*base)
    variants = [
        ("1" * 64, 1, "mod", "act", {"k": 1}, "t"),
        (GENESIS, 2, "mod", "act", {"k": 1}, "t"),
        (GENESIS, 1, None, "act", {"k": 1}, "t"),
        (GENESIS, 1, "mod", "act2", {"k": 1}, "t"),
        (GENESIS, 1, "mod", "act", {"k": 2}, "t"),
        (GENESIS, 1, "mod", "act", {"k": True}, "t"),
        (GENESIS, 1, "mod", "act", {"k": 1}, "u"),
    ]
    assert len({compute_entry_hash(*v) for v in variants} | {h}) == len(variants) + 1


def test_valid_chain_verifies():
    chain = make_chain()
    verify_chain(chain)
    verify_chain([])
    assert chain[0].prev_hash == GENESIS
    assert chain[0].seq == 1 and chain[-1].seq == 5
    assert chain_head(chain) == chain[-1].hash
    assert chain_head([]) == GENESIS


@pytest.mark.parametrize("k", range(5))
def test_tampered_payload_fails_at_that_entry(k):
    chain = make_chain()
    chain[k] = dataclasses.replace(chain[k], payload={**chain[k].payload, "to": "voting"})
    with pytest.raises(AuditChainError, match=rf"audit entry {k} \(seq {k + 1}\) has hash '[0-9a-f]{{64}}', recomputed") as info:
        verify_chain(chain)
    assert info.value.index == k


@pytest.mark.parametrize("k", range(5))
def test_tampered_actor_fails_at_that_entry(k):
    chain = make_chain()
    chain[k] = dataclasses.replace(chain[k], actor="intruder")
    with pytest.raises(AuditChainError, match="recomputed") as info:
        verify_chain(chain)
    assert info.value.index == k


def test_tampered_action_and_time_fail():
    for field, value in (("action", "noop"), ("created_at", "2030-01-01T00:00:00Z")):
        chain = make_chain()
        chain[2] = dataclasses.replace(chain[2], **{field: value})
        with pytest.raises(AuditChainError, match="recomputed") as info:
            verify_chain(chain)
        assert info.value.index == 2


def test_rehashed_tampered_entry_breaks_the_link_after_it():
    chain = make_chain()
    e = chain[1]
    payload = {"forged": True}
    forged = dataclasses.replace(e, payload=payload, hash=compute_entry_hash(e.prev_hash, e.seq, e.actor, e.action, payload, e.created_at))
    chain[1] = forged
    with pytest.raises(AuditChainError, match=r"audit entry 2 \(seq 3\) has prev_hash") as info:
        verify_chain(chain)
    assert info.value.index == 2


@pytest.mark.parametrize("k", [0, 1, 3])
def test_deleted_entry_fails_where_it_was(k):
    chain = make_chain()
    del chain[k]
    with pytest.raises(AuditChainError, match=rf"audit entry {k} has seq {k + 2}, want {k + 1}") as info:
        verify_chain(chain)
    assert info.value.index == k


def test_deleted_and_renumbered_entry_fails_on_prev_hash():
    chain = make_chain()
    del chain[2]
    chain[2:] = [dataclasses.replace(e, seq=e.seq - 1) for e in chain[2:]]
    with pytest.raises(AuditChainError, match=r"audit entry 2 \(seq 3\) has prev_hash '[0-9a-f]+', want '[0-9a-f]+'") as info:
        verify_chain(chain)
    assert info.value.index == 2


def test_reordered_entries_fail():
    chain = make_chain()
    chain[1], chain[2] = chain[2], chain[1]
    with pytest.raises(AuditChainError, match="audit entry 1 has seq 3, want 2") as info:
        verify_chain(chain)
    assert info.value.index == 1


def test_swapped_seq_order_fails():
    chain = make_chain()
    chain[3] = dataclasses.replace(chain[3], seq=5)
    with pytest.raises(AuditChainError, match="audit entry 3 has seq 5, want 4") as info:
        verify_chain(chain)
    assert info.value.index == 3


def test_chain_not_starting_at_one_fails():
    chain = make_chain()
    with pytest.raises(AuditChainError, match="audit entry 0 has seq 2, want 1") as info:
        verify_chain(chain[1:])
    assert info.value.index == 0


@pytest.mark.parametrize("k", range(5))
def test_changed_prev_hash_fails(k):
    chain = make_chain()
    chain[k] = dataclasses.replace(chain[k], prev_hash="f" * 64)
    want = GENESIS if k == 0 else chain[k - 1].hash
    with pytest.raises(AuditChainError, match=rf"has prev_hash '{'f' * 64}', want '{want}'") as info:
        verify_chain(chain)
    assert info.value.index == k


def test_unhashable_entry_is_a_chain_error():
    chain = make_chain(2)
    chain[1] = dataclasses.replace(chain[1], payload={"x": 1.5})
    with pytest.raises(AuditChainError, match=r"audit entry 1 \(seq 2\) cannot be hashed: payload.x has type float") as info:
        verify_chain(chain)
    assert info.value.index == 1


def test_export_round_trip():
    chain = make_chain()
    exported = [entry_to_dict(e) for e in chain]
    back = [entry_from_dict({**d, "id": 99}) for d in exported]
    assert back == chain
    verify_chain(back)


def good_dict():
    return entry_to_dict(make_chain(1)[0])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"seq": "1"}, "seq must be a positive integer, got '1'"),
        ({"seq": True}, "seq must be a positive integer, got True"),
        ({"seq": 0}, "seq must be a positive integer, got 0"),
        ({"actor": 5}, "actor must be a string or null, got int"),
        ({"action": None}, "action must be a string, got NoneType"),
        ({"created_at": 1}, "created_at must be a string, got int"),
        ({"hash": "abc"}, "hash must be 64 lowercase hex digits, got 'abc'"),
        ({"prev_hash": "G" * 64}, "prev_hash must be 64 lowercase hex digits"),
        ({"payload": []}, "audit payload must be an object, got list"),
        ({"payload": {"x": 0.5}}, "payload.x has type float"),
    ],
)
def test_entry_from_dict_rejects_bad_shapes(change, match):
    with pytest.raises(InvalidInput, match=match):
        entry_from_dict({**good_dict(), **change})


def test_entry_from_dict_missing_keys_and_non_object():
    d = good_dict()
    del d["hash"], d["seq"]
    with pytest.raises(InvalidInput, match="audit entry is missing seq, hash"):
        entry_from_dict(d)
    with pytest.raises(InvalidInput, match="audit entry must be an object, got list"):
        entry_from_dict([])


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ("x", "audit payload must be an object, got str"),
        ({"x": 1.0}, "payload.x has type float"),
        ({1: "x"}, "payload has key 1 of type int, want str"),
        ({"x": [1, {"y": object()}]}, r"payload.x\[1\].y has type object"),
        ({"x": 2**53}, "payload.x is 9007199254740992, outside the safe integer range"),
        ({"x": "\ud800"}, "payload.x is not valid Unicode"),
    ],
)
def test_check_payload_rejects(payload, match):
    with pytest.raises(InvalidInput, match=match):
        check_payload(payload)


def test_compute_entry_hash_rejects_bad_fields():
    with pytest.raises(InvalidInput, match="seq must be an integer, got str"):
        compute_entry_hash(GENESIS, "1", None, "a", {}, "t")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="actor must be a string or null, got int"):
        compute_entry_hash(GENESIS, 1, 7, "a", {}, "t")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="action must be a string, got NoneType"):
        compute_entry_hash(GENESIS, 1, None, None, {}, "t")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="audit payload must be an object, got NoneType"):
        compute_entry_hash(GENESIS, 1, None, "a", None, "t")  # type: ignore[arg-type]


def test_entry_is_frozen():
    e = make_chain(1)[0]
    assert isinstance(e, AuditEntry)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.seq = 2  # type: ignore[misc]
