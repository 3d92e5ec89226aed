"""A draft law from a document (issue #18): read a .docx, .odt or text/Markdown file, recognise
its articles (`deliberation.core.structure`), write them as provisions in one transaction, and
build the agenda from the provisions in one step.

Reading fails closed. Every problem is its own `DraftImportError` (a 4xx `{"error", "detail"}`
at the API, exit 2 in the CLI) and nothing is written: an empty or oversize file, a file that is
neither a document nor UTF-8 text, a broken ZIP or XML, a password-protected document, a ZIP
that unpacks to far more than it weighs (a zip bomb), or XML with a DTD (entity expansion,
external entities). Every XML part is parsed with `defusedxml` (DTDs forbidden) before
python-docx or odfpy sees the file.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from deliberation.common import load_locked
from deliberation.context import Ctx
from deliberation.core.errors import DeliberationError
from deliberation.core.structure import Block, Recognised, articles_label, article_label, guess_language, recognise
from kurultai.unit_of_work import Tx
from deliberation.tables import AgendaProvision, Assembly, Provision

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_ZIP_ENTRIES = 2000
MAX_RATIO = 100  # unpacked / packed of one ZIP entry larger than 1 MiB
MAX_UNPACKED_FACTOR = 10  # the whole archive unpacked, times the upload limit
MAX_ARTICLES = 5000
FORMATS = ("docx", "odt", "text")
CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE: an encrypted Office file or an old .doc
ODT_MIME = "application/vnd.oasis.opendocument.text"


class DraftImportError(DeliberationError):
    code = "bad_document"
    status = 400


class EmptyDocument(DraftImportError):
    code = "empty_document"


class DocumentTooLarge(DraftImportError):
    code = "document_too_large"
    status = 413


class UnsupportedDocument(DraftImportError):
    code = "unsupported_document"
    status = 415


class MalformedDocument(DraftImportError):
    code = "malformed_document"


class EncryptedDocument(DraftImportError):
    code = "encrypted_document"


class HostileDocument(DraftImportError):
    code = "hostile_document"


class NothingRecognised(DraftImportError):
    code = "nothing_recognised"
    status = 422


class DuplicateNumbers(DraftImportError):
    code = "duplicate_number"
    status = 409


# -- reading --------------------------------------------------------------------------------------


def size_text(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def check_size(size: int, limit: int) -> None:
    if size > limit:
        raise DocumentTooLarge(f"the file is {size_text(size)}; the limit is {size_text(limit)} (KURULTAI_MAX_UPLOAD_BYTES)")


def read_document(data: bytes, filename: str | None = None, limit: int = DEFAULT_MAX_BYTES) -> tuple[str, list[Block]]:
    """(format, blocks) of an uploaded file; the format is taken from the content, the file name
    only makes the error clearer."""
    check_size(len(data), limit)
    if not data.strip():
        raise EmptyDocument("the file is empty")
    ext = (filename or "").rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    if data.startswith(CFB_MAGIC):
        raise EncryptedDocument("this is a password-protected Office document or an old Word .doc; save it without a password as .docx or .odt")
    if data.startswith(b"%PDF"):
        raise UnsupportedDocument("PDF files are not read; save the draft as .docx, .odt or plain text")
    if data.startswith(b"PK"):
        zf = _open_zip(data, limit)
        names = set(zf.namelist())
        if "word/document.xml" in names:
            return "docx", _read_docx(zf, data)
        if "content.xml" in names:
            mime = _zip_read(zf, "mimetype").strip() if "mimetype" in names else b""
            if mime not in (b"", ODT_MIME.encode()):
                raise UnsupportedDocument(f"this OpenDocument file is {mime.decode(errors='replace')[:80]!r}, not a text document (.odt)")
            return "odt", _read_odt(zf, data)
        raise UnsupportedDocument("this ZIP archive is neither a Word .docx nor an OpenDocument .odt text")
    if ext in ("docx", "odt", "doc", "xlsx"):
        raise MalformedDocument(f"this file is named .{ext} but is not a {ext} document (it is not a ZIP archive)")
    if b"\x00" in data[:65536]:
        raise UnsupportedDocument("this is a binary file, not a document or text; use .docx, .odt, .txt or .md")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedDocument(f"the text is not UTF-8 (byte {exc.start}); save it as UTF-8") from None
    return "text", [Block(line) for line in text.splitlines()]


def _open_zip(data: bytes, limit: int) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise MalformedDocument(f"the file is not a readable ZIP archive (.docx and .odt are ZIP archives): {exc}") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise HostileDocument(f"the archive has {len(infos)} parts; a document has at most {MAX_ZIP_ENTRIES}")
    if any(i.flag_bits & 0x1 for i in infos):
        raise EncryptedDocument("the document is encrypted; save it without a password")
    total = 0
    for i in infos:
        total += i.file_size
        if i.file_size > 1024 * 1024 and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise HostileDocument(f"part {i.filename!r} unpacks to {size_text(i.file_size)} from {size_text(i.compress_size)} (a zip bomb); refused")
    if total > MAX_UNPACKED_FACTOR * limit:
        raise HostileDocument(f"the archive unpacks to {size_text(total)}, more than {MAX_UNPACKED_FACTOR} times the upload limit (a zip bomb); refused")
    return zf


def _zip_read(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:  # CRC, truncation, a method we lack
        raise MalformedDocument(f"part {name!r} of the archive cannot be read: {exc}") from None


def _safe_xml(zf: zipfile.ZipFile, name: str) -> Any:
    """Parse one XML part with defusedxml (no DTD, no entities, no external references)."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    raw = _zip_read(zf, name)
    try:
        return fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise HostileDocument(f"part {name!r} declares a DTD or entities (XML entity expansion is refused): {type(exc).__name__}") from None
    except ParseError as exc:
        raise MalformedDocument(f"part {name!r} is not well-formed XML: {exc}") from None


