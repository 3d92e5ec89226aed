"""The `kurultai` command line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from kurultai.settings import Settings
from voting.tally_cli import tally_command
from kurultai.members_cli import import_members_command

T = TypeVar("T")


def _run(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run `fn(ctx)` against a started database, then stop it."""
    from deliberation.context import on_started_database

    return asyncio.run(on_started_database(settings, fn))


@click.group(help="Kurultai: real-time structured deliberation and verifiable ranked voting.")
@click.pass_context
def cli(click_ctx: click.Context) -> None:
    click_ctx.obj = Settings.from_env()


@cli.command(help="Serve the web application (HTTP API, pages and websockets).")
@click.option("--host", default=None, help="Interface to bind (default: KURULTAI_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to bind (default: KURULTAI_PORT or 8000).")
@click.option("--demo-if-empty", is_flag=True, help="Seed the demo assembly when the database has none, and print its logins.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Worker processes; more than one needs PostgreSQL (KURULTAI_DATABASE_URL) and Redis (KURULTAI_REDIS_URL).",
)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None, help="TLS certificate (PEM); serve HTTPS (needs --tls-key).")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), default=None, help="TLS private key (PEM) for --tls-cert.")
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="One log line per HTTP request (a reverse proxy can keep them instead: at thousands of ballots a second they cost the server CPU).",
)
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]), help="Structured (JSON) log level.")
@click.pass_obj
def serve(
    settings: Settings,
    host: str | None,
    port: int | None,
    demo_if_empty: bool,
    workers: int,
    tls_cert: str | None,
    tls_key: str | None,
    log_level: str,
    access_log: bool,
) -> None:
    import uvicorn

    from kurultai.web.app import create_app, limit_malloc_arenas, tune_gc
    from kurultai.logs import log_config

    if bool(tls_cert) != bool(tls_key):
        click.echo("Error: --tls-cert and --tls-key go together", err=True)
        sys.exit(2)
    if tls_cert:  # behind TLS cookies are Secure (the workers read it from the environment)
        settings = settings.with_(cookie_secure=True)
        os.environ["KURULTAI_COOKIE_SECURE"] = "1"

    if workers > 1:
        missing = [name for name, ok in (("KURULTAI_DATABASE_URL (PostgreSQL)", settings.uses_postgres), ("KURULTAI_REDIS_URL (Redis)", bool(settings.redis_url))) if not ok]
        if missing:
            click.echo(f"Error: --workers {workers} needs PostgreSQL and Redis shared by the workers; set {' and '.join(missing)}", err=True)
            sys.exit(2)
    settings = settings.with_(host=host or settings.host, port=port or settings.port)
    if demo_if_empty:
        logins = _run(settings, _demo_if_empty)
        if logins:
            _print_logins(logins)
    url = f"{'https' if tls_cert else 'http'}://{settings.host}:{settings.port}"
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": log_config(log_level, access_log=access_log),
        "access_log": access_log,
        "ws_max_size": settings.ws_max_frame_bytes,
        # Live frames are ~200 bytes: per-message deflate gains little and costs each socket a
        # zlib context (~45 KiB) and ~17 µs of CPU per message (bench/fanout.py --deflate).
        "ws_per_message_deflate": False,
        # X-Forwarded-For/-Proto are believed only from the proxies named in
        # KURULTAI_TRUSTED_PROXIES; without any, uvicorn's proxy-headers middleware is off.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": ",".join(settings.trusted_proxies) or None,
    }
    if tls_cert:
        options.update(ssl_certfile=tls_cert, ssl_keyfile=tls_key)
    if workers > 1:
        from kurultai.db import Database

        asyncio.run(Database(settings).migrate())  # once, before the workers start
        click.echo(f"Kurultai is serving on {url} with {workers} workers  (Ctrl-C stops it)")
        uvicorn.run("kurultai.web.app:create_worker_app_from_env", factory=True, workers=workers, **options)
        return
    click.echo(f"Kurultai is serving on {url}  (Ctrl-C stops it)")
    limit_malloc_arenas()
    tune_gc()
    uvicorn.run(create_app(settings, start_workers=True), **options)


async def _demo_if_empty(ctx: Any) -> dict[str, Any] | None:
    from deliberation.tables import Assembly
    from kurultai.demo import create_demo

    if await Assembly.count() > 0:
        return None
    return await create_demo(ctx)


