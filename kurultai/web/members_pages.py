"""Pages for an assembly's members (issue #18), in the members section of the set-up page.

- `/assemblies/{id}/members/upload` → `/assemblies/{id}/members/preview?token=…` →
  `…/members/confirm`: a CSV or .xlsx list of delegates is kept (like a draft document:
  kurultai/web/setup_pages.py) between the preview, which shows every row and its errors, and the
  confirmation, which reads it again and imports it in one transaction.
- `/assemblies/{id}/member/{username}/edit|remove|invite`: change a member's role, weight and
  activity; remove them (before the first vote); show a new one-time invitation link (the way to
  reset a password).

The secretary, the chair or an administrator uses them; only an administrator changes a chair
or a secretary. Forms answer their errors in the page's language (`members_error`).
"""

from __future__ import annotations

import re
import secrets

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from deliberation import accounts, assemblies, members_import
from deliberation.context import Ctx
from deliberation.core.errors import DeliberationError
from kurultai.files import private_file
from kurultai.web.auth import Principal
from kurultai.web.pages import Form, _check_form_csrf, page
from kurultai.web.setup_pages import _guard, _staged, _staging, _sweep, setup_page_response, shown_ms

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]


async def _refuse(request: Request, aid: int, principal: Principal, ctx: Ctx, status: int, code: str) -> Template:
    mb = request.app.state.settings.max_upload_bytes // (1024 * 1024)
    return await setup_page_response(request, aid, principal, ctx, status=status, error_args={"mb": mb}, members_error=code)


def _done(aid: int, what: str, n: int | None = None) -> Redirect:
    count = f"&n={n}" if n is not None else ""
    return Redirect(path=f"/assemblies/{aid}/setup?done={what}{count}#members", status_code=303)


@post("/assemblies/{aid:int}/members/upload", include_in_schema=False, status_code=303, response_model=None)
async def members_upload(request: Request, aid: FromPath[int], principal: P, ctx: C) -> Template | Redirect:
    """Keep the uploaded list and show what would be imported (nothing is written yet)."""
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup")
    if refused is not None:
        return refused
    assert principal is not None
    limit = request.app.state.settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        return await _refuse(request, aid, principal, ctx, 413, "document_too_large")
    form = await request.form()
    if not _check_form_csrf(request, {"csrf_token": str(form.get("csrf_token") or "")}, principal):
        return await _refuse(request, aid, principal, ctx, 403, "csrf")
    upload = form.get("members")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _refuse(request, aid, principal, ctx, 400, "no_file")
    content = await upload.read()
    try:
        members_import.read_members_file(content, upload.filename, limit)
    except DeliberationError as exc:
        return await _refuse(request, aid, principal, ctx, exc.status, exc.code)
    directory = _staging(request)
    _sweep(directory)
    token = secrets.token_urlsafe(24)
    path = directory / f"{aid}-{principal.id}-{token}.upload"
    private_file(path, exist_ok=False)
    path.write_bytes(content)
    name = re.sub(r"[^\w.\- ]", "_", upload.filename)[:120]
    return Redirect(path=f"/assemblies/{aid}/members/preview?token={token}&name={name}", status_code=303)


async def _preview_page(request: Request, aid: int, principal: Principal, sheet: members_import.Sheet, token: str, name: str, status: int = 200) -> Template:
    preview = await members_import.preview(aid, sheet, may_appoint=principal.is_admin)
    by_row: dict[int, list[dict]] = {}
    for e in preview["errors"]:
        by_row.setdefault(e["row"], []).append(e)
    return page(
        request,
        "members_preview.html",
        principal,
        status=status,
        assembly=await assemblies.get_assembly(aid),
        preview=preview,
        errors_by_row=by_row,
        bad_rows=len(by_row),
        token=token,
        filename=name,
    )


@get("/assemblies/{aid:int}/members/preview", include_in_schema=False, response_model=None)
async def members_preview_page(request: Request, aid: FromPath[int], principal: P, ctx: C, token: FromQuery[str] = "", name: FromQuery[str] = "") -> Template | Redirect:
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup")
    if refused is not None:
        return refused
    assert principal is not None
    path = _staged(request, aid, principal.id, token)
    if path is None:
        return await _refuse(request, aid, principal, ctx, 404, "expired")
    try:
        sheet = members_import.read_members_file(path.read_bytes(), name or None, request.app.state.settings.max_upload_bytes)
    except DeliberationError as exc:
        return await _refuse(request, aid, principal, ctx, exc.status, exc.code)
    return await _preview_page(request, aid, principal, sheet, token, name)


