"""HTTP handlers of the voting API (PROTOCOL §5)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from litestar import MediaType, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody
from litestar.params import FromPath, FromQuery, JSONBody
from msgspec import convert

from deliberation.common import load
from kurultai.web.deliberation_api import load_assembly
from deliberation.context import Ctx
from deliberation.tables import AgendaItem
from kurultai.web.auth import Principal, RateLimiter, RedisRateLimiter, make_rate_limiter, require_moderator, require_role, require_user
from kurultai.web.errors import ApiError
from deliberation.core.errors import IllegalTransition
from voting import elections, keys
from voting.board import Board, ElectionState, board_page, stored_roll
from voting.core.errors import VotingError
from voting.core.signed import RollVoter
from voting.live import tally_payload
from voting.register import register
from voting.schemas import (
    BoardPage,
    ConsistencyProof,
    ElectionCreate,
    ElectionOpen,
    ElectionUpdate,
    ElectionView,
    InclusionProof,
    KeyRegistered,
    KeyRegistration,
    KeyView,
    Receipt,
    Register,
    ResultEnvelope,
    RollEnvelope,
    ServerKey,
    SthEnvelope,
    Tally,
)
from voting.server_key import public_view

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]
BALLOT_MAX_BYTES = 64 * 1024
BOARD_PAGE = 5000


def _board(request: Request) -> Board:
    return request.app.state.board


def make_ballot_limiters(settings: Any) -> tuple[RateLimiter | RedisRateLimiter, RateLimiter | RedisRateLimiter]:
    """(per client address, per voter key): in Redis when it is configured, like the login limit."""
    return (
        make_rate_limiter(settings, "ballot-client", settings.ballot_client_rate_per_minute),
        make_rate_limiter(settings, "ballot-key", settings.ballot_rate_per_minute),
    )


async def _rate_limited(limiter: RateLimiter | RedisRateLimiter, key: str, what: str) -> NoReturn:
    raise ApiError(429, "rate_limited", f"too many ballots {what}; retry in {await limiter.retry_after(key)} s")


@get("/api/server-key", tags=["voting"])
async def server_key_h(request: Request) -> ServerKey:
    return convert(public_view(request.app.state.signer), ServerKey)


# -- keys -------------------------------------------------------------------------------------


@post("/api/me/keys", tags=["keys"], status_code=201)
async def register_key_h(data: JSONBody[KeyRegistration], principal: P, ctx: C) -> KeyRegistered:
    await load_assembly(data.assembly)
    p = await require_role(data.assembly, principal, "delegate")
    return convert(await keys.register(ctx, data.assembly, p.id, p.username, data.public_key), KeyRegistered)


@get("/api/me/keys", tags=["keys"])
async def my_keys_h(principal: P) -> list[KeyView]:
    p = require_user(principal)
    return convert(await keys.my_keys(p.id), list[KeyView])


@get("/api/assemblies/{aid:int}/keys", tags=["keys"])
async def list_keys_h(aid: FromPath[int], principal: P) -> list[KeyView]:
    await load_assembly(aid)
    await require_moderator(aid, principal)
    return convert(await keys.list_keys(aid), list[KeyView])


@post("/api/assemblies/{aid:int}/keys/{key_id:str}/approve", tags=["keys"], status_code=200)
async def approve_key_h(aid: FromPath[int], key_id: FromPath[str], principal: P, ctx: C) -> KeyView:
    await load_assembly(aid)
    p = await require_moderator(aid, principal)
    return convert(await keys.decide(ctx, aid, key_id, p.username, "approve"), KeyView)


@post("/api/assemblies/{aid:int}/keys/approve-pending", tags=["keys"], status_code=200)
async def approve_pending_h(aid: FromPath[int], principal: P, ctx: C) -> list[KeyView]:
    """Approve every key that waits for approval (each approval audited as one by one): what a
    chair does before opening a vote, so that nobody who registered is left off the roll."""
    await load_assembly(aid)
    p = await require_moderator(aid, principal)
    done = []
    for k in await keys.list_keys(aid):
        if k["status"] == "pending":
            try:
                done.append(await keys.decide(ctx, aid, k["key_id"], p.username, "approve"))
            except IllegalTransition:  # decided meanwhile (approved by another chair, or revoked)
                continue
    return convert(done, list[KeyView])


@post("/api/assemblies/{aid:int}/keys/{key_id:str}/revoke", tags=["keys"], status_code=200)
async def revoke_key_h(aid: FromPath[int], key_id: FromPath[str], principal: P, ctx: C) -> KeyView:
    """A moderator revokes any key; a delegate may revoke their own (a lost device)."""
    await load_assembly(aid)
    p = require_user(principal)
    try:
        p = await require_moderator(aid, p)
        return convert(await keys.decide(ctx, aid, key_id, p.username, "revoke"), KeyView)
    except ApiError:
        p = await require_role(aid, principal, "delegate")
        return convert(await keys.decide(ctx, aid, key_id, p.username, "revoke", owner_id=p.id), KeyView)


# -- elections -----------------------------------------------------------------------------------


@get("/api/assemblies/{aid:int}/elections", tags=["elections"])
async def list_elections_h(aid: FromPath[int]) -> list[ElectionView]:
    await load_assembly(aid)
    return convert(await elections.list_elections(aid), list[ElectionView])


@post("/api/agenda/{iid:int}/elections", tags=["elections"], status_code=201)
async def create_election_h(request: Request, iid: FromPath[int], data: JSONBody[ElectionCreate], principal: P, ctx: C) -> ElectionView:
    item = await load(AgendaItem, iid, "agenda item")
    p = await require_moderator(item["assembly"], principal)
    from kurultai.web.pages import request_lang

    lang = request_lang(request)  # a title the chair did not give is made in the chair's language

    def title_for(kind: str, number: str | None, item_title: str) -> str:
        if kind == "amendments":
            return str(lang.tr.gettext("Amendments to Article %(number)s") % {"number": number})
        return str(lang.tr.gettext("Final vote: %(title)s") % {"title": item_title})

    return convert(await elections.create_election(ctx, iid, p.username, data.spec(), title_for), ElectionView)


@patch("/api/elections/{eid:int}", tags=["elections"])
async def update_election_h(eid: FromPath[int], data: JSONBody[ElectionUpdate], principal: P, ctx: C) -> ElectionView:
    row = await elections.require_row(eid)
    p = await require_moderator(row["assembly"], principal)
    return convert(await elections.update_election(ctx, eid, p.username, data.spec()), ElectionView)


@post("/api/elections/{eid:int}/open", tags=["elections"], status_code=200)
async def open_election_h(request: Request, eid: FromPath[int], principal: P, ctx: C, data: JSONBody[ElectionOpen | None] = None) -> ElectionView:
    """Open the vote: freeze the options and the roll, sign them. The optional body
    `{"quorum_basis": "all"|"present", "named": true|false}` chooses who is on the roll (default:
    the election's own, itself "all" unless set): "present" takes only the delegates checked in
    now; and whether the vote is named (its register of who has voted public; default: the
    election's own, itself secret unless set)."""
    row = await elections.require_row(eid)
    p = await require_moderator(row["assembly"], principal)
    view = await elections.open_election(
        ctx,
        request.app.state.signer,
        eid,
        p.username,
        data.quorum_basis if data is not None else None,
        before_sign=_board(request).before_open,
        named=data.named if data is not None else None,
    )
    await _board(request).state(eid, fresh=True)
    return convert(view, ElectionView)


@post("/api/elections/{eid:int}/close", tags=["elections"], status_code=200)
async def close_election_h(request: Request, eid: FromPath[int], principal: P, ctx: C) -> ElectionView:
    row = await elections.require_row(eid)
    p = await require_moderator(row["assembly"], principal)
    board = _board(request)
    view = await elections.close_election(ctx, request.app.state.signer, eid, p.username, on_closed=board.mark_closed)
    await _board(request).state(eid, fresh=True)
    return convert(view, ElectionView)


@get("/api/elections/{eid:int}", tags=["elections"])
async def get_election_h(request: Request, eid: FromPath[int]) -> ElectionView:
    row = await elections.require_row(eid)
    view = elections.election_view(row)
    summary = await _board(request).summary(eid)
    if summary is not None and (turnout := summary.turnout()) is not None:
        view["turnout"] = turnout
    return convert(view, ElectionView)


@get("/api/elections/{eid:int}/roll", tags=["elections"])
async def roll_h(eid: FromPath[int]) -> RollEnvelope:
    await elections.require_row(eid)
    roll = await stored_roll(eid)
    if not roll:
        raise ApiError(409, "election_not_open", f"election {eid} is a draft; the roll is frozen when it opens")
    return convert(json.loads(roll), RollEnvelope)


@get("/api/elections/{eid:int}/register", tags=["elections"])
async def register_h(eid: FromPath[int]) -> Register:
    """Who on the roll of a named vote has voted: each member by name with their key and how
    many ballots the board holds from it (unsigned: the server's statement of whose key is
    whose). 409 `election_secret` for a secret vote, 409 `election_not_open` for a draft."""
    return convert(await register(await elections.require_row(eid)), Register)


@get("/api/elections/{eid:int}/board", tags=["elections"], responses={200: ResponseSpec(data_container=BoardPage, description="Board entries in seq order")})
async def board_h(eid: FromPath[int], start: FromQuery[int] = 0, end: FromQuery[int | None] = None) -> Response[bytes]:
    await elections.require_row(eid)
    if start < 0 or (end is not None and end < start) or start > 2**53:
        raise ApiError(400, "invalid_input", f"want 0 <= start <= end, got start={start}, end={end}")
    return Response(await board_page(eid, start, end, BOARD_PAGE), media_type=MediaType.JSON)


@get("/api/elections/{eid:int}/sth", tags=["elections"])
async def sth_h(request: Request, eid: FromPath[int]) -> SthEnvelope:
    await elections.require_row(eid)
    summary = await _board(request).summary(eid)
    if summary is None or summary.sth is None:
        raise ApiError(409, "election_not_open", f"election {eid} has no tree head yet (draft)")
    return convert(summary.sth, SthEnvelope)


async def _open_state(request: Request, eid: int) -> Any:
    await elections.require_row(eid)
    state = await _board(request).state(eid, fresh=True)
    if state is None or state.roll is None:
        raise ApiError(409, "election_not_open", f"election {eid} is a draft")
    return state


@get("/api/elections/{eid:int}/proof/inclusion", tags=["elections"])
async def inclusion_h(request: Request, eid: FromPath[int], seq: FromQuery[int], tree_size: FromQuery[int]) -> InclusionProof:
    state = await _open_state(request, eid)
    return InclusionProof(inclusion_proof=_board(request).inclusion(state, seq, tree_size))


@get("/api/elections/{eid:int}/proof/consistency", tags=["elections"])
async def consistency_h(request: Request, eid: FromPath[int], first: FromQuery[int], second: FromQuery[int]) -> ConsistencyProof:
    state = await _open_state(request, eid)
    return ConsistencyProof(consistency_proof=_board(request).consistency(state, first, second))


@get("/api/elections/{eid:int}/tally", tags=["elections"])
async def tally_h(request: Request, eid: FromPath[int]) -> Tally:
    row = await elections.require_row(eid)
    if row["status"] == "closed":
        result = json.loads(row["result_envelope"])["signed"]
        return convert({k: result[k] for k in Tally.__struct_fields__}, Tally)
    if row["visibility"] != "live":
        raise ApiError(403, "tally_hidden", f"election {eid} shows its tally only after close")
    state = await _open_state(request, eid)
    payload = tally_payload(state)
    payload.pop("election")
    return convert(payload, Tally)


@get("/api/elections/{eid:int}/result", tags=["elections"])
async def result_h(eid: FromPath[int]) -> ResultEnvelope:
    row = await elections.require_row(eid)
    if row["status"] != "closed":
        raise ApiError(409, "election_not_closed", f"election {eid} is {row['status']}; the result is signed at close")
    return convert(json.loads(row["result_envelope"]), ResultEnvelope)


@dataclass
class BallotOperation(Operation):
    """The ballot route reads its body itself (parsed strictly, PROTOCOL §5); this documents it."""

    def __post_init__(self) -> None:
        schema = Reference(ref="#/components/schemas/BallotEnvelope")  # there through BoardPage's leaves
        self.request_body = RequestBody(content={"application/json": OpenAPIMediaType(schema=schema)}, required=True, description="A ballot envelope (PROTOCOL §2, §3)")


@post(
    "/api/elections/{eid:int}/ballots",
    tags=["elections"],
    status_code=201,
    request_max_body_size=BALLOT_MAX_BYTES,
    operation_class=BallotOperation,
    responses={
        201: ResponseSpec(data_container=Receipt, description="The ballot is on the board: its receipt"),
        200: ResponseSpec(data_container=Receipt, description="An identical ballot was accepted before: its original receipt"),
    },
)
async def cast_ballot_h(request: Request, eid: FromPath[int]) -> Response[bytes]:
    """PROTOCOL §5: the checks run in the documented order; the first failure is the answer.

    An ordinary route: the same middleware, headers, limits, errors, logging and metrics as every
    other (issue #15 removed the fast path below the framework, voting/ingress.py)."""
    status, receipt = await cast_ballot(request.app.state, request.client.host if request.client else "unknown", request.body, eid)
    return Response(receipt, status_code=status, media_type=MediaType.JSON)


async def cast_ballot(app_state: State, client: str, body: bytes | Callable[[], Awaitable[bytes]], eid: int) -> tuple[int, bytes]:
    """Check a ballot and append it: (HTTP status, receipt as JSON bytes), counted in the metrics.

    `body` is the request body, or a coroutine function that reads it and enforces check 1 (413
    past `BALLOT_MAX_BYTES`). The checks run in the order of PROTOCOL §5, then the append. Rate
    limits (429 `rate_limited`) sit outside the protocol's checks: per client address before any
    work, and per voter key for the ballots to be appended, after checks 1-10 (a forger cannot
    use up a voter's allowance, and a voter's client that sends the same ballot again gets its
    receipt, PROTOCOL §5 check 7). This runs thousands of times a second during a vote, hence
    one function and no coroutine where a plain call does (the in-process limiter, the cached
    election state)."""
    metrics = app_state.metrics
    try:
        per_client, per_key = app_state.ballot_limiters
        if not (per_client.hit_now(client) if type(per_client) is RateLimiter else await per_client.hit(client)):
            await _rate_limited(per_client, client, "from this address")
        board: Board = app_state.board

        async def election() -> ElectionState:  # after checks 1 and 2: an unknown election is a 404
            state = board.states.get(eid)  # cached: no database read per ballot
            if state is None and 1 <= eid <= 2**31 - 1:
                state = await board.state(eid)
            if state is not None and state.status != "open":  # another process may have opened or closed it
                state = await board.state(eid, fresh=True)
            if state is None:
                raise ApiError(404, "not_found", f"no election with id {eid}")
            return state

        async def verify(voter: RollVoter, message: bytes, signature: bytes) -> bool:  # 6, off the loop
            return await app_state.signature_checks.verify(voter.public_key, message, signature)

        async def admit(key_id: str) -> None:  # a ballot to append: counted against its voter key
            if not (per_key.hit_now(key_id) if type(per_key) is RateLimiter else await per_key.hit(key_id)):
                await _rate_limited(per_key, key_id, "for this voter key")

        status, receipt = await board.cast(body if type(body) is bytes else await body(), election, verify, admit)  # 1-10, then the append
    except (VotingError, ApiError) as exc:
        metrics.ballots_rejected.labels(exc.code).inc()
        raise
    (metrics.ballots_new if status == 201 else metrics.ballots_repeat).inc()
    return status, receipt


HANDLERS = [
    server_key_h,
    register_key_h,
    my_keys_h,
    list_keys_h,
    approve_pending_h,
    approve_key_h,
    revoke_key_h,
    list_elections_h,
    create_election_h,
    update_election_h,
    open_election_h,
    close_election_h,
    get_election_h,
    roll_h,
    register_h,
    board_h,
    sth_h,
    inclusion_h,
    consistency_h,
    tally_h,
    result_h,
    cast_ballot_h,
]