def _print_logins(logins: dict[str, Any]) -> None:
    click.echo(f"Demo assembly {logins['assembly']} created. Demo logins (also shown only now):")
    click.echo(f"  moderator  {logins['moderator']['username']:<14} {logins['moderator']['password']}")
    for role in ("secretary", "admin"):  # the set-up pages (issue #18)
        if role in logins:
            click.echo(f"  {role:<10} {logins[role]['username']:<14} {logins[role]['password']}")
    for d in logins["delegates"]:
        click.echo(f"  delegate   {d['username']:<14} {d['password']}")


@cli.command(help="Apply database migrations (also done at every start).")
@click.pass_obj
def migrate(settings: Settings) -> None:
    from kurultai.db import Database

    async def main() -> list[str]:
        return await Database(settings).migrate()

    applied = asyncio.run(main())
    click.echo(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


@cli.group(help="Manage user accounts.")
def user() -> None:
    pass


@user.command("add", help="Create a user; the password is read from standard input.")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user a global admin.")
@click.pass_obj
def user_add(settings: Settings, name: str, admin: bool) -> None:
    from deliberation import accounts
    from deliberation.core.errors import DeliberationError

    password = sys.stdin.readline().rstrip("\r\n")
    try:
        created = _run(settings, lambda ctx: accounts.create_user(ctx, name, password, is_admin=admin, actor="cli"))
    except DeliberationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created user {created.username}" + (" (admin)" if admin else ""))


@cli.command(help="Invite a delegate: prints a one-time link for setting a password.")
@click.argument("name")
@click.option("--assembly", "assembly_id", required=True, type=int, help="Assembly the user joins.")
@click.option("--role", default="delegate", type=click.Choice(["delegate", "secretary", "moderator", "observer"]), show_default=True)
@click.option("--base-url", default=None, help="Base URL of the server for the link (default http://HOST:PORT).")
@click.pass_obj
def invite(settings: Settings, name: str, assembly_id: int, role: str, base_url: str | None) -> None:
    from deliberation import accounts, assemblies
    from deliberation.core.errors import DeliberationError
    from deliberation.tables import User

    async def main(ctx: Any) -> str:
        await assemblies.get_assembly(assembly_id)
        row = await User.select(User.id).where(User.username == name).first()
        uid = row["id"] if row else (await accounts.create_user(ctx, name, None, actor="cli")).id
        await assemblies.set_member(ctx, assembly_id, "cli", name, role)
        return await accounts.create_invite(ctx, uid, "cli")

    try:
        token = _run(settings, main)
    except DeliberationError as exc:
        raise click.ClickException(str(exc)) from None
    base = (base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    click.echo(f"{base}/invite/{token}")


@cli.command(
    "import-draft",
    help=(
        "Import a draft law into assembly ASSEMBLY_ID from FILE (.docx, .odt, or UTF-8 text/Markdown): one provision per "
        'recognised article ("Статья 5.", "5-бап.", "Article 5."; chapters "Глава 2", "2-тарау", "Chapter 2"), '
        "after the current text, in one transaction. With --dry-run nothing is written and what was recognised is printed as "
        "JSON (articles, chapters, parts not recognised, warnings). Bad input (empty, too large: KURULTAI_MAX_UPLOAD_BYTES, "
        "not a document, damaged, password-protected, a ZIP bomb, XML entities, no article, a repeated or taken number) "
        "exits 2 with a one-line reason, and nothing is written."
    ),
)
@click.argument("assembly_id", type=int)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what was recognised as JSON; write nothing.")
@click.pass_obj
def import_draft_command(settings: Settings, assembly_id: int, file: Path, dry_run: bool) -> None:
    from deliberation import assemblies, draft_import
    from deliberation.core.errors import DeliberationError

    def fail(reason: str) -> None:
        click.echo(f"Error: {reason}", err=True)
        sys.exit(2)

    try:
        size = file.stat().st_size
        draft_import.check_size(size, settings.max_upload_bytes)
        data = file.read_bytes()
    except DeliberationError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot read {file}: {exc.strerror or exc}")
    try:
        fmt, found = draft_import.recognise_document(data, file.name, settings.max_upload_bytes)
    except DeliberationError as exc:
        return fail(str(exc))

    async def main(ctx: Any) -> dict[str, Any]:
        await assemblies.get_assembly(assembly_id)
        if dry_run:
            return draft_import.preview(fmt, found, await draft_import.existing_numbers(assembly_id))
        return await draft_import.import_draft(ctx, assembly_id, "cli", fmt, found)

    try:
        result = _run(settings, main)
    except DeliberationError as exc:
        return fail(str(exc))
    if dry_run:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        done = f"imported {len(result['provisions'])} provisions into assembly {assembly_id} (document version {result['document_version']})"
        click.echo(f"{done}; {result['skipped']} parts not recognised, {result['warnings']} warnings")


@cli.command(help="Create a new demo assembly (a draft Law on Non-Governmental Organizations).")
@click.option("--delegates", default=12, show_default=True, type=click.IntRange(0, 500), help="Number of delegates.")
@click.option("--json", "as_json", is_flag=True, help="Print the logins as one JSON object.")
@click.pass_obj
def demo(settings: Settings, delegates: int, as_json: bool) -> None:
    from kurultai.demo import create_demo

    logins = _run(settings, lambda ctx: create_demo(ctx, delegates))
    if as_json:
        click.echo(json.dumps(logins, ensure_ascii=False))
    else:
        _print_logins(logins)


cli.add_command(tally_command)


@cli.command("server-key", help="Print the server's public key (PROTOCOL §2) as JSON; creates it on first use.")
@click.pass_obj
def server_key_command(settings: Settings) -> None:
    from voting.server_key import fingerprint, load_or_create, public_view

    signer = load_or_create(settings.data_dir)
    click.echo(json.dumps(public_view(signer)))
    click.echo(f"fingerprint: {fingerprint(signer)}", err=True)


@cli.command("export", help="Write an election's signed objects and board as files (mode 0600; DIR is created 0700) for `kurultai verify --offline DIR`.")
@click.argument("election_id", type=int)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def export_command(settings: Settings, election_id: int, directory: Path) -> None:
    from deliberation.core.errors import DeliberationError
    from voting.export import export_election
    from voting.server_key import load_or_create

    signer = load_or_create(settings.data_dir)
    try:
        summary = _run(settings, lambda ctx: export_election(election_id, directory, signer))
    except DeliberationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"exported election {summary['election']} ({summary['status']}, {summary['ballots']} ballots) to {directory}")


def _register_client_commands() -> None:
    try:
        from voting.client_cli import COMMANDS
    except ImportError:  # the client commands land with the verifier (issue #4)
        return
    for command in COMMANDS:
        cli.add_command(command)


_register_client_commands()


def _register_record_commands() -> None:
    """`kurultai archive`, `adopted-text`, `minutes` and `table` (issue #19; kurultai/record/commands.py)."""
    from kurultai.record.commands import COMMANDS as RECORD_COMMANDS
    from kurultai.record.cards_command import invitations_command  # `kurultai invitations` (issue #18)

    for command in [*RECORD_COMMANDS, invitations_command]:
        cli.add_command(command)


_register_record_commands()
cli.add_command(import_members_command)  # issue #18


@cli.command("backup", help="Copy the SQLite database into DEST (a new file, mode 0600) with SQLite's online backup, while the server runs.")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def backup_command(settings: Settings, dest: Path) -> None:
    """A consistent copy even during writes (sqlite3 `Connection.backup`). Restore: stop the
    server, copy DEST to `$KURULTAI_DATA_DIR/kurultai.sqlite3` with the server key beside it."""
    import sqlite3

    from kurultai.files import private_dir, private_file

    if settings.uses_postgres:
        raise click.ClickException("kurultai backup copies the SQLite file; on PostgreSQL use pg_dump -Fc (see docs/operations.md, Backups)")
    source_path = settings.sqlite_path
    if not source_path.exists():
        raise click.ClickException(f"no database at {source_path}")
    private_dir(dest.parent, tighten_existing=False)  # a directory we create is 0700; the user's stays as it is
    try:
        private_file(dest, exist_ok=False)  # 0600 before SQLite writes to it (its journal files take the same mode)
    except FileExistsError:
        raise click.ClickException(f"{dest} exists; choose a new file") from None
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(dest)
    try:
        source.backup(target, pages=1024)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        ok = target.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        target.close()
        source.close()
    if ok != "ok":
        raise click.ClickException(f"the copy failed its integrity check: {ok}")
    click.echo(f"backed up {source_path} to {dest} ({dest.stat().st_size} bytes); keep {settings.data_dir / 'server-key.ed25519'} with it")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
