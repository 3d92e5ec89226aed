"""Typed validation of the PROTOCOL §2–3 objects, from already-parsed JSON.

Every parser checks the exact field set and each field's type and raises
:class:`MalformedError` naming the field (``ballot.revision: want ...``). They never
check things that need other state (unknown or repeated option ids, revisions, roll
membership): those are separate, later checks of PROTOCOL §5.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .encoding import b64u_decode, b64u_decode_matched, b64u_encode, jcs, parse_time, sha256
from .errors import BadKeyError, BadSignatureError, MalformedError, WrongElectionError
from .keys import check_public_key, check_public_key_encoding, key_id, verify_signature
from .merkle import leaf_hash, verify_inclusion

__all__ = [
    "METHODS",
    "Ballot",
    "Election",
    "Envelope",
    "Leaf",
    "Option",
    "Receipt",
    "Result",
    "Roll",
    "RollVoter",
    "Rule",
    "Sth",
    "BALLOT_LEAF_RE",
    "ballot_leaf_bytes",
    "ballot_leaf_pattern",
    "compute_leaf_hash",
    "digest",
    "make_leaf",
    "parse_ballot",
    "parse_ballot_envelope",
    "parse_election",
    "parse_envelope",
    "parse_leaf",
    "parse_receipt",
    "parse_result",
    "parse_roll",
    "read_roll",
    "parse_sth",
    "verify_ballot_election",
    "verify_envelope",
    "verify_receipt",
]

METHODS = frozenset({"schulze", "ranked_pairs", "irv", "borda", "plurality", "yes_no"})
MAJORITIES = frozenset({"simple", "absolute", "two_thirds"})
VISIBILITIES = frozenset({"live", "after_close"})
YES_NO_OPTIONS = frozenset({"yes", "no", "abstain"})
NONCE_SIZE = 16
_HEX64 = re.compile(r"[0-9a-f]{64}")
_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "integer", bool: "boolean", float: "number", type(None): "null"}


# --- field helpers -----------------------------------------------------------------------


def _kind(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _fail(where: str, want: str, value: Any) -> MalformedError:
    short = (isinstance(value, str) and len(value) <= 78) or (isinstance(value, int) and abs(value) < 10**20)
    shown = repr(value) if short else _kind(value)
    return MalformedError(f"{where}: want {want}, got {shown}")


def _fields(obj: Any, where: str, required: set[str], optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _fail(where, "an object", obj)
    if obj.keys() == required:  # the usual case, without building the differences
        return obj
    missing = sorted(required - obj.keys(), key=str)
    if missing:
        raise MalformedError(f"{where}.{missing[0]}: missing field")
    extra = sorted(obj.keys() - required - optional, key=str)
    if extra:
        raise MalformedError(f"{where}.{extra[0]}: unexpected field")
    return obj


def _str(obj: dict[str, Any], where: str, name: str, *, nonempty: bool = False) -> str:
    value = obj[name]
    if not isinstance(value, str) or (nonempty and not value):
        raise _fail(f"{where}.{name}", "a non-empty string" if nonempty else "a string", value)
    return value


def _int(obj: dict[str, Any], where: str, name: str, minimum: int = 0, maximum: int | None = None) -> int:
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        bounds = f" <= {maximum}" if maximum is not None else ""
        raise _fail(f"{where}.{name}", f"an integer >= {minimum}{bounds}", value)
    return value


def _hex64(obj: dict[str, Any], where: str, name: str) -> str:
    value = obj[name]
    if not isinstance(value, str) or _HEX64.fullmatch(value) is None:
        raise _fail(f"{where}.{name}", "64 lowercase hex characters", value)
    return value


def _b64u(obj: dict[str, Any], where: str, name: str) -> bytes:
    try:
        return b64u_decode(obj[name])
    except MalformedError as exc:
        raise MalformedError(f"{where}.{name}: {exc}") from None


def _enum(obj: dict[str, Any], where: str, name: str, allowed: frozenset[str]) -> str:
    value = obj[name]
    if not isinstance(value, str) or value not in allowed:
        raise _fail(f"{where}.{name}", "one of " + ", ".join(sorted(allowed)), value)
    return value


def _time(obj: dict[str, Any], where: str, name: str) -> str:
    value: str = obj[name]
    try:
        parse_time(value)
    except MalformedError as exc:
        raise MalformedError(f"{where}.{name}: {exc}") from None
    return value


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(where, "an array of strings", value)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _fail(f"{where}[{i}]", "a string", item)
    return tuple(value)


def _check_v_type(signed: dict[str, Any], type_: str) -> None:
    for name in ("v", "type"):
        if name not in signed:
            raise MalformedError(f"{type_}.{name}: missing field")
    if type(signed["v"]) is not int or signed["v"] != 1:
        raise _fail(f"{type_}.v", "1", signed["v"])
    if signed["type"] != type_:
        raise _fail(f"{type_}.type", repr(type_), signed["type"])


def _header(obj: Any, type_: str, fields: set[str], optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Check ``v`` and ``type`` first (domain separation), then the exact field set."""
    if not isinstance(obj, dict):
        raise _fail(type_, "an object", obj)
    _check_v_type(obj, type_)
    return _fields(obj, type_, fields | {"v", "type"}, optional)


