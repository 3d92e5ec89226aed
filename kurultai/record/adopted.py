"""The adopted text as PDF and DOCX, in a chosen language, beside the Markdown and HTML exports
of the consolidated text (deliberation/core/document.py).

The text is the consolidated draft at the assembly's current document version. Each provision
carries its version history: the document versions in which it changed, the adopted amendments
that changed it (with their authors), and the address of its public history
(`GET /api/provisions/{id}`); the header gives the address of the open-data archive, which holds
every version of every provision and every vote with its signatures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kurultai.i18n import N_, Lang
from kurultai.record.public import PublicRecord
from kurultai.record.render import FORMATS, MEDIA_TYPES, check_format, check_lang, docx_bytes, html_to_pdf, new_docx, render_html

__all__ = ["FORMATS", "MEDIA_TYPES", "check_format", "render_adopted"]


#: The labels of the adopted text, translated in locale/*/LC_MESSAGES/messages.po.
ADOPTED_TEXT = N_("Adopted text")
ARTICLE = N_("Article %(number)s")
WORDING = N_("Wording of document version %(version)s")
VERSIONS = N_("Versions: %(versions)s")
CHANGED_BY = N_("Changed in document version %(version)s by amendment %(n)s (author: %(author)s)")
HISTORY = N_("Every version of this provision: %(url)s")
SUBTITLE = N_("Consolidated text, document version %(version)s, as of %(date)s.")
ARCHIVE = N_("Every version of every provision, every amendment and every vote with its signatures: %(url)s")


@dataclass(frozen=True)
class Change:
    document_version: int
    amendment: int
    author: str | None


@dataclass(frozen=True)
class AdoptedProvision:
    id: int
    number: str
    kind: str  # article | paragraph
    title: str
    text: str
    version: int  # the document version of this wording
    versions: tuple[int, ...]  # every document version in which it changed
    changes: tuple[Change, ...]  # the adopted amendments that changed it
    history_url: str


@dataclass(frozen=True)
class AdoptedText:
    assembly: int
    title: str
    version: int
    generated_at: str
    archive_url: str
    provisions: tuple[AdoptedProvision, ...]


def adopted_text(record: PublicRecord, lang: Lang, base_url: str) -> AdoptedText:
    base = base_url.rstrip("/")
    authors = {a["id"]: a["author"] for a in record.amendments}
    history: dict[int, list[dict[str, Any]]] = {}
    for v in record.provision_versions:
        history.setdefault(v["provision"], []).append(v)
    provisions = []
    for p in record.document["provisions"]:
        versions = history.get(p["id"], [])
        provisions.append(
            AdoptedProvision(
                id=p["id"],
                number=p["number"],
                kind=p["kind"],
                title=p["title"].strip(),
                text=p["text"],
                version=p["version"],
                versions=tuple(sorted({v["document_version"] for v in versions})),
                changes=tuple(Change(v["document_version"], v["amendment"], authors.get(v["amendment"])) for v in versions if v["amendment"] is not None),
                history_url=f"{base}/api/provisions/{p['id']}",
            )
        )
    aid = record.assembly["id"]
    return AdoptedText(
        assembly=aid,
        title=lang.title_of(record.assembly) or record.document["title"],
        version=record.document["version"],
        generated_at=record.generated_at,
        archive_url=f"{base}/api/assemblies/{aid}/archive.zip",
        provisions=tuple(provisions),
    )


def heading(lang: Lang, p: AdoptedProvision) -> str:
    """An article's heading ("Article 3. Title"), or a paragraph's label ("1. Title")."""
    if p.kind == "article":
        head = lang.text(ARTICLE) % {"number": p.number}
        return f"{head}. {p.title}" if p.title else head
    return f"{p.number}. {p.title}" if p.title else f"{p.number}."


def history_lines(lang: Lang, p: AdoptedProvision) -> list[str]:
    """The version history of a provision, one line each (the same in the PDF and the DOCX)."""
    lines = [lang.text(WORDING) % {"version": lang.number(p.version)}]
    if len(p.versions) > 1:
        lines.append(lang.text(VERSIONS) % {"versions": ", ".join(lang.number(v) for v in p.versions)})
    for c in p.changes:
        lines.append(lang.text(CHANGED_BY) % {"version": lang.number(c.document_version), "n": c.amendment, "author": c.author or "—"})
    lines.append(lang.text(HISTORY) % {"url": p.history_url})
    return lines


def subtitle(lang: Lang, text: AdoptedText) -> str:
    return lang.text(SUBTITLE) % {"version": lang.number(text.version), "date": lang.datetime(text.generated_at)}


def archive_line(lang: Lang, text: AdoptedText) -> str:
    return lang.text(ARCHIVE) % {"url": text.archive_url}


def paragraphs(text: str) -> list[str]:
    """A provision's text split on blank lines (single line breaks kept inside a paragraph)."""
    blocks = [b.strip("\n") for b in text.replace("\r\n", "\n").replace("\r", "\n").split("\n\n")]
    return [b for b in blocks if b.strip()]


def to_pdf(text: AdoptedText, lang: Lang) -> bytes:
    html = render_html(
        "record/adopted_text.html",
        lang,
        text=text,
        heading=lambda p: heading(lang, p),
        history_lines=lambda p: history_lines(lang, p),
        paragraphs=paragraphs,
        subtitle=subtitle(lang, text),
        archive_line=archive_line(lang, text),
    )
    return html_to_pdf(html)


def to_docx(text: AdoptedText, lang: Lang) -> bytes:
    from docx.shared import Pt, RGBColor

    doc = new_docx(lang, title=text.title, subject=lang.text(ADOPTED_TEXT), generated_at=text.generated_at)
    doc.add_heading(text.title, level=0)
    doc.add_paragraph(lang.text(ADOPTED_TEXT)).runs[0].bold = True
    doc.add_paragraph(subtitle(lang, text))
    doc.add_paragraph(archive_line(lang, text))

    def history(p: AdoptedProvision) -> None:
        for line in history_lines(lang, p):
            para = doc.add_paragraph()
            run = para.add_run(line)
            run.italic = True
            run.font.size = Pt(8.5)
            run.font.color.rgb = RGBColor(0x55, 0x55, 0x55)

    for p in text.provisions:
        blocks = paragraphs(p.text)
        if p.kind == "article":
            doc.add_heading(heading(lang, p), level=2)
            for block in blocks:
                doc.add_paragraph(block)
        else:
            para = doc.add_paragraph()
            para.add_run(heading(lang, p) + " ").bold = True
            if blocks:
                para.add_run(blocks[0])
            for block in blocks[1:]:
                doc.add_paragraph(block)
        history(p)
    return docx_bytes(doc)


def render_adopted(record: PublicRecord, fmt: str, lang_code: str, base_url: str) -> bytes:
    """The adopted text of `record` as `fmt` ("pdf" or "docx") in `lang_code`: no database, no
    event loop (the server calls it in a thread)."""
    check_format(fmt)
    lang = check_lang(lang_code)
    text = adopted_text(record, lang, base_url)
    return to_pdf(text, lang) if fmt == "pdf" else to_docx(text, lang)
