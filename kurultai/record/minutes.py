"""The minutes of a sitting as PDF and DOCX, in a chosen language.

Built from the observer's view of the assembly (`PublicRecord`: the event log's public views and
the audit log's `agenda.phase` and `presence.changed` entries), so the minutes say what happened
and nothing an observer could not see: the assembly, the date and place (the place is not in the
model: the caller gives it), the chair and the secretary, attendance, then each agenda item in
order with its phase changes and times, its speakers (speech type, duration), the amendments to
its provisions (author, co-sponsors, outcome) and its votes: the question, the method, turnout,
the result (ranking, winner, ties broken, the pairwise matrix, IRV rounds or scores where they
apply) and how to verify it (the election digest, the final signed tree head, the result's
signature, and a QR code that opens the vote on the public assembly page).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from kurultai.i18n import AMENDMENT_STATUSES, METHODS, OPTION_LABELS, PHASES, SPEECH_TYPES, N_, Lang
from kurultai.record.adopted import ARTICLE
from kurultai.record.public import PublicRecord
from kurultai.record.render import check_format, check_lang, docx_bytes, html_to_pdf, new_docx, render_html
from voting.core.signed import digest

#: The labels of the minutes, translated in locale/*/LC_MESSAGES/messages.po.
MINUTES = N_("Minutes of the sitting")
DATE = N_("Date")
PLACE = N_("Place")
NOT_RECORDED = N_("not recorded")
CHAIR = N_("Chair")
SECRETARY = N_("Secretary")
ATTENDANCE = N_("Attendance")
PRESENT_OF = N_("%(present)s of %(members)s delegates present")
MEMBER_PRESENT = N_("present")
MEMBER_ABSENT = N_("absent")
ITEM = N_("Item %(n)s. %(title)s")
PHASE_CHANGES = N_("Phases")
PHASE_LINE = N_("%(time)s: from “%(from)s” to “%(to)s” (%(by)s)")
REOPENED = N_("reopened")
SPEAKERS = N_("Speakers")
SPEAKER = N_("Speaker")
SPEECH_TYPE = N_("Speech type")
STARTED = N_("Started")
DURATION = N_("Duration")
NOBODY_SPOKE = N_("Nobody spoke.")
AMENDMENTS = N_("Amendments")
AMENDMENT_TO = N_("Amendment %(n)s to %(provision)s: %(title)s")
AUTHOR = N_("Author")
COSPONSORS = N_("Co-sponsors")
OUTCOME = N_("Outcome")
VOTES = N_("Votes")
VOTE = N_("Vote %(n)s: %(title)s")
QUESTION = N_("Question")
METHOD = N_("Method")
OPENED_CLOSED = N_("Opened %(opened)s, closed %(closed)s")
TURNOUT = N_("Turnout")
TURNOUT_LINE = N_("%(voted)s of %(roll)s on the roll voted")
QUORUM_ALL = N_("Quorum and turnout: of the delegates on the roll (approved keys when the vote opened): %(roll)s.")
QUORUM_PRESENT = N_("Quorum and turnout: of the delegates present with an approved key when the vote opened: %(roll)s.")
RESULT = N_("Result")
RANKING = N_("Ranking")
WINNER = N_("Winner")
TIES = N_("Ties broken by the order of the options: %(groups)s")
PAIRWISE = N_("Pairwise preferences (voters who prefer the row to the column)")
ROUNDS = N_("Instant-runoff rounds")
ROUND = N_("Round %(n)s")
SCORES = N_("Scores")
YES_NO_LINE = N_("Yes %(yes)s, no %(no)s, abstain %(abstain)s")
NAMED_VOTED = N_("Voted (named vote)")
NAMED_NOT_VOTED = N_("Not yet voted")  # the vote is open
NAMED_DID_NOT_VOTE = N_("Did not vote")  # it closed
ADOPTED = N_("Adopted")
NOT_ADOPTED = N_("Not adopted")
NO_QUORUM = N_("Not adopted: no quorum")
NOT_CLOSED = N_("The vote has not closed; there is no result yet.")
VERIFY = N_("How to verify")
DIGEST = N_("Election digest")
TREE_HEAD = N_("Final signed tree head")
TREE_HEAD_LINE = N_("size %(size)s, root %(root)s")
RESULT_SIGNATURE = N_("Signature of the result")
SERVER_KEY = N_("Server key")
QR_CAPTION = N_("Scan to open this vote on the public page of the assembly: %(url)s")
VERIFY_COMMAND = N_("Anyone can check every ballot and the result: %(command)s")
NO_VOTES = N_("No vote was held on this item.")
NO_AMENDMENTS = N_("No amendment was proposed.")
FOOTER = N_("Made on %(date)s from the event log and the audit log of the assembly. Every vote with its signatures: %(url)s")
SIGNATURE_LINES = N_("Signatures")
AMENDMENT_OPTION = N_("amendment %(n)s")


@dataclass(frozen=True)
class Row:
    """One labelled line of a vote's result ("Ranking: …")."""

    label: str
    value: str


