"""`kurultai archive`, `kurultai adopted-text`, `kurultai minutes` and `kurultai table` (registered by kurultai/cli.py, as the client
commands of voting/client_cli.py are). Bad input exits 2 with one line on stderr; the files are
created with mode 0600, like `kurultai export`'s."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from kurultai.settings import Settings

T = TypeVar("T")
EXIT_BAD_INPUT = 2


def _die(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _with_db(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run `fn(ctx)` against the started database, then stop it."""
    from deliberation.context import on_started_database

    return asyncio.run(on_started_database(settings, fn))


def _check_out(out: Path, suffix: str) -> None:
    if out.is_dir():
        _die(f"{out} is a directory; give a file name ending in {suffix}")
    if out.suffix.lower() != suffix:
        _die(f"the output file must end in {suffix}, got {out.name!r}")
    if out.parent.exists() and not out.parent.is_dir():
        _die(f"{out.parent} is not a directory")


def _read(settings: Settings, assembly_id: int, *, with_bundles: bool) -> Any:
    from deliberation.core.errors import DeliberationError
    from kurultai.record.public import public_record
    from voting.server_key import load_or_create

    signer = load_or_create(settings.data_dir)
    try:
        return _with_db(settings, lambda ctx: public_record(assembly_id, now_ms=ctx.now(), server_public_key=signer.public_key_raw, with_bundles=with_bundles))
    except DeliberationError as exc:
        _die(str(exc))


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@click.command("archive", help="Write the open-data archive of an assembly (one .zip, mode 0600: JSON, CSV, JSON Schemas and each election as `kurultai export` writes it; docs/open-data.md).")
@click.argument("assembly_id", type=int)
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="The .zip file to write (replaced if it exists).")
@click.pass_obj
def archive_command(settings: Settings, assembly_id: int, out: Path) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from kurultai.record.archive import write_archive_file

    _check_out(out, ".zip")
    console = _console()
    with console.status(f"reading assembly {assembly_id}") if console.is_terminal else contextlib.nullcontext():
        record = _read(settings, assembly_id, with_bundles=True)
    with Progress(TextColumn("writing {task.description}"), BarColumn(), MofNCompleteColumn(), console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("archive", total=None)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        try:
            summary = write_archive_file(record, out, progress)
        except OSError as exc:
            _die(f"cannot write {out}: {exc.strerror or exc}")
    click.echo(f"archived assembly {summary.assembly} ({summary.files} files, {summary.elections} elections) to {out}")


@click.command("adopted-text", help="Write the adopted text of an assembly as PDF or DOCX (mode 0600) in kk, ru or en, each provision with its version history.")
@click.argument("assembly_id", type=int)
@click.option("--format", "fmt", default="pdf", show_default=True, help="pdf or docx.")
@click.option("--lang", "lang", default="kk", show_default=True, help="kk, ru or en.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="The file to write (replaced if it exists).")
@click.option("--base-url", default=None, help="The server's public address for the history links (default http://HOST:PORT).")
@click.pass_obj
def adopted_text_command(settings: Settings, assembly_id: int, fmt: str, lang: str, out: Path, base_url: str | None) -> None:
    from kurultai.record.adopted import check_format, render_adopted
    from kurultai.record.render import RecordError, check_lang

    try:
        check_format(fmt)
        check_lang(lang)
    except RecordError as exc:
        _die(str(exc))
    _check_out(out, f".{fmt}")
    record = _read(settings, assembly_id, with_bundles=False)
    base = (base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    console = _console()
    with console.status(f"rendering the {fmt.upper()}") if console.is_terminal else contextlib.nullcontext():
        try:
            data = render_adopted(record, fmt, lang, base)
        except RecordError as exc:
            _die(str(exc))
    try:
        write_private_file(out, data)
    except OSError as exc:
        _die(f"cannot write {out}: {exc.strerror or exc}")
    click.echo(f"wrote the adopted text of assembly {assembly_id} ({fmt}, {lang}, {len(data)} bytes) to {out}")


def _document(settings: Settings, what: str, assembly_id: int, fmt: str, lang: str, out: Path, render: Callable[[Any], bytes]) -> None:
    """Check the input, read the assembly, render `what` with `render(record)` and write it 0600."""
    from kurultai.record.render import RecordError, check_format, check_lang

    try:
        check_format(fmt)
        check_lang(lang)
    except RecordError as exc:
        _die(str(exc))
    _check_out(out, f".{fmt}")
    console = _console()
    with console.status(f"reading assembly {assembly_id}") if console.is_terminal else contextlib.nullcontext():
        record = _read(settings, assembly_id, with_bundles=True)
    with console.status(f"rendering the {what} ({fmt.upper()})") if console.is_terminal else contextlib.nullcontext():
        try:
            data = render(record)
        except RecordError as exc:
            _die(str(exc))
    try:
        write_private_file(out, data)
    except OSError as exc:
        _die(f"cannot write {out}: {exc.strerror or exc}")
    click.echo(f"wrote the {what} of assembly {assembly_id} ({fmt}, {lang}, {len(data)} bytes) to {out}")


@click.command(
    "minutes",
    help="Write the minutes of the sitting of an assembly as PDF or DOCX (mode 0600) in kk, ru or en: attendance, each agenda item with its phases, speakers, amendments and votes, and how to verify each vote (digest, signed tree head, signature, a QR code).",
)
@click.argument("assembly_id", type=int)
@click.option("--format", "fmt", default="pdf", show_default=True, help="pdf or docx.")
@click.option("--lang", "lang", default="kk", show_default=True, help="kk, ru or en.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="The file to write (replaced if it exists).")
@click.option("--place", default=None, help="Where the sitting was held (the assembly does not record it; default: “not recorded”).")
@click.option("--base-url", default=None, help="The server's public address for the QR codes and links (default http://HOST:PORT).")
@click.pass_obj
def minutes_command(settings: Settings, assembly_id: int, fmt: str, lang: str, out: Path, place: str | None, base_url: str | None) -> None:
    from kurultai.record.minutes import render_minutes

    if place is not None and (len(place) > 300 or any(ord(ch) < 32 for ch in place)):
        _die(f"--place must be one line of at most 300 characters, got {len(place)} characters")
    base = (base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    _document(settings, "minutes", assembly_id, fmt, lang, out, lambda record: render_minutes(record, fmt, lang, base, place))


@click.command(
    "table",
    help="Write the comparative table of an assembly as PDF or DOCX (landscape, mode 0600) in kk, ru or en: one row per amended provision with the wording before, the adopted wording with the changes marked, and the amendments proposed.",
)
@click.argument("assembly_id", type=int)
@click.option("--format", "fmt", default="pdf", show_default=True, help="pdf or docx.")
@click.option("--lang", "lang", default="kk", show_default=True, help="kk, ru or en.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="The file to write (replaced if it exists).")
@click.pass_obj
def table_command(settings: Settings, assembly_id: int, fmt: str, lang: str, out: Path) -> None:
    from kurultai.record.table import render_table

    _document(settings, "comparative table", assembly_id, fmt, lang, out, lambda record: render_table(record, fmt, lang))


def write_private_file(out: Path, data: bytes) -> None:
    """`data` into `out` with mode 0600, through a private file beside it (never open to others)."""
    from kurultai.files import PRIVATE_FILE_MODE, private_dir

    private_dir(out.parent, tighten_existing=False)
    fd, tmp = tempfile.mkstemp(prefix=".record-", suffix=".part", dir=out.parent)  # mode 0600
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


COMMANDS = [archive_command, adopted_text_command, minutes_command, table_command]
