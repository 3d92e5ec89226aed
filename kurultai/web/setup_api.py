"""HTTP handlers for preparing an assembly (issue #18): the draft from a document and the agenda
built from the provisions. The secretary (or the chair, or an administrator) calls them.

The document is the raw request body (any content type: the format is read from the content),
up to `KURULTAI_MAX_UPLOAD_BYTES`; `?filename=` only makes errors clearer. These routes, and the
page that uploads a document, are mounted by `create_app` in a router of their own with that
larger body limit (`upload_router`); every other route keeps `KURULTAI_MAX_BODY_BYTES`.
"""

from __future__ import annotations

from litestar import Request, Router, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from msgspec import convert

from deliberation import draft_import
from deliberation.common import load
from deliberation.context import Ctx
from deliberation.schemas import AgendaFromProvisions, AgendaItemView, DraftImported, DraftPreview
from deliberation.tables import Assembly
from kurultai.web.auth import Principal, require_secretary

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]

#: Room above the document for a multipart form's boundaries and fields (the upload page).
FORM_OVERHEAD = 64 * 1024


async def read_upload(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 `document_too_large` as soon as it is over `limit`
    (by its Content-Length, else while it arrives)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        draft_import.check_size(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        draft_import.check_size(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _recognised(request: Request, aid: int, principal: Principal | None, filename: str | None) -> tuple[Principal, str, draft_import.Recognised]:
    await load(Assembly, aid, "assembly")
    p = await require_secretary(aid, principal)
    data = await read_upload(request, request.app.state.settings.max_upload_bytes)
    fmt, found = draft_import.recognise_document(data, filename, request.app.state.settings.max_upload_bytes)
    return p, fmt, found


@post("/api/assemblies/{aid:int}/draft/preview", tags=["draft"], status_code=200)
async def draft_preview_h(request: Request, aid: FromPath[int], principal: P, filename: FromQuery[str | None] = None) -> DraftPreview:
    """What an import of the document in the body would write: the articles recognised (number,
    heading, text, chapter), the parts not recognised, warnings, and the numbers that collide
    with provisions the assembly already has. Nothing is written."""
    _, fmt, found = await _recognised(request, aid, principal, filename)
    return convert(draft_import.preview(fmt, found, await draft_import.existing_numbers(aid)), DraftPreview)


@post("/api/assemblies/{aid:int}/draft/import", tags=["draft"], status_code=201)
async def draft_import_h(request: Request, aid: FromPath[int], principal: P, ctx: C, filename: FromQuery[str | None] = None) -> DraftImported:
    """Write one provision per recognised article after the current text, in one transaction
    and one document version; refused (409 `duplicate_number`, nothing written) when a number
    repeats or is taken."""
    p, fmt, found = await _recognised(request, aid, principal, filename)
    return convert(await draft_import.import_draft(ctx, aid, p.username, fmt, found), DraftImported)


@post("/api/assemblies/{aid:int}/agenda/from-provisions", tags=["agenda"], status_code=201)
async def agenda_from_provisions_h(aid: FromPath[int], data: JSONBody[AgendaFromProvisions], principal: P, ctx: C) -> list[AgendaItemView]:
    """One agenda item per article (`per: "article"`) or per chapter (`"chapter"`) for the
    provisions of the current text that are on no item yet, in one transaction."""
    await load(Assembly, aid, "assembly")
    p = await require_secretary(aid, principal)
    return convert(await draft_import.agenda_from_provisions(ctx, aid, p.username, data.per, data.planned_minutes), list[AgendaItemView])


#: Handlers that take a document as their body.
UPLOAD_HANDLERS = [draft_preview_h, draft_import_h]
HANDLERS = [agenda_from_provisions_h]


def upload_router(max_upload_bytes: int, page_handlers: list[object]) -> Router:
    """The upload routes (API and page) with their own body limit."""
    return Router(path="/", route_handlers=[*UPLOAD_HANDLERS, *page_handlers], request_max_body_size=max_upload_bytes + FORM_OVERHEAD)  # type: ignore[list-item]
