"""Pages for setting up an assembly without a developer (issue #18).

- `/assemblies/new` (administrator): create an assembly, its title and description in Kazakh,
  Russian and English (any may be left empty).
- `/assemblies/{id}/setup` (administrator, secretary, chair): edit those; the administrator
  appoints the chair and the secretaries; the secretary uploads the draft and builds the agenda.
- `/assemblies/{id}/draft/upload` → `/assemblies/{id}/draft/preview?token=…` → `…/draft/confirm`:
  the document is kept (mode 0600, in `$KURULTAI_DATA_DIR/imports/`, at most a day) between the
  preview and the confirmation, which reads it again: the preview shows exactly what is written.
- `/assemblies/{id}/agenda/{item}/move|merge|split`: the agenda reshaped by plain forms, back to
  the set-up page's agenda (303).

Forms answer their errors in the page's language, with the status of the problem (400, 403,
409, 413, 415, 422). Every form carries the session's CSRF token.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from deliberation import accounts, agenda, assemblies, draft, draft_import
from deliberation.common import in_id_range
from deliberation.context import Ctx
from deliberation.core.errors import DeliberationError
from deliberation.tables import AgendaItem, User
from kurultai.files import private_dir, private_file
from kurultai.web.auth import Principal, effective_role, role_in
from kurultai.web.pages import Form, _check_form_csrf, page

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]
LANGS = ("kk", "ru", "en")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
STAGED_FOR_S = 24 * 3600
SETUP_ROLES = ("secretary", "moderator")


def _login(path: str) -> Redirect:
    return Redirect(path=f"/login?next={path}", status_code=303)


def _not_allowed(request: Request, principal: Principal | None) -> Template:
    return page(request, "setup_forbidden.html", principal, status=403)


async def _setup_role(aid: int, principal: Principal) -> str | None:
    """The caller's part in preparing the assembly: "admin", "secretary", "moderator", or None."""
    if principal.is_admin:
        return "admin"
    role = await role_in(aid, principal)
    return role if role in SETUP_ROLES else None


