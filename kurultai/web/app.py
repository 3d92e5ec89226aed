"""The composition root: `create_app(settings)` builds the whole application explicitly."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, get
from litestar.config.response_cache import ResponseCacheConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.plugins.jinja import JinjaTemplateEngine

from kurultai.web import accounts_api as account_controllers, deliberation_api as controllers
from kurultai.web import voting_api as voting_controllers
from kurultai.web import presence_api as presence_controllers
from kurultai.web import setup_api as setup_controllers
from kurultai.web import members_api as members_controllers
from kurultai.web import record_api as record_controllers
from voting import server_key
from voting.board import Board
from voting.signatures import SignatureChecks
from voting.core.keys import Signer
from voting.live import Coalescer, elections_snapshot
from deliberation.context import Ctx
from kurultai.unit_of_work import wall_clock
from deliberation.passwords import Passwords
from kurultai.web.auth import Principal, RedisRateLimiter, resolve_principal
from kurultai.web.throttle import LoginThrottle, device_secret
from kurultai.db import Database
from kurultai.web.metrics import Metrics, metrics_h
from kurultai.web.errors import ApiSchemaPlugin, handle_exception
from kurultai.settings import Settings
from kurultai.web.wire import Health
from kurultai.web.live_pages import LivePages
from kurultai.web.websocket import live_events
from realtime.service import Realtime, Section

log = logging.getLogger("kurultai")
ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "content-security-policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"),
}


@get("/api/health", tags=["meta"])
async def health() -> Health:
    return Health(status="ok")


async def provide_principal(request: Request) -> Principal | None:
    return await resolve_principal(request, request.app.state.ctx.now())


async def provide_ctx(request: Request) -> Ctx:
    return request.app.state.ctx


async def startup(app: Litestar, *, migrate: bool = True, start_workers: bool = False) -> None:
    """What the lifespan does before serving (tests that drive the app directly call it too)."""
    if migrate:
        await app.state.db.migrate()
    await app.state.db.start()
    try:
        app.state.metrics.time_gc(True)
        if start_workers:
            app.state.signature_checks.start()
    except BaseException:  # the lifespan will not shut down what did not start
        try:
            await shutdown(app)
        except Exception:  # the error that stopped the start is the one to report
            log.exception("shutting down after a failed start")
        raise


async def shutdown(app: Litestar) -> None:
    """Stop every part, each even when one before it failed (the database after the parts that
    write to it); the first failure is raised at the end, the others logged."""
    state = app.state
    steps: list[Callable[[], Any]] = [state.coalescer.stop, state.board.stop, state.signature_checks.stop, state.db.stop]
    steps += [limiter.close for limiter in state.ballot_limiters if isinstance(limiter, RedisRateLimiter)]
    steps += [state.login_throttle.close, state.ctx.passwords.close, state.metrics.stop_loop_monitor, functools.partial(state.metrics.time_gc, False)]
    failed: Exception | None = None
    for step in steps:
        try:
            result = step()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            if failed is None:
                failed = exc
            else:
                log.exception("shutdown: %s failed too", getattr(step, "__qualname__", step))
    if failed is not None:
        raise failed


async def _presence_snapshot(assembly_id: int, viewer: Any) -> dict[str, Any]:
    """The snapshot's `presence` section: the public attendance list (issue #17)."""
    from deliberation import presence

    return await presence.attendance(assembly_id)


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], int] = wall_clock,
    signer: Signer | None = None,
    migrate: bool = True,
    snapshot_sections: Mapping[str, Section] | None = None,
    start_workers: bool = False,
) -> Litestar:
    """Build the application. Nothing is read from the environment here: pass `settings`.

    `snapshot_sections` adds sections to the websocket snapshot: `{"elections": fn(assembly_id, viewer)}`.

    `start_workers` starts the signature-check worker processes with the app (`kurultai serve`
    does); otherwise they start at the first ballot.

    `signer` is the server key; by default it is read from (or created in) the data directory.
    """
    db = Database(settings)
    sections: dict[str, Section] = dict(snapshot_sections or {})
    sections.setdefault("presence", _presence_snapshot)  # before Realtime copies the sections
    realtime = Realtime(settings, sections, clock=clock, rights_check_s=settings.ws_rights_check_s)
    metrics = Metrics(lambda: realtime.hub.connections)
    ctx = Ctx(db=db, clock=clock, publish=metrics.wrap_publisher(realtime.publisher), passwords=Passwords(settings.password_threads))
    signer = signer or server_key.load_or_create(settings.data_dir)
    coalescer: Coalescer | None = None
    board = Board(ctx, signer, on_accepted=lambda state: coalescer.mark(state) if coalescer else None)
    metrics.watch_board(board)
    coalescer = Coalescer(ctx, board, settings.live_interval_ms / 1000)
    # Realtime holds its own copy of the sections: the board's section goes there (it was set on
    # the copy the app had made, so snapshots lacked their elections until the ninth session).
    realtime.snapshot_sections.setdefault("elections", functools.partial(elections_snapshot, board))

    def database_of_this_app(app: ASGIApp) -> ASGIApp:
        """Every request and websocket of this app queries its own database (kurultai.db,
        `Database.use`), even beside another app in the same process."""

        async def in_database(scope: Scope, receive: Receive, send: Send) -> None:
            with db.use():
                await app(scope, receive, send)

        return in_database

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        with db.use():  # and every task started here: the writer, the live feed, the publisher
            await startup(app, migrate=migrate, start_workers=start_workers)
            try:
                metrics.start_loop_monitor()
                if _freeze_at_start:
                    import gc

                    gc.collect()
                    gc.freeze()
                async with realtime.running():
                    try:
                        yield
                    finally:
                        await app.state.live_pages.stop()  # before the hub it renders for
            finally:
                await shutdown(app)

    from kurultai.web import invitation_pages, invitations_api, members_pages, pages, registrar_api, setup_pages

    template_config = TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=pages.configure_engine)

    app = Litestar(
        route_handlers=[
            health,
            metrics_h,
            *controllers.HANDLERS,
            *account_controllers.HANDLERS,
            *voting_controllers.HANDLERS,
            *presence_controllers.HANDLERS,
            *record_controllers.HANDLERS,
            *pages.HANDLERS,
            *setup_controllers.HANDLERS,
            *setup_pages.HANDLERS,
            *invitations_api.HANDLERS,  # issue #18: invitation cards and keys at scale
            *invitation_pages.HANDLERS,
            *registrar_api.HANDLERS,
            *members_controllers.HANDLERS,  # issue #18: members from a spreadsheet, managed
            *members_pages.HANDLERS,
            setup_controllers.upload_router(settings.max_upload_bytes, [*setup_pages.UPLOAD_PAGES, *members_controllers.UPLOAD_HANDLERS, *members_pages.UPLOAD_PAGES]),
            live_events,
            create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False),
        ],
        dependencies={
            "principal": Provide(provide_principal),
            "ctx": Provide(provide_ctx),
        },
        exception_handlers={Exception: handle_exception},
        lifespan=[lifespan],
        middleware=[database_of_this_app],
        state=State(
            {
                "settings": settings,
                "db": db,
                "ctx": ctx,
                "metrics": metrics,
                **realtime.state(),
                "signer": signer,
                "board": board,
                "signature_checks": SignatureChecks(settings.signature_processes),
                "coalescer": coalescer,
                "login_throttle": LoginThrottle(settings, device_secret(signer)),
                "ballot_limiters": voting_controllers.make_ballot_limiters(settings),
            }
        ),
        template_config=template_config,
        openapi_config=OpenAPIConfig(
            title="Kurultai API",
            version="1",
            path="/schema",
            render_plugins=[ApiSchemaPlugin()],
        ),
        request_max_body_size=settings.max_body_bytes,
        after_request=_security_headers,
        before_send=[_strict_transport_security],
        response_cache_config=ResponseCacheConfig(),
        debug=False,
    )
    app.state.live_pages = LivePages(app, realtime.hub, app.template_engine)
    return app


