"""One place that maps every error to a 4xx JSON body `{"error", "detail"}`.

Domain errors carry their own `code` and `status`; Litestar's own exceptions are mapped by
status. Anything else is a bug: it is logged and answered with a generic 500 that leaks nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from deliberation.core.errors import DeliberationError
from kurultai.i18n import N_

log = logging.getLogger("kurultai")

STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ApiError(Exception):
    """An error raised by the shell with an explicit code and status."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def not_found(kind: str, ident: object) -> ApiError:
    return ApiError(404, "not_found", f"no {kind} with id {ident!r}")


def forbidden(detail: str) -> ApiError:
    return ApiError(403, "forbidden", detail)


def error_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    # Responses made by exception handlers skip the app's after_request hook, so the security
    # headers are added here too.
    from kurultai.web.app import SECURITY_HEADERS

    return Response(
        content={"error": code, "detail": detail},
        status_code=status,
        media_type=MediaType.JSON,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def error_parts(exc: Exception) -> tuple[int, str, str] | None:
    """`(status, code, detail)` of a domain or shell error; None for anything else."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.detail
    if isinstance(exc, DeliberationError):
        return exc.status, exc.code, str(exc)
    try:
        from voting.core.errors import VotingError
    except ImportError:  # the voting core is optional until issue #4 lands
        return None
    if isinstance(exc, VotingError):
        from voting.errors import status_of

        return status_of(exc), exc.code, str(exc)
    if is_unique_violation(exc):
        return 409, "conflict", "a change made at the same moment took this name or number first; nothing was written: look again and retry"
    return None


def is_unique_violation(exc: Exception) -> bool:
    """A unique index refused a write (two transactions raced for one username, say): the
    transaction rolled back whole, so the caller may simply retry."""
    import sqlite3

    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE constraint failed" in str(exc)
    try:
        from asyncpg.exceptions import UniqueViolationError
    except ImportError:  # asyncpg is only needed with PostgreSQL
        return False
    return isinstance(exc, UniqueViolationError)


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not the API, not a websocket): it gets an HTML error page."""
    path = request.url.path
    return not path.startswith(("/api/", "/ws/", "/schema", "/static/", "/metrics")) and "text/html" in request.headers.get("accept", "")


def html_error(request: Request, status: int, headers: dict[str, str] | None = None) -> Response:
    """The error as a page in the browser's language (the JSON body's code stays for the API)."""
    from kurultai.web.pages import page, request_lang

    lang = request_lang(request)
    heading, sentence = HTML_ERRORS.get(status, HTML_ERRORS[400 if status < 500 else 500])
    return page(request, "error.html", None, status=status, headers=headers, heading=lang.gettext(heading), sentence=lang.gettext(sentence))  # type: ignore[return-value]


#: Heading and sentence of a browser's error page, by status (translated in the catalogs).
HTML_ERRORS = {
    400: (N_("This address is not valid"), N_("The link or the form sent something the server cannot use. Go back and try again.")),
    401: (N_("Please log in"), N_("This page is for members who are logged in.")),
    403: (N_("Not allowed"), N_("You are not allowed to see this page.")),
    404: (N_("Page not found"), N_("There is no such page here. The link may be wrong, or what it showed no longer exists.")),
    405: (N_("This address is not valid"), N_("The link or the form sent something the server cannot use. Go back and try again.")),
    429: (N_("Too many requests"), N_("Wait a moment and try again.")),
    500: (N_("Something went wrong"), N_("The server could not show this page. Try again in a moment; if it happens again, tell the chair.")),
}


def handle_exception(request: Request, exc: Exception) -> Response:
    response = _handle(request, exc)
    if response.status_code >= 400 and wants_html(request):
        return html_error(request, response.status_code, {k: v for k, v in response.headers.items() if k.lower() == "retry-after"} or None)
    return response


def _handle(request: Request, exc: Exception) -> Response:
    parts = error_parts(exc)
    if parts is not None:
        return error_response(*parts, headers=getattr(exc, "headers", None))
    if isinstance(exc, ValidationException):
        detail = exc.detail
        extra = exc.extra
        if isinstance(extra, list) and extra:
            messages = []
            for item in extra:
                if isinstance(item, dict):
                    where = item.get("key") or item.get("source") or ""
                    messages.append(f"{where}: {item.get('message', '')}".strip(": "))
            if messages:
                detail = f"{detail}: " + "; ".join(messages)
        return error_response(400, "invalid_input", detail)
    if isinstance(exc, HTTPException):
        status = exc.status_code
        if status >= 500:
            log.error("server error on %s %s: %s", request.method, request.url.path, exc.detail)
            return error_response(status, "internal_error", "internal server error")
        code = STATUS_CODES.get(status, "client_error")
        return error_response(status, code, exc.detail, headers=exc.headers)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal server error")


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
    "additionalProperties": False,
}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Document the error body we send (`{"error", "detail"}`) instead of Litestar's default
    400 body, every other 4xx as the same shape (`4XX`), and the server's own failures (`5XX`)
    likewise (docs/api.md, "Errors")."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error = {"description": 'An error: `{"error": code, "detail": text}`', "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    server_error = {**error, "description": 'A server error: `{"error": code, "detail": text}` (500 `internal_error`; a 503 with `Retry-After` asks to send the request again)'}
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete") and isinstance(operation, dict):
                responses = operation.setdefault("responses", {})
                if "400" in responses:
                    responses["400"] = {**error, "description": 'Bad input: `{"error": code, "detail": text}`'}
                responses.setdefault("4XX", error)
                responses.setdefault("5XX", server_error)
    return schema


class ApiSchemaPlugin(JsonRenderPlugin):
    """`/schema/openapi.json`, with our error responses documented (`document_errors`)."""

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, document_errors(openapi_schema))
