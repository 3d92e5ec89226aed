"""The open-data archive of a whole assembly: one .zip (format in docs/open-data.md).

`build_archive(record, target)` writes it from a `PublicRecord` (kurultai/record/public.py)
with no database and no event loop, so the server runs it in a thread. Each election directory
is written by `voting.client.write_bundle`, the very function behind `kurultai export`, so
`kurultai verify --offline` reads it unchanged.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from kurultai.files import PRIVATE_FILE_MODE, private_dir
from kurultai.record.public import PublicRecord
from kurultai.record.schemas import FORMAT_VERSION, SCHEMAS, schema_for
from voting.client import BUNDLE_FILES, write_bundle

FORMAT = "kurultai-open-data"
#: What a progress callback is told: (what is being written, steps done, steps in all).
Progress = Callable[[str, int, int], None]


def root_name(assembly_id: int) -> str:
    """The one folder at the top of the archive."""
    return f"kurultai-assembly-{int(assembly_id)}"


@dataclass(frozen=True)
class ArchiveSummary:
    assembly: int
    files: int
    elections: int
    bytes: int


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode()


#: Spreadsheets run a cell that starts with one of these as a formula: such a cell gets a
#: leading apostrophe in the CSV views (the JSON files keep the exact text).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) and not isinstance(value, (int, float)) else text


def _csv(columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> bytes:
    """UTF-8 with a byte order mark (so that spreadsheet programs see UTF-8), CRLF rows."""
    cols = list(columns)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(cols)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in cols])
    return buf.getvalue().encode("utf-8-sig")


def _winner(record: PublicRecord, election_id: str) -> str | None:
    stored = record.elections_stored.get(election_id)
    result = json.loads(stored.result) if stored and stored.result else None
    if isinstance(result, dict) and isinstance(result.get("signed"), dict):
        winner = result["signed"].get("winner")
        return winner if isinstance(winner, str) else None
    return None


def _sections(record: PublicRecord) -> list[tuple[str, Any, bytes | None]]:
    """(name, JSON value, CSV view or None) of each file of the assembly itself."""
    numbers = {p["id"]: p["number"] for p in record.provisions}
    amendments = [{**a, "provision_number": numbers.get(a["provision"])} for a in record.amendments]
    elections = [{**e, "winner": _winner(record, e["id"])} for e in record.elections]
    return [
        ("assembly", record.assembly, None),
        ("members", record.members, _csv(("user_id", "username", "display_name", "role"), record.members)),
        ("document", record.document, _csv(("id", "number", "kind", "title", "text", "version"), record.document["provisions"])),
        ("provisions", record.provisions, _csv(("id", "number", "kind", "chapter", "created_at"), record.provisions)),
        (
            "provision_versions",
            record.provision_versions,
            _csv(("provision", "number", "document_version", "position", "title", "text", "deleted", "amendment", "created_at"), record.provision_versions),
        ),
        (
            "amendments",
            record.amendments,
            _csv(
                ("id", "provision", "provision_number", "kind", "title", "text", "rationale", "author", "cosponsors", "status", "reason", "base_document_version", "created_at", "updated_at"),
                amendments,
            ),
        ),
        ("comments", record.comments, _csv(("id", "provision", "amendment", "parent", "author", "stance", "text", "created_at"), record.comments)),
        ("agenda", record.agenda, _csv(("id", "position", "title", "description", "planned_minutes", "phase", "speaking_time_s", "provisions", "outcome", "created_at"), record.agenda)),
        ("phase_changes", record.phase_changes, _csv(("audit_seq", "item", "from", "to", "reopened", "at", "by"), record.phase_changes)),
        (
            "speakers",
            record.speakers,
            _csv(("id", "item", "username", "display_name", "kind", "speech_type", "status", "requested_at", "started_at", "ended_at", "spoken_ms"), record.speakers),
        ),
        (
            "elections",
            record.elections,
            _csv(("id", "title", "kind", "method", "visibility", "named", "status", "agenda_item", "provision", "tree_size", "root_hash", "winner", "opened_at", "closed_at", "directory"), elections),
        ),
    ]


def _zip_time(iso_time: str) -> tuple[int, int, int, int, int, int]:
    try:
        when = dt.datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    except ValueError:
        when = dt.datetime(1980, 1, 1)
    when = max(when.replace(tzinfo=None), dt.datetime(1980, 1, 1))
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)


def build_archive(record: PublicRecord, target: BinaryIO, progress: Progress | None = None) -> ArchiveSummary:
    """Write the archive of `record` into the binary file `target`."""
    root = root_name(record.assembly["id"])
    stamp = _zip_time(record.generated_at)
    sections = _sections(record)
    total = len(sections) + len(record.elections_stored) + 1
    step = 0

    def tick(what: str) -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(what, step, total)

    manifest: list[dict[str, Any]] = []
    written = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:

        def add(path: str, data: bytes, media_type: str) -> None:
            nonlocal written
            info = zipfile.ZipInfo(f"{root}/{path}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
            written += len(data)
            if path != "manifest.json":
                manifest.append(
                    {"path": path, "schema": (f"schemas/{s}" if (s := schema_for(path)) else None), "media_type": media_type, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                )

        for name, value, view in sections:
            add(f"{name}.json", _json(value), "application/json")
            if view is not None:
                add(f"csv/{name}.csv", view, "text/csv; charset=utf-8")
            tick(name)
        if record.elections_stored:
            staging = Path(tempfile.mkdtemp(prefix=".archive-"))  # mode 0700
            try:
                for election_id, stored in record.elections_stored.items():
                    folder = staging / election_id
                    write_bundle(stored.bundle(record.server_public_key), folder)  # the files of `kurultai export`, byte for byte
                    for file in BUNDLE_FILES.values():
                        add(f"elections/{election_id}/{file}", (folder / file).read_bytes(), "application/json")
                    if election_id in record.registers:  # a named vote: who has voted (GET …/register)
                        add(f"elections/{election_id}/register.json", _json(record.registers[election_id]), "application/json")
                    shutil.rmtree(folder, ignore_errors=True)
                    tick(f"election {election_id}")
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        for name, schema in SCHEMAS.items():
            add(f"schemas/{name}", _json(schema), "application/schema+json")
        document_version = record.document["version"]
        add(
            "manifest.json",
            _json(
                {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "assembly": record.assembly["id"],
                    "generated_at": record.generated_at,
                    "document_version": document_version,
                    "server_key": record.server_key,
                    "files": manifest,
                }
            ),
            "application/json",
        )
        tick("manifest")
    return ArchiveSummary(assembly=record.assembly["id"], files=len(manifest) + 1, elections=len(record.elections_stored), bytes=written)


def archive_bytes(record: PublicRecord) -> bytes:
    """The archive in memory (the HTTP download)."""
    buf = io.BytesIO()
    build_archive(record, buf)
    return buf.getvalue()


def write_archive_file(record: PublicRecord, out: Path, progress: Progress | None = None) -> ArchiveSummary:
    """Write the archive to `out` with mode 0600: into a new private file beside it, then moved
    into place, so no reader ever sees a part of it and no file is ever open to others. A
    missing parent directory is created 0700."""
    private_dir(out.parent, tighten_existing=False)
    fd, tmp = tempfile.mkstemp(prefix=".archive-", suffix=".zip.part", dir=out.parent)  # mode 0600
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            summary = build_archive(record, f, progress)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return summary