def _details_form(form: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Titles, descriptions and languages from a form; errors as codes."""
    titles = {lang: " ".join(form.get(f"title_{lang}", "").split()) for lang in LANGS}
    titles = {k: v for k, v in titles.items() if v}
    descriptions = {lang: form.get(f"description_{lang}", "").replace("\r\n", "\n").strip() for lang in LANGS}
    descriptions = {k: v for k, v in descriptions.items() if v}
    languages = [lang for lang in LANGS if form.get(f"lang_{lang}")]
    errors = []
    if not titles:
        errors.append("title_missing")
    if any(len(t) > 300 for t in titles.values()):
        errors.append("title_long")
    if any(len(d) > 50_000 for d in descriptions.values()):
        errors.append("description_long")
    if any("\x00" in v for v in [*titles.values(), *descriptions.values()]):
        errors.append("invalid")
    if not languages:
        errors.append("languages_missing")
    main_title = next((titles[lang] for lang in LANGS if lang in titles), "")
    main_description = next((descriptions[lang] for lang in LANGS if lang in descriptions), "")
    values = {"title": main_title, "titles": titles, "description": main_description, "descriptions": descriptions, "languages": languages}
    return values, errors


# -- creating an assembly -------------------------------------------------------------------------


@get("/assemblies/new", include_in_schema=False, response_model=None)
async def new_assembly_page(request: Request, principal: P) -> Template | Redirect:
    if principal is None:
        return _login("/assemblies/new")
    if not principal.is_admin:
        return _not_allowed(request, principal)
    return page(request, "assembly_form.html", principal, assembly=None, values={"titles": {}, "descriptions": {}, "languages": list(LANGS)}, errors=[])


@post("/assemblies/new", include_in_schema=False, status_code=303, response_model=None)
async def new_assembly_submit(request: Request, data: Form, principal: P, ctx: C) -> Template | Redirect:
    if principal is None:
        return _login("/assemblies/new")
    if not principal.is_admin:
        return _not_allowed(request, principal)
    values, errors = _details_form(data)
    if not _check_form_csrf(request, data, principal):
        errors = ["csrf"]
    if errors:
        return page(request, "assembly_form.html", principal, status=403 if errors == ["csrf"] else 400, assembly=None, values=values, errors=errors)
    view = await assemblies.create_assembly(ctx, principal.username, **values)
    return Redirect(path=f"/assemblies/{view['id']}/setup", status_code=303)


# -- the set-up page ------------------------------------------------------------------------------


async def _setup_context(aid: int, now_ms: int) -> dict[str, Any]:
    members = await assemblies.list_members(aid)
    doc = await draft.document(aid)
    items = await agenda.list_items(aid, now_ms)
    return {
        "assembly": await assemblies.get_assembly(aid),
        "officers": [m for m in members if m["role"] in SETUP_ROLES],
        "members": members,
        "provisions": doc["provisions"],
        "agenda": items,
        "on_agenda": len({pid for i in items for pid in i["provisions"]}),
        "provision_numbers": {p["id"]: p["number"] or p["title"] for p in doc["provisions"]},
        "max_upload_mb": 0,
    }


def shown_ms(data: Any) -> int | None:
    """When the page that sent a form was shown (its `shown_ms` field), or None."""
    value = str(data.get("shown_ms", ""))
    return int(value) if value.isdigit() else None


async def setup_page_response(
    request: Request, aid: int, principal: Principal, ctx: Ctx, *, status: int = 200, error: str | None = None, error_args: dict[str, Any] | None = None, **extra: Any
) -> Template:
    data = await _setup_context(aid, ctx.now())
    data["max_upload_mb"] = request.app.state.settings.max_upload_bytes // (1024 * 1024)
    assembly = data["assembly"]
    values = {"titles": assembly["titles"] or {}, "descriptions": assembly["descriptions"] or {}, "languages": assembly["languages"]}
    if not values["titles"] and assembly["title"]:
        values["titles"] = {assembly["languages"][0] if assembly["languages"] else "en": assembly["title"]}
    if not values["descriptions"] and assembly["description"]:
        values["descriptions"] = {assembly["languages"][0] if assembly["languages"] else "en": assembly["description"]}
    setup_role = await _setup_role(aid, principal)
    nav_role = effective_role(await role_in(aid, principal), principal.is_admin)
    context = {
        **data,
        "values": extra.pop("values", values),
        "errors": extra.pop("errors", []),
        "setup_role": setup_role,
        "error": error,
        "error_args": error_args or {},
        "done": request.query_params.get("done"),
        "count": request.query_params.get("n"),
        "view": "setup",
        "role": nav_role,
        "shown_ms": ctx.now(),  # forms that must not act twice on one showing of the page carry it
        **extra,
    }
    return page(request, "setup.html", principal, status=status, **context)


async def _guard(request: Request, aid: int, principal: Principal | None, path: str) -> Template | Redirect | None:
    """None when the caller may prepare the assembly; else the login redirect or a 403 page."""
    if not in_id_range(aid):
        raise NotFoundException(f"no assembly with id {aid}")
    await assemblies.get_assembly(aid)  # 404 first
    if principal is None:
        return _login(path)
    if await _setup_role(aid, principal) is None:
        return _not_allowed(request, principal)
    return None


@get("/assemblies/{aid:int}/setup", include_in_schema=False, response_model=None)
async def setup_page(request: Request, aid: FromPath[int], principal: P, ctx: C) -> Template | Redirect:
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup")
    if refused is not None:
        return refused
    assert principal is not None
    return await setup_page_response(request, aid, principal, ctx)


@post("/assemblies/{aid:int}/setup", include_in_schema=False, status_code=303, response_model=None)
async def setup_submit(request: Request, aid: FromPath[int], data: Form, principal: P, ctx: C) -> Template | Redirect:
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup")
    if refused is not None:
        return refused
    assert principal is not None
    if not _check_form_csrf(request, data, principal):
        return await setup_page_response(request, aid, principal, ctx, status=403, error="csrf")
    values, errors = _details_form(data)
    if errors:
        return await setup_page_response(request, aid, principal, ctx, status=400, values=values, errors=errors)
    await assemblies.update_assembly(ctx, aid, principal.username, values)
    return Redirect(path=f"/assemblies/{aid}/setup?done=saved", status_code=303)


@post("/assemblies/{aid:int}/setup/appoint", include_in_schema=False, status_code=200, response_model=None)
async def appoint_submit(request: Request, aid: FromPath[int], data: Form, principal: P, ctx: C) -> Template | Redirect:
    """The administrator appoints a chair or a secretary: an existing user, or a new one who
    gets a one-time invitation link (shown once, here) to set a password."""
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup")
    if refused is not None:
        return refused
    assert principal is not None
    if not principal.is_admin:
        return _not_allowed(request, principal)
    if not _check_form_csrf(request, data, principal):
        return await setup_page_response(request, aid, principal, ctx, status=403, error="csrf")
    username = data.get("username", "").strip()
    display_name = " ".join(data.get("display_name", "").split())[:200]
    role = data.get("role", "")
    if role not in SETUP_ROLES:
        return await setup_page_response(request, aid, principal, ctx, status=400, error="role")
    if not accounts.USERNAME_RE.match(username):
        return await setup_page_response(request, aid, principal, ctx, status=400, error="username", appoint={"username": username, "display_name": display_name, "role": role})
    row = await User.select(User.id, User.password_hash).where(User.username == username).first()
    invite = None
    again = False
    try:
        if row is None:
            user = await accounts.create_user(ctx, username, None, actor=principal.username, display_name=display_name)
            uid = user.id
        else:
            uid = row["id"]
        await assemblies.set_member(ctx, aid, principal.username, username, role)
        if row is None or not row["password_hash"]:
            token = await accounts.invite_unless_issued_since(ctx, uid, principal.username, shown_ms(data))
            again = token is None  # the form sent again: the link given then stands
            invite = None if token is None else f"{request.base_url}".rstrip("/") + f"/invite/{token}"
    except DeliberationError:
        return await setup_page_response(request, aid, principal, ctx, status=400, error="username", appoint={"username": username, "display_name": display_name, "role": role})
    return await setup_page_response(request, aid, principal, ctx, appointed={"username": username, "display_name": display_name, "role": role, "invite": invite, "again": again})


# -- the draft from a document --------------------------------------------------------------------


def _staging(request: Request) -> Path:
    path = Path(request.app.state.settings.data_dir) / "imports"
    private_dir(path)
    return path


def _staged(request: Request, aid: int, uid: int, token: str) -> Path | None:
    if not TOKEN_RE.match(token):
        return None
    path = _staging(request) / f"{aid}-{uid}-{token}.upload"
    return path if path.is_file() and time.time() - path.stat().st_mtime < STAGED_FOR_S else None


def _sweep(directory: Path) -> None:
    """Forget uploads nobody confirmed within a day."""
    cutoff = time.time() - STAGED_FOR_S
    for old in directory.glob("*.upload"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass


def _import_error(exc: DeliberationError) -> tuple[int, str]:
    return exc.status, exc.code


@post("/assemblies/{aid:int}/draft/upload", include_in_schema=False, status_code=303, response_model=None)
async def draft_upload(request: Request, aid: FromPath[int], principal: P, ctx: C) -> Template | Redirect:
    """Keep the uploaded document and show what would be imported (nothing is written yet)."""
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup")
    if refused is not None:
        return refused
    assert principal is not None
    limit = request.app.state.settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        return await setup_page_response(request, aid, principal, ctx, status=413, error="document_too_large", error_args={"mb": limit // (1024 * 1024)})
    form = await request.form()
    if not _check_form_csrf(request, {"csrf_token": str(form.get("csrf_token") or "")}, principal):
        return await setup_page_response(request, aid, principal, ctx, status=403, error="csrf")
    upload = form.get("document")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await setup_page_response(request, aid, principal, ctx, status=400, error="no_file")
    content = await upload.read()
    try:
        fmt, found = draft_import.recognise_document(content, upload.filename, limit)
    except DeliberationError as exc:
        status, code = _import_error(exc)
        return await setup_page_response(request, aid, principal, ctx, status=status, error=code, error_args={"mb": limit // (1024 * 1024)})
    directory = _staging(request)
    _sweep(directory)
    token = secrets.token_urlsafe(24)
    path = directory / f"{aid}-{principal.id}-{token}.upload"
    private_file(path, exist_ok=False)
    path.write_bytes(content)
    name = re.sub(r"[^\w.\- ]", "_", upload.filename)[:120]
    return Redirect(path=f"/assemblies/{aid}/draft/preview?token={token}&name={name}", status_code=303)


@get("/assemblies/{aid:int}/draft/preview", include_in_schema=False, response_model=None)
async def draft_preview_page(request: Request, aid: FromPath[int], principal: P, ctx: C, token: FromQuery[str] = "", name: FromQuery[str] = "") -> Template | Redirect:
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup")
    if refused is not None:
        return refused
    assert principal is not None
    path = _staged(request, aid, principal.id, token)
    if path is None:
        return await setup_page_response(request, aid, principal, ctx, status=404, error="expired")
    limit = request.app.state.settings.max_upload_bytes
    try:
        fmt, found = draft_import.recognise_document(path.read_bytes(), name or None, limit)
    except DeliberationError as exc:
        status, code = _import_error(exc)
        return await setup_page_response(request, aid, principal, ctx, status=status, error=code, error_args={"mb": limit // (1024 * 1024)})
    preview = draft_import.preview(fmt, found, await draft_import.existing_numbers(aid))
    duplicates = sorted({w["article"] for w in preview["warnings"] if w["code"] == "duplicate_number"})
    return page(
        request,
        "draft_preview.html",
        principal,
        assembly=await assemblies.get_assembly(aid),
        preview=preview,
        token=token,
        filename=name,
        duplicates=duplicates,
        blocked=bool(duplicates or preview["conflicts"]),
    )


@post("/assemblies/{aid:int}/draft/confirm", include_in_schema=False, status_code=303, response_model=None)
async def draft_confirm(request: Request, aid: FromPath[int], data: Form, principal: P, ctx: C) -> Template | Redirect:
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup")
    if refused is not None:
        return refused
    assert principal is not None
    if not _check_form_csrf(request, data, principal):
        return await setup_page_response(request, aid, principal, ctx, status=403, error="csrf")
    path = _staged(request, aid, principal.id, data.get("token", ""))
    if path is None:
        return await setup_page_response(request, aid, principal, ctx, status=404, error="expired")
    limit = request.app.state.settings.max_upload_bytes
    try:
        fmt, found = draft_import.recognise_document(path.read_bytes(), data.get("name") or None, limit)
        done = await draft_import.import_draft(ctx, aid, principal.username, fmt, found)
    except DeliberationError as exc:
        status, code = _import_error(exc)
        return await setup_page_response(request, aid, principal, ctx, status=status, error=code, error_args={"mb": limit // (1024 * 1024)})
    path.unlink(missing_ok=True)
    return Redirect(path=f"/assemblies/{aid}/setup?done=imported&n={len(done['provisions'])}#draft", status_code=303)


@post("/assemblies/{aid:int}/agenda/build", include_in_schema=False, status_code=303, response_model=None)
async def agenda_build(request: Request, aid: FromPath[int], data: Form, principal: P, ctx: C) -> Template | Redirect:
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup")
    if refused is not None:
        return refused
    assert principal is not None
    if not _check_form_csrf(request, data, principal):
        return await setup_page_response(request, aid, principal, ctx, status=403, error="csrf")
    per = data.get("per", "article")
    try:
        items = await draft_import.agenda_from_provisions(ctx, aid, principal.username, per)
    except DeliberationError:
        return await setup_page_response(request, aid, principal, ctx, status=400, error="agenda_nothing" if per in draft_import.PER else "invalid")
    return Redirect(path=f"/assemblies/{aid}/setup?done=agenda&n={len(items)}#agenda", status_code=303)


# -- reshaping the agenda: move, merge, split (plain forms; the services check the phase) ---------


async def _agenda_edit(
    request: Request, aid: int, iid: int, data: dict[str, str], principal: Principal | None, ctx: Ctx, change: Callable[[dict[str, Any], str], Awaitable[str | None]]
) -> Template | Redirect:
    """Guard, CSRF and the item (404 unless it is on this assembly's agenda), then `change(item,
    actor)`, which returns an error code of its own input or None. Back to the agenda, or the
    set-up page with the error in the page's language."""
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup")
    if refused is not None:
        return refused
    assert principal is not None
    if not _check_form_csrf(request, data, principal):
        return await setup_page_response(request, aid, principal, ctx, status=403, error="csrf")
    row = await AgendaItem.select(AgendaItem.id, AgendaItem.assembly, AgendaItem.position).where(AgendaItem.id == iid).first() if in_id_range(iid) else None
    if row is None or row["assembly"] != aid:
        raise NotFoundException(f"no agenda item {iid} in assembly {aid}")
    try:
        error = await change(row, principal.username)
    except DeliberationError as exc:
        return await setup_page_response(request, aid, principal, ctx, status=exc.status, error="agenda_locked" if exc.status == 409 else "agenda_changed")
    if error is not None:
        return await setup_page_response(request, aid, principal, ctx, status=400, error=error)
    return Redirect(path=f"/assemblies/{aid}/setup#agenda", status_code=303)


@post("/assemblies/{aid:int}/agenda/{iid:int}/move", include_in_schema=False, status_code=303, response_model=None)
async def agenda_move(request: Request, aid: FromPath[int], iid: FromPath[int], data: Form, principal: P, ctx: C) -> Template | Redirect:
    async def change(row: dict[str, Any], actor: str) -> str | None:
        step = {"up": -1, "down": 1}.get(data.get("direction", ""))
        if step is None:
            return "invalid"
        await agenda.update_item(ctx, row["id"], actor, {"position": row["position"] + step})
        return None

    return await _agenda_edit(request, aid, iid, data, principal, ctx, change)


@post("/assemblies/{aid:int}/agenda/{iid:int}/merge", include_in_schema=False, status_code=303, response_model=None)
async def agenda_merge(request: Request, aid: FromPath[int], iid: FromPath[int], data: Form, principal: P, ctx: C) -> Template | Redirect:
    async def change(row: dict[str, Any], actor: str) -> str | None:
        into = data.get("into", "")
        if not into.isdigit() or not in_id_range(int(into)):
            return "invalid"
        await agenda.merge_items(ctx, row["id"], int(into), actor)
        return None

    return await _agenda_edit(request, aid, iid, data, principal, ctx, change)


@post("/assemblies/{aid:int}/agenda/{iid:int}/split", include_in_schema=False, status_code=303, response_model=None)
async def agenda_split(request: Request, aid: FromPath[int], iid: FromPath[int], data: Form, principal: P, ctx: C) -> Template | Redirect:
    """The checked provisions (fields `provision-{id}`) go to a new item titled `title`."""

    async def change(row: dict[str, Any], actor: str) -> str | None:
        title = " ".join(data.get("title", "").split())
        if not title or len(title) > 300 or "\x00" in title:
            return "agenda_title"
        current = (await agenda.get_item(row["id"], ctx.now()))["provisions"]
        checked = [pid for pid in current if data.get(f"provision-{pid}")]
        if not checked or len(checked) == len(current):
            return "agenda_split"
        await agenda.split_item(ctx, row["id"], checked, title, actor)
        return None

    return await _agenda_edit(request, aid, iid, data, principal, ctx, change)


#: Registered in the upload router (a larger body limit): the document upload.
UPLOAD_PAGES = [draft_upload]
HANDLERS = [new_assembly_page, new_assembly_submit, setup_page, setup_submit, appoint_submit, draft_preview_page, draft_confirm, agenda_build, agenda_move, agenda_merge, agenda_split]

_ = Response
