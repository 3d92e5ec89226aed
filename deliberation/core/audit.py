"""Hash-chained, append-only audit log (pure part).

Entry ``seq`` (1, 2, 3, ...) carries ``prev_hash``, the hash of entry
``seq - 1`` (``GENESIS`` for the first), and its own ``hash``: the hex SHA-256
of the RFC 8785 canonical JSON of::

    {"prev": prev_hash, "seq": seq, "actor": actor, "action": action,
     "payload": payload, "at": created_at}

Payloads are JSON objects whose values are strings, integers (within the
I-JSON safe range, |n| <= 2**53 - 1), booleans, None, lists and objects with
string keys. Floats are refused: their canonical form is easy to get wrong
across languages.

``verify_chain`` catches any edit, deletion, insertion or reordering inside the
chain. It cannot notice that entries were cut off at the end; compare the last
hash (``chain_head``) with one kept elsewhere for that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785

from deliberation.core.errors import AuditChainError, InvalidInput

GENESIS = "0" * 64
MAX_SAFE_INT = 2**53 - 1
_HEX = frozenset("0123456789abcdef")


def _check_value(value: Any, where: str) -> None:
    if value is None or isinstance(value, (str, bool)):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput(f"{where} is not valid Unicode (lone surrogate)") from None
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise InvalidInput(f"{where} is {value}, outside the safe integer range ±{MAX_SAFE_INT}")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_value(item, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{where} has key {key!r} of type {type(key).__name__}, want str")
            _check_value(key, f"{where} key {key!r}")
            _check_value(item, f"{where}.{key}")
        return
    raise InvalidInput(f"{where} has type {type(value).__name__}; want str, int, bool, None, list or object")


def check_payload(payload: object) -> dict:
    """Return ``payload`` if it is an allowed audit payload, else raise InvalidInput."""
    if not isinstance(payload, dict):
        raise InvalidInput(f"audit payload must be an object, got {type(payload).__name__}")
    _check_value(payload, "payload")
    return payload


def canonical_entry_bytes(prev_hash: str, seq: int, actor: str | None, action: str, payload: dict, created_at: str) -> bytes:
    """The RFC 8785 canonical JSON that ``compute_entry_hash`` hashes."""
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise InvalidInput(f"seq must be an integer, got {type(seq).__name__}")
    _check_value(seq, "seq")
    if actor is not None and not isinstance(actor, str):
        raise InvalidInput(f"actor must be a string or null, got {type(actor).__name__}")
    _check_value(actor, "actor")
    for name, value in (("prev_hash", prev_hash), ("action", action), ("created_at", created_at)):
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string, got {type(value).__name__}")
        _check_value(value, name)
    check_payload(payload)
    doc = {
        "prev": prev_hash,
        "seq": seq,
        "actor": actor,
        "action": action,
        "payload": payload,
        "at": created_at,
    }
    try:
        return rfc8785.dumps(doc)
    except rfc8785.CanonicalizationError as exc:  # pragma: no cover - pre-checked above
        raise InvalidInput(f"audit entry cannot be canonicalised: {exc}") from None


def compute_entry_hash(prev_hash: str, seq: int, actor: str | None, action: str, payload: dict, created_at: str) -> str:
    """Hex SHA-256 of the canonical JSON of the entry (see module doc)."""
    data = canonical_entry_bytes(prev_hash, seq, actor, action, payload, created_at)
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    actor: str | None
    action: str
    payload: dict
    created_at: str
    prev_hash: str
    hash: str


def next_entry(prev: AuditEntry | None, actor: str | None, action: str, payload: dict, created_at: str) -> AuditEntry:
    """Build the entry that follows ``prev`` (None: the first entry of a chain)."""
    seq = 1 if prev is None else prev.seq + 1
    prev_hash = GENESIS if prev is None else prev.hash
    digest = compute_entry_hash(prev_hash, seq, actor, action, payload, created_at)
    return AuditEntry(seq, actor, action, payload, created_at, prev_hash, digest)


def chain_head(entries: Sequence[AuditEntry]) -> str:
    """The hash of the last entry, or GENESIS for an empty chain."""
    return entries[-1].hash if entries else GENESIS


def verify_chain(entries: Sequence[AuditEntry]) -> None:
    """Raise AuditChainError (``index`` = 0-based position) unless the chain is intact.

    Checks, entry by entry: ``seq`` is its position + 1; ``prev_hash`` is the
    previous entry's hash (GENESIS for the first); ``hash`` recomputes.
    """
    expected_prev = GENESIS
    for index, entry in enumerate(entries):
        want_seq = index + 1
        if entry.seq != want_seq:
            raise AuditChainError(f"audit entry {index} has seq {entry.seq!r}, want {want_seq}", index)
        if entry.prev_hash != expected_prev:
            raise AuditChainError(
                f"audit entry {index} (seq {entry.seq}) has prev_hash {entry.prev_hash!r}, want {expected_prev!r}",
                index,
            )
        try:
            recomputed = compute_entry_hash(entry.prev_hash, entry.seq, entry.actor, entry.action, entry.payload, entry.created_at)
        except InvalidInput as exc:
            raise AuditChainError(f"audit entry {index} (seq {entry.seq}) cannot be hashed: {exc}", index) from None
        if entry.hash != recomputed:
            raise AuditChainError(
                f"audit entry {index} (seq {entry.seq}) has hash {entry.hash!r}, recomputed {recomputed!r}",
                index,
            )
        expected_prev = entry.hash


def entry_to_dict(entry: AuditEntry) -> dict:
    """The export form of an entry; ``entry_from_dict`` reads it back."""
    return {
        "seq": entry.seq,
        "actor": entry.actor,
        "action": entry.action,
        "payload": entry.payload,
        "created_at": entry.created_at,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _is_hash(value: str) -> bool:
    return len(value) == 64 and set(value) <= _HEX


def entry_from_dict(d: object) -> AuditEntry:
    """Parse one exported entry; raise InvalidInput on a bad shape.

    Keys other than the seven fields of ``AuditEntry`` are ignored, so an
    export may carry extras such as a database id.
    """
    if not isinstance(d, Mapping):
        raise InvalidInput(f"audit entry must be an object, got {type(d).__name__}")
    missing = [k for k in ("seq", "actor", "action", "payload", "created_at", "prev_hash", "hash") if k not in d]
    if missing:
        raise InvalidInput(f"audit entry is missing {', '.join(missing)}")
    seq = d["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise InvalidInput(f"audit entry seq must be a positive integer, got {seq!r}")
    actor = d["actor"]
    if actor is not None and not isinstance(actor, str):
        raise InvalidInput(f"audit entry actor must be a string or null, got {type(actor).__name__}")
    for key in ("action", "created_at", "prev_hash", "hash"):
        if not isinstance(d[key], str):
            raise InvalidInput(f"audit entry {key} must be a string, got {type(d[key]).__name__}")
    for key in ("prev_hash", "hash"):
        if not _is_hash(d[key]):
            raise InvalidInput(f"audit entry {key} must be 64 lowercase hex digits, got {d[key]!r}")
    payload = check_payload(d["payload"])
    return AuditEntry(
        seq=seq,
        actor=actor,
        action=d["action"],
        payload=payload,
        created_at=d["created_at"],
        prev_hash=d["prev_hash"],
        hash=d["hash"],
    )
