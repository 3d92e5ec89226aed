"""The set-up page's "Print invitation cards" form (issue #18; templates/_setup_invitations.html).

A plain form (it works without scripts) posts the CSRF token and the cards' language to
`/assemblies/{id}/invitations.pdf`; the answer is the PDF itself, a download. A form error
answers with the set-up page in the page's language.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from deliberation.common import in_id_range
from deliberation.context import Ctx
from kurultai.i18n import LANGUAGES
from kurultai.web.auth import Principal
from kurultai.web.invitations_api import pdf_response, print_cards
from kurultai.web.pages import Form, _check_form_csrf
from kurultai.web.setup_pages import _guard, setup_page_response

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]


@post("/assemblies/{aid:int}/invitations.pdf", include_in_schema=False, status_code=200, response_model=None)
async def invitations_pdf_page(request: Request[Any, Any, Any], aid: FromPath[int], data: Form, principal: P, ctx: C) -> Response[bytes] | Template | Redirect:
    if not in_id_range(aid):
        raise NotFoundException(f"no assembly with id {aid}")
    refused = await _guard(request, aid, principal, f"/assemblies/{aid}/setup#invitations")
    if refused is not None:
        return refused
    assert principal is not None
    if not _check_form_csrf(request, data, principal):
        return await setup_page_response(request, aid, principal, ctx, status=403, error="csrf")
    lang = data.get("lang", "")
    if lang not in LANGUAGES:
        return await setup_page_response(request, aid, principal, ctx, status=400, error="invalid")
    cards, pdf = await print_cards(request, aid, principal, ctx, lang, only_new=data.get("only_new") == "1")
    response = pdf_response(pdf, aid, lang)
    response.headers["X-Cards"] = str(len(cards.cards))
    return response


HANDLERS = [invitations_pdf_page]
