"""The signed objects the API serves are converted to their wire types (voting/schemas.py) from
what the server stored: a field the type does not know must be refused, never dropped, since an
object served without one of its signed fields fails every verifier's signature check."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from voting.schemas import ElectionEnvelope, ResultEnvelope, RollEnvelope, SthEnvelope

SIG = {"signature": "A" * 86, "signer": "0" * 64}
STH = {"v": 1, "type": "sth", "election": "7", "tree_size": 3, "root_hash": "ab" * 32, "timestamp": "2026-12-04T10:00:00.000Z"}
ROLL = {"v": 1, "type": "roll", "election": "7", "voters": [{"key_id": "cd" * 32, "public_key": "B" * 43, "weight": 1}]}
ELECTION = {
    "v": 1,
    "type": "election",
    "id": "7",
    "assembly": "1",
    "agenda_item": "2",
    "title": "Article 3",
    "options": [{"id": "status_quo", "label": "Keep"}],
    "method": "yes_no",
    "visibility": "live",
    "roll_digest": "ef" * 32,
    "opened_at": "2026-12-04T10:00:00.000Z",
    "rule": {"majority": "simple", "quorum_percent": 50},
}
RESULT = {
    "v": 1,
    "type": "result",
    "election": "7",
    "election_digest": "12" * 32,
    "tree_size": 3,
    "root_hash": "ab" * 32,
    "method": "schulze",
    "counted": 3,
    "weight_counted": 3,
    "abstentions": 0,
    "ranking": ["a", "b"],
    "winner": "a",
    "ties_broken": [],
    "details": {"anything": {"the method": "writes"}},
}
CASES = [(SthEnvelope, STH), (RollEnvelope, ROLL), (ElectionEnvelope, ELECTION), (ResultEnvelope, RESULT)]


@pytest.mark.parametrize(("kind", "signed"), CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_a_signed_object_is_served_as_stored(kind: type, signed: dict[str, Any]) -> None:
    envelope = {"signed": signed, **SIG}
    assert msgspec.json.decode(msgspec.json.encode(msgspec.convert(envelope, kind))) == envelope


def _with_extra(signed: dict[str, Any], where: str) -> dict[str, Any]:
    copy = msgspec.json.decode(msgspec.json.encode(signed))
    if where == "top":
        copy["added_later"] = 1
    else:  # in a nested part of the signed object
        nested = copy.get("options") or copy.get("voters")
        nested[0]["added_later"] = 1
    return copy


@pytest.mark.parametrize(("kind", "signed", "where"), [(k, s, "top") for k, s in CASES] + [(ElectionEnvelope, ELECTION, "nested"), (RollEnvelope, ROLL, "nested")])
def test_a_signed_field_the_wire_type_does_not_know_is_refused_not_dropped(kind: type, signed: dict[str, Any], where: str) -> None:
    with pytest.raises(msgspec.ValidationError, match="added_later"):
        msgspec.convert({"signed": _with_extra(signed, where), **SIG}, kind)