def create_app_from_env() -> Litestar:
    """The app factory for `uvicorn --factory kurultai.web.app:create_app_from_env`."""
    return create_app(Settings.from_env())


def create_worker_app_from_env() -> Litestar:
    """The factory of `kurultai serve --workers N`: migrations already ran in the parent."""
    limit_malloc_arenas()
    tune_gc()
    return create_app(Settings.from_env(), migrate=False, start_workers=True)


#: Collection thresholds of a serving process (Python's defaults are 700, 10, 10).
GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Run the cyclic garbage collector less often in a serving process.

    Each request allocates a few hundred short-lived objects; with the default thresholds the
    collector ran a young collection every couple of ballots, and the older generations (every
    object of the process, an open election's state included) over and over. Nearly all those
    objects are freed by reference counting anyway; the rest waits a little longer. Measured
    with bench/ingest.py in interleaved runs: ~12 µs less event-loop CPU per ballot and a 4-6 %
    higher accepted rate (docs/benchmarks.md).
    """
    import gc

    global _freeze_at_start
    gc.set_threshold(*thresholds)
    _freeze_at_start = True


#: Set by `tune_gc`: once the app has started, its long-lived objects (modules, routes, compiled
#: templates, ~80,000 objects) move to the collector's permanent generation (`gc.freeze`), so a
#: full collection walks only what was made since. Measured: a full collection of the imported
#: app alone takes ~35 ms on this machine, enough for one lag sample past 50 ms (issue #14).
_freeze_at_start = False


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas for this process (what `MALLOC_ARENA_MAX` does).

    glibc gives threads that allocate their own arenas, up to eight per core. The server's threads
    come and go (aiosqlite runs a thread per connection and Piccolo opens a connection per query;
    signature checks and the SQLite writer use the thread pool), so freed memory ends up spread
    over many arenas and RSS creeps up for the length of a vote. With two arenas the soak's RSS
    stays flat (docs/benchmarks.md). Elsewhere than glibc this does nothing.
    """
    import ctypes
    import ctypes.util

    m_arena_max = -8
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(m_arena_max, arenas)
    except (OSError, AttributeError):
        pass


#: Sent on every response served over HTTPS (directly, or through a trusted proxy that says so):
#: browsers then refuse plain HTTP to this host for two years.
HSTS = "max-age=63072000"


async def _strict_transport_security(message: Any, scope: Any) -> None:
    if message["type"] == "http.response.start" and scope.get("scheme") == "https":
        message.setdefault("headers", []).append((b"strict-transport-security", HSTS.encode()))


async def _security_headers(response: Any) -> Any:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
