"""`kurultai invitations ASSEMBLY_ID --pdf OUT.pdf` (issue #18; registered by kurultai/cli.py):
the invitation cards of kurultai/record/cards.py from the command line, for scripted set-ups.
Bad input exits 2 with one line on stderr before anything is written or issued; the PDF is
written atomically with mode 0600 (it holds working links), as the record's commands write."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import click

from kurultai.record.commands import _check_out, _console, _die, _with_db, write_private_file
from kurultai.settings import Settings


@click.command(
    "invitations",
    help=(
        "Write invitation cards (an A4 PDF, eight cards a page, mode 0600) for the members of assembly ASSEMBLY_ID who have not set "
        "a password: each with the member's name, the assembly, and a new one-time link as text and as a QR code. The links "
        "printed before for them stop working; links expire after KURULTAI_INVITE_TTL_HOURS (default 168). Bad input exits 2."
    ),
)
@click.argument("assembly_id", type=int)
@click.option("--pdf", "out", required=True, type=click.Path(path_type=Path), help="The .pdf file to write (replaced if it exists).")
@click.option("--lang", "lang", default="kk", show_default=True, help="kk, ru or en.")
@click.option("--base-url", default=None, help="The server's public address for the links (default http://HOST:PORT).")
@click.option("--only-new", is_flag=True, help="Only members who hold no working link (added since the last print): the cards handed out before keep working.")
@click.pass_obj
def invitations_command(settings: Settings, assembly_id: int, out: Path, lang: str, base_url: str | None, only_new: bool) -> None:
    from deliberation.core.errors import DeliberationError
    from kurultai.record.cards import CardSet, issue_cards, render_cards
    from kurultai.record.render import RecordError, check_lang, font_face_css

    try:
        check_lang(lang)
        font_face_css()  # a missing font is found before any link is issued
    except RecordError as exc:
        _die(str(exc))
    _check_out(out, ".pdf")
    base = (base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    if not base.startswith(("http://", "https://")) or any(ch.isspace() for ch in base):
        _die(f"--base-url must be an http:// or https:// address, got {base_url!r}")
    if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        _die(f"cannot write into {out.parent}: no such folder, or not writable")

    async def issue(ctx: Any) -> CardSet:
        return await issue_cards(ctx, assembly_id, "cli", base, only_new=only_new)

    console = _console()
    with console.status(f"issuing the links of assembly {assembly_id}") if console.is_terminal else contextlib.nullcontext():
        try:
            cards = _with_db(settings, issue)
        except DeliberationError as exc:
            _die(str(exc))
    with console.status("rendering the PDF") if console.is_terminal else contextlib.nullcontext():
        try:
            data = render_cards(cards, lang)
        except RecordError as exc:
            _die(str(exc))
    try:
        write_private_file(out, data)
    except OSError as exc:
        _die(f"cannot write {out}: {exc.strerror or exc}")
    click.echo(f"wrote {len(cards.cards)} invitation cards of assembly {assembly_id} ({lang}, {len(data)} bytes) to {out}")
