"""Wire types of the voting API (the ballot itself is parsed strictly by voting.core)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

Id = Annotated[int, Meta(ge=1, le=2**31 - 1)]
OptionId = Annotated[str, Meta(min_length=1, max_length=64)]


class KeyRegistration(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    assembly: Id
    public_key: Annotated[str, Meta(min_length=1, max_length=100)]


class RuleSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    majority: Annotated[str, Meta(max_length=16)]
    quorum_percent: Annotated[int, Meta(ge=0, le=100)]


class ElectionCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: Annotated[str, Meta(max_length=16)] = "amendments"
    provision: Id | None = None
    title: Annotated[str, Meta(max_length=300, pattern=r"^[^\x00]*$")] | None = None
    method: Annotated[str, Meta(max_length=16)] | None = None
    visibility: Annotated[str, Meta(max_length=16)] = "live"
    rule: RuleSpec | None = None
    order: Annotated[list[OptionId], Meta(max_length=200)] | None = None
    weights: dict[Annotated[str, Meta(max_length=64)], Annotated[int, Meta(ge=1, le=1_000_000)]] | None = None
    quorum_basis: Annotated[str, Meta(max_length=16)] = "all"  # all | present: who is on the roll when it opens
    named: bool = False  # a named (non-secret) vote: who has voted is published (the register)

    def spec(self) -> dict:
        out = {f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f) is not None}
        if self.rule is not None:
            out["rule"] = {"majority": self.rule.majority, "quorum_percent": self.rule.quorum_percent}
        return out


class ElectionUpdate(ElectionCreate, kw_only=True):
    kind: Annotated[str, Meta(max_length=16)] | None = None  # type: ignore[assignment]
    visibility: Annotated[str, Meta(max_length=16)] | None = None  # type: ignore[assignment]
    quorum_basis: Annotated[str, Meta(max_length=16)] | None = None  # type: ignore[assignment]
    named: bool | None = None  # type: ignore[assignment]


class ElectionOpen(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The optional body of `POST /api/elections/{eid}/open`: the chair's choice of basis, and
    whether the vote is named (its register of who has voted public); each left out keeps the
    election's own."""

    quorum_basis: Annotated[str, Meta(max_length=16)] | None = None
    named: bool | None = None


# -- responses -------------------------------------------------------------------------------------
# What the API sends (PROTOCOL §2, §3 and §5). Field order is the order on the wire: the services'
# dicts are converted with `msgspec.convert` and encoded in this order, which is the order in which
# the server builds its signed objects. `None` is sent as null; only UNSET fields are left out.


class Output(msgspec.Struct, kw_only=True):
    """A response body."""


class Signed(Output, forbid_unknown_fields=True, kw_only=True):
    """A signed object, or a part of one, as the server stored it. A field it does not know is
    refused, never dropped: an object served without one of its signed fields would fail every
    verifier's signature check (tests/unit/test_schemas.py)."""


class ServerKey(Output, kw_only=True):
    algorithm: Literal["ed25519"]
    public_key: str  # b64u
    key_id: str  # hex


class KeyRegistered(Output, kw_only=True):
    key_id: str
    status: str


class KeyView(Output, kw_only=True):
    key_id: str
    public_key: str
    status: str  # pending | approved | revoked
    assembly: int
    username: str | None
    created_at: str
    decided_at: str | None
    decided_by: str | None


class Option(Signed, kw_only=True):
    id: str
    label: str


class Rule(Signed, kw_only=True):
    majority: str
    quorum_percent: int


class SignedElection(Signed, kw_only=True):
    v: Literal[1]
    type: Literal["election"]
    id: str
    assembly: str
    agenda_item: str
    title: str
    options: list[Option]
    method: str
    visibility: str
    roll_digest: str
    opened_at: str
    rule: Rule | UnsetType = UNSET  # yes_no only


class ElectionEnvelope(Output, kw_only=True):
    signed: SignedElection
    signature: str
    signer: str


class RollVoter(Signed, kw_only=True):
    key_id: str
    public_key: str
    weight: int


class SignedRoll(Signed, kw_only=True):
    v: Literal[1]
    type: Literal["roll"]
    election: str
    voters: list[RollVoter]