@dataclass(frozen=True)
class Grid:
    """A small table: the pairwise matrix, IRV rounds or scores."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Vote:
    id: str
    heading: str
    question: str
    method: str
    times: str
    turnout: str
    quorum: str
    result: tuple[Row, ...]
    grids: tuple[Grid, ...]
    verify: tuple[Row, ...]
    url: str
    qr_png: bytes | None  # for the DOCX
    qr_svg: str | None  # for the PDF (vector, inline: the PDF loads nothing but its fonts)
    qr_caption: str
    command: str


@dataclass(frozen=True)
class Item:
    heading: str
    description: str
    phases: tuple[str, ...]
    speakers: tuple[tuple[str, str, str, str], ...]  # name, speech type, started, duration
    amendments: tuple[tuple[str, tuple[Row, ...]], ...]
    votes: tuple[Vote, ...]


@dataclass
class Minutes:
    assembly: int
    title: str
    header: list[Row]
    attendance_line: str
    members: list[tuple[str, str]]  # name, present/absent
    items: list[Item]
    footer: str
    chair: str
    secretary: str
    labels: dict[str, str] = field(default_factory=dict)


def vote_url(base_url: str, assembly_id: int, election: dict[str, Any]) -> str:
    """The public page where observers check a vote: the assembly page on the vote's item, at
    the vote (its tree head, its result and how to verify it; templates/_election.html)."""
    item = election.get("agenda_item")
    query = f"?item={item}" if item else ""
    return f"{base_url.rstrip('/')}/assemblies/{assembly_id}{query}#election-{election['id']}"


def qr_png(url: str) -> bytes:
    """A QR code of `url` as PNG (segno: pure Python, no image library needed)."""
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buf, kind="png", scale=8, border=4)
    return buf.getvalue()


def qr_svg(url: str) -> str:
    """The same QR code as an inline SVG element (30 mm square in the PDF)."""
    import segno

    return str(segno.make(url, error="m", micro=False).svg_inline(scale=4, border=4, svgclass="qr", lineclass=None, omitsize=True))


def duration(ms: int) -> str:
    s = max(0, round(ms / 1000))
    return f"{s // 60}:{s % 60:02d}"


def _names(record: PublicRecord) -> dict[str, str]:
    return {m["username"]: m["display_name"] for m in record.members}


def option_label(lang: Lang, option: str, labels: dict[str, str]) -> str:
    """An option as the minutes name it: yes/no/abstain/keep translated, an amendment by its
    number and title, with its id for the verifier (`amendment-3`)."""
    if option in OPTION_LABELS:
        return f"{lang.text(OPTION_LABELS[option])} ({option})"
    if option.startswith("amendment-"):
        name = lang.text(AMENDMENT_OPTION) % {"n": option.split("-", 1)[1]}
        title = labels.get(option, "")
        return f"{name}: {title} ({option})" if title else f"{name} ({option})"
    return f"{labels.get(option, option)} ({option})"


def _grids(lang: Lang, result: dict[str, Any], short: dict[str, str]) -> list[Grid]:
    details = result.get("details") or {}
    grids = []
    if "pairwise" in details:
        opts = list(details["pairwise"])
        rows = tuple((short[o], *("—" if o == c else lang.number(details["pairwise"][o].get(c, 0)) for c in opts)) for o in opts)
        grids.append(Grid(lang.text(PAIRWISE), ("", *(short[c] for c in opts)), rows))
    if "rounds" in details:
        opts = list(details["rounds"][0]) if details["rounds"] else []
        rows = tuple((short[o], *(lang.number(r[o]) if o in r else "—" for r in details["rounds"])) for o in opts)
        grids.append(Grid(lang.text(ROUNDS), ("", *(lang.text(ROUND) % {"n": lang.number(i + 1)} for i in range(len(details["rounds"])))), rows))
    if "scores" in details:
        grids.append(Grid(lang.text(SCORES), ("", lang.text(SCORES)), tuple((short[o], lang.number(v)) for o, v in details["scores"].items())))
    return grids


def _vote(lang: Lang, record: PublicRecord, e: dict[str, Any], base_url: str) -> Vote:
    labels = {o["id"]: o["label"] for o in e["options"]}
    bundle = signed_objects(record, e["id"])
    result = bundle.result["signed"] if bundle and bundle.result else None
    short = {o: option_label(lang, o, {}) for o in labels}
    question = e["title"]
    if e["kind"] != "yes_no":
        question += " — " + "; ".join(option_label(lang, o, labels) for o in labels)
    roll_size = len(bundle.roll["signed"]["voters"]) if bundle else 0
    voted = result["counted"] if result else (e["tree_size"] or 0)
    quorum = record.election_quorum.get(e["id"], {})
    quorum_line = lang.text(QUORUM_PRESENT if quorum.get("quorum_basis") == "present" else QUORUM_ALL) % {"roll": lang.number(roll_size)}
    rows: list[Row] = []
    if result is None:
        rows.append(Row(lang.text(RESULT), lang.text(NOT_CLOSED)))
    else:
        d = result.get("details") or {}
        if e["method"] == "yes_no":
            verdict = ADOPTED if d.get("passed") else (NOT_ADOPTED if d.get("quorum_met") else NO_QUORUM)
            counts = lang.text(YES_NO_LINE) % {"yes": lang.number(d.get("yes", 0)), "no": lang.number(d.get("no", 0)), "abstain": lang.number(d.get("abstain", 0))}
            rows.append(Row(lang.text(RESULT), f"{lang.text(verdict)}. {counts}"))
        rows.append(Row(lang.text(WINNER), option_label(lang, result["winner"], labels)))
        rows.append(Row(lang.text(RANKING), " > ".join(option_label(lang, o, labels) for o in result["ranking"])))
        if result.get("ties_broken"):
            groups = "; ".join(" = ".join(short.get(o, o) for o in g) for g in result["ties_broken"])
            rows.append(Row("", lang.text(TIES) % {"groups": groups}))
    register = record.registers.get(e["id"])
    if register is not None:  # a named vote: who has voted, as its register states (a secret vote has none)
        absent = NAMED_DID_NOT_VOTE if register["status"] == "closed" else NAMED_NOT_VOTED
        for label, entries in ((NAMED_VOTED, [r for r in register["entries"] if r["ballots"]]), (absent, [r for r in register["entries"] if not r["ballots"]])):
            rows.append(Row(lang.text(label), ", ".join(r["display_name"] for r in entries) or "—"))
    verify: list[Row] = []
    if bundle:
        verify.append(Row(lang.text(DIGEST), digest(bundle.election["signed"])))
        if bundle.sth:
            sth = bundle.sth["signed"]
            verify.append(Row(lang.text(TREE_HEAD), lang.text(TREE_HEAD_LINE) % {"size": lang.number(sth["tree_size"]), "root": sth["root_hash"]}))
        if bundle.result:
            verify.append(Row(lang.text(RESULT_SIGNATURE), bundle.result["signature"]))
        verify.append(Row(lang.text(SERVER_KEY), record.server_key.get("key_id", "")))
    url = vote_url(base_url, record.assembly["id"], e)
    opened, closed = lang.datetime(e["opened_at"]) or "—", lang.datetime(e["closed_at"]) or "—"
    return Vote(
        id=e["id"],
        heading=lang.text(VOTE) % {"n": e["id"], "title": e["title"]},
        question=question,
        method=lang.label(METHODS, e["method"]),
        times=lang.text(OPENED_CLOSED) % {"opened": opened, "closed": closed},
        turnout=lang.text(TURNOUT_LINE) % {"voted": lang.number(voted), "roll": lang.number(roll_size)},
        quorum=quorum_line,
        result=tuple(rows),
        grids=tuple(_grids(lang, result, short)) if result else (),
        verify=tuple(verify),
        url=url,
        qr_png=qr_png(url) if bundle else None,
        qr_svg=qr_svg(url) if bundle else None,
        qr_caption=lang.text(QR_CAPTION) % {"url": url},
        command=lang.text(VERIFY_COMMAND) % {"command": f"kurultai verify {base_url.rstrip('/')} {e['id']}"},
    )


@dataclass(frozen=True)
class SignedObjects:
    """An election's signed objects without its board (the minutes need no ballot)."""

    election: dict[str, Any]
    roll: dict[str, Any]
    sth: dict[str, Any] | None
    result: dict[str, Any] | None