def _check_xml_parts(zf: zipfile.ZipFile) -> dict[str, Any]:
    parsed = {}
    for name in zf.namelist():
        if name.endswith((".xml", ".rels")):
            parsed[name] = _safe_xml(zf, name)
    return parsed


W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _read_docx(zf: zipfile.ZipFile, data: bytes) -> list[Block]:
    parsed = _check_xml_parts(zf)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors, PackageNotFoundError…
        raise MalformedDocument(f"the .docx cannot be opened: {type(exc).__name__}: {exc}") from None
    blocks: list[Block] = []

    def walk(parent: Any) -> None:
        for child in parent.iterchildren():
            if child.tag == f"{W}p":
                blocks.append(Block(Paragraph(child, document).text))
            elif child.tag == f"{W}tbl":
                for row in Table(child, document).rows:
                    cells: list[str] = []
                    seen: set[int] = set()
                    for cell in row.cells:
                        if id(cell._tc) in seen:  # a merged cell repeats
                            continue
                        seen.add(id(cell._tc))
                        cells.append(" ".join(cell.text.split()))
                    blocks.append(Block(" | ".join(cells), "table"))
            elif child.tag == f"{W}sdt":  # a content control: its content
                content = child.find(f"{W}sdtContent")
                if content is not None:
                    walk(content)

    try:
        walk(document.element.body)
    except Exception as exc:
        raise MalformedDocument(f"the .docx cannot be read: {type(exc).__name__}: {exc}") from None
    notes = parsed.get("word/footnotes.xml")
    if notes is not None:
        for note in notes.iter(f"{W}footnote"):
            if note.get(f"{W}type") in ("separator", "continuationSeparator", "continuationNotice"):
                continue
            text = " ".join("".join(t.text or "" for t in note.iter(f"{W}t")).split())
            if text:
                blocks.append(Block(text, "footnote"))
    return blocks