@post("/assemblies/{aid:int}/members/confirm", include_in_schema=False, status_code=303, response_model=None)
async def members_confirm(request: Request, aid: FromPath[int], data: Form, principal: P, ctx: C) -> Template | Redirect:
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup")
    if refused is not None:
        return refused
    assert principal is not None
    if not _check_form_csrf(request, data, principal):
        return await _refuse(request, aid, principal, ctx, 403, "csrf")
    token = data.get("token", "")
    path = _staged(request, aid, principal.id, token)
    if path is None:
        return await _refuse(request, aid, principal, ctx, 404, "expired")
    try:
        sheet = members_import.read_members_file(path.read_bytes(), data.get("name") or None, request.app.state.settings.max_upload_bytes)
        done = await members_import.import_members(ctx, aid, principal.username, sheet, may_appoint=principal.is_admin)
    except members_import.InvalidRows:  # the list or the members changed since the preview
        return await _preview_page(request, aid, principal, sheet, token, data.get("name", ""), status=422)
    except DeliberationError as exc:
        return await _refuse(request, aid, principal, ctx, exc.status, exc.code)
    path.unlink(missing_ok=True)
    return _done(aid, "members", len(done["members"]))


async def _member_or_refusal(request: Request, aid: int, username: str, data: dict[str, str], principal: Principal | None, ctx: Ctx) -> tuple[dict | None, Template | Redirect | None]:
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup")
    if refused is not None:
        return None, refused
    assert principal is not None
    if not _check_form_csrf(request, data, principal):
        return None, await _refuse(request, aid, principal, ctx, 403, "csrf")
    current = await assemblies.member_by_username(aid, username) if accounts.USERNAME_RE.match(username) else None
    if current is None:
        return None, await _refuse(request, aid, principal, ctx, 404, "no_member")
    if not principal.is_admin and current["role"] in assemblies.APPOINTED:
        return None, await _refuse(request, aid, principal, ctx, 403, "appointed")
    return current, None


@post("/assemblies/{aid:int}/member/{username:str}/edit", include_in_schema=False, status_code=303, response_model=None)
async def member_edit(request: Request, aid: FromPath[int], username: FromPath[str], data: Form, principal: P, ctx: C) -> Template | Redirect:
    current, refused = await _member_or_refusal(request, aid, username, data, principal, ctx)
    if refused is not None:
        return refused
    assert principal is not None and current is not None
    role = data.get("role", current["role"])
    if role not in assemblies.ROLES:
        return await _refuse(request, aid, principal, ctx, 400, "member_role")
    if role in assemblies.APPOINTED and not principal.is_admin and role != current["role"]:
        return await _refuse(request, aid, principal, ctx, 403, "appointed")
    weight_text = data.get("weight", "").strip()
    if not re.fullmatch(r"\d{1,7}", weight_text) or not 1 <= int(weight_text) <= assemblies.MAX_WEIGHT:
        return await _refuse(request, aid, principal, ctx, 400, "member_weight")
    changes = {"role": role, "weight": int(weight_text), "active": data.get("active") == "on"}
    await assemblies.update_member(ctx, aid, principal.username, current["username"], changes)
    return _done(aid, "member")


@post("/assemblies/{aid:int}/member/{username:str}/remove", include_in_schema=False, status_code=303, response_model=None)
async def member_remove(request: Request, aid: FromPath[int], username: FromPath[str], data: Form, principal: P, ctx: C) -> Template | Redirect:
    current, refused = await _member_or_refusal(request, aid, username, data, principal, ctx)
    if refused is not None:
        return refused
    assert principal is not None and current is not None
    try:
        await assemblies.remove_member(ctx, aid, principal.username, current["username"])
    except DeliberationError as exc:
        return await _refuse(request, aid, principal, ctx, exc.status, "vote_opened" if exc.status == 409 else exc.code)
    return _done(aid, "removed")


@post("/assemblies/{aid:int}/member/{username:str}/invite", include_in_schema=False, status_code=200, response_model=None)
async def member_invite(request: Request, aid: FromPath[int], username: FromPath[str], data: Form, principal: P, ctx: C) -> Template | Redirect:
    """A new one-time invitation link, shown once on the set-up page. The form carries when its
    page was shown (`shown_ms`): sent again after a link was issued since (a refresh that posts
    the form once more), it issues none, so the link already handed out keeps working."""
    current, refused = await _member_or_refusal(request, aid, username, data, principal, ctx)
    if refused is not None:
        return refused
    assert principal is not None and current is not None
    if not principal.is_admin and current["user_id"] not in await assemblies.accounts_of_assembly(aid, [current["user_id"]]):
        return await _refuse(request, aid, principal, ctx, 403, "account_elsewhere")
    token = await accounts.invite_unless_issued_since(ctx, current["user_id"], principal.username, shown_ms(data))
    if token is None:
        return await setup_page_response(request, aid, principal, ctx, member_invite_again={"username": current["username"], "display_name": current["display_name"]})
    link = f"{request.base_url}".rstrip("/") + f"/invite/{token}"
    return await setup_page_response(request, aid, principal, ctx, member_invite={"username": current["username"], "display_name": current["display_name"], "invite": link})


#: Registered in the upload router (a larger body limit): the list upload.
UPLOAD_PAGES = [members_upload]
HANDLERS = [members_preview_page, members_confirm, member_edit, member_remove, member_invite]