def digest(signed: dict[str, Any]) -> str:
    """``hex(H(JCS(signed)))``: the election digest, the roll digest."""
    return sha256(jcs(signed)).hex()


# --- envelopes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """``{"signed", "signature", "signer"}`` with the signature decoded."""

    signed: dict[str, Any]
    signature: bytes
    signer: str

    def to_json(self) -> dict[str, Any]:
        """The wire form."""
        return {"signed": self.signed, "signature": b64u_encode(self.signature), "signer": self.signer}


def parse_envelope(obj: Any, expected_type: str) -> Envelope:
    """Check the envelope and the ``v``/``type`` header of its signed object (domain separation)."""
    where = f"{expected_type} envelope"
    _fields(obj, where, {"signed", "signature", "signer"})
    signed = obj["signed"]
    if not isinstance(signed, dict):
        raise _fail(f"{where}.signed", "an object", signed)
    _check_v_type(signed, expected_type)
    signature = _b64u(obj, where, "signature")
    if len(signature) != 64:
        raise MalformedError(f"{where}.signature: wrong size {len(signature)}, want 64 bytes")
    return Envelope(signed, signature, _hex64(obj, where, "signer"))


def verify_envelope(env: Envelope, raw_public_key: bytes) -> None:
    """Check that ``env.signer`` is this key and that the signature over ``JCS(signed)`` verifies."""
    expected = key_id(raw_public_key)
    if env.signer != expected:
        raise BadSignatureError(f"signer {env.signer} is not the expected key {expected}")
    verify_signature(raw_public_key, jcs(env.signed), env.signature)


# --- ballot ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ballot:
    election: str
    election_digest: str
    voter: str
    revision: int
    ranking: tuple[str, ...]
    nonce: bytes


def parse_ballot(signed: Any) -> Ballot:
    """Validate a ballot's signed object (PROTOCOL §3), types only (not option ids)."""
    where = "ballot"
    s = _header(signed, "ballot", {"election", "election_digest", "voter", "revision", "ranking", "nonce"})
    nonce = _b64u(s, where, "nonce")
    if len(nonce) != NONCE_SIZE:
        raise MalformedError(f"{where}.nonce: wrong size {len(nonce)}, want {NONCE_SIZE} bytes")
    return Ballot(_str(s, where, "election"), _hex64(s, where, "election_digest"), _hex64(s, where, "voter"), _int(s, where, "revision", 1), _str_list(s["ranking"], f"{where}.ranking"), nonce)


def parse_ballot_envelope(obj: Any) -> tuple[Envelope, Ballot]:
    """Envelope and ballot together; the envelope's ``signer`` must equal ``voter`` (malformed otherwise)."""
    env = parse_envelope(obj, "ballot")
    ballot = parse_ballot(env.signed)
    if env.signer != ballot.voter:
        raise MalformedError(f"ballot envelope.signer: want the voter {ballot.voter}, got {env.signer}")
    return env, ballot


def verify_ballot_election(ballot: Ballot, election_id: str, election_digest: str) -> None:
    """PROTOCOL §5 #3. Raises :class:`WrongElectionError`."""
    if ballot.election != election_id:
        raise WrongElectionError(f"ballot.election: want {election_id!r}, got {ballot.election!r}")
    if ballot.election_digest != election_digest:
        raise WrongElectionError(f"ballot.election_digest: want {election_digest}, got {ballot.election_digest}")