def _read_odt(zf: zipfile.ZipFile, data: bytes) -> list[Block]:
    parsed = _check_xml_parts(zf)
    manifest = parsed.get("META-INF/manifest.xml")
    if manifest is not None and any(el.tag.endswith("}encryption-data") for el in manifest.iter()):
        raise EncryptedDocument("the document is encrypted; save it without a password")
    if "content.xml" not in parsed:
        raise MalformedDocument("the .odt has no content.xml")
    from odf.opendocument import load as odf_load

    try:
        document = odf_load(io.BytesIO(data))
    except Exception as exc:  # odfpy raises KeyError, SAX errors, AttributeError…
        raise MalformedDocument(f"the .odt cannot be opened: {type(exc).__name__}: {exc}") from None
    blocks: list[Block] = []
    notes: list[str] = []
    try:
        _odt_walk(document.text, blocks, notes)
    except RecursionError:
        raise HostileDocument("the .odt nests its elements too deeply") from None
    blocks.extend(Block(n, "footnote") for n in notes if n)
    return blocks


_TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"


def _odt_text(node: Any, notes: list[str]) -> str:
    """The text of a paragraph or heading; notes go to `notes`, their citations are dropped."""
    out: list[str] = []
    for child in node.childNodes:
        if child.nodeType == child.TEXT_NODE:
            out.append(str(child.data))
            continue
        if child.nodeType != child.ELEMENT_NODE:
            continue
        ns, name = child.qname
        if ns == _TEXT_NS and name == "note":
            body = [c for c in child.childNodes if c.nodeType == c.ELEMENT_NODE and c.qname == (_TEXT_NS, "note-body")]
            for b in body:
                notes.append(" ".join(" ".join(_odt_text(p, notes) for p in b.childNodes if p.nodeType == p.ELEMENT_NODE).split()))
        elif ns == _TEXT_NS and name == "s":
            out.append(" " * int(child.getAttrNS(_TEXT_NS, "c") or 1))
        elif ns == _TEXT_NS and name == "tab":
            out.append("\t")
        elif ns == _TEXT_NS and name == "line-break":
            out.append("\n")
        else:
            out.append(_odt_text(child, notes))
    return "".join(out)


def _odt_walk(node: Any, blocks: list[Block], notes: list[str]) -> None:
    for child in node.childNodes:
        if child.nodeType != child.ELEMENT_NODE:
            continue
        ns, name = child.qname
        if ns == _TEXT_NS and name in ("p", "h"):
            blocks.append(Block(_odt_text(child, notes)))
        elif ns == _TABLE_NS and name == "table-row":
            cells = [" ".join(_odt_text(c, notes).split()) for c in child.childNodes if c.nodeType == c.ELEMENT_NODE and c.qname == (_TABLE_NS, "table-cell")]
            blocks.append(Block(" | ".join(cells), "table"))
        elif ns == _TABLE_NS and name == "table-cell":
            continue
        else:
            _odt_walk(child, blocks, notes)


def recognise_document(data: bytes, filename: str | None = None, limit: int = DEFAULT_MAX_BYTES) -> tuple[str, Recognised]:
    """(format, what was recognised); raises a `DraftImportError` for a file it cannot use."""
    fmt, blocks = read_document(data, filename, limit)
    found = recognise(blocks)
    if not found.articles:
        raise NothingRecognised(f"no article was recognised in {found.lines} lines: expected lines starting with “Статья 1.”, “1-бап.”, “Article 1.” (or numbered paragraphs “1.”, “1)”)")
    if len(found.articles) > MAX_ARTICLES:
        raise DraftImportError(f"{len(found.articles)} articles; at most {MAX_ARTICLES} are imported at once")
    return fmt, found


def preview(fmt: str, found: Recognised, existing_numbers: set[str] | None = None) -> dict[str, Any]:
    """What a preview shows: the recognised structure and the numbers that would collide."""
    return {"format": fmt, **found.to_dict(), "conflicts": sorted({a.number for a in found.articles} & (existing_numbers or set()))}


async def existing_numbers(assembly_id: int) -> set[str]:
    return {r["number"] for r in await Provision.select(Provision.number).where(Provision.assembly == assembly_id)}


# -- writing --------------------------------------------------------------------------------------