def signed_objects(record: PublicRecord, election_id: str) -> SignedObjects | None:
    stored = record.elections_stored.get(election_id)
    if stored is None:
        return None
    return SignedObjects(
        election=json.loads(stored.election),
        roll=json.loads(stored.roll),
        sth=json.loads(stored.sth) if stored.sth else None,
        result=json.loads(stored.result) if stored.result else None,
    )


def _provision_name(lang: Lang, record: PublicRecord, provision_id: int | None) -> str:
    p = next((p for p in record.provisions if p["id"] == provision_id), None)
    if p is None:
        return "—"
    return lang.text(ARTICLE) % {"number": p["number"]} if p["kind"] == "article" else f"{p['number']}."


def decision(lang: Lang, a: dict[str, Any]) -> str:
    """An amendment's outcome: its status, with the chair's reason; a reason the server wrote
    when a vote chose another option says it all ("not adopted: vote 2 chose …")."""
    status = lang.label(AMENDMENT_STATUSES, a["status"])
    reason = lang.reason(a.get("reason"))
    if reason and reason != (a.get("reason") or ""):
        return reason
    return f"{status}: {reason}" if reason else status


def build_minutes(record: PublicRecord, lang: Lang, base_url: str, place: str | None) -> Minutes:
    base = base_url.rstrip("/")
    names = _names(record)

    def who(username: str | None) -> str:
        return names.get(username or "", username or "—")

    times = [
        t
        for t in (*(p["at"] for p in record.phase_changes), *(s["started_at"] for s in record.speakers), *(e["opened_at"] for e in record.elections), *(e["closed_at"] for e in record.elections))
        if t
    ]
    start, end = (min(times), max(times)) if times else (record.generated_at, record.generated_at)
    date = lang.datetime(start) if start[:10] == end[:10] and start == end else f"{lang.datetime(start)} – {lang.datetime(end)}"
    chairs = ", ".join(m["display_name"] for m in record.members if m["role"] == "moderator") or "—"
    secretaries = ", ".join(m["display_name"] for m in record.members if m["role"] == "secretary") or "—"
    attendance = record.attendance
    ever = {c["username"] for c in record.presence_changes if c["present"]} | {m["username"] for m in attendance["members"] if m["present"]}
    members = [(m["display_name"] or m["username"], lang.text(MEMBER_PRESENT if m["username"] in ever else MEMBER_ABSENT)) for m in attendance["members"]]
    present = sum(1 for m in attendance["members"] if m["username"] in ever)

    items = []
    for n, it in enumerate(sorted(record.agenda, key=lambda i: i["position"]), start=1):
        phases = []
        for p in (p for p in record.phase_changes if p["item"] == it["id"]):
            line = lang.text(PHASE_LINE) % {"time": lang.datetime(p["at"]), "from": lang.label(PHASES, p["from"]), "to": lang.label(PHASES, p["to"]), "by": who(p["by"])}
            phases.append(f"{line}, {lang.text(REOPENED)}" if p["reopened"] else line)
        speakers = tuple(
            (s["display_name"], lang.label(SPEECH_TYPES, s["speech_type"]), lang.time(s["started_at"]) or "—", duration(s["spoken_ms"]))
            for s in record.speakers
            if s["item"] == it["id"] and s["started_at"]
        )
        amendments = []
        for a in (a for a in record.amendments if a["provision"] in it["provisions"] and a["status"] != "draft"):
            head = lang.text(AMENDMENT_TO) % {"n": a["id"], "provision": _provision_name(lang, record, a["provision"]), "title": a["title"] or "—"}
            rows = (Row(lang.text(AUTHOR), who(a["author"])), Row(lang.text(COSPONSORS), ", ".join(who(c) for c in a["cosponsors"]) or "—"), Row(lang.text(OUTCOME), decision(lang, a)))
            amendments.append((head, rows))
        votes = tuple(_vote(lang, record, e, base) for e in record.elections if e["agenda_item"] == it["id"] and e["status"] != "draft")
        items.append(Item(lang.text(ITEM) % {"n": lang.number(n), "title": it["title"]}, it["description"], tuple(phases), speakers, tuple(amendments), votes))

    archive = f"{base}/api/assemblies/{record.assembly['id']}/archive.zip"
    return Minutes(
        assembly=record.assembly["id"],
        title=lang.title_of(record.assembly) or record.document["title"],
        header=[
            Row(lang.text(DATE), date),
            Row(lang.text(PLACE), place.strip() if place and place.strip() else lang.text(NOT_RECORDED)),
            Row(lang.text(CHAIR), chairs),
            Row(lang.text(SECRETARY), secretaries),
        ],
        attendance_line=lang.text(PRESENT_OF) % {"present": lang.number(present), "members": lang.number(attendance["delegates"])},
        members=members,
        items=items,
        footer=lang.text(FOOTER) % {"date": lang.datetime(record.generated_at), "url": archive},
        chair=chairs,
        secretary=secretaries,
        labels={
            k: lang.text(v)
            for k, v in {
                "minutes": MINUTES,
                "attendance": ATTENDANCE,
                "phases": PHASE_CHANGES,
                "speakers": SPEAKERS,
                "speaker": SPEAKER,
                "speech_type": SPEECH_TYPE,
                "started": STARTED,
                "duration": DURATION,
                "nobody_spoke": NOBODY_SPOKE,
                "amendments": AMENDMENTS,
                "no_amendments": NO_AMENDMENTS,
                "votes": VOTES,
                "no_votes": NO_VOTES,
                "question": QUESTION,
                "method": METHOD,
                "turnout": TURNOUT,
                "verify": VERIFY,
                "signatures": SIGNATURE_LINES,
                "chair": CHAIR,
                "secretary": SECRETARY,
            }.items()
        },
    )


