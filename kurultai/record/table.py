"""The comparative table (сравнительная таблица / салыстырмалы кесте) as PDF and DOCX, landscape,
in a chosen language: one row per amended provision (every provision an amendment was proposed
for, adopted or not), with its number, the wording before the sitting, the adopted wording with
the changes marked (the word-level redline the pages use: deliberation/core/redline.py) and the
amendments proposed, each with its author, co-sponsors, justification, decision and the vote
that decided it.

"Before the sitting" is the provision's wording just before the first adopted amendment that
changed it (a provision no amendment changed keeps its wording: both columns are the same); a
provision inserted by an amendment had no wording before. Built from the observer's view
(`PublicRecord`) with no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deliberation.core.redline import compute_redline, redline_html
from kurultai.i18n import AMENDMENT_KINDS, N_, Lang
from kurultai.record.adopted import ARTICLE
from kurultai.record.minutes import AUTHOR, COSPONSORS, decision, option_label, signed_objects
from kurultai.record.public import PublicRecord
from kurultai.record.render import check_format, check_lang, docx_bytes, html_to_pdf, new_docx, render_html

#: The labels of the comparative table, translated in locale/*/LC_MESSAGES/messages.po.
COMPARATIVE_TABLE = N_("Comparative table")
SUBTITLE = N_("Document version %(version)s, as of %(date)s. Inserted words are underlined, deleted words struck through.")
NUMBER = N_("No.")
PROVISION = N_("Provision")
BEFORE = N_("Wording before the sitting")
ADOPTED = N_("Adopted wording, changes marked")
PROPOSED = N_("Amendments proposed")
AMENDMENT = N_("Amendment %(n)s: %(kind)s")
JUSTIFICATION = N_("Justification")
DECISION = N_("Decision")
DECIDED_BY = N_("Decided by")
VOTE_LINE = N_("vote %(n)s “%(title)s”, winner: %(winner)s")
NO_VOTE = N_("no vote")
NEW_PROVISION = N_("(a new provision)")
DELETED = N_("(deleted)")
NOTHING = N_("No amendment was proposed to any provision.")


@dataclass(frozen=True)
class Proposal:
    heading: str
    lines: tuple[tuple[str, str], ...]  # label, value


@dataclass(frozen=True)
class TableRow:
    number: int
    provision: str
    before: str
    after: str
    redline: tuple[tuple[str, str], ...]  # (op, text): equal | insert | delete
    proposals: tuple[Proposal, ...]


@dataclass(frozen=True)
class ComparativeTable:
    assembly: int
    title: str
    subtitle: str
    rows: tuple[TableRow, ...]
    labels: dict[str, str]


def _deciding_vote(lang: Lang, record: PublicRecord, amendment_id: int) -> str:
    option = f"amendment-{amendment_id}"
    for e in record.elections:
        if e["status"] != "closed" or option not in {o["id"] for o in e["options"]}:
            continue
        bundle = signed_objects(record, e["id"])
        winner = bundle.result["signed"]["winner"] if bundle and bundle.result else ""
        labels = {o["id"]: o["label"] for o in e["options"]}
        return lang.text(VOTE_LINE) % {"n": e["id"], "title": e["title"], "winner": option_label(lang, winner, labels)}
    return lang.text(NO_VOTE)


def build_table(record: PublicRecord, lang: Lang) -> ComparativeTable:
    versions: dict[int, list[dict[str, Any]]] = {}
    for v in record.provision_versions:
        versions.setdefault(v["provision"], []).append(v)
    made_by = {v["amendment"]: v["provision"] for v in record.provision_versions if v["amendment"] is not None}
    proposed: dict[int, list[dict[str, Any]]] = {}
    for a in record.amendments:
        if a["status"] != "draft":
            proposed.setdefault(made_by.get(a["id"], a["provision"]), []).append(a)
    kinds = {p["id"]: p for p in record.provisions}
    names = {m["username"]: m["display_name"] for m in record.members}

    def who(username: str | None) -> str:
        return names.get(username or "", username or "—")

    def position(pid: int) -> tuple[int, int]:
        history = versions.get(pid) or [{"position": 0}]
        return (history[-1]["position"], pid)

    rows = []
    for n, pid in enumerate(sorted(proposed, key=position), start=1):
        history = sorted(versions.get(pid, []), key=lambda v: v["document_version"])
        first_change = next((i for i, v in enumerate(history) if v["amendment"] is not None), None)
        latest = history[-1] if history else None
        if first_change is None:
            before = latest["text"] if latest else ""
        else:
            before = history[first_change - 1]["text"] if first_change > 0 else None
        after = latest["text"] if latest else None
        p = kinds.get(pid, {"number": "?", "kind": "article"})
        name = lang.text(ARTICLE) % {"number": p["number"]} if p["kind"] == "article" else f"{p['number']}."
        if latest and latest["title"]:
            name = f"{name}. {latest['title'].strip()}"
        proposals = []
        for a in proposed[pid]:
            lines = (
                (lang.text(AUTHOR), who(a["author"])),
                (lang.text(COSPONSORS), ", ".join(who(c) for c in a["cosponsors"]) or "—"),
                (lang.text(JUSTIFICATION), a["rationale"] or "—"),
                (lang.text(DECISION), decision(lang, a)),
                (lang.text(DECIDED_BY), _deciding_vote(lang, record, a["id"])),
            )
            heading = lang.text(AMENDMENT) % {"n": a["id"], "kind": lang.label(AMENDMENT_KINDS, a["kind"])}
            proposals.append(Proposal(heading + (f" — {a['text']}" if a["text"] else ""), lines))
        redline = tuple((s["op"], s["text"]) for s in compute_redline(before or "", after or ""))
        rows.append(
            TableRow(
                number=n,
                provision=name,
                before=before if before is not None else lang.text(NEW_PROVISION),
                after=after if after is not None else lang.text(DELETED),
                redline=redline,
                proposals=tuple(proposals),
            )
        )
    labels = {
        k: lang.text(v) for k, v in {"title": COMPARATIVE_TABLE, "number": NUMBER, "provision": PROVISION, "before": BEFORE, "adopted": ADOPTED, "proposed": PROPOSED, "nothing": NOTHING}.items()
    }
    subtitle = lang.text(SUBTITLE) % {"version": lang.number(record.document["version"]), "date": lang.datetime(record.generated_at)}
    return ComparativeTable(record.assembly["id"], lang.title_of(record.assembly) or record.document["title"], subtitle, tuple(rows), labels)


def to_pdf(t: ComparativeTable, lang: Lang) -> bytes:
    from markupsafe import Markup

    def marked(row: TableRow) -> Markup:
        return Markup(redline_html({"op": op, "text": text} for op, text in row.redline))  # escaped by redline_html

    return html_to_pdf(render_html("record/comparative_table.html", lang, t=t, marked=marked))


def to_docx(t: ComparativeTable, lang: Lang) -> bytes:
    from docx.enum.section import WD_ORIENT
    from docx.shared import Mm, Pt, RGBColor

    doc = new_docx(lang, title=t.title, subject=t.labels["title"], generated_at="")
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Mm(297), Mm(210)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(15))
    doc.add_heading(t.labels["title"], level=0)
    doc.add_paragraph(t.title).runs[0].bold = True
    doc.add_paragraph(t.subtitle)
    if not t.rows:
        doc.add_paragraph(t.labels["nothing"])
        return docx_bytes(doc)
    widths = (Mm(15), Mm(33), Mm(70), Mm(70), Mm(79))
    table = doc.add_table(rows=1, cols=5)
    table.style = "Table Grid"
    table.autofit = False
    for cell, text, width in zip(table.rows[0].cells, ("number", "provision", "before", "adopted", "proposed"), widths):
        cell.width = width
        cell.text = ""
        cell.paragraphs[0].add_run(t.labels[text]).bold = True
    for row in t.rows:
        cells = table.add_row().cells
        for cell, width in zip(cells, widths):
            cell.width = width
        cells[0].text = str(row.number)
        cells[1].text = row.provision
        cells[2].text = row.before
        para = cells[3].paragraphs[0]
        for op, text in row.redline:
            run = para.add_run(text)
            if op == "insert":
                run.font.underline = True
                run.font.color.rgb = RGBColor(0x0B, 0x6B, 0x2E)
            elif op == "delete":
                run.font.strike = True
                run.font.color.rgb = RGBColor(0xA1, 0x1B, 0x1B)
        if not row.redline:
            para.add_run(row.after)
        cells[4].text = ""
        first = True
        for prop in row.proposals:
            para = cells[4].paragraphs[0] if first else cells[4].add_paragraph()
            first = False
            para.add_run(prop.heading).bold = True
            for label, value in prop.lines:
                line = cells[4].add_paragraph()
                line.add_run(f"{label}: ").italic = True
                line.add_run(value)
        for cell in cells:
            for para in cell.paragraphs:
                for run in para.runs:
                    run.font.size = Pt(9)
    return docx_bytes(doc)


def render_table(record: PublicRecord, fmt: str, lang_code: str) -> bytes:
    """The comparative table of `record` as `fmt` ("pdf" or "docx") in `lang_code`: no database,
    no event loop (the server calls it in a thread)."""
    check_format(fmt)
    lang = check_lang(lang_code)
    t = build_table(record, lang)
    return to_pdf(t, lang) if fmt == "pdf" else to_docx(t, lang)