async def import_draft(ctx: Ctx, assembly_id: int, actor: str, fmt: str, found: Recognised) -> dict[str, Any]:
    """Write every recognised article as a provision, after the current text, in one
    transaction and one document version. Refused (nothing written) when a number repeats in
    the file or is already taken in the assembly."""
    from deliberation import draft

    dupes = sorted({a.number for a in found.articles if sum(1 for b in found.articles if b.number == a.number) > 1})
    if dupes:
        raise DuplicateNumbers(f"the file numbers more than one article {', '.join(dupes)}; fix the numbering and try again")

    async def run(tx: Tx) -> dict[str, Any]:
        await load_locked(tx, Assembly, assembly_id, "assembly")
        taken = sorted({a.number for a in found.articles} & await existing_numbers(assembly_id))
        if taken:
            raise DuplicateNumbers(f"assembly {assembly_id} already has provisions numbered {', '.join(taken[:20])}")
        version = await draft.bump_version(assembly_id)
        ids: list[int] = []
        after: int | None = None
        order = await draft._positions(assembly_id)
        if order:
            after = order[-1][0]
        for a in found.articles:
            pid = await draft.add_provision_tx(tx, assembly_id, number=a.number, kind=a.kind, title=a.heading, text=a.text, after=after, version=version)
            if a.chapter:
                await Provision.update({Provision.chapter: a.chapter[:300]}).where(Provision.id == pid)
            ids.append(pid)
            after = pid
        await tx.audit(assembly_id, actor, "draft.imported", {"format": fmt, "provisions": len(ids), "document_version": version})
        await tx.emit(assembly_id, "provision.updated", {"change": "imported", "provisions": ids, "document_version": version})
        return {"assembly": assembly_id, "format": fmt, "document_version": version, "provisions": ids, "skipped": len(found.skipped), "warnings": len(found.warnings)}

    return await ctx.write(run)


PER = ("article", "chapter")


async def agenda_from_provisions(ctx: Ctx, assembly_id: int, actor: str, per: str, planned_minutes: int = 15) -> list[dict[str, Any]]:
    """One agenda item per article, or per chapter, for the provisions of the current text that
    are on no item yet; in one transaction. Titles: "Статья 5. Heading" (or "5-бап.",
    "Article 5." by the language of the text) per article, the chapter's line per chapter."""
    from deliberation import agenda, draft

    if per not in PER:
        from deliberation.core.errors import InvalidInput

        raise InvalidInput(f"per must be one of {list(PER)}, got {per!r}")

    async def run(tx: Tx) -> list[dict[str, Any]]:
        await load_locked(tx, Assembly, assembly_id, "assembly")
        doc = await draft.document(assembly_id)
        placed = {r["provision"] for r in await AgendaProvision.select(AgendaProvision.provision).where(AgendaProvision.provision.assembly == assembly_id)}
        todo = [p for p in doc["provisions"] if p["id"] not in placed]
        if not todo:
            from deliberation.core.errors import InvalidInput

            raise InvalidInput("every provision of the current text is already on the agenda (or there is none)")
        chapters = {r["id"]: r["chapter"] for r in await Provision.select(Provision.id, Provision.chapter).where(Provision.assembly == assembly_id)}
        lang = guess_language(" ".join((p["title"] + " " + chapters.get(p["id"], ""))[:200] for p in todo[:20]))
        groups: list[tuple[str, list[dict[str, Any]]]] = []
        if per == "article":
            for p in todo:
                if p["kind"] == "article":
                    label = article_label(p["number"], lang)
                    groups.append((f"{label}. {p['title']}" if p["title"] else label, [p]))
                else:
                    groups.append((f"{p['number']}. {p['title'] or p['text'][:80]}", [p]))
        else:
            runs: list[tuple[str, list[dict[str, Any]]]] = []
            for p in todo:
                chapter = chapters.get(p["id"], "")
                if runs and runs[-1][0] == chapter:
                    runs[-1][1].append(p)
                else:
                    runs.append((chapter, [p]))
            groups = [(chapter or articles_label(ps[0]["number"], ps[-1]["number"], lang), ps) for chapter, ps in runs]
        views = []
        for title, ps in groups:
            views.append(await agenda.create_item_tx(tx, assembly_id, actor, title=title[:300], planned_minutes=planned_minutes, provisions=[p["id"] for p in ps]))
        return views

    return await ctx.write(run)