def to_pdf(m: Minutes, lang: Lang) -> bytes:
    from markupsafe import Markup

    return html_to_pdf(render_html("record/minutes.html", lang, m=m, svg=Markup))  # segno's own SVG of a URL we made


def to_docx(m: Minutes, lang: Lang) -> bytes:
    from docx.shared import Mm, Pt, RGBColor

    doc = new_docx(lang, title=m.title, subject=m.labels["minutes"], generated_at="")
    doc.add_heading(m.labels["minutes"], level=0)
    doc.add_paragraph(m.title).runs[0].bold = True

    def labelled(rows: tuple[Row, ...] | list[Row], small: bool = False) -> None:
        for r in rows:
            para = doc.add_paragraph()
            if r.label:
                para.add_run(f"{r.label}: ").bold = True
            run = para.add_run(r.value)
            if small:
                run.font.size = Pt(8.5)

    def grid(header: tuple[str, ...], rows: tuple[tuple[str, ...], ...] | list[tuple[str, ...]]) -> None:
        table = doc.add_table(rows=1, cols=len(header))
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, header):
            cell.text = ""
            cell.paragraphs[0].add_run(text).bold = True
        for row in rows:
            cells = table.add_row().cells
            for cell, text in zip(cells, row):
                cell.text = text

    labelled(m.header)
    doc.add_heading(m.labels["attendance"], level=1)
    doc.add_paragraph(m.attendance_line)
    if m.members:
        grid(("", ""), m.members)
    for it in m.items:
        doc.add_heading(it.heading, level=1)
        if it.description:
            doc.add_paragraph(it.description)
        doc.add_heading(m.labels["phases"], level=2)
        for line in it.phases:
            doc.add_paragraph(line, style="List Bullet")
        doc.add_heading(m.labels["speakers"], level=2)
        if it.speakers:
            grid((m.labels["speaker"], m.labels["speech_type"], m.labels["started"], m.labels["duration"]), it.speakers)
        else:
            doc.add_paragraph(m.labels["nobody_spoke"])
        doc.add_heading(m.labels["amendments"], level=2)
        if not it.amendments:
            doc.add_paragraph(m.labels["no_amendments"])
        for head, rows in it.amendments:
            doc.add_paragraph().add_run(head).bold = True
            labelled(rows)
        doc.add_heading(m.labels["votes"], level=2)
        if not it.votes:
            doc.add_paragraph(m.labels["no_votes"])
        for v in it.votes:
            doc.add_heading(v.heading, level=3)
            labelled([Row(m.labels["question"], v.question), Row(m.labels["method"], v.method), Row("", v.times), Row(m.labels["turnout"], v.turnout), Row("", v.quorum)])
            labelled(v.result)
            for g in v.grids:
                doc.add_paragraph().add_run(g.caption).italic = True
                grid(g.header, g.rows)
            para = doc.add_paragraph()
            para.add_run(m.labels["verify"]).bold = True
            labelled(v.verify, small=True)
            if v.qr_png:
                doc.add_picture(io.BytesIO(v.qr_png), width=Mm(30))
            cap = doc.add_paragraph().add_run(v.qr_caption)
            cap.font.size = Pt(8.5)
            cmd = doc.add_paragraph().add_run(v.command)
            cmd.font.size = Pt(8.5)
    doc.add_heading(m.labels["signatures"], level=1)
    doc.add_paragraph(f"{m.labels['chair']}: {m.chair}  ____________________")
    doc.add_paragraph(f"{m.labels['secretary']}: {m.secretary}  ____________________")
    foot = doc.add_paragraph().add_run(m.footer)
    foot.italic = True
    foot.font.size = Pt(8.5)
    foot.font.color.rgb = RGBColor(0x55, 0x55, 0x55)
    return docx_bytes(doc)


def render_minutes(record: PublicRecord, fmt: str, lang_code: str, base_url: str, place: str | None = None) -> bytes:
    """The minutes of `record` as `fmt` ("pdf" or "docx") in `lang_code`: no database, no
    event loop (the server calls it in a thread)."""
    check_format(fmt)
    lang = check_lang(lang_code)
    m = build_minutes(record, lang, base_url, place)
    return to_pdf(m, lang) if fmt == "pdf" else to_docx(m, lang)