class RollEnvelope(Output, kw_only=True):
    signed: SignedRoll
    signature: str
    signer: str


class SignedSth(Signed, kw_only=True):
    v: Literal[1]
    type: Literal["sth"]
    election: str
    tree_size: int
    root_hash: str
    timestamp: str


class SthEnvelope(Output, kw_only=True):
    signed: SignedSth
    signature: str
    signer: str


class SignedResult(Signed, kw_only=True):
    v: Literal[1]
    type: Literal["result"]
    election: str
    election_digest: str
    tree_size: int
    root_hash: str
    method: str
    counted: int
    weight_counted: int
    abstentions: int
    ranking: list[str]
    winner: str
    ties_broken: list[list[str]]
    details: dict[str, Any]  # method-specific (PROTOCOL §4)


class ResultEnvelope(Output, kw_only=True):
    signed: SignedResult
    signature: str
    signer: str


class Turnout(Output, kw_only=True):
    voted: int
    roll_size: int
    ballots: int


class ElectionView(Output, kw_only=True):
    id: str
    status: str  # draft | open | closed
    election: ElectionEnvelope | None  # None while draft
    assembly: int
    agenda_item: int
    provision: int | None
    kind: str
    title: str
    method: str
    visibility: str
    rule: Rule | None
    options: list[Option]
    weights: dict[str, int]
    tree_size: int
    root_hash: str | None
    created_at: str
    opened_at: str | None
    closed_at: str | None
    quorum_basis: str  # all | present (not signed: the roll says who was on it)
    present_at_open: int | None  # delegates checked in when the vote opened
    delegates_at_open: int | None  # delegates of the assembly when the vote opened
    checked_in_at_open: list[str] | None  # usernames of the delegates checked in when it opened
    left_off_roll: list[str] | None  # usernames of delegates with an approved key left off the roll: not checked in ("present" basis)
    named: bool  # a named (non-secret) vote: GET …/register says who has voted (not signed: the server's statement)
    turnout: Turnout | UnsetType = UNSET  # GET /api/elections/{eid} of an open or closed election


class RegisterEntry(Output, kw_only=True):
    username: str
    display_name: str
    key_id: str  # the member's key on the signed roll
    ballots: int  # ballots accepted from that key (changed votes included); 0: has not voted
    revision: int | None  # the highest revision accepted (the one counted); None: has not voted


class Register(Output, kw_only=True):
    """`GET /api/elections/{eid}/register` of a named vote: who on the roll has voted. Not signed:
    the server's statement of whose key is whose (the roll and the board name keys only)."""

    election: str
    status: str  # open | closed
    voted: int  # members with at least one ballot
    roll_size: int
    entries: list[RegisterEntry]  # every member on the roll, by display name


class InclusionProof(Output, kw_only=True):
    inclusion_proof: list[str]


class ConsistencyProof(Output, kw_only=True):
    consistency_proof: list[str]


class Tally(Output, kw_only=True):
    tree_size: int
    root_hash: str
    counted: int
    ranking: list[str]
    winner: str
    ties_broken: list[list[str]]
    details: dict[str, Any]


class Receipt(Output, kw_only=True):
    """Sent as stored bytes (voting.board); documented here."""

    seq: int
    leaf_hash: str
    sth: SthEnvelope
    inclusion_proof: list[str]


class Ballot(Signed, kw_only=True):
    v: Literal[1]
    type: Literal["ballot"]
    election: str
    election_digest: str
    voter: str
    revision: int
    ranking: list[str]
    nonce: str


class BallotEnvelope(Output, kw_only=True):
    signed: Ballot
    signature: str
    signer: str


class Leaf(Output, kw_only=True):
    """A board leaf as the board sends it: canonical JSON (keys sorted)."""

    ballot: BallotEnvelope
    received_at: str
    seq: int
    type: Literal["leaf"]
    v: Literal[1]


class BoardEntry(Output, kw_only=True):
    seq: int
    leaf: Leaf
    leaf_hash: str


class BoardPage(Output, kw_only=True):
    """Sent as pre-encoded bytes (voting.board.board_page); documented here."""

    entries: list[BoardEntry]
