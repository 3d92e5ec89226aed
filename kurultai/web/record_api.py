"""Public downloads of an assembly's record (issue #19): the open-data archive, and the adopted
text, the minutes and the comparative table as PDF or DOCX. Anyone may fetch them: they hold only what observers see (kurultai/record/
public.py). The database is read on the event loop (asynchronously); the zip, the PDF and the
DOCX are built in a worker thread, so a long export never blocks the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from deliberation.context import Ctx
from kurultai.record.adopted import MEDIA_TYPES, check_format, render_adopted
from kurultai.record.minutes import render_minutes
from kurultai.record.archive import archive_bytes, root_name
from kurultai.record.public import PublicRecord, public_record
from kurultai.record.render import RecordError, check_lang
from kurultai.record.table import render_table
from kurultai.web.errors import ApiError

C = NamedDependency[Ctx]
#: Builds of a record at once in this process; more wait their turn (each holds a whole board
#: in memory and a worker thread busy).
MAX_BUILDS = 2
#: The longest `place` the minutes take.
MAX_PLACE = 300


def _builds(request: Request[Any, Any, Any]) -> asyncio.Semaphore:
    """This app's limit on concurrent builds, made on first use (on the app's event loop)."""
    state = request.app.state
    sem = getattr(state, "record_builds", None)
    if sem is None:
        sem = state.record_builds = asyncio.Semaphore(MAX_BUILDS)
    return sem


async def _record(request: Request[Any, Any, Any], aid: int, ctx: Ctx, *, with_bundles: bool) -> PublicRecord:
    return await public_record(aid, now_ms=ctx.now(), server_public_key=request.app.state.signer.public_key_raw, with_bundles=with_bundles)


def _download(data: bytes, media_type: str, filename: str) -> Response[bytes]:
    return Response(content=data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@get("/api/assemblies/{aid:int}/archive.zip", tags=["record"], media_type="application/zip")
async def archive_h(request: Request[Any, Any, Any], aid: FromPath[int], ctx: C) -> Response[bytes]:
    """The open-data archive of the assembly (docs/open-data.md)."""
    async with _builds(request):
        record = await _record(request, aid, ctx, with_bundles=True)
        data = await asyncio.to_thread(archive_bytes, record)
    return _download(data, "application/zip", f"{root_name(aid)}.zip")


async def _adopted(request: Request[Any, Any, Any], aid: int, fmt: str, lang: str | None, ctx: Ctx) -> Response[bytes]:
    from kurultai.web.pages import request_lang

    code = lang or request_lang(request).code
    try:
        check_format(fmt)
        check_lang(code)
    except RecordError as exc:
        raise ApiError(400, "invalid_input", str(exc)) from None
    base_url = str(request.base_url).rstrip("/")
    async with _builds(request):
        record = await _record(request, aid, ctx, with_bundles=False)
        try:
            data = await asyncio.to_thread(render_adopted, record, fmt, code, base_url)
        except RecordError as exc:  # a missing font: the server's set-up, said plainly
            raise ApiError(503, "unavailable", str(exc)) from None
    return _download(data, MEDIA_TYPES[fmt], f"adopted-text-{aid}-{code}.{fmt}")


@get("/api/assemblies/{aid:int}/document.pdf", tags=["record"], media_type="application/pdf")
async def document_pdf_h(request: Request[Any, Any, Any], aid: FromPath[int], ctx: C, lang: FromQuery[str | None] = None) -> Response[bytes]:
    """The adopted (consolidated) text as PDF; `lang` kk, ru or en (default: the page language)."""
    return await _adopted(request, aid, "pdf", lang, ctx)


@get("/api/assemblies/{aid:int}/document.docx", tags=["record"], media_type=MEDIA_TYPES["docx"])
async def document_docx_h(request: Request[Any, Any, Any], aid: FromPath[int], ctx: C, lang: FromQuery[str | None] = None) -> Response[bytes]:
    """The adopted (consolidated) text as DOCX; `lang` kk, ru or en (default: the page language)."""
    return await _adopted(request, aid, "docx", lang, ctx)


async def _rendered(request: Request[Any, Any, Any], aid: int, fmt: str, lang: str | None, ctx: Ctx, name: str, render: Callable[[PublicRecord, str], bytes]) -> Response[bytes]:
    """`render(record, lang)` in a worker thread, as a download named `{name}-{aid}-{lang}.{fmt}`."""
    from kurultai.web.pages import request_lang

    code = lang or request_lang(request).code
    try:
        check_format(fmt)
        check_lang(code)
    except RecordError as exc:
        raise ApiError(400, "invalid_input", str(exc)) from None
    async with _builds(request):
        record = await _record(request, aid, ctx, with_bundles=True)
        try:
            data = await asyncio.to_thread(render, record, code)
        except RecordError as exc:
            raise ApiError(503, "unavailable", str(exc)) from None
    return _download(data, MEDIA_TYPES[fmt], f"{name}-{aid}-{code}.{fmt}")


def _check_place(place: str | None) -> str | None:
    if place is not None and len(place) > MAX_PLACE:
        raise ApiError(400, "invalid_input", f"place must be at most {MAX_PLACE} characters, got {len(place)}")
    if place is not None and any(ord(ch) < 32 for ch in place):
        raise ApiError(400, "invalid_input", "place must be one line with no control characters")
    return place


async def _minutes(request: Request[Any, Any, Any], aid: int, fmt: str, lang: str | None, place: str | None, ctx: Ctx) -> Response[bytes]:
    base_url = str(request.base_url).rstrip("/")
    place = _check_place(place)
    return await _rendered(request, aid, fmt, lang, ctx, "minutes", lambda record, code: render_minutes(record, fmt, code, base_url, place))


@get("/api/assemblies/{aid:int}/minutes.pdf", tags=["record"], media_type="application/pdf")
async def minutes_pdf_h(request: Request[Any, Any, Any], aid: FromPath[int], ctx: C, lang: FromQuery[str | None] = None, place: FromQuery[str | None] = None) -> Response[bytes]:
    """The minutes of the sitting as PDF; `lang` kk, ru or en (default: the page language), `place` where it was held."""
    return await _minutes(request, aid, "pdf", lang, place, ctx)


@get("/api/assemblies/{aid:int}/minutes.docx", tags=["record"], media_type=MEDIA_TYPES["docx"])
async def minutes_docx_h(request: Request[Any, Any, Any], aid: FromPath[int], ctx: C, lang: FromQuery[str | None] = None, place: FromQuery[str | None] = None) -> Response[bytes]:
    """The minutes of the sitting as DOCX; `lang` kk, ru or en (default: the page language), `place` where it was held."""
    return await _minutes(request, aid, "docx", lang, place, ctx)


@get("/api/assemblies/{aid:int}/table.pdf", tags=["record"], media_type="application/pdf")
async def table_pdf_h(request: Request[Any, Any, Any], aid: FromPath[int], ctx: C, lang: FromQuery[str | None] = None) -> Response[bytes]:
    """The comparative table (landscape) as PDF; `lang` kk, ru or en (default: the page language)."""
    return await _rendered(request, aid, "pdf", lang, ctx, "comparative-table", lambda record, code: render_table(record, "pdf", code))


@get("/api/assemblies/{aid:int}/table.docx", tags=["record"], media_type=MEDIA_TYPES["docx"])
async def table_docx_h(request: Request[Any, Any, Any], aid: FromPath[int], ctx: C, lang: FromQuery[str | None] = None) -> Response[bytes]:
    """The comparative table (landscape) as DOCX; `lang` kk, ru or en (default: the page language)."""
    return await _rendered(request, aid, "docx", lang, ctx, "comparative-table", lambda record, code: render_table(record, "docx", code))


HANDLERS = [archive_h, document_pdf_h, document_docx_h, minutes_pdf_h, minutes_docx_h, table_pdf_h, table_docx_h]
