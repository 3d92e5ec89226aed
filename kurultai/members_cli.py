"""`kurultai import-members ASSEMBLY_ID FILE [--dry-run]` (issue #18; registered by kurultai/cli.py).

Bad input (a file that cannot be read, an unknown assembly, any row with an error) exits 2 with
one line on stderr, and nothing is written."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from kurultai.settings import Settings

EXIT_BAD_INPUT = 2


def _fail(reason: str) -> NoReturn:
    click.echo(f"Error: {reason}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.command(
    "import-members",
    help=(
        "Import the members of assembly ASSEMBLY_ID from FILE: a CSV (UTF-8, with or without a BOM; comma or semicolon) or an "
        ".xlsx workbook (its first sheet) with the header display_name,username,email,role,weight,language (other columns "
        "ignored; only display_name required; an empty username is made from the name; role delegate by default, or observer; "
        "weight 1 by default). New users get no password: invite them (kurultai invite, or the invitation cards). All rows are "
        "written in one transaction. With --dry-run nothing is written and the preview (the rows as they would be written, and "
        "every row's errors) is printed as JSON. Bad input (a file too large: KURULTAI_MAX_UPLOAD_BYTES, not CSV or .xlsx, "
        "damaged, password-protected, a ZIP bomb, XML entities, no display_name column, any row with an error) exits 2 with a "
        "one-line reason, and nothing is written."
    ),
)
@click.argument("assembly_id", type=int)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the preview as JSON; write nothing.")
@click.pass_obj
def import_members_command(settings: Settings, assembly_id: int, file: Path, dry_run: bool) -> None:
    from deliberation import assemblies, members_import
    from deliberation.context import Ctx, on_started_database
    from deliberation.core.errors import DeliberationError
    from deliberation.draft_import import check_size

    try:
        check_size(file.stat().st_size, settings.max_upload_bytes)
        data = file.read_bytes()
        sheet = members_import.read_members_file(data, file.name, settings.max_upload_bytes)
    except DeliberationError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")

    async def work(ctx: Ctx) -> dict[str, Any]:
        await assemblies.get_assembly(assembly_id)
        if dry_run:
            return await members_import.preview(assembly_id, sheet, may_appoint=True)
        return await members_import.import_members(ctx, assembly_id, "cli", sheet, may_appoint=True)

    try:
        result = asyncio.run(on_started_database(settings, work))
    except members_import.InvalidRows as exc:
        first = exc.errors[0]
        _fail(f"{len(exc.errors)} row errors, nothing was imported (see --dry-run); the first: row {first['row']} {first['field']}: {first['detail']}")
    except DeliberationError as exc:
        _fail(str(exc))
    if dry_run:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        click.echo(f"imported {len(result['members'])} members into assembly {assembly_id} ({result['created_users']} new users, without a password: invite them)")
