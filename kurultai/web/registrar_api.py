"""Keys at scale (issue #18): the registrar (the chair, or an administrator: whoever approves a
single key) approves the pending keys of the delegates present in one action, having seen the
list first.

`GET /api/assemblies/{aid}/keys/pending?present=1` is the list; the chair console shows it in a
confirmation dialog. `POST /api/assemblies/{aid}/keys/approve-present` with the key ids the
registrar saw approves exactly those that are still pending and whose delegate is checked in
now, each through the one approval rule (voting/keys.decide_tx) and audited one by one
(`key.approved`); the others come back with the reason they were left alone.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from msgspec import convert

from deliberation.context import Ctx
from kurultai.web.auth import Principal, require_moderator
from kurultai.web.deliberation_api import load_assembly
from voting import keys
from voting.schemas import KeyView

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]
#: The most key ids one request may name (a hall of delegates, with room to spare).
MAX_KEYS = 10_000

KeyId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class ApprovePresent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    key_ids: Annotated[list[KeyId], msgspec.Meta(max_length=MAX_KEYS)]


class KeySkipped(msgspec.Struct, kw_only=True):
    key_id: str
    reason: Literal["unknown", "not_pending", "not_present"]


class PresentApproved(msgspec.Struct, kw_only=True):
    approved: list[KeyView]
    skipped: list[KeySkipped]


@get("/api/assemblies/{aid:int}/keys/pending", tags=["keys"])
async def pending_keys_h(aid: FromPath[int], principal: P, present: FromQuery[bool] = False) -> list[KeyView]:
    """The keys that wait for approval; with `present=1`, only those of delegates checked in now
    (what `approve-present` would approve)."""
    await load_assembly(aid)
    await require_moderator(aid, principal)
    return convert(await keys.pending_keys(aid, present_only=present), list[KeyView])


@post("/api/assemblies/{aid:int}/keys/approve-present", tags=["keys"], status_code=200)
async def approve_present_h(aid: FromPath[int], data: JSONBody[ApprovePresent], principal: P, ctx: C) -> PresentApproved:
    """Approve those of `key_ids` that are still pending and belong to a delegate checked in now,
    in one transaction, each audited as a single approval is. `skipped` lists the others with
    the reason: `unknown`, `not_pending` (approved or revoked meanwhile) or `not_present`."""
    await load_assembly(aid)
    p = await require_moderator(aid, principal)
    approved, skipped = await keys.approve_present(ctx, aid, data.key_ids, p.username)
    return PresentApproved(approved=convert(approved, list[KeyView]), skipped=convert(skipped, list[KeySkipped]))


HANDLERS = [pending_keys_h, approve_present_h]