# --- election and roll -------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    id: str
    label: str


@dataclass(frozen=True)
class Rule:
    majority: str
    quorum_percent: int


@dataclass(frozen=True)
class Election:
    id: str
    assembly: str
    agenda_item: str
    title: str
    options: tuple[Option, ...]
    method: str
    rule: Rule | None
    visibility: str
    roll_digest: str
    opened_at: str

    @property
    def option_ids(self) -> tuple[str, ...]:
        """Option ids in the tie-break order."""
        return tuple(option.id for option in self.options)


def parse_election(signed: Any) -> Election:
    """Validate an election's signed object. ``rule`` is required for ``yes_no`` and absent otherwise."""
    where = "election"
    fields = {"id", "assembly", "agenda_item", "title", "options", "method", "visibility", "roll_digest", "opened_at"}
    s = _header(signed, "election", fields, frozenset({"rule"}))
    method = _enum(s, where, "method", METHODS)
    if not isinstance(s["options"], list) or not s["options"]:
        raise _fail(f"{where}.options", "a non-empty array", s["options"])
    options: list[Option] = []
    for i, item in enumerate(s["options"]):
        at = f"{where}.options[{i}]"
        _fields(item, at, {"id", "label"})
        options.append(Option(_str(item, at, "id", nonempty=True), _str(item, at, "label")))
    ids = [option.id for option in options]
    if len(set(ids)) != len(ids):
        raise MalformedError(f"{where}.options: option ids must be unique, got {ids}")
    rule: Rule | None = None
    if method == "yes_no":
        if set(ids) != YES_NO_OPTIONS:
            raise MalformedError(f"{where}.options: yes_no needs the options yes, no, abstain, got {ids}")
        if "rule" not in s:
            raise MalformedError(f"{where}.rule: missing field (required for yes_no)")
        _fields(s["rule"], f"{where}.rule", {"majority", "quorum_percent"})
        rule = Rule(_enum(s["rule"], f"{where}.rule", "majority", MAJORITIES), _int(s["rule"], f"{where}.rule", "quorum_percent", 0, 100))
    elif "rule" in s:
        raise MalformedError(f"{where}.rule: unexpected field (only for yes_no)")
    return Election(
        _str(s, where, "id"),
        _str(s, where, "assembly"),
        _str(s, where, "agenda_item"),
        _str(s, where, "title"),
        tuple(options),
        method,
        rule,
        _enum(s, where, "visibility", VISIBILITIES),
        _hex64(s, where, "roll_digest"),
        _time(s, where, "opened_at"),
    )


@dataclass(frozen=True)
class RollVoter:
    key_id: str
    public_key: bytes
    weight: int


@dataclass(frozen=True)
class Roll:
    election: str
    voters: tuple[RollVoter, ...]
    _by_key_id: dict[str, RollVoter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key_id", {voter.key_id: voter for voter in self.voters})

    def get(self, voter_key_id: str) -> RollVoter | None:
        """The roll entry of a key id, or None when the key is not on the roll."""
        return self._by_key_id.get(voter_key_id)

    @property
    def total_weight(self) -> int:
        return sum(voter.weight for voter in self.voters)


def parse_roll(signed: Any, *, decode_points: bool = True) -> Roll:
    """Validate a roll: voters sorted strictly by key_id, each key checked and matching its key_id
    (:func:`read_roll`, the first problem raised as :class:`MalformedError`).

    `decode_points=False` is for the server reloading a roll it built and signed itself, from its
    own database: every key on it passed :func:`check_public_key` when it was registered. The
    checks of the encoding stay (size, y < p, the small-order rule:
    :func:`check_public_key_encoding`); the point's decoding, ~120 µs of field arithmetic a key,
    is skipped (it had cost each serving process 1.2 s of event loop for a roll of 10,000 at the
    first ballot of a vote). A stored key that were no point could verify no signature."""

    def refuse(check: str, message: str) -> None:
        raise MalformedError(message)

    roll, _ = read_roll(signed, refuse)
    if decode_points:
        for i, voter in enumerate(roll.voters):  # every entry was read: the indexes are the roll's
            try:
                check_public_key(voter.public_key)
            except BadKeyError as exc:
                raise MalformedError(f"roll.voters[{i}].public_key: {exc}") from None
    return roll


# A roll entry of exactly the three fields, its key the canonical b64u of 32 bytes (43 characters,
# the last 2 bits zero) whose hash is its key_id (which makes key_id 64 lowercase hex digits):
# such an entry is read without the field checks, which would all pass.
_KEY_B64_RE = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


def read_roll(signed: Any, report: Callable[[str, str], None]) -> tuple[Roll, set[str]]:
    """The roll with the entries that pass PROTOCOL §2's checks, and the key ids of the entries
    whose key is unusable; every other entry's problem goes to ``report(check, message)``.

    The checks: ``roll.voter`` (the entry's fields, a key_id that is not the hash of the key),
    ``roll.order`` (voters sorted strictly by key_id; the entry is kept), ``roll.public_key``
    (size, y < p, the small-order rule: :func:`check_public_key_encoding`; the entry is left
    out). The point's decoding is the caller's: :func:`parse_roll` decodes every key, the
    verifier only those no valid signature has proven to be a point. A roll whose header is
    wrong raises :class:`MalformedError` (there are no entries to read).
    """
    where = "roll"
    s = _header(signed, "roll", {"election", "voters"})
    election = _str(s, where, "election")
    if not isinstance(s["voters"], list):
        raise _fail(f"{where}.voters", "an array", s["voters"])
    voters: list[RollVoter] = []
    bad_keys: set[str] = set()
    previous = ""
    for i, item in enumerate(s["voters"]):
        if (
            type(item) is dict
            and len(item) == 3
            and type(kid := item.get("key_id")) is str
            and type(b64 := item.get("public_key")) is str
            and type(weight := item.get("weight")) is int
            and weight >= 1
            and _KEY_B64_RE.fullmatch(b64)
            and sha256(raw := b64u_decode_matched(b64.encode())).hex() == kid
        ):
            pass
        else:
            at = f"{where}.voters[{i}]"
            try:
                _fields(item, at, {"key_id", "public_key", "weight"})
                kid = _hex64(item, at, "key_id")
                weight = _int(item, at, "weight", 1)
                raw = _b64u(item, at, "public_key")
                if key_id(raw) != kid:
                    raise MalformedError(f"{at}.key_id: want {key_id(raw)} (the hash of public_key), got {kid}")
            except MalformedError as exc:
                report("roll.voter", str(exc))
                continue
        if kid <= previous:
            report("roll.order", f"roll.voters[{i}].key_id: voters must be sorted strictly by key_id, {kid} after {previous}")
        else:
            previous = kid
        try:
            check_public_key_encoding(raw)
        except BadKeyError as exc:
            report("roll.public_key", f"roll.voters[{i}].public_key: {exc}")
            bad_keys.add(kid)
            continue
        voters.append(RollVoter(kid, raw, weight))
    return Roll(election, tuple(voters)), bad_keys


# --- board, tree heads, receipts, result -------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    seq: int
    ballot: dict[str, Any]  # the ballot envelope as received; check it with parse_ballot_envelope
    received_at: str


def make_leaf(seq: int, ballot_envelope: dict[str, Any], received_at: str) -> dict[str, Any]:
    """The board leaf object of PROTOCOL §3."""
    return {"v": 1, "type": "leaf", "seq": seq, "ballot": ballot_envelope, "received_at": received_at}


#: The bytes of ``JCS(leaf)`` for a ballot envelope that passed :func:`parse_ballot_envelope`:
#: JCS sorts the leaf's keys (``ballot``, ``received_at``, ``seq``, ``type``, ``v``) and the
#: envelope's (``signature``, ``signed``, ``signer``); the signature (canonical b64u), the signer
#: (64 hex digits) and ``received_at`` (:func:`format_time`) are strings that JSON writes without
#: escapes. Written by :func:`ballot_leaf_bytes`, read back by :data:`BALLOT_LEAF_RE`.
_LEAF_LAYOUT = b'{"ballot":{"signature":"%s","signed":%s,"signer":"%s"},"received_at":"%s","seq":%d,"type":"leaf","v":1}'


def ballot_leaf_bytes(seq: int, signature_b64u: str | bytes, signed_jcs: bytes, signer: str | bytes, received_at: str | bytes) -> bytes:
    """``JCS(make_leaf(seq, envelope, received_at))`` put together from its parts, for an envelope
    that passed :func:`parse_ballot_envelope` and whose ``JCS(signed)`` is ``signed_jcs`` (the
    ballot path and the board file's reader build every leaf this way instead of encoding the
    whole object again). The strings may come as text or as their ASCII bytes."""
    return _LEAF_LAYOUT % (
        signature_b64u.encode() if isinstance(signature_b64u, str) else signature_b64u,
        signed_jcs,
        signer.encode() if isinstance(signer, str) else signer,
        received_at.encode() if isinstance(received_at, str) else received_at,
        seq,
    )


#: The JSON text of a string: with escapes (:data:`JSON_STR`), or plain (:data:`PLAIN_STR`: no
#: escape, no control character).
JSON_STR = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
PLAIN_STR = rb'"[^"\\\x00-\x1f]*"'
HEX64_BYTES = rb"[0-9a-f]{64}"
B64U_16_BYTES = rb"[A-Za-z0-9_-]{21}[AQgw]"  # 16 bytes: 22 characters, the last 4 bits zero
B64U_64_BYTES = rb"[A-Za-z0-9_-]{85}[AQgw]"  # 64 bytes: 86 characters, the last 4 bits zero
TIME_BYTES = rb"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z"


def ballot_leaf_pattern(string: bytes = JSON_STR, digits: int = 16) -> bytes:
    """The leaf bytes of :func:`ballot_leaf_bytes` as a regular expression, for reading a leaf
    back without parsing it: named groups ``signature``, ``signed`` (JCS of the ballot),
    ``election``, ``digest``, ``ranking`` (between its brackets), ``revision``, ``voter``,
    ``signer``, ``received_at``, ``date`` (of ``received_at``: check that the day exists) and
    ``seq``. ``string`` is the pattern of a JSON string (:data:`JSON_STR` or :data:`PLAIN_STR`);
    integers have at most ``digits`` digits (15: certainly within ±(2^53-1); with 16 the caller
    checks the range). A match is a leaf of the right shape;
    the caller still checks ``voter == signer`` and the date."""
    integer = rb"[1-9][0-9]{0,%d}" % (digits - 1)
    return (
        rb'(?P<leaf>{"ballot":{"signature":"(?P<signature>' + B64U_64_BYTES + rb')","signed":(?P<signed>'
        rb'{"election":(?P<election>' + string + rb'),"election_digest":"(?P<digest>' + HEX64_BYTES + rb')",'
        rb'"nonce":"' + B64U_16_BYTES + rb'","ranking":\[(?P<ranking>' + string + rb"(?:," + string + rb")*)?\],"
        rb'"revision":(?P<revision>' + integer + rb'),"type":"ballot","v":1,"voter":"(?P<voter>' + HEX64_BYTES + rb')"})'
        rb',"signer":"(?P<signer>' + HEX64_BYTES + rb')"},"received_at":"(?P<received_at>' + TIME_BYTES + rb')",'
        rb'"seq":(?P<seq>0|' + integer + rb'),"type":"leaf","v":1})'
    )


#: :func:`ballot_leaf_pattern` compiled, strings with escapes allowed.
BALLOT_LEAF_RE = re.compile(ballot_leaf_pattern())


def compute_leaf_hash(leaf: dict[str, Any]) -> bytes:
    """``H(0x00 || JCS(leaf))``."""
    return leaf_hash(jcs(leaf))


def parse_leaf(obj: Any) -> Leaf:
    """Validate a leaf's own fields; the embedded ballot envelope is only checked to be an object."""
    where = "leaf"
    s = _header(obj, "leaf", {"seq", "ballot", "received_at"})
    if not isinstance(s["ballot"], dict):
        raise _fail(f"{where}.ballot", "an object", s["ballot"])
    return Leaf(_int(s, where, "seq"), s["ballot"], _time(s, where, "received_at"))


@dataclass(frozen=True)
class Sth:
    election: str
    tree_size: int
    root_hash: bytes
    timestamp: str


def parse_sth(signed: Any) -> Sth:
    """Validate a signed tree head's signed object."""
    where = "sth"
    s = _header(signed, "sth", {"election", "tree_size", "root_hash", "timestamp"})
    return Sth(_str(s, where, "election"), _int(s, where, "tree_size"), bytes.fromhex(_hex64(s, where, "root_hash")), _time(s, where, "timestamp"))


@dataclass(frozen=True)
class Receipt:
    seq: int
    leaf_hash: bytes
    sth: Envelope
    inclusion_proof: tuple[bytes, ...]


def parse_receipt(obj: Any) -> Receipt:
    """Validate a receipt (not signed itself; its sth is)."""
    where = "receipt"
    _fields(obj, where, {"seq", "leaf_hash", "sth", "inclusion_proof"})
    proof = _str_list(obj["inclusion_proof"], f"{where}.inclusion_proof")
    for i, item in enumerate(proof):
        if _HEX64.fullmatch(item) is None:
            raise _fail(f"{where}.inclusion_proof[{i}]", "64 lowercase hex characters", item)
    return Receipt(_int(obj, where, "seq"), bytes.fromhex(_hex64(obj, where, "leaf_hash")), parse_envelope(obj["sth"], "sth"), tuple(bytes.fromhex(item) for item in proof))


def verify_receipt(receipt: Receipt, expected_leaf_hash: bytes, server_public_key: bytes, election_id: str) -> Sth:
    """Check from the receipt alone that the leaf is in a tree the server signed (PROTOCOL §3).

    Raises :class:`BadSignatureError`, :class:`MalformedError`, :class:`WrongElectionError`
    or :class:`ProofError`; returns the tree head.
    """
    if receipt.leaf_hash != expected_leaf_hash:
        raise MalformedError(f"receipt.leaf_hash: want {expected_leaf_hash.hex()}, got {receipt.leaf_hash.hex()}")
    verify_envelope(receipt.sth, server_public_key)
    sth = parse_sth(receipt.sth.signed)
    if sth.election != election_id:
        raise WrongElectionError(f"sth.election: want {election_id!r}, got {sth.election!r}")
    if sth.tree_size <= receipt.seq:
        raise MalformedError(f"sth.tree_size: want more than seq {receipt.seq}, got {sth.tree_size}")
    verify_inclusion(receipt.seq, sth.tree_size, receipt.leaf_hash, receipt.inclusion_proof, sth.root_hash)
    return sth


@dataclass(frozen=True)
class Result:
    election: str
    election_digest: str
    tree_size: int
    root_hash: bytes
    method: str
    counted: int
    weight_counted: int
    abstentions: int
    ranking: tuple[str, ...]
    winner: str
    ties_broken: tuple[tuple[str, ...], ...]
    details: dict[str, Any]


def parse_result(signed: Any) -> Result:
    """Validate a result's signed object; ``details`` is only checked to be an object."""
    where = "result"
    fields = {"election", "election_digest", "tree_size", "root_hash", "method", "counted", "weight_counted", "abstentions", "ranking", "winner", "ties_broken", "details"}
    s = _header(signed, "result", fields)
    method = _enum(s, where, "method", METHODS)
    counted = _int(s, where, "counted")
    abstentions = _int(s, where, "abstentions", 0, counted)
    ranking = _str_list(s["ranking"], f"{where}.ranking")
    winner = _str(s, where, "winner")
    if method == "yes_no":
        if winner not in ("yes", "no"):
            raise _fail(f"{where}.winner", "'yes' or 'no' for yes_no", winner)
    elif not ranking or winner != ranking[0]:
        raise _fail(f"{where}.winner", "the first option of ranking", winner)
    if not isinstance(s["ties_broken"], list):
        raise _fail(f"{where}.ties_broken", "an array of arrays", s["ties_broken"])
    ties = tuple(_str_list(group, f"{where}.ties_broken[{i}]") for i, group in enumerate(s["ties_broken"]))
    if not isinstance(s["details"], dict):
        raise _fail(f"{where}.details", "an object", s["details"])
    return Result(
        _str(s, where, "election"),
        _hex64(s, where, "election_digest"),
        _int(s, where, "tree_size"),
        bytes.fromhex(_hex64(s, where, "root_hash")),
        method,
        counted,
        _int(s, where, "weight_counted"),
        abstentions,
        ranking,
        winner,
        ties,
        s["details"],
    )
